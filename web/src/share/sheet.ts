// The share sheet: share a moment of a camera as a link (or with a
// person's Vigil account), from wherever the household is watching it.
// It opens pre-filled around the moment on screen, makes the share in this
// browser (create.ts: every key is checked and wrapped here), and shows the
// link in view with Copy and the phone's own share sheet, in plain words.
// How the link works (pieces, keys, the part after #) is one tap away under
// "Security details".
//
// "Blur faces and heads" shares a blurred clip instead of the recording:
// the household's hub blurs the range as for a donation (media/blur.ts),
// the sheet shows the blurred clip and the hub's report, and only on
// "Share the blurred clip" is it sealed and shared (create.ts,
// createRedactedShare); the recording itself is not shared.
//
// Owns: the sheet. Must never: show or log the link's key anywhere but the
// link itself, share anything but the previewed clip when blurring was
// chosen, keep the clip after the sheet closes, or put network text into
// HTML.

import { loadDeviceKeys } from '../crypto/devicekeys';
import { copyButton, fmtClock, fmtDateTime, fmtDay, fmtDuration, fmtTime, openSheet, securityDetails, shareButton } from '../kit';
import { HubSaid } from '../live/settings';
import { blurRange, Cancelled, showBlurred, type BlurredClip } from '../media/blur';
import { onNavigate } from '../router';
import { h, showError } from '../ui';
import { createRedactedShare, createShare, NothingToShare, type CreatedShare, type RefusedObject } from './create';
import '../pages/share.css';

export interface ShareSheetOptions {
  hh: string;
  cam: string;
  /** The moment on screen (ms since the epoch): the range is pre-filled around it. */
  atMs: number;
  /** The length pre-filled (30 s when absent). */
  spanMs?: number;
  /** An exact range to pre-fill instead (both ms since the epoch). */
  fromMs?: number;
  toMs?: number;
  /** The household's cameras: the sheet lets the camera be chosen. */
  cameras?: string[];
  /** Called once a share was made. */
  onCreated?: (s: CreatedShare) => void;
}

// Leaving the page (a link, Back) closes the sheet.
onNavigate(() => (document.getElementById('share-sheet') as HTMLDialogElement | null)?.close());

const PRESETS: [number, string][] = [
  [30_000, '30 s'],
  [60_000, '1 min'],
  [300_000, '5 min'],
];

const EXPIRY: [number, string][] = [
  [3600, '1 hour'],
  [86400, '1 day'],
  [7 * 86400, '1 week'],
  [30 * 86400, '30 days'],
];

/** localInput is ms as a datetime-local value (local time, whole seconds). */
function localInput(ms: number): string {
  const d = new Date(Math.floor(ms / 1000) * 1000);
  return new Date(d.getTime() - d.getTimezoneOffset() * 60000).toISOString().slice(0, 19);
}

/** lower-cases "Today", "Tomorrow", "Yesterday" inside a sentence. */
function inSentence(s: string): string {
  return s.replace(/^(Today|Tomorrow|Yesterday)/, (w) => w.toLowerCase());
}

/** when says a range in words: "today from 21:04:05 to 21:04:35". */
export function rangeWords(fromMs: number, toMs: number): string {
  const t = toMs - fromMs < 120_000 ? fmtTime : fmtClock;
  const day = fmtDay(fromMs);
  const dayWords = /^(Today|Yesterday|Tomorrow)$/.test(day) ? day.toLowerCase() : `on ${day}`;
  if (fmtDay(toMs) === day) return `${dayWords} from ${t(fromMs)} to ${t(toMs)}`;
  return `from ${inSentence(fmtDateTime(fromMs))} to ${inSentence(fmtDateTime(toMs))}`;
}

/** openShareSheet opens the share sheet for camera o.cam around the moment o.atMs. */
export function openShareSheet(opts: ShareSheetOptions): void {
  let o = opts;
  document.getElementById('share-sheet')?.remove();
  let span = o.spanMs && o.spanMs > 0 ? o.spanMs : 30_000;
  if (!Number.isFinite(o.atMs)) o = { ...o, atMs: Date.now() };
  // The range: around the moment, whole seconds; never past now (what is
  // not recorded yet cannot be shared).
  const around = (at: number, len: number): [number, number] => {
    let a = Math.floor((at - len / 2) / 1000) * 1000;
    let b = a + len;
    const now = Math.floor(Date.now() / 1000) * 1000;
    if (b > now) {
      b = now;
      a = b - len;
    }
    return [a, b];
  };
  let [fromMs, toMs] = o.fromMs !== undefined && o.toMs !== undefined && o.fromMs < o.toMs ? [o.fromMs, o.toMs] : around(o.atMs, span);
  if (o.fromMs !== undefined && o.toMs !== undefined) span = toMs - fromMs;

  const camera = h('select', { id: 'share-camera', name: 'camera' });
  for (const c of o.cameras?.length ? o.cameras : [o.cam]) camera.append(h('option', { value: c, selected: c === o.cam }, c));
  const cameraField = o.cameras && o.cameras.length > 1 ? h('label', { class: 'field' }, h('span', {}, 'Camera'), camera) : null;

  const when = h('p', { id: 'share-when', class: 'share-when' });
  const from = h('input', { type: 'datetime-local', id: 'share-from', name: 'from', step: 1, required: true });
  const to = h('input', { type: 'datetime-local', id: 'share-to', name: 'to', step: 1, required: true });
  const presets = h('div', { class: 'segmented', role: 'group', 'aria-label': 'How long', id: 'share-span' });
  const presetButtons = PRESETS.map(([ms, label]) => {
    const b = h('button', { type: 'button', 'data-span-ms': ms, 'aria-pressed': 'false' }, label);
    b.addEventListener('click', () => {
      span = ms;
      [fromMs, toMs] = around(o.atMs, ms);
      show();
    });
    presets.append(b);
    return b;
  });
  const adjust = h(
    'details',
    { id: 'share-adjust', class: 'share-adjust' },
    h('summary', {}, 'Change start or end'),
    h('div', { class: 'share-times' }, h('label', { class: 'field' }, h('span', {}, 'Starts'), from), h('label', { class: 'field' }, h('span', {}, 'Ends'), to)),
  );
  const show = () => {
    from.value = localInput(fromMs);
    to.value = localInput(toMs);
    when.textContent = `${cap(rangeWords(fromMs, toMs))} (${fmtDuration(toMs - fromMs)})`;
    when.dataset.fromMs = String(fromMs);
    when.dataset.toMs = String(toMs);
    for (const b of presetButtons) b.setAttribute('aria-pressed', String(Number(b.dataset.spanMs) === toMs - fromMs));
  };
  const fromInputs = () => {
    const a = new Date(from.value).getTime();
    const b = new Date(to.value).getTime();
    if (Number.isNaN(a) || Number.isNaN(b)) return;
    fromMs = a;
    toMs = b;
    span = b - a;
    show();
  };
  from.addEventListener('change', fromInputs);
  to.addEventListener('change', fromInputs);
  show();

  const expires = h('select', { id: 'share-expires', name: 'expires' });
  for (const [s, label] of EXPIRY) expires.append(h('option', { value: String(s), selected: s === 86400 }, label));

  const guestEmail = h('input', { type: 'email', id: 'share-guest-email', name: 'guest_email', autocomplete: 'off' });
  const guestDevice = h('input', { id: 'share-guest-device', name: 'guest_device', autocomplete: 'off', spellcheck: 'false' });
  const account = h(
    'details',
    { id: 'share-account', class: 'share-adjust' },
    h('summary', {}, 'Share with a Vigil account instead'),
    h(
      'div',
      { class: 'stack' },
      h('p', { class: 'muted' }, 'Only that person can open it, signed in, on the browser they set up under "Shared with me". Ask them for the code shown there.'),
      h('label', { class: 'field' }, h('span', {}, 'Their e-mail'), guestEmail),
      h('label', { class: 'field' }, h('span', {}, 'The code from their "Shared with me" page'), guestDevice),
    ),
  );

  const blur = h('input', { type: 'checkbox', id: 'share-blur', name: 'blur' });
  const blurField = h(
    'div',
    { class: 'stack' },
    h('label', { class: 'check' }, blur, h('span', {}, 'Blur faces and heads')),
    h('p', { class: 'muted', id: 'share-blur-note', hidden: true }, 'Your hub blurs faces and the heads of people first, without sound. You see the blurred clip before anything is shared; only it is shared.'),
  );
  const create = h('button', { type: 'submit', id: 'share-create' }, 'Create link');
  const progress = h('p', { id: 'share-progress', class: 'muted', role: 'status' });
  const err = h('p', { id: 'share-sheet-error' });
  const refusedBox = h('div', { id: 'share-refused', hidden: true });
  const form = h(
    'form',
    { class: 'stack share-form', id: 'share-form' },
    cameraField,
    when,
    presets,
    adjust,
    h('label', { class: 'field' }, h('span', {}, 'The link works for'), expires),
    blurField,
    account,
    create,
    progress,
    err,
  );
  const result = h('div', { id: 'share-result', class: 'stack', hidden: true });
  const video = h('video', { id: 'share-preview', controls: true, muted: true, playsinline: true, 'aria-label': 'The blurred clip' });
  video.muted = true;
  const report = h('p', { id: 'share-report' });
  const approve = h('button', { type: 'button', id: 'share-approve' }, 'Share the blurred clip');
  const back = h('button', { type: 'button', class: 'secondary', id: 'share-back' }, 'Back');
  const previewProgress = h('p', { id: 'share-approve-progress', class: 'muted', role: 'status' });
  const previewErr = h('p', { id: 'share-approve-error' });
  const preview = h(
    'section',
    { id: 'share-preview-box', class: 'stack', hidden: true, 'aria-label': 'Preview' },
    h('div', { class: 'media' }, video),
    report,
    h('div', { class: 'actions' }, back, approve),
    previewProgress,
    previewErr,
  );
  const sheet = openSheet('Share a clip', form, preview, result, refusedBox);
  sheet.dialog.id = 'share-sheet';

  // The blurred clip, while it is previewed: dropped when the sheet closes.
  let abort = new AbortController();
  let blurred: BlurredClip | null = null;
  let previewURL = '';
  let chosen: { cam: string; a: number; b: number } | null = null;
  let sealing = false; // the clip is being sealed: closing drops it, without zeroing what is read
  const dropClip = () => {
    if (previewURL) URL.revokeObjectURL(previewURL);
    previewURL = '';
    video.removeAttribute('src');
    if (!sealing) blurred?.clip.fill(0);
    blurred = null;
  };
  sheet.dialog.addEventListener('close', () => {
    abort.abort();
    dropClip();
  });

  const accountShare = () => !!(guestEmail.value.trim() || guestDevice.value.trim());
  const label = () => {
    create.textContent = blur.checked ? 'Blur and preview' : accountShare() ? 'Share' : 'Create link';
    (blurField.querySelector('#share-blur-note') as HTMLElement).hidden = !blur.checked;
  };
  guestEmail.addEventListener('input', label);
  guestDevice.addEventListener('input', label);
  blur.addEventListener('change', label);

  const shareOpts = (onProgress: (d: number, n: number) => void) => ({
    expires: new Date(Date.now() + Number(expires.value) * 1000),
    guestEmail: guestEmail.value.trim() || undefined,
    guestDevice: guestDevice.value.trim() || undefined,
    progress: onProgress,
  });
  const created = (res: CreatedShare, cam: string, a: number, b: number, exp: Date) => {
    form.hidden = true;
    preview.hidden = true;
    showResult(result, o.hh, cam, a, b, exp, res, guestEmail.value.trim());
    showRefused(refusedBox, res.refused);
    // What was left out, with the result (above Done).
    result.insertBefore(refusedBox, result.querySelector('#share-done'));
    result.scrollIntoView({ block: 'start' });
    (result.querySelector('#share-copy') as HTMLElement | null)?.focus();
    o.onCreated?.(res);
  };

  // Blurring: the hub makes the clip, the sheet shows it.
  const makeBlurred = async (cam: string, a: number, b: number) => {
    const keys = await loadDeviceKeys();
    if (!keys) throw new Error('this browser is not one of the household’s devices: only a device of the household can blur its footage');
    abort = new AbortController();
    const signal = abort.signal;
    const say = (text: string, frac?: number) => (progress.textContent = frac === undefined ? text : `${text} ${Math.round(frac * 100)}%`);
    try {
      const res = await blurRange({ hh: o.hh, cam, fromMs: a, toMs: b, keys, keepAudio: false, signal, say });
      dropClip();
      blurred = res;
      chosen = { cam, a, b };
      previewURL = await showBlurred(res, video, report);
      progress.textContent = '';
      form.hidden = true;
      preview.hidden = false;
      approve.disabled = false;
      approve.focus();
    } catch (x) {
      progress.textContent = '';
      if (x instanceof Cancelled) return;
      if (x instanceof HubSaid) throw new Error(`Your hub says: ${x.message}`);
      throw x;
    }
  };
  back.addEventListener('click', () => {
    dropClip();
    preview.hidden = true;
    form.hidden = false;
  });
  approve.addEventListener('click', async () => {
    const b = blurred;
    const c = chosen;
    if (!b || !c) return;
    approve.disabled = true;
    back.disabled = true;
    previewErr.textContent = '';
    previewErr.className = '';
    const opts = shareOpts((d, n) => (previewProgress.textContent = `Sealing and sending… ${Math.round((d / n) * 100)}%`));
    sealing = true;
    try {
      const res = await createRedactedShare(o.hh, c.cam, new Date(c.a), new Date(c.b), { clip: b.clip, fromMs: b.range[0], toMs: b.range[1] }, opts);
      sealing = false;
      previewProgress.textContent = '';
      result.dataset.sha256 = video.dataset.sha256 ?? '';
      b.clip.fill(0);
      dropClip();
      created(res, c.cam, c.a, c.b, opts.expires);
    } catch (e2) {
      previewProgress.textContent = '';
      approve.disabled = false;
      showError(previewErr, e2);
    } finally {
      sealing = false;
      back.disabled = false;
    }
  });

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    create.disabled = true;
    err.textContent = '';
    err.className = '';
    showRefused(refusedBox, []);
    const cam = camera.value || o.cam;
    const a = fromMs;
    const b = toMs;
    progress.textContent = 'Preparing…';
    try {
      if (blur.checked) {
        await makeBlurred(cam, a, b);
        return;
      }
      const opts = shareOpts((d, n) => (progress.textContent = `Preparing… ${Math.round((d / n) * 100)}%`));
      const res = await createShare(o.hh, cam, new Date(a), new Date(b), opts);
      progress.textContent = '';
      created(res, cam, a, b, opts.expires);
    } catch (e2) {
      progress.textContent = '';
      if (e2 instanceof NothingToShare) showRefused(refusedBox, e2.refused);
      showError(err, e2);
    } finally {
      create.disabled = false;
    }
  });
}

const cap = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);

function showResult(box: HTMLElement, hh: string, cam: string, a: number, b: number, exp: Date, res: CreatedShare, email: string): void {
  const link = h('input', { readonly: true, id: 'share-link', class: 'share-link', value: res.url, 'aria-label': res.kind === 'link' ? 'The link' : 'The address to send' });
  link.addEventListener('focus', () => link.select());
  const copy = copyButton(() => res.url, { id: 'share-copy', class: '' });
  const native = shareButton(() => ({ title: `Video from ${cam}`, text: `Video from ${cam}, ${rangeWords(a, b)}`, url: res.url }), { id: 'share-native', label: 'Send…' });
  const until = inSentence(fmtDateTime(exp.getTime()));
  const shares = h('a', { href: `/h/${encodeURIComponent(hh)}/shares` }, 'Shared clips');
  shares.addEventListener('click', () => (box.closest('dialog') as HTMLDialogElement | null)?.close());
  const what = res.redacted ? `a blurred clip of ${cam} ${rangeWords(a, b)}` : `${cam} ${rangeWords(a, b)}`;
  const sentence =
    res.kind === 'link'
      ? h('p', { id: 'share-sentence' }, `Anyone with this link can watch ${what} until ${until}. You can stop it any time under `, shares, '.')
      : h('p', { id: 'share-sentence' }, `${email} can watch ${what} until ${until}, signed in on the browser they set up. You can stop it any time under `, shares, '.');
  const done = h('button', { type: 'button', class: 'secondary', id: 'share-done' }, 'Done');
  done.addEventListener('click', () => (box.closest('dialog') as HTMLDialogElement | null)?.close());
  box.dataset.objects = String(res.objects);
  box.dataset.kind = res.kind;
  box.dataset.id = res.id;
  box.dataset.redacted = String(!!res.redacted);
  const how = res.redacted
    ? res.kind === 'link'
      ? `Faces and heads are blurred: only the blurred clip, sealed and signed on this device, is shared, never the recording. The link holds its key, in the part after "#". Browsers never send that part to the Vigil service, so the service cannot watch the video; the guest's browser checks it against this device's signature.`
      : `Faces and heads are blurred: only the blurred clip, sealed and signed on this device, is shared, never the recording. Its key is locked to the browser key they sent you; the Vigil service cannot watch the video.`
    : res.kind === 'link'
      ? `The link holds the key to ${res.objects} recorded piece${res.objects === 1 ? '' : 's'} of ${cam}, in the part after "#". Browsers never send that part to the Vigil service, so the service cannot watch the video; the guest's browser decrypts it and checks each piece against the household's signatures.`
      : `The key to ${res.objects} recorded piece${res.objects === 1 ? '' : 's'} of ${cam} is locked to the browser key they sent you; the Vigil service cannot watch the video.`;
  box.replaceChildren(
    h('p', { class: 'ok share-ready', role: 'status' }, res.kind === 'link' ? 'Your link is ready.' : 'Shared.'),
    h('div', { class: 'share-link-row' }, link, h('div', { class: 'row' }, copy, native)),
    sentence,
    ...(res.redacted ? [h('p', { id: 'share-blurred', class: 'muted' }, 'Faces and heads are blurred.')] : []),
    securityDetails(
      h('p', {}, how),
      h('p', {}, `Share ${res.id}.`),
    ),
    done,
  );
  box.hidden = false;
}

/** showRefused lists what the service listed in the range but the recordings' own signed times put elsewhere. */
function showRefused(box: HTMLElement, rs: RefusedObject[]): void {
  box.replaceChildren();
  box.dataset.count = String(rs.length);
  box.hidden = rs.length === 0;
  if (rs.length === 0) return;
  const n = rs.length;
  box.append(
    h(
      'p',
      { class: 'warn', role: 'alert' },
      `Left out: ${n} recording${n === 1 ? '' : 's'} the Vigil service listed for this time, because ${n === 1 ? 'its' : 'their'} own signed times say otherwise (the service's list disagrees with the recordings).`,
    ),
    securityDetails(
      h(
        'ul',
        { id: 'share-refused-list', class: 'share-refused-list' },
        ...rs.map((r) => h('li', { 'data-key': r.key }, h('span', { class: 'mono wrap' }, r.key), `: listed ${r.listed.start} – ${r.listed.end}; ${r.reason}`)),
      ),
    ),
  );
}
