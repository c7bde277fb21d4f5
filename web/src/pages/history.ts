// Page: a household's verified history (/h/:hh/history). Every record the
// cloud made of an access or a change, verified in this browser against
// the transparency log (complete, in order, chained, in a checkpoint the
// witnesses cosigned) and opened with the household's keys, newest first
// and in plain words; at the top what was verified, or a warning listing
// everything the audit found wrong.
//
// Must never: show a record that was not verified, or "verified" while
// the audit found something severe.

import { api } from '../api';
import { hex } from '../crypto/bytes';
import { olderRecords, verifyHistory, type HistoryView } from '../history/verify';
import type { Verified } from '../history/audit';
import { pinnedPolicy } from '../history/log';
import { route } from '../router';
import { h, mount, showError } from '../ui';
import { requireAccount } from './auth';

/** What each action means, in plain words. */
const DID: Record<string, string> = {
  'household.read': 'viewed the household',
  'households.list': 'listed the households',
  'chain.read': 'read the household’s device list',
  'chain.append': 'changed the household’s devices',
  'cameras.list': 'listed the cameras',
  'objects.list': 'listed recordings',
  'object.read': 'downloaded',
  'events.list': 'listed events',
  'events.live': 'watched for new events',
  'live.view': 'watched live',
  'live.ice': 'prepared live view',
  'members.list': 'listed the accounts',
  'member.add': 'added an account',
  'member.remove': 'removed an account',
  'settings.read': 'read the retention settings',
  'settings.set': 'changed the retention settings',
  'invites.list': 'listed the invites',
  'invite.create': 'made an invite',
  'invite.delete': 'deleted an invite',
  'invite.read': 'opened an invite',
  'join-requests.list': 'looked for devices waiting to join',
  'join-requests.approve': 'approved a device',
  'join-requests.decline': 'declined a device',
  'shares.list': 'listed the shares',
  'share.create': 'shared recordings',
  'share.revoke': 'revoked a share',
  'share.read': 'opened a share',
  'share.object.read': 'played a shared recording',
  'push.subscribe': 'turned notifications on',
  'push.unsubscribe': 'turned notifications off',
  'history.read': 'read this history',
  'access.read': 'read the access log',
};

const didWhat = (action: string): string => DID[action] ?? action;

/**
 * names maps the household's account and device IDs to what people
 * recognise (e-mail, device name); the accounts are a convenience, left
 * out when they cannot be read.
 */
async function names(v: HistoryView): Promise<Map<string, string>> {
  const m = new Map<string, string>();
  try {
    const ms = await api<{ members: { account_id: string; email: string }[] }>('GET', `/v1/households/${encodeURIComponent(v.household)}/members`);
    for (const a of ms.members ?? []) m.set(a.account_id, a.email);
  } catch {
    /* names are a convenience */
  }
  for (const d of v.report.chain.devices) m.set(d.id, d.name);
  return m;
}

/** who names a record's actor as people know it. */
function who(v: HistoryView, names: Map<string, string>, r: Verified): string {
  const name = names.get(r.actor.id);
  const gone = v.report.chain.removedDevice(r.actor.id);
  switch (r.actor.kind) {
    case 'account':
      return name ?? `account ${r.actor.id}`;
    case 'hub':
      return `hub “${name ?? gone?.device.name ?? r.actor.id}”`;
    case 'device':
      return `device “${name ?? gone?.device.name ?? r.actor.id}”`;
    case 'guest':
      return `guest account ${name ?? r.actor.id}`;
    case 'link':
      return `someone with the link of share ${r.actor.id.replace(/^share:/, '')}`;
    case 'cloud':
      return 'the service';
  }
  return `${r.actor.kind} ${r.actor.id}`;
}

const when = (ms: number) => new Date(ms).toLocaleString();

function times(r: Verified): string {
  if (r.count <= 1) return '';
  return r.lastMs !== undefined ? `${r.count}×, the last at ${when(r.lastMs)}` : `${r.count}×`;
}

function signedBy(r: Verified): HTMLElement | string {
  if (!r.signed) return '';
  if (!r.signer) return h('span', { class: 'error' }, 'signature not verified');
  return h('span', { class: 'ok signed-by', 'data-device': r.signer.device }, `signed by admin device “${r.signer.name}”${r.signer.removed ? ' (removed since)' : ''}`);
}

function recordRow(v: HistoryView, names: Map<string, string>, r: Verified): HTMLElement {
  return h(
    'tr',
    { class: 'record', 'data-n': r.n, 'data-action': r.action, 'data-count': r.count, 'data-actor': r.actor.id, 'data-signed': r.signer ? r.signer.device : '' },
    h('td', { class: 'muted' }, String(r.n)),
    h('td', {}, when(r.timeMs)),
    h('td', { class: 'record-who' }, who(v, names, r)),
    h('td', { class: 'record-did' }, didWhat(r.action)),
    h('td', { class: 'mono wrap' }, r.object ?? ''),
    h('td', {}, times(r)),
    h('td', {}, signedBy(r)),
  );
}

/** statusCard is the verification state: checkpoint, witnesses, last checked, verified or the findings. */
function statusCard(v: HistoryView, witnessCount: number): HTMLElement {
  const cp = v.report.checkpoint;
  const cos = cp.cosigners ?? [];
  const severe = v.findings.filter((f) => f.severe);
  const notes = v.findings.filter((f) => !f.severe);
  const card = h(
    'div',
    { class: 'card', id: 'history-status', 'data-state': v.ok ? 'verified' : 'warning', 'data-size': cp.size, 'data-record': v.report.state.recordN },
    h('h2', {}, 'Verification'),
    h(
      'p',
      { class: 'muted' },
      `Transparency log ${cp.origin}: checkpoint of `,
      h('span', { id: 'history-size' }, String(cp.size)),
      ' entries, root ',
      h('code', {}, hex(cp.hash).slice(0, 16) + '…'),
      '. ',
      witnessCount === 0
        ? 'This log’s policy asks for no witness cosignature.'
        : h('span', { id: 'history-witnesses' }, cos.length ? `Cosigned by ${cos.join(', ')} (${cos.length} of ${witnessCount}).` : `No witness cosigned it.`),
    ),
    h('p', { class: 'muted' }, 'Last checked ', h('span', { id: 'history-checked' }, v.report.state.checked ? new Date(v.report.state.checked).toLocaleString() : 'never'), `; verified up to record ${v.report.state.recordN}.`),
  );
  if (v.ok) {
    card.append(h('p', { class: 'ok', id: 'history-verified' }, 'Verified: the log only grew, the household’s chain heads and every record are in it, in order and complete, and the hubs saw the same chain and log.'));
  } else {
    card.append(
      h('p', { class: 'error', id: 'history-warning', role: 'alert' }, `Warning: the cloud or its log showed this browser something false. ${severe.length === 1 ? 'One thing was' : `${severe.length} things were`} found:`),
      h('ul', { id: 'history-findings' }, ...severe.map((f) => h('li', { class: 'finding error' }, f.what))),
    );
  }
  if (v.report.pending > 0) card.append(h('p', { class: 'muted', id: 'history-pending' }, `${v.report.pending} newer record${v.report.pending === 1 ? ' is' : 's are'} not in the log yet; ${v.report.pending === 1 ? 'it is' : 'they are'} checked at the next visit.`));
  if (notes.length) card.append(h('ul', { id: 'history-notes', class: 'muted' }, ...notes.map((f) => h('li', { class: 'finding note' }, f.what))));
  return card;
}

route('/h/:hh/history', async (root, { hh }) => {
  if (!(await requireAccount())) return;
  const err = h('p', { id: 'history-error' });
  const base = `/h/${encodeURIComponent(hh)}`;
  mount(root, h('h1', {}, 'History'), h('p', {}, h('a', { href: base }, '← Household')), h('div', { class: 'card', id: 'history-status', 'data-state': 'loading' }, h('p', { class: 'muted' }, 'Verifying the household’s history against the transparency log…')), err);
  let v: HistoryView;
  try {
    v = await verifyHistory(hh, { window: 100 });
  } catch (e) {
    const status = root.querySelector('#history-status') as HTMLElement;
    status.dataset.state = 'error';
    mount(status, h('h2', {}, 'Verification'), h('p', { class: 'error', role: 'alert' }, 'The history could not be verified: ', showError(h('span'), e)));
    return;
  }
  const [policy, known] = await Promise.all([pinnedPolicy(), names(v)]);
  const tbody = h('tbody', {}, ...v.records.map((r) => recordRow(v, known, r)));
  const more = h('button', { class: 'secondary', id: 'history-older' }, 'Show older records');
  more.hidden = !v.more;
  more.addEventListener('click', async () => {
    more.disabled = true;
    try {
      const o = await olderRecords(v, 100);
      v.records.push(...o.records);
      for (const r of o.records) tbody.append(recordRow(v, known, r));
      if (o.findings.length) showError(err, new Error(o.findings.map((f) => f.what).join('; ')));
      more.hidden = o.records.length === 0 || v.records[v.records.length - 1].n <= 1;
    } catch (e) {
      showError(err, e);
    } finally {
      more.disabled = false;
    }
  });
  const sc = statusCard(v, policy?.witnesses.length ?? 0);
  mount(
    root,
    h('h1', {}, 'History'),
    h('p', {}, h('a', { href: base }, '← Household')),
    sc,
    err,
    h(
      'div',
      { class: 'card' },
      h('h2', {}, 'Records, newest first'),
      h('p', { class: 'muted' }, 'Every access to the household’s data and every change, as the cloud recorded it in the transparency log, opened in this browser.'),
      v.records.length
        ? h('table', { id: 'history-records' }, h('thead', {}, h('tr', {}, h('th', {}, '#'), h('th', {}, 'When'), h('th', {}, 'Who'), h('th', {}, 'Did'), h('th', {}, 'What'), h('th', {}, 'Times'), h('th', {}, 'Authorised'))), tbody)
        : h('p', { class: 'muted', id: 'history-empty' }, 'No verified record yet.'),
      more,
    ),
  );
});
