// The member's side of hub pairing (Go internal/pairing and
// member.PairHub): the member reads a code off the hub's screen, verifies
// the hub's hello with it, offers the household (ID, pinned genesis hash,
// current epoch key), waits for the hub's confirmation through the cloud
// relay, and only then signs and appends the chain link that adds the hub.
//
// Owns: the pairing code (parse, rendezvous ID, MAC key) and the three
// messages' encoding and MACs, byte for byte as Go. Must never: log or send
// the code or the MAC key (only the rendezvous ID and MAC tags leave the
// browser), trust the relay, or add a hub whose messages did not verify.

import { api, ApiError, b64, unb64 } from './api';
import { concat, equal, fromUtf8, hex, hkdf, hmacSha256, randomBytes, utf8 } from './crypto/bytes';
import { addHub } from './crypto/chain';
import { recipientString } from './crypto/keys';
import { appendLink, openHousehold, type Household } from './household';

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const CODE_BYTES = 10;
const DATA_CHARS = 16;
const CODE_CHARS = 18;
const MAX_CODE_TEXT = 256;
const VERSION = 1;
const MAX_MESSAGE = 256;
const MAX_NAME = 128;
const MAX_HH_ID = 64;
const T_HELLO = 1;
const T_OFFER = 2;
const T_FINISH = 3;
const L_HELLO = utf8('vigil/pairing/v1/hub-hello\x00');
const L_OFFER = utf8('vigil/pairing/v1/member-offer\x00');
const L_CONFIRM = utf8('vigil/pairing/v1/hub-confirm\x00');

/** PairingError: a bad code, a malformed message or a failed authentication. */
export class PairingError extends Error {
  constructor(
    public code: 'invalid-code' | 'malformed' | 'auth' | 'used' | 'no-hub' | 'timeout',
    message: string,
  ) {
    super(message);
    this.name = 'PairingError';
  }
}

// GF(32) with x^5 + x^2 + 1, as Go's checkSymbols.
const gfExp = new Uint8Array(62);
const gfLog = new Uint8Array(32);
{
  let x = 1;
  for (let i = 0; i < 31; i++) {
    gfExp[i] = gfExp[i + 31] = x;
    gfLog[x] = i;
    x <<= 1;
    if (x & 0x20) x ^= 0x25;
  }
}
const gfMul = (a: number, b: number) => (a === 0 || b === 0 ? 0 : gfExp[gfLog[a] + gfLog[b]]);
const gfDiv = (a: number, b: number) => (a === 0 ? 0 : gfExp[gfLog[a] + 31 - gfLog[b]]);

function checkSymbols(data: ArrayLike<number>): [number, number] {
  let s0 = 0;
  let s1 = 0;
  for (let i = 0; i < data.length; i++) {
    s0 ^= data[i];
    s1 ^= gfMul(gfExp[i], data[i]);
  }
  const a16 = gfExp[DATA_CHARS];
  const a17 = gfExp[DATA_CHARS + 1];
  const c1 = gfDiv(s1 ^ gfMul(a16, s0), a16 ^ a17);
  return [s0 ^ c1, c1];
}

/** PairingCode is a parsed code (secret: never log or send it). */
export interface PairingCode {
  bytes: Uint8Array; // 10 bytes
}

/** parseCode reads the code the hub shows (spaces and dashes ignored, I/L read as 1, O as 0). */
export function parseCode(s: string): PairingCode {
  if (s.length > MAX_CODE_TEXT) throw new PairingError('invalid-code', `invalid pairing code: it is far too long; type the ${CODE_CHARS} characters the hub shows`);
  const sym: number[] = [];
  for (const ch of s) {
    if (/^[\s\p{Pd}]$/u.test(ch)) continue;
    let c = ch.toUpperCase();
    if (c === 'I' || c === 'L') c = '1';
    if (c === 'O') c = '0';
    const i = c.length === 1 && c.charCodeAt(0) < 0x80 ? CROCKFORD.indexOf(c) : -1;
    if (i < 0) throw new PairingError('invalid-code', `invalid pairing code: bad character at position ${sym.length + 1} (dashes and spaces not counted); codes use only 0-9 and A-Z without U`);
    sym.push(i);
  }
  if (sym.length === 0) throw new PairingError('invalid-code', 'invalid pairing code: it is empty; type the code the hub shows (like XXXXXX-XXXXXX-XXXXXX)');
  if (sym.length !== CODE_CHARS) throw new PairingError('invalid-code', `invalid pairing code: it has ${sym.length} characters, want ${CODE_CHARS} (three groups of six, like XXXXXX-XXXXXX-XXXXXX)`);
  const [c0, c1] = checkSymbols(sym.slice(0, DATA_CHARS));
  if (c0 !== sym[DATA_CHARS] || c1 !== sym[DATA_CHARS + 1]) {
    throw new PairingError('invalid-code', "invalid pairing code: checksum mismatch (typo?); compare it with the code on the hub's screen and type it again");
  }
  // 16 symbols of 5 bits are exactly the 10 bytes.
  const b = new Uint8Array(CODE_BYTES);
  let acc = 0;
  let bits = 0;
  let j = 0;
  for (const v of sym.slice(0, DATA_CHARS)) {
    acc = ((acc << 5) | v) & 0x1fff;
    bits += 5;
    if (bits >= 8) {
      b[j++] = (acc >>> (bits - 8)) & 0xff;
      bits -= 8;
    }
  }
  return { bytes: b };
}

/** rendezvousId is the relay's name for a pairing: hex(HKDF(code, "vigil/pairing/v1/rendezvous", 16)). */
export async function rendezvousId(c: PairingCode): Promise<string> {
  return hex(await hkdf(c.bytes, new Uint8Array(0), utf8('vigil/pairing/v1/rendezvous'), 16));
}

function macKey(c: PairingCode): Promise<Uint8Array> {
  return hkdf(c.bytes, new Uint8Array(0), utf8('vigil/pairing/v1/mac-key'), 32);
}

class Reader {
  off = 2;
  constructor(
    public b: Uint8Array,
    typ: number,
    what: string,
  ) {
    if (b.length > MAX_MESSAGE) throw malformed(`${what} is ${b.length} bytes, more than the limit of ${MAX_MESSAGE}`);
    if (b.length < 2) throw malformed(`${what} is ${b.length} bytes, too short to be a pairing message (was it cut off?)`);
    if (b[0] !== VERSION) throw malformed(`${what} has version ${b[0]}; this app reads only version ${VERSION} (update the hub and reload this page)`);
    if (b[1] !== typ) throw malformed(`expected ${what} (type ${typ}), got message type ${b[1]} (the messages arrived out of order; start pairing again on the hub)`);
  }
  fixed(n: number, field: string): Uint8Array {
    if (this.b.length - this.off < n) throw malformed(`${field} cut off: ${this.b.length - this.off} bytes left, want ${n}`);
    const v = this.b.slice(this.off, this.off + n);
    this.off += n;
    return v;
  }
  short(max: number, field: string): Uint8Array {
    const n = this.fixed(1, field + ' length')[0];
    if (n === 0 || n > max) throw malformed(`${field} is ${n} bytes, want 1 to ${max}`);
    return this.fixed(n, field);
  }
  end() {
    if (this.off !== this.b.length) throw malformed(`${this.b.length - this.off} unexpected bytes after the message`);
  }
}

const malformed = (m: string) => new PairingError('malformed', `pairing failed: the hub sent a message this app cannot read (${m}); start pairing again on the hub, and update the hub if it happens again`);

function checkHubName(b: Uint8Array): string {
  let s: string;
  try {
    s = fromUtf8(b);
  } catch {
    throw malformed('hub name is not valid UTF-8');
  }
  let i = 0;
  for (const ch of s) {
    if (!/^[\p{L}\p{M}\p{N}\p{P}\p{S} ]$/u.test(ch)) throw malformed(`hub name has an unprintable character U+${ch.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')} at byte ${i}`);
    i += utf8(ch).length;
  }
  if (s.startsWith(' ') || s.endsWith(' ')) throw malformed('hub name starts or ends with a space');
  return s;
}

function checkHouseholdId(s: string): void {
  if (s.length === 0 || s.length > MAX_HH_ID || !/^[A-Za-z0-9_.:-]+$/.test(s)) throw new PairingError('malformed', `household ID ${JSON.stringify(s)} is not 1 to ${MAX_HH_ID} characters of A-Z, a-z, 0-9 and -_.:`);
}

export interface HubHello {
  signPub: Uint8Array; // the hub's Ed25519 device key
  name: string;
}

export interface HouseholdOffer {
  householdId: string;
  genesisHash: Uint8Array; // 32 bytes
  epochPub: Uint8Array; // the current epoch X25519 public key
}

async function tag(key: Uint8Array, label: Uint8Array, ...parts: Uint8Array[]): Promise<Uint8Array> {
  return hmacSha256(key, label, ...parts);
}

/** PairingMember runs one pairing attempt: receive (hello → offer), then confirm. */
export class PairingMember {
  private key: Uint8Array | null;
  private sent: Uint8Array | null = null;
  private state: 'new' | 'sent' | 'done' = 'new';

  private constructor(
    key: Uint8Array,
    private offer: HouseholdOffer,
  ) {
    this.key = key;
  }

  static async create(code: PairingCode, offer: HouseholdOffer): Promise<PairingMember> {
    checkHouseholdId(offer.householdId);
    if (offer.genesisHash.length !== 32) throw new Error('pairing: genesis hash must be 32 bytes');
    if (offer.epochPub.length !== 32) throw new Error('pairing: epoch public key must be 32 bytes');
    return new PairingMember(await macKey(code), { ...offer });
  }

  private spend() {
    this.key?.fill(0);
    this.key = null;
    this.state = 'done';
  }

  /** receive verifies the hub's hello (message 1) and returns the hub and the offer (message 2). */
  async receive(msg1: Uint8Array): Promise<{ hub: HubHello; msg2: Uint8Array }> {
    if (this.state !== 'new' || !this.key) throw new PairingError('used', 'pairing: this pairing attempt is over; start pairing again on the hub');
    this.state = 'done';
    try {
      const r = new Reader(msg1, T_HELLO, 'hub hello (message 1)');
      const signPub = r.fixed(32, 'hub public key');
      const nameBytes = r.short(MAX_NAME, 'hub name');
      r.fixed(32, 'hub nonce');
      const bodyEnd = r.off;
      const mac = r.fixed(32, 'MAC');
      r.end();
      const name = checkHubName(nameBytes);
      if (!equal(mac, await tag(this.key, L_HELLO, msg1.subarray(0, bodyEnd)))) {
        throw new PairingError('auth', "pairing failed: the code does not match or a message was altered (check the code on the hub's screen; if it matches, start pairing again on the hub)");
      }
      const hh = utf8(this.offer.householdId);
      const body = concat(new Uint8Array([VERSION, T_OFFER, hh.length]), hh, this.offer.genesisHash, this.offer.epochPub, randomBytes(32));
      const msg2 = concat(body, await tag(this.key, L_OFFER, msg1, body));
      this.sent = concat(msg1, msg2);
      this.state = 'sent';
      return { hub: { signPub, name }, msg2 };
    } finally {
      if (this.state !== 'sent') this.spend();
    }
  }

  /** confirm checks the hub's confirmation (message 3). Only then may the hub be added. */
  async confirm(msg3: Uint8Array): Promise<void> {
    if (this.state !== 'sent' || !this.key || !this.sent) throw new PairingError('used', 'pairing: this pairing attempt is over; start pairing again on the hub');
    try {
      const r = new Reader(msg3, T_FINISH, 'hub confirmation (message 3)');
      const mac = r.fixed(32, 'MAC');
      r.end();
      if (!equal(mac, await tag(this.key, L_CONFIRM, this.sent, new Uint8Array([VERSION, T_FINISH])))) {
        throw new PairingError('auth', "pairing failed: the hub's confirmation did not match; the hub was not added (start pairing again on the hub)");
      }
    } finally {
      this.spend();
    }
  }
}

/**
 * pairHub pairs the hub showing codeText with household h, as Go
 * member.PairHub: this browser must be an admin device of the household.
 * On any failure the chain is unchanged. It returns the hub and the
 * household with the hub added.
 */
export async function pairHub(h: Household, codeText: string, opts: { pollMs?: number; timeoutMs?: number; signal?: AbortSignal } = {}): Promise<{ hub: HubHello; household: Household }> {
  const code = parseCode(codeText);
  if (!h.keys || !h.me || h.me.role !== 'admin') throw new Error('only an admin device of the household can pair a hub; this browser is not one');
  const rv = await rendezvousId(code);
  const path = `/v1/pairings/${rv}`;
  let p: { msgs?: string[] };
  try {
    p = await api('GET', path);
  } catch (e) {
    if (e instanceof ApiError && e.status === 404) throw new PairingError('no-hub', "no hub is waiting with this code: it was mistyped or has expired (start pairing again on the hub and enter the new code)");
    throw e;
  }
  const msgs = p.msgs ?? [];
  if (msgs.length !== 1) throw new PairingError('used', 'this pairing code was already used; start pairing again on the hub');
  const m = await PairingMember.create(code, { householdId: h.state.householdId, genesisHash: h.state.genesisHash, epochPub: h.state.epochPub });
  const { hub, msg2 } = await m.receive(unb64(msgs[0]));
  await api('POST', `${path}/messages`, { step: 1, msg: b64(msg2), household_id: h.state.householdId });
  const deadline = Date.now() + (opts.timeoutMs ?? 120_000);
  for (;;) {
    p = await api('GET', path);
    if ((p.msgs ?? []).length >= 3) break;
    if (Date.now() > deadline || opts.signal?.aborted) throw new PairingError('timeout', 'the hub did not answer in time, so it was not added; check that it is on and online, then start pairing again on the hub');
    await new Promise((r) => setTimeout(r, opts.pollMs ?? 300));
  }
  await m.confirm(unb64(p.msgs![2]));
  // The chain may have changed while waiting: build on the newest state.
  const fresh = await openHousehold(h.hh, { refresh: true });
  const link = await addHub(fresh.state, fresh.keys!, { name: hub.name, signPub: hub.signPub });
  const household = await appendLink(fresh, link);
  return { hub, household };
}

/** epochRecipient is the "vigr1…" string of a household's current epoch key (what the hub seals to). */
export const epochRecipient = (h: Household): Promise<string> => recipientString(h.state.epochPub);
