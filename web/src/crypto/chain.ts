// The household membership chain in the browser, with exactly the rules of
// Go internal/keydir/chain.go: the one canonical link encoding, hash
// chaining from the genesis the device pinned, every change signed by an
// admin of the state before it, epochs and their keys wrapped (HPKE
// stanzas) to every admin and member device and to the recovery key, and
// the same limits. Builders make signed links (new household, add a device
// or hub, remove a device with a new epoch, set a role, new epoch) that Go
// keydir.Verify accepts.
//
// Owns: verifying chains served by the cloud (which is never trusted) and
// unwrapping this device's epoch keys. Must never: believe anything in a
// link before its signature and its signer's admin role are checked, put a
// private key in a link other than HPKE-wrapped, export an epoch private key
// (they become non-extractable CryptoKeys), or log keys or phrases.

import { compare, concat, equal, fromUtf8, hex, randomBytes, readU16, readU32, readU64, sha256, u16be, u32be, u64be, utf8, base32 } from './bytes';
import { hpkeOpen } from './hpke';
import { ed25519Verify, importX25519Private, keyHint, x25519PublicKey } from './keys';
import { wrapFileKey } from './envelope';
import { deviceId, type DeviceKeys } from './devicekeys';
import { newRecoveryPhrase, recoveryKeyBytes } from './recovery';

export const MAX_DEVICES = 256;
export const MAX_EPOCHS = 4096;
export const MAX_NAME_LEN = 128;
export const MAX_LINK_SIZE = 1 << 20;

const MAGIC = utf8('vigil.hc');
const VERSION = 1;
const HOUSEHOLD_SIZE = 16;
const LINK_FIXED = 8 + 1 + 16 + 8 + 32 + 8 + 32 + 1;
const SIG_CONTEXT = utf8('vigil/keydir/chain/v1/signature\x00');
const HASH_CONTEXT = utf8('vigil/keydir/chain/v1/link\x00');
const WRAP_INFO = utf8('vigil/envelope/v1/wrap');

const OP_GENESIS = 1;
const OP_ADD = 2;
const OP_REMOVE = 3;
const OP_SET_ROLE = 4;
const OP_NEW_EPOCH = 5;
const OP_NAMES: Record<number, string> = { 1: 'genesis', 2: 'add-device', 3: 'remove-device', 4: 'set-role', 5: 'new-epoch' };
const opName = (op: number) => OP_NAMES[op] ?? `op-${op}`;

export type Role = 'admin' | 'member' | 'hub';
const ROLE_CODES: Record<Role, number> = { admin: 1, member: 2, hub: 3 };
const roleName = (c: number): Role | undefined => (['admin', 'member', 'hub'] as Role[]).find((r) => ROLE_CODES[r] === c);
const holdsEpochKeys = (role: string) => role === 'admin' || role === 'member';

export type ChainErrorCode = 'malformed' | 'unauthorized' | 'bad-signature' | 'genesis-mismatch' | 'invalid' | 'not-member' | 'rollback';

// The messages of the Go sentinels, so that errors read (and test) alike.
const SENTINEL: Partial<Record<ChainErrorCode, string>> = {
  malformed: 'malformed chain link',
  unauthorized: 'not signed by an admin device of the household',
  'bad-signature': 'invalid link signature',
  'genesis-mismatch': 'chain does not start at the pinned genesis',
  'not-member': 'not an admin or member device of the household',
};

/** ChainError is a chain that does not verify (seq names the link), or a refused operation. */
export class ChainError extends Error {
  constructor(
    public code: ChainErrorCode,
    message: string,
    public seq: number = -1,
  ) {
    super(message);
    this.name = 'ChainError';
  }
}

function fail(code: ChainErrorCode, detail: string): ChainError {
  const s = SENTINEL[code];
  return new ChainError(code, s ? `${s}: ${detail}` : detail);
}

function linkError(seq: number, e: unknown): ChainError {
  const c = e instanceof ChainError ? e : new ChainError('invalid', String(e));
  return new ChainError(c.code, `chain link ${seq}: ${c.message}`, seq);
}

export interface Device {
  id: string;
  role: Role;
  name: string;
  signPub: Uint8Array;
  boxPub?: Uint8Array; // admins and members only
}

interface StanzaBytes {
  raw: Uint8Array; // 85 bytes
  hint: Uint8Array;
}

interface EpochRecord {
  n: number;
  pub: Uint8Array;
  recovery: StanzaBytes;
  wraps: { signPub: Uint8Array; stanza: StanzaBytes }[];
}

interface Link {
  household: Uint8Array;
  seq: number;
  prev: Uint8Array;
  time: bigint; // Unix ms
  signer: Uint8Array;
  op: number;
  name?: string;
  device?: Device;
  recovery?: Uint8Array;
  epoch?: EpochRecord;
  wraps?: StanzaBytes[];
  target?: Uint8Array;
  role?: Role;
  signed: Uint8Array;
  sig: Uint8Array;
}

interface WrapRef {
  stanza: StanzaBytes;
  seq: number;
}

interface EpochInfo {
  pub: Uint8Array;
  seq: number;
  recoveryWrap: WrapRef;
  wraps: Map<string, WrapRef>;
}

/** linkHash is SHA-256("vigil/keydir/chain/v1/link\0" || link), what the next link's prev holds. */
export function linkHash(link: Uint8Array): Promise<Uint8Array> {
  return sha256(HASH_CONTEXT, link);
}

/** genesisHash is the linkHash of link 0: what devices pin for a household. */
export const genesisHash = linkHash;

function householdIdOf(h: Uint8Array): string {
  return 'h' + base32(h).toLowerCase();
}

/** ChainState is a verified state of a household; treat its fields as read-only. */
export class ChainState {
  householdId = '';
  name = '';
  genesisHash: Uint8Array = new Uint8Array(0);
  head: Uint8Array = new Uint8Array(0);
  seq = 0;
  epoch = 0;
  recoveryPub: Uint8Array = new Uint8Array(0);
  /** @internal */ household: Uint8Array = new Uint8Array(HOUSEHOLD_SIZE);
  /** @internal */ byId = new Map<string, Device>();
  /** @internal */ epochs: EpochInfo[] = [];
  /** @internal */ removed = new Map<string, { device: Device; seq: number }>();

  /** devices are the current devices (admins, members, hubs), sorted by ID. */
  get devices(): Device[] {
    return [...this.byId.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  /** epochPub is the X25519 public key of the current epoch, which hubs seal to. */
  get epochPub(): Uint8Array {
    return this.epochs[this.epochs.length - 1].pub;
  }

  /** epochPublic returns the public key of epoch n (1..epoch). */
  epochPublic(n: number): Uint8Array {
    if (n < 1 || n > this.epochs.length) throw new ChainError('invalid', `household ${this.householdId} has no epoch ${n} (epochs 1..${this.epochs.length})`);
    return this.epochs[n - 1].pub;
  }

  device(id: string): Device | undefined {
    return this.byId.get(id);
  }

  hubs(): Device[] {
    return this.devices.filter((d) => d.role === 'hub');
  }

  /** formerHubs are hubs removed from the household; their older footage is genuine. */
  formerHubs(): Device[] {
    return [...this.removed.values()].map((r) => r.device).filter((d) => d.role === 'hub').sort((a, b) => (a.id < b.id ? -1 : 1));
  }

  /** trustedHubs are the signing keys of the current hubs (Go State.TrustedHubs): accept their objects. */
  trustedHubs(): Uint8Array[] {
    return this.hubs().map((d) => d.signPub);
  }

  /** removedDevice says when a device left the household (for messages). */
  removedDevice(id: string): { device: Device; seq: number } | undefined {
    return this.removed.get(id);
  }

  clone(): ChainState {
    const c = new ChainState();
    Object.assign(c, this);
    c.byId = new Map(this.byId);
    c.removed = new Map(this.removed);
    c.epochs = this.epochs.map((e) => ({ ...e, wraps: new Map(e.wraps) }));
    return c;
  }

  /** @internal */ describe(id: string): string {
    const d = this.byId.get(id);
    if (d) return `${d.role} ${id} (${JSON.stringify(d.name)})`;
    const r = this.removed.get(id);
    if (r) return `${r.device.role} ${id} (${JSON.stringify(r.device.name)}), removed in link ${r.seq}`;
    return `${id}, a key that is not a device of this household`;
  }

  /** @internal */ admins(): number {
    let n = 0;
    for (const d of this.byId.values()) if (d.role === 'admin') n++;
    return n;
  }

  /** @internal */ holders(except: string): Map<string, Device> {
    const m = new Map<string, Device>();
    for (const [id, d] of this.byId) if (holdsEpochKeys(d.role) && id !== except) m.set(id, d);
    return m;
  }
}

// Decoding.

class Decoder {
  off: number;
  err: ChainError | null = null;
  constructor(
    public b: Uint8Array,
    off: number,
  ) {
    this.off = off;
  }
  fail(detail: string) {
    if (!this.err) this.err = fail('malformed', detail);
  }
  take(n: number, what: string): Uint8Array {
    if (this.err) return new Uint8Array(n);
    if (this.b.length - this.off < n) {
      this.fail(`truncated: ${what} needs ${n} bytes at offset ${this.off}, ${this.b.length - this.off} left`);
      return new Uint8Array(n);
    }
    const s = this.b.slice(this.off, this.off + n);
    this.off += n;
    return s;
  }
  u8(what: string) {
    return this.take(1, what)[0];
  }
  u16(what: string) {
    return readU16(this.take(2, what), 0);
  }
  u32(what: string) {
    return readU32(this.take(4, what), 0);
  }
  u64(what: string) {
    return readU64(this.take(8, what), 0);
  }
  name(what: string): string {
    const n = this.u8(what + ' length');
    const b = this.take(n, what);
    if (this.err) return '';
    let s = '';
    try {
      s = fromUtf8(b);
    } catch {
      this.fail(`${what}: name is not valid UTF-8`);
      return '';
    }
    const e = nameError(s);
    if (e) this.fail(`${what}: ${e}`);
    return s;
  }
  device(what: string): Device {
    const code = this.u8(what + ' role');
    const role = roleName(code);
    if (!this.err && !role) this.fail(`${what} has unknown role ${code}`);
    const d: Device = { id: '', role: role ?? 'hub', name: this.name(what + ' name'), signPub: this.take(32, what + ' Ed25519 key') };
    if (role && holdsEpochKeys(role)) d.boxPub = this.take(32, what + ' X25519 key');
    return d;
  }
  stanza(what: string): StanzaBytes {
    const t = this.u8(what + ' type');
    if (!this.err && t !== 1) this.fail(`${what} has type ${t}, want 1`);
    const rest = this.take(84, what);
    const raw = concat(new Uint8Array([t]), rest);
    return { raw, hint: raw.slice(1, 5) };
  }
  epoch(): EpochRecord {
    const n = this.u32('epoch number');
    if (!this.err && (n === 0 || n > MAX_EPOCHS)) this.fail(`epoch number ${n} out of range 1..${MAX_EPOCHS}`);
    const e: EpochRecord = { n, pub: this.take(32, 'epoch key'), recovery: this.stanza('recovery stanza'), wraps: [] };
    const count = this.u16('epoch stanza count');
    if (!this.err && count > MAX_DEVICES) this.fail(`${count} epoch stanzas, at most ${MAX_DEVICES} allowed`);
    for (let i = 0; i < count && !this.err; i++) {
      const w = { signPub: this.take(32, 'epoch stanza device'), stanza: this.stanza('epoch stanza') };
      if (!this.err && i > 0 && compare(e.wraps[i - 1].signPub, w.signPub) >= 0) this.fail(`epoch stanzas are not sorted by device key, or repeat a device (stanza ${i})`);
      e.wraps.push(w);
    }
    return e;
  }
}

const GO_SPACES = new Set([0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x20, 0x85, 0xa0, 0x1680, 0x2028, 0x2029, 0x202f, 0x205f, 0x3000]);
const isGoSpace = (c: number) => GO_SPACES.has(c) || (c >= 0x2000 && c <= 0x200a);
const isGoControl = (c: number) => c < 0x20 || (c >= 0x7f && c <= 0x9f);

/** nameError validates a household or device name as Go keydir does; null if valid. */
export function nameError(s: string): string | null {
  if (s === '') return 'empty name';
  const n = utf8(s).length;
  if (n > MAX_NAME_LEN) return `name is ${n} bytes, at most ${MAX_NAME_LEN} allowed`;
  const cps = [...s].map((c) => c.codePointAt(0)!);
  if (cps.some((c) => c >= 0xd800 && c <= 0xdfff)) return 'name is not valid UTF-8';
  for (let i = 0; i < cps.length; i++) {
    if (isGoControl(cps[i]) || (isGoSpace(cps[i]) && (i === 0 || i === cps.length - 1))) return 'name has a control character or leading or trailing space';
  }
  return null;
}

async function parseLink(b: Uint8Array): Promise<Link> {
  if (b.length > MAX_LINK_SIZE) throw fail('malformed', `${b.length} bytes, at most ${MAX_LINK_SIZE} allowed`);
  if (b.length < LINK_FIXED + 64) throw fail('malformed', `${b.length} bytes, too short to be a link`);
  b = b.slice();
  if (!equal(b.subarray(0, 8), MAGIC)) throw fail('malformed', 'bad magic (not a Vigil chain link)');
  if (b[8] !== VERSION) throw fail('malformed', `unsupported link version ${b[8]} (this app reads version ${VERSION}; reload to update it)`);
  const d = new Decoder(b.subarray(0, b.length - 64), 9);
  const household = d.take(HOUSEHOLD_SIZE, 'household');
  const seq = d.u64('seq');
  if (!d.err && seq > 0x7fffffffffffffffn) d.fail(`seq ${seq} out of range`);
  const l: Link = {
    household,
    seq: Number(seq),
    prev: d.take(32, 'prev'),
    time: BigInt.asIntN(64, d.u64('time')),
    signer: d.take(32, 'signer'),
    op: d.u8('op'),
    signed: new Uint8Array(0),
    sig: b.slice(b.length - 64),
  };
  switch (l.op) {
    case OP_GENESIS:
      l.name = d.name('household name');
      l.device = d.device('genesis device');
      l.recovery = d.take(32, 'recovery key');
      l.epoch = d.epoch();
      break;
    case OP_ADD: {
      l.device = d.device('new device');
      const n = d.u16('stanza count');
      if (!d.err && n > MAX_EPOCHS) d.fail(`${n} stanzas, at most ${MAX_EPOCHS} allowed`);
      l.wraps = [];
      for (let i = 0; i < n && !d.err; i++) l.wraps.push(d.stanza(`stanza for epoch ${i + 1}`));
      break;
    }
    case OP_REMOVE:
      l.target = d.take(32, 'removed device');
      l.epoch = d.epoch();
      break;
    case OP_SET_ROLE: {
      l.target = d.take(32, 'device');
      const code = d.u8('role');
      const role = roleName(code);
      if (!d.err && !role) d.fail(`unknown role ${code}`);
      l.role = role;
      break;
    }
    case OP_NEW_EPOCH:
      l.epoch = d.epoch();
      break;
    default:
      if (!d.err) d.fail(`unknown operation ${l.op}`);
  }
  if (d.err) throw d.err;
  const rest = d.b.length - d.off;
  if (rest !== 0) throw fail('malformed', `${rest} unexpected bytes before the signature (trailing data, or a field of the wrong length)`);
  if (l.device) l.device.id = await deviceId(l.device.signPub);
  l.signed = d.b.slice();
  if (!equal(encodeSigned(l), l.signed)) throw fail('malformed', 'not the canonical encoding of its contents');
  return l;
}

// Encoding.

function encName(s: string): Uint8Array {
  const b = utf8(s);
  return concat(new Uint8Array([b.length]), b);
}

function encDevice(d: Device): Uint8Array {
  return concat(new Uint8Array([ROLE_CODES[d.role]]), encName(d.name), d.signPub, holdsEpochKeys(d.role) ? d.boxPub! : new Uint8Array(0));
}

function encEpoch(e: EpochRecord): Uint8Array {
  return concat(u32be(e.n), e.pub, e.recovery.raw, u16be(e.wraps.length), ...e.wraps.flatMap((w) => [w.signPub, w.stanza.raw]));
}

function encodeSigned(l: Link): Uint8Array {
  const parts: Uint8Array[] = [MAGIC, new Uint8Array([VERSION]), l.household, u64be(l.seq), l.prev, u64be(l.time), l.signer, new Uint8Array([l.op])];
  switch (l.op) {
    case OP_GENESIS:
      parts.push(encName(l.name!), encDevice(l.device!), l.recovery!, encEpoch(l.epoch!));
      break;
    case OP_ADD:
      parts.push(encDevice(l.device!), u16be(l.wraps!.length), ...l.wraps!.map((w) => w.raw));
      break;
    case OP_REMOVE:
      parts.push(l.target!, encEpoch(l.epoch!));
      break;
    case OP_SET_ROLE:
      parts.push(l.target!, new Uint8Array([ROLE_CODES[l.role!]]));
      break;
    case OP_NEW_EPOCH:
      parts.push(encEpoch(l.epoch!));
      break;
  }
  return concat(...parts);
}

const verifySignature = (l: Link) => ed25519Verify(l.signer, concat(SIG_CONTEXT, l.signed), l.sig);

// Verification.

/**
 * verifyChain checks a whole chain (links[i] is link seq i, the exact bytes
 * stored) against the genesis hash this device pinned, and returns the
 * state after the last link. It throws ChainError naming the link.
 *
 * Any prefix of a valid chain is valid: callers remember the (seq, head)
 * they verified and refuse a shorter or different chain (household.ts).
 */
export async function verifyChain(links: Uint8Array[], pinnedGenesis: Uint8Array): Promise<ChainState> {
  if (pinnedGenesis.length !== 32) throw new ChainError('invalid', `pinned genesis hash is ${pinnedGenesis.length} bytes, want 32`);
  if (links.length === 0) throw new ChainError('invalid', 'empty chain: there is no genesis link');
  const got = await linkHash(links[0]);
  if (!equal(got, pinnedGenesis)) {
    throw linkError(0, fail('genesis-mismatch', `its hash is ${hex(got)}, the pinned hash is ${hex(pinnedGenesis)} (this is another household's chain, or was substituted by the server)`));
  }
  let s: ChainState;
  try {
    s = await genesisState(links[0]);
  } catch (e) {
    throw linkError(0, e);
  }
  for (const l of links.slice(1)) await applyInPlace(s, l);
  return s;
}

/** applyLink verifies link as the next link of s and returns the new state; s is unchanged. */
export async function applyLink(s: ChainState, link: Uint8Array): Promise<ChainState> {
  const c = s.clone();
  await applyInPlace(c, link);
  return c;
}

async function applyInPlace(s: ChainState, link: Uint8Array): Promise<void> {
  const seq = s.seq + 1;
  let l: Link;
  try {
    l = await parseLink(link);
    await check(s, l);
  } catch (e) {
    throw linkError(seq, e);
  }
  commit(s, l, await linkHash(link));
}

async function genesisState(raw: Uint8Array): Promise<ChainState> {
  const l = await parseLink(raw);
  if (l.op !== OP_GENESIS) throw fail('malformed', `it is a ${opName(l.op)} link, not a genesis`);
  if (l.seq !== 0) throw new ChainError('invalid', `genesis has seq ${l.seq}, want 0`);
  if (!l.prev.every((x) => x === 0)) throw new ChainError('invalid', 'genesis has a prev hash; a genesis links to nothing');
  const dev = l.device!;
  if (dev.role !== 'admin') throw new ChainError('invalid', `the genesis device ${dev.id} is a ${dev.role}; the first device must be an admin`);
  if (!equal(l.signer, dev.signPub)) throw fail('unauthorized', `the genesis is signed by ${await deviceId(l.signer)}, not self-signed by its admin device ${dev.id}`);
  if (!(await verifySignature(l))) throw fail('bad-signature', `by ${dev.id}`);
  if (equal(l.recovery!, dev.boxPub!)) throw new ChainError('invalid', "the recovery key is the admin device's X25519 key");
  const s = new ChainState();
  s.householdId = householdIdOf(l.household);
  s.name = l.name!;
  s.byId.set(dev.id, dev);
  s.household = l.household;
  s.recoveryPub = l.recovery!;
  await checkEpoch(s, l.epoch!, s.holders(''));
  await addEpoch(s, l.epoch!, 0);
  s.genesisHash = await linkHash(raw);
  s.head = s.genesisHash.slice();
  return s;
}

async function authorize(s: ChainState, signer: Uint8Array): Promise<void> {
  const id = await deviceId(signer);
  const d = s.byId.get(id);
  if (d && d.role === 'admin' && equal(d.signPub, signer)) return;
  throw fail('unauthorized', `the signer is ${s.describe(id)}`);
}

async function check(s: ChainState, l: Link): Promise<void> {
  if (l.op === OP_GENESIS) throw new ChainError('invalid', `a genesis link at seq ${s.seq + 1}; a chain has one genesis, at seq 0`);
  if (!equal(l.household, s.household)) throw new ChainError('invalid', `the link belongs to household ${householdIdOf(l.household)}, not ${s.householdId} (spliced from another chain)`);
  if (l.seq !== s.seq + 1) throw new ChainError('invalid', `the link has seq ${l.seq}, want ${s.seq + 1} (links dropped, repeated or reordered)`);
  if (!equal(l.prev, s.head)) throw new ChainError('invalid', `prev hash does not match link ${s.seq} (links dropped, reordered or from another chain)`);
  await authorize(s, l.signer);
  if (!(await verifySignature(l))) throw fail('bad-signature', `by ${await deviceId(l.signer)}`);
  switch (l.op) {
    case OP_ADD:
      return checkAdd(s, l);
    case OP_REMOVE: {
      const id = await deviceId(l.target!);
      const d = s.byId.get(id);
      if (!d) throw new ChainError('invalid', `removes ${s.describe(id)}`);
      if (d.role === 'admin' && s.admins() === 1) throw new ChainError('invalid', `removes ${s.describe(id)}, the last admin; a household keeps at least one admin (promote another device first)`);
      return checkEpoch(s, l.epoch!, s.holders(id));
    }
    case OP_SET_ROLE: {
      const id = await deviceId(l.target!);
      const d = s.byId.get(id);
      if (!d) throw new ChainError('invalid', `changes the role of ${s.describe(id)}`);
      if (d.role === 'hub') throw new ChainError('invalid', `changes the role of ${s.describe(id)}; a hub cannot become an admin or member`);
      if (l.role === 'hub') throw new ChainError('invalid', `makes ${s.describe(id)} a hub; only admins and members change roles, between admin and member`);
      if (l.role === d.role) throw new ChainError('invalid', `sets the role of ${s.describe(id)} to ${l.role}, which it already has`);
      if (d.role === 'admin' && s.admins() === 1) throw new ChainError('invalid', `demotes ${s.describe(id)}, the last admin; a household keeps at least one admin (promote another device first)`);
      return;
    }
    case OP_NEW_EPOCH:
      return checkEpoch(s, l.epoch!, s.holders(''));
  }
  throw fail('malformed', `unknown operation ${l.op}`);
}

async function checkAdd(s: ChainState, l: Link): Promise<void> {
  const d = l.device!;
  if (s.byId.has(d.id)) throw new ChainError('invalid', `adds device ${d.id}, which is already in the household as ${s.describe(d.id)}`);
  const r = s.removed.get(d.id);
  if (r) throw new ChainError('invalid', `adds device ${d.id} again after it was removed in link ${r.seq}; a removed device comes back only with new keys`);
  if (s.byId.size >= MAX_DEVICES) throw new ChainError('invalid', `adds a device to a household that already has ${s.byId.size} devices, the most allowed`);
  if (d.boxPub) {
    for (const [id, o] of s.byId) if (o.boxPub && equal(o.boxPub, d.boxPub)) throw new ChainError('invalid', `adds device ${d.id} with the X25519 key of ${s.describe(id)}`);
    for (const [id, o] of s.removed) if (o.device.boxPub && equal(o.device.boxPub, d.boxPub)) throw new ChainError('invalid', `adds device ${d.id} with the X25519 key of ${s.describe(id)}`);
    if (equal(d.boxPub, s.recoveryPub)) throw new ChainError('invalid', `adds device ${d.id} with the household's recovery key as its X25519 key`);
  }
  if (!holdsEpochKeys(d.role)) {
    if (l.wraps!.length !== 0) throw new ChainError('invalid', `adds hub ${d.id} with ${l.wraps!.length} wrapped epoch keys; hubs never receive epoch keys`);
    return;
  }
  if (l.wraps!.length !== s.epoch) throw new ChainError('invalid', `adds ${d.role} ${d.id} with ${l.wraps!.length} wrapped epoch keys, want one for each of the ${s.epoch} epochs`);
  const h = await keyHint(d.boxPub!);
  l.wraps!.forEach((w, i) => {
    if (!equal(w.hint, h)) throw new ChainError('invalid', `the key of epoch ${i + 1} for the new device ${d.id} is not wrapped to its X25519 key`);
  });
}

async function checkEpoch(s: ChainState, rec: EpochRecord, holders: Map<string, Device>): Promise<void> {
  if (rec.n !== s.epoch + 1) throw new ChainError('invalid', `starts epoch ${rec.n}, want ${s.epoch + 1}`);
  if (rec.n > MAX_EPOCHS) throw new ChainError('invalid', `starts epoch ${rec.n}; a household has at most ${MAX_EPOCHS} epochs`);
  s.epochs.forEach((e, i) => {
    if (equal(e.pub, rec.pub)) throw new ChainError('invalid', `epoch ${rec.n} reuses the key of epoch ${i + 1}`);
  });
  if (equal(rec.pub, s.recoveryPub)) throw new ChainError('invalid', `epoch ${rec.n} uses the recovery key as its key`);
  if (!equal(rec.recovery.hint, await keyHint(s.recoveryPub))) throw new ChainError('invalid', `the key of epoch ${rec.n} is not wrapped to the household's recovery key`);
  const seen = new Set<string>();
  for (const w of rec.wraps) {
    const id = await deviceId(w.signPub);
    const d = holders.get(id);
    if (!d) {
      let why = 'which must not receive it';
      const cur = s.byId.get(id);
      if (cur && cur.role === 'hub') why = 'and hubs never receive epoch keys';
      else if (cur) why = 'the device this link removes';
      throw new ChainError('invalid', `the key of epoch ${rec.n} is wrapped to ${s.describe(id)}, ${why}`);
    }
    if (!equal(w.stanza.hint, await keyHint(d.boxPub!))) throw new ChainError('invalid', `the key of epoch ${rec.n} for ${s.describe(id)} is not wrapped to its X25519 key`);
    seen.add(id);
  }
  const missing = [...holders.keys()].filter((id) => !seen.has(id)).sort();
  if (missing.length > 0) throw new ChainError('invalid', `the key of epoch ${rec.n} is not wrapped to ${s.describe(missing[0])} (every admin and member device must receive it)`);
}

async function addEpoch(s: ChainState, rec: EpochRecord, seq: number): Promise<void> {
  const e: EpochInfo = { pub: rec.pub, seq, recoveryWrap: { stanza: rec.recovery, seq }, wraps: new Map() };
  for (const w of rec.wraps) e.wraps.set(await deviceId(w.signPub), { stanza: w.stanza, seq });
  s.epochs.push(e);
  s.epoch = rec.n;
}

function commit(s: ChainState, l: Link, hash: Uint8Array): void {
  // check() made every async lookup; the device IDs needed here are computed below synchronously from maps.
  switch (l.op) {
    case OP_ADD: {
      const d = l.device!;
      s.byId.set(d.id, d);
      l.wraps!.forEach((w, i) => s.epochs[i].wraps.set(d.id, { stanza: w, seq: l.seq }));
      break;
    }
    case OP_REMOVE: {
      const id = idOfKey(s, l.target!);
      s.removed.set(id, { device: s.byId.get(id)!, seq: l.seq });
      s.byId.delete(id);
      pushEpoch(s, l.epoch!, l.seq);
      break;
    }
    case OP_SET_ROLE: {
      const id = idOfKey(s, l.target!);
      s.byId.set(id, { ...s.byId.get(id)!, role: l.role! });
      break;
    }
    case OP_NEW_EPOCH:
      pushEpoch(s, l.epoch!, l.seq);
      break;
  }
  s.seq = l.seq;
  s.head = hash;
}

function idOfKey(s: ChainState, signPub: Uint8Array): string {
  for (const [id, d] of s.byId) if (equal(d.signPub, signPub)) return id;
  throw new Error('chain: checked link names no device');
}

function pushEpoch(s: ChainState, rec: EpochRecord, seq: number): void {
  const e: EpochInfo = { pub: rec.pub, seq, recoveryWrap: { stanza: rec.recovery, seq }, wraps: new Map() };
  for (const w of rec.wraps) e.wraps.set(idOfKey(s, w.signPub), { stanza: w.stanza, seq });
  s.epochs.push(e);
  s.epoch = rec.n;
}

// Epoch keys.

async function unwrapEpoch(s: ChainState, boxKey: CryptoKey, w: WrapRef, n: number): Promise<CryptoKey> {
  const st = w.stanza.raw;
  let raw: Uint8Array;
  try {
    raw = await hpkeOpen(boxKey, st.subarray(5, 37), WRAP_INFO, new Uint8Array(0), st.subarray(37));
  } catch {
    throw new ChainError('invalid', `the key of epoch ${n} wrapped in link ${w.seq} does not decrypt with this key`);
  }
  try {
    if (raw.length !== 32) throw new Error();
    const k = await importX25519Private(raw);
    if (!equal(await x25519PublicKey(k), s.epochs[n - 1].pub)) throw new Error();
    return k;
  } catch {
    throw new ChainError('invalid', `the key of epoch ${n} wrapped in link ${w.seq} does not match the epoch's public key (its signer wrapped a wrong key)`);
  } finally {
    raw.fill(0);
  }
}

async function rawEpochKeys(s: ChainState, boxKey: CryptoKey, id: string): Promise<Uint8Array[]> {
  const out: Uint8Array[] = [];
  try {
    for (let n = 1; n <= s.epochs.length; n++) {
      const w = s.epochs[n - 1].wraps.get(id);
      if (!w) throw new ChainError('invalid', `epoch ${n} has no key for device ${id} (the state is inconsistent)`);
      const st = w.stanza.raw;
      const raw = await hpkeOpen(boxKey, st.subarray(5, 37), WRAP_INFO, new Uint8Array(0), st.subarray(37)).catch(() => {
        throw new ChainError('invalid', `the key of epoch ${n} wrapped in link ${w.seq} does not decrypt with this key`);
      });
      out.push(raw);
      // Pass on only keys that match the epoch's public key.
      if (raw.length !== 32 || !equal(await x25519PublicKey(await importX25519Private(raw)), s.epochs[n - 1].pub)) {
        throw new ChainError('invalid', `the key of epoch ${n} wrapped in link ${w.seq} does not match the epoch's public key (its signer wrapped a wrong key)`);
      }
    }
    return out;
  } catch (e) {
    out.forEach((r) => r.fill(0));
    throw e;
  }
}

async function memberId(s: ChainState, keys: DeviceKeys | CryptoKey): Promise<{ id: string; boxKey: CryptoKey }> {
  let id: string | undefined;
  let boxKey: CryptoKey;
  if (keys instanceof CryptoKey) {
    boxKey = keys;
    const pub = await x25519PublicKey(keys);
    for (const [i, d] of s.byId) if (d.boxPub && equal(d.boxPub, pub)) id = i;
    if (!id) throw fail('not-member', `this device's key is not an admin or member device of household ${s.householdId}`);
  } else {
    boxKey = keys.boxKey;
    id = keys.id;
  }
  const d = s.byId.get(id);
  if (!d) {
    const r = s.removed.get(id);
    if (r) throw fail('not-member', `device ${id} was removed in link ${r.seq} and gets no keys of later epochs`);
    throw fail('not-member', `device ${id} is not in household ${s.householdId}`);
  }
  if (!holdsEpochKeys(d.role)) throw fail('not-member', `device ${id} is a ${d.role}, and ${d.role}s never hold epoch keys`);
  if (!equal(await x25519PublicKey(boxKey), d.boxPub!)) throw new ChainError('invalid', `the X25519 key of this device is not the one the chain lists for device ${id}`);
  return { id, boxKey };
}

/**
 * epochIdentities returns every epoch's X25519 private key (newest first,
 * non-extractable) that this device can unwrap: keys is the device's
 * DeviceKeys or its X25519 CryptoKey. A device that is not a current admin
 * or member gets ChainError 'not-member'.
 */
export async function epochIdentities(s: ChainState, keys: DeviceKeys | CryptoKey): Promise<CryptoKey[]> {
  const { id, boxKey } = await memberId(s, keys);
  const out: CryptoKey[] = [];
  for (let n = s.epochs.length; n >= 1; n--) {
    const w = s.epochs[n - 1].wraps.get(id);
    if (!w) throw new ChainError('invalid', `epoch ${n} has no key for device ${id} (the state is inconsistent)`);
    out.push(await unwrapEpoch(s, boxKey, w, n));
  }
  return out;
}

/** recoveryIdentities returns every epoch's key unwrapped with a recovery phrase (newest first). */
export async function recoveryIdentities(s: ChainState, phrase: string): Promise<CryptoKey[]> {
  const raw = await recoveryKeyBytes(phrase);
  const k = await importX25519Private(raw);
  raw.fill(0);
  if (!equal(await x25519PublicKey(k), s.recoveryPub)) {
    throw new ChainError('invalid', `recovery phrase does not belong to this household ${s.householdId} (${JSON.stringify(s.name)}); check that this is the phrase shown when this household was created`);
  }
  const out: CryptoKey[] = [];
  for (let n = s.epochs.length; n >= 1; n--) out.push(await unwrapEpoch(s, k, s.epochs[n - 1].recoveryWrap, n));
  return out;
}

// Building links.

function stanzaBytes(raw: Uint8Array): StanzaBytes {
  return { raw, hint: raw.slice(1, 5) };
}

async function checkDevice(d: { role: string; name: string; signPub: Uint8Array; boxPub?: Uint8Array | null; id?: string }): Promise<Device> {
  if (!(d.role in ROLE_CODES)) throw new ChainError('invalid', `device role ${JSON.stringify(d.role)}: want admin, member or hub`);
  if (d.signPub.length !== 32) throw new ChainError('invalid', `device Ed25519 key is ${d.signPub.length} bytes, want 32`);
  const id = await deviceId(d.signPub);
  if (d.id && d.id !== id) throw new ChainError('invalid', `device ID ${d.id} does not match its Ed25519 key (which gives ${id})`);
  const e = nameError(d.name);
  if (e) throw new ChainError('invalid', `device ${id}: ${e}`);
  const out: Device = { id, role: d.role as Role, name: d.name, signPub: d.signPub.slice() };
  if (!holdsEpochKeys(d.role)) {
    if (d.boxPub) throw new ChainError('invalid', `hub ${id} has an X25519 key; hubs never receive epoch keys`);
    return out;
  }
  if (!d.boxPub || d.boxPub.length !== 32) throw new ChainError('invalid', `${d.role} ${id}: X25519 key is ${d.boxPub?.length ?? 0} bytes, want 32`);
  out.boxPub = d.boxPub.slice();
  return out;
}

async function newEpochRecord(s: ChainState, holders: Map<string, Device>): Promise<EpochRecord> {
  const priv = randomBytes(32);
  try {
    const pub = await x25519PublicKey(await importX25519Private(priv));
    const rec: EpochRecord = { n: s.epoch + 1, pub, recovery: stanzaBytes(await wrapFileKey(priv, s.recoveryPub)), wraps: [] };
    const ds = [...holders.values()].sort((a, b) => compare(a.signPub, b.signPub));
    for (const d of ds) rec.wraps.push({ signPub: d.signPub, stanza: stanzaBytes(await wrapFileKey(priv, d.boxPub!)) });
    return rec;
  } finally {
    priv.fill(0);
  }
}

async function begin(s: ChainState, signer: DeviceKeys, op: number): Promise<Link> {
  if (s.genesisHash.length !== 32 || s.head.length !== 32) throw new ChainError('invalid', 'the state has no genesis; start from verifyChain or newHousehold');
  try {
    await authorize(s, signer.signPub);
  } catch (e) {
    throw new ChainError('unauthorized', `cannot sign a ${opName(op)} link: ${(e as Error).message}`);
  }
  return { household: s.household, seq: s.seq + 1, prev: s.head, time: BigInt(Date.now()), signer: signer.signPub, op, signed: new Uint8Array(0), sig: new Uint8Array(0) };
}

async function sign(l: Link, signer: DeviceKeys): Promise<Uint8Array> {
  const b = encodeSigned(l);
  const sig = await signer.sign(concat(SIG_CONTEXT, b));
  return concat(b, sig);
}

/** finish signs l and checks it as every verifier will. */
async function finish(s: ChainState, l: Link, signer: DeviceKeys): Promise<Uint8Array> {
  const raw = await sign(l, signer);
  try {
    await check(s, await parseLink(raw));
  } catch (e) {
    throw new ChainError('invalid', `refusing to sign a ${opName(l.op)} link that would not verify: ${(e as Error).message}`);
  }
  return raw;
}

/**
 * newHousehold makes the genesis link of a new household with this device
 * as its first admin, epoch 1 wrapped to it and to a fresh recovery key.
 * recoveryPhrase must be shown to the user once and never stored.
 */
export async function newHousehold(name: string, keys: DeviceKeys, deviceName: string): Promise<{ genesis: Uint8Array; recoveryPhrase: string; state: ChainState }> {
  const e = nameError(name);
  if (e) throw new ChainError('invalid', `household name: ${e}`);
  const dev = await checkDevice({ role: 'admin', name: deviceName, signPub: keys.signPub, boxPub: keys.boxPub });
  const recoveryPhrase = newRecoveryPhrase();
  const rraw = await recoveryKeyBytes(recoveryPhrase);
  const recoveryPub = await x25519PublicKey(await importX25519Private(rraw));
  rraw.fill(0);
  const tmp = new ChainState();
  tmp.recoveryPub = recoveryPub;
  tmp.byId.set(dev.id, dev);
  const l: Link = {
    household: randomBytes(HOUSEHOLD_SIZE),
    seq: 0,
    prev: new Uint8Array(32),
    time: BigInt(Date.now()),
    signer: dev.signPub,
    op: OP_GENESIS,
    name,
    device: dev,
    recovery: recoveryPub,
    epoch: await newEpochRecord(tmp, tmp.holders('')),
    signed: new Uint8Array(0),
    sig: new Uint8Array(0),
  };
  const genesis = await sign(l, keys);
  const state = await genesisState(genesis);
  return { genesis, recoveryPhrase, state };
}

/**
 * addDevice makes a link adding an admin or member device, with every
 * epoch key wrapped to its X25519 key. keys (the signer) must be an admin
 * holding all epoch keys.
 */
export async function addDevice(s: ChainState, keys: DeviceKeys, dev: { role: 'admin' | 'member'; name: string; signPub: Uint8Array; boxPub: Uint8Array }): Promise<Uint8Array> {
  const d = await checkDevice(dev);
  if (!holdsEpochKeys(d.role)) throw new ChainError('invalid', `addDevice adds admins and members, not a ${d.role}; use addHub`);
  const l = await begin(s, keys, OP_ADD);
  const { id, boxKey } = await memberId(s, keys);
  const raws = await rawEpochKeys(s, boxKey, id);
  try {
    l.wraps = [];
    for (const r of raws) l.wraps.push(stanzaBytes(await wrapFileKey(r, d.boxPub!)));
  } finally {
    raws.forEach((r) => r.fill(0));
  }
  l.device = d;
  return finish(s, l, keys);
}

/** addHub makes a link adding a hub (which never receives epoch keys). */
export async function addHub(s: ChainState, keys: DeviceKeys, hub: { name: string; signPub: Uint8Array }): Promise<Uint8Array> {
  const d = await checkDevice({ role: 'hub', name: hub.name, signPub: hub.signPub });
  const l = await begin(s, keys, OP_ADD);
  l.device = d;
  l.wraps = [];
  return finish(s, l, keys);
}

/** removeDevice makes a link removing device id and starting a new epoch without it. */
export async function removeDevice(s: ChainState, keys: DeviceKeys, id: string): Promise<Uint8Array> {
  const d = s.byId.get(id);
  if (!d) throw new ChainError('invalid', `cannot remove ${s.describe(id)}`);
  const l = await begin(s, keys, OP_REMOVE);
  l.target = d.signPub;
  l.epoch = await newEpochRecord(s, s.holders(id));
  return finish(s, l, keys);
}

/** setRole makes a link changing device id's role between admin and member. */
export async function setRole(s: ChainState, keys: DeviceKeys, id: string, role: 'admin' | 'member'): Promise<Uint8Array> {
  const d = s.byId.get(id);
  if (!d) throw new ChainError('invalid', `cannot change the role of ${s.describe(id)}`);
  if (role !== 'admin' && role !== 'member') throw new ChainError('invalid', `role ${JSON.stringify(role)}: a device's role can change only to admin or member`);
  const l = await begin(s, keys, OP_SET_ROLE);
  l.target = d.signPub;
  l.role = role;
  return finish(s, l, keys);
}

/** newEpoch makes a link starting a new epoch, its key wrapped to every admin and member and the recovery key. */
export async function newEpoch(s: ChainState, keys: DeviceKeys): Promise<Uint8Array> {
  const l = await begin(s, keys, OP_NEW_EPOCH);
  l.epoch = await newEpochRecord(s, s.holders(''));
  return finish(s, l, keys);
}

/** LinkInfo is what a link says, before any check of who signed it (Go keydir.ParseLink). */
export interface LinkInfo {
  householdId: string;
  seq: number;
  hash: Uint8Array;
  time: number; // Unix ms, the signer's clock
  signer: string;
  op: string;
  device: string;
  role: string;
  epoch: number;
}

/** parseLinkInfo decodes a link and checks its encoding and self-signature; for display only. */
export async function parseLinkInfo(b: Uint8Array): Promise<LinkInfo> {
  const l = await parseLink(b);
  if (!(await verifySignature(l))) throw fail('bad-signature', `by ${await deviceId(l.signer)}`);
  const target = l.device ? l.device.id : l.target ? await deviceId(l.target) : '';
  return {
    householdId: householdIdOf(l.household),
    seq: l.seq,
    hash: await linkHash(b),
    time: Number(l.time),
    signer: await deviceId(l.signer),
    op: opName(l.op),
    device: target,
    role: l.device ? l.device.role : (l.role ?? ''),
    epoch: l.epoch ? l.epoch.n : 0,
  };
}
