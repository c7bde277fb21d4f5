// Household flow in the web app, on a phone (390x844, touch): sign up
// (TOTP), create a household (the recovery phrase confirmed by re-typing
// groups), then on its settings page (/h/:hh/settings): pair a hub with its
// code, make an invite link (Copy puts it on the clipboard; a QR code of
// it; its fragment names the household and the inviting device), enrol a
// second phone by approval (both show the same code), remove it (a new
// epoch), choose how long the cloud keeps recordings (what the cloud then
// returns changes), make and delete invites (changes signed by the admin
// browser's device key), sign-in errors, and the same account in a browser
// that is no device of the household, whose changes are refused before
// they are sent. Every page of the flow is measured at 360, 390 and 430 px:
// nothing wider than the screen, every control at least 44x44 px, and
// axe-core finds no serious or critical problem. Env: BASE_URL, PAIR_CODE,
// ARTIFACTS.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { launch, newPage, totp, result, fail, assert } from './lib.mjs';

const base = process.env.BASE_URL;
const shots = process.env.ARTIFACTS || '';
const shot = async (page, name) => {
  if (shots) await page.screenshot({ path: `${shots}/${name}.png`, fullPage: true });
};
const password = 'correct horse battery staple';
const phone = { viewport: { width: 390, height: 844 }, hasTouch: true, isMobile: true, deviceScaleFactor: 2 };
const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

// layout measures the page at each phone width: the document must not be
// wider than the viewport, and every visible control (button, input,
// select, summary, a.btn, [role=button]; a radio or checkbox by the label
// around it) must be at least 44x44 px. Closed disclosures are opened
// first so what they hold is measured too. Returns the problems found.
const measured = {}; // page name -> the fewest controls measured at any width
async function layout(page, name) {
  const problems = [];
  await page.$$eval('details', (ds) => ds.forEach((d) => (d.open = true)));
  for (const width of [360, 390, 430]) {
    await page.setViewportSize({ width, height: 844 });
    await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
    const m = await page.evaluate(() => {
      const out = { scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth, small: [], n: 0 };
      const sel = 'button, input, select, textarea, summary, a.btn, [role="button"]';
      for (const el of document.querySelectorAll(sel)) {
        if (el.type === 'hidden' || !el.getClientRects().length) continue;
        let target = el;
        if ((el.type === 'radio' || el.type === 'checkbox') && el.closest('label')) target = el.closest('label');
        const r = target.getBoundingClientRect();
        if (r.width === 0 && r.height === 0) continue;
        out.n++;
        if (r.width < 44 - 0.5 || r.height < 44 - 0.5) {
          const id = el.id ? `#${el.id}` : el.className ? `.${String(el.className).trim().split(/\s+/).join('.')}` : '';
          out.small.push(`${el.tagName.toLowerCase()}${id} "${(el.textContent || el.getAttribute('aria-label') || el.value || '').trim().slice(0, 30)}" ${Math.round(r.width)}x${Math.round(r.height)}`);
        }
      }
      return out;
    });
    measured[name] = Math.min(measured[name] ?? Infinity, m.n);
    if (m.scrollWidth > m.innerWidth) problems.push(`${name} at ${width} px: the page is ${m.scrollWidth} px wide`);
    for (const s of m.small) problems.push(`${name} at ${width} px: ${s}`);
  }
  await page.setViewportSize(phone.viewport);
  await page.$$eval('details', (ds) => ds.forEach((d) => (d.open = false)));
  return problems;
}

// axe runs axe-core on the page and returns its serious and critical
// violations, one line each.
async function axe(page, name) {
  await page.evaluate(axeSource);
  const vs = await page.evaluate(async () => (await window.axe.run(document)).violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(' ')).slice(0, 5).join(', ')}`));
  return vs.map((v) => `${name}: ${v}`);
}

async function check(page, name, out) {
  out.layout.push(...(await layout(page, name)));
  out.axe.push(...(await axe(page, name)));
}

async function signUp(page, email) {
  await page.goto(base + '/signup');
  await page.fill('#signup-email', email);
  await page.fill('#signup-password', password);
  await page.click('#signup-submit');
  await page.waitForSelector('#totp-secret', { state: 'attached' });
  const secret = (await page.textContent('#totp-secret')).replace(/\s/g, '');
  const uri = await page.getAttribute('#totp-open', 'href');
  assert(uri.startsWith('otpauth://totp/') && uri.includes(secret), `otpauth URI ${uri} does not hold the secret`);
  await page.fill('#confirm-totp', totp(secret));
  await page.click('#confirm-submit');
  await page.waitForSelector('#nav-email', { state: 'attached' });
  return secret;
}

// settings opens the household's settings page and waits until it shows
// whether this browser is one of its devices.
async function settings(page, hh) {
  await page.goto(`${base}/h/${encodeURIComponent(hh)}/settings`);
  await page.waitForSelector('#this-device', { timeout: 30000 });
}

// settingsNow reads the retention settings as the cloud returns them.
const settingsNow = (page, hh) =>
  page.evaluate(async (hh) => (await fetch(`/v1/households/${encodeURIComponent(hh)}/settings`, { cache: 'no-store' })).json(), hh);

const browser = await launch();
const out = { layout: [], axe: [] };
try {
  // Alice, on her phone: sign up, create the household.
  const ctxA = await browser.newContext(phone);
  await ctxA.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: base });
  const a = await newPage(ctxA, 'alice');
  const secretA = await signUp(a, 'alice@example.com');
  await a.waitForSelector('#household-new');
  out.navEmail = await a.textContent('#nav-email');
  await check(a, 'households (none yet)', out);
  await shot(a, 'households-empty');
  await a.tap('#household-new');
  await a.waitForSelector('#household-name');
  await a.fill('#household-name', 'Maple Street');
  await a.fill('#device-name', 'Alice phone');
  await check(a, 'create a household', out);
  await a.tap('#household-create');
  await a.waitForSelector('#recovery-phrase');
  const phrase = (await a.textContent('#recovery-phrase')).trim();
  const groups = phrase.split('-');
  out.phraseGroups = groups.length;
  await check(a, 'recovery phrase', out);
  await shot(a, 'recovery-phrase');
  await a.tap('#phrase-written');
  await a.waitForSelector('.phrase-group');
  out.phraseShownAfter = await a.locator('#recovery-phrase').count();
  const inputs = await a.$$('.phrase-group');
  out.asked = inputs.length;
  // A wrong group first: refused with the reason, nothing created.
  for (const [i, el] of inputs.entries()) {
    const g = Number(await el.getAttribute('data-group')) - 1;
    await el.fill(i === 0 ? (groups[g] === 'AAAA' ? 'BBBB' : 'AAAA') : groups[g]);
  }
  await a.tap('#phrase-confirm');
  out.phraseError = await (await a.waitForSelector('#phrase-error.error')).textContent();
  await check(a, 'recovery phrase check', out);
  for (const el of inputs) {
    const g = Number(await el.getAttribute('data-group')) - 1;
    await el.fill(groups[g].toLowerCase());
  }
  await a.tap('#phrase-confirm');
  // The new household's home, then its settings.
  await a.waitForURL((u) => /^\/h\/[^/]+$/.test(u.pathname) && !u.pathname.endsWith('/new'), { timeout: 30000 });
  out.household = decodeURIComponent(new URL(a.url()).pathname.split('/')[2]);
  const hh = out.household;
  await settings(a, hh);
  out.settingsPath = new URL(a.url()).pathname;
  out.title = await a.textContent('#household-name');
  out.h1 = await a.$$eval('h1', (els) => els.map((e) => e.textContent));
  out.epoch0 = await a.textContent('#epoch');
  out.thisDevice = await a.textContent('#this-device');
  out.thisDeviceRole = await a.getAttribute('#this-device', 'data-role');
  // The first screen in plain words: no protocol terms or IDs above the fold.
  out.firstScreen = await a.evaluate(() => {
    const lines = [];
    const walker = document.createTreeWalker(document.getElementById('app'), NodeFilter.SHOW_TEXT);
    for (let n = walker.nextNode(); n; n = walker.nextNode()) {
      const el = n.parentElement;
      if (!el || !el.getClientRects().length || el.closest('details:not([open])')) continue;
      if (el.getBoundingClientRect().top < window.innerHeight && n.textContent.trim()) lines.push(n.textContent.trim());
    }
    return lines.join(' | ');
  });

  // Pair the hub with the code it shows.
  await a.fill('#pair-code', process.env.PAIR_CODE);
  await a.tap('#pair-submit');
  await a.waitForSelector('#hubs .hub', { timeout: 60000 });
  out.hubs = await a.$$eval('#hubs .hub', (els) => els.map((e) => e.textContent));

  // An invite link for a second phone: Copy, Share, a QR code.
  await a.tap('#invite-create');
  const link = await (await a.waitForSelector('#invite-link')).inputValue();
  const frag = new URLSearchParams(new URL(link).hash.slice(1));
  out.inviteFragment = { s: /^[A-Za-z0-9_-]{43}$/.test(frag.get('s') ?? ''), g: frag.get('g'), n: frag.get('n'), by: frag.get('by') };
  out.genesisShown = await a.textContent('#genesis-hash');
  out.inviteId = decodeURIComponent(new URL(link).pathname.split('/')[2]);
  out.inviteReadonly = await a.$eval('#invite-link', (e) => e.readOnly);
  out.inviteValid = await a.textContent('#invite-valid');
  out.qr = await a.$eval('svg#invite-qr', (e) => ({ role: e.getAttribute('role'), label: e.getAttribute('aria-label'), modules: Number(e.dataset.modules), width: e.getBoundingClientRect().width }));
  out.shareButton = await a.$eval('#invite-share', (e) => ({ present: true, hidden: e.hidden }));
  await a.evaluate(() => navigator.clipboard.writeText('before'));
  await a.tap('#invite-copy');
  await a.waitForSelector('#invite-copy[data-copied="1"]');
  out.clipboardHoldsLink = (await a.evaluate(() => navigator.clipboard.readText())) === link;
  await a.waitForSelector(`.invite[data-invite="${out.inviteId}"]`);
  await shot(a, 'household-invite');

  // Bob, on another phone, signs up and opens the link.
  const ctxB = await browser.newContext(phone);
  const b = await newPage(ctxB, 'bob');
  await signUp(b, 'bob@example.com');
  await b.goto(link);
  await b.waitForSelector('#join-device-name', { timeout: 20000 });
  out.joinHousehold = (await b.textContent('#join-household').catch(() => null)) ?? '';
  out.joinInviter = (await b.textContent('#join-inviter').catch(() => null)) ?? '';
  await b.fill('#join-device-name', 'Bob phone');
  await b.tap('#join-submit');
  out.codeB = (await (await b.waitForSelector('#join-code')).textContent()).trim();
  await shot(b, 'join-waiting');
  const req = await a.waitForSelector('.join-request .join-code', { timeout: 20000 });
  out.codeA = (await req.textContent()).trim();
  out.joinRequest = await a.textContent('.join-request');
  out.waitingVisible = await a.isVisible('#waiting');
  await check(a, 'settings (invite made, a device waiting)', out);
  await shot(a, 'join-approve');
  await a.tap('.join-approve');
  await b.waitForURL(`**/h/${hh}`, { timeout: 20000 });
  await settings(b, hh);
  out.bThisDevice = await b.textContent('#this-device');
  out.bThisDeviceRole = await b.getAttribute('#this-device', 'data-role');
  await b.goto(base + '/device');
  out.bDeviceId = (await (await b.waitForSelector('#device-id', { state: 'attached' })).textContent()).trim();

  // Alice sees Bob's phone and removes it: a new epoch.
  await a.waitForSelector(`.device[data-device="${out.bDeviceId}"]`, { timeout: 20000 });
  await a.waitForSelector('#waiting', { state: 'hidden' });
  out.devicesBefore = await a.$$eval('#devices .device', (els) => els.map((e) => e.getAttribute('data-device')));
  out.bobRow = await a.textContent(`.device[data-device="${out.bDeviceId}"]`);
  out.thisMarkers = await a.$$eval('#devices .device', (els) => els.filter((e) => e.querySelector('.this-marker')).map((e) => e.getAttribute('data-device')));
  out.epochBefore = await a.textContent('#epoch');
  await a.tap(`button.device-remove[data-device="${out.bDeviceId}"]`);
  await a.tap('#confirm-yes');
  await a.waitForFunction((e) => document.querySelector('#epoch')?.textContent !== e, out.epochBefore);
  out.epochAfter = await a.textContent('#epoch');
  out.devicesAfter = await a.$$eval('#devices .device', (els) => els.map((e) => e.getAttribute('data-device')));
  await a.waitForSelector('#history-summary:not([data-state="loading"])', { state: 'attached', timeout: 60000 });
  out.historySummary = await a.$eval('#history-summary', (el) => `${el.dataset.state}: ${el.textContent}`);
  out.historyPlain = await a.textContent('#history-plain');
  await shot(a, 'household-after-remove');

  // How long the cloud keeps recordings: a preset and a space limit, a
  // change this browser signs as an admin device.
  out.retentionWhere = await a.textContent('#retention-where');
  out.retentionUsage = await a.textContent('#retention-usage');
  out.retentionChoices = await a.$$eval('input[name="retention"]', (els) => els.map((e) => ({ value: e.value, inLabel: !!e.closest('label.check'), label: e.closest('label')?.textContent })));
  out.settingsBefore = await settingsNow(a, hh);
  await a.locator('label.check', { hasText: '7 days' }).tap();
  await a.locator('#retention summary').tap();
  await a.fill('#retention-quota', '2');
  await a.tap('#retention-save');
  out.retentionSaved = await (await a.waitForSelector('#retention-status.ok')).textContent();
  out.settingsAfter = await settingsNow(a, hh);
  await settings(a, hh);
  await a.waitForSelector('#retention-save');
  out.checkedAfterReload = await a.$eval('input[name="retention"]:checked', (e) => e.value);

  // A second invite, deleted.
  await a.tap('#invite-create');
  await a.waitForSelector('#invite-link');
  const link2 = await a.inputValue('#invite-link');
  out.invite2 = decodeURIComponent(new URL(link2).pathname.split('/')[2]);
  await a.waitForSelector(`.invite[data-invite="${out.invite2}"]`);
  await a.tap(`button.invite-delete[data-invite="${out.invite2}"]`);
  await a.waitForSelector(`.invite[data-invite="${out.invite2}"]`, { state: 'detached' });
  out.invitesAfterDelete = await a.$$eval('.invite', (els) => els.map((e) => e.getAttribute('data-invite')));
  await shot(a, 'household-signed-changes');

  // Bob's browser now verifies a chain without its device.
  await settings(b, hh);
  out.bAfter = await b.textContent('#this-device');
  out.bAfterRole = await b.getAttribute('#this-device', 'data-role');
  await check(b, 'settings (not a device)', out);

  // Sign-in errors come from the API, readable.
  if (!(await a.isVisible('#sign-out'))) await a.tap('#account-menu');
  await a.tap('#sign-out');
  await a.waitForSelector('#signin-form');
  await a.fill('#signin-email', 'alice@example.com');
  await a.fill('#signin-password', 'wrong password!');
  await a.fill('#signin-totp', '000000');
  await a.click('#signin-submit');
  out.signinError = await (await a.waitForSelector('#signin-error.error')).textContent();

  // The same account signs in from a browser that is no device of the
  // household: with one household, / opens it directly; the admin account
  // alone changes nothing, and the page says why before sending anything.
  const ctxC = await browser.newContext(phone);
  const c = await newPage(ctxC, 'alice-elsewhere');
  await c.goto(base + '/signin');
  await c.fill('#signin-email', 'alice@example.com');
  await c.fill('#signin-password', password);
  await c.fill('#signin-totp', totp(secretA, Date.now() + 30000));
  await c.click('#signin-submit');
  await c.waitForSelector('#nav-email', { state: 'attached', timeout: 20000 });
  // The sign-in goes on to / and so to the one household: let it settle
  // before opening / again (or that navigation races this one).
  await c.waitForURL(`**/h/${hh}`, { timeout: 20000 });
  await c.goto(base + '/');
  await c.waitForURL(`**/h/${hh}`, { timeout: 20000 });
  out.onlyHouseholdPath = new URL(c.url()).pathname;
  // A redirect, not a new page: Back does not land on / (and bounce again).
  await c.goBack();
  await c.waitForLoadState();
  out.backPath = new URL(c.url()).pathname;
  await settings(c, hh);
  await c.waitForSelector('#retention-save');
  out.elsewhereThisDevice = await c.textContent('#this-device');
  await c.locator('label.check', { hasText: '30 days' }).tap();
  await c.tap('#retention-save');
  out.elsewhereSettings = await (await c.waitForSelector('#retention-status.error')).textContent();
  await c.tap('#invite-create');
  out.elsewhereInvite = await (await c.waitForSelector('#invite-error.error')).textContent();
  out.settingsElsewhere = await settingsNow(c, hh);
  await shot(c, 'household-not-a-device');

  // A second household, from the settings page's link: / lists both.
  await c.tap('#household-new');
  await c.waitForSelector('#household-name');
  await c.fill('#household-name', 'Cabin');
  await c.fill('#device-name', 'Alice tablet');
  await c.tap('#household-create');
  const groups2 = (await (await c.waitForSelector('#recovery-phrase')).textContent()).trim().split('-');
  await c.tap('#phrase-written');
  await c.waitForSelector('.phrase-group');
  for (const el of await c.$$('.phrase-group')) await el.fill(groups2[Number(await el.getAttribute('data-group')) - 1]);
  await c.tap('#phrase-confirm');
  await c.waitForURL((u) => /^\/h\/[^/]+$/.test(u.pathname) && !u.pathname.endsWith('/new') && !u.pathname.endsWith(`/${hh}`), { timeout: 30000 });
  await c.goto(base + '/');
  await c.waitForFunction(() => document.querySelectorAll('#households .household-link').length >= 2, null, { timeout: 20000 });
  out.listPath = new URL(c.url()).pathname;
  out.listed = await c.$$eval('#households .item', (els) => els.map((e) => ({ name: e.querySelector('.household-link').textContent, href: e.querySelector('.household-link').getAttribute('href'), settings: e.querySelector('.household-settings')?.getAttribute('href') })));
  await check(c, 'households (two)', out);
  await shot(c, 'households-two');
  out.measured = measured;
} catch (e) {
  fail(`${e.message}\n${JSON.stringify(out)}`);
} finally {
  await browser.close();
}
result(out);
