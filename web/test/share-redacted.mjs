// A member shares a range of a camera with faces in it as a redacted link:
// on the share sheet (opened on FROM..TO, Unix ms) "Blur faces and heads",
// "Blur and preview" has the household's hub blur the clip and shows it
// with the hub's report, and "Share the blurred clip" seals it and makes the
// link. A second context (never signed in) opens the link: it plays one
// blurred clip and says so. The Go side then opens the share as the guest
// (POST CONTROL_URL/shared?link=…) and answers a redacted link it made of
// the same clip, which the guest's context opens too. The member stops
// sharing from the shares page; the guest's reload is refused.
//
// Env: BASE_URL, HOUSEHOLD, CAMERA, CONTROL_URL, SESSION, CSRF, FROM, TO,
// SCREENSHOTS (optional).
import { control, enrol, fail, launch, newPage, result, shareSettled, signedInContext } from './lib.mjs';
import { axe, axeProblems, screenshot, smallControls, smallProblems } from './ux.mjs';

const base = process.env.BASE_URL;
const hh = process.env.HOUSEHOLD;
const cam = process.env.CAMERA;
const from = Number(process.env.FROM);
const to = Number(process.env.TO);

const browser = await launch();
const out = { screenshots: [], problems: [] };
const shot = async (page, name) => {
  const p = await screenshot(page, name);
  if (p) out.screenshots.push(p);
};
try {
  const ctx = await signedInContext(browser, base, process.env.SESSION, process.env.CSRF, { viewport: { width: 390, height: 844 }, hasTouch: true, isMobile: true });
  const page = await newPage(ctx, 'member');
  await enrol(page, base, '?name=hall%20phone');

  const q = new URLSearchParams({ camera: cam, from: new Date(from).toISOString(), to: new Date(to).toISOString() });
  await page.goto(`${base}/h/${encodeURIComponent(hh)}/shares?${q}`);
  await page.waitForSelector('dialog.sheet#share-sheet[open]', { timeout: 20000 });
  await page.check('#share-blur');
  out.sheet = await page.evaluate(() => ({
    fromMs: Number(document.querySelector('#share-when').dataset.fromMs),
    toMs: Number(document.querySelector('#share-when').dataset.toMs),
    button: document.querySelector('#share-create').textContent,
    note: document.querySelector('#share-blur-note').hidden ? '' : document.querySelector('#share-blur-note').textContent,
  }));
  await page.selectOption('#share-expires', '3600');
  await shot(page, 'phone-share-blur');
  out.problems.push(...smallProblems(await smallControls(page)), ...axeProblems(await axe(page, { include: '#share-sheet' })));

  await page.click('#share-create');
  await page.waitForSelector('#share-preview-box:not([hidden]), #share-sheet-error.error', { state: 'attached', timeout: 420000 });
  const sheetError = await page.$eval('#share-sheet-error', (e) => e.textContent);
  if (sheetError) fail(`blurring: ${sheetError}`);
  await page.waitForFunction(() => {
    const v = document.querySelector('#share-preview');
    return v.readyState >= 1 && v.duration > 0;
  }, null, { timeout: 30000 });
  out.preview = await page.$eval('#share-preview', (v) => ({
    duration: v.duration, width: v.videoWidth, sha256: v.dataset.sha256, original: v.dataset.originalSha256, bytes: Number(v.dataset.bytes),
  }));
  out.report = await page.$eval('#share-report', (e) => ({ text: e.textContent, ...e.dataset }));
  await shot(page, 'phone-share-blur-preview');
  out.problems.push(...smallProblems(await smallControls(page)), ...axeProblems(await axe(page, { include: '#share-sheet' })));

  await page.click('#share-approve');
  await page.waitForSelector('#share-link, #share-approve-error.error', { state: 'attached', timeout: 120000 });
  const approveError = await page.$eval('#share-approve-error', (e) => e.textContent);
  if (approveError) fail(`sharing: ${approveError}`);
  const link = await page.inputValue('#share-link');
  out.link = link;
  out.id = link.split('/s/')[1].split('#')[0];
  out.created = await page.evaluate(() => ({
    sentence: document.querySelector('#share-sentence').textContent,
    blurred: document.querySelector('#share-blurred')?.textContent ?? '',
    redacted: document.querySelector('#share-result').dataset.redacted,
    sha256: document.querySelector('#share-result').dataset.sha256,
  }));
  await shot(page, 'phone-share-blur-link');
  await page.click('#share-done');
  const row = `#shares-list li[data-share="${out.id}"]`;
  await page.waitForSelector(`${row}[data-state="active"]`, { timeout: 10000 });
  out.listed = await page.$eval(row, (li) => li.textContent);

  // The guest: another context, never signed in.
  const gctx = await browser.newContext({ viewport: { width: 390, height: 844 }, hasTouch: true, isMobile: true });
  const guest = await newPage(gctx, 'guest');
  await guest.goto(link);
  const { data: played, message: playedError } = await shareSettled(guest);
  out.played = played;
  out.playedError = playedError;
  await guest.waitForFunction(() => document.querySelector('#share-video').currentTime > 0.3, null, { timeout: 15000 }).catch(() => {});
  out.video = await guest.$eval('#share-video', (v) => ({ currentTime: v.currentTime, duration: v.duration, width: v.videoWidth }));
  out.blurredNote = await guest.$eval('#share-redacted', (e) => e.textContent).catch(() => '');
  await shot(guest, 'phone-share-blur-guest');
  out.problems.push(...axeProblems(await axe(guest)));

  // The Go side opens the share as the guest, before it is stopped, and
  // shares the same clip as a redacted link of its own (internal/share),
  // which the guest's browser opens.
  let goLink = '';
  try {
    const res = await control(`/shared?link=${encodeURIComponent(link)}&sha256=${out.preview.sha256}`, '');
    goLink = await res.text();
    out.checked = '';
  } catch (e) {
    out.checked = String(e);
  }
  if (goLink) {
    const gpage = await newPage(gctx, 'guest of Go');
    await gpage.goto(goLink);
    const { data, message } = await shareSettled(gpage);
    out.goPlayed = data;
    out.goError = message;
    await gpage.waitForFunction(() => document.querySelector('#share-video').currentTime > 0.3, null, { timeout: 15000 }).catch(() => {});
    out.goVideo = await gpage.$eval('#share-video', (v) => ({ currentTime: v.currentTime, width: v.videoWidth }));
    out.goNote = await gpage.$eval('#share-redacted', (e) => e.textContent).catch(() => '');
    await gpage.close();
  }

  // Stopped from the shares page; the guest's reload is refused.
  await page.click(`#shares-list button[data-share="${out.id}"]`);
  await page.waitForSelector(`${row}[data-state="revoked"]`, { timeout: 10000 });
  await guest.reload();
  const after = await shareSettled(guest, 30000);
  out.after = { state: after.state, status: after.status, message: after.message };
  result(out);
} finally {
  await browser.close();
}
