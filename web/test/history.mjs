// The history page of a real session on a phone (internal/e2e
// TestHistoryPage), at 390x844 with touch: an admin browser, enrolled as
// "history phone", binds its session to its device, watches recordings of
// front, signs a retention change, and reads its history: its viewing as
// "history phone watched front, …", a share link's viewing as someone with
// a share link, the API token's reads (a session that named no device) as
// the account, no polling rows unless "Everything" is on, paging to older
// rows, the date filter, the page's measurements, and a checkpoint without
// the witness's cosignature refused. Env: BASE_URL (the proxy),
// CONTROL_URL, HOUSEHOLD, SESSION, CSRF, ARTIFACTS.
import { control, launch, newPage, signedInContext, result, fail } from './lib.mjs';
import { enrolHere, openHistory, rows } from './history-lib.mjs';
import { measure } from './ux.mjs';

const base = process.env.BASE_URL;
const hh = process.env.HOUSEHOLD;
const shots = process.env.ARTIFACTS || '';
const browser = await launch();
const out = {};
const day = (ms) => {
  const d = new Date(ms);
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;
};
try {
  const ctx = await signedInContext(browser, base, process.env.SESSION, process.env.CSRF, { viewport: { width: 390, height: 844 }, hasTouch: true, isMobile: true });
  const page = await newPage(ctx, 'admin');
  out.device = await enrolHere(page, base, 'admin', 'history phone');
  // Older activity of the owner's API token: reads alternating between two
  // cameras (each a row of its own), enough for older pages.
  await control('/alt-reads?n=240');
  // Five identical reads of one object by the API token: one record now,
  // one counting the other four when the window ends.
  await control('/object-reads?n=5');

  // The first visit binds this browser's session to its device.
  out.first = await openHistory(page, base, hh);
  if (out.first.state !== 'verified') fail('the history does not verify: ' + out.first.text);
  out.witnesses = (await page.textContent('#history-witnesses').catch(() => '')) ?? '';
  out.sessionDevice = await page.evaluate(async () => (await (await fetch('/v1/sessions/current/device')).json()).device);

  // This browser watches front: it reads the newest recordings as the player does.
  out.watched = await page.evaluate(async (hh) => {
    const l = await (await fetch(`/v1/households/${hh}/objects?camera=front`)).json();
    const objs = l.objects.slice(-3);
    for (const o of objs) {
      const r = await fetch(`/v1/households/${hh}/objects/${o.key}`);
      if (!r.ok) throw new Error(`reading ${o.key}: ${r.status}`);
      await r.arrayBuffer();
    }
    return objs.map((o) => ({ key: o.key, start: Date.parse(o.start), end: Date.parse(o.end) }));
  }, hh);
  // Someone opens a share link of front.
  await control('/share-reads');

  // A retention change this browser signs as an admin device.
  await page.goto(`${base}/h/${hh}/settings`);
  await page.waitForSelector('input[name="retention"][value="604800"]', { timeout: 30000 });
  await page.check('input[name="retention"][value="604800"]');
  await page.click('#retention-save');
  await page.waitForSelector('#retention-status.ok', { timeout: 20000 });

  const t0 = Date.now();
  for (;;) {
    out.status = await openHistory(page, base, hh);
    out.rows = await rows(page);
    const want = [
      (r) => r.action === 'settings.set' && r.signed === out.device,
      (r) => r.action === 'object.read' && r.actorKind === 'device' && r.camera === 'front',
      (r) => r.action === 'share.object.read' && r.actorKind === 'link',
      (r) => r.action === 'object.read' && r.actorKind === 'account' && r.camera === 'front' && r.count === 5,
    ];
    if (out.status.state === 'verified' && want.every((f) => out.rows.some(f))) break;
    if (Date.now() - t0 > 30000) break;
    await page.waitForTimeout(500);
  }
  // The footage times are looked up after the rows show.
  await page.waitForSelector('.hist-row[data-actor-kind="device"][data-camera="front"][data-footage-ms]:not([data-footage-ms=""])', { timeout: 10000 }).catch(() => {});
  out.rows = await rows(page);
  out.measure = await measure(page);
  if (shots) await page.screenshot({ path: `${shots}/history.png`, fullPage: true });

  // Everything: the app's own bookkeeping shows too.
  await page.click('label:has(#hist-all)');
  out.allRows = await rows(page);
  await page.click('label:has(#hist-all)');
  out.defaultAgain = (await rows(page)).length;

  // Paging: older rows, verified as the first ones.
  const before = await rows(page);
  out.olderVisible = await page.isVisible('#hist-older');
  await page.click('#hist-older');
  await page.waitForFunction((n) => document.querySelectorAll('#hist-list .hist-row').length > n, before.length, { timeout: 60000 });
  const after = await rows(page);
  out.paging = { before: before.length, after: after.length, minBefore: Math.min(...before.map((r) => r.n)), minAfter: Math.min(...after.map((r) => r.n)), status: (await openStatus(page)).state };

  // The date filter: the day before today shows nothing (everything is
  // newer) once every older page is loaded; today shows the rows again.
  await page.fill('#hist-from', day(Date.now() - 86400_000));
  await page.waitForSelector('#history-empty .empty', { timeout: 60000 });
  out.filterYesterday = { rows: (await rows(page)).length, olderHidden: !(await page.isVisible('#hist-older')), label: await page.textContent('label[for="hist-from"]') };
  await page.fill('#hist-from', day(Date.now()));
  await page.waitForSelector('#hist-list .hist-row', { timeout: 60000 });
  out.filterToday = { rows: (await rows(page)).length };

  // The household's settings sum the history up.
  await page.goto(`${base}/h/${hh}/settings`);
  await page.waitForSelector('#history-summary:not([data-state="loading"])', { timeout: 60000 }).catch(() => {});
  out.summary = await page.$eval('#history-summary', (el) => ({ state: el.dataset.state, text: el.textContent })).catch(() => null);

  // A checkpoint without the witness's cosignature is refused.
  await control('/mode?m=strip');
  out.stripped = await openHistory(page, base, hh);
  if (shots) await page.screenshot({ path: `${shots}/history-stripped.png`, fullPage: true });
  await page.goto(`${base}/h/${hh}/settings`);
  out.strippedHousehold = await (await page.waitForSelector('#household-error.error', { timeout: 30000 }).catch(() => null))?.textContent();
  await control('/mode?m=real');
  result(out);
} finally {
  await browser.close();
}

async function openStatus(page) {
  return page.$eval('#history-status', (el) => ({ state: el.dataset.state }));
}
