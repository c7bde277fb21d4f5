// A member shares a time range from the shares page of an enrolled browser;
// a second context that never signed in opens the link and plays it; the
// member revokes it and the guest's reload is refused.
import { assert, fail, launch, newPage, result, shareSettled, totp } from './lib.mjs';

const base = process.env.BASE_URL;
const hook = process.env.HOOK_URL;
const hh = process.env.HOUSEHOLD;
const cam = process.env.CAMERA;
const shots = process.env.ARTIFACTS;

const browser = await launch();
try {
  const ctx = await browser.newContext({ viewport: { width: 1100, height: 900 } });
  const page = await newPage(ctx, 'member');
  await page.goto(base + '/device');
  await page.waitForSelector('#device-string', { timeout: 20000 });
  const device = (await page.textContent('#device-string')).trim();
  assert(device.startsWith('vigdev1:'), `device string ${device}`);
  const signedIn = await page.evaluate(
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
    { email: process.env.EMAIL, password: process.env.PASSWORD, code: totp(process.env.TOTP_SECRET) },
  );
  assert(signedIn === 'ok', signedIn);
  const enrol = await fetch(hook + '/enrol', { method: 'POST', body: device });
  assert(enrol.ok, 'enrolment hook: ' + (await enrol.text()));

  // Share [FROM_MS, TO_MS) of the camera as a link for an hour, starting
  // from the camera's timeline: its Share control opens the shares page
  // with the range in the form.
  const local = (ms) => page.evaluate((t) => {
    const d = new Date(t);
    return new Date(d.getTime() - d.getTimezoneOffset() * 60000).toISOString().slice(0, 19);
  }, ms);
  await page.goto(`${base}/h/${hh}/cam/${cam}`);
  await page.waitForFunction(() => document.querySelector('#tl-dl-from')?.value, null, { timeout: 30000 });
  await page.fill('#tl-dl-from', await local(Number(process.env.FROM_MS)));
  await page.fill('#tl-dl-to', await local(Number(process.env.TO_MS)));
  await page.click('#tl-share');
  await page.waitForSelector(`#share-form select[name=camera] option[value="${cam}"]`, { state: 'attached', timeout: 20000 });
  const prefilled = {
    camera: await page.inputValue('#share-form select[name=camera]'),
    from: await page.inputValue('#share-form input[name=from]'),
    to: await page.inputValue('#share-form input[name=to]'),
  };
  if (prefilled.camera !== cam || prefilled.from !== (await local(Number(process.env.FROM_MS))) || prefilled.to !== (await local(Number(process.env.TO_MS)))) {
    fail(`the form is not prefilled from the address: ${JSON.stringify(prefilled)}`);
  }
  await page.selectOption('#share-form select[name=expires]', '3600');
  await page.click('#share-form button[type=submit]');
  try {
    await page.waitForSelector('#share-link', { timeout: 30000 });
  } catch {
    fail('no share link; page says: ' + (await page.textContent('#app')));
  }
  const link = await page.inputValue('#share-link');
  const id = link.split('/s/')[1].split('#')[0];
  await page.waitForSelector(`#shares-table tr[data-share="${id}"][data-state="active"]`, { timeout: 10000 });
  if (shots) await page.screenshot({ path: `${shots}/shares-page.png` });

  // The guest: a fresh context, never signed in.
  const gctx = await browser.newContext({ viewport: { width: 1100, height: 900 } });
  const guest = await newPage(gctx, 'guest');
  await guest.goto(link);
  const { data: played, message: played_error } = await shareSettled(guest);
  await guest.waitForFunction(() => document.querySelector('#share-video').currentTime > 0.3, null, { timeout: 15000 }).catch(() => {});
  const currentTime = await guest.$eval('#share-video', (v) => v.currentTime);

  // The member sees that the link was opened (from the access record).
  await page.reload();
  await page.waitForSelector(`#shares-table tr[data-share="${id}"] td.share-opened`, { timeout: 10000 });
  const opened = Number(await page.getAttribute(`#shares-table tr[data-share="${id}"] td.share-opened`, 'data-opened'));

  // Revoke from the member's page; the guest reloads (the key is still in
  // the tab) and is refused.
  await page.click(`#shares-table button[data-share="${id}"]`);
  await page.waitForSelector(`#shares-table tr[data-share="${id}"][data-state="revoked"]`, { timeout: 10000 });
  await guest.reload();
  const { state, status, message } = await shareSettled(guest, 30000);
  const after = {
    state,
    status,
    message,
    videoShown: await guest.$eval('#share-video', (v) => getComputedStyle(v).display !== 'none'),
  };
  if (shots) await guest.screenshot({ path: `${shots}/share-revoked.png` });
  result({ id, linkHasKey: link.includes('#k='), played, played_error, currentTime, opened, after });
} finally {
  await browser.close();
}
