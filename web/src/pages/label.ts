// The labelling workspace's pages (/label): an annotator's and a reviewer's
// (docs/ARCHITECTURE.md, "Donations and the labelling workspace"). They
// use no account or staff session: every workspace route is a request
// signed by this browser's device (crypto/devauth.ts), which a lead added
// to the workspace's chain with the identity shown here.
//
// Given a workspace ID (remembered in localStorage), the page fetches the
// workspace's chain, verifies it from the genesis this browser pinned on
// first use (as households are pinned), refuses a chain shorter than the
// one it verified before, and unwraps the epoch keys wrapped to this
// device. An annotator (a member device of the chain) sees only the clips
// assigned to it; a lead (an admin device) sees every open donation and
// reviews those annotated. Opening a clip: the sealed bytes are fetched,
// the donor's consent is checked with the donor device's key the listing
// gives (label/consent.ts) — no frame is shown otherwise —, the clip is
// opened with the epoch keys, trusting only the donor device's signature,
// and shown in the editor. An annotation is sealed to the workspace's
// current epoch key, signed by this device, and PUT as the next version;
// a review is POSTed with the version it read.
//
// Owns: the pages. Must never: send a cookie to a workspace route, show a
// frame of a clip whose consent did not verify, keep a clip or an
// annotation anywhere but in memory while shown, or put text from the
// cloud anywhere but textContent.

import { copyButton, emptyState, fmtDateTime, pageHead } from '../kit';
import { unhex } from '../crypto/bytes';
import { ChainError, epochIdentities, type ChainState } from '../crypto/chain';
import { loggedChain } from '../household';
import { chainAnswer, type ChainAnswer } from '../history/log';
import { createDeviceKeys, deviceString, loadDeviceKeys, type DeviceKeys } from '../crypto/devicekeys';
import { deviceFetch, DeviceRequestError } from '../crypto/devauth';
import { openObject } from '../crypto/envelope';
import { unb64 } from '../api';
import { sealObject } from '../crypto/seal';
import { defaultSchema, parseAnnotation, toJSON, type Annotation } from '../label/annotation';
import { AnnotationEditor, EVENT_REVIEW, EVENT_SUBMIT, type AnnotationEventDetail } from '../label/editor';
import { verifyConsent } from '../label/consent';
import { clipInfo } from '../label/mp4info';
import { route } from '../router';
import { h, mount, showError } from '../ui';

const WS_KEY = 'vigil.label.workspace';
const KIND_EVENT = 3;

interface Donation {
  id: string;
  workspace: string;
  household: string;
  device: string;
  consent?: string;
  purpose: string;
  state: string;
  size: number;
  assignee?: string;
  annotation: number;
  accepted: number;
  reviewer?: string;
  expires: string;
  created: string;
  device_key?: string;
}

/** Workspace is a verified workspace as this device sees it. */
interface Workspace {
  id: string;
  state: ChainState;
  keys: DeviceKeys;
  identities: CryptoKey[];
  lead: boolean;
}

const wsPath = (ws: string) => `/v1/workspaces/${encodeURIComponent(ws)}`;

async function deviceJSON<T>(keys: DeviceKeys, method: string, path: string, body?: unknown): Promise<T> {
  const b = body === undefined ? undefined : new TextEncoder().encode(JSON.stringify(body));
  const res = await deviceFetch(keys, method, path, b, b ? { 'Content-Type': 'application/json' } : {});
  const text = await res.text();
  return (text ? JSON.parse(text) : {}) as T;
}

/**
 * openWorkspace fetches and verifies workspace ws's chain as this device.
 * The first verified genesis is pinned (as a donor's browser pins it,
 * apart from the households' pins); later the chain must start at
 * the pin and hold the head verified before, and its head must be proven
 * in the transparency log, as a household's.
 */
async function openWorkspace(ws: string, keys: DeviceKeys): Promise<Workspace> {
  const { state } = await loggedChain({
    id: ws,
    what: 'workspace',
    pin: true,
    fetch: async () => {
      const ch = await deviceJSON<ChainAnswer>(keys, 'GET', `${wsPath(ws)}/chain`);
      return { ...chainAnswer(ch), genesis: ch.genesis_hash ? unhex(ch.genesis_hash) : undefined };
    },
  });
  const me = state.device(keys.id);
  if (!me || me.role === 'hub') throw new ChainError('not-member', `this device is not in workspace ${ws}'s chain`);
  return { id: ws, state, keys, identities: await epochIdentities(state, keys), lead: me.role === 'admin' };
}

/** annotatorName is how this device signs its name into a payload: its device ID. */
const annotatorName = (w: Workspace) => w.keys.id;

/** openDonation fetches the sealed clip, checks its consent and opens it: the redacted MP4. */
async function openClip(w: Workspace, d: Donation): Promise<Uint8Array> {
  if (!d.consent) throw new Error(`donation ${d.id} comes without its consent: the clip is not shown`);
  if (!d.device_key) throw new Error(`the donor device of donation ${d.id} is no longer in its household: its consent cannot be checked, the clip is not shown`);
  const res = await deviceFetch(w.keys, 'GET', `${wsPath(w.id)}/donations/${encodeURIComponent(d.id)}/clip`);
  const sealed = new Uint8Array(await res.arrayBuffer());
  const donorKey = unb64(d.device_key);
  await verifyConsent(d.consent, donorKey, sealed, { workspace: w.id, id: d.id });
  const opened = await openObject(sealed, w.identities, [donorKey]);
  return opened.plaintext;
}

/** latestAnnotation fetches and opens the latest annotation (null when there is none). */
async function latestAnnotation(w: Workspace, d: Donation): Promise<{ version: number; payload: Annotation } | null> {
  if (d.annotation < 1) return null;
  let res: Response;
  try {
    res = await deviceFetch(w.keys, 'GET', `${wsPath(w.id)}/donations/${encodeURIComponent(d.id)}/annotation`);
  } catch (e) {
    if (e instanceof DeviceRequestError && e.status === 404) return null;
    throw e;
  }
  const version = Number(res.headers.get('Vigil-Annotation-Version'));
  const sealed = new Uint8Array(await res.arrayBuffer());
  // Annotations are signed by a current admin or member device of the workspace.
  const signers = w.state.devices.filter((x) => x.role !== 'hub').map((x) => x.signPub);
  const opened = await openObject(sealed, w.identities, signers);
  return { version, payload: parseAnnotation(opened.plaintext, defaultSchema()) };
}

/** sealAnnotation seals a payload to the workspace's current epoch key, signed by this device. */
function sealAnnotation(w: Workspace, json: string, version: number): Promise<Uint8Array> {
  const now = BigInt(Date.now()) * 1_000_000n;
  return sealObject({ kind: KIND_EVENT, stream: 'annotation', sequence: BigInt(version), start: now, epoch: w.state.epoch }, new TextEncoder().encode(json), [w.state.epochPub], w.keys);
}

const STATE_TEXT: Record<string, string> = {
  open: 'Not assigned',
  assigned: 'To annotate',
  annotated: 'Annotated',
  'in-review': 'In review',
  accepted: 'Accepted',
};

route('/label', async (root) => {
  const page = h('div', { id: 'label-page', 'data-state': 'loading' });
  mount(root, pageHead('Labelling'), page);
  let keys: DeviceKeys;
  try {
    keys = (await loadDeviceKeys()) ?? (await createDeviceKeys());
  } catch (e) {
    const err = h('p', {});
    showError(err, e);
    page.replaceChildren(err);
    page.dataset.state = 'error';
    return;
  }
  const identity = deviceString(keys);
  const deviceCard = h(
    'section',
    { class: 'card', 'aria-labelledby': 'label-dev-title' },
    h('h2', { id: 'label-dev-title' }, 'This device'),
    h('p', { class: 'muted' }, 'A labelling lead adds this device to the workspace with “vigil workspace add-device” and the identity below. Its private keys never leave this browser.'),
    h('p', {}, 'Device ID: ', h('code', { id: 'label-device-id', class: 'wrap' }, keys.id)),
    h('pre', { class: 'mono wrap', id: 'label-device-string' }, identity),
    h('div', { class: 'row' }, copyButton(() => identity, { id: 'label-device-copy', label: 'Copy the identity' }), copyButton(() => keys.id, { id: 'label-id-copy', label: 'Copy the device ID' })),
  );
  const wsInput = h('input', { id: 'label-ws', autocomplete: 'off', spellcheck: 'false', required: true, placeholder: 'h…', value: localStorage.getItem(WS_KEY) ?? '' });
  const form = h('form', { class: 'row', id: 'label-ws-form' }, h('label', { class: 'field grow' }, h('span', {}, 'Workspace ID'), wsInput), h('button', { type: 'submit', id: 'label-ws-open' }, 'Open'));
  const status = h('p', { id: 'label-status', role: 'status' });
  const list = h('section', { class: 'card', id: 'label-list', 'aria-labelledby': 'label-list-title', hidden: true });
  const work = h('section', { id: 'label-work', hidden: true });
  page.replaceChildren(deviceCard, h('section', { class: 'card' }, form, status), list, work);
  page.dataset.state = 'idle';

  let editor: AnnotationEditor | null = null;
  let clipURL = '';
  const closeWork = () => {
    editor?.close();
    editor = null;
    if (clipURL) URL.revokeObjectURL(clipURL);
    clipURL = '';
    work.replaceChildren();
    work.hidden = true;
  };

  const say = (text: string, bad = false) => {
    status.className = bad ? 'error' : '';
    status.textContent = text;
  };

  const showList = async (w: Workspace) => {
    const ds = await deviceJSON<Donation[]>(w.keys, 'GET', `${wsPath(w.id)}/assignments`);
    const title = h('h2', { id: 'label-list-title' }, w.lead ? 'Donations (you review)' : 'Clips assigned to this device');
    list.hidden = false;
    list.dataset.count = String(ds.length);
    if (!ds.length) {
      list.replaceChildren(title, emptyState(w.lead ? 'No donations are open in this workspace.' : 'No clips are assigned to this device.'));
      return;
    }
    const items = ds.map((d) => {
      const reviewable = w.lead && (d.state === 'annotated' || d.state === 'in-review') && d.annotation > 0;
      const annotatable = !w.lead || d.assignee === w.keys.id;
      const canOpen = reviewable || (annotatable && d.assignee === w.keys.id && d.state !== 'accepted');
      const btn = canOpen ? h('button', { type: 'button', class: reviewable ? '' : 'secondary', 'data-donation': d.id, id: `label-open-${d.id}`, onclick: () => void openWork(w, d, reviewable ? 'review' : 'annotate') }, reviewable ? 'Review' : 'Annotate') : null;
      return h(
        'li',
        { class: 'item', 'data-donation': d.id, 'data-state': d.state },
        h('div', { class: 'grow' }, h('code', {}, d.id), h('div', { class: 'sub' }, `${d.purpose} · ${STATE_TEXT[d.state] ?? d.state} · consent until ${fmtDateTime(Date.parse(d.expires))}`)),
        h('div', { class: 'actions' }, btn),
      );
    });
    list.replaceChildren(title, h('ul', { class: 'list' }, ...items));
  };

  const openWork = async (w: Workspace, d: Donation, mode: 'annotate' | 'review') => {
    closeWork();
    work.hidden = false;
    const wStatus = h('p', { id: 'label-work-status', role: 'status' }, 'Opening the clip…');
    work.replaceChildren(h('h2', {}, mode === 'review' ? `Review ${d.id}` : `Annotate ${d.id}`), wStatus);
    work.dataset.donation = d.id;
    work.dataset.state = 'opening';
    try {
      const mp4 = await openClip(w, d);
      const info = clipInfo(mp4);
      const prev = await latestAnnotation(w, d);
      if (mode === 'review' && !prev) throw new Error(`donation ${d.id} has no annotation to review`);
      let version = prev?.version ?? 0;
      // Sent back: the cloud's record says so (the payload stored is the one
      // submitted, in review); the annotator works on from there.
      let sentBack = false;
      if (prev && mode === 'annotate' && d.state === 'assigned' && prev.payload.review.state === 'in_review') {
        sentBack = true;
        prev.payload.review = d.reviewer && d.reviewer !== prev.payload.annotator ? { state: 'rejected', reviewer: d.reviewer } : { state: 'annotating' };
      }
      clipURL = URL.createObjectURL(new Blob([mp4 as Uint8Array<ArrayBuffer>], { type: 'video/mp4' }));
      const schema = defaultSchema();
      editor = new AnnotationEditor({ src: clipURL, clip: d.id, ...info, schema, mode, user: annotatorName(w), payload: prev?.payload });
      const ed = editor;
      const save = async (json: string, what: string) => {
        work.dataset.state = 'saving';
        wStatus.textContent = `${what}…`;
        const sealed = await sealAnnotation(w, json, version + 1);
        await deviceFetch(w.keys, 'PUT', `${wsPath(w.id)}/donations/${encodeURIComponent(d.id)}/annotations/${version + 1}`, sealed, { 'Content-Type': 'application/octet-stream' });
        version++;
        work.dataset.version = String(version);
      };
      const saveBtn = h('button', { type: 'button', class: 'secondary', id: 'label-save' }, 'Save draft');
      saveBtn.addEventListener('click', async () => {
        try {
          await save(toJSON(ed.annotation(), schema), 'Saving');
          work.dataset.state = 'saved';
          wStatus.textContent = `Saved as version ${version}, sealed to the workspace.`;
        } catch (e) {
          work.dataset.state = 'error';
          showError(wStatus, e);
        }
      });
      ed.el.addEventListener(EVENT_SUBMIT, async (e) => {
        const det = (e as CustomEvent<AnnotationEventDetail>).detail;
        try {
          await save(det.json, 'Submitting');
          work.dataset.state = 'submitted';
          wStatus.textContent = `Submitted for review as version ${version}.`;
          await showList(w);
        } catch (x) {
          work.dataset.state = 'error';
          showError(wStatus, x);
        }
      });
      ed.el.addEventListener(EVENT_REVIEW, async (e) => {
        const det = (e as CustomEvent<AnnotationEventDetail>).detail;
        const accept = det.annotation.review.state === 'accepted';
        try {
          work.dataset.state = 'saving';
          await deviceJSON(w.keys, 'POST', `${wsPath(w.id)}/donations/${encodeURIComponent(d.id)}/review`, { version, accept });
          work.dataset.state = accept ? 'accepted' : 'sent-back';
          wStatus.textContent = accept ? `Version ${version} accepted.` : `Version ${version} sent back to the annotator.`;
          await showList(w);
        } catch (x) {
          work.dataset.state = 'error';
          showError(wStatus, x);
        }
      });
      const heading = work.firstChild!;
      if (mode === 'annotate') work.replaceChildren(heading, ed.el, h('div', { class: 'row' }, saveBtn), wStatus);
      else work.replaceChildren(heading, ed.el, wStatus);
      work.dataset.state = 'open';
      ed.el.scrollIntoView({ block: 'start' });
      wStatus.textContent = sentBack
        ? `Annotation version ${prev!.version} was sent back by the reviewer: correct it and submit again.`
        : prev
          ? `Annotation version ${prev.version} (${prev.payload.review.state.replace('_', ' ')}).`
          : 'No annotation yet: drag on the frame to draw a box.';
    } catch (e) {
      closeWork();
      work.hidden = false;
      const err = h('p', { id: 'label-work-error' });
      showError(err, e);
      work.replaceChildren(h('h2', {}, d.id), err);
      work.dataset.state = 'refused';
    }
  };

  const open = async (ws: string) => {
    closeWork();
    list.hidden = true;
    page.dataset.state = 'loading';
    say('Verifying the workspace’s chain…');
    try {
      const w = await openWorkspace(ws, keys);
      page.dataset.state = w.lead ? 'lead' : 'annotator';
      say(`Workspace “${w.state.name}”: this device is ${w.lead ? 'a lead (you review)' : 'an annotator'}; chain verified to link ${w.state.seq}.`);
      await showList(w);
    } catch (e) {
      if (e instanceof DeviceRequestError && e.status === 404) {
        page.dataset.state = 'not-member';
        say(`This device is not in workspace ${ws} (or there is no such workspace): ask a labelling lead to add it with the identity above.`, true);
        return;
      }
      if (e instanceof ChainError && e.code === 'not-member') {
        page.dataset.state = 'not-member';
        say(e.message, true);
        return;
      }
      page.dataset.state = 'error';
      showError(status, e);
    }
  };

  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const ws = wsInput.value.trim();
    if (!/^h[a-z2-7]+$/.test(ws)) {
      say('A workspace ID starts with “h” followed by lower-case letters and digits 2–7.', true);
      return;
    }
    localStorage.setItem(WS_KEY, ws);
    void open(ws);
  });
  if (wsInput.value) void open(wsInput.value.trim());
  return () => {
    closeWork();
  };
});
