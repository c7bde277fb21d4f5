// Live view in Chromium on a phone (390x844, touch): sign in, enrol this
// browser (the Go test adds its device to the chain), and see the camera
// live on home with the time on the picture turning, full screen on a tap,
// and a new session after the connection drops; then, through a relay that
// swaps the hub's DTLS fingerprint, see the one-camera page refuse the
// session with the reason. With AUDIO_HZ it also listens to the camera's
// tone (and with SOUND_ONLY stops there).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { assert, fail, launch, newPage, result, toneIn, signInAndEnrol } from './lib.mjs';

const base = process.env.BASE_URL;
const hook = process.env.HOOK_URL;
const hh = process.env.HOUSEHOLD;
const cam = process.env.CAMERA;
const artifacts = process.env.ARTIFACTS || '.';

const browser = await launch();
try {
  const ctx = await browser.newContext({ viewport: { width: 390, height: 844 }, hasTouch: true, isMobile: true });
  const page = await newPage(ctx, 'live');

  // This browser's device identity (keys created on first use).
  const device = await signInAndEnrol(page, base, hook);

  // Home shows every camera live: this camera's tile plays.
  await page.goto(`${base}/h/${hh}`);
  const tileSel = `.cam-tile[data-camera="${cam}"]`;
  const videoSel = `${tileSel} video.live-video`;
  await page.locator(`${tileSel} a.cam-open`).waitFor({ timeout: 20000 });
  const video = page.locator(videoSel);
  try {
    await page.waitForSelector(`${videoSel}[data-first-frame-ms]`, { timeout: 20000 });
  } catch {
    fail('no live frame within 20 s; page says: ' + (await page.textContent('#app')));
  }
  const firstFrameMs = Number(await video.getAttribute('data-first-frame-ms'));
  const status = (await page.textContent(`${tileSel} .overlay-status`)).trim();

  // The time on the picture is the time now, and it turns every second.
  const readTime = () => page.$eval(`${tileSel} .overlay-time`, (el) => ({ text: el.textContent, at: Number(el.dataset.time), visible: el.checkVisibility(), now: Date.now() }));
  const t1 = await readTime();
  await page.waitForTimeout(1600);
  const t2 = await readTime();
  const timeAdvanced = t1.visible && t2.visible && t1.text !== t2.text && t2.at > t1.at;
  const timeSkewMs = Math.abs(t2.now - t2.at);

  // Full screen: the picture with its time fills the screen; a second tap leaves.
  await page.tap(`${tileSel} button.fullscreen`);
  const fullscreen = await page
    .waitForFunction((sel) => {
      const f = document.fullscreenElement;
      return !!f && f === document.querySelector(sel) && f.querySelector('.overlay-time').checkVisibility() && !!f.querySelector('video.live-video');
    }, `${tileSel} .media`, { timeout: 5000 })
    .then(() => true, () => false);
  const fullscreenLabel = await page.getAttribute(`${tileSel} button.fullscreen`, 'aria-label');
  if (fullscreen) await page.screenshot({ path: join(artifacts, 'live-fullscreen.png') });
  await page.tap(`${tileSel} button.fullscreen`).catch(() => undefined);
  const leftFullscreen = await page.waitForFunction(() => !document.fullscreenElement, null, { timeout: 5000 }).then(() => true, () => false);
  const widths = await page.evaluate(() => ({ scroll: document.documentElement.scrollWidth, inner: window.innerWidth }));

  // Sound (AUDIO_HZ: the camera sends a tone as G.711): the tile shows a
  // speaker button, muted until pressed; pressed, the tone plays, and the
  // page finds it in the received track with the Web Audio API.
  const sound = {};
  if (process.env.AUDIO_HZ) {
    const soundSel = `${tileSel} button.sound`;
    sound.shown = await page.locator(soundSel).waitFor({ state: 'visible', timeout: 10000 }).then(() => true, () => false);
    sound.mutedBefore = await video.evaluate((v) => v.muted);
    sound.labelBefore = await page.getAttribute(soundSel, 'aria-label');
    if (sound.shown) {
      await page.tap(soundSel);
      sound.pressed = await page.getAttribute(soundSel, 'aria-pressed');
      sound.label = await page.getAttribute(soundSel, 'aria-label');
      sound.mutedAfter = await video.evaluate((v) => v.muted);
      Object.assign(sound, await toneIn(video, Number(process.env.AUDIO_HZ)));
    }
  }
  // SOUND_ONLY: the test wants the sound and nothing after it.
  if (process.env.SOUND_ONLY) {
    result({ firstFrameMs, status, sound });
    await browser.close();
    process.exit(0);
  }

  const stats = () =>
    page.evaluate((sel) => {
      const v = document.querySelector(sel);
      const c = document.createElement('canvas');
      c.width = v.videoWidth;
      c.height = v.videoHeight;
      const g = c.getContext('2d');
      g.drawImage(v, 0, 0);
      const d = g.getImageData(0, 0, c.width, c.height).data;
      let sum = 0, sq = 0, n = 0, hash = 0;
      for (let i = 0; i < d.length; i += 4) {
        const y = 0.299 * d[i] + 0.587 * d[i + 1] + 0.114 * d[i + 2];
        sum += y;
        sq += y * y;
        n++;
        hash = (hash * 31 + d[i] + 7 * d[i + 1]) | 0;
      }
      const mean = sum / n;
      return { mean, std: Math.sqrt(Math.max(0, sq / n - mean * mean)), hash, width: c.width, height: c.height };
    }, videoSel);
  await page.waitForTimeout(300);
  const shot1 = await video.screenshot();
  const s1 = await stats();
  await page.waitForTimeout(1000);
  const shot2 = await video.screenshot();
  const s2 = await stats();
  writeFileSync(join(artifacts, 'live-1.png'), shot1);
  writeFileSync(join(artifacts, 'live-2.png'), shot2);
  await page.screenshot({ path: join(artifacts, 'live-page.png') });
  const differ = !shot1.equals(shot2) && s1.hash !== s2.hash;

  // The connection drops: the page starts a new session by itself.
  const drop = await fetch(hook + '/drop', { method: 'POST' });
  assert(drop.ok, 'drop hook');
  let reconnected = false;
  try {
    await page.waitForSelector(`${videoSel}[data-connects="2"]`, { timeout: 30000 });
    const r1 = await stats();
    await page.waitForTimeout(1000);
    const r2 = await stats();
    reconnected = r1.hash !== r2.hash;
  } catch {
    console.error('no reconnection; page says: ' + (await page.textContent('#app')));
  }

  // A page left in the background stops its session after 15 s, and
  // starts a new one when it is shown again.
  const setHidden = (hidden) =>
    page.evaluate((hidden) => {
      Object.defineProperty(document, 'hidden', { configurable: true, get: () => hidden });
      Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => (hidden ? 'hidden' : 'visible') });
      document.dispatchEvent(new Event('visibilitychange'));
    }, hidden);
  const connectsBefore = Number(await video.getAttribute('data-connects'));
  await setHidden(true);
  const pausedWhenHidden = await page
    .waitForFunction((sel) => document.querySelector(sel).srcObject === null, videoSel, { timeout: 25000 })
    .then(() => true, () => false);
  await setHidden(false);
  const resumedWhenShown = await page
    .waitForFunction(([sel, n]) => {
      const v = document.querySelector(sel);
      return Number(v.getAttribute('data-connects')) > n && v.srcObject !== null && !v.paused;
    }, [videoSel, connectsBefore], { timeout: 20000 })
    .then(() => true, () => false);

  // A relay that swaps the hub's fingerprint: the one-camera page refuses.
  const sw = await fetch(hook + '/swap', { method: 'POST' });
  assert(sw.ok, 'swap hook');
  await page.goto(`${base}/h/${hh}/cam/${cam}/live`);
  let refusal = '';
  try {
    await page.waitForSelector('.live-tile [role=alert]', { timeout: 20000 });
    refusal = (await page.textContent('.live-tile [role=alert]')).trim();
  } catch {
    refusal = 'no refusal shown; page says: ' + (await page.textContent('#app'));
  }
  await page.screenshot({ path: join(artifacts, 'live-refused.png') });

  const bigVideo = await page.locator('video.live-video.live-big').count();
  result({
    firstFrameMs, differ, reconnected, mean1: s1.mean, mean2: s2.mean, std1: s1.std, width: s1.width, height: s1.height, refusal, bigVideo,
    status, pausedWhenHidden, resumedWhenShown, timeAdvanced, timeSkewMs, times: [t1.text, t2.text], fullscreen, fullscreenLabel, leftFullscreen, pageWidth: widths.scroll, viewportWidth: widths.inner, sound,
  });
} finally {
  await browser.close();
}
