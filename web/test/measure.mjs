// Measures the web app against 'vigil demo --clock' (whose camera burns the
// wall-clock time into every frame, see internal/softcam/clock.go):
//   - first live frame: from a click on a link to a camera's live page
//     (from home, where every camera plays already) to the first frame that
//     page presents (requestVideoFrameCallback), N times;
//   - glass-to-glass: for ~FRAMES frames of the live view, the time the
//     browser presents the frame minus the time drawn into it, both read on
//     this machine's clock (the frame is drawn into a canvas and its blocks
//     decoded);
//   - seek: from a click on the timeline to the first frame played.
// Env: DEMO_URL, CAMERA (front), RUNS (5), FRAMES (100).
// Result: {firstFrameMs: [...], firstFrame: {p50, max}, g2g: {n, p50, p95,
//          min, max}, seekMs: [...], seek: {p50, max}, decodeFailures}.
import { launch, newPage, result, fail } from './lib.mjs';
import path from 'node:path';

const url = process.env.DEMO_URL;
if (!url) fail('DEMO_URL is not set (the link printed by vigil demo --clock)');
const camera = process.env.CAMERA || 'front';
const runs = Number(process.env.RUNS || 5);
const frames = Number(process.env.FRAMES || 100);
const art = process.env.ARTIFACTS || '';
const log = (m) => console.error(m);

const pct = (xs, p) => {
  if (!xs.length) return null;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
};
const summary = (xs) => ({ n: xs.length, p50: pct(xs, 50), p95: pct(xs, 95), min: xs.length ? Math.min(...xs) : null, max: xs.length ? Math.max(...xs) : null });

const browser = await launch();
try {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await newPage(ctx, 'measure');
  await page.goto(url);
  // Home: /h/:hh, or /h/:hh/live (its old address).
  await page.waitForURL(/\/h\/[^/]+(\/live)?$/, { timeout: 60_000 }).catch(async () => {
    fail(`the demo link did not reach home: ${await page.locator('#demo-error').textContent().catch(() => '?')}`);
  });
  const hh = new URL(page.url()).pathname.split('/')[2];
  const home = new URL(`/h/${hh}`, url).href;

  // 1. A click on a link to the camera's live page -> first presented frame there.
  const firstFrameMs = [];
  for (let i = 0; i < runs; i++) {
    if (new URL(page.url()).pathname !== `/h/${hh}`) await page.goto(home);
    // Let home's own view settle so the click measures a fresh session.
    await page.waitForSelector(`.cam-tile[data-camera="${camera}"] video.live-video[data-first-frame-ms]`, { timeout: 30_000 }).catch(() => {});
    const ms = await page.evaluate(async ([hh, cam]) => {
      return await new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('no frame within 20 s of the click')), 20_000);
        const hook = () => {
          const v = document.querySelector('video.live-big');
          if (!v || v.__measured) return false;
          v.__measured = true;
          v.requestVideoFrameCallback((now) => {
            clearTimeout(timer);
            obs.disconnect();
            resolve(now - clicked);
          });
          return true;
        };
        const obs = new MutationObserver(hook);
        obs.observe(document.body, { childList: true, subtree: true });
        // The app's router takes any same-origin link.
        const a = document.createElement('a');
        a.href = `/h/${encodeURIComponent(hh)}/cam/${encodeURIComponent(cam)}/live`;
        a.textContent = cam;
        document.querySelector('.cam-tile')?.append(a);
        const clicked = performance.now();
        a.click();
        hook();
      });
    }, [hh, camera]);
    firstFrameMs.push(Math.round(ms));
    log(`first live frame ${i + 1}/${runs}: ${Math.round(ms)} ms`);
  }

  // 2. Glass-to-glass on the single-camera view (the last one opened).
  await page.waitForSelector('video.live-big', { timeout: 30_000 });
  const g2g = await page.evaluate(async (n) => {
    const v = document.querySelector('video.live-big');
    const c = document.createElement('canvas');
    const BLOCK = 40, COLS = 16, ROWS = 3;
    const out = [];
    let failures = 0;
    const check = (ms) => Number((BigInt(ms) & 0xffffn) ^ ((BigInt(ms) >> 16n) & 0xffffn) ^ ((BigInt(ms) >> 32n) & 0xffffn));
    return await new Promise((resolve) => {
      const deadline = performance.now() + 30_000;
      const step = (now, meta) => {
        const shown = performance.timeOrigin + (meta.expectedDisplayTime || now);
        const w = v.videoWidth, h = v.videoHeight;
        if (w >= COLS * BLOCK && h >= (ROWS + 1) * BLOCK) {
          c.width = w;
          c.height = (ROWS + 1) * BLOCK;
          const g = c.getContext('2d', { willReadFrequently: true });
          g.drawImage(v, 0, 0, w, h, 0, 0, w, h);
          const px = g.getImageData(0, 0, COLS * BLOCK, (ROWS + 1) * BLOCK).data;
          const bit = (row, col) => {
            let sum = 0, k = 0;
            const cy = row * BLOCK + BLOCK / 2, cx = col * BLOCK + BLOCK / 2;
            for (let y = cy - 8; y < cy + 8; y += 2) for (let x = cx - 8; x < cx + 8; x += 2) {
              const i = (y * COLS * BLOCK + x) * 4;
              sum += 0.299 * px[i] + 0.587 * px[i + 1] + 0.114 * px[i + 2];
              k++;
            }
            return sum / k > 128 ? 1n : 0n;
          };
          let ms = 0n;
          for (let i = 0; i < ROWS * COLS; i++) ms = (ms << 1n) | bit(Math.floor(i / COLS), i % COLS);
          let chk = 0n;
          for (let i = 0; i < COLS; i++) chk = (chk << 1n) | bit(ROWS, i);
          if (Number(chk) === check(ms)) out.push(shown - Number(ms));
          else failures++;
        }
        if (out.length >= n || performance.now() > deadline) resolve({ lat: out, failures, w: v.videoWidth, h: v.videoHeight });
        else v.requestVideoFrameCallback(step);
      };
      v.requestVideoFrameCallback(step);
    });
  }, frames);
  if (art) await page.screenshot({ path: path.join(art, 'measure-live.png') });
  if (!g2g.lat.length) fail(`no frame carried a readable time (${g2g.failures} unreadable, video ${g2g.w}x${g2g.h}): is the demo running with --clock?`);
  const lat = g2g.lat.map((x) => Math.round(x));
  log(`glass-to-glass over ${lat.length} frames: p50 ${pct(lat, 50)} ms, p95 ${pct(lat, 95)} ms (${g2g.failures} unreadable)`);

  // 3. Timeline click -> first played frame. The camera page's bar
  // (#tl-bar) draws recorded ranges (.tl-range); a click plays from that
  // moment into #tl-video. The video is paused before each click, so the
  // first frame presented after it is the seek's.
  const seekMs = [];
  const seekPageMs = [];
  const seekOffsetMs = [];
  let seekNote = '';
  await page.goto(new URL(`/h/${hh}/cam/${camera}`, url).href);
  const ready = await page.waitForFunction(() => document.querySelector('#tl-bar .tl-range') && document.querySelector('#tl-video'),
    null, { timeout: 30_000 }).then(() => true, () => false);
  if (!ready) {
    seekNote = `the timeline did not become playable: ${await page.locator('#tl-error, #tl-refusal, #tl-status').allTextContents().catch(() => [])}`;
  } else {
    // Zoom to an hour and pan forward to now, so that a pixel is a few
    // seconds and the clicks land inside the recordings.
    // (The bar's data-from/data-to change once the new window is drawn.)
    const redrawn = async (click) => {
      if (!(await page.locator(click).count())) return false;
      const before = await page.locator('#tl-bar').getAttribute('data-from');
      await page.click(click);
      await page.waitForFunction((b) => document.querySelector('#tl-bar').dataset.from !== b, before, { timeout: 10_000 }).catch(() => {});
      return true;
    };
    if (!(await redrawn('#tl-zoom button[data-span-ms="3600000"]'))) await redrawn('#tl-zoom-1');
    for (let i = 0; i < 60; i++) {
      const to = Number(await page.locator('#tl-bar').getAttribute('data-to'));
      if (!(to < Date.now()) || !(await redrawn('#tl-fwd'))) break;
    }
    await page.waitForSelector('#tl-bar .tl-range', { state: 'attached', timeout: 20_000 });
    for (let i = 0; i < runs; i++) {
      const r = await page.evaluate(async (frac) => {
        // The clock camera's time in the frame shown (see the g2g reader).
        const readClock = (v) => {
          const BLOCK = 40, COLS = 16, ROWS = 3;
          const c = document.createElement('canvas');
          c.width = COLS * BLOCK;
          c.height = (ROWS + 1) * BLOCK;
          const g = c.getContext('2d', { willReadFrequently: true });
          g.drawImage(v, 0, 0, c.width, c.height, 0, 0, c.width, c.height);
          const px = g.getImageData(0, 0, c.width, c.height).data;
          const bit = (row, col) => {
            let sum = 0, k = 0;
            const cy = row * BLOCK + BLOCK / 2, cx = col * BLOCK + BLOCK / 2;
            for (let y = cy - 8; y < cy + 8; y += 2) for (let x = cx - 8; x < cx + 8; x += 2) {
              const i = (y * c.width + x) * 4;
              sum += 0.299 * px[i] + 0.587 * px[i + 1] + 0.114 * px[i + 2];
              k++;
            }
            return sum / k > 128 ? 1n : 0n;
          };
          let ms = 0n;
          for (let i = 0; i < ROWS * COLS; i++) ms = (ms << 1n) | bit(Math.floor(i / COLS), i % COLS);
          let chk = 0n;
          for (let i = 0; i < COLS; i++) chk = (chk << 1n) | bit(ROWS, i);
          const want = (ms & 0xffffn) ^ ((ms >> 16n) & 0xffffn) ^ ((ms >> 32n) & 0xffffn);
          return chk === want ? Number(ms) : NaN;
        };
        const bar = document.querySelector('#tl-bar');
        const v = document.querySelector('#tl-video');
        const rs = [...bar.querySelectorAll('.tl-range')].map((e) => [Number(e.dataset.start), Number(e.dataset.end)]);
        const a = rs[0][0], b = rs[rs.length - 1][1] - 2000;
        const wall = a + Math.max(0, b - a) * frac;
        const from = Number(bar.dataset.from), to = Number(bar.dataset.to);
        const box = bar.getBoundingClientRect();
        const x = box.left + ((wall - from) / (to - from)) * box.width, y = box.top + box.height / 2;
        v.pause();
        await new Promise((res) => setTimeout(res, 200));
        return await new Promise((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error('no frame played within 20 s of the timeline click')), 20_000);
          let clicked = 0;
          v.requestVideoFrameCallback((now) => {
            clearTimeout(timer);
            const page = v.getAttribute('data-first-frame-ms');
            resolve({ ms: now - clicked, page: page === null ? null : Number(page), offset: readClock(v) - wall });
          });
          clicked = performance.now();
          bar.dispatchEvent(new MouseEvent('click', { bubbles: true, clientX: x, clientY: y }));
        });
      }, [0.9, 0.1, 0.6, 0.3, 0.75][i % 5]).catch((e) => {
        seekNote = e.message;
        return null;
      });
      if (r === null) break;
      seekMs.push(Math.round(r.ms));
      if (r.page !== null) seekPageMs.push(r.page);
      if (!Number.isNaN(r.offset)) seekOffsetMs.push(Math.round(r.offset));
      log(`seek ${i + 1}/${runs}: ${Math.round(r.ms)} ms (the frame shown is ${Number.isNaN(r.offset) ? '?' : Math.round(r.offset)} ms from the time clicked)`);
      await page.waitForTimeout(700);
    }
    if (art) await page.screenshot({ path: path.join(art, 'measure-timeline.png') });
  }

  result({
    firstFrameMs, firstFrame: summary(firstFrameMs),
    g2g: summary(lat), decodeFailures: g2g.failures, video: `${g2g.w}x${g2g.h}`,
    seekMs, seek: summary(seekMs), seekPageMs, seekOffsetMs, seekNote,
  });
} finally {
  await browser.close();
}
