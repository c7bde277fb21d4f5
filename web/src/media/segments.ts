// A camera's recorded segments as the camera page and the events inbox
// play them: the cloud's listing (unsigned: what exists, when) and the
// opening of one sealed segment, checked against the listing that named it.
//
// The listing is the cloud's word, not the hub's: it draws the bar, but
// what is played is checked. A segment is played only if its signed header
// names this camera and its signed start and end are the listing's (to the
// millisecond); otherwise openSegment refuses it with "the cloud's listing
// disagrees with the signed segment: ..." and no plaintext leaves here.

import { api, apiBytes } from '../api';
import { EnvelopeError, openObject } from '../crypto/envelope';
import { nsToMs } from '../crypto/signedtime';
import type { HouseholdKeys } from './keys';
import { SegmentRefused, type OpenedSegment, type SegmentRef } from './player';

interface ObjectJSON {
  key: string;
  camera: string;
  kind: string;
  start: string;
  end: string;
  size: number;
}

const PAGE = 5000;
/** Two recordings closer than this (ms) are drawn as one range. */
export const JOIN_MS = 1500;
const enc = encodeURIComponent;

/** listSegments lists a camera's segments overlapping [from, to), oldest first. */
export async function listSegments(hh: string, cam: string, from: number, to: number): Promise<SegmentRef[]> {
  const out = new Map<string, SegmentRef>();
  let cursor = from;
  for (let page = 0; page < 100; page++) {
    const q = new URLSearchParams({ camera: cam, from: new Date(cursor).toISOString(), to: new Date(to).toISOString(), limit: String(PAGE) });
    const res = await api<{ objects: ObjectJSON[] }>('GET', `/v1/households/${enc(hh)}/objects?${q}`);
    let last = cursor;
    for (const o of res.objects) {
      if (o.kind !== 'segment' || o.camera !== cam) continue;
      const s = { key: o.key, start: Date.parse(o.start), end: Date.parse(o.end), size: o.size };
      out.set(s.key, s);
      last = Math.max(last, s.end);
    }
    if (res.objects.length < PAGE || last <= cursor) break;
    cursor = last;
  }
  return [...out.values()].sort((a, b) => a.start - b.start || a.end - b.end);
}

/** ranges merges segments into recorded ranges. */
export function ranges(segs: SegmentRef[]): [number, number][] {
  const out: [number, number][] = [];
  for (const s of segs) {
    const last = out[out.length - 1];
    if (last && s.start <= last[1] + JOIN_MS) last[1] = Math.max(last[1], s.end);
    else out.push([s.start, s.end]);
  }
  return out;
}

// The listing's times are RFC 3339 from the signed nanoseconds; the browser
// reads them to the millisecond.
const LISTING_TOLERANCE_MS = 1;
const iso = (ms: number) => new Date(ms).toISOString();

/**
 * openSegment fetches and opens one sealed segment of camera cam with the
 * household's keys, and checks it against the listing that named it: a
 * segment of cam whose signed start and end are the listing's. Anything
 * else is a SegmentRefused, with no plaintext.
 */
export async function openSegment(hh: string, cam: string, keys: HouseholdKeys, ref: SegmentRef): Promise<OpenedSegment> {
  const sealed = await apiBytes(`/v1/households/${enc(hh)}/objects/${ref.key}`);
  let o;
  try {
    o = await openObject(sealed, keys.identities, keys.trustedSigners);
  } catch (e) {
    if (e instanceof EnvelopeError && e.code === 'incorrect-identity') {
      throw new SegmentRefused(`this browser cannot open the recording of ${new Date(ref.start).toLocaleString()}: it was sealed to a household key this device does not hold (${e.message})`);
    }
    if (e instanceof EnvelopeError) throw new SegmentRefused(`segment failed verification: ${e.message}`);
    throw e;
  }
  const start = nsToMs(o.header.start);
  const end = nsToMs(o.end);
  const off = (a: number, b: number) => !(Math.abs(a - b) <= LISTING_TOLERANCE_MS);
  if (o.header.kindName !== 'segment' || o.header.stream !== cam || off(start, ref.start) || off(end, ref.end)) {
    o.plaintext.fill(0);
    throw new SegmentRefused(
      `the cloud's listing disagrees with the signed segment: the listing has ${ref.key} as camera ${cam}, ${iso(ref.start)} – ${iso(ref.end)}; ` +
        `its signed header and footer say ${o.header.kindName} of camera "${o.header.stream}", ${iso(start)} – ${iso(end)}. It is not played.`,
    );
  }
  return { data: o.plaintext, start, end };
}
