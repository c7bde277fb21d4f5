// Pages: live view — the camera grid of a household (/h/:hh/live) and one
// camera (/h/:hh/cam/:cam/live). Video comes from the hub over WebRTC; the
// cloud only relays the signed offer and answer (G8).

import { api } from '../api';
import { loadDeviceKeys } from '../crypto/devicekeys';
import { LiveView, Signal, type LiveTrust } from '../live/session';
import { liveTrust } from '../live/trust';
import { route } from '../router';
import { h, mount, showError } from '../ui';

// clickedAt is when a camera was chosen in the grid, for the time to the
// first frame.
let clickedAt = 0;

type Prepared = { trust: LiveTrust; keys: NonNullable<Awaited<ReturnType<typeof loadDeviceKeys>>> };

// The verified chain is reused for a minute, so going from the grid to one
// camera does not verify it again.
const prepared = new Map<string, { p: Prepared; at: number }>();

async function prepare(hh: string): Promise<Prepared> {
  const c = prepared.get(hh);
  if (c && performance.now() - c.at < 60000) return c.p;
  const keys = await loadDeviceKeys();
  if (!keys) throw new Error('this browser has no device keys yet: open /device and have an admin add this browser to the household');
  const p = { keys, trust: await liveTrust(hh, keys) };
  prepared.set(hh, { p, at: performance.now() });
  return p;
}

function tile(hh: string, cam: string, signal: Signal, prep: Awaited<ReturnType<typeof prepare>>, big: boolean): { el: HTMLElement; view: LiveView } {
  const video = h('video', { class: big ? 'live-video live-big' : 'live-video', autoplay: true, muted: true, playsinline: true, 'data-camera': cam });
  video.muted = true;
  const status = h('span', { class: 'muted live-status', role: 'status' }, 'Connecting…');
  const err = h('p', { class: 'live-error' });
  const started = big && clickedAt ? clickedAt : performance.now();
  let connects = 0;
  clickedAt = 0;
  const view = new LiveView({
    hh,
    camera: cam,
    video,
    signal,
    keys: prep.keys,
    trust: prep.trust,
    onStatus: (s) => {
      status.textContent = s;
      if (s === 'Live') {
        err.replaceChildren();
        connects++;
        video.setAttribute('data-connects', String(connects));
      }
    },
    onError: (msg, fatal) => {
      if (fatal) {
        showError(err, msg);
        err.classList.add('live-error');
        video.setAttribute('data-refused', msg);
      } else {
        err.className = 'live-error muted';
        err.textContent = msg;
      }
    },
    onFirstFrame: (at) => {
      const ms = Math.round(at - started);
      video.setAttribute('data-first-frame-ms', String(ms));
      status.textContent = 'Live';
    },
  });
  const head = big
    ? h('div', { class: 'live-head' }, h('h1', {}, cam), status)
    : h('div', { class: 'live-head' }, h('a', { href: `/h/${encodeURIComponent(hh)}/cam/${encodeURIComponent(cam)}/live`, class: 'live-cam', 'data-camera': cam, onclick: () => (clickedAt = performance.now()) }, cam), status);
  return { el: h('div', { class: 'live-tile' }, head, video, err), view };
}

route('/h/:hh/live', async (root, p) => {
  const err = h('p');
  mount(root, h('div', { class: 'card' }, h('h1', {}, 'Live'), h('p', { class: 'muted' }, 'Loading…')));
  const signal = new Signal(p.hh);
  const views: LiveView[] = [];
  let gone = false;
  try {
    const prep = await prepare(p.hh);
    const cfg = await api<{ cameras: string[] }>('GET', `/v1/households/${encodeURIComponent(p.hh)}/live/ice`);
    if (gone) return;
    const grid = h('div', { class: 'live-grid' });
    for (const cam of cfg.cameras ?? []) {
      const t = tile(p.hh, cam, signal, prep, false);
      grid.append(t.el);
      views.push(t.view);
      t.view.start();
    }
    mount(
      root,
      h('h1', {}, 'Live'),
      (cfg.cameras ?? []).length ? grid : h('p', { class: 'muted', id: 'no-cameras' }, 'No camera is live: is the hub on and connected?'),
      h('p', {}, h('a', { href: `/h/${encodeURIComponent(p.hh)}` }, 'Back to the household')),
    );
  } catch (e) {
    mount(root, h('div', { class: 'card' }, h('h1', {}, 'Live'), err));
    showError(err, e);
  }
  return () => {
    gone = true;
    for (const v of views) v.stop();
    signal.close();
  };
});

route('/h/:hh/cam/:cam/live', async (root, p) => {
  const err = h('p');
  mount(root, h('div', { class: 'card' }, h('h1', {}, p.cam), h('p', { class: 'muted' }, 'Loading…')));
  const signal = new Signal(p.hh);
  signal.connect();
  let view: LiveView | undefined;
  let gone = false;
  try {
    const prep = await prepare(p.hh);
    if (gone) return;
    const t = tile(p.hh, p.cam, signal, prep, true);
    view = t.view;
    mount(
      root,
      t.el,
      h('p', {}, h('a', { href: `/h/${encodeURIComponent(p.hh)}/live` }, 'All cameras'), ' · ', h('a', { href: `/h/${encodeURIComponent(p.hh)}/cam/${encodeURIComponent(p.cam)}` }, 'Timeline')),
    );
    view.start();
  } catch (e) {
    mount(root, h('div', { class: 'card' }, h('h1', {}, p.cam), err));
    showError(err, e);
  }
  return () => {
    gone = true;
    view?.stop();
    signal.close();
  };
});

