// Pages: this browser as a device (/device), joining a household by
// approval (/join/:id, the invite link an admin device made) and opening a
// household's footage with its recovery phrase (/h/:hh/recover).
//
// Joining: the link is /join/ID#s=SECRET&g=GENESIS&n=HOUSEHOLD&by=INVITER.
// The fragment never reaches the cloud. Before sign-in the page says who
// invited whom to which household from n and by: that is the inviter's
// claim, shown as text only; what this browser trusts is the chain it
// verifies from GENESIS after the approval (its household name included).
// Sign-in and sign-up happen on the page (auth.ts signInForm,
// signUpForm), so the invite is never lost. Then this browser posts its
// public device identity with a proof (HMAC keyed by the secret) and shows
// a six-digit code derived from the secret and its identity; the admin
// device shows the same code for the request it sees, and approves only
// when they match. The genesis hash pinned here comes from the admin
// device, not from the cloud. (Go: member.JoinProof, member.JoinCode.)
// To read the invite and follow the request it presents the invite's key
// (member.InviteKey, a one-way derivation of the secret whose hash is the
// invite's ID) in request bodies, never in a path or a query.
//
// Must never: send the invite secret (only the key and the proof leave), or trust the
// names in the link for anything but showing them.
import './enrol.css';
import { api, ApiError, b64, unb64 } from '../api';
import { inviteIdForKey, inviteKey } from '../crypto/action';
import { hmacSha256, unhex, utf8 } from '../crypto/bytes';
import { recoveryIdentities } from '../crypto/chain';
import { createDeviceKeys, deviceString, loadDeviceKeys, type DeviceKeys } from '../crypto/devicekeys';
import { openHousehold, pinHousehold, pinnedGenesis } from '../household';
import { copyButton, pageHead, securityDetails } from '../kit';
import { go, route } from '../router';
import { bindDevice } from '../session';
import { h, mount, showError } from '../ui';
import { account, clip, rememberNext, requireAccount, signInForm, signUpForm, type Account } from './auth';

/** deviceKeys returns this browser's device keys, creating them on first use. */
export async function deviceKeys(): Promise<DeviceKeys> {
  const keys = (await loadDeviceKeys()) ?? (await createDeviceKeys());
  void bindDevice(); // the history names this device from now on
  return keys;
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

/** deviceWord is what people call this device: "phone", "tablet" or "computer". */
export function deviceWord(): string {
  const ua = navigator.userAgent;
  if (/iPad|Tablet/.test(ua)) return 'tablet';
  if (/Android|iPhone|Mobile/.test(ua)) return 'phone';
  if (navigator.maxTouchPoints > 0 && Math.min(screen.width, screen.height) < 600) return 'phone';
  return 'computer';
}

/**
 * memberships lists the households this browser is a device of, among the
 * account's households this browser pinned (a household it never pinned
 * is not opened here: that would pin the cloud's genesis).
 */
async function memberships(): Promise<{ hh: string; name: string }[]> {
  const res = await api<{ households: { household_id: string; name: string }[] | null }>('GET', '/v1/households');
  const out: { hh: string; name: string }[] = [];
  for (const x of res.households ?? []) {
    if (!(await pinnedGenesis(x.household_id))) continue;
    try {
      const hh = await openHousehold(x.household_id);
      if (hh.me) out.push({ hh: x.household_id, name: hh.name || x.name });
    } catch {
      /* not verifiable now: not listed */
    }
  }
  return out;
}

/** openInvite goes to an invite link pasted as text (this service's /join/ links only). */
function openInvite(text: string): void {
  let u: URL;
  try {
    u = new URL(text.trim(), location.origin);
  } catch {
    throw new Error('That is not a link. Paste the whole invite link, starting with http.');
  }
  if (!/^\/join\/[^/]+\/?$/.test(u.pathname) || !u.hash.includes('s=')) throw new Error('That is not a whole invite link. Ask for the link again and paste all of it.');
  if (u.origin !== location.origin) throw new Error(`This invite is for another Vigil service (${u.host}). Open the link itself on this device.`);
  go(u.pathname + u.hash);
}

route('/device', async (root) => {
  const err = h('p', { id: 'device-error' });
  mount(root, pageHead('This device'), h('p', { class: 'muted' }, 'Loading…'));
  let k: DeviceKeys;
  let a: Account | null = null;
  let mine: { hh: string; name: string }[] = [];
  try {
    k = await deviceKeys();
    a = await account().catch(() => null);
    if (a) mine = await memberships().catch(() => []);
  } catch (e) {
    mount(root, pageHead('This device'), err);
    showError(err, e);
    return;
  }
  const word = deviceWord();
  const sections: (HTMLElement | null)[] = [pageHead('This device')];
  if (mine.length) {
    sections.push(
      h(
        'section',
        { class: 'card', id: 'device-households', 'aria-labelledby': 'dh-title' },
        h('h2', { id: 'dh-title' }, `This ${word} is in`),
        h('ul', { class: 'list' }, ...mine.map((m) => h('li', { class: 'item' }, h('a', { class: 'grow', href: `/h/${encodeURIComponent(m.hh)}` }, m.name)))),
      ),
    );
  }
  const paste = h('input', { id: 'device-invite', type: 'url', inputmode: 'url', autocomplete: 'off', placeholder: 'https://…/join/…', required: true });
  const pasteErr = h('p', { id: 'device-invite-error' });
  const pasteForm = h('form', { class: 'stack', id: 'device-invite-form' }, h('label', { class: 'field' }, h('span', {}, 'Paste the invite link'), paste), h('div', {}, h('button', { type: 'submit', id: 'device-invite-open' }, 'Open the invite')), pasteErr);
  pasteForm.addEventListener('submit', (e) => {
    e.preventDefault();
    pasteErr.textContent = '';
    try {
      openInvite(paste.value);
    } catch (x) {
      showError(pasteErr, x);
    }
  });
  sections.push(
    h(
      'section',
      { class: 'card', id: 'device-join', 'aria-labelledby': 'dj-title' },
      h('h2', { id: 'dj-title' }, mine.length ? 'Join another household' : `Add this ${word} to your household`),
      h('p', {}, 'Ask a household member for an invite link. They make it in the app under Settings, “Invite a device”.'),
      h('ul', { class: 'steps' }, h('li', {}, `Open the link on this ${word}, or scan its QR code with this ${word}’s camera.`), h('li', {}, 'Or paste the link here:')),
      pasteForm,
      a ? null : h('p', { class: 'muted' }, 'You sign in or create an account on the invite page.'),
      a && !mine.length ? h('p', { class: 'muted' }, 'Starting from scratch? ', h('a', { href: '/h/new', id: 'device-new-household' }, 'Create a household'), ' for your own cameras.') : null,
    ),
  );
  const dev = deviceString(k);
  const details = securityDetails(
    h('p', {}, `This ${word}’s public identity. Its private keys never leave this browser. An admin device adds it to a household’s chain (an invite link, or “vigil household add-device” with the identity below).`),
    h('p', {}, 'Device ID: ', h('code', { id: 'device-id', class: 'wrap' }, k.id)),
    h('p', {}, 'Device identity:'),
    h('pre', { class: 'mono wrap', id: 'device-string' }, dev),
    copyButton(() => dev, { id: 'device-copy', label: 'Copy the identity' }),
  );
  // A device in no household is what someone adding it by hand needs to see.
  if (!mine.length) details.open = true;
  sections.push(h('div', { class: 'device-details' }, details), err);
  mount(root, ...sections);
});

/** Join page states (data-state on #join-page; data-checks counts the answers "still pending"). */
type JoinState = 'broken' | 'signed-out' | 'loading' | 'ask' | 'waiting' | 'approved' | 'declined' | 'expired' | 'member' | 'error';

route('/join/:id', async (root, { id }) => {
  const frag = new URLSearchParams(location.hash.slice(1));
  const household = clip(frag.get('n') ?? '');
  const by = clip(frag.get('by') ?? '');
  const word = deviceWord();
  const page = h('div', { id: 'join-page' });
  mount(root, page);
  let stopped = false;
  let timer: number | undefined;
  let onVisible: (() => void) | undefined;
  const set = (state: JoinState, ...children: (Node | null)[]) => {
    if (stopped) return;
    page.dataset.state = state;
    mount(page, ...children);
  };
  const hhName = () => h('strong', { id: 'join-household', class: 'wrap' }, household || 'their household');
  const inviter = () => (by ? h('strong', { id: 'join-inviter', class: 'wrap' }, by) : null);
  const whoText = by || 'the person who invited you';
  const intro = () => h('p', { class: 'join-intro' }, ...(by ? [inviter(), ' invited you to join ', hhName(), '.'] : ['You are invited to join ', hhName(), '.']));
  const title = () => pageHead(household ? `Join “${household}”` : 'Join a household');

  let secret: Uint8Array;
  let genesis: Uint8Array;
  let key: Uint8Array;
  try {
    secret = unb64(frag.get('s') ?? '');
    genesis = unhex(frag.get('g') ?? '');
    if (secret.length !== 32 || genesis.length !== 32) throw new Error();
    // The invite is named by a hash of its key: a path that does not
    // match the secret is a damaged link.
    key = await inviteKey(secret);
    if ((await inviteIdForKey(key)) !== id) throw new Error();
  } catch {
    const err = h('p', { id: 'join-error', class: 'error', role: 'alert' }, 'This invite link is incomplete: part of it is missing or damaged.');
    set('broken', pageHead('Join a household'), h('div', { class: 'card' }, err, h('p', {}, 'Copy the whole link again (it is long: everything after “#” matters), or ask for a new one.')));
    return;
  }

  const expired = () =>
    set(
      'expired',
      title(),
      h('div', { class: 'card' }, h('p', { id: 'join-error', class: 'error', role: 'alert' }, 'This invite link has expired or was already used.'), h('p', {}, `Ask ${whoText} for a new invite link. Invite links work once, for a day.`)),
    );

  const showAuth = () => {
    // The header's Sign in and Sign up come back here too.
    rememberNext(location.pathname + location.search + location.hash);
    const box = h('div', { class: 'card', id: 'join-auth' });
    const upTab = h('button', { type: 'button', id: 'join-tab-signup', 'aria-pressed': 'true' }, 'I’m new to Vigil');
    const inTab = h('button', { type: 'button', id: 'join-tab-signin', 'aria-pressed': 'false' }, 'I have an account');
    const tabs = h('div', { class: 'segmented', role: 'group', 'aria-label': 'Account' }, upTab, inTab);
    const show = (up: boolean) => {
      upTab.setAttribute('aria-pressed', String(up));
      inTab.setAttribute('aria-pressed', String(!up));
      mount(box, up ? signUpForm(() => void step(), { title: 'Create your account', onConfirmStep: () => (tabs.hidden = true) }) : signInForm(() => void step(), { title: 'Sign in' }));
    };
    upTab.addEventListener('click', () => show(true));
    inTab.addEventListener('click', () => show(false));
    show(true);
    set(
      'signed-out',
      title(),
      intro(),
      h('p', {}, `To add this ${word}, first create an account or sign in. Only the household’s own devices can open its cameras and recordings.`),
      tabs,
      box,
    );
  };

  const showAsk = async (a: Account) => {
    set('loading', title(), intro(), h('p', { class: 'muted' }, 'Opening the invite…'));
    let inv: { household_id: string; household_name: string; role: string; expires: string };
    try {
      inv = await api('POST', '/v1/invites/open', { key: b64(key) });
    } catch (e) {
      if (e instanceof ApiError && (e.status === 404 || e.status === 410)) return expired();
      const err = h('p', { id: 'join-error' });
      set('error', title(), intro(), h('div', { class: 'card' }, err));
      showError(err, e);
      return;
    }
    // Already in it? (Only a household this browser pinned is opened.)
    if (await pinnedGenesis(inv.household_id)) {
      try {
        const x = await openHousehold(inv.household_id);
        if (x.me) {
          set('member', title(), h('div', { class: 'card' }, h('p', { class: 'ok' }, `This ${word} is already in “${x.name}”.`), h('a', { class: 'btn', id: 'join-open', href: `/h/${encodeURIComponent(inv.household_id)}` }, `Open ${x.name}`)));
          return;
        }
      } catch {
        /* not verifiable now: ask to join as usual */
      }
    }
    const name = h('input', { id: 'join-device-name', required: true, maxlength: '64', autocomplete: 'off', value: defaultDeviceName() });
    const ask = h('button', { type: 'submit', id: 'join-submit' }, 'Ask to join');
    const err = h('p', { id: 'join-error' });
    const form = h(
      'form',
      { class: 'stack', id: 'join-form' },
      h('label', { class: 'field' }, h('span', {}, `Name this ${word}`), name, h('small', { class: 'muted' }, `So that ${whoText} knows it is you, like “Sam’s ${word}”.`)),
      h('div', {}, ask),
      err,
    );
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      void request(name.value.trim(), ask, err);
    });
    set(
      'ask',
      title(),
      intro(),
      h(
        'div',
        { class: 'card' },
        h('p', {}, inv.role === 'admin' ? `This ${word} will see the cameras and recordings, and can add devices and change settings.` : `This ${word} will see the cameras and recordings.`),
        form,
        h('p', { class: 'muted wrap' }, 'Signed in as ', h('span', { id: 'join-email' }, a.email), '.'),
      ),
    );
  };

  const request = async (deviceName: string, button: HTMLButtonElement | null, err: HTMLElement) => {
    if (button) button.disabled = true;
    err.textContent = '';
    try {
      const k = await deviceKeys();
      const dev = deviceString(k);
      const proof = await joinProof(secret, id, dev);
      const q = await api<{ request_id: string; household_id: string }>('POST', '/v1/invites/join', { key: b64(key), device: dev, name: deviceName, proof: b64(proof) });
      await waiting(q, await joinCode(secret, dev), deviceName);
    } catch (x) {
      if (x instanceof ApiError && (x.status === 404 || x.status === 410)) return expired();
      showError(err, x);
      if (button) button.disabled = false;
    }
  };

  const waiting = async (q: { request_id: string; household_id: string }, code: string, deviceName: string) => {
    const status = h('p', { id: 'join-status', class: 'join-status', role: 'status' }, h('span', { class: 'spinner', 'aria-hidden': 'true' }), h('span', {}, `Waiting for ${whoText} to approve…`));
    const err = h('p', { id: 'join-error' });
    set(
      'waiting',
      title(),
      h(
        'div',
        { class: 'card join-wait center' },
        h('p', { class: 'join-show' }, `Show this code to ${whoText}. They approve this ${word} on their device.`),
        h('p', { class: 'code-big join-code-big', id: 'join-code' }, code),
        status,
        h('p', { class: 'muted' }, by ? `${by} sees “${deviceName}” in the app under Settings, “Waiting to join”, with this code. Keep this page open.` : `They see “${deviceName}” in the app under Settings, “Waiting to join”, with this code. Keep this page open.`),
        err,
      ),
    );
    const poll = async () => {
      window.clearTimeout(timer);
      if (stopped) return;
      let st: { status: string };
      try {
        st = await api<{ status: string }>('POST', '/v1/invites/status', { key: b64(key), request_id: q.request_id });
        err.textContent = '';
      } catch (e) {
        if (e instanceof ApiError && e.status === 404) return expired();
        // Offline for a moment: keep waiting.
        err.className = 'muted';
        err.textContent = `Cannot reach Vigil right now (${(e as Error).message}). Still waiting…`;
        timer = window.setTimeout(() => void poll(), 4000);
        return;
      }
      if (st.status === 'approved') return approved(q.household_id);
      if (st.status === 'declined') return declined(deviceName);
      page.dataset.checks = String(Number(page.dataset.checks ?? 0) + 1); // still pending
      timer = window.setTimeout(() => void poll(), 2000);
    };
    onVisible = () => {
      if (!document.hidden && page.dataset.state === 'waiting') void poll();
    };
    document.addEventListener('visibilitychange', onVisible);
    timer = window.setTimeout(() => void poll(), 1000);
  };

  const approved = async (hhId: string) => {
    const status = h('p', { id: 'join-status', role: 'status', class: 'ok' }, 'Approved. Opening the household…');
    const err = h('p', { id: 'join-error' });
    set('approved', title(), h('div', { class: 'card' }, status, err));
    try {
      await pinHousehold(hhId, genesis);
      const x = await openHousehold(hhId, { refresh: true });
      if (!x.me) throw new Error(`Approved, but this ${word} is not in the household this browser checked. Ask ${whoText} to invite it again.`);
      if (!stopped) go(`/h/${encodeURIComponent(hhId)}`);
    } catch (e) {
      status.textContent = '';
      showError(err, e);
    }
  };

  const declined = (deviceName: string) => {
    const again = h('button', { type: 'button', id: 'join-retry', class: 'secondary' }, 'Ask again');
    const err = h('p', { id: 'join-error' });
    again.addEventListener('click', () => void request(deviceName, again, err));
    set(
      'declined',
      title(),
      h(
        'div',
        { class: 'card' },
        h('h2', { id: 'join-declined' }, 'Not approved'),
        h('p', {}, `${by || 'The household'} did not approve this ${word}, or another device used this invite first.`),
        h('p', {}, `What to do: ask ${whoText} to open Settings and check that the codes match, then tap “Ask again”. If the invite was used, ask for a new invite link.`),
        h('div', { class: 'row' }, again),
        err,
      ),
    );
  };

  const step = async () => {
    const a = await account().catch(() => null);
    if (stopped) return;
    if (!a) showAuth();
    else await showAsk(a);
  };
  await step();
  return () => {
    stopped = true;
    window.clearTimeout(timer);
    if (onVisible) document.removeEventListener('visibilitychange', onVisible);
  };
});

route('/h/:hh/recover', async (root, { hh }) => {
  if (!(await requireAccount())) return;
  const err = h('p', { id: 'recover-error' });
  const phrase = h('input', { id: 'recover-phrase', class: 'mono', autocomplete: 'off', autocapitalize: 'off', spellcheck: 'false', required: true });
  const open = h('button', { type: 'submit', id: 'recover-submit' }, 'Open the recordings');
  const form = h('form', { class: 'stack' }, h('label', { class: 'field' }, h('span', {}, 'Recovery phrase'), phrase), h('div', {}, open), err);
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
    pageHead('Open with the recovery phrase', { back: { href: `/h/${encodeURIComponent(hh)}/settings`, label: 'Settings' } }),
    h(
      'div',
      { class: 'card' },
      h('p', {}, 'The recovery phrase you wrote down when the household was made opens all its recordings in this tab, until you close or reload it. The phrase is not stored.'),
      form,
      securityDetails(
        h('p', {}, 'The phrase unwraps every key epoch of the household. It cannot sign chain links: it cannot add or remove devices or pair hubs. For that, an admin device approves this browser with an invite link. If every admin device is lost, make a new household and pair the hubs again; the old recordings stay readable with the phrase.'),
      ),
    ),
  );
});
