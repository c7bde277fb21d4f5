// The doorbell in Chromium whose microphone is a WAV file (MIC_WAV, a
// tone): sign in, enrol this browser (the Go test adds its device to the
// chain), turn notifications on, have the doorbell pressed (HOOK_URL
// /press), open the ring's push payload as the service worker does and
// answer it (its URL: the doorbell's live view), hear the doorbell's tone
// (AUDIO_HZ) with the Web Audio API, then talk: hold the talk button, click it on and press Enter
// to turn it off, and try while another device talks (HOOK_URL /hold and
// /release); last, take the ring's Talk action (its URL), which talks at
// once. The Go test checks what the doorbell's back channel got.
import { join } from 'node:path';
import { assert, fail, launch, newPage, noticeOf, pushService, result, toneIn, signInAndEnrol } from './lib.mjs';

const base = process.env.BASE_URL;
const hook = process.env.HOOK_URL;
const hh = process.env.HOUSEHOLD;
const cam = process.env.CAMERA;
const artifacts = process.env.ARTIFACTS || '.';

const push = await pushService();
const browser = await launch(['--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream', `--use-file-for-fake-audio-capture=${process.env.MIC_WAV}`]);
try {
  const ctx = await browser.newContext({ viewport: { width: 390, height: 844 }, hasTouch: true, isMobile: true });
  await ctx.grantPermissions(['microphone', 'notifications'], { origin: base });
  await push.useIn(ctx);
  // Counts the page's requests for the microphone.
  await ctx.addInitScript(() => {
    const md = navigator.mediaDevices;
    if (!md) return;
    const gum = md.getUserMedia.bind(md);
    window.__micAsks = 0;
    window.__micStreams = [];
    md.getUserMedia = (c) => {
      window.__micAsks++;
      return gum(c).then((s) => (window.__micStreams.push(s), s));
    };
  });
  const page = await newPage(ctx, 'talk');

  const device = await signInAndEnrol(page, base, hook);

  // Notifications on this browser (the events page's button).
  await page.goto(`${base}/h/${hh}/events`);
  await page.tap('#ev-push-on', { timeout: 20000 });
  await page.waitForSelector('#ev-push-status[data-subscribed="true"]', { timeout: 20000 }).catch(async () => fail('push not subscribed: ' + (await page.textContent('#app'))));

  // Someone presses the doorbell: the cloud pushes the ring, sealed; the
  // service worker's opener shows it, and Answer opens its URL.
  const pressed = await fetch(hook + '/press', { method: 'POST' });
  assert(pressed.ok, 'press hook: ' + (await pressed.text()));
  const pressAt = Date.now();
  for (let i = 0; i < 300 && push.pushed.length === 0; i++) await new Promise((r) => setTimeout(r, 100));
  if (push.pushed.length === 0) fail('the cloud pushed no ring within 30 s');
  const pushMs = Date.now() - pressAt;
  const ringPayload = push.open(push.pushed[0].body);
  const ring = await noticeOf(page, ringPayload);
  ring.pushMs = pushMs;
  ring.payloadHasCamera = Buffer.from(push.pushed[0].body).includes(Buffer.from(cam));
  assert(ring.actions.includes('answer'), 'the ring has no Answer action: ' + JSON.stringify(ring));

  // Answer: the doorbell's live view.
  await page.goto(base + ring.url);
  const tileSel = `.live-tile[data-camera="${cam}"]`;
  const videoSel = `${tileSel} video.live-video`;
  try {
    await page.waitForSelector(`${videoSel}[data-first-frame-ms]`, { timeout: 30000 });
  } catch {
    fail('no live frame within 30 s; page says: ' + (await page.textContent('#app')));
  }
  const video = page.locator(videoSel);
  const firstFrameMs = Number(await video.getAttribute('data-first-frame-ms'));

  // Hear the doorbell: unmute, and find its tone in the received track.
  const soundSel = `${tileSel} button.sound`;
  await page.locator(soundSel).waitFor({ state: 'visible', timeout: 10000 });
  await page.tap(soundSel);
  const sound = await toneIn(video, Number(process.env.AUDIO_HZ));

  // Talk: the button shows once the hub's talk channel is open.
  const talkSel = `${tileSel} button.talk`;
  const noteSel = `${tileSel} .talk-note`;
  const talkShown = await page.locator(talkSel).waitFor({ state: 'visible', timeout: 15000 }).then(() => true, () => false);
  if (!talkShown) fail('no talk button; page says: ' + (await page.textContent('#app')));
  const micAsksBefore = await page.evaluate(() => window.__micAsks);
  const talkState = () => page.getAttribute(talkSel, 'data-talk');
  const waitTalk = (s, timeout = 15000) =>
    page.waitForSelector(`${talkSel}[data-talk="${s}"]`, { timeout }).then(() => true, () => false);

  // Hold to talk (3 s), then release.
  const box = await page.locator(talkSel).boundingBox();
  await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
  await fetch(hook + '/mark', { method: 'POST' });
  await page.mouse.down();
  const heard = fetch(hook + '/heard', { method: 'POST' }).then((r) => r.text());
  await waitTalk('on');
  const pressToHeardMs = Number(await heard);
  const holdState = await talkState();
  const holdPressed = await page.getAttribute(talkSel, 'aria-pressed');
  const holdLabel = await page.getAttribute(talkSel, 'aria-label');
  const holdNote = (await page.textContent(noteSel)).trim();
  await page.screenshot({ path: join(artifacts, 'talk-holding.png') });
  await page.waitForTimeout(3000);
  const samplesDuringHold = Number(await (await fetch(hook + '/samples')).text());
  await page.mouse.up();
  await waitTalk('off');
  const releasedState = await talkState();
  const releasedNote = (await page.textContent(noteSel)).trim();

  // Click: on until clicked again; Enter (keyboard) turns it off.
  await page.click(talkSel);
  await waitTalk('on');
  const clickState = await talkState();
  await page.waitForTimeout(1000);
  await page.focus(talkSel);
  await page.keyboard.press('Enter');
  await waitTalk('off');
  const keyState = await talkState();

  // Another device talks: the page is told, and talks nothing.
  const hold = await fetch(hook + '/hold', { method: 'POST' });
  assert(hold.ok, 'hold hook: ' + (await hold.text()));
  await page.click(talkSel);
  await waitTalk('refused');
  const busyState = await talkState();
  const busyNote = (await page.textContent(noteSel)).trim();
  await page.screenshot({ path: join(artifacts, 'talk-busy.png') });
  const release = await fetch(hook + '/release', { method: 'POST' });
  assert(release.ok, 'release hook: ' + (await release.text()));
  const micAsksAfter = await page.evaluate(() => window.__micAsks);
  // Some seconds after the last talk the microphone is let go.
  const micReleased = await page
    .waitForFunction(() => window.__micStreams.length > 0 && window.__micStreams.every((s) => s.getTracks().every((t) => t.readyState === 'ended')), null, { timeout: 20000 })
    .then(() => true, () => false);

  // The ring's Talk action: its URL opens the live view with the sound
  // on and, the microphone being allowed here, talking at once.
  assert(ring.actions.includes('talk'), 'the ring has no Talk action: ' + JSON.stringify(ring));
  const samplesBeforeAnswer = Number(await (await fetch(hook + '/samples')).text());
  await page.goto(base + ring.talkUrl);
  const answerTalking = await waitTalk('on', 30000);
  const answerSound = await page.waitForSelector(`${soundSel}[data-sound="on"]`, { timeout: 15000 }).then(() => true, () => false);
  await page.waitForTimeout(1000);
  const samplesAnswered = Number(await (await fetch(hook + '/samples')).text()) - samplesBeforeAnswer;
  const answerNote = (await page.textContent(noteSel)).trim();
  await page.screenshot({ path: join(artifacts, 'talk-answered.png') });
  await page.tap(talkSel);
  const answerStopped = await waitTalk('off');

  result({
    answer: { talking: answerTalking, sound: answerSound, samples: samplesAnswered, note: answerNote, stopped: answerStopped },
    ring, firstFrameMs, sound, talkShown, micAsksBefore, micAsksAfter, micReleased, holdState, holdPressed, holdLabel, holdNote, releasedState, releasedNote,
    samplesDuringHold, pressToHeardMs, clickState, keyState, busyState, busyNote,
  });
} finally {
  await browser.close();
  push.close();
}
