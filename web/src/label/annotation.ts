// The annotation payload, version 1 (docs/FORMAT.md, "Annotation payload,
// version 1"), the label schema and keyframe interpolation: the browser's
// side of internal/dataset (ParseAnnotation, Check, Boxes, Marshal).
//
// Owns: reading a payload exactly as Go's ParseAnnotation does (it refuses
// what Go refuses and accepts what Go accepts, including the quirks of
// Go's encoding/json: keys matched without regard to case, a repeated key
// decoded into what the earlier one left, null leaving a number or string
// as it was), writing it as Go's Marshal does, and a track's box at a frame
// as Go's Boxes computes it. internal/e2e/label_test.go checks all three
// against Go. Must never: do network I/O, or keep a payload anywhere but
// in memory (a payload is a household's labelled footage).

/** Bounds, as internal/dataset's. */
export const MAX_ANNOTATION_SIZE = 16 << 20;
export const MAX_FRAMES = 1 << 24;
export const MAX_SIDE = 8192;
export const MAX_FPS = 240;
export const MAX_TRACKS = 10000;
export const MAX_KEYFRAMES = 1000000;
export const MAX_TRACK_ID = Number.MAX_SAFE_INTEGER;
export const MAX_ID = 128;
export const MAX_LABELS = 1000;
export const MAX_LABEL = 40;

export const ANNOTATION_FORMAT = 'vigil-annotation';
export const ANNOTATION_VERSION = 1;

/** AnnotationError is thrown for a payload that is not a valid annotation; the message names the field. */
export class AnnotationError extends Error {
  constructor(message: string) {
    super('bad annotation: ' + message);
    this.name = 'AnnotationError';
  }
}

/** SchemaError is thrown for a label schema that cannot be used. */
export class SchemaError extends Error {
  constructor(message: string) {
    super('bad label schema: ' + message);
    this.name = 'SchemaError';
  }
}

/** Schema is a versioned list of labels; a label's place is its class. */
export interface Schema {
  version: number;
  labels: string[];
}

/** defaultSchema is schema version 1 (dataset.DefaultSchema). */
export function defaultSchema(): Schema {
  return { version: 1, labels: ['person', 'car', 'dog', 'cat', 'bicycle', 'package'] };
}

const utf8Len = (s: string) => new TextEncoder().encode(s).length;

/** validLabel is detect.ValidLabel: 1 to 40 bytes of printable UTF-8 without outer spaces. */
export function validLabel(s: string): boolean {
  if (s === '' || utf8Len(s) > MAX_LABEL || s.trim() !== s) return false;
  // Go's unicode.IsPrint: letters, marks, numbers, punctuation, symbols and the ASCII space.
  return /^[\p{L}\p{M}\p{N}\p{P}\p{S} ]+$/u.test(s);
}

/** checkSchema throws a SchemaError unless s is usable (dataset.Schema.Check). */
export function checkSchema(s: Schema): void {
  if (!Number.isInteger(s.version) || s.version <= 0) throw new SchemaError(`version ${s.version}: want a positive number`);
  if (!Array.isArray(s.labels) || s.labels.length === 0 || s.labels.length > MAX_LABELS) throw new SchemaError(`${s.labels?.length ?? 0} labels: want 1 to ${MAX_LABELS}`);
  s.labels.forEach((l, i) => {
    if (typeof l !== 'string' || !validLabel(l)) throw new SchemaError(`label ${i} ${JSON.stringify(l)}: want 1 to ${MAX_LABEL} printable bytes without outer spaces`);
    if (s.labels.indexOf(l) !== i) throw new SchemaError(`label ${JSON.stringify(l)} twice`);
  });
}

/** Review states: annotating -> in_review -> accepted or rejected. */
export type State = 'annotating' | 'in_review' | 'accepted' | 'rejected';
const STATES: readonly string[] = ['annotating', 'in_review', 'accepted', 'rejected'];

/** canMove reports whether review may move an annotation from s to next (dataset.State.CanMove). */
export function canMove(s: State, next: State): boolean {
  switch (s) {
    case 'annotating':
      return next === 'in_review';
    case 'in_review':
      return next === 'accepted' || next === 'rejected' || next === 'annotating';
    case 'rejected':
      return next === 'annotating';
  }
  return false;
}

/** Rect is [x, y, w, h] in the clip's pixels, x, y the top-left corner. */
export type Rect = [number, number, number, number];

/** Keyframe is a track's state at one frame: a box, or outside (no box). */
export interface Keyframe {
  frame: number;
  box?: Rect;
  outside?: boolean;
  occluded?: boolean;
}

export interface Track {
  id: number;
  label: string;
  keyframes: Keyframe[];
}

export interface Review {
  state: State;
  reviewer?: string;
}

/** Annotation is the payload for one donated clip. */
export interface Annotation {
  format: string;
  version: number;
  clip: string;
  fps: number;
  width: number;
  height: number;
  frames: number;
  schemaVersion: number;
  tracks: Track[];
  annotator: string;
  review: Review;
}

// ---- JSON, read as Go's encoding/json reads it ----------------------------

type JNode =
  | { t: 'null' }
  | { t: 'bool'; v: boolean }
  | { t: 'num'; s: string }
  | { t: 'str'; v: string }
  | { t: 'arr'; v: JNode[] }
  | { t: 'obj'; v: [string, JNode][] };

// Deeper than a valid payload can be by far; Go's limit is 10000, and any
// nesting past the payload's own is refused by both anyway.
const MAX_DEPTH = 512;

/** JSONReader is a strict RFC 8259 reader (Go's scanner): numbers are kept as their text. */
class JSONReader {
  p = 0;
  constructor(private s: string) {}

  fail(what: string): never {
    throw new AnnotationError(`${what} at offset ${this.p}`);
  }

  ws(): void {
    const s = this.s;
    while (this.p < s.length) {
      const c = s.charCodeAt(this.p);
      if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) this.p++;
      else break;
    }
  }

  value(depth: number): JNode {
    if (depth > MAX_DEPTH) this.fail('nested too deeply');
    this.ws();
    const c = this.s[this.p];
    if (c === '{') return this.object(depth);
    if (c === '[') return this.array(depth);
    if (c === '"') return { t: 'str', v: this.string() };
    if (c === '-' || (c >= '0' && c <= '9')) return this.number();
    for (const [word, node] of [['true', { t: 'bool', v: true }], ['false', { t: 'bool', v: false }], ['null', { t: 'null' }]] as const) {
      if (this.s.startsWith(word, this.p)) {
        this.p += word.length;
        return node;
      }
    }
    if (this.p >= this.s.length) this.fail('unexpected end of JSON input');
    this.fail(`invalid character ${JSON.stringify(c)} looking for beginning of value`);
  }

  object(depth: number): JNode {
    this.p++;
    const v: [string, JNode][] = [];
    this.ws();
    if (this.s[this.p] === '}') {
      this.p++;
      return { t: 'obj', v };
    }
    for (;;) {
      this.ws();
      if (this.s[this.p] !== '"') this.fail('invalid character looking for beginning of object key string');
      const k = this.string();
      this.ws();
      if (this.s[this.p] !== ':') this.fail('invalid character after object key');
      this.p++;
      v.push([k, this.value(depth + 1)]);
      this.ws();
      const c = this.s[this.p++];
      if (c === '}') return { t: 'obj', v };
      if (c !== ',') this.fail('invalid character after object key:value pair');
    }
  }

  array(depth: number): JNode {
    this.p++;
    const v: JNode[] = [];
    this.ws();
    if (this.s[this.p] === ']') {
      this.p++;
      return { t: 'arr', v };
    }
    for (;;) {
      v.push(this.value(depth + 1));
      this.ws();
      const c = this.s[this.p++];
      if (c === ']') return { t: 'arr', v };
      if (c !== ',') this.fail('invalid character after array element');
    }
  }

  number(): JNode {
    const re = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;
    re.lastIndex = this.p;
    const m = re.exec(this.s);
    if (!m) this.fail('invalid number');
    this.p += m[0].length;
    return { t: 'num', s: m[0] };
  }

  string(): string {
    const s = this.s;
    this.p++;
    let out = '';
    let start = this.p;
    for (;;) {
      if (this.p >= s.length) this.fail('unexpected end of JSON input in string');
      const c = s.charCodeAt(this.p);
      if (c === 0x22) {
        out += s.slice(start, this.p);
        this.p++;
        return fixSurrogates(out);
      }
      if (c < 0x20) this.fail('invalid character in string literal');
      if (c !== 0x5c) {
        this.p++;
        continue;
      }
      out += s.slice(start, this.p);
      const e = s[this.p + 1];
      const simple: Record<string, string> = { '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };
      if (e in simple) {
        out += simple[e];
        this.p += 2;
      } else if (e === 'u') {
        const hex = s.slice(this.p + 2, this.p + 6);
        if (!/^[0-9a-fA-F]{4}$/.test(hex)) this.fail('invalid \\u escape');
        out += String.fromCharCode(parseInt(hex, 16));
        this.p += 6;
      } else this.fail('invalid escape in string literal');
      start = this.p;
    }
  }
}

// fixSurrogates replaces unpaired UTF-16 surrogates with U+FFFD, as Go's
// decoder does for an unpaired \u escape.
function fixSurrogates(s: string): string {
  return s.replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, '\uFFFD');
}

// fold is Go's key folding restricted to what can match an ASCII field
// name: ASCII letters in either case, and the two non-ASCII letters whose
// case folding reaches ASCII (KELVIN SIGN to k, LONG S to s).
function fold(k: string): string {
  return k.replace(/[A-Z\u212A\u017F]/g, (c) => (c === '\u212A' ? 'k' : c === '\u017F' ? 's' : c.toLowerCase()));
}

const typeName = (n: JNode) => ({ null: 'null', bool: 'bool', num: 'number', str: 'string', arr: 'array', obj: 'object' })[n.t];

function decodeInt(n: JNode, cur: number, what: string): number {
  if (n.t === 'null') return cur;
  if (n.t !== 'num') throw new AnnotationError(`${what}: cannot read a ${typeName(n)} as a whole number`);
  if (!/^-?[0-9]+$/.test(n.s)) throw new AnnotationError(`${what}: ${n.s} is not a whole number`);
  const b = BigInt(n.s);
  if (b > 0x7fffffffffffffffn || b < -0x8000000000000000n) throw new AnnotationError(`${what}: ${n.s} is out of range`);
  return Number(b);
}

function decodeFloat(n: JNode, cur: number, what: string): number {
  if (n.t === 'null') return cur;
  if (n.t !== 'num') throw new AnnotationError(`${what}: cannot read a ${typeName(n)} as a number`);
  const v = Number(n.s);
  if (!Number.isFinite(v)) throw new AnnotationError(`${what}: ${n.s} is out of range`);
  return v;
}

function decodeString(n: JNode, cur: string, what: string): string {
  if (n.t === 'null') return cur;
  if (n.t !== 'str') throw new AnnotationError(`${what}: cannot read a ${typeName(n)} as a string`);
  return n.v;
}

function decodeBool(n: JNode, cur: boolean, what: string): boolean {
  if (n.t === 'null') return cur;
  if (n.t !== 'bool') throw new AnnotationError(`${what}: cannot read a ${typeName(n)} as true or false`);
  return n.v;
}

// decodeObject decodes an object into target field by field, as Go
// decodes into a struct: keys matched after folding case, unknown keys
// refused, a repeated key decoded over what the earlier one left; null
// leaves the target as it was.
function decodeObject(n: JNode, what: string, fields: Record<string, (v: JNode) => void>): void {
  if (n.t === 'null') return;
  if (n.t !== 'obj') throw new AnnotationError(`${what}: cannot read a ${typeName(n)} as an object`);
  for (const [k, v] of n.v) {
    const f = fields[fold(k)];
    if (!f) throw new AnnotationError(`${what}: unknown field ${JSON.stringify(k)}`);
    f(v);
  }
}

// GoSlice is a slice as Go's decoder sees it: elements past its length stay
// in its backing array and are decoded into again when a repeated key
// lengthens it.
interface GoSlice<T> {
  items: T[];
  len: number;
}

function decodeSlice<T>(n: JNode, cur: GoSlice<T> | null, what: string, zero: () => T, elem: (v: JNode, into: T, i: number) => void): GoSlice<T> | null {
  if (n.t === 'null') return null;
  if (n.t !== 'arr') throw new AnnotationError(`${what}: cannot read a ${typeName(n)} as a list`);
  if (n.v.length === 0) return { items: [], len: 0 };
  const s = cur ?? { items: [], len: 0 };
  n.v.forEach((v, i) => {
    if (i >= s.items.length) s.items.push(zero());
    elem(v, s.items[i], i);
  });
  s.len = n.v.length;
  return s;
}

interface RawKeyframe {
  frame: number;
  box: Rect | null;
  outside: boolean;
  occluded: boolean;
}
interface RawTrack {
  id: number;
  label: string;
  keyframes: GoSlice<RawKeyframe> | null;
}

// decodeRect is dataset.Rect's UnmarshalJSON: exactly four numbers (a null
// among them reads as 0, as Go's []float64 does).
function decodeRect(n: JNode, what: string): Rect {
  if (n.t !== 'arr') throw new AnnotationError(`${what}: cannot read a ${typeName(n)} as a box`);
  const v = n.v.map((x) => decodeFloat(x, 0, what));
  if (v.length !== 4) throw new AnnotationError(`${what}: box has ${v.length} numbers, want 4 (x, y, w, h)`);
  return v as Rect;
}

/**
 * parseAnnotation decodes a payload and checks it against schema, as
 * dataset.ParseAnnotation does; it throws an AnnotationError (or a
 * SchemaError for a bad schema) that names the field.
 */
export function parseAnnotation(data: string | Uint8Array, schema: Schema): Annotation {
  const size = typeof data === 'string' ? utf8Len(data) : data.length;
  if (size > MAX_ANNOTATION_SIZE) throw new AnnotationError(`${size} bytes, more than ${MAX_ANNOTATION_SIZE}`);
  checkSchema(schema);
  const text = typeof data === 'string' ? data : new TextDecoder('utf-8', { ignoreBOM: true }).decode(data);
  const r = new JSONReader(text);
  r.ws();
  if (r.p >= text.length) r.fail('unexpected end of JSON input');
  const root = r.value(0);
  r.ws();
  if (r.p < text.length) throw new AnnotationError('data after the object');

  const a = { format: '', version: 0, clip: '', fps: 0, width: 0, height: 0, frames: 0, schemaVersion: 0, tracks: null as GoSlice<RawTrack> | null, annotator: '', review: { state: '', reviewer: '' } };
  decodeObject(root, 'payload', {
    format: (v) => (a.format = decodeString(v, a.format, 'format')),
    version: (v) => (a.version = decodeInt(v, a.version, 'version')),
    clip: (v) => (a.clip = decodeString(v, a.clip, 'clip')),
    fps: (v) => (a.fps = decodeFloat(v, a.fps, 'fps')),
    width: (v) => (a.width = decodeInt(v, a.width, 'width')),
    height: (v) => (a.height = decodeInt(v, a.height, 'height')),
    frames: (v) => (a.frames = decodeInt(v, a.frames, 'frames')),
    schema_version: (v) => (a.schemaVersion = decodeInt(v, a.schemaVersion, 'schema_version')),
    annotator: (v) => (a.annotator = decodeString(v, a.annotator, 'annotator')),
    review: (v) =>
      decodeObject(v, 'review', {
        state: (x) => (a.review.state = decodeString(x, a.review.state, 'review state')),
        reviewer: (x) => (a.review.reviewer = decodeString(x, a.review.reviewer, 'reviewer')),
      }),
    tracks: (v) =>
      (a.tracks = decodeSlice<RawTrack>(
        v,
        a.tracks,
        'tracks',
        () => ({ id: 0, label: '', keyframes: null }),
        (tv, t, i) =>
          decodeObject(tv, `track ${i}`, {
            id: (x) => (t.id = decodeInt(x, t.id, `track ${i} id`)),
            label: (x) => (t.label = decodeString(x, t.label, `track ${i} label`)),
            keyframes: (x) =>
              (t.keyframes = decodeSlice<RawKeyframe>(
                x,
                t.keyframes,
                `track ${i} keyframes`,
                () => ({ frame: 0, box: null, outside: false, occluded: false }),
                (kv, k, j) => {
                  const what = `track ${i} keyframe ${j}`;
                  decodeObject(kv, what, {
                    frame: (y) => (k.frame = decodeInt(y, k.frame, `${what} frame`)),
                    box: (y) => (k.box = y.t === 'null' ? null : decodeRect(y, `${what} box`)),
                    outside: (y) => (k.outside = decodeBool(y, k.outside, `${what} outside`)),
                    occluded: (y) => (k.occluded = decodeBool(y, k.occluded, `${what} occluded`)),
                  });
                },
              )),
          }),
      )),
  });

  const rawTracks = a.tracks ? a.tracks.items.slice(0, a.tracks.len) : [];
  const out: Annotation = {
    format: a.format,
    version: a.version,
    clip: a.clip,
    fps: a.fps,
    width: a.width,
    height: a.height,
    frames: a.frames,
    schemaVersion: a.schemaVersion,
    annotator: a.annotator,
    review: a.review.reviewer === '' ? { state: a.review.state as State } : { state: a.review.state as State, reviewer: a.review.reviewer },
    tracks: rawTracks.map((t) => ({
      id: t.id,
      label: t.label,
      keyframes: (t.keyframes ? t.keyframes.items.slice(0, t.keyframes.len) : []).map((k) => {
        const o: Keyframe = { frame: k.frame };
        if (k.box) o.box = [...k.box] as Rect;
        if (k.outside) o.outside = true;
        if (k.occluded) o.occluded = true;
        return o;
      }),
    })),
  };
  checkAnnotation(out, schema);
  return out;
}

// checkID checks an identifier: 1 to 128 bytes of A-Z a-z 0-9 - _ . : @,
// not starting with '.'.
function checkID(what: string, id: string): string | null {
  if (id === '') return `${what} is missing`;
  const n = utf8Len(id);
  if (n > MAX_ID) return `${what} is ${n} bytes, more than ${MAX_ID}`;
  if (id[0] === '.') return `${what} ${JSON.stringify(id)} starts with '.'`;
  if (!/^[A-Za-z0-9\-_.:@]+$/.test(id)) return `${what} ${JSON.stringify(id)}: only letters, digits and - _ . : @ are allowed`;
  return null;
}

/** checkBox returns why b is not a finite, non-empty box inside a w x h frame, or null. */
export function checkBox(b: Rect, w: number, h: number): string | null {
  if (b.some((v) => !Number.isFinite(v))) return `box [${b.join(' ')}] is not finite`;
  if (b[2] <= 0 || b[3] <= 0) return `box [${b.join(' ')}] is empty`;
  if (b[0] < 0 || b[1] < 0 || b[0] + b[2] > w || b[1] + b[3] > h) return `box [${b.join(' ')}] is not inside the ${w}x${h} frame`;
  return null;
}

/** checkAnnotation throws an AnnotationError unless a is valid against schema (dataset.Annotation.Check). */
export function checkAnnotation(a: Annotation, schema: Schema): void {
  const bad = (m: string): never => {
    throw new AnnotationError(m);
  };
  if (a.format !== ANNOTATION_FORMAT) bad(`format ${JSON.stringify(a.format)}, want ${JSON.stringify(ANNOTATION_FORMAT)}`);
  if (a.version !== ANNOTATION_VERSION) bad(`version ${a.version}, this build reads ${ANNOTATION_VERSION}`);
  let e = checkID('clip', a.clip);
  if (e) bad(e);
  if (/[:@]/.test(a.clip)) bad(`clip ${JSON.stringify(a.clip)}: a clip ID names files, so only letters, digits and - _ . are allowed`);
  if (!(a.fps > 0 && a.fps <= MAX_FPS)) bad(`fps ${a.fps}: want more than 0, at most ${MAX_FPS}`);
  const int = Number.isInteger;
  if (!int(a.width) || !int(a.height) || a.width <= 0 || a.height <= 0 || a.width > MAX_SIDE || a.height > MAX_SIDE) bad(`frame size ${a.width}x${a.height}: want 1 to ${MAX_SIDE} pixels a side`);
  if (!int(a.frames) || a.frames <= 0 || a.frames > MAX_FRAMES) bad(`frames ${a.frames}: want 1 to ${MAX_FRAMES}`);
  if (a.schemaVersion !== schema.version) bad(`schema_version ${a.schemaVersion}, the schema given is version ${schema.version}`);
  e = checkID('annotator', a.annotator);
  if (e) bad(e);
  const st = a.review?.state;
  if (!STATES.includes(st)) bad(`review state ${JSON.stringify(st ?? '')}: want annotating, in_review, accepted or rejected`);
  const reviewer = a.review.reviewer ?? '';
  if (st === 'accepted' || st === 'rejected') {
    e = checkID('reviewer', reviewer);
    if (e) bad(`review ${st}: ${e}`);
  } else if (reviewer !== '') {
    e = checkID('reviewer', reviewer);
    if (e) bad(e);
  }
  if (reviewer !== '' && reviewer === a.annotator) bad(`reviewer ${JSON.stringify(reviewer)} is the annotator: an annotation is reviewed by someone else`);
  if (a.tracks.length > MAX_TRACKS) bad(`${a.tracks.length} tracks, more than ${MAX_TRACKS}`);
  const ids = new Set<number>();
  let total = 0;
  a.tracks.forEach((t, i) => {
    // Ids past 2^53-1 are refused, so the doubles compared here are exact.
    if (!int(t.id) || t.id <= 0 || t.id > MAX_TRACK_ID) bad(`track ${i}: id ${t.id}: want a positive number, at most 2^53-1`);
    if (ids.has(t.id)) bad(`track ${i}: id ${t.id} used twice`);
    ids.add(t.id);
    if (!schema.labels.includes(t.label)) bad(`track ${t.id}: label ${JSON.stringify(t.label)} is not in schema version ${schema.version} (${schema.labels.join(' ')})`);
    if (t.keyframes.length === 0) bad(`track ${t.id}: no keyframes`);
    total += t.keyframes.length;
    if (total > MAX_KEYFRAMES) bad(`more than ${MAX_KEYFRAMES} keyframes`);
    t.keyframes.forEach((k, j) => {
      if (!int(k.frame) || k.frame < 0 || k.frame >= a.frames) bad(`track ${t.id} keyframe ${j}: frame ${k.frame} outside the clip's ${a.frames} frames`);
      if (j > 0 && k.frame <= t.keyframes[j - 1].frame) bad(`track ${t.id} keyframe ${j}: frame ${k.frame} after frame ${t.keyframes[j - 1].frame}: keyframes must be in increasing frame order`);
      if (k.outside) {
        if (j === 0) bad(`track ${t.id}: the first keyframe is outside: a track starts with a box`);
        if (k.box || k.occluded) bad(`track ${t.id} frame ${k.frame}: an outside keyframe has no box and is not occluded`);
        return;
      }
      if (!k.box) bad(`track ${t.id} frame ${k.frame}: no box (a keyframe has a box unless it is outside)`);
      const be = checkBox(k.box!, a.width, a.height);
      if (be) bad(`track ${t.id} frame ${k.frame}: ${be}`);
    });
  });
}

/**
 * toJSON checks a and encodes it as dataset.Annotation.Marshal does: the
 * same fields in the same order, empty optional fields left out (for the
 * payloads the editor writes, the same bytes as Go's).
 */
export function toJSON(a: Annotation, schema: Schema): string {
  checkSchema(schema);
  checkAnnotation(a, schema);
  const review: Record<string, unknown> = { state: a.review.state };
  if (a.review.reviewer) review.reviewer = a.review.reviewer;
  // Go writes a negative zero as -0, JSON.stringify as 0: a placeholder
  // string (a NUL cannot be in any string of a valid payload) becomes -0.
  const negZero = '\u0000-0';
  const num = (v: number) => (Object.is(v, -0) ? negZero : v);
  const text = JSON.stringify({
    format: a.format,
    version: a.version,
    clip: a.clip,
    fps: a.fps,
    width: a.width,
    height: a.height,
    frames: a.frames,
    schema_version: a.schemaVersion,
    tracks: a.tracks.map((t) => ({
      id: t.id,
      label: t.label,
      keyframes: t.keyframes.map((k) => {
        const o: Record<string, unknown> = { frame: k.frame };
        if (k.box) o.box = k.box.map(num);
        if (k.outside) o.outside = true;
        if (k.occluded) o.occluded = true;
        return o;
      }),
    })),
    annotator: a.annotator,
    review,
  });
  return text.replaceAll(JSON.stringify(negZero), '-0');
}

// ---- Interpolation ---------------------------------------------------------

/** FrameBox is a track's box at one frame (dataset.Box). */
export interface FrameBox {
  track: number;
  label: string;
  x: number;
  y: number;
  w: number;
  h: number;
  /** keyframe is true when an annotator set the box at this frame, false when interpolated or held. */
  keyframe: boolean;
  /** occluded is the flag of the keyframe at or before the frame. */
  occluded: boolean;
}

/**
 * boxAt returns a track's box at frame, or null (docs/FORMAT.md,
 * "Interpolation"): none before the first keyframe; a keyframe's box at
 * its frame; between two keyframes with boxes, each of x, y, w, h moves
 * linearly, v0 + (v1 - v0) * (f - k0) / (k1 - k0); held after the last
 * keyframe and before an outside one; none from an outside keyframe to the
 * next keyframe. The arithmetic is Go's, operation for operation.
 */
export function boxAt(t: Track, frame: number): FrameBox | null {
  const ks = t.keyframes;
  let lo = 0;
  let hi = ks.length;
  while (lo < hi) {
    const m = (lo + hi) >> 1;
    if (ks[m].frame <= frame) lo = m + 1;
    else hi = m;
  }
  const i = lo - 1;
  if (i < 0) return null;
  const k0 = ks[i];
  if (k0.outside || !k0.box) return null;
  const b0 = k0.box;
  const b: FrameBox = { track: t.id, label: t.label, x: b0[0], y: b0[1], w: b0[2], h: b0[3], keyframe: k0.frame === frame, occluded: !!k0.occluded };
  if (b.keyframe || i + 1 === ks.length) return b;
  const k1 = ks[i + 1];
  if (k1.outside || !k1.box) return b;
  const b1 = k1.box;
  const f = (frame - k0.frame) / (k1.frame - k0.frame);
  const lerp = (v0: number, v1: number) => v0 + (v1 - v0) * f;
  b.x = lerp(b0[0], b1[0]);
  b.y = lerp(b0[1], b1[1]);
  b.w = lerp(b0[2], b1[2]);
  b.h = lerp(b0[3], b1[3]);
  return b;
}

/** boxes returns every track's box at frame, in track order (dataset.Annotation.Boxes). */
export function boxes(a: Annotation, frame: number): FrameBox[] {
  if (frame < 0 || frame >= a.frames) return [];
  const out: FrameBox[] = [];
  for (const t of a.tracks) {
    const b = boxAt(t, frame);
    if (b) out.push(b);
  }
  return out;
}
