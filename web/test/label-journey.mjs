// The labelling loop in the browser, for internal/e2e/labeljourney_test.go:
// three contexts, three devices. The annotator's and the reviewer's
// browsers show their identities on /label and the Go side adds them to
// workspace $WS (CONTROL_URL /devices). The member's browser, enrolled in
// the household, donates FROM..TO (Unix ms) of CAMERA from the camera page:
// the sheet, the hub's blurred preview, "Approve and donate". The Go side
// opens the donation as a lead and answers with what to draw
// (CONTROL_URL /donated: { frame, draws: [{ start, end, box }] } in clip
// pixels), then assigns it (CONTROL_URL /assign). The annotator opens the
// clip, steps to the frame, draws one "person" track per box and submits;
// the reviewer opens it and accepts.
//
// Env: BASE_URL, HOUSEHOLD, CAMERA, CONTROL_URL, SESSION, CSRF, WS, FROM, TO.
import { join } from 'node:path';
import { control, enrol, fail, launch, newPage, result, signedInContext } from './lib.mjs';

const base = process.env.BASE_URL;
const hh = process.env.HOUSEHOLD;
const cam = process.env.CAMERA;
const ws = process.env.WS;
const from = Number(process.env.FROM);
const to = Number(process.env.TO);
const browser = await launch();
const out = {};
try {
  // The workspace's two browsers.
  const labeller = async (name) => {
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 1000 } });
    const page = await newPage(ctx, name);
    await page.goto(base + '/label');
    await page.waitForSelector('#label-page[data-state="idle"]');
    return { page, identity: (await page.textContent('#label-device-string')).trim(), id: (await page.textContent('#label-device-id')).trim() };
  };
  const ann = await labeller('annotator');
  const rev = await labeller('reviewer');
  out.devices = { annotator: ann.id, reviewer: rev.id };
  await control('/devices', JSON.stringify({ annotator: ann.identity, reviewer: rev.identity }));

  // The member donates.
  const ctx = await signedInContext(browser, base, process.env.SESSION, process.env.CSRF);
  const page = await newPage(ctx, 'member');
  await enrol(page, base, '?name=kitchen%20tablet');
  await page.goto(`${base}/h/${encodeURIComponent(hh)}/cam/${encodeURIComponent(cam)}`);
  await page.waitForSelector('#tl-dl-from', { state: 'attached' });
  await page.click('.tl-dl summary');
  await page.evaluate(([a, b]) => {
    const local = (ms) => new Date(ms - new Date(ms).getTimezoneOffset() * 60000).toISOString().slice(0, 19);
    document.querySelector('#tl-dl-from').value = local(a);
    document.querySelector('#tl-dl-to').value = local(b);
  }, [from, to]);
  await page.click('#tl-donate');
  await page.waitForSelector('#donate-devices[data-count], #donate-error[data-error]', { state: 'attached', timeout: 60000 });
  const err = async () => page.$eval('#donate-error', (e) => e.dataset.error ?? '');
  if (await err()) fail(`the sheet: ${await err()}`);
  out.sheet = await page.evaluate(() => ({
    workspace: document.querySelector('#donate-workspace').dataset.id,
    devices: [...document.querySelectorAll('#donate-devices li')].map((li) => li.dataset.device),
  }));
  await page.click('#donate-prepare');
  await page.waitForSelector('#donate-preview-box:not([hidden]), #donate-error[data-error]', { state: 'attached', timeout: 480000 });
  if (await err()) fail(`preparing: ${await err()}`);
  await page.waitForFunction(() => {
    const v = document.querySelector('#donate-preview');
    return v.readyState >= 1 && v.duration > 0;
  }, null, { timeout: 30000 });
  out.preview = await page.$eval('#donate-preview', (v) => ({ duration: v.duration, sha256: v.dataset.sha256, original: v.dataset.originalSha256 }));
  out.report = await page.$eval('#donate-report', (e) => ({ ...e.dataset }));
  await page.click('#donate-approve');
  await page.waitForSelector('#donate-done:not([hidden]), #donate-error[data-error]', { state: 'attached', timeout: 120000 });
  if (await err()) fail(`donating: ${await err()}`);
  out.donation = await page.$eval('#donate-done', (e) => e.dataset.id);
  const plan = await (await control(`/donated?id=${encodeURIComponent(out.donation)}&sha256=${out.preview.sha256}`, '')).json();
  out.plan = plan;
  await control('/assign');

  // openWorkspace types the workspace ID and waits for the page to settle.
  const openWorkspace = async (p) => {
    await p.fill('#label-ws', ws);
    await p.click('#label-ws-open');
    await p.waitForSelector('#label-page:not([data-state="loading"])', { timeout: 30000 });
  };
  const openClip = async (p) => {
    await p.waitForSelector('#label-list button[data-donation]', { timeout: 30000 });
    await p.click(`#label-list button[data-donation="${out.donation}"]`);
    await p.waitForSelector('#label-work[data-state="open"]', { timeout: 60000 });
    await p.waitForSelector('.an-editor[data-shown-frame]', { timeout: 30000 });
  };

  // The annotator: to the frame, one track a person.
  await openWorkspace(ann.page);
  await openClip(ann.page);
  const a = ann.page;
  const [w, h] = await a.$eval('.an-canvas', (c) => [c.width, c.height]);
  if (!(w > 0 && h > 0)) fail(`the editor's clip size: ${w}x${h}`);
  await a.focus('.an-canvas');
  for (let i = 0; i < plan.frame; i++) await a.keyboard.press('Period');
  await a.waitForSelector(`.an-editor[data-frame="${plan.frame}"][data-shown-frame="${plan.frame}"]`, { timeout: 30000 });
  await a.selectOption('#an-label', 'person');
  const canvas = await a.$('.an-canvas');
  await canvas.scrollIntoViewIfNeeded();
  const r = await canvas.boundingBox();
  const toPage = ([x, y]) => [r.x + (x * r.width) / w, r.y + (y * r.height) / h];
  for (const [i, d] of plan.draws.entries()) {
    const [x0, y0] = toPage(d.start);
    const [x1, y1] = toPage(d.end);
    await a.mouse.move(x0, y0);
    await a.mouse.down();
    await a.mouse.move(x1, y1, { steps: 8 });
    await a.mouse.up();
    await a.waitForSelector(`.an-editor[data-tracks="${i + 1}"]`, { timeout: 10000 });
  }
  out.tracks = Number(await a.getAttribute('.an-editor', 'data-tracks'));
  await a.screenshot({ path: join(process.env.ARTIFACTS, 'journey-annotator.png'), fullPage: true });
  await a.click('#an-submit');
  await a.waitForSelector('#label-work[data-state="submitted"]', { timeout: 30000 });
  out.submitted = Number(await a.getAttribute('#label-work', 'data-version'));

  // The reviewer accepts.
  await openWorkspace(rev.page);
  await openClip(rev.page);
  await rev.page.waitForSelector('.an-editor[data-mode="review"]');
  await rev.page.click('#an-accept');
  await rev.page.waitForSelector('#label-work[data-state="accepted"]', { timeout: 30000 });
  out.accepted = await rev.page.textContent('#label-work-status');
  result(out);
} catch (e) {
  for (const c of browser.contexts()) for (const p of c.pages()) await p.screenshot({ path: `${process.env.ARTIFACTS}/journey-failure-${Math.random().toString(36).slice(2, 6)}.png`, fullPage: true }).catch(() => {});
  console.error('screenshots in', process.env.ARTIFACTS);
  throw e;
} finally {
  await browser.close();
}
