import { defineConfig } from 'vite';

// Test-only bundle: web/test-src/*.html and the modules they load, built
// into web/dist-test (never embedded or served by the cloud). The browser
// tests in web/test/crypto*.mjs, web/test/tlog.mjs, web/test/mp4.mjs and web/test/label-editor.mjs serve it on loopback
// and drive it.
export default defineConfig({
  root: 'test-src',
  base: '/',
  logLevel: 'warn',
  build: {
    outDir: '../dist-test',
    emptyOutDir: true,
    modulePreload: { polyfill: false },
    sourcemap: false,
    target: 'es2022',
    rollupOptions: { input: { crypto: 'test-src/crypto.html', tlog: 'test-src/tlog.html', mp4: 'test-src/mp4.html', label: 'test-src/label.html' } },
  },
});
