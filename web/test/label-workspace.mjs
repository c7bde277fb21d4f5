// The labelling workspace's pages in Chromium (web/src/pages/label.ts), for
// internal/e2e/labelweb_test.go. Three browser contexts, three devices: an
// annotator, a reviewer and an outsider. Each shows its device identity on
// /label; the Go test (CONTROL_URL /devices) adds the first as an annotator
// and the second as a lead of workspace $WS. Before the donation is
// assigned the annotator sees no clip, and the outsider sees nothing at
// all (the cloud answers 404). After CONTROL_URL /assign the annotator
// opens the clip, draws a box on frame 0, moves it at frame $MOVE_AT and
// submits; the reviewer opens the clip and the annotation and accepts.
// $DRAW is [x, y, w, h] in clip pixels, $MOVE [dx, dy].
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { assert, control, launch, newPage, result } from './lib.mjs';

const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
// axe runs the page through axe-core (evaluated by the driver: the app's CSP allows no eval) and returns its serious and critical findings.
const axe = async (page) => {
  if (!(await page.evaluate(() => typeof window.axe === 'object'))) await page.evaluate(axeSource);
  return page.evaluate(async () => {
    const r = await window.axe.run(document.querySelector('#label-page'), { resultTypes: ['violations'] });
    return r.violations.filter((x) => x.impact === 'serious' || x.impact === 'critical').map((x) => `${x.id}: ${x.nodes.map((n) => n.target.join(' ')).join(', ')}`);
  });
};

const base = process.env.BASE_URL;
const ws = process.env.WS;
const draw = JSON.parse(process.env.DRAW);
const move = JSON.parse(process.env.MOVE);
const moveAt = Number(process.env.MOVE_AT);
const clipW = Number(process.env.CLIP_W);
const clipH = Number(process.env.CLIP_H);
const browser = await launch();
const out = {};
try {
  const open = async (name) => {
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 1000 } });
    const page = await newPage(ctx, name);
    await page.goto(base + '/label');
    await page.waitForSelector('#label-page[data-state="idle"]');
    const identity = (await page.textContent('#label-device-string')).trim();
    const id = (await page.textContent('#label-device-id')).trim();
    return { ctx, page, identity, id };
  };
  const ann = await open('annotator');
  const rev = await open('reviewer');
  const outsider = await open('outsider');
  out.devices = { annotator: ann.id, reviewer: rev.id, outsider: outsider.id };
  await control('/devices', JSON.stringify({ annotator: ann.identity, reviewer: rev.identity }));

  // openWorkspace types the workspace ID and waits for the page to settle.
  const openWorkspace = async (page) => {
    await page.fill('#label-ws', ws);
    await page.click('#label-ws-open');
    await page.waitForSelector('#label-page:not([data-state="loading"])', { timeout: 30000 });
    return page.getAttribute('#label-page', 'data-state');
  };

  // The outsider's device is in no chain: the cloud answers 404 and the page says so.
  out.outsiderState = await openWorkspace(outsider.page);
  out.outsiderStatus = await outsider.page.textContent('#label-status');
  out.outsiderList = await outsider.page.isVisible('#label-list');

  // The annotator before the assignment: in the workspace, but no clip.
  out.annotatorState = await openWorkspace(ann.page);
  await ann.page.waitForSelector('#label-list[data-count]');
  out.unassignedCount = Number(await ann.page.getAttribute('#label-list', 'data-count'));
  out.unassignedText = await ann.page.textContent('#label-list');

  // A cloud that serves the chain as it was before (the annotator's device
  // not yet in it) after the browser verified a longer one: refused.
  await ann.page.route('**/chain', async (route) => {
    const res = await route.fetch();
    const c = await res.json();
    c.links = c.links.slice(0, c.links.length - 1);
    c.log_index = (c.log_index ?? []).slice(0, c.links.length);
    await route.fulfill({ response: res, body: JSON.stringify(c) });
  });
  out.rollbackState = await openWorkspace(ann.page);
  out.rollbackStatus = await ann.page.textContent('#label-status');
  await ann.page.unroute('**/chain');

  await control('/assign');

  // A forged answer from the cloud shows no frame: the clip with one byte
  // changed (not the bytes the consent names), then a consent whose
  // signature is not the donor device's.
  const refusedWith = async (pattern, forge) => {
    await ann.page.route(pattern, async (route) => {
      const res = await route.fetch();
      await route.fulfill({ response: res, body: forge(await res.body()) });
    });
    await openWorkspace(ann.page);
    await ann.page.waitForSelector('#label-list[data-count="1"]');
    await ann.page.click('#label-list button[data-donation]');
    await ann.page.waitForSelector('#label-work:is([data-state="refused"], [data-state="open"])', { timeout: 60000 });
    const got = { state: await ann.page.getAttribute('#label-work', 'data-state'), error: await ann.page.textContent('#label-work'), videos: await ann.page.locator('video').count() };
    await ann.page.unroute(pattern);
    return got;
  };
  out.forgedClip = await refusedWith('**/clip', (b) => {
    const c = Buffer.from(b);
    c[c.length >> 1] ^= 1;
    return c;
  });
  out.forgedConsent = await refusedWith('**/assignments', (b) => {
    const list = JSON.parse(b.toString());
    for (const d of list) {
      const [body, sig] = d.consent.split('.');
      d.consent = body + '.' + (sig[0] === 'A' ? 'B' : 'A') + sig.slice(1);
    }
    return Buffer.from(JSON.stringify(list));
  });

  // Reopen: the clip assigned to this device.
  await openWorkspace(ann.page);
  await ann.page.waitForSelector('#label-list[data-count="1"]');
  await ann.page.click('#label-list button[data-donation]');
  await ann.page.waitForSelector('#label-work[data-state="open"]', { timeout: 60000 });
  await ann.page.waitForSelector('.an-editor[data-frame="0"][data-shown-frame]', { timeout: 30000 });

  const canvas = await ann.page.$('.an-canvas');
  const toPage = async (x, y) => {
    const r = await canvas.boundingBox();
    return [r.x + (x * r.width) / clipW, r.y + (y * r.height) / clipH];
  };
  const drag = async (x0, y0, x1, y1) => {
    await canvas.scrollIntoViewIfNeeded();
    const [a, b] = await toPage(x0, y0);
    const [c, d] = await toPage(x1, y1);
    await ann.page.mouse.move(a, b);
    await ann.page.mouse.down();
    await ann.page.mouse.move(c, d, { steps: 8 });
    await ann.page.mouse.up();
  };
  await ann.page.selectOption('#an-label', 'person');
  const [x, y, w, h] = draw;
  await drag(x, y, x + w, y + h);
  await ann.page.waitForSelector('.an-editor[data-tracks="1"]');
  // Save a draft (version 1), then move the box at a later frame and submit (version 2).
  await ann.page.click('#label-save');
  await ann.page.waitForSelector('#label-work[data-state="saved"]', { timeout: 30000 });
  await ann.page.focus('.an-canvas');
  for (let i = 0; i < moveAt; i++) await ann.page.keyboard.press('Period');
  await ann.page.waitForSelector(`.an-editor[data-frame="${moveAt}"][data-shown-frame]`, { timeout: 30000 });
  await drag(x + w / 2, y + h / 2, x + w / 2 + move[0], y + h / 2 + move[1]);
  await ann.page.click('#an-submit');
  await ann.page.waitForSelector('#label-work[data-state="submitted"]', { timeout: 30000 });
  out.annotatorVersion = Number(await ann.page.getAttribute('#label-work', 'data-version'));
  out.axe = await axe(ann.page);
  await ann.page.screenshot({ path: join(process.env.ARTIFACTS, 'label-annotator.png'), fullPage: true });
  out.annotatorStatus = await ann.page.textContent('#label-work-status');

  // The reviewer: a lead, sees the donation annotated and reviews it.
  const review = async () => {
    await rev.page.waitForSelector('#label-list button[data-donation]');
    await rev.page.click('#label-list button[data-donation]');
    await rev.page.waitForSelector('#label-work[data-state="open"]', { timeout: 60000 });
    await rev.page.waitForSelector('.an-editor[data-mode="review"][data-shown-frame]', { timeout: 30000 });
  };
  out.reviewerState = await openWorkspace(rev.page);
  await review();
  // First sent back: the annotator finds it so, and submits again (a new version).
  await rev.page.click('#an-send-back');
  await rev.page.waitForSelector('#label-work[data-state="sent-back"]', { timeout: 30000 });
  await openWorkspace(ann.page);
  await ann.page.waitForSelector('#label-list li[data-state="assigned"] button[data-donation]');
  await ann.page.click('#label-list button[data-donation]');
  await ann.page.waitForSelector('#label-work[data-state="open"]', { timeout: 60000 });
  await ann.page.waitForSelector('.an-editor[data-shown-frame]', { timeout: 30000 });
  out.sentBackStatus = await ann.page.textContent('#label-work-status');
  out.sentBackEditorState = await ann.page.getAttribute('.an-editor', 'data-state');
  await ann.page.click('#an-submit');
  await ann.page.waitForSelector('#label-work[data-state="submitted"]', { timeout: 30000 });
  out.resubmittedVersion = Number(await ann.page.getAttribute('#label-work', 'data-version'));

  await openWorkspace(rev.page);
  await review();
  out.reviewTracks = Number(await rev.page.getAttribute('.an-editor', 'data-tracks'));
  out.reviewEditToolsHidden = await rev.page.$eval('.an-tools', (el) => el.hidden);
  await rev.page.click('#an-accept');
  await rev.page.waitForSelector('#label-work[data-state="accepted"]', { timeout: 30000 });
  out.reviewStatus = await rev.page.textContent('#label-work-status');
  out.axe.push(...(await axe(rev.page)), ...(await axe(outsider.page)));
  await rev.page.screenshot({ path: join(process.env.ARTIFACTS, 'label-reviewer.png'), fullPage: true });
  await rev.page.waitForSelector('#label-list li[data-state="accepted"]');
  assert(out.reviewTracks === 1, `the reviewer sees ${out.reviewTracks} tracks`);
  result(out);
} catch (e) {
  for (const c of browser.contexts()) for (const p of c.pages()) await p.screenshot({ path: `${process.env.ARTIFACTS}/label-failure-${Math.random().toString(36).slice(2, 6)}.png`, fullPage: true }).catch(() => {});
  console.error('screenshots in', process.env.ARTIFACTS);
  throw e;
} finally {
  await browser.close();
}
