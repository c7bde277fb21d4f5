// 'vigil demo': opening the printed link signs in, enrols this browser, and
// shows live video; the timeline fills with recordings.
// Env: DEMO_URL (the link), SECOND_URL (optional: a second fresh link,
// opened in the same browser after the first, as after a restart).
// Result: {enrolled, firstFrameMs, shots: [png paths], segments, timeline,
//          reused, errors}.
import { launch, newPage, result, fail } from './lib.mjs';
import path from 'node:path';

const url = process.env.DEMO_URL;
if (!url) fail('DEMO_URL is not set');
const art = process.env.ARTIFACTS || '.';
const browser = await launch();
const errors = [];
try {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await newPage(ctx, 'demo');
  page.on('pageerror', (e) => errors.push(e.message));
  const requests = [];
  page.on('request', (r) => requests.push(r.url()));
  page.on('response', (r) => { if (r.status() >= 400) console.error(`[demo] ${r.request().method()} ${new URL(r.url()).pathname}: ${r.status()}`); });
  const t0 = Date.now();
  await page.goto(url);
  // The secrets leave the address bar at once.
  if (page.url().includes('#')) fail(`the fragment stayed in the address bar: ${page.url()}`);
  try {
    await page.waitForURL(/\/h\/[^/]+\/live$/, { timeout: 60_000 });
  } catch {
    const msg = await page.locator('#demo-error').textContent().catch(() => '');
    await page.screenshot({ path: path.join(art, 'demo-failed.png') });
    fail(`the demo page did not reach the live view: ${msg}`);
  }
  const enrolledMs = Date.now() - t0;
  if (requests.some((u) => u.includes('vgl_'))) fail('the sign-in token was sent in a URL');
  const hh = new URL(page.url()).pathname.split('/')[2];

  // Live video: wait for the first frame, then two screenshots a second apart.
  const video = page.locator('video.live-video').first();
  await video.waitFor({ timeout: 30_000 });
  await page.waitForFunction(() => {
    const v = document.querySelector('video.live-video');
    return v && (v.hasAttribute('data-first-frame-ms') || v.hasAttribute('data-refused')) && v.videoWidth > 0;
  }, null, { timeout: 60_000 }).catch(() => {});
  const refused = await video.getAttribute('data-refused');
  if (refused) fail(`live view refused: ${refused}`);
  const liveMs = Date.now() - t0;
  const firstFrameMs = Number(await video.getAttribute('data-first-frame-ms'));
  await page.waitForTimeout(500);
  const shots = [path.join(art, 'demo-live-1.png'), path.join(art, 'demo-live-2.png')];
  await video.screenshot({ path: shots[0] });
  await page.waitForTimeout(1000);
  await video.screenshot({ path: shots[1] });
  await page.screenshot({ path: path.join(art, 'demo-live-page.png') });

  // The timeline fills: recordings listed by the API, and the camera's
  // timeline page (when it draws ranges) shows them.
  let segments = 0;
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    segments = await page.evaluate(async (hh) => {
      const r = await fetch(`/v1/households/${hh}/objects?camera=front`, { credentials: 'same-origin' });
      return r.ok ? ((await r.json()).objects || []).length : -r.status;
    }, hh);
    if (segments >= 3) break;
    await page.waitForTimeout(1000);
  }
  let timeline = null;
  await page.goto(new URL(`/h/${hh}/cam/front`, url).href);
  // The camera page's bar (#tl-bar) draws one .tl-range per recorded range.
  timeline = await page.waitForSelector('#tl-bar .tl-range', { state: 'attached', timeout: 30_000 })
    .then(() => page.locator('#tl-bar .tl-range').count(), () => 0);
  await page.screenshot({ path: path.join(art, 'demo-timeline.png') });

  // The camera detects the people walking: the inbox shows a person event,
  // opened in this browser, with its snapshot.
  let events = [];
  if (process.env.EXPECT_EVENTS) {
    await page.goto(new URL(`/h/${hh}/events`, url).href);
    await page.waitForSelector('.ev-row', { timeout: 90_000 });
    await page.waitForFunction(() => [...document.querySelectorAll('.ev-row img.ev-snap')].some((i) => i.complete && i.naturalWidth > 0), null, { timeout: 30_000 }).catch(() => undefined);
    events = await page.$$eval('.ev-row', (els) => els.map((li) => ({
      camera: li.querySelector('.ev-camera')?.textContent ?? '',
      labels: li.querySelector('.ev-labels')?.textContent ?? '',
      alert: !!li.querySelector('.ev-alert'),
      snapshotWidth: li.querySelector('img.ev-snap')?.naturalWidth ?? 0,
    })));
    await page.screenshot({ path: path.join(art, 'demo-events.png') });
  }

  // A second link (a restart of the demo) reuses this browser's enrolment.
  let reused = null;
  if (process.env.SECOND_URL) {
    await page.goto(process.env.SECOND_URL);
    await page.waitForURL(/\/h\/[^/]+\/live$/, { timeout: 60_000 });
    reused = new URL(page.url()).pathname.split('/')[2] === hh;
  }
  result({ enrolled: true, household: hh, enrolledMs, liveMs, firstFrameMs, shots, segments, timeline, events, reused, errors });
} finally {
  await browser.close();
}
