// A segment altered in the cloud's storage: the enrolled browser, on a
// phone, refuses it when the bar is tapped there, says why, and plays
// nothing.
//
// Env: BASE_URL, HOUSEHOLD, CAMERA, CONTROL_URL, SESSION, CSRF, PLAY_AT (a
// moment in the altered segment, ms), ARTIFACTS.
import { join } from 'node:path';
import { launch, newPage, result, signedInContext, enrol } from './lib.mjs';
import { PHONE, tapBarAt } from './tl-phone.mjs';

const base = process.env.BASE_URL;
const browser = await launch();
try {
  const ctx = await signedInContext(browser, base, process.env.SESSION, process.env.CSRF, PHONE);
  const page = await newPage(ctx, 'tamper');
  await enrol(page, base);
  await page.goto(`${base}/h/${encodeURIComponent(process.env.HOUSEHOLD)}/cam/${encodeURIComponent(process.env.CAMERA)}`);
  await page.waitForSelector('#tl-bar .tl-range', { timeout: 20000 });
  await page.waitForFunction(() => !/Loading/.test(document.querySelector('#tl-status')?.textContent || ''), null, { timeout: 20000 });
  await page.tap('#tl-zoom button[data-span-ms="900000"]');
  await page.waitForFunction(() => Number(document.querySelector('#tl-bar').dataset.to) - Number(document.querySelector('#tl-bar').dataset.from) === 900000);
  await tapBarAt(page, Number(process.env.PLAY_AT));
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
