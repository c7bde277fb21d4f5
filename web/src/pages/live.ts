// Page: one camera live (/h/:hh/cam/:cam/live), full width with the time on
// the picture and full screen. Video comes from the hub over WebRTC; the
// cloud only relays the signed offer and answer (G8). Home (pages/home.ts)
// shows every camera with the same tile (live/tile.ts).

import { pageHead } from '../kit';
import { liveTile, type LiveTile } from '../live/tile';
import { route } from '../router';
import { h, mount } from '../ui';
import { requireAccount } from './auth';
// Home (/h/:hh, /h/:hh/live) is where the one-camera page leads back to.
import './home';

const enc = encodeURIComponent;

route('/h/:hh/cam/:cam/live', (root, p) => {
  const startedAt = performance.now();
  const base = `/h/${enc(p.hh)}`;
  const body = h('div', { id: 'live-one' });
  mount(
    root,
    pageHead(p.cam, {
      back: { href: base, label: 'Home' },
      actions: [h('a', { class: 'btn secondary', id: 'live-recordings', href: `${base}/cam/${enc(p.cam)}` }, 'Recordings')],
    }),
    body,
  );
  let tile: LiveTile | undefined;
  let gone = false;
  void (async () => {
    // Signed out: the sign-in page, and back here afterwards.
    if (!(await requireAccount().catch(() => null)) || gone) return;
    // ?talk=1: opened by a ring's "Talk" action (events/sw.ts).
    tile = liveTile(p.hh, p.cam, { big: true, startedAt, answerTalk: new URLSearchParams(location.search).get('talk') === '1' });
    body.replaceChildren(tile.el);
  })();
  return () => {
    gone = true;
    tile?.close();
  };
});
