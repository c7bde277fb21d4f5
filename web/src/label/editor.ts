// The annotation editor of the labelling workspace: a donated clip (an
// object URL of the redacted MP4 the page opened) with a canvas over it on
// which an annotator draws tracks of boxes at keyframes, and a reviewer
// accepts the result or sends it back. The annotator and reviewer pages
// mount it; it emits the payload (docs/FORMAT.md, "Annotation payload,
// version 1") as DOM events and does nothing else with it.
//
// Frames. Frame K (decode order, as ffmpeg's select='eq(n\,K)') is shown
// by seeking to (K + 0.5) / fps: the middle of the frame's display
// interval, so a container timescale that does not hold 1/fps exactly, or
// a start offset under half a frame, still lands on frame K (seeking to
// K / fps sits on the boundary, where a rounding error shows frame K-1).
// Where the browser has requestVideoFrameCallback, the frame actually
// presented is read back from its mediaTime (data-shown-frame); if it is
// not K the editor seeks once more, corrected by the difference.
//
// Editing. Dragging on an empty part of the frame draws a box: it becomes
// a keyframe of the selected track when that track has no box at this
// frame (it comes back into view), else a new track with the label chosen
// in "Label". Dragging a box moves it, dragging a corner of the selected
// box resizes it; either makes (or replaces) a keyframe at this frame.
// Keyframes are drawn solid, interpolated and held boxes dashed (the
// interpolation is annotation.ts's, the same as Go's). Keys: , and . step
// one frame, with Shift ten; the arrow keys move the selected box one
// pixel (Shift: ten) when the frame has the focus; Delete removes the
// selected track's keyframe at this frame; Escape clears the selection.
//
// Owns: the editing state of one payload while the page shows it. Must
// never: do network I/O, store the payload or frames anywhere, or put text
// from the payload into HTML (only textContent).

import { h } from '../ui';
import { boxAt, canMove, checkSchema, toJSON, type Annotation, type FrameBox, type Keyframe, type Rect, type Schema, type State, type Track } from './annotation';
import './editor.css';

export interface EditorOptions {
  /** src is the clip's URL (an object URL of the opened, redacted MP4). */
  src: string;
  clip: string;
  fps: number;
  width: number;
  height: number;
  frames: number;
  schema: Schema;
  /** mode: 'annotate' edits; 'review' shows read-only boxes with Accept and Send back. */
  mode: 'annotate' | 'review';
  /** user is the annotator's name (annotate) or the reviewer's (review), as the page knows it. */
  user: string;
  /** payload is the clip's existing annotation, if any (already parsed with parseAnnotation). */
  payload?: Annotation;
}

/** The events the editor dispatches on its element; detail is an AnnotationEventDetail. */
export const EVENT_CHANGE = 'annotation-change';
export const EVENT_SUBMIT = 'annotation-submit';
export const EVENT_REVIEW = 'annotation-review';

export interface AnnotationEventDetail {
  annotation: Annotation;
  /** json is the payload as toJSON writes it (empty on a change that left it invalid). */
  json: string;
}

type Drag =
  | { kind: 'draw'; x0: number; y0: number; box: Rect | null }
  | { kind: 'move'; track: number; start: Rect; x0: number; y0: number; box: Rect }
  | { kind: 'resize'; track: number; start: Rect; corner: number; box: Rect };

// Distance (CSS pixels) within which a pointer grabs a corner handle.
const HANDLE = 9;
// Smallest box (clip pixels) a drag draws; a shorter drag is a click.
const MIN_SIDE = 3;
const COLOURS = ['#f4d03f', '#5dade2', '#58d68d', '#ec7063', '#af7ac5', '#f0b27a'];

const round1 = (v: number) => Math.round(v * 10) / 10;
const clone = (a: Annotation): Annotation => structuredClone(a);

export class AnnotationEditor {
  readonly el: HTMLElement;
  private readonly o: EditorOptions;
  private a: Annotation;
  private cur = 0;
  private selected: number | null = null;
  private drag: Drag | null = null;
  private seekSeq = 0;
  private seeks: Promise<unknown> = Promise.resolve();
  private readonly video: HTMLVideoElement;
  private readonly canvas: HTMLCanvasElement;
  private readonly ctx: CanvasRenderingContext2D;
  private readonly scrub: HTMLInputElement;
  private readonly frameText: HTMLElement;
  private readonly labelSel: HTMLSelectElement;
  private readonly list: HTMLUListElement;
  private readonly status: HTMLElement;
  private readonly stateChip: HTMLElement;
  private readonly tools: Record<'outside' | 'occluded' | 'delKey' | 'delTrack' | 'submit' | 'accept' | 'sendBack', HTMLButtonElement>;
  private readonly ready: Promise<void>;
  private readonly resize: ResizeObserver;

  constructor(opts: EditorOptions) {
    checkSchema(opts.schema);
    this.o = opts;
    const p = opts.payload;
    if (p && (p.clip !== opts.clip || p.width !== opts.width || p.height !== opts.height || p.frames !== opts.frames || p.fps !== opts.fps))
      throw new Error(`the annotation is of clip ${p.clip} (${p.width}x${p.height}, ${p.frames} frames at ${p.fps} fps), not of the clip shown: open the clip it was made for`);
    if (p && p.schemaVersion !== opts.schema.version) throw new Error(`the annotation uses label schema version ${p.schemaVersion}; this page has version ${opts.schema.version}`);
    this.a = p
      ? clone(p)
      : { format: 'vigil-annotation', version: 1, clip: opts.clip, fps: opts.fps, width: opts.width, height: opts.height, frames: opts.frames, schemaVersion: opts.schema.version, tracks: [], annotator: opts.user, review: { state: 'annotating' } };

    this.video = h('video', { class: 'an-video', muted: true, playsinline: true, preload: 'auto', 'aria-hidden': 'true' });
    this.video.muted = true;
    this.video.src = opts.src;
    this.canvas = h('canvas', { class: 'an-canvas', width: opts.width, height: opts.height, tabindex: 0, role: 'img', 'aria-label': 'The clip frame with its boxes: drag to draw or move a box; arrow keys move the selected box' });
    this.ctx = this.canvas.getContext('2d')!;
    // Styles are set through the CSSOM: the app's CSP (style-src 'self') refuses style attributes.
    const stage = h('div', { class: 'an-stage' }, this.video, this.canvas);
    stage.style.aspectRatio = `${opts.width} / ${opts.height}`;

    // A button's accessible name is its text, or label where the text is a
    // symbol; title gives the longer help (and the key) on hover.
    const btn = (label: string, text: string, onclick: () => void, cls = 'secondary', id?: string, help = label) =>
      h('button', { type: 'button', class: cls, 'aria-label': /\p{L}/u.test(text) ? undefined : label, title: help, id, onclick }, text);
    this.scrub = h('input', { type: 'range', class: 'an-scrub', min: 0, max: opts.frames - 1, step: 1, value: 0, 'aria-label': 'Frame' });
    this.scrub.addEventListener('input', () => void this.seek(Number(this.scrub.value)));
    this.frameText = h('span', { class: 'an-frame mono', 'aria-live': 'polite' });
    const nav = h(
      'div',
      { class: 'an-nav row' },
      btn('Back 10 frames', '−10', () => void this.step(-10), 'secondary', 'an-back10', 'Back 10 frames (Shift+,)'),
      btn('Previous frame (,)', '‹ Previous', () => void this.step(-1), 'secondary', 'an-prev'),
      btn('Next frame (.)', 'Next ›', () => void this.step(1), 'secondary', 'an-next'),
      btn('Forward 10 frames', '+10', () => void this.step(10), 'secondary', 'an-fwd10', 'Forward 10 frames (Shift+.)'),
      this.frameText,
      this.scrub,
    );

    this.labelSel = h('select', { id: 'an-label', 'aria-label': 'Label of a new track' }, ...opts.schema.labels.map((l) => h('option', { value: l }, l)));
    this.tools = {
      outside: btn('Leaves view here: the selected track is out of the frame from this frame on', 'Leaves view', () => this.markOutside(), 'secondary', 'an-outside'),
      occluded: btn('Occluded at this frame: the object is mostly hidden or cut off', 'Occluded', () => this.toggleOccluded(), 'secondary', 'an-occluded'),
      delKey: btn('Delete the selected track’s keyframe at this frame (Delete)', 'Delete keyframe', () => this.deleteKeyframe(), 'secondary', 'an-del-key'),
      delTrack: btn('Delete the selected track', 'Delete track', () => this.deleteTrack(), 'danger', 'an-del-track'),
      submit: btn('Submit for review', 'Submit for review', () => this.submit(), '', 'an-submit'),
      accept: btn('Accept this annotation', 'Accept', () => this.review('accepted'), '', 'an-accept'),
      sendBack: btn('Send back to the annotator', 'Send back', () => this.review('rejected'), 'danger', 'an-send-back'),
    };
    this.tools.occluded.setAttribute('aria-pressed', 'false');
    const editTools = h('div', { class: 'an-tools row' }, h('label', { class: 'an-label-field' }, h('span', {}, 'Label'), this.labelSel), this.tools.outside, this.tools.occluded, this.tools.delKey, this.tools.delTrack);
    editTools.hidden = opts.mode !== 'annotate';

    this.list = h('ul', { class: 'list an-tracks', 'aria-label': 'Tracks' });
    this.status = h('p', { class: 'an-status', role: 'status' });
    this.stateChip = h('span', { class: 'chip', id: 'an-state' });
    const actions = h('div', { class: 'an-actions row' }, this.stateChip, h('span', { class: 'grow' }), ...(opts.mode === 'annotate' ? [this.tools.submit] : [this.tools.accept, this.tools.sendBack]));

    this.el = h(
      'section',
      { class: 'an-editor', tabindex: -1, 'aria-label': opts.mode === 'annotate' ? 'Annotation editor' : 'Annotation review', 'data-mode': opts.mode },
      stage,
      nav,
      editTools,
      h('div', { class: 'an-side' }, h('h3', {}, 'Tracks'), this.list),
      actions,
      this.status,
    );
    this.el.addEventListener('keydown', (e) => this.key(e));
    this.canvas.addEventListener('pointerdown', (e) => this.down(e));
    this.canvas.addEventListener('pointermove', (e) => this.move(e));
    this.canvas.addEventListener('pointerup', (e) => this.up(e));
    this.canvas.addEventListener('pointercancel', () => {
      this.drag = null;
      this.render();
    });

    // Lines and labels keep their on-screen size when the stage is resized.
    this.resize = new ResizeObserver(() => this.draw());
    this.resize.observe(this.canvas);
    this.ready = new Promise<void>((resolve, reject) => {
      if (this.video.readyState >= 2) resolve();
      this.video.addEventListener('loadeddata', () => resolve(), { once: true });
      this.video.addEventListener('error', () => reject(new Error('the clip cannot be played in this browser')), { once: true });
    });
    this.ready.then(
      () => this.seek(0),
      (e: Error) => this.say(e.message, true),
    );
    this.render();
  }

  /** frame is the frame shown. */
  get frame(): number {
    return this.cur;
  }

  /** annotation returns a copy of the payload as it stands. */
  annotation(): Annotation {
    return clone(this.a);
  }

  /** close stops the video; the page revokes the object URL. */
  close(): void {
    this.resize.disconnect();
    this.video.pause();
    this.video.removeAttribute('src');
    this.video.load();
  }

  /** step moves by n frames (clamped to the clip). */
  step(n: number): Promise<number> {
    return this.seek(this.cur + n);
  }

  /**
   * seek shows frame f and resolves with the frame the browser reports it
   * presented (f where it cannot tell). Overlapping seeks: only the last
   * one's result is shown.
   */
  async seek(f: number): Promise<number> {
    f = Math.max(0, Math.min(this.o.frames - 1, Math.round(f)));
    const seq = ++this.seekSeq;
    this.cur = f;
    this.drag = null;
    this.el.dataset.frame = String(f);
    delete this.el.dataset.shownFrame;
    this.render();
    // Seeks run one after another, and one overtaken by a later seek is
    // skipped: a frame presented for an earlier seek must never be taken
    // for this one's.
    const run = this.seeks.then(async () => {
      if (seq !== this.seekSeq) return null;
      try {
        await this.ready;
      } catch {
        return null; // the clip cannot be played: the status says so
      }
      let shown = await this.seekTo((f + 0.5) / this.o.fps);
      if (shown !== null && shown !== f && seq === this.seekSeq) shown = await this.seekTo((f + 0.5 + (f - shown)) / this.o.fps);
      if (seq === this.seekSeq) {
        this.el.dataset.shownFrame = String(shown ?? f);
        this.render();
      }
      return shown;
    });
    this.seeks = run.catch(() => null);
    return (await run) ?? f;
  }

  // seekTo sets currentTime and resolves once the seek is done with the
  // frame requestVideoFrameCallback says was presented, or null.
  private seekTo(t: number): Promise<number | null> {
    const v = this.video;
    return new Promise((resolve) => {
      let settled = false;
      const finish = (n: number | null) => {
        if (!settled) {
          settled = true;
          resolve(n);
        }
      };
      const hasRVFC = typeof (v as { requestVideoFrameCallback?: unknown }).requestVideoFrameCallback === 'function';
      if (hasRVFC) {
        v.requestVideoFrameCallback((_now, md) => finish(Math.round(md.mediaTime * this.o.fps)));
        // A seek to the frame already presented presents nothing new.
        v.addEventListener('seeked', () => window.setTimeout(() => finish(null), 500), { once: true });
      } else v.addEventListener('seeked', () => finish(null), { once: true });
      v.currentTime = Math.min(t, Math.max(0, (v.duration || Infinity) - 1e-3));
    });
  }

  private editable(): boolean {
    return this.o.mode === 'annotate' && this.a.review.state !== 'accepted';
  }

  private track(id: number | null): Track | undefined {
    return id === null ? undefined : this.a.tracks.find((t) => t.id === id);
  }

  private say(msg: string, bad = false): void {
    this.status.textContent = msg;
    this.status.classList.toggle('error', bad);
  }

  // changed records an edit: a payload under review or sent back returns
  // to annotating (a new round of review), then the page hears of it.
  private changed(): void {
    const st = this.a.review.state;
    if (st !== 'annotating' && canMove(st, 'annotating')) this.a.review = { state: 'annotating' };
    this.render();
    let json = '';
    try {
      json = toJSON(this.a, this.o.schema);
    } catch {
      /* an edit in progress may not be a valid payload yet; submit says why */
    }
    this.el.dispatchEvent(new CustomEvent<AnnotationEventDetail>(EVENT_CHANGE, { detail: { annotation: this.annotation(), json } }));
  }

  // setKey puts k into t's keyframes at its frame, replacing one there.
  private setKey(t: Track, k: Keyframe): void {
    const i = t.keyframes.findIndex((x) => x.frame >= k.frame);
    if (i < 0) t.keyframes.push(k);
    else if (t.keyframes[i].frame === k.frame) t.keyframes[i] = k;
    else t.keyframes.splice(i, 0, k);
  }

  private clampBox(b: Rect): Rect {
    const W = this.o.width;
    const H = this.o.height;
    let [x, y, w, hh] = b;
    w = Math.min(Math.max(w, MIN_SIDE), W);
    hh = Math.min(Math.max(hh, MIN_SIDE), H);
    x = Math.min(Math.max(x, 0), W - w);
    y = Math.min(Math.max(y, 0), H - hh);
    return [round1(x), round1(y), round1(Math.min(w, W - round1(x))), round1(Math.min(hh, H - round1(y)))];
  }

  private markOutside(): void {
    const t = this.track(this.selected);
    if (!t) return this.say('Select a track first.', true);
    if (t.keyframes[0].frame >= this.cur) return this.say('A track starts with a box: it can leave view only after its first keyframe.', true);
    this.setKey(t, { frame: this.cur, outside: true });
    this.say(`Track ${t.id} leaves view at frame ${this.cur}.`);
    this.changed();
  }

  private toggleOccluded(): void {
    const t = this.track(this.selected);
    if (!t) return this.say('Select a track first.', true);
    const b = boxAt(t, this.cur);
    if (!b) return this.say(`Track ${t.id} is not in view at this frame.`, true);
    const k = t.keyframes.find((x) => x.frame === this.cur);
    const occluded = !b.occluded;
    const next: Keyframe = { frame: this.cur, box: k?.box ?? this.clampBox([b.x, b.y, b.w, b.h]) };
    if (occluded) next.occluded = true;
    this.setKey(t, next);
    this.say(`Track ${t.id} ${occluded ? 'occluded' : 'visible'} from frame ${this.cur}.`);
    this.changed();
  }

  private deleteKeyframe(): void {
    const t = this.track(this.selected);
    if (!t) return this.say('Select a track first.', true);
    const i = t.keyframes.findIndex((x) => x.frame === this.cur);
    if (i < 0) return this.say(`Track ${t.id} has no keyframe at frame ${this.cur}.`, true);
    t.keyframes.splice(i, 1);
    while (t.keyframes.length > 0 && t.keyframes[0].outside) t.keyframes.shift();
    if (t.keyframes.length === 0) {
      this.a.tracks = this.a.tracks.filter((x) => x !== t);
      this.selected = null;
      this.say(`Track ${t.id} had no keyframe left and is deleted.`);
    } else this.say(`Keyframe at frame ${this.cur} of track ${t.id} deleted.`);
    this.changed();
  }

  private deleteTrack(): void {
    const t = this.track(this.selected);
    if (!t) return this.say('Select a track first.', true);
    this.a.tracks = this.a.tracks.filter((x) => x !== t);
    this.selected = null;
    this.say(`Track ${t.id} deleted.`);
    this.changed();
  }

  private emit(type: string): AnnotationEventDetail | null {
    let json: string;
    try {
      json = toJSON(this.a, this.o.schema);
    } catch (e) {
      this.say((e as Error).message, true);
      return null;
    }
    const detail = { annotation: this.annotation(), json };
    this.el.dispatchEvent(new CustomEvent<AnnotationEventDetail>(type, { detail }));
    return detail;
  }

  private submit(): void {
    if (this.a.tracks.length === 0) return this.say('Draw at least one box before submitting.', true);
    const before = this.a.review;
    if (before.state === 'rejected') this.a.review = { state: 'annotating' };
    if (!canMove(this.a.review.state, 'in_review')) return this.say(`An annotation that is ${before.state.replace('_', ' ')} cannot be submitted.`, true);
    this.a.review = { state: 'in_review' };
    if (!this.emit(EVENT_SUBMIT)) {
      this.a.review = before;
      return;
    }
    this.say('Submitted for review.');
    this.render();
  }

  private review(next: State): void {
    if (this.o.user === this.a.annotator) return this.say('You annotated this clip: someone else reviews it.', true);
    if (!canMove(this.a.review.state, next)) return this.say(`An annotation that is ${this.a.review.state.replace('_', ' ')} cannot be ${next}.`, true);
    const before = this.a.review;
    this.a.review = { state: next, reviewer: this.o.user };
    if (!this.emit(EVENT_REVIEW)) {
      this.a.review = before;
      return;
    }
    this.say(next === 'accepted' ? 'Accepted.' : 'Sent back to the annotator.');
    this.render();
  }

  private key(e: KeyboardEvent): void {
    const tgt = e.target as HTMLElement;
    if (tgt instanceof HTMLSelectElement || (tgt instanceof HTMLInputElement && tgt.type !== 'range') || e.ctrlKey || e.metaKey || e.altKey) return;
    let used = true;
    if (e.code === 'Comma' || e.key === ',' || e.key === '<') void this.step(e.shiftKey || e.key === '<' ? -10 : -1);
    else if (e.code === 'Period' || e.key === '.' || e.key === '>') void this.step(e.shiftKey || e.key === '>' ? 10 : 1);
    else if ((e.key === 'Delete' || e.key === 'Backspace') && this.editable()) this.deleteKeyframe();
    else if (e.key.startsWith('Arrow') && tgt === this.canvas && this.editable() && this.selected !== null) {
      const n = e.shiftKey ? 10 : 1;
      const d = { ArrowLeft: [-n, 0], ArrowRight: [n, 0], ArrowUp: [0, -n], ArrowDown: [0, n] }[e.key];
      if (d) this.nudge(d[0], d[1]);
    }
    else if (e.key === 'Escape') {
      this.selected = null;
      this.drag = null;
      this.render();
    } else used = false;
    if (used) e.preventDefault();
  }

  // nudge moves the selected track's box at this frame by dx, dy clip
  // pixels, making a keyframe (the keyboard's way to place a box).
  private nudge(dx: number, dy: number): void {
    const t = this.track(this.selected);
    const b = t && boxAt(t, this.cur);
    if (!t || !b) return this.say('The selected track is not in view at this frame.', true);
    const k: Keyframe = { frame: this.cur, box: this.clampBox([b.x + dx, b.y + dy, b.w, b.h]) };
    if (b.occluded) k.occluded = true;
    this.setKey(t, k);
    this.say(`Keyframe at frame ${this.cur} of track ${t.id}.`);
    this.changed();
  }

  // at converts a pointer position to clip pixels; scale is clip pixels per CSS pixel.
  private at(e: PointerEvent): { x: number; y: number; scale: number } {
    const r = this.canvas.getBoundingClientRect();
    const scale = this.o.width / (r.width || 1);
    const x = Math.min(Math.max((e.clientX - r.left) * scale, 0), this.o.width);
    const y = Math.min(Math.max((e.clientY - r.top) * (this.o.height / (r.height || 1)), 0), this.o.height);
    return { x, y, scale };
  }

  private boxesHere(): FrameBox[] {
    const out: FrameBox[] = [];
    for (const t of this.a.tracks) {
      const b = boxAt(t, this.cur);
      if (b) out.push(b);
    }
    return out;
  }

  private down(e: PointerEvent): void {
    if (e.button !== 0) return;
    this.canvas.focus();
    e.preventDefault();
    const p = this.at(e);
    const here = this.boxesHere();
    const sel = here.find((b) => b.track === this.selected);
    if (sel && this.editable()) {
      const corners: [number, number][] = [[sel.x, sel.y], [sel.x + sel.w, sel.y], [sel.x, sel.y + sel.h], [sel.x + sel.w, sel.y + sel.h]];
      const c = corners.findIndex(([cx, cy]) => Math.hypot(cx - p.x, cy - p.y) <= HANDLE * p.scale);
      if (c >= 0) {
        const start: Rect = [sel.x, sel.y, sel.w, sel.h];
        this.drag = { kind: 'resize', track: sel.track, start, corner: c, box: start };
        this.canvas.setPointerCapture(e.pointerId);
        return;
      }
    }
    const hit = [...here].reverse().find((b) => p.x >= b.x && p.x <= b.x + b.w && p.y >= b.y && p.y <= b.y + b.h);
    if (hit) {
      this.selected = hit.track;
      if (this.editable()) {
        const start: Rect = [hit.x, hit.y, hit.w, hit.h];
        this.drag = { kind: 'move', track: hit.track, start, x0: p.x, y0: p.y, box: start };
        this.canvas.setPointerCapture(e.pointerId);
      }
      this.render();
      return;
    }
    if (!this.editable()) {
      this.selected = null;
      this.render();
      return;
    }
    this.drag = { kind: 'draw', x0: p.x, y0: p.y, box: null };
    this.canvas.setPointerCapture(e.pointerId);
  }

  private move(e: PointerEvent): void {
    const d = this.drag;
    if (!d) return;
    const p = this.at(e);
    if (d.kind === 'draw') {
      const w = Math.abs(p.x - d.x0);
      const hh = Math.abs(p.y - d.y0);
      d.box = w >= MIN_SIDE && hh >= MIN_SIDE ? [Math.min(p.x, d.x0), Math.min(p.y, d.y0), w, hh] : null;
    } else if (d.kind === 'move') {
      const [x, y, w, hh] = d.start;
      d.box = this.clampBox([x + p.x - d.x0, y + p.y - d.y0, w, hh]);
    } else {
      const [x, y, w, hh] = d.start;
      // The corner opposite the one grabbed stays where it is.
      const fx = d.corner % 2 === 0 ? x + w : x;
      const fy = d.corner < 2 ? y + hh : y;
      d.box = [Math.min(fx, p.x), Math.min(fy, p.y), Math.max(Math.abs(p.x - fx), MIN_SIDE), Math.max(Math.abs(p.y - fy), MIN_SIDE)];
    }
    this.render();
  }

  private up(e: PointerEvent): void {
    const d = this.drag;
    this.drag = null;
    if (this.canvas.hasPointerCapture(e.pointerId)) this.canvas.releasePointerCapture(e.pointerId);
    if (!d) return;
    if (d.kind === 'draw') {
      if (!d.box) {
        this.selected = null;
        this.render();
        return;
      }
      const box = this.clampBox(d.box);
      const sel = this.track(this.selected);
      if (sel && !boxAt(sel, this.cur)) {
        this.setKey(sel, { frame: this.cur, box });
        this.say(`Track ${sel.id} is back in view at frame ${this.cur}.`);
      } else {
        const id = this.a.tracks.reduce((m, t) => Math.max(m, t.id), 0) + 1;
        this.a.tracks.push({ id, label: this.labelSel.value, keyframes: [{ frame: this.cur, box }] });
        this.selected = id;
        this.say(`Track ${id} (${this.labelSel.value}) starts at frame ${this.cur}.`);
      }
      this.changed();
      return;
    }
    const t = this.track(d.track);
    if (!t) return;
    const same = d.box.every((v, i) => v === d.start[i]);
    if (same) return this.render();
    const old = t.keyframes.find((k) => k.frame === this.cur);
    const k: Keyframe = { frame: this.cur, box: this.clampBox(d.box) };
    if (old?.occluded || (!old && boxAt(t, this.cur)?.occluded)) k.occluded = true;
    this.setKey(t, k);
    this.say(`Keyframe at frame ${this.cur} of track ${t.id}.`);
    this.changed();
  }

  private render(): void {
    this.frameText.textContent = `Frame ${this.cur} / ${this.o.frames - 1}`;
    if (Number(this.scrub.value) !== this.cur) this.scrub.value = String(this.cur);
    const st = this.a.review.state;
    this.stateChip.textContent = st.replace('_', ' ') + (this.a.review.reviewer ? ` · ${this.a.review.reviewer}` : '');
    this.stateChip.className = `chip ${st === 'accepted' ? 'ok' : st === 'rejected' ? 'bad' : ''}`.trim();
    this.el.dataset.state = st;
    this.el.dataset.tracks = String(this.a.tracks.length);

    const sel = this.track(this.selected);
    const here = sel ? boxAt(sel, this.cur) : null;
    const edit = this.editable();
    this.tools.outside.disabled = !edit || !sel || !here || sel.keyframes[0].frame >= this.cur;
    this.tools.occluded.disabled = !edit || !here;
    this.tools.occluded.setAttribute('aria-pressed', String(!!here?.occluded));
    this.tools.delKey.disabled = !edit || !sel || !sel.keyframes.some((k) => k.frame === this.cur);
    this.tools.delTrack.disabled = !edit || !sel;
    this.tools.submit.disabled = !edit || this.a.tracks.length === 0 || st === 'in_review';
    const reviewable = st === 'in_review' && this.o.user !== this.a.annotator;
    this.tools.accept.disabled = !reviewable;
    this.tools.sendBack.disabled = !reviewable;

    this.renderList();
    this.draw();
  }

  private renderList(): void {
    const items = this.a.tracks.map((t) => {
      const b = boxAt(t, this.cur);
      const key = t.keyframes.find((k) => k.frame === this.cur);
      const where = key?.outside ? 'leaves view here' : !b ? 'not in view' : key ? 'keyframe here' : 'interpolated';
      const colour = COLOURS[Math.max(0, this.o.schema.labels.indexOf(t.label)) % COLOURS.length];
      const n = t.keyframes.length;
      const swatch = h('span', { class: 'an-swatch', 'aria-hidden': 'true' });
      swatch.style.background = colour;
      const pick = h(
        'button',
        { type: 'button', class: 'ghost an-track-pick', 'aria-pressed': String(t.id === this.selected), 'data-track': t.id, onclick: () => this.pick(t.id) },
        swatch,
        `#${t.id} ${t.label}`,
      );
      return h('li', { class: 'item an-track', 'data-track': t.id }, pick, h('span', { class: 'sub' }, `${n} keyframe${n === 1 ? '' : 's'} · ${where}${b?.occluded ? ' · occluded' : ''}`));
    });
    this.list.replaceChildren(...(items.length ? items : [h('li', { class: 'empty' }, this.o.mode === 'annotate' ? 'No tracks yet: drag on the frame to draw a box.' : 'No tracks.')]));
  }

  private pick(id: number): void {
    this.selected = this.selected === id ? null : id;
    const t = this.track(this.selected);
    if (t && !boxAt(t, this.cur)) {
      // Go to the track's nearest keyframe with a box, so it can be seen.
      const k = t.keyframes.filter((x) => x.box).sort((p, q) => Math.abs(p.frame - this.cur) - Math.abs(q.frame - this.cur))[0];
      if (k) void this.seek(k.frame);
    }
    this.render();
  }

  private draw(): void {
    const c = this.ctx;
    const r = this.canvas.getBoundingClientRect();
    const k = r.width > 0 ? this.o.width / r.width : 1;
    c.clearRect(0, 0, this.o.width, this.o.height);
    c.font = `600 ${Math.round(13 * k)}px system-ui, sans-serif`;
    c.textBaseline = 'bottom';
    const d = this.drag;
    for (const b of this.boxesHere()) {
      const t = this.track(b.track)!;
      let box: Rect = [b.x, b.y, b.w, b.h];
      let key = b.keyframe;
      if (d && d.kind !== 'draw' && d.track === b.track) {
        box = d.box;
        key = true;
      }
      const selected = b.track === this.selected;
      const colour = COLOURS[Math.max(0, this.o.schema.labels.indexOf(t.label)) % COLOURS.length];
      c.strokeStyle = colour;
      c.lineWidth = (selected ? 3 : 2) * k;
      c.setLineDash(key ? [] : [7 * k, 5 * k]);
      if (b.occluded) {
        c.fillStyle = colour + '33';
        c.fillRect(box[0], box[1], box[2], box[3]);
      }
      c.strokeRect(box[0], box[1], box[2], box[3]);
      c.setLineDash([]);
      const text = `#${t.id} ${t.label}${b.occluded ? ' (occluded)' : ''}`;
      const tw = c.measureText(text).width + 8 * k;
      const ty = box[1] > 18 * k ? box[1] : box[1] + box[3] + 18 * k;
      c.fillStyle = '#000b';
      c.fillRect(box[0], ty - 18 * k, tw, 18 * k);
      c.fillStyle = colour;
      c.fillText(text, box[0] + 4 * k, ty - 2 * k);
      if (selected && this.editable()) {
        c.fillStyle = '#fff';
        c.strokeStyle = '#000';
        c.lineWidth = 1.5 * k;
        for (const [x, y] of [[box[0], box[1]], [box[0] + box[2], box[1]], [box[0], box[1] + box[3]], [box[0] + box[2], box[1] + box[3]]]) {
          c.fillRect(x - 5 * k, y - 5 * k, 10 * k, 10 * k);
          c.strokeRect(x - 5 * k, y - 5 * k, 10 * k, 10 * k);
        }
      }
    }
    if (d?.kind === 'draw' && d.box) {
      c.strokeStyle = '#fff';
      c.lineWidth = 2 * k;
      c.setLineDash([4 * k, 4 * k]);
      c.strokeRect(d.box[0], d.box[1], d.box[2], d.box[3]);
      c.setLineDash([]);
    }
  }
}
