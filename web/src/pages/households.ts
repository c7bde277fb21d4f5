// Pages: the list of households (/; with exactly one it goes straight to
// that household's home), creating a household (/h/new: the recovery
// phrase shown once and confirmed), and a household's settings
// (/h/:hh/settings): devices from the verified chain (removing one starts a
// new key epoch), invite links with join requests to approve, hubs (pair
// with the code), cameras' zones, accounts, how long the cloud keeps
// recordings, the support code and staff access (support.ts), and a summary
// of the household's verified history. The
// protocol facts (chain, epochs, genesis hash, device IDs, the log) sit
// under "Security details".
import './households.css';
import { api, b64, unb64, ApiError } from '../api';
import { inviteIdForSecret, signAction, type ActionName, type ParamsOf, type Signed } from '../crypto/action';
import { equal, hex, randomBytes } from '../crypto/bytes';
import { addDevice, newHousehold, removeDevice, genesisHash, type Device } from '../crypto/chain';
import { parseDeviceString } from '../crypto/devicekeys';
import { b64url } from '../crypto/keys';
import { appendLink, forgetHousehold, openHousehold, pinHousehold, type Household } from '../household';
import { copyButton, emptyState, fmtDateTime, openSheet, pageHead, qrCode, securityDetails, shareButton, toast } from '../kit';
import { pairHub } from '../pairing';
import { go, render, route } from '../router';
import { h, mount, showError } from '../ui';
import { account, requireAccount } from './auth';
import { verifyHistory } from '../history/verify';
import { defaultDeviceName, deviceKeys, joinCode, joinProof } from './enrol';
import { supportAccessCard, supportCodeCard } from './support';

interface HouseholdInfo {
  household_id: string;
  name: string;
  genesis_hash: string;
}

const hhPath = (hh: string) => `/v1/households/${encodeURIComponent(hh)}`;
const appPath = (hh: string) => `/h/${encodeURIComponent(hh)}`;

/** NOT_ADMIN_DEVICE is what a browser that is not an admin device of the chain is told when it tries a signed change. */
const NOT_ADMIN_DEVICE = 'Only an admin device of this household can change this, and this browser is not one. Make the change on your phone or computer that is.';

/**
 * signed signs a change to household x with this browser's device key
 * (docs/FORMAT.md, "Signed household actions"). The cloud refuses changes
 * that no admin device of the chain signed, whatever the account.
 */
async function signed<A extends ActionName>(x: Household, action: A, params: ParamsOf[A]): Promise<Signed> {
  if (!x.keys || !x.me || x.me.role !== 'admin') throw new Error(NOT_ADMIN_DEVICE);
  return signAction(x.keys, x.hh, action, params);
}

const INVITE_TTL_MS = 24 * 3600 * 1000;

/** replaceWith navigates to p without a new history entry (a redirect). */
function replaceWith(p: string): void {
  history.replaceState(null, '', p);
  void render();
}

// The households of the signed-in account, or a welcome.
route('/', async (root) => {
  const a = await account().catch(() => null);
  if (!a) {
    mount(
      root,
      h(
        'div',
        { class: 'card' },
        h('h1', {}, 'Vigil'),
        h('p', {}, 'Watch your home cameras from your phone. Recordings are locked with your household’s keys: only your own devices can open them, not the service.'),
        h('div', { class: 'row' }, h('a', { href: '/signin', id: 'home-signin', class: 'btn' }, 'Sign in'), h('a', { href: '/signup', id: 'home-signup', class: 'btn secondary' }, 'Create an account')),
      ),
    );
    return;
  }
  const err = h('p', { id: 'households-error' });
  const list = h('ul', { class: 'list', id: 'households' });
  const create = h('a', { href: '/h/new', id: 'household-new', class: 'btn secondary' }, 'Create a household');
  mount(root, pageHead('Your households'), h('div', { class: 'card' }, list, err, create));
  try {
    const res = await api<{ households: HouseholdInfo[] }>('GET', '/v1/households');
    if (res.households.length === 1 && location.pathname === '/') {
      replaceWith(appPath(res.households[0].household_id));
      return;
    }
    if (!res.households.length) {
      list.replaceWith(emptyState('No household yet. Create one for your home, or open the invite link someone in your household sent you.'));
    }
    for (const x of res.households) {
      list.append(
        h(
          'li',
          { class: 'item' },
          h('a', { href: appPath(x.household_id), class: 'household-link grow' }, x.name || 'Household'),
          h('a', { href: `${appPath(x.household_id)}/settings`, class: 'btn secondary household-settings', 'aria-label': `Settings of ${x.name || 'the household'}` }, 'Settings'),
        ),
      );
    }
  } catch (e) {
    showError(err, e);
  }
});

// Creating a household: this browser becomes its first admin device.
route('/h/new', async (root) => {
  if (!(await requireAccount())) return;
  const err = h('p', { id: 'create-error' });
  const name = h('input', { id: 'household-name', required: true, maxlength: '64', value: 'Home', autocomplete: 'off' });
  const devName = h('input', { id: 'device-name', required: true, maxlength: '64', value: defaultDeviceName(), autocomplete: 'off' });
  const submit = h('button', { type: 'submit', id: 'household-create' }, 'Continue');
  const form = h(
    'form',
    { class: 'stack' },
    h('label', { class: 'field' }, h('span', {}, 'Name of the household'), name),
    h('label', { class: 'field' }, h('span', {}, 'Name of this device'), devName, h('small', { class: 'muted' }, 'For example “Anna’s phone”. Others in the household see it.')),
    submit,
  );
  const card = h('div', { class: 'card' }, form, err);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    submit.disabled = true;
    err.textContent = '';
    try {
      const keys = await deviceKeys();
      const made = await newHousehold(name.value.trim(), keys, devName.value.trim());
      showPhrase(root, made.recoveryPhrase, made.genesis);
    } catch (x) {
      showError(err, x);
      submit.disabled = false;
    }
  });
  mount(root, pageHead('Create a household', { back: { href: '/', label: 'Households' } }), card);
});

// showPhrase shows the recovery phrase once and asks for three of its
// groups before the household is stored.
function showPhrase(root: HTMLElement, phrase: string, genesis: Uint8Array): void {
  const groups = phrase.split('-');
  const picks: number[] = [];
  while (picks.length < Math.min(3, groups.length)) {
    const i = randomBytes(1)[0] % groups.length;
    if (!picks.includes(i)) picks.push(i);
  }
  picks.sort((a, b) => a - b);
  const err = h('p', { id: 'phrase-error' });
  const phraseEl = h('p', { class: 'code-big wrap phrase', id: 'recovery-phrase' }, phrase);
  const next = h('button', { id: 'phrase-written' }, 'I have written it down');
  const card = h(
    'div',
    { class: 'card stack' },
    h('p', {}, 'Write this recovery phrase on paper and keep it somewhere safe. It is shown only now.'),
    phraseEl,
    h('p', { class: 'muted' }, 'If every phone and computer of the household is lost, this phrase is the only way to open your recordings. The service never sees it.'),
    next,
    err,
  );
  mount(root, pageHead('Recovery phrase'), card);
  next.addEventListener('click', () => {
    const inputs = picks.map((i) => h('input', { class: 'phrase-group mono', 'data-group': String(i + 1), autocomplete: 'off', spellcheck: 'false', autocapitalize: 'characters', maxlength: '16' }));
    const create = h('button', { type: 'submit', id: 'phrase-confirm' }, 'Create the household');
    const form = h('form', { class: 'stack' }, ...picks.map((i, k) => h('label', { class: 'field' }, h('span', {}, `Group ${i + 1} of ${groups.length}`), inputs[k])), create);
    mount(root, pageHead('Check the recovery phrase'), h('div', { class: 'card stack' }, h('p', {}, 'Type these groups of the phrase you wrote down. It is not shown again.'), form, err));
    inputs[0]?.focus();
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      err.textContent = '';
      const norm = (s: string) => s.trim().toUpperCase().replace(/[IL]/g, '1').replace(/O/g, '0');
      const wrong = picks.filter((i, k) => norm(inputs[k].value) !== norm(groups[i]));
      if (wrong.length) {
        showError(err, new Error(`Group ${wrong.map((i) => i + 1).join(' and ')} does not match the phrase. Check what you wrote down, or start again to get a new phrase.`));
        return;
      }
      create.disabled = true;
      try {
        const res = await api<HouseholdInfo>('POST', '/v1/households', { genesis: b64(genesis) });
        await pinHousehold(res.household_id, await genesisHash(genesis));
        go(appPath(res.household_id));
      } catch (x) {
        showError(err, x);
        create.disabled = false;
      }
    });
  });
}

// Words for roles and kinds of devices.

const ROLE_WORDS: Record<string, string> = {
  admin: 'Can watch, add devices and change settings',
  member: 'Can watch',
  hub: 'Records the cameras',
};

/** deviceKind guesses what a device is from its role and name: the chain records no kind. */
function deviceKind(d: Device, me: boolean): string {
  if (d.role === 'hub') return 'Hub';
  if (/phone|android|ios\b|ipad|mobile/i.test(d.name)) return 'Phone';
  if (me || /chrome|firefox|safari|edge|browser/i.test(d.name)) return 'Browser';
  return 'Device';
}

/**
 * confirmSheet asks before something that cannot be undone; run does it
 * (its error is shown in the sheet, which stays open).
 */
function confirmSheet(title: string, text: string, action: string, run: () => Promise<void>): void {
  const err = h('p', { role: 'alert' });
  const yes = h('button', { class: 'danger', id: 'confirm-yes' }, action);
  const no = h('button', { class: 'secondary', id: 'confirm-no' }, 'Cancel');
  const s = openSheet(title, h('p', {}, text), h('div', { class: 'row' }, yes, no), err);
  no.addEventListener('click', () => s.close());
  yes.addEventListener('click', async () => {
    yes.disabled = true;
    err.textContent = '';
    try {
      await run();
      s.close();
    } catch (e) {
      showError(err, e);
      yes.disabled = false;
    }
  });
}

// The household's settings.
route('/h/:hh/settings', async (root, { hh }) => {
  if (!(await requireAccount())) return;
  let stopped = false;
  let timer: number | undefined;
  const err = h('p', { id: 'household-error' });
  const head = () => pageHead('Settings', { back: { href: appPath(hh), label: 'Home' } });
  mount(root, head(), h('div', { class: 'card' }, h('p', { class: 'muted', 'aria-live': 'polite' }, 'Checking the household…'), err));
  let hhv: Household;
  try {
    hhv = await openHousehold(hh);
  } catch (e) {
    showError(err, e);
    return;
  }
  const changed = async (next: Household) => {
    hhv = next;
    await draw();
  };
  const pollRequests = async (card: HTMLElement, box: HTMLElement) => {
    if (stopped) return;
    try {
      await renderRequests(card, box, hhv, async () => changed(await openHousehold(hh, { refresh: true })));
    } catch (e) {
      showError(err, e);
    }
    if (!stopped) timer = window.setTimeout(() => void pollRequests(card, box), 3000);
  };
  const draw = async () => {
    window.clearTimeout(timer);
    const x = hhv;
    const adminDevice = x.me?.role === 'admin';
    const adminAccount = x.role === 'admin';
    const requests = h('ul', { class: 'list', id: 'join-requests' });
    const waiting = h('section', { class: 'card', id: 'waiting', 'aria-labelledby': 'waiting-title', hidden: true }, h('h2', { id: 'waiting-title' }, 'Waiting to join'), requests);
    const history = historyCard(x);
    const access = adminAccount ? supportAccessCard(x, adminDevice, (action, params) => signed(x, action, params)) : null;
    const sections: (HTMLElement | null)[] = [
      head(),
      h('p', { class: 'muted', id: 'household-name' }, x.name),
      thisDevice(x),
      err,
      access?.banner ?? null,
      waiting,
      devicesCard(x, adminDevice, changed),
      adminAccount ? invitesCard(x, adminDevice) : null,
      hubsCard(x, adminDevice, changed),
      await camerasCard(x),
      await membersCard(x, adminAccount),
      await retentionCard(x, adminAccount),
      await supportCodeCard(x),
      access?.card ?? null,
      history.card,
      h('section', { class: 'card', 'aria-labelledby': 'donations-title' }, h('h2', { id: 'donations-title' }, 'Donated clips'), h('p', { class: 'muted' }, 'Clips given, blurred, to help improve detection; each can be taken back.'), h('a', { href: `${appPath(hh)}/donations`, class: 'btn secondary', id: 'donations-link' }, 'Donated clips')),
      h('section', { class: 'card', 'aria-labelledby': 'other-title' }, h('h2', { id: 'other-title' }, 'Other households'), h('a', { href: '/h/new', class: 'btn secondary', id: 'household-new' }, 'Create another household')),
      securityCard(x, history.summary),
    ];
    if (stopped) return;
    mount(root, ...sections);
    if (adminAccount) void pollRequests(waiting, requests);
  };
  await draw();
  return () => {
    stopped = true;
    window.clearTimeout(timer);
  };
});

function thisDevice(x: Household): HTMLElement {
  const me = x.me;
  if (me) {
    return h('p', { class: 'ok', id: 'this-device', 'data-role': me.role }, `This browser is “${me.name}”, ${me.role === 'admin' ? 'an admin device' : 'a member device'} of this household: ${ROLE_WORDS[me.role].toLowerCase()}.`);
  }
  return h(
    'div',
    { class: 'banner warn', id: 'this-device', 'data-role': 'none' },
    h('p', { class: 'grow' }, x.identities.length ? 'This browser is not a device of this household. The recovery phrase opens the recordings in this tab until you close it.' : 'This browser is not a device of this household, so it cannot open the recordings. Ask someone in the household for an invite link, or use the recovery phrase.'),
    x.identities.length ? null : h('a', { href: `${appPath(x.hh)}/recover`, class: 'btn secondary', id: 'use-recovery' }, 'Use the recovery phrase'),
  );
}

function devicesCard(x: Household, adminDevice: boolean, changed: (h: Household) => Promise<void>): HTMLElement {
  const list = h('ul', { class: 'list', id: 'devices' });
  for (const d of x.state.devices.filter((d) => d.role !== 'hub')) {
    const me = x.me?.id === d.id;
    const actions = h('div', { class: 'actions' });
    if (adminDevice && !me) {
      const b = h('button', { class: 'danger device-remove', 'data-device': d.id, 'aria-label': `Remove ${d.name}` }, 'Remove');
      b.addEventListener('click', () =>
        confirmSheet(`Remove “${d.name}”?`, `“${d.name}” will not be able to open anything recorded from now on. To use it again, invite it again.`, 'Remove', async () => {
          const link = await removeDevice(x.state, x.keys!, d.id);
          const next = await appendLink(x, link);
          toast(`“${d.name}” removed`);
          await changed(next);
        }),
      );
      actions.append(b);
    }
    list.append(
      h(
        'li',
        { class: 'item device', 'data-device': d.id, 'data-role': d.role },
        h('div', { class: 'grow' }, h('div', {}, h('strong', {}, d.name), me ? h('span', { class: 'chip ok this-marker' }, 'This device') : null), h('div', { class: 'sub' }, `${deviceKind(d, me)} · ${ROLE_WORDS[d.role] ?? d.role}`)),
        actions,
      ),
    );
  }
  return h(
    'section',
    { class: 'card', 'aria-labelledby': 'devices-title' },
    h('h2', { id: 'devices-title' }, 'Devices'),
    h('p', { class: 'muted' }, 'The phones and computers that can open this household’s recordings.'),
    list,
    h('p', { class: 'muted small' }, 'A removed device cannot open anything recorded after it was removed.'),
  );
}

// Invites and join requests.

const inviteKey = (id: string) => `vigil.invite.${id}`;

/**
 * inviteLink is the link the new device opens. Its fragment (never sent
 * to the cloud) carries the invite secret (s), the household's genesis hash
 * (g), and, for the landing page to show before sign-in, the household's
 * name (n) and the inviting device's name (by).
 */
function inviteLink(origin: string, inviteId: string, secret: Uint8Array, x: Pick<Household, 'name' | 'me' | 'state'>): string {
  const frag = new URLSearchParams({ s: b64url(secret), g: hex(x.state.genesisHash), n: x.name, by: x.me?.name ?? '' });
  return `${origin}/join/${encodeURIComponent(inviteId)}#${frag.toString()}`;
}

function invitesCard(x: Household, adminDevice: boolean): HTMLElement {
  const out = h('div', { id: 'invite-out', class: 'invite-out', hidden: true });
  const err = h('p', { id: 'invite-error' });
  const open = h('div', { id: 'invites' });
  const role = h('select', { id: 'invite-role' }, h('option', { value: 'member' }, 'Watch'), h('option', { value: 'admin' }, 'Watch, add devices and change settings'));
  const make = h('button', { id: 'invite-create' }, 'Make an invite link');
  make.addEventListener('click', async () => {
    make.disabled = true;
    err.textContent = '';
    err.className = '';
    try {
      const expires = new Date(Date.now() + INVITE_TTL_MS);
      // The invite is named by a hash of its key, which derives from the
      // secret: the cloud finds it only from the key a joining device presents.
      const secret = randomBytes(32);
      const body = await signed(x, 'invite.create', { invite: await inviteIdForSecret(secret), role: role.value === 'admin' ? 'admin' : 'member', expires });
      const inv = await api<{ invite_id: string; expires: string }>('POST', `${hhPath(x.hh)}/invites`, body);
      localStorage.setItem(inviteKey(inv.invite_id), b64url(secret));
      const link = inviteLink(location.origin, inv.invite_id, secret, x);
      const input = h('input', { id: 'invite-link', class: 'mono', readonly: true, value: link, 'aria-describedby': 'invite-valid' });
      input.addEventListener('focus', () => input.select());
      const qr = qrCode(link, 'QR code of the invite link: scan it with the new device’s camera');
      qr.id = 'invite-qr';
      out.hidden = false;
      mount(
        out,
        h('label', { class: 'field' }, h('span', {}, 'Invite link'), input),
        h(
          'div',
          { class: 'row' },
          copyButton(() => link, { id: 'invite-copy', label: 'Copy link', class: '' }),
          shareButton(() => ({ title: `Join ${x.name}`, text: `${x.me?.name ?? 'A device'} invites you to add your device to “${x.name}”.`, url: link }), { id: 'invite-share', label: 'Share…' }),
        ),
        h('p', { id: 'invite-valid', class: 'muted' }, `Works once, until ${fmtDateTime(new Date(inv.expires).getTime())}. Send it only to the person you invite.`),
        h('div', { class: 'qr-box' }, h('p', { class: 'muted' }, 'Or scan this code with the new device:'), qr),
      );
      await renderInvites(open, x);
    } catch (e) {
      showError(err, e);
    } finally {
      make.disabled = false;
    }
  });
  void renderInvites(open, x).catch((e) => showError(open, e));
  return h(
    'section',
    { class: 'card', id: 'invite', 'aria-labelledby': 'invite-title' },
    h('h2', { id: 'invite-title' }, 'Invite a device'),
    h('p', { class: 'muted' }, 'Make a link and open it on the new phone or computer. It asks to join and shows a code; you approve it here when this page shows the same code.'),
    adminDevice ? null : h('p', { class: 'warn' }, 'Only an admin device of the household can approve new devices; this browser is not one.'),
    h('div', { class: 'stack' }, h('label', { class: 'field' }, h('span', {}, 'The new device may'), role), h('div', {}, make)),
    err,
    out,
    h('h3', {}, 'Open invite links'),
    open,
  );
}

// renderInvites lists the household's open invites, each with a button
// that deletes it (a change signed by this browser's admin device key).
async function renderInvites(box: HTMLElement, x: Household): Promise<void> {
  const res = await api<{ invites: { invite_id: string; role: string; expires: string }[] }>('GET', `${hhPath(x.hh)}/invites`);
  if (!res.invites.length) {
    mount(box, h('p', { class: 'muted' }, 'None.'));
    return;
  }
  const err = h('p', { class: 'invite-error' });
  const list = h('ul', { class: 'list', id: 'invite-list' });
  for (const inv of res.invites) {
    const del = h('button', { class: 'secondary invite-delete', 'data-invite': inv.invite_id }, 'Delete');
    del.addEventListener('click', async () => {
      del.disabled = true;
      err.textContent = '';
      try {
        const body = await signed(x, 'invite.delete', { invite: inv.invite_id });
        await api('DELETE', `${hhPath(x.hh)}/invites/${encodeURIComponent(inv.invite_id)}`, body);
        localStorage.removeItem(inviteKey(inv.invite_id));
        await renderInvites(box, x);
      } catch (e) {
        showError(err, e);
        del.disabled = false;
      }
    });
    const mine = localStorage.getItem(inviteKey(inv.invite_id)) !== null;
    list.append(
      h(
        'li',
        { class: 'item invite', 'data-invite': inv.invite_id },
        h('div', { class: 'grow' }, h('div', {}, inv.role === 'admin' ? 'Watch, add devices and change settings' : 'Watch'), h('div', { class: 'sub' }, `Until ${fmtDateTime(new Date(inv.expires).getTime())}${mine ? '' : ' · made on another device'}`)),
        h('div', { class: 'actions' }, del),
      ),
    );
  }
  mount(box, list, err);
}

interface JoinRequest {
  request_id: string;
  invite_id: string;
  email: string;
  device: string;
  device_id: string;
  name: string;
  proof: string;
  role: string;
  created: string;
}

async function renderRequests(card: HTMLElement, box: HTMLElement, x: Household, approved: () => Promise<void>): Promise<void> {
  if (box.querySelector('button:disabled')) return; // an approval is running
  const res = await api<{ requests: JoinRequest[] }>('GET', `${hhPath(x.hh)}/join-requests`);
  const ids = res.requests.map((q) => q.request_id).join(',');
  if (box.getAttribute('data-ids') === ids) return;
  box.setAttribute('data-ids', ids);
  card.hidden = !res.requests.length;
  const items: HTMLElement[] = [];
  for (const q of res.requests) {
    const err = h('p');
    const s = localStorage.getItem(inviteKey(q.invite_id));
    const body = h('div', { class: 'grow stack' }, h('div', {}, h('strong', {}, q.name), h('div', { class: 'sub' }, `${q.email} · ${ROLE_WORDS[q.role] ?? q.role}`)));
    const actions = h('div', { class: 'actions' });
    const item = h('li', { class: 'item join-request', 'data-request': q.request_id }, body, actions);
    if (!s) {
      body.append(h('p', { class: 'muted' }, 'The invite link was made on another device: approve it there.'));
    } else {
      const secret = unb64(s);
      const proofOk = equal(await joinProof(secret, q.invite_id, q.device), unb64(q.proof));
      if (!proofOk) {
        body.append(h('p', { class: 'error' }, 'This request did not come from the link you sent. Decline it.'));
      } else if (!x.me || x.me.role !== 'admin') {
        body.append(h('p', { class: 'muted' }, 'Only an admin device can approve it.'));
      } else {
        const code = await joinCode(secret, q.device);
        const ok = h('button', { class: 'join-approve' }, 'Same code: approve');
        ok.addEventListener('click', async () => {
          ok.disabled = true;
          err.textContent = '';
          try {
            const d = await parseDeviceString(q.device);
            const link = await addDevice(x.state, x.keys!, { role: q.role === 'admin' ? 'admin' : 'member', name: q.name, signPub: d.signPub, boxPub: d.boxPub });
            await api('POST', `${hhPath(x.hh)}/join-requests/${encodeURIComponent(q.request_id)}/approve`, { link: b64(link) });
            localStorage.removeItem(inviteKey(q.invite_id));
            forgetHousehold(x.hh);
            toast(`“${q.name}” added`);
            await approved();
          } catch (e) {
            showError(err, e);
            ok.disabled = false;
          }
        });
        body.append(h('p', { class: 'code-check' }, 'Check that the new device shows the same code:'), h('p', { class: 'code-big join-code' }, code));
        actions.append(ok);
      }
    }
    actions.append(declineButton(x, q, err, card));
    body.append(err);
    items.push(item);
  }
  mount(box, ...items);
  // The home page's "a device is waiting" banner links to #waiting.
  if (items.length && location.hash === '#waiting') card.scrollIntoView({ block: 'start' });
}

function declineButton(x: Household, q: JoinRequest, err: HTMLElement, card: HTMLElement): HTMLElement {
  const no = h('button', { class: 'secondary join-decline' }, 'Decline');
  no.addEventListener('click', async () => {
    no.disabled = true;
    try {
      await api('DELETE', `${hhPath(x.hh)}/join-requests/${encodeURIComponent(q.request_id)}`);
      const list = no.closest('.list');
      no.closest('.join-request')?.remove();
      if (list && !list.querySelector('.join-request')) card.hidden = true;
    } catch (e) {
      showError(err, e);
      no.disabled = false;
    }
  });
  return no;
}

async function membersCard(x: Household, adminAccount: boolean): Promise<HTMLElement> {
  const err = h('p');
  const list = h('ul', { class: 'list', id: 'members' });
  const card = h(
    'section',
    { class: 'card', 'aria-labelledby': 'members-title' },
    h('h2', { id: 'members-title' }, 'Accounts'),
    h('p', { class: 'muted' }, 'The accounts that can sign in to this household. They see recordings only on one of the devices above.'),
    list,
    err,
  );
  try {
    const me = await account();
    const res = await api<{ members: { account_id: string; email: string; role: string }[] }>('GET', `${hhPath(x.hh)}/members`);
    for (const m of res.members) {
      const you = m.account_id === me?.account_id;
      const actions = h('div', { class: 'actions' });
      if (adminAccount && !you) {
        const b = h('button', { class: 'secondary member-remove', 'data-account': m.account_id, 'aria-label': `Remove ${m.email}` }, 'Remove');
        b.addEventListener('click', () =>
          confirmSheet(`Remove ${m.email}?`, 'This account will no longer be able to sign in to this household.', 'Remove', async () => {
            const body = await signed(x, 'member.remove', { account: m.account_id });
            await api('DELETE', `${hhPath(x.hh)}/members/${encodeURIComponent(m.account_id)}`, body);
            b.closest('.member')?.remove();
          }),
        );
        actions.append(b);
      }
      list.append(
        h(
          'li',
          { class: 'item member', 'data-account': m.account_id },
          h('div', { class: 'grow' }, h('div', {}, h('span', { class: 'wrap' }, m.email), you ? h('span', { class: 'chip ok' }, 'You') : null), h('div', { class: 'sub' }, m.role === 'admin' ? 'Admin: can invite and change settings' : 'Member')),
          actions,
        ),
      );
    }
  } catch (e) {
    showError(err, e);
  }
  return card;
}

function hubsCard(x: Household, adminDevice: boolean, changed: (h: Household) => Promise<void>): HTMLElement {
  const hubs = x.state.devices.filter((d: Device) => d.role === 'hub');
  const status = h('p', { id: 'pair-status', 'aria-live': 'polite' });
  const code = h('input', { id: 'pair-code', autocomplete: 'off', spellcheck: 'false', autocapitalize: 'characters', inputmode: 'text' });
  const submit = h('button', { type: 'submit', id: 'pair-submit' }, 'Pair the hub');
  const form = h('form', { class: 'stack' }, h('label', { class: 'field' }, h('span', {}, 'The code the hub shows'), code), h('div', {}, submit));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    submit.disabled = true;
    status.className = 'muted';
    status.textContent = 'Waiting for the hub…';
    try {
      const res = await pairHub(x, code.value);
      status.className = 'ok';
      status.textContent = `Hub “${res.hub.name}” paired.`;
      toast(`Hub “${res.hub.name}” paired`);
      await changed(res.household);
    } catch (x2) {
      showError(status, x2);
      submit.disabled = false;
    }
  });
  return h(
    'section',
    { class: 'card', id: 'hubs-card', 'aria-labelledby': 'hubs-title' },
    h('h2', { id: 'hubs-title' }, 'Hubs'),
    h('p', { class: 'muted' }, 'A hub is the box at home that records your cameras and sends the locked recordings to the cloud.'),
    hubs.length
      ? h(
          'ul',
          { class: 'list', id: 'hubs' },
          ...hubs.map((d) =>
            h(
              'li',
              { class: 'item hub', 'data-device': d.id },
              h('div', { class: 'grow' }, h('strong', {}, d.name), h('div', { class: 'sub' }, ROLE_WORDS.hub)),
              h('div', { class: 'actions' }, h('a', { href: `${appPath(x.hh)}/health#hub-${encodeURIComponent(d.id)}`, class: 'btn secondary hub-health' }, 'Health')),
            ),
          ),
        )
      : h('ul', { class: 'list', id: 'hubs' }, h('li', { class: 'item muted' }, 'No hub yet.')),
    adminDevice ? form : h('p', { class: 'muted' }, 'An admin device pairs hubs.'),
    status,
  );
}

async function camerasCard(x: Household): Promise<HTMLElement> {
  const list = h('ul', { class: 'list', id: 'cameras' });
  const card = h(
    'section',
    { class: 'card', 'aria-labelledby': 'cameras-title' },
    h('h2', { id: 'cameras-title' }, 'Cameras'),
    h('p', { class: 'muted' }, 'Choose where each camera looks for movement, and what it never records.'),
    list,
    h('div', { class: 'actions' }, h('a', { href: `${appPath(x.hh)}/cameras/add`, class: 'btn secondary', id: 'add-camera' }, 'Add camera')),
  );
  try {
    const res = await api<{ cameras: string[] }>('GET', `${hhPath(x.hh)}/cameras`);
    if (!res.cameras?.length) list.append(h('li', { class: 'item muted' }, 'No camera yet. Pair a hub; its cameras appear here once they record.'));
    for (const cam of res.cameras ?? []) {
      const base = `${appPath(x.hh)}/cam/${encodeURIComponent(cam)}`;
      list.append(h('li', { class: 'item camera', 'data-camera': cam }, h('strong', { class: 'grow' }, cam), h('div', { class: 'actions' }, h('a', { href: `${base}/zones`, class: 'btn secondary camera-zones' }, 'Zones and masks'), h('a', { href: `${appPath(x.hh)}/health#camera-${encodeURIComponent(cam)}`, class: 'btn secondary camera-health' }, 'Health'))));
    }
  } catch (e) {
    showError(card.appendChild(h('p')), e);
  }
  return card;
}

// Retention: how long the cloud keeps the household's recordings.

const DAY = 86400;
const PRESETS: { seconds: number; label: string }[] = [
  { seconds: DAY, label: '1 day' },
  { seconds: 7 * DAY, label: '7 days' },
  { seconds: 30 * DAY, label: '30 days' },
  { seconds: 90 * DAY, label: '90 days' },
  { seconds: 0, label: 'Until the space runs out' },
];

/** fmtBytes is a size for people: "1.2 GB", "350 MB", "less than 1 MB". */
function fmtBytes(b: number): string {
  if (b <= 0) return '0 MB';
  if (b >= 1e9) return `${(b / 1e9).toFixed(b >= 1e11 ? 0 : 1)} GB`;
  if (b >= 1e6) return `${Math.round(b / 1e6)} MB`;
  return 'less than 1 MB';
}

const fmtDays = (s: number) => (s % DAY === 0 ? `${s / DAY} day${s === DAY ? '' : 's'}` : `${Math.round((s / 3600) * 10) / 10} hours`);

interface Settings {
  quota_bytes: number;
  max_age_seconds: number;
  default_quota_bytes: number;
  default_max_age_seconds: number;
}

async function retentionCard(x: Household, adminAccount: boolean): Promise<HTMLElement> {
  const status = h('p', { id: 'retention-status', 'aria-live': 'polite' });
  const usage = h('p', { id: 'retention-usage' }, 'Space used in the cloud: …');
  const card = h(
    'section',
    { class: 'card', id: 'retention', 'aria-labelledby': 'retention-title' },
    h('h2', { id: 'retention-title' }, 'Keeping recordings'),
    h(
      'p',
      { id: 'retention-where' },
      'This applies to the locked copy of your recordings in the cloud. Your hub keeps its own recordings on its own disk, by the hub’s own settings.',
    ),
    usage,
  );
  const showUsage = async () => {
    const info = await api<{ usage_bytes: number; quota_bytes: number }>('GET', hhPath(x.hh));
    usage.dataset.bytes = String(info.usage_bytes);
    usage.dataset.quota = String(info.quota_bytes);
    usage.textContent = `Space used in the cloud: ${fmtBytes(info.usage_bytes)} of ${fmtBytes(info.quota_bytes)}.`;
  };
  let s: Settings;
  try {
    [s] = await Promise.all([api<Settings>('GET', `${hhPath(x.hh)}/settings`), showUsage()]);
  } catch (e) {
    card.append(status);
    showError(status, e);
    return card;
  }
  const presets = PRESETS.filter((p) => p.seconds === 0 || !s.default_max_age_seconds || p.seconds <= s.default_max_age_seconds);
  const isPreset = presets.some((p) => p.seconds === s.max_age_seconds);
  const radio = (value: string, checked: boolean, label: string) =>
    h('label', { class: 'check' }, h('input', { type: 'radio', name: 'retention', value, checked, disabled: !adminAccount }), h('span', {}, label));
  const days = h('input', {
    id: 'retention-days', type: 'number', min: '1', step: '1', inputmode: 'numeric', disabled: !adminAccount,
    value: !isPreset && s.max_age_seconds ? String(Math.max(1, Math.round(s.max_age_seconds / DAY))) : '',
  });
  const custom = radio('custom', !isPreset, 'Another number of days');
  days.addEventListener('input', () => ((custom.querySelector('input') as HTMLInputElement).checked = true));
  const quota = h('input', {
    id: 'retention-quota', type: 'number', min: '0', step: '0.1', inputmode: 'decimal', disabled: !adminAccount,
    value: s.quota_bytes ? String(Math.round((s.quota_bytes / 1e9) * 100) / 100) : '',
    placeholder: String(Math.round((s.default_quota_bytes / 1e9) * 10) / 10),
    'aria-describedby': 'retention-quota-hint',
  });
  const save = h('button', { type: 'submit', id: 'retention-save', disabled: !adminAccount }, 'Save');
  const serviceAge = s.default_max_age_seconds ? h('p', { class: 'muted' }, `The service deletes recordings after ${fmtDays(s.default_max_age_seconds)} whatever you choose.`) : null;
  const form = h(
    'form',
    { class: 'stack' },
    h(
      'fieldset',
      { class: 'presets' },
      h('legend', {}, 'Keep recordings in the cloud for'),
      ...presets.map((p) => radio(String(p.seconds), p.seconds === s.max_age_seconds, p.label)),
      custom,
      h('label', { class: 'field days' }, h('span', {}, 'Number of days'), days),
    ),
    serviceAge,
    h(
      'details',
      { class: 'advanced', open: s.quota_bytes > 0 },
      h('summary', {}, 'Space limit'),
      h(
        'div',
        { class: 'stack' },
        h('label', { class: 'field' }, h('span', {}, 'Most space the recordings may use in the cloud, in GB'), quota),
        h('p', { class: 'muted', id: 'retention-quota-hint' }, `Leave it empty to use all the space the service gives a household: ${fmtBytes(s.default_quota_bytes)}. When the space is full, the oldest recordings are deleted first.`),
      ),
    ),
    h('div', {}, save),
  );
  if (!adminAccount) form.append(h('p', { class: 'muted' }, 'Only an admin account can change this.'));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    status.textContent = '';
    status.className = '';
    const choice = (form.querySelector('input[name="retention"]:checked') as HTMLInputElement | null)?.value;
    let age: number;
    if (choice === 'custom' || choice === undefined) {
      const n = Number(days.value);
      if (!days.value || !Number.isFinite(n) || n < 1) {
        showError(status, new Error('Type a number of days (1 or more), or choose one of the choices above.'));
        return;
      }
      age = Math.round(n * DAY);
    } else {
      age = Number(choice);
    }
    const gb = quota.value.trim() === '' ? 0 : Number(quota.value);
    if (!Number.isFinite(gb) || gb < 0 || gb * 1e9 > s.default_quota_bytes) {
      showError(status, new Error(`The space limit is a number of GB, at most ${Math.floor((s.default_quota_bytes / 1e9) * 10) / 10}; leave it empty for all the space.`));
      return;
    }
    save.disabled = true;
    try {
      const body = await signed(x, 'settings.set', { quota_bytes: Math.round(gb * 1e9), max_age_seconds: age });
      s = { ...s, ...(await api<Settings>('PUT', `${hhPath(x.hh)}/settings`, body)) };
      status.className = 'ok';
      status.textContent = 'Saved.';
      toast('Saved');
      await showUsage().catch(() => {});
    } catch (x2) {
      showError(status, plainSettingsError(x2));
    } finally {
      save.disabled = false;
    }
  });
  card.append(form, status);
  return card;
}

/** plainSettingsError says the cloud's refusal of a too-small quota in words and GB. */
function plainSettingsError(e: unknown): unknown {
  if (!(e instanceof ApiError) || e.status !== 409) return e;
  const m = /below the (\d+) bytes/.exec(e.message);
  if (!m) return e;
  return new Error(`That space limit is less than what your hubs sent in the last 24 hours (${fmtBytes(Number(m[1]))}), so it would delete today’s recordings. Choose at least that much, or leave it empty.`);
}

// historyCard says in plain words whether the household's history checks
// out (the audit runs in the background) and links to the history page;
// the technical summary goes under Security details.
function historyCard(x: Household): { card: HTMLElement; summary: HTMLElement } {
  const plain = h('p', { id: 'history-plain', class: 'muted', 'aria-live': 'polite' }, 'Checking…');
  const summary = h('p', { id: 'history-summary', 'data-state': 'loading' }, 'Verifying the household’s history against the transparency log…');
  const card = h(
    'section',
    { class: 'card', 'aria-labelledby': 'history-title' },
    h('h2', { id: 'history-title' }, 'Who watched what'),
    h('p', { class: 'muted' }, 'Every time someone watches, shares or changes something, it is written into a public record that nobody can quietly change. This browser checks it.'),
    plain,
    h('a', { href: `${appPath(x.hh)}/history`, id: 'household-history', class: 'btn secondary' }, 'Open the history'),
  );
  verifyHistory(x.hh, { window: 0 })
    .then((v) => {
      const cp = v.report.checkpoint;
      const cos = cp.cosigners?.length ? `, cosigned by ${cp.cosigners.join(', ')}` : '';
      summary.dataset.state = v.ok ? 'verified' : 'warning';
      const severe = v.findings.filter((f) => f.severe);
      if (v.ok) {
        plain.className = 'ok';
        plain.textContent = 'Checked: everything is in order.';
        summary.textContent = `Verified up to record ${v.report.state.recordN}, in the log’s checkpoint of ${cp.size} entries${cos}; checked ${fmtDateTime(new Date(v.report.state.checked ?? Date.now()).getTime())}.`;
      } else {
        plain.className = 'error';
        plain.setAttribute('role', 'alert');
        plain.textContent = `Warning: something in this household’s history does not check out. Open the history to see what.`;
        summary.className = 'error';
        summary.textContent = `Warning: ${severe.length} problem${severe.length === 1 ? '' : 's'} found in the household’s history or the log: ${severe[0]?.what ?? ''}${severe.length > 1 ? ' (see the history for all)' : ''}`;
      }
    })
    .catch((e) => {
      summary.dataset.state = 'error';
      const member = x.me !== null || x.identities.length > 0;
      plain.className = member ? 'error' : 'muted';
      plain.textContent = member ? 'The history could not be checked just now. Open the history to try again.' : 'Only a device of this household can check the history.';
      showError(summary, new Error(`The history could not be verified: ${e instanceof Error ? e.message : String(e)}`));
    });
  return { card, summary };
}

// securityCard holds what a careful user compares or checks: the
// household's identity (genesis hash), the chain this browser verified, the
// key epoch, each device's ID and the history's verification.
function securityCard(x: Household, historySummary: HTMLElement): HTMLElement {
  return h(
    'section',
    { class: 'card', 'aria-label': 'Security details' },
    securityDetails(
      h('p', {}, 'Household ID: ', h('code', { class: 'wrap', id: 'household-id' }, x.hh)),
      h('p', {}, 'Genesis hash (compare it with another device of the household): ', h('code', { id: 'genesis-hash', class: 'wrap' }, hex(x.state.genesisHash))),
      h('p', {}, 'The household chain verified in this browser up to link ', h('span', { id: 'chain-seq' }, String(x.state.seq)), '; key epoch ', h('span', { id: 'epoch' }, String(x.state.epoch)), '; its head is proven in the transparency log.'),
      h('p', {}, x.pinned ? 'This browser checked the chain against the genesis hash it pinned when it joined or made the household.' : 'This browser had not pinned the household before: it pinned the genesis hash the cloud served now.'),
      h('p', {}, 'Removing a device starts a new key epoch: the removed device cannot open anything recorded afterwards.'),
      h('h3', {}, 'Device IDs'),
      h('ul', { id: 'device-ids', class: 'plain' }, ...x.state.devices.map((d) => h('li', { 'data-device': d.id }, `${d.name} (${d.role}): `, h('code', { class: 'wrap' }, d.id)))),
      h('h3', {}, 'History'),
      historySummary,
    ),
  );
}
