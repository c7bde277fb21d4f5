// Sealed objects (docs/FORMAT.md, format version 1) in the browser: parse a
// header, unwrap the file key with the household's epoch identities, open
// and fully verify an object in the normative order, decrypt single chunks
// for random access, and wrap a file key to another recipient (sharing).
// seal.ts writes objects with the constants and helpers exported here.
// Byte for byte the format of Go's internal/envelope, tested against its
// vectors.
//
// Owns: the reading rules and their error codes. Must never: return or
// show plaintext of an object that failed any check, trust a signer the
// caller did not list, export a private key, or log file keys or plaintext.

import { buf, concat, equal, fromUtf8, hkdf, hmacSha256, readI64, readU32, readU64, sha256, u64be, utf8 } from './bytes';
import { hpkeOpen, hpkeSeal } from './hpke';
import { ed25519Verify, keyHint, x25519PublicKey } from './keys';

export type EnvelopeErrorCode = 'corrupt' | 'unsupported-version' | 'untrusted-signer' | 'incorrect-identity' | 'bad-signature';

/** EnvelopeError is every failure to read a sealed object; code says which (FORMAT.md, Errors). */
export class EnvelopeError extends Error {
  constructor(
    public code: EnvelopeErrorCode,
    message: string,
  ) {
    super(`sealed object: ${message}`);
    this.name = 'EnvelopeError';
  }
}

export const MAGIC = utf8('vigil.so');
export const VERSION = 1;
export const MIN_CHUNK_SIZE = 1024;
export const MAX_CHUNK_SIZE = 16 << 20;
export const MAX_STANZAS = 64;
export const STANZA_SIZE = 85;
export const FOOTER_SIZE = 112;
export const TAG = 16;
export const MAC_SIZE = 32;
export const KIND_NAMES: Record<number, string> = { 1: 'segment', 2: 'snapshot', 3: 'event', 4: 'clip', 5: 'state' };

const INFO_WRAP = utf8('vigil/envelope/v1/wrap');
const INFO_PAYLOAD = utf8('vigil/envelope/v1/payload');
const INFO_HEADER = utf8('vigil/envelope/v1/header');
const SIG_CONTEXT = utf8('vigil/envelope/v1/signature\x00');

export interface Stanza {
  type: number;
  hint: Uint8Array; // 4 bytes
  enc: Uint8Array; // 32 bytes
  body: Uint8Array; // 48 bytes
}

/** Header is a parsed header; nothing in it is authenticated until the MAC is checked. */
export interface Header {
  kind: number;
  kindName: string;
  chunkSize: number;
  stream: string;
  sequence: bigint;
  start: bigint; // Unix nanoseconds
  epoch: number;
  salt: Uint8Array;
  signer: Uint8Array; // Ed25519 public key
  stanzas: Stanza[];
  headerLength: number;
  raw: Uint8Array; // every header byte, including the MAC
}

export interface Footer {
  length: bigint; // plaintext bytes
  end: bigint; // Unix nanoseconds
  commitment: Uint8Array;
  signature: Uint8Array;
}

export interface Opened {
  header: Header;
  plaintext: Uint8Array;
  length: bigint;
  end: bigint; // Unix nanoseconds
  commitment: Uint8Array;
}

const corrupt = (m: string) => new EnvelopeError('corrupt', m);

/** parseHeader parses the header at the start of sealed (step 1 of reading). It checks no MAC. */
export function parseHeader(sealed: Uint8Array): Header {
  const need = (n: number) => {
    if (sealed.length < n) throw corrupt('truncated header');
  };
  need(15);
  if (!equal(sealed.subarray(0, 8), MAGIC)) throw corrupt('not a Vigil sealed object (bad magic)');
  if (sealed[8] !== VERSION) throw new EnvelopeError('unsupported-version', `format version ${sealed[8]} (this app reads version ${VERSION}; reload to update it)`);
  const kind = sealed[9];
  if (!(kind in KIND_NAMES)) throw corrupt(`unknown object kind ${kind}`);
  const chunkSize = readU32(sealed, 10);
  if (chunkSize < MIN_CHUNK_SIZE || chunkSize > MAX_CHUNK_SIZE) throw corrupt(`chunk size ${chunkSize} out of range`);
  const L = sealed[14];
  need(100 + L);
  let stream: string;
  try {
    stream = fromUtf8(sealed.subarray(15, 15 + L));
  } catch {
    throw corrupt('stream name is not valid UTF-8');
  }
  let o = 15 + L;
  const sequence = readU64(sealed, o);
  const start = readI64(sealed, o + 8);
  const epoch = readU32(sealed, o + 16);
  o += 20;
  const salt = sealed.slice(o, o + 32);
  const signer = sealed.slice(o + 32, o + 64);
  const n = sealed[o + 64];
  o += 65;
  if (n < 1 || n > MAX_STANZAS) throw corrupt(`stanza count ${n} out of range`);
  const headerLength = 132 + L + STANZA_SIZE * n;
  need(headerLength);
  const stanzas: Stanza[] = [];
  for (let i = 0; i < n; i++, o += STANZA_SIZE) {
    if (sealed[o] !== 1) throw corrupt(`stanza ${i} has unknown type ${sealed[o]}`);
    stanzas.push({ type: 1, hint: sealed.slice(o + 1, o + 5), enc: sealed.slice(o + 5, o + 37), body: sealed.slice(o + 37, o + 85) });
  }
  return { kind, kindName: KIND_NAMES[kind], chunkSize, stream, sequence, start, epoch, salt, signer, stanzas, headerLength, raw: sealed.slice(0, headerLength) };
}

/** parseFooter reads the 112-byte footer (not verified). */
export function parseFooter(b: Uint8Array): Footer {
  if (b.length !== FOOTER_SIZE) throw corrupt('truncated footer');
  return { length: readU64(b, 0), end: readI64(b, 8), commitment: b.slice(16, 48), signature: b.slice(48, 112) };
}

function checkTrust(h: Header, trustedSigners: Uint8Array[]) {
  if (!trustedSigners.some((k) => k.length === 32 && equal(k, h.signer))) {
    throw new EnvelopeError('untrusted-signer', `producer ${hexPrefix(h.signer)} is not a trusted hub of this household`);
  }
}

function hexPrefix(b: Uint8Array): string {
  return Array.from(b.subarray(0, 8), (x) => x.toString(16).padStart(2, '0')).join('');
}

/**
 * unwrapFileKey returns the 32-byte file key from the first stanza that one
 * of identities (X25519 private CryptoKeys) opens, trying only stanzas whose
 * hint matches. It throws EnvelopeError 'incorrect-identity' if none does.
 */
export async function unwrapFileKey(sealedOrHeader: Uint8Array | Header, identities: CryptoKey[]): Promise<Uint8Array> {
  const h = sealedOrHeader instanceof Uint8Array ? parseHeader(sealedOrHeader) : sealedOrHeader;
  for (const id of identities) {
    const hint = await keyHint(await x25519PublicKey(id));
    for (const s of h.stanzas) {
      if (s.type !== 1 || !equal(s.hint, hint)) continue;
      try {
        const k = await hpkeOpen(id, s.enc, INFO_WRAP, new Uint8Array(0), s.body);
        if (k.length === 32) return k;
      } catch {
        // a hint collision, or a tampered stanza
      }
    }
  }
  throw new EnvelopeError('incorrect-identity', `no key of this device opens the object (epoch ${h.epoch}, ${h.stanzas.length} recipients)`);
}

/** wrapFileKey wraps a file key to an X25519 public key: the 85 bytes of a type-1 stanza. */
export async function wrapFileKey(fileKey: Uint8Array, recipientPub: Uint8Array): Promise<Uint8Array> {
  if (fileKey.length !== 32) throw new Error('file key must be 32 bytes');
  if (recipientPub.length !== 32) throw new Error('X25519 public key must be 32 bytes');
  const { enc, ct } = await hpkeSeal(recipientPub, INFO_WRAP, new Uint8Array(0), fileKey);
  return concat(new Uint8Array([1]), await keyHint(recipientPub), enc, ct);
}

export interface ObjectKeys {
  payloadKey: CryptoKey; // AES-256-GCM, non-extractable
  macKey: Uint8Array;
}

/** deriveKeys derives the payload and header MAC keys from a file key and the header salt. */
export async function deriveKeys(fileKey: Uint8Array, salt: Uint8Array): Promise<ObjectKeys> {
  const p = await hkdf(fileKey, salt, INFO_PAYLOAD, 32);
  const macKey = await hkdf(fileKey, salt, INFO_HEADER, 32);
  const payloadKey = await crypto.subtle.importKey('raw', p, 'AES-GCM', false, ['decrypt', 'encrypt']);
  p.fill(0);
  return { payloadKey, macKey };
}

/** checkHeaderMAC is step 4: it throws 'corrupt' if the header MAC does not match. */
export async function checkHeaderMAC(h: Header, macKey: Uint8Array): Promise<void> {
  const mac = await hmacSha256(macKey, h.raw.subarray(0, h.headerLength - MAC_SIZE));
  if (!equal(mac, h.raw.subarray(h.headerLength - MAC_SIZE))) throw corrupt('header MAC mismatch (the header was modified)');
}

/** chunkNonce is the nonce of chunk i: an 11-byte big-endian counter, then the last-chunk flag. */
export function chunkNonce(i: number, last: boolean): Uint8Array<ArrayBuffer> {
  const n = new Uint8Array(12);
  n.set(u64be(BigInt(i)), 3);
  n[11] = last ? 1 : 0;
  return n;
}

/** decryptChunkBytes authenticates and decrypts chunk i (ciphertext with tag). */
export async function decryptChunkBytes(ct: Uint8Array, payloadKey: CryptoKey, i: number, last: boolean): Promise<Uint8Array> {
  try {
    return new Uint8Array(await crypto.subtle.decrypt({ name: 'AES-GCM', iv: chunkNonce(i, last), tagLength: 128 }, payloadKey, buf(ct)));
  } catch {
    throw corrupt(last ? `last chunk ${i} failed authentication (truncated, reordered or modified object)` : `chunk ${i} failed authentication (modified, reordered or spliced object)`);
  }
}

/** chunkCount returns the number of chunks of a well-formed object of this size, or -1. */
export function chunkCount(h: Header, sealedSize: number): number {
  const body = sealedSize - h.headerLength - FOOTER_SIZE;
  const full = h.chunkSize + TAG;
  if (body < TAG) return -1;
  const n = Math.ceil(body / full);
  const lastCT = body - (n - 1) * full;
  if (lastCT < TAG || (n > 1 && lastCT === TAG)) return -1;
  return n;
}

/** signedMessage is the message the producer signs in the footer. */
export function signedMessage(commitment: Uint8Array, length: bigint, end: bigint): Uint8Array<ArrayBuffer> {
  return concat(SIG_CONTEXT, commitment, u64be(length), u64be(end));
}

async function verifyFooterSignature(h: Header, f: Footer, commitment: Uint8Array) {
  if (!(await ed25519Verify(h.signer, signedMessage(commitment, f.length, f.end), f.signature))) {
    throw new EnvelopeError('bad-signature', `footer signature by ${hexPrefix(h.signer)} does not verify`);
  }
  if (f.length > 0x7fffffffffffffffn) throw corrupt(`payload length ${f.length} out of range`);
}

/**
 * openWithFileKey opens a whole sealed object given its file key, with every
 * check of FORMAT.md "Reading" in the normative order (trust, header MAC,
 * chunks, commitment and signature, length). Plaintext is returned only if
 * all of them pass.
 */
export async function openWithFileKey(sealed: Uint8Array, fileKey: Uint8Array, trustedSigners: Uint8Array[]): Promise<Opened> {
  const h = parseHeader(sealed);
  checkTrust(h, trustedSigners);
  return openChecked(sealed, h, fileKey);
}

async function openChecked(sealed: Uint8Array, h: Header, fileKey: Uint8Array): Promise<Opened> {
  if (fileKey.length !== 32) throw corrupt('unwrapped file key has the wrong length');
  const { payloadKey, macKey } = await deriveKeys(fileKey, h.salt);
  await checkHeaderMAC(h, macKey);
  if (sealed.length < h.headerLength + TAG + FOOTER_SIZE) throw corrupt('truncated object');
  const bodyEnd = sealed.length - FOOTER_SIZE;
  const full = h.chunkSize + TAG;
  const pieces: Uint8Array[] = [];
  let off = h.headerLength;
  let total = 0;
  for (let i = 0; ; i++) {
    const last = bodyEnd - off <= full;
    const ct = sealed.subarray(off, last ? bodyEnd : off + full);
    const pt = await decryptChunkBytes(ct, payloadKey, i, last);
    if (last && pt.length === 0 && i > 0) throw corrupt(`empty last chunk ${i}`);
    pieces.push(pt);
    total += pt.length;
    off += ct.length;
    if (last) break;
  }
  const f = parseFooter(sealed.subarray(bodyEnd));
  const commitment = await sha256(sealed.subarray(0, bodyEnd));
  const wipe = () => pieces.forEach((p) => p.fill(0));
  try {
    if (!equal(commitment, f.commitment)) throw new EnvelopeError('bad-signature', `content does not match the commitment signed by ${hexPrefix(h.signer)}`);
    await verifyFooterSignature(h, f, commitment);
    if (f.length !== BigInt(total)) throw corrupt(`footer says ${f.length} plaintext bytes, object has ${total}`);
  } catch (e) {
    wipe();
    throw e;
  }
  const plaintext = concat(...pieces);
  wipe();
  return { header: h, plaintext, length: f.length, end: f.end, commitment };
}

/**
 * openObject opens and fully verifies a sealed object with the device's
 * identities, trusting only trustedSigners (the household's hubs).
 */
export async function openObject(sealed: Uint8Array, identities: CryptoKey[], trustedSigners: Uint8Array[]): Promise<Opened> {
  const h = parseHeader(sealed);
  checkTrust(h, trustedSigners);
  const fileKey = await unwrapFileKey(h, identities);
  try {
    return await openChecked(sealed, h, fileKey);
  } finally {
    fileKey.fill(0);
  }
}

/** RandomAccess is an object whose header and footer are verified (FORMAT.md, Random access). */
export interface RandomAccess {
  header: Header;
  footer: Footer;
  payloadKey: CryptoKey;
  chunks: number;
  size: number; // sealed size in bytes
}

/**
 * openRandomAccess verifies the header (trust, file key, MAC) and the footer
 * (signature over its own commitment, size against the signed length) of a
 * sealed object of size bytes, given its header bytes (at least the header)
 * and its last 112 bytes. Chunks are then read with decryptChunk. As
 * FORMAT.md says, this cannot detect a co-recipient substituting chunks
 * under the original footer; openObject does.
 */
export async function openRandomAccess(headerBytes: Uint8Array, footerBytes: Uint8Array, size: number, fileKeyOrIdentities: Uint8Array | CryptoKey[], trustedSigners: Uint8Array[]): Promise<RandomAccess> {
  const header = parseHeader(headerBytes);
  checkTrust(header, trustedSigners);
  const fileKey = fileKeyOrIdentities instanceof Uint8Array ? fileKeyOrIdentities : await unwrapFileKey(header, fileKeyOrIdentities);
  const { payloadKey, macKey } = await deriveKeys(fileKey, header.salt);
  if (!(fileKeyOrIdentities instanceof Uint8Array)) fileKey.fill(0);
  await checkHeaderMAC(header, macKey);
  const footer = parseFooter(footerBytes);
  await verifyFooterSignature(header, footer, footer.commitment);
  const chunks = chunkCount(header, size);
  if (chunks < 0 || BigInt(size - header.headerLength - FOOTER_SIZE - TAG * chunks) !== footer.length) {
    throw corrupt(`object of ${size} bytes does not hold the ${footer.length} plaintext bytes its footer says`);
  }
  return { header, footer, payloadKey, chunks, size };
}

/** chunkRange returns the byte range [start, end) of chunk i in the sealed object. */
export function chunkRange(ra: { header: Header; chunks: number; size: number }, i: number): [number, number] {
  const full = ra.header.chunkSize + TAG;
  const start = ra.header.headerLength + i * full;
  return [start, i === ra.chunks - 1 ? ra.size - FOOTER_SIZE : start + full];
}

/**
 * decryptChunk decrypts chunk i of a whole sealed object (header parsed
 * and MAC-checked, payloadKey from deriveKeys) without touching the others.
 */
export async function decryptChunk(sealed: Uint8Array, header: Header, payloadKey: CryptoKey, i: number): Promise<Uint8Array> {
  const chunks = chunkCount(header, sealed.length);
  if (chunks < 0 || i < 0 || i >= chunks) throw corrupt(`no chunk ${i}`);
  const [s, e] = chunkRange({ header, chunks, size: sealed.length }, i);
  return decryptChunkBytes(sealed.subarray(s, e), payloadKey, i, i === chunks - 1);
}
