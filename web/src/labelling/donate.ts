// The donate sheet: "Donate to improve detection" on an event (its clip
// with a few seconds around it) or a range of the timeline (G7; docs/
// ARCHITECTURE.md, "Donations and the labelling workspace"). The member
// sees the purpose (from the fixed list), the scope (camera, from–to), the
// expiry, who can open the clip (the workspace's name and the devices its
// verified chain names) and "Keep the sound" (off). Then, in this browser:
// the recording is opened and put together into one MP4, which goes to the
// household's own hub over the redact channel of a live session and comes
// back with faces and heads blurred (media/blur.ts, as the share sheet's
// blurred clip), shown as a preview with the hub's report; and only on
// "Approve and donate" is the blurred clip sealed to the workspace's
// current epoch key (stream "donation", sequence 0), the consent signed
// over the sealed bytes' SHA-256 (crypto/consent.ts) and both sent.
// "Cancel" at any point ends the hub's job and drops every byte.
//
// Owns: the sheet. Must never: send the clip anywhere but the household's
// hub before the member approves, upload anything but the previewed clip,
// sealed; keep the clip after the sheet closes; put network text in as HTML.

import { ApiError } from '../api';
import { hex, sha256 } from '../crypto/bytes';
import { cameraDigest, DEFAULT_LIFE_MS, newConsentId, PURPOSE_OBJECT, PURPOSE_PERSON, signConsent } from '../crypto/consent';
import { loadDeviceKeys, type DeviceKeys } from '../crypto/devicekeys';
import { KIND_CLIP, sealObject } from '../crypto/seal';
import { msToNs } from '../crypto/signedtime';
import { fmtDateTime, fmtDuration, openSheet, securityDetails } from '../kit';
import { HubSaid } from '../live/settings';
import { blurRange, Cancelled, MAX_BLUR_SPAN_MS, showBlurred } from '../media/blur';
import { onNavigate } from '../router';
import { rangeWords } from '../share/sheet';
import { h, showError } from '../ui';
import { listWorkspaces, openWorkspace, type Workspace, type WorkspaceInfo } from './workspace';
import './donate.css';

export interface DonateOptions {
  hh: string;
  cam: string;
  fromMs: number;
  toMs: number;
  /** event is the event the clip is of (its ID), absent for a range of the timeline. */
  event?: string;
}

/** EVENT_AROUND_MS is what an event's clip adds before its start and after its end. */
export const EVENT_AROUND_MS = 3000;
const EVENT_RE = /^[A-Za-z0-9._-]{1,128}$/;
const DAY = 86400_000;

/** PURPOSE_WORDS are the purposes as a member reads them. */
export const PURPOSE_WORDS: Record<string, string> = {
  [PURPOSE_PERSON]: 'Better person detection',
  [PURPOSE_OBJECT]: 'Better detection of vehicles, animals and parcels',
};

const EXPIRY: [number, string][] = [
  [30 * DAY, '30 days'],
  [182 * DAY, '6 months'],
  [DEFAULT_LIFE_MS, '1 year'],
  [730 * DAY, '2 years'],
];

onNavigate(() => (document.getElementById('donate-sheet') as HTMLDialogElement | null)?.close());

/** donateEventRange is the clip offered for an event: its time with a few seconds around it, never past now. */
export function donateEventRange(e: { start: number; end: number | null }): { fromMs: number; toMs: number } {
  const end = e.end ?? e.start + 30_000;
  return { fromMs: e.start - EVENT_AROUND_MS, toMs: Math.min(end + EVENT_AROUND_MS, Date.now()) };
}

/** donateButton is the "Donate to improve detection" button that opens the sheet for o(). */
export function donateButton(o: () => DonateOptions | null, attrs: { id?: string; class?: string } = {}): HTMLButtonElement {
  const b = h('button', { type: 'button', class: attrs.class ?? 'secondary', id: attrs.id }, 'Donate to improve detection');
  b.addEventListener('click', () => {
    const x = o();
    if (x) openDonateSheet(x);
  });
  return b;
}

/** uploadDonation POSTs the sealed clip with its consent, reporting the bytes sent. */
function uploadDonation(hh: string, sealed: Uint8Array<ArrayBuffer>, consent: string, progress: (sent: number, total: number) => void, signal: AbortSignal): Promise<{ id: string; state: string }> {
  return new Promise((resolve, reject) => {
    const x = new XMLHttpRequest();
    x.open('POST', `/v1/households/${encodeURIComponent(hh)}/donations`);
    x.setRequestHeader('Content-Type', 'application/octet-stream');
    x.setRequestHeader('Vigil-Consent', consent);
    x.setRequestHeader('X-CSRF-Token', localStorage.getItem('vigil.csrf') ?? '');
    x.responseType = 'text';
    x.upload.onprogress = (e) => progress(e.loaded, e.total || sealed.length);
    x.onerror = () => reject(new ApiError(0, 'the Vigil service cannot be reached; check your connection'));
    x.onabort = () => reject(new Error('cancelled'));
    x.onload = () => {
      let j: any = {};
      try {
        j = JSON.parse(x.responseText || '{}');
      } catch {
        /* not JSON */
      }
      if (x.status >= 200 && x.status < 300) resolve({ id: String(j.id ?? ''), state: String(j.state ?? '') });
      else reject(new ApiError(x.status, typeof j.error === 'string' ? j.error : `${x.status} ${x.statusText}`));
    };
    signal.addEventListener('abort', () => x.abort(), { once: true });
    x.send(new Blob([sealed]));
  });
}

/** openDonateSheet opens the donate sheet for o's camera and range. */
export function openDonateSheet(o: DonateOptions): void {
  document.getElementById('donate-sheet')?.remove();
  const fromMs = Math.floor(o.fromMs);
  const toMs = Math.floor(Math.min(o.toMs, Date.now()));
  const event = o.event && EVENT_RE.test(o.event) ? o.event : '';

  const scope = h('p', { id: 'donate-scope', class: 'share-when', 'data-from-ms': String(fromMs), 'data-to-ms': String(toMs), 'data-camera': o.cam }, `${o.cam}, ${rangeWords(fromMs, toMs)} (${fmtDuration(toMs - fromMs)})`);
  const purpose = h('select', { id: 'donate-purpose', name: 'purpose' });
  const expires = h('select', { id: 'donate-expires', name: 'expires' });
  for (const [ms, label] of EXPIRY) expires.append(h('option', { value: String(ms), selected: ms === DEFAULT_LIFE_MS }, label));
  const audio = h('input', { type: 'checkbox', id: 'donate-audio', name: 'audio' });
  const wsSelect = h('select', { id: 'donate-ws', name: 'workspace', hidden: true });
  const wsName = h('strong', { id: 'donate-workspace' });
  const devices = h('ul', { id: 'donate-devices', class: 'list donate-devices', 'aria-label': 'Devices that can open the clip' });
  const whoNote = h('p', { id: 'donate-who-note', class: 'muted' });
  const who = h('section', { class: 'donate-who', 'aria-labelledby': 'donate-who-title' }, h('h3', { id: 'donate-who-title' }, 'Who can open it'), wsSelect, h('p', {}, wsName), whoNote, devices);
  const prepare = h('button', { type: 'submit', id: 'donate-prepare', disabled: true }, 'Blur and preview');
  const progress = h('p', { id: 'donate-progress', class: 'muted', role: 'status' });
  const bar = h('progress', { id: 'donate-bar', max: 1, value: 0, hidden: true });
  const err = h('p', { id: 'donate-error' });
  const cancel = h('button', { type: 'button', class: 'secondary', id: 'donate-cancel' }, 'Cancel');
  const form = h(
    'form',
    { class: 'stack', id: 'donate-form' },
    scope,
    event ? h('p', { class: 'muted' }, 'The clip of this event, with a few seconds before and after it.') : null,
    h('label', { class: 'field' }, h('span', {}, 'What it is for'), purpose),
    h('label', { class: 'field' }, h('span', {}, 'Until'), expires),
    h('label', { class: 'check' }, audio, h('span', {}, 'Keep the sound')),
    who,
    h('p', { class: 'muted' }, 'Faces and the heads of people are blurred by your hub first. You see the blurred clip before anything is sent, and you can take it back any time.'),
    prepare,
  );
  const video = h('video', { id: 'donate-preview', controls: true, muted: true, playsinline: true, 'aria-label': 'The blurred clip' });
  video.muted = true;
  const report = h('p', { id: 'donate-report' });
  const approve = h('button', { type: 'button', id: 'donate-approve' }, 'Approve and donate');
  const preview = h('section', { id: 'donate-preview-box', class: 'stack', hidden: true, 'aria-label': 'Preview' }, h('div', { class: 'media' }, video), report, approve);
  const done = h('div', { id: 'donate-done', class: 'stack', hidden: true });
  const sheet = openSheet('Donate to improve detection', form, preview, progress, bar, err, done, h('div', { class: 'actions' }, cancel));
  sheet.dialog.id = 'donate-sheet';

  const abort = new AbortController();
  let url = '';
  let redacted: Uint8Array<ArrayBuffer> | null = null;
  let clipRange: [number, number] = [fromMs, toMs];
  let keepAudio = false;
  let keys: DeviceKeys | null = null;
  let workspaces: WorkspaceInfo[] = [];
  let ws: Workspace | undefined;

  const drop = () => {
    abort.abort();
    if (url) URL.revokeObjectURL(url);
    url = '';
    video.removeAttribute('src');
    redacted = null;
  };
  sheet.dialog.addEventListener('close', drop);
  cancel.addEventListener('click', () => sheet.close());

  const say = (text: string, frac?: number) => {
    progress.textContent = text;
    bar.hidden = frac === undefined;
    if (frac !== undefined) bar.value = Math.max(0, Math.min(1, frac));
  };
  const fail = (e: unknown, prefix = '') => {
    say('');
    const msg = e instanceof Error ? e.message : String(e);
    err.dataset.error = msg;
    showError(err, prefix ? new Error(`${prefix}${msg}`) : e);
  };

  const showWorkspace = async (info: WorkspaceInfo) => {
    ws = undefined;
    prepare.disabled = true;
    wsName.textContent = info.name;
    devices.replaceChildren(h('li', { class: 'item muted' }, 'Checking the workspace’s devices…'));
    purpose.replaceChildren(...info.purposes.filter((p) => p in PURPOSE_WORDS).map((p) => h('option', { value: p }, PURPOSE_WORDS[p])));
    try {
      const w = await openWorkspace(info);
      if (abort.signal.aborted) return;
      ws = w;
      const people = w.state.devices.filter((d) => d.role !== 'hub');
      devices.dataset.count = String(people.length);
      devices.replaceChildren(
        ...people.map((d) => h('li', { class: 'item', 'data-device': d.id, 'data-role': d.role }, h('span', { class: 'grow' }, d.name), h('span', { class: 'chip' }, d.role === 'admin' ? 'Lead' : 'Annotator'))),
      );
      wsName.dataset.id = w.id;
      wsName.textContent = w.name;
      whoNote.textContent = `Only ${people.length === 1 ? 'this device holds' : `these ${people.length} devices hold`} its key (its list is checked against the public record).`;
      prepare.disabled = !purpose.options.length;
    } catch (e) {
      devices.replaceChildren();
      fail(e, 'The workspace could not be checked: ');
    }
  };
  wsSelect.addEventListener('change', () => {
    const w = workspaces.find((x) => x.id === wsSelect.value);
    if (w) void showWorkspace(w);
  });

  void (async () => {
    try {
      if (!(toMs > fromMs)) throw new Error('choose a start before the end');
      if (toMs - fromMs > MAX_BLUR_SPAN_MS) throw new Error(`a donation is at most ${MAX_BLUR_SPAN_MS / 60_000} minutes: choose a shorter time`);
      keys = await loadDeviceKeys();
      if (!keys) throw new Error('this browser is not one of the household’s devices: only a device of the household can donate its footage');
      workspaces = await listWorkspaces();
      if (!workspaces.length) throw new Error('no labelling workspace takes donations yet');
      if (workspaces.length > 1) {
        wsSelect.replaceChildren(...workspaces.map((w) => h('option', { value: w.id }, w.name)));
        wsSelect.hidden = false;
      }
      await showWorkspace(workspaces[0]);
    } catch (e) {
      fail(e);
    }
  })();

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (!keys || !ws) return;
    prepare.disabled = true;
    err.textContent = '';
    err.className = '';
    delete err.dataset.error;
    keepAudio = audio.checked;
    for (const el of [purpose, expires, audio, wsSelect]) el.disabled = true;
    const signal = abort.signal;
    try {
      const b = await blurRange({ hh: o.hh, cam: o.cam, fromMs, toMs, keys, keepAudio, signal, say });
      redacted = b.clip;
      clipRange = b.range;
      url = await showBlurred(b, video, report);
      say('');
      form.hidden = true;
      preview.hidden = false;
      approve.focus();
    } catch (x) {
      if (signal.aborted || x instanceof Cancelled) return;
      for (const el of [purpose, expires, audio, wsSelect]) el.disabled = false;
      prepare.disabled = false;
      if (x instanceof HubSaid) fail(x, 'Your hub says: ');
      else fail(x);
    }
  });

  approve.addEventListener('click', async () => {
    const w = ws;
    const k = keys;
    const clip = redacted;
    if (!w || !k || !clip) return;
    approve.disabled = true;
    err.textContent = '';
    err.className = '';
    const signal = abort.signal;
    try {
      const [a, b] = clipRange;
      say('Sealing the clip for the workspace…', 0);
      const sealed = await sealObject(
        { kind: KIND_CLIP, stream: 'donation', sequence: 0n, start: msToNs(a), end: msToNs(b), epoch: w.state.epoch },
        clip,
        [w.state.epochPub],
        k,
        { signal, onProgress: (d, n) => say('Sealing the clip for the workspace…', n ? d / n : 1) },
      );
      const now = new Date();
      const consent = await signConsent(k, {
        v: 1, id: newConsentId(), household: o.hh, device: k.id, workspace: w.id, purpose: purpose.value,
        camera: await cameraDigest(o.cam), from: new Date(a), to: new Date(b), event, object: hex(await sha256(sealed)),
        audio: keepAudio, created: now, expires: new Date(now.getTime() + Number(expires.value)),
      });
      if (signal.aborted) return;
      say('Sending…', 0);
      let d;
      try {
        d = await uploadDonation(o.hh, sealed, consent, (s, n) => say(`Sending… ${Math.round((s / n) * 100)}%`, s / n), signal);
      } catch (x) {
        if (x instanceof ApiError && x.status > 0) throw new Error(`the Vigil service refused the donation: ${x.message}`);
        throw x;
      }
      say('');
      preview.hidden = true;
      approve.hidden = true;
      cancel.textContent = 'Close';
      const mine = h('a', { href: `/h/${encodeURIComponent(o.hh)}/donations`, id: 'donate-mine' }, 'Donated clips');
      mine.addEventListener('click', () => sheet.close());
      done.dataset.id = d.id;
      done.dataset.sha256 = video.dataset.sha256 ?? '';
      done.replaceChildren(
        h('p', { class: 'ok', role: 'status' }, 'Thank you: the blurred clip is donated.'),
        h('p', {}, `Only the devices of ${w.name} listed above can open it, until ${fmtDateTime(now.getTime() + Number(expires.value))}. You can take it back any time under `, mine, '.'),
        securityDetails(
          h('p', {}, `The clip was sealed on this device to the workspace's key, and this device signed a consent naming exactly those bytes, the purpose and the expiry. The Vigil service stores it sealed and cannot watch it. Donation ${d.id}.`),
        ),
      );
      done.hidden = false;
      redacted = null;
      if (url) URL.revokeObjectURL(url);
      url = '';
    } catch (x) {
      if (signal.aborted) return;
      approve.disabled = false;
      fail(x);
    }
  });
}
