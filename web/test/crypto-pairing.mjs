// Hub pairing from the browser (pairing.ts) against Go's hub side: the
// page's /v1 requests go to the Go test's stand-in for the cloud
// ($API_URL), where a real pairing.Hub answers.
import { readFile } from 'node:fs/promises';
import { launch, newPage, result } from './lib.mjs';
import { serveTestBundle, openTestPage } from './cryptoserve.mjs';

const input = JSON.parse(await readFile(process.env.INPUT, 'utf8'));
const srv = await serveTestBundle();
const browser = await launch();
try {
  const ctx = await browser.newContext();
  const forward = async (route) => {
    const req = route.request();
    const u = new URL(req.url());
    const res = await fetch(process.env.API_URL + u.pathname + u.search, {
      method: req.method(),
      headers: { 'Content-Type': 'application/json' },
      body: req.method() === 'GET' ? undefined : req.postData(),
    });
    await route.fulfill({ status: res.status, contentType: res.headers.get('content-type') ?? 'application/json', body: Buffer.from(await res.arrayBuffer()) });
  };
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
