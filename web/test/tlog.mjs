// The browser's transparency log client and household history against Go
// internal/tlog and internal/history: the Go test writes its inputs to
// $INPUT (JSON: checkpoint notes, policies, the URL of the logs it serves,
// the history vectors) and checks what this prints.
import { readFile } from 'node:fs/promises';
import { launch, newPage, result } from './lib.mjs';
import { serveTestBundle } from './cryptoserve.mjs';

const input = JSON.parse(await readFile(process.env.INPUT, 'utf8'));
const srv = await serveTestBundle();
const browser = await launch();
try {
  const ctx = await browser.newContext();
  const page = await newPage(ctx, 'tlog');
  await page.goto(srv.url + '/tlog.html');
  await page.waitForFunction(() => window.vigilReady === true);
  const run = (f, arg) => page.evaluate(([f, arg]) => window.vigilTest[f](arg), [f, arg]);
  const out = {};
  out.checkpoints = await run('checkpoints', input.checkpoints);
  out.policies = await run('policies', input.policies);
  out.client = await run('client', input.client);
  out.history = await run('historyVectors', input.history);
  result(out);
} finally {
  await browser.close();
  srv.close();
}
