// Health records on the health page (docs/FORMAT.md, "Health records"):
// a hub's sealed record of a problem (a camera that sends no video, a disk
// that fails, uploads that fall behind) and of its end, on the events
// stream. They are read by events/record.ts (openAnyRecord), as strictly
// as Go's internal/eventrec; this module picks them out of the stream and
// words them.
//
// Owns: which record of a check is the latest, and the checks' wording.
// Must never: show a record that failed verification (openAnyRecord's
// checks are the only way in).

import { openAnyRecord, type HealthRecord, type OpenerKeys } from '../events/record';

export type { HealthRecord };

/** NotHealthError: the record opened and verified but is a detection event's. */
export class NotHealthError extends Error {
  constructor() {
    super('not a health record');
    this.name = 'NotHealthError';
  }
}

/**
 * openHealth opens a sealed record with the household's keys (full
 * verification, signer among the trusted hubs, times agreeing with the
 * signed header and footer) and returns it when it is a health record; a
 * detection event's record is NotHealthError.
 */
export async function openHealth(sealed: Uint8Array, keys: OpenerKeys): Promise<HealthRecord> {
  const r = await openAnyRecord(sealed, keys);
  if (!('kind' in r)) throw new NotHealthError();
  return r;
}

/** latest keeps, per check and camera, the newest record (a later start wins; of one problem, its resolved record). */
export function latest(records: Iterable<HealthRecord>): Map<string, HealthRecord> {
  const out = new Map<string, HealthRecord>();
  for (const r of records) {
    const k = `${r.check}\u0000${r.camera}`;
    const had = out.get(k);
    if (!had || r.start > had.start || (r.start === had.start && r.state === 'resolved')) out.set(k, r);
  }
  return out;
}

/** CHECK_WORDS says what each check watches, in the household's words. */
export const CHECK_WORDS: Record<string, string> = {
  'camera.frames': 'Video',
  'camera.reconnects': 'Connection',
  'camera.rate': 'Picture rate',
  'storage.writes': 'Recording to the hub’s disk',
  'storage.space': 'Space on the hub’s disk',
  'storage.retention': 'Keeping recordings as long as set',
  'upload.backlog': 'Uploading to the cloud',
  'cloud.contact': 'Reaching the cloud',
};
