// The household's newest events, for pages that show a few of them (home):
// the sealed listing of the last week opened newest first in this browser,
// only as far as needed (a handful of events, and each camera's newest
// snapshot). Rows and snapshots: events/row.ts.
//
// Owns: how far back "newest" looks and how many records it opens.
// Must never: return an event that did not open and verify (events/record.ts).

import { listEvents, readRecord } from './api';
import { merge, newestFirst, NotAnEvent, type Event, type OpenerKeys } from './record';

const DAY = 24 * 3600_000;
// Records opened at once, and at most in all.
const BATCH = 8;
const MAX_OPENED = 240;

export interface Newest {
  /** The newest events, newest first (at most count). */
  events: Event[];
  /** Each camera's newest event with a snapshot (of those asked for and those seen). */
  stills: Map<string, Event>;
  /** Records that did not open (never shown). */
  failures: number;
}

/**
 * newestEvents opens hh's event records of the last week, newest first,
 * until it has count events and a snapshot for each of cameras (or it has
 * opened MAX_OPENED records).
 */
export async function newestEvents(hh: string, keys: OpenerKeys, count: number, cameras: string[] = [], now = Date.now()): Promise<Newest> {
  const objs = (await listEvents(hh, now - 7 * DAY, now + 5 * 60_000)).slice(0, MAX_OPENED);
  const events = new Map<string, Event>();
  let failures = 0;
  const stills = () => {
    const m = new Map<string, Event>();
    for (const e of newestFirst(events.values())) if (e.snapshot && !m.has(e.camera)) m.set(e.camera, e);
    return m;
  };
  let settled = false;
  for (let i = 0; i < objs.length; i += BATCH) {
    const batch = objs.slice(i, i + BATCH);
    // A health record shares the stream: it is no event and no failure.
    const recs = await Promise.all(batch.map((o) => readRecord(hh, keys, o.key).catch((e) => (e instanceof NotAnEvent ? undefined : null))));
    recs.forEach((r, j) => {
      if (r) merge(events, r, batch[j].key);
      else if (r === null) failures++;
    });
    // One batch past "enough", so the start and end records of the last
    // events shown are both merged.
    if (settled) break;
    settled = events.size >= count && cameras.every((c) => stills().has(c));
  }
  return { events: newestFirst(events.values()).slice(0, count), stills: stills(), failures };
}
