// Pages: a camera (/h/:hh/cam/:cam): live, and its recordings on a
// timeline; and the camera list (/h/:hh/cams).
//
// The picture on top is live (live/tile.ts) until a moment of the
// recording is chosen; then it is the recording, and #tl-live returns to
// live.
//
// The timeline opens on the last hour. The bar (#tl-bar, a slider: keys
// move the chosen moment, Enter plays it) shows what was recorded (from the
// object listing, which a member account may read), the gaps between
// recordings, and the camera's events (opened in the browser). A tap or
// click plays from exactly that moment: the sealed segment holding it is
// fetched, opened in this browser (decrypt and verify with the household's
// keys) and played through Media Source Extensions from the tapped time,
// continuing into the following segments; #tl-video's data-at-ms is the
// time of the first frame shown. Dragging scrubs (a bubble shows the time
// and the nearest event's snapshot), two fingers zoom. ?at=<ms> (or ?t=)
// opens the page playing from that time; ?event=<id> zooms to that event,
// highlights its mark and plays it. A range can be downloaded as one MP4
// assembled in the browser. A browser whose device is not in the chain
// sees the bar (sealed data) but can open nothing.
//
// The bar is drawn from the cloud's listing, which is not signed; what is
// played is not: a segment is played only if its signed header names this
// camera and its signed start and end are the listing's (to the
// millisecond), and it is placed in time by its signed start. Otherwise it
// is refused: "the cloud's listing disagrees with the signed segment: ..."
// (media/segments.ts).

import { api } from '../api';
import { buildMP4, type ClipPart } from '../media/mp4';
import { donateButton } from '../labelling/donate';
import { householdKeys, NotEnrolledError, type HouseholdKeys } from '../media/keys';
import { Player, type SegmentRef } from '../media/player';
import { listSegments, openSegment, ranges } from '../media/segments';
import { route } from '../router';
import { findEvent, listEvents, loadEvents } from '../events/api';
import { kindOf, type Event } from '../events/record';
import { Snapshots } from '../events/row';
import { openShareSheet } from '../share/sheet';
import { liveTile, type LiveTile } from '../live/tile';
import { emptyState, fmtClock, fmtDateTime, fmtRange, fmtTime, pageHead, securityDetails } from '../kit';
import { h, mount, showError } from '../ui';
import './timeline.css';

export { listSegments, openSegment, ranges } from '../media/segments';

const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
const MIN_SPAN = 5 * MIN;
const MAX_SPAN = DAY;
const ZOOMS: [number, string][] = [
  [15 * MIN, '15 min'],
  [HOUR, '1 h'],
  [6 * HOUR, '6 h'],
  [DAY, '24 h'],
];

const enc = encodeURIComponent;
const pad = (n: number) => String(n).padStart(2, '0');

function localInput(t: number): string {
  const d = new Date(t);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}
function fileStamp(t: number): string {
  const d = new Date(t);
  return `${d.getFullYear()}${pad(d.getMonth() + 1)}${pad(d.getDate())}-${pad(d.getHours())}${pad(d.getMinutes())}${pad(d.getSeconds())}`;
}
/** A moment with seconds, in the app's one format: "Today 21:04:05". */
const moment = (t: number) => fmtDateTime(t).replace(fmtClock(t), fmtTime(t));

route('/h/:hh/cams', async (root, p) => {
  const err = h('p');
  const back = { href: `/h/${enc(p.hh)}`, label: 'Home' };
  mount(root, pageHead('Cameras', { back }), err);
  try {
    const res = await api<{ cameras: string[] }>('GET', `/v1/households/${enc(p.hh)}/cameras`);
    const list = h('ul', { id: 'camera-list', class: 'list' });
    for (const c of res.cameras) {
      list.append(
        h(
          'li',
          { class: 'item' },
          h('a', { class: 'grow', href: `/h/${enc(p.hh)}/cam/${enc(c)}`, 'data-camera': c }, c),
          h('div', { class: 'actions' }, h('a', { class: 'btn secondary', href: `/h/${enc(p.hh)}/cam/${enc(c)}/live` }, 'Live')),
        ),
      );
    }
    mount(root, pageHead('Cameras', { back }), res.cameras.length ? list : emptyState('No camera has recorded yet.'), err);
  } catch (e) {
    showError(err, e);
  }
});

route('/h/:hh/cam/:cam', async (root, p) => {
  const hh = p.hh;
  const cam = p.cam;
  const q = new URLSearchParams(location.search);
  const startAt = Number(q.get('at') ?? q.get('t')) || 0;
  const eventId = q.get('event') ?? '';

  const status = h('p', { id: 'tl-status', class: 'muted', role: 'status' }, 'Loading the recordings…');
  const err = h('p', { id: 'tl-error' });
  const refusal = h('div', { id: 'tl-refusal' });
  const video = h('video', { id: 'tl-video', muted: true, playsinline: true, controls: true, hidden: true, 'aria-label': `Recording of ${cam}` });
  video.muted = true;
  const hint = h('p', { class: 'tl-hint' }, 'Choose a moment on the bar below to watch it.');
  const position = h('span', { id: 'tl-position', class: 'overlay-time', hidden: true });
  const media = h('div', { class: 'media tl-media' }, video, hint, position);
  const liveSlot = h('div', { class: 'tl-live-slot' });

  const bar = h('div', { id: 'tl-bar', class: 'tl-bar', role: 'slider', tabindex: '0', 'aria-label': `Recordings of ${cam}`, 'aria-orientation': 'horizontal' });
  const cursor = h('div', { id: 'tl-cursor', class: 'tl-cursor', hidden: true });
  const thumb = h('div', { class: 'tl-thumb', hidden: true });
  const ticks = h('div', { class: 'tl-ticks', 'aria-hidden': 'true' });
  const previewImg = h('img', { class: 'tl-preview-img', alt: '', hidden: true });
  const previewTime = h('span', { class: 'tl-preview-time' });
  const previewKind = h('span', { class: 'tl-preview-kind' });
  const preview = h('div', { id: 'tl-preview', class: 'tl-preview', 'aria-hidden': 'true', hidden: true }, previewImg, h('span', { class: 'tl-preview-text' }, previewKind, previewTime));
  const label = h('p', { id: 'tl-window', class: 'tl-window' });
  const evStrip = h('ul', { id: 'tl-events', class: 'tl-events', 'aria-label': 'Events in view' });

  const rate = h('select', { id: 'tl-rate' }, h('option', { value: '1' }, '1×'), h('option', { value: '2' }, '2×'), h('option', { value: '4' }, '4×'));
  const dlFrom = h('input', { id: 'tl-dl-from', type: 'datetime-local', step: '1' });
  const dlTo = h('input', { id: 'tl-dl-to', type: 'datetime-local', step: '1' });
  const dlButton = h('button', { id: 'tl-dl-make', type: 'button' }, 'Prepare the video');
  const dlOut = h('p', { id: 'tl-dl-out' });
  const donate = donateButton(
    () => {
      const a = Date.parse(dlFrom.value);
      const b = Date.parse(dlTo.value);
      if (!(a < b)) {
        showError(dlOut, 'choose a start before the end');
        return null;
      }
      return { hh, cam, fromMs: a, toMs: b };
    },
    { id: 'tl-donate' },
  );

  const liveBtn = h('button', { id: 'tl-live', type: 'button', class: 'secondary', hidden: true }, 'Back to live');
  const shareBtn = h('button', { id: 'tl-share', type: 'button' }, 'Share');

  let segs: SegmentRef[] = [];
  let marks: Event[] = [];
  let highlight = '';
  let span = HOUR;
  let windowEnd = Date.now() + span * 0.05;
  let follow = true; // the window's end follows now
  let sel = NaN; // the slider's value: the moment chosen
  let selTouched = 0; // when the user last moved it
  let keys: HouseholdKeys | undefined;
  let snaps: Snapshots | undefined;
  let player: Player | undefined;
  let live: LiveTile | undefined;
  let dlURL = '';
  let closed = false;
  let refreshSeq = 0;

  const zoomButtons = ZOOMS.map(([s, text]) =>
    h('button', { type: 'button', 'data-span-ms': String(s), id: `tl-zoom-${s / MIN}m`, 'aria-pressed': 'false', onclick: () => zoom(s) }, text),
  );
  const panBack = h('button', { type: 'button', class: 'secondary', id: 'tl-back', onclick: () => pan(-1) }, '◀ Earlier');
  const panFwd = h('button', { type: 'button', class: 'secondary', id: 'tl-fwd', onclick: () => pan(1) }, 'Later ▶');
  const legend = h(
    'ul',
    { id: 'tl-legend', class: 'tl-legend', 'aria-label': 'What the bar shows' },
    h('li', {}, h('span', { class: 'tl-swatch tl-sw-rec', 'aria-hidden': 'true' }), 'Recorded'),
    h('li', {}, h('span', { class: 'tl-swatch tl-sw-event', 'aria-hidden': 'true' }), 'Event'),
    h('li', {}, h('span', { class: 'tl-swatch tl-sw-none', 'aria-hidden': 'true' }), 'No recording'),
  );

  shareBtn.addEventListener('click', () => {
    const at = player && video.readyState > 0 ? player.wallTime() : Number.isFinite(sel) ? sel : Math.min(Date.now(), windowEnd) - 30_000;
    openShareSheet({ hh, cam, atMs: Math.round(at) });
  });

  mount(
    root,
    pageHead(cam, { back: { href: `/h/${enc(hh)}`, label: 'Home' }, actions: [liveBtn, shareBtn] }),
    refusal,
    h(
      'section',
      { class: 'card tl-card', 'aria-label': 'Recordings' },
      liveSlot,
      media,
      h('div', { class: 'tl-wrap' }, label, preview, bar, ticks),
      h('div', { class: 'tl-controls' }, h('div', { class: 'segmented', id: 'tl-zoom', role: 'group', 'aria-label': 'Time shown' }, ...zoomButtons), panBack, panFwd),
      legend,
      status,
      err,
      evStrip,
      h('label', { class: 'field tl-rate' }, h('span', {}, 'Speed'), rate),
    ),
    h(
      'details',
      { class: 'card tl-dl' },
      h('summary', {}, 'Save a clip as a video file'),
      h('p', { class: 'muted' }, 'The recording is opened and put together into one MP4 file on this device.'),
      h('div', { class: 'tl-dl-row' }, h('label', { class: 'field' }, h('span', {}, 'From'), dlFrom), h('label', { class: 'field' }, h('span', {}, 'To'), dlTo), dlButton),
      dlOut,
      h('p', { class: 'muted' }, 'Or give this time, with faces blurred by your hub, to help improve detection:'),
      donate,
    ),
    securityDetails(
      h('p', {}, 'The bar is drawn from the cloud’s list of recordings, which the cloud could get wrong. What plays is checked on this device: each piece of video must be signed by the household’s hub for this camera and for exactly the times listed, or it is refused and not played.'),
      h('p', {}, 'Recordings are sealed on the hub; only the household’s devices hold the keys to open them. Events on the bar are opened the same way.'),
    ),
  );

  const from = () => windowEnd - span;
  const pct = (t: number) => `${((t - from()) / span) * 100}%`;
  const timeAt = (clientX: number) => {
    const r = bar.getBoundingClientRect();
    const f = Math.min(1, Math.max(0, (clientX - r.left) / r.width));
    return from() + f * span;
  };
  const nowEnd = () => Date.now() + span * 0.05;
  const recordedAt = (t: number) => segs.some((s) => s.start <= t && t < s.end);
  const eventAt = (t: number, slack: number) => {
    let best: Event | undefined;
    let dist = Infinity;
    for (const e of marks) {
      const end = e.end ?? e.start;
      const d = t < e.start ? e.start - t : t > end ? t - end : 0;
      if (d <= slack && d < dist) {
        best = e;
        dist = d;
      }
    }
    return best;
  };

  function draw(): void {
    const f = from();
    bar.replaceChildren();
    bar.dataset.from = String(Math.round(f));
    bar.dataset.to = String(Math.round(windowEnd));
    bar.setAttribute('aria-valuemin', String(Math.round(f)));
    bar.setAttribute('aria-valuemax', String(Math.round(windowEnd)));
    for (const [s, e] of ranges(segs)) {
      if (e <= f || s >= windowEnd) continue;
      const l = Math.max(s, f);
      const r = Math.min(e, windowEnd);
      const el = h('div', { class: 'tl-range', 'data-start': String(s), 'data-end': String(e) });
      el.style.left = pct(l);
      el.style.width = `${Math.max(((r - l) / span) * 100, 0.1)}%`;
      bar.append(el);
    }
    const inView: Event[] = [];
    for (const ev of marks) {
      const end = ev.end ?? ev.start;
      if (end < f || ev.start >= windowEnd) continue;
      inView.push(ev);
      const l = Math.max(ev.start, f);
      const el = h('div', { class: 'tl-event', 'data-event': ev.id, 'data-start': String(ev.start) });
      if (ev.alert) el.classList.add('alert');
      if (ev.id === highlight) {
        el.classList.add('highlight');
        el.setAttribute('aria-current', 'true');
      }
      el.style.left = pct(l);
      el.style.width = `${((Math.min(end, windowEnd) - l) / span) * 100}%`;
      bar.append(el);
    }
    bar.append(thumb, cursor);
    drawStrip(inView);
    ticks.replaceChildren();
    const px = bar.clientWidth || 320;
    // Ticks at least ~70 px apart, on round times.
    const steps = [MIN, 5 * MIN, 10 * MIN, 15 * MIN, 30 * MIN, HOUR, 2 * HOUR, 3 * HOUR, 6 * HOUR, 12 * HOUR];
    const step = steps.find((s) => (s / span) * px >= 70) ?? DAY;
    const tz = new Date().getTimezoneOffset() * MIN;
    for (let t = Math.ceil((f - tz) / step) * step + tz; t < windowEnd; t += step) {
      const x = (t - f) / span;
      if (x < 0.06 || x > 0.94) continue;
      const tk = h('span', { class: 'tl-tick' }, fmtClock(t));
      tk.style.left = `${x * 100}%`;
      ticks.append(tk);
    }
    label.textContent = fmtRange(f, windowEnd);
    for (const b of zoomButtons) b.setAttribute('aria-pressed', String(Number(b.dataset.spanMs) === span));
    panFwd.disabled = follow && windowEnd >= Date.now();
    setSel(Number.isFinite(sel) ? sel : Math.min(Date.now(), windowEnd), false);
    moveCursor();
  }

  // The strip of this window's events under the bar: one tap plays one.
  function drawStrip(inView: Event[]): void {
    evStrip.replaceChildren();
    evStrip.hidden = inView.length === 0;
    for (const ev of inView.slice(-40)) {
      const kind = kindOf(ev.labels);
      const pic = h('span', { class: 'tl-ev-pic' });
      const b = h(
        'button',
        { type: 'button', class: 'tl-ev', 'data-event': ev.id },
        pic,
        h('span', { class: 'tl-ev-kind' }, kind),
        h('span', { class: 'tl-ev-time' }, fmtClock(ev.start)),
        h('span', { class: 'sr-only' }, `, play from ${moment(ev.start)}`),
      );
      if (ev.id === highlight) b.setAttribute('aria-current', 'true');
      if (ev.snapshot && snaps) snaps.url(ev.snapshot).then((u) => pic.append(h('img', { alt: '', src: u })), () => undefined);
      b.addEventListener('click', () => playEvent(ev));
      evStrip.append(h('li', {}, b));
    }
  }

  function setSel(t: number, touched = true): void {
    sel = t;
    if (touched) selTouched = Date.now();
    bar.setAttribute('aria-valuenow', String(Math.round(t)));
    const ev = eventAt(t, 0);
    bar.setAttribute('aria-valuetext', moment(t) + (ev ? `, ${kindOf(ev.labels).toLowerCase()}` : '') + (segs.length && !recordedAt(t) ? ', no recording' : ''));
    const inside = t >= from() && t <= windowEnd;
    thumb.hidden = !inside || selTouched === 0;
    if (inside) thumb.style.left = pct(t);
  }

  function moveCursor(): void {
    const at = player && !Number.isNaN(video.currentTime) && video.readyState > 0 ? player.wallTime() : NaN;
    if (Number.isNaN(at)) {
      cursor.hidden = true;
      return;
    }
    position.hidden = false;
    position.textContent = moment(at);
    bar.dataset.cursor = String(Math.round(at));
    cursor.hidden = at < from() || at > windowEnd;
    if (!cursor.hidden) cursor.style.left = pct(at);
    // The slider follows the play head while nobody moves it.
    if (!video.paused && Date.now() - selTouched > 5000 && !dragging) {
      if (at > windowEnd && follow === false && at < Date.now()) {
        windowEnd = at + span * 0.5;
        void refresh();
      }
      setSel(at, false);
    }
  }

  function showPreview(t: number): void {
    const r = bar.getBoundingClientRect();
    const x = ((t - from()) / span) * r.width;
    previewTime.textContent = fmtTime(t);
    const ev = eventAt(t, (24 / Math.max(r.width, 1)) * span);
    previewKind.textContent = ev ? kindOf(ev.labels) : recordedAt(t) || !segs.length ? '' : 'No recording';
    if (ev?.snapshot && snaps) {
      const want = ev.snapshot;
      preview.dataset.event = ev.id;
      snaps.url(want).then(
        (u) => {
          if (preview.dataset.event === ev.id) {
            previewImg.src = u;
            previewImg.hidden = false;
          }
        },
        () => (previewImg.hidden = true),
      );
    } else {
      delete preview.dataset.event;
      previewImg.hidden = true;
    }
    preview.hidden = false;
    const w = preview.offsetWidth || 120;
    preview.style.left = `${Math.min(Math.max(x - w / 2, 0), Math.max(r.width - w, 0))}px`;
    preview.dataset.at = String(Math.round(t));
  }
  const hidePreview = () => (preview.hidden = true);

  function setWindow(end: number, s = span): void {
    span = Math.min(MAX_SPAN, Math.max(MIN_SPAN, s));
    const max = nowEnd();
    follow = end >= max - span * 0.02;
    windowEnd = Math.min(end, max);
  }

  function zoom(s: number): void {
    // Keep the play head (or the chosen moment) in the middle; else the end.
    const playing = player && video.readyState > 0 ? player.wallTime() : NaN;
    const centre = !Number.isNaN(playing) ? playing : Date.now() - selTouched < 60_000 ? sel : NaN;
    if (Number.isNaN(centre)) setWindow(follow ? nowEnd() : windowEnd, s);
    else setWindow(centre + Math.min(s, MAX_SPAN) / 2, s);
    draw();
    void refresh();
  }

  function pan(dir: number): void {
    setWindow(windowEnd + (dir * span) / 2);
    draw();
    void refresh();
  }

  // refresh lists the window's segments; a poll (incremental) lists only
  // what came after the newest one known.
  async function refresh(incremental = false): Promise<void> {
    const seq = ++refreshSeq;
    try {
      let a = from() - HOUR;
      const newest = segs[segs.length - 1];
      if (incremental && newest && newest.start > a && newest.start - MIN < windowEnd) a = newest.start - MIN;
      const list = await listSegments(hh, cam, a, windowEnd);
      if (closed) return;
      // Keep what is known outside the window (the player may be there).
      const known = new Map(segs.map((s) => [s.key, s]));
      for (const s of list) known.set(s.key, s);
      segs = [...known.values()].sort((a, b) => a.start - b.start);
      player?.setSegments(segs);
      if (seq === refreshSeq) draw();
      if (!keys) return;
      if (!player) status.textContent = segs.some((s) => s.end > from() && s.start < windowEnd) ? '' : 'Nothing was recorded in this time.';
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
      const byId = new Map(marks.map((e) => [e.id, e]));
      for (const e of events.values()) if (e.camera === cam) byId.set(e.id, e);
      marks = [...byId.values()].sort((a, b) => a.start - b.start);
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
      onFirstFrame: (ms, at) => {
        video.setAttribute('data-first-frame-ms', String(Math.round(ms)));
        video.setAttribute('data-at-ms', String(Math.round(at)));
        const asked = Number(bar.dataset.clicked);
        status.textContent = Math.abs(at - asked) > 2000 ? `Nothing was recorded at ${fmtTime(asked)}: playing the next recording, from ${fmtTime(at)}.` : '';
      },
    });
    pl.setSegments(segs);
    pl.setRate(Number(rate.value));
    return pl;
  }

  async function playAt(wall: number, t0 = performance.now()): Promise<void> {
    bar.dataset.clicked = String(Math.round(wall));
    setSel(wall);
    if (!keys) return;
    err.replaceChildren();
    err.className = '';
    for (const a of ['data-first-frame-ms', 'data-at-ms', 'data-error']) video.removeAttribute(a);
    showRecording();
    video.hidden = false;
    hint.hidden = true;
    if (!player || wall < player.origin + 1000) player = newPlayer(Math.floor(wall / DAY) * DAY - DAY);
    status.textContent = `Opening the recording of ${moment(wall)}…`;
    try {
      await player.playAt(wall, t0);
    } catch (e) {
      video.setAttribute('data-error', showError(err, e));
      status.textContent = '';
    }
  }

  // showLive puts the live picture on top (the recording stops); showRecording the recording (live stops).
  function showLive(): void {
    player?.destroy();
    player = undefined;
    for (const a of ['data-first-frame-ms', 'data-at-ms', 'data-error']) video.removeAttribute(a);
    delete bar.dataset.cursor;
    cursor.hidden = true;
    position.hidden = true;
    media.hidden = true;
    live?.close();
    live = liveTile(hh, cam);
    liveSlot.replaceChildren(live.el);
    liveSlot.hidden = false;
    liveBtn.hidden = true;
  }
  function showRecording(): void {
    live?.close();
    live = undefined;
    liveSlot.replaceChildren();
    liveSlot.hidden = true;
    media.hidden = false;
    liveBtn.hidden = false;
  }
  liveBtn.addEventListener('click', showLive);

  function playEvent(ev: Event): void {
    highlight = ev.id;
    draw();
    void playAt(ev.start);
  }

  // Pointer: a tap plays there; a drag scrubs (the bubble shows the time
  // and the nearest event) and plays where it is let go; two fingers zoom.
  const pointers = new Map<number, number>();
  let dragging = false;
  let downX = 0;
  let pinch: { dist: number; span: number; t: number; frac: number } | undefined;
  let ignoreClickUntil = 0;
  bar.addEventListener('pointerdown', (e) => {
    pointers.set(e.pointerId, e.clientX);
    try {
      bar.setPointerCapture(e.pointerId);
    } catch {
      /* a synthetic pointer */
    }
    if (pointers.size === 2) {
      const [a, b] = [...pointers.values()];
      const r = bar.getBoundingClientRect();
      const mid = (a + b) / 2;
      pinch = { dist: Math.max(Math.abs(a - b), 10), span, t: timeAt(mid), frac: (mid - r.left) / r.width };
      dragging = false;
      hidePreview();
      return;
    }
    downX = e.clientX;
    dragging = false;
    showPreview(timeAt(e.clientX));
  });
  bar.addEventListener('pointermove', (e) => {
    if (pointers.has(e.pointerId)) pointers.set(e.pointerId, e.clientX);
    if (pinch && pointers.size === 2) {
      const [a, b] = [...pointers.values()];
      const s = Math.min(MAX_SPAN, Math.max(MIN_SPAN, (pinch.span * pinch.dist) / Math.max(Math.abs(a - b), 10)));
      span = s;
      windowEnd = Math.min(pinch.t + (1 - pinch.frac) * s, nowEnd());
      follow = windowEnd >= nowEnd() - s * 0.02;
      draw();
      return;
    }
    if (!pointers.has(e.pointerId)) {
      if (e.pointerType === 'mouse') showPreview(timeAt(e.clientX));
      return;
    }
    if (Math.abs(e.clientX - downX) > 6) dragging = true;
    const t = timeAt(e.clientX);
    if (dragging) setSel(t);
    showPreview(t);
  });
  const pointerEnd = (e: PointerEvent, cancelled: boolean) => {
    if (!pointers.delete(e.pointerId)) return;
    if (pinch) {
      if (pointers.size < 2) {
        pinch = undefined;
        ignoreClickUntil = performance.now() + 500;
        void refresh();
      }
      return;
    }
    if (e.pointerType !== 'mouse') hidePreview();
    if (dragging && !cancelled) {
      ignoreClickUntil = performance.now() + 500;
      void playAt(timeAt(e.clientX));
    }
    dragging = false;
  };
  bar.addEventListener('pointerup', (e) => pointerEnd(e, false));
  bar.addEventListener('pointercancel', (e) => {
    pointerEnd(e, true);
    hidePreview();
  });
  bar.addEventListener('pointerleave', (e) => {
    if (e.pointerType === 'mouse' && !pointers.size) hidePreview();
  });
  bar.addEventListener('click', (e) => {
    if (performance.now() < ignoreClickUntil) return;
    const t0 = performance.now();
    void playAt(timeAt(e.clientX), t0);
  });

  // Keyboard: the bar is a slider over time.
  bar.addEventListener('keydown', (e) => {
    const base = Number.isFinite(sel) ? sel : Math.min(Date.now(), windowEnd);
    let t = NaN;
    switch (e.key) {
      case 'ArrowLeft':
      case 'ArrowDown':
        t = base - (e.shiftKey ? MIN : 10_000);
        break;
      case 'ArrowRight':
      case 'ArrowUp':
        t = base + (e.shiftKey ? MIN : 10_000);
        break;
      case 'PageUp':
        t = base + 10 * MIN;
        break;
      case 'PageDown':
        t = base - 10 * MIN;
        break;
      case 'Home':
        t = from();
        break;
      case 'End':
        t = Math.min(windowEnd, Date.now());
        break;
      case 'Enter':
      case ' ':
        e.preventDefault();
        void playAt(base);
        return;
      default:
        return;
    }
    e.preventDefault();
    t = Math.min(t, Date.now());
    if (t < from() || t > windowEnd) {
      setWindow(t < from() ? t + span * 0.9 : t + span * 0.1);
      draw();
      void refresh();
    }
    setSel(t);
    showPreview(t);
  });
  bar.addEventListener('blur', hidePreview);

  rate.addEventListener('change', () => player?.setRate(Number(rate.value)));
  video.addEventListener('timeupdate', moveCursor);
  const redraw = window.setInterval(() => {
    if (!video.paused) moveCursor();
  }, 500);
  const poll = window.setInterval(() => {
    if (follow && !dragging && !pinch && Date.now() > windowEnd - span * 0.02) {
      windowEnd = nowEnd();
      draw();
    }
    if (windowEnd > Date.now() - span) void refresh(true);
  }, 10_000);
  const onResize = () => draw();
  window.addEventListener('resize', onResize);

  dlButton.addEventListener('click', async () => {
    if (!keys) return;
    const a = Date.parse(dlFrom.value);
    const b = Date.parse(dlTo.value);
    dlOut.replaceChildren();
    dlOut.className = '';
    if (!(a < b)) {
      showError(dlOut, 'choose a start before the end');
      return;
    }
    dlButton.disabled = true;
    try {
      const list = (await listSegments(hh, cam, a, b)).filter((s) => s.end > a && s.start < b);
      if (list.length === 0) throw new Error('nothing was recorded in that time');
      const parts: ClipPart[] = [];
      let bytes = 0;
      for (const [i, ref] of list.entries()) {
        dlOut.textContent = `Opening the recording… ${Math.round((i / list.length) * 100)}%`;
        const seg = await openSegment(hh, cam, keys, ref);
        bytes += seg.data.length;
        if (bytes > 1536 << 20) throw new Error('that is too long to put together on this device; choose a shorter time');
        parts.push({ start: seg.start, data: seg.data });
      }
      const clip = buildMP4(parts, a, b);
      if (dlURL) URL.revokeObjectURL(dlURL);
      dlURL = URL.createObjectURL(new Blob([clip.bytes.slice().buffer], { type: 'video/mp4' }));
      const name = `vigil-${cam}-${fileStamp(clip.start)}.mp4`;
      dlOut.replaceChildren(
        h('a', { id: 'tl-dl-link', class: 'btn', href: dlURL, download: name, 'data-duration': String(clip.duration), 'data-bytes': String(clip.bytes.length) }, 'Save the video'),
        h('span', { class: 'muted' }, ` ${(clip.bytes.length / 1e6).toFixed(1)} MB, ${Math.round(clip.duration)} s`),
      );
    } catch (e) {
      showError(dlOut, e);
    } finally {
      dlButton.disabled = false;
    }
  });

  const cleanup = () => {
    closed = true;
    clearInterval(redraw);
    clearInterval(poll);
    window.removeEventListener('resize', onResize);
    player?.destroy();
    live?.close();
    snaps?.dispose();
    if (dlURL) URL.revokeObjectURL(dlURL);
  };

  // The first window: around ?at=, else the last hour, or the last hour
  // that has recordings (within a day) when the camera is quiet.
  if (startAt > 0) setWindow(startAt + span / 2);
  if (startAt > 0 || eventId) showRecording();
  else showLive();
  draw();
  await refresh();
  if (closed) return cleanup;
  if (!startAt && !eventId && !segs.some((s) => s.end > from())) {
    try {
      const day = await listSegments(hh, cam, Date.now() - DAY, Date.now() + MIN);
      const last = day[day.length - 1];
      if (last && !closed) {
        setWindow(last.end + span * 0.1);
        await refresh();
      }
    } catch {
      /* the bar stays on the last hour */
    }
  }
  try {
    keys = await householdKeys(hh);
    snaps = new Snapshots(hh, keys);
    if (!segs.some((s) => s.end > from() && s.start < windowEnd)) status.textContent = 'Nothing was recorded in this time.';
    else status.textContent = '';
    const last = segs[segs.length - 1];
    if (last) {
      dlFrom.value = localInput(Math.max(last.end - 30_000, segs[0].start));
      dlTo.value = localInput(last.end);
    }
    if (eventId) {
      const ev = await findEvent(hh, keys, eventId).catch(() => undefined);
      if (closed) return cleanup;
      if (ev && ev.camera === cam) {
        highlight = ev.id;
        if (!marks.some((m) => m.id === ev.id)) marks = [...marks, ev].sort((a, b) => a.start - b.start);
        const len = (ev.end ?? ev.start) - ev.start;
        const s = len > 10 * MIN ? HOUR : 15 * MIN;
        setWindow(ev.start + len / 2 + s / 2, s);
        draw();
        await refresh();
        void playAt(ev.start);
      } else {
        status.textContent = 'That event was not found: it may be older than a week, or of another camera.';
        void refreshMarks();
      }
    } else {
      void refreshMarks();
      if (startAt > 0) void playAt(startAt);
    }
  } catch (e) {
    status.textContent = '';
    video.hidden = true;
    hint.hidden = true;
    dlButton.disabled = true;
    shareBtn.hidden = true;
    if (e instanceof NotEnrolledError) {
      refusal.className = 'banner warn tl-refusal';
      refusal.replaceChildren(
        h(
          'div',
          { class: 'grow' },
          h('p', { role: 'alert', id: 'tl-not-enrolled' }, e.message + '.'),
          h('p', {}, 'The bar shows when there are recordings; watching them needs this browser to be one of the household’s devices. ', h('a', { href: '/device' }, 'Ask an admin to add this browser'), '.'),
        ),
      );
    } else showError(err, e);
  }

  return cleanup;
});
