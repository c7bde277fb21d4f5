// Web app releases as docs/FORMAT.md ("Web release manifests") defines
// them, read the way Go internal/release reads them: a type-3 log entry
// (01 03 ‖ key ‖ sig ‖ manifest), the Ed25519 signature over
// "vigil/release/v1/manifest" ‖ 0x00 ‖ manifest, and the manifest in its
// canonical form only. internal/release/testdata/releases.json holds the
// vectors both sides pass.
//
// Owns: parsing and checking releases. Must never: trust a release whose
// signature or signer it has not checked, or throw anything but
// ReleaseError.

import { concat, fromUtf8, sha256, utf8 } from '../src/crypto/bytes';
import { ed25519Verify } from '../src/crypto/keys';
import { MAX_ENTRY_SIZE, parseEntry, RELEASE_FIXED } from '../src/history/entry';
import { b64, strictB64 } from '../src/tlog/note';

export type ReleaseErrorCode = 'malformed' | 'signature' | 'untrusted';

export class ReleaseError extends Error {
  constructor(
    public code: ReleaseErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'ReleaseError';
  }
}

export interface Asset {
  path: string;
  sha256: string; // SRI form: "sha256-<base64>"
}

export interface Manifest {
  name: string;
  version: string;
  created: string;
  assets: Asset[];
}

export const INDEX_PATH = '/index.html';
export const ASSETS_PREFIX = '/assets/';
const CONTEXT = 'vigil/release/v1/manifest';

const bad = (m: string) => new ReleaseError('malformed', `release: malformed: ${m}`);

/** sri returns the SHA-256 of b in Subresource Integrity form. */
export async function sri(b: Uint8Array): Promise<string> {
  return 'sha256-' + b64(await sha256(b));
}

/** validPath is Go release.ValidPath: /index.html or /assets/ and safe segments, at most 256 bytes. */
export function validPath(p: string): boolean {
  if (p === INDEX_PATH) return true;
  if (!p.startsWith(ASSETS_PREFIX) || p.length > 256) return false;
  return p
    .slice(ASSETS_PREFIX.length)
    .split('/')
    .every((s) => s !== '' && s !== '.' && s !== '..' && /^[A-Za-z0-9._~-]+$/.test(s));
}

/** isServiceWorker: the build names service workers assets/sw-<hash>.js (Go release.IsServiceWorker). */
export function isServiceWorker(p: string): boolean {
  return /^\/assets\/sw-[^/]*\.js$/.test(p);
}

/** isScript: JavaScript under /assets/ (Go release.IsScript). */
export function isScript(p: string): boolean {
  return p.startsWith(ASSETS_PREFIX) && (p.endsWith('.js') || p.endsWith('.mjs'));
}

/** servedAs is the release path a URL path of the app's origin answers with (Go release.ServedAs). */
export function servedAs(urlPath: string): string {
  return urlPath.startsWith(ASSETS_PREFIX) ? urlPath : INDEX_PATH;
}

/** parseManifest reads a manifest in canonical form (Go release.ParseManifest). */
export function parseManifest(bytes: Uint8Array): Manifest {
  if (bytes.length > MAX_ENTRY_SIZE - RELEASE_FIXED) throw bad(`a manifest of ${bytes.length} bytes is over the limit`);
  let text: string;
  let v: unknown;
  try {
    text = fromUtf8(bytes);
    v = JSON.parse(text);
  } catch (e) {
    throw bad(`manifest: ${(e as Error).message}`);
  }
  const o = v as Record<string, unknown>;
  if (typeof o !== 'object' || o === null || Array.isArray(o)) throw bad('the manifest is not a JSON object');
  if (o.v !== 1) throw bad(`manifest version ${JSON.stringify(o.v)} (this reader knows version 1)`);
  const { name, version, created, assets } = o;
  if (typeof name !== 'string' || !/^[A-Za-z0-9._-]{1,64}$/.test(name)) throw bad(`name ${JSON.stringify(name)}`);
  if (typeof version !== 'string' || !/^[A-Za-z0-9._+:~-]{1,128}$/.test(version)) throw bad(`version ${JSON.stringify(version)}`);
  if (typeof created !== 'string' || !validTime(created)) throw bad(`created ${JSON.stringify(created)} is not YYYY-MM-DDTHH:MM:SSZ`);
  if (!Array.isArray(assets) || assets.length === 0 || assets.length > 1024) throw bad('a release lists 1 to 1024 files');
  const out: Asset[] = [];
  let index = false;
  for (const a of assets as unknown[]) {
    const x = a as Record<string, unknown>;
    if (typeof x !== 'object' || x === null || typeof x.path !== 'string' || typeof x.sha256 !== 'string') throw bad('a file without path or sha256');
    if (!validPath(x.path)) throw bad(`path ${JSON.stringify(x.path)}`);
    const sum = strictB64(x.sha256);
    if (!sum || sum.length !== 32 || b64(sum) !== x.sha256) throw bad(`file ${x.path}: sha256 is not the base64 of 32 bytes`);
    if (out.length > 0 && !(out[out.length - 1].path < x.path)) throw bad(`files must be sorted by path without duplicates (${out[out.length - 1].path} before ${x.path})`);
    index ||= x.path === INDEX_PATH;
    out.push({ path: x.path, sha256: 'sha256-' + x.sha256 });
  }
  if (!index) throw bad(`the release has no ${INDEX_PATH}`);
  // Canonical form: exactly what Go's encoder writes for these values.
  const canon = JSON.stringify({ v: 1, name, version, created, assets: out.map((a) => ({ path: a.path, sha256: a.sha256.slice(7) })) });
  if (canon !== text) throw bad('the manifest is not in canonical form');
  return { name, version, created, assets: out };
}

function validTime(s: string): boolean {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})Z$/.exec(s);
  if (!m) return false;
  const [y, mo, d, h, mi, se] = m.slice(1).map(Number);
  if (y < 2000) return false;
  const t = new Date(Date.UTC(y, mo - 1, d, h, mi, se));
  return t.getUTCFullYear() === y && t.getUTCMonth() === mo - 1 && t.getUTCDate() === d && t.getUTCHours() === h && t.getUTCMinutes() === mi && t.getUTCSeconds() === se;
}

/** Signed is a release whose signature verified with the key it names. */
export interface Signed {
  key: string; // base64
  manifest: Manifest;
}

/** parseRelease reads a signed release (a log entry): layout (history/entry.ts), signature by its own key, manifest. */
export async function parseRelease(entry: Uint8Array): Promise<Signed> {
  let r;
  try {
    r = parseEntry(entry).release;
  } catch (e) {
    throw bad((e as Error).message);
  }
  if (!r) throw bad('the log entry is not a web release');
  if (!(await ed25519Verify(r.key, concat(utf8(CONTEXT), new Uint8Array([0]), r.manifest), r.sig))) {
    throw new ReleaseError('signature', `release: the signature does not verify (key ${b64(r.key)})`);
  }
  return { key: b64(r.key), manifest: parseManifest(r.manifest) };
}

/** openRelease is parseRelease for a release signed by one of the trusted keys (base64). */
export async function openRelease(entry: Uint8Array, trusted: string[]): Promise<Manifest> {
  const s = await parseRelease(entry);
  if (!trusted.includes(s.key)) throw new ReleaseError('untrusted', `release: signed by ${s.key}, not a trusted release key`);
  return s.manifest;
}

/** Logged maps each path of the trusted releases to the hashes they list for it. */
export type Logged = Record<string, string[]>;

export function loggedOf(ms: Manifest[]): Logged {
  const out: Logged = {};
  for (const m of ms) {
    for (const a of m.assets) {
      const l = (out[a.path] ??= []);
      if (!l.includes(a.sha256)) l.push(a.sha256);
    }
  }
  return out;
}
