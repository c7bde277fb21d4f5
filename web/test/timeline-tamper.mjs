// A segment altered in the cloud's storage: the enrolled browser refuses
// it, says why, and plays nothing.
//
// Env: BASE_URL, HOUSEHOLD, CAMERA, CONTROL_URL, SESSION, CSRF, PLAY_AT (a
// moment in the altered segment, ms), ARTIFACTS.
import { join } from 'node:path';
import { launch, newPage, result, fail, signedInContext, enrol } from './lib.mjs';

const base = process.env.BASE_URL;
const browser = await launch();
try {
  const ctx = await signedInContext(browser, base, process.env.SESSION, process.env.CSRF);
  const page = await newPage(ctx, 'tamper');
  await enrol(page, base);
  await page.goto(`${base}/h/${encodeURIComponent(process.env.HOUSEHOLD)}/cam/${encodeURIComponent(process.env.CAMERA)}`);
  await page.waitForFunction(() => /Click the bar/.test(document.querySelector('#tl-status')?.textContent || ''), null, { timeout: 20000 });
  await page.click('#tl-zoom-10m');
  await page.waitForFunction(() => Number(document.querySelector('#tl-bar').dataset.to) - Number(document.querySelector('#tl-bar').dataset.from) <= 600000);
  const w = Number(process.env.PLAY_AT);
  const box = await page.locator('#tl-bar').boundingBox();
  const from = Number(await page.getAttribute('#tl-bar', 'data-from'));
  const to = Number(await page.getAttribute('#tl-bar', 'data-to'));
  if (!(w > from && w < to)) fail('the altered segment is outside the bar');
  await page.mouse.click(box.x + ((w - from) / (to - from)) * box.width, box.y + box.height / 2);
  await page.waitForSelector('#tl-error.error', { timeout: 20000 });
  await page.waitForTimeout(500);
  const out = await page.evaluate(() => {
    const v = document.querySelector('#tl-video');
    return { error: document.querySelector('#tl-error').textContent, firstFrame: v.getAttribute('data-first-frame-ms'), buffered: v.buffered.length };
  });
  await page.screenshot({ path: join(process.env.ARTIFACTS, 'timeline-tampered.png') });
  result(out);
} finally {
  await browser.close();
}
