// Device-signed requests made in Chromium (web/src/crypto/devauth.ts) for
// internal/e2e/devauth_test.go: the Go test writes the requests to sign to
// $INPUT (JSON: [{method, url, body (base64url)}]); this prints the device's
// ID and public key and each Authorization header.
import { readFile } from 'node:fs/promises';
import { launch, newPage, result } from './lib.mjs';
import { serveTestBundle, openTestPage } from './cryptoserve.mjs';

const input = JSON.parse(await readFile(process.env.INPUT, 'utf8'));
const srv = await serveTestBundle();
const browser = await launch();
try {
  const ctx = await browser.newContext();
  const page = await newPage(ctx, 'devauth');
  await openTestPage(page, srv.url);
  result(await page.evaluate((c) => window.vigilTest.devauthSign(c), input));
} finally {
  await browser.close();
  srv.close();
}
