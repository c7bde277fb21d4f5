// Exposes the browser's transparency log client (web/src/tlog) and
// household history (web/src/history) to the browser tests
// (web/test/tlog.mjs). Results go back to the Go test, which checks them
// against internal/tlog and internal/history.
import * as tlog from '../src/tlog';
import { hex, unhex } from '../src/crypto/bytes';
import { importX25519Private } from '../src/crypto/keys';
import { TagKey } from '../src/history/keys';
import { HistoryError, parseEntry } from '../src/history/entry';
import { openRecord, type HistoryRecord } from '../src/history/record';

const code = (e: unknown): string => (e instanceof tlog.TlogError ? e.code : e instanceof HistoryError ? e.code : `other: ${String(e)}`);

interface PolicyIn {
  key: string;
  witnesses: string[];
  quorum: number;
}

/** checkpoints verifies each note with its policy: {size} or {error: code}. */
async function checkpoints(cases: { name: string; policy: PolicyIn; note: string }[]) {
  const out: Record<string, { size?: number; cosigners?: string[]; error?: string; message?: string }> = {};
  for (const c of cases) {
    try {
      const p = await tlog.newPolicy(c.policy.key, c.policy.witnesses, c.policy.quorum);
      const cp = await tlog.verifyCheckpoint(p, c.note);
      out[c.name] = { size: cp.size, cosigners: cp.cosigners };
    } catch (e) {
      out[c.name] = { error: code(e), message: String(e) };
    }
  }
  return out;
}

/** policies builds each policy: ok or the error code. */
async function policies(cases: { name: string; policy: PolicyIn }[]) {
  const out: Record<string, string> = {};
  for (const c of cases) {
    try {
      await tlog.newPolicy(c.policy.key, c.policy.witnesses, c.policy.quorum);
      out[c.name] = 'ok';
    } catch (e) {
      out[c.name] = code(e);
    }
  }
  return out;
}

interface ClientIn {
  base: string; // the Go test's server; logs under base + '/<name>/tlog/'
  key: string;
  entries: number[]; // indexes to read from v1
  sizes: number[]; // tree sizes to hash in v2
}

async function attempt<T>(f: () => Promise<T>): Promise<{ ok?: T; error?: string; message?: string }> {
  try {
    return { ok: await f() };
  } catch (e) {
    return { error: code(e), message: String(e) };
  }
}

/** client drives LogClient over the logs the Go test serves. */
async function client(inp: ClientIn) {
  const p = await tlog.newPolicy(inp.key, [], 0);
  const at = (name: string) => tlog.httpFetcher(`${inp.base}/${name}`);
  const out: Record<string, unknown> = {};
  const a = new tlog.LogClient(p, at('v1'));
  out.before = a.latest().size;
  const cp1 = await a.update();
  out.v1 = { size: cp1.size, hash: hex(cp1.hash) };
  out.entries = {} as Record<string, string>;
  for (const i of inp.entries) (out.entries as Record<string, string>)[i] = hex(await a.entry(i));
  out.wrongEntry = await attempt(() => a.proveEntry(inp.entries[0], unhex('0102')));
  out.beyond = await attempt(() => a.entry(cp1.size));
  out.sameAgain = await attempt(async () => (await a.update()).size);
  // A consistent successor, from the first.
  const b = new tlog.LogClient(p, at('v2'), cp1);
  const cp2 = await b.update();
  out.v2 = { size: cp2.size, hash: hex(cp2.hash) };
  out.treeHashes = {} as Record<string, string>;
  for (const n of inp.sizes) (out.treeHashes as Record<string, string>)[n] = hex(await b.treeHash(n));
  out.lastEntry = hex(await b.entry(cp2.size - 1));
  // v1 from a log that has grown since and serves only the full tiles of
  // v1's edge: the partial ones are read from them.
  const c = new tlog.LogClient(p, at('fullonly'));
  out.fullOnly = await attempt(async () => {
    const cp = await c.update();
    return { size: cp.size, last: hex(await c.entry(cp.size - 1)) };
  });
  // Rollback, split view, fork, rewritten tiles.
  out.older = await attempt(async () => (await new tlog.LogClient(p, at('v1'), cp2).update()).size);
  const older = new tlog.LogClient(p, at('v1'), cp2);
  await older.update().catch(() => undefined);
  out.keptAfterOlder = older.latest().size;
  out.split = await attempt(async () => (await new tlog.LogClient(p, at('split'), cp1).update()).size);
  out.forked = await attempt(async () => (await new tlog.LogClient(p, at('forked'), cp1).update()).size);
  out.rewrittenTile = await attempt(async () => (await new tlog.LogClient(p, at('rewritten'), cp1).update()).size);
  const r = new tlog.LogClient(p, at('rewritten'), cp2);
  out.rewrittenBundle = await attempt(async () => hex(await r.entry(inp.entries[0])));
  out.otherKey = await attempt(async () => (await new tlog.LogClient(p, at('otherkey')).update()).size);
  out.unreachable = await attempt(async () => (await new tlog.LogClient(p, tlog.httpFetcher('http://127.0.0.1:9')).update()).size);
  return out;
}

interface HistoryVectors {
  genesis_hash: string;
  tags: { kind: string; n: number; tag: string }[];
  chain_head: { seq: number; head: string; entry: string };
  epoch_private: string;
  records: { entry: string; json: string }[];
  bad: { name: string; entry: string; error: string }[];
}

function recordJSON(r: HistoryRecord): string {
  const o: Record<string, unknown> = { v: r.v, n: r.n, prev: r.prev, time: r.time, actor: { kind: r.actor.kind, id: r.actor.id }, action: r.action };
  if (r.object) o.object = r.object;
  o.count = r.count;
  if (r.last) o.last = r.last;
  if (r.signed) o.signed = r.signed;
  return JSON.stringify(o);
}

/** historyVectors checks internal/history/testdata/vectors.json. */
async function historyVectors(v: HistoryVectors) {
  const tk = await TagKey.derive(unhex(v.genesis_hash));
  const tags = await Promise.all(v.tags.map(async (t) => hex(t.kind === 'chain' ? await tk.chain(t.n) : await tk.record(t.n))));
  const chainHead = hex(await tk.chainHeadEntry(v.chain_head.seq, unhex(v.chain_head.head)));
  const id = await importX25519Private(unhex(v.epoch_private));
  const records = [];
  for (const r of v.records) {
    try {
      records.push(recordJSON(await openRecord(unhex(r.entry), tk, [id])));
    } catch (e) {
      records.push(`error ${code(e)}: ${String(e)}`);
    }
  }
  const bad: Record<string, string> = {};
  for (const b of v.bad) {
    try {
      const e = unhex(b.entry);
      parseEntry(e);
      await openRecord(e, tk, [id]);
      bad[b.name] = 'opened';
    } catch (e) {
      bad[b.name] = code(e);
    }
  }
  return { tags, chainHead, records, bad };
}

(window as unknown as { vigilTest: unknown }).vigilTest = { checkpoints, policies, client, historyVectors };
(window as unknown as { vigilReady: boolean }).vigilReady = true;
