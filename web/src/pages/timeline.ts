// Pages: a camera's 24/7 timeline (/h/:hh/cam/:cam) and the camera list
// (/h/:hh/cams). The bar shows what was recorded (from the object listing,
// which a member account may read) and the gaps between recordings; a click
// fetches the sealed segment, opens it in this browser (decrypt and verify
// with the household's keys) and plays it through Media Source Extensions,
// continuing into the following segments. A range can be downloaded as one
// MP4 assembled in the browser. A browser whose device is not in the chain
// sees the bar (sealed data) but can open nothing. Detection events of the
// camera are marked on the bar (opened in the browser; a click plays from
// the event's start), and ?t=<ms> opens the page playing from that time.
//
// The bar is drawn from the cloud's listing, which is not signed; what is
// played is not: a segment is played only if its signed header names this
// camera and its signed start and end are the listing's (to the
// millisecond), and it is placed in time by its signed start. Otherwise it
// is refused: "the cloud's listing disagrees with the signed segment: ...".

import { api, apiBytes } from '../api';
import { EnvelopeError, openObject } from '../crypto/envelope';
import { nsToMs } from '../crypto/signedtime';
import { buildMP4, type ClipPart } from '../media/mp4';
import { householdKeys, NotEnrolledError, type HouseholdKeys } from '../media/keys';
import { Player, SegmentRefused, type OpenedSegment, type SegmentRef } from '../media/player';
import { go, route } from '../router';
import { listEvents, loadEvents } from '../events/api';
import { headline, type Event } from '../events/record';
import { sharePagePath } from '../share/create';
import { h, mount, showError } from '../ui';

interface ObjectJSON {
  key: string;
  camera: string;
  kind: string;
  start: string;
  end: string;
  size: number;
}

const HOUR = 3600_000;
const DAY = 24 * HOUR;
const PAGE = 5000;
// Two recordings closer than this are drawn as one range.
const JOIN_MS = 1500;

const enc = encodeURIComponent;

/** listSegments lists a camera's segments overlapping [from, to), oldest first. */
export async function listSegments(hh: string, cam: string, from: number, to: number): Promise<SegmentRef[]> {
  const out = new Map<string, SegmentRef>();
  let cursor = from;
  for (let page = 0; page < 100; page++) {
    const q = new URLSearchParams({ camera: cam, from: new Date(cursor).toISOString(), to: new Date(to).toISOString(), limit: String(PAGE) });
    const res = await api<{ objects: ObjectJSON[] }>('GET', `/v1/households/${enc(hh)}/objects?${q}`);
    let last = cursor;
    for (const o of res.objects) {
      if (o.kind !== 'segment' || o.camera !== cam) continue;
      const s = { key: o.key, start: Date.parse(o.start), end: Date.parse(o.end), size: o.size };
      out.set(s.key, s);
      last = Math.max(last, s.end);
    }
    if (res.objects.length < PAGE || last <= cursor) break;
    cursor = last;
  }
  return [...out.values()].sort((a, b) => a.start - b.start || a.end - b.end);
}

/** ranges merges segments into recorded ranges. */
export function ranges(segs: SegmentRef[]): [number, number][] {
  const out: [number, number][] = [];
  for (const s of segs) {
    const last = out[out.length - 1];
    if (last && s.start <= last[1] + JOIN_MS) last[1] = Math.max(last[1], s.end);
    else out.push([s.start, s.end]);
  }
  return out;
}

// The listing's times are RFC 3339 from the signed nanoseconds; the browser
// reads them to the millisecond.
const LISTING_TOLERANCE_MS = 1;
const iso = (ms: number) => new Date(ms).toISOString();

/**
 * openSegment fetches and opens one sealed segment of camera cam with the
 * household's keys, and checks it against the listing that named it: a
 * segment of cam whose signed start and end are the listing's. Anything
 * else is a SegmentRefused, with no plaintext.
 */
export async function openSegment(hh: string, cam: string, keys: HouseholdKeys, ref: SegmentRef): Promise<OpenedSegment> {
  const sealed = await apiBytes(`/v1/households/${enc(hh)}/objects/${ref.key}`);
  let o;
  try {
    o = await openObject(sealed, keys.identities, keys.trustedSigners);
  } catch (e) {
    if (e instanceof EnvelopeError && e.code === 'incorrect-identity') {
      throw new SegmentRefused(`this browser cannot open the recording of ${new Date(ref.start).toLocaleString()}: it was sealed to a household key this device does not hold (${e.message})`);
    }
    if (e instanceof EnvelopeError) throw new SegmentRefused(`segment failed verification: ${e.message}`);
    throw e;
  }
  const start = nsToMs(o.header.start);
  const end = nsToMs(o.end);
  const off = (a: number, b: number) => !(Math.abs(a - b) <= LISTING_TOLERANCE_MS);
  if (o.header.kindName !== 'segment' || o.header.stream !== cam || off(start, ref.start) || off(end, ref.end)) {
    o.plaintext.fill(0);
    throw new SegmentRefused(
      `the cloud's listing disagrees with the signed segment: the listing has ${ref.key} as camera ${cam}, ${iso(ref.start)} – ${iso(ref.end)}; ` +
        `its signed header and footer say ${o.header.kindName} of camera "${o.header.stream}", ${iso(start)} – ${iso(end)}. It is not played.`,
    );
  }
  return { data: o.plaintext, start, end };
}

const pad = (n: number) => String(n).padStart(2, '0');
function clock(t: number, secs = true): string {
  const d = new Date(t);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}${secs ? ':' + pad(d.getSeconds()) : ''}`;
}
function localInput(t: number): string {
  const d = new Date(t);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${clock(t)}`;
}
function fileStamp(t: number): string {
  const d = new Date(t);
  return `${d.getFullYear()}${pad(d.getMonth() + 1)}${pad(d.getDate())}-${pad(d.getHours())}${pad(d.getMinutes())}${pad(d.getSeconds())}`;
}

route('/h/:hh/cams', async (root, p) => {
  const err = h('p');
  mount(root, h('div', { class: 'card' }, h('h1', {}, 'Cameras'), err));
  try {
    const res = await api<{ cameras: string[] }>('GET', `/v1/households/${enc(p.hh)}/cameras`);
    const list = h('ul', { id: 'camera-list' });
    for (const c of res.cameras) {
      list.append(
        h(
          'li',
          {},
          h('a', { href: `/h/${enc(p.hh)}/cam/${enc(c)}`, 'data-camera': c }, c),
          ' · ',
          h('a', { href: `/h/${enc(p.hh)}/cam/${enc(c)}/live` }, 'live'),
        ),
      );
    }
    mount(root, h('div', { class: 'card' }, h('h1', {}, 'Cameras'), res.cameras.length ? list : h('p', { class: 'muted' }, 'No camera has recorded yet.'), err));
  } catch (e) {
    showError(err, e);
  }
});

route('/h/:hh/cam/:cam', async (root, p) => {
  const hh = p.hh;
  const cam = p.cam;
  const status = h('p', { id: 'tl-status', class: 'muted', role: 'status' }, 'Loading the recordings…');
  const err = h('p', { id: 'tl-error' });
  const refusal = h('div', { id: 'tl-refusal' });
  const video = h('video', { id: 'tl-video', muted: true, playsinline: true, controls: true });
  video.muted = true;
  const bar = h('div', { id: 'tl-bar', class: 'tl-bar', title: 'Click to play from that moment' });
  const cursor = h('div', { id: 'tl-cursor', class: 'tl-cursor' });
  const ticks = h('div', { class: 'tl-ticks' });
  const label = h('span', { id: 'tl-window', class: 'muted' });
  const position = h('span', { id: 'tl-position', class: 'mono' }, '--:--:--');
  const rate = h('select', { id: 'tl-rate', title: 'Playback speed' }, h('option', { value: '1' }, '1×'), h('option', { value: '2' }, '2×'), h('option', { value: '4' }, '4×'));
  const dlFrom = h('input', { id: 'tl-dl-from', type: 'datetime-local', step: '1' });
  const dlTo = h('input', { id: 'tl-dl-to', type: 'datetime-local', step: '1' });
  const dlButton = h('button', { id: 'tl-dl-make', type: 'button' }, 'Prepare MP4');
  const dlOut = h('span', { id: 'tl-dl-out' });
  const shareButton = h('button', { id: 'tl-share', type: 'button', class: 'secondary', title: 'Share this range with a guest or as a link' }, 'Share…');
  shareButton.addEventListener('click', () => {
    const a = Date.parse(dlFrom.value);
    const b = Date.parse(dlTo.value);
    if (Number.isNaN(a) || Number.isNaN(b)) return;
    go(sharePagePath(hh, cam, new Date(a), new Date(b)));
  });

  let segs: SegmentRef[] = [];
  let marks: Event[] = [];
  let span = DAY;
  let windowEnd = Date.now() + 5 * 60_000;
  const startAt = Number(new URLSearchParams(location.search).get('t'));
  if (startAt > 0 && startAt < windowEnd - span / 2) windowEnd = startAt + span / 2;
  let keys: HouseholdKeys | undefined;
  let player: Player | undefined;
  let dlURL = '';
  let closed = false;

  const zoomButtons = [
    [DAY, 'tl-zoom-24', '24 h'],
    [6 * HOUR, 'tl-zoom-6', '6 h'],
    [HOUR, 'tl-zoom-1', '1 h'],
    [10 * 60_000, 'tl-zoom-10m', '10 min'],
  ].map(([s, id, text]) => h('button', { type: 'button', class: 'secondary', id: id as string, onclick: () => zoom(s as number) }, text as string));
  const panBack = h('button', { type: 'button', class: 'secondary', id: 'tl-back', onclick: () => pan(-1) }, '◀');
  const panFwd = h('button', { type: 'button', class: 'secondary', id: 'tl-fwd', onclick: () => pan(1) }, '▶');

  mount(
    root,
    h(
      'div',
      { class: 'card' },
      h(
        'div',
        { class: 'row tl-head' },
        h('h1', {}, cam),
        h('a', { href: `/h/${enc(hh)}/cams` }, 'Cameras'),
        h('a', { id: 'tl-live', href: `/h/${enc(hh)}/cam/${enc(cam)}/live` }, 'Jump to live'),
      ),
      refusal,
      h('div', { class: 'row' }, panBack, ...zoomButtons, panFwd, label),
      h('div', { class: 'tl-wrap' }, bar, ticks),
      video,
      h('div', { class: 'row' }, position, h('label', { class: 'row' }, 'Speed', rate), status),
      err,
    ),
    h(
      'div',
      { class: 'card' },
      h('h2', {}, 'Download a clip'),
      h('p', { class: 'muted' }, 'The recording is decrypted and assembled into one MP4 file in this browser.'),
      h('div', { class: 'row' }, h('label', {}, 'From', dlFrom), h('label', {}, 'To', dlTo), dlButton, shareButton, dlOut),
    ),
  );

  const from = () => windowEnd - span;

  function draw(): void {
    const f = from();
    bar.replaceChildren();
    bar.dataset.from = String(f);
    bar.dataset.to = String(windowEnd);
    for (const [s, e] of ranges(segs)) {
      if (e <= f || s >= windowEnd) continue;
      const l = Math.max(s, f);
      const r = Math.min(e, windowEnd);
      const el = h('div', { class: 'tl-range', 'data-start': String(s), 'data-end': String(e), title: `${clock(s)} – ${clock(e)}` });
      el.style.left = `${((l - f) / span) * 100}%`;
      el.style.width = `${Math.max(((r - l) / span) * 100, 0.1)}%`;
      bar.append(el);
    }
    for (const ev of marks) {
      const end = ev.end ?? ev.start;
      if (end < f || ev.start >= windowEnd) continue;
      const l = Math.max(ev.start, f);
      const el = h('div', { class: 'tl-event', 'data-id': ev.id, 'data-start': String(ev.start), title: `${headline(ev)} at ${clock(ev.start)}` });
      Object.assign(el.style, { position: 'absolute', top: '0', height: '40%', background: ev.alert ? '#c0392b' : '#e67e22', cursor: 'pointer', zIndex: '1', minWidth: '4px' });
      el.style.left = `${((l - f) / span) * 100}%`;
      el.style.width = `${Math.max(((Math.min(end, windowEnd) - l) / span) * 100, 0.2)}%`;
      el.addEventListener('click', (e) => {
        e.stopPropagation();
        bar.dataset.clicked = String(ev.start);
        void playAt(ev.start, performance.now());
      });
      bar.append(el);
    }
    bar.append(cursor);
    ticks.replaceChildren();
    const step = span >= DAY ? 3 * HOUR : span >= 6 * HOUR ? HOUR : span >= HOUR ? 10 * 60_000 : 60_000;
    for (let t = Math.ceil(f / step) * step; t < windowEnd; t += step) {
      const tk = h('span', { class: 'tl-tick' }, clock(t, false));
      tk.style.left = `${((t - f) / span) * 100}%`;
      ticks.append(tk);
    }
    label.textContent = `${new Date(f).toLocaleString()} – ${new Date(windowEnd).toLocaleString()}`;
    moveCursor();
  }

  function moveCursor(): void {
    const at = player && !Number.isNaN(video.currentTime) && video.readyState > 0 ? player.wallTime() : NaN;
    if (Number.isNaN(at) || at < from() || at > windowEnd) {
      cursor.hidden = true;
      return;
    }
    cursor.hidden = false;
    cursor.style.left = `${((at - from()) / span) * 100}%`;
    position.textContent = `${new Date(at).toLocaleDateString()} ${clock(at)}`;
    bar.dataset.cursor = String(Math.round(at));
  }

  function zoom(s: number): void {
    const max = Date.now() + 5 * 60_000;
    span = s;
    // Centre on the play head while playing; else keep the window's end.
    if (player && video.readyState > 0) windowEnd = Math.min(player.wallTime() + span / 2, max);
    void refresh();
  }

  function pan(dir: number): void {
    windowEnd = Math.min(windowEnd + (dir * span) / 2, Date.now() + 5 * 60_000);
    void refresh();
  }

  // refresh lists the window's segments; a poll (incremental) lists only
  // what came after the newest one known.
  async function refresh(incremental = false): Promise<void> {
    try {
      let a = from() - HOUR;
      const newest = segs[segs.length - 1];
      if (incremental && newest && newest.start > a && newest.start - 60_000 < windowEnd) a = newest.start - 60_000;
      const list = await listSegments(hh, cam, a, windowEnd);
      if (closed) return;
      // Keep what is known outside the window (the player may be there).
      const known = new Map(segs.map((s) => [s.key, s]));
      for (const s of list) known.set(s.key, s);
      segs = [...known.values()].sort((a, b) => a.start - b.start);
      player?.setSegments(segs);
      draw();
      if (!keys) return;
      status.textContent = segs.length ? 'Click the bar to play from that moment.' : 'Nothing recorded in this window.';
      void refreshMarks();
    } catch (e) {
      showError(err, e);
    }
  }

  // refreshMarks opens the household's events in the window and marks this
  // camera's on the bar. Events are an extra: a failure only leaves a note.
  async function refreshMarks(): Promise<void> {
    if (!keys) return;
    try {
      const objs = await listEvents(hh, from() - HOUR, windowEnd);
      const { events } = await loadEvents(hh, keys, objs);
      if (closed) return;
      marks = [...events.values()].filter((e) => e.camera === cam);
      bar.dataset.events = String(marks.length);
      delete bar.dataset.eventsError;
      draw();
    } catch (e) {
      bar.dataset.eventsError = e instanceof Error ? e.message : String(e);
    }
  }

  function newPlayer(origin: number): Player {
    player?.destroy();
    const k = keys!;
    const pl = new Player(video, origin, (ref) => openSegment(hh, cam, k, ref), {
      onError: (e) => {
        const msg = showError(err, e);
        video.setAttribute('data-error', msg);
      },
      onFirstFrame: (ms) => {
        video.setAttribute('data-first-frame-ms', String(Math.round(ms)));
        status.textContent = `Playing (first frame after ${Math.round(ms)} ms).`;
      },
    });
    pl.setSegments(segs);
    pl.setRate(Number(rate.value));
    return pl;
  }

  async function playAt(wall: number, t0: number): Promise<void> {
    if (!keys) return;
    err.replaceChildren();
    err.className = '';
    video.removeAttribute('data-first-frame-ms');
    video.removeAttribute('data-error');
    if (!player || wall < player.origin + 1000) player = newPlayer(Math.floor(wall / DAY) * DAY - DAY);
    status.textContent = 'Opening the recording…';
    try {
      await player.playAt(wall, t0);
    } catch (e) {
      video.setAttribute('data-error', showError(err, e));
      status.textContent = '';
    }
  }

  bar.addEventListener('click', (e) => {
    const t0 = performance.now();
    const r = bar.getBoundingClientRect();
    const wall = from() + ((e.clientX - r.left) / r.width) * span;
    bar.dataset.clicked = String(Math.round(wall));
    void playAt(wall, t0);
  });
  rate.addEventListener('change', () => player?.setRate(Number(rate.value)));
  video.addEventListener('timeupdate', moveCursor);
  const redraw = window.setInterval(() => {
    if (!video.paused) moveCursor();
  }, 500);
  const poll = window.setInterval(() => {
    if (windowEnd > Date.now() - span) void refresh(true);
  }, 10_000);

  dlButton.addEventListener('click', async () => {
    if (!keys) return;
    const a = Date.parse(dlFrom.value);
    const b = Date.parse(dlTo.value);
    dlOut.replaceChildren();
    if (!(a < b)) {
      showError(dlOut, 'choose a start before the end');
      return;
    }
    dlButton.disabled = true;
    try {
      const list = (await listSegments(hh, cam, a, b)).filter((s) => s.end > a && s.start < b);
      if (list.length === 0) throw new Error('nothing was recorded in that range');
      const parts: ClipPart[] = [];
      let bytes = 0;
      for (const [i, ref] of list.entries()) {
        dlOut.textContent = `Decrypting ${i + 1} of ${list.length}…`;
        const seg = await openSegment(hh, cam, keys, ref);
        bytes += seg.data.length;
        if (bytes > 1536 << 20) throw new Error('that range is too large to assemble in the browser; choose a shorter one');
        parts.push({ start: seg.start, data: seg.data });
      }
      const clip = buildMP4(parts, a, b);
      if (dlURL) URL.revokeObjectURL(dlURL);
      dlURL = URL.createObjectURL(new Blob([clip.bytes.slice().buffer], { type: 'video/mp4' }));
      const name = `vigil-${cam}-${fileStamp(clip.start)}.mp4`;
      dlOut.replaceChildren(
        h('a', { id: 'tl-dl-link', href: dlURL, download: name, 'data-duration': String(clip.duration), 'data-bytes': String(clip.bytes.length) }, `Download ${name}`),
        h('span', { class: 'muted' }, ` (${(clip.bytes.length / 1e6).toFixed(1)} MB, ${Math.round(clip.duration)} s)`),
      );
    } catch (e) {
      showError(dlOut, e);
    } finally {
      dlButton.disabled = false;
    }
  });

  await refresh();
  try {
    keys = await householdKeys(hh);
    status.textContent = segs.length ? 'Click the bar to play from that moment.' : 'Nothing recorded in this window.';
    const last = segs[segs.length - 1];
    if (last) {
      dlFrom.value = localInput(Math.max(last.end - 30_000, segs[0].start));
      dlTo.value = localInput(last.end);
    }
    void refreshMarks();
    if (startAt > 0) {
      bar.dataset.clicked = String(startAt);
      void playAt(startAt, performance.now());
    }
  } catch (e) {
    status.textContent = '';
    video.hidden = true;
    dlButton.disabled = true;
    if (e instanceof NotEnrolledError) {
      refusal.className = 'tl-refusal';
      refusal.replaceChildren(
        h('p', { class: 'error', role: 'alert', id: 'tl-not-enrolled' }, e.message + '.'),
        h('p', { class: 'muted' }, 'The bar shows when recordings exist; opening them needs this browser to be a device of the household. ', h('a', { href: '/device' }, 'Show this browser’s device identity'), ' and ask an admin to add it.'),
      );
    } else showError(err, e);
  }

  return () => {
    closed = true;
    clearInterval(redraw);
    clearInterval(poll);
    player?.destroy();
    if (dlURL) URL.revokeObjectURL(dlURL);
  };
});
