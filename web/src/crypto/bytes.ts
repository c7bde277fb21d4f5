// Byte helpers for the browser's crypto: concatenation, constant-time
// comparison, hex, big-endian integers, base32 (RFC 4648, no padding) and
// SHA-256/HMAC/HKDF on top of WebCrypto.
//
// Owns: nothing secret. Must never log the bytes it handles: callers pass
// keys through these helpers.

/** BufferSource views for WebCrypto (which wants ArrayBuffer-backed views). */
export function buf(b: Uint8Array): Uint8Array<ArrayBuffer> {
  return (b.buffer instanceof ArrayBuffer ? b : new Uint8Array(b)) as Uint8Array<ArrayBuffer>;
}

export function concat(...parts: Uint8Array[]): Uint8Array<ArrayBuffer> {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/** equal compares in time that depends only on the lengths. */
export function equal(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i] ^ b[i];
  return d === 0;
}

/** compare orders byte strings like Go's bytes.Compare. */
export function compare(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i] < b[i] ? -1 : 1;
  return a.length === b.length ? 0 : a.length < b.length ? -1 : 1;
}

export function hex(b: Uint8Array): string {
  let s = '';
  for (const x of b) s += x.toString(16).padStart(2, '0');
  return s;
}

export function unhex(s: string): Uint8Array<ArrayBuffer> {
  if (s.length % 2 !== 0 || /[^0-9a-fA-F]/.test(s)) throw new Error('not a hex string');
  const out = new Uint8Array(s.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(s.slice(2 * i, 2 * i + 2), 16);
  return out;
}

export const utf8 = (s: string): Uint8Array<ArrayBuffer> => new TextEncoder().encode(s);

/** fromUtf8 decodes strictly: invalid UTF-8 throws. */
export function fromUtf8(b: Uint8Array): string {
  return new TextDecoder('utf-8', { fatal: true }).decode(b);
}

export function u16be(n: number): Uint8Array<ArrayBuffer> {
  return new Uint8Array([(n >>> 8) & 0xff, n & 0xff]);
}

export function u32be(n: number): Uint8Array<ArrayBuffer> {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n >>> 0);
  return b;
}

/** u64be encodes an unsigned (or, as two's complement, a signed) 64-bit integer. */
export function u64be(n: bigint | number): Uint8Array<ArrayBuffer> {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, BigInt.asUintN(64, BigInt(n)));
  return b;
}

export function readU16(b: Uint8Array, off: number): number {
  return (b[off] << 8) | b[off + 1];
}

export function readU32(b: Uint8Array, off: number): number {
  return new DataView(b.buffer, b.byteOffset, b.byteLength).getUint32(off);
}

export function readU64(b: Uint8Array, off: number): bigint {
  return new DataView(b.buffer, b.byteOffset, b.byteLength).getBigUint64(off);
}

export function readI64(b: Uint8Array, off: number): bigint {
  return new DataView(b.buffer, b.byteOffset, b.byteLength).getBigInt64(off);
}

export function randomBytes(n: number): Uint8Array<ArrayBuffer> {
  const b = new Uint8Array(n);
  crypto.getRandomValues(b);
  return b;
}

const B32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** base32 is RFC 4648 base32 without padding, upper case. */
export function base32(b: Uint8Array): string {
  let out = '';
  let bits = 0;
  let val = 0;
  for (const x of b) {
    val = (val << 8) | x;
    bits += 8;
    while (bits >= 5) {
      out += B32[(val >>> (bits - 5)) & 31];
      bits -= 5;
    }
    val &= (1 << bits) - 1;
  }
  if (bits > 0) out += B32[(val << (5 - bits)) & 31];
  return out;
}

/** unbase32 decodes unpadded upper-case base32; it returns null for bad input. */
export function unbase32(s: string): Uint8Array<ArrayBuffer> | null {
  const r = s.length % 8;
  if (r === 1 || r === 3 || r === 6) return null;
  const out = new Uint8Array(Math.floor((s.length * 5) / 8));
  let bits = 0;
  let val = 0;
  let j = 0;
  for (const c of s) {
    const v = B32.indexOf(c);
    if (v < 0) return null;
    val = ((val << 5) | v) & 0xfff;
    bits += 5;
    if (bits >= 8) {
      out[j++] = (val >>> (bits - 8)) & 0xff;
      bits -= 8;
    }
  }
  return out;
}

export async function sha256(...parts: Uint8Array[]): Promise<Uint8Array<ArrayBuffer>> {
  return new Uint8Array(await crypto.subtle.digest('SHA-256', concat(...parts)));
}

/** hmacSha256 is HMAC-SHA256; an empty key is the all-zero 32-byte key, as in HMAC. */
export async function hmacSha256(key: Uint8Array, ...msg: Uint8Array[]): Promise<Uint8Array<ArrayBuffer>> {
  const k = await crypto.subtle.importKey('raw', key.length ? buf(key) : new Uint8Array(32), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  return new Uint8Array(await crypto.subtle.sign('HMAC', k, concat(...msg)));
}

/** hkdfExtract is RFC 5869 HKDF-Extract with SHA-256. */
export function hkdfExtract(salt: Uint8Array, ikm: Uint8Array): Promise<Uint8Array<ArrayBuffer>> {
  return hmacSha256(salt, ikm);
}

/** hkdfExpand is RFC 5869 HKDF-Expand with SHA-256. */
export async function hkdfExpand(prk: Uint8Array, info: Uint8Array, length: number): Promise<Uint8Array<ArrayBuffer>> {
  const out = new Uint8Array(length);
  let t: Uint8Array = new Uint8Array(0);
  for (let i = 1, off = 0; off < length; i++) {
    t = await hmacSha256(prk, t, info, new Uint8Array([i]));
    out.set(t.subarray(0, Math.min(t.length, length - off)), off);
    off += t.length;
  }
  return out;
}

/** hkdf is RFC 5869 HKDF-SHA256 (extract then expand). */
export async function hkdf(ikm: Uint8Array, salt: Uint8Array, info: Uint8Array, length: number): Promise<Uint8Array<ArrayBuffer>> {
  return hkdfExpand(await hkdfExtract(salt, ikm), info, length);
}
