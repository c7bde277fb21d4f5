// The camera's most recent snapshot, found as the events inbox finds it:
// the household's sealed event records of the last 7 days, opened newest
// first in this browser, until one of this camera names a snapshot, which
// is then fetched and opened here too. The cloud learns only that sealed
// objects were read.

import { listEvents, readRecord, readSnapshot } from '../events/api';
import type { OpenerKeys } from '../events/record';

const DAY = 24 * 3600_000;
// The most records opened looking for a snapshot, and how many at once.
const MAX_OPENED = 400;
const BATCH = 8;

/** Snapshot is a camera's newest snapshot: its JPEG and the event's start. */
export interface Snapshot {
  jpeg: Uint8Array;
  at: number; // ms
}

/** newestSnapshot finds cam's newest event with a snapshot; null if none. */
export async function newestSnapshot(hh: string, cam: string, keys: OpenerKeys): Promise<Snapshot | null> {
  const now = Date.now();
  const objs = (await listEvents(hh, now - 7 * DAY, now + 5 * 60_000)).slice(0, MAX_OPENED);
  let lastErr: unknown;
  for (let i = 0; i < objs.length; i += BATCH) {
    const recs = await Promise.all(objs.slice(i, i + BATCH).map((o) => readRecord(hh, keys, o.key).catch(() => null)));
    for (const r of recs) {
      if (!r || r.camera !== cam || !r.snapshot) continue;
      try {
        return { jpeg: await readSnapshot(hh, keys, r.snapshot), at: r.start };
      } catch (e) {
        lastErr = e; // a snapshot that does not open: try an older one
      }
    }
  }
  if (lastErr) throw lastErr;
  return null;
}
