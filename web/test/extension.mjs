// The verifier extension in Chromium (run by internal/e2e TestExtension):
// a persistent context with the configured extension loaded, the shared
// release vectors run through its parser, then one page per origin the Go
// test serves (untouched, tampered script, unlogged script, tampered
// service worker, unreachable log), each waited for until the app runs, the
// extension stops it, or it says it cannot verify.
import { chromium } from 'playwright-core';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { result, fail } from './lib.mjs';

const ext = process.env.EXTENSION;
const profile = mkdtempSync(join(tmpdir(), 'vigil-ext-'));
const ctx = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  viewport: { width: 1280, height: 900 },
  args: ['--headless=new', '--no-sandbox', '--disable-gpu', '--autoplay-policy=no-user-gesture-required',
    `--disable-extensions-except=${ext}`, `--load-extension=${ext}`],
});

try {
  let worker = ctx.serviceWorkers().find((w) => w.url().startsWith('chrome-extension://'));
  worker ??= await ctx.waitForEvent('serviceworker', { predicate: (w) => w.url().startsWith('chrome-extension://'), timeout: 20000 });
  worker.on('console', (m) => { if (m.type() === 'error' || process.env.VERBOSE) console.error(`[extension ${m.type()}] ${m.text()}`); });

  // The extension's release parser on the vectors Go checks too.
  const vectors = JSON.parse(readFileSync(process.env.VECTORS, 'utf8'));
  const vec = await worker.evaluate(async (v) => {
    const unb64 = (s) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
    const failures = [];
    for (const x of v.valid) {
      try {
        const m = await self.vigilVerifier.openRelease(unb64(x.entry), v.trusted);
        const assets = m.assets.map((a) => [a.path, a.sha256]);
        if (m.name !== x.name || m.version !== x.version || m.created !== x.created || JSON.stringify(assets) !== JSON.stringify(x.assets)) failures.push(`valid ${x.version}: opened as ${JSON.stringify(m)}`);
      } catch (e) {
        failures.push(`valid ${x.version}: ${e.message}`);
      }
    }
    for (const x of v.invalid) {
      try {
        await self.vigilVerifier.openRelease(unb64(x.entry), v.trusted);
        failures.push(`invalid "${x.why}": opened`);
      } catch (e) {
        if (e.code !== x.error) failures.push(`invalid "${x.why}": ${e.code} (${e.message}), want ${x.error}`);
      }
    }
    return { valid: v.valid.length, invalid: v.invalid.length, failures };
  }, vectors);

  const verdictOf = (url) => worker.evaluate((u) => self.vigilVerifier.verdict(u), url);

  async function visit(name, base, after) {
    const page = await ctx.newPage();
    const out = { violations: [], errors: [] };
    page.on('console', (m) => {
      if (/Content Security Policy/i.test(m.text())) out.violations.push(m.text());
      if (m.type() === 'error' || process.env.VERBOSE) console.error(`[${name} console.${m.type()}] ${m.text()}`);
    });
    page.on('pageerror', (e) => out.errors.push(e.message));
    // What counts is the page as it ends up: a first load made before the
    // extension had verified the log is refused whole, then reloaded.
    out.reloads = -1;
    page.on('framenavigated', (f) => {
      if (f !== page.mainFrame()) return;
      out.reloads++;
      out.violations = [];
      out.errors = [];
    });
    await page.goto(base + '/', { waitUntil: 'commit' });
    // The first visit may come before the extension has verified the log:
    // the page says so, then reloads.
    await page.waitForSelector('#app h1, #app form, #vigil-verifier-stop, #vigil-verifier-failed', { timeout: 60000 });
    if (after) await after(page, out);
    // The content script tells the extension its verdict once its checks
    // are done; the failure panel is the verdict of a page that cannot be verified.
    let verdict = null;
    for (let i = 0; i < 600; i++) {
      if (await page.$('#vigil-verifier-failed')) break;
      verdict = await verdictOf(page.url());
      const stopped = !!(await page.$('#vigil-verifier-stop'));
      if (verdict && (!stopped || verdict.startsWith('stopped'))) break;
      await page.waitForTimeout(100);
    }
    out.verdict = verdict ?? '';
    out.appLoaded = !!(await page.$('#app h1, #app form'));
    out.stopped = (await page.$eval('#vigil-verifier-stop', (e) => e.textContent).catch(() => '')) ?? '';
    out.failed = (await page.$eval('#vigil-verifier-failed', (e) => e.textContent).catch(() => '')) ?? '';
    out.tampered = await page.evaluate(() => !!window.__vigilTampered);
    out.swLeft = await page.evaluate(async () => (await navigator.serviceWorker.getRegistrations()).length);
    await page.screenshot({ path: join(process.env.ARTIFACTS || tmpdir(), `extension-${name}.png`) });
    await page.close();
    console.error(`[${name}] verdict ${out.verdict}; stopped: ${out.stopped.slice(0, 300)}`);
    return out;
  }

  const pages = {};
  pages.pass = await visit('pass', process.env.PASS_URL);
  pages.script = await visit('script', process.env.SCRIPT_URL);
  pages.unlogged = await visit('unlogged', process.env.UNLOGGED_URL, async (page) => {
    // Each finding adds a line: the page itself is the last to be checked.
    await page.waitForFunction(() => document.querySelector('#vigil-verifier-stop')?.textContent.includes('/index.html'), null, { timeout: 30000 })
      .catch(async (e) => fail(`unlogged: the page itself was not reported: ${e.message}; the page shows ${await page.textContent('body')}`));
  });
  // The app runs; then a service worker is registered at the logged path,
  // whose bytes the site changed.
  pages.worker = await visit('worker', process.env.WORKER_URL, async (page) => {
    if (!(await page.$('#app h1, #app form'))) fail('worker: the app did not load before the service worker was registered');
    await page.evaluate((p) => navigator.serviceWorker.register(p, { scope: '/assets/' }), process.env.WORKER_PATH);
    await page.waitForSelector('#vigil-verifier-stop', { timeout: 30000 });
  });
  pages.nolog = await visit('nolog', process.env.NOLOG_URL);
  pages.split = await visit('split', process.env.SPLIT_URL);
  result({ vectors: vec, pages });
} finally {
  await ctx.close();
  rmSync(profile, { recursive: true, force: true });
}
