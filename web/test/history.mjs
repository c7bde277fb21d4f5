// The history page of a real session (internal/e2e TestHistoryPage): an
// admin browser reads its household's verified history, signs a settings
// change and sees it verified within 5 s, sees coalesced reads counted,
// the household page's summary, and a checkpoint without the witness's
// cosignature refused. Env: BASE_URL (the proxy), CONTROL_URL, HOUSEHOLD,
// SESSION, CSRF, ARTIFACTS.
import { control, launch, newPage, signedInContext, result, fail } from './lib.mjs';
import { enrolHere, openHistory, rows } from './history-lib.mjs';

const base = process.env.BASE_URL;
const hh = process.env.HOUSEHOLD;
const shots = process.env.ARTIFACTS || '';
const browser = await launch();
const out = {};
try {
  const ctx = await signedInContext(browser, base, process.env.SESSION, process.env.CSRF);
  const page = await newPage(ctx, 'admin');
  out.device = await enrolHere(page, base, 'admin', 'history browser');
  // Five identical reads of one object by the owner's API token: one
  // record now, one counting the other four when the window ends.
  await control('/object-reads?n=5');

  out.first = await openHistory(page, base, hh);
  if (out.first.state !== 'verified') fail('the history does not verify: ' + out.first.text);
  out.witnesses = (await page.textContent('#history-witnesses').catch(() => '')) ?? '';

  // A settings change this browser signs as an admin device.
  await page.goto(`${base}/h/${hh}`);
  await page.waitForSelector('#retention-quota', { timeout: 30000 });
  await page.fill('#retention-quota', '0');
  await page.fill('#retention-days', '3');
  await page.click('#retention-save');
  await page.waitForSelector('#retention-status.ok', { timeout: 20000 });
  const t0 = Date.now();
  for (;;) {
    const st = await openHistory(page, base, hh);
    const rs = await rows(page);
    if (st.state === 'verified' && rs.some((r) => r.action === 'settings.set' && r.signed === out.device)) break;
    if (Date.now() - t0 > 5000) fail(`the signed settings change is not in the verified history after 5 s (${st.state}: ${st.text})`);
    await page.waitForTimeout(100);
  }
  out.signedAfterMs = Date.now() - t0;

  // The coalesced reads: their second record comes when the window ends.
  const t1 = Date.now();
  for (;;) {
    await openHistory(page, base, hh);
    out.rows = await rows(page);
    if (out.rows.some((r) => r.action === 'object.read' && r.count === 4)) break;
    if (Date.now() - t1 > 20000) break;
    await page.waitForTimeout(500);
  }
  if (shots) await page.screenshot({ path: `${shots}/history.png`, fullPage: true });

  // The household page sums it up.
  await page.goto(`${base}/h/${hh}`);
  await page.waitForSelector('#history-summary:not([data-state="loading"])', { timeout: 60000 });
  out.summary = await page.$eval('#history-summary', (el) => ({ state: el.dataset.state, text: el.textContent }));

  // A checkpoint without the witness's cosignature is refused.
  await control('/mode?m=strip');
  out.stripped = await openHistory(page, base, hh);
  if (shots) await page.screenshot({ path: `${shots}/history-stripped.png`, fullPage: true });
  await page.goto(`${base}/h/${hh}`);
  out.strippedHousehold = await (await page.waitForSelector('#household-error.error', { timeout: 30000 })).textContent();
  await control('/mode?m=real');
  result(out);
} finally {
  await browser.close();
}
