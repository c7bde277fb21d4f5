// Donate from the web app (G7): a member's browser, enrolled in the
// household, opens the camera page, chooses a range (FROM..TO, Unix ms) and
// "Donate to improve detection"; the sheet shows the workspace and its
// devices as the verified chain lists them; "Blur and preview" has the hub
// blur the clip and shows it; "Approve and donate" seals and sends it. The
// Go side then checks what the cloud holds (POST CONTROL_URL/donated). Then
// the donations page takes it back.
//
// Env: BASE_URL, HOUSEHOLD, CAMERA, CONTROL_URL, SESSION, CSRF, FROM, TO,
// SCREENSHOTS (optional).
import { launch, newPage, result, fail, signedInContext, enrol, control } from './lib.mjs';
import { axe, axeProblems, screenshot, smallControls, smallProblems } from './ux.mjs';

const base = process.env.BASE_URL;
const hh = process.env.HOUSEHOLD;
const cam = process.env.CAMERA;
const from = Number(process.env.FROM);
const to = Number(process.env.TO);

// openSheet opens the donate sheet on the camera page for FROM..TO.
const openSheet = async (page) => {
  await page.goto(`${base}/h/${encodeURIComponent(hh)}/cam/${encodeURIComponent(cam)}`);
  await page.waitForSelector('#tl-dl-from', { state: 'attached' });
  await page.click('.tl-dl summary');
  await page.evaluate(([a, b]) => {
    const local = (ms) => new Date(ms - new Date(ms).getTimezoneOffset() * 60000).toISOString().slice(0, 19);
    document.querySelector('#tl-dl-from').value = local(a);
    document.querySelector('#tl-dl-to').value = local(b);
  }, [from, to]);
  await page.click('#tl-donate');
  await page.waitForSelector('#donate-sheet');
  await page.waitForSelector('#donate-devices[data-count], #donate-error[data-error]', { state: 'attached', timeout: 60000 });
};

const browser = await launch();
const out = { screenshots: [] };
const shot = async (page, name) => {
  const p = await screenshot(page, name);
  if (p) out.screenshots.push(p);
};
try {
  const ctx = await signedInContext(browser, base, process.env.SESSION, process.env.CSRF, { viewport: { width: 390, height: 844 }, hasTouch: true, isMobile: true });
  const page = await newPage(ctx, 'donate');
  await enrol(page, base, '?name=kitchen%20tablet');

  await openSheet(page);
  const err = async () => page.$eval('#donate-error', (e) => e.dataset.error ?? '');
  if (await err()) fail(`the sheet: ${await err()}`);
  out.sheet = await page.evaluate(() => ({
    scope: document.querySelector('#donate-scope').textContent,
    fromMs: Number(document.querySelector('#donate-scope').dataset.fromMs),
    toMs: Number(document.querySelector('#donate-scope').dataset.toMs),
    workspace: document.querySelector('#donate-workspace').dataset.id,
    workspaceText: document.querySelector('#donate-workspace').textContent,
    devices: [...document.querySelectorAll('#donate-devices li')].map((li) => ({ id: li.dataset.device, role: li.dataset.role, name: li.querySelector('.grow').textContent })),
    purposes: [...document.querySelectorAll('#donate-purpose option')].map((o) => o.value),
    expires: document.querySelector('#donate-expires').selectedOptions[0].textContent,
    audio: document.querySelector('#donate-audio').checked,
  }));
  await shot(page, 'phone-donate-sheet');
  out.problems = [...smallProblems(await smallControls(page)), ...axeProblems(await axe(page, { include: '#donate-sheet' }))];

  await page.click('#donate-prepare');
  await page.waitForSelector('#donate-preview-box:not([hidden]), #donate-error[data-error]', { state: 'attached', timeout: 420000 });
  if (await err()) fail(`preparing: ${await err()}`);
  await page.waitForFunction(() => {
    const v = document.querySelector('#donate-preview');
    return v.readyState >= 1 && v.duration > 0;
  }, null, { timeout: 30000 });
  await page.$eval('#donate-preview', (v) => new Promise((resolve) => {
    v.addEventListener('seeked', resolve, { once: true });
    v.currentTime = Math.min(1, v.duration / 2);
  }));
  out.preview = await page.$eval('#donate-preview', (v) => ({
    duration: v.duration, width: v.videoWidth, height: v.videoHeight, sha256: v.dataset.sha256, original: v.dataset.originalSha256, bytes: Number(v.dataset.bytes),
  }));
  out.report = await page.$eval('#donate-report', (e) => ({ text: e.textContent, ...e.dataset }));
  await page.$eval('#donate-preview-box', (e) => e.scrollIntoView({ block: 'start' }));
  await shot(page, 'phone-donate-preview');

  await page.click('#donate-approve');
  await page.waitForSelector('#donate-done:not([hidden]), #donate-error[data-error]', { state: 'attached', timeout: 120000 });
  if (await err()) fail(`donating: ${await err()}`);
  out.done = await page.$eval('#donate-done', (e) => ({ id: e.dataset.id, sha256: e.dataset.sha256, text: e.textContent }));
  try {
    await control(`/donated?id=${encodeURIComponent(out.done.id)}&sha256=${out.preview.sha256}`, '');
    out.checked = '';
  } catch (e) {
    out.checked = String(e);
  }

  // Taken back from the donations page: one click and a confirmation.
  await page.click('#donate-mine');
  const row = `#dn-list li[data-id="${out.done.id}"]`;
  await page.waitForSelector(row, { timeout: 20000 });
  out.listed = await page.$eval(row, (li) => ({ state: li.dataset.state, text: li.textContent }));
  let confirmed = '';
  page.once('dialog', (d) => {
    confirmed = d.message();
    d.accept();
  });
  await page.click(`${row} .dn-revoke`);
  await page.waitForSelector(`${row}[data-state="revoked"], #dn-error.error`, { state: 'attached', timeout: 20000 });
  out.revoked = await page.$eval(row, (li) => ({ state: li.dataset.state, text: li.textContent, button: !!li.querySelector('.dn-revoke') }));
  out.confirmed = confirmed;
  out.revokeError = await page.$eval('#dn-error', (e) => e.textContent);
  await shot(page, 'phone-donations');
  out.problems.push(...smallProblems(await smallControls(page)), ...axeProblems(await axe(page)));

  // Cancelled while the hub works: the sheet goes, nothing is donated (the
  // Go side counts the cloud's donations).
  await openSheet(page);
  await page.click('#donate-prepare');
  await page.waitForFunction(() => /hub|Blurring/.test(document.querySelector('#donate-progress')?.textContent ?? '') || document.querySelector('#donate-error')?.dataset.error, null, { timeout: 120000 });
  out.cancelledAt = await page.$eval('#donate-progress', (e) => e.textContent);
  await page.click('#donate-cancel');
  await page.waitForSelector('#donate-sheet', { state: 'detached', timeout: 10000 });
  out.cancelled = true;

  // The hub off: the sheet says so in words.
  await control('/hub/stop', '');
  await openSheet(page);
  await page.click('#donate-prepare');
  await page.waitForSelector('#donate-error[data-error]', { state: 'attached', timeout: 120000 });
  out.offline = await page.$eval('#donate-error', (e) => e.textContent);
  result(out);
} finally {
  await browser.close();
}
