// Page: a household's home (/h/:hh, and /h/:hh/live for old links and the
// demo). Every camera live, or its latest picture while live cannot start
// (live/tile.ts), one tap to a camera's page; the newest events with their
// snapshots, opened in this browser with the household's keys, as the
// inbox lists them (events/row.ts: a tap on a snapshot plays the event); a
// banner when a device waits to join.
//
// Owns: the home layout (.cams of .cam-tile, #home-events of .ev-row).
// Must never: keep a live session, socket or blob: URL after the page is
// left (the cleanup stops them), or put network text in as HTML.

import './home.css';
// The event rows' styles (events/row.ts) live with the inbox.
import './events.css';
import { api } from '../api';
import { LiveEvents, readRecord } from '../events/api';
import { newestEvents } from '../events/list';
import { merge, newestFirst, type Event } from '../events/record';
import { EventRows } from '../events/row';
import { openHousehold } from '../household';
import { joinWaiting } from '../household/waiting';
import { emptyState, pageHead } from '../kit';
import { householdKeys, NotEnrolledError } from '../media/keys';
import { Signal } from '../live/session';
import { liveTile, type LiveTile } from '../live/tile';
import { route, type Params } from '../router';
import { h, mount, showError } from '../ui';
import { requireAccount } from './auth';

const enc = encodeURIComponent;
/** Events shown on home. */
const SHOWN = 6;

/** cameras lists the household's cameras: those its hubs have live now and those with recordings. */
async function cameras(hh: string): Promise<string[]> {
  const [live, recorded] = await Promise.allSettled([
    api<{ cameras: string[] | null }>('GET', `/v1/households/${enc(hh)}/live/ice`),
    api<{ cameras: string[] | null }>('GET', `/v1/households/${enc(hh)}/cameras`),
  ]);
  if (live.status === 'rejected' && recorded.status === 'rejected') throw live.reason;
  const all = new Set<string>();
  if (live.status === 'fulfilled') for (const c of live.value.cameras ?? []) all.add(c);
  if (recorded.status === 'fulfilled') for (const c of recorded.value.cameras ?? []) all.add(c);
  return [...all].sort();
}

function home(root: HTMLElement, p: Params): () => void {
  const hh = p.hh;
  const base = `/h/${enc(hh)}`;
  const head = pageHead('Home', { id: 'home-head' });
  const title = head.querySelector('h1')!;
  const cams = h('div', { class: 'cams', id: 'home-cams', 'aria-busy': 'true' }, h('p', { class: 'muted' }, 'Finding the cameras…'));
  const camErr = h('p', { id: 'home-cams-error' });
  const evStatus = h('p', { class: 'muted', id: 'home-events-status', role: 'status' }, 'Opening the newest events…');
  const evList = h('ul', { class: 'list', id: 'home-events' });
  mount(
    root,
    joinWaiting(hh),
    head,
    h('section', { class: 'home-cams', 'aria-labelledby': 'home-cams-title' }, h('h2', { id: 'home-cams-title', class: 'sr-only' }, 'Cameras'), camErr, cams),
    h(
      'section',
      { class: 'card home-events', 'aria-labelledby': 'home-events-title' },
      h('div', { class: 'home-events-head' }, h('h2', { id: 'home-events-title' }, 'Recent events'), h('a', { class: 'btn secondary', id: 'home-all-events', href: `${base}/events` }, 'See all events')),
      evStatus,
      evList,
    ),
  );

  const tiles = new Map<string, LiveTile>();
  const signal = new Signal(hh);
  let rows: EventRows | undefined;
  let live: LiveEvents | undefined;
  let gone = false;

  const showCameras = (list: string[]) => {
    cams.removeAttribute('aria-busy');
    if (!list.length) {
      cams.replaceChildren(emptyState('No cameras yet. When a hub with cameras is paired, they appear here.', h('a', { class: 'btn secondary', href: `${base}/settings` }, 'Settings')));
      return;
    }
    cams.replaceChildren();
    for (const cam of list) {
      const t = liveTile(hh, cam, { signal });
      tiles.set(cam, t);
      cams.append(
        h(
          'div',
          { class: 'card cam-tile', 'data-camera': cam },
          t.el,
          h('a', { class: 'cam-open', href: `${base}/cam/${enc(cam)}` }, h('span', { class: 'cam-name' }, cam), h('span', { class: 'cam-more' }, 'Recordings', h('span', { 'aria-hidden': 'true' }, ' ›'))),
        ),
      );
    }
  };

  const showEvents = (events: Map<string, Event>) => {
    const shown = newestFirst(events.values()).slice(0, SHOWN);
    evList.replaceChildren(...shown.map((e) => rows!.row(e)));
    rows!.settle();
    evList.dataset.count = String(shown.length);
    evStatus.textContent = shown.length ? '' : 'Nothing happened in the last 7 days.';
    evStatus.hidden = shown.length > 0;
  };

  const loadEvents = async (camList: string[]) => {
    let keys;
    try {
      keys = await householdKeys(hh);
    } catch (e) {
      if (gone) return;
      if (e instanceof NotEnrolledError) evStatus.textContent = 'This browser can’t open the household’s events yet: an admin of the household has to add it.';
      else showError(evStatus, e);
      return;
    }
    if (gone) return;
    const r = new EventRows(hh, keys);
    rows = r;
    const { events: newest, stills } = await newestEvents(hh, keys, SHOWN, camList);
    if (gone) return;
    const events = new Map(newest.map((e) => [e.id, e]));
    showEvents(events);
    for (const [cam, e] of stills) {
      const t = tiles.get(cam);
      if (t) r.snapshots.url(e.snapshot).then((u) => t.setStill(u, e.start), () => undefined);
    }
    // New events arrive over the household's event socket.
    const k = keys;
    live = new LiveEvents(hh, async (n) => {
      try {
        const r = await readRecord(hh, k, n.key);
        if (gone) return;
        merge(events, r, n.key);
        showEvents(events);
      } catch {
        /* a record that does not open is not shown */
      }
    });
  };

  void (async () => {
    // Signed out: the sign-in page, and back here afterwards.
    let signedIn;
    try {
      signedIn = await requireAccount();
    } catch (e) {
      showError(camErr, e);
      return;
    }
    if (!signedIn || gone) return;
    signal.connect();
    let camList: string[];
    try {
      camList = await cameras(hh);
    } catch (e) {
      if (gone) return;
      cams.replaceChildren();
      showError(camErr, e);
      camList = [];
    }
    if (gone) return;
    if (!camErr.textContent) showCameras(camList);
    openHousehold(hh).then(
      (x) => {
        if (!gone && x.name) title.textContent = x.name;
      },
      () => undefined,
    );
    try {
      await loadEvents(camList);
    } catch (e) {
      if (!gone) showError(evStatus, e);
    }
  })();

  return () => {
    gone = true;
    for (const t of tiles.values()) t.close();
    signal.close();
    live?.close();
    rows?.dispose();
  };
}

route('/h/:hh', home);
route('/h/:hh/live', home);
