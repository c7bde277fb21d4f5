// Household flow in the web app: sign up (TOTP), create a household (the
// recovery phrase confirmed by re-typing groups), pair a hub with its code,
// enrol a second browser by approval (both show the same code), remove it
// (a new epoch), change the retention settings and make and delete invites
// (changes signed by the admin browser's device key), sign-in errors, and
// the same account in a browser that is no device of the household, whose
// changes are refused before they are sent. Env: BASE_URL, PAIR_CODE,
// ARTIFACTS.
import { launch, newPage, totp, result, fail, assert } from './lib.mjs';

const base = process.env.BASE_URL;
const shots = process.env.ARTIFACTS || '';
const shot = async (page, name) => {
  if (shots) await page.screenshot({ path: `${shots}/${name}.png`, fullPage: true });
};
const password = 'correct horse battery staple';

async function signUp(page, email) {
  await page.goto(base + '/signup');
  await page.fill('#signup-email', email);
  await page.fill('#signup-password', password);
  await page.click('#signup-submit');
  await page.waitForSelector('#totp-secret');
  const secret = (await page.textContent('#totp-secret')).replace(/\s/g, '');
  const uri = await page.getAttribute('#totp-uri', 'href');
  assert(uri.startsWith('otpauth://totp/') && uri.includes(secret), `otpauth URI ${uri} does not hold the secret`);
  await shot(page, `signup-${email.split('@')[0]}`);
  await page.fill('#confirm-totp', totp(secret));
  await page.click('#confirm-submit');
  await page.waitForSelector('#nav-email');
  return secret;
}

const browser = await launch();
const out = {};
try {
  // Alice: sign up, create the household.
  const ctxA = await browser.newContext({ viewport: { width: 1200, height: 900 } });
  const a = await newPage(ctxA, 'alice');
  const secretA = await signUp(a, 'alice@example.com');
  await a.waitForSelector('#household-new');
  out.navEmail = await a.textContent('#nav-email');
  await shot(a, 'households-empty');
  await a.click('#household-new');
  await a.fill('#household-name', 'Maple Street');
  await a.click('#household-create');
  await a.waitForSelector('#recovery-phrase');
  const phrase = (await a.textContent('#recovery-phrase')).trim();
  const groups = phrase.split('-');
  out.phraseGroups = groups.length;
  await shot(a, 'recovery-phrase');
  await a.click('#phrase-written');
  await a.waitForSelector('.phrase-group');
  out.phraseShownAfter = await a.locator('#recovery-phrase').count();
  const inputs = await a.$$('.phrase-group');
  out.asked = inputs.length;
  // A wrong group first: refused with the reason, nothing created.
  for (const [i, el] of inputs.entries()) {
    const g = Number(await el.getAttribute('data-group')) - 1;
    await el.fill(i === 0 ? (groups[g] === 'AAAA' ? 'BBBB' : 'AAAA') : groups[g]);
  }
  await a.click('#phrase-confirm');
  out.phraseError = await (await a.waitForSelector('#phrase-error.error')).textContent();
  for (const el of inputs) {
    const g = Number(await el.getAttribute('data-group')) - 1;
    await el.fill(groups[g].toLowerCase());
  }
  await a.click('#phrase-confirm');
  await a.waitForSelector('#household-title');
  out.household = decodeURIComponent(new URL(a.url()).pathname.split('/')[2]);
  out.title = await a.textContent('#household-title');
  out.epoch0 = await a.textContent('#epoch');
  out.thisDevice = await a.textContent('#this-device');

  // Pair the hub with the code it shows.
  await a.fill('#pair-code', process.env.PAIR_CODE);
  await a.click('#pair-submit');
  await a.waitForSelector('#hubs .hub', { timeout: 60000 });
  out.hubs = await a.$$eval('#hubs .hub', (els) => els.map((e) => e.textContent));

  // An invite link for a second browser.
  await a.click('#invite-create');
  const link = (await (await a.waitForSelector('#invite-link')).textContent()).trim();
  out.inviteLinkHasFragment = /#s=[A-Za-z0-9_-]{43}&g=[0-9a-f]{64}$/.test(link);
  out.inviteId = decodeURIComponent(new URL(link).pathname.split('/')[2]);
  await a.waitForSelector(`tr.invite[data-invite="${out.inviteId}"]`);
  await shot(a, 'household');

  // Bob, in another browser context, signs up and opens the link.
  const ctxB = await browser.newContext({ viewport: { width: 1000, height: 800 } });
  const b = await newPage(ctxB, 'bob');
  await signUp(b, 'bob@example.com');
  await b.goto(link);
  await b.fill('#join-device-name', 'Bob laptop');
  await b.click('#join-submit');
  out.codeB = (await (await b.waitForSelector('#join-code')).textContent()).trim();
  await shot(b, 'join-waiting');
  const req = await a.waitForSelector('.join-request .join-code', { timeout: 20000 });
  out.codeA = (await req.textContent()).trim();
  await shot(a, 'join-approve');
  await a.click('.join-approve');
  await b.waitForURL(`**/h/${out.household}`, { timeout: 20000 });
  await b.waitForSelector('#this-device');
  out.bThisDevice = await b.textContent('#this-device');
  await b.goto(base + '/device');
  out.bDeviceId = (await (await b.waitForSelector('#device-id')).textContent()).trim();

  // Alice sees Bob's device and removes it: a new epoch.
  await a.waitForSelector(`tr.device[data-device="${out.bDeviceId}"]`, { timeout: 20000 });
  out.devicesBefore = await a.$$eval('tr.device', (els) => els.map((e) => e.getAttribute('data-device')));
  out.epochBefore = await a.textContent('#epoch');
  await a.click(`button.device-remove[data-device="${out.bDeviceId}"]`);
  await a.waitForFunction((e) => document.querySelector('#epoch')?.textContent !== e, out.epochBefore);
  out.epochAfter = await a.textContent('#epoch');
  out.devicesAfter = await a.$$eval('tr.device', (els) => els.map((e) => e.getAttribute('data-device')));
  await a.waitForSelector('#history-summary:not([data-state="loading"])', { timeout: 60000 });
  out.historySummary = await a.$eval('#history-summary', (el) => `${el.dataset.state}: ${el.textContent}`);
  await shot(a, 'household-after-remove');

  // Retention and invites: changes this browser signs as an admin device.
  await a.fill('#retention-quota', '2');
  await a.fill('#retention-days', '7');
  await a.click('#retention-save');
  out.retentionSaved = await (await a.waitForSelector('#retention-status.ok')).textContent();
  await a.click('#invite-create');
  await a.waitForFunction((old) => !document.querySelector('#invite-link')?.textContent?.includes(`/join/${old}#`), out.inviteId);
  const link2 = (await a.textContent('#invite-link')).trim();
  out.invite2 = decodeURIComponent(new URL(link2).pathname.split('/')[2]);
  await a.waitForSelector(`tr.invite[data-invite="${out.invite2}"]`);
  await a.click(`button.invite-delete[data-invite="${out.invite2}"]`);
  await a.waitForSelector(`tr.invite[data-invite="${out.invite2}"]`, { state: 'detached' });
  out.invitesAfterDelete = await a.$$eval('tr.invite', (els) => els.map((e) => e.getAttribute('data-invite')));
  await shot(a, 'household-signed-changes');

  // Bob's browser now verifies a chain without its device.
  await b.goto(`${base}/h/${out.household}`);
  out.bAfter = await (await b.waitForSelector('#this-device')).textContent();

  // Sign-in errors come from the API, readable.
  await a.click('#sign-out');
  await a.waitForSelector('#signin-form');
  await a.fill('#signin-email', 'alice@example.com');
  await a.fill('#signin-password', 'wrong password!');
  await a.fill('#signin-totp', '000000');
  await a.click('#signin-submit');
  out.signinError = await (await a.waitForSelector('#signin-error.error')).textContent();
  await shot(a, 'signin-error');

  // The same account signs in from a browser that is no device of the
  // household: the admin account alone changes nothing, and the page says
  // why before sending anything.
  const ctxC = await browser.newContext({ viewport: { width: 1200, height: 900 } });
  const c = await newPage(ctxC, 'alice-elsewhere');
  await c.goto(base + '/signin');
  await c.fill('#signin-email', 'alice@example.com');
  await c.fill('#signin-password', password);
  await c.fill('#signin-totp', totp(secretA, Date.now() + 30000));
  await c.click('#signin-submit');
  await c.waitForSelector('#nav-email', { timeout: 20000 });
  await c.waitForSelector('.household-link');
  out.signedInAgain = await c.textContent('.household-link');
  await c.click('.household-link');
  await c.waitForSelector('#retention-save');
  out.elsewhereThisDevice = await c.textContent('#this-device');
  await c.fill('#retention-quota', '0.000000001');
  await c.click('#retention-save');
  out.elsewhereSettings = await (await c.waitForSelector('#retention-status.error')).textContent();
  await c.click('#invite-create');
  out.elsewhereInvite = await (await c.waitForSelector('#invite-out.error')).textContent();
  await shot(c, 'household-not-a-device');

  // The household page links to its shares.
  await c.click('#household-shares');
  await c.waitForSelector('#shares-table', { timeout: 20000 });
  out.sharesPath = new URL(c.url()).pathname;
} catch (e) {
  fail(`${e.message}\n${JSON.stringify(out)}`);
} finally {
  await browser.close();
}
result(out);
