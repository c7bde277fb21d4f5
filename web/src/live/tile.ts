// One camera's live picture, as home, the one-camera page and the camera
// page show it: the video in a 16:9 box with the time on the picture, a
// full-screen button, and what is happening in plain words ("Connecting…",
// "Live", "Can't reach the hub — retrying"). Until the first frame arrives
// it can show the camera's latest still (setStill). The session itself is
// LiveView (session.ts): signed offer, answer checked against the hub key of
// the chain this browser verified (G8), reconnecting with backoff.
//
// Owns: the tile's markup (.live-tile > .media > video.live-video with
// data-first-frame-ms, data-refused and data-connects for tests) and its
// timers. Must never: show protocol details in the first lines (the
// milliseconds stay in data attributes), or keep a session after close().

import './tile.css';
import { fmtDateTime, fmtTime } from '../kit';
import { loadDeviceKeys, type DeviceKeys } from '../crypto/devicekeys';
import { h } from '../ui';
import { LiveView, Signal, type LiveTrust } from './session';
import { talkControl } from './talk';
import { liveTrust, NotADevice } from './trust';

/** Prepared is what every session of a household needs: this browser's keys and the verified hubs. */
export interface Prepared {
  keys: DeviceKeys;
  trust: LiveTrust;
}

// The verified chain is reused for a minute, so the tiles of one page (and
// going from home to one camera) verify it once.
const prepared = new Map<string, { p: Promise<Prepared>; at: number }>();

/** prepareLive loads this browser's device keys and the household's verified hubs (cached for a minute). */
export function prepareLive(hh: string): Promise<Prepared> {
  const c = prepared.get(hh);
  if (c && performance.now() - c.at < 60_000) return c.p;
  const p = (async () => {
    const keys = await loadDeviceKeys();
    if (!keys) throw new NotADevice();
    return { keys, trust: await liveTrust(hh, keys) };
  })();
  prepared.set(hh, { p, at: performance.now() });
  p.catch(() => prepared.delete(hh));
  return p;
}

export interface LiveTileOptions {
  /** The page's signalling connection, shared by its tiles; the tile opens (and closes) its own otherwise. */
  signal?: Signal;
  /** The one-camera view: the video also has class live-big. */
  big?: boolean;
  /** When the person asked for this picture (performance.now()), for data-first-frame-ms; default: now. */
  startedAt?: number;
  /** Opened to answer a ring with "Talk": the sound on as soon as it comes, and talk ready (talk.ts). */
  answerTalk?: boolean;
}

export interface LiveTile {
  el: HTMLElement;
  video: HTMLVideoElement;
  /** setStill shows a picture of the camera (a blob: URL of a JPEG taken at `at`) until live video plays. */
  setStill(url: string, at: number): void;
  /** close stops the session, the clock and the full-screen listener. */
  close(): void;
}

/** How long a hidden page keeps its live sessions. */
const PAUSE_HIDDEN_MS = 15_000;

type State = 'connecting' | 'live' | 'retrying' | 'refused' | 'error';

const WORDS: Record<State, string> = {
  connecting: 'Connecting…',
  live: 'Live',
  retrying: 'Can’t reach the hub — retrying',
  refused: 'Refused',
  error: 'Can’t start',
};

/** strokeIcon: a 24x24 icon drawn as one round-cornered stroke of path d. */
function strokeIcon(d: string): SVGSVGElement {
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('width', '22');
  svg.setAttribute('height', '22');
  svg.setAttribute('aria-hidden', 'true');
  svg.setAttribute('focusable', 'false');
  const path = document.createElementNS(ns, 'path');
  path.setAttribute('d', d);
  path.setAttribute('fill', 'none');
  path.setAttribute('stroke', 'currentColor');
  path.setAttribute('stroke-width', '2.2');
  path.setAttribute('stroke-linecap', 'round');
  path.setAttribute('stroke-linejoin', 'round');
  svg.append(path);
  return svg;
}

/** speakerIcon: a speaker, with sound waves when on and struck through when muted. */
function speakerIcon(on: boolean): SVGSVGElement {
  return strokeIcon(on ? 'M4 9h4l5-4v14l-5-4H4zM16 9a4 4 0 0 1 0 6M18.5 6.5a7.5 7.5 0 0 1 0 11' : 'M4 9h4l5-4v14l-5-4H4zM16 9l5 6M21 9l-5 6');
}

function micIcon(): SVGSVGElement {
  return strokeIcon('M12 3a3 3 0 0 1 3 3v6a3 3 0 0 1-6 0V6a3 3 0 0 1 3-3zM5.5 11a6.5 6.5 0 0 0 13 0M12 17.5V21');
}

function fullscreenIcon(): SVGSVGElement {
  return strokeIcon('M4 9V4h5M15 4h5v5M20 15v5h-5M9 20H4v-5');
}

/**
 * liveTile shows camera cam of household hh live; it starts at once and
 * runs until close(). Pages call close() from their cleanup.
 */
export function liveTile(hh: string, cam: string, opts: LiveTileOptions = {}): LiveTile {
  const started = opts.startedAt ?? performance.now();
  const video = h('video', { class: opts.big ? 'live-video live-big' : 'live-video', autoplay: true, muted: true, playsinline: true, 'data-camera': cam, 'aria-label': `Live picture from ${cam}` });
  video.muted = true;
  const still = h('img', { class: 'live-still', alt: '', hidden: true });
  const time = h('span', { class: 'overlay-time', 'aria-hidden': 'true' });
  const statusText = h('span', {}, WORDS.connecting);
  const status = h('span', { class: 'overlay-status', role: 'status' }, h('span', { class: 'dot', 'aria-hidden': 'true' }), statusText);
  const fsBtn = h('button', { type: 'button', class: 'icon fullscreen', 'aria-label': 'Full screen', 'aria-pressed': 'false' }, fullscreenIcon());
  // Sound: shown once the hub sends the camera's audio; muted until pressed
  // (browsers play sound only after a gesture).
  const soundBtn = h('button', { type: 'button', class: 'icon sound', 'aria-label': 'Unmute', 'aria-pressed': 'false', hidden: true, 'data-sound': 'off' }, speakerIcon(false));
  // Talk: push-to-talk to the camera's speaker (talk.ts), shown once the hub offers it.
  const talk = talkControl(cam, micIcon, { answer: opts.answerTalk });
  const media = h('div', { class: 'media live-media' }, still, video, status, time, h('div', { class: 'overlay-actions' }, talk.button, soundBtn, fsBtn));
  const err = h('p', { class: 'live-error' });
  const el = h('div', { class: opts.big ? 'live-tile big' : 'live-tile', 'data-camera': cam, 'data-state': 'connecting' }, media, talk.note, err);

  let state: State = 'connecting';
  let stillAt = 0;
  let framed = false;
  let connects = 0;
  let closed = false;
  let view: LiveView | undefined;
  const ownSignal = !opts.signal;
  const signal = opts.signal ?? new Signal(hh);
  if (ownSignal) signal.connect();

  const set = (s: State) => {
    if (closed) return;
    state = s;
    el.dataset.state = s;
    statusText.textContent = WORDS[s];
    tick();
  };

  // The time on the picture: now while live, the still's time before.
  const tick = () => {
    if (state === 'live' && framed) {
      const now = Date.now();
      time.textContent = fmtTime(now);
      time.dataset.time = String(now);
      time.hidden = false;
    } else if (!framed && stillAt) {
      time.textContent = fmtDateTime(stillAt);
      time.dataset.time = String(stillAt);
      time.hidden = false;
    } else time.hidden = !framed;
  };
  // Aligned to the second, so the clock on the picture turns with the wall clock.
  let clock = 0;
  const align = window.setTimeout(() => {
    tick();
    clock = window.setInterval(tick, 1000);
  }, 1000 - (Date.now() % 1000));
  tick();

  // Full screen: the box (video, time and button) fills the screen; where
  // only the video can (iPhone Safari), the video does.
  const fsChange = () => {
    const on = document.fullscreenElement === media;
    fsBtn.setAttribute('aria-pressed', String(on));
    fsBtn.setAttribute('aria-label', on ? 'Exit full screen' : 'Full screen');
  };
  document.addEventListener('fullscreenchange', fsChange);
  fsBtn.addEventListener('click', async () => {
    try {
      if (document.fullscreenElement === media) {
        await document.exitFullscreen();
        return;
      }
      if (typeof media.requestFullscreen === 'function' && document.fullscreenEnabled !== false) {
        await media.requestFullscreen({ navigationUI: 'hide' });
        // Phones turn the picture sideways where they can.
        const o = screen.orientation as ScreenOrientation & { lock?: (o: string) => Promise<void> };
        await o?.lock?.('landscape').catch(() => undefined);
        return;
      }
      const v = video as HTMLVideoElement & { webkitEnterFullscreen?: () => void };
      v.webkitEnterFullscreen?.();
    } catch {
      /* the browser said no (not allowed here): the tile stays as it is */
    }
  });

  const setSound = (on: boolean) => {
    video.muted = !on;
    soundBtn.setAttribute('aria-pressed', String(on));
    soundBtn.setAttribute('aria-label', on ? 'Mute' : 'Unmute');
    soundBtn.dataset.sound = on ? 'on' : 'off';
    soundBtn.replaceChildren(speakerIcon(on));
  };
  soundBtn.addEventListener('click', () => {
    setSound(video.muted);
    if (!video.muted) void video.play().catch(() => undefined);
  });
  // Answering with "Talk": the sound on at once, unless the browser wants
  // a gesture first (then the speaker button stays to be pressed).
  let soundOnAudio = !!opts.answerTalk;

  let prep: Prepared | undefined;
  const startView = (p: Prepared) => {
    const v = new LiveView({
      hh,
      camera: cam,
      video,
      signal,
      keys: p.keys,
      trust: p.trust,
      talk: talk.talk,
      onStatus: (s) => {
        if (view !== v) return;
        if (s === 'Live') {
          connects++;
          video.setAttribute('data-connects', String(connects));
          err.replaceChildren();
          err.removeAttribute('role');
          set(framed ? 'live' : 'connecting');
        } else if (s === 'Connecting…' && state !== 'retrying') set('connecting');
      },
      onError: (msg, fatal) => {
        if (view !== v) return;
        if (fatal) {
          set('refused');
          err.textContent = msg;
          err.className = 'live-error error';
          err.setAttribute('role', 'alert');
          video.setAttribute('data-refused', msg);
        } else {
          // The reason stays out of sight (a tooltip and a data attribute).
          el.dataset.detail = msg;
          status.title = msg;
          set('retrying');
        }
      },
      onAudio: () => {
        if (view !== v) return;
        soundBtn.hidden = false;
        video.setAttribute('data-audio', 'true');
        if (soundOnAudio) {
          soundOnAudio = false;
          setSound(true);
          video.play().catch(() => {
            setSound(false);
            void video.play().catch(() => undefined);
          });
        }
      },
      onFirstFrame: (at) => {
        if (view !== v) return;
        if (!framed) video.setAttribute('data-first-frame-ms', String(Math.round(at - started)));
        framed = true;
        still.hidden = true;
        set('live');
      },
    });
    view = v;
    v.start();
  };
  // A new frame after a reconnection means live again.
  video.addEventListener('playing', () => framed && set('live'));

  // A page left in the background (a phone locked, another tab) stops
  // its sessions after a while and starts them again when it is back.
  let paused = false;
  let pauseTimer = 0;
  const visibility = () => {
    window.clearTimeout(pauseTimer);
    if (document.hidden) {
      pauseTimer = window.setTimeout(() => {
        if (!view || closed || state === 'refused') return;
        view.stop();
        view = undefined;
        paused = true;
      }, PAUSE_HIDDEN_MS);
    } else if (paused && prep && !closed) {
      paused = false;
      set('connecting');
      startView(prep);
    }
  };
  document.addEventListener('visibilitychange', visibility);

  void (async () => {
    try {
      prep = await prepareLive(hh);
    } catch (e) {
      if (closed) return;
      set('error');
      const plain =
        e instanceof NotADevice
          ? 'This browser can’t watch yet: it is not one of the household’s devices. Ask an admin of the household to add it.'
          : `Can’t start the live picture: ${e instanceof Error ? e.message : String(e)}`;
      err.replaceChildren(plain);
      err.className = 'live-error error';
      err.setAttribute('role', 'alert');
      video.setAttribute('data-refused', plain);
      return;
    }
    if (closed) return;
    if (document.hidden) paused = true;
    else startView(prep);
  })();

  return {
    el,
    video,
    setStill(url: string, at: number) {
      if (framed || closed) return;
      still.src = url;
      still.alt = `Latest picture from ${cam}, ${fmtDateTime(at)}`;
      still.hidden = false;
      stillAt = at;
      tick();
    },
    close() {
      if (closed) return;
      closed = true;
      view?.stop();
      view = undefined;
      talk.close();
      if (ownSignal) signal.close();
      window.clearTimeout(pauseTimer);
      document.removeEventListener('visibilitychange', visibility);
      window.clearTimeout(align);
      window.clearInterval(clock);
      document.removeEventListener('fullscreenchange', fsChange);
      if (document.fullscreenElement === media) void document.exitFullscreen().catch(() => undefined);
    },
  };
}
