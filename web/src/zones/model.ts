// Detection zones and motion masks of one camera as the member draws them
// (polygons in frame fractions: x, y in 0..1, top-left origin), and the
// labels its detection tracks and the lowest score it keeps; checked by
// the rules the hub applies to its config (internal/config and
// internal/detect/events: at least 3 points, coordinates in [0, 1], zone
// and label names of 1..64 bytes without control characters, unique zone
// names, a score in (0, 1)), and written as the camera's `detect:` block of
// the hub's YAML config, or as the JSON the hub takes over the settings
// channel of a live session (live/settings.ts).
//
// Owns: the drawing's validation, its YAML and JSON forms, and its copy in
// this browser's localStorage (keyed by household and camera). Must never:
// send the drawing anywhere itself; it leaves the browser only when the
// member copies it or the page sends it to the hub, end to end encrypted.

import type { HubDetect, HubZone } from '../live/settings';

export type Point = [number, number];

export interface Shape {
  kind: 'zone' | 'mask';
  name: string; // zones only
  labels: string; // zones only: comma-separated, '' for all
  inertia: string; // zones only: '' for the hub's default
  points: Point[];
}

// Bounds as the hub's (events.MaxZones, MaxZonePoints, MaxNameLen,
// MaxLabels, MaxInertia); masks share the zone limits here.
export const MAX_SHAPES = 64;
export const MAX_POINTS = 256;
export const MAX_NAME = 64;
export const MAX_LABELS = 128;
export const MAX_INERTIA = 100;
// MAX_OTHER is the most characters of the other-labels field kept.
export const MAX_OTHER = 16384;

// The hub's defaults (pipeline.DefaultLabels, DefaultMinScore): the common
// COCO labels offered as checkboxes, and the lowest score kept.
export const COMMON_LABELS = ['person', 'car', 'bicycle', 'motorcycle', 'truck', 'bus', 'dog', 'cat', 'bird', 'horse'];
export const DEFAULT_MIN_SCORE = 0.4;

/** Targets: what the camera's detection tracks, as the page edits it. */
export interface Targets {
  labels: string[]; // the common labels ticked, in COMMON_LABELS order
  other: string; // further labels, comma-separated
  minScore: string; // the lowest score kept, as typed
}

/** defaultTargets are the hub's defaults. */
export const defaultTargets = (): Targets => ({ labels: [...COMMON_LABELS], other: '', minScore: String(DEFAULT_MIN_SCORE) });

/** targetLabels lists the labels tracked: the ticked ones, then the others, once each. */
export function targetLabels(t: Targets): string[] {
  const ticked = COMMON_LABELS.filter((l) => t.labels.includes(l));
  return [...new Set([...ticked, ...labelList(t.other)])];
}

/** targetProblems lists what the hub would refuse in t; empty means valid. */
export function targetProblems(t: Targets): string[] {
  const out: string[] = [];
  const labels = targetLabels(t);
  if (labels.length === 0) out.push('What to detect: tick at least one label.');
  if (labels.length > MAX_LABELS) out.push(`What to detect: ${labels.length} labels, at most ${MAX_LABELS}.`);
  for (const l of labelList(t.other)) {
    const lp = nameProblem(l);
    if (lp) out.push(`What to detect: label “${l}” ${lp}.`);
  }
  const n = Number(t.minScore);
  if (t.minScore.trim() === '' || !Number.isFinite(n) || n <= 0 || n >= 1) out.push('What to detect: the minimum score must be a number between 0 and 1 (such as 0.4).');
  return out;
}

const sameLabels = (a: string[], b: string[]) => a.length === b.length && a.every((l) => b.includes(l));

const utf8 = new TextEncoder();

/** nameProblem says what the hub would refuse in a zone or label name, or ''. */
export function nameProblem(s: string): string {
  if (s === '') return 'missing: give it a name';
  if (utf8.encode(s).length > MAX_NAME) return `longer than ${MAX_NAME} bytes`;
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (c < 0x20 || c === 0x7f || c === 0xfffd || (c >= 0xd800 && c <= 0xdfff)) return 'holds a control character or invalid text';
  }
  return '';
}

/** labelList splits a zone's label field: comma-separated, trimmed. */
export function labelList(s: string): string[] {
  return s
    .split(',')
    .map((l) => l.trim())
    .filter((l) => l !== '');
}

/** round3 rounds a fraction to 3 decimals, as the YAML writes it. */
export const round3 = (v: number) => Math.round(v * 1000) / 1000;

/** clamp01 keeps a coordinate inside the frame. */
export const clamp01 = (v: number) => (v < 0 ? 0 : v > 1 ? 1 : v);

/** problems lists, per shape, what the hub would refuse; empty means valid. */
export function problems(shapes: Shape[]): string[] {
  const out: string[] = [];
  const zones = shapes.filter((s) => s.kind === 'zone');
  const masks = shapes.filter((s) => s.kind === 'mask');
  if (zones.length > MAX_SHAPES) out.push(`${zones.length} zones, at most ${MAX_SHAPES} allowed`);
  if (masks.length > MAX_SHAPES) out.push(`${masks.length} masks, at most ${MAX_SHAPES} allowed`);
  const names = new Set<string>();
  zones.forEach((z, i) => {
    const what = `Zone ${i + 1}${z.name ? ` “${z.name}”` : ''}`;
    const np = nameProblem(z.name);
    if (np) out.push(`${what}: name ${np}.`);
    else if (names.has(z.name)) out.push(`${what}: the name is used by another zone.`);
    names.add(z.name);
    const labels = labelList(z.labels);
    if (labels.length > MAX_LABELS) out.push(`${what}: ${labels.length} labels, at most ${MAX_LABELS}.`);
    for (const l of labels) {
      const lp = nameProblem(l);
      if (lp) out.push(`${what}: label “${l}” ${lp}.`);
    }
    if (z.inertia.trim() !== '') {
      const n = Number(z.inertia);
      if (!Number.isInteger(n) || n < 1 || n > MAX_INERTIA) out.push(`${what}: inertia must be a whole number of frames from 1 to ${MAX_INERTIA}.`);
    }
  });
  const kinds = { zone: 0, mask: 0 };
  for (const s of shapes) {
    const what = s.kind === 'zone' ? `Zone ${++kinds.zone}` : `Mask ${++kinds.mask}`;
    if (s.points.length < 3) out.push(`${what}: a polygon needs at least 3 points.`);
    if (s.points.length > MAX_POINTS) out.push(`${what}: ${s.points.length} points, at most ${MAX_POINTS}.`);
    for (const [x, y] of s.points) {
      const rx = round3(x);
      const ry = round3(y);
      if (!(rx >= 0 && rx <= 1 && ry >= 0 && ry <= 1)) {
        out.push(`${what}: [${x}, ${y}] is outside the frame (coordinates are fractions, 0 to 1).`);
        break;
      }
    }
  }
  return out;
}

const num = (v: number) => String(round3(v));
const poly = (pts: Point[]) => '[' + pts.map(([x, y]) => `[${num(x)}, ${num(y)}]`).join(', ') + ']';
// A JSON string is a YAML double-quoted scalar; characters YAML may read
// as line breaks or refuses unescaped (C1 controls, U+2028, U+2029, BOM)
// are written as \u escapes too.
const str = (s: string) => JSON.stringify(s).replace(/[\u007f-\u009f\u2028\u2029\ufeff]/g, (c) => '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0'));

/**
 * toYAML writes the camera's detect block for the hub's config, indented
 * for a camera entry's keys: "detect:" with "labels:" and "min_score:"
 * (when they are not the hub's defaults), "mask:" and "events: zones:".
 */
export function toYAML(shapes: Shape[], t: Targets = defaultTargets()): string {
  const masks = shapes.filter((s) => s.kind === 'mask');
  const zones = shapes.filter((s) => s.kind === 'zone');
  const lines = ['detect:'];
  const labels = targetLabels(t);
  if (!sameLabels(labels, COMMON_LABELS)) lines.push(`  labels: [${labels.map(str).join(', ')}]`);
  const score = Number(t.minScore);
  if (Number.isFinite(score) && score !== DEFAULT_MIN_SCORE) lines.push(`  min_score: ${score}`);
  if (masks.length) {
    lines.push('  mask:');
    for (const m of masks) lines.push(`    - ${poly(m.points)}`);
  }
  if (zones.length) {
    lines.push('  events:', '    zones:');
    for (const z of zones) {
      lines.push(`      - name: ${str(z.name)}`, `        points: ${poly(z.points)}`);
      const labels = labelList(z.labels);
      if (labels.length) lines.push(`        labels: [${labels.map(str).join(', ')}]`);
      if (z.inertia.trim() !== '') lines.push(`        inertia: ${Number(z.inertia)}`);
    }
  }
  if (lines.length === 1) lines[0] = 'detect: {}';
  return lines.join('\n') + '\n';
}

const storeKey = (hh: string, cam: string) => `vigil.zones.${hh}.${cam}`;
// The most bytes of a stored drawing read back.
const MAX_STORED = 512 * 1024;

/** save keeps the drawing and the targets in this browser. */
export function save(hh: string, cam: string, shapes: Shape[], targets: Targets): void {
  try {
    localStorage.setItem(storeKey(hh, cam), JSON.stringify({ v: 1, shapes, targets }));
  } catch {
    /* storage full or off: the drawing lives in the page only */
  }
}

/**
 * load reads the stored drawing and targets back, keeping only well-formed
 * shapes; targets not stored (or malformed) are the hub's defaults.
 */
export function load(hh: string, cam: string): { shapes: Shape[]; targets: Targets } {
  const none = { shapes: [], targets: defaultTargets() };
  let raw: string | null = null;
  try {
    raw = localStorage.getItem(storeKey(hh, cam));
  } catch {
    return none;
  }
  if (!raw || raw.length > MAX_STORED) return none;
  let j: unknown;
  try {
    j = JSON.parse(raw);
  } catch {
    return none;
  }
  const list = (j as { v?: unknown; shapes?: unknown })?.shapes;
  if ((j as { v?: unknown })?.v !== 1 || !Array.isArray(list)) return none;
  return { shapes: loadShapes(list), targets: loadTargets((j as { targets?: unknown }).targets) };
}

function loadTargets(v: unknown): Targets {
  const t = defaultTargets();
  if (typeof v !== 'object' || v === null) return t;
  const o = v as Record<string, unknown>;
  if (Array.isArray(o.labels)) t.labels = COMMON_LABELS.filter((l) => (o.labels as unknown[]).includes(l));
  if (typeof o.other === 'string') t.other = o.other.slice(0, MAX_OTHER);
  if (typeof o.minScore === 'string') t.minScore = o.minScore.slice(0, 32);
  return t;
}

function loadShapes(list: unknown[]): Shape[] {
  const out: Shape[] = [];
  for (const s of list.slice(0, 2 * MAX_SHAPES)) {
    if (typeof s !== 'object' || s === null) continue;
    const o = s as Record<string, unknown>;
    if ((o.kind !== 'zone' && o.kind !== 'mask') || !Array.isArray(o.points)) continue;
    const points: Point[] = [];
    for (const p of o.points.slice(0, MAX_POINTS)) {
      if (Array.isArray(p) && p.length === 2 && Number.isFinite(p[0]) && Number.isFinite(p[1])) points.push([clamp01(p[0]), clamp01(p[1])]);
    }
    const text = (v: unknown) => (typeof v === 'string' ? v.slice(0, 4096) : '');
    out.push({ kind: o.kind, name: text(o.name), labels: text(o.labels), inertia: text(o.inertia), points });
  }
  return out;
}

/** uniqueName is the first of "zone-1", "zone-2", ... no zone uses. */
export function uniqueName(shapes: Shape[]): string {
  const used = new Set(shapes.filter((s) => s.kind === 'zone').map((s) => s.name));
  for (let i = 1; ; i++) if (!used.has(`zone-${i}`)) return `zone-${i}`;
}

/**
 * toHub writes the drawing and targets as the hub's settings JSON:
 * coordinates rounded as the YAML writes them, zone labels and inertia
 * left out when empty, as toYAML does; the labels tracked and the minimum
 * score always (what the page shows is what the hub uses).
 */
export function toHub(shapes: Shape[], t: Targets): HubDetect {
  const pts = (ps: Point[]): Point[] => ps.map(([x, y]) => [round3(x), round3(y)]);
  const zones: HubZone[] = shapes
    .filter((s) => s.kind === 'zone')
    .map((z) => {
      const out: HubZone = { name: z.name, points: pts(z.points) };
      const labels = labelList(z.labels);
      if (labels.length) out.labels = labels;
      if (z.inertia.trim() !== '') out.inertia = Number(z.inertia);
      return out;
    });
  return { mask: shapes.filter((s) => s.kind === 'mask').map((m) => pts(m.points)), zones, labels: targetLabels(t), min_score: Number(t.minScore) };
}

/** fromHub turns the hub's settings back into shapes: masks first, then zones. */
export function fromHub(d: HubDetect): Shape[] {
  const pts = (ps: Point[]): Point[] => ps.slice(0, MAX_POINTS).map(([x, y]) => [clamp01(x), clamp01(y)]);
  return [
    ...d.mask.slice(0, MAX_SHAPES).map((m): Shape => ({ kind: 'mask', name: '', labels: '', inertia: '', points: pts(m) })),
    ...d.zones.slice(0, MAX_SHAPES).map(
      (z): Shape => ({ kind: 'zone', name: z.name, labels: (z.labels ?? []).join(', '), inertia: z.inertia ? String(z.inertia) : '', points: pts(z.points) }),
    ),
  ];
}

/**
 * targetsFromHub reads what the hub's detection tracks: the common labels
 * as ticks, the rest as other labels; the hub's defaults where it says
 * nothing.
 */
export function targetsFromHub(d: HubDetect): Targets {
  const t = defaultTargets();
  const labels = (d.labels ?? []).slice(0, MAX_LABELS);
  if (labels.length) {
    t.labels = COMMON_LABELS.filter((l) => labels.includes(l));
    t.other = labels.filter((l) => !COMMON_LABELS.includes(l)).join(', ');
  }
  if (d.min_score) t.minScore = String(d.min_score);
  return t;
}
