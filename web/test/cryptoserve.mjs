// Serves the test bundle (web/dist-test, built by `npm run build:test`) on
// 127.0.0.1 at a random port, for the crypto browser tests.
import { createServer } from 'node:http';
import { readFile } from 'node:fs/promises';
import { join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fail } from './lib.mjs';

const root = join(fileURLToPath(new URL('.', import.meta.url)), '..', 'dist-test');
const types = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.css': 'text/css' };

/** serveTestBundle starts the server and returns {url, close}. */
export async function serveTestBundle() {
  try {
    await readFile(join(root, 'crypto.html'));
  } catch {
    fail('the test bundle web/dist-test is missing: run `make web` (or `cd web && npm run build:test`)');
  }
  const srv = createServer(async (req, res) => {
    const path = normalize(decodeURIComponent(new URL(req.url, 'http://x').pathname)).replace(/^(\.\.[/\\])+/, '');
    try {
      const body = await readFile(join(root, path));
      const ext = path.slice(path.lastIndexOf('.'));
      res.writeHead(200, { 'Content-Type': types[ext] || 'application/octet-stream', 'Cache-Control': 'no-store' });
      res.end(body);
    } catch {
      res.writeHead(404);
      res.end('not found');
    }
  });
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${srv.address().port}`, close: () => srv.close() };
}

/**
 * forwardTo is a route handler (context.route) that answers the page's
 * request with what the Go test's stand-in at base answers for the same
 * method, path, query and body.
 */
export function forwardTo(base) {
  return async (route) => {
    const req = route.request();
    const u = new URL(req.url());
    const res = await fetch(base + u.pathname + u.search, {
      method: req.method(),
      headers: { 'Content-Type': 'application/json' },
      body: req.method() === 'GET' ? undefined : req.postData(),
    });
    await route.fulfill({ status: res.status, contentType: res.headers.get('content-type') ?? 'application/octet-stream', body: Buffer.from(await res.arrayBuffer()) });
  };
}

/** openTestPage loads crypto.html and waits for its modules. */
export async function openTestPage(page, url) {
  await page.goto(url + '/crypto.html');
  await page.waitForFunction(() => window.vigilReady === true);
}
