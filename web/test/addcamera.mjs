// Add camera: an admin browser opens Add camera from the household's
// settings, waits for the hub's discovery to list the camera at ADDRESS,
// chooses it, tries a wrong password (the hub's refusal is shown), then
// the right one: the page shows the camera's profiles and snapshot; it
// names the camera NAME and adds it; discovery then lists it as recorded.
// Once the Go side saw it recorded (POST CONTROL_URL/recorded), the page
// removes it.
//
// Env: BASE_URL, HOUSEHOLD, CONTROL_URL, SESSION, CSRF, ADDRESS (the
// camera's ONVIF device service URL), CAM_USER, CAM_PASSWORD, NAME,
// ARTIFACTS.
import { join } from 'node:path';
import { launch, newPage, result, fail, signedInContext, enrol } from './lib.mjs';

const base = process.env.BASE_URL;
const hh = process.env.HOUSEHOLD;
const addr = process.env.ADDRESS;

const browser = await launch();
const out = {};
try {
  const ctx = await signedInContext(browser, base, process.env.SESSION, process.env.CSRF);
  const page = await newPage(ctx, 'addcamera');
  await enrol(page, base, '?role=admin&name=browser%20admin');

  await page.goto(`${base}/h/${encodeURIComponent(hh)}/settings`);
  await page.click('#add-camera');
  await page.waitForSelector('#ac-status');
  out.link = new URL(page.url()).pathname;

  // The hub's connection to the service may not be up yet: try again.
  const row = `#ac-found li[data-address="${addr}"]`;
  for (let i = 0; ; i++) {
    await page.waitForSelector(`#ac-found[data-ready="true"], #ac-status[data-state="error"]`, { state: 'attached', timeout: 60000 });
    if (await page.$(row)) break;
    const err = await page.textContent('#ac-error');
    if (i >= 30) fail(`the doorbell was not found: ${err} ${await page.textContent('#ac-found')}`);
    await page.waitForTimeout(1000);
    if (err) await page.reload();
    else await page.click('#ac-discover');
  }
  out.found = await page.textContent(row);
  await page.click(`${row} .ac-pick`);
  if ((await page.inputValue('#ac-address')) !== addr) fail('choosing the camera did not fill in its address');

  const probe = async () => {
    await page.$eval('#ac-status', (e) => delete e.dataset.state);
    await page.click('#ac-probe');
    await page.waitForSelector('#ac-status[data-state="ok"], #ac-status[data-state="error"]', { state: 'attached', timeout: 60000 });
  };
  await page.fill('#ac-user', process.env.CAM_USER);
  await page.fill('#ac-password', 'not-the-password');
  await probe();
  out.wrong = await page.textContent('#ac-error');

  await page.fill('#ac-password', process.env.CAM_PASSWORD);
  await probe();
  if (await page.isHidden('#ac-chosen')) fail('probe: ' + (await page.textContent('#ac-error')));
  await page.waitForFunction(() => document.querySelector('#ac-snapshot').complete && document.querySelector('#ac-snapshot').naturalWidth > 0, null, { timeout: 20000 });
  out.snapWidth = await page.$eval('#ac-snapshot', (i) => i.naturalWidth);
  out.profiles = await page.$$eval('#ac-sub option:not([value=""])', (o) => o.length);
  out.main = await page.inputValue('#ac-main');
  out.sub = await page.inputValue('#ac-sub');
  await page.screenshot({ path: join(process.env.ARTIFACTS, 'addcamera-probed.png'), fullPage: true });

  await page.fill('#ac-name', process.env.NAME);
  await page.$eval('#ac-status', (e) => delete e.dataset.state);
  out.addAt = Date.now(); // the Go side logs how soon the recording starts
  await page.click('#ac-add');
  await page.waitForSelector('#ac-status[data-state="ok"][data-camera], #ac-status[data-state="error"]', { state: 'attached', timeout: 60000 });
  out.added = (await page.getAttribute('#ac-status', 'data-camera')) ?? '';
  out.status = (await page.textContent('#ac-status')) + (await page.textContent('#ac-error'));
  // The page looks again: the doorbell is now recorded.
  await page.waitForFunction((sel) => /Recorded as/.test(document.querySelector(sel)?.textContent ?? ''), row, { timeout: 30000 });
  out.listed = ((await page.textContent(`${row} .muted:last-child`)) ?? '').replace(/^Recorded as /, '');
  if (await page.inputValue('#ac-password')) fail('the password stays in the page after adding');
  await page.screenshot({ path: join(process.env.ARTIFACTS, 'addcamera-added.png'), fullPage: true });

  // The Go side checks the recording, then asks for the camera's removal.
  if (process.env.CONTROL_URL) {
    const r = await fetch(`${process.env.CONTROL_URL}/recorded`, { method: 'POST' });
    if (r.status !== 204) fail('the hub does not record the camera: ' + (await r.text()));
  }
  page.once('dialog', (d) => d.accept());
  await page.$eval('#ac-status', (e) => delete e.dataset.state);
  await page.click(`${row} .ac-pick`);
  await page.waitForSelector('#ac-status[data-state="ok"], #ac-status[data-state="error"]', { state: 'attached', timeout: 60000 });
  out.removed = (await page.textContent('#ac-status')) + (await page.textContent('#ac-error'));
  await page.waitForFunction((sel) => !/Recorded as/.test(document.querySelector(sel)?.textContent ?? ''), row, { timeout: 30000 });
  result(out);
} catch (e) {
  fail(e.stack ?? String(e));
} finally {
  await browser.close();
}
