// Live view in Chromium on a cloud of several replicas while they die: sign
// in, enrol this browser (the Go test adds its device to the chain), watch
// the camera on its live page, then ask the Go test to kill (SIGKILL) the
// replica holding this page's signalling WebSocket, and later the one
// holding the hub's, and measure how long the picture stops each time: from
// the kill to the next decoded frame of a new session (the page's peer
// connection is replaced when its signalling connection closes) and the
// longest gap between decoded frames around the kill.
import { assert, fail, launch, newPage, result, signInAndEnrol } from './lib.mjs';

const base = process.env.BASE_URL;
const hook = process.env.HOOK_URL;
const hh = process.env.HOUSEHOLD;
const cam = process.env.CAMERA;

const browser = await launch();
try {
  const ctx = await browser.newContext({ viewport: { width: 390, height: 844 }, hasTouch: true, isMobile: true });
  const page = await newPage(ctx, 'scaled-live');

  const device = await signInAndEnrol(page, base, hook);

  await page.goto(`${base}/h/${hh}/cam/${cam}/live`);
  const videoSel = 'video.live-video';
  try {
    await page.waitForSelector(`${videoSel}[data-first-frame-ms]`, { timeout: 30000 });
  } catch {
    fail('no live frame within 30 s; page says: ' + (await page.textContent('#app')));
  }

  // Every decoded frame: its wall-clock time and the stream it came from,
  // numbered in order (each session's peer connection brings a new
  // MediaStream object; the hub may give them all the same id).
  await page.evaluate((sel) => {
    const v = document.querySelector(sel);
    window.__frames = [];
    let stream = null;
    let serial = 0;
    // One chain of frame callbacks, started again with each stream (in
    // case a callback went with the old one); an older chain ends.
    const current = () => {
      if (v.srcObject !== stream) {
        stream = v.srcObject;
        serial++;
        const chain = serial;
        const onFrame = () => {
          if (chain !== serial) return;
          window.__frames.push({ t: Date.now(), s: serial });
          v.requestVideoFrameCallback(onFrame);
        };
        v.requestVideoFrameCallback(onFrame);
      }
      return serial;
    };
    current();
    setInterval(current, 50);
  }, videoSel);
  await page.waitForTimeout(2000);

  const frames = () => page.evaluate(() => window.__frames.slice());
  const connects = () => page.getAttribute(videoSel, 'data-connects').then(Number);

  // kill asks the Go test to kill a replica and measures the picture's stop.
  const kill = async (which) => {
    const before = await frames();
    assert(before.length > 5, `only ${before.length} frames in 2 s before killing the ${which}'s replica`);
    const oldStream = before[before.length - 1].s;
    const connectsBefore = await connects();
    const r = await fetch(hook + '/kill?which=' + which, { method: 'POST' });
    if (!r.ok) fail('kill hook: ' + (await r.text()));
    const { killedAt } = await r.json();
    // Up to 20 s for the picture to come back, then 2 s more of it.
    const deadline = Date.now() + 20000;
    let fresh;
    while (Date.now() < deadline) {
      const fs = await frames();
      fresh = fs.find((f) => f.t >= killedAt && f.s !== oldStream);
      const last = fs[fs.length - 1];
      // A session that survived the kill: frames keep coming on the old stream.
      if (fresh || (last.s === oldStream && last.t > killedAt + 8000)) break;
      await page.waitForTimeout(100);
    }
    await page.waitForTimeout(2000);
    const fs = await frames();
    const around = fs.filter((f) => f.t >= killedAt - 2000);
    let maxGapMs = 0;
    for (let i = 1; i < around.length; i++) maxGapMs = Math.max(maxGapMs, around[i].t - around[i - 1].t);
    const lastFrame = fs[fs.length - 1];
    return {
      which,
      killedAt,
      newStreamMs: fresh ? fresh.t - killedAt : -1,
      firstFrameAfterMs: (fs.find((f) => f.t > killedAt) ?? { t: killedAt - 1 }).t - killedAt,
      maxGapMs,
      framesLast2s: fs.filter((f) => f.t > lastFrame.t - 2000).length,
      connectsBefore,
      connectsAfter: await connects(),
      state: await page.$eval('.live-tile', (el) => el.dataset.state),
    };
  };
  const viewer = await kill('viewer');
  const hubKill = await kill('hub');
  result({ viewer, hub: hubKill });
} finally {
  await browser.close();
}
