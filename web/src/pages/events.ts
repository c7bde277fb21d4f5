// Page: the household's event inbox (/h/:hh/events). The cloud lists only
// that sealed events exist at some times; this page opens each record and
// its snapshot in the browser with the household's keys, merges an event's
// start and end records, and shows them newest first with filters (camera,
// label, alerts only). New events arrive over the live WebSocket and are
// announced in a banner ("Person at front"). A browser whose device is not
// in the chain sees the refusal and the sealed listing only.

import { householdKeys, NotEnrolledError, type HouseholdKeys } from '../media/keys';
import { route } from '../router';
import { h, mount, showError } from '../ui';
import { LiveEvents, listEvents, loadEvents, readRecord, readSnapshot, type EventObject } from '../events/api';
import { headline, merge, newestFirst, type Event } from '../events/record';
import { pushControls } from '../events/push';

const DAY = 24 * 3600_000;
// Rows shown at first and added by "Show more".
const ROWS = 100;
const enc = encodeURIComponent;
const pad = (n: number) => String(n).padStart(2, '0');
const clock = (t: number) => {
  const d = new Date(t);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
};

/** timelineLink is the camera timeline playing from t. */
export const timelineLink = (hh: string, cam: string, t: number) => `/h/${enc(hh)}/cam/${enc(cam)}?t=${Math.round(t)}`;

route('/h/:hh/events', async (root, p) => {
  const hh = p.hh;
  const status = h('p', { id: 'ev-status', class: 'muted', role: 'status' }, 'Loading the events…');
  const err = h('p', { id: 'ev-error' });
  const refusal = h('div', { id: 'ev-refusal' });
  const banner = h('div', { id: 'ev-banner', role: 'alert', hidden: true });
  const list = h('ul', { id: 'ev-list', class: 'ev-list' });
  const camSel = h('select', { id: 'ev-filter-camera' }, h('option', { value: '' }, 'All cameras'));
  const labelSel = h('select', { id: 'ev-filter-label' }, h('option', { value: '' }, 'All labels'));
  const alertsOnly = h('input', { id: 'ev-filter-alerts', type: 'checkbox' });
  const push = h('div', { id: 'ev-push', class: 'row' });
  const styleList = () => {
    list.style.listStyle = 'none';
    list.style.padding = '0';
  };
  styleList();
  Object.assign(banner.style, { padding: '.6rem .9rem', borderRadius: '6px', margin: '.4rem 0', background: '#c0392b22', borderLeft: '4px solid #c0392b', fontWeight: '600' });

  const more = h('button', { id: 'ev-more', type: 'button', class: 'secondary', hidden: true }, 'Show more');
  more.addEventListener('click', () => {
    limit += ROWS;
    render();
  });

  mount(
    root,
    h(
      'div',
      { class: 'card' },
      h('div', { class: 'row' }, h('h1', {}, 'Events'), h('a', { href: `/h/${enc(hh)}/cams` }, 'Cameras'), h('a', { href: `/h/${enc(hh)}` }, 'Household')),
      banner,
      refusal,
      h('div', { class: 'row' }, h('label', { class: 'row' }, 'Camera', camSel), h('label', { class: 'row' }, 'Label', labelSel), h('label', { class: 'row' }, alertsOnly, 'Alerts only'), push),
      status,
      err,
      list,
      more,
    ),
  );

  const events = new Map<string, Event>();
  let sealedOnly: EventObject[] = [];
  let keys: HouseholdKeys | undefined;
  let live: LiveEvents | undefined;
  let closed = false;
  const urls: string[] = [];
  const imgs = new Map<string, Promise<string>>(); // snapshot key -> blob: URL
  let bannerTimer = 0;
  let limit = ROWS;
  // Snapshots are fetched and opened when their row comes into view.
  const loaders = new Map<Element, () => void>();
  const seen = new IntersectionObserver(
    (entries) => {
      for (const en of entries) {
        if (!en.isIntersecting) continue;
        loaders.get(en.target)?.();
        loaders.delete(en.target);
        seen.unobserve(en.target);
      }
    },
    { rootMargin: '400px' },
  );

  function snapshotURL(key: string): Promise<string> {
    let u = imgs.get(key);
    if (!u) {
      u = readSnapshot(hh, keys!, key).then((jpeg) => {
        const url = URL.createObjectURL(new Blob([jpeg.slice().buffer], { type: 'image/jpeg' }));
        urls.push(url);
        return url;
      });
      imgs.set(key, u);
      u.catch(() => imgs.delete(key));
    }
    return u;
  }

  function setOptions(sel: HTMLSelectElement, values: string[]): void {
    const have = new Set([...sel.options].map((o) => o.value));
    for (const v of values.sort()) if (!have.has(v)) sel.append(h('option', { value: v }, v));
  }

  function row(e: Event): HTMLLIElement {
    const range = `${new Date(e.start).toLocaleDateString()} ${clock(e.start)} – ${e.end === null ? 'ongoing' : clock(e.end)}`;
    const img = h('img', { class: 'ev-snap', alt: `snapshot of ${headline(e)}` });
    Object.assign(img.style, { display: 'block', width: '100%', borderRadius: '4px' });
    const snapWrap = h('div', { class: 'ev-snap-wrap' });
    Object.assign(snapWrap.style, { position: 'relative', width: '160px', flex: '0 0 160px', alignSelf: 'flex-start' });
    if (e.snapshot) {
      snapWrap.append(img);
      const [x, y, w, bh] = e.box;
      if (w > 0 && bh > 0) {
        // The event's best box, drawn over the snapshot.
        const box = h('div', { class: 'ev-box', title: `score ${Math.round(e.score * 100)}%` });
        Object.assign(box.style, { position: 'absolute', left: `${x * 100}%`, top: `${y * 100}%`, width: `${w * 100}%`, height: `${bh * 100}%`, border: '2px solid #f1c40f', boxSizing: 'border-box', pointerEvents: 'none' });
        snapWrap.append(box);
      }
      loaders.set(snapWrap, () =>
        snapshotURL(e.snapshot).then(
          (u) => {
            img.src = u;
          },
          (x) => {
            snapWrap.replaceChildren(h('span', { class: 'error ev-snap-error' }, x instanceof Error ? x.message : String(x)));
          },
        ),
      );
      seen.observe(snapWrap);
    } else snapWrap.append(h('span', { class: 'muted' }, 'no snapshot'));
    const badge = e.alert ? h('span', { class: 'ev-alert' }, 'Alert') : null;
    if (badge) Object.assign(badge.style, { background: '#c0392b', color: '#fff', borderRadius: '4px', padding: '0 .4rem', fontSize: '.8rem' });
    const li = h(
      'li',
      { class: 'ev-row', 'data-id': e.id, 'data-camera': e.camera, 'data-alert': String(e.alert), 'data-start': String(e.start), 'data-end': e.end === null ? '' : String(e.end) },
      snapWrap,
      h(
        'div',
        {},
        h('div', { class: 'row' }, h('strong', { class: 'ev-camera' }, e.camera), badge, h('span', { class: 'ev-time mono' }, range)),
        h('div', {}, 'Labels: ', h('span', { class: 'ev-labels' }, e.labels.join(', ') || '—')),
        h('div', {}, 'Zones: ', h('span', { class: 'ev-zones' }, e.zones.join(', ') || '—')),
        h('a', { class: 'ev-play', href: timelineLink(hh, e.camera, e.start) }, 'Play on the timeline'),
      ),
    );
    Object.assign(li.style, { display: 'flex', gap: '1rem', padding: '.6rem 0', borderBottom: '1px solid #8883' });
    return li;
  }

  function render(): void {
    if (!keys) {
      list.replaceChildren(
        ...sealedOnly.map((o) => h('li', { class: 'ev-sealed', 'data-start': String(o.start) }, `${new Date(o.start).toLocaleString()} — sealed event (${o.size} bytes; the time is the cloud's listing, unverified)`)),
      );
      return;
    }
    setOptions(camSel, [...new Set([...events.values()].map((e) => e.camera))]);
    setOptions(labelSel, [...new Set([...events.values()].flatMap((e) => e.labels))]);
    const cam = camSel.value;
    const label = labelSel.value;
    const shown = newestFirst(events.values()).filter((e) => (!cam || e.camera === cam) && (!label || e.labels.includes(label)) && (!alertsOnly.checked || e.alert));
    seen.disconnect();
    loaders.clear();
    list.replaceChildren(...shown.slice(0, limit).map(row));
    more.hidden = shown.length <= limit;
    list.dataset.count = String(shown.length);
    status.textContent = events.size ? `${shown.length} of ${events.size} events.` : 'No events in the last 7 days.';
  }

  function announce(e: Event): void {
    banner.textContent = headline(e);
    banner.dataset.id = e.id;
    banner.hidden = false;
    clearTimeout(bannerTimer);
    bannerTimer = window.setTimeout(() => (banner.hidden = true), 30_000);
  }

  for (const el of [camSel, labelSel, alertsOnly]) el.addEventListener('change', render);

  const now = Date.now();
  try {
    sealedOnly = await listEvents(hh, now - 7 * DAY, now + 5 * 60_000);
  } catch (e) {
    status.textContent = '';
    showError(err, e);
    return;
  }
  try {
    keys = await householdKeys(hh);
  } catch (e) {
    status.textContent = `${sealedOnly.length} sealed events in the last 7 days.`;
    if (e instanceof NotEnrolledError) {
      refusal.className = 'tl-refusal';
      refusal.replaceChildren(
        h('p', { class: 'error', id: 'ev-not-enrolled' }, 'Not enrolled: ciphertext only. ', e.message + '.'),
        h('p', { class: 'muted' }, 'Reading events needs this browser to be a device of the household. ', h('a', { href: '/device' }, 'Show this browser’s device identity'), ' and ask an admin to add it.'),
      );
    } else showError(err, e);
    render();
    return;
  }
  const { failures } = await loadEvents(hh, keys, sealedOnly, events);
  if (closed) return;
  if (failures.length) showError(err, `${failures.length} event record${failures.length === 1 ? '' : 's'} could not be opened: ${failures[0].error}`);
  render();
  push.replaceChildren(pushControls(hh));

  // After the live socket was down, what arrived meanwhile is listed again.
  let dropped = false;
  async function catchUp(): Promise<void> {
    dropped = false;
    try {
      const t = Date.now();
      const objs = await listEvents(hh, t - 7 * DAY, t + 5 * 60_000);
      const known = new Set([...events.values()].flatMap((e) => e.keys));
      const fresh = objs.filter((o) => !known.has(o.key));
      await loadEvents(hh, keys!, fresh, events);
      if (!closed && fresh.length) render();
    } catch (e) {
      showError(err, e);
    }
  }

  live = new LiveEvents(
    hh,
    async (n) => {
      try {
        const r = await readRecord(hh, keys!, n.key);
        if (closed) return;
        const isNew = !events.has(r.id);
        const ev = merge(events, r, n.key);
        render();
        if (isNew || r.state === 'start') announce(ev);
      } catch (e) {
        showError(err, e);
      }
    },
    (open) => {
      list.dataset.live = String(open);
      if (!open) dropped = true;
      else if (dropped) void catchUp();
    },
  );

  return () => {
    closed = true;
    live?.close();
    seen.disconnect();
    clearTimeout(bannerTimer);
    for (const u of urls) URL.revokeObjectURL(u);
  };
});
