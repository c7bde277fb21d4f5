// An account share: the guest's browser shows its device string, the member
// (an enrolled browser) shares a range with the guest's e-mail and device,
// and the guest, signed in on that browser, finds it under "Shared with me"
// and plays it. A browser without that device key cannot open it.
import { assert, fail, launch, newPage, result, shareSettled, totp } from './lib.mjs';

const base = process.env.BASE_URL;
const hh = process.env.HOUSEHOLD;
const cam = process.env.CAMERA;
const shots = process.env.ARTIFACTS;

async function signIn(page, email, password, secret) {
  const r = await page.evaluate(
    async ({ email, password, code }) => {
      const r = await fetch('/v1/sessions', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ email, password, totp: code, type: 'browser' }),
      });
      const j = await r.json();
      if (!r.ok) return 'sign-in failed: ' + j.error;
      localStorage.setItem('vigil.csrf', j.csrf);
      return 'ok';
    },
    { email, password, code: totp(secret) },
  );
  assert(r === 'ok', r);
}

async function deviceString(page) {
  await page.goto(base + '/device');
  await page.waitForSelector('#device-string', { timeout: 20000 });
  const d = (await page.textContent('#device-string')).trim();
  assert(d.startsWith('vigdev1:'), `device string ${d}`);
  return d;
}

const browser = await launch();
try {
  // The guest's browser and its device string.
  const gctx = await browser.newContext({ viewport: { width: 1100, height: 900 } });
  const guest = await newPage(gctx, 'guest');
  const guestDevice = await deviceString(guest);
  await signIn(guest, process.env.GUEST_EMAIL, process.env.GUEST_PASSWORD, process.env.GUEST_TOTP);

  // The member shares with it.
  const mctx = await browser.newContext({ viewport: { width: 1100, height: 900 } });
  const page = await newPage(mctx, 'member');
  const device = await deviceString(page);
  await signIn(page, process.env.EMAIL, process.env.PASSWORD, process.env.TOTP_SECRET);
  const enrol = await fetch(process.env.HOOK_URL + '/enrol', { method: 'POST', body: device });
  assert(enrol.ok, 'enrolment hook: ' + (await enrol.text()));
  await page.goto(`${base}/h/${hh}/shares`);
  await page.waitForSelector(`#share-form select[name=camera] option[value="${cam}"]`, { state: 'attached', timeout: 20000 });
  const local = (ms) => page.evaluate((t) => {
    const d = new Date(t);
    return new Date(d.getTime() - d.getTimezoneOffset() * 60000).toISOString().slice(0, 19);
  }, ms);
  await page.selectOption('#share-form select[name=camera]', cam);
  await page.fill('#share-form input[name=from]', await local(Number(process.env.FROM_MS)));
  await page.fill('#share-form input[name=to]', await local(Number(process.env.TO_MS)));
  await page.fill('#share-form input[name=guest_email]', process.env.GUEST_EMAIL);
  await page.fill('#share-form input[name=guest_device]', guestDevice);
  await page.click('#share-form button[type=submit]');
  try {
    await page.waitForSelector('#share-link', { timeout: 30000 });
  } catch {
    fail('no share; page says: ' + (await page.textContent('#app')));
  }
  const url = await page.inputValue('#share-link');
  const id = url.split('/s/')[1];

  // The guest finds it and plays it.
  await guest.goto(base + '/shared');
  const link = guest.locator(`#shared-list a[href="/s/${id}"]`);
  await link.waitFor({ timeout: 20000 });
  if (shots) await guest.screenshot({ path: `${shots}/shared-with-me.png` });
  await link.click();
  const { data: played, message: playedError } = await shareSettled(guest);
  const info = await guest.$eval('#share-info', (e) => e.textContent);

  // The member's own browser (signed in, but not the guest) cannot open it.
  await page.goto(url);
  const { state, status, message } = await shareSettled(page, 30000);
  const member = { state, status, message };
  // A browser that is not signed in is asked to sign in.
  const sctx = await browser.newContext();
  const stranger = await newPage(sctx, 'signed-out');
  await stranger.goto(url);
  const so = await shareSettled(stranger, 30000);
  const signedOut = { state: so.state, status: so.status, message: so.message };
  result({ id, urlHasFragment: url.includes('#'), played, playedError, info, member, signedOut });
} finally {
  await browser.close();
}
