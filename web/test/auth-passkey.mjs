// Sign-up and passkeys in the web app with a CDP virtual authenticator:
// sign-up shows the authenticator's QR code (the key one tap away); the
// signed-in account adds a passkey on the account page, signs out and
// signs in with the passkey alone. Env: BASE_URL (a localhost URL: the
// relying party), ARTIFACTS.
import { launch, newPage, totp, result, fail, assert } from './lib.mjs';

const base = process.env.BASE_URL;
const shots = process.env.ARTIFACTS || '';
const out = {};
const browser = await launch();
try {
  const ctx = await browser.newContext();
  const page = await newPage(ctx, 'passkey');
  const cdp = await ctx.newCDPSession(page);
  await cdp.send('WebAuthn.enable');
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: { protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true },
  });

  await page.goto(base + '/signup');
  await page.fill('#signup-email', 'pat@example.com');
  await page.fill('#signup-password', 'correct horse battery staple');
  await page.click('#signup-submit');
  // The authenticator's QR code holds the otpauth:// URI; the key is one tap away.
  await page.waitForSelector('svg#totp-qr');
  out.qrModules = Number(await page.getAttribute('svg#totp-qr', 'data-modules'));
  out.totpURI = await page.getAttribute('#totp-open', 'href');
  out.keyHidden = !(await page.isVisible('#totp-secret'));
  await page.click('#totp-manual summary');
  const secret = (await (await page.waitForSelector('#totp-secret')).textContent()).replace(/\s/g, '');
  out.uriHasKey = out.totpURI.includes(`secret=${secret}`);
  await page.fill('#confirm-totp', totp(secret));
  await page.click('#confirm-submit');
  await page.waitForSelector('#nav-email', { state: 'attached' });

  await page.goto(base + '/account');
  await page.click('#passkey-add');
  await page.waitForSelector('#passkeys li.passkey');
  out.passkeys = await page.$$eval('#passkeys li.passkey', (els) => els.length);
  const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
  out.credentials = credentials.length;
  out.resident = credentials.every((c) => c.isResidentCredential);
  if (shots) await page.screenshot({ path: `${shots}/account-passkey.png`, fullPage: true });

  const signOut = async () => {
    await page.click('#account-menu');
    await page.click('#sign-out');
    await page.waitForSelector('#signin-form');
  };
  await signOut();
  // The shell drops the account from the nav as it renders the sign-in
  // page; on a loaded machine that can land just after the form.
  await page.waitForSelector('#nav-email', { state: 'detached', timeout: 10000 }).catch(() => {});
  out.signedOutNav = await page.locator('#nav-email').count();
  await page.click('#signin-passkey');
  await page.waitForSelector('#nav-email', { state: 'attached', timeout: 20000 });
  out.signedInAs = await page.textContent('#nav-email');

  // With the passkey gone from the authenticator, the error is readable.
  await cdp.send('WebAuthn.clearCredentials', { authenticatorId });
  await signOut();
  await page.click('#signin-passkey');
  out.noPasskeyError = await (await page.waitForSelector('#signin-error.error', { timeout: 20000 })).textContent();
  assert(out.noPasskeyError.length > 0, 'no error shown');
} catch (e) {
  fail(`${e.message}\n${JSON.stringify(out)}`);
} finally {
  await browser.close();
}
result(out);
