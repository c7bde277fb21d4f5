// Page: the household's events (/h/:hh/events). The cloud lists only that
// sealed events exist at some times; this page opens each record and its
// snapshot in the browser with the household's keys, merges an event's
// start and end records, and shows them newest first as rows (events/row.ts:
// snapshot, what it was in plain words, camera, when; a tap on the snapshot
// plays the event in the row) with filters (camera, kind, alerts only). New
// events arrive over the live WebSocket and are announced in a banner
// ("Person at front"). A browser whose device is not in the chain sees the
// refusal and only when sealed events exist.

import { householdKeys, NotEnrolledError, type HouseholdKeys } from '../media/keys';
import { route } from '../router';
import { h, mount, showError } from '../ui';
import { emptyState, fmtDateTime, pageHead, securityDetails } from '../kit';
import { LiveEvents, listEvents, loadEvents, readRecord, type EventObject } from '../events/api';
import { headline, kindOf, merge, newestFirst, NotAnEvent, type Event } from '../events/record';
import { EventRows } from '../events/row';
import { pushControls } from '../events/push';
import './events.css';

const DAY = 24 * 3600_000;
// Rows shown at first and added by "Show more".
const ROWS = 50;
const enc = encodeURIComponent;

route('/h/:hh/events', async (root, p) => {
  const hh = p.hh;
  const status = h('p', { id: 'ev-status', class: 'muted', role: 'status' }, 'Opening the events…');
  const err = h('p', { id: 'ev-error' });
  const refusal = h('div', { id: 'ev-refusal' });
  const banner = h('div', { id: 'ev-banner', class: 'banner', role: 'alert', hidden: true });
  const list = h('ul', { id: 'ev-list', class: 'list ev-list' });
  const camSel = h('select', { id: 'ev-filter-camera' }, h('option', { value: '' }, 'All cameras'));
  const kindSel = h('select', { id: 'ev-filter-kind' }, h('option', { value: '' }, 'Everything'));
  const alertsOnly = h('input', { id: 'ev-filter-alerts', type: 'checkbox' });
  const filters = h(
    'div',
    { class: 'ev-filters', hidden: true },
    h('label', { class: 'field' }, h('span', {}, 'Camera'), camSel),
    h('label', { class: 'field' }, h('span', {}, 'What'), kindSel),
    h('label', { class: 'check' }, alertsOnly, h('span', {}, 'Only alerts')),
  );
  const push = h('div', { id: 'ev-push', class: 'row' });

  const more = h('button', { id: 'ev-more', type: 'button', class: 'secondary', hidden: true }, 'Show more');
  more.addEventListener('click', () => {
    limit += ROWS;
    render();
  });

  mount(root, pageHead('Events', { back: { href: `/h/${enc(hh)}`, label: 'Home' } }), banner, refusal, filters, status, err, list, more, push);

  const events = new Map<string, Event>();
  let sealedOnly: EventObject[] = [];
  let keys: HouseholdKeys | undefined;
  let rows: EventRows | undefined;
  let live: LiveEvents | undefined;
  let closed = false;
  let bannerTimer = 0;
  let limit = ROWS;

  function setOptions(sel: HTMLSelectElement, values: string[]): void {
    const have = new Set([...sel.options].map((o) => o.value));
    for (const v of values.sort()) if (!have.has(v)) sel.append(h('option', { value: v }, v));
  }

  function render(): void {
    if (!keys || !rows) {
      list.replaceChildren(
        ...sealedOnly.map((o) =>
          h('li', { class: 'item ev-sealed', 'data-start': String(o.start) }, h('div', { class: 'grow' }, h('strong', {}, fmtDateTime(o.start)), h('div', { class: 'sub' }, 'Something happened (sealed: this browser cannot open it)'))),
        ),
      );
      return;
    }
    setOptions(camSel, [...new Set([...events.values()].map((e) => e.camera))]);
    setOptions(kindSel, [...new Set([...events.values()].map((e) => kindOf(e.labels)))]);
    filters.hidden = events.size === 0;
    const cam = camSel.value;
    const kind = kindSel.value;
    const shown = newestFirst(events.values()).filter((e) => (!cam || e.camera === cam) && (!kind || kindOf(e.labels) === kind) && (!alertsOnly.checked || e.alert));
    const r = rows;
    list.replaceChildren(...shown.slice(0, limit).map((e) => r.row(e)));
    r.settle();
    more.hidden = shown.length <= limit;
    list.dataset.count = String(shown.length);
    if (!events.size) {
      status.textContent = '';
      list.replaceChildren(h('li', { class: 'ev-empty' }, emptyState('Nothing happened in the last 7 days.')));
    } else status.textContent = shown.length === events.size ? `${events.size} event${events.size === 1 ? '' : 's'} in the last 7 days.` : `${shown.length} of ${events.size} events.`;
  }

  function announce(e: Event): void {
    banner.replaceChildren(h('strong', {}, headline(e)), h('span', { class: 'muted' }, 'just now'));
    banner.dataset.id = e.id;
    banner.hidden = false;
    clearTimeout(bannerTimer);
    bannerTimer = window.setTimeout(() => (banner.hidden = true), 30_000);
  }

  for (const el of [camSel, kindSel, alertsOnly]) el.addEventListener('change', render);

  const cleanup = () => {
    closed = true;
    live?.close();
    rows?.dispose();
    clearTimeout(bannerTimer);
  };

  const now = Date.now();
  try {
    sealedOnly = await listEvents(hh, now - 7 * DAY, now + 5 * 60_000);
  } catch (e) {
    status.textContent = '';
    showError(err, e);
    return cleanup;
  }
  try {
    keys = await householdKeys(hh);
  } catch (e) {
    status.textContent = `${sealedOnly.length} sealed event${sealedOnly.length === 1 ? '' : 's'} in the last 7 days.`;
    if (e instanceof NotEnrolledError) {
      refusal.className = 'banner warn';
      refusal.replaceChildren(
        h(
          'div',
          { class: 'grow' },
          h('p', { id: 'ev-not-enrolled' }, 'This browser is not one of the household’s devices yet, so it cannot open the events. It only sees when something happened.'),
          h('a', { href: '/device' }, 'Ask an admin to add this browser'),
          securityDetails(h('p', {}, e.message + '.'), h('p', {}, 'Events are sealed on the hub; only the household’s devices hold the keys to open them.')),
        ),
      );
    } else showError(err, e);
    render();
    return cleanup;
  }
  rows = new EventRows(hh, keys);
  const { failures } = await loadEvents(hh, keys, sealedOnly, events);
  if (closed) return cleanup;
  if (failures.length) {
    err.className = 'banner warn';
    err.replaceChildren(
      h('span', {}, `${failures.length} event${failures.length === 1 ? '' : 's'} could not be opened and ${failures.length === 1 ? 'is' : 'are'} not shown.`),
      securityDetails(h('p', { id: 'ev-failures' }, `${failures.length} event record${failures.length === 1 ? '' : 's'} could not be opened: ${failures[0].error}`)),
    );
  }
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
        if (e instanceof NotAnEvent) return; // a health record: not for this list
        showError(err, e);
      }
    },
    (open) => {
      list.dataset.live = String(open);
      if (!open) dropped = true;
      else if (dropped) void catchUp();
    },
  );

  return cleanup;
});
