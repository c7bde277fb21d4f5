// Exposes the annotation payload code and the annotation editor
// (web/src/label) to the browser test web/test/label-editor.mjs: the Go
// test hands it payloads to read (cross-checked against
// dataset.ParseAnnotation and Annotation.Boxes) and a clip to annotate.
import '../src/style.css';
import { boxes, defaultSchema, parseAnnotation, toJSON } from '../src/label/annotation';
import { AnnotationEditor, EVENT_CHANGE, EVENT_REVIEW, EVENT_SUBMIT, type AnnotationEventDetail } from '../src/label/editor';

interface Case {
  name: string;
  json: string;
}

// read parses each case and, for those it accepts, gives the boxes at every
// frame from -1 to frames (each box [track, x, y, w, h, keyframe, occluded])
// and what toJSON writes.
function read(cases: Case[]) {
  const schema = defaultSchema();
  return cases.map((c) => {
    try {
      const a = parseAnnotation(c.json, schema);
      const perFrame: number[][][] = [];
      for (let f = -1; f <= a.frames; f++) perFrame.push(boxes(a, f).map((b) => [b.track, b.x, b.y, b.w, b.h, b.keyframe ? 1 : 0, b.occluded ? 1 : 0]));
      return { name: c.name, ok: true, error: '', boxes: perFrame, json: toJSON(a, schema) };
    } catch (e) {
      return { name: c.name, ok: false, error: `${(e as Error).name}: ${(e as Error).message}`, boxes: [], json: '' };
    }
  });
}

interface Open {
  clip: string; // base64 MP4
  id: string;
  fps: number;
  width: number;
  height: number;
  frames: number;
  mode: 'annotate' | 'review';
  user: string;
  payload?: string;
}

const events: { type: string; json: string; state: string }[] = [];
let editor: AnnotationEditor | undefined;

function open(o: Open): void {
  const bytes = Uint8Array.from(atob(o.clip), (c) => c.charCodeAt(0));
  const src = URL.createObjectURL(new Blob([bytes], { type: 'video/mp4' }));
  const schema = defaultSchema();
  editor = new AnnotationEditor({ src, clip: o.id, fps: o.fps, width: o.width, height: o.height, frames: o.frames, schema, mode: o.mode, user: o.user, payload: o.payload ? parseAnnotation(o.payload, schema) : undefined });
  for (const type of [EVENT_CHANGE, EVENT_SUBMIT, EVENT_REVIEW])
    editor.el.addEventListener(type, (e) => {
      const d = (e as CustomEvent<AnnotationEventDetail>).detail;
      events.push({ type, json: d.json, state: d.annotation.review.state });
    });
  document.getElementById('app')!.replaceChildren(editor.el);
}

// luma draws the video's current frame at w x h and returns its grey
// levels (BT.601, as ffmpeg's gray format) in base64.
function luma(w: number, h: number): string {
  const v = document.querySelector('video')!;
  const c = document.createElement('canvas');
  c.width = w;
  c.height = h;
  const ctx = c.getContext('2d', { willReadFrequently: true })!;
  ctx.drawImage(v, 0, 0, w, h);
  const px = ctx.getImageData(0, 0, w, h).data;
  const out = new Uint8Array(w * h);
  for (let i = 0; i < out.length; i++) out[i] = Math.round(0.299 * px[4 * i] + 0.587 * px[4 * i + 1] + 0.114 * px[4 * i + 2]);
  let s = '';
  for (const b of out) s += String.fromCharCode(b);
  return btoa(s);
}

(window as unknown as { vigilTest: unknown }).vigilTest = { read, open, luma, events, editor: () => editor };
(window as unknown as { vigilReady: boolean }).vigilReady = true;
