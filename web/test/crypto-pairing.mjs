// Hub pairing from the browser (pairing.ts) against Go's hub side: the
// page's /v1 requests go to the Go test's stand-in for the cloud
// ($API_URL), where a real pairing.Hub answers.
import { readFile } from 'node:fs/promises';
import { launch, newPage, result } from './lib.mjs';
import { forwardTo, serveTestBundle, openTestPage } from './cryptoserve.mjs';

const input = JSON.parse(await readFile(process.env.INPUT, 'utf8'));
const srv = await serveTestBundle();
const browser = await launch();
try {
  const ctx = await browser.newContext();
  const forward = forwardTo(process.env.API_URL);
  await ctx.route('**/v1/**', forward);
  await ctx.route('**/tlog/**', forward); // the stand-in's transparency log
  const page = await newPage(ctx, 'pairing');
  await openTestPage(page, srv.url);
  const out = await page.evaluate(([hh, admin, codes, variants]) => window.vigilTest.pairFlow(hh, admin, codes, variants),
    [input.hh, input.adminKeys, input.codes, input.variants]);
  result(out);
} finally {
  await browser.close();
  srv.close();
}
