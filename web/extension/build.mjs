// Builds the extension into extension/dist (embedded in the vigil binary,
// which 'vigil verify extension' copies out with its configuration): the
// background worker (an ES module), the content script (one classic
// script: content scripts cannot import), manifest.json and an empty
// static ruleset. Run from web/: node extension/build.mjs
import { build } from 'vite';
import { copyFileSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, 'dist');
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });

const common = { configFile: false, logLevel: 'warn', publicDir: false };
const entries = [
  { entry: 'content.ts', formats: ['iife'], name: 'vigilVerifierContent', file: 'content.js' },
  { entry: 'background.ts', formats: ['es'], file: 'background.js' },
];
for (const e of entries) {
  await build({
    ...common,
    root: here,
    build: {
      outDir: out,
      emptyOutDir: false,
      target: 'es2022',
      minify: false,
      sourcemap: false,
      lib: { entry: join(here, e.entry), formats: e.formats, name: e.name, fileName: () => e.file },
    },
  });
}
copyFileSync(join(here, 'manifest.json'), join(out, 'manifest.json'));
writeFileSync(join(out, 'rules.json'), '[]\n');
writeFileSync(join(out, '.keep'), '');
console.log(`extension: built into ${out} (configure a copy with 'vigil verify extension')`);
