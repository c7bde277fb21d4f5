// The support scenario (internal/e2e TestSupportScenario), on phones
// (390x844, touch): the customer's browser, an admin device of its
// household, reads the support code on the settings page; a staff member
// in the support console looks it up and asks for "uploads failing" on
// the hubs and uploads scopes for 1 h; the customer approves on the
// settings page (a staff.approve signed by this browser's device key); the
// console shows the hub with its last contact, the upload volume, and the
// hub's backlog and last upload error (the Go test broke its uploads
// before); the Go test moves the
// cloud's clock past the grant and the same view is refused; the
// household's history shows the look-up, the request, the approval, each
// read and the expiry, in words. The staff member first registers a
// passkey with their enrolment secret (Chromium's virtual authenticator)
// and signs in with it. Env: BASE_URL (a localhost URL: the relying
// party), CONTROL_URL, HOUSEHOLD, SESSION, CSRF (the customer's),
// STAFF_ENROL (the enrolment secret), ARTIFACTS.
import { control, launch, newPage, signedInContext, result, fail } from './lib.mjs';
import { enrolHere, openHistory, rows } from './history-lib.mjs';
import { measure, screenshot } from './ux.mjs';

const base = process.env.BASE_URL;
const hh = process.env.HOUSEHOLD;
const phone = { viewport: { width: 390, height: 844 }, hasTouch: true, isMobile: true };
const browser = await launch();
const out = { problems: {} };
try {
  // The customer, on the phone that is the household's admin device.
  const cctx = await signedInContext(browser, base, process.env.SESSION, process.env.CSRF, phone);
  const cust = await newPage(cctx, 'customer');
  out.device = await enrolHere(cust, base, 'admin', 'owner phone');
  await cust.goto(`${base}/h/${hh}/settings`);
  await cust.waitForSelector('#support-code', { timeout: 30000 });
  await cust.waitForFunction(() => document.querySelector('#support-code')?.textContent !== '…', null, { timeout: 20000 });
  out.code = (await cust.textContent('#support-code')).trim();
  out.codeText = await cust.textContent('#support');
  await cust.waitForSelector('#staff-none', { timeout: 20000 });

  // The staff member registers a passkey with the enrolment secret a
  // staff admin gave them, signs out, and signs in with the passkey alone.
  const sctx = await browser.newContext(phone);
  const staff = await newPage(sctx, 'staff');
  const cdp = await sctx.newCDPSession(staff);
  await cdp.send('WebAuthn.enable');
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: { protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true },
  });
  await staff.goto(`${base}/staff`);
  await staff.waitForSelector('#staff-signin', { timeout: 20000 });
  out.problems.signin = (await measure(staff)).problems;
  await staff.click('#staff-enrol-link');
  await staff.fill('#staff-enrol-secret', process.env.STAFF_ENROL);
  await staff.click('#staff-enrol-submit');
  await staff.waitForSelector('#staff-code', { timeout: 20000 });
  out.staffCredentials = (await cdp.send('WebAuthn.getCredentials', { authenticatorId })).credentials.length;
  await staff.click('#staff-signout');
  await staff.waitForSelector('#staff-signin-passkey', { timeout: 20000 });
  out.signedOutMe = await staff.evaluate(async () => (await fetch('/staff/v1/me')).status);
  await staff.click('#staff-signin-passkey');
  await staff.waitForSelector('#staff-code', { timeout: 20000 });
  out.staffMe = await staff.textContent('#staff-me');
  out.problems.console = (await measure(staff)).problems;
  // fileRequest looks the household up by the code as read out over the
  // phone (lower case, a space for the dash) and files a request; it
  // returns the request's ID once the console shows it pending.
  const fileRequest = async (scopes, reason, seconds, measureAs) => {
    await staff.goto(`${base}/staff`);
    await staff.waitForSelector('#staff-code', { timeout: 20000 });
    await staff.fill('#staff-code', out.code.toLowerCase().replace('-', ' '));
    await staff.click('#staff-lookup');
    await staff.waitForSelector('#staff-request-form', { timeout: 20000 });
    for (const sc of scopes) await staff.check(`input[name="scope"][value="${sc}"]`);
    await staff.fill('#staff-reason', reason);
    await staff.selectOption('#staff-duration', String(seconds));
    if (measureAs) out.problems[measureAs] = (await measure(staff)).problems;
    await staff.click('#staff-file');
    await staff.waitForURL(/\/staff\/requests\/[a-z2-7]{26}$/, { timeout: 20000 });
    await staff.waitForSelector('#staff-state[data-state="pending"]', { timeout: 20000 });
    return new URL(staff.url()).pathname.split('/').pop();
  };
  out.request = await fileRequest(['hubs', 'uploads'], 'uploads failing', 3600, 'form');
  out.pendingHealth = await staff.textContent('#staff-health');

  // The customer sees the request (the settings page checks every few seconds) and approves it.
  const item = `.staff-request[data-request="${out.request}"]`;
  await cust.waitForSelector('#staff-waiting:not([hidden])', { timeout: 20000 });
  await cust.click('#staff-waiting-see');
  await cust.waitForSelector(`${item}[data-state="pending"]`, { timeout: 20000 });
  out.pending = {
    name: await cust.textContent(`${item} .staff-name`),
    reason: await cust.textContent(`${item} .staff-reason`),
    scopes: await cust.textContent(`${item} .staff-scopes`),
  };
  out.problems.settings = (await measure(cust)).problems;
  await screenshot(cust, 'support-request');
  await cust.click(`${item} .staff-approve`);
  await cust.waitForSelector(`${item}[data-state="approved"] .staff-expires`, { timeout: 20000 });
  out.approved = {
    expires: await cust.getAttribute(`${item} .staff-expires`, 'data-expires'),
    text: await cust.textContent(`${item}`),
    revoke: await cust.isVisible(`${item} .staff-revoke`),
    bannerHidden: await cust.isHidden('#staff-waiting'),
  };

  // The console shows what the grant covers (it checks every few seconds).
  await staff.waitForSelector('#staff-state[data-state="approved"]', { timeout: 20000 });
  await staff.waitForSelector('.staff-scope[data-scope="uploads"] .staff-uploaded', { timeout: 20000 });
  out.granted = await staff.evaluate(() => ({
    state: document.querySelector('#staff-state').textContent,
    hubs: [...document.querySelectorAll('.staff-scope[data-scope="hubs"] .staff-hub')].map((e) => ({ id: e.dataset.device, text: e.textContent, contact: e.dataset.contact })),
    uploadedBytes: Number(document.querySelector('.staff-scope[data-scope="uploads"] .staff-uploaded')?.dataset.bytes ?? -1),
    uploads: document.querySelector('.staff-scope[data-scope="uploads"]')?.textContent ?? '',
    backlog: Number(document.querySelector('.staff-scope[data-scope="uploads"] .staff-backlog')?.dataset.pending ?? -1),
    lastError: (() => {
      const e = document.querySelector('.staff-scope[data-scope="uploads"] .staff-last-error');
      return e ? { kind: e.dataset.kind, status: e.dataset.status, text: e.textContent } : {};
    })(),
    notes: [...document.querySelectorAll('.staff-note')].map((e) => e.textContent),
    errors: [...document.querySelectorAll('.staff-health-error')].map((e) => e.textContent),
  }));
  out.problems.granted = (await measure(staff)).problems;
  await screenshot(staff, 'support-granted');

  // A second request, denied: the console says so and shows nothing.
  const denied = await fileRequest(['storage'], 'storage check', 900);
  const dItem = `.staff-request[data-request="${denied}"]`;
  await cust.waitForSelector(`${dItem}[data-state="pending"] .staff-deny`, { timeout: 20000 });
  await cust.click(`${dItem} .staff-deny`);
  await cust.waitForSelector(`${dItem}[data-state="denied"]`, { timeout: 20000 });
  await staff.waitForSelector('#staff-state[data-state="denied"]', { timeout: 20000 });
  out.denied = { state: await staff.textContent('#staff-state'), health: await staff.textContent('#staff-health') };

  // A third, approved and then revoked at once: the same view is refused.
  const revoked = await fileRequest(['cameras'], 'camera count', 900);
  const rItem = `.staff-request[data-request="${revoked}"]`;
  await cust.waitForSelector(`${rItem}[data-state="pending"] .staff-approve`, { timeout: 20000 });
  await cust.click(`${rItem} .staff-approve`);
  await cust.waitForSelector(`${rItem}[data-state="approved"] .staff-revoke`, { timeout: 20000 });
  await staff.waitForSelector('.staff-scope[data-scope="cameras"] .staff-cameras', { timeout: 20000 });
  out.revokedBefore = await staff.textContent('.staff-cameras');
  await cust.click(`${rItem} .staff-revoke`);
  await cust.waitForSelector(`${rItem}[data-state="revoked"]`, { timeout: 20000 });
  out.revokedDirect = await staff.evaluate(async (id) => {
    const r = await fetch(`/staff/v1/requests/${id}/health/cameras`);
    return { status: r.status, body: await r.text() };
  }, revoked);
  await staff.click('#staff-refresh');
  await staff.waitForSelector('#staff-state[data-state="revoked"]', { timeout: 20000 });
  out.revokedAfter = { state: await staff.textContent('#staff-state'), cameras: await staff.$$eval('.staff-cameras', (l) => l.length) };

  // Back to the first request, past its grant's end (the cloud's clock
  // moves an hour and a minute).
  await staff.goto(`${base}/staff/requests/${out.request}`);
  await staff.waitForSelector('#staff-state[data-state="approved"]', { timeout: 20000 });
  await control('/advance?seconds=3660');
  const direct = await staff.evaluate(async (id) => {
    const r = await fetch(`/staff/v1/requests/${id}/health/uploads`);
    return { status: r.status, body: await r.text() };
  }, out.request);
  out.afterDirect = direct;
  await staff.click('#staff-refresh');
  await staff.waitForSelector('#staff-state[data-state="expired"]', { timeout: 20000 });
  out.after = {
    state: await staff.textContent('#staff-state'),
    health: await staff.textContent('#staff-health'),
    hubs: await staff.$$eval('.staff-hub', (l) => l.length),
    backlogs: await staff.$$eval('.staff-backlog', (l) => l.length),
    lastErrors: await staff.$$eval('.staff-last-error', (l) => l.length),
  };

  // The household's history, verified in the customer's browser.
  await control('/sync');
  out.history = await openHistory(cust, base, hh);
  if (out.history.state !== 'verified') fail('the history does not verify: ' + out.history.text);
  out.rows = (await rows(cust)).filter((r) => r.action.startsWith('staff.'));
  out.problems.history = (await measure(cust)).problems;
  await screenshot(cust, 'support-history');

  // The settings page lists the request as ended.
  await cust.goto(`${base}/h/${hh}/settings`);
  await cust.waitForSelector(`${item}[data-state="expired"]`, { timeout: 20000 });
  out.ended = await cust.textContent(`${item} .staff-outcome`);
  result(out);
} catch (e) {
  fail(`${e.stack || e}\npartial: ${JSON.stringify(out)}`);
} finally {
  await browser.close();
}
