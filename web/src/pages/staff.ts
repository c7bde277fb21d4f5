// The support console (/staff): Vigil staff register their passkey with
// the one-time enrolment secret a staff admin gave them (/staff/enrol),
// sign in with it alone, look a household up by the
// support code its member reads out, file a lockbox request (which
// metadata, why, for how long: at most 8 h), follow its state, and while
// the household's admins grant it, see the granted health metadata (hubs
// with their last contact and versions, upload volume, each hub's backlog
// and last upload error — what hubs' health reports say —, storage,
// camera count), and keep tickets about the
// household (open one, add notes, close and reopen it: the household's
// history shows the opening and closing with the subject, never the
// notes). Operators and staff admins also see the operations view (counts
// across households, none of one household); staff admins also manage
// staff (add, with the one-time enrolment secret shown once; disable).
// The cloud decides what each role may do; the console only hides what
// the role cannot use. Staff are not accounts: the
// console talks only to /staff/v1/ with the staff session cookie (path
// /staff/) and its own CSRF header, never to a customer route
// (docs/ARCHITECTURE.md, "The staff side").
//
// Owns: the console's pages. Must never: call a /v1/ route, offer a way to
// find a household other than its support code, or put anything the
// cloud returns anywhere but textContent.

import { ApiError } from '../api';
import { copyButton, emptyState, fmtAgo, fmtDateTime, fmtDuration, pageHead, toast } from '../kit';
import { createPasskey, getPasskey, passkeysAvailable, type Begun } from '../passkey';
import { go, route } from '../router';
import { h, mount, showError } from '../ui';
import './staff.css';

/** STAFF_CSRF_KEY is where the console keeps its session's CSRF token (a staff sign-in stores it). */
export const STAFF_CSRF_KEY = 'vigil.staff.csrf';
const CSRF_HEADER = 'X-Vigil-Staff-CSRF';
const RECENT_KEY = 'vigil.staff.recent';
const MAX_GRANT_S = 8 * 3600;

/** SCOPES are what a request can name, with what each shows. */
const SCOPES: { scope: string; label: string }[] = [
  { scope: 'hubs', label: 'Hubs (names, last contact, versions)' },
  { scope: 'uploads', label: 'Uploads (volume in the last 24 h; each hub’s backlog and last error)' },
  { scope: 'storage', label: 'Storage used and quota' },
  { scope: 'cameras', label: 'Number of cameras' },
  { scope: 'versions', label: 'App and hub versions' },
];

const DURATIONS: { s: number; label: string }[] = [
  { s: 15 * 60, label: '15 minutes' },
  { s: 3600, label: '1 hour' },
  { s: 2 * 3600, label: '2 hours' },
  { s: 4 * 3600, label: '4 hours' },
  { s: MAX_GRANT_S, label: '8 hours (the most)' },
];

interface StaffMe {
  staff_id: string;
  name: string;
  role: string;
  expires: string;
}

interface StaffRequest {
  request_id: string;
  household_id: string;
  scopes: string[];
  reason: string;
  duration_seconds: number;
  created: string;
  state: 'pending' | 'approved' | 'denied' | 'revoked' | 'expired';
  decided?: string;
  expires?: string;
}

interface StaffHub {
  device_id: string;
  name: string;
  last_contact?: string;
  version?: string;
  started?: string;
  cameras: number;
  recording: number;
}

interface HubError {
  kind: string;
  status?: number;
  message: string;
  at: string;
}

interface StaffHubUploads {
  device_id: string;
  name: string;
  reported: boolean;
  last_contact?: string;
  pending: number;
  oldest_pending?: string;
  failures: number;
  rejected: number;
  evicted: number;
  cloud_away: boolean;
  last_error?: HubError;
}

interface StaffHealth {
  scope: string;
  household_id: string;
  hubs?: StaffHub[];
  uploads?: StaffHubUploads[];
  versions?: { hubs: StaffHub[]; cloud: string; web_app?: string };
  uploaded_bytes?: number;
  usage_bytes?: number;
  quota_bytes?: number;
  cameras?: number;
  note?: string;
}

interface StaffNote {
  note_id: string;
  staff_id: string;
  staff_name?: string;
  created: string;
  text: string;
}

interface StaffTicket {
  ticket_id: string;
  household_id: string;
  subject: string;
  state: 'open' | 'closed';
  opened_by: string;
  opened_by_name?: string;
  opened: string;
  closed_by?: string;
  closed_by_name?: string;
  closed?: string;
  notes?: StaffNote[];
}

interface StaffOps {
  households: number;
  hubs: number;
  since: string;
  uploads: number;
  uploaded_bytes: number;
  open_tickets: number;
  staff: number;
  database: string;
  cluster: boolean;
  note?: string;
}

interface StaffMember {
  staff_id: string;
  name: string;
  role: string;
  created: string;
  disabled?: string;
}

const ROLES: { role: string; label: string }[] = [
  { role: 'support', label: 'Support: look-ups, access requests, tickets' },
  { role: 'operator', label: 'Operator: support, and the operations view' },
  { role: 'admin', label: 'Staff admin: operator, and managing staff' },
];

/** canOps and canAdmin mirror the cloud's role rules, to show only what the role can use. */
const canOps = (m: StaffMe) => m.role === 'operator' || m.role === 'admin';
const canAdmin = (m: StaffMe) => m.role === 'admin';

/** staffApi calls a /staff/v1/ route with the staff session (cookie) and, for changes, its CSRF token. */
async function staffApi<T>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = {};
  if (method !== 'GET') headers[CSRF_HEADER] = localStorage.getItem(STAFF_CSRF_KEY) ?? '';
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let res: Response;
  try {
    res = await fetch(`/staff/v1${path}`, { method, headers, body: body === undefined ? null : JSON.stringify(body), credentials: 'same-origin', cache: 'no-store' });
  } catch (e) {
    throw new ApiError(0, `the Vigil service cannot be reached (${(e as Error).message})`);
  }
  const text = await res.text();
  let j: any = {};
  try {
    j = text ? JSON.parse(text) : {};
  } catch {
    /* not JSON */
  }
  if (!res.ok) throw new ApiError(res.status, typeof j.error === 'string' ? j.error : `${res.status} ${res.statusText}`);
  return j as T;
}

/** me returns the signed-in staff member, or null without a live staff session. */
async function me(): Promise<StaffMe | null> {
  try {
    return await staffApi<StaffMe>('GET', '/me');
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) return null;
    throw e;
  }
}

interface Recent {
  id: string;
  code: string;
  reason: string;
}

function recent(): Recent[] {
  try {
    const v = JSON.parse(localStorage.getItem(RECENT_KEY) ?? '[]');
    return Array.isArray(v) ? v.filter((r) => typeof r?.id === 'string').slice(0, 10) : [];
  } catch {
    return [];
  }
}

function remember(r: Recent): void {
  localStorage.setItem(RECENT_KEY, JSON.stringify([r, ...recent().filter((x) => x.id !== r.id)].slice(0, 10)));
}

/** started keeps a new staff session's CSRF token (the cookie is the cloud's). */
function started(s: { csrf: string }): void {
  localStorage.setItem(STAFF_CSRF_KEY, s.csrf);
}

/** passkeySignIn signs a staff member in with their passkey alone (a discoverable credential). */
async function passkeySignIn(): Promise<void> {
  const begin = await staffApi<Begun>('POST', '/login/begin', {});
  started(await staffApi<{ csrf: string }>('POST', `/login/finish?ceremony=${encodeURIComponent(begin.ceremony)}`, await getPasskey(begin)));
}

/** signInCard is what the console shows without a staff session: the passkey sign-in. */
function signInCard(): HTMLElement {
  const err = h('p', { id: 'staff-signin-error' });
  const b = h('button', { type: 'button', id: 'staff-signin-passkey' }, 'Sign in with your passkey');
  b.addEventListener('click', async () => {
    b.disabled = true;
    err.textContent = '';
    try {
      await passkeySignIn();
      go(location.pathname === '/staff/enrol' ? '/staff' : location.pathname);
    } catch (e) {
      showError(err, e);
      b.disabled = false;
    }
  });
  return h(
    'section',
    { class: 'card stack', id: 'staff-signin' },
    h('h2', {}, 'Staff sign-in'),
    h('p', {}, 'Vigil staff sign in with their own passkey, never with a customer account or a password.'),
    passkeysAvailable() ? h('div', {}, b) : h('p', { class: 'warn' }, 'This browser cannot use passkeys. Use a browser that can.'),
    err,
    h('p', { class: 'muted' }, 'New here? A staff admin gave you a one-time enrolment secret: ', h('a', { href: '/staff/enrol', id: 'staff-enrol-link' }, 'register your passkey'), '.'),
  );
}

// Enrolment: the one-time secret from "vigil cloud staff add" registers
// the staff member's passkey and signs them in.
route('/staff/enrol', (root) => {
  const err = h('p', { id: 'staff-enrol-error' });
  const secret = h('input', { id: 'staff-enrol-secret', type: 'password', required: true, autocomplete: 'off', spellcheck: 'false', 'aria-describedby': 'staff-enrol-hint' });
  const submit = h('button', { type: 'submit', id: 'staff-enrol-submit' }, 'Register my passkey');
  const form = h(
    'form',
    { class: 'stack' },
    h('label', { class: 'field' }, h('span', {}, 'Enrolment secret'), secret),
    h('small', { class: 'muted', id: 'staff-enrol-hint' }, 'It begins “vigilenrol_”, works once and for a day. It is used up as soon as you send it: if the passkey is not made, ask for a new one.'),
    h('div', {}, submit),
    err,
  );
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    submit.disabled = true;
    err.textContent = '';
    try {
      const begin = await staffApi<Begun>('POST', '/enrol/begin', { secret: secret.value.trim() });
      secret.value = '';
      started(await staffApi<{ csrf: string }>('POST', `/enrol/finish?ceremony=${encodeURIComponent(begin.ceremony)}`, await createPasskey(begin)));
      toast('Passkey registered');
      go('/staff');
    } catch (x) {
      showError(err, x);
      submit.disabled = false;
    }
  });
  mount(
    root,
    pageHead('Register your staff passkey', { back: { href: '/staff', label: 'Support console' } }),
    h('section', { class: 'card stack' }, h('p', {}, 'Your passkey is how you sign in to the support console; there is no password.'), passkeysAvailable() ? form : h('p', { class: 'warn' }, 'This browser cannot make passkeys. Use a browser that can.')),
  );
});

async function signOut(): Promise<void> {
  try {
    await staffApi('DELETE', '/sessions/current');
  } finally {
    localStorage.removeItem(STAFF_CSRF_KEY);
    go('/staff');
  }
}

function whoBar(m: StaffMe): HTMLElement {
  const out = h('button', { type: 'button', class: 'secondary', id: 'staff-signout' }, 'Sign out');
  out.addEventListener('click', () => void signOut());
  return h(
    'div',
    { class: 'banner', id: 'staff-me', 'data-staff': m.staff_id },
    h('p', { class: 'grow' }, `Signed in as ${m.name} (${m.role}) until ${fmtDateTime(new Date(m.expires).getTime())}.`),
    out,
  );
}

// The console's home: look a household up and file a request.
route('/staff', async (root) => {
  const err = h('p', { id: 'staff-error' });
  mount(root, pageHead('Support console'), h('p', { class: 'muted' }, 'Checking your staff session…'), err);
  let m: StaffMe | null;
  try {
    m = await me();
  } catch (e) {
    showError(err, e);
    return;
  }
  if (!m) {
    mount(root, pageHead('Support console'), signInCard());
    return;
  }
  const code = h('input', { id: 'staff-code', required: true, autocomplete: 'off', spellcheck: 'false', autocapitalize: 'characters', maxlength: '24', placeholder: '7KQ2M-9XHT4', 'aria-describedby': 'staff-code-hint' });
  const look = h('button', { type: 'submit', id: 'staff-lookup' }, 'Look up');
  const found = h('div', { id: 'staff-found' });
  const lookForm = h(
    'form',
    { class: 'stack' },
    h('label', { class: 'field' }, h('span', {}, 'Support code the customer reads out'), code),
    h('small', { class: 'muted', id: 'staff-code-hint' }, 'Ten letters and digits. Case, dashes and spaces do not matter; O, I and L are read as 0, 1 and 1.'),
    h('div', {}, look),
  );
  lookForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    look.disabled = true;
    mount(found);
    try {
      const res = await staffApi<{ household_id: string }>('POST', '/lookup', { support_code: code.value });
      mount(found, requestForm(code.value.trim(), res.household_id), householdTickets(code.value.trim()));
    } catch (x) {
      showError(found.appendChild(h('p', { id: 'staff-lookup-error' })), x);
    } finally {
      look.disabled = false;
    }
  });
  const rs = recent();
  const recentCard = h(
    'section',
    { class: 'card', 'aria-labelledby': 'staff-recent-title' },
    h('h2', { id: 'staff-recent-title' }, 'Your recent requests'),
    rs.length
      ? h('ul', { class: 'list', id: 'staff-recent' }, ...rs.map((r) => h('li', { class: 'item' }, h('a', { href: `/staff/requests/${encodeURIComponent(r.id)}`, class: 'grow staff-recent-link' }, `${r.code}: `, h('q', {}, r.reason)))))
      : emptyState('None in this browser yet.'),
  );
  mount(
    root,
    pageHead('Support console'),
    whoBar(m),
    h('p', { class: 'muted', id: 'staff-label-link' }, 'Labelling donated clips? ', h('a', { href: '/label' }, 'Open the labelling workspace'), ' (it uses this browser’s device, not your staff session).'),
    h(
      'section',
      { class: 'card stack', 'aria-labelledby': 'staff-find-title' },
      h('h2', { id: 'staff-find-title' }, 'Find a household'),
      h('p', { class: 'muted' }, 'A household is found only by the support code on its settings page. Looking it up shows you nothing about it, and it is in the household’s history.'),
      lookForm,
      found,
    ),
    ownTicketsCard(),
    recentCard,
    canOps(m) ? opsCard() : null,
    canAdmin(m) ? staffAdminCard(m) : null,
    err,
  );
  code.focus();
});

function who(name: string | undefined, id: string | undefined): string {
  return name || id || 'unknown';
}

/** ticketItem is one ticket in a list, linking to its page. */
function ticketItem(t: StaffTicket): HTMLElement {
  return h(
    'li',
    { class: 'item staff-ticket', 'data-ticket': t.ticket_id, 'data-state': t.state },
    h(
      'div',
      { class: 'grow' },
      h('a', { href: `/staff/tickets/${encodeURIComponent(t.ticket_id)}`, class: 'staff-ticket-link' }, t.subject),
      h('div', { class: 'sub' }, `${t.state === 'open' ? 'Open' : 'Closed'} · opened by ${who(t.opened_by_name, t.opened_by)} ${fmtDateTime(new Date(t.opened).getTime())}`),
    ),
  );
}

/** ownTicketsCard lists the signed-in staff member's open tickets. */
function ownTicketsCard(): HTMLElement {
  const body = h('div', { id: 'staff-own-tickets' }, h('p', { class: 'muted' }, 'Loading…'));
  void (async () => {
    try {
      const r = await staffApi<{ tickets: StaffTicket[] }>('GET', '/tickets');
      mount(body, r.tickets.length ? h('ul', { class: 'list' }, ...r.tickets.map(ticketItem)) : emptyState('You have no open tickets.'));
    } catch (e) {
      showError(body, e);
    }
  })();
  return h('section', { class: 'card', 'aria-labelledby': 'staff-own-tickets-title' }, h('h2', { id: 'staff-own-tickets-title' }, 'Your open tickets'), body);
}

/** householdTickets lists the tickets about the household whose code was looked up, and opens new ones. */
function householdTickets(code: string): HTMLElement {
  const list = h('div', { id: 'staff-household-tickets' }, h('p', { class: 'muted' }, 'Loading…'));
  const err = h('p', { id: 'staff-ticket-error' });
  const subject = h('input', { id: 'staff-ticket-subject', required: true, maxlength: '120', autocomplete: 'off', placeholder: 'uploads failing since noon' });
  const note = h('textarea', { id: 'staff-ticket-note', maxlength: '2000', rows: '3', placeholder: 'What the customer said, what you tried' });
  const submit = h('button', { type: 'submit', id: 'staff-ticket-open' }, 'Open a ticket');
  const form = h(
    'form',
    { class: 'stack', id: 'staff-ticket-form' },
    h('label', { class: 'field' }, h('span', {}, 'Subject (the household reads it in its history)'), subject),
    h('label', { class: 'field' }, h('span', {}, 'First note (staff only; optional)'), note),
    h('div', {}, submit),
    err,
  );
  const load = async () => {
    try {
      const r = await staffApi<{ tickets: StaffTicket[] }>('POST', '/tickets/find', { support_code: code });
      mount(list, r.tickets.length ? h('ul', { class: 'list' }, ...r.tickets.map(ticketItem)) : emptyState('No tickets about this household yet.'));
    } catch (e) {
      showError(list, e);
    }
  };
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    err.textContent = '';
    submit.disabled = true;
    try {
      const t = await staffApi<StaffTicket>('POST', '/tickets', { support_code: code, subject: subject.value.trim(), note: note.value.trim() });
      toast('Ticket opened');
      go(`/staff/tickets/${encodeURIComponent(t.ticket_id)}`);
    } catch (x) {
      showError(err, x);
      submit.disabled = false;
    }
  });
  void load();
  return h(
    'section',
    { class: 'stack staff-tickets', 'aria-labelledby': 'staff-household-tickets-title' },
    h('h3', { id: 'staff-household-tickets-title' }, 'Tickets about this household'),
    h('p', { class: 'muted' }, 'Notes are for staff and never hold the household’s recordings or events (you cannot see them). Opening and closing a ticket is in the household’s history, with its subject.'),
    list,
    form,
  );
}

// One ticket: its notes, a new note, close or reopen.
route('/staff/tickets/:id', async (root, { id }) => {
  const err = h('p', { id: 'staff-error' });
  const back = { back: { href: '/staff', label: 'Support console' } };
  const render = (t: StaffTicket) => {
    const notes = t.notes ?? [];
    const noteText = h('textarea', { id: 'staff-note-text', required: true, maxlength: '2000', rows: '3' });
    const addNote = h('button', { type: 'submit', id: 'staff-note-add' }, 'Add note');
    const noteErr = h('p', { id: 'staff-note-error' });
    const noteForm = h('form', { class: 'stack', id: 'staff-note-form' }, h('label', { class: 'field' }, h('span', {}, 'Note (staff only)'), noteText), h('div', {}, addNote), noteErr);
    noteForm.addEventListener('submit', async (e) => {
      e.preventDefault();
      noteErr.textContent = '';
      addNote.disabled = true;
      try {
        await staffApi('POST', `/tickets/${encodeURIComponent(id)}/notes`, { text: noteText.value });
        await load();
      } catch (x) {
        showError(noteErr, x);
        addNote.disabled = false;
      }
    });
    const reopen = t.state === 'closed';
    const toggle = h('button', { type: 'button', class: reopen ? 'secondary' : '', id: reopen ? 'staff-ticket-reopen' : 'staff-ticket-close' }, reopen ? 'Reopen' : 'Close ticket');
    toggle.addEventListener('click', async () => {
      toggle.disabled = true;
      err.textContent = '';
      try {
        await staffApi('POST', `/tickets/${encodeURIComponent(id)}/${reopen ? 'reopen' : 'close'}`);
        toast(reopen ? 'Ticket reopened' : 'Ticket closed');
        await load();
      } catch (x) {
        showError(err, x);
        toggle.disabled = false;
      }
    });
    const state =
      t.state === 'open'
        ? `Open since ${fmtDateTime(new Date(t.opened).getTime())}, opened by ${who(t.opened_by_name, t.opened_by)}.`
        : `Closed ${t.closed ? fmtDateTime(new Date(t.closed).getTime()) : ''} by ${who(t.closed_by_name, t.closed_by)} (opened by ${who(t.opened_by_name, t.opened_by)}).`;
    mount(
      root,
      pageHead('Ticket', back),
      h(
        'section',
        { class: 'card stack', id: 'staff-ticket', 'data-state': t.state },
        h('h2', { id: 'staff-ticket-subject-text' }, t.subject),
        h('p', { id: 'staff-ticket-state', class: t.state === 'open' ? 'ok' : 'muted' }, state),
        h('div', {}, toggle),
      ),
      h(
        'section',
        { class: 'card stack', 'aria-labelledby': 'staff-notes-title' },
        h('h2', { id: 'staff-notes-title' }, 'Notes'),
        notes.length
          ? h(
              'ol',
              { class: 'list', id: 'staff-notes' },
              ...notes.map((n) => h('li', { class: 'item staff-note-item', 'data-note': n.note_id }, h('div', { class: 'grow' }, h('p', { class: 'staff-note-text' }, n.text), h('div', { class: 'sub' }, `${who(n.staff_name, n.staff_id)} · ${fmtDateTime(new Date(n.created).getTime())}`)))),
            )
          : emptyState('No notes yet.'),
        t.state === 'open' ? noteForm : h('p', { class: 'muted' }, 'Reopen the ticket to add a note.'),
      ),
      err,
    );
  };
  const load = async () => {
    try {
      render(await staffApi<StaffTicket>('GET', `/tickets/${encodeURIComponent(id)}`));
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) {
        mount(root, pageHead('Ticket', back), signInCard());
        return;
      }
      mount(root, pageHead('Ticket', back), err);
      showError(err, e);
    }
  };
  mount(root, pageHead('Ticket', back), h('p', { class: 'muted' }, 'Loading…'));
  await load();
});

/** opsCard is the operations view: counts across every household, none of one. */
function opsCard(): HTMLElement {
  const body = h('div', { id: 'staff-ops' }, h('p', { class: 'muted' }, 'Loading…'));
  const refresh = h('button', { type: 'button', class: 'secondary', id: 'staff-ops-refresh' }, 'Refresh');
  const load = async () => {
    try {
      const o = await staffApi<StaffOps>('GET', '/ops');
      const row = (k: string, label: string, v: string) => h('div', { class: 'staff-ops-row', 'data-count': k }, h('dt', {}, label), h('dd', {}, v));
      mount(
        body,
        h(
          'dl',
          { class: 'staff-ops' },
          row('households', 'Households', String(o.households)),
          row('hubs', 'Hubs', String(o.hubs)),
          row('uploads', 'Uploads in the last hour', `${o.uploads} (${fmtBytes(o.uploaded_bytes)})`),
          row('open_tickets', 'Open tickets', String(o.open_tickets)),
          row('staff', 'Staff who can sign in', String(o.staff)),
          row('database', 'Database', `${o.database}${o.cluster ? ', replicas with cluster-wide jobs' : ', one process'}`),
        ),
        o.note ? h('p', { class: 'muted' }, o.note) : null,
      );
    } catch (e) {
      showError(body, e);
    }
  };
  refresh.addEventListener('click', () => void load());
  void load();
  return h(
    'section',
    { class: 'card stack', 'aria-labelledby': 'staff-ops-title' },
    h('h2', { id: 'staff-ops-title' }, 'Operations'),
    h('p', { class: 'muted' }, 'Counts across every household; nothing of any one household.'),
    body,
    h('div', {}, refresh),
  );
}

/** staffAdminCard lists staff, adds them (the enrolment secret is shown once) and disables them. */
function staffAdminCard(m: StaffMe): HTMLElement {
  const list = h('div', { id: 'staff-members' }, h('p', { class: 'muted' }, 'Loading…'));
  const name = h('input', { id: 'staff-add-name', required: true, maxlength: '100', autocomplete: 'off' });
  const role = h('select', { id: 'staff-add-role' }, ...ROLES.map((r) => h('option', { value: r.role }, r.label)));
  const submit = h('button', { type: 'submit', id: 'staff-add' }, 'Add staff member');
  const err = h('p', { id: 'staff-add-error' });
  const secretBox = h('div', { id: 'staff-add-secret' });
  const form = h(
    'form',
    { class: 'stack', id: 'staff-add-form' },
    h('label', { class: 'field' }, h('span', {}, 'Name'), name),
    h('label', { class: 'field' }, h('span', {}, 'Role'), role),
    h('div', {}, submit),
    err,
    secretBox,
  );
  const load = async () => {
    try {
      const r = await staffApi<{ staff: StaffMember[] }>('GET', '/staff');
      mount(
        list,
        h(
          'ul',
          { class: 'list' },
          ...r.staff.map((x) => {
            const item = h(
              'li',
              { class: 'item staff-member', 'data-staff': x.staff_id, 'data-disabled': x.disabled ? '1' : '' },
              h('div', { class: 'grow' }, h('strong', {}, x.name), h('div', { class: 'sub' }, `${x.role}${x.disabled ? ` · disabled ${fmtDateTime(new Date(x.disabled).getTime())}` : ''}`)),
            );
            if (!x.disabled && x.staff_id !== m.staff_id) {
              const b = h('button', { type: 'button', class: 'secondary staff-disable' }, 'Disable');
              b.addEventListener('click', async () => {
                if (!confirm(`Disable ${x.name}? Their sessions end at once.`)) return;
                b.disabled = true;
                try {
                  await staffApi('POST', `/staff/${encodeURIComponent(x.staff_id)}/disable`);
                  toast(`${x.name} disabled`);
                  await load();
                } catch (e) {
                  toast((e as Error).message, 'bad');
                  b.disabled = false;
                }
              });
              item.append(b);
            }
            return item;
          }),
        ),
      );
    } catch (e) {
      showError(list, e);
    }
  };
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    err.textContent = '';
    mount(secretBox);
    submit.disabled = true;
    try {
      const r = await staffApi<{ staff: StaffMember; enrol_secret: string; enrol_expires: string }>('POST', '/staff', { name: name.value.trim(), role: role.value });
      name.value = '';
      const secret = r.enrol_secret;
      mount(
        secretBox,
        h('p', { class: 'ok' }, `${r.staff.name} added as ${r.staff.role}. Give them this one-time enrolment secret (shown once; it works until ${fmtDateTime(new Date(r.enrol_expires).getTime())}):`),
        h('p', { class: 'mono wrap', id: 'staff-add-secret-text' }, secret),
        copyButton(() => secret, { id: 'staff-add-copy' }),
      );
      await load();
    } catch (x) {
      showError(err, x);
    } finally {
      submit.disabled = false;
    }
  });
  void load();
  return h(
    'section',
    { class: 'card stack', 'aria-labelledby': 'staff-admin-title' },
    h('h2', { id: 'staff-admin-title' }, 'Staff'),
    h('p', { class: 'muted' }, 'Staff sign in with a passkey they register with the enrolment secret. Disabling someone ends their sessions at once; you cannot disable yourself.'),
    list,
    form,
  );
}

/** requestForm files a lockbox request for the household whose code was looked up. */
function requestForm(code: string, household: string): HTMLElement {
  const err = h('p', { id: 'staff-file-error' });
  const reason = h('input', { id: 'staff-reason', required: true, maxlength: '200', autocomplete: 'off', placeholder: 'uploads failing' });
  const duration = h('select', { id: 'staff-duration' }, ...DURATIONS.map((d) => h('option', { value: String(d.s), selected: d.s === 3600 }, d.label)));
  const submit = h('button', { type: 'submit', id: 'staff-file' }, 'Ask the household');
  const form = h(
    'form',
    { class: 'stack', id: 'staff-request-form', 'data-household': household },
    h('p', { class: 'ok' }, `Household found (support code ${code}). To see anything of it, ask its admins:`),
    h(
      'fieldset',
      { class: 'staff-scopes' },
      h('legend', {}, 'What you need to see'),
      ...SCOPES.map((s) => h('label', { class: 'check' }, h('input', { type: 'checkbox', name: 'scope', value: s.scope }), h('span', {}, s.label))),
    ),
    h('label', { class: 'field' }, h('span', {}, 'Reason (the household reads it)'), reason),
    h('label', { class: 'field' }, h('span', {}, 'For how long, from their approval'), duration),
    h('div', {}, submit),
    err,
  );
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    err.textContent = '';
    const scopes = [...form.querySelectorAll<HTMLInputElement>('input[name="scope"]:checked')].map((i) => i.value);
    if (!scopes.length) {
      showError(err, new Error('Choose at least one thing you need to see.'));
      return;
    }
    const seconds = Math.min(MAX_GRANT_S, Number(duration.value) || MAX_GRANT_S);
    submit.disabled = true;
    try {
      const q = await staffApi<StaffRequest>('POST', '/requests', { support_code: code, scopes, reason: reason.value.trim(), duration_seconds: seconds });
      remember({ id: q.request_id, code, reason: q.reason });
      toast('Request sent to the household');
      go(`/staff/requests/${encodeURIComponent(q.request_id)}`);
    } catch (x) {
      showError(err, x);
      submit.disabled = false;
    }
  });
  return form;
}

const STATE_WORDS: Record<string, string> = {
  pending: 'Waiting for the household’s admins to approve or deny it.',
  approved: 'Approved.',
  denied: 'Denied by the household.',
  revoked: 'Revoked by the household.',
  expired: 'The grant has ended.',
};

function fmtBytes(b: number): string {
  if (b <= 0) return '0 bytes';
  if (b >= 1e9) return `${(b / 1e9).toFixed(1)} GB`;
  if (b >= 1e6) return `${(b / 1e6).toFixed(1)} MB`;
  if (b >= 1e3) return `${Math.round(b / 1e3)} kB`;
  return `${b} bytes`;
}

const ERROR_KINDS: Record<string, string> = {
  network: 'cannot reach the cloud',
  refused: 'the cloud refuses the hub',
  server: 'the cloud or a proxy before it is failing',
  rejected: 'a segment was refused for good',
  local: 'the hub cannot read its own data',
};

/** contact says when the cloud last heard from a hub. */
function contact(at: string | undefined): string {
  return at ? `Last contact ${fmtAgo(new Date(at).getTime())} (${fmtDateTime(new Date(at).getTime())})` : 'No health report yet';
}

/** hubItem is a hub with what its latest health report says. */
function hubItem(d: StaffHub): HTMLElement {
  const facts = d.last_contact
    ? [contact(d.last_contact), `version ${d.version ?? '?'}`, `${d.recording} of ${d.cameras} cameras recording`, d.started ? `up since ${fmtDateTime(new Date(d.started).getTime())}` : '']
    : [contact(undefined)];
  return h(
    'li',
    { class: 'item staff-hub', 'data-device': d.device_id, 'data-contact': d.last_contact ?? '' },
    h('div', { class: 'grow' }, h('strong', {}, d.name), h('div', { class: 'sub staff-hub-facts' }, facts.filter(Boolean).join(' · ')), h('div', { class: 'sub mono wrap' }, d.device_id)),
  );
}

/** uploadItem is one hub's upload queue and latest failure. */
function uploadItem(u: StaffHubUploads): HTMLElement {
  const rows: (Node | string)[] = [h('strong', {}, u.name)];
  if (!u.reported) {
    rows.push(h('div', { class: 'sub muted' }, 'No health report yet: backlog and errors unknown.'));
  } else {
    const backlog = u.pending
      ? `Backlog: ${u.pending} segment${u.pending === 1 ? '' : 's'} waiting${u.oldest_pending ? `, the oldest from ${fmtDateTime(new Date(u.oldest_pending).getTime())}` : ''}.`
      : 'Backlog: none.';
    rows.push(h('div', { class: u.pending ? 'warn staff-backlog' : 'staff-backlog', 'data-pending': String(u.pending) }, backlog));
    rows.push(h('div', { class: 'sub staff-failures' }, `Failed attempts: ${u.failures}; refused for good: ${u.rejected}; deleted on the hub before upload: ${u.evicted}.${u.cloud_away ? ' The hub cannot upload right now.' : ''}`));
    if (u.last_error) {
      const e = u.last_error;
      rows.push(
        h(
          'div',
          { class: 'staff-last-error', 'data-kind': e.kind, 'data-status': String(e.status ?? '') },
          `Last error (${ERROR_KINDS[e.kind] ?? e.kind}${e.status ? `, HTTP ${e.status}` : ''}), since ${fmtDateTime(new Date(e.at).getTime())}: `,
          h('q', {}, e.message),
        ),
      );
    }
    rows.push(h('div', { class: 'sub muted' }, `${contact(u.last_contact)}.`));
  }
  return h('li', { class: 'item staff-upload', 'data-device': u.device_id }, h('div', { class: 'grow stack' }, ...rows));
}

/** healthView is one scope of health metadata. */
function healthView(x: StaffHealth): HTMLElement {
  const body: (Node | string)[] = [];
  switch (x.scope) {
    case 'hubs':
      body.push(x.hubs?.length ? h('ul', { class: 'list staff-hubs' }, ...x.hubs.map(hubItem)) : h('p', { class: 'muted' }, 'No hub paired.'));
      break;
    case 'uploads':
      body.push(h('p', { class: 'staff-uploaded', 'data-bytes': String(x.uploaded_bytes ?? '') }, `Uploaded in the last 24 hours: ${fmtBytes(x.uploaded_bytes ?? 0)}.`));
      if (x.uploads?.length) body.push(h('ul', { class: 'list staff-uploads' }, ...x.uploads.map(uploadItem)));
      break;
    case 'versions':
      if (x.versions) {
        const v = x.versions;
        body.push(
          h(
            'ul',
            { class: 'list staff-versions' },
            ...v.hubs.map((d) => h('li', { class: 'item staff-version', 'data-device': d.device_id }, h('div', { class: 'grow' }, h('strong', {}, d.name), h('div', { class: 'sub mono' }, d.version ? `Hub software ${d.version}` : 'Not reported yet')))),
            h('li', { class: 'item staff-version-cloud' }, h('div', { class: 'grow' }, h('strong', {}, 'Cloud'), h('div', { class: 'sub mono' }, v.cloud))),
            ...(v.web_app ? [h('li', { class: 'item staff-version-app' }, h('div', { class: 'grow' }, h('strong', {}, 'Web app'), h('div', { class: 'sub mono' }, v.web_app)))] : []),
          ),
        );
      }
      break;
    case 'storage':
      body.push(h('p', { class: 'staff-storage' }, `Storage used: ${fmtBytes(x.usage_bytes ?? 0)} of ${fmtBytes(x.quota_bytes ?? 0)}.`));
      break;
    case 'cameras':
      body.push(h('p', { class: 'staff-cameras' }, `Cameras: ${x.cameras ?? 0}.`));
      break;
  }
  if (x.note) body.push(h('p', { class: 'muted staff-note' }, `Not known: ${x.note}.`));
  const title = SCOPES.find((s) => s.scope === x.scope)?.label.replace(/ \(.*/, '') ?? x.scope;
  return h('section', { class: 'staff-scope', 'data-scope': x.scope }, h('h3', {}, title), ...body);
}

// One request: its state, and the granted metadata while the grant is live.
route('/staff/requests/:id', async (root, { id }) => {
  let stopped = false;
  let timer: number | undefined;
  const err = h('p', { id: 'staff-error' });
  const state = h('p', { id: 'staff-state', 'aria-live': 'polite' }, 'Checking…');
  const details = h('div', { class: 'stack', id: 'staff-request' });
  const health = h('div', { class: 'stack', id: 'staff-health' });
  const refresh = h('button', { type: 'button', class: 'secondary', id: 'staff-refresh' }, 'Check again');
  mount(
    root,
    pageHead('Access request', { back: { href: '/staff', label: 'Support console' } }),
    h('section', { class: 'card stack' }, details, state, h('div', {}, refresh)),
    h('section', { class: 'card stack', 'aria-labelledby': 'staff-health-title' }, h('h2', { id: 'staff-health-title' }, 'What you may see'), health),
    err,
  );
  const load = async () => {
    window.clearTimeout(timer);
    err.textContent = '';
    let q: StaffRequest;
    try {
      q = await staffApi<StaffRequest>('GET', `/requests/${encodeURIComponent(id)}`);
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) {
        mount(root, pageHead('Access request', { back: { href: '/staff', label: 'Support console' } }), signInCard());
        return;
      }
      showError(err, e);
      return;
    }
    if (stopped) return;
    mount(
      details,
      h('p', {}, 'Reason: ', h('q', { id: 'staff-request-reason' }, q.reason)),
      h('p', { class: 'muted' }, `Asked ${fmtDateTime(new Date(q.created).getTime())} for ${q.scopes.join(', ')}, ${fmtDuration(q.duration_seconds * 1000)} from approval.`),
    );
    state.dataset.state = q.state;
    state.className = q.state === 'approved' ? 'ok' : q.state === 'pending' ? 'muted' : 'warn';
    state.textContent = q.state === 'approved' && q.expires ? `Approved until ${fmtDateTime(new Date(q.expires).getTime())}.` : STATE_WORDS[q.state] ?? q.state;
    if (q.state !== 'approved') {
      mount(health, h('p', { class: 'muted', id: 'staff-health-none' }, q.state === 'pending' ? 'Nothing until the household approves.' : 'Nothing: there is no live grant.'));
      if (q.state === 'pending') timer = window.setTimeout(() => void load(), 3000);
      return;
    }
    // Each scope is one read, in the household's history.
    const views: HTMLElement[] = [];
    for (const scope of q.scopes) {
      try {
        views.push(healthView(await staffApi<StaffHealth>('GET', `/requests/${encodeURIComponent(id)}/health/${encodeURIComponent(scope)}`)));
      } catch (e) {
        const p = h('p', { class: 'staff-health-error', 'data-scope': scope });
        showError(p, e);
        views.push(p);
      }
    }
    if (!stopped) mount(health, ...views);
  };
  refresh.addEventListener('click', () => void load());
  await load();
  return () => {
    stopped = true;
    window.clearTimeout(timer);
  };
});
