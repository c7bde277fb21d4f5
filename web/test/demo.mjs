// 'vigil demo' on a phone (390x844, touch): opening the printed link signs
// in, enrols this browser, and lands on home with every camera live (the
// time on each picture turning, full screen on a tap, the page no wider
// than the screen at 360, 390 and 430 px); the timeline fills with
// recordings; the inbox and home list the newest event with its snapshot.
// Env: DEMO_URL (the link), SECOND_URL (optional: a second fresh link,
// opened in the same browser after the first, as after a restart),
// EXPECT_EVENTS (wait for the camera's events).
// Result: {enrolled, firstFrameMs, shots: [png paths], home, segments,
//          timeline, events, homeEvents, reused, errors}.
import { launch, newPage, result, fail } from './lib.mjs';
import path from 'node:path';

const url = process.env.DEMO_URL;
// Home: /h/:hh, or /h/:hh/live (its old address).
const HOME = /\/h\/[^/]+(\/live)?$/;
if (!url) fail('DEMO_URL is not set');
const art = process.env.ARTIFACTS || '.';
/**
 * checkHome reads home as the phone shows it: every camera's tile, whether
 * it plays, whether the time on its picture turns, whether the full-screen
 * button puts the picture (with its time) full screen, and how wide the
 * page is at 360, 390 and 430 px.
 */
async function checkHome(page) {
  const tiles = async () => page.$$eval('.cam-tile', (ts) => ts.map((t) => {
    const v = t.querySelector('video.live-video');
    const time = t.querySelector('.overlay-time');
    return {
      camera: t.dataset.camera,
      live: !!v && v.hasAttribute('data-first-frame-ms') && v.videoWidth > 0,
      open: t.querySelector('a.cam-open')?.getAttribute('href') ?? '',
      status: t.querySelector('.overlay-status')?.textContent ?? '',
      time: time && time.checkVisibility() ? time.textContent : '',
      at: Number(time?.dataset.time ?? 0),
    };
  }));
  const before = await tiles();
  await page.waitForTimeout(1600);
  const after = await tiles();
  const cams = after.map((t, i) => ({ ...t, timeAdvanced: !!t.time && t.time !== before[i]?.time && t.at > (before[i]?.at ?? 0), skewMs: Math.abs(Date.now() - t.at) }));

  await page.tap('.cam-tile button.fullscreen');
  const fullscreen = await page.waitForFunction(() => {
    const f = document.fullscreenElement;
    return !!f && f.classList.contains('media') && !!f.querySelector('video.live-video') && f.querySelector('.overlay-time').checkVisibility();
  }, null, { timeout: 5000 }).then(() => true, () => false);
  await page.tap('.cam-tile button.fullscreen').catch(() => undefined);
  await page.waitForFunction(() => !document.fullscreenElement, null, { timeout: 5000 }).catch(() => undefined);

  const widths = {};
  for (const w of [360, 390, 430]) {
    await page.setViewportSize({ width: w, height: 844 });
    await page.waitForTimeout(100);
    widths[w] = await page.evaluate(() => document.documentElement.scrollWidth);
  }
  await page.setViewportSize({ width: 390, height: 844 });
  return { cams, fullscreen, widths };
}

const browser = await launch();
const errors = [];
try {
  const ctx = await browser.newContext({ viewport: { width: 390, height: 844 }, hasTouch: true, isMobile: true });
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
    await page.waitForURL(HOME, { timeout: 60_000 });
  } catch {
    const msg = await page.locator('#demo-error').textContent().catch(() => '');
    await page.screenshot({ path: path.join(art, 'demo-failed.png') });
    fail(`the demo page did not reach the live view: ${msg}`);
  }
  const enrolledMs = Date.now() - t0;
  if (requests.some((u) => u.includes('vgl_'))) fail('the sign-in token was sent in a URL');
  const hh = new URL(page.url()).pathname.split('/')[2];

  // Live video on every camera's tile: wait for the first frames, then two
  // screenshots a second apart.
  await page.locator('.cam-tile video.live-video').first().waitFor({ timeout: 30_000 });
  await page.waitForFunction(() => {
    const vs = [...document.querySelectorAll('.cam-tile video.live-video')];
    return vs.length && vs.every((v) => v.hasAttribute('data-refused') || (v.hasAttribute('data-first-frame-ms') && v.videoWidth > 0));
  }, null, { timeout: 60_000 }).catch(() => {});
  const video = page.locator('.cam-tile video.live-video').first();
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
  const home = await checkHome(page);

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
    await page.waitForSelector('.ev-row', { timeout: 90_000 }).catch(async () => {
      console.error(`[demo] no event in the inbox after 90 s; it says: ${await page.textContent('#app').catch(() => '?')}`);
    });
    await page.waitForFunction(() => [...document.querySelectorAll('.ev-row img.ev-snap')].some((i) => i.complete && i.naturalWidth > 0), null, { timeout: 30_000 }).catch(() => undefined);
    events = await page.$$eval('.ev-row', (els) => els.map((li) => ({
      camera: li.querySelector('.ev-camera')?.textContent ?? '',
      labels: li.dataset.labels ?? li.querySelector('.ev-labels')?.textContent ?? '',
      alert: li.dataset.alert === 'true',
      start: Number(li.dataset.start),
      snapshotWidth: li.querySelector('img.ev-snap')?.naturalWidth ?? 0,
    })));
    await page.screenshot({ path: path.join(art, 'demo-events.png') });
  }

  // Home lists the newest events, the newest first, with snapshots.
  let homeEvents = null;
  if (process.env.EXPECT_EVENTS) {
    await page.goto(new URL(`/h/${hh}`, url).href);
    await page.waitForSelector('#home-events .ev-row', { timeout: 60_000 }).catch(() => undefined);
    await page.waitForFunction(() => {
      const i = document.querySelector('#home-events .ev-row img.ev-snap');
      return i && i.complete && i.naturalWidth > 0;
    }, null, { timeout: 30_000 }).catch(() => undefined);
    homeEvents = await page.$$eval('#home-events .ev-row', (els) => els.map((li) => ({
      id: li.dataset.event ?? '',
      camera: li.querySelector('.ev-camera')?.textContent ?? '',
      kind: li.querySelector('.ev-kind')?.textContent ?? '',
      start: Number(li.dataset.start),
      snapshotWidth: li.querySelector('img.ev-snap')?.naturalWidth ?? 0,
      timeline: li.querySelector('a.ev-timeline')?.getAttribute('href') ?? '',
    })));
    const all = await page.$eval('#home-all-events', (a) => a.getAttribute('href')).catch(() => '');
    const width = await page.evaluate(() => document.documentElement.scrollWidth);
    homeEvents = { rows: homeEvents, all, width };
    await page.screenshot({ path: path.join(art, 'demo-home.png') });
  }

  // A second link (a restart of the demo) reuses this browser's enrolment.
  let reused = null;
  if (process.env.SECOND_URL) {
    await page.goto(process.env.SECOND_URL);
    await page.waitForURL(HOME, { timeout: 60_000 });
    reused = new URL(page.url()).pathname.split('/')[2] === hh;
  }
  result({ enrolled: true, household: hh, enrolledMs, liveMs, firstFrameMs, shots, home, segments, timeline, events, homeEvents, reused, errors });
} finally {
  await browser.close();
}
