// Consent records in the browser (crypto/consent.ts) against Go's
// internal/consent: the Go test writes its vectors to $INPUT (JSON) and
// checks what this prints.
import { readFile } from 'node:fs/promises';
import { launch, newPage, result } from './lib.mjs';
import { serveTestBundle, openTestPage } from './cryptoserve.mjs';

const input = JSON.parse(await readFile(process.env.INPUT, 'utf8'));
const srv = await serveTestBundle();
const browser = await launch();
try {
  const ctx = await browser.newContext();
  const page = await newPage(ctx, 'consent');
  await openTestPage(page, srv.url);
  const out = await page.evaluate(([v, s, p, b]) => window.vigilTest.consentTest(v, s, p, b), [input.vectors, input.goSigned, input.goPub, input.bad]);
  result(out);
} finally {
  await browser.close();
  srv.close();
}
