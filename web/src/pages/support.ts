// The household's side of Vigil support, on its settings page: the
// support code every member can read out to support (it only lets staff
// ask; it opens nothing), and, for the household's admins, "Support
// access": staff members' requests to see some of the household's
// metadata, approved or denied with this browser's admin device key (a
// signed household action, as every other household change), and the live
// grants with when they end and a Revoke button.
//
// Owns: the wording and the buttons of the lockbox for households. Must
// never: approve anything but exactly what the staff member asked (the
// request's scopes and duration are what is signed), or put the staff
// member's words anywhere but textContent.

import { api } from '../api';
import type { ActionName, ParamsOf, Signed } from '../crypto/action';
import type { Household } from '../household';
import { copyButton, fmtDateTime, fmtDuration, toast } from '../kit';
import { h, mount, showError } from '../ui';

const hhPath = (hh: string) => `/v1/households/${encodeURIComponent(hh)}`;

/** SCOPE_WORDS say what each scope lets staff see, for people. */
export const SCOPE_WORDS: Record<string, string> = {
  hubs: 'your hubs and when they last reached the service',
  uploads: 'how much your hubs uploaded, and upload errors',
  storage: 'how much cloud storage you use',
  cameras: 'how many cameras you have',
  versions: 'the app and hub versions',
};

/** scopeList is the scopes in words: "your hubs … and how much …". */
export function scopeList(scopes: string[]): string {
  const w = scopes.map((s) => SCOPE_WORDS[s] ?? s);
  return w.length <= 1 ? (w[0] ?? '') : `${w.slice(0, -1).join(', ')} and ${w[w.length - 1]}`;
}

/** StaffRequest is a lockbox request as GET …/staff-requests lists it. */
export interface StaffRequest {
  request_id: string;
  staff_id: string;
  staff_name?: string;
  staff_role?: string;
  scopes: string[];
  reason: string;
  duration_seconds: number;
  created: string;
  state: 'pending' | 'approved' | 'denied' | 'revoked' | 'expired';
  decided?: string;
  expires?: string;
}

/** staffName names the staff member who asked: "Sam (Vigil support)". */
export function staffName(q: Pick<StaffRequest, 'staff_name' | 'staff_role' | 'staff_id'>): string {
  const role = q.staff_role === 'support' ? 'Vigil support' : q.staff_role ? `Vigil ${q.staff_role}` : 'Vigil staff';
  return q.staff_name ? `${q.staff_name} (${role})` : `${role} member ${q.staff_id}`;
}

/** supportCodeCard shows the household's support code to every member. */
export async function supportCodeCard(x: Household): Promise<HTMLElement> {
  const code = h('p', { class: 'code-big', id: 'support-code' }, '…');
  const card = h(
    'section',
    { class: 'card', id: 'support', 'aria-labelledby': 'support-title' },
    h('h2', { id: 'support-title' }, 'Vigil support'),
    h('p', {}, 'If you contact Vigil support, read them this code. It gives them nothing by itself: with it they can only ask this household’s admins for access, which the admins approve or deny here.'),
    code,
  );
  try {
    const info = await api<{ support_code?: string }>('GET', hhPath(x.hh));
    if (!info.support_code) throw new Error('The service did not say this household’s support code.');
    code.textContent = info.support_code;
    card.append(h('div', { class: 'row' }, copyButton(() => info.support_code!, { id: 'support-code-copy', label: 'Copy the code' })));
  } catch (e) {
    code.remove();
    showError(card.appendChild(h('p')), e);
  }
  return card;
}

type Sign = <A extends ActionName>(action: A, params: ParamsOf[A]) => Promise<Signed>;

/**
 * supportAccessCard lists staff requests for admins, with Approve and Deny
 * (pending), Revoke (live grants), and what happened to the others. It
 * checks for new requests every few seconds while it is on the page.
 */
export function supportAccessCard(x: Household, adminDevice: boolean, sign: Sign): { card: HTMLElement; banner: HTMLElement } {
  const list = h('div', { id: 'staff-requests' }, h('p', { class: 'muted' }, 'Checking…'));
  const card = h(
    'section',
    { class: 'card', id: 'support-access', 'aria-labelledby': 'support-access-title' },
    h('h2', { id: 'support-access-title' }, 'Support access'),
    h('p', { class: 'muted' }, 'Vigil staff can see some facts about this household (never recordings, live view or alerts) only when an admin approves, for the time they asked, and every look is in the history.'),
    adminDevice ? null : h('p', { class: 'warn' }, 'Only an admin device of the household can approve or revoke; this browser is not one.'),
    list,
  );
  // The banner, at the top of the page, says when a request waits.
  const see = h('button', { type: 'button', class: 'secondary', id: 'staff-waiting-see' }, 'See the request');
  see.addEventListener('click', () => card.scrollIntoView({ block: 'start', behavior: 'smooth' }));
  const banner = h(
    'div',
    { class: 'banner', id: 'staff-waiting', hidden: true },
    h('p', { class: 'grow' }, 'Vigil support asks to see some facts about this household.'),
    see,
  );
  const refresh = async () => {
    await renderStaffRequests(list, x, adminDevice, sign, refresh);
    banner.hidden = !list.querySelector('.staff-request[data-state="pending"]');
  };
  const poll = async () => {
    if (!card.isConnected && card.dataset.drawn) return; // the page moved on
    try {
      await refresh();
    } catch (e) {
      showError(list, e);
    }
    card.dataset.drawn = '1';
    window.setTimeout(() => void poll(), 4000);
  };
  void poll();
  return { card, banner };
}

async function renderStaffRequests(box: HTMLElement, x: Household, adminDevice: boolean, sign: Sign, again: () => Promise<void>): Promise<void> {
  if (box.querySelector('button:disabled')) return; // a decision is being sent
  const res = await api<{ requests: StaffRequest[] }>('GET', `${hhPath(x.hh)}/staff-requests`);
  const key = res.requests.map((q) => `${q.request_id}:${q.state}`).join(',');
  if (box.dataset.key === key) return;
  box.dataset.key = key;
  const pending = res.requests.filter((q) => q.state === 'pending');
  const live = res.requests.filter((q) => q.state === 'approved');
  const past = res.requests.filter((q) => q.state !== 'pending' && q.state !== 'approved').slice(0, 5);
  if (!res.requests.length) {
    mount(box, h('p', { class: 'muted', id: 'staff-none' }, 'No requests from Vigil staff.'));
    return;
  }
  const decide = (q: StaffRequest, what: 'approve' | 'deny' | 'revoke', label: string, cls: string) => {
    const b = h('button', { class: `${cls} staff-${what}`, 'data-request': q.request_id, disabled: !adminDevice }, label);
    const err = h('p', { class: 'staff-error' });
    b.addEventListener('click', async () => {
      b.disabled = true;
      err.textContent = '';
      try {
        const body =
          what === 'approve'
            ? await sign('staff.approve', { request: q.request_id, scopes: q.scopes, seconds: q.duration_seconds })
            : await sign(what === 'deny' ? 'staff.deny' : 'staff.revoke', { request: q.request_id });
        await api('POST', `${hhPath(x.hh)}/staff-requests/${encodeURIComponent(q.request_id)}/${what}`, body);
        toast(what === 'approve' ? 'Access approved' : what === 'deny' ? 'Request denied' : 'Access revoked');
        b.disabled = false;
        box.dataset.key = '';
        await again();
      } catch (e) {
        showError(err, e);
        b.disabled = false;
      }
    });
    return { b, err };
  };
  const item = (q: StaffRequest, ...rest: (Node | null)[]) =>
    h(
      'li',
      { class: 'item staff-request', 'data-request': q.request_id, 'data-state': q.state },
      h(
        'div',
        { class: 'grow stack' },
        h('div', {}, h('strong', { class: 'staff-name' }, staffName(q)), h('div', { class: 'sub' }, `Asked ${fmtDateTime(new Date(q.created).getTime())}`)),
        h('p', { class: 'staff-reason wrap' }, 'Reason: ', h('q', {}, q.reason)),
        ...rest,
      ),
    );
  const sections: HTMLElement[] = [];
  if (pending.length) {
    const ul = h('ul', { class: 'list', id: 'staff-pending' });
    for (const q of pending) {
      const ok = decide(q, 'approve', 'Approve', '');
      const no = decide(q, 'deny', 'Deny', 'secondary');
      ul.append(
        item(
          q,
          h('p', { class: 'staff-scopes' }, `Wants to see ${scopeList(q.scopes)}, for ${fmtDuration(q.duration_seconds * 1000)} from when you approve.`),
          h('div', { class: 'row' }, ok.b, no.b),
          ok.err,
          no.err,
        ),
      );
    }
    sections.push(h('h3', {}, 'Waiting for you'), ul);
  }
  if (live.length) {
    const ul = h('ul', { class: 'list', id: 'staff-live' });
    for (const q of live) {
      const rv = decide(q, 'revoke', 'Revoke now', 'danger');
      const until = q.expires ? new Date(q.expires).getTime() : 0;
      ul.append(
        item(
          q,
          h('p', { class: 'staff-scopes' }, `Can see ${scopeList(q.scopes)}.`),
          h('p', { class: 'ok staff-expires', 'data-expires': q.expires ?? '' }, until ? `Until ${fmtDateTime(until)}` : 'Approved'),
          h('div', { class: 'row' }, rv.b),
          rv.err,
        ),
      );
    }
    sections.push(h('h3', {}, 'Access now'), ul);
  }
  if (past.length) {
    const words: Record<string, string> = { denied: 'Denied', revoked: 'Revoked', expired: 'Ended' };
    const ul = h('ul', { class: 'list', id: 'staff-past' });
    for (const q of past) {
      const at = q.decided ? ` ${fmtDateTime(new Date(q.decided).getTime())}` : '';
      ul.append(item(q, h('p', { class: 'muted staff-outcome' }, `${words[q.state] ?? q.state}${at}: ${scopeList(q.scopes)}.`)));
    }
    sections.push(h('h3', {}, 'Earlier'), ul);
  }
  mount(box, ...sections);
}
