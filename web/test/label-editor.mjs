// The annotation editor and payload code in Chromium (web/src/label), for
// internal/e2e/label_test.go. $INPUT (JSON) holds payloads to read (cases),
// the clip to annotate (clip: a path to an H.264 MP4; id, fps, width,
// height, frames), the box to draw at frame 0 (draw: [x, y, w, h] in clip
// pixels) and how far to drag it at frame 20 (move: [dx, dy]). This reads
// the cases, then, as an annotator, draws the box with the mouse, steps to
// frame 20 with the keyboard, drags the box there, marks it leaving view at
// frame 30 and submits; then, as a reviewer, opens the submitted payload
// and accepts it. It prints what the page read, the payloads it emitted,
// the frame the video presented after each seek and its grey levels (the
// Go test compares them with ffmpeg's frames), and a screenshot's path.
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { assert, launch, newPage, result } from './lib.mjs';
import { serveTestBundle } from './cryptoserve.mjs';

const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
const input = JSON.parse(await readFile(process.env.INPUT, 'utf8'));
const LUMA_W = 96;
const LUMA_H = 72;
const srv = await serveTestBundle();
const browser = await launch();
const out = {};
try {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 1000 } });
  const page = await newPage(ctx, 'label');
  await page.goto(srv.url + '/label.html');
  await page.waitForFunction(() => window.vigilReady === true);

  out.read = await page.evaluate((cases) => window.vigilTest.read(cases), input.cases);

  const clip = (await readFile(input.clip)).toString('base64');
  const geometry = { clip, id: input.id, fps: input.fps, width: input.width, height: input.height, frames: input.frames };
  await page.evaluate((o) => window.vigilTest.open(o), { ...geometry, mode: 'annotate', user: input.annotator });

  // waitShown waits until the editor has shown frame f and returns the
  // frame the video reported presenting and its grey levels.
  const waitShown = async (f) => {
    await page.waitForSelector(`.an-editor[data-frame="${f}"][data-shown-frame]`, { timeout: 20000 });
    const shown = Number(await page.$eval('.an-editor', (el) => el.dataset.shownFrame));
    const luma = await page.evaluate(([w, h]) => window.vigilTest.luma(w, h), [LUMA_W, LUMA_H]);
    return { frame: f, shown, luma };
  };
  // toPage maps clip pixels to page coordinates over the canvas.
  const canvas = await page.$('.an-canvas');
  const toPage = async (x, y) => {
    const r = await canvas.boundingBox();
    return [r.x + (x * r.width) / input.width, r.y + (y * r.height) / input.height];
  };
  const dragClip = async (x0, y0, x1, y1) => {
    const [a, b] = await toPage(x0, y0);
    const [c, d] = await toPage(x1, y1);
    await page.mouse.move(a, b);
    await page.mouse.down();
    await page.mouse.move(c, d, { steps: 8 });
    await page.mouse.up();
  };
  out.frames = [];
  out.frames.push(await waitShown(0));

  // Frame 0: draw a new "person" track around the pedestrian.
  await page.selectOption('#an-label', 'person');
  const [x, y, w, h] = input.draw;
  await dragClip(x, y, x + w, y + h);
  await page.waitForSelector('.an-editor[data-tracks="1"]');

  // Frame 20 by the keyboard (Shift+. twice), then drag the box from its middle.
  await page.focus('.an-canvas');
  await page.keyboard.press('Shift+Period');
  await page.keyboard.press('Shift+Period');
  out.frames.push(await waitShown(20));
  await dragClip(x + w / 2, y + h / 2, x + w / 2 + input.move[0], y + h / 2 + input.move[1]);
  await page.waitForFunction(() => window.vigilTest.editor().annotation().tracks[0]?.keyframes.length === 2);
  // The keyboard: Shift+ArrowRight then ArrowLeft moves the box 9 pixels right.
  await page.focus('.an-canvas');
  await page.keyboard.press('Shift+ArrowRight');
  await page.keyboard.press('ArrowLeft');
  out.nudged = await page.evaluate(() => window.vigilTest.editor().annotation().tracks[0].keyframes[1].box);
  await page.keyboard.press('Shift+ArrowLeft');
  await page.keyboard.press('ArrowRight');
  out.axe = await page.evaluate(async (src) => {
    if (typeof window.axe !== 'object') new Function(src)();
    const r = await window.axe.run(document.querySelector('.an-editor'), { resultTypes: ['violations'] });
    return r.violations.filter((x) => x.impact === 'serious' || x.impact === 'critical').map((x) => `${x.id}: ${x.nodes.map((n) => n.target.join(' ')).join(', ')}`);
  }, axeSource);
  const shot = join(process.env.SCREENSHOTS || process.env.ARTIFACTS, 'desktop-annotator.png');
  await page.screenshot({ path: shot, fullPage: true });
  out.screenshot = shot;

  // Frame 10 (back by the button): the box between the keyframes is dashed (interpolated).
  await page.click('#an-back10');
  out.frames.push(await waitShown(10));
  out.at10 = await page.$eval('.an-track .sub', (el) => el.textContent);
  // Occluded makes a keyframe of the interpolated box; Delete keyframe takes it away again.
  const keys = () => page.evaluate(() => window.vigilTest.editor().annotation().tracks.map((t) => t.keyframes));
  await page.click('#an-occluded');
  out.occluded = { keys: await keys(), pressed: await page.getAttribute('#an-occluded', 'aria-pressed') };
  await page.click('#an-del-key');
  out.afterDelKey = await keys();

  // Frame 30 (Next ten times by the key): the track leaves view.
  await page.click('#an-fwd10');
  await waitShown(20);
  for (let i = 0; i < 10; i++) await page.keyboard.press('Period');
  out.frames.push(await waitShown(30));
  // A box drawn away from the selected track (in view here) is a new track; Delete track removes it.
  await dragClip(40, 400, 120, 520);
  await page.waitForSelector('.an-editor[data-tracks="2"]');
  out.second = await page.evaluate(() => window.vigilTest.editor().annotation().tracks[1]);
  await page.click('#an-del-track');
  await page.waitForSelector('.an-editor[data-tracks="1"]');
  if ((await page.getAttribute('.an-track-pick[data-track="1"]', 'aria-pressed')) !== 'true') await page.click('.an-track-pick[data-track="1"]');
  await page.click('#an-outside');
  await page.click('#an-submit');
  await page.waitForSelector('.an-editor[data-state="in_review"]');
  const submitted = await page.evaluate(() => window.vigilTest.events.filter((e) => e.type === 'annotation-submit'));
  assert(submitted.length === 1, `${submitted.length} submit events`);
  out.submitted = submitted[0].json;
  out.changes = await page.evaluate(() => window.vigilTest.events.filter((e) => e.type === 'annotation-change').length);

  // The annotator cannot review their own annotation.
  await page.reload();
  await page.waitForFunction(() => window.vigilReady === true);
  await page.evaluate((o) => window.vigilTest.open(o), { ...geometry, mode: 'review', user: input.annotator, payload: out.submitted });
  await page.waitForSelector('.an-editor[data-shown-frame]');
  out.selfReviewDisabled = await page.$eval('#an-accept', (b) => b.disabled);

  // A reviewer can send it back instead.
  await page.reload();
  await page.waitForFunction(() => window.vigilReady === true);
  await page.evaluate((o) => window.vigilTest.open(o), { ...geometry, mode: 'review', user: input.reviewer, payload: out.submitted });
  await page.waitForSelector('.an-editor[data-shown-frame]');
  await page.click('#an-send-back');
  await page.waitForSelector('.an-editor[data-state="rejected"]');
  out.sentBack = await page.evaluate(() => window.vigilTest.events.filter((e) => e.type === 'annotation-review')[0].json);

  // The reviewer accepts it.
  await page.reload();
  await page.waitForFunction(() => window.vigilReady === true);
  await page.evaluate((o) => window.vigilTest.open(o), { ...geometry, mode: 'review', user: input.reviewer, payload: out.submitted });
  await page.waitForSelector('.an-editor[data-shown-frame]');
  out.reviewTools = await page.$eval('.an-tools', (el) => el.hidden);
  await page.click('#an-accept');
  await page.waitForSelector('.an-editor[data-state="accepted"]');
  const reviewed = await page.evaluate(() => window.vigilTest.events.filter((e) => e.type === 'annotation-review'));
  assert(reviewed.length === 1, `${reviewed.length} review events`);
  out.accepted = reviewed[0].json;
  out.lumaSize = [LUMA_W, LUMA_H];
  result(out);
} finally {
  await browser.close();
  srv.close();
}
