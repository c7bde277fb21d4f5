// household.ts against a stand-in for the cloud's household routes (served
// from the Go test's chain, whose heads the Go test's log at $LOG_URL
// holds): pinning, rollback, another household's chain, enrolment of this
// browser and its epoch keys, across a reload.
import { readFile } from 'node:fs/promises';
import { launch, newPage, result } from './lib.mjs';
import { forwardTo, serveTestBundle, openTestPage } from './cryptoserve.mjs';

const input = JSON.parse(await readFile(process.env.INPUT, 'utf8'));
const hh = input.hh;
const b64 = (hex) => Buffer.from(hex, 'hex').toString('base64');
let served = input.links; // hex
const posted = [];

const srv = await serveTestBundle();
const browser = await launch();
try {
  const ctx = await browser.newContext();
  const forward = forwardTo(process.env.LOG_URL);
  await ctx.route('**/v1/log', forward);
  await ctx.route('**/tlog/**', forward);
  await ctx.route('**/v1/households/**', async (route) => {
    const req = route.request();
    const url = new URL(req.url());
    const json = (status, body) => route.fulfill({ status, contentType: 'application/json', body: JSON.stringify(body) });
    if (url.pathname === `/v1/households/${hh}` && req.method() === 'GET') {
      return json(200, { household_id: hh, name: 'The Smiths', genesis_hash: input.genesisHash, usage_bytes: 0, quota_bytes: 0, role: 'admin' });
    }
    if (url.pathname === `/v1/households/${hh}/chain` && req.method() === 'GET') {
      const idx = await (await fetch(process.env.LOG_URL + '/index', { method: 'POST', body: JSON.stringify(served) })).json();
      return json(200, { household_id: hh, genesis_hash: input.genesisHash, from: 0, links: served.map(b64), log_index: idx });
    }
    if (url.pathname === `/v1/households/${hh}/chain` && req.method() === 'POST') {
      const link = Buffer.from(JSON.parse(req.postData()).link, 'base64').toString('hex');
      posted.push({ link, csrf: req.headers()['x-csrf-token'] ?? null });
      served = [...served, link];
      return json(201, { seq: served.length - 1 });
    }
    return json(404, { error: 'not found' });
  });
  const page = await newPage(ctx, 'household');
  await openTestPage(page, srv.url);
  const run = (f, ...args) => page.evaluate(([f, args]) => window.vigilTest[f](...args), [f, args]);

  const out = {};
  out.first = await run('hhOpen', hh, false); // no pin, no device keys
  out.repin = await run('hhPin', hh, '00'.repeat(32));
  out.samePin = await run('hhPin', hh, input.genesisHash);
  served = input.links.slice(0, 5);
  out.rollback = await run('hhOpen', hh, true);
  served = input.otherGenesis;
  out.otherHousehold = await run('hhOpen', hh, true);
  served = input.links;
  out.enrol = await run('hhEnrol', hh, input.adminKeys, input.segment);
  out.posted = posted;
  await page.reload();
  await page.waitForFunction(() => window.vigilReady === true);
  out.reloaded = await run('hhOpen', hh, false);
  served = input.links; // the cloud drops the new link: a rollback
  out.droppedLink = await run('hhOpen', hh, true);
  result(out);
} finally {
  await browser.close();
  srv.close();
}
