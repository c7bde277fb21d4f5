// Pages: the household list (home), creating a household (recovery phrase
// shown once and confirmed), and a household's page: cameras, devices from
// the verified chain (remove one: a new epoch), members and invites with
// join requests to approve, hubs (pair with the code), retention settings
// and a summary of the household's verified history (pages/history.ts).
import { api, b64, unb64 } from '../api';
import { newInviteId, signAction, type ActionName, type ParamsOf, type Signed } from '../crypto/action';
import { equal, hex, randomBytes } from '../crypto/bytes';
import { addDevice, newHousehold, removeDevice, genesisHash, type Device } from '../crypto/chain';
import { parseDeviceString } from '../crypto/devicekeys';
import { b64url } from '../crypto/keys';
import { appendLink, forgetHousehold, openHousehold, pinHousehold, type Household } from '../household';
import { pairHub } from '../pairing';
import { go, route } from '../router';
import { h, mount, showError } from '../ui';
import { account, requireAccount } from './auth';
import { verifyHistory } from '../history/verify';
import { defaultDeviceName, deviceKeys, joinCode, joinProof } from './enrol';

interface HouseholdInfo {
  household_id: string;
  name: string;
  genesis_hash: string;
}

const hhPath = (hh: string) => `/v1/households/${encodeURIComponent(hh)}`;

/** NOT_ADMIN_DEVICE is what a browser that is not an admin device of the chain is told when it tries a signed change. */
const NOT_ADMIN_DEVICE = 'only an admin device of this household can change this; this browser is not one';

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

// Home: the households of the signed-in account, or a welcome.
route('/', async (root) => {
  const a = await account().catch(() => null);
  if (!a) {
    mount(
      root,
      h(
        'div',
        { class: 'card' },
        h('h1', {}, 'Vigil'),
        h('p', { class: 'muted' }, 'Your cameras, sealed to your household’s keys. Footage is opened only in your browser.'),
        h('p', { class: 'row' }, h('a', { href: '/signin', id: 'home-signin' }, 'Sign in'), h('a', { href: '/signup', id: 'home-signup' }, 'Create an account')),
      ),
    );
    return;
  }
  const err = h('p');
  const list = h('ul', { id: 'households' });
  mount(
    root,
    h('div', { class: 'card' }, h('h1', {}, 'Households'), list, err, h('p', {}, h('a', { href: '/h/new', id: 'household-new' }, 'Create a household'))),
  );
  try {
    const res = await api<{ households: HouseholdInfo[] }>('GET', '/v1/households');
    if (!res.households.length) list.append(h('li', { class: 'muted' }, 'No household yet: create one, or open an invite link from a household’s admin.'));
    for (const x of res.households) list.append(h('li', {}, h('a', { href: `/h/${encodeURIComponent(x.household_id)}`, class: 'household-link' }, x.name || x.household_id)));
  } catch (e) {
    showError(err, e);
  }
});

// Creating a household: this browser becomes its first admin device.
route('/h/new', async (root) => {
  if (!(await requireAccount())) return;
  const err = h('p', { id: 'create-error' });
  const name = h('input', { id: 'household-name', required: true, maxlength: '64', value: 'Home' });
  const devName = h('input', { id: 'device-name', required: true, maxlength: '64', value: defaultDeviceName() });
  const submit = h('button', { type: 'submit', id: 'household-create' }, 'Continue');
  const form = h('form', { class: 'stack' }, h('label', {}, 'Household name', name), h('label', {}, 'Name of this device', devName), submit);
  const card = h('div', { class: 'card' }, h('h1', {}, 'Create a household'), form, err);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    submit.disabled = true;
    err.textContent = '';
    try {
      const keys = await deviceKeys();
      const made = await newHousehold(name.value.trim(), keys, devName.value.trim());
      showPhrase(card, made.recoveryPhrase, made.genesis);
    } catch (x) {
      showError(err, x);
      submit.disabled = false;
    }
  });
  mount(root, card);
});

// showPhrase shows the recovery phrase once and asks for three of its
// groups before the household is stored.
function showPhrase(card: HTMLElement, phrase: string, genesis: Uint8Array): void {
  const groups = phrase.split('-');
  const picks: number[] = [];
  while (picks.length < Math.min(3, groups.length)) {
    const i = randomBytes(1)[0] % groups.length;
    if (!picks.includes(i)) picks.push(i);
  }
  picks.sort((a, b) => a - b);
  const err = h('p', { id: 'phrase-error' });
  const phraseEl = h('p', { class: 'code-big wrap', id: 'recovery-phrase' }, phrase);
  const next = h('button', { id: 'phrase-written' }, 'I have written it down');
  const step1 = h('div', {}, h('p', {}, 'This is the household’s recovery phrase. Write it down and keep it somewhere safe. It is shown only now, and it is the only way to open your recordings if every device of the household is lost. The cloud never sees it.'), phraseEl, next);
  mount(card, h('h1', {}, 'Recovery phrase'), step1, err);
  next.addEventListener('click', () => {
    const inputs = picks.map((i) => h('input', { class: 'phrase-group mono', 'data-group': String(i + 1), autocomplete: 'off', spellcheck: 'false', maxlength: '16' }));
    const create = h('button', { type: 'submit', id: 'phrase-confirm' }, 'Create the household');
    const form = h('form', { class: 'stack' }, ...picks.map((i, k) => h('label', {}, `Group ${i + 1} of ${groups.length}`, inputs[k])), create);
    mount(card, h('h1', {}, 'Confirm the recovery phrase'), h('p', {}, 'Type these groups of the phrase you wrote down (the phrase is not shown again):'), form, err);
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      err.textContent = '';
      const norm = (s: string) => s.trim().toUpperCase().replace(/[IL]/g, '1').replace(/O/g, '0');
      const wrong = picks.filter((i, k) => norm(inputs[k].value) !== norm(groups[i]));
      if (wrong.length) {
        showError(err, new Error(`group ${wrong.map((i) => i + 1).join(' and ')} does not match the phrase; check what you wrote down (or start again to get a new phrase)`));
        return;
      }
      create.disabled = true;
      try {
        const res = await api<HouseholdInfo>('POST', '/v1/households', { genesis: b64(genesis) });
        await pinHousehold(res.household_id, await genesisHash(genesis));
        go(`/h/${encodeURIComponent(res.household_id)}`);
      } catch (x) {
        showError(err, x);
        create.disabled = false;
      }
    });
  });
}

// The household page.
route('/h/:hh', async (root, { hh }) => {
  if (!(await requireAccount())) return;
  let stopped = false;
  let timer: number | undefined;
  const err = h('p', { id: 'household-error' });
  mount(root, h('div', { class: 'card' }, h('h1', {}, 'Household'), h('p', { class: 'muted' }, 'Verifying the household chain…'), err));
  let hhv: Household;
  try {
    hhv = await openHousehold(hh);
  } catch (e) {
    showError(err, e);
    return;
  }
  const pollRequests = async (box: HTMLElement) => {
    if (stopped) return;
    try {
      await renderRequests(box, hhv, async () => {
        hhv = await openHousehold(hh, { refresh: true });
        await draw();
      });
    } catch (e) {
      showError(err, e);
    }
    if (!stopped) timer = window.setTimeout(() => void pollRequests(box), 3000);
  };
  const draw = async () => {
    window.clearTimeout(timer);
    const h0 = hhv;
    const adminDevice = h0.me?.role === 'admin';
    const adminAccount = h0.role === 'admin';
    const requests = h('div', { id: 'join-requests' });
    const sections: HTMLElement[] = [
      overview(h0),
      await camerasCard(h0),
      devicesCard(h0, adminDevice, async (next) => {
        hhv = next;
        await draw();
      }, err),
    ];
    if (adminAccount) sections.push(invitesCard(h0, adminDevice, requests));
    sections.push(await membersCard(h0, adminAccount));
    sections.push(hubsCard(h0, adminDevice, async (next) => {
      hhv = next;
      await draw();
    }));
    sections.push(await retentionCard(h0, adminAccount));
    sections.push(historyCard(h0));
    mount(root, err, ...sections);
    if (adminAccount) void pollRequests(requests);
  };
  await draw();
  return () => {
    stopped = true;
    window.clearTimeout(timer);
  };
});

function overview(x: Household): HTMLElement {
  const me = x.me;
  return h(
    'div',
    { class: 'card' },
    h('h1', { id: 'household-title' }, x.name),
    h(
      'p',
      { class: 'muted' },
      `Household ${x.hh} · your account: ${x.role} · chain verified to link `,
      h('span', { id: 'chain-seq' }, String(x.state.seq)),
      ' · key epoch ',
      h('span', { id: 'epoch' }, String(x.state.epoch)),
    ),
    h('p', { class: 'muted' }, 'Genesis hash (compare it with another device of the household): ', h('code', { id: 'genesis-hash', class: 'wrap' }, hex(x.state.genesisHash))),
    me
      ? h('p', { class: 'ok', id: 'this-device' }, `This browser is the household’s ${me.role} device “${me.name}”.`)
      : h(
          'p',
          { class: 'error', id: 'this-device' },
          'This browser is not a device of this household: it gets ciphertext only. Open an invite link from an admin device, or ',
          h('a', { href: `/h/${encodeURIComponent(x.hh)}/recover` }, 'use the recovery phrase'),
          '.',
        ),
    x.me === null && x.identities.length ? h('p', { class: 'ok' }, 'The recovery phrase opens the footage in this tab.') : null,
  );
}

async function camerasCard(x: Household): Promise<HTMLElement> {
  const list = h('ul', { id: 'cameras' });
  const hhBase = `/h/${encodeURIComponent(x.hh)}`;
  const card = h(
    'div',
    { class: 'card' },
    h('h2', {}, 'Cameras'),
    list,
    h(
      'p',
      { class: 'row' },
      h('a', { href: `${hhBase}/live`, id: 'household-live-grid' }, 'All cameras live'),
      h('a', { href: `${hhBase}/cams`, id: 'household-timelines' }, 'All timelines'),
      h('a', { href: `${hhBase}/shares`, id: 'household-shares' }, 'Shared clips'),
      h('a', { href: `${hhBase}/events`, id: 'household-events' }, 'Events'),
    ),
  );
  try {
    const res = await api<{ cameras: string[] }>('GET', `${hhPath(x.hh)}/cameras`);
    if (!res.cameras?.length) list.append(h('li', { class: 'muted' }, 'No recordings yet. Pair a hub below; its cameras appear here once they upload.'));
    for (const cam of res.cameras ?? []) {
      const base = `/h/${encodeURIComponent(x.hh)}/cam/${encodeURIComponent(cam)}`;
      list.append(h('li', { class: 'camera row' }, h('strong', {}, cam), h('a', { href: `${base}/live`, class: 'camera-live' }, 'Live'), h('a', { href: base, class: 'camera-timeline' }, 'Recordings'), h('a', { href: `${base}/zones`, class: 'camera-zones' }, 'Zones and masks')));
    }
  } catch (e) {
    showError(card.appendChild(h('p')), e);
  }
  return card;
}

function devicesCard(x: Household, adminDevice: boolean, changed: (h: Household) => Promise<void>, err: HTMLElement): HTMLElement {
  const rows = x.state.devices
    .filter((d) => d.role !== 'hub')
    .map((d) => {
      const me = x.me?.id === d.id;
      let action: HTMLElement | string = me ? 'this browser' : '';
      if (adminDevice && !me) {
        const b = h('button', { class: 'danger device-remove', 'data-device': d.id }, 'Remove');
        b.addEventListener('click', async () => {
          b.disabled = true;
          try {
            const link = await removeDevice(x.state, x.keys!, d.id);
            await changed(await appendLink(x, link));
          } catch (e) {
            showError(err, e);
            b.disabled = false;
          }
        });
        action = b;
      }
      return h('tr', { class: 'device', 'data-device': d.id }, h('td', {}, d.name), h('td', {}, d.role), h('td', {}, h('code', {}, d.id)), h('td', {}, action));
    });
  return h(
    'div',
    { class: 'card' },
    h('h2', {}, 'Devices'),
    h('p', { class: 'muted' }, 'From the household chain, verified in this browser. Removing a device starts a new key epoch: it cannot open anything recorded afterwards.'),
    h('table', { id: 'devices' }, h('tr', {}, h('th', {}, 'Name'), h('th', {}, 'Role'), h('th', {}, 'Device ID'), h('th', {}, '')), ...rows),
  );
}

// Invites and join requests.

const inviteKey = (id: string) => `vigil.invite.${id}`;

function invitesCard(x: Household, adminDevice: boolean, requests: HTMLElement): HTMLElement {
  const out = h('div', { id: 'invite-out' });
  const open = h('div', { id: 'invites' });
  const role = h('select', { id: 'invite-role' }, h('option', { value: 'member' }, 'member'), h('option', { value: 'admin' }, 'admin'));
  const make = h('button', { id: 'invite-create' }, 'Make an invite link');
  make.addEventListener('click', async () => {
    make.disabled = true;
    try {
      const expires = new Date(Date.now() + INVITE_TTL_MS);
      const body = await signed(x, 'invite.create', { invite: newInviteId(), role: role.value === 'admin' ? 'admin' : 'member', expires });
      const inv = await api<{ invite_id: string; expires: string }>('POST', `${hhPath(x.hh)}/invites`, body);
      const secret = randomBytes(32);
      localStorage.setItem(inviteKey(inv.invite_id), b64url(secret));
      const link = `${location.origin}/join/${encodeURIComponent(inv.invite_id)}#s=${b64url(secret)}&g=${hex(x.state.genesisHash)}`;
      mount(out, h('p', {}, 'Send this link to the new device (it is valid until ', new Date(inv.expires).toLocaleString(), ' and adds one device):'), h('p', { class: 'mono wrap', id: 'invite-link' }, link));
      await renderInvites(open, x);
    } catch (e) {
      showError(out, e);
    } finally {
      make.disabled = false;
    }
  });
  void renderInvites(open, x).catch((e) => showError(open, e));
  return h(
    'div',
    { class: 'card' },
    h('h2', {}, 'Invite a device'),
    adminDevice
      ? h('p', { class: 'muted' }, 'The new browser opens the link, signs in (with its own account or yours) and shows a code. Approve it below when it shows the same code.')
      : h('p', { class: 'muted' }, 'Only an admin device of the household can approve new devices; this browser is not one.'),
    h('div', { class: 'row' }, h('label', {}, 'Role', role), make),
    out,
    h('h3', {}, 'Open invites'),
    open,
    h('h3', {}, 'Waiting to join'),
    requests,
  );
}

// renderInvites lists the household's open invites, each with a button
// that deletes it (a change signed by this browser's admin device key).
async function renderInvites(box: HTMLElement, x: Household): Promise<void> {
  const res = await api<{ invites: { invite_id: string; role: string; expires: string }[] }>('GET', `${hhPath(x.hh)}/invites`);
  if (!res.invites.length) {
    mount(box, h('p', { class: 'muted' }, 'No open invite.'));
    return;
  }
  const err = h('p', { class: 'invite-error' });
  const rows = res.invites.map((inv) => {
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
    return h('tr', { class: 'invite', 'data-invite': inv.invite_id }, h('td', {}, h('code', {}, inv.invite_id.slice(0, 8) + '…')), h('td', {}, inv.role), h('td', {}, `until ${new Date(inv.expires).toLocaleString()}`), h('td', {}, del));
  });
  mount(box, h('table', { id: 'invite-list' }, ...rows), err);
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

async function renderRequests(box: HTMLElement, x: Household, approved: () => Promise<void>): Promise<void> {
  if (box.querySelector('button:disabled')) return; // an approval is running
  const res = await api<{ requests: JoinRequest[] }>('GET', `${hhPath(x.hh)}/join-requests`);
  const seen = box.getAttribute('data-ids') ?? '';
  const ids = res.requests.map((q) => q.request_id).join(',');
  if (seen === ids && box.childNodes.length) return;
  box.setAttribute('data-ids', ids);
  if (!res.requests.length) {
    mount(box, h('p', { class: 'muted' }, 'No device is waiting.'));
    return;
  }
  const items: HTMLElement[] = [];
  for (const q of res.requests) {
    const err = h('p');
    const s = localStorage.getItem(inviteKey(q.invite_id));
    const item = h('div', { class: 'join-request card', 'data-request': q.request_id }, h('p', {}, h('strong', {}, q.name), ` (${q.email}) asks to join as ${q.role}. Device `, h('code', {}, q.device_id)));
    if (!s) {
      item.append(h('p', { class: 'muted' }, 'The invite was made on another device: approve it there.'));
    } else {
      const secret = unb64(s);
      const proofOk = equal(await joinProof(secret, q.invite_id, q.device), unb64(q.proof));
      if (!proofOk) {
        item.append(h('p', { class: 'error' }, 'This request does not carry the invite link’s proof: it did not come from the link you sent. Decline it.'));
      } else if (!x.me || x.me.role !== 'admin') {
        item.append(h('p', { class: 'muted' }, 'Only an admin device can approve.'));
      } else {
        const code = await joinCode(secret, q.device);
        const ok = h('button', { class: 'join-approve' }, 'Same code: approve');
        ok.addEventListener('click', async () => {
          ok.disabled = true;
          try {
            const d = await parseDeviceString(q.device);
            const link = await addDevice(x.state, x.keys!, { role: q.role === 'admin' ? 'admin' : 'member', name: q.name, signPub: d.signPub, boxPub: d.boxPub });
            await api('POST', `${hhPath(x.hh)}/join-requests/${encodeURIComponent(q.request_id)}/approve`, { link: b64(link) });
            localStorage.removeItem(inviteKey(q.invite_id));
            forgetHousehold(x.hh);
            await approved();
          } catch (e) {
            showError(err, e);
            ok.disabled = false;
          }
        });
        item.append(h('p', {}, 'It should show this code: ', h('span', { class: 'code-big join-code' }, code)), h('div', { class: 'row' }, ok, declineButton(x, q, err)));
      }
    }
    if (!item.querySelector('.join-approve')) item.append(declineButton(x, q, err));
    item.append(err);
    items.push(item);
  }
  mount(box, ...items);
}

function declineButton(x: Household, q: JoinRequest, err: HTMLElement): HTMLElement {
  const no = h('button', { class: 'secondary join-decline' }, 'Decline');
  no.addEventListener('click', async () => {
    try {
      await api('DELETE', `${hhPath(x.hh)}/join-requests/${encodeURIComponent(q.request_id)}`);
      no.closest('.join-request')?.remove();
    } catch (e) {
      showError(err, e);
    }
  });
  return no;
}

async function membersCard(x: Household, adminAccount: boolean): Promise<HTMLElement> {
  const err = h('p');
  const table = h('table', { id: 'members' });
  const card = h('div', { class: 'card' }, h('h2', {}, 'Accounts'), h('p', { class: 'muted' }, 'Accounts may fetch the household’s sealed recordings; only the devices above can open them.'), table, err);
  try {
    const me = await account();
    const res = await api<{ members: { account_id: string; email: string; role: string }[] }>('GET', `${hhPath(x.hh)}/members`);
    mount(table, h('tr', {}, h('th', {}, 'E-mail'), h('th', {}, 'Role'), h('th', {}, '')));
    for (const m of res.members) {
      let action: HTMLElement | string = m.account_id === me?.account_id ? 'you' : '';
      if (adminAccount && m.account_id !== me?.account_id) {
        const b = h('button', { class: 'secondary member-remove', 'data-account': m.account_id }, 'Remove');
        b.addEventListener('click', async () => {
          try {
            const body = await signed(x, 'member.remove', { account: m.account_id });
            await api('DELETE', `${hhPath(x.hh)}/members/${encodeURIComponent(m.account_id)}`, body);
            b.closest('tr')?.remove();
          } catch (e) {
            showError(err, e);
          }
        });
        action = b;
      }
      table.append(h('tr', { class: 'member' }, h('td', {}, m.email), h('td', {}, m.role), h('td', {}, action)));
    }
  } catch (e) {
    showError(err, e);
  }
  return card;
}

function hubsCard(x: Household, adminDevice: boolean, changed: (h: Household) => Promise<void>): HTMLElement {
  const hubs = x.state.devices.filter((d: Device) => d.role === 'hub');
  const err = h('p', { id: 'pair-status' });
  const code = h('input', { id: 'pair-code', autocomplete: 'off', spellcheck: 'false', placeholder: 'the code the hub shows' });
  const go1 = h('button', { type: 'submit', id: 'pair-submit' }, 'Pair');
  const form = h('form', { class: 'row' }, h('label', {}, 'Pairing code', code), go1);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    go1.disabled = true;
    err.className = 'muted';
    err.textContent = 'Waiting for the hub…';
    try {
      const res = await pairHub(x, code.value);
      err.className = 'ok';
      err.textContent = `Hub “${res.hub.name}” paired.`;
      await changed(res.household);
    } catch (x2) {
      showError(err, x2);
      go1.disabled = false;
    }
  });
  return h(
    'div',
    { class: 'card' },
    h('h2', {}, 'Hubs'),
    h('ul', { id: 'hubs' }, ...(hubs.length ? hubs.map((d) => h('li', { class: 'hub' }, d.name, ' ', h('code', {}, d.id))) : [h('li', { class: 'muted' }, 'No hub yet.')])),
    adminDevice ? form : h('p', { class: 'muted' }, 'An admin device pairs hubs.'),
    err,
  );
}

async function retentionCard(x: Household, adminAccount: boolean): Promise<HTMLElement> {
  const err = h('p', { id: 'retention-status' });
  const card = h('div', { class: 'card' }, h('h2', {}, 'Retention'));
  try {
    const s = await api<{ quota_bytes: number; max_age_seconds: number; default_quota_bytes: number; default_max_age_seconds: number }>('GET', `${hhPath(x.hh)}/settings`);
    const gb = (b: number) => Math.round((b / 1e9) * 100) / 100;
    const quota = h('input', { id: 'retention-quota', type: 'number', min: '0', step: 'any', value: String(gb(s.quota_bytes)) });
    const days = h('input', { id: 'retention-days', type: 'number', min: '0', step: 'any', value: String(Math.round((s.max_age_seconds / 86400) * 100) / 100) });
    const save = h('button', { type: 'submit', id: 'retention-save' }, 'Save');
    const form = h('form', { class: 'stack' }, h('label', {}, `Storage quota in GB (0: the service’s ${gb(s.default_quota_bytes)} GB)`, quota), h('label', {}, `Delete recordings older than (days; 0: ${s.default_max_age_seconds ? `the service’s ${s.default_max_age_seconds / 86400} days` : 'keep until the quota needs the room'})`, days), adminAccount ? save : null);
    if (!adminAccount) {
      quota.disabled = true;
      days.disabled = true;
    }
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      err.textContent = '';
      try {
        const body = await signed(x, 'settings.set', { quota_bytes: Math.round(Number(quota.value) * 1e9), max_age_seconds: Math.round(Number(days.value) * 86400) });
        await api('PUT', `${hhPath(x.hh)}/settings`, body);
        err.className = 'ok';
        err.textContent = 'Saved.';
      } catch (x2) {
        showError(err, x2);
      }
    });
    card.append(
      h('p', { class: 'muted' }, 'When the quota is full the oldest recordings are deleted first. A change is signed by this browser’s admin device key; the cloud refuses a quota below what the hubs uploaded in the last day.'),
      form,
      err,
    );
  } catch (e) {
    card.append(err);
    showError(err, e);
  }
  return card;
}

// historyCard summarises the household's history as this browser verified
// it (the audit runs in the background) and links to the history page.
function historyCard(x: Household): HTMLElement {
  const status = h('p', { id: 'history-summary', class: 'muted', 'data-state': 'loading' }, 'Verifying the household’s history against the transparency log…');
  const card = h(
    'div',
    { class: 'card' },
    h('h2', {}, 'History'),
    h('p', { class: 'muted' }, 'Every access to this household’s data and every change is a record in a public transparency log, sealed to the household; this browser checks it.'),
    status,
    h('p', {}, h('a', { href: `/h/${encodeURIComponent(x.hh)}/history`, id: 'household-history' }, 'Open the history')),
  );
  verifyHistory(x.hh, { window: 0 })
    .then((v) => {
      const cp = v.report.checkpoint;
      const cos = cp.cosigners?.length ? `, cosigned by ${cp.cosigners.join(', ')}` : '';
      status.dataset.state = v.ok ? 'verified' : 'warning';
      const severe = v.findings.filter((f) => f.severe);
      if (v.ok) {
        status.className = 'ok';
        status.textContent = `Verified up to record ${v.report.state.recordN}, in the log’s checkpoint of ${cp.size} entries${cos}; checked ${new Date(v.report.state.checked ?? Date.now()).toLocaleString()}.`;
      } else {
        status.className = 'error';
        status.setAttribute('role', 'alert');
        status.textContent = `Warning: ${severe.length} problem${severe.length === 1 ? '' : 's'} found in the household’s history or the log: ${severe[0]?.what ?? ''}${severe.length > 1 ? ' (see the history for all)' : ''}`;
      }
    })
    .catch((e) => {
      status.dataset.state = 'error';
      showError(status, new Error(`The history could not be verified: ${e instanceof Error ? e.message : String(e)}`));
    });
  return card;
}
