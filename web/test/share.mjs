// A guest opens share links in fresh browser contexts (never signed in).
//   PHASE=play     LINK plays on a phone (390x844, touch): every shared
//                  segment decrypts and plays as one video, the whole range
//                  downloads as one MP4, the key leaves the address bar and
//                  is never sent; the page fits 360-430 px, its controls are
//                  44 px, axe finds nothing serious
//   PHASE=refused  REVOKED and EXPIRED links are refused with a clear message,
//                  and so are a WRONG key and a FORGED manifest; a PARTIAL
//                  share (a segment deleted since) plays the rest
import { launch, newPage, result, fail, shareSettled } from './lib.mjs';
import { PHONE, phoneCheck, readDownload } from './share-phone.mjs';

const phase = process.env.PHASE;
const shots = process.env.ARTIFACTS;
const browser = await launch();

async function open(link, name) {
  const ctx = await browser.newContext(PHONE);
  const page = await newPage(ctx, name);
  const sent = []; // every request URL and header value
  page.on('request', (r) => {
    sent.push(r.url());
    for (const v of Object.values(r.headers())) sent.push(v);
  });
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(link, { waitUntil: 'domcontentloaded' });
  const settled = await shareSettled(page);
  return { ctx, page, sent, errors, settled };
}

try {
  if (phase === 'play') {
    const link = process.env.LINK;
    const secret = link.split('#k=')[1];
    const { page, sent, errors, settled } = await open(link, 'guest');
    const state = settled.data;
    if (state.state !== 'loaded') fail(`share did not load: ${state.state}: ${settled.message}`);
    // Let it play a little, then look at a frame.
    await page.waitForFunction(() => {
      const v = document.querySelector('#share-video');
      return v && v.currentTime > 0.5;
    }, null, { timeout: 20000 }).catch(() => {});
    const video = await page.$eval('#share-video', (v) => {
      const c = document.createElement('canvas');
      c.width = 160;
      c.height = 90;
      const g = c.getContext('2d');
      g.drawImage(v, 0, 0, c.width, c.height);
      const d = g.getImageData(0, 0, c.width, c.height).data;
      let sum = 0;
      for (let i = 0; i < d.length; i += 4) sum += d[i] + d[i + 1] + d[i + 2];
      return { currentTime: v.currentTime, duration: v.duration, brightness: sum / (d.length / 4) / 3, width: v.videoWidth };
    });
    if (shots) await page.screenshot({ path: `${shots}/share-guest.png` });
    const url = page.url();
    const range = await page.$eval('#share-range', (e) => e.textContent);
    const videos = await page.$$eval('video', (l) => l.length);
    const download = await readDownload(page, '#share-download');
    const phone = await phoneCheck(page);
    result({
      state,
      video,
      videos,
      download,
      phone,
      range,
      url,
      keySent: sent.some((s) => s.includes(secret)),
      keyInURL: url.includes(secret) || url.includes('#'),
      errors,
    });
  } else if (phase === 'refused') {
    const out = {};
    for (const [name, link] of [['revoked', process.env.REVOKED], ['expired', process.env.EXPIRED], ['wrong', process.env.WRONG], ['forged', process.env.FORGED], ['partial', process.env.PARTIAL]]) {
      const { page, ctx, settled: { state, status, message } } = await open(link, name);
      out[name] = {
        state,
        status,
        message,
        videoHidden: await page.$eval('#share-video', (v) => getComputedStyle(v).display === 'none'),
        segments: await page.$eval('#share-page', (el) => el.dataset.segments ?? ''),
      };
      if (shots) await page.screenshot({ path: `${shots}/share-${name}.png` });
      await ctx.close();
    }
    result(out);
  } else {
    fail(`unknown PHASE ${phase}`);
  }
} finally {
  await browser.close();
}
