// Exposes the browser crypto modules and test drivers to the browser tests
// (web/test/crypto*.mjs). Results go back to the Go tests, which check them.
import * as bytes from '../src/crypto/bytes';
import * as keys from '../src/crypto/keys';
import * as hpke from '../src/crypto/hpke';
import * as envelope from '../src/crypto/envelope';
import * as seal from '../src/crypto/seal';
import { Sha256 } from '../src/crypto/sha256';
import * as devicekeys from '../src/crypto/devicekeys';
import * as idb from '../src/crypto/idb';
import * as chain from '../src/crypto/chain';
import * as recovery from '../src/crypto/recovery';
import * as action from '../src/crypto/action';
import * as consent from '../src/crypto/consent';
import { describe, parseStaffObject, rows, type Names } from '../src/history/describe';
import type { Verified } from '../src/history/audit';
import { fmtDateTime, fmtDuration } from '../src/kit';
import * as household from '../src/household';
import * as pairing from '../src/pairing';
import { signRequest } from '../src/crypto/devauth';
import { verifyConsent } from '../src/label/consent';

const { hex, unhex, utf8 } = bytes;

interface Vector {
  name: string;
  identities: string[];
  recipients?: string[];
  trusted_signers: string[];
  sealed: string;
  error?: string;
}

function errCode(e: unknown): string {
  return e instanceof envelope.EnvelopeError ? e.code : 'other: ' + String(e);
}

/** envelopeVectors opens every vector as FORMAT.md says an implementation must. */
async function envelopeVectors(vectors: Vector[]) {
  const out: any[] = [];
  for (const v of vectors) {
    const sealed = unhex(v.sealed);
    const trusted = v.trusted_signers.map(unhex);
    const ids = await Promise.all(v.identities.map((s) => keys.parseIdentity(s)));
    if (v.error) {
      const r: any = { name: v.name };
      try {
        const o = await envelope.openObject(sealed, ids, trusted);
        r.plaintext = hex(o.plaintext);
      } catch (e) {
        r.error = errCode(e);
      }
      out.push(r);
      continue;
    }
    for (let i = 0; i < ids.length; i++) {
      const r: any = { name: v.name, identity: i };
      try {
        r.recipient = await keys.recipientString(await keys.x25519PublicKey(ids[i]));
        r.recipientParsed = hex(await keys.parseRecipient(v.recipients![i]));
        const o = await envelope.openObject(sealed, [ids[i]], trusted);
        const h = o.header;
        r.plaintext = hex(o.plaintext);
        r.header = {
          kind: h.kind, kind_name: h.kindName, stream: h.stream, sequence: h.sequence.toString(), start_unix_nano: h.start.toString(),
          epoch: h.epoch, chunk_size: h.chunkSize, signer: hex(h.signer), stanzas: h.stanzas.length, header_length: h.headerLength,
        };
        r.footer = { length: o.length.toString(), end_unix_nano: o.end.toString(), commitment: hex(o.commitment) };
        // Random access: verify header and footer, then every chunk alone, last first.
        const fk = await envelope.unwrapFileKey(sealed, [ids[i]]);
        r.fileKey = hex(fk);
        const ra = await envelope.openRandomAccess(sealed.subarray(0, h.headerLength + 10), sealed.subarray(sealed.length - 112), sealed.length, [ids[i]], trusted);
        const parts: string[] = [];
        for (let c = ra.chunks - 1; c >= 0; c--) parts.unshift(hex(await envelope.decryptChunk(sealed, ra.header, ra.payloadKey, c)));
        r.chunks = ra.chunks;
        r.randomAccess = parts.join('');
      } catch (e) {
        r.error = errCode(e);
      }
      out.push(r);
    }
  }
  return out;
}

/** interop makes and opens HPKE ciphertexts and stanzas for the Go side to check. */
async function interop(inp: { goRecipient: string; fileKey: string; info: string; aad: string; plaintext: string; browserIdentity: string; goStanza: string; goHpke: string }) {
  const goPub = await keys.parseRecipient(inp.goRecipient);
  const stanza = await envelope.wrapFileKey(unhex(inp.fileKey), goPub);
  const sealed = await hpke.hpkeSeal(goPub, unhex(inp.info), unhex(inp.aad), unhex(inp.plaintext));
  const bid = await keys.parseIdentity(inp.browserIdentity);
  const st = unhex(inp.goStanza);
  const fakeHeader = { stanzas: [{ type: st[0], hint: st.slice(1, 5), enc: st.slice(5, 37), body: st.slice(37) }], epoch: 0 } as unknown as envelope.Header;
  const unwrapped = await envelope.unwrapFileKey(fakeHeader, [bid]);
  const gh = unhex(inp.goHpke);
  const opened = await hpke.hpkeOpen(bid, gh.slice(0, 32), unhex(inp.info), unhex(inp.aad), gh.slice(32));
  let tamperedError = '';
  try {
    const bad = gh.slice(32);
    bad[0] ^= 1;
    await hpke.hpkeOpen(bid, gh.slice(0, 32), unhex(inp.info), unhex(inp.aad), bad);
  } catch (e) {
    tamperedError = String(e);
  }
  let lowOrder = '';
  try {
    await envelope.wrapFileKey(unhex(inp.fileKey), new Uint8Array(32));
  } catch (e) {
    lowOrder = String(e);
  }
  // The S < L check of signatures, on its own (Chromium also rejects S >= L).
  const Lle = unhex('edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010');
  const below = Lle.slice();
  below[0]--;
  const scalar = [keys.scalarCanonical(below), keys.scalarCanonical(Lle), keys.scalarCanonical(new Uint8Array(32).fill(0xff)), keys.scalarCanonical(new Uint8Array(32))];
  return {
    scalar,
    stanza: hex(stanza),
    hpke: hex(bytes.concat(sealed.enc, sealed.ct)),
    unwrapped: hex(unwrapped),
    opened: hex(opened),
    browserRecipient: await keys.recipientString(await keys.x25519PublicKey(bid)),
    tamperedError,
    lowOrder,
  };
}

/** deviceKeys creates (or loads) this browser's device keys and reports what can be seen of them. */
async function deviceKeys(msgHex: string, create: boolean) {
  const k = create ? await devicekeys.createDeviceKeys() : await devicekeys.loadDeviceKeys();
  if (!k) return { missing: true };
  const sig = await k.sign(unhex(msgHex));
  let exportError = '';
  try {
    await crypto.subtle.exportKey('pkcs8', k.boxKey);
    exportError = 'exported';
  } catch (e) {
    exportError = String(e);
  }
  // The signing key as stored: non-extractable too.
  const rec = await idb.idbGet<{ signKey: CryptoKey }>('keys', 'device');
  let signExportError = '';
  try {
    await crypto.subtle.exportKey('pkcs8', rec!.signKey);
    signExportError = 'exported';
  } catch (e) {
    signExportError = String(e);
  }
  const parsed = await devicekeys.parseDeviceString(devicekeys.deviceString(k));
  return {
    id: k.id,
    idFromPub: await devicekeys.deviceId(k.signPub),
    deviceString: devicekeys.deviceString(k),
    parsedId: parsed.id,
    signPub: hex(k.signPub),
    boxPub: hex(k.boxPub),
    boxPubDerived: hex(await keys.x25519PublicKey(k.boxKey)),
    extractable: k.boxKey.extractable,
    sig: hex(sig),
    exportError,
    signExtractable: rec!.signKey.extractable,
    signExportError,
    stanzaToSelf: hex(await envelope.wrapFileKey(utf8('0123456789abcdef0123456789abcdef'), k.boxPub)),
  };
}

/** deviceKeysFromText imports a Go device key file (test keys only). */
async function deviceKeysFromText(text: string): Promise<devicekeys.DeviceKeys> {
  let sign: { key: CryptoKey; pub: Uint8Array } | null = null;
  let box: CryptoKey | null = null;
  for (const l of keys.keyLines(text)) {
    if (l.startsWith('VIGIL-SIGNER-1-')) sign = await keys.parseSigningKey(l);
    else if (l.startsWith('VIGIL-IDENTITY-1-')) box = await keys.parseIdentity(l);
  }
  if (!sign) throw new Error('no signing key');
  // A hub has no X25519 key: give it a throwaway one that is in no chain.
  if (!box) box = ((await crypto.subtle.generateKey({ name: 'X25519' }, false, ['deriveBits'])) as CryptoKeyPair).privateKey;
  return devicekeys.keysFrom(sign.key, sign.pub, box);
}

function stateSummary(st: chain.ChainState) {
  const devices: Record<string, string> = {};
  for (const d of st.devices) devices[d.id] = d.role;
  const epochPub: string[] = [];
  for (let n = 1; n <= st.epoch; n++) epochPub.push(hex(st.epochPublic(n)));
  return {
    household_id: st.householdId, name: st.name, seq: st.seq, head: hex(st.head), epoch: st.epoch, devices,
    epoch_public_keys: epochPub, hub_signing_keys: st.trustedHubs().map(hex), genesis: hex(st.genesisHash), recovery: hex(st.recoveryPub),
  };
}

async function openAll(st: chain.ChainState, ids: CryptoKey[], segs: Uint8Array[]) {
  const out: string[] = [];
  for (const s of segs) {
    try {
      out.push(new TextDecoder().decode((await envelope.openObject(s, ids, st.trustedHubs())).plaintext));
    } catch (e) {
      out.push('error: ' + errCode(e));
    }
  }
  return out;
}

const errText = (e: unknown) => (e instanceof chain.ChainError ? `${e.code}: ${e.message}` : 'other: ' + String(e));

/** chainVectors verifies the Go-built vector chain and its invalid variants, and opens footage with each device. */
async function chainVectors(v: any, phrases: string[]) {
  const pin = unhex(v.genesis_hash);
  const st = await chain.verifyChain(v.links.map(unhex), pin);
  const segs = [unhex(v.final.segment_epoch_1), unhex(v.final.segment_epoch_n)];
  const open: Record<string, string[] | string> = {};
  for (const [name, text] of Object.entries(v.device_keys as Record<string, string>)) {
    try {
      const k = await deviceKeysFromText(text);
      open[name] = await openAll(st, await chain.epochIdentities(st, k), segs);
    } catch (e) {
      open[name] = errText(e);
    }
  }
  const alice = await deviceKeysFromText(v.device_keys.alice);
  open['alice-boxkey'] = await openAll(st, await chain.epochIdentities(st, alice.boxKey), segs);
  try {
    open['recovery'] = await openAll(st, await chain.recoveryIdentities(st, v.recovery_phrase), segs);
  } catch (e) {
    open['recovery'] = errText(e);
  }
  const invalid: Record<string, string> = {};
  for (const c of v.invalid) {
    try {
      await chain.verifyChain(c.links.map(unhex), pin);
      invalid[c.name] = 'verified';
    } catch (e) {
      invalid[c.name] = errText(e);
    }
  }
  // Prefixes verify; a wrong pin does not.
  const prefix = stateSummary(await chain.verifyChain(v.links.slice(0, 4).map(unhex), pin));
  let wrongPin = '';
  try {
    await chain.verifyChain(v.links.map(unhex), new Uint8Array(32));
  } catch (e) {
    wrongPin = errText(e);
  }
  const parsed: Record<string, string> = {};
  for (const p of phrases) {
    try {
      parsed[p] = hex(await recovery.recoveryPublicKey(p));
    } catch (e) {
      parsed[p] = 'error: ' + (e as Error).message;
    }
  }
  const infos = [];
  for (const l of v.links) {
    const i = await chain.parseLinkInfo(unhex(l));
    infos.push({ ...i, hash: hex(i.hash) });
  }
  return { final: stateSummary(st), open, invalid, prefix, wrongPin, phrases: parsed, newPhrase: recovery.newRecoveryPhrase(), infos };
}

/**
 * chainBuilders extends the Go-built vector chain and builds a new
 * household with the browser's builders, for Go to verify.
 */
async function chainBuilders(v: any, frank: { signPub: string; boxPub: string }, hub2: string) {
  const pin = unhex(v.genesis_hash);
  let st = await chain.verifyChain(v.links.map(unhex), pin);
  const alice = await deviceKeysFromText(v.device_keys.alice);
  const dave = await deviceKeysFromText(v.device_keys.dave);
  const me = await devicekeys.createDeviceKeys();
  const refused: Record<string, string> = {};
  const tryRefuse = async (name: string, f: () => Promise<unknown>) => {
    try {
      await f();
      refused[name] = 'built';
    } catch (e) {
      refused[name] = errText(e);
    }
  };
  await tryRefuse('member adds', () => chain.addDevice(st, dave, { role: 'member', name: 'Ghost', signPub: me.signPub, boxPub: me.boxPub }));
  await tryRefuse('not yet a member adds', () => chain.addHub(st, me, { name: 'Ghost hub', signPub: unhex(hub2) }));
  await tryRefuse('bad name', () => chain.addDevice(st, alice, { role: 'member', name: ' padded', signPub: me.signPub, boxPub: me.boxPub }));

  const links: Uint8Array[] = [];
  const push = async (l: Uint8Array) => {
    links.push(l);
    st = await chain.applyLink(st, l);
  };
  await push(await chain.addDevice(st, alice, { role: 'member', name: 'Browser', signPub: me.signPub, boxPub: me.boxPub }));
  const segs = [unhex(v.final.segment_epoch_1), unhex(v.final.segment_epoch_n)];
  const meOpens = await openAll(st, await chain.epochIdentities(st, me), segs);
  await tryRefuse('duplicate device', () => chain.addDevice(st, alice, { role: 'member', name: 'Again', signPub: me.signPub, boxPub: me.boxPub }));
  await push(await chain.setRole(st, alice, me.id, 'admin'));
  await push(await chain.addDevice(st, me, { role: 'member', name: 'Frank', signPub: unhex(frank.signPub), boxPub: unhex(frank.boxPub) }));
  await push(await chain.addHub(st, me, { name: 'Garage hub', signPub: unhex(hub2) }));
  await push(await chain.newEpoch(st, me));
  const daveId = await devicekeys.deviceId(dave.signPub);
  await push(await chain.removeDevice(st, me, daveId));
  await tryRefuse('removed adds', () => chain.newEpoch(st, dave));
  const meIds = await chain.epochIdentities(st, me);

  // A new household made in the browser.
  const h = await chain.newHousehold('Browser house', me, 'This browser');
  let st2 = h.state;
  const links2 = [h.genesis];
  for (const l of [
    await chain.addDevice(st2, me, { role: 'member', name: 'Frank', signPub: unhex(frank.signPub), boxPub: unhex(frank.boxPub) }),
  ]) {
    links2.push(l);
    st2 = await chain.applyLink(st2, l);
  }
  const l3 = await chain.addHub(st2, me, { name: 'Hub', signPub: unhex(hub2) });
  links2.push(l3);
  st2 = await chain.applyLink(st2, l3);
  const l4 = await chain.newEpoch(st2, me);
  links2.push(l4);
  st2 = await chain.applyLink(st2, l4);
  const reverified = stateSummary(await chain.verifyChain(links2, h.state.genesisHash));
  return {
    me: { id: me.id, signPub: hex(me.signPub), boxPub: hex(me.boxPub) },
    refused, meOpens, meEpochs: meIds.length,
    links: links.map(hex), final: stateSummary(st),
    household: { links: links2.map(hex), phrase: h.recoveryPhrase, final: stateSummary(st2), reverified },
  };
}

function hhSummary(h: household.Household) {
  return {
    hh: h.hh, name: h.name, role: h.role, pinned: h.pinned, seq: h.state.seq, head: hex(h.state.head),
    me: h.me ? { id: h.me.id, role: h.me.role, name: h.me.name } : null, keys: h.keys ? h.keys.id : null,
    identities: h.identities.length, trustedHubs: h.trustedHubs.map(hex), formerHubs: h.formerHubs.map(hex),
  };
}

const errName = (e: unknown) => (e instanceof Error ? `${e.name}: ${e.message}` : String(e));

async function hhOpen(hh: string, refresh: boolean) {
  try {
    const h = await household.openHousehold(hh, { refresh });
    return { ok: hhSummary(h), pin: hex((await household.pinnedGenesis(hh)) ?? new Uint8Array(0)) };
  } catch (e) {
    return { error: errName(e) };
  }
}

async function hhPin(hh: string, hash: string) {
  try {
    await household.pinHousehold(hh, unhex(hash));
    return 'pinned';
  } catch (e) {
    return errName(e);
  }
}

/** hhEnrol: an admin (Go test keys) adds this browser's new device; the page appends the link and opens a segment. */
async function hhEnrol(hh: string, adminText: string, segHex: string) {
  const h = await household.openHousehold(hh, { refresh: true });
  const me = await devicekeys.createDeviceKeys();
  const admin = await deviceKeysFromText(adminText);
  const link = await chain.addDevice(h.state, admin, { role: 'member', name: 'This browser', signPub: me.signPub, boxPub: me.boxPub });
  const h2 = await household.appendLink(h, link);
  const cached = await household.openHousehold(hh);
  const opened = await envelope.openObject(unhex(segHex), h2.identities, h2.trustedHubs);
  return { link: hex(link), after: hhSummary(h2), cachedSame: cached === h2, plaintext: new TextDecoder().decode(opened.plaintext), me: me.id };
}

/** pairFlow: this browser is made an admin (by the Go test's admin keys), then pairs hubs with codes. */
async function pairFlow(hh: string, adminText: string, codes: Record<string, string>, variants: string[]) {
  const out: Record<string, unknown> = {};
  const rv: Record<string, string> = {};
  for (const v of variants) {
    try {
      rv[v] = await pairing.rendezvousId(pairing.parseCode(v));
    } catch (e) {
      rv[v] = errName(e);
    }
  }
  out.rendezvous = rv;
  let h = await household.openHousehold(hh);
  try {
    await pairing.pairHub(h, codes.good);
    out.beforeAdmin = 'paired';
  } catch (e) {
    out.beforeAdmin = errName(e);
  }
  const me = await devicekeys.createDeviceKeys();
  const admin = await deviceKeysFromText(adminText);
  h = await household.appendLink(h, await chain.addDevice(h.state, admin, { role: 'admin', name: 'This browser', signPub: me.signPub, boxPub: me.boxPub }));
  for (const name of ['tamper1', 'tamper3', 'unknown']) {
    try {
      await pairing.pairHub(h, codes[name], { pollMs: 50, timeoutMs: 10_000 });
      out[name] = 'paired';
    } catch (e) {
      out[name] = errName(e);
    }
  }
  const r = await pairing.pairHub(h, codes.good, { pollMs: 50, timeoutMs: 10_000 });
  out.good = { hub: hex(r.hub.signPub), name: r.hub.name, seq: r.household.state.seq, hubs: r.household.trustedHubs.map(hex) };
  try {
    await pairing.pairHub(r.household, codes.good, { pollMs: 50, timeoutMs: 10_000 });
    out.again = 'paired';
  } catch (e) {
    out.again = errName(e);
  }
  out.me = me.id;
  return out;
}

/**
 * actionVectors checks internal/history/testdata/actions.json: each valid
 * action encodes to the vector's body from its fields (given as strings and
 * as Dates), signs to its signature with the signer's key and verifies;
 * each invalid one is refused with the vector's error code. It also signs a
 * fresh action for Go to verify, and reads each staff record (staff_records:
 * the lockbox's and the tickets') as the history page does: its object, and
 * its sentence.
 */
async function actionVectors(v: any) {
  const st = await chain.verifyChain(v.links.map(unhex), unhex(v.genesis_hash));
  const now = new Date(v.now);
  const signers: Record<string, devicekeys.DeviceKeys> = {};
  for (const [name, text] of Object.entries(v.device_keys as Record<string, string>)) signers[name] = await deviceKeysFromText(text);
  const code = (e: unknown) => (e instanceof action.ActionError ? e.code : 'other: ' + String(e));
  const valid: any[] = [];
  for (const c of v.valid) {
    const r: any = { name: c.name };
    try {
      const nonce = keys.unb64url(c.nonce);
      const body = action.encodeAction({ household: c.household, action: c.action, time: c.time, nonce, params: c.params });
      r.body = bytes.fromUtf8(body);
      const dated = { ...c.params };
      if (c.action === 'invite.create') dated.expires = new Date(c.params.expires);
      r.bodyFromDates = bytes.fromUtf8(action.encodeAction({ household: c.household, action: c.action, time: new Date(c.time), nonce, params: dated }));
      r.signed = await action.signBody(signers[c.signer], body);
      const a = await action.verifyAction(c.signed, st, v.household, now);
      r.verified = { action: a.action, time: a.time, params: a.params };
    } catch (e) {
      r.error = code(e);
    }
    valid.push(r);
  }
  const invalid: Record<string, string> = {};
  for (const c of v.invalid) {
    try {
      await action.verifyAction(c.signed, st, v.household, now);
      invalid[c.name] = 'verified';
    } catch (e) {
      invalid[c.name] = code(e);
    }
  }
  // Signing refuses what the format forbids, before any request.
  const refused: Record<string, string> = {};
  const tryRefuse = async (name: string, f: () => Promise<unknown>) => {
    try {
      await f();
      refused[name] = 'signed';
    } catch (e) {
      refused[name] = code(e);
    }
  };
  await tryRefuse('negative quota', () => action.signAction(signers.alice, v.household, 'settings.set', { quota_bytes: -1, max_age_seconds: 0 }));
  await tryRefuse('fractional quota', () => action.signAction(signers.alice, v.household, 'settings.set', { quota_bytes: 1.5, max_age_seconds: 0 }));
  await tryRefuse('upper-case e-mail', () => action.signAction(signers.alice, v.household, 'member.add', { email: 'Bob@example.com', role: 'member' }));
  await tryRefuse('owner role', () => action.signAction(signers.alice, v.household, 'invite.create', { invite: action.newInviteId(), role: 'owner' as 'admin', expires: now }));
  const fresh = await action.signAction(signers.alice, v.household, 'invite.create', { invite: action.newInviteId(), role: 'member', expires: new Date(now.getTime() + 3600e3) }, now);
  const ids = [action.newInviteId(), action.newInviteId()];
  // The invite key and ID of the secret 0..31 (Go: member.InviteKey, member.InviteID).
  const vectorSecret = Uint8Array.from({ length: 32 }, (_, i) => i);
  const inviteKey = bytes.hex(await action.inviteKey(vectorSecret));
  const inviteId = await action.inviteIdForSecret(vectorSecret);
  // The staff records: what the history page reads from each object
  // (parsed; null: not a request's object, as a look-up's or a ticket's),
  // and what it says of the record, naming people as the vectors' names say.
  const names: Names = { chain: st, emails: new Map(Object.entries(v.account_emails)), staff: new Map(Object.entries(v.staff_names)) };
  const fmt = { dateTime: fmtDateTime, duration: fmtDuration };
  const staffRecords: Record<string, unknown> = {};
  for (const c of v.staff_records) {
    const rec: Verified = { v: 1, n: 1, prev: '', time: v.now, timeMs: now.getTime(), actor: { kind: c.actor_kind, id: c.actor }, action: c.action,
      object: c.object, count: 1, index: 0, entryHash: '' };
    const rs = rows([rec], names);
    staffRecords[c.name] = { parsed: parseStaffObject(c.object), sentence: rs.length === 1 ? describe(rs[0], names, fmt).text : `${rs.length} rows` };
  }
  return { valid, invalid, refused, fresh, ids, inviteKey, inviteId, staffRecords };
}

(window as any).vigil = { bytes, keys, hpke, envelope, devicekeys, chain, recovery, household, pairing, action };
interface SealCase {
  name: string;
  length: number;
  seed: number;
  chunkSize?: number;
  stream: string;
  sequence: string;
  start: string;
  end?: string;
  epoch: number;
  blob?: boolean;
}

/** xorshiftBytes is the test payload both sides derive from a seed (Go: xorshiftBytes in crypto_test.go). */
function xorshiftBytes(n: number, seed: number): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i += 4) {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    for (let j = 0; j < 4 && i + j < n; j++) out[i + j] = (s >>> (8 * j)) & 0xff;
  }
  return out;
}

function base64(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < b.length; i += 0x8000) s += String.fromCharCode(...b.subarray(i, i + 0x8000));
  return btoa(s);
}

/**
 * sealTest seals each case with this browser's device key (created before)
 * to the recipients Go made, and opens each with its own openObject as the
 * annotator whose identity Go gave it. It also reports what sealing refuses
 * and checks the incremental SHA-256 against WebCrypto's.
 */
async function sealTest(inp: { recipients: string[]; annotator: string; cases: SealCase[] }) {
  const dev = await devicekeys.loadDeviceKeys();
  if (!dev) throw new Error('no device keys: create them first');
  const rcpts = await Promise.all(inp.recipients.map((r) => keys.parseRecipient(r)));
  const annotator = await keys.parseIdentity(inp.annotator);
  const results: any[] = [];
  for (const c of inp.cases) {
    const payload = xorshiftBytes(c.length, c.seed);
    const h: seal.SealHeader = {
      kind: seal.KIND_CLIP, stream: c.stream, sequence: BigInt(c.sequence), start: BigInt(c.start), end: c.end === undefined ? undefined : BigInt(c.end), epoch: c.epoch, chunkSize: c.chunkSize,
    };
    const progress: [number, number][] = [];
    const sealed = await seal.sealObject(h, c.blob ? new Blob([payload]) : payload, rcpts, dev, { onProgress: (d, t) => progress.push([d, t]) });
    const r: any = { name: c.name, sealed: base64(sealed), progress };
    try {
      const o = await envelope.openObject(sealed, [annotator], [dev.signPub]);
      r.opened = {
        same: bytes.equal(o.plaintext, payload), kind: o.header.kind, stream: o.header.stream, sequence: o.header.sequence.toString(),
        start: o.header.start.toString(), end: o.end.toString(), epoch: o.header.epoch, chunkSize: o.header.chunkSize, length: o.length.toString(), stanzas: o.header.stanzas.length,
      };
    } catch (e) {
      r.openError = errCode(e);
    }
    results.push(r);
  }

  // What sealing refuses, each with its reason.
  const good: seal.SealHeader = { kind: seal.KIND_CLIP, stream: 'cam', sequence: 1n, start: 1n, epoch: 1 };
  const other = (await crypto.subtle.generateKey({ name: 'Ed25519' }, false, ['sign', 'verify'])) as CryptoKeyPair;
  const wrongSigner: seal.SealSigner = { signPub: dev.signPub, sign: async (m) => new Uint8Array(await crypto.subtle.sign({ name: 'Ed25519' }, other.privateKey, m.slice())) };
  const attempts: Record<string, () => Promise<unknown>> = {
    kind0: () => seal.sealObject({ ...good, kind: 0 }, new Uint8Array(1), rcpts, dev),
    kind6: () => seal.sealObject({ ...good, kind: 6 }, new Uint8Array(1), rcpts, dev),
    chunk512: () => seal.sealObject({ ...good, chunkSize: 512 }, new Uint8Array(1), rcpts, dev),
    noRecipients: () => seal.sealObject(good, new Uint8Array(1), [], dev),
    shortRecipient: () => seal.sealObject(good, new Uint8Array(1), [rcpts[0].subarray(0, 31)], dev),
    lowOrderRecipient: () => seal.sealObject(good, new Uint8Array(1), [new Uint8Array(32)], dev),
    longStream: () => seal.sealObject({ ...good, stream: 'x'.repeat(256) }, new Uint8Array(1), rcpts, dev),
    loneSurrogate: () => seal.sealObject({ ...good, stream: 'cam\ud800' }, new Uint8Array(1), rcpts, dev),
    startRange: () => seal.sealObject({ ...good, start: 1n << 63n }, new Uint8Array(1), rcpts, dev),
    wrongSigner: () => seal.sealObject(good, new Uint8Array(1), rcpts, wrongSigner),
    aborted: () => seal.sealObject(good, new Uint8Array(1), rcpts, dev, { signal: AbortSignal.abort() }),
  };
  const refused: Record<string, string> = {};
  for (const [name, f] of Object.entries(attempts)) {
    try {
      await f();
      refused[name] = '';
    } catch (e) {
      refused[name] = String(e);
    }
  }

  // The incremental SHA-256 against WebCrypto's, for lengths around the block and padding edges, fed in uneven pieces.
  const shaSame: boolean[] = [];
  for (const n of [0, 1, 55, 56, 63, 64, 65, 119, 120, 128, 1000, 100000]) {
    const m = xorshiftBytes(n, n + 7);
    const inc = new Sha256();
    for (let off = 0, step = 1; off < n; off += step, step = step * 3 + 1) inc.update(m.subarray(off, Math.min(n, off + step)));
    shaSame.push(bytes.equal(inc.digest(), await bytes.sha256(m)));
  }
  return { signPub: hex(dev.signPub), results, refused, shaSame };
}


interface ConsentVector {
  seed: string; // hex Ed25519 seed of the signing device
  consent: consent.Consent;
  revocation: consent.Revocation;
}

/**
 * consentTest writes and signs Go's consent vectors (the same body bytes,
 * and with the same seed the same Ed25519 signature), signs a consent and a
 * revocation with a fresh non-extractable device key for Go to verify,
 * reads back Go's signed consent strictly, and lists what it refuses.
 */
async function consentTest(vectors: ConsentVector[], goSigned: string, goPub: string, bad: Record<string, Partial<consent.Consent>>) {
  const signerOf = async (seedHex: string): Promise<action.Signer> => {
    const key = await keys.importEd25519Seed(unhex(seedHex));
    const pair = await crypto.subtle.importKey('pkcs8', bytes.concat(unhex('302e020100300506032b657004220420'), unhex(seedHex)), { name: 'Ed25519' }, true, ['sign']);
    const jwk = await crypto.subtle.exportKey('jwk', pair);
    const pub = keys.unb64url(jwk.x!);
    return { id: await devicekeys.deviceId(pub), sign: async (m) => new Uint8Array(await crypto.subtle.sign({ name: 'Ed25519' }, key, m.slice())) };
  };
  const out: any = { vectors: [] };
  for (const v of vectors) {
    const sg = await signerOf(v.seed);
    out.vectors.push({
      id: sg.id,
      body: hex(consent.encodeConsent(v.consent)),
      signed: await consent.signConsent(sg, v.consent),
      revocationBody: hex(consent.encodeRevocation(v.revocation)),
      revocation: await consent.signRevocation(sg, v.revocation),
      camera: await consent.cameraDigest('front'),
    });
  }
  // A fresh device key, as a member's browser has (non-extractable).
  const dev = await devicekeys.createDeviceKeys();
  const c = { ...vectors[0].consent, device: dev.id, id: consent.newConsentId() };
  out.device = { id: dev.id, signPub: hex(dev.signPub), consentId: c.id };
  out.device.signed = await consent.signConsent(dev, c);
  out.device.revocation = await consent.signRevocation(dev, { ...vectors[0].revocation, consent: c.id, device: dev.id });
  try {
    await consent.signConsent(dev, vectors[0].consent);
    out.device.otherDevice = '';
  } catch (e) {
    out.device.otherDevice = String(e);
  }
  // Go's signed consent, read back: its fields and whether its signature verifies.
  const parsed = consent.parseConsent(goSigned);
  const flipped = parsed.body.slice();
  flipped[flipped.length - 3] ^= 1;
  out.goParsed = { consent: parsed.consent, verifies: await consent.verifyConsentSignature(unhex(goPub), parsed.body, parsed.sig), flippedVerifies: await consent.verifyConsentSignature(unhex(goPub), flipped, parsed.sig) };
  // The same text with a space added to the body: not canonical.
  const [b, sig] = goSigned.split('.');
  const spaced = keys.b64url(utf8(bytes.fromUtf8(keys.unb64url(b)).replace('{"v":1,', '{"v":1, ')));
  out.refused = {} as Record<string, string>;
  try {
    consent.parseConsent(`${spaced}.${sig}`);
    out.refused.spaced = '';
  } catch (e) {
    out.refused.spaced = String(e);
  }
  for (const [name, change] of Object.entries(bad)) {
    try {
      consent.encodeConsent({ ...vectors[0].consent, ...change });
      out.refused[name] = '';
    } catch (e) {
      out.refused[name] = String(e);
    }
  }
  return out;
}

// devauthSign signs each request with this browser's stored device key
// (made if missing; non-extractable), for internal/devauth to verify.
async function devauthSign(cases: { method: string; url: string; body: string }[]) {
  const k = (await devicekeys.loadDeviceKeys()) ?? (await devicekeys.createDeviceKeys());
  const out: { header: string; error: string }[] = [];
  for (const c of cases) {
    try {
      out.push({ header: await signRequest(k, c.method, c.url, keys.unb64url(c.body)), error: '' });
    } catch (e) {
      out.push({ header: '', error: (e as Error).message });
    }
  }
  return { id: k.id, signPub: keys.b64url(k.signPub), results: out };
}

// consentCheck runs the annotator's consent check on each case (base64url
// key and object) and says whether it accepts it, or why not.
async function consentCheck(cases: { signed: string; pub: string; object: string; workspace: string; id: string; now: number }[]) {
  const out: { ok: boolean; error: string }[] = [];
  for (const c of cases) {
    try {
      await verifyConsent(c.signed, keys.unb64url(c.pub), keys.unb64url(c.object), { workspace: c.workspace, id: c.id }, new Date(c.now));
      out.push({ ok: true, error: '' });
    } catch (e) {
      out.push({ ok: false, error: (e as Error).message });
    }
  }
  return out;
}

(window as any).vigilTest = { consentTest, consentCheck, devauthSign, sealTest, envelopeVectors, interop, deviceKeys, chainVectors, chainBuilders, hhOpen, hhPin, hhEnrol, pairFlow, actionVectors };
(window as any).vigilReady = true;
