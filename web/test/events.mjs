// Events, on a phone (390x844, touch): an enrolled browser's inbox opens
// sealed event records and a snapshot, merges start and end records, says
// what each event was in plain words, filters, shows an event uploaded
// while it is open (with a banner); a tap on a snapshot plays the event in
// its row; an event's Timeline link opens the camera page zoomed to it,
// its mark highlighted, playing it; the camera page marks the camera's
// events and plays one from the strip under the bar; the push subscription
// is sent; the service worker's opener reads a sealed push payload in a
// page. A never-enrolled browser sees the refusal and no label.
//
// The push service is this script: the subscription the page sends names an
// endpoint on loopback and a P-256 key held here, so the cloud's Web Push
// (RFC 8291) of a new event is received and decrypted here, and its payload
// -- the sealed record -- is given to the service worker's opener in the
// page.
//
// Env: BASE_URL, HOUSEHOLD, CAMERA, CONTROL_URL (POST /enrol, POST
// /live-event, POST /push-event), SESSION, CSRF, OTHER_SESSION, OTHER_CSRF,
// EVENT_A, EVENT_B, EVENT_C (event ids), OTHER_CAMERA (of one more event),
// PUSH_SEALED (base64 sealed record), VARIANTS (comma-separated base64
// sealed records, valid or not), RING_SEALED (a doorbell's ring whose
// snapshot is event A's), ARTIFACTS.
import { createServer } from 'node:http';
import { createECDH, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { launch, newPage, result, fail, signedInContext, deviceString, enrol, decryptPush } from './lib.mjs';
import { PHONE, layoutProblems } from './tl-phone.mjs';

const base = process.env.BASE_URL;
const hh = process.env.HOUSEHOLD;
const cam = process.env.CAMERA;
const ctl = process.env.CONTROL_URL;
const inbox = `${base}/h/${encodeURIComponent(hh)}/events`;

// rows reads the inbox as shown, waiting for the snapshots to settle.
async function rows(page) {
  await page.waitForFunction(() => [...document.querySelectorAll('.ev-row .ev-thumb')].every((w) => w.querySelector('.ev-snap-error, .ev-snap-none') || [...w.querySelectorAll('img.ev-snap')].every((i) => i.complete && i.src)), null, { timeout: 20000 });
  return page.$$eval('.ev-row', (els) =>
    els.map((li) => {
      const img = li.querySelector('img.ev-snap');
      return {
        id: li.dataset.event,
        camera: li.querySelector('.ev-camera').textContent,
        kind: li.querySelector('.ev-kind').textContent,
        labels: li.dataset.labels,
        place: li.querySelector('.ev-place')?.textContent ?? '',
        alert: !!li.querySelector('.ev-alert'),
        ongoing: li.dataset.end === '',
        start: Number(li.dataset.start),
        timeline: li.querySelector('a.ev-timeline').getAttribute('href'),
        text: li.textContent,
        snapWidth: img ? img.naturalWidth : 0,
        snapHeight: img ? img.naturalHeight : 0,
        snapSrc: img ? img.src : '',
        snapNone: !img && !!li.querySelector('.ev-snap-none'),
        snapError: li.querySelector('.ev-snap-error')?.dataset.error ?? '',
        boxLeft: li.querySelector('.ev-box')?.style.left ?? '',
        boxWidth: li.querySelector('.ev-box')?.style.width ?? '',
      };
    }),
  );
}

// played waits for the video matching sel to show its first frame (or
// fail) and returns the wall time of that frame and whether it advances.
async function played(page, sel) {
  await page.waitForFunction((sel) => {
    const v = document.querySelector(sel);
    return v && (v.hasAttribute('data-at-ms') || v.hasAttribute('data-error'));
  }, sel, { timeout: 20000 });
  const err = await page.getAttribute(sel, 'data-error');
  if (err) fail(`playing ${sel}: ${err}`);
  const t0 = await page.$eval(sel, (v) => v.currentTime);
  await page.waitForFunction(([sel, t0]) => document.querySelector(sel).currentTime > t0 + 0.3, [sel, t0], { timeout: 20000 }).catch(() => undefined);
  return { at: Number(await page.getAttribute(sel, 'data-at-ms')), advanced: (await page.$eval(sel, (v) => v.currentTime)) > t0 + 0.3 };
}

const b64u = (b) => Buffer.from(b).toString('base64url');

const ids = (page) => page.$$eval('.ev-row', (els) => els.map((li) => li.dataset.event));

// The push service.
const ua = createECDH('prime256v1');
ua.generateKeys();
const uaAuth = randomBytes(16);
const pushed = [];
const pushService = createServer((req, res) => {
  const parts = [];
  let n = 0;
  req.on('data', (c) => {
    n += c.length;
    if (n <= 8192) parts.push(c);
  });
  req.on('end', () => {
    pushed.push({ path: req.url, encoding: req.headers['content-encoding'], ttl: req.headers.ttl, auth: (req.headers.authorization || '').split(' ')[0], body: Buffer.concat(parts) });
    res.writeHead(201).end();
  });
});
await new Promise((r) => pushService.listen(0, '127.0.0.1', r));
const endpoint = `http://127.0.0.1:${pushService.address().port}/send/${b64u(randomBytes(9))}`;

const browser = await launch();
const out = {};
try {
  const ctx = await signedInContext(browser, base, process.env.SESSION, process.env.CSRF, PHONE);
  await ctx.grantPermissions(['notifications'], { origin: base });
  // Headless Chromium has no push service: the browser's subscription is
  // replaced by one with this script's endpoint and keys.
  await ctx.addInitScript((sub) => {
    const fake = { endpoint: sub.endpoint, options: { applicationServerKey: null }, toJSON: () => ({ endpoint: sub.endpoint, expirationTime: null, keys: sub.keys }), unsubscribe: async () => true };
    if (self.PushManager) {
      PushManager.prototype.subscribe = async () => fake;
      PushManager.prototype.getSubscription = async () => null;
    }
  }, { endpoint, keys: { p256dh: b64u(ua.getPublicKey()), auth: b64u(uaAuth) } });
  const page = await newPage(ctx, 'enrolled');
  await enrol(page, base);

  // From the home page's Events tab.
  await page.goto(`${base}/h/${encodeURIComponent(hh)}`);
  await page.tap('#tab-events');
  await page.waitForSelector('.ev-row', { timeout: 20000 });
  out.inboxPath = new URL(page.url()).pathname;
  await page.waitForFunction(() => document.querySelectorAll('.ev-row').length >= 4, null, { timeout: 20000 });
  out.inboxError = await page.textContent('#ev-error');
  out.rows = await rows(page);
  out.inboxText = await page.textContent('#app');
  out.layout = await layoutProblems(page);
  await page.screenshot({ path: join(process.env.ARTIFACTS, 'events-inbox.png'), fullPage: true });

  // Filters.
  await page.locator('label.check', { has: page.locator('#ev-filter-alerts') }).tap();
  out.alertRows = await ids(page);
  await page.locator('label.check', { has: page.locator('#ev-filter-alerts') }).tap();
  await page.selectOption('#ev-filter-kind', 'Vehicle');
  out.vehicleRows = await ids(page);
  await page.selectOption('#ev-filter-kind', '');
  await page.selectOption('#ev-filter-camera', process.env.OTHER_CAMERA);
  out.garageRows = await ids(page);
  await page.selectOption('#ev-filter-camera', '');

  // A tap on A's snapshot plays A in its row.
  const rowA = `.ev-row[data-event="${process.env.EVENT_A}"]`;
  await page.tap(`${rowA} .ev-snap-btn`);
  out.inline = await played(page, `${rowA} video.ev-video`);
  out.inlineWidth = await page.$eval(`${rowA} video.ev-video`, (v) => v.getBoundingClientRect().width);
  await page.screenshot({ path: join(process.env.ARTIFACTS, 'events-inline.png'), fullPage: true });

  // Live: an event uploaded now appears without a reload.
  await page.waitForFunction(() => document.querySelector('#ev-list')?.dataset.live === 'true', null, { timeout: 20000 });
  const live = await fetch(ctl + '/live-event', { method: 'POST' });
  if (live.status !== 204) fail('live event: ' + (await live.text()));
  await page.waitForSelector(`.ev-row[data-event="${process.env.EVENT_C}"]`, { timeout: 20000 });
  out.liveRow = (await rows(page)).find((r) => r.id === process.env.EVENT_C);
  out.banner = (await page.textContent('#ev-banner strong')).trim();
  // A's row still plays: the new row did not redraw it.
  out.inlineKept = await page.$$eval(`${rowA} video.ev-video`, (vs) => vs.length === 1 && !vs[0].paused);
  await page.screenshot({ path: join(process.env.ARTIFACTS, 'events-live.png'), fullPage: true });

  // Push subscription: the body the page sends to the cloud.
  const [req] = await Promise.all([
    page.waitForRequest((r) => r.method() === 'POST' && new URL(r.url()).pathname.endsWith('/push'), { timeout: 20000 }),
    page.tap('#ev-push-on'),
  ]);
  out.pushPath = new URL(req.url()).pathname;
  out.pushBody = JSON.parse(req.postData() || '{}');
  await page.waitForSelector('#ev-push-status[data-subscribed="true"], #ev-push-status.error', { timeout: 20000 });
  out.pushStatus = await page.textContent('#ev-push-status');
  // The service worker's opener, loaded into this page, reads a sealed
  // push payload with this device's keys.
  const swURL = await page.evaluate(async () => (await navigator.serviceWorker.getRegistration('/'))?.active?.scriptURL ?? '');
  if (!swURL) fail('no active service worker after subscribing');
  const openPush = async (p, sealed = process.env.PUSH_SEALED) =>
    p.evaluate(
      async ([url, sealed]) => {
        if (!window.vigilOpenPush) {
          await new Promise((resolve, reject) => {
            const s = document.createElement('script');
            s.src = url;
            s.onload = resolve;
            s.onerror = () => reject(new Error('cannot load ' + url));
            document.head.append(s);
          });
        }
        const b = Uint8Array.from(atob(sealed), (c) => c.charCodeAt(0));
        try {
          return { title: (await window.vigilOpenPush(b)).title };
        } catch (e) {
          return { error: String(e && e.message) };
        }
      },
      [swURL, sealed],
    );
  const opened = await openPush(page);
  if (opened.error) fail('the service worker could not open the push payload: ' + opened.error);
  out.pushTitle = opened.title;
  // Record variants: which ones the browser's opener accepts.
  out.variants = [];
  for (const v of (process.env.VARIANTS || '').split(',').filter(Boolean)) out.variants.push(await openPush(page, v));
  // A doorbell's ring: the notification the service worker would show.
  out.ringNotice = await page.evaluate(async (sealed) => {
    const b = Uint8Array.from(atob(sealed), (c) => c.charCodeAt(0));
    const n = await window.vigilNoticeOf(b);
    return { title: n.title, url: n.options.data.url, talkUrl: n.options.data.talkUrl ?? '', actions: (n.options.actions || []).map((a) => a.action), requireInteraction: !!n.options.requireInteraction, image: n.options.image || '' };
  }, process.env.RING_SEALED);
  // The hub's health alert and its resolution: the notifications the
  // service worker would show.
  out.healthNotices = [];
  for (const sealed of (process.env.HEALTH_SEALED || '').split(',').filter(Boolean)) {
    out.healthNotices.push(
      await page.evaluate(async (sealed) => {
        const b = Uint8Array.from(atob(sealed), (c) => c.charCodeAt(0));
        const n = await window.vigilNoticeOf(b);
        return { title: n.title, body: n.options.body || '', tag: n.options.tag || '', url: n.options.data.url };
      }, sealed),
    );
  }
  // A new event: the cloud pushes its sealed record to the subscription.
  const pe = await fetch(ctl + '/push-event', { method: 'POST' });
  if (pe.status !== 204) fail('push event: ' + (await pe.text()));
  for (let i = 0; i < 200 && pushed.length === 0; i++) await new Promise((r) => setTimeout(r, 100));
  if (pushed.length === 0) fail('the cloud sent no push message within 20 s');
  const msg = pushed[0];
  out.pushMessage = { path: msg.path, encoding: msg.encoding, ttl: msg.ttl, auth: msg.auth };
  const payload = decryptPush(msg.body, ua, uaAuth);
  out.pushPayload = payload.toString('base64');
  const fromPush = await openPush(page, out.pushPayload);
  if (fromPush.error) fail('the service worker could not open the pushed payload: ' + fromPush.error);
  out.pushedTitle = fromPush.title;

  // An event's Timeline link opens the camera page zoomed to the event,
  // its mark highlighted, playing it.
  await page.tap(`${rowA} a.ev-timeline`);
  out.linkURL = page.url();
  const mark = `#tl-bar .tl-event[data-event="${process.env.EVENT_A}"]`;
  await page.waitForSelector(`${mark}.highlight[aria-current="true"]`, { timeout: 20000 });
  const linkPlay = await played(page, '#tl-video');
  out.link = {
    ...linkPlay,
    clicked: Number(await page.getAttribute('#tl-bar', 'data-clicked')),
    from: Number(await page.getAttribute('#tl-bar', 'data-from')),
    to: Number(await page.getAttribute('#tl-bar', 'data-to')),
    inBar: await page.$eval(mark, (e) => {
      const r = e.getBoundingClientRect();
      const b = document.querySelector('#tl-bar').getBoundingClientRect();
      return r.width > 0 && r.left >= b.left - 1 && r.right <= b.right + 1;
    }),
    highlighted: await page.$$eval('#tl-bar .tl-event.highlight', (els) => els.map((e) => e.dataset.event)),
  };
  await page.screenshot({ path: join(process.env.ARTIFACTS, 'events-timeline-event.png'), fullPage: true });

  // The camera page marks this camera's events; the strip under the bar
  // plays one.
  await page.goto(`${base}/h/${encodeURIComponent(hh)}/cam/${encodeURIComponent(cam)}`);
  await page.waitForFunction(() => document.querySelectorAll('#tl-bar .tl-event').length >= 5 || document.querySelector('#tl-bar')?.dataset.eventsError, null, { timeout: 20000 });
  const evErr = await page.getAttribute('#tl-bar', 'data-events-error');
  if (evErr) fail('timeline events: ' + evErr);
  out.marks = await page.$$eval('#tl-bar .tl-event', (els) => els.map((e) => e.dataset.event));
  out.strip = await page.$$eval('#tl-events .tl-ev', (els) => els.map((e) => e.dataset.event));
  await page.locator(`#tl-events .tl-ev[data-event="${process.env.EVENT_A}"]`).scrollIntoViewIfNeeded();
  await page.tap(`#tl-events .tl-ev[data-event="${process.env.EVENT_A}"]`);
  out.markClicked = Number(await page.getAttribute('#tl-bar', 'data-clicked'));
  const markPlay = await played(page, '#tl-video');
  out.markAt = markPlay.at;
  out.markHighlighted = await page.$$eval('#tl-bar .tl-event.highlight', (els) => els.map((e) => e.dataset.event));
  await page.screenshot({ path: join(process.env.ARTIFACTS, 'events-timeline.png') });

  // "Donate to improve detection" on a finished event's row: the sheet
  // opens on the event's clip with a few seconds around it.
  await page.goto(inbox);
  await rows(page);
  // The rows come in as they are opened: wait for a finished one's button.
  const finished = await page.waitForSelector('.ev-row:not([data-end=""]) .ev-donate', { timeout: 30_000 }).catch(() => null);
  if (finished) {
    const li = await finished.evaluateHandle((b) => b.closest('.ev-row'));
    const ev = await li.evaluate((l) => ({ id: l.dataset.event, start: Number(l.dataset.start), end: Number(l.dataset.end) }));
    await finished.click();
    await page.waitForSelector('#donate-scope');
    out.donate = { ...ev, now: Date.now(), ...(await page.$eval('#donate-scope', (e) => ({ from: Number(e.dataset.fromMs), to: Number(e.dataset.toMs), camera: e.dataset.camera }))) };
    await page.click('#donate-cancel');
    await page.waitForSelector('#donate-sheet', { state: 'detached' });
  }
  out.donateButtons = await page.$$eval('.ev-row', (els) => els.map((l) => ({ ongoing: l.dataset.end === '', button: !!l.querySelector('.ev-donate') })));
  await ctx.close();

  // The never-enrolled browser.
  const ctx2 = await signedInContext(browser, base, process.env.OTHER_SESSION, process.env.OTHER_CSRF, PHONE);
  const page2 = await newPage(ctx2, 'never-enrolled');
  await deviceString(page2, base);
  await page2.goto(inbox);
  await page2.waitForSelector('#ev-not-enrolled, #ev-error.error', { timeout: 20000 });
  out.refusal = (await page2.textContent('#ev-not-enrolled').catch(() => '')) || (await page2.textContent('#ev-error'));
  out.refusalDetails = (await page2.textContent('#ev-refusal details.security').catch(() => '')) || '';
  out.otherSealed = await page2.$$eval('.ev-sealed', (els) => els.length);
  out.otherText = await page2.textContent('#app');
  // The same script in this browser cannot open the push payload.
  out.otherPush = (await openPush(page2)).error || '';
  await page2.screenshot({ path: join(process.env.ARTIFACTS, 'events-not-enrolled.png'), fullPage: true });
  await ctx2.close();
  result(out);
} finally {
  await browser.close();
  pushService.close();
}
