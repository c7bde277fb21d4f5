// The timeline: an enrolled browser plays a recorded range, seeks, changes
// speed and downloads a clip; a browser that was never enrolled (a member
// account with a session, its device not in the chain) sees the refusal and
// gets no plaintext.
//
// Env: BASE_URL, HOUSEHOLD, CAMERA, CONTROL_URL (POST /enrol), SESSION and
// CSRF (the enrolled browser's account), OTHER_SESSION and OTHER_CSRF (the
// never-enrolled member), PLAY_AT, SEEK_AT, DL_FROM, DL_TO (wall clock, ms),
// SEG_END (end of the segment holding PLAY_AT, ms), GAP_AFTER (start of the
// recording after a gap), BACK_AT (in a segment never loaded), ARTIFACTS.
import { join } from 'node:path';
import { launch, newPage, result, fail, signedInContext, deviceString, enrol } from './lib.mjs';

const base = process.env.BASE_URL;
const hh = process.env.HOUSEHOLD;
const cam = process.env.CAMERA;
const num = (k) => Number(process.env[k]);

async function openTimeline(page) {
  await page.goto(`${base}/h/${encodeURIComponent(hh)}/cam/${encodeURIComponent(cam)}`);
  await page.waitForSelector('#tl-bar .tl-range', { timeout: 20000 });
}

// clickAt clicks the bar at wall time w.
async function clickAt(page, w) {
  const box = await page.locator('#tl-bar').boundingBox();
  const from = Number(await page.getAttribute('#tl-bar', 'data-from'));
  const to = Number(await page.getAttribute('#tl-bar', 'data-to'));
  if (!(w > from && w < to)) fail(`time ${new Date(w).toISOString()} is outside the bar (${new Date(from).toISOString()} .. ${new Date(to).toISOString()})`);
  const x = box.x + ((w - from) / (to - from)) * box.width;
  const started = Date.now();
  await page.mouse.click(x, box.y + box.height / 2);
  // Where the page took the click to be (pixels are seconds wide).
  return { started, clicked: Number(await page.getAttribute('#tl-bar', 'data-clicked')) };
}

async function waitFirstFrame(page) {
  await page.waitForFunction(() => {
    const v = document.querySelector('#tl-video');
    return v && (v.hasAttribute('data-first-frame-ms') || v.hasAttribute('data-error'));
  }, null, { timeout: 20000 });
  const err = await page.getAttribute('#tl-video', 'data-error');
  if (err) fail('playback failed: ' + err);
  return Number(await page.getAttribute('#tl-video', 'data-first-frame-ms'));
}

// frameStats draws the current frame and returns its mean and spread of luma.
async function frameStats(page) {
  return page.evaluate(() => {
    const v = document.querySelector('#tl-video');
    const c = document.createElement('canvas');
    c.width = 160;
    c.height = 90;
    const g = c.getContext('2d', { willReadFrequently: true });
    g.drawImage(v, 0, 0, c.width, c.height);
    const d = g.getImageData(0, 0, c.width, c.height).data;
    let sum = 0, sq = 0;
    const n = d.length / 4;
    for (let i = 0; i < d.length; i += 4) {
      const y = 0.299 * d[i] + 0.587 * d[i + 1] + 0.114 * d[i + 2];
      sum += y;
      sq += y * y;
    }
    const mean = sum / n;
    return { mean, std: Math.sqrt(Math.max(0, sq / n - mean * mean)), width: v.videoWidth, height: v.videoHeight };
  });
}

const state = (page) =>
  page.evaluate(() => {
    const v = document.querySelector('#tl-video');
    const ranges = [];
    for (let i = 0; i < v.buffered.length; i++) ranges.push([v.buffered.start(i), v.buffered.end(i)]);
    return { t: v.currentTime, paused: v.paused, rate: v.playbackRate, cursor: Number(document.querySelector('#tl-bar').dataset.cursor || 0), buffered: v.buffered.length, ranges, ready: v.readyState, error: document.querySelector('#tl-error').textContent };
  });

const browser = await launch();
const out = {};
try {
  // The enrolled browser.
  const ctx = await signedInContext(browser, base, process.env.SESSION, process.env.CSRF, { acceptDownloads: true });
  const page = await newPage(ctx, 'member');
  await enrol(page, base);

  await openTimeline(page);
  await page.waitForFunction(() => /Click the bar|Nothing recorded/.test(document.querySelector('#tl-status')?.textContent || '') || document.querySelector('#tl-error')?.textContent, null, { timeout: 20000 });
  const e0 = await page.textContent('#tl-error');
  if (e0) fail('timeline: ' + e0);
  out.ranges = await page.locator('#tl-bar .tl-range').count();
  out.liveHref = await page.getAttribute('#tl-live', 'href');
  await page.click('#tl-zoom-1');
  await page.waitForFunction(() => Number(document.querySelector('#tl-bar').dataset.to) - Number(document.querySelector('#tl-bar').dataset.from) <= 3600000);
  await page.screenshot({ path: join(process.env.ARTIFACTS, 'timeline.png') });
  // Ten minutes: a pixel is half a second, so clicks land in the intended segment.
  await page.click('#tl-zoom-10m');
  await page.waitForFunction(() => Number(document.querySelector('#tl-bar').dataset.to) - Number(document.querySelector('#tl-bar').dataset.from) <= 600000);

  // Play from a moment in the recording.
  const playAt = num('PLAY_AT');
  const c1 = await clickAt(page, playAt);
  out.firstFrameMs = await waitFirstFrame(page);
  out.clickToFrameWallMs = Date.now() - c1.started;
  const s1 = await state(page);
  await page.waitForTimeout(1500);
  const s2 = await state(page);
  out.play = { clicked: c1.clicked, first: s1, later: s2 };
  out.frame = await frameStats(page);
  await page.locator('#tl-video').screenshot({ path: join(process.env.ARTIFACTS, 'timeline-playing.png') });
  await page.screenshot({ path: join(process.env.ARTIFACTS, 'timeline-page.png') });

  // Keep playing into the following segment.
  const segEnd = num('SEG_END');
  await page.waitForFunction((end) => Number(document.querySelector('#tl-bar').dataset.cursor || 0) > end + 500, segEnd, { timeout: 20000 }).catch(() => undefined);
  out.crossed = await state(page);

  // Seek to a later segment (not buffered yet).
  await page.evaluate(() => document.querySelector('#tl-video').removeAttribute('data-first-frame-ms'));
  const seekAt = num('SEEK_AT');
  const c2 = await clickAt(page, seekAt);
  out.seekFirstFrameMs = await waitFirstFrame(page);
  out.seekClicked = c2.clicked;
  await page.waitForTimeout(700);
  out.afterSeek = await state(page);
  out.seekFrame = await frameStats(page);
  // Playback jumps the gap in the recording.
  const gapAfter = num('GAP_AFTER');
  await page.waitForFunction((t) => Number(document.querySelector('#tl-bar').dataset.cursor || 0) > t + 300, gapAfter, { timeout: 20000 }).catch(() => undefined);
  out.afterGap = await state(page);

  // Seek back to a segment that was never loaded.
  await page.evaluate(() => document.querySelector('#tl-video').removeAttribute('data-first-frame-ms'));
  const c3 = await clickAt(page, num('BACK_AT'));
  out.backFirstFrameMs = await waitFirstFrame(page);
  out.backClicked = c3.clicked;
  await page.waitForTimeout(500);
  out.afterBack = await state(page);

  // Speed.
  await page.selectOption('#tl-rate', '4');
  await page.waitForTimeout(300);
  out.rate = (await state(page)).rate;
  await page.selectOption('#tl-rate', '1');

  // Download a range, and one across the gap.
  const download = async (a, b, file) => {
    await page.evaluate(([a, b]) => {
      const pad = (n) => String(n).padStart(2, '0');
      const f = (t) => {
        const d = new Date(t);
        return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
      };
      document.querySelector('#tl-dl-from').value = f(a);
      document.querySelector('#tl-dl-to').value = f(b);
      document.querySelector('#tl-dl-out').replaceChildren();
    }, [a, b]);
    await page.click('#tl-dl-make');
    await page.waitForSelector('#tl-dl-link, #tl-dl-out.error', { timeout: 60000 });
    const dlErr = await page.$('#tl-dl-out.error');
    if (dlErr) fail('download: ' + (await dlErr.textContent()));
    const [dl] = await Promise.all([page.waitForEvent('download'), page.click('#tl-dl-link')]);
    const path = join(process.env.ARTIFACTS, file);
    await dl.saveAs(path);
    return { path, name: dl.suggestedFilename(), duration: Number(await page.getAttribute('#tl-dl-link', 'data-duration')) };
  };
  const d1 = await download(num('DL_FROM'), num('DL_TO'), 'clip.mp4');
  out.dlFile = d1.path;
  out.dlName = d1.name;
  out.dlDuration = d1.duration;
  out.gapFile = (await download(num('GAP_DL_FROM'), num('GAP_DL_TO'), 'clip-gap.mp4')).path;
  await ctx.close();

  // The never-enrolled browser: member account, session, device keys, but
  // not in the chain.
  const ctx2 = await signedInContext(browser, base, process.env.OTHER_SESSION, process.env.OTHER_CSRF, { acceptDownloads: true });
  const page2 = await newPage(ctx2, 'never-enrolled');
  out.otherDevice = await deviceString(page2, base);
  await openTimeline(page2);
  await page2.waitForSelector('#tl-not-enrolled, #tl-error.error', { timeout: 20000 });
  out.refusal = (await page2.textContent('#tl-not-enrolled').catch(() => '')) || '';
  out.otherError = (await page2.textContent('#tl-error')) || '';
  // Clicking the bar plays nothing.
  const box = await page2.locator('#tl-bar').boundingBox();
  await page2.mouse.click(box.x + box.width - 5, box.y + box.height / 2);
  await page2.waitForTimeout(1000);
  out.other = await page2.evaluate(() => {
    const v = document.querySelector('#tl-video');
    return { src: v.getAttribute('src') || '', buffered: v.buffered.length, hidden: v.hidden, firstFrame: v.getAttribute('data-first-frame-ms') };
  });
  // What the cloud gives this browser for a segment: the sealed bytes.
  out.otherObject = await page2.evaluate(async ([hh, cam]) => {
    const l = await (await fetch(`/v1/households/${hh}/objects?camera=${cam}`)).json();
    const key = l.objects[0].key;
    const b = new Uint8Array(await (await fetch(`/v1/households/${hh}/objects/${key}`)).arrayBuffer());
    // An MP4 file-type box (size, "ftyp", a brand): too specific for
    // ciphertext to hold by chance, as a bare "ftyp" could.
    const ftyp = /\x00\x00\x00[\x10-\x40]ftyp[0-9A-Za-z ]{4}/;
    return { key, status: 200, head: Array.from(b.subarray(0, 16)), size: b.length, hasFtyp: ftyp.test(new TextDecoder('latin1').decode(b)) };
  }, [hh, cam]);
  await page2.screenshot({ path: join(process.env.ARTIFACTS, 'timeline-not-enrolled.png') });
  await ctx2.close();
  result(out);
} finally {
  await browser.close();
}
