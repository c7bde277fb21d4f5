// Pages: this browser's device identity (/device), joining a household by
// approval (/join/:id#s=SECRET&g=GENESIS, the invite link an admin device
// made) and opening a household's footage with its recovery phrase
// (/h/:hh/recover).
//
// Joining: the invite secret and the household's genesis hash travel in the
// URL fragment, so the cloud never sees them. This browser posts its public
// device identity with a proof (HMAC keyed by the secret) and shows a
// six-digit code derived from the secret and its identity; the admin device
// shows the same code for the request it sees, and approves only when they
// match. The genesis hash pinned here comes from the admin device, not from
// the cloud. (Go: member.JoinProof, member.JoinCode.)
import { api, unb64 } from '../api';
import { hmacSha256, unhex, utf8 } from '../crypto/bytes';
import { recoveryIdentities } from '../crypto/chain';
import { createDeviceKeys, deviceString, loadDeviceKeys, type DeviceKeys } from '../crypto/devicekeys';
import { openHousehold, pinHousehold } from '../household';
import { go, route } from '../router';
import { h, mount, showError } from '../ui';
import { requireAccount } from './auth';

/** deviceKeys returns this browser's device keys, creating them on first use. */
export async function deviceKeys(): Promise<DeviceKeys> {
  return (await loadDeviceKeys()) ?? (await createDeviceKeys());
}

/** joinProof is HMAC-SHA-256(secret, "vigil join proof v1\n" + invite + "\n" + device). */
export function joinProof(secret: Uint8Array, invite: string, device: string): Promise<Uint8Array> {
  return hmacSha256(secret, utf8(`vigil join proof v1\n${invite}\n${device}`));
}

/** joinCode is the six-digit code "123 456" both the joining and the admin device show. */
export async function joinCode(secret: Uint8Array, device: string): Promise<string> {
  const m = await hmacSha256(secret, utf8(`vigil join code v1\n${device}`));
  const n = (m[0] * 2 ** 24 + m[1] * 2 ** 16 + m[2] * 2 ** 8 + m[3]) % 1_000_000;
  const s = String(n).padStart(6, '0');
  return `${s.slice(0, 3)} ${s.slice(3)}`;
}

export function defaultDeviceName(): string {
  const ua = navigator.userAgent;
  const browser = /Edg\//.test(ua) ? 'Edge' : /Firefox\//.test(ua) ? 'Firefox' : /Chrome\//.test(ua) ? 'Chrome' : /Safari\//.test(ua) ? 'Safari' : 'Browser';
  const os = /Android/.test(ua) ? 'Android' : /iPhone|iPad/.test(ua) ? 'iOS' : /Mac OS/.test(ua) ? 'Mac' : /Windows/.test(ua) ? 'Windows' : /Linux/.test(ua) ? 'Linux' : '';
  return os ? `${browser} on ${os}` : browser;
}

route('/device', async (root) => {
  const err = h('p');
  mount(root, h('div', { class: 'card' }, h('h1', {}, 'This device'), h('p', { class: 'muted' }, 'Loading the device keys…')));
  try {
    const k = await deviceKeys();
    mount(
      root,
      h(
        'div',
        { class: 'card' },
        h('h1', {}, 'This device'),
        h('p', { class: 'muted' }, 'This browser’s public device identity. Its private keys never leave this browser. An admin device adds it to a household’s chain (an invite link, or vigil household add-device).'),
        h('p', {}, 'Device ID: ', h('code', { id: 'device-id' }, k.id)),
        h('p', {}, 'Device identity:'),
        h('pre', { class: 'mono wrap', id: 'device-string' }, deviceString(k)),
        err,
      ),
    );
  } catch (e) {
    mount(root, h('div', { class: 'card' }, h('h1', {}, 'This device'), err));
    showError(err, e);
  }
});

route('/join/:id', async (root, { id }) => {
  const frag = new URLSearchParams(location.hash.slice(1));
  const err = h('p', { id: 'join-error' });
  const card = h('div', { class: 'card' }, h('h1', {}, 'Join a household'), err);
  mount(root, card);
  let secret: Uint8Array;
  let genesis: Uint8Array;
  try {
    secret = unb64(frag.get('s') ?? '');
    genesis = unhex(frag.get('g') ?? '');
    if (secret.length !== 32 || genesis.length !== 32) throw new Error();
  } catch {
    showError(err, new Error('this invite link is incomplete (the part after # is missing or damaged); copy the whole link again'));
    return;
  }
  if (!(await requireAccount())) return;
  let stopped = false;
  let timer: number | undefined;
  try {
    const inv = await api<{ household_id: string; household_name: string; role: string; expires: string }>('GET', `/v1/invites/${encodeURIComponent(id)}`);
    const name = h('input', { id: 'join-device-name', required: true, maxlength: '64', value: defaultDeviceName() });
    const ask = h('button', { type: 'submit', id: 'join-submit' }, 'Ask to join');
    const form = h('form', { class: 'stack' }, h('label', {}, 'Name of this device', name), ask);
    mount(
      card,
      h('h1', {}, `Join “${inv.household_name}”`),
      h('p', {}, `You are invited to add this browser to the household as a ${inv.role} device. An admin device of the household approves it after comparing a code.`),
      form,
      err,
    );
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      ask.disabled = true;
      err.textContent = '';
      try {
        const k = await deviceKeys();
        const dev = deviceString(k);
        const proof = await joinProof(secret, id, dev);
        const q = await api<{ request_id: string; household_id: string }>('POST', `/v1/invites/${encodeURIComponent(id)}/requests`, { device: dev, name: name.value.trim(), proof: btoa(String.fromCharCode(...proof)) });
        const code = await joinCode(secret, dev);
        const status = h('p', { id: 'join-status', class: 'muted' }, 'Waiting for an admin device to approve…');
        mount(
          card,
          h('h1', {}, `Join “${inv.household_name}”`),
          h('p', {}, 'Check that the admin device shows this code for “', name.value.trim(), '”:'),
          h('p', { class: 'code-big', id: 'join-code' }, code),
          status,
          err,
        );
        const poll = async () => {
          if (stopped) return;
          try {
            const st = await api<{ status: string }>('GET', `/v1/invites/${encodeURIComponent(id)}/requests/${encodeURIComponent(q.request_id)}`);
            if (st.status === 'approved') {
              await pinHousehold(q.household_id, genesis);
              const hh = await openHousehold(q.household_id, { refresh: true });
              if (!hh.me) throw new Error('the admin approved, but this device is not in the household chain this browser verified; ask the admin to try again');
              go(`/h/${encodeURIComponent(q.household_id)}`);
              return;
            }
            if (st.status === 'declined') {
              showError(status, new Error('the request was declined (or another device used this invite); ask the admin for a new invite link'));
              return;
            }
          } catch (e) {
            showError(err, e);
            return;
          }
          timer = window.setTimeout(() => void poll(), 1000);
        };
        void poll();
      } catch (x) {
        showError(err, x);
        ask.disabled = false;
      }
    });
  } catch (e) {
    showError(err, e);
  }
  return () => {
    stopped = true;
    window.clearTimeout(timer);
  };
});

route('/h/:hh/recover', async (root, { hh }) => {
  if (!(await requireAccount())) return;
  const err = h('p', { id: 'recover-error' });
  const phrase = h('input', { id: 'recover-phrase', class: 'mono', autocomplete: 'off', spellcheck: 'false', required: true });
  const open = h('button', { type: 'submit', id: 'recover-submit' }, 'Open the footage');
  const form = h('form', { class: 'stack' }, h('label', {}, 'Recovery phrase', phrase), open);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    open.disabled = true;
    err.textContent = '';
    try {
      const x = await openHousehold(hh);
      const ids = await recoveryIdentities(x.state, phrase.value);
      phrase.value = '';
      // Held in this tab's memory only: the phrase is never stored.
      x.identities = ids;
      go(`/h/${encodeURIComponent(hh)}`);
    } catch (x) {
      showError(err, x);
      open.disabled = false;
    }
  });
  mount(
    root,
    h(
      'div',
      { class: 'card' },
      h('h1', {}, 'Open with the recovery phrase'),
      h('p', {}, 'The recovery phrase unwraps every key epoch of the household, so this tab can watch and play the recordings until it is closed or reloaded. The phrase is not stored.'),
      h('p', { class: 'muted' }, 'It cannot sign chain links: it cannot add or remove devices or pair hubs. For that, an admin device approves this browser with an invite link. If every admin device is lost, make a new household and pair the hubs again; the old recordings stay readable with the phrase.'),
      form,
      err,
    ),
  );
});
