// One event as a row of a list (the events inbox, the home page's newest
// events): its snapshot, what it was in plain words ("Person"), the camera,
// when, where ("in Driveway"), and a link to the camera's timeline at it.
// Tapping the snapshot plays the event's recording in the row.
//
// Everything shown was opened in this browser with the household's keys:
// the record (events/record.ts), the snapshot (a sealed JPEG, shown from a
// blob: URL) and the recording (each segment checked against the listing,
// media/segments.ts). Text from records goes in as textContent only.

import { ApiError } from '../api';
import { fmtAgo, fmtDateTime, fmtDuration, fmtTime } from '../kit';
import type { HouseholdKeys } from '../media/keys';
import { Player } from '../media/player';
import { listSegments, openSegment } from '../media/segments';
import { h } from '../ui';
import { readSnapshot } from './api';
import { kindOf, placeText, type Event } from './record';
import { donateButton, donateEventRange } from '../labelling/donate';

const enc = encodeURIComponent;

/** eventLink is the camera page zoomed to and playing event e. */
export const eventLink = (hh: string, e: { id: string; camera: string }) => `/h/${enc(hh)}/cam/${enc(e.camera)}?event=${enc(e.id)}`;

/** Snapshots opens sealed snapshots into blob: URLs (once each) and revokes them on dispose. */
export class Snapshots {
  private urls = new Map<string, Promise<string>>();
  private made: string[] = [];
  constructor(
    private hh: string,
    private keys: HouseholdKeys,
  ) {}

  url(key: string): Promise<string> {
    let u = this.urls.get(key);
    if (!u) {
      u = this.open(key).then((jpeg) => {
        const url = URL.createObjectURL(new Blob([jpeg.slice().buffer], { type: 'image/jpeg' }));
        this.made.push(url);
        return url;
      });
      this.urls.set(key, u);
      u.catch(() => this.urls.delete(key));
    }
    return u;
  }

  /**
   * open reads and opens one snapshot. A hub uploads an event's record and
   * its snapshot side by side, so a new event can be listed a moment before
   * its snapshot reaches the cloud: one not there yet (404) is asked for
   * again, 0.5 to 8 s apart, for about 15 s.
   */
  private async open(key: string): Promise<Uint8Array> {
    for (let wait = 500; ; wait *= 2) {
      try {
        return await readSnapshot(this.hh, this.keys, key);
      } catch (x) {
        if (!(x instanceof ApiError && x.status === 404) || wait > 8000) throw x;
        await new Promise((r) => setTimeout(r, wait));
      }
    }
  }

  dispose(): void {
    for (const u of this.made) URL.revokeObjectURL(u);
    this.made = [];
    this.urls.clear();
  }
}

/** InlinePlayer plays one event's recording inside its row. */
class InlinePlayer {
  private player?: Player;
  private stopAt: number;
  readonly el: HTMLElement;
  private video: HTMLVideoElement;
  private time: HTMLElement;
  private err: HTMLElement;
  private timer = 0;

  constructor(
    private hh: string,
    private keys: HouseholdKeys,
    private e: Event,
  ) {
    this.video = h('video', { class: 'ev-video', muted: true, playsinline: true, controls: true, 'aria-label': `Recording of ${kindOf(e.labels)} at ${e.camera}` });
    this.video.muted = true;
    this.time = h('span', { class: 'overlay-time' }, fmtTime(e.start));
    this.err = h('p', { class: 'ev-play-error', role: 'status' });
    this.el = h('div', { class: 'ev-player' }, h('div', { class: 'media' }, this.video, this.time), this.err);
    this.stopAt = (e.end ?? e.start + 30_000) + 2000;
  }

  async start(): Promise<void> {
    const e = this.e;
    try {
      const segs = await listSegments(this.hh, e.camera, e.start - 60_000, this.stopAt + 60_000);
      if (!segs.some((s) => s.end > e.start && s.start < this.stopAt)) {
        this.err.textContent = 'There is no recording of this moment (it may have been deleted after the household’s retention period).';
        this.video.hidden = true;
        return;
      }
      const t0 = performance.now();
      const v = this.video;
      this.player = new Player(v, e.start - 3600_000, (ref) => openSegment(this.hh, e.camera, this.keys, ref), {
        onError: (x) => {
          const msg = x instanceof Error ? x.message : String(x);
          this.err.textContent = `This recording could not be played: ${msg}`;
          this.err.className = 'ev-play-error error';
          v.setAttribute('data-error', msg);
        },
        onFirstFrame: (ms, at) => {
          v.setAttribute('data-first-frame-ms', String(Math.round(ms)));
          v.setAttribute('data-at-ms', String(Math.round(at)));
        },
      });
      this.player.setSegments(segs);
      this.timer = window.setInterval(() => this.tick(), 250);
      await this.player.playAt(e.start, t0);
    } catch (x) {
      const msg = x instanceof Error ? x.message : String(x);
      this.err.textContent = `This recording could not be played: ${msg}`;
      this.err.className = 'ev-play-error error';
      this.video.setAttribute('data-error', msg);
    }
  }

  private tick(): void {
    const p = this.player;
    if (!p || this.video.readyState === 0) return;
    const at = p.wallTime();
    this.time.textContent = fmtTime(at);
    if (at >= this.stopAt && !this.video.paused) this.video.pause();
  }

  stop(): void {
    clearInterval(this.timer);
    this.player?.destroy();
    this.player = undefined;
    this.el.remove();
  }
}

/**
 * EventRows makes event rows for one household (li.item.ev-row, for a
 * ul.list) and owns what they hold: the snapshots' blob: URLs (loaded when
 * a row comes into view) and the one recording playing in a row. Call
 * dispose() when the page goes.
 */
export class EventRows {
  readonly snapshots: Snapshots;
  private loaders = new Map<Element, () => void>();
  private seen: IntersectionObserver;
  private playing?: { p: InlinePlayer; li: HTMLElement };
  private made = new Map<string, { li: HTMLLIElement; sig: string }>();

  constructor(
    private hh: string,
    private keys: HouseholdKeys,
  ) {
    this.snapshots = new Snapshots(hh, keys);
    this.seen = new IntersectionObserver(
      (entries) => {
        for (const en of entries) {
          if (!en.isIntersecting) continue;
          this.loaders.get(en.target)?.();
          this.loaders.delete(en.target);
          this.seen.unobserve(en.target);
        }
      },
      { rootMargin: '400px' },
    );
  }

  /** row renders event e (the same element again while e is unchanged, so a playing row keeps playing). */
  row(e: Event): HTMLLIElement {
    const sig = JSON.stringify([e.start, e.end, e.labels, e.zones, e.alert, e.snapshot, e.box, e.camera]);
    const old = this.made.get(e.id);
    if (old && old.sig === sig) return old.li;
    const li = this.build(e);
    this.made.set(e.id, { li, sig });
    return li;
  }

  private build(e: Event): HTMLLIElement {
    const kind = kindOf(e.labels);
    const when = fmtDateTime(e.start);
    const thumb = h('span', { class: 'ev-thumb' });
    if (e.snapshot) {
      const img = h('img', { class: 'ev-snap', alt: '', decoding: 'async' });
      thumb.append(img);
      const [x, y, w, bh] = e.box;
      if (w > 0 && bh > 0) {
        // The event's best box, drawn over the snapshot.
        const box = h('span', { class: 'ev-box' });
        Object.assign(box.style, { left: `${x * 100}%`, top: `${y * 100}%`, width: `${w * 100}%`, height: `${bh * 100}%` });
        thumb.append(box);
      }
      this.loaders.set(thumb, () =>
        this.snapshots.url(e.snapshot).then(
          (u) => {
            img.src = u;
          },
          (x) => {
            const msg = x instanceof Error ? x.message : String(x);
            thumb.replaceChildren(h('span', { class: 'ev-snap-error', 'data-error': msg, title: msg }, 'Picture refused'));
          },
        ),
      );
      this.seen.observe(thumb);
    } else thumb.append(h('span', { class: 'ev-snap-none' }, kind));
    thumb.append(h('span', { class: 'ev-play-icon', 'aria-hidden': 'true' }, '▶'));
    // Named by its content (what a picture that failed says, then this).
    const play = h('button', { type: 'button', class: 'ev-snap-btn' }, thumb, h('span', { class: 'sr-only' }, `Play ${kind} at ${e.camera}, ${when}`));
    const place = placeText(e.zones);
    const length = e.end === null ? 'still going' : fmtDuration(e.end - e.start);
    const li = h(
      'li',
      {
        class: 'item ev-row',
        'data-event': e.id,
        'data-camera': e.camera,
        'data-alert': String(e.alert),
        'data-start': String(e.start),
        'data-end': e.end === null ? '' : String(e.end),
        'data-labels': e.labels.join(','),
      },
      play,
      h(
        'div',
        { class: 'grow' },
        h('div', { class: 'ev-line' }, h('span', { class: 'chip ev-kind' }, kind), h('strong', { class: 'ev-camera' }, e.camera), e.alert ? h('span', { class: 'chip bad ev-alert', title: 'This event sent an alert' }, 'Alert') : null),
        h('div', { class: 'sub' }, h('span', { class: 'ev-time' }, when), ' · ', h('span', { class: 'ev-ago' }, fmtAgo(e.start)), ' · ', h('span', { class: 'ev-length' }, length)),
        place ? h('div', { class: 'sub ev-place' }, place) : null,
        h(
          'div',
          { class: 'ev-actions' },
          h('a', { class: 'btn secondary ev-timeline', href: eventLink(this.hh, e) }, 'Timeline', h('span', { class: 'sr-only' }, ` of ${kind} at ${e.camera}, ${when}`)),
          e.end === null ? null : donateButton(() => ({ hh: this.hh, cam: e.camera, event: e.id, ...donateEventRange(e) }), { class: 'secondary ev-donate' }),
        ),
      ),
    );
    play.addEventListener('click', () => this.play(li, e));
    return li;
  }

  /** play plays event e's recording inside its row li (stopping any other). */
  play(li: HTMLElement, e: Event): void {
    this.playing?.p.stop();
    const p = new InlinePlayer(this.hh, this.keys, e);
    this.playing = { p, li };
    li.append(p.el);
    void p.start();
  }

  /** settle stops the recording playing in a row that is no longer on the page (call after redrawing a list). */
  settle(): void {
    if (this.playing && !this.playing.li.isConnected) {
      this.playing.p.stop();
      this.playing = undefined;
    }
  }

  dispose(): void {
    this.seen.disconnect();
    this.loaders.clear();
    this.playing?.p.stop();
    this.playing = undefined;
    this.made.clear();
    this.snapshots.dispose();
  }
}
