// Share manifests (docs/FORMAT.md, "Share manifest"): what a guest needs to
// open a shared range — each object's file key wrapped to the guest's
// X25519 key — signed by the sharer's device, and for links authenticated by
// the secret in the link's fragment too. Also the link secret's derived keys.
// Version 2 is a redacted share: its one object is a blurred clip the
// sharer's device sealed and signed, named in "redacted".
//
// Owns: the manifest format and the link key schedule. Must never: send the
// link secret or anything derived from it except the bearer token, log keys,
// or accept a manifest whose signature (and, for links, MAC) fails.

import { equal, fromUtf8, hkdf, hmacSha256, randomBytes, utf8 } from '../crypto/bytes';
import { ed25519Verify, importX25519Private, x25519PublicKey } from '../crypto/keys';

export const SIG_CONTEXT = 'vigil/share/v1/manifest\x00';
const INFO_KEY = 'vigil/share/v1/link-key';
const INFO_TOKEN = 'vigil/share/v1/link-token';
const INFO_MAC = 'vigil/share/v1/link-mac';

/** A link secret has 256 bits (at least 128 are required). */
export const LINK_SECRET_BYTES = 32;

export interface ManifestObject {
  key: string; // the object's key in the cloud
  start: string; // RFC 3339, from the sealed header
  end: string;
  stanza: string; // base64url, the 85-byte type-1 stanza wrapping the file key to the recipient
}

/** V_REDACTED is the version of a redacted share's manifest (version 1 shares the household's segments). */
export const V_REDACTED = 2;

/** clipKey is the cloud key of a redacted share's one clip. */
export function clipKey(id: string): string {
  return `shares/${id}/clip`;
}

/** Redaction names the device that sealed and signed a redacted share's clip: the sharer's. */
export interface Redaction {
  device: string;
  sign_pub: string; // base64url Ed25519 public key
}

export interface ManifestBody {
  v: 1 | 2;
  id: string;
  household: string;
  household_name: string;
  camera: string;
  from: string; // RFC 3339 UTC
  to: string;
  expires: string;
  kind: 'link' | 'account';
  recipient: string; // base64url X25519 public key of the guest's device or the link key
  sharer: { device: string; sign_pub: string; name: string };
  hubs: string[]; // base64url Ed25519 keys trusted to have produced the objects
  objects: ManifestObject[];
  created: string;
  redacted?: Redaction; // version 2 only
}

interface Signed {
  body: string; // base64url of the body's UTF-8 JSON bytes
  sig: string; // base64url Ed25519 signature over SIG_CONTEXT || body bytes
  mac?: string; // links: base64url HMAC-SHA256(link MAC key, body bytes)
}

export function b64u(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < b.length; i += 0x8000) s += String.fromCharCode(...b.subarray(i, i + 0x8000));
  return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

export function unb64u(s: string): Uint8Array<ArrayBuffer> {
  if (/[^A-Za-z0-9_-]/.test(s)) throw new Error('not base64url');
  const bin = atob(s.replace(/-/g, '+').replace(/_/g, '/').padEnd(Math.ceil(s.length / 4) * 4, '='));
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** newShareId is 128 random bits as 26 lower-case base32 letters. */
export function newShareId(): string {
  const a = 'abcdefghijklmnopqrstuvwxyz234567';
  const b = randomBytes(17);
  let s = '';
  // 26 letters of 5 bits = 130 bits; the last letter keeps 3 random bits.
  let bits = 0;
  let val = 0;
  for (const x of b) {
    val = (val << 8) | x;
    bits += 8;
    while (bits >= 5 && s.length < 26) {
      s += a[(val >>> (bits - 5)) & 31];
      bits -= 5;
    }
    val &= (1 << bits) - 1;
  }
  return s;
}

export interface LinkKeys {
  boxKey: CryptoKey; // X25519 private, non-extractable
  boxPub: Uint8Array;
  token: Uint8Array; // the bearer token (sent); the cloud keeps its SHA-256
  macKey: Uint8Array;
}

/** linkKeys derives the link's X25519 key, bearer token and MAC key from its secret. */
export async function linkKeys(secret: Uint8Array, id: string): Promise<LinkKeys> {
  if (secret.length < 16) throw new Error('the link key is too short (was the link copied completely?)');
  const salt = utf8(id);
  const raw = await hkdf(secret, salt, utf8(INFO_KEY), 32);
  const boxKey = await importX25519Private(raw);
  raw.fill(0);
  return {
    boxKey,
    boxPub: await x25519PublicKey(boxKey),
    token: await hkdf(secret, salt, utf8(INFO_TOKEN), 32),
    macKey: await hkdf(secret, salt, utf8(INFO_MAC), 32),
  };
}

/** newLinkSecret returns a fresh link secret. */
export function newLinkSecret(): Uint8Array<ArrayBuffer> {
  return randomBytes(LINK_SECRET_BYTES);
}

/** linkURL is the share's link: the secret only ever in the fragment. */
export function linkURL(origin: string, id: string, secret: Uint8Array): string {
  return `${origin}/s/${id}#k=${b64u(secret)}`;
}

/** parseFragment reads the link secret from a location.hash like "#k=…", or null. */
export function parseFragment(hash: string): Uint8Array | null {
  const m = /(?:^#|&)k=([A-Za-z0-9_-]+)/.exec(hash);
  if (!m) return null;
  try {
    return unb64u(m[1]);
  } catch {
    return null;
  }
}

/** signManifest signs a body with the sharer's device (and the link MAC key). */
export async function signManifest(body: ManifestBody, sign: (msg: Uint8Array) => Promise<Uint8Array>, macKey?: Uint8Array): Promise<Uint8Array> {
  const bytes = utf8(JSON.stringify(body));
  const sig = await sign(new Uint8Array([...utf8(SIG_CONTEXT), ...bytes]));
  const s: Signed = { body: b64u(bytes), sig: b64u(sig) };
  if (macKey) s.mac = b64u(await hmacSha256(macKey, bytes));
  return utf8(JSON.stringify(s));
}

export class ManifestError extends Error {}

/**
 * openManifest checks a signed manifest and returns its body: for links the
 * MAC under the link's key first (only the link's creator could make it),
 * then the sharer's signature, then that it is this share for this
 * recipient.
 */
export async function openManifest(signed: Uint8Array, want: { id: string; recipient: Uint8Array; macKey?: Uint8Array }): Promise<ManifestBody> {
  let s: Signed;
  let bytes: Uint8Array;
  let sig: Uint8Array;
  try {
    s = JSON.parse(fromUtf8(signed)) as Signed;
    bytes = unb64u(s.body);
    sig = unb64u(s.sig);
  } catch {
    throw new ManifestError('the share manifest is damaged');
  }
  if (want.macKey) {
    let mac: Uint8Array;
    try {
      mac = unb64u(s.mac ?? '');
    } catch {
      mac = new Uint8Array(0);
    }
    if (!equal(mac, await hmacSha256(want.macKey, bytes))) {
      throw new ManifestError('the share does not match this link (the link is damaged, or the share was replaced)');
    }
  }
  let body: ManifestBody;
  try {
    body = JSON.parse(fromUtf8(bytes)) as ManifestBody;
  } catch {
    throw new ManifestError('the share manifest is damaged');
  }
  if (body.v !== 1 && body.v !== V_REDACTED) throw new ManifestError(`share manifest version ${String(body.v)} is not supported (reload to update the app)`);
  let signPub: Uint8Array;
  try {
    signPub = unb64u(body.sharer?.sign_pub ?? '');
  } catch {
    signPub = new Uint8Array(0);
  }
  if (!(await ed25519Verify(signPub, new Uint8Array([...utf8(SIG_CONTEXT), ...bytes]), sig))) {
    throw new ManifestError("the sharer's signature on this share does not verify");
  }
  if (body.id !== want.id) throw new ManifestError('the manifest is for another share');
  let rcpt: Uint8Array;
  try {
    rcpt = unb64u(body.recipient);
  } catch {
    rcpt = new Uint8Array(0);
  }
  if (!equal(rcpt, want.recipient)) throw new ManifestError('this share was made for another device or link');
  if (!Array.isArray(body.objects) || !Array.isArray(body.hubs)) throw new ManifestError('the share manifest is damaged');
  checkRedaction(body);
  return body;
}

/**
 * checkRedaction holds a manifest to its version (as Go's share.Open): a
 * version 1 manifest names no redaction; a version 2 one names the
 * sharer's own device as its clip's signer, lists exactly the clip under
 * clipKey(id), and no hub.
 */
function checkRedaction(b: ManifestBody): void {
  if (b.v === 1) {
    if (b.redacted !== undefined && b.redacted !== null) throw new ManifestError('a version 1 share manifest cannot be redacted');
    return;
  }
  const r = b.redacted;
  if (!r || typeof r !== 'object') throw new ManifestError('this redacted share does not say who signed its blurred clip');
  if (r.device !== b.sharer.device || r.sign_pub !== b.sharer.sign_pub) throw new ManifestError('the blurred clip of this share is not signed by the device that shared it');
  if (b.objects.length !== 1 || b.objects[0]?.key !== clipKey(b.id)) throw new ManifestError('a redacted share holds exactly its blurred clip');
  if (b.hubs.length !== 0) throw new ManifestError('a redacted share names no hub');
}
