// A small player for a run of decrypted, self-contained fMP4 segments (each
// carries its own init): Media Source Extensions in "sequence" mode, so the
// shared segments play back to back. Used by the guest page.

function codecOf(seg: Uint8Array): string {
  const find = (a: string) => {
    const c = [...a].map((x) => x.charCodeAt(0));
    for (let i = 0; i + 4 < seg.length; i++) if (seg[i] === c[0] && seg[i + 1] === c[1] && seg[i + 2] === c[2] && seg[i + 3] === c[3]) return i;
    return -1;
  };
  const codecs: string[] = [];
  const avc = find('avcC');
  if (avc >= 0 && avc + 8 <= seg.length) {
    const hx = (n: number) => n.toString(16).padStart(2, '0');
    codecs.push(`avc1.${hx(seg[avc + 5])}${hx(seg[avc + 6])}${hx(seg[avc + 7])}`);
  } else if (find('hvcC') >= 0) {
    codecs.push('hvc1.1.6.L93.B0');
  }
  if (find('mp4a') >= 0) codecs.push('mp4a.40.2');
  if (find('Opus') >= 0) codecs.push('opus');
  return `video/mp4; codecs="${codecs.join(', ') || 'avc1.640028'}"`;
}

// At most this many seconds are buffered ahead of playback (a long share
// is fetched as it plays, not all at once); played media older than
// KEEP_BEHIND seconds is dropped from the buffer.
const MAX_AHEAD = 60;
const KEEP_BEHIND = 30;

export class SegmentPlayer {
  private ms = new MediaSource();
  private sb: SourceBuffer | null = null;
  private opened: Promise<void>;
  private url: string;
  private closed = false;
  appended = 0;

  constructor(private video: HTMLVideoElement) {
    this.url = URL.createObjectURL(this.ms);
    this.opened = new Promise((resolve) => this.ms.addEventListener('sourceopen', () => resolve(), { once: true }));
    video.src = this.url;
  }

  /** append adds the next segment; the first one starts playback. */
  async append(seg: Uint8Array): Promise<void> {
    await this.opened;
    if (!this.sb) {
      const type = codecOf(seg);
      if (!MediaSource.isTypeSupported(type)) throw new Error(`this browser cannot play this video (${type})`);
      this.sb = this.ms.addSourceBuffer(type);
      this.sb.mode = 'sequence';
    }
    const sb = this.sb;
    const end = () => (sb.buffered.length ? sb.buffered.end(sb.buffered.length - 1) : 0);
    while (!this.closed && this.appended > 0 && end() - this.video.currentTime > MAX_AHEAD) {
      await new Promise((r) => setTimeout(r, 250));
    }
    if (this.closed) return;
    const behind = this.video.currentTime - KEEP_BEHIND;
    if (sb.buffered.length && behind > sb.buffered.start(0)) await this.update(sb, () => sb.remove(0, behind));
    await this.update(sb, () => sb.appendBuffer(seg.slice().buffer));
    this.appended++;
    if (this.appended === 1) {
      if (sb.buffered.length > 0) this.video.currentTime = sb.buffered.start(0);
      this.video.play().catch(() => {
        /* autoplay refused: the controls start it */
      });
    }
  }

  private update(sb: SourceBuffer, op: () => void): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const done = () => {
        sb.removeEventListener('updateend', done);
        sb.removeEventListener('error', fail);
        resolve();
      };
      const fail = () => {
        sb.removeEventListener('updateend', done);
        sb.removeEventListener('error', fail);
        reject(new Error('the browser could not decode a segment'));
      };
      sb.addEventListener('updateend', done);
      sb.addEventListener('error', fail);
      try {
        op();
      } catch (e) {
        sb.removeEventListener('updateend', done);
        sb.removeEventListener('error', fail);
        reject(e instanceof Error ? e : new Error(String(e)));
      }
    });
  }

  /** end says no more segments follow. */
  end(): void {
    if (this.ms.readyState === 'open' && !this.sb?.updating) this.ms.endOfStream();
  }

  close(): void {
    this.closed = true;
    this.video.pause();
    this.video.removeAttribute('src');
    this.video.load();
    URL.revokeObjectURL(this.url);
  }
}
