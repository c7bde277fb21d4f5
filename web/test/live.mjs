// Live view in Chromium: sign in, enrol this browser (the Go test adds its
// device to the chain), click a camera in the grid and see live video from
// the hub; then, through a relay that swaps the hub's DTLS fingerprint, see
// the session refused with the reason.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { assert, fail, launch, newPage, result, totp } from './lib.mjs';

const base = process.env.BASE_URL;
const hook = process.env.HOOK_URL;
const hh = process.env.HOUSEHOLD;
const cam = process.env.CAMERA;
const artifacts = process.env.ARTIFACTS || '.';

const browser = await launch();
try {
  const ctx = await browser.newContext({ viewport: { width: 1000, height: 800 } });
  const page = await newPage(ctx, 'live');

  // This browser's device identity (keys created on first use).
  await page.goto(base + '/device');
  await page.waitForSelector('#device-string', { timeout: 20000 });
  const device = (await page.textContent('#device-string')).trim();
  assert(device.startsWith('vigdev1:'), `device string ${device}`);

  const signedIn = await page.evaluate(
    async ({ email, password, code }) => {
      const r = await fetch('/v1/sessions', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ email, password, totp: code, type: 'browser' }),
      });
      const j = await r.json();
      if (!r.ok) return 'sign-in failed: ' + j.error;
      localStorage.setItem('vigil.csrf', j.csrf);
      return 'ok';
    },
    { email: process.env.EMAIL, password: process.env.PASSWORD, code: totp(process.env.TOTP_SECRET) },
  );
  assert(signedIn === 'ok', signedIn);

  const enrol = await fetch(hook + '/enrol', { method: 'POST', body: device });
  assert(enrol.ok, 'enrolment hook: ' + (await enrol.text()));

  // The grid, then one camera.
  await page.goto(`${base}/h/${hh}/live`);
  const link = page.locator(`a.live-cam[data-camera="${cam}"]`);
  await link.waitFor({ timeout: 20000 });
  await link.click();
  const video = page.locator('video.live-big');
  try {
    await page.waitForSelector('video.live-big[data-first-frame-ms]', { timeout: 20000 });
  } catch {
    fail('no live frame within 20 s; page says: ' + (await page.textContent('#app')));
  }
  const firstFrameMs = Number(await video.getAttribute('data-first-frame-ms'));

  const stats = () =>
    page.evaluate(() => {
      const v = document.querySelector('video.live-big');
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
    });
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
    await page.waitForSelector('video.live-big[data-connects="2"]', { timeout: 30000 });
    const r1 = await stats();
    await page.waitForTimeout(1000);
    const r2 = await stats();
    reconnected = r1.hash !== r2.hash;
  } catch {
    console.error('no reconnection; page says: ' + (await page.textContent('#app')));
  }

  // A relay that swaps the hub's fingerprint.
  const sw = await fetch(hook + '/swap', { method: 'POST' });
  assert(sw.ok, 'swap hook');
  await page.reload();
  let refusal = '';
  try {
    await page.waitForSelector('.live-tile [role=alert]', { timeout: 20000 });
    refusal = (await page.textContent('.live-tile [role=alert]')).trim();
  } catch {
    refusal = 'no refusal shown; page says: ' + (await page.textContent('#app'));
  }
  await page.screenshot({ path: join(artifacts, 'live-refused.png') });

  result({ firstFrameMs, differ, reconnected, mean1: s1.mean, mean2: s2.mean, std1: s1.std, width: s1.width, height: s1.height, refusal });
} finally {
  await browser.close();
}
