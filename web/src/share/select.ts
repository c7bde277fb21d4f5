// Which sealed objects a share of [from, to) may hold, decided by their
// signed times and never by the cloud's listing (docs/FORMAT.md, "Share
// manifest", "Choosing the objects"). The sharer's browser (create.ts)
// applies it before wrapping a file key; the guest's (guest.ts) applies it
// again to every object it opens.
//
// Owns: the inclusion rule. Must never: decide on a time the cloud could
// have made up (a listing's, or a footer not bound to its header when it
// matters).

import { NS_PER_MS, showNs } from '../crypto/signedtime';

/**
 * MAX_LEAD_NS: a shared object may start at most this long before the
 * range: the longest segment a hub makes (`segment_duration` is at most
 * 60 s). It bounds what the sharer fetches in full to decide on an object
 * that starts before the range.
 */
export const MAX_LEAD_NS = 60_000n * NS_PER_MS;

/** The kind of a segment (docs/FORMAT.md, header `kind`). */
export const KIND_SEGMENT = 1;

/** SignedTimes are an object's times: the header's start, the footer's end (Unix ns). */
export interface SignedTimes {
  start: bigint;
  end: bigint;
}

/**
 * refusal says why an object whose signed times are t may not be in a share
 * of [from, to) (Unix ns), or returns null if it may: its signed interval
 * [start, end) must overlap [from, to), and it must not start more than
 * MAX_LEAD_NS before from. An object that starts before from is included
 * only when its end is bound to its header (the whole object verified:
 * needsWhole), which the caller ensures.
 */
export function refusal(t: SignedTimes, from: bigint, to: bigint): string | null {
  const at = `signed ${showNs(t.start)} – ${showNs(t.end)}`;
  if (t.end < t.start) return `its signed end is before its signed start (${at})`;
  if (t.start >= to) return `it starts at or after the end of the range (${at})`;
  if (t.end <= from) return `it ends at or before the start of the range (${at})`;
  if (t.start < from - MAX_LEAD_NS) return `it starts more than 60 s before the range, longer than any segment a hub records (${at})`;
  return null;
}

/**
 * needsWhole says whether the object's footer must be checked against the
 * whole object before it is shared: it starts before the range, so only its
 * end puts it in the range, and a footer read on its own (FORMAT.md, "Random
 * access") could be another object's.
 */
export function needsWhole(t: SignedTimes, from: bigint): boolean {
  return t.start < from;
}
