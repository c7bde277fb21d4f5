// Pages: sign-up, sign-in (passkey; password + TOTP), the account page
// (passkeys, sign-out). The header is web/src/shell.ts.
import { api, ApiError, setCSRF } from '../api';
import { go, route } from '../router';
import { refreshShell } from '../shell';
import { h, mount, showError } from '../ui';

export interface Account {
  account_id: string;
  email: string;
  second_factor?: string;
}

let current: Promise<Account | null> | undefined;

/** account returns the signed-in account, or null (cached until sign-in or sign-out). */
export function account(refresh = false): Promise<Account | null> {
  if (!current || refresh) {
    current = api<Account>('GET', '/v1/account').catch((e) => {
      if (e instanceof ApiError && e.status === 401) return null;
      current = undefined;
      throw e;
    });
  }
  return current;
}

const nextKey = 'vigil.next';

/**
 * requireAccount returns the signed-in account, or sends the browser to the
 * sign-in page (coming back to this page, fragment included, afterwards).
 */
export async function requireAccount(): Promise<Account | null> {
  const a = await account();
  if (!a) {
    sessionStorage.setItem(nextKey, location.pathname + location.search + location.hash);
    go('/signin');
  }
  return a;
}

function afterSignIn(): void {
  const next = sessionStorage.getItem(nextKey);
  sessionStorage.removeItem(nextKey);
  void refreshShell(true);
  go(next && next.startsWith('/') && !next.startsWith('//') ? next : '/');
}

export async function signOut(): Promise<void> {
  try {
    await api('DELETE', '/v1/sessions/current');
  } catch {
    /* signed out already */
  }
  setCSRF('');
  current = Promise.resolve(null);
  await refreshShell();
  go('/signin');
}

function field(label: string, attrs: Record<string, string | boolean>): [HTMLLabelElement, HTMLInputElement] {
  const input = h('input', attrs);
  return [h('label', {}, label, input), input];
}

// Passkeys (WebAuthn): the cloud's options are JSON with base64url fields;
// the browser turns them into the binary form and back.
type PKC = typeof PublicKeyCredential & {
  parseCreationOptionsFromJSON(o: unknown): PublicKeyCredentialCreationOptions;
  parseRequestOptionsFromJSON(o: unknown): PublicKeyCredentialRequestOptions;
};

function passkeysAvailable(): boolean {
  return typeof PublicKeyCredential !== 'undefined' && typeof (PublicKeyCredential as PKC).parseRequestOptionsFromJSON === 'function';
}

async function passkeySignIn(): Promise<void> {
  const begin = await api<{ ceremony: string; options: { publicKey: unknown } }>('POST', '/v1/passkeys/login/begin', { type: 'browser' });
  const publicKey = (PublicKeyCredential as PKC).parseRequestOptionsFromJSON(begin.options.publicKey);
  let cred: Credential | null;
  try {
    cred = await navigator.credentials.get({ publicKey });
  } catch (e) {
    throw new Error(`the passkey was not used (${(e as Error).message})`);
  }
  if (!cred) throw new Error('no passkey was chosen');
  const res = await api<{ csrf: string }>('POST', `/v1/passkeys/login/finish?ceremony=${encodeURIComponent(begin.ceremony)}`, (cred as PublicKeyCredential).toJSON());
  setCSRF(res.csrf);
}

async function passkeyRegister(): Promise<void> {
  const begin = await api<{ ceremony: string; options: { publicKey: unknown } }>('POST', '/v1/passkeys/register/begin', {});
  const publicKey = (PublicKeyCredential as PKC).parseCreationOptionsFromJSON(begin.options.publicKey);
  let cred: Credential | null;
  try {
    cred = await navigator.credentials.create({ publicKey });
  } catch (e) {
    throw new Error(`no passkey was made (${(e as Error).message})`);
  }
  if (!cred) throw new Error('no passkey was made');
  await api('POST', `/v1/passkeys/register/finish?ceremony=${encodeURIComponent(begin.ceremony)}`, (cred as PublicKeyCredential).toJSON());
}

route('/signin', (root) => {
  const err = h('p', { id: 'signin-error' });
  const [le, email] = field('E-mail', { type: 'email', name: 'email', id: 'signin-email', autocomplete: 'username', required: true });
  const [lp, password] = field('Password', { type: 'password', name: 'password', id: 'signin-password', autocomplete: 'current-password', required: true });
  const [lc, code] = field('Authenticator code', { name: 'totp', id: 'signin-totp', inputmode: 'numeric', autocomplete: 'one-time-code', pattern: '[0-9 ]{6,7}', required: true });
  const submit = h('button', { type: 'submit', id: 'signin-submit' }, 'Sign in');
  const form = h('form', { class: 'stack', id: 'signin-form' }, le, lp, lc, submit);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    submit.disabled = true;
    err.textContent = '';
    try {
      const res = await api<{ csrf: string }>('POST', '/v1/sessions', { email: email.value.trim(), password: password.value, totp: code.value.replace(/\s/g, ''), type: 'browser' });
      setCSRF(res.csrf);
      afterSignIn();
    } catch (x) {
      showError(err, x);
    } finally {
      submit.disabled = false;
    }
  });
  const pk = h('button', { type: 'button', class: 'secondary', id: 'signin-passkey' }, 'Sign in with a passkey');
  pk.addEventListener('click', async () => {
    err.textContent = '';
    pk.disabled = true;
    try {
      await passkeySignIn();
      afterSignIn();
    } catch (x) {
      showError(err, x);
    } finally {
      pk.disabled = false;
    }
  });
  mount(
    root,
    h(
      'div',
      { class: 'card' },
      h('h1', {}, 'Sign in'),
      passkeysAvailable() ? h('p', {}, pk) : null,
      h('p', { class: 'muted' }, 'Or with your password and the code from your authenticator app:'),
      form,
      err,
      h('p', { class: 'muted' }, 'No account yet? ', h('a', { href: '/signup' }, 'Sign up'), '.'),
    ),
  );
});

route('/signup', (root) => {
  const err = h('p', { id: 'signup-error' });
  const [le, email] = field('E-mail', { type: 'email', id: 'signup-email', autocomplete: 'username', required: true });
  const [lp, password] = field('Password (at least 10 characters)', { type: 'password', id: 'signup-password', autocomplete: 'new-password', required: true });
  const submit = h('button', { type: 'submit', id: 'signup-submit' }, 'Create the account');
  const form = h('form', { class: 'stack', id: 'signup-form' }, le, lp, submit);
  const card = h('div', { class: 'card' }, h('h1', {}, 'Sign up'), form, err, h('p', { class: 'muted' }, 'Have an account? ', h('a', { href: '/signin' }, 'Sign in'), '.'));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    submit.disabled = true;
    err.textContent = '';
    try {
      const res = await api<{ totp_secret: string; totp_uri: string }>('POST', '/v1/accounts', { email: email.value.trim(), password: password.value });
      confirmStep(card, email.value.trim(), password.value, res.totp_secret, res.totp_uri);
    } catch (x) {
      showError(err, x);
    } finally {
      submit.disabled = false;
    }
  });
  mount(root, card);
});

// confirmStep shows the authenticator secret once and signs in with the
// first code, which proves the authenticator was set up.
function confirmStep(card: HTMLElement, email: string, password: string, secret: string, uri: string): void {
  const err = h('p', { id: 'confirm-error' });
  const [lc, code] = field('The 6-digit code your authenticator app shows now', { id: 'confirm-totp', inputmode: 'numeric', autocomplete: 'one-time-code', required: true });
  const submit = h('button', { type: 'submit', id: 'confirm-submit' }, 'Confirm and sign in');
  const form = h('form', { class: 'stack', id: 'confirm-form' }, lc, submit);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    submit.disabled = true;
    err.textContent = '';
    try {
      const res = await api<{ csrf: string }>('POST', '/v1/sessions', { email, password, totp: code.value.replace(/\s/g, ''), type: 'browser' });
      setCSRF(res.csrf);
      afterSignIn();
    } catch (x) {
      showError(err, x);
      if (x instanceof ApiError && x.status === 401) err.textContent += ' — check that the authenticator holds the secret above and the device clock is right.';
    } finally {
      submit.disabled = false;
    }
  });
  mount(
    card,
    h('h1', {}, 'Set up your authenticator'),
    h('p', {}, 'Your account is made. Every sign-in needs your password and a code from an authenticator app (or a passkey, which you can add afterwards on the account page). Add this secret to the app — it is shown only now:'),
    h('p', {}, 'Secret: ', h('code', { id: 'totp-secret', class: 'code-big wrap' }, secret.replace(/(.{4})/g, '$1 ').trim())),
    h('p', { class: 'muted' }, 'Or open this link on the phone with the app: ', h('a', { href: uri, id: 'totp-uri', class: 'mono wrap' }, uri)),
    form,
    err,
  );
}

route('/account', async (root) => {
  const a = await requireAccount();
  if (!a) return;
  const err = h('p', { id: 'account-error' });
  const list = h('ul', { id: 'passkeys' });
  const load = async () => {
    try {
      const res = await api<{ passkeys: { id: string; created: string; last_used: string }[] }>('GET', '/v1/passkeys');
      mount(list, ...(res.passkeys.length ? [] : [h('li', { class: 'muted' }, 'No passkeys yet.')]));
      for (const p of res.passkeys) {
        const del = h('button', { class: 'secondary' }, 'Remove');
        del.addEventListener('click', async () => {
          try {
            await api('DELETE', `/v1/passkeys/${encodeURIComponent(p.id)}`);
            await load();
          } catch (x) {
            showError(err, x);
          }
        });
        list.append(h('li', { class: 'passkey row' }, `Passkey added ${new Date(p.created).toLocaleString()}`, p.last_used && !p.last_used.startsWith('0001') ? `, last used ${new Date(p.last_used).toLocaleString()}` : '', del));
      }
    } catch (x) {
      showError(err, x);
    }
  };
  const add = h('button', { id: 'passkey-add' }, 'Add a passkey');
  add.addEventListener('click', async () => {
    err.textContent = '';
    add.disabled = true;
    try {
      await passkeyRegister();
      err.className = 'ok';
      err.textContent = 'Passkey added: it signs you in on its own.';
      await load();
    } catch (x) {
      showError(err, x);
    } finally {
      add.disabled = false;
    }
  });
  mount(
    root,
    h(
      'div',
      { class: 'card' },
      h('h1', {}, 'Account'),
      h('p', {}, 'Signed in as ', h('strong', { id: 'account-email' }, a.email), '.'),
      h('h2', {}, 'Passkeys'),
      h('p', { class: 'muted' }, 'A passkey signs you in without password or code; your authenticator checks your PIN or biometrics.'),
      list,
      passkeysAvailable() ? add : h('p', { class: 'muted' }, 'This browser cannot make passkeys.'),
      err,
      h('h2', {}, 'Sign out'),
      h('button', { class: 'secondary', id: 'account-sign-out', onclick: () => void signOut() }, 'Sign out of this browser'),
    ),
  );
  await load();
});

