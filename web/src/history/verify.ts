// A household's verified history for the pages: the audit run from what
// this browser remembers (IndexedDB store "audit": {chainSeq, chainHead,
// recordN, recordHash, checked} per household), what it found, and the
// records it verified, newest first, with the older ones before them
// verified by their hash chain back from the record verified before.
//
// Owns: the per-household audit state. Must never: move that state back,
// or show a record as verified that the audit or the hash chain did not
// verify.

import { api } from '../api';
import { unhex } from '../crypto/bytes';
import { loadDeviceKeys } from '../crypto/devicekeys';
import { idbGet, idbUpdate } from '../crypto/idb';
import { pinHousehold, pinnedGenesis } from '../household';
import { audit, reportOK, verifiedBefore, type AuditState, type Finding, type Report, type Source, type Verified } from './audit';
import { cloudSource, saveCheckpoint, serviceLog } from './log';

export interface HistoryView {
  household: string;
  report: Report;
  /** records verified, newest first. */
  records: Verified[];
  /** findings of the audit and of the older window. */
  findings: Finding[];
  ok: boolean;
  /** more: there are older records than those shown (olderRecords fetches them). */
  more: boolean;
  source: Source;
}

const emptyState = (): AuditState => ({ chainSeq: 0, recordN: 0 });

/** auditState returns what this browser remembers of household hh's history. */
export async function auditState(hh: string): Promise<AuditState | undefined> {
  return idbGet<AuditState>('audit', hh);
}

async function saveState(hh: string, next: AuditState): Promise<void> {
  await idbUpdate<AuditState>('audit', hh, (cur) => {
    if (!cur) return next;
    const out = { ...cur, checked: next.checked };
    if (next.chainSeq >= cur.chainSeq) [out.chainSeq, out.chainHead] = [next.chainSeq, next.chainHead];
    if (next.recordN >= cur.recordN) [out.recordN, out.recordHash] = [next.recordN, next.recordHash];
    return out;
  });
}

/**
 * verifyHistory audits household hh and returns its verified records,
 * newest first: at least `window` of them when the history has that many,
 * and all of those made since `sinceMs` (with a margin for coalesced
 * reads, which carry the time of their first read).
 */
export async function verifyHistory(hh: string, opts: { window?: number; sinceMs?: number } = {}): Promise<HistoryView> {
  const window = opts.window ?? 100;
  const keys = await loadDeviceKeys();
  if (!keys) throw new Error('this browser has no device key, so it cannot open the household’s history: enrol it in the household first');
  let genesis = await pinnedGenesis(hh);
  if (!genesis) {
    const info = await api<{ genesis_hash: string }>('GET', `/v1/households/${encodeURIComponent(hh)}`);
    genesis = unhex(info.genesis_hash);
    await pinHousehold(hh, genesis);
  }
  const lc = await serviceLog();
  const before = (await auditState(hh)) ?? emptyState();
  const source = cloudSource(hh);
  let report: Report;
  try {
    report = await audit({ household: hh, genesis, keys, log: lc, source, state: before });
  } finally {
    await saveCheckpoint(lc);
  }
  await saveState(hh, report.state);

  const records = [...report.records].reverse();
  const findings = [...report.findings];
  // Older records, back from the one verified before this audit.
  let anchorN = before.recordN;
  let anchorHash = before.recordHash ?? '';
  const since = opts.sinceMs === undefined ? undefined : opts.sinceMs - 15 * 60_000;
  const ctx = { source, tagKey: report.tagKey, identities: report.identities, chain: report.chain, household: hh };
  while (anchorN >= 1 && anchorHash && (records.length < window || (since !== undefined && (records.length === 0 || records[records.length - 1].timeMs >= since)))) {
    const from = Math.max(1, anchorN - Math.max(window - records.length, 50) + 1);
    const w = await verifiedBefore(ctx, anchorN, anchorHash, from);
    records.push(...w.records);
    for (const f of w.findings) if (!findings.some((g) => g.what === f.what)) findings.push(f);
    if (w.findings.some((f) => f.severe) || w.records.length === 0) {
      anchorN = 0;
      break;
    }
    const oldest = w.records[w.records.length - 1];
    anchorN = oldest.n - 1;
    anchorHash = oldest.prev;
  }
  return {
    household: hh, report, records, findings, ok: reportOK({ findings }), more: anchorN >= 1, source,
  };
}

/** olderRecords returns up to count records older than the oldest of view, verified by the hash chain. */
export async function olderRecords(view: HistoryView, count = 100): Promise<{ records: Verified[]; findings: Finding[] }> {
  const oldest = view.records[view.records.length - 1];
  if (!oldest || oldest.n <= 1) return { records: [], findings: [] };
  const r = view.report;
  return verifiedBefore({ source: view.source, tagKey: r.tagKey, identities: r.identities, chain: r.chain, household: view.household }, oldest.n - 1, oldest.prev, Math.max(1, oldest.n - count));
}

