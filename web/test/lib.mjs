// Shared helpers for the browser tests (run by internal/browsertest from Go
// tests, which start the services and pass their URLs in the environment).
import { chromium } from 'playwright-core';
import { createDecipheriv, createECDH, createHmac, hkdfSync, randomBytes } from 'node:crypto';

/** launch starts headless Chromium from Debian (extra: more command-line flags). */
export async function launch(extra = []) {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--autoplay-policy=no-user-gesture-required', ...extra],
  });
}

/** newPage opens a page whose console errors and failures go to stderr. */
export async function newPage(context, name = 'page') {
  const page = await context.newPage();
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning' || process.env.VERBOSE) console.error(`[${name} console.${m.type()}] ${m.text()}`);
  });
  page.on('pageerror', (e) => console.error(`[${name} pageerror] ${e.message}`));
  return page;
}

/**
 * signedInContext opens a browser context signed in with a session cookie
 * ("name=value", as the Go test passes it) and its CSRF token. opts go to
 * browser.newContext (default viewport 1280x900).
 */
export async function signedInContext(browser, base, cookie, csrf, opts = {}) {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 }, ...opts });
  const [name, ...rest] = cookie.split('=');
  await ctx.addCookies([{ name, value: rest.join('='), url: base, httpOnly: true, sameSite: 'Strict' }]);
  await ctx.addInitScript((t) => localStorage.setItem('vigil.csrf', t), csrf);
  return ctx;
}

/** deviceString opens the device page and returns this browser's device string. */
export async function deviceString(page, base) {
  await page.goto(base + '/device');
  const el = await page.waitForSelector('#device-string', { timeout: 20000 });
  return (await el.textContent()).trim();
}

/** control POSTs body to path on the Go test's control server (CONTROL_URL) and throws unless it succeeds. */
export async function control(path, body) {
  const res = await fetch(process.env.CONTROL_URL + path, { method: 'POST', body: body ?? '' });
  if (!res.ok) throw new Error(`control ${path}: ${res.status} ${await res.text()}`);
  return res;
}

/**
 * enrol has the Go test add this browser's device to the household's chain:
 * it opens the device page and POSTs the device string to the control
 * server's /enrol (query: e.g. "?role=admin&name=..."), which answers 204
 * once the device is in the chain.
 */
export async function enrol(page, base, query = '') {
  const res = await control('/enrol' + query, await deviceString(page, base));
  assert(res.status === 204, `enrolling the browser: ${res.status} ${await res.text()}`);
}

/**
 * shareSettled waits (up to timeout ms) until the share page in page has
 * loaded, failed or found nothing to play, and returns its data attributes
 * (data), its state and status, and the error it shows (message).
 */
export async function shareSettled(page, timeout = 60000) {
  await page.waitForSelector('#share-page[data-state="loaded"], #share-page[data-state="error"], #share-page[data-state="empty"]', { timeout });
  const data = await page.$eval('#share-page', (el) => ({ ...el.dataset }));
  return { data, state: data.state, status: data.status ?? '', message: await page.$eval('#share-error', (e) => e.textContent) };
}

/** totp computes the current RFC 6238 code (SHA-1, 6 digits, 30 s) of a base32 secret. */
export function totp(secretB32, at = Date.now()) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const c of secretB32.replace(/=+$/, '').toUpperCase()) bits += alphabet.indexOf(c).toString(2).padStart(5, '0');
  const key = Buffer.alloc(Math.floor(bits.length / 8));
  for (let i = 0; i < key.length; i++) key[i] = parseInt(bits.slice(i * 8, i * 8 + 8), 2);
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(at / 1000 / 30)));
  const mac = createHmac('sha1', key).update(counter).digest();
  const off = mac[mac.length - 1] & 15;
  const code = (mac.readUInt32BE(off) & 0x7fffffff) % 1000000;
  return String(code).padStart(6, '0');
}

/** result prints the script's JSON result as the last stdout line. */
export function result(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

/** fail prints why and exits non-zero. */
export function fail(msg) {
  console.error('FAIL: ' + msg);
  process.exit(1);
}

export function assert(cond, msg) {
  if (!cond) fail(msg);
}

/**
 * pushService runs a Web Push service on 127.0.0.1 for a browser context
 * (headless Chromium has none): useIn(ctx) makes the context's
 * PushManager subscribe to it, pushed lists the messages the cloud sent,
 * and open(msg) decrypts one (RFC 8291, aes128gcm, one record).
 */
export async function pushService() {
  const { createServer } = await import('node:http');
  const b64u = (b) => Buffer.from(b).toString('base64url');
  const ua = createECDH('prime256v1');
  ua.generateKeys();
  const auth = randomBytes(16);
  const pushed = [];
  const srv = createServer((req, res) => {
    const parts = [];
    let n = 0;
    req.on('data', (c) => {
      n += c.length;
      if (n <= 8192) parts.push(c);
    });
    req.on('end', () => {
      pushed.push({ path: req.url, body: Buffer.concat(parts) });
      res.writeHead(201).end();
    });
  });
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  const endpoint = `http://127.0.0.1:${srv.address().port}/send/${b64u(randomBytes(9))}`;
  return {
    pushed,
    useIn: (ctx) =>
      ctx.addInitScript((sub) => {
        const fake = { endpoint: sub.endpoint, options: { applicationServerKey: null }, toJSON: () => ({ endpoint: sub.endpoint, expirationTime: null, keys: sub.keys }), unsubscribe: async () => true };
        if (self.PushManager) {
          PushManager.prototype.subscribe = async () => fake;
          PushManager.prototype.getSubscription = async () => null;
        }
      }, { endpoint, keys: { p256dh: b64u(ua.getPublicKey()), auth: b64u(auth) } }),
    open: (body) => decryptPush(body, ua, auth),
    close: () => srv.close(),
  };
}

/**
 * noticeOf loads the app's service worker script into page (which has
 * one active) and returns the notification it would show for a push
 * payload: title, body, url, talkUrl (its Talk action's), actions,
 * requireInteraction, image.
 */
export async function noticeOf(page, payload) {
  const swURL = await page.evaluate(async () => (await navigator.serviceWorker.getRegistration('/'))?.active?.scriptURL ?? '');
  if (!swURL) throw new Error('no active service worker');
  return page.evaluate(
    async ([url, b64]) => {
      if (!window.vigilNoticeOf) {
        await new Promise((resolve, reject) => {
          const s = document.createElement('script');
          s.src = url;
          s.onload = resolve;
          s.onerror = () => reject(new Error('cannot load ' + url));
          document.head.append(s);
        });
      }
      const n = await window.vigilNoticeOf(Uint8Array.from(atob(b64), (c) => c.charCodeAt(0)));
      return { title: n.title, body: n.options.body, url: n.options.data?.url ?? '', talkUrl: n.options.data?.talkUrl ?? '', actions: (n.options.actions || []).map((a) => a.action), requireInteraction: !!n.options.requireInteraction, image: n.options.image || '' };
    },
    [swURL, Buffer.from(payload).toString('base64')],
  );
}

/**
 * decryptPush opens an RFC 8291 (aes128gcm, one record) message sent to the
 * subscription of ECDH key ua and auth secret auth.
 */
export function decryptPush(body, ua, auth) {
  if (body.length < 21 + 65 + 17) throw new Error('push message too short');
  const salt = body.subarray(0, 16);
  const idlen = body[20];
  const asPub = body.subarray(21, 21 + idlen);
  const ct = body.subarray(21 + idlen);
  const keyInfo = Buffer.concat([Buffer.from('WebPush: info\0'), ua.getPublicKey(), asPub]);
  const ikm = Buffer.from(hkdfSync('sha256', ua.computeSecret(asPub), auth, keyInfo, 32));
  const cek = Buffer.from(hkdfSync('sha256', ikm, salt, Buffer.from('Content-Encoding: aes128gcm\0'), 16));
  const nonce = Buffer.from(hkdfSync('sha256', ikm, salt, Buffer.from('Content-Encoding: nonce\0'), 12));
  const d = createDecipheriv('aes-128-gcm', cek, nonce);
  d.setAuthTag(ct.subarray(ct.length - 16));
  const pt = Buffer.concat([d.update(ct.subarray(0, ct.length - 16)), d.final()]);
  let i = pt.length - 1;
  while (i >= 0 && pt[i] === 0) i--;
  if (pt[i] !== 2) throw new Error('push message: bad padding delimiter');
  return pt.subarray(0, i);
}

/**
 * toneIn listens to the audio track of the video element video (a
 * locator) with the Web Audio API for up to 5 s, until the tone of hz
 * stands out, and returns the moment it stood out most: {toneDb, otherDb}
 * (dB at hz, and the loudest of a few other frequencies), or {err}.
 */
export function toneIn(video, hz) {
  return video.evaluate(async (v, hz) => {
    const tracks = v.srcObject instanceof MediaStream ? v.srcObject.getAudioTracks() : [];
    if (!tracks.length) return { err: 'no audio track on the video element' };
    const ac = new AudioContext();
    await ac.resume();
    const an = ac.createAnalyser();
    an.fftSize = 4096;
    an.smoothingTimeConstant = 0;
    ac.createMediaStreamSource(new MediaStream([tracks[0]])).connect(an);
    const bins = new Float32Array(an.frequencyBinCount);
    const bin = (f) => Math.round((f * an.fftSize) / ac.sampleRate);
    const peak = (f) => Math.max(bins[bin(f) - 1], bins[bin(f)], bins[bin(f) + 1]);
    let best = { toneDb: -Infinity, otherDb: 0 };
    for (let i = 0; i < 50; i++) {
      await new Promise((r) => setTimeout(r, 100));
      an.getFloatFrequencyData(bins);
      const toneDb = peak(hz);
      const otherDb = Math.max(...[hz * 0.7, hz * 1.5, 1000, 2000].map(peak));
      if (toneDb - otherDb > best.toneDb - best.otherDb) best = { toneDb, otherDb };
      if (toneDb > -60 && toneDb - otherDb > 30) break;
    }
    await ac.close();
    return best;
  }, hz);
}

/**
 * signInAndEnrol makes page's browser a device of the test's household:
 * it reads the browser's device string, signs in with the account in
 * EMAIL, PASSWORD and TOTP_SECRET, and has the Go side enrol the device
 * (POST hook/enrol). It returns the device string.
 */
export async function signInAndEnrol(page, base, hook) {
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
  return device;
}
