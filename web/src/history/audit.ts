// The audit a member's browser runs over its household's history: the log
// only grows, the household's chain heads and records are in it, the
// records are all there, in order and chained, and the hubs saw the same
// chain and log as this browser. A step-by-step port of Go
// internal/history/audit.go, with the same findings in the same words;
// it also checks each signed change's admin signature (docs/FORMAT.md,
// "Signed household actions") and that no two records carry one nonce.
//
// Owns: the audit's steps and findings. Must never: count a record as
// verified that is not included in a verified checkpoint, opened with the
// household's keys and chained to the one before it; advance what it
// remembers past anything it found wrong.

import { equal, hex } from '../crypto/bytes';
import { ActionError, parseAction, parseSigned, verifyAction, verifyBodySignature } from '../crypto/action';
import { epochIdentities, linkHash, verifyChain, type ChainState } from '../crypto/chain';
import { deviceId, type DeviceKeys } from '../crypto/devicekeys';
import { EnvelopeError, openObject } from '../crypto/envelope';
import { LogClient, TlogError, type Checkpoint } from '../tlog';
import { b64 } from '../tlog/note';
import { TagKey } from './keys';
import { entryHash, openRecord, ZERO_PREV, type HistoryRecord } from './record';
import { parseState, STATE_STREAM } from './state';

/** MAX_LOG_DELAY_MS is how long a record may wait for the log before an audit calls it withheld. */
export const MAX_LOG_DELAY_MS = 5 * 60 * 1000;

/** AuditState is what a browser remembers between audits; it only moves forward, as far as was verified. */
export interface AuditState {
  chainSeq: number;
  chainHead?: Uint8Array;
  recordN: number; // the last record verified
  recordHash?: string; // entryHash of its entry
  checked?: string; // RFC 3339
}

/** RecordRef is a record as the cloud lists it: nothing in it is trusted. */
export interface RecordRef {
  n: number;
  index: number; // -1 while it waits for the log
  entry: Uint8Array;
}

/** SealedState is a hub state record as the cloud serves it (sealed). */
export interface SealedState {
  key: string;
  sealed: Uint8Array;
}

/** Source is what an audit reads from the cloud. Nothing it returns is trusted. */
export interface Source {
  /** chain returns the household's chain from link 0 and the log index of each link's head (-1 while it waits). */
  chain(): Promise<{ links: Uint8Array[]; indexes: number[] }>;
  /** records returns the household's records with n >= from, in order (at most limit, if given). */
  records(from: number, limit?: number): Promise<RecordRef[]>;
  /** states returns the newest state record of each of the household's hubs. */
  states(): Promise<SealedState[]>;
}

export interface AuditConfig {
  household: string;
  genesis: Uint8Array;
  keys: DeviceKeys;
  /** log's latest() is the last verified checkpoint. */
  log: LogClient;
  source: Source;
  state: AuditState;
  now?: () => number;
}

/** Finding is something an audit found wrong; severe ones mean the cloud or the log showed this browser something false. */
export interface Finding {
  severe: boolean;
  what: string;
}

/** Signer is the admin device that signed a change, from the household chain. */
export interface Signer {
  device: string;
  name: string;
  /** removed: the device has been removed from the household since. */
  removed: boolean;
}

/** Verified is a record the audit verified and opened. */
export interface Verified extends HistoryRecord {
  index: number;
  entryHash: string;
  signer?: Signer;
}

export interface Report {
  checkpoint: Checkpoint;
  chain: ChainState;
  records: Verified[]; // verified in this audit, oldest first
  pending: number; // records the cloud lists that are not in the log yet
  findings: Finding[];
  state: AuditState; // what to remember for the next audit
  identities: CryptoKey[];
  tagKey: TagKey;
}

/** reportOK reports whether the audit found nothing severe. */
export const reportOK = (r: { findings: Finding[] }): boolean => r.findings.every((f) => !f.severe);

/** rfc3339 formats like Go's time.RFC3339 in UTC (no fraction). */
export const rfc3339 = (ms: number): string => new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');

const errText = (e: unknown) => (e instanceof Error ? e.message : String(e));

/**
 * audit runs one audit. It throws only when it could not run (the cloud or
 * the log unreachable, a log checkpoint that does not verify, this device
 * not in the household); what it found wrong is in the report's findings.
 */
export async function audit(cfg: AuditConfig): Promise<Report> {
  const now = cfg.now ?? Date.now;
  const findings: Finding[] = [];
  const severe = (what: string) => findings.push({ severe: true, what });
  const note = (what: string) => findings.push({ severe: false, what });
  const state: AuditState = { ...cfg.state };
  const tk = await TagKey.derive(cfg.genesis);

  // What the cloud says, fetched before the log's checkpoint so that the
  // checkpoint covers as much of it as possible.
  let links: Uint8Array[];
  let idx: number[];
  try {
    ({ links, indexes: idx } = await cfg.source.chain());
  } catch (e) {
    throw new Error(`fetching the household chain: ${errText(e)}`);
  }
  const from = Math.max(cfg.state.recordN, 1);
  let refs: RecordRef[];
  try {
    refs = await cfg.source.records(from);
  } catch (e) {
    throw new Error(`fetching the household's history: ${errText(e)}`);
  }

  // 1. The log only grows.
  try {
    await cfg.log.update();
  } catch (e) {
    if (!(e instanceof TlogError)) throw new Error(`checking the log: ${errText(e)}`);
    switch (e.code) {
      case 'older':
        severe(`the log served a checkpoint older than the one this device verified (size ${cfg.log.latest().size}): it tried to roll the log back`);
        break;
      case 'split-view':
        severe(`the log showed two different trees of ${e.size ?? cfg.log.latest().size} entries: it rewrote its history (a split view)`);
        break;
      case 'inconsistent':
        severe(`the log of ${e.size} entries is not an extension of the one of ${cfg.log.latest().size} this device verified: an entry was dropped, rewritten or reordered`);
        break;
      default:
        throw new Error(`checking the log: ${e.message}`);
    }
  }
  const cp = cfg.log.latest();

  // 2. The chain: it extends what this device verified, and its heads are in the log.
  let st: ChainState;
  try {
    st = await verifyChain(links, cfg.genesis);
  } catch (e) {
    throw new Error(`the household chain does not verify from the pinned genesis: ${errText(e)}`);
  }
  if (st.householdId !== cfg.household) throw new Error(`the cloud served the chain of household ${st.householdId} for ${cfg.household}`);
  const s = cfg.state.chainSeq;
  if (s > 0 || (cfg.state.chainHead && cfg.state.chainHead.length > 0)) {
    if (links.length <= s || !cfg.state.chainHead || !equal(await linkHash(links[s]), cfg.state.chainHead)) {
      severe(`the cloud served a household chain without link ${s} as this device verified it: a rollback or a fork`);
    }
  }
  let chainOK = true;
  for (let i = 0; i < links.length; i++) {
    if (i < cfg.state.chainSeq && i !== st.seq) continue; // proven by an earlier audit
    if (i >= idx.length || !(idx[i] >= 0) || idx[i] >= cp.size) {
      note(`chain link ${i} is not in the log yet`);
      chainOK = false;
      continue;
    }
    const e = await tk.chainHeadEntry(i, await linkHash(links[i]));
    try {
      await cfg.log.proveEntry(idx[i], e);
    } catch (err) {
      severe(`chain link ${i} is not in the log at index ${idx[i]} as the cloud says: ${errText(err)}`);
      chainOK = false;
    }
  }
  if (chainOK && reportOK({ findings })) {
    state.chainSeq = st.seq;
    state.chainHead = st.head.slice();
  }
  let ids: CryptoKey[];
  try {
    ids = await epochIdentities(st, cfg.keys);
  } catch (e) {
    throw new Error(`this device cannot open the household's records: ${errText(e)}`);
  }

  // 3. The records: all there, in the log, in order, chained.
  const records: Verified[] = [];
  let pending = 0;
  let wantN = from;
  let prev = '';
  if (cfg.state.recordN > 0) {
    if (refs.length === 0 || refs[0].n !== cfg.state.recordN) {
      severe(`the cloud no longer lists record ${cfg.state.recordN}, which this device verified before`);
    } else if ((await entryHash(refs[0].entry)) !== cfg.state.recordHash) {
      severe(`record ${cfg.state.recordN} differs from the one this device verified before: the history was rewritten`);
    } else {
      prev = cfg.state.recordHash;
      refs = refs.slice(1);
      wantN++;
    }
  } else {
    prev = ZERO_PREV;
  }
  let advancing = reportOK({ findings });
  const nonces = new Map<string, number>();
  for (const ref of refs) {
    if (!(ref.index >= 0) || ref.index >= cp.size) {
      // Not in the log yet, or not in the checkpoint verified now. The log
      // takes about a second; a record kept out for long is the cloud hiding it.
      pending++;
      advancing = false;
      try {
        const rec = await openRecord(ref.entry, tk, ids, st.epoch);
        if (now() - rec.timeMs > MAX_LOG_DELAY_MS) {
          severe(`record ${rec.n}, made at ${rfc3339(rec.timeMs)}, has not reached the log after 5m0s: the cloud is keeping it out`);
        }
      } catch {
        /* judged when it is in the log */
      }
      continue;
    }
    if (ref.n !== wantN) {
      if (ref.n > wantN) severe(`records ${wantN} to ${ref.n - 1} are missing from the household's history`);
      else severe(`record ${ref.n} is listed out of order (after record ${wantN - 1})`);
      advancing = false;
      wantN = ref.n;
    }
    try {
      await cfg.log.proveEntry(ref.index, ref.entry);
    } catch (e) {
      severe(`record ${ref.n} is not in the log at index ${ref.index} as the cloud says: ${errText(e)}`);
      advancing = false;
      wantN++;
      continue;
    }
    let rec: HistoryRecord;
    try {
      rec = await openRecord(ref.entry, tk, ids, st.epoch);
    } catch (e) {
      severe(`record ${ref.n} (log index ${ref.index}) does not open with the household's keys: ${errText(e)}`);
      advancing = false;
      wantN++;
      continue;
    }
    if (rec.n !== ref.n) {
      severe(`the entry listed as record ${ref.n} is record ${rec.n}: the history was reordered`);
      advancing = false;
    }
    if (prev !== '' && rec.prev !== prev) {
      severe(`record ${rec.n} does not follow the record before it: a record was dropped, rewritten or reordered`);
      advancing = false;
    }
    prev = await entryHash(ref.entry);
    const v: Verified = { ...rec, index: ref.index, entryHash: prev };
    if (rec.signed) {
      const r = await checkSigned(rec, st, cfg.household, nonces);
      if (r.signer) v.signer = r.signer;
      for (const f of r.findings) findings.push(f);
      if (r.findings.some((f) => f.severe)) advancing = false;
    }
    records.push(v);
    if (advancing) {
      state.recordN = rec.n;
      state.recordHash = prev;
    }
    wantN = rec.n + 1;
  }

  // 4. The hubs saw what this device sees.
  let states: SealedState[];
  try {
    states = await cfg.source.states();
  } catch (e) {
    throw new Error(`fetching the hubs' state records: ${errText(e)}`);
  }
  for (const s of states) await checkState(cfg.log, st, links, ids, s, severe, note);
  state.checked = new Date(now()).toISOString();
  return { checkpoint: cp, chain: st, records, pending, findings, state, identities: ids, tagKey: tk };
}

/**
 * checkSigned checks the admin signature of a recorded change as the cloud
 * did, with the record's time in place of the cloud's clock, against the
 * chain this browser verified (a device removed since still shows who
 * signed), and that its nonce was not used by another record.
 */
async function checkSigned(rec: HistoryRecord, st: ChainState, hh: string, nonces: Map<string, number>): Promise<{ signer?: Signer; findings: Finding[] }> {
  const findings: Finding[] = [];
  try {
    const a = await verifyAction(rec.signed, st, hh, new Date(rec.timeMs));
    const key = hex(a.nonce);
    const other = nonces.get(key);
    if (other !== undefined) findings.push({ severe: true, what: `records ${other} and ${rec.n} carry the same signed change (one nonce): a replay` });
    nonces.set(key, rec.n);
    const id = parseSigned(rec.signed).device;
    return { signer: { device: id, name: st.device(id)?.name ?? id, removed: false }, findings };
  } catch (e) {
    // A device removed since: its signature still says who signed.
    if (e instanceof ActionError && e.code === 'signer') {
      try {
        const s = parseSigned(rec.signed);
        const gone = st.removedDevice(s.device);
        const a = parseAction(s.body);
        if (gone && gone.device.role === 'admin' && a.household === hh && (await verifyBodySignature(gone.device.signPub, s.body, s.sig))) {
          return { signer: { device: s.device, name: gone.device.name, removed: true }, findings };
        }
      } catch {
        /* reported below */
      }
    }
    findings.push({ severe: true, what: `record ${rec.n}: the signed change does not verify: ${errText(e)}` });
    return { findings };
  }
}

/** checkState compares one hub state record with what this device verified. */
async function checkState(log: LogClient, st: ChainState, links: Uint8Array[], ids: CryptoKey[], s: SealedState, severe: (w: string) => void, note: (w: string) => void): Promise<void> {
  const trusted = [...st.trustedHubs(), ...st.formerHubs().map((d) => d.signPub)];
  let opened;
  try {
    opened = await openObject(s.sealed, ids, trusted);
  } catch (e) {
    if (e instanceof EnvelopeError && e.code === 'incorrect-identity') {
      severe(`hub state record ${s.key} is sealed to a key this household's chain does not have: the hub follows another chain than this device`);
    } else {
      severe(`hub state record ${s.key} does not verify: ${errText(e)}`);
    }
    return;
  }
  const hdr = opened.header;
  if (hdr.kind !== 5 || hdr.stream !== STATE_STREAM) {
    severe(`object ${s.key} is not a hub state record`);
    return;
  }
  let rec;
  try {
    rec = parseState(opened.plaintext);
  } catch (e) {
    severe(`hub state record ${s.key}: ${errText(e)}`);
    return;
  } finally {
    opened.plaintext.fill(0);
  }
  if ((await deviceId(hdr.signer)) !== rec.hub) {
    severe(`hub state record ${s.key} names hub ${rec.hub} but another hub signed it`);
    return;
  }
  const name = st.device(rec.hub)?.name ?? st.removedDevice(rec.hub)?.device.name ?? '';
  const hub = name ? `${name} (${rec.hub})` : rec.hub;
  if (rec.chain.seq < links.length) {
    if (hex(await linkHash(links[rec.chain.seq])) !== rec.chain.head) {
      severe(`hub ${hub} verified another link ${rec.chain.seq} of the household chain than this device: the cloud showed the hub a different chain (a fork)`);
    }
  } else {
    severe(`hub ${hub} verified link ${rec.chain.seq} of the household chain, which the cloud does not show this device (it shows ${links.length} links)`);
  }
  const c = rec.checkpoint;
  if (c) {
    const latest = log.latest();
    if (c.origin !== latest.origin) {
      severe(`hub ${hub} verified a checkpoint of another log (${c.origin})`);
    } else if (c.size <= latest.size) {
      try {
        const h = await log.treeHash(c.size);
        if (b64(h) !== c.hash) {
          severe(`hub ${hub} verified a log of ${c.size} entries that differs from the one this device verified: the log showed the hub and this device different histories (a split view)`);
        }
      } catch (e) {
        note(`could not compare hub ${hub}'s checkpoint of size ${c.size}: ${errText(e)}`);
      }
    } else {
      note(`hub ${hub} has verified a newer checkpoint (${c.size} entries) than this device (${latest.size}); it is compared at the next audit`);
    }
  }
  for (const p of rec.problems) severe(`hub ${hub} at ${rfc3339(p.timeMs)}: ${p.text}`);
}

/**
 * verifiedBefore returns the records from..anchorN, newest first, verified
 * by their hash chain back from the record this device verified before
 * (anchorN, whose entry hash is anchorHash) and opened with the household's
 * keys: a window of the history older than what the audit just checked.
 * What does not match is a severe finding and ends the window.
 */
export async function verifiedBefore(r: { source: Source; tagKey: TagKey; identities: CryptoKey[]; chain: ChainState; household: string }, anchorN: number, anchorHash: string, from: number): Promise<{ records: Verified[]; findings: Finding[] }> {
  const { source, tagKey: tk, identities: ids, chain: st } = r;
  const out: Verified[] = [];
  const findings: Finding[] = [];
  if (anchorN < 1 || from > anchorN) return { records: out, findings };
  const refs = (await source.records(from, anchorN - from + 1)).filter((r) => r.n >= from && r.n <= anchorN);
  const byN = new Map(refs.map((r) => [r.n, r]));
  let want = anchorHash;
  for (let n = anchorN; n >= from; n--) {
    const ref = byN.get(n);
    if (!ref) {
      findings.push({ severe: true, what: `the cloud no longer lists record ${n}, which this device verified before` });
      break;
    }
    const h = await entryHash(ref.entry);
    if (h !== want) {
      findings.push({ severe: true, what: `record ${n} differs from the one this device verified before: the history was rewritten` });
      break;
    }
    let rec: HistoryRecord;
    try {
      rec = await openRecord(ref.entry, tk, ids, st.epoch);
    } catch (e) {
      findings.push({ severe: true, what: `record ${n} (log index ${ref.index}) does not open with the household's keys: ${errText(e)}` });
      break;
    }
    if (rec.n !== n) {
      findings.push({ severe: true, what: `the entry listed as record ${n} is record ${rec.n}: the history was reordered` });
      break;
    }
    const v: Verified = { ...rec, index: ref.index, entryHash: h };
    if (rec.signed) {
      const c = await checkSigned(rec, st, r.household, new Map());
      if (c.signer) v.signer = c.signer;
      findings.push(...c.findings);
    }
    out.push(v);
    want = rec.prev;
  }
  return { records: out, findings };
}

