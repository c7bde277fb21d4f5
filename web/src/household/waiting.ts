// The "a device is waiting to join" banner for a household's pages (home):
// it polls the household's pending join requests (GET
// /v1/households/{hh}/join-requests, the list the settings page approves
// from) every few seconds while it is on the page and the page is visible,
// and links to the settings' waiting list. Hidden when nothing waits, and
// for an account that is not an admin (the cloud refuses it the list; it
// could not approve).
//
// Owns: #join-waiting. Must never: approve or decline anything (that is
// the settings page, after the codes are compared), or show more of a
// request than the name its device gave.

import { api, ApiError } from '../api';
import { h } from '../ui';

/** POLL_MS is how often the banner asks the cloud while it is shown. */
const POLL_MS = 4000;

interface Pending {
  request_id: string;
  name: string;
}

/** waitingText is what the banner says for the pending requests' device names. */
export function waitingText(names: string[]): string {
  if (names.length === 1) return `“${names[0]}” is waiting to join.`;
  return `${names.length} devices are waiting to join.`;
}

/**
 * joinWaiting returns the banner for household hh. It starts polling at
 * once and stops by itself once the element has been taken off the page.
 */
export function joinWaiting(hh: string): HTMLElement {
  const text = h('span', { class: 'grow', id: 'join-waiting-text' });
  const review = h('a', { class: 'btn', id: 'join-waiting-review', href: `/h/${encodeURIComponent(hh)}/settings#waiting` }, 'Review');
  const el = h('div', { class: 'banner', id: 'join-waiting', role: 'status', hidden: true }, text, review);
  let seen = false; // on the page at least once
  let tries = 0;
  let timer: number | undefined;
  const tick = async () => {
    if (el.isConnected) seen = true;
    else if (seen || ++tries > 3) return; // the page was left, or it never came
    if (!document.hidden || !seen) {
      try {
        const res = await api<{ requests: Pending[] | null }>('GET', `/v1/households/${encodeURIComponent(hh)}/join-requests`);
        const reqs = res.requests ?? [];
        el.hidden = reqs.length === 0;
        el.dataset.count = String(reqs.length);
        text.textContent = waitingText(reqs.map((q) => q.name));
      } catch (e) {
        el.hidden = true;
        // Not an admin account (or the household is gone): nothing to review here.
        if (e instanceof ApiError && (e.status === 403 || e.status === 404 || e.status === 401)) return;
      }
    }
    if (seen && !el.isConnected) return;
    timer = window.setTimeout(() => void tick(), POLL_MS);
  };
  void tick();
  // Stop when the tab is closed; a hidden tab skips its polls (above).
  window.addEventListener('pagehide', () => window.clearTimeout(timer), { once: true });
  return el;
}
