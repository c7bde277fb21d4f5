// Draws the app's icons (a camera lens on the accent colour) and writes the
// web app manifest that names them: `node scripts/icons.mjs` in web/.
//
// Outputs (committed; run again after changing the drawing or the manifest):
//   public/assets/icon-192-<hash>.png, icon-512-<hash>.png  rounded square, transparent corners
//   public/assets/icon-maskable-512-<hash>.png               full bleed, the lens inside the safe zone
//   public/assets/apple-touch-icon-180-<hash>.png            full bleed (iOS rounds it)
//   src/manifest.webmanifest                                 names, colours, start_url, the icons above
//
// Vite copies public/ into dist/ as it is, so the icons keep these names;
// the content hash in each name lets the cloud cache /assets/ for a year.
// index.html links the manifest (Vite gives it a hashed name), the favicon
// and the apple-touch-icon (this script updates their names there). Both are files of the release (internal/release lists
// every file under dist/assets/); neither is code, so neither needs an
// integrity attribute.
import { createHash } from 'node:crypto';
import { deflateSync } from 'node:zlib';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const web = join(dirname(fileURLToPath(import.meta.url)), '..');
const outDir = join(web, 'public', 'assets');

// The design system's colours (src/style.css): accent, card and page background.
const ACCENT = [0x1d, 0x5f, 0xb8];
const WHITE = [0xff, 0xff, 0xff];
export const THEME_LIGHT = '#ffffff'; // --card (the header) in light mode
export const THEME_DARK = '#1b1f25'; // --card in dark mode
const BACKGROUND = '#f4f5f7'; // --bg in light mode: the splash screen

// ---- PNG ----

const crcTable = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function crc32(buf) {
  let c = 0xffffffff;
  for (const b of buf) c = crcTable[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
function chunk(type, data) {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const td = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(td));
  return Buffer.concat([len, td, crc]);
}
/** png encodes size x size RGBA pixels (8 bits per channel). */
function png(size, rgba) {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(size, 0);
  ihdr.writeUInt32BE(size, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 6; // RGBA
  const raw = Buffer.alloc(size * (size * 4 + 1));
  for (let y = 0; y < size; y++) {
    raw[y * (size * 4 + 1)] = 0; // filter: none
    rgba.copy(raw, y * (size * 4 + 1) + 1, y * size * 4, (y + 1) * size * 4);
  }
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(raw, { level: 9 })),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

// ---- drawing ----

/** inRoundedSquare: (x, y) in [0,1]² is inside a square of corner radius r. */
function inRoundedSquare(x, y, r) {
  const dx = Math.max(r - x, 0, x - (1 - r));
  const dy = Math.max(r - y, 0, y - (1 - r));
  return dx * dx + dy * dy <= r * r;
}

/**
 * draw returns the RGBA pixels of one icon: the background (a rounded
 * square, or the whole square when fullBleed) in the accent colour, and a
 * white lens — a ring and its pupil, with a small glint — scaled by k
 * around the centre. 4x4 samples per pixel smooth the edges.
 */
function draw(size, { fullBleed, k }) {
  const out = Buffer.alloc(size * size * 4);
  const S = 4;
  for (let py = 0; py < size; py++) {
    for (let px = 0; px < size; px++) {
      let bg = 0;
      let fg = 0;
      for (let sy = 0; sy < S; sy++) {
        for (let sx = 0; sx < S; sx++) {
          const x = (px + (sx + 0.5) / S) / size;
          const y = (py + (sy + 0.5) / S) / size;
          if (!fullBleed && !inRoundedSquare(x, y, 0.22)) continue;
          bg++;
          const d = Math.hypot(x - 0.5, y - 0.5) / k;
          const glint = Math.hypot(x - 0.5 + 0.07 * k, y - 0.5 + 0.07 * k) / k;
          const ring = d >= 0.24 && d <= 0.34;
          const pupil = d <= 0.13 && glint > 0.045;
          if (ring || pupil) fg++;
        }
      }
      const i = (py * size + px) * 4;
      const a = bg / (S * S);
      const f = bg ? fg / bg : 0;
      for (let c = 0; c < 3; c++) out[i + c] = Math.round(ACCENT[c] * (1 - f) + WHITE[c] * f);
      out[i + 3] = Math.round(a * 255);
    }
  }
  return out;
}

// ---- outputs ----

const icons = [
  { name: 'icon-192', size: 192, fullBleed: false, k: 1, purpose: 'any' },
  { name: 'icon-512', size: 512, fullBleed: false, k: 1, purpose: 'any' },
  // A maskable icon's safe zone is the circle of 40% radius: the lens (0.34 * k) stays in it.
  { name: 'icon-maskable-512', size: 512, fullBleed: true, k: 0.8, purpose: 'maskable' },
  { name: 'apple-touch-icon-180', size: 180, fullBleed: true, k: 0.9, purpose: null },
];

export function build() {
  mkdirSync(outDir, { recursive: true });
  for (const f of readdirSync(outDir)) if (/^(icon|apple-touch-icon)-.*\.png$/.test(f)) rmSync(join(outDir, f));
  const written = {};
  for (const ic of icons) {
    const bytes = png(ic.size, draw(ic.size, ic));
    const hash = createHash('sha256').update(bytes).digest('hex').slice(0, 8);
    const file = `${ic.name}-${hash}.png`;
    writeFileSync(join(outDir, file), bytes);
    written[ic.name] = { ...ic, url: `/assets/${file}`, bytes: bytes.length };
  }
  const manifest = {
    id: '/',
    name: 'Vigil',
    short_name: 'Vigil',
    description: 'Your home cameras: live, recordings and events, end-to-end encrypted.',
    start_url: '/',
    scope: '/',
    display: 'standalone',
    orientation: 'any',
    background_color: BACKGROUND,
    theme_color: THEME_LIGHT,
    icons: icons
      .filter((ic) => ic.purpose)
      .map((ic) => ({ src: written[ic.name].url, sizes: `${ic.size}x${ic.size}`, type: 'image/png', purpose: ic.purpose })),
  };
  writeFileSync(join(web, 'src', 'manifest.webmanifest'), JSON.stringify(manifest, null, 2) + '\n');
  return written;
}

const written = build();
for (const w of Object.values(written)) console.log(`icons: ${w.url} (${w.size}x${w.size}, ${w.bytes} bytes)`);
// index.html links the favicon and the apple-touch-icon by name: follow the new names.
const indexPath = join(web, 'index.html');
const index = readFileSync(indexPath, 'utf8');
const next = index
  .replace(/\/assets\/icon-192-[0-9a-f]+\.png/g, written['icon-192'].url)
  .replace(/\/assets\/apple-touch-icon-180-[0-9a-f]+\.png/g, written['apple-touch-icon-180'].url);
if (next !== index) {
  writeFileSync(indexPath, next);
  console.log('icons: index.html links the new icons');
}
