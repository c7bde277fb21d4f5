// The labelling workspace's browser crypto in Chromium, for
// internal/e2e/devauth_test.go: device-signed requests
// (web/src/crypto/devauth.ts) and the consent check
// (web/src/label/consent.ts). The Go test writes $INPUT (JSON: requests
// [{method, url, body (base64url)}] and consents [{signed, pub, object,
// workspace, id, now}]); this prints the device's ID and public key, each
// Authorization header, and each consent's verdict.
import { readFile } from 'node:fs/promises';
import { launch, newPage, result } from './lib.mjs';
import { serveTestBundle, openTestPage } from './cryptoserve.mjs';

const input = JSON.parse(await readFile(process.env.INPUT, 'utf8'));
const srv = await serveTestBundle();
const browser = await launch();
try {
  const ctx = await browser.newContext();
  const page = await newPage(ctx, 'label-crypto');
  await openTestPage(page, srv.url);
  const signed = await page.evaluate((c) => window.vigilTest.devauthSign(c), input.requests);
  const consents = await page.evaluate((c) => window.vigilTest.consentCheck(c), input.consents);
  result({ ...signed, consents });
} finally {
  await browser.close();
  srv.close();
}
