// A member's enrolled browser shares a range through a cloud whose object
// listing is forged (objects from outside the range listed with times in
// it, and extra ones added): the share sheet must wrap keys only for what
// the signed segments put in the range and report the rest. A guest, never
// signed in, then plays the link.
//
// Env: BASE_URL (the forging proxy in front of the cloud), HOUSEHOLD,
// CAMERA, CONTROL_URL (POST /enrol), SESSION and CSRF (the member's
// browser session), FROM_MS and TO_MS (whole seconds), ARTIFACTS.
import { join } from 'node:path';
import { enrol, fail, launch, newPage, result, shareSettled, signedInContext } from './lib.mjs';

const base = process.env.BASE_URL;
const hh = process.env.HOUSEHOLD;
const cam = process.env.CAMERA;
const from = Number(process.env.FROM_MS);
const to = Number(process.env.TO_MS);

const browser = await launch();
try {
  const ctx = await signedInContext(browser, base, process.env.SESSION, process.env.CSRF, { viewport: { width: 390, height: 844 }, hasTouch: true, isMobile: true });
  const page = await newPage(ctx, 'member');
  await enrol(page, base);

  // The share sheet on the range (as the shares page opens it from an
  // address with the camera and the range).
  const q = new URLSearchParams({ camera: cam, from: new Date(from).toISOString(), to: new Date(to).toISOString() });
  await page.goto(`${base}/h/${encodeURIComponent(hh)}/shares?${q}`);
  await page.waitForSelector('dialog#share-sheet[open]', { timeout: 20000 });
  await page.selectOption('#share-expires', '3600');
  await page.click('#share-create');
  await page.waitForSelector('#share-link, #share-sheet-error.error', { timeout: 60000 });
  const failed = await page.$('#share-sheet-error.error');
  if (failed) fail('sharing failed: ' + (await failed.textContent()));
  const link = await page.inputValue('#share-link');
  const id = link.split('/s/')[1].split('#')[0];
  const objects = Number(await page.getAttribute('#share-result', 'data-objects'));
  const refusedShown = await page.$eval('#share-refused', (el) => !el.hidden && getComputedStyle(el).display !== 'none');
  const refusedCount = Number(await page.getAttribute('#share-refused', 'data-count'));
  const refused = await page.$$eval('#share-refused-list li', (els) => els.map((li) => ({ key: li.dataset.key, text: li.textContent })));
  const refusedHeadline = await page.$eval('#share-refused p', (el) => el.textContent).catch(() => '');
  await page.screenshot({ path: join(process.env.ARTIFACTS, 'share-forged-listing.png'), fullPage: true });

  // The guest plays the link.
  const gctx = await browser.newContext({ viewport: { width: 390, height: 844 }, hasTouch: true, isMobile: true });
  const guest = await newPage(gctx, 'guest');
  await guest.goto(link);
  const { data: played, message: playedError } = await shareSettled(guest);
  await gctx.close();
  result({ link, id, objects, refusedShown, refusedCount, refused, refusedHeadline, played, playedError });
} finally {
  await browser.close();
}
