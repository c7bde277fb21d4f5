// A member, on a phone (390x844, touch), shares a moment of a camera from
// the share sheet of an enrolled browser: the sheet opens pre-filled around
// the moment (AT_MS), its presets re-centre on it, the member sets the exact
// range [FROM_MS, TO_MS) and creates a link, which is in view with Copy
// ("Copied", the clipboard holds the link) and the phone's share sheet. A
// second context (a phone that never signed in) plays the link as one video
// covering the range and downloads it as one MP4; the member sees it was
// opened, stops sharing, and the guest's reload is refused.
import { assert, fail, launch, newPage, result, shareSettled, signInAndEnrol } from './lib.mjs';
import { inView, phoneCheck, phoneContext, readDownload } from './share-phone.mjs';

const base = process.env.BASE_URL;
const hook = process.env.HOOK_URL;
const hh = process.env.HOUSEHOLD;
const cam = process.env.CAMERA;
const shots = process.env.ARTIFACTS;
const at = Number(process.env.AT_MS);
const fromMs = Number(process.env.FROM_MS);
const toMs = Number(process.env.TO_MS);

const browser = await launch();
try {
  const ctx = await phoneContext(browser, { permissions: ['clipboard-read', 'clipboard-write'] });
  await ctx.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: base });
  // The phone's share sheet (Chromium on Linux has none): record what the
  // page hands it.
  await ctx.addInitScript(() => {
    navigator.share = async (d) => {
      window.__shared = d;
    };
    navigator.canShare = () => true;
  });
  const page = await newPage(ctx, 'member');
  await signInAndEnrol(page, base, hook);

  // The sheet, opened for the moment AT_MS of the camera.
  await page.goto(`${base}/h/${hh}/shares?camera=${encodeURIComponent(cam)}&at=${at}`);
  await page.waitForSelector('dialog.sheet#share-sheet[open]', { timeout: 20000 });
  const range = async () => {
    const v = await page.evaluate(() => ({
      from: new Date(document.querySelector('#share-from').value).getTime(),
      to: new Date(document.querySelector('#share-to').value).getTime(),
      when: document.querySelector('#share-when').textContent,
    }));
    return v;
  };
  const prefilled = await range();
  if (shots) await page.screenshot({ path: `${shots}/share-sheet.png` });
  await page.click('#share-span button[data-span-ms="60000"]');
  const minute = await range();
  const sheetPhone = await phoneCheck(page);

  // The exact range, an hour's link.
  await page.click('#share-adjust summary');
  const local = (ms) => page.evaluate((t) => {
    const d = new Date(t);
    return new Date(d.getTime() - d.getTimezoneOffset() * 60000).toISOString().slice(0, 19);
  }, ms);
  await page.fill('#share-from', await local(fromMs));
  await page.fill('#share-to', await local(toMs));
  await page.selectOption('#share-expires', '3600');
  const chosen = await range();
  await page.click('#share-create');
  try {
    await page.waitForSelector('#share-link', { state: 'visible', timeout: 30000 });
  } catch {
    fail('no share link; the sheet says: ' + (await page.textContent('#share-sheet')));
  }
  const link = await page.inputValue('#share-link');
  const id = link.split('/s/')[1].split('#')[0];
  const linkInView = await inView(page, '#share-link');
  const copyInView = await inView(page, '#share-copy');
  const sentence = await page.textContent('#share-sentence');
  await page.click('#share-copy');
  await page.waitForFunction(() => document.querySelector('#share-copy').textContent === 'Copied', null, { timeout: 5000 }).catch(() => {});
  const copy = {
    label: await page.textContent('#share-copy'),
    copied: await page.getAttribute('#share-copy', 'data-copied'),
    clipboard: await page.evaluate(() => navigator.clipboard.readText()),
  };
  await page.click('#share-native');
  const shared = await page.evaluate(() => window.__shared ?? null);
  const resultPhone = await phoneCheck(page);
  if (shots) await page.screenshot({ path: `${shots}/share-sheet-link.png` });
  await page.click('#share-done');
  await page.waitForSelector(`#shares-list li[data-share="${id}"][data-state="active"]`, { timeout: 10000 });

  // The guest: a second phone, never signed in.
  const gctx = await phoneContext(browser);
  const guest = await newPage(gctx, 'guest');
  await guest.goto(link);
  const { data: played, message: played_error } = await shareSettled(guest);
  await guest.waitForFunction(() => document.querySelector('#share-video').currentTime > 0.3, null, { timeout: 15000 }).catch(() => {});
  const video = await guest.$eval('#share-video', (v) => ({ currentTime: v.currentTime, duration: v.duration, width: v.videoWidth }));
  const videos = await guest.$$eval('video', (l) => l.length);
  const download = played.state === 'loaded' ? await readDownload(guest, '#share-download') : null;
  if (shots) await guest.screenshot({ path: `${shots}/share-guest-phone.png` });

  // The member sees that the link was opened (from the access record).
  await page.reload();
  await page.waitForSelector(`#shares-list li[data-share="${id}"] .share-opened[data-opened]`, { timeout: 20000 });
  const opened = Number(await page.getAttribute(`#shares-list li[data-share="${id}"] .share-opened`, 'data-opened'));
  const sharesPhone = await phoneCheck(page);
  if (shots) await page.screenshot({ path: `${shots}/shares-page.png` });

  // Stop sharing from the member's page; the guest reloads (the key is
  // still in the tab) and is refused.
  await page.click(`#shares-list button[data-share="${id}"]`);
  await page.waitForSelector(`#shares-list li[data-share="${id}"][data-state="revoked"]`, { timeout: 10000 });
  await guest.reload();
  const { state, status, message } = await shareSettled(guest, 30000);
  const after = {
    state,
    status,
    message,
    videoShown: await guest.$eval('#share-video', (v) => getComputedStyle(v).display !== 'none'),
  };
  if (shots) await guest.screenshot({ path: `${shots}/share-revoked.png` });
  result({
    id, link, linkHasKey: link.includes('#k='), prefilled, minute, chosen, sentence, linkInView, copyInView, copy, shared,
    played, played_error, video, videos, download, opened, after, phone: { sheet: sheetPhone, result: resultPhone, shares: sharesPhone },
  });
} finally {
  await browser.close();
}
