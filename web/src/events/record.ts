// Event records in the browser (docs/FORMAT.md, "Event records v1"): open a
// sealed event record or snapshot with the household's keys, validate the
// record's JSON as strictly as Go's internal/eventrec, and merge an event's
// start and end records into one event.
//
// Owns: the reading rules of records and snapshots. Must never: show a
// record that failed verification, accept a record whose times disagree
// with its signed header, or log a record's plaintext.

import { EnvelopeError, openObject } from '../crypto/envelope';
import { fromUtf8 } from '../crypto/bytes';

export const KIND_EVENT = 3;
export const KIND_SNAPSHOT = 2;
export const STREAM_EVENTS = 'events';
export const STREAM_SNAPSHOTS = 'snapshots';
export const MAX_RECORD_BYTES = 2048;
export const MAX_SNAPSHOT_BYTES = 4 << 20;
/** Sealed objects larger than this are not event records (header + one chunk + footer). */
export const MAX_SEALED_RECORD = 64 << 10;
const MAX_NAMES = 16;
const MAX_NAME_BYTES = 64;
const MAX_KEY_BYTES = 512;

/** EventRecord is one opened record (a start or an end). */
export interface EventRecord {
  id: string; // 32 lower-case hex digits
  camera: string;
  state: 'start' | 'end';
  start: number; // ms since the epoch
  end: number | null; // ms; null while the event is open
  labels: string[];
  zones: string[];
  alert: boolean;
  score: number;
  box: [number, number, number, number]; // x, y, w, h in 0..1
  snapshot: string; // object key, or ''
}

/**
 * HealthRecord is one opened health record (docs/FORMAT.md, "Health
 * records"): the hub telling its household of a problem, or its end.
 */
export interface HealthRecord {
  kind: 'health';
  id: string; // 32 lower-case hex digits, the same in a problem and its resolution
  check: string; // one of CHECKS
  camera: string; // a camera check's camera, else ''
  state: 'problem' | 'resolved';
  start: number; // ms since the epoch
  end: number | null; // ms; null in a problem record
  message: string; // plain words for the household
  flaps: number; // resolved: episodes that came and went without an alert of their own
}

/** CAMERA_CHECKS and CHECKS are the checks of health records (Go: eventrec.Check*). */
export const CAMERA_CHECKS = ['camera.frames', 'camera.reconnects', 'camera.rate'];
export const CHECKS = [...CAMERA_CHECKS, 'storage.writes', 'storage.space', 'storage.retention', 'upload.backlog', 'cloud.contact'];
const MAX_MESSAGE_BYTES = 256;
const MAX_FLAPS = 1 << 20;
const HEALTH_FIELDS = new Set(['v', 'kind', 'id', 'check', 'camera', 'state', 'start', 'end', 'message', 'flaps']);

/** OpenerKeys are what opening needs (media/keys.ts HouseholdKeys fits). */
export interface OpenerKeys {
  identities: CryptoKey[];
  trustedSigners: Uint8Array[];
}

/** RecordError: a record that opened but is not a valid event record. */
export class RecordError extends Error {
  constructor(message: string, what = 'event record') {
    super(`${what}: ${message}`);
    this.name = 'RecordError';
  }
}

/** NotAnEvent: a valid health record where an event record was wanted (the events stream holds both). */
export class NotAnEvent extends RecordError {
  constructor(readonly health: HealthRecord) {
    super('a health record, not an event');
    this.name = 'NotAnEvent';
  }
}

const bad = (m: string) => new RecordError(m);
const ID_RE = /^[0-9a-f]{32}$/;
const FIELDS = new Set(['v', 'id', 'camera', 'state', 'start', 'end', 'labels', 'zones', 'alert', 'score', 'box', 'snapshot']);
// RFC 3339 as Go's time.Parse(time.RFC3339Nano) reads it: a fraction of
// any length after "." or ",", Z or an offset of at most 24:60.
const TIME_RE = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:[.,](\d+))?(?:Z|([+-])(\d{2}):(\d{2}))$/;

// An object key (as Go's eventrec checks it): A-Z a-z 0-9 . _ - / with no
// empty, "." or ".." segment.
const KEY_RE = /^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/;
const DOT_SEGMENT_RE = /(^|\/)\.{1,2}(\/|$)/;

// parseTime reads an RFC 3339 time by hand (Date.parse rolls 24:00 and
// February 30 over, where Go refuses them) and returns ms since the epoch.
function parseTime(what: string, v: unknown): number {
  const m = typeof v === 'string' && v.length <= 64 ? TIME_RE.exec(v) : null;
  if (!m) throw bad(`${what} is not an RFC 3339 time`);
  const [y, mo, d, hh, mi, ss] = m.slice(1, 7).map(Number);
  const days = mo >= 1 && mo <= 12 ? new Date(Date.UTC(2000, mo, 0)).getUTCDate() - (mo === 2 && !(y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0)) ? 1 : 0) : 0;
  if (d < 1 || d > days || hh > 23 || mi > 59 || ss > 59) throw bad(`${what} is not a valid time`);
  const oh = m[9] === undefined ? 0 : Number(m[9]);
  const om = m[10] === undefined ? 0 : Number(m[10]);
  if (oh > 24 || om > 60) throw bad(`${what} has an invalid offset`);
  // Sealed objects hold times of the years 1678 to 2261 (int64 nanoseconds).
  if (y < 1678 || y > 2261) throw bad(`${what} is outside the years 1678 to 2261`);
  const frac = m[7] ? Math.floor(Number('0.' + m[7].slice(0, 9)) * 1000) : 0;
  const sign = m[8] === '-' ? -1 : 1;
  return Date.UTC(y, mo - 1, d, hh, mi, ss, frac) - sign * (oh * 60 + om) * 60_000;
}

function validName(what: string, s: unknown): string {
  if (typeof s !== 'string' || s.length === 0 || new TextEncoder().encode(s).length > MAX_NAME_BYTES) throw bad(`${what} must be 1 to ${MAX_NAME_BYTES} bytes`);
  // Printable characters only, as Go's unicode.IsPrint: no control, format,
  // private or unassigned characters, no separator but the ASCII space
  // (they could disguise a name).
  if (/[\p{C}\p{Zl}\p{Zp}]/u.test(s) || /\p{Zs}/u.test(s.replaceAll(' ', ''))) throw bad(`${what} holds a non-printable character`);
  return s;
}

function names(what: string, v: unknown): string[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v) || v.length > MAX_NAMES) throw bad(`${what} must be a list of at most ${MAX_NAMES} names`);
  return v.map((s, i) => validName(`${what}[${i}]`, s));
}

function unit(what: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || v > 1) throw bad(`${what} must be a number in 0..1`);
  return v;
}

// parseHealth validates a health record's JSON object as strictly as Go's eventrec.
function parseHealth(j: Record<string, unknown>): HealthRecord {
  for (const k of Object.keys(j)) if (!HEALTH_FIELDS.has(k)) throw bad(`unknown field "${k.slice(0, 32)}" in a health record`);
  if (j.v !== 1) throw bad(`version ${String(j.v)} (this app reads version 1; reload to update it)`);
  if (typeof j.id !== 'string' || !ID_RE.test(j.id)) throw bad('id is not 32 lower-case hex digits');
  if (typeof j.check !== 'string' || !CHECKS.includes(j.check)) throw bad('check is not one this app knows (reload to update it)');
  let camera = '';
  if (CAMERA_CHECKS.includes(j.check)) camera = validName('camera', j.camera);
  else if (j.camera !== undefined) throw bad(`the hub's check ${j.check} names no camera`);
  if (j.state !== 'problem' && j.state !== 'resolved') throw bad('state is neither "problem" nor "resolved"');
  const start = parseTime('start', j.start);
  let end: number | null = null;
  if (j.state === 'resolved') {
    end = parseTime('end', j.end);
    if (end < start) throw bad('end is before start');
  } else if (j.end !== undefined) throw bad('a problem record has an end');
  const m = j.message;
  if (typeof m !== 'string' || m.length === 0 || new TextEncoder().encode(m).length > MAX_MESSAGE_BYTES) throw bad(`message must be 1 to ${MAX_MESSAGE_BYTES} bytes`);
  if (/[\p{C}\p{Zl}\p{Zp}]/u.test(m) || /\p{Zs}/u.test(m.replaceAll(' ', ''))) throw bad('message holds a non-printable character');
  const f = j.flaps;
  if (typeof f !== 'number' || !Number.isInteger(f) || f < 0 || f > MAX_FLAPS || (f !== 0 && j.state !== 'resolved')) throw bad('flaps is not a count (0 in a problem record)');
  return { kind: 'health', id: j.id, check: j.check, camera, state: j.state, start, end, message: m, flaps: f };
}

/** parseAnyRecord validates a record's plaintext (JSON): an event record or a health record. */
export function parseAnyRecord(plain: Uint8Array): EventRecord | HealthRecord {
  if (plain.length > MAX_RECORD_BYTES) throw bad(`larger than ${MAX_RECORD_BYTES} bytes`);
  if (plain[0] === 0xef && plain[1] === 0xbb && plain[2] === 0xbf) throw bad('not JSON');
  let j: Record<string, unknown>;
  try {
    j = JSON.parse(fromUtf8(plain));
  } catch {
    throw bad('not JSON');
  }
  if (typeof j !== 'object' || j === null || Array.isArray(j)) throw bad('not a JSON object');
  if (!Object.hasOwn(j, 'kind')) return parseRecord(plain);
  if (j.kind !== 'health') throw bad('kind is not "health" (an event record has none)');
  return parseHealth(j);
}

/** parseRecord validates an event record's plaintext (JSON) and returns it; a health record throws NotAnEvent. */
export function parseRecord(plain: Uint8Array): EventRecord {
  if (plain.length > MAX_RECORD_BYTES) throw bad(`larger than ${MAX_RECORD_BYTES} bytes`);
  // The decoder would drop a byte order mark; JSON has none.
  if (plain[0] === 0xef && plain[1] === 0xbb && plain[2] === 0xbf) throw bad('not JSON');
  let j: Record<string, unknown>;
  try {
    j = JSON.parse(fromUtf8(plain));
  } catch {
    throw bad('not JSON');
  }
  if (typeof j !== 'object' || j === null || Array.isArray(j)) throw bad('not a JSON object');
  if (Object.hasOwn(j, 'kind')) {
    const r = parseAnyRecord(plain);
    throw 'kind' in r ? new NotAnEvent(r) : bad('not an event record');
  }
  for (const k of Object.keys(j)) if (!FIELDS.has(k)) throw bad(`unknown field "${k.slice(0, 32)}"`);
  if (j.v !== 1) throw bad(`version ${String(j.v)} (this app reads version 1; reload to update it)`);
  if (typeof j.id !== 'string' || !ID_RE.test(j.id)) throw bad('id is not 32 lower-case hex digits');
  if (j.state !== 'start' && j.state !== 'end') throw bad('state is neither "start" nor "end"');
  const start = parseTime('start', j.start);
  let end: number | null = null;
  if (j.state === 'end') {
    end = parseTime('end', j.end);
    if (end < start) throw bad('end is before start');
  } else if (j.end !== undefined && j.end !== '') throw bad('a start record has an end');
  if (j.alert !== undefined && typeof j.alert !== 'boolean') throw bad('alert is not a boolean');
  const score = j.score === undefined ? 0 : unit('score', j.score);
  if (!Array.isArray(j.box) || j.box.length !== 4) throw bad('box is not [x, y, w, h]');
  const box: [number, number, number, number] = [unit('box x', j.box[0]), unit('box y', j.box[1]), unit('box w', j.box[2]), unit('box h', j.box[3])];
  if (box[0] + box[2] > 1 + 1e-6 || box[1] + box[3] > 1 + 1e-6) throw bad('box extends past the frame');
  let snapshot = '';
  if (j.snapshot !== undefined && j.snapshot !== '') {
    if (typeof j.snapshot !== 'string' || j.snapshot.length > MAX_KEY_BYTES || !KEY_RE.test(j.snapshot) || DOT_SEGMENT_RE.test(j.snapshot)) throw bad('snapshot is not a snapshot object key');
    snapshot = j.snapshot;
  }
  return {
    id: j.id,
    camera: validName('camera', j.camera),
    state: j.state,
    start,
    end,
    labels: names('labels', j.labels),
    zones: names('zones', j.zones),
    alert: j.alert === true,
    score,
    box,
    snapshot,
  };
}

const NS_PER_MS = 1_000_000n;

/**
 * openRecord opens a sealed event record with the household's keys (full
 * verification of the envelope, signer among the trusted hubs), checks it
 * is an event on the events stream, and that its times agree with the
 * signed header (start) and footer (end, or start while open).
 */
export async function openRecord(sealed: Uint8Array, keys: OpenerKeys): Promise<EventRecord> {
  const r = await openAnyRecord(sealed, keys);
  if ('kind' in r) throw new NotAnEvent(r);
  return r;
}

/**
 * openAnyRecord opens a sealed record of the events stream, an event
 * record or a health record, with the checks of openRecord.
 */
export async function openAnyRecord(sealed: Uint8Array, keys: OpenerKeys): Promise<EventRecord | HealthRecord> {
  if (sealed.length > MAX_SEALED_RECORD) throw bad('the sealed object is too large for an event record');
  const o = await openObject(sealed, keys.identities, keys.trustedSigners);
  if (o.header.kind !== KIND_EVENT || o.header.stream !== STREAM_EVENTS) throw bad(`a ${o.header.kindName} on stream "${o.header.stream}" is not an event record`);
  const r = parseAnyRecord(o.plaintext);
  const hdrStart = Number(o.header.start / NS_PER_MS);
  const ftrEnd = Number(o.end / NS_PER_MS);
  // Date.parse keeps milliseconds; the header has nanoseconds.
  if (Math.abs(hdrStart - r.start) > 1 || Math.abs(ftrEnd - (r.end ?? r.start)) > 1) throw bad('times disagree with the signed header and footer');
  return r;
}

/** openSnapshot opens a sealed snapshot and returns its JPEG. */
export async function openSnapshot(sealed: Uint8Array, keys: OpenerKeys): Promise<Uint8Array> {
  const snapErr = (m: string) => new RecordError(m, 'snapshot');
  if (sealed.length > MAX_SNAPSHOT_BYTES + (64 << 10)) throw snapErr('too large');
  const o = await openObject(sealed, keys.identities, keys.trustedSigners);
  if (o.header.kind !== KIND_SNAPSHOT || o.header.stream !== STREAM_SNAPSHOTS) throw snapErr(`a ${o.header.kindName} on stream "${o.header.stream}" is not a snapshot`);
  const b = o.plaintext;
  if (b.length > MAX_SNAPSHOT_BYTES || b.length < 3 || b[0] !== 0xff || b[1] !== 0xd8 || b[2] !== 0xff) throw snapErr('not a JPEG');
  return b;
}

/** Event is an event as the inbox shows it: its start and end records merged. */
export interface Event {
  id: string;
  camera: string;
  start: number;
  end: number | null; // null while no end record was seen
  labels: string[];
  zones: string[];
  alert: boolean;
  score: number;
  box: [number, number, number, number];
  snapshot: string;
  keys: string[]; // the sealed objects it was read from
}

const union = (a: string[], b: string[]) => [...new Set([...a, ...b])];

/** merge folds record r (read from object key) into events (by id) and returns the event. */
export function merge(events: Map<string, Event>, r: EventRecord, key: string): Event {
  const e = events.get(r.id);
  if (!e) {
    const n: Event = { id: r.id, camera: r.camera, start: r.start, end: r.end, labels: [...r.labels], zones: [...r.zones], alert: r.alert, score: r.score, box: r.box, snapshot: r.snapshot, keys: [key] };
    events.set(r.id, n);
    return n;
  }
  if (!e.keys.includes(key)) e.keys.push(key);
  e.start = Math.min(e.start, r.start);
  if (r.end !== null) e.end = Math.max(e.end ?? r.end, r.end);
  e.labels = union(e.labels, r.labels);
  e.zones = union(e.zones, r.zones);
  e.alert ||= r.alert;
  // The end record carries the event's best detection and snapshot.
  if (r.state === 'end' || r.score > e.score) {
    if (r.snapshot) e.snapshot = r.snapshot;
    e.score = Math.max(e.score, r.score);
    e.box = r.box;
  } else if (!e.snapshot && r.snapshot) e.snapshot = r.snapshot;
  return e;
}

/** newestFirst sorts events by start, newest first. */
export function newestFirst(events: Iterable<Event>): Event[] {
  return [...events].sort((a, b) => b.start - a.start || (a.id < b.id ? -1 : 1));
}

const cap = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);

/** headline is the one-line text of a notification: "Person at front". */
export function headline(e: { labels: string[]; camera: string; zones: string[] }): string {
  const what = e.labels.length ? e.labels.map(cap).join(', ') : 'Motion';
  return `${what} at ${e.camera}${e.zones.length ? ` (${e.zones.join(', ')})` : ''}`;
}

// What kind of event a label is, in the words of a household. Labels come
// from the detector (COCO names and the hub's own: motion, ring).
const KINDS: [string, string[]][] = [
  ['Ring', ['ring', 'doorbell']],
  ['Person', ['person', 'people', 'face']],
  ['Vehicle', ['car', 'truck', 'bus', 'motorcycle', 'motorbike', 'bicycle', 'bike', 'vehicle', 'van', 'boat', 'train']],
  ['Animal', ['dog', 'cat', 'bird', 'horse', 'sheep', 'cow', 'bear', 'animal', 'fox', 'deer']],
  ['Package', ['package', 'parcel']],
  ['Motion', ['motion']],
];

/**
 * kindOf names what an event is in plain words, from its labels: "Person",
 * "Vehicle", "Animal", "Ring", "Package", "Motion" (no label), or the first
 * label capitalised when it is none of those. The most telling kind wins
 * (a person with a car is "Person").
 */
export function kindOf(labels: string[]): string {
  const ls = labels.map((l) => l.toLowerCase());
  for (const [kind, names] of KINDS) if (ls.some((l) => names.includes(l))) return kind;
  return labels.length ? cap(labels[0]) : 'Motion';
}

/** placeText is where an event happened, in words: "in Driveway", "in Driveway and Street", or "" with no zone. */
export function placeText(zones: string[]): string {
  if (!zones.length) return '';
  const zs = zones.map(cap);
  return 'in ' + (zs.length === 1 ? zs[0] : `${zs.slice(0, -1).join(', ')} and ${zs[zs.length - 1]}`);
}

/** isRefusal says whether e means "this browser cannot open it" (rather than a fault). */
export function isRefusal(e: unknown): boolean {
  return e instanceof EnvelopeError && e.code === 'incorrect-identity';
}
