// The camera page on a phone (390x844, touch): it opens on the last hour
// with a legend; a tap on the bar plays from exactly the time under the
// finger (the first frame shown is within 2 s of it), playback continues
// into the next segment, jumps a gap and seeks back; the bar is a slider
// the keyboard moves (Enter plays); speed changes; a range downloads as an
// MP4. The page is no wider than the screen, its controls are 44 px and
// axe-core finds nothing serious. A browser that was never enrolled (a
// member account with a session, its device not in the chain) sees the
// refusal and gets no plaintext.
//
// Env: BASE_URL, HOUSEHOLD, CAMERA, CONTROL_URL (POST /enrol), SESSION and
// CSRF (the enrolled browser's account), OTHER_SESSION and OTHER_CSRF (the
// never-enrolled member), PLAY_AT, SEEK_AT, DL_FROM, DL_TO (wall clock, ms),
// SEG_END (end of the segment holding PLAY_AT, ms), GAP_AFTER (start of the
// recording after a gap), BACK_AT (in a segment never loaded), ARTIFACTS.
import { join } from 'node:path';
import { launch, newPage, result, fail, signedInContext, deviceString, enrol } from './lib.mjs';
import { PHONE, layoutProblems, tapBarAt } from './tl-phone.mjs';

const base = process.env.BASE_URL;
const hh = process.env.HOUSEHOLD;
const cam = process.env.CAMERA;
const num = (k) => Number(process.env[k]);

async function openTimeline(page) {
  await page.goto(`${base}/h/${encodeURIComponent(hh)}/cam/${encodeURIComponent(cam)}`);
  await page.waitForSelector('#tl-bar .tl-range', { timeout: 20000 });
}

// waitFirstFrame waits for playback to start (or fail) and returns the
// page's time to the first frame and the wall time of that frame.
async function waitFirstFrame(page) {
  await page.waitForFunction(() => {
    const v = document.querySelector('#tl-video');
    return v && (v.hasAttribute('data-at-ms') || v.hasAttribute('data-error'));
  }, null, { timeout: 20000 });
  const err = await page.getAttribute('#tl-video', 'data-error');
  if (err) fail('playback failed: ' + err);
  return { ms: Number(await page.getAttribute('#tl-video', 'data-first-frame-ms')), at: Number(await page.getAttribute('#tl-video', 'data-at-ms')) };
}

const clearFrame = (page) => page.evaluate(() => ['data-first-frame-ms', 'data-at-ms'].forEach((a) => document.querySelector('#tl-video').removeAttribute(a)));

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

const slider = (page) =>
  page.$eval('#tl-bar', (b) => ({
    role: b.getAttribute('role'),
    tabindex: b.getAttribute('tabindex'),
    min: Number(b.getAttribute('aria-valuemin')),
    max: Number(b.getAttribute('aria-valuemax')),
    now: Number(b.getAttribute('aria-valuenow')),
    text: b.getAttribute('aria-valuetext') || '',
  }));

const spanOf = (page) => page.$eval('#tl-bar', (b) => Number(b.dataset.to) - Number(b.dataset.from));

const browser = await launch();
const out = {};
try {
  // The enrolled browser, on a phone.
  const ctx = await signedInContext(browser, base, process.env.SESSION, process.env.CSRF, { ...PHONE, acceptDownloads: true });
  const page = await newPage(ctx, 'member');
  await enrol(page, base);

  await openTimeline(page);
  await page.waitForFunction(() => !/Loading/.test(document.querySelector('#tl-status')?.textContent || '') || document.querySelector('#tl-error')?.textContent, null, { timeout: 20000 });
  const e0 = await page.textContent('#tl-error');
  if (e0) fail('timeline: ' + e0);
  out.ranges = await page.locator('#tl-bar .tl-range').count();
  // Live on top until a moment is chosen.
  const liveState = () => page.evaluate(() => ({
    tile: document.querySelector('.tl-live-slot .live-tile')?.dataset.camera ?? '',
    tileShown: !!document.querySelector('.tl-live-slot .live-tile')?.getClientRects().length,
    recordingShown: !!document.querySelector('#tl-video')?.getClientRects().length,
    backShown: !!document.querySelector('#tl-live')?.getClientRects().length,
  }));
  out.liveAtOpen = await liveState();
  out.openSpan = await spanOf(page);
  out.openTo = Number(await page.getAttribute('#tl-bar', 'data-to'));
  out.openedAt = Date.now();
  out.zoomPressed = await page.$$eval('#tl-zoom button[aria-pressed="true"]', (bs) => bs.map((b) => Number(b.dataset.spanMs)));
  out.legend = await page.$$eval('#tl-legend li', (ls) => ls.map((l) => l.textContent.trim()));
  out.text = await page.textContent('#app');
  out.slider = await slider(page);
  out.layout = await layoutProblems(page);
  await page.screenshot({ path: join(process.env.ARTIFACTS, 'timeline-phone.png'), fullPage: true });

  // Fifteen minutes: a pixel is a few seconds.
  await page.tap('#tl-zoom button[data-span-ms="900000"]');
  await page.waitForFunction(() => Number(document.querySelector('#tl-bar').dataset.to) - Number(document.querySelector('#tl-bar').dataset.from) === 900000);
  out.zoomSpan = await spanOf(page);

  // Play from a moment in the recording: a tap.
  const c1 = await tapBarAt(page, num('PLAY_AT'));
  const f1 = await waitFirstFrame(page);
  out.firstFrameMs = f1.ms;
  out.tapToFrameWallMs = Date.now() - c1.started;
  const s1 = await state(page);
  await page.waitForTimeout(1500);
  const s2 = await state(page);
  out.play = { tapped: c1.tapped, clicked: c1.clicked, msPerPx: c1.msPerPx, at: f1.at, first: s1, later: s2 };
  out.frame = await frameStats(page);
  out.liveWhilePlaying = await liveState();
  await page.screenshot({ path: join(process.env.ARTIFACTS, 'timeline-playing.png'), fullPage: true });

  // Keep playing into the following segment.
  const segEnd = num('SEG_END');
  await page.waitForFunction((end) => Number(document.querySelector('#tl-bar').dataset.cursor || 0) > end + 500, segEnd, { timeout: 20000 }).catch(() => undefined);
  out.crossed = await state(page);

  // Seek to a later segment (not buffered yet).
  await clearFrame(page);
  const c2 = await tapBarAt(page, num('SEEK_AT'));
  const f2 = await waitFirstFrame(page);
  out.seekFirstFrameMs = f2.ms;
  out.seek = { tapped: c2.tapped, clicked: c2.clicked, at: f2.at };
  await page.waitForTimeout(700);
  out.afterSeek = await state(page);
  out.seekFrame = await frameStats(page);
  // Playback jumps the gap in the recording.
  const gapAfter = num('GAP_AFTER');
  await page.waitForFunction((t) => Number(document.querySelector('#tl-bar').dataset.cursor || 0) > t + 300, gapAfter, { timeout: 20000 }).catch(() => undefined);
  out.afterGap = await state(page);

  // Seek back to a segment that was never loaded.
  await clearFrame(page);
  const c3 = await tapBarAt(page, num('BACK_AT'));
  const f3 = await waitFirstFrame(page);
  out.backFirstFrameMs = f3.ms;
  out.back = { tapped: c3.tapped, clicked: c3.clicked, at: f3.at };
  await page.waitForTimeout(500);
  out.afterBack = await state(page);

  // The keyboard: the bar is a slider; arrows move the chosen moment,
  // Enter plays it.
  await page.focus('#tl-bar');
  const k0 = await slider(page);
  await page.keyboard.press('ArrowRight');
  const k1 = await slider(page);
  await page.keyboard.press('Shift+ArrowLeft');
  const k2 = await slider(page);
  await page.keyboard.press('PageDown');
  const k3 = await slider(page);
  await page.keyboard.press('PageUp');
  const k4 = await slider(page);
  // Near a moment with recording, then Enter: playback starts there, or
  // at the next recording when the moment falls in a gap.
  const target = num('PLAY_AT') + 4000;
  await page.evaluate(() => document.querySelector('#tl-video').pause());
  let kk = await slider(page);
  for (let i = 0; i < 200 && Math.abs(kk.now - target) > 5000; i++) {
    await page.keyboard.press(kk.now > target ? (kk.now - target > 60000 ? 'Shift+ArrowLeft' : 'ArrowLeft') : kk.now - target < -60000 ? 'Shift+ArrowRight' : 'ArrowRight');
    kk = await slider(page);
  }
  const ranges = await page.$$eval('#tl-bar .tl-range', (els) => els.map((e) => [Number(e.dataset.start), Number(e.dataset.end)]));
  const inside = ranges.find(([a, b]) => a <= kk.now && kk.now < b);
  const expect = inside ? kk.now : Math.min(...ranges.map(([a]) => a).filter((a) => a > kk.now));
  await clearFrame(page);
  await page.keyboard.press('Enter');
  const fk = await waitFirstFrame(page);
  out.keys = { k0, k1, k2, k3, k4, enterAt: kk.now, expect, inGap: !inside, at: fk.at, clicked: Number(await page.getAttribute('#tl-bar', 'data-clicked')), status: await page.textContent('#tl-status') };

  // Speed.
  await page.selectOption('#tl-rate', '4');
  await page.waitForTimeout(300);
  out.rate = (await state(page)).rate;
  await page.selectOption('#tl-rate', '1');

  // Back to live: the recording stops, the live picture returns.
  await page.tap('#tl-live');
  await page.waitForSelector('.tl-live-slot .live-tile', { timeout: 5000 });
  out.liveAgain = { ...(await liveState()), cursor: (await page.getAttribute('#tl-bar', 'data-cursor')) ?? '' };

  // Download a range, and one across the gap.
  await page.tap('.tl-dl > summary');
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
    await page.tap('#tl-dl-make');
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
  const ctx2 = await signedInContext(browser, base, process.env.OTHER_SESSION, process.env.OTHER_CSRF, { ...PHONE, acceptDownloads: true });
  const page2 = await newPage(ctx2, 'never-enrolled');
  out.otherDevice = await deviceString(page2, base);
  await openTimeline(page2);
  await page2.waitForSelector('#tl-not-enrolled, #tl-error.error', { timeout: 20000 });
  out.refusal = (await page2.textContent('#tl-not-enrolled').catch(() => '')) || '';
  out.otherError = (await page2.textContent('#tl-error')) || '';
  // Tapping the bar plays nothing.
  const box = await page2.locator('#tl-bar').boundingBox();
  await page2.touchscreen.tap(Math.round(box.x + box.width - 5), Math.round(box.y + box.height / 2));
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
  await page2.screenshot({ path: join(process.env.ARTIFACTS, 'timeline-not-enrolled.png'), fullPage: true });
  await ctx2.close();
  result(out);
} finally {
  await browser.close();
}
