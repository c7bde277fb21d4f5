// The polygon editor over a camera frame: an SVG laid over the image whose
// user space is the image's pixels, so points are kept as frame fractions
// and drawn without distortion. Click to add a point, click the first point
// or press Enter to close the polygon, Backspace removes the last point,
// Escape drops the polygon being drawn; a vertex is dragged to move it.
// Zones are drawn filled with their names, masks hatched.

import { clamp01, uniqueName, type Point, type Shape } from './model';

const NS = 'http://www.w3.org/2000/svg';

function s<K extends keyof SVGElementTagNameMap>(tag: K, attrs: Record<string, string | number> = {}, ...children: (Node | string)[]): SVGElementTagNameMap[K] {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  el.append(...children);
  return el;
}

interface Grab {
  shape: number; // index in shapes, or -1 for the polygon being drawn
  point: number;
  moved: boolean;
  x: number;
  y: number;
}

// Pixels a pointer may travel and still be a click.
const SLOP = 4;

export class Editor {
  readonly svg: SVGSVGElement;
  shapes: Shape[];
  draft: Point[] | null = null;
  drawKind: 'zone' | 'mask' = 'zone';
  private w = 1600;
  private h = 900;
  private grab: Grab | null = null;
  private add: { x: number; y: number } | null = null;

  /** onChange runs after shapes change (not on every drag step). */
  constructor(
    shapes: Shape[],
    private onChange: (structural: boolean) => void,
  ) {
    this.shapes = shapes;
    this.svg = s('svg', { id: 'zn-svg', class: 'zn-svg', preserveAspectRatio: 'none', tabindex: 0, role: 'img', 'aria-label': 'zones and masks drawn over the camera frame' });
    this.setSize(1600, 900);
    this.svg.addEventListener('pointerdown', (e) => this.down(e));
    this.svg.addEventListener('pointermove', (e) => this.move(e));
    this.svg.addEventListener('pointerup', (e) => this.up(e));
    this.svg.addEventListener('pointercancel', () => {
      this.grab = null;
      this.add = null;
    });
  }

  /** setSize sets the frame's pixel size (the drawing's user space). */
  setSize(w: number, h: number): void {
    this.w = w;
    this.h = h;
    this.svg.setAttribute('viewBox', `0 0 ${w} ${h}`);
    this.render();
  }

  /** key handles the editor's keys; it reports whether it used the key. */
  key(e: KeyboardEvent): boolean {
    if (!this.draft) return false;
    switch (e.key) {
      case 'Enter':
        this.close();
        return true;
      case 'Backspace':
        this.draft.pop();
        if (this.draft.length === 0) this.draft = null;
        this.render();
        this.onChange(false);
        return true;
      case 'Escape':
        this.draft = null;
        this.render();
        this.onChange(false);
        return true;
    }
    return false;
  }

  /** close ends the polygon being drawn, if it has 3 points. */
  close(): void {
    if (!this.draft || this.draft.length < 3) return;
    const kind = this.drawKind;
    this.shapes.push({ kind, name: kind === 'zone' ? uniqueName(this.shapes) : '', labels: '', inertia: '', points: this.draft });
    this.draft = null;
    this.render();
    this.onChange(true);
  }

  private at(e: PointerEvent): Point {
    const r = this.svg.getBoundingClientRect();
    return [clamp01((e.clientX - r.left) / (r.width || 1)), clamp01((e.clientY - r.top) / (r.height || 1))];
  }

  private down(e: PointerEvent): void {
    if (e.button !== 0) return;
    const handle = (e.target as Element).closest?.('.zn-handle');
    if (handle instanceof SVGElement) {
      this.grab = { shape: Number(handle.dataset.shape), point: Number(handle.dataset.point), moved: false, x: e.clientX, y: e.clientY };
      this.svg.setPointerCapture(e.pointerId);
    } else this.add = { x: e.clientX, y: e.clientY };
    e.preventDefault();
    this.svg.focus();
  }

  private points(shape: number): Point[] | undefined {
    return shape < 0 ? (this.draft ?? undefined) : this.shapes[shape]?.points;
  }

  private move(e: PointerEvent): void {
    const g = this.grab;
    if (!g) return;
    if (!g.moved && Math.hypot(e.clientX - g.x, e.clientY - g.y) < SLOP) return;
    g.moved = true;
    const pts = this.points(g.shape);
    if (!pts || !pts[g.point]) return;
    pts[g.point] = this.at(e);
    this.render();
  }

  private up(e: PointerEvent): void {
    const g = this.grab;
    const a = this.add;
    this.grab = null;
    this.add = null;
    if (g) {
      if (this.svg.hasPointerCapture(e.pointerId)) this.svg.releasePointerCapture(e.pointerId);
      if (g.moved) {
        const pts = this.points(g.shape);
        if (pts && pts[g.point]) pts[g.point] = this.at(e);
        this.render();
        this.onChange(false);
      } else if (g.shape === -1 && g.point === 0) this.close();
      return;
    }
    if (a && Math.hypot(e.clientX - a.x, e.clientY - a.y) < SLOP) {
      (this.draft ??= []).push(this.at(e));
      this.render();
      this.onChange(false);
    }
  }

  /** render redraws the shapes, the polygon being drawn and the handles. */
  render(): void {
    const { w, h } = this;
    const unit = Math.max(w, h);
    const px = (p: Point) => `${p[0] * w},${p[1] * h}`;
    const hatch = unit / 90;
    const defs = s(
      'defs',
      {},
      s('pattern', { id: 'zn-hatch', patternUnits: 'userSpaceOnUse', width: hatch, height: hatch, patternTransform: 'rotate(45)' }, s('rect', { class: 'zn-hatch-bg', width: hatch, height: hatch }), s('line', { class: 'zn-hatch-line', x1: 0, y1: 0, x2: 0, y2: hatch, 'stroke-width': hatch / 2.5 })),
    );
    const layers: SVGElement[] = [defs];
    const handles: SVGElement[] = [];
    const r = unit / 140;
    const handle = (shape: number, i: number, p: Point, cls: string) =>
      handles.push(s('circle', { class: `zn-handle ${cls}`, cx: p[0] * w, cy: p[1] * h, r, 'data-shape': shape, 'data-point': i }));
    let zn = 0;
    let mk = 0;
    this.shapes.forEach((sh, i) => {
      const pts = sh.points.map(px).join(' ');
      if (sh.kind === 'mask') {
        layers.push(s('polygon', { class: 'zn-mask', points: pts, fill: 'url(#zn-hatch)', 'data-index': ++mk }));
      } else {
        zn++;
        const g = s('g', { class: 'zn-zone', 'data-name': sh.name }, s('polygon', { points: pts }));
        if (sh.points.length) {
          const [x, y] = sh.points[0];
          g.append(s('text', { class: 'zn-zone-name', x: x * w + r * 1.5, y: y * h - r * 1.5, 'font-size': unit / 45 }, sh.name || `zone ${zn}`));
        }
        layers.push(g);
      }
      sh.points.forEach((p, j) => handle(i, j, p, sh.kind === 'zone' ? 'zn-handle-zone' : 'zn-handle-mask'));
    });
    if (this.draft) {
      layers.push(s('polyline', { class: `zn-draft zn-draft-${this.drawKind}`, points: this.draft.map(px).join(' ') }));
      this.draft.forEach((p, j) => handle(-1, j, p, j === 0 ? 'zn-handle-draft zn-first' : 'zn-handle-draft'));
    }
    this.svg.replaceChildren(...layers, ...handles);
    this.svg.dataset.shapes = String(this.shapes.length);
    this.svg.dataset.draft = String(this.draft?.length ?? 0);
  }
}
