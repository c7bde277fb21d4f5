// The service's transparency log as this browser follows it: the log and
// witness policy the cloud names (GET /v1/log), pinned in IndexedDB on
// first use and refused if it ever changes; the last checkpoint verified
// (store "tlog"), from which every later one must be proven consistent;
// and the household's history as the cloud serves it (a Source for the
// audit, nothing in it trusted).
//
// Owns: the pin and the stored checkpoint. Must never: accept a policy
// other than the pinned one, or store a checkpoint the client did not
// verify.

import { api, apiBytes, unb64 } from '../api';
import { idbGet, idbPut, idbUpdate } from '../crypto/idb';
import { httpFetcher, LogClient, newPolicy, verifyCheckpoint, type Checkpoint } from '../tlog';
import type { RecordRef, SealedState, Source } from './audit';
import { STATE_STREAM } from './state';

/** LogPolicy is what GET /v1/log answers (Go history.LogPolicy). */
export interface LogPolicy {
  origin: string;
  key: string;
  witnesses: string[];
  quorum: number;
}

interface StoredCheckpoint {
  note: string;
  size: number;
}

/** LogPolicyError: the cloud names another log or witness policy than the one this browser pinned. */
export class LogPolicyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LogPolicyError';
  }
}

const serviceOrigin = (): string => (typeof location !== 'undefined' ? location.origin : '');
const policyKey = () => `policy:${serviceOrigin()}`;
const checkpointKey = (origin: string) => `checkpoint:${origin}`;

function samePolicy(a: LogPolicy, b: LogPolicy): boolean {
  const ws = (p: LogPolicy) => [...p.witnesses].map((w) => w.trim()).sort().join('\n');
  return a.key.trim() === b.key.trim() && a.quorum === b.quorum && ws(a) === ws(b);
}

function describe(p: LogPolicy): string {
  return `log ${p.key.split('+')[0]} with ${p.quorum} of ${p.witnesses.length} witness${p.witnesses.length === 1 ? '' : 'es'}`;
}

let cached: Promise<LogClient> | null = null;

/**
 * serviceLog returns the client of the service's log (one per page load):
 * the policy is the one pinned on first use, and its starting point the
 * last checkpoint this browser verified.
 */
export function serviceLog(): Promise<LogClient> {
  if (!cached) {
    cached = openLog();
    cached.catch(() => (cached = null));
  }
  return cached;
}

async function openLog(): Promise<LogClient> {
  const lp = await api<LogPolicy>('GET', '/v1/log');
  if (!lp || typeof lp.key !== 'string' || !Array.isArray(lp.witnesses) || typeof lp.quorum !== 'number') {
    throw new LogPolicyError('the service did not name its transparency log (GET /v1/log); refusing to trust its history');
  }
  const pinned = await idbGet<LogPolicy>('tlog', policyKey());
  if (pinned && !samePolicy(pinned, lp)) {
    throw new LogPolicyError(
      `the service now names another transparency log or witness policy (${describe(lp)}) than the one this browser pinned (${describe(pinned)}); ` +
        'refusing it: a changed log could show this browser a history others do not see (hint: if the service announced a new log, clear this site’s data in the browser to pin it)',
    );
  }
  const p = await newPolicy(lp.key, lp.witnesses, lp.quorum);
  if (lp.origin && lp.origin !== p.origin) throw new LogPolicyError(`the service names log ${lp.origin} but its key is of ${p.origin}; refusing it`);
  if (!pinned) await idbPut('tlog', policyKey(), { origin: p.origin, key: lp.key, witnesses: [...lp.witnesses], quorum: lp.quorum } satisfies LogPolicy);
  const stored = await idbGet<StoredCheckpoint>('tlog', checkpointKey(p.origin));
  let last: Checkpoint | undefined;
  if (stored?.note) last = await verifyCheckpoint(p, stored.note);
  return new LogClient(p, httpFetcher(''), last);
}

/** pinnedPolicy returns the policy this browser pinned for the service, if any. */
export function pinnedPolicy(): Promise<LogPolicy | undefined> {
  return idbGet<LogPolicy>('tlog', policyKey());
}

/** saveCheckpoint remembers lc's latest checkpoint unless a larger one is stored already. */
export async function saveCheckpoint(lc: LogClient): Promise<void> {
  const cp = lc.latest();
  if (!cp.note) return;
  await idbUpdate<StoredCheckpoint>('tlog', checkpointKey(cp.origin), (cur) => (!cur || cur.size < cp.size ? { note: cp.note, size: cp.size } : undefined));
}

const hhPath = (hh: string) => `/v1/households/${encodeURIComponent(hh)}`;

/** fetchChain returns the household's chain from link 0 and each link's log index (-1 while it waits). */
export function fetchChain(hh: string): Promise<{ links: Uint8Array[]; indexes: number[] }> {
  return fetchChainAt(`${hhPath(hh)}/chain?from=0`);
}

/** fetchChainAt reads a chain route's answer (a household's, or a labelling workspace's): its links and each one's log index (-1 while it waits). */
export async function fetchChainAt(path: string): Promise<{ links: Uint8Array[]; indexes: number[] }> {
  return chainAnswer(await api<ChainAnswer>('GET', path));
}

/** ChainAnswer is a chain route's JSON answer. */
export interface ChainAnswer {
  genesis_hash?: string;
  links?: string[];
  log_index?: number[];
}

/** chainAnswer reads a chain route's answer: its links and each one's log index (-1 while it waits). */
export function chainAnswer(c: ChainAnswer): { links: Uint8Array[]; indexes: number[] } {
  const links = (c.links ?? []).map((l) => unb64(l));
  const idx = Array.isArray(c.log_index) ? c.log_index : [];
  const indexes = links.map((_, i) => (typeof idx[i] === 'number' && Number.isSafeInteger(idx[i]) ? idx[i] : -1));
  return { links, indexes };
}

const MAX_STATE_OBJECT = 64 << 10;

/** cloudSource is what an audit reads from the cloud for household hh (Go member.CloudSource). */
export function cloudSource(hh: string, statesSinceMs = 3600_000): Source {
  return {
    chain: () => fetchChain(hh),
    async records(from: number, limit?: number): Promise<RecordRef[]> {
      const out: RecordRef[] = [];
      for (let n = from; ; ) {
        const want = limit === undefined ? 1000 : Math.min(1000, limit - out.length);
        if (want <= 0) break;
        const page = await api<{ records?: { n: number; index: number; entry: string }[]; more?: boolean }>('GET', `${hhPath(hh)}/history?from=${n}&limit=${want}`);
        const rs = page.records ?? [];
        for (const r of rs) out.push({ n: Number(r.n), index: typeof r.index === 'number' ? r.index : -1, entry: unb64(String(r.entry)) });
        if (!page.more || rs.length === 0) break;
        const next = Number(rs[rs.length - 1].n) + 1;
        if (!(next > n)) break;
        n = next;
      }
      return out;
    },
    async states(): Promise<SealedState[]> {
      const since = new Date(Date.now() - statesSinceMs).toISOString();
      const res = await api<{ objects?: { key: string; device: string; kind: string; seq: number }[] }>('GET', `${hhPath(hh)}/objects?camera=${STATE_STREAM}&from=${encodeURIComponent(since)}`);
      const newest = new Map<string, { key: string; seq: number }>();
      for (const o of res.objects ?? []) {
        if (o.kind !== 'state') continue;
        const n = newest.get(o.device);
        if (!n || o.seq > n.seq) newest.set(o.device, o);
      }
      const out: SealedState[] = [];
      for (const o of newest.values()) {
        const b = await apiBytes(`${hhPath(hh)}/objects/${o.key}`);
        if (b.length > MAX_STATE_OBJECT) throw new Error(`hub state record ${o.key} is larger than ${MAX_STATE_OBJECT} bytes`);
        out.push({ key: o.key, sealed: b });
      }
      return out;
    },
  };
}
