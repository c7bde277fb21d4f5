import { defineConfig } from 'vite';
import { resolve } from 'node:path';
import { addIntegrity } from './scripts/sri.mjs';

// The app is served by `vigil cloud` from web/dist (embedded in the binary):
// hashed files under /assets/ (cached for a year), index.html never cached.
// No inline scripts or styles: the cloud's Content-Security-Policy forbids them.
// Every script and stylesheet tag of index.html carries its integrity hash
// (scripts/sri.mjs, after the files are written): the verifier extension lets
// a script run only by that hash.
export default defineConfig({
  base: '/',
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    assetsDir: 'assets',
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    sourcemap: false,
    target: 'es2022',
  },
  plugins: [
    {
      name: 'vigil-sri',
      apply: 'build',
      writeBundle(opts) {
        addIntegrity(resolve(opts.dir ?? 'dist'));
      },
    },
  ],
});
