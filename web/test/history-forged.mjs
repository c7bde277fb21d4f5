// A log that drops, reseals or reorders a record, or is rewritten at the
// size the browser verified, is detected by the web app (internal/e2e
// TestHistoryForgedLog); a chain whose head is not in the log is refused
// (the household's settings page, which opens the household's chain).
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

  // A chain head the log never gets: the app waits for it (LOG_WAIT_MS,
  // 10 s, in web/src/household.ts), then refuses the chain. The page's
  // clock jumps past the wait once the app is in it (its first chain
  // request), so the test does not sit through the 10 s.
  await control('/mode?m=unlogged');
  const waiting = await newPage(page.context(), 'unlogged');
  await waiting.clock.install();
  const asked = waiting.waitForRequest((r) => new URL(r.url()).pathname === `/v1/households/${hh}/chain`);
  await waiting.goto(`${base}/h/${hh}/settings`);
  await asked;
  await waiting.clock.fastForward(11_000);
  out.unlogged = await (await waiting.waitForSelector('#household-error.error', { timeout: 30000 })).textContent();
  await waiting.close();
  // A chain head not where the cloud says.
  await control('/mode?m=wrong-index');
  await page.goto(`${base}/h/${hh}/settings`);
  out.wrongIndex = await (await page.waitForSelector('#household-error.error', { timeout: 30000 })).textContent();
  await control('/mode?m=real');
  await page.goto(`${base}/h/${hh}/settings`);
  await page.waitForSelector('#household-name', { timeout: 30000 });
  out.realAgain = 'ok';
  result(out);
} finally {
  await browser.close();
}
