// The browser's household chain against Go keydir: the Go test writes its
// inputs to $INPUT (JSON) and checks what this prints.
import { readFile } from 'node:fs/promises';
import { launch, newPage, result } from './lib.mjs';
import { serveTestBundle, openTestPage } from './cryptoserve.mjs';

const input = JSON.parse(await readFile(process.env.INPUT, 'utf8'));
const srv = await serveTestBundle();
const browser = await launch();
try {
  const ctx = await browser.newContext();
  const page = await newPage(ctx, 'chain');
  await openTestPage(page, srv.url);
  const vectors = await page.evaluate(([v, p]) => window.vigilTest.chainVectors(v, p), [input.vectors, input.phrases]);
  const builders = await page.evaluate(([v, f, h]) => window.vigilTest.chainBuilders(v, f, h), [input.vectors, input.frank, input.hub2]);
  result({ vectors, builders });
} finally {
  await browser.close();
  srv.close();
}
