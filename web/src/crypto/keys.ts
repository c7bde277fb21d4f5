// X25519 and Ed25519 keys as WebCrypto CryptoKeys, and the key strings of
// docs/FORMAT.md ("vigr1…" recipients, "VIGIL-IDENTITY-1-…" identities,
// "VIGIL-SIGNER-1-…" signing keys).
//
// Owns: importing raw keys into WebCrypto (private keys non-extractable by
// default), deriving the public half of an X25519 private key without
// exporting it, and Ed25519 verification that rejects S >= L as Go does.
// Must never: export a private key, put one in an error message or a log.

import { base32, buf, concat, sha256, unbase32 } from './bytes';

const X25519_PKCS8 = new Uint8Array([0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x6e, 0x04, 0x22, 0x04, 0x20]);
const ED25519_PKCS8 = new Uint8Array([0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20]);

/** importX25519Private imports a raw 32-byte X25519 private key (non-extractable unless asked). */
export async function importX25519Private(raw: Uint8Array, extractable = false): Promise<CryptoKey> {
  if (raw.length !== 32) throw new Error('X25519 private key must be 32 bytes');
  const der = concat(X25519_PKCS8, raw);
  try {
    return await crypto.subtle.importKey('pkcs8', der, { name: 'X25519' }, extractable, ['deriveBits']);
  } finally {
    der.fill(0);
  }
}

export async function importX25519Public(raw: Uint8Array): Promise<CryptoKey> {
  if (raw.length !== 32) throw new Error('X25519 public key must be 32 bytes');
  return crypto.subtle.importKey('raw', buf(raw), { name: 'X25519' }, true, []);
}

/** importEd25519Seed imports a 32-byte Ed25519 seed as a signing key. */
export async function importEd25519Seed(seed: Uint8Array, extractable = false): Promise<CryptoKey> {
  if (seed.length !== 32) throw new Error('Ed25519 seed must be 32 bytes');
  const der = concat(ED25519_PKCS8, seed);
  try {
    return await crypto.subtle.importKey('pkcs8', der, { name: 'Ed25519' }, extractable, ['sign']);
  } finally {
    der.fill(0);
  }
}

const basePoint = new Uint8Array(32);
basePoint[0] = 9;
const publicOf = new WeakMap<CryptoKey, Uint8Array>();

/** x25519 is the X25519 function; it throws for a low-order peer (all-zero result). */
export async function x25519(priv: CryptoKey, peerPub: Uint8Array): Promise<Uint8Array<ArrayBuffer>> {
  const pk = await importX25519Public(peerPub);
  return new Uint8Array(await crypto.subtle.deriveBits({ name: 'X25519', public: pk }, priv, 256));
}

/**
 * x25519PublicKey returns the public key of an X25519 private CryptoKey,
 * computed as X25519(priv, 9), so that the key need not be extractable.
 */
export async function x25519PublicKey(priv: CryptoKey): Promise<Uint8Array> {
  let p = publicOf.get(priv);
  if (!p) {
    p = await x25519(priv, basePoint);
    publicOf.set(priv, p);
  }
  return p;
}

/** ed25519PublicKey returns the raw public key of an Ed25519 key pair's public CryptoKey. */
export async function exportRawPublic(pub: CryptoKey): Promise<Uint8Array<ArrayBuffer>> {
  return new Uint8Array(await crypto.subtle.exportKey('raw', pub));
}

// The order of the Ed25519 group, little-endian.
const L = new Uint8Array([
  0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
]);

/** scalarCanonical reports whether the 32-byte little-endian s is below the group order. */
export function scalarCanonical(s: Uint8Array): boolean {
  for (let i = 31; i >= 0; i--) {
    if (s[i] < L[i]) return true;
    if (s[i] > L[i]) return false;
  }
  return false; // s == L
}

/**
 * ed25519Verify verifies a pure Ed25519 signature like Go's crypto/ed25519:
 * a malformed key or signature, or S >= L, is simply invalid.
 */
export async function ed25519Verify(pub: Uint8Array, msg: Uint8Array, sig: Uint8Array): Promise<boolean> {
  if (pub.length !== 32 || sig.length !== 64 || !scalarCanonical(sig.subarray(32))) return false;
  try {
    const k = await crypto.subtle.importKey('raw', buf(pub), { name: 'Ed25519' }, false, ['verify']);
    return await crypto.subtle.verify({ name: 'Ed25519' }, k, buf(sig), buf(msg));
  } catch {
    return false;
  }
}

// Key strings.

const RECIPIENT_PREFIX = 'vigr1';
const IDENTITY_PREFIX = 'VIGIL-IDENTITY-1-';
const SIGNER_PREFIX = 'VIGIL-SIGNER-1-';

async function encodeKey(prefix: string, key: Uint8Array, lower: boolean): Promise<string> {
  const sum = (await sha256(key)).subarray(0, 4);
  const s = base32(concat(key, sum));
  return prefix + (lower ? s.toLowerCase() : s);
}

async function decodeKey(s: string, prefix: string, what: string, lower: boolean): Promise<Uint8Array<ArrayBuffer>> {
  if (!s.startsWith(prefix)) throw new Error(`malformed ${what}: it does not start with "${prefix}"`);
  const data = s.slice(prefix.length);
  if (lower ? data !== data.toLowerCase() : data !== data.toUpperCase()) throw new Error(`malformed ${what}: mixed or wrong letter case`);
  const b = unbase32(data.toUpperCase());
  if (!b || b.length !== 36) throw new Error(`malformed ${what}: wrong length or characters (was it copied completely?)`);
  const key = b.slice(0, 32);
  b.fill(0);
  if ((await encodeKey(prefix, key, lower)) !== s) {
    key.fill(0);
    throw new Error(`malformed ${what}: checksum mismatch (typo?)`);
  }
  return key;
}

/** recipientString returns the "vigr1…" string of an X25519 public key. */
export function recipientString(pub: Uint8Array): Promise<string> {
  return encodeKey(RECIPIENT_PREFIX, pub, true);
}

/** parseRecipient returns the X25519 public key of a "vigr1…" string. */
export function parseRecipient(s: string): Promise<Uint8Array> {
  return decodeKey(s.trim(), RECIPIENT_PREFIX, 'recipient', true);
}

/** parseIdentity imports a "VIGIL-IDENTITY-1-…" string as a non-extractable X25519 private key. */
export async function parseIdentity(s: string): Promise<CryptoKey> {
  const raw = await decodeKey(s.trim(), IDENTITY_PREFIX, 'identity', false);
  try {
    return await importX25519Private(raw);
  } finally {
    raw.fill(0);
  }
}

/** parseSigningKey imports a "VIGIL-SIGNER-1-…" string: the non-extractable signing key and its public key. */
export async function parseSigningKey(s: string): Promise<{ key: CryptoKey; pub: Uint8Array }> {
  const seed = await decodeKey(s.trim(), SIGNER_PREFIX, 'signing key', false);
  try {
    const ext = await importEd25519Seed(seed, true);
    const jwk = await crypto.subtle.exportKey('jwk', ext);
    const pub = unb64url(jwk.x ?? '');
    const key = await importEd25519Seed(seed);
    return { key, pub };
  } finally {
    seed.fill(0);
  }
}

/** parseKeyLines parses an identity or device key file: one key per line, '#' comments. */
export function keyLines(text: string): string[] {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
}

export function unb64url(s: string): Uint8Array<ArrayBuffer> {
  const bin = atob(s.replace(/-/g, '+').replace(/_/g, '/').padEnd(Math.ceil(s.length / 4) * 4, '='));
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

export function b64url(b: Uint8Array): string {
  let s = '';
  for (const x of b) s += String.fromCharCode(x);
  return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/** keyHint is the stanza hint of an X25519 public key: the first 4 bytes of its SHA-256. */
export async function keyHint(pub: Uint8Array): Promise<Uint8Array> {
  return (await sha256(pub)).slice(0, 4);
}

