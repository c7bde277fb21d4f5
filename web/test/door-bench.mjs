// Times the doorbell's audio to the browser ('vigil bench door'): signs in
// through the demo's link, opens the doorbell's live view, turns its sound
// on, and for each of BURSTS tone bursts asks the doorbell for one (POST
// CONTROL_URL/burst, which answers when the burst's first packet left the
// camera, unix_ms) and finds the tone's onset in the received track with
// the Web Audio API. Both times are this machine's wall clock.
//
// Then talk mouth-to-speaker: the page's microphone is a Web Audio tone
// generator (getUserMedia is replaced by an oscillator behind a gain into a
// MediaStream), the talk button is pressed, and each of TALKS bursts is
// timed from the page turning the tone on (its first sample follows); the
// doorbell's back channel reports when it heard a sound after silence
// (GET CONTROL_URL/backchannel, last_onset_unix_ms).
// Env: DEMO_URL, CONTROL_URL, CAMERA (front), BURSTS (20), TALKS (20),
// AUDIO_HZ (440).
// Result: {latencyMs: [...], talkMs: [...]} (burst sent to tone heard, per
// burst; microphone burst to the doorbell's back channel, per talk).
import { launch, newPage, result, fail } from './lib.mjs';

const url = process.env.DEMO_URL;
const control = process.env.CONTROL_URL;
if (!url || !control) fail('DEMO_URL and CONTROL_URL must be set (vigil bench door sets them)');
const camera = process.env.CAMERA || 'front';
const bursts = Number(process.env.BURSTS ?? 20);
const talks = Number(process.env.TALKS ?? 0);
const hz = Number(process.env.AUDIO_HZ || 440);
const log = (m) => console.error(m);

const browser = await launch();
try {
  const ctx = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
  // The page's peer connections, for the audio jitter buffer's delay
  // (getStats), printed next to each burst.
  await ctx.addInitScript(() => {
    const Native = window.RTCPeerConnection;
    if (!Native) return;
    window.__pcs = [];
    window.RTCPeerConnection = class extends Native {
      constructor(...args) {
        super(...args);
        window.__pcs.push(this);
      }
    };
    // The microphone: a 1 kHz tone, silent until __talkBurst.
    let gen = null;
    const mic = () => {
      if (gen) return gen;
      const ac = new AudioContext({ latencyHint: 'interactive' });
      const osc = ac.createOscillator();
      osc.frequency.value = 1000;
      const gain = ac.createGain();
      gain.gain.value = 0;
      const dst = ac.createMediaStreamDestination();
      osc.connect(gain).connect(dst);
      osc.start();
      gen = { ac, gain, dst };
      return gen;
    };
    if (navigator.mediaDevices) {
      navigator.mediaDevices.getUserMedia = async () => {
        const g = mic();
        await g.ac.resume();
        return new MediaStream(g.dst.stream.getAudioTracks().map((t) => t.clone()));
      };
    }
    // __talkBurst turns the tone on for ms and returns the wall-clock time
    // (ms) of the call: the first sample is rendered at the audio graph's
    // next quantum, never before, so the time measured from it is an upper
    // bound (by at most one render buffer).
    window.__talkBurst = (ms) => {
      const { ac, gain } = mic();
      const at = performance.timeOrigin + performance.now();
      const t = ac.currentTime;
      gain.gain.cancelScheduledValues(0);
      gain.gain.setValueAtTime(0.5, t);
      gain.gain.setValueAtTime(0, t + ms / 1000);
      return at;
    };
  });
  const page = await newPage(ctx, 'door-bench');
  await page.goto(url);
  await page.waitForURL(/\/h\/[^/]+(\/live)?$/, { timeout: 60_000 }).catch(async () => {
    fail(`the demo link did not reach home: ${await page.locator('#demo-error').textContent().catch(() => '?')}`);
  });
  const hh = new URL(page.url()).pathname.split('/')[2];
  await page.goto(new URL(`/h/${hh}/cam/${camera}/live`, url).href);
  await page.waitForSelector('video.live-big', { timeout: 30_000 });
  const sound = 'button.sound';
  await page.locator(sound).first().waitFor({ state: 'visible', timeout: 30_000 }).catch(() => fail('the live view shows no speaker button: no audio track'));
  await page.locator(sound).first().tap();

  // The detector: an analyser on the received audio track, read every
  // few milliseconds; the doorbell sends silence between bursts, so the
  // tone's onset is the first read whose level stands well above it.
  const armed = await page.evaluate(async () => {
    const v = document.querySelector('video.live-big');
    const tracks = v && v.srcObject instanceof MediaStream ? v.srcObject.getAudioTracks() : [];
    if (!tracks.length) return 'no audio track on the live video';
    const ac = new AudioContext({ latencyHint: 'interactive' });
    await ac.resume();
    const an = ac.createAnalyser();
    an.fftSize = 256;
    an.smoothingTimeConstant = 0;
    ac.createMediaStreamSource(new MediaStream([tracks[0]])).connect(an);
    const buf = new Float32Array(an.fftSize);
    const rms = () => {
      an.getFloatTimeDomainData(buf);
      let s = 0;
      for (const x of buf) s += x * x;
      return Math.sqrt(s / buf.length);
    };
    // onset resolves with the wall-clock time (ms) the tone is first
    // heard after at least quietMs of silence, or null after timeoutMs.
    window.__onset = (quietMs, timeoutMs) =>
      new Promise((resolve) => {
        let quietSince = null;
        const start = performance.now();
        window.__quiet = false;
        const tick = () => {
          const now = performance.now();
          const level = rms();
          if (level < 0.02) {
            quietSince ??= now;
            if (now - quietSince >= quietMs) window.__quiet = true;
          } else if (window.__quiet && level > 0.1) {
            resolve(performance.timeOrigin + now);
            return;
          } else {
            quietSince = null;
          }
          if (now - start > timeoutMs) resolve(null);
          else setTimeout(tick, 1);
        };
        tick();
      });
    return '';
  });
  if (armed) fail(armed);

  // jitter returns the audio jitter buffer's mean delay (ms) since the
  // last call, over the page's open peer connections, or null.
  const jitter = () =>
    page.evaluate(async () => {
      let delay = 0, count = 0;
      for (const pc of window.__pcs || []) {
        if (pc.connectionState === 'closed') continue;
        for (const r of (await pc.getStats()).values()) {
          if (r.type === 'inbound-rtp' && r.kind === 'audio') {
            delay += r.jitterBufferDelay || 0;
            count += r.jitterBufferEmittedCount || 0;
          }
        }
      }
      const last = window.__jb || { delay: 0, count: 0 };
      window.__jb = { delay, count };
      return count > last.count ? (1000 * (delay - last.delay)) / (count - last.count) : null;
    });
  await jitter();
  const latencyMs = [];
  const jitterMs = [];
  for (let i = 0; i < bursts; i++) {
    const heard = page.evaluate(() => window.__onset(300, 15_000));
    await page.waitForFunction(() => window.__quiet === true, null, { timeout: 15_000, polling: 20 })
      .catch(() => fail('the doorbell is not silent between bursts'));
    const res = await fetch(`${control}/burst`, { method: 'POST' });
    if (!res.ok) fail(`POST /burst: ${res.status} ${await res.text()}`);
    const { unix_ms: sent } = await res.json();
    const at = await heard;
    if (at === null) fail(`burst ${i + 1}: no tone heard within 15 s`);
    const ms = Math.round((at - sent) * 10) / 10;
    latencyMs.push(ms);
    const jb = await jitter();
    jitterMs.push(jb === null ? null : Math.round(jb));
    log(`  burst ${i + 1}/${bursts}: heard after ${Math.round(ms)} ms${jb === null ? '' : ` (the browser's audio jitter buffer held it ${Math.round(jb)} ms)`}`);
  }

  // Talk: press the talk button (a tap keeps it on), then time each burst
  // from the page's microphone to the doorbell's back channel.
  const talkMs = [];
  if (talks > 0) {
    const backchannel = async () => {
      const res = await fetch(`${control}/backchannel`);
      if (!res.ok) fail(`GET /backchannel: ${res.status}`);
      return res.json();
    };
    const talkButton = page.locator('button.talk').first();
    await talkButton.waitFor({ state: 'visible', timeout: 30_000 }).catch(() => fail('the live view shows no talk button'));
    await talkButton.tap();
    await page.waitForSelector('button.talk[data-talk="on"]', { timeout: 30_000 })
      .catch(async () => fail(`talk did not start: ${await page.locator('p.talk-note').first().textContent().catch(() => '?')}`));
    const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
    for (let i = 0; i < talks; i++) {
      await sleep(500); // the back channel hears silence first
      const before = (await backchannel()).onsets;
      const sent = await page.evaluate(() => window.__talkBurst(150));
      const deadline = Date.now() + 10_000;
      let st;
      while ((st = await backchannel()).onsets <= before) {
        if (Date.now() > deadline) fail(`talk ${i + 1}: the doorbell heard nothing within 10 s`);
        await sleep(2);
      }
      if (st.onsets > before + 1) fail(`talk ${i + 1}: the doorbell heard ${st.onsets - before} sounds, want 1`);
      const ms = Math.round((st.last_onset_unix_ms - sent) * 10) / 10;
      talkMs.push(ms);
      log(`  talk ${i + 1}/${talks}: the doorbell heard it after ${Math.round(ms)} ms`);
    }
    await talkButton.tap();
  }
  result({ latencyMs, jitterMs, talkMs, hz });
} finally {
  await browser.close();
}
