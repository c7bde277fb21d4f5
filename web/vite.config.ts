import { defineConfig } from 'vite';

// The app is served by `vigil cloud` from web/dist (embedded in the binary):
// hashed files under /assets/ (cached for a year), index.html never cached.
// No inline scripts or styles: the cloud's Content-Security-Policy forbids them.
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
});
