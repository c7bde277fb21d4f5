// Plays a camera's recorded segments through Media Source Extensions.
//
// The player maps wall-clock time to media time: media time t (seconds) is
// wall time origin + t. Each segment's fragments carry decode times counted
// from the start of its recording session (tfdt), so every append sets the
// SourceBuffer's timestampOffset to place the segment's first video sample
// at its wall-clock start. Gaps between segments stay gaps in the buffer;
// playback jumps over them. The next segment is fetched and appended while
// the current one plays, and old media is evicted behind the play head.
//
// Segments come in as opened plaintext from the caller's open() (fetch,
// decrypt, verify), with the start time signed in the segment's header:
// that start, not the listing's, places the segment in media time, so the
// time shown for a frame is the signed one. A segment open() refuses
// (SegmentRefused: it failed verification, or its signed header disagrees
// with the listing) is never played, nor fetched again; playback goes
// past it as past a gap. The player never sees sealed bytes or keys.

import { MediaError, firstDecodeTime, mimeType, parseSegment } from './boxes';
import type { ParsedSegment } from './boxes';

/** SegmentRef is a segment as the cloud's listing names it (unsigned times). */
export interface SegmentRef {
  key: string;
  start: number; // wall clock, ms since the epoch
  end: number;
  size: number;
}

/** OpenedSegment is a segment's plaintext fMP4 and its signed times (ms since the epoch). */
export interface OpenedSegment {
  data: Uint8Array;
  start: number;
  end: number;
}

export type OpenSegment = (ref: SegmentRef) => Promise<OpenedSegment>;

/** SegmentRefused is open()'s answer for a segment that must never be played. */
export class SegmentRefused extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SegmentRefused';
  }
}

export interface PlayerEvents {
  onError(e: unknown): void;
  // From playAt() to the first frame shown (ms), and that frame's wall
  // clock time (ms since the epoch: where playback really starts).
  onFirstFrame?(ms: number, at: number): void;
}

const LOOKAHEAD = 8; // seconds of media buffered ahead at 1x
const KEEP_BEHIND = 30; // seconds kept behind the play head
const GAP_EPSILON = 0.15; // seconds: a buffered-range end this close counts as reached

function sameBytes(a: Uint8Array | undefined, b: Uint8Array): boolean {
  if (!a || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export class Player {
  readonly origin: number;
  private ms = new MediaSource();
  private url: string;
  private sb?: SourceBuffer;
  private mime = '';
  private lastInit?: Uint8Array;
  private queue: Promise<unknown> = Promise.resolve();
  private loaded = new Map<string, Promise<void>>(); // segments appended (or being appended)
  private refused = new Map<string, SegmentRefused>(); // segments open() refused, by key
  private segs: SegmentRef[] = [];
  private gen = 0;
  private timer: number;
  private destroyed = false;
  private lastT = -1;
  private stuckSince = 0;
  private opened: Promise<void>;

  constructor(
    private video: HTMLVideoElement,
    origin: number,
    private open: OpenSegment,
    private ev: PlayerEvents,
  ) {
    this.origin = origin;
    this.url = URL.createObjectURL(this.ms);
    this.opened = new Promise((resolve) => this.ms.addEventListener('sourceopen', () => resolve(), { once: true }));
    video.src = this.url;
    this.timer = window.setInterval(() => this.tick(), 250);
    video.addEventListener('waiting', this.onWaiting);
  }

  /** setSegments gives the camera's segments, sorted by start. */
  setSegments(segs: SegmentRef[]): void {
    this.segs = segs;
  }

  /** wallTime is the wall clock (ms) of the play head. */
  wallTime(): number {
    return this.origin + this.video.currentTime * 1000;
  }

  private mediaTime(wall: number): number {
    return (wall - this.origin) / 1000;
  }

  /** indexAt returns the segment holding wall time w, or the next one after it (-1: none). */
  indexAt(w: number): number {
    for (let i = 0; i < this.segs.length; i++) if (this.segs[i].end > w) return i;
    return -1;
  }

  /**
   * playAt starts playback at wall time w (or the next recording after it)
   * and resolves once playback started. Measures the time to the first frame.
   */
  async playAt(w: number, t0 = performance.now()): Promise<void> {
    const gen = ++this.gen;
    const i = this.indexAt(w);
    if (i < 0) throw new Error('nothing was recorded at or after this time');
    const seg = this.segs[i];
    const at = Math.max(w, seg.start);
    const t = this.mediaTime(at);
    await this.load(i);
    if (gen !== this.gen || this.destroyed) return;
    this.video.currentTime = t + 0.001;
    this.watchFirstFrame(t0, gen);
    try {
      await this.video.play();
    } catch (e) {
      if ((e as DOMException).name !== 'AbortError') throw e;
    }
    void this.load(i + 1).catch((e) => this.ev.onError(e));
  }

  private watchFirstFrame(t0: number, gen: number): void {
    const v = this.video as HTMLVideoElement & { requestVideoFrameCallback?: (cb: (now: number, meta: { mediaTime: number }) => void) => number };
    const done = (now: number, mediaTime: number) => {
      if (gen === this.gen) this.ev.onFirstFrame?.(Math.max(0, now - t0), this.origin + mediaTime * 1000);
    };
    if (v.requestVideoFrameCallback) v.requestVideoFrameCallback((now, meta) => done(now, meta.mediaTime));
    else v.addEventListener('playing', () => done(performance.now(), v.currentTime), { once: true });
  }

  setRate(r: number): void {
    this.video.playbackRate = r;
  }

  /** load fetches, opens and appends segment i (once); a refused segment rejects with its refusal. */
  load(i: number): Promise<void> {
    const ref = this.segs[i];
    if (!ref) return Promise.resolve();
    const no = this.refused.get(ref.key);
    if (no) return Promise.reject(no);
    let p = this.loaded.get(ref.key);
    if (!p) {
      const data = this.open(ref); // fetch in parallel with earlier appends
      data.catch((e) => {
        if (e instanceof SegmentRefused) this.refused.set(ref.key, e);
      }); // otherwise handled when its turn in the queue comes
      p = this.enqueue(async () => this.append(ref, await data));
      p.catch(() => this.loaded.delete(ref.key));
      this.loaded.set(ref.key, p);
    }
    return p;
  }

  private isRefused(s: SegmentRef): boolean {
    return this.refused.has(s.key);
  }

  private enqueue<T>(f: () => Promise<T>): Promise<T> {
    const p = this.queue.then(f, f);
    this.queue = p.catch(() => undefined);
    return p;
  }

  private async append(ref: SegmentRef, opened: OpenedSegment): Promise<void> {
    if (this.destroyed) return;
    let seg: ParsedSegment;
    try {
      seg = parseSegment(opened.data);
    } catch (e) {
      throw new MediaError(`segment ${new Date(opened.start).toISOString()} (${ref.key}) is not a playable MP4: ${(e as Error).message}`);
    }
    await this.opened;
    const mime = mimeType(seg);
    if (!this.sb) {
      if (!MediaSource.isTypeSupported(mime)) throw new MediaError(`this browser cannot play ${mime}`);
      this.sb = this.ms.addSourceBuffer(mime);
      this.sb.mode = 'segments';
      this.mime = mime;
    } else if (mime !== this.mime) {
      if (!MediaSource.isTypeSupported(mime)) throw new MediaError(`this browser cannot play ${mime}`);
      this.sb.changeType(mime);
      this.mime = mime;
    }
    const sb = this.sb;
    await this.evict();
    sb.timestampOffset = this.mediaTime(opened.start) - firstDecodeTime(seg);
    if (!sameBytes(this.lastInit, seg.init)) {
      await this.appendBuffer(seg.init);
      this.lastInit = seg.init.slice();
    }
    try {
      await this.appendBuffer(seg.media);
    } catch (e) {
      if ((e as DOMException).name !== 'QuotaExceededError') throw e;
      // The browser's buffer is full (long seeks back and forth): keep only
      // what is around the play head and try once more.
      await this.trim();
      await this.appendBuffer(seg.media);
    }
  }

  /** trim drops buffered media outside [now - 5 s, now + lookahead]. */
  private async trim(): Promise<void> {
    const t = this.video.currentTime;
    const keepFrom = Math.max(0, t - 5);
    const keepTo = t + Math.max(LOOKAHEAD, LOOKAHEAD * this.video.playbackRate);
    if (keepFrom > 0) await this.remove(0, keepFrom);
    await this.remove(keepTo, Infinity);
    for (const s of this.segs) {
      if (this.mediaTime(s.end) <= keepFrom || this.mediaTime(s.start) >= keepTo) this.loaded.delete(s.key);
    }
  }

  private appendBuffer(b: Uint8Array): Promise<void> {
    const sb = this.sb!;
    return new Promise<void>((resolve, reject) => {
      const ok = () => (cleanup(), resolve());
      const bad = () => (cleanup(), reject(new MediaError('the browser could not decode this recording')));
      const cleanup = () => {
        sb.removeEventListener('updateend', ok);
        sb.removeEventListener('error', bad);
      };
      sb.addEventListener('updateend', ok);
      sb.addEventListener('error', bad);
      try {
        sb.appendBuffer(b.slice());
      } catch (e) {
        cleanup();
        reject(e);
      }
    });
  }

  private remove(from: number, to: number): Promise<void> {
    const sb = this.sb!;
    return new Promise<void>((resolve) => {
      sb.addEventListener('updateend', () => resolve(), { once: true });
      sb.remove(from, to);
    });
  }

  /** evict drops media more than KEEP_BEHIND seconds behind the play head. */
  private async evict(): Promise<void> {
    const sb = this.sb;
    if (!sb || sb.buffered.length === 0) return;
    const cut = this.video.currentTime - KEEP_BEHIND;
    if (sb.buffered.start(0) < cut - 1) {
      await this.remove(0, cut);
      for (const s of this.segs) if (this.mediaTime(s.end) <= cut) this.loaded.delete(s.key);
    }
  }

  /** bufferedEnd is the end of the buffered range holding t, or -1. */
  private bufferedEnd(t: number): number {
    const b = this.video.buffered;
    for (let i = 0; i < b.length; i++) if (b.start(i) - GAP_EPSILON <= t && t <= b.end(i) + GAP_EPSILON) return b.end(i);
    return -1;
  }

  private onWaiting = () => this.tick();

  /** tick keeps data flowing ahead of the play head and jumps gaps. */
  private tick(): void {
    if (this.destroyed || !this.sb || this.video.paused || this.segs.length === 0) return;
    const t = this.video.currentTime;
    const wall = this.wallTime();
    const i = this.indexAt(wall);
    if (i < 0) return;
    const end = this.bufferedEnd(t);
    const ahead = Math.max(LOOKAHEAD, LOOKAHEAD * this.video.playbackRate);
    // Fetch the next segments until LOOKAHEAD seconds are covered.
    for (let j = i; j < this.segs.length && this.mediaTime(this.segs[j].start) < t + ahead; j++) {
      if (this.isRefused(this.segs[j])) continue;
      void this.load(j).catch((e) => this.ev.onError(e));
    }
    // Stuck (a hole in the buffer the checks below do not see): move on to
    // the next buffered range.
    const now = performance.now();
    if (t !== this.lastT || this.video.seeking) {
      this.lastT = t;
      this.stuckSince = now;
    } else if (now - this.stuckSince > 800) {
      const b = this.video.buffered;
      for (let k = 0; k < b.length; k++) {
        if (b.start(k) > t + 0.01) {
          this.video.currentTime = b.start(k) + 0.001;
          this.stuckSince = now;
          break;
        }
      }
    }
    // At the end of a buffered range with a later segment: jump the gap.
    if (end >= 0 && end - t < GAP_EPSILON) {
      const next = this.segs.findIndex((s) => !this.isRefused(s) && this.mediaTime(s.end) > end + GAP_EPSILON);
      if (next >= 0) {
        const nt = this.mediaTime(this.segs[next].start);
        if (nt > end + GAP_EPSILON && this.bufferedEnd(nt + 0.01) >= 0) this.video.currentTime = nt + 0.001;
        else void this.load(next).catch((e) => this.ev.onError(e));
      }
    }
  }

  destroy(): void {
    this.destroyed = true;
    this.gen++;
    clearInterval(this.timer);
    this.video.removeEventListener('waiting', this.onWaiting);
    this.video.pause();
    this.video.removeAttribute('src');
    this.video.load();
    URL.revokeObjectURL(this.url);
  }
}
