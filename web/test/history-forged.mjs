// A log that drops, reseals or reorders a record, or is rewritten at the
// size the browser verified, is detected by the web app (internal/e2e
// TestHistoryForgedLog); a chain whose head is not in the log is refused.
// Each scenario is a fresh browser (its own device, enrolled by the Go
// admin) that first verifies the real log. Env: BASE_URL (the proxy),
// CONTROL_URL, HOUSEHOLD, SESSION, CSRF, ARTIFACTS.
import { control, launch, newPage, signedInContext, result, fail } from './lib.mjs';
import { enrolHere, openHistory } from './history-lib.mjs';

const base = process.env.BASE_URL;
const hh = process.env.HOUSEHOLD;
const shots = process.env.ARTIFACTS || '';
const browser = await launch();
const out = { scenarios: {} };
try {
  let page;
  for (const name of ['drop', 'reseal', 'swap', 'rewrite']) {
    const ctx = await signedInContext(browser, base, process.env.SESSION, process.env.CSRF);
    page = await newPage(ctx, name);
    await enrolHere(page, base, 'member', `browser ${name}`);
    const before = await openHistory(page, base, hh);
    if (before.state !== 'verified') fail(`${name}: the real log does not verify: ${before.text}`);
    let x;
    if (name === 'rewrite') {
      x = before.record;
      await control(`/forge?mode=rewrite&x=${x}&size=${before.size}`);
    } else {
      await control('/reads?n=5');
      x = before.record + 2;
      await control(`/forge?mode=${name}&x=${x}`);
    }
    const after = await openHistory(page, base, hh);
    if (shots) await page.screenshot({ path: `${shots}/history-forged-${name}.png`, fullPage: true });
    await control('/mode?m=real');
    out.scenarios[name] = { before, after, x };
  }

  // A chain head the log never gets, and one not where the cloud says.
  await control('/mode?m=unlogged');
  await page.goto(`${base}/h/${hh}`);
  out.unlogged = await (await page.waitForSelector('#household-error.error', { timeout: 30000 })).textContent();
  await control('/mode?m=wrong-index');
  await page.goto(`${base}/h/${hh}`);
  out.wrongIndex = await (await page.waitForSelector('#household-error.error', { timeout: 30000 })).textContent();
  await control('/mode?m=real');
  await page.goto(`${base}/h/${hh}`);
  await page.waitForSelector('#household-title', { timeout: 30000 });
  out.realAgain = 'ok';
  result(out);
} finally {
  await browser.close();
}
