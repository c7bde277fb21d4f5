// Hub state records (docs/FORMAT.md, "Hub state records"): what a hub
// verified (its chain head and log checkpoint) and what it refused, sealed
// by the hub as envelope kind 5 on stream "states". As Go
// internal/history/state.go.

import { fromUtf8 } from '../crypto/bytes';
import { strictB64 } from '../tlog/note';
import { HistoryError } from './entry';
import { parseTime, printable, strictObject } from './record';

export const STATE_STREAM = 'states';
export const MAX_STATE_SIZE = 8192;
const MAX_PROBLEMS = 16;
const MAX_PROBLEM_TEXT = 512;

export interface StateRecord {
  v: number;
  hub: string;
  time: string;
  chain: { seq: number; head: string };
  checkpoint?: { origin: string; size: number; hash: string };
  problems: { time: string; timeMs: number; text: string }[];
}

const malformed = (m: string) => new HistoryError('malformed', `history: malformed log entry: state record${m}`);
const DEVICE_ID = /^d[a-z2-7]{26}$/;

/** parseState decodes a state record strictly. */
export function parseState(b: Uint8Array): StateRecord {
  if (b.length > MAX_STATE_SIZE) throw malformed(` of ${b.length} bytes is over ${MAX_STATE_SIZE}`);
  let o: unknown;
  try {
    o = JSON.parse(fromUtf8(b));
  } catch (e) {
    throw malformed(`: ${(e as Error).message}`);
  }
  const s = strictObject(o, ['v', 'hub', 'time', 'chain', 'checkpoint', 'problems'], 'state record');
  if (s.v !== 1) throw malformed(` version ${JSON.stringify(s.v)} (want 1)`);
  if (typeof s.hub !== 'string' || !DEVICE_ID.test(s.hub)) throw malformed(': hub is not a device ID');
  if (typeof s.time !== 'string' || !parseTime(s.time)) throw malformed(' has no time');
  const c = strictObject(s.chain, ['seq', 'head'], 'state record: chain');
  if (typeof c.seq !== 'number' || !Number.isSafeInteger(c.seq) || c.seq < 0 || typeof c.head !== 'string' || !/^[0-9a-f]{64}$/.test(c.head)) {
    throw malformed(': chain needs seq >= 0 and a 64-hex head');
  }
  const problems = s.problems === undefined || s.problems === null ? [] : s.problems;
  if (!Array.isArray(problems)) throw malformed(': problems is not a list');
  if (problems.length > MAX_PROBLEMS) throw malformed(`: ${problems.length} problems (at most ${MAX_PROBLEMS})`);
  let checkpoint: StateRecord['checkpoint'];
  if (s.checkpoint !== undefined && s.checkpoint !== null) {
    const k = strictObject(s.checkpoint, ['origin', 'size', 'hash'], 'state record: checkpoint');
    const hashOK = typeof k.hash === 'string' && strictB64(k.hash)?.length === 32;
    if (!hashOK || typeof k.size !== 'number' || !Number.isSafeInteger(k.size) || k.size < 0 || !printable(k.origin, 256)) {
      throw malformed(': checkpoint needs an origin, a size >= 0 and a base64 32-byte hash');
    }
    checkpoint = { origin: k.origin, size: k.size, hash: k.hash as string };
  }
  const out: StateRecord['problems'] = [];
  for (const p0 of problems) {
    const p = strictObject(p0, ['time', 'text'], 'state record: problem');
    const t = typeof p.time === 'string' ? parseTime(p.time) : null;
    if (!t || !printable(p.text, MAX_PROBLEM_TEXT)) throw malformed(`: a problem needs a time and 1..${MAX_PROBLEM_TEXT} printable bytes`);
    out.push({ time: p.time as string, timeMs: t[0], text: p.text });
  }
  return { v: 1, hub: s.hub, time: s.time, chain: { seq: c.seq, head: c.head }, checkpoint, problems: out };
}
