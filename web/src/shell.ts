// The app's frame: the header (brand, the household's tabs, the account
// menu), drawn again on every navigation from the cached account, so it
// always matches the session (a sign-in link, a sign-out in another tab
// once the next page loads). On phones the household tabs are a bottom
// tab bar (style.css).
//
// Owns: the header and the tabs. Must never: decide who is signed in by
// anything but the cloud's answer to GET /v1/account.

import { account, signOut, type Account } from './pages/auth';
import { bindDevice } from './session';
import { onNavigate } from './router';
import { h, mount } from './ui';

/** The household a path is in (/h/:hh/...), or '' (/h/new is not one). */
function householdOf(path: string): string {
  const m = /^\/h\/([^/]+)/.exec(path);
  if (!m || m[1] === 'new') return '';
  try {
    return decodeURIComponent(m[1]);
  } catch {
    return '';
  }
}

/** Which tab a path belongs to. */
function tabOf(path: string, base: string): string {
  const rest = path.slice(base.length);
  if (rest === '' || rest === '/' || rest === '/live' || rest.startsWith('/cam/')) return 'home';
  if (rest.startsWith('/events')) return 'events';
  if (rest.startsWith('/history')) return 'history';
  if (rest.startsWith('/settings') || rest.startsWith('/shares') || rest.startsWith('/donations') || rest.startsWith('/recover')) return 'settings';
  return '';
}

function tabs(hh: string, path: string): HTMLElement {
  const base = `/h/${encodeURIComponent(hh)}`;
  const cur = tabOf(path, base);
  const tab = (id: string, href: string, icon: string, label: string) =>
    h('a', { href, id: `tab-${id}`, 'aria-current': cur === id ? 'page' : undefined }, h('span', { class: 'tab-icon', 'aria-hidden': 'true' }, icon), h('span', {}, label));
  return h(
    'nav',
    { class: 'tabs household', 'aria-label': 'Household' },
    tab('home', base, '⌂', 'Home'),
    tab('events', `${base}/events`, '◉', 'Events'),
    tab('history', `${base}/history`, '☰', 'History'),
    tab('settings', `${base}/settings`, '⚙', 'Settings'),
  );
}

let closeMenu: (() => void) | undefined;

function accountMenu(a: Account): HTMLElement {
  const btn = h('button', { type: 'button', class: 'icon secondary', id: 'account-menu', 'aria-haspopup': 'true', 'aria-expanded': 'false', 'aria-controls': 'account-menu-list', 'aria-label': `Account: ${a.email}` }, (a.email[0] ?? '?').toUpperCase());
  const menu = h(
    'div',
    { class: 'menu', id: 'account-menu-list' },
    h('div', { class: 'menu-email', id: 'nav-email' }, a.email),
    h('a', { href: '/', id: 'nav-households' }, 'Households'),
    h('a', { href: '/shared', id: 'nav-shared' }, 'Shared with me'),
    h('a', { href: '/device', id: 'nav-device' }, 'This device'),
    h('a', { href: '/account', id: 'nav-account' }, 'Account and sign-in'),
    h('button', { type: 'button', id: 'sign-out' }, 'Sign out'),
  );
  menu.hidden = true;
  const wrap = h('div', { class: 'menu-wrap' }, btn, menu);
  const set = (open: boolean) => {
    menu.hidden = !open;
    btn.setAttribute('aria-expanded', String(open));
  };
  const outside = (e: Event) => {
    if (!wrap.contains(e.target as Node)) set(false);
  };
  const esc = (e: KeyboardEvent) => {
    if (e.key === 'Escape' && !menu.hidden) {
      set(false);
      btn.focus();
    }
  };
  btn.addEventListener('click', () => set(menu.hidden));
  menu.addEventListener('click', (e) => {
    if ((e.target as Element).closest('a')) set(false);
  });
  menu.querySelector('#sign-out')!.addEventListener('click', () => {
    set(false);
    void signOut();
  });
  document.addEventListener('click', outside, true);
  document.addEventListener('keydown', esc);
  closeMenu = () => {
    document.removeEventListener('click', outside, true);
    document.removeEventListener('keydown', esc);
  };
  return wrap;
}

let drawn = '';
/** refreshes counts refreshShell's calls: only the latest may draw. */
let refreshes = 0;
/** bound is the account this page load has asked to name its device for (session.ts). */
let bound = '';

/**
 * refreshShell draws the header for the current path and account;
 * reload asks the cloud again (after a sign-in or sign-out).
 */
export async function refreshShell(reload = false): Promise<void> {
  const nav = document.getElementById('nav');
  if (!nav) return;
  const path = location.pathname;
  const mine = ++refreshes;
  if (path === '/staff' || path.startsWith('/staff/')) {
    // The support console: staff are not accounts (pages/staff.ts).
    if (drawn === 'staff') return;
    drawn = 'staff';
    closeMenu?.();
    closeMenu = undefined;
    document.body.classList.remove('has-tabs');
    mount(nav, h('span', { class: 'spacer' }), h('a', { href: '/staff', id: 'nav-staff', class: 'chip' }, 'Support console'));
    return;
  }
  let a: Account | null = null;
  try {
    a = await account(reload);
  } catch {
    /* offline: the signed-out header */
  }
  // A later call (a sign-out, a navigation) has the newer answer: an
  // account read before a sign-out must not draw over the signed-out header.
  if (mine !== refreshes) return;
  if (a && a.account_id !== bound) {
    bound = a.account_id;
    void bindDevice();
  }
  const hh = a ? householdOf(path) : '';
  const key = `${a?.account_id ?? ''}|${a?.email ?? ''}|${hh}|${hh ? tabOf(path, `/h/${encodeURIComponent(hh)}`) : ''}`;
  if (key === drawn && !reload) return;
  drawn = key;
  closeMenu?.();
  closeMenu = undefined;
  document.body.classList.toggle('has-tabs', !!hh);
  if (a) {
    mount(nav, hh ? tabs(hh, path) : null, h('span', { class: 'spacer' }), accountMenu(a));
  } else {
    mount(nav, h('span', { class: 'spacer' }), h('a', { href: '/signin', id: 'nav-signin' }, 'Sign in'), h('a', { href: '/signup', id: 'nav-signup' }, 'Sign up'));
  }
}

/** startShell draws the header now and on every navigation. */
export function startShell(): void {
  onNavigate(() => void refreshShell());
  // A sign-in (a link, a passkey, a password) or a sign-out anywhere in
  // the app: ask the cloud again, so the header never shows the old state.
  window.addEventListener('vigil:session', () => void refreshShell(true));
}
