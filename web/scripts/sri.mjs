// Adds Subresource Integrity to the built page: every script and stylesheet
// tag of dist/index.html gets integrity="sha256-…" of the file it loads, so
// the browser refuses other bytes at that path and a verifier (the browser
// extension) can allow scripts by their hash. vite.config.ts runs it after
// every build (writeBundle); `node scripts/sri.mjs DIR` runs it by hand.
//
// It fails the build on an inline script, a script or stylesheet from
// another origin, or a file that is not in dist/.
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

function attr(tag, name) {
  const m = tag.match(new RegExp(`\\s${name}\\s*=\\s*(?:"([^"]*)"|'([^']*)'|([^\\s>]+))`, 'i'));
  return m ? (m[1] ?? m[2] ?? m[3]) : undefined;
}

/** addIntegrity rewrites DIST/index.html; it returns how many tags carry a hash. */
export function addIntegrity(dist) {
  const page = join(dist, 'index.html');
  const html = readFileSync(page, 'utf8');
  let count = 0;
  const out = html.replace(/<(script|link)\b[^>]*>/gi, (tag, name) => {
    const isScript = name.toLowerCase() === 'script';
    const rel = (attr(tag, 'rel') || '').toLowerCase().split(/\s+/);
    if (!isScript && !rel.some((r) => ['stylesheet', 'modulepreload', 'preload'].includes(r))) return tag;
    const url = attr(tag, isScript ? 'src' : 'href');
    if (!url) throw new Error(`${page}: inline script: the cloud's CSP forbids it and a verifier can allow a script only by the hash of a file`);
    if (!url.startsWith('/') || url.startsWith('//')) throw new Error(`${page}: ${url} is from another origin: a release loads only its own files`);
    const file = join(dist, url.split(/[?#]/)[0]);
    const sri = 'sha256-' + createHash('sha256').update(readFileSync(file)).digest('base64');
    count++;
    if (/\sintegrity\s*=/i.test(tag)) {
      if (attr(tag, 'integrity') !== sri) throw new Error(`${page}: ${url} has an integrity attribute that is not its hash`);
      return tag;
    }
    return tag.replace(/\s*\/?>$/, (end) => ` integrity="${sri}"${end}`);
  });
  writeFileSync(page, out);
  return count;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const dist = process.argv[2] || 'dist';
  console.log(`sri: ${addIntegrity(dist)} scripts and stylesheets of ${join(dist, 'index.html')} carry their sha256`);
}
