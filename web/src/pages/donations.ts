// Page: the household's donated clips (/h/:hh/donations), G7. Each with
// what it is for, its state (waiting, being labelled, accepted, taken back,
// expired), when it was given and until when, the camera and time it shows
// (from the signed consent; the camera named by the digest this page
// recomputes from the household's camera names, as the workspace never
// can) and "Take back": this device signs a revocation (crypto/consent.ts)
// after one confirmation; the cloud deletes the clip and its labels and
// marks every dataset that held it.
//
// Must never: put network text in as HTML, sign a revocation the member did
// not confirm.

import { api } from '../api';
import { cameraDigest, parseConsent, signRevocation } from '../crypto/consent';
import { loadDeviceKeys } from '../crypto/devicekeys';
import { emptyState, fmtDateTime, fmtRange, pageHead, securityDetails } from '../kit';
import { PURPOSE_WORDS } from '../labelling/donate';
import { route } from '../router';
import { h, mount, showError } from '../ui';
import '../labelling/donate.css';

interface Donation {
  id: string;
  workspace: string;
  device: string;
  consent?: string;
  purpose: string;
  state: string;
  size: number;
  expires: string;
  created: string;
  ended?: string;
}

const STATE_WORDS: Record<string, string> = {
  open: 'Waiting to be labelled',
  assigned: 'Being labelled',
  annotated: 'Labelled',
  'in-review': 'Labels being checked',
  accepted: 'Used for training',
  revoked: 'Taken back',
  expired: 'Expired',
};

const ended = (d: Donation) => d.state === 'revoked' || d.state === 'expired';

route('/h/:hh/donations', async (root, { hh }) => {
  const enc = encodeURIComponent;
  const status = h('p', { id: 'dn-status', class: 'muted', role: 'status' }, 'Loading…');
  const err = h('p', { id: 'dn-error' });
  const list = h('ul', { id: 'dn-list', class: 'list dn-list' });
  mount(
    root,
    pageHead('Donated clips', { back: { href: `/h/${enc(hh)}/settings`, label: 'Settings' } }),
    h('p', { class: 'muted' }, 'Clips you gave, blurred, to help improve detection. Only the devices of the labelling workspace can open them. Taking one back deletes it and its labels, and it is left out of every later training set.'),
    status,
    err,
    h('section', { class: 'card' }, list),
    securityDetails(
      h('p', {}, 'Each clip was sealed on the donating device to the workspace’s key, with a consent that device signed naming exactly those bytes, the purpose and the expiry. Taking it back is signed by this device too. Every step — each opening of the clip by an annotator included — is in the household’s history.'),
    ),
  );

  let names = new Map<string, string>();
  try {
    const cams = await api<{ cameras?: string[] | null }>('GET', `/v1/households/${enc(hh)}/live/ice`).catch(() => ({ cameras: [] as string[] }));
    names = new Map(await Promise.all((cams.cameras ?? []).map(async (c) => [await cameraDigest(c), c] as [string, string])));
  } catch {
    /* cameras shown as "a camera" */
  }

  const row = (d: Donation): HTMLLIElement => {
    let scope = '';
    if (d.consent) {
      try {
        const c = parseConsent(d.consent).consent;
        scope = `${names.get(c.camera) ?? 'a camera'}, ${fmtRange(Date.parse(c.from), Date.parse(c.to))}`;
      } catch {
        scope = '';
      }
    }
    const revoke = h('button', { type: 'button', class: 'secondary dn-revoke' }, 'Take back');
    const li = h(
      'li',
      { class: 'item dn-row', 'data-id': d.id, 'data-state': d.state },
      h(
        'div',
        { class: 'grow' },
        h('div', {}, h('strong', {}, PURPOSE_WORDS[d.purpose] ?? d.purpose), ' ', h('span', { class: `chip dn-state ${ended(d) ? 'bad' : 'ok'}` }, STATE_WORDS[d.state] ?? d.state)),
        scope ? h('div', { class: 'sub dn-scope' }, scope) : null,
        h('div', { class: 'sub' }, `Given ${fmtDateTime(Date.parse(d.created))}`, ended(d) ? (d.ended ? ` · ended ${fmtDateTime(Date.parse(d.ended))}` : '') : ` · until ${fmtDateTime(Date.parse(d.expires))}`),
      ),
      ended(d) ? null : h('div', { class: 'actions' }, revoke),
    );
    revoke.addEventListener('click', async () => {
      if (!window.confirm('Take this clip back? It is deleted with its labels, and left out of every later training set.')) return;
      revoke.disabled = true;
      err.textContent = '';
      try {
        const keys = await loadDeviceKeys();
        if (!keys) throw new Error('this browser is not one of the household’s devices: take it back from the device that gave it, or an admin device');
        const revocation = await signRevocation(keys, { v: 1, consent: d.id, household: hh, device: keys.id, time: new Date() });
        const nd = await api<Donation>('POST', `/v1/households/${enc(hh)}/donations/${enc(d.id)}/revoke`, { revocation });
        li.replaceWith(row(nd));
      } catch (e) {
        revoke.disabled = false;
        showError(err, e);
      }
    });
    return li;
  };

  try {
    const ds = (await api<Donation[] | null>('GET', `/v1/households/${enc(hh)}/donations`)) ?? [];
    status.textContent = ds.length ? `${ds.length} clip${ds.length === 1 ? '' : 's'} given.` : '';
    list.replaceChildren(...(ds.length ? ds.map(row) : [h('li', {}, emptyState('No clip was donated yet. On an event or the timeline, choose “Donate to improve detection”.'))]));
  } catch (e) {
    status.textContent = '';
    showError(err, e);
  }
});
