// The health page (internal/e2e TestHealthPage), on a phone (390x844,
// touch): the browser is enrolled as a member device, opens the settings
// page and follows the hub's Health link; the page shows each hub from the
// cloud's copy of its health report and each camera's latest state from
// the hub's sealed health records, opened here. The script reports what it
// shows (per hub, camera and hub check: its id, state and text), the
// error it shows if any, and layout problems (wider than the screen,
// controls under 44 px, serious axe findings); then what the events page
// counts (health records are not events, nor failures), and the
// notifications the service worker makes of a hub-quiet push and of two
// sealed health records.
//
// Env: BASE_URL, HOUSEHOLD, CONTROL_URL (POST /enrol), SESSION, CSRF,
// HUB_PUSH, HEALTH_SEALED, RESOLVED_SEALED (base64 payloads), ARTIFACTS.
import { join } from 'node:path';
import { enrol, launch, newPage, noticeOf, result, signedInContext } from './lib.mjs';
import { PHONE, layoutProblems } from './tl-phone.mjs';

const base = process.env.BASE_URL;
const hh = process.env.HOUSEHOLD;
const browser = await launch();
try {
  const ctx = await signedInContext(browser, base, process.env.SESSION, process.env.CSRF, PHONE);
  const page = await newPage(ctx, 'health');
  await enrol(page, base, '?role=member&name=phone');
  await page.goto(`${base}/h/${encodeURIComponent(hh)}/settings`);
  const link = await page.waitForSelector('#hubs a.hub-health', { timeout: 30000 });
  const hubLink = await link.getAttribute('href');
  await link.click();
  await page.waitForSelector('#health-status[data-done="true"]', { state: 'attached', timeout: 60000 });
  const items = (sel, attr) =>
    page.$$eval(sel, (els, attr) => els.map((el) => ({ id: el.dataset[attr], state: el.dataset.state ?? '', text: el.textContent })), attr);
  const out = {
    hubLink,
    hubs: await items('#health-hubs .health-hub', 'device'),
    cameras: await items('#health-cameras .health-camera', 'camera'),
    checks: await items('#health-checks .health-hubcheck', 'check'),
    error: (await page.textContent('#health-error')).trim(),
  };
  await page.screenshot({ path: join(process.env.ARTIFACTS, 'health.png'), fullPage: true });
  const lp = await layoutProblems(page);
  out.problems = [...lp.wide.map((w) => `wider than the screen at ${w}`), ...lp.small.map((s) => `small control ${s}`), ...lp.axe];

  await page.goto(`${base}/h/${encodeURIComponent(hh)}/events`);
  await page.waitForFunction(() => document.querySelector('#ev-list')?.dataset.count !== undefined, null, { timeout: 60000 });
  out.events = { count: await page.$eval('#ev-list', (el) => el.dataset.count), error: (await page.textContent('#ev-error')).trim() };

  await page.evaluate(() => navigator.serviceWorker.ready);
  const notice = async (b64) => {
    const n = await noticeOf(page, Buffer.from(b64, 'base64'));
    return { title: n.title, body: n.body, url: n.url };
  };
  out.hubNotice = await notice(process.env.HUB_PUSH);
  out.healthNotice = await notice(process.env.HEALTH_SEALED);
  out.resolvedNotice = await notice(process.env.RESOLVED_SEALED);
  result(out);
} finally {
  await browser.close();
}
