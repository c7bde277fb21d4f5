// Assembles opened segments into one progressive MP4 (moov before mdat,
// plays anywhere), for downloading a range: the video, and the camera's
// audio when the recordings have it (AAC or Opus, in the codec of the first
// segment with audio; segments in another audio codec stay silent). Like
// Go's segment.Export, a gap between recordings stays on the timeline: the
// last frame (and sound) before it is held until the next recording starts.
// The clip starts at the last keyframe at or before the requested start (so
// its first frame decodes) and ends with the last frame before the
// requested end; the audio covers the same span.

import { MediaError, path, parseSegment } from './boxes';
import type { ParsedSegment, Sample } from './boxes';

export interface ClipPart {
  start: number; // wall clock of the segment's first video sample, ms
  data: Uint8Array; // the opened segment (fMP4)
}

export interface Clip {
  bytes: Uint8Array;
  start: number; // wall clock of the first frame, ms
  duration: number; // seconds
  frames: number;
  audioFrames: number; // 0 when the clip has no sound
}

// Gaps shorter than this between segments are rounding, not missing video.
const CONTIGUOUS_MS = 50;

class Writer {
  parts: Uint8Array[] = [];
  len = 0;
  push(b: Uint8Array): void {
    this.parts.push(b);
    this.len += b.length;
  }
  u8(n: number): void {
    this.push(Uint8Array.of(n & 0xff));
  }
  u16(n: number): void {
    this.push(Uint8Array.of((n >>> 8) & 0xff, n & 0xff));
  }
  u32(n: number): void {
    this.push(Uint8Array.of((n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff));
  }
  i32(n: number): void {
    this.u32(n >>> 0);
  }
  u64(n: number): void {
    this.u32(Math.floor(n / 2 ** 32));
    this.u32(n >>> 0);
  }
  zeros(n: number): void {
    this.push(new Uint8Array(n));
  }
  str(s: string): void {
    this.push(new TextEncoder().encode(s));
  }
  bytes(): Uint8Array {
    const out = new Uint8Array(this.len);
    let p = 0;
    for (const b of this.parts) {
      out.set(b, p);
      p += b.length;
    }
    return out;
  }
}

function box(type: string, ...body: Uint8Array[]): Uint8Array {
  const w = new Writer();
  const size = 8 + body.reduce((n, b) => n + b.length, 0);
  w.u32(size);
  w.str(type);
  for (const b of body) w.push(b);
  return w.bytes();
}

function full(type: string, version: number, flags: number, fill: (w: Writer) => void): Uint8Array {
  const w = new Writer();
  w.u32(((version & 0xff) << 24) | (flags & 0xffffff));
  fill(w);
  return box(type, w.bytes());
}

const MATRIX = [0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000];

interface OutSample {
  s: Sample;
  seg: ParsedSegment;
  duration: number;
  wall: number;
}

/** buildMP4 assembles parts (in time order) into one MP4 covering [from, to) as closely as keyframes allow. */
export function buildMP4(parts: ClipPart[], from: number, to: number): Clip {
  if (parts.length === 0) throw new MediaError('nothing to assemble');
  const segs = parts.map((p) => ({ p, seg: parseSegment(p.data) }));
  const first = segs[0].seg.video;
  if (!first) throw new MediaError('the first segment has no video track');
  const ts = first.timescale;
  const stsd = path(segs[0].seg.bytes, first.trak, 'mdia', 'minf', 'stbl', 'stsd')!;
  const stsdBytes = segs[0].seg.bytes.subarray(stsd.start, stsd.start + stsd.size);

  // Every video sample with its wall-clock time.
  const all: OutSample[] = [];
  for (const { p, seg } of segs) {
    const v = seg.video;
    if (!v) continue;
    if (v.timescale !== ts) throw new MediaError('the time scale changed within the range; download the parts before and after separately');
    const vs = seg.samples.filter((s) => s.track === v.id);
    if (vs.length === 0) continue;
    const d0 = vs[0].dts;
    for (const s of vs) all.push({ s, seg, duration: s.duration, wall: p.start + ((s.dts - d0) / ts) * 1000 });
  }
  if (all.length === 0) throw new MediaError('no video in that range');

  // Trim: from the last keyframe at or before `from`, to the last frame before `to`.
  let a = 0;
  for (let i = 0; i < all.length; i++) {
    if (all[i].wall > from) break;
    if (all[i].s.sync) a = i;
  }
  while (a < all.length && !all[a].s.sync) a++;
  let b = all.length;
  while (b > a + 1 && all[b - 1].wall >= to) b--;
  const out = all.slice(a, b);
  if (out.length === 0) throw new MediaError('no keyframe in that range');

  // Durations: a gap between two recordings holds the frame before it.
  for (let i = 0; i + 1 < out.length; i++) {
    const cur = out[i];
    const next = out[i + 1];
    if (next.seg !== cur.seg) {
      const gapMs = next.wall - (cur.wall + (cur.duration / ts) * 1000);
      if (gapMs > CONTIGUOUS_MS) cur.duration = Math.min(cur.duration + Math.round((gapMs / 1000) * ts), 0xffffffff);
    }
  }
  let total = 0;
  for (const o of out) total += o.duration;
  const cto0 = out[0].s.cto;
  const audio = collectAudio(segs, out[0].wall, out[0].wall + (total / ts) * 1000);

  // Sample tables.
  const stts: [number, number][] = [];
  const ctts: [number, number][] = [];
  let anyCto = false;
  let negCto = false;
  for (const o of out) {
    const l = stts[stts.length - 1];
    if (l && l[1] === o.duration) l[0]++;
    else stts.push([1, o.duration]);
    const c = ctts[ctts.length - 1];
    if (c && c[1] === o.s.cto) c[0]++;
    else ctts.push([1, o.s.cto]);
    if (o.s.cto !== 0) anyCto = true;
    if (o.s.cto < 0) negCto = true;
  }
  const syncs = out.map((o, i) => (o.s.sync ? i + 1 : 0)).filter((n) => n > 0);
  const mediaBytes = out.reduce((n, o) => n + o.s.size, 0) + (audio ? audio.bytes : 0);

  const durMs = Math.round((total / ts) * 1000);
  const mvhd = full('mvhd', 0, 0, (w) => {
    w.u32(0);
    w.u32(0);
    w.u32(1000);
    w.u32(durMs);
    w.u32(0x10000);
    w.u16(0x100);
    w.zeros(10);
    MATRIX.forEach((m) => w.u32(m));
    w.zeros(24);
    w.u32(3);
  });
  const tkhd = full('tkhd', 0, 3, (w) => {
    w.u32(0);
    w.u32(0);
    w.u32(1);
    w.u32(0);
    w.u32(durMs);
    w.zeros(8);
    w.u16(0);
    w.u16(0);
    w.u16(0);
    w.u16(0);
    MATRIX.forEach((m) => w.u32(m));
    w.u32(first.width << 16);
    w.u32(first.height << 16);
  });
  // With B-frames the first frame is presented after its decode time: the
  // edit list starts the presentation there.
  const edts =
    cto0 > 0
      ? box(
          'edts',
          full('elst', 0, 0, (w) => {
            w.u32(1);
            w.u32(durMs);
            w.i32(cto0);
            w.u32(0x10000);
          }),
        )
      : new Uint8Array(0);
  const [mdhd, hdlr] = mediaHeader(ts, total, 'vide', 'VideoHandler');
  const vmhd = full('vmhd', 0, 1, (w) => w.zeros(8));
  const dinf = box('dinf', full('dref', 0, 0, (w) => (w.u32(1), w.push(full('url ', 0, 1, () => undefined)))));
  const sttsBox = full('stts', 0, 0, (w) => {
    w.u32(stts.length);
    for (const [n, d] of stts) (w.u32(n), w.u32(d));
  });
  const stssBox = full('stss', 0, 0, (w) => {
    w.u32(syncs.length);
    syncs.forEach((n) => w.u32(n));
  });
  const cttsBox = anyCto
    ? full('ctts', negCto ? 1 : 0, 0, (w) => {
        w.u32(ctts.length);
        for (const [n, c] of ctts) (w.u32(n), w.i32(c));
      })
    : new Uint8Array(0);
  const stscBox = full('stsc', 0, 0, (w) => (w.u32(1), w.u32(1), w.u32(out.length), w.u32(1)));
  const stszBox = full('stsz', 0, 0, (w) => {
    w.u32(0);
    w.u32(out.length);
    out.forEach((o) => w.u32(o.s.size));
  });
  const videoBytes = out.reduce((n, o) => n + o.s.size, 0);
  const moovWith = (chunkOffset: number) =>
    box(
      'moov',
      mvhd,
      box(
        'trak',
        tkhd,
        edts,
        box(
          'mdia',
          mdhd,
          hdlr,
          box('minf', vmhd, dinf, box('stbl', stsdBytes.slice(), sttsBox, stssBox, cttsBox, stscBox, stszBox, full('co64', 0, 0, (w) => (w.u32(1), w.u64(chunkOffset))))),
        ),
      ),
      audio ? audioTrak(audio, durMs, dinf, chunkOffset + videoBytes) : new Uint8Array(0),
    );
  const ftyp = box('ftyp', new TextEncoder().encode('isom'), Uint8Array.of(0, 0, 2, 0), new TextEncoder().encode('isomiso2avc1mp41'));
  const moovSize = moovWith(0).length;
  const mdatHeader = new Writer();
  const large = mediaBytes + 8 > 0xffffffff;
  if (large) {
    mdatHeader.u32(1);
    mdatHeader.str('mdat');
    mdatHeader.u64(mediaBytes + 16);
  } else {
    mdatHeader.u32(mediaBytes + 8);
    mdatHeader.str('mdat');
  }
  const head = mdatHeader.bytes();
  const offset = ftyp.length + moovSize + head.length;
  const moov = moovWith(offset);

  const result = new Uint8Array(offset + mediaBytes);
  result.set(ftyp, 0);
  result.set(moov, ftyp.length);
  result.set(head, ftyp.length + moov.length);
  let p = offset;
  for (const o of [...out, ...(audio ? audio.samples : [])]) {
    result.set(o.seg.bytes.subarray(o.s.offset, o.s.offset + o.s.size), p);
    p += o.s.size;
  }
  return { bytes: result, start: out[0].wall, duration: total / ts, frames: out.length, audioFrames: audio ? audio.samples.length : 0 };
}

interface Audio {
  ts: number; // time scale
  stsd: Uint8Array;
  samples: OutSample[]; // durations already stretched over gaps
  delay: number; // ticks of silence before the first sample
  bytes: number;
}

/** collectAudio picks the audio samples within [from, to) (wall clock, ms), or undefined when there are none. */
function collectAudio(segs: { p: ClipPart; seg: ParsedSegment }[], from: number, to: number): Audio | undefined {
  let first: { seg: ParsedSegment; codec: string; ts: number; stsd: Uint8Array } | undefined;
  const samples: OutSample[] = [];
  for (const { p, seg } of segs) {
    const a = seg.tracks.find((t) => t.handler === 'soun');
    const v = seg.video;
    if (!a || !v || (a.codec !== 'mp4a.40.2' && a.codec !== 'opus')) continue;
    if (!first) {
      const stsd = path(seg.bytes, a.trak, 'mdia', 'minf', 'stbl', 'stsd')!;
      first = { seg, codec: a.codec, ts: a.timescale, stsd: seg.bytes.subarray(stsd.start, stsd.start + stsd.size) };
    }
    if (a.codec !== first.codec || a.timescale !== first.ts) continue;
    const v0 = seg.samples.find((s) => s.track === v.id);
    if (!v0) continue;
    // Audio and video decode times share the recording session's origin.
    for (const s of seg.samples) {
      if (s.track !== a.id) continue;
      const wall = p.start + (s.dts / a.timescale - v0.dts / v.timescale) * 1000;
      if (wall >= from && wall < to) samples.push({ s, seg, duration: s.duration, wall });
    }
  }
  if (!first || samples.length === 0) return undefined;
  const ts = first.ts;
  const tick = (wall: number) => Math.round(((wall - from) / 1000) * ts);
  // A gap before a sample holds the one before it (silence in most players).
  let end = tick(samples[0].wall);
  const delay = end;
  for (let i = 0; i + 1 < samples.length; i++) {
    end += samples[i].duration;
    const next = tick(samples[i + 1].wall);
    if (next > end) {
      samples[i].duration = Math.min(samples[i].duration + next - end, 0xffffffff);
      end = next;
    }
  }
  return { ts, stsd: first.stsd.slice(), samples, delay, bytes: samples.reduce((n, o) => n + o.s.size, 0) };
}

/** audioTrak is the audio track (ID 2) of the clip, its samples in one chunk at chunkOffset. */
function audioTrak(a: Audio, durMs: number, dinf: Uint8Array, chunkOffset: number): Uint8Array {
  let total = 0;
  for (const o of a.samples) total += o.duration;
  const delayMs = Math.round((a.delay / a.ts) * 1000);
  const mediaMs = Math.round((total / a.ts) * 1000);
  const tkhd = full('tkhd', 0, 3, (w) => {
    w.u32(0);
    w.u32(0);
    w.u32(2);
    w.u32(0);
    w.u32(Math.min(delayMs + mediaMs, durMs));
    w.zeros(8);
    w.u16(0);
    w.u16(1); // alternate group
    w.u16(0x100); // volume 1.0
    w.u16(0);
    MATRIX.forEach((m) => w.u32(m));
    w.u32(0);
    w.u32(0);
  });
  // Silence before the first sample is an empty edit.
  const edts =
    delayMs > 0
      ? box(
          'edts',
          full('elst', 0, 0, (w) => {
            w.u32(2);
            w.u32(delayMs);
            w.i32(-1);
            w.u32(0x10000);
            w.u32(mediaMs);
            w.i32(0);
            w.u32(0x10000);
          }),
        )
      : new Uint8Array(0);
  const [mdhd, hdlr] = mediaHeader(a.ts, total, 'soun', 'SoundHandler');
  const smhd = full('smhd', 0, 0, (w) => w.zeros(4));
  const stts: [number, number][] = [];
  for (const o of a.samples) {
    const l = stts[stts.length - 1];
    if (l && l[1] === o.duration) l[0]++;
    else stts.push([1, o.duration]);
  }
  const sttsBox = full('stts', 0, 0, (w) => {
    w.u32(stts.length);
    for (const [n, d] of stts) (w.u32(n), w.u32(d));
  });
  const stscBox = full('stsc', 0, 0, (w) => (w.u32(1), w.u32(1), w.u32(a.samples.length), w.u32(1)));
  const stszBox = full('stsz', 0, 0, (w) => {
    w.u32(0);
    w.u32(a.samples.length);
    a.samples.forEach((o) => w.u32(o.s.size));
  });
  const co64 = full('co64', 0, 0, (w) => (w.u32(1), w.u64(chunkOffset)));
  return box('trak', tkhd, edts, box('mdia', mdhd, hdlr, box('minf', smhd, dinf, box('stbl', a.stsd, sttsBox, stscBox, stszBox, co64))));
}

/** mediaHeader is a track's mdhd (timescale ts, duration total) and hdlr (handler kind, e.g. 'vide', and name). */
function mediaHeader(ts: number, total: number, kind: string, name: string): [Uint8Array, Uint8Array] {
  const mdhd = full('mdhd', 0, 0, (w) => {
    w.u32(0);
    w.u32(0);
    w.u32(ts);
    w.u32(Math.min(total, 0xffffffff));
    w.u16(0x55c4); // "und"
    w.u16(0);
  });
  const hdlr = full('hdlr', 0, 0, (w) => {
    w.u32(0);
    w.str(kind);
    w.zeros(12);
    w.str(name + '\0');
  });
  return [mdhd, hdlr];
}
