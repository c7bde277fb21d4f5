// Pages: sign-up (with the authenticator's QR code), sign-in (passkey;
// password + TOTP), the account page (passkeys, sign-out). The sign-in and
// sign-up forms are also components (signInForm, signUpForm) that the
// invite page (/join/:id) shows in place, so that a new household member
// never leaves the invite. The header is web/src/shell.ts.
//
// Must never: keep the password or the authenticator secret anywhere but
// in the form while it is shown; send the browser anywhere after sign-in
// but a path of this app.
import './auth.css';
import { api, ApiError, setCSRF } from '../api';
import { copyButton, fmtDateTime, pageHead, qrCode } from '../kit';
import { createPasskey, getPasskey, passkeysAvailable, type Begun } from '../passkey';
import { go, route } from '../router';
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

/** rememberNext makes the next sign-in come back to path (fragment included). */
export function rememberNext(path: string): void {
  sessionStorage.setItem(nextKey, path);
}

/** signedIn refreshes the cached account after a sign-in and tells the app (the header redraws on "vigil:session"). */
export async function signedIn(): Promise<void> {
  await account(true).catch(() => null);
  window.dispatchEvent(new Event('vigil:session'));
}

function afterSignIn(): void {
  const next = sessionStorage.getItem(nextKey);
  sessionStorage.removeItem(nextKey);
  void signedIn().then(() => go(next && next.startsWith('/') && !next.startsWith('//') ? next : '/'));
}

/**
 * pendingInvite is the invite the sign-in was asked for (the page to come
 * back to is an invite link): the household's and inviter's names from
 * its fragment, as the inviter wrote them.
 */
function pendingInvite(): { household: string; by: string } | null {
  const next = sessionStorage.getItem(nextKey) ?? '';
  if (!next.startsWith('/join/')) return null;
  const frag = new URLSearchParams(next.split('#')[1] ?? '');
  return { household: clip(frag.get('n') ?? ''), by: clip(frag.get('by') ?? '') };
}

/** clip bounds a name taken from a link (it is shown as text only). */
export function clip(s: string, max = 64): string {
  const t = s.trim();
  return t.length > max ? `${t.slice(0, max - 1)}…` : t;
}

function inviteBanner(): HTMLElement | null {
  const inv = pendingInvite();
  if (!inv) return null;
  const what = inv.household ? `join “${inv.household}”` : 'join the household';
  return h('div', { class: 'banner', id: 'auth-invite' }, h('p', { class: 'grow' }, inv.by ? `${inv.by} invited you to ${what}. ` : `You are invited to ${what}. `, 'Sign in or create an account, then you come back to the invite.'));
}

export async function signOut(): Promise<void> {
  try {
    await api('DELETE', '/v1/sessions/current');
  } catch {
    /* signed out already */
  }
  current = Promise.resolve(null);
  setCSRF(''); // "vigil:session": the header redraws signed out
  go('/signin');
}

function field(label: string, attrs: Record<string, string | boolean>, hint?: string): [HTMLLabelElement, HTMLInputElement] {
  const input = h('input', attrs);
  return [h('label', { class: 'field' }, h('span', {}, label), input, hint ? h('small', { class: 'muted' }, hint) : null), input];
}

async function passkeySignIn(): Promise<void> {
  const begin = await api<Begun>('POST', '/v1/passkeys/login/begin', { type: 'browser' });
  const res = await api<{ csrf: string }>('POST', `/v1/passkeys/login/finish?ceremony=${encodeURIComponent(begin.ceremony)}`, await getPasskey(begin));
  setCSRF(res.csrf);
}

async function passkeyRegister(): Promise<void> {
  const begin = await api<Begun>('POST', '/v1/passkeys/register/begin', {});
  await api('POST', `/v1/passkeys/register/finish?ceremony=${encodeURIComponent(begin.ceremony)}`, await createPasskey(begin));
}

/**
 * signInForm is the sign-in: a passkey, or password and authenticator
 * code. done runs once the session is made and the header redrawn.
 */
export function signInForm(done: () => void, opts: { title?: string } = {}): HTMLElement {
  const err = h('p', { id: 'signin-error', role: 'alert' });
  const [le, email] = field('E-mail', { type: 'email', name: 'email', id: 'signin-email', autocomplete: 'username', required: true });
  const [lp, password] = field('Password', { type: 'password', name: 'password', id: 'signin-password', autocomplete: 'current-password', required: true });
  const [lc, code] = field('Code from your authenticator app', { name: 'totp', id: 'signin-totp', inputmode: 'numeric', autocomplete: 'one-time-code', pattern: '[0-9 ]{6,7}', required: true });
  const submit = h('button', { type: 'submit', id: 'signin-submit' }, 'Sign in');
  const form = h('form', { class: 'stack', id: 'signin-form' }, le, lp, lc, submit);
  const finish = async () => {
    await signedIn();
    done();
  };
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    submit.disabled = true;
    err.textContent = '';
    try {
      const res = await api<{ csrf: string }>('POST', '/v1/sessions', { email: email.value.trim(), password: password.value, totp: code.value.replace(/\s/g, ''), type: 'browser' });
      setCSRF(res.csrf);
      password.value = '';
      await finish();
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
      await finish();
    } catch (x) {
      showError(err, x);
    } finally {
      pk.disabled = false;
    }
  });
  return h(
    'div',
    { class: 'stack' },
    opts.title ? h('h2', {}, opts.title) : null,
    passkeysAvailable() ? h('div', {}, pk) : null,
    h('p', { class: 'muted' }, passkeysAvailable() ? 'Or with your password and the code from your authenticator app:' : 'With your password and the code from your authenticator app:'),
    form,
    err,
  );
}

/**
 * signUpForm makes an account: e-mail and password, then the
 * authenticator's QR code and the first code, which signs in. done runs
 * once signed in.
 */
export function signUpForm(done: () => void, opts: { title?: string; onConfirmStep?: () => void } = {}): HTMLElement {
  const err = h('p', { id: 'signup-error', role: 'alert' });
  const [le, email] = field('E-mail', { type: 'email', id: 'signup-email', autocomplete: 'username', required: true });
  const [lp, password] = field('Password', { type: 'password', id: 'signup-password', autocomplete: 'new-password', minlength: '10', required: true }, 'At least 10 characters.');
  const submit = h('button', { type: 'submit', id: 'signup-submit' }, 'Create the account');
  const form = h('form', { class: 'stack', id: 'signup-form' }, le, lp, submit);
  const box = h('div', { class: 'stack' }, opts.title ? h('h2', {}, opts.title) : null, form, err);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    submit.disabled = true;
    err.textContent = '';
    try {
      const addr = email.value.trim();
      const res = await api<{ totp_secret: string; totp_uri?: string }>('POST', '/v1/accounts', { email: addr, password: password.value });
      confirmStep(box, addr, password.value, res.totp_secret, res.totp_uri || totpURI(addr, res.totp_secret), done);
      opts.onConfirmStep?.();
    } catch (x) {
      showError(err, x);
    } finally {
      submit.disabled = false;
    }
  });
  return box;
}

/** totpURI is the otpauth:// key URI (what the cloud gives, when it does not). */
function totpURI(email: string, secret: string): string {
  return `otpauth://totp/${encodeURIComponent('Vigil')}:${encodeURIComponent(email)}?secret=${encodeURIComponent(secret)}&issuer=Vigil`;
}

/** onPhone: a touch screen of phone size (where the QR code is on the phone that would scan it). */
function onPhone(): boolean {
  return navigator.maxTouchPoints > 0 && Math.min(screen.width, screen.height) < 600;
}

// confirmStep shows the authenticator's QR code (the key one tap away) and
// signs in with the first code, which proves the authenticator was set up.
function confirmStep(box: HTMLElement, email: string, password: string, secret: string, uri: string, done: () => void): void {
  const err = h('p', { id: 'confirm-error', role: 'alert' });
  const [lc, code] = field('The 6-digit code the app shows', { id: 'confirm-totp', inputmode: 'numeric', autocomplete: 'one-time-code', pattern: '[0-9 ]{6,7}', required: true });
  const submit = h('button', { type: 'submit', id: 'confirm-submit' }, 'Confirm and sign in');
  const form = h('form', { class: 'stack', id: 'confirm-form' }, lc, submit);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    submit.disabled = true;
    err.textContent = '';
    try {
      const res = await api<{ csrf: string }>('POST', '/v1/sessions', { email, password, totp: code.value.replace(/\s/g, ''), type: 'browser' });
      setCSRF(res.csrf);
      password = '';
      await signedIn();
      done();
    } catch (x) {
      showError(err, x);
      if (x instanceof ApiError && x.status === 401) err.textContent += ' Check that the app holds the key above and that this device’s clock is right.';
    } finally {
      submit.disabled = false;
    }
  });
  const qr = qrCode(uri, 'QR code for your authenticator app');
  qr.id = 'totp-qr';
  const key = secret.replace(/(.{4})/g, '$1 ').trim();
  const phone = onPhone();
  const open = h('a', { href: uri, id: 'totp-open', class: phone ? 'btn' : 'btn secondary' }, 'Open in my authenticator app');
  mount(
    box,
    h('h2', { id: 'totp-title' }, 'Set up your authenticator'),
    h('p', {}, 'Your account is made. Each sign-in asks for your password and a 6-digit code from an authenticator app (Google Authenticator, Microsoft Authenticator, 1Password…). Add Vigil to the app now — this is shown only once.'),
    phone ? h('div', { class: 'row' }, open) : null,
    h('p', {}, phone ? 'Or scan this code with the app on another phone:' : 'Scan this code with the app on your phone:'),
    qr,
    phone ? null : h('div', { class: 'row' }, open),
    h(
      'details',
      { id: 'totp-manual', class: 'disclosure' },
      h('summary', {}, 'Can’t scan? Enter this key'),
      h('p', {}, 'In the app, add an account with a setup key and type:'),
      h('p', { id: 'totp-secret', class: 'mono wrap totp-key' }, key),
      h('p', { class: 'muted' }, `Account: ${email} · time-based`),
      copyButton(() => secret, { id: 'totp-copy', label: 'Copy the key' }),
    ),
    form,
    err,
  );
  code.focus({ preventScroll: true });
}

route('/signin', (root) => {
  mount(
    root,
    pageHead('Sign in'),
    inviteBanner(),
    h('div', { class: 'card' }, signInForm(afterSignIn), h('p', { class: 'muted' }, 'No account yet? ', h('a', { href: '/signup', id: 'signin-to-signup' }, 'Create one'), '.')),
  );
});

route('/signup', (root) => {
  mount(
    root,
    pageHead('Create an account'),
    inviteBanner(),
    h('div', { class: 'card' }, signUpForm(afterSignIn), h('p', { class: 'muted' }, 'Have an account? ', h('a', { href: '/signin', id: 'signup-to-signin' }, 'Sign in'), '.')),
  );
});

route('/account', async (root) => {
  const a = await requireAccount();
  if (!a) return;
  const err = h('p', { id: 'account-error' });
  const list = h('ul', { id: 'passkeys', class: 'list' });
  const load = async () => {
    try {
      const res = await api<{ passkeys: { id: string; created: string; last_used: string }[] }>('GET', '/v1/passkeys');
      mount(list, ...(res.passkeys.length ? [] : [h('li', { class: 'item muted' }, 'No passkeys yet.')]));
      for (const p of res.passkeys) {
        const del = h('button', { class: 'secondary', 'aria-label': `Remove the passkey added ${fmtDateTime(Date.parse(p.created))}` }, 'Remove');
        del.addEventListener('click', async () => {
          try {
            await api('DELETE', `/v1/passkeys/${encodeURIComponent(p.id)}`);
            await load();
          } catch (x) {
            showError(err, x);
          }
        });
        const used = p.last_used && !p.last_used.startsWith('0001') ? `Last used ${fmtDateTime(Date.parse(p.last_used))}` : 'Not used yet';
        list.append(h('li', { class: 'item passkey' }, h('div', { class: 'grow' }, h('div', {}, `Passkey added ${fmtDateTime(Date.parse(p.created))}`), h('div', { class: 'sub' }, used)), h('div', { class: 'actions' }, del)));
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
      err.removeAttribute('role');
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
    pageHead('Account'),
    h('section', { class: 'card' }, h('p', { class: 'wrap' }, 'Signed in as ', h('strong', { id: 'account-email' }, a.email), '.')),
    h(
      'section',
      { class: 'card', 'aria-labelledby': 'passkeys-title' },
      h('h2', { id: 'passkeys-title' }, 'Passkeys'),
      h('p', { class: 'muted' }, 'A passkey signs you in without password or code: your phone or computer checks your fingerprint, face or PIN.'),
      list,
      passkeysAvailable() ? h('div', { class: 'row' }, add) : h('p', { class: 'muted' }, 'This browser cannot make passkeys.'),
      err,
    ),
    h(
      'section',
      { class: 'card', 'aria-labelledby': 'signout-title' },
      h('h2', { id: 'signout-title' }, 'Sign out'),
      h('button', { class: 'secondary', id: 'account-sign-out', onclick: () => void signOut() }, 'Sign out of this browser'),
    ),
  );
  await load();
});
