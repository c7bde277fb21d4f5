// Support tickets in the console (internal/e2e TestSupportTickets), on a
// phone (390x844, touch): an operator, signed in with a staff session the
// Go test made, looks a household up by the code its member reads out,
// opens a ticket about it with a first note, adds a note, closes the
// ticket, and sees it gone from their open tickets and closed in the
// household's list; the operations view shows counts across households.
// The customer's browser, an admin device of the household, then reads
// the opening and the closing in the household's verified history, with
// the subject and without the notes. Env: BASE_URL, CONTROL_URL,
// HOUSEHOLD, SESSION, CSRF (the customer's), CODE (the household's support
// code), STAFF_SESSION and STAFF_CSRF, ARTIFACTS.
import { control, launch, newPage, signedInContext, result, fail } from './lib.mjs';
import { enrolHere, openHistory, rows } from './history-lib.mjs';
import { measure, screenshot } from './ux.mjs';

const base = process.env.BASE_URL;
const hh = process.env.HOUSEHOLD;
const phone = { viewport: { width: 390, height: 844 }, hasTouch: true, isMobile: true };
const browser = await launch();
const out = { problems: {} };
try {
  const sctx = await browser.newContext(phone);
  await sctx.addCookies([{ name: 'vigil_staff', value: process.env.STAFF_SESSION, domain: new URL(base).hostname, path: '/staff/', httpOnly: true, sameSite: 'Strict' }]);
  await sctx.addInitScript((t) => localStorage.setItem('vigil.staff.csrf', t), process.env.STAFF_CSRF);
  const staff = await newPage(sctx, 'staff');
  await staff.goto(`${base}/staff`);
  await staff.waitForSelector('#staff-code', { timeout: 20000 });
  await staff.waitForSelector('#staff-ops [data-count="households"] dd', { timeout: 20000 });
  out.ops = await staff.$$eval('#staff-ops [data-count]', (l) => Object.fromEntries(l.map((e) => [e.dataset.count, e.querySelector('dd').textContent])));
  out.adminCard = await staff.$$eval('#staff-add-form', (l) => l.length);
  await staff.fill('#staff-code', process.env.CODE.toLowerCase().replace('-', ' '));
  await staff.click('#staff-lookup');
  await staff.waitForSelector('#staff-ticket-form', { timeout: 20000 });
  await staff.waitForSelector('#staff-household-tickets .empty', { timeout: 20000 });
  await staff.fill('#staff-ticket-subject', 'uploads failing since noon');
  await staff.fill('#staff-ticket-note', 'customer restarted the router');
  out.problems.lookup = (await measure(staff)).problems;
  await staff.click('#staff-ticket-open');
  await staff.waitForURL(/\/staff\/tickets\/t[a-z2-7]{26}$/, { timeout: 20000 });
  out.ticket = new URL(staff.url()).pathname.split('/').pop();
  await staff.waitForSelector('#staff-ticket[data-state="open"]', { timeout: 20000 });
  await staff.fill('#staff-note-text', 'hub firmware updated; uploads resumed');
  await staff.click('#staff-note-add');
  await staff.waitForFunction(() => document.querySelectorAll('#staff-notes .staff-note-item').length === 2, null, { timeout: 20000 });
  out.notes = await staff.$$eval('#staff-notes .staff-note-text', (l) => l.map((e) => e.textContent));
  out.problems.ticket = (await measure(staff)).problems;
  await screenshot(staff, 'support-ticket');
  await staff.click('#staff-ticket-close');
  await staff.waitForSelector('#staff-ticket[data-state="closed"]', { timeout: 20000 });
  out.closedState = await staff.textContent('#staff-ticket-state');
  out.noteFormAfterClose = await staff.$$eval('#staff-note-form', (l) => l.length);

  await staff.goto(`${base}/staff`);
  await staff.waitForSelector('#staff-own-tickets .empty, #staff-own-tickets li', { timeout: 20000 });
  out.ownAfter = await staff.$$eval('#staff-own-tickets li', (l) => l.length);
  await staff.fill('#staff-code', process.env.CODE);
  await staff.click('#staff-lookup');
  await staff.waitForSelector('#staff-household-tickets li', { timeout: 20000 });
  out.householdList = await staff.$$eval('#staff-household-tickets li', (l) => l.map((e) => ({ id: e.dataset.ticket, state: e.dataset.state })));

  // The household's history, verified in the customer's browser.
  const cctx = await signedInContext(browser, base, process.env.SESSION, process.env.CSRF, phone);
  const cust = await newPage(cctx, 'customer');
  await enrolHere(cust, base, 'admin', 'owner phone');
  await control('/sync');
  out.history = await openHistory(cust, base, hh);
  if (out.history.state !== 'verified') fail('the history does not verify: ' + out.history.text);
  out.rows = (await rows(cust)).filter((r) => r.action.startsWith('staff.'));
  result(out);
} catch (e) {
  fail(`${e.stack || e}\npartial: ${JSON.stringify(out)}`);
} finally {
  await browser.close();
}
