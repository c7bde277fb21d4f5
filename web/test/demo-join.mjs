// 'vigil demo' join flow, as two people do it on their phones (390x844,
// touch). A opens the demo link (an admin device of the demo household) and
// makes an invite link in the household's settings. B, a fresh browser,
// opens the invite: it names the household and who invited, B creates an
// account on the page (authenticator QR code, the key one tap away, TOTP),
// names the phone, asks to join and shows the code. A sees "… is waiting to
// join" on home, the same code in settings, and approves. B lands on the
// household's home with the camera, and its device page lists the
// household. While A reviews, B's request is still pending (the demo must
// not decline it).
// Env: DEMO_URL (the demo's link), ARTIFACTS.
// Result: {household, inviteLink, shownHousehold, shownInviter,
//          inviterDevice, qrModules, code, adminCode, banner, pendingChecks,
//          stateAtReview, landed, camera, inHousehold, overflow, small, axe}.
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { launch, newPage, totp, result, fail, assert } from './lib.mjs';

const url = process.env.DEMO_URL;
if (!url) fail('DEMO_URL is not set');
const base = new URL(url).origin;
const art = process.env.ARTIFACTS || '';
const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
const phone = { viewport: { width: 390, height: 844 }, hasTouch: true, deviceScaleFactor: 2 };
const out = { overflow: {}, small: {}, axe: {} };

const shot = async (page, name) => {
  if (art) await page.screenshot({ path: path.join(art, `join-${name}.png`), fullPage: true });
};
/**
 * check measures the page as a phone shows it: how far it is wider than
 * the screen, the controls smaller than 44x44 px (inline links in text
 * excepted), and axe's serious and critical violations.
 */
const check = async (page, name) => {
  out.overflow[name] = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  out.small[name] = await page.evaluate(() => {
    const small = [];
    for (const el of document.querySelectorAll('button, input, select, summary, a.btn, nav a, [role=button], [role=tab]')) {
      const target = el.closest('label.check') ?? el;
      const r = target.getBoundingClientRect();
      if (r.width === 0 && r.height === 0) continue; // not shown
      if (r.width < 44 || r.height < 44) small.push(`${el.tagName.toLowerCase()}#${el.id || ''}.${el.className || ''} ${Math.round(r.width)}x${Math.round(r.height)}`);
    }
    return small.join('; ');
  });
  // The app's CSP refuses an added script: evaluate axe's source instead.
  if (!(await page.evaluate(() => typeof window.axe === 'object'))) await page.evaluate(axeSource);
  const v = await page.evaluate(async () => {
    const r = await window.axe.run(document, { resultTypes: ['violations'] });
    return r.violations.filter((x) => x.impact === 'serious' || x.impact === 'critical').map((x) => `${x.id}: ${x.nodes.map((n) => n.target.join(' ')).join(', ')}`);
  });
  out.axe[name] = v.join('; ');
};

const browser = await launch();
try {
  // A: the demo link (admin device), then an invite in settings.
  const ctxA = await browser.newContext(phone);
  const a = await newPage(ctxA, 'admin');
  await a.goto(url);
  await a.waitForURL(/\/h\/[^/]+\/live$/, { timeout: 60_000 }).catch(async () => {
    fail(`the demo link did not open the household: ${await a.locator('#demo-error').textContent().catch(() => '')}`);
  });
  const hh = decodeURIComponent(new URL(a.url()).pathname.split('/')[2]);
  out.household = hh;
  await a.goto(`${base}/h/${encodeURIComponent(hh)}/settings`);
  await a.click('#invite-create', { timeout: 60_000 });
  const linkInput = await a.waitForSelector('#invite-link', { timeout: 30_000 });
  out.inviteLink = await linkInput.inputValue();
  out.inviterDevice = new URLSearchParams(new URL(out.inviteLink).hash.slice(1)).get('by') ?? '';
  await shot(a, 'invite');

  // B: a fresh phone opens the invite.
  const ctxB = await browser.newContext(phone);
  const b = await newPage(ctxB, 'new-phone');
  await b.goto(out.inviteLink);
  await b.waitForSelector('#join-page[data-state="signed-out"]', { timeout: 30_000 });
  out.shownHousehold = (await b.textContent('#join-household')).trim();
  out.shownInviter = (await b.textContent('#join-inviter')).trim();
  await check(b, 'invite-signed-out');
  await shot(b, 'invited');

  // Sign up in place: QR code, then the key one tap away, then the code.
  await b.fill('#signup-email', 'sam@example.com');
  await b.fill('#signup-password', 'correct horse battery staple');
  await b.click('#signup-submit');
  await b.waitForSelector('svg#totp-qr', { timeout: 30_000 });
  out.qrModules = Number(await b.getAttribute('svg#totp-qr', 'data-modules'));
  await check(b, 'signup-qr');
  await shot(b, 'signup-qr');
  await b.click('#totp-manual summary');
  const secret = (await b.textContent('#totp-secret')).replace(/\s/g, '');
  await b.fill('#confirm-totp', totp(secret));
  await b.click('#confirm-submit');

  // Still on the invite, signed in: name the phone and ask.
  await b.waitForSelector('#join-page[data-state="ask"]', { timeout: 30_000 });
  assert(new URL(b.url()).pathname.startsWith('/join/'), `after sign-up the new phone left the invite: ${b.url()}`);
  await b.fill('#join-device-name', "Sam's phone");
  await b.click('#join-submit');
  out.code = (await (await b.waitForSelector('#join-code', { timeout: 30_000 })).textContent()).trim();
  await b.waitForSelector('#join-page[data-state="waiting"]');
  await check(b, 'join-code');
  await shot(b, 'code');

  // A: home says a device is waiting; Review opens settings with the request.
  await a.goto(`${base}/h/${encodeURIComponent(hh)}`);
  const banner = await a.waitForSelector('#join-waiting:not([hidden])', { timeout: 30_000 });
  out.banner = (await banner.textContent()).trim();
  await shot(a, 'waiting-home');
  await a.click('#join-waiting a');
  await a.waitForURL(/\/settings/);
  const req = a.locator('.join-request', { has: a.locator('.join-code') }).first();
  await req.waitFor({ timeout: 30_000 });
  out.adminCode = (await req.locator('.join-code').textContent()).trim();
  await shot(a, 'approve');

  // B is still waiting, and checked the request again since A saw it.
  const checks = async () => Number((await b.getAttribute('#join-page', 'data-checks')) ?? '0');
  const seen = await checks();
  await b.waitForFunction((n) => Number(document.querySelector('#join-page')?.dataset.checks ?? 0) > n || document.querySelector('#join-page')?.dataset.state !== 'waiting', seen, { timeout: 30_000 });
  out.stateAtReview = await b.getAttribute('#join-page', 'data-state');
  out.pendingChecks = await checks();

  // A approves (the codes match); B lands on the household's home.
  await req.locator('button.join-approve').click();
  await b.waitForURL((u) => u.pathname === `/h/${encodeURIComponent(hh)}`, { timeout: 60_000 }).catch(async () => {
    fail(`the new phone did not open the household: ${await b.locator('#join-error').textContent().catch(() => '')} (${JSON.stringify(out)})`);
  });
  out.landed = new URL(b.url()).pathname;
  out.camera = await b.waitForSelector('.cam-tile[data-camera="front"]', { timeout: 30_000 }).then(() => true, () => false);
  await shot(b, 'home');

  // B's device page lists the household it is now in.
  await b.goto(`${base}/device`);
  await b.waitForSelector('#device-join', { timeout: 30_000 });
  out.inHousehold = await b.$$eval('#device-households li', (els) => els.map((e) => e.textContent.trim()));
  await check(b, 'device');
  await shot(b, 'device');
} catch (e) {
  fail(`${e.message}\n${JSON.stringify(out)}`);
} finally {
  await browser.close();
}
result(out);
