// Health records in the browser (docs/FORMAT.md, "Health records"): a
// hub's sealed record of a problem (a camera that sends no video, a disk
// that fails, uploads that fall behind) and of its end, on the events
// stream, opened with the household's keys like an event record and read
// as strictly as Go's internal/eventrec; and the words the health page
// uses for them.
//
// Owns: the reading rules of health records and their wording. Must never:
// show a record that failed verification, or accept one whose times
// disagree with its signed header and footer.

import { openObject } from '../crypto/envelope';
import { fromUtf8 } from '../crypto/bytes';
import { KIND_EVENT, MAX_RECORD_BYTES, MAX_SEALED_RECORD, RecordError, STREAM_EVENTS, parseTime, validName, type OpenerKeys } from '../events/record';

/** HealthRecord is one opened health record. */
export interface HealthRecord {
  id: string;
  check: string;
  camera: string; // '' for the hub's own checks
  state: 'problem' | 'resolved';
  start: number; // ms since the epoch
  end: number | null; // ms; null for a problem
  message: string;
  flaps: number;
}

const CAMERA_CHECKS = new Set(['camera.frames', 'camera.reconnects', 'camera.rate']);
const CHECKS = new Set([...CAMERA_CHECKS, 'storage.writes', 'storage.space', 'storage.retention', 'upload.backlog', 'cloud.contact']);
const FIELDS = new Set(['v', 'kind', 'id', 'check', 'camera', 'state', 'start', 'end', 'message', 'flaps']);
const ID_RE = /^[0-9a-f]{32}$/;
const MAX_MESSAGE_BYTES = 256;
const MAX_FLAPS = 1 << 20;
const NS_PER_MS = 1_000_000n;

const bad = (m: string) => new RecordError(m, 'health record');

/** NotHealthError: the record opened and verified but is a detection event's. */
export class NotHealthError extends Error {
  constructor() {
    super('not a health record');
    this.name = 'NotHealthError';
  }
}

/** parseHealth validates a health record's plaintext (JSON); a detection event's record is NotHealthError. */
export function parseHealth(plain: Uint8Array): HealthRecord {
  if (plain.length > MAX_RECORD_BYTES) throw bad(`larger than ${MAX_RECORD_BYTES} bytes`);
  if (plain[0] === 0xef && plain[1] === 0xbb && plain[2] === 0xbf) throw bad('not JSON');
  let j: Record<string, unknown>;
  try {
    j = JSON.parse(fromUtf8(plain));
  } catch {
    throw bad('not JSON');
  }
  if (typeof j !== 'object' || j === null || Array.isArray(j)) throw bad('not a JSON object');
  if (!('kind' in j)) throw new NotHealthError();
  if (j.kind !== 'health') throw bad('kind is not "health"');
  for (const k of Object.keys(j)) if (!FIELDS.has(k)) throw bad(`unknown field "${k.slice(0, 32)}"`);
  if (j.v !== 1) throw bad(`version ${String(j.v)} (this app reads version 1; reload to update it)`);
  if (typeof j.id !== 'string' || !ID_RE.test(j.id)) throw bad('id is not 32 lower-case hex digits');
  if (typeof j.check !== 'string' || !CHECKS.has(j.check)) throw bad('check is not one this app knows (reload to update it)');
  let camera = '';
  if (CAMERA_CHECKS.has(j.check)) camera = validName('camera', j.camera);
  else if (j.camera !== undefined && j.camera !== '') throw bad(`the hub's check ${j.check} names a camera`);
  if (j.state !== 'problem' && j.state !== 'resolved') throw bad('state is neither "problem" nor "resolved"');
  const start = parseTime('start', j.start);
  let end: number | null = null;
  if (j.state === 'resolved') {
    end = parseTime('end', j.end);
    if (end < start) throw bad('end is before start');
  } else if (j.end !== undefined && j.end !== '') throw bad('a problem record has an end');
  if (typeof j.message !== 'string' || j.message === '' || new TextEncoder().encode(j.message).length > MAX_MESSAGE_BYTES || /[\p{C}\p{Zl}\p{Zp}]/u.test(j.message)) {
    throw bad(`message must be 1 to ${MAX_MESSAGE_BYTES} bytes of printable text`);
  }
  const flaps = j.flaps ?? 0;
  if (typeof flaps !== 'number' || !Number.isInteger(flaps) || flaps < 0 || flaps > MAX_FLAPS || (flaps !== 0 && j.state !== 'resolved')) throw bad(`flaps must be 0 to ${MAX_FLAPS}, and 0 in a problem record`);
  return { id: j.id, check: j.check, camera, state: j.state, start, end, message: j.message, flaps };
}

/**
 * openHealth opens a sealed record with the household's keys (full
 * verification, signer among the trusted hubs) and reads it as a health
 * record whose times agree with the signed header and footer. A detection
 * event's record is NotHealthError.
 */
export async function openHealth(sealed: Uint8Array, keys: OpenerKeys): Promise<HealthRecord> {
  if (sealed.length > MAX_SEALED_RECORD) throw bad('the sealed object is too large for a record');
  const o = await openObject(sealed, keys.identities, keys.trustedSigners);
  if (o.header.kind !== KIND_EVENT || o.header.stream !== STREAM_EVENTS) throw bad(`a ${o.header.kindName} on stream "${o.header.stream}" is not a health record`);
  const r = parseHealth(o.plaintext);
  const hdrStart = Number(o.header.start / NS_PER_MS);
  const ftrEnd = Number(o.end / NS_PER_MS);
  if (Math.abs(hdrStart - r.start) > 1 || Math.abs(ftrEnd - (r.end ?? r.start)) > 1) throw bad('times disagree with the signed header and footer');
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
