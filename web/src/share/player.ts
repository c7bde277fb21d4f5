// The guest page's player: the shared range as ONE continuous video. The
// verified, decrypted fMP4 pieces are handed over in time order with their
// signed start; Media Source Extensions place each at its wall-clock time
// (media time t is origin + t seconds, like the timeline's player), so the
// scrubber spans the whole range and a piece that is missing (deleted since,
// or refused) is a gap that playback jumps over.
//
// The pieces stay in memory (the page offers them as one MP4 download), so
// a piece the browser had to drop from its buffer is appended again when the
// play head comes back to it.
//
// Owns: playing the pieces it is given. Must never: see sealed bytes or
// keys, or play a piece it was not given (the page gives only verified ones).

import { firstDecodeTime, mimeType, parseSegment, type ParsedSegment } from '../media/boxes';

interface Piece {
  start: number; // signed start, ms since the epoch
  end: number;
  seg: ParsedSegment;
  appended: boolean;
}

// Media kept buffered ahead of the play head (a short share is all of it).
const AHEAD = 120;
// A buffered range's end this close to the play head counts as reached.
const GAP_EPSILON = 0.15;

function sameBytes(a: Uint8Array | undefined, b: Uint8Array): boolean {
  if (!a || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export class SharePlayer {
  private ms = new MediaSource();
  private url: string;
  private sb?: SourceBuffer;
  private mime = '';
  private lastInit?: Uint8Array;
  private opened: Promise<void>;
  private pieces: Piece[] = [];
  private busy = false;
  private again = false;
  private ended = false;
  private closed = false;
  private started = false;
  private timer: number;
  private lastT = -1;
  private stuckSince = 0;
  onError: (e: unknown) => void = () => undefined;

  /**
   * origin is the wall clock (ms) of media time 0; startAt the wall clock
   * where playback begins; durationMs, if known, the media's length.
   */
  constructor(
    private video: HTMLVideoElement,
    readonly origin: number,
    private startAt: number,
    durationMs?: number,
  ) {
    this.url = URL.createObjectURL(this.ms);
    this.opened = new Promise((resolve) =>
      this.ms.addEventListener(
        'sourceopen',
        () => {
          if (durationMs && durationMs > 0) this.ms.duration = durationMs / 1000;
          resolve();
        },
        { once: true },
      ),
    );
    video.src = this.url;
    video.addEventListener('seeking', this.onSeek);
    this.timer = window.setInterval(() => this.tick(), 250);
  }

  /** wallTime is the wall clock (ms) of the frame at the play head. */
  wallTime(): number {
    return this.origin + this.video.currentTime * 1000;
  }

  /** add hands over the next verified piece (in time order); the first one starts playback. */
  async add(start: number, end: number, data: Uint8Array): Promise<void> {
    const seg = parseSegment(data);
    this.pieces.push({ start, end, seg, appended: false });
    await this.pump();
    if (!this.started && this.pieces.some((p) => p.appended)) {
      this.started = true;
      const first = this.pieces.find((p) => p.appended)!;
      this.video.currentTime = Math.max(0, (Math.max(this.startAt, first.start) - this.origin) / 1000) + 0.001;
      this.video.play().catch(() => {
        /* autoplay refused: the controls start it */
      });
    }
  }

  /** end says no more pieces follow. */
  end(): void {
    this.ended = true;
    void this.pump();
  }

  private media(wall: number): number {
    return (wall - this.origin) / 1000;
  }

  private onSeek = () => void this.pump();

  /** pump appends the pieces around the play head that are not buffered. */
  private async pump(): Promise<void> {
    if (this.busy) {
      this.again = true;
      return;
    }
    this.busy = true;
    try {
      do {
        this.again = false;
        await this.opened;
        const t = this.video.currentTime;
        for (const p of this.pieces) {
          if (this.closed) return;
          if (p.appended || this.media(p.end) <= t - 1 || this.media(p.start) > t + AHEAD) continue;
          await this.append(p);
        }
        if (this.ended && !this.closed && this.pieces.every((p) => p.appended) && this.ms.readyState === 'open' && !this.sb?.updating) {
          this.ms.endOfStream();
        }
      } while (this.again && !this.closed);
    } catch (e) {
      this.onError(e);
    } finally {
      this.busy = false;
    }
  }

  private async append(p: Piece): Promise<void> {
    const mime = mimeType(p.seg);
    if (!this.sb) {
      if (!MediaSource.isTypeSupported(mime)) throw new Error(`this browser cannot play this video (${mime})`);
      this.sb = this.ms.addSourceBuffer(mime);
      this.sb.mode = 'segments';
      this.mime = mime;
    } else if (mime !== this.mime) {
      this.sb.changeType(mime);
      this.mime = mime;
    }
    const sb = this.sb;
    sb.timestampOffset = this.media(p.start) - firstDecodeTime(p.seg);
    if (!sameBytes(this.lastInit, p.seg.init)) {
      await this.op(() => sb.appendBuffer(p.seg.init.slice()));
      this.lastInit = p.seg.init.slice();
    }
    try {
      await this.op(() => sb.appendBuffer(p.seg.media.slice()));
    } catch (e) {
      if ((e as DOMException).name !== 'QuotaExceededError') throw e;
      // The browser's buffer is full (a long share): keep what is around the
      // play head; what is dropped is appended again when it is reached.
      const t = this.video.currentTime;
      await this.op(() => sb.remove(0, Math.max(0, t - 5)));
      await this.op(() => sb.remove(t + 30, Infinity));
      for (const q of this.pieces) if (this.media(q.end) <= t - 5 || this.media(q.start) >= t + 30) q.appended = false;
      if (this.media(p.start) >= t + 30) return;
      await this.op(() => sb.appendBuffer(p.seg.media.slice()));
    }
    p.appended = true;
  }

  private op(f: () => void): Promise<void> {
    const sb = this.sb!;
    return new Promise<void>((resolve, reject) => {
      const ok = () => (cleanup(), resolve());
      const bad = () => (cleanup(), reject(new Error('the browser could not play a part of this video')));
      const cleanup = () => {
        sb.removeEventListener('updateend', ok);
        sb.removeEventListener('error', bad);
      };
      sb.addEventListener('updateend', ok);
      sb.addEventListener('error', bad);
      try {
        f();
      } catch (e) {
        cleanup();
        reject(e);
      }
    });
  }

  /** tick keeps media buffered ahead and jumps gaps between pieces. */
  private tick(): void {
    if (this.closed || !this.sb || this.video.paused) return;
    const t = this.video.currentTime;
    void this.pump();
    const b = this.video.buffered;
    let inRange = false;
    for (let i = 0; i < b.length; i++) {
      if (b.start(i) - GAP_EPSILON <= t && t < b.end(i) - GAP_EPSILON) inRange = true;
    }
    const now = performance.now();
    if (t !== this.lastT || this.video.seeking) {
      this.lastT = t;
      this.stuckSince = now;
    }
    // At the end of what is buffered, or stuck: on to the next buffered range.
    if (!inRange || now - this.stuckSince > 800) {
      for (let i = 0; i < b.length; i++) {
        if (b.start(i) > t + 0.01) {
          this.video.currentTime = b.start(i) + 0.001;
          this.stuckSince = now;
          break;
        }
      }
    }
  }

  close(): void {
    this.closed = true;
    clearInterval(this.timer);
    this.video.removeEventListener('seeking', this.onSeek);
    this.video.pause();
    this.video.removeAttribute('src');
    this.video.load();
    URL.revokeObjectURL(this.url);
    for (const p of this.pieces) p.seg.bytes.fill(0);
    this.pieces = [];
  }
}
