// Page: the household's health (/h/:hh/health), phone first, in plain
// words. Per hub, from the cloud's copy of its latest health report (the
// metadata the hub sends for this: GET /v1/households/{hh}/hubs/health):
// when it was last heard from ("Not heard from since …" once it has been
// quiet for the cloud's quiet time), its software, how long it has been
// running, how many cameras record, what waits to upload and the latest
// upload problem. Per camera, and for the hub's own checks (disk,
// uploads, the cloud), the latest health state from the hub's sealed
// health records, opened here with the household's keys like events: the
// cloud cannot read them. A browser whose device is not in the chain sees
// the hubs' part and is told why the rest is missing.
//
// Owns: the health page. Must never: show a record that failed
// verification, or read a camera's name from anything but a sealed record
// or the household's own camera list.

import { api, apiBytes } from '../api';
import { listEvents } from '../events/api';
import { isRefusal } from '../events/record';
import { CHECK_WORDS, NotHealthError, latest, openHealth, type HealthRecord } from '../health/record';
import { fmtAgo, fmtDateTime, fmtDuration, pageHead, securityDetails } from '../kit';
import { householdKeys, NotEnrolledError } from '../media/keys';
import { route } from '../router';
import { h, mount, showError } from '../ui';

const enc = encodeURIComponent;
const DAY = 24 * 3600_000;

interface HubUploads {
  pending: number;
  oldest_pending?: string;
  failures: number;
  rejected: number;
  evicted: number;
  cloud_away: boolean;
  last_error?: { kind: string; status?: number; message: string; at: string };
}
interface MemberHub {
  device_id: string;
  name: string;
  reported: boolean;
  last_contact?: string;
  quiet: boolean;
  version?: string;
  started?: string;
  cameras: number;
  recording: number;
  uploads: HubUploads;
}
interface HubsHealth {
  hubs: MemberHub[] | null;
  quiet_after_seconds: number;
}

const ms = (t?: string) => (t ? new Date(t).getTime() : 0);
const plural = (n: number, one: string, many = one + 's') => `${n} ${n === 1 ? one : many}`;

/** hubItem is one hub in words. */
function hubItem(x: MemberHub, quietAfterMs: number, now: number): HTMLElement {
  const contact = ms(x.last_contact);
  const quiet = x.reported && (x.quiet || now - contact > quietAfterMs);
  const state = !x.reported ? 'never' : quiet ? 'quiet' : 'ok';
  const lines: (HTMLElement | null)[] = [];
  if (state === 'never') lines.push(h('div', { class: 'sub health-contact' }, 'It has not reported its health yet (older hub software, or not online since it was paired).'));
  else if (state === 'quiet')
    lines.push(
      h('div', { class: 'health-contact warn' }, `Not heard from since ${fmtDateTime(contact, now)} (${fmtAgo(contact, now)}).`),
      h('div', { class: 'sub' }, 'Check that it has power and internet. It keeps recording without the cloud and uploads once it is back.'),
    );
  else lines.push(h('div', { class: 'health-contact ok' }, `Heard from ${fmtAgo(contact, now)} (${fmtDateTime(contact, now)}).`));
  if (x.reported) {
    const u = x.uploads;
    lines.push(
      h('div', { class: 'sub health-version' }, `Software ${x.version ?? 'unknown'}`),
      h('div', { class: 'sub health-uptime' }, `Running for ${fmtDuration(contact - ms(x.started))} when it last reported`),
      h('div', { class: 'sub health-recording' }, x.cameras ? `Recording ${x.recording} of ${plural(x.cameras, 'camera')}` : 'No camera set up'),
      h(
        'div',
        { class: 'sub health-backlog' },
        u.pending ? `${plural(u.pending, 'recording')} waiting to upload${u.oldest_pending ? `, the oldest from ${fmtDateTime(ms(u.oldest_pending), now)}` : ''}` : 'Everything is uploaded',
      ),
      u.cloud_away ? h('div', { class: 'sub warn' }, 'At its last report it could not reach the cloud.') : null,
      u.last_error
        ? h('div', { class: 'sub health-upload-error' }, `Latest upload problem: ${u.last_error.message} (${fmtDateTime(ms(u.last_error.at), now)})`)
        : h('div', { class: 'sub health-upload-error' }, 'No upload problem since it started'),
    );
  }
  return h(
    'li',
    { class: 'item health-hub', id: `hub-${x.device_id}`, 'data-device': x.device_id, 'data-state': state },
    h('div', { class: 'grow' }, h('strong', {}, x.name || 'Hub'), ...lines),
  );
}

/** stateLine is a record's latest state in words. */
function stateLine(r: HealthRecord, now: number): HTMLElement {
  if (r.state === 'problem') return h('div', { class: 'health-state warn' }, `${r.message} — since ${fmtDateTime(r.start, now)}`);
  return h('div', { class: 'health-state ok' }, `Fine again since ${fmtDateTime(r.end ?? r.start, now)} (earlier: ${r.message})`);
}

/** cameraItem is one camera with the latest state of each of its checks. */
function cameraItem(cam: string, recs: HealthRecord[], now: number): HTMLElement {
  const problem = recs.some((r) => r.state === 'problem');
  const lines = recs.length
    ? recs.map((r) => h('div', { class: 'health-check', 'data-check': r.check, 'data-state': r.state }, h('span', { class: 'sub' }, `${CHECK_WORDS[r.check] ?? r.check}: `), stateLine(r, now)))
    : [h('div', { class: 'sub health-state' }, 'No problem reported in the last 7 days')];
  return h(
    'li',
    { class: 'item health-camera', id: `camera-${cam}`, 'data-camera': cam, 'data-state': problem ? 'problem' : recs.length ? 'resolved' : 'ok' },
    h('div', { class: 'grow' }, h('strong', {}, cam), ...lines),
  );
}

route('/h/:hh/health', async (root, { hh }) => {
  const status = h('p', { id: 'health-status', class: 'muted', role: 'status' }, 'Asking the cloud…');
  const err = h('p', { id: 'health-error' });
  const hubs = h('ul', { class: 'list', id: 'health-hubs' });
  const cams = h('ul', { class: 'list', id: 'health-cameras' });
  const checks = h('ul', { class: 'list', id: 'health-checks' });
  const refusal = h('div', { id: 'health-refusal' });
  mount(
    root,
    pageHead('Health', { back: { href: `/h/${enc(hh)}/settings`, label: 'Settings' } }),
    status,
    err,
    h('section', { class: 'card', 'aria-labelledby': 'health-hubs-title' }, h('h2', { id: 'health-hubs-title' }, 'Hubs'), hubs),
    h(
      'section',
      { class: 'card', 'aria-labelledby': 'health-cameras-title' },
      h('h2', { id: 'health-cameras-title' }, 'Cameras'),
      h('p', { class: 'muted' }, 'What each camera’s hub last said about it. The hub locks these notes for your household’s devices; the cloud cannot read them.'),
      refusal,
      cams,
    ),
    h('section', { class: 'card', 'aria-labelledby': 'health-checks-title' }, h('h2', { id: 'health-checks-title' }, 'Disk, uploads and the cloud'), checks),
  );
  let closed = false;
  const now = Date.now();

  const hubsPart = (async () => {
    const res = await api<HubsHealth>('GET', `/v1/households/${enc(hh)}/hubs/health`);
    if (closed) return;
    const list = res.hubs ?? [];
    hubs.replaceChildren(...(list.length ? list.map((x) => hubItem(x, res.quiet_after_seconds * 1000, now)) : [h('li', { class: 'item muted' }, 'No hub yet.')]));
  })();

  const recordsPart = (async () => {
    const [objs, cameraList] = await Promise.all([
      listEvents(hh, now - 7 * DAY, now + 5 * 60_000),
      api<{ cameras: string[] | null }>('GET', `/v1/households/${enc(hh)}/cameras`),
    ]);
    let keys;
    try {
      keys = await householdKeys(hh);
    } catch (e) {
      if (!(e instanceof NotEnrolledError)) throw e;
      refusal.className = 'banner warn';
      refusal.replaceChildren(
        h('p', { id: 'health-not-enrolled' }, 'This browser is not one of the household’s devices yet, so it cannot open what the hubs say about the cameras.'),
        h('a', { href: '/device' }, 'Ask an admin to add this browser'),
      );
      return;
    }
    const records: HealthRecord[] = [];
    let failed = 0;
    let next = 0;
    const worker = async () => {
      while (next < objs.length) {
        const o = objs[next++];
        try {
          records.push(await openHealth(await apiBytes(`/v1/households/${enc(hh)}/objects/${o.key}`), keys));
        } catch (e) {
          if (!(e instanceof NotHealthError) && !isRefusal(e)) failed++;
        }
      }
    };
    await Promise.all([worker(), worker(), worker(), worker()]);
    if (closed) return;
    const last = [...latest(records).values()].sort((a, b) => (a.check < b.check ? -1 : 1));
    const names = new Set([...(cameraList.cameras ?? []), ...last.filter((r) => r.camera).map((r) => r.camera)]);
    cams.replaceChildren(
      ...(names.size
        ? [...names].sort().map((c) => cameraItem(c, last.filter((r) => r.camera === c), now))
        : [h('li', { class: 'item muted' }, 'No camera yet.')]),
    );
    const own = last.filter((r) => !r.camera);
    checks.replaceChildren(
      ...(own.length
        ? own.map((r) => h('li', { class: 'item health-hubcheck', 'data-check': r.check, 'data-state': r.state }, h('div', { class: 'grow' }, h('strong', {}, CHECK_WORDS[r.check] ?? r.check), stateLine(r, now))))
        : [h('li', { class: 'item muted health-hubcheck-none' }, 'No problem reported in the last 7 days.')]),
    );
    if (failed) {
      err.className = 'banner warn';
      err.replaceChildren(h('span', {}, `${plural(failed, 'note')} from the hubs could not be opened and ${failed === 1 ? 'is' : 'are'} not shown.`), securityDetails(h('p', {}, 'A note that fails the signature or format checks is never shown.')));
    }
  })();

  const results = await Promise.allSettled([hubsPart, recordsPart]);
  if (closed) return;
  status.textContent = '';
  for (const r of results) if (r.status === 'rejected') showError(err, r.reason);
  status.dataset.done = 'true';
  // The settings' links name a hub or camera (#hub-ID, #camera-NAME).
  if (location.hash.length > 1) document.getElementById(decodeURIComponent(location.hash.slice(1)))?.scrollIntoView({ block: 'start' });
  return () => {
    closed = true;
  };
});
