// Browser crypto against the Go implementation: the Go test writes its
// inputs to $INPUT (JSON) and checks what this prints.
import { readFile } from 'node:fs/promises';
import { launch, newPage, result } from './lib.mjs';
import { serveTestBundle, openTestPage } from './cryptoserve.mjs';

const input = JSON.parse(await readFile(process.env.INPUT, 'utf8'));
const srv = await serveTestBundle();
const browser = await launch();
try {
  const ctx = await browser.newContext();
  const page = await newPage(ctx, 'crypto');
  await openTestPage(page, srv.url);
  const vectors = await page.evaluate((v) => window.vigilTest.envelopeVectors(v), input.vectors);
  const interop = await page.evaluate((i) => window.vigilTest.interop(i), input.interop);
  const actions = await page.evaluate((v) => window.vigilTest.actionVectors(v), input.actions);
  const before = await page.evaluate((m) => window.vigilTest.deviceKeys(m, false), input.message);
  const created = await page.evaluate((m) => window.vigilTest.deviceKeys(m, true), input.message);
  // The browser seals with the device key it just made.
  const seal = await page.evaluate((i) => window.vigilTest.sealTest(i), input.seal);
  // The keys survive a reload, and a second page of the same browser profile sees them.
  await page.reload();
  await page.waitForFunction(() => window.vigilReady === true);
  const reloaded = await page.evaluate((m) => window.vigilTest.deviceKeys(m, false), input.message);
  const other = await newPage(ctx, 'crypto2');
  await openTestPage(other, srv.url);
  const otherPage = await other.evaluate((m) => window.vigilTest.deviceKeys(m, false), input.message);
  // A fresh profile has none.
  const ctx2 = await browser.newContext();
  const fresh = await newPage(ctx2, 'fresh');
  await openTestPage(fresh, srv.url);
  const freshProfile = await fresh.evaluate((m) => window.vigilTest.deviceKeys(m, false), input.message);
  result({ seal, vectors, interop, actions, device: { before, created, reloaded, otherPage, freshProfile } });
} finally {
  await browser.close();
  srv.close();
}
