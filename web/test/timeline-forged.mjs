// The timeline through a cloud whose listing moved a segment's times (it
// lists the segment at another segment's time): the enrolled browser
// refuses to play it and says that the listing disagrees with the signed
// segment; a segment the listing did not move plays.
// (On a phone, opened with ?at=.)
//
// Env: BASE_URL (the forging proxy in front of the cloud), HOUSEHOLD,
// CAMERA, CONTROL_URL (POST /enrol), SESSION, CSRF, PLAY_AT (a moment the
// listing gives to a moved segment, ms), PLAY_OK (a moment in a segment it
// did not move), ARTIFACTS.
import { join } from 'node:path';
import { enrol, launch, newPage, result, signedInContext } from './lib.mjs';
import { PHONE } from './tl-phone.mjs';

const base = process.env.BASE_URL;
const hh = encodeURIComponent(process.env.HOUSEHOLD);
const cam = encodeURIComponent(process.env.CAMERA);

// playFrom opens the camera page playing from t (?at=) and waits for the
// first frame or an error.
async function playFrom(page, t) {
  await page.goto(`${base}/h/${hh}/cam/${cam}?at=${t}`);
  await page.waitForFunction(() => {
    const v = document.querySelector('#tl-video');
    return v && (v.hasAttribute('data-error') || v.hasAttribute('data-first-frame-ms'));
  }, null, { timeout: 30000 });
  await page.waitForTimeout(800);
  return page.evaluate(() => {
    const v = document.querySelector('#tl-video');
    return { error: document.querySelector('#tl-error').textContent, dataError: v.getAttribute('data-error'), firstFrame: v.getAttribute('data-first-frame-ms'), at: v.getAttribute('data-at-ms'), buffered: v.buffered.length };
  });
}

const browser = await launch();
try {
  const ctx = await signedInContext(browser, base, process.env.SESSION, process.env.CSRF, PHONE);
  const page = await newPage(ctx, 'timeline');
  await enrol(page, base);
  const moved = await playFrom(page, Number(process.env.PLAY_AT));
  await page.screenshot({ path: join(process.env.ARTIFACTS, 'timeline-forged-listing.png') });
  const ok = await playFrom(page, Number(process.env.PLAY_OK));
  result({ moved, ok });
} finally {
  await browser.close();
}
