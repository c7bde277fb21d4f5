// Every page of the app measured on a phone (run by internal/e2e
// TestPagesFitPhones against 'vigil demo'): signed in through the demo link
// in a 390x844 touch context, once recordings and an event exist, each page
// (and the account menu, the share sheet, the invite) is checked with
// ux.mjs: no wider than the screen at 360, 390 and 430 px, no control under
// 44x44 px but inline text links, no serious or critical axe violation.
// The signed-out pages (sign-in, sign-up, an invite's join page, a share's
// guest page) are checked in a second context with no session.
// With SCREENSHOTS set, phone (390x844) and desktop (1280x800) screenshots
// of the main pages go there.
// Env: DEMO_URL (the link), CAMERA (front), SCREENSHOTS (optional).
// Result: {household, pages: [{name, path, problems, widths, small, axe, errors}], screenshots, steps}.
import { launch, newPage, result, fail } from './lib.mjs';
import { measure, screenshot, settle } from './ux.mjs';

const url = process.env.DEMO_URL;
if (!url) fail('DEMO_URL is not set');
const cam = process.env.CAMERA || 'front';
const base = new URL(url).origin;
const log = (m) => console.error(`[sweep] ${m}`);
const phone = { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 1 };
const DESKTOP = { width: 1280, height: 800 };

const pages = [];
const screenshots = [];
const steps = []; // what could not be done (a missing control): reported, and a failure

/** readyFor waits for what a page shows once loaded (its h1, then the selector if given; neither is an assertion). */
async function ready(page, sel, timeout = 20_000) {
  await page.waitForSelector('#app h1', { timeout }).catch(() => undefined);
  if (sel) await page.waitForSelector(sel, { timeout, state: 'attached' }).catch(() => log(`${page.url()}: ${sel} did not appear within ${timeout / 1000} s`));
  // The page's own "Loading…" lines go before it is measured.
  await page.waitForFunction(() => !/Loading…|Checking…|Verifying…/.test(document.querySelector('#app')?.innerText ?? ''), null, { timeout: 10_000 }).catch(() => undefined);
  await settle(page);
}

/** check measures the page as it is now under name. */
async function check(page, name, errors = []) {
  const m = await measure(page);
  const path = new URL(page.url()).pathname;
  pages.push({ name, path, ...m, errors: [...errors] });
  log(`${name} (${path}): ${m.problems.length ? m.problems.length + ' problems' : 'fits'}`);
}

/** shoot saves the phone and desktop screenshots of the page as it is (SCREENSHOTS only). */
async function shoot(page, name) {
  if (!process.env.SCREENSHOTS) return;
  screenshots.push(await screenshot(page, `phone-${name}`));
  const before = page.viewportSize();
  await page.setViewportSize(DESKTOP);
  await settle(page);
  await page.waitForTimeout(300);
  screenshots.push(await screenshot(page, `desktop-${name}`));
  await page.setViewportSize(before);
  await settle(page);
}

/** visit opens path, waits for it, measures it, and returns the page's errors. */
async function visit(page, errors, name, path, sel, shot) {
  errors.length = 0;
  try {
    await page.goto(base + path);
    await ready(page, sel);
    if (shot) await shoot(page, shot);
    await check(page, name, errors);
  } catch (e) {
    steps.push(`${name} (${path}): ${e.message.split('\n')[0]}`);
  }
}

async function step(what, f) {
  try {
    return await f();
  } catch (e) {
    steps.push(`${what}: ${e.message.split('\n')[0]}`);
    return undefined;
  }
}

const browser = await launch();
try {
  const ctx = await browser.newContext(phone);
  const page = await newPage(ctx, 'sweep');
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(url);
  await page.waitForURL(/\/h\/[^/]+(\/live)?$/, { timeout: 60_000 }).catch(async () => {
    fail(`the demo link did not reach the household: ${await page.locator('#demo-error').textContent().catch(() => '?')}`);
  });
  const hh = decodeURIComponent(new URL(page.url()).pathname.split('/')[2]);
  const H = `/h/${encodeURIComponent(hh)}`;

  // Recordings and an event, so the pages show what a household has.
  const deadline = Date.now() + 150_000;
  let have = { objects: 0, events: 0 };
  while (Date.now() < deadline) {
    have = await page.evaluate(async ([hh, cam]) => {
      const enc = encodeURIComponent;
      const o = await fetch(`/v1/households/${enc(hh)}/objects?camera=${enc(cam)}`);
      const q = new URLSearchParams({ from: new Date(Date.now() - 3600_000).toISOString(), to: new Date(Date.now() + 60_000).toISOString() });
      const e = await fetch(`/v1/households/${enc(hh)}/events?${q}`);
      return { objects: o.ok ? ((await o.json()).objects ?? []).length : -o.status, events: e.ok ? ((await e.json()).events ?? []).length : -e.status };
    }, [hh, cam]);
    if (have.objects >= 3 && have.events >= 1) break;
    await page.waitForTimeout(1000);
  }
  log(`${have.objects} recordings, ${have.events} events`);
  if (have.objects < 3 || have.events < 1) steps.push(`the demo had ${have.objects} recordings and ${have.events} events after 150 s (want 3 and 1)`);

  // Signed in.
  await visit(page, errors, 'households', '/', null);
  await visit(page, errors, 'home', H, '.cam-tile video.live-video[data-first-frame-ms]', 'home');
  await step('account menu', async () => {
    await page.click('#account-menu', { timeout: 5000 });
    await page.waitForSelector('#account-menu-list:not([hidden])', { timeout: 5000 });
    await check(page, 'home: account menu open', errors);
    await page.keyboard.press('Escape');
  });
  await visit(page, errors, 'home (/live)', `${H}/live`, '.cam-tile');
  if (process.env.SCREENSHOTS) {
    // The camera's screenshot plays a recording from a few seconds ago.
    await step('camera screenshot', async () => {
      await page.goto(`${base}${H}/cam/${cam}?at=${Date.now() - 12_000}`);
      await ready(page, '#tl-video[data-at-ms]');
      await page.waitForTimeout(1000);
      await shoot(page, 'camera');
    });
  }
  await visit(page, errors, 'camera', `${H}/cam/${cam}`, '#tl-bar .tl-range');
  let shareLink = '';
  await step('share sheet', async () => {
    await page.click('#tl-share', { timeout: 5000 });
    await page.waitForSelector('dialog#share-sheet[open]', { timeout: 10_000 });
    await settle(page);
    await check(page, 'camera: share sheet', errors);
    await page.click('#share-create', { timeout: 5000 });
    await page.waitForSelector('#share-link', { timeout: 60_000 });
    shareLink = await page.inputValue('#share-link');
    await settle(page);
    await check(page, 'camera: share sheet with its link', errors);
    await page.click('#sheet-close', { timeout: 5000 });
  });
  await visit(page, errors, 'camera live', `${H}/cam/${cam}/live`, 'video.live-video');
  await visit(page, errors, 'zones', `${H}/cam/${cam}/zones`, '#zn-img, #zn-blank');
  await visit(page, errors, 'events', `${H}/events`, '.ev-row', 'events');
  await visit(page, errors, 'history', `${H}/history`, '.hist-row', 'history');
  await visit(page, errors, 'settings', `${H}/settings`, '#invite-create', 'settings');
  let inviteLink = '';
  await step('invite', async () => {
    await page.click('#invite-create', { timeout: 5000 });
    await page.waitForSelector('#invite-link', { timeout: 30_000 });
    inviteLink = await page.inputValue('#invite-link');
    await settle(page);
    await check(page, 'settings: invite made', errors);
  });
  await visit(page, errors, 'shares', `${H}/shares`, null);
  await visit(page, errors, 'shared with me', '/shared', null);
  await visit(page, errors, 'account', '/account', null);
  await visit(page, errors, 'this device', '/device', null);
  await visit(page, errors, 'recover', `${H}/recover`, null);
  await visit(page, errors, 'new household', '/h/new', null);

  // Signed out.
  const guest = await browser.newContext(phone);
  const gpage = await newPage(guest, 'guest');
  const gerrors = [];
  gpage.on('pageerror', (e) => gerrors.push(e.message));
  await visit(gpage, gerrors, 'sign in', '/signin', 'form');
  await visit(gpage, gerrors, 'sign up', '/signup', 'form');
  if (inviteLink) {
    const u = new URL(inviteLink);
    await visit(gpage, gerrors, 'join (invite)', u.pathname + u.search + u.hash, '#join-household');
  } else steps.push('join (invite): no invite link was made, so its page was not checked');
  if (shareLink) {
    const u = new URL(shareLink);
    await visit(gpage, gerrors, 'share guest page', u.pathname + u.search + u.hash, '#share-page[data-state="loaded"], #share-page[data-state="error"], #share-page[data-state="empty"]', 'share-guest');
  } else steps.push('share guest page: no share link was made, so its page was not checked');

  result({ household: hh, pages, screenshots, steps });
} finally {
  await browser.close();
}
