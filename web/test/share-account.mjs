// An account share, on phones: the guest's browser shows its code (device
// string), the member (an enrolled browser) shares a range from the share
// sheet with the guest's e-mail and code, and the guest, signed in on that
// browser, finds it under "Shared with me" (which fits the phone, labels its
// input and passes axe) and plays it. A browser without that device key
// cannot open it.
import { assert, fail, launch, newPage, result, shareSettled, totp } from './lib.mjs';
import { phoneCheck, phoneContext } from './share-phone.mjs';

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
  const gctx = await phoneContext(browser);
  const guest = await newPage(gctx, 'guest');
  const guestDevice = await deviceString(guest);
  await signIn(guest, process.env.GUEST_EMAIL, process.env.GUEST_PASSWORD, process.env.GUEST_TOTP);

  // The member shares with it.
  const mctx = await phoneContext(browser);
  const page = await newPage(mctx, 'member');
  const device = await deviceString(page);
  await signIn(page, process.env.EMAIL, process.env.PASSWORD, process.env.TOTP_SECRET);
  const enrol = await fetch(process.env.HOOK_URL + '/enrol', { method: 'POST', body: device });
  assert(enrol.ok, 'enrolment hook: ' + (await enrol.text()));
  // The sheet on the exact range, shared with the guest's account.
  const q = new URLSearchParams({ camera: cam, from: new Date(Number(process.env.FROM_MS)).toISOString(), to: new Date(Number(process.env.TO_MS)).toISOString() });
  await page.goto(`${base}/h/${hh}/shares?${q}`);
  await page.waitForSelector('dialog#share-sheet[open]', { timeout: 20000 });
  await page.click('#share-account summary');
  await page.fill('#share-guest-email', process.env.GUEST_EMAIL);
  await page.fill('#share-guest-device', guestDevice);
  await page.click('#share-create');
  try {
    await page.waitForSelector('#share-link', { state: 'visible', timeout: 30000 });
  } catch {
    fail('no share; the sheet says: ' + (await page.textContent('#share-sheet')));
  }
  const url = await page.inputValue('#share-link');
  const id = url.split('/s/')[1];

  // The guest finds it and plays it.
  await guest.goto(base + '/shared');
  const link = guest.locator(`#shared-list a[href="/s/${id}"]`);
  await link.waitFor({ timeout: 20000 });
  const sharedPhone = await phoneCheck(guest);
  const deviceLabel = await guest.$eval('#device-string', (i) => i.labels?.[0]?.textContent ?? '');
  if (shots) await guest.screenshot({ path: `${shots}/shared-with-me.png` });
  await link.click();
  const { data: played, message: playedError } = await shareSettled(guest);
  const info = await guest.$eval('#share-info', (e) => e.textContent);

  // The member's own browser (signed in, but not the guest) cannot open it.
  await page.goto(url);
  const { state, status, message } = await shareSettled(page, 30000);
  const member = { state, status, message };
  // A browser that is not signed in is asked to sign in.
  const sctx = await phoneContext(browser);
  const stranger = await newPage(sctx, 'signed-out');
  await stranger.goto(url);
  const so = await shareSettled(stranger, 30000);
  const signedOut = { state: so.state, status: so.status, message: so.message };
  result({ id, urlHasFragment: url.includes('#'), played, playedError, info, member, signedOut, sharedPhone, deviceLabel });
} finally {
  await browser.close();
}
