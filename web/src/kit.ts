// The design system's components (the styles are in style.css): toasts,
// copy and share buttons, QR codes, sheets, the "Security details"
// disclosure, page heads, empty states, and the one way the app writes
// times (the browser's locale, 24 h or 12 h as it prefers).
//
// Owns: how these look and behave everywhere. Must never: put network text
// into HTML (everything goes through h()/textContent), or keep what it
// copies or shares anywhere but the clipboard and the share sheet.

import qrcode from 'qrcode-generator';
import { h } from './ui';

type Child = Node | string | number | null | undefined | false;

let toastBox: HTMLElement | undefined;

/** toast shows a short message in a polite live region for about 4 s. */
export function toast(message: string, kind: 'ok' | 'bad' = 'ok'): void {
  if (!toastBox || !toastBox.isConnected) {
    toastBox = h('div', { class: 'toasts', role: 'status', 'aria-live': 'polite' });
    document.body.append(toastBox);
  }
  const t = h('div', { class: `toast ${kind === 'bad' ? 'bad' : ''}`.trim() }, message);
  toastBox.append(t);
  window.setTimeout(() => t.remove(), 4000);
}

async function copyText(text: string): Promise<void> {
  try {
    await navigator.clipboard.writeText(text);
    return;
  } catch {
    /* no permission or no clipboard API: the selection fallback below */
  }
  const ta = h('textarea', { 'aria-hidden': 'true', readonly: true, style: 'position:fixed;left:-9999px;top:0' });
  ta.value = text;
  document.body.append(ta);
  ta.select();
  const ok = document.execCommand('copy');
  ta.remove();
  if (!ok) throw new Error('this browser did not allow copying; select the text and copy it by hand');
}

/**
 * copyButton copies get() to the clipboard; its label becomes "Copied"
 * for 2 s, a toast says so, and data-copied="1" is set (tests read it).
 */
export function copyButton(get: () => string, opts: { label?: string; id?: string; class?: string } = {}): HTMLButtonElement {
  const label = opts.label ?? 'Copy';
  const b = h('button', { type: 'button', id: opts.id, class: opts.class ?? 'secondary' }, label);
  let timer: number | undefined;
  b.addEventListener('click', async () => {
    try {
      await copyText(get());
      b.dataset.copied = '1';
      b.textContent = 'Copied';
      toast('Copied');
      window.clearTimeout(timer);
      timer = window.setTimeout(() => (b.textContent = label), 2000);
    } catch (e) {
      toast((e as Error).message, 'bad');
    }
  });
  return b;
}

/**
 * shareButton opens the system's share sheet (Web Share API) with data();
 * it is hidden where the browser has none. A cancelled share is no error.
 */
export function shareButton(data: () => ShareData, opts: { label?: string; id?: string; class?: string } = {}): HTMLButtonElement {
  const b = h('button', { type: 'button', id: opts.id, class: opts.class ?? 'secondary' }, opts.label ?? 'Share…');
  b.hidden = typeof navigator.share !== 'function';
  b.addEventListener('click', async () => {
    const d = data();
    try {
      if (navigator.canShare && !navigator.canShare(d)) throw new Error('this browser cannot share this; use Copy instead');
      await navigator.share(d);
    } catch (e) {
      if ((e as Error).name !== 'AbortError') toast((e as Error).message, 'bad');
    }
  });
  return b;
}

/** qrCode draws text as a QR code (an SVG image named by label). */
export function qrCode(text: string, label: string): SVGSVGElement {
  const q = qrcode(0, 'M');
  // Byte mode over the UTF-8 bytes of the text.
  q.addData(unescape(encodeURIComponent(text)), 'Byte');
  q.make();
  const n = q.getModuleCount();
  const quiet = 4;
  const size = n + quiet * 2;
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('viewBox', `0 0 ${size} ${size}`);
  svg.setAttribute('role', 'img');
  svg.setAttribute('aria-label', label);
  svg.setAttribute('class', 'qr');
  svg.setAttribute('shape-rendering', 'crispEdges');
  const bg = document.createElementNS(ns, 'rect');
  bg.setAttribute('width', String(size));
  bg.setAttribute('height', String(size));
  bg.setAttribute('fill', '#fff');
  svg.append(bg);
  let d = '';
  for (let r = 0; r < n; r++) for (let c = 0; c < n; c++) if (q.isDark(r, c)) d += `M${c + quiet} ${r + quiet}h1v1h-1z`;
  const path = document.createElementNS(ns, 'path');
  path.setAttribute('d', d);
  path.setAttribute('fill', '#000');
  svg.append(path);
  svg.dataset.modules = String(n);
  return svg;
}

/**
 * openSheet shows content in a modal sheet (a bottom sheet on phones, a
 * dialog on desktop) with a title and a Close button; Escape and a tap
 * outside close it. The sheet is removed from the page when closed.
 */
export function openSheet(title: string, ...content: Child[]): { dialog: HTMLDialogElement; close(): void } {
  const titleId = `sheet-title-${Math.random().toString(36).slice(2, 8)}`;
  const close = h('button', { type: 'button', class: 'icon ghost', id: 'sheet-close', 'aria-label': 'Close' }, '✕');
  const dialog = h(
    'dialog',
    { class: 'sheet', 'aria-labelledby': titleId },
    h('div', { class: 'sheet-head' }, h('h2', { id: titleId }, title), close),
    h('div', { class: 'sheet-body' }, ...content),
  );
  const done = () => {
    if (dialog.open) dialog.close();
  };
  close.addEventListener('click', done);
  dialog.addEventListener('click', (e) => {
    // A tap on the backdrop lands on the dialog element itself.
    if (e.target !== dialog) return;
    const r = dialog.getBoundingClientRect();
    const me = e as MouseEvent;
    if (me.clientX < r.left || me.clientX > r.right || me.clientY < r.top || me.clientY > r.bottom) done();
  });
  dialog.addEventListener('close', () => dialog.remove());
  document.body.append(dialog);
  dialog.showModal();
  return { dialog, close: done };
}

/** securityDetails is the "Security details" disclosure: protocol facts one tap away. */
export function securityDetails(...children: Child[]): HTMLDetailsElement {
  return h('details', { class: 'security' }, h('summary', {}, 'Security details'), h('div', { class: 'sec-body' }, ...children));
}

/** pageHead is a page's title row: an optional back link, the h1 and actions. */
export function pageHead(title: string, opts: { back?: { href: string; label: string }; actions?: Node[]; id?: string } = {}): HTMLElement {
  const head = h('div', { class: 'page-head', id: opts.id }, h('h1', {}, title));
  if (opts.actions?.length) head.append(h('div', { class: 'actions' }, ...opts.actions));
  if (!opts.back) return head;
  return h('div', {}, h('a', { class: 'back', href: opts.back.href }, `← ${opts.back.label}`), head);
}

/** emptyState is what a list shows when it has nothing, with an optional next step. */
export function emptyState(text: string, action?: Node): HTMLElement {
  return h('div', { class: 'empty' }, h('p', {}, text), action ?? null);
}

// Times: one format everywhere, in the browser's locale.

const clockFmt = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });
const timeFmt = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit' });
const dayFmt = new Intl.DateTimeFormat(undefined, { weekday: 'short', day: 'numeric', month: 'short' });
const yearDayFmt = new Intl.DateTimeFormat(undefined, { weekday: 'short', day: 'numeric', month: 'short', year: 'numeric' });

function startOfDay(ms: number): number {
  const d = new Date(ms);
  d.setHours(0, 0, 0, 0);
  return d.getTime();
}

/** fmtTime is the time of day with seconds ("21:04:05"). */
export function fmtTime(ms: number): string {
  return timeFmt.format(ms);
}

/** fmtClock is the time of day without seconds ("21:04"). */
export function fmtClock(ms: number): string {
  return clockFmt.format(ms);
}

/** fmtDay names the day: "Today", "Yesterday", "Tue 1 Dec" (with the year when not this one). */
export function fmtDay(ms: number, now = Date.now()): string {
  const d = startOfDay(ms);
  const today = startOfDay(now);
  if (d === today) return 'Today';
  if (d === startOfDay(today - 1)) return 'Yesterday';
  if (d === startOfDay(today + 36 * 3600_000)) return 'Tomorrow';
  return new Date(ms).getFullYear() === new Date(now).getFullYear() ? dayFmt.format(ms) : yearDayFmt.format(ms);
}

/** fmtDateTime is "Today 21:04", "Yesterday 21:04" or "Tue 1 Dec, 21:04". */
export function fmtDateTime(ms: number, now = Date.now()): string {
  const day = fmtDay(ms, now);
  return /^(Today|Yesterday|Tomorrow)$/.test(day) ? `${day} ${fmtClock(ms)}` : `${day}, ${fmtClock(ms)}`;
}

/** fmtRange is "Today 21:04–21:06" (the day once when both ends share it). */
export function fmtRange(fromMs: number, toMs: number, now = Date.now()): string {
  const seconds = toMs - fromMs < 120_000;
  const t = seconds ? fmtTime : fmtClock;
  if (startOfDay(fromMs) === startOfDay(toMs)) {
    const day = fmtDay(fromMs, now);
    return `${day}${/^(Today|Yesterday|Tomorrow)$/.test(day) ? ' ' : ', '}${t(fromMs)}–${t(toMs)}`;
  }
  return `${fmtDateTime(fromMs, now)} – ${fmtDateTime(toMs, now)}`;
}

/** fmtDuration is "35 s", "2 min", "1 h 5 min", "3 days". */
export function fmtDuration(ms: number): string {
  const s = Math.round(Math.max(0, ms) / 1000);
  if (s < 60) return `${s} s`;
  const m = Math.round(s / 60);
  if (m < 60) return `${m} min`;
  const hrs = Math.floor(m / 60);
  if (hrs < 48) return m % 60 ? `${hrs} h ${m % 60} min` : `${hrs} h`;
  return `${Math.round(hrs / 24)} days`;
}

/** fmtAgo is "just now", "2 min ago", "3 h ago", "yesterday", or the date. */
export function fmtAgo(ms: number, now = Date.now()): string {
  const d = now - ms;
  if (d < 45_000) return 'just now';
  if (d < 3600_000) return `${Math.round(d / 60_000)} min ago`;
  if (startOfDay(ms) === startOfDay(now)) return `${Math.round(d / 3600_000)} h ago`;
  if (startOfDay(ms) === startOfDay(startOfDay(now) - 1)) return 'yesterday';
  return fmtDay(ms, now);
}
