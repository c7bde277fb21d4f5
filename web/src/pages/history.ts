// Page: a household's access history (/h/:hh/history). Every record the
// cloud made of an access or a change, verified in this browser against
// the transparency log (complete, in order, chained, in a checkpoint the
// witnesses cosigned) and opened with the household's keys, newest first,
// as sentences: who (the device from the household's chain), did what
// (plain verbs), when; reads of one camera's recordings grouped into one
// row with the recorded time they cover. The app's own bookkeeping
// (polling, listings) is hidden unless "Everything" is on. At the top:
// whether the check passed, in plain words, with the protocol details
// under "Security details"; or a warning listing what the audit found.
//
// Must never: show a record that was not verified, or say "checked" while
// the audit found something severe.

import { api } from '../api';
import { hex } from '../crypto/bytes';
import { olderRecords, verifyHistory, type HistoryView } from '../history/verify';
import { describe, rows as toRows, type Footage, type Names, type Row } from '../history/describe';
import { pinnedPolicy } from '../history/log';
import { emptyState, fmtDateTime, fmtDuration, fmtRange, pageHead, securityDetails } from '../kit';
import { route } from '../router';
import { h, mount, showError } from '../ui';
import { bindDevice } from '../session';
import { requireAccount } from './auth';
import './history.css';

const PAGE = 100; // records fetched per page
const MIN_ROWS = 15; // rows a page load aims to add to the view
const MAX_PAGES = 10; // pages one load may fetch looking for them
const MAX_FILTER_PAGES = 50; // pages the date filter may fetch
const FOOTAGE_WINDOW_MS = 60 * 60_000; // how far before a read the objects listing is searched for its recordings

/** emails maps the household's account IDs to e-mails; a convenience, left out when it cannot be read. */
async function emails(hh: string): Promise<Map<string, string>> {
  const m = new Map<string, string>();
  try {
    const ms = await api<{ members: { account_id: string; email: string }[] }>('GET', `/v1/households/${encodeURIComponent(hh)}/members`);
    for (const a of ms.members ?? []) m.set(a.account_id, a.email);
  } catch {
    /* names are a convenience */
  }
  return m;
}

/**
 * staffNames maps staff IDs to the names of the staff members who asked
 * this household for access; only admins can list the requests, and the
 * names are a convenience (the records carry the staff ID, verified).
 */
async function staffNames(hh: string): Promise<Map<string, string>> {
  const m = new Map<string, string>();
  try {
    const rs = await api<{ requests: { staff_id: string; staff_name?: string }[] }>('GET', `/v1/households/${encodeURIComponent(hh)}/staff-requests`);
    for (const q of rs.requests ?? []) if (q.staff_name) m.set(q.staff_id, q.staff_name);
  } catch {
    /* not an admin: the page names staff by their ID */
  }
  return m;
}

const fmt = { dateTime: (ms: number) => fmtDateTime(ms), duration: (ms: number) => fmtDuration(ms) };

/** when is the time of a row's records: one time, or the span they cover. */
function when(row: Row): string {
  return row.toMs - row.fromMs >= 60_000 ? fmtRange(row.fromMs, row.toMs) : fmtDateTime(row.fromMs);
}

function rowElement(row: Row, names: Names, footage?: Footage): HTMLElement {
  const r = row.records[0];
  const s = describe(row, names, fmt, footage);
  const sub: (Node | string)[] = [h('span', { class: 'hist-when' }, when(row))];
  if (row.reads > 1 && row.camera === undefined) sub.push(` · ${row.reads} times`);
  if (row.who.account && row.who.kind !== 'account') sub.push(' · ', h('span', { class: 'hist-account' }, row.who.kind === 'unknown-device' ? `signed in as ${row.who.account}` : row.who.account));
  if (r.signed) {
    sub.push(' · ');
    sub.push(
      r.signer
        ? h('span', { class: 'ok signed-by', 'data-device': r.signer.device }, `signed by ${r.signer.name}${r.signer.removed ? ' (removed since)' : ''}`)
        : h('span', { class: 'error' }, 'its signature did not check out'),
    );
  }
  return h(
    'li',
    {
      class: `item hist-row${row.bookkeeping ? ' hist-bookkeeping' : ''}`,
      'data-action': row.action,
      'data-actor-kind': row.who.kind,
      'data-actor': r.actor.id,
      'data-device': r.actor.device ?? '',
      'data-n': r.n,
      'data-count': row.reads,
      'data-camera': row.camera ?? '',
      'data-signed': r.signer ? r.signer.device : '',
      'data-footage-ms': s.footage ? s.footage.startMs : '',
    },
    h('div', { class: 'grow' }, h('p', { class: 'hist-text' }, s.text), h('p', { class: 'sub' }, ...sub)),
  );
}

interface ObjectTimes {
  key: string;
  start: string;
  end: string;
}

/**
 * footageOf looks up the recorded time of a read row's objects in the
 * cloud's listing of that camera around the reads (times the cloud lists:
 * unsigned, as the timeline shows them before it opens an object). Objects
 * no longer listed, or recorded long before they were watched, leave it
 * unknown.
 */
async function footageOf(hh: string, row: Row, cache: Map<string, Promise<Map<string, [number, number]>>>): Promise<Footage | undefined> {
  if (!row.camera || row.camera === 'events' || row.camera === 'snapshots') return undefined;
  const from = new Date(row.fromMs - FOOTAGE_WINDOW_MS).toISOString();
  const to = new Date(row.toMs + 60_000).toISOString();
  const ck = `${row.camera}|${from}|${to}`;
  let p = cache.get(ck);
  if (!p) {
    const q = new URLSearchParams({ camera: row.camera, from, to });
    p = api<{ objects: ObjectTimes[] }>('GET', `/v1/households/${encodeURIComponent(hh)}/objects?${q}`).then((res) => {
      const m = new Map<string, [number, number]>();
      for (const o of res.objects ?? []) m.set(o.key, [Date.parse(o.start), Date.parse(o.end)]);
      return m;
    });
    cache.set(ck, p);
  }
  let m: Map<string, [number, number]>;
  try {
    m = await p;
  } catch {
    return undefined;
  }
  let start = Infinity;
  let end = -Infinity;
  for (const k of row.keys) {
    const t = m.get(k);
    if (!t || !Number.isFinite(t[0]) || !Number.isFinite(t[1])) continue;
    start = Math.min(start, t[0]);
    end = Math.max(end, t[1]);
  }
  return Number.isFinite(start) ? { startMs: start, endMs: end } : undefined;
}

/** statusCard says whether the check passed, in plain words, with the protocol details one tap away. */
function statusCard(v: HistoryView, witnessCount: number, watchers: string[], since: number | undefined): HTMLElement {
  const cp = v.report.checkpoint;
  const cos = cp.cosigners ?? [];
  const severe = v.findings.filter((f) => f.severe);
  const notes = v.findings.filter((f) => !f.severe);
  const card = h('section', { class: 'card', id: 'history-status', 'data-state': v.ok ? 'verified' : 'warning', 'data-size': cp.size, 'data-record': v.report.state.recordN, 'aria-label': 'Check' });
  if (v.ok) {
    card.append(
      h('p', { class: 'ok hist-checked', id: 'history-verified' }, 'Checked: this is the full list of who looked at your cameras and what changed. Nothing is missing or altered.'),
      h(
        'p',
        { id: 'history-watchers' },
        watchers.length === 0
          ? `Nobody watched recordings${since !== undefined ? ` since ${fmtDateTime(since)}` : ''}.`
          : `${since !== undefined ? `Since ${fmtDateTime(since)}, recordings` : 'Recordings'} were watched by ${watchers.join(', ')}.`,
      ),
    );
  } else {
    card.append(
      h('p', { class: 'error', id: 'history-warning', role: 'alert' }, `Warning: the service or its public log showed this device something false, so this history cannot be trusted. ${severe.length === 1 ? 'One thing was' : `${severe.length} things were`} found:`),
      h('ul', { id: 'history-findings' }, ...severe.map((f) => h('li', { class: 'finding error' }, f.what))),
    );
  }
  if (v.report.pending > 0) card.append(h('p', { class: 'muted', id: 'history-pending' }, `${v.report.pending === 1 ? 'The newest entry is' : `The ${v.report.pending} newest entries are`} still being published; ${v.report.pending === 1 ? 'it is' : 'they are'} checked at your next visit.`));
  if (notes.length) card.append(h('ul', { id: 'history-notes', class: 'muted' }, ...notes.map((f) => h('li', { class: 'finding note' }, f.what))));
  card.append(
    securityDetails(
      h(
        'p',
        {},
        `Checked against the transparency log ${cp.origin}: checkpoint of `,
        h('span', { id: 'history-size' }, String(cp.size)),
        ' entries, root ',
        h('code', { class: 'wrap' }, hex(cp.hash)),
        '. ',
        witnessCount === 0
          ? 'This log’s policy asks for no witness cosignature.'
          : h('span', { id: 'history-witnesses' }, cos.length ? `Cosigned by ${cos.join(', ')} (${cos.length} of ${witnessCount}).` : 'No witness cosigned it.'),
      ),
      h(
        'p',
        {},
        'Last checked ',
        h('span', { id: 'history-checked' }, v.report.state.checked ? fmtDateTime(Date.parse(v.report.state.checked)) : 'never'),
        `; verified up to record ${v.report.state.recordN}: every record is in the log, numbered without gaps, chained by hash to the one before, opened with the household’s keys, and the hubs saw the same household chain and log. Each change carries the admin device’s signature, checked against the household chain. Device names come from the household chain; the service names the device a session proved it holds (docs: “Household records”).`,
      ),
    ),
  );
  return card;
}

/** startOfDay / endOfDay of a date input's value ("2026-12-03"), local time. */
function dayBounds(value: string): [number, number] | null {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(value);
  if (!m) return null;
  const start = new Date(Number(m[1]), Number(m[2]) - 1, Number(m[3])).getTime();
  const end = new Date(Number(m[1]), Number(m[2]) - 1, Number(m[3]) + 1).getTime();
  return [start, end];
}

route('/h/:hh/history', async (root, { hh }) => {
  if (!(await requireAccount())) return;
  mount(
    root,
    pageHead('Access history'),
    h('section', { class: 'card', id: 'history-status', 'data-state': 'loading', 'aria-label': 'Check' }, h('p', { class: 'muted' }, 'Checking the history against the public log…')),
  );
  // This browser's own reads name its device from here on (a session the
  // shell bound already is left as it is).
  await bindDevice();
  let v: HistoryView;
  try {
    v = await verifyHistory(hh, { window: PAGE });
  } catch (e) {
    const status = root.querySelector('#history-status') as HTMLElement;
    status.dataset.state = 'error';
    mount(status, h('p', { class: 'error', role: 'alert' }, 'The history could not be checked: ', showError(h('span'), e)));
    return;
  }
  const [policy, mails, staff] = await Promise.all([pinnedPolicy(), emails(hh), staffNames(hh)]);
  const names: Names = { chain: v.report.chain, emails: mails, staff };
  const err = h('p', { id: 'history-error' });
  const list = h('ul', { class: 'list', id: 'hist-list', 'aria-label': 'Accesses and changes, newest first' });
  const empty = h('div', { id: 'history-empty' });
  const older = h('button', { class: 'secondary', id: 'hist-older', type: 'button' }, 'Show older');
  const all = h('input', { type: 'checkbox', id: 'hist-all' });
  const from = h('input', { type: 'date', id: 'hist-from' });
  const loading = h('p', { class: 'muted', id: 'hist-loading', role: 'status' });
  const footage = new Map<string, Footage | undefined>(); // by the row's newest record number
  const listings = new Map<string, Promise<Map<string, [number, number]>>>();
  let dayEnd: number | undefined;
  let statusEl: HTMLElement | undefined;

  const visible = (rs: Row[]) => rs.filter((r) => (all.checked || !r.bookkeeping) && (dayEnd === undefined || r.fromMs < dayEnd));
  const hasMore = () => v.more && v.records.length > 0 && v.records[v.records.length - 1].n > 1;

  function render(): void {
    const rs = visible(toRows(v.records, names));
    list.replaceChildren(...rs.map((r) => rowElement(r, names, footage.get(`${r.records[0].n}:${r.records.length}`))));
    list.hidden = rs.length === 0;
    mount(empty, rs.length ? null : emptyState(dayEnd !== undefined ? 'Nothing on or before that day yet. Load older entries to look further back.' : 'Nothing to show yet.'));
    older.hidden = !hasMore();
    void fillFootage(rs);
  }

  /** fillFootage looks up the recorded time of the read rows on screen, then shows it. */
  async function fillFootage(rs: Row[]): Promise<void> {
    let changed = false;
    for (const r of rs.slice(0, 40)) {
      const k = `${r.records[0].n}:${r.records.length}`;
      if (r.camera === undefined || footage.has(k)) continue;
      footage.set(k, await footageOf(hh, r, listings));
      changed = changed || footage.get(k) !== undefined;
    }
    if (changed) {
      const cur = visible(toRows(v.records, names));
      list.replaceChildren(...cur.map((r) => rowElement(r, names, footage.get(`${r.records[0].n}:${r.records.length}`))));
    }
  }

  /** loadOlder verifies older pages (by the hash chain) until enough new rows show, or until the condition stops. */
  async function loadOlder(enough: () => boolean, maxPages: number): Promise<void> {
    for (let i = 0; i < maxPages && hasMore() && !enough(); i++) {
      loading.textContent = 'Loading older entries…';
      const o = await olderRecords(v, PAGE);
      if (o.findings.length) {
        for (const f of o.findings) if (!v.findings.some((g) => g.what === f.what)) v.findings.push(f);
        if (o.findings.some((f) => f.severe)) v.ok = false;
        showError(err, new Error(o.findings.map((f) => f.what).join('; ')));
      }
      if (o.records.length === 0) {
        v.more = false;
        break;
      }
      v.records.push(...o.records);
      if (o.records[o.records.length - 1].n <= 1 || o.findings.some((f) => f.severe)) v.more = false;
    }
    loading.textContent = '';
  }

  const watchersLine = (): [string[], number | undefined] => {
    const ws: string[] = [];
    for (const r of toRows(v.records, names)) {
      if ((r.camera === undefined || r.camera === 'events' || r.camera === 'snapshots') && r.action !== 'live.view') continue;
      const name = r.who.kind === 'link' ? 'someone with a share link' : r.who.name;
      if (!ws.includes(name)) ws.push(name);
    }
    const oldest = v.records[v.records.length - 1];
    return [ws, oldest ? oldest.timeMs : undefined];
  };

  function renderStatus(): void {
    const [ws, since] = watchersLine();
    const next = statusCard(v, policy?.witnesses.length ?? 0, ws, since);
    const open = statusEl?.querySelector('details')?.open;
    if (open) next.querySelector('details')!.open = true;
    statusEl?.replaceWith(next);
    statusEl = next;
  }

  older.addEventListener('click', async () => {
    older.disabled = true;
    try {
      const before = visible(toRows(v.records, names)).length;
      await loadOlder(() => visible(toRows(v.records, names)).length >= before + MIN_ROWS, MAX_PAGES);
      render();
      renderStatus();
    } catch (e) {
      showError(err, e);
    } finally {
      older.disabled = false;
      loading.textContent = '';
    }
  });
  all.addEventListener('change', render);
  from.addEventListener('change', async () => {
    const b = dayBounds(from.value);
    dayEnd = b ? b[1] : undefined;
    try {
      if (b) {
        // Load until the whole day is in, and a page of rows on or before it.
        const oldestMs = () => (v.records.length ? v.records[v.records.length - 1].timeMs : Infinity);
        await loadOlder(() => oldestMs() < b[0] && visible(toRows(v.records, names)).length >= MIN_ROWS, MAX_FILTER_PAGES);
      }
      render();
      renderStatus();
    } catch (e) {
      showError(err, e);
    }
  });

  // The first view: at least a screenful of rows that are not bookkeeping.
  try {
    await loadOlder(() => visible(toRows(v.records, names)).length >= MIN_ROWS, MAX_PAGES);
  } catch (e) {
    showError(err, e);
  }
  statusEl = h('section');
  mount(
    root,
    pageHead('Access history'),
    statusEl,
    err,
    h(
      'section',
      { class: 'card', 'aria-label': 'Accesses and changes' },
      h(
        'div',
        { class: 'row hist-controls' },
        h('label', { class: 'field', for: 'hist-from' }, h('span', {}, 'Show from this day back'), from),
        h('label', { class: 'check' }, all, h('span', {}, 'Everything, also the app’s own checks')),
      ),
      list,
      empty,
      loading,
      older,
    ),
  );
  renderStatus();
  render();
});
