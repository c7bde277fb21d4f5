// The verifier's content script, at document_start on every page of a
// guarded origin. The declarativeNetRequest rules (rules.ts) already make
// the browser refuse scripts that are not in a logged release; this script
// makes that visible and checks what the rules cannot:
//
//   - a script or service worker refused by the CSP, SRI or a block rule
//     (securitypolicyviolation and error events) stops the page;
//   - the document is fetched again and must be a logged /index.html, and
//     the page the browser parsed must be that same document;
//   - every registered service worker's script is fetched and must be a
//     logged service worker (checked at load, every 5 s, and when one
//     changes); one that is not is unregistered;
//   - before the log has been verified (the static rules block every
//     script) the page says it is verifying, then reloads.
//
// Stopping a page: window.stop(), the document replaced by a message that
// names the file, what was served and what the log holds. When all is
// well the page is left untouched (the toolbar badge says so).
//
// Must never: put page-controlled text into the DOM as HTML (textContent
// only), or let the page's scripts see or change what it decides.

import type { PageState, Request } from './messages';
import { INDEX_PATH, isServiceWorker, servedAs, sri, type Logged } from './release';
import { FAIL_CLOSED_CSP } from './rules';

const SW_POLL_MS = 5000;

interface Blocked {
  how: 'csp' | 'load';
  failClosed?: boolean; // refused by the static rules: the page was loaded before the log was verified
  url: string; // absolute URL, or 'inline'/'eval'
  what: string; // "script", "service worker", "stylesheet", …
  directive?: string;
}

const pending: Blocked[] = [];
let handle: ((b: Blocked) => void) | null = null;
const blocked = (b: Blocked) => (handle ? handle(b) : pending.push(b));

window.addEventListener(
  'securitypolicyviolation',
  (e) => {
    const d = e.effectiveDirective || e.violatedDirective;
    if (!/^(script-src|worker-src|child-src|default-src)/.test(d)) return;
    blocked({ how: 'csp', url: e.blockedURI, what: d.startsWith('worker') ? 'worker' : 'script', directive: d, failClosed: e.originalPolicy === FAIL_CLOSED_CSP });
  },
  true,
);
window.addEventListener(
  'error',
  (e) => {
    const t = e.target;
    if (t instanceof HTMLScriptElement) blocked({ how: 'load', url: t.src || 'inline', what: 'script' });
    else if (t instanceof SVGScriptElement) blocked({ how: 'load', url: t.href.baseVal || 'inline', what: 'script' });
    else if (t instanceof HTMLLinkElement && /\b(stylesheet|modulepreload|preload)\b/i.test(t.rel)) blocked({ how: 'load', url: t.href, what: t.rel.toLowerCase() });
  },
  true,
);

// The document as the parser built it, before any deferred or module
// script runs ("interactive" comes first).
let parsed: string | null = null;
const interactive = new Promise<void>((resolve) => {
  const snap = () => {
    if (document.readyState !== 'loading' && parsed === null) {
      parsed = document.documentElement?.outerHTML ?? '';
      resolve();
    }
  };
  document.addEventListener('readystatechange', snap);
  snap();
});

const send = <T>(m: Request) => chrome.runtime.sendMessage<T>(m);

// ---- the message ----

let stopped: HTMLElement | null = null;
let verifyingStarted = false;

function el(tag: string, text?: string, style: Record<string, string> = {}): HTMLElement {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = text;
  for (const [k, v] of Object.entries(style)) e.style.setProperty(k, v);
  return e;
}

/** show replaces the document with a panel (CSSOM styles: the page's CSP forbids style attributes). */
function show(id: string, title: string, lines: string[]): HTMLElement {
  try {
    window.stop();
  } catch {
    /* nothing to stop */
  }
  const html = document.createElement('html');
  const head = document.createElement('head');
  head.append(el('title', title));
  const body = el('body', undefined, { margin: '0', 'font-family': 'system-ui, sans-serif', background: '#fff', color: '#1f2328' });
  const box = el('div', undefined, { 'max-width': '46rem', margin: '4rem auto', padding: '1.5rem 2rem', border: '3px solid #cf222e', 'border-radius': '8px' });
  box.id = id;
  box.append(el('h1', title, { 'font-size': '1.5rem', margin: '0 0 1rem' }));
  const list = el('ul', undefined, { 'padding-left': '1.2rem', 'line-height': '1.5' });
  list.className = 'vigil-verifier-reasons';
  for (const l of lines) list.append(el('li', l, { 'overflow-wrap': 'anywhere' }));
  box.append(list);
  body.append(box);
  html.append(head, body);
  if (document.documentElement) document.replaceChild(html, document.documentElement);
  else document.append(html);
  return box;
}

function stop(reason: string): void {
  if (verifyingStarted) return;
  if (stopped) {
    const list = stopped.querySelector('.vigil-verifier-reasons');
    if (list && ![...list.children].some((li) => li.textContent === reason)) list.append(el('li', reason, { 'overflow-wrap': 'anywhere' }));
    return;
  }
  stopped = show('vigil-verifier-stop', 'Vigil stopped this page: its code is not a logged release', [reason]);
  stopped.append(
    el(
      'p',
      'The Vigil code verifier lets this site run only code that was published in its transparency log, signed by the release key you pinned. ' +
        'This page was served something else, so it was stopped before that code could use your keys. Tell the household, and do not use this site from this browser until it passes again.',
      { color: '#57606a' },
    ),
  );
  stopped.dataset.reason = reason;
  send({ type: 'stopped', reason }).catch(() => undefined);
}

// ---- checks ----

const origin = location.origin;

function pathOf(url: string): string | null {
  try {
    const u = new URL(url, location.href);
    return u.origin === origin ? u.pathname : null;
  } catch {
    return null;
  }
}

function loggedText(logged: Logged, path: string): string {
  const l = logged[path];
  return l && l.length > 0 ? `logged: ${l.join(', ')}` : 'no logged release has this path';
}

interface Fetched {
  ok: boolean;
  status: number;
  redirected: boolean;
  bytes: Uint8Array;
}

/**
 * refetch gets url again, bypassing the cache. Stopping the page
 * (window.stop) aborts fetches in flight, so an aborted one is tried again
 * (twice at most).
 */
async function refetch(url: string, headers: Record<string, string> = {}): Promise<Fetched> {
  for (let i = 0; ; i++) {
    try {
      const res = await fetch(url, { cache: 'no-store', credentials: 'same-origin', redirect: 'manual', headers });
      const bytes = new Uint8Array(await res.arrayBuffer());
      return { ok: res.ok, status: res.status, redirected: res.type === 'opaqueredirect', bytes };
    } catch (e) {
      if (i >= 2) throw e;
    }
  }
}

async function fetchSum(url: string, headers: Record<string, string> = {}): Promise<string | null> {
  try {
    const res = await refetch(url, headers);
    return res.ok ? await sri(res.bytes) : null;
  } catch {
    return null;
  }
}

async function explain(b: Blocked, logged: Logged): Promise<string> {
  if (b.url === 'inline' || b.url === 'eval' || b.url === '') {
    return `The browser refused an ${b.url || 'inline'} ${b.what} on ${location.pathname}: no logged release has one${b.directive ? ` (${b.directive})` : ''}.`;
  }
  const path = pathOf(b.url);
  if (path === null) return `The browser refused the ${b.what} ${b.url}: it is from another origin, which no logged release loads.`;
  const served = await fetchSum(b.url);
  const got = served ? `served ${served}` : 'it could not be fetched again';
  if (b.how === 'csp') return `The browser refused the ${b.what} ${path}: ${got}; ${loggedText(logged, path)}.`;
  if (served && logged[path]?.includes(served)) {
    return `The ${b.what} ${path} failed to load (refused by its integrity hash or the network); fetched again it is the logged ${served}: the site may serve different bytes to different requests.`;
  }
  return `The browser refused the ${b.what} ${path}: ${got}; ${loggedText(logged, path)}.`;
}

/** checkDocument: the page, fetched again, is a logged /index.html, and the parsed page is that document. */
async function checkDocument(logged: Logged): Promise<void> {
  if (document.contentType !== 'text/html') return;
  const path = servedAs(location.pathname);
  let res: Fetched;
  try {
    res = await refetch(location.href);
  } catch (e) {
    return stop(`This page (${location.pathname}) could not be fetched again to check it: ${(e as Error).message}.`);
  }
  if (res.redirected || !res.ok) return stop(`This page (${location.pathname}), fetched again, answers ${res.status || 'a redirect'}, not a logged ${INDEX_PATH}.`);
  const bytes = res.bytes;
  const sum = await sri(bytes);
  if (!logged[path]?.includes(sum)) return stop(`This page (${location.pathname}, served as ${path}) is ${sum}: ${loggedText(logged, path)}.`);
  await interactive;
  const doc = new DOMParser().parseFromString(new TextDecoder().decode(bytes), 'text/html');
  if (parsed !== null && doc.documentElement.outerHTML !== parsed) {
    stop(`The page the browser loaded at ${location.pathname} is not the logged ${path} (${sum}) that the site serves when asked again: it serves different pages to different requests.`);
  }
}

const checkedWorkers = new Map<string, string>(); // scriptURL -> verdict ('' ok)

async function checkWorker(reg: ServiceWorkerRegistration, w: ServiceWorker, logged: Logged): Promise<void> {
  const url = w.scriptURL;
  const path = pathOf(url);
  let problem = '';
  if (path === null) problem = `A service worker from ${url} is registered for this site: no logged release has one from another origin.`;
  else if (!isServiceWorker(path) || !logged[path]) problem = `The service worker ${path} registered for this site is at a path no logged release has (scope ${reg.scope}).`;
  else {
    const sum = await fetchSum(url, { 'Service-Worker': 'script' });
    if (!sum) problem = `The service worker ${path} registered for this site could not be fetched to check it.`;
    else if (!logged[path].includes(sum)) problem = `The service worker ${path} registered for this site is ${sum}: ${loggedText(logged, path)}. It was unregistered.`;
  }
  checkedWorkers.set(url, problem);
  if (problem) {
    await reg.unregister().catch(() => undefined);
    stop(problem);
  }
}

async function checkWorkers(logged: Logged): Promise<void> {
  if (!('serviceWorker' in navigator)) return;
  const regs = await navigator.serviceWorker.getRegistrations();
  const jobs: Promise<void>[] = [];
  for (const reg of regs) {
    reg.onupdatefound ??= () => {
      const w = reg.installing;
      if (w) {
        checkedWorkers.delete(w.scriptURL);
        checkWorker(reg, w, logged);
      }
    };
    for (const w of [reg.installing, reg.waiting, reg.active]) {
      if (w && !checkedWorkers.has(w.scriptURL)) jobs.push(checkWorker(reg, w, logged));
    }
  }
  await Promise.all(jobs);
}

// ---- the run ----

async function verifying(): Promise<void> {
  if (verifyingStarted) return;
  verifyingStarted = true;
  const box = show('vigil-verifier-verifying', 'Checking this site’s code against the transparency log…', [
    'The Vigil code verifier lets this site run only code published in its transparency log. It has not verified the log yet; the page reloads when it has.',
  ]);
  const s = await send<PageState>({ type: 'verify' });
  if (s.status === 'verified' && s.reload) {
    location.reload();
    return;
  }
  box.id = 'vigil-verifier-failed';
  const h = box.querySelector('h1');
  if (h) h.textContent = 'Vigil could not verify this site’s code';
  const list = box.querySelector('.vigil-verifier-reasons');
  list?.replaceChildren(
    el('li', s.status === 'failed' ? s.error : s.status === 'verified' ? 'The log verified, but this page was still loaded without its rules: reload it.' : 'unexpected answer from the verifier'),
    el('li', s.status === 'failed' && s.severe ? 'The log was caught rewriting its history: this site stays blocked.' : 'Every script of this site stays blocked until the log verifies. Reload to try again.'),
  );
}

async function main(): Promise<void> {
  let s: PageState;
  try {
    s = await send<PageState>({ type: 'state' });
  } catch {
    return; // the extension is being reloaded
  }
  if (s.status === 'unguarded') return;
  if (s.status !== 'verified') return verifying();
  const logged = s.logged;
  // A page loaded before the rules of the verified releases were in place
  // ran no script (the static rules refused them all): verify and reload.
  const explained = new Set<string>();
  handle = (b) => {
    if (b.failClosed) verifying();
    else if (!verifyingStarted && !explained.has(b.url)) {
      explained.add(b.url);
      explain(b, logged).then((r) => verifyingStarted || stop(r));
    }
  };
  for (const b of pending.splice(0)) handle(b);
  if (verifyingStarted) return;
  await Promise.all([checkDocument(logged), checkWorkers(logged).catch((e) => stop(`The service workers of this site could not be checked: ${e}`))]);
  setInterval(() => checkWorkers(logged).catch(() => undefined), SW_POLL_MS);
  navigator.serviceWorker?.addEventListener('controllerchange', () => checkWorkers(logged));
  // Every script of the page has run or failed by the load event.
  if (document.readyState !== 'complete') await new Promise((r) => window.addEventListener('load', r, { once: true }));
  if (!stopped && !verifyingStarted) send({ type: 'ok' }).catch(() => undefined);
}

main();
