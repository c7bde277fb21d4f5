// The app loads under the production CSP with no violations or errors.
import { launch, newPage, result } from './lib.mjs';

const browser = await launch();
try {
  const ctx = await browser.newContext();
  const page = await newPage(ctx, 'smoke');
  const errors = [];
  const violations = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => { if (/Content Security Policy/i.test(m.text())) violations.push(m.text()); });
  await page.goto(process.env.BASE_URL + '/', { waitUntil: 'networkidle' });
  await page.waitForSelector('#app h1, #app form');
  result({ title: await page.title(), violations, errors });
} finally {
  await browser.close();
}
