// A household member's first evening with 'vigil demo', on a phone
// (390x844, touch), every task finishing with what the person sees:
//   1. open the demo link and watch live (the picture moves, its clock ticks);
//   2. invite a second phone and approve it from the first (two contexts:
//      the invitee signs up on the invite page, both compare the code);
//   3. change how long recordings are kept (a preset, saved, still chosen
//      after a reload);
//   4. open a person event from the inbox: the camera page zooms to it and
//      highlights it on the timeline;
//   5. play a recording from minutes ago by tapping the timeline: it plays
//      from the time under the finger;
//   6. share that moment, copy the link ("Copied"), open it in a third
//      context (a guest with no account): one player plays it;
//   7. read in the history that someone with the share link watched.
// Env: DEMO_URL (the demo's sign-in link). ARTIFACTS: screenshots.
// Result: {household, steps: {name: ms}, tapMs, playedAtMs, msPerPx,
//          eventMarker, shareLink, guestPlayed, historyLine, retention, joined}.
import { launch, newPage, result, fail, assert, totp } from './lib.mjs';
import path from 'node:path';

const url = process.env.DEMO_URL;
if (!url) fail('DEMO_URL is not set');
const base = new URL(url).origin;
const art = process.env.ARTIFACTS || '.';
const phone = { viewport: { width: 390, height: 844 }, hasTouch: true, isMobile: true, deviceScaleFactor: 1 };
const out = { steps: {} };
const t0 = Date.now();
const step = (name) => {
  out.steps[name] = Date.now() - t0;
  console.error(`[journey] ${name} done at ${out.steps[name]} ms`);
};
const shot = (page, name) => page.screenshot({ path: path.join(art, `journey-${name}.png`) }).catch(() => {});

/** tapAt taps the element at a fraction of its width (0..1), in its middle row. */
async function tapAt(page, selector, frac) {
  const box = await page.locator(selector).boundingBox();
  assert(box, `${selector} has no box`);
  const x = box.x + Math.max(1, Math.min(box.width - 1, box.width * frac));
  await page.touchscreen.tap(x, box.y + box.height / 2);
  return { x, box };
}

/** visible: is the element's box inside the viewport (and on screen)? */
async function inViewport(page, selector) {
  return page.locator(selector).first().evaluate((el) => {
    const r = el.getBoundingClientRect();
    return r.width > 0 && r.height > 0 && r.top >= 0 && r.left >= 0 && r.bottom <= innerHeight && r.right <= innerWidth;
  });
}

const browser = await launch();
try {
  // 1. Open the demo link and watch live.
  const A = await browser.newContext({ ...phone, permissions: ['clipboard-read', 'clipboard-write'] });
  const a = await newPage(A, 'admin');
  await a.goto(url);
  await a.waitForURL(/\/h\/[^/]+(\/live)?$/, { timeout: 90_000 }).catch(async () => {
    await shot(a, 'demo-failed');
    fail(`the demo link did not open the household: ${await a.locator('#demo-error').textContent().catch(() => '?')}`);
  });
  const hh = decodeURIComponent(new URL(a.url()).pathname.split('/')[2]);
  out.household = hh;
  const tile = `.cam-tile[data-camera="front"]`;
  await a.waitForSelector(`${tile} video.live-video[data-first-frame-ms]`, { timeout: 60_000 });
  const clock1 = (await a.textContent(`${tile} .overlay-time`)).trim();
  const ct1 = await a.$eval(`${tile} video.live-video`, (v) => v.currentTime);
  await a.waitForTimeout(2200);
  const clock2 = (await a.textContent(`${tile} .overlay-time`)).trim();
  const live = await a.$eval(`${tile} video.live-video`, (v, ct) => ({ w: v.videoWidth, moved: v.currentTime > ct }), ct1);
  assert(live.w > 0 && live.moved, `the live picture does not play: ${JSON.stringify(live)}`);
  assert(clock1 && clock2 && clock1 !== clock2, `the time on the live picture does not tick: ${clock1} then ${clock2}`);
  assert(await a.locator('#account-menu').count(), 'the header does not show the signed-in account menu after the demo link');
  await shot(a, '1-live');
  step('live');

  // 2. Invite a second phone and approve it from the first.
  await a.tap('#tab-settings');
  await a.waitForURL(/\/settings$/);
  await a.tap('#invite-create');
  await a.waitForSelector('#invite-link', { timeout: 30_000 });
  const invite = await a.inputValue('#invite-link');
  assert(invite.startsWith(base + '/join/') && invite.includes('#'), `invite link ${invite}`);
  assert(await a.locator('svg#invite-qr').count(), 'the invite has no QR code');
  await a.tap('#invite-copy');
  await a.waitForSelector('#invite-copy[data-copied="1"]', { timeout: 5000 });
  const clip = await a.evaluate(() => navigator.clipboard.readText());
  assert(clip === invite, 'Copy did not put the invite link on the clipboard');
  await shot(a, '2-invite');

  const B = await browser.newContext(phone);
  const b = await newPage(B, 'partner');
  await b.goto(invite);
  await b.waitForSelector('#join-household', { timeout: 30_000 });
  const named = { household: (await b.textContent('#join-household')).trim(), inviter: (await b.textContent('#join-inviter')).trim() };
  assert(named.household && named.inviter, `the invite page does not name the household and the inviter: ${JSON.stringify(named)}`);
  // Sign up right on the invite page: a QR code for the authenticator, the key one tap away.
  await b.waitForSelector('#join-page[data-state="signed-out"] #signup-email', { timeout: 20_000 });
  const email = `partner-${Date.now()}@example.test`;
  await b.fill('#signup-email', email);
  await b.fill('#signup-password', 'correct horse battery staple');
  await b.tap('#signup-submit');
  await b.waitForSelector('svg#totp-qr', { timeout: 30_000 });
  await b.tap('#totp-manual summary');
  const secret = (await b.textContent('#totp-secret')).replace(/\s/g, '');
  assert(secret.length >= 16, 'the authenticator key is not one tap away on the sign-up page');
  await b.fill('#confirm-totp', totp(secret));
  await b.tap('#confirm-submit');
  // Still on the invite, signed in: name the phone and ask to join.
  await b.waitForSelector('#join-page[data-state="ask"]', { timeout: 30_000 });
  await b.fill('#join-device-name', "Sam's phone");
  await b.tap('#join-submit');
  await b.waitForSelector('#join-page[data-state="waiting"] #join-code', { timeout: 30_000 });
  const code = (await b.textContent('#join-code')).trim();
  await shot(b, '2-join-code');

  await a.tap('#tab-home');
  await a.waitForSelector('#join-waiting:not([hidden])', { timeout: 30_000 });
  await shot(a, '2-waiting');
  await a.tap('#join-waiting a');
  await a.waitForURL(/\/settings/);
  const req = a.locator('.join-request', { has: a.locator('.join-code') }).first();
  await req.waitFor({ timeout: 30_000 });
  const adminCode = (await req.locator('.join-code').textContent()).trim();
  assert(adminCode === code, `the admin sees code ${adminCode}, the new phone ${code}`);
  assert((await b.getAttribute('#join-page', 'data-state')) === 'waiting', 'the request was settled before the admin approved it');
  await shot(a, '2-approve');
  await req.locator('button.join-approve').tap();
  await b.waitForURL(new RegExp(`/h/${encodeURIComponent(hh)}/?$`), { timeout: 60_000 });
  await b.waitForSelector(`${tile}`, { timeout: 30_000 });
  out.joined = { code, named };
  await shot(b, '2-joined');
  await B.close();
  step('invite');

  // 3. Change how long recordings are kept.
  await a.tap('#tab-settings');
  const radios = a.locator('input[name="retention"]');
  await radios.first().waitFor({ state: 'attached', timeout: 30_000 });
  const n = await radios.count();
  assert(n >= 3, `${n} retention presets`);
  let pick = -1;
  for (let i = 0; i < n; i++) if (!(await radios.nth(i).isChecked())) { pick = i; break; }
  const value = await radios.nth(pick).getAttribute('value');
  await a.locator(`label.check:has(input[name="retention"][value="${value}"])`).tap();
  await a.tap('#retention-save');
  await a.waitForFunction(() => !document.querySelector('#retention-save')?.disabled, null, { timeout: 20_000 });
  const where = (await a.textContent('#retention-where')).trim();
  const usage = (await a.textContent('#retention-usage')).trim();
  assert(where.length > 10 && usage.length > 0, `retention does not say where it applies and what is used: "${where}" "${usage}"`);
  await a.reload();
  await a.locator(`input[name="retention"][value="${value}"]`).waitFor({ state: 'attached', timeout: 30_000 });
  assert(await a.locator(`input[name="retention"][value="${value}"]`).isChecked(), `after a reload the preset ${value} is not chosen`);
  out.retention = { value, where, usage };
  await shot(a, '3-retention');
  step('retention');

  // 4. Open a person event from the inbox: highlighted on the timeline.
  await a.tap('#tab-events');
  const row = a.locator('.ev-row', { has: a.locator('.ev-kind', { hasText: /person/i }) }).first();
  await row.waitFor({ timeout: 120_000 });
  const ev = await row.getAttribute('data-event');
  await row.locator('a.ev-timeline').tap();
  await a.waitForURL(/\/cam\/front\?/, { timeout: 20_000 });
  const marker = `.tl-event[data-event="${ev}"]`;
  await a.waitForSelector(`${marker}.highlight[aria-current="true"]`, { timeout: 30_000 });
  const within = await a.evaluate((m) => {
    const e = document.querySelector(m).getBoundingClientRect();
    const bar = document.querySelector('#tl-bar').getBoundingClientRect();
    return e.left >= bar.left - 1 && e.right <= bar.right + 1 && e.width > 0;
  }, marker);
  assert(within, 'the highlighted event is not inside the visible part of the timeline');
  out.eventMarker = ev;
  await shot(a, '4-event');
  step('event');

  // 5. Play a recording from minutes ago by tapping the timeline.
  // The demo has recorded since before the link opened: wait until a
  // minute and a half of it is behind us, then go back that far.
  while (Date.now() - t0 < 95_000) await a.waitForTimeout(1000);
  const want = Date.now() - 90_000;
  await a.goto(`${base}/h/${encodeURIComponent(hh)}/cam/front`);
  await a.waitForSelector('#tl-bar .tl-range', { state: 'attached', timeout: 30_000 });
  const span = await a.$eval('#tl-bar', (el) => ({ min: Number(el.getAttribute('aria-valuemin')), max: Number(el.getAttribute('aria-valuemax')) }));
  const frac = (want - span.min) / (span.max - span.min);
  assert(frac > 0 && frac < 1, `90 s ago is not on the opening timeline (${new Date(span.min).toISOString()}..${new Date(span.max).toISOString()})`);
  const { box } = await tapAt(a, '#tl-bar', frac);
  const msPerPx = (span.max - span.min) / box.width;
  await a.waitForSelector('#tl-video[data-at-ms]', { timeout: 30_000 });
  const tapped = Number(await a.getAttribute('#tl-bar', 'aria-valuenow'));
  const at = Number(await a.getAttribute('#tl-video', 'data-at-ms'));
  assert(Math.abs(tapped - want) <= 2 * msPerPx + 1000, `the tap meant ${new Date(want).toISOString()}, the bar took ${new Date(tapped).toISOString()}`);
  assert(Math.abs(at - tapped) <= 2000, `tapped ${new Date(tapped).toISOString()}, playback started at ${new Date(at).toISOString()}`);
  const ct = await a.$eval('#tl-video', (v) => v.currentTime);
  await a.waitForFunction((ct) => { const v = document.querySelector('#tl-video'); return v && v.videoWidth > 0 && v.currentTime > ct + 0.5; }, ct, { timeout: 20_000 });
  out.tapMs = tapped;
  out.playedAtMs = at;
  out.msPerPx = msPerPx;
  await shot(a, '5-playing');
  step('recording');

  // 6. Share the moment on screen; open the link as a guest.
  await a.tap('#tl-share');
  await a.waitForSelector('dialog#share-sheet[open]', { timeout: 10_000 });
  await a.tap('#share-create');
  await a.waitForSelector('#share-link', { timeout: 60_000 });
  const link = await a.inputValue('#share-link');
  assert(link.startsWith(base + '/s/'), `share link ${link}`);
  assert(await inViewport(a, '#share-link'), 'the share link is not on screen after creating it');
  await a.tap('#share-copy');
  await a.waitForSelector('#share-copy[data-copied="1"]', { timeout: 5000 });
  assert((await a.textContent('#share-copy')).includes('Copied'), 'Copy gives no feedback');
  assert((await a.evaluate(() => navigator.clipboard.readText())) === link, 'the clipboard does not hold the share link');
  await shot(a, '6-share');
  out.shareLink = link.split('#')[0];

  const G = await browser.newContext(phone);
  const g = await newPage(G, 'guest');
  await g.goto(link);
  await g.waitForSelector('#share-page[data-state="loaded"], #share-page[data-state="error"], #share-page[data-state="empty"]', { timeout: 60_000 });
  const gs = await g.getAttribute('#share-page', 'data-state');
  assert(gs === 'loaded', `the guest page is ${gs}: ${await g.textContent('#share-page').catch(() => '')}`);
  assert((await g.locator('video').count()) === 1, 'the guest page has more than one player');
  await g.$eval('video#share-video', (v) => { v.muted = true; return v.play(); }).catch(() => {});
  await g.waitForFunction(() => { const v = document.querySelector('video#share-video'); return v && v.videoWidth > 0 && v.currentTime > 0.5; }, null, { timeout: 30_000 });
  assert(await g.locator('#share-download').count(), 'the guest page has no download');
  out.guestPlayed = true;
  await shot(g, '6-guest');
  await G.close();
  step('share');

  // 7. The history says the guest watched.
  const hist = `${base}/h/${encodeURIComponent(hh)}/history`;
  let line = '';
  for (let i = 0; i < 20 && !line; i++) {
    await a.goto(hist);
    await a.waitForSelector('#history-status:not([data-state="loading"])', { timeout: 60_000 });
    const rows = a.locator('.hist-row[data-actor-kind="link"]');
    if (await rows.count()) line = (await rows.first().textContent()).trim();
    else await a.waitForTimeout(3000);
  }
  assert(line, 'the history never showed the guest watching');
  assert(/watched|played/i.test(line) && /front/i.test(line), `the history line does not say the guest watched front: "${line}"`);
  assert((await a.getAttribute('#history-status', 'data-state')) === 'verified', 'the history is not verified');
  out.historyLine = line;
  await shot(a, '7-history');
  step('history');
  result(out);
} catch (e) {
  fail(e.stack || String(e));
} finally {
  await browser.close();
}
