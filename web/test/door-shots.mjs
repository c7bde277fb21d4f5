// The doorbell's flow on a phone (390x844, touch), for the README: signed
// in through the demo link ('vigil demo --doorbell'), the doorbell is
// pressed (POST CONTROL_URL/press); the ring shows on home with its
// snapshot, then on the camera's timeline, and the doorbell's live view
// plays with its speaker button turned on and its talk button shown; a tap
// on it talks (the microphone is Chromium's fake device).
// Env: DEMO_URL, CONTROL_URL, CAMERA (front), SCREENSHOTS (a directory:
// phone-door-home.png, phone-door-timeline.png, phone-door-live.png,
// phone-door-talking.png).
// Result: {household, ring: {id, kind, snapshot}, timeline: {shown, kind},
//          live: {playing, soundShown, soundPressed, soundLabel, talkShown,
//          talking, talkNote}, screenshots}.
import { launch, newPage, result, fail } from './lib.mjs';
import { screenshot, settle } from './ux.mjs';

const url = process.env.DEMO_URL;
const control = process.env.CONTROL_URL;
if (!url || !control) fail('DEMO_URL and CONTROL_URL must be set');
const cam = process.env.CAMERA || 'front';
const log = (m) => console.error(`[door-shots] ${m}`);
const screenshots = [];
const shoot = async (page, name) => {
  await settle(page);
  const p = await screenshot(page, name);
  if (p) screenshots.push(p);
};

const browser = await launch(['--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream']);
try {
  const ctx = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 1 });
  await ctx.grantPermissions(['microphone'], { origin: new URL(url).origin });
  const page = await newPage(ctx, 'door-shots');
  await page.goto(url);
  await page.waitForURL(/\/h\/[^/]+(\/live)?$/, { timeout: 60_000 }).catch(async () => {
    fail(`the demo link did not reach home: ${await page.locator('#demo-error').textContent().catch(() => '?')}`);
  });
  const hh = new URL(page.url()).pathname.split('/')[2];
  const base = new URL(url).origin;
  // Home is up (its events listed, the camera live) before the press.
  await page.waitForSelector('#home-events-status', { timeout: 30_000 });
  await page.waitForSelector(`.cam-tile[data-camera="${cam}"] video.live-video[data-first-frame-ms]`, { timeout: 30_000 }).catch(() => log('home: no live frame'));

  // 1. The press: the ring arrives on home, with its snapshot.
  const res = await fetch(`${control}/press`, { method: 'POST' });
  if (!res.ok) fail(`press: ${res.status}`);
  log('pressed the doorbell');
  const row = page.locator('#home-events li.ev-row', { hasText: 'Ring' }).first();
  await row.waitFor({ state: 'visible', timeout: 60_000 }).catch(() => fail('no ring on home within 60 s of the press'));
  const snapshot = await row
    .locator('img.ev-snap')
    .evaluate((img) => new Promise((r) => { const ok = () => r(img.complete && img.naturalWidth > 0); if (img.complete) ok(); else { img.onload = ok; img.onerror = () => r(false); } }), null, { timeout: 20_000 })
    .catch(() => false);
  const ring = { id: await row.getAttribute('data-event'), kind: (await row.innerText()).includes('Ring') ? 'Ring' : '', snapshot };
  log(`ring ${ring.id} on home, snapshot ${snapshot}`);
  await row.scrollIntoViewIfNeeded();
  await shoot(page, 'phone-door-home');

  // 2. The ring on the doorbell's timeline.
  await page.goto(`${base}/h/${hh}/cam/${encodeURIComponent(cam)}?event=${encodeURIComponent(ring.id)}`);
  const tl = page.locator(`#tl-events .tl-ev[data-event="${ring.id}"]`);
  const timeline = { shown: await tl.waitFor({ state: 'visible', timeout: 30_000 }).then(() => true, () => false) };
  if (timeline.shown) {
    timeline.kind = (await tl.locator('.tl-ev-kind').textContent()).trim();
    await tl.locator('img').first().waitFor({ state: 'visible', timeout: 10_000 }).catch(() => undefined);
  }
  await page.waitForSelector('#tl-bar .tl-range', { timeout: 20_000 }).catch(() => undefined);
  await shoot(page, 'phone-door-timeline');

  // 3. Answering: the doorbell live, its sound on.
  await page.goto(`${base}/h/${hh}/cam/${encodeURIComponent(cam)}/live`);
  const live = {};
  live.playing = await page.waitForSelector('video.live-big[data-first-frame-ms]', { timeout: 30_000 }).then(() => true, () => false);
  const sound = page.locator('button.sound').first();
  live.soundShown = await sound.waitFor({ state: 'visible', timeout: 20_000 }).then(() => true, () => false);
  if (live.soundShown) {
    await sound.tap();
    live.soundPressed = await sound.getAttribute('aria-pressed');
    live.soundLabel = await sound.getAttribute('aria-label');
  }
  const talk = page.locator('button.talk').first();
  live.talkShown = await talk.waitFor({ state: 'visible', timeout: 20_000 }).then(() => true, () => false);
  await page.waitForTimeout(1000);
  await shoot(page, 'phone-door-live');

  // 4. Talking: a tap on the talk button keeps it on until tapped again.
  if (live.talkShown) {
    await talk.tap();
    live.talking = await page.waitForSelector('button.talk[data-talk="on"]', { timeout: 20_000 }).then(() => true, () => false);
    live.talkNote = (await page.locator('.talk-note').first().textContent()) ?? '';
    await page.waitForTimeout(500);
    await shoot(page, 'phone-door-talking');
    await talk.tap();
  }
  result({ household: hh, ring, timeline, live, screenshots });
} finally {
  await browser.close();
}
