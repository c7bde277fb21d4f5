// Sealing objects in the browser (docs/FORMAT.md, format version 1): the
// writer side of envelope.ts, byte for byte what Go's internal/envelope
// Writer produces. A member's browser seals a clip it redacted (a donation)
// to the labelling workspace's epoch key, signed by this device's Ed25519
// key, which never leaves WebCrypto.
//
// The payload is read and sealed one chunk at a time (from a Uint8Array or
// a Blob read in slices), and the SHA-256 commitment is kept incrementally,
// so a large clip is never copied whole: sealObject writes into one buffer
// of the exact sealed size, and sealPieces hands each piece to a caller
// that streams it elsewhere.
//
// Owns: the writing rules (what a header may hold, the chunking, the
// footer). Must never: write an object its own reader would refuse (it
// checks its signature before writing the footer), keep the file key or
// the MAC key after the header is made, log keys or plaintext.

import { buf, concat, fromUtf8, hmacSha256, randomBytes, u32be, u64be, utf8 } from './bytes';
import { chunkNonce, deriveKeys, FOOTER_SIZE, KIND_NAMES, MAGIC, MAX_CHUNK_SIZE, MAX_STANZAS, MAC_SIZE, MIN_CHUNK_SIZE, signedMessage, STANZA_SIZE, TAG, VERSION, wrapFileKey } from './envelope';
import { ed25519Verify } from './keys';
import { Sha256 } from './sha256';

/** DEFAULT_CHUNK_SIZE is the plaintext bytes per chunk when SealHeader.chunkSize is not set (as Go's DefaultChunkSize). */
export const DEFAULT_CHUNK_SIZE = 64 << 10;
/** KIND_CLIP is the object kind of an exported, shared or donated clip. */
export const KIND_CLIP = 4;
const MAX_STREAM_LEN = 255;
const INT64_MIN = -(1n << 63n);
const INT64_MAX = (1n << 63n) - 1n;
const UINT64_MAX = (1n << 64n) - 1n;
// READ_SPAN bounds how much of a Blob is read at once.
const READ_SPAN = 4 << 20;

/** SealHeader is what the producer chooses for a sealed object. */
export interface SealHeader {
  kind: number; // 1..5; a donated clip is KIND_CLIP
  stream: string; // e.g. the camera ID; at most 255 UTF-8 bytes; the cloud sees it
  sequence: bigint; // the producer's sequence number in stream
  start: bigint; // Unix nanoseconds
  end?: bigint; // Unix nanoseconds, in the footer; start when not set
  epoch: number; // key epoch of the recipients
  chunkSize?: number; // MIN_CHUNK_SIZE..MAX_CHUNK_SIZE; DEFAULT_CHUNK_SIZE when not set
}

/** SealSigner signs as the producer: a device's DeviceKeys is one. */
export interface SealSigner {
  signPub: Uint8Array; // Ed25519 public key, written in the header
  sign(msg: Uint8Array): Promise<Uint8Array>;
}

export interface SealOptions {
  /** onProgress is called after each chunk with the plaintext bytes sealed so far and in all. */
  onProgress?: (sealed: number, total: number) => void;
  /** signal stops sealing between chunks. */
  signal?: AbortSignal;
}

/** SealError is a sealing request that breaks a rule of the format, or a signer that does not match its key. */
export class SealError extends Error {
  constructor(message: string) {
    super(`sealing: ${message}`);
    this.name = 'SealError';
  }
}

/** sealedSize is the size of a sealed object (Go's SealedSize); streamBytes is the UTF-8 length of the stream name. */
export function sealedSize(streamBytes: number, chunkSize: number, recipients: number, length: number): number {
  const chunks = Math.max(1, Math.ceil(length / chunkSize));
  return 132 + streamBytes + STANZA_SIZE * recipients + length + TAG * chunks + FOOTER_SIZE;
}

interface Checked {
  kind: number;
  stream: Uint8Array;
  sequence: bigint;
  start: bigint;
  end: bigint;
  epoch: number;
  chunkSize: number;
}

function checkHeader(h: SealHeader): Checked {
  if (!Number.isInteger(h.kind) || !(h.kind in KIND_NAMES)) throw new SealError(`invalid kind ${h.kind} (want 1..5; a clip is ${KIND_CLIP})`);
  const chunkSize = h.chunkSize ?? DEFAULT_CHUNK_SIZE;
  if (!Number.isInteger(chunkSize) || chunkSize < MIN_CHUNK_SIZE || chunkSize > MAX_CHUNK_SIZE) {
    throw new SealError(`invalid chunk size ${chunkSize} (want ${MIN_CHUNK_SIZE}..${MAX_CHUNK_SIZE}, or none for the default)`);
  }
  const stream = utf8(h.stream);
  if (fromUtf8(stream) !== h.stream) throw new SealError('the stream name is not valid Unicode (a lone surrogate)');
  if (stream.length > MAX_STREAM_LEN) throw new SealError(`the stream name is ${stream.length} bytes, longer than ${MAX_STREAM_LEN}`);
  if (typeof h.sequence !== 'bigint' || h.sequence < 0n || h.sequence > UINT64_MAX) throw new SealError('the sequence number is not an unsigned 64-bit integer');
  const end = h.end ?? h.start;
  for (const [name, t] of [['start', h.start], ['end', end]] as const) {
    if (typeof t !== 'bigint' || t < INT64_MIN || t > INT64_MAX) throw new SealError(`the ${name} time is not a signed 64-bit count of nanoseconds (years 1678-2262)`);
  }
  if (!Number.isInteger(h.epoch) || h.epoch < 0 || h.epoch > 0xffffffff) throw new SealError(`invalid key epoch ${h.epoch}`);
  return { kind: h.kind, stream, sequence: h.sequence, start: h.start, end, epoch: h.epoch, chunkSize };
}

/** sourceLength is the payload length of a Uint8Array or a Blob. */
function sourceLength(src: Uint8Array | Blob): number {
  return src instanceof Uint8Array ? src.length : src.size;
}

/**
 * pieces yields the payload in chunkSize pieces (the last may be shorter;
 * an empty payload is one empty piece). Pieces of a Blob are views of a
 * window read with slice().arrayBuffer(), wiped when the window is done.
 */
async function* plaintextPieces(src: Uint8Array | Blob, chunkSize: number): AsyncGenerator<Uint8Array> {
  const length = sourceLength(src);
  if (length === 0) {
    yield new Uint8Array(0);
    return;
  }
  if (src instanceof Uint8Array) {
    for (let off = 0; off < length; off += chunkSize) yield src.subarray(off, Math.min(off + chunkSize, length));
    return;
  }
  const span = chunkSize * Math.max(1, Math.floor(READ_SPAN / chunkSize));
  for (let w = 0; w < length; w += span) {
    const win = new Uint8Array(await src.slice(w, Math.min(w + span, length)).arrayBuffer());
    if (win.length !== Math.min(span, length - w)) throw new SealError('the clip changed size while it was read');
    try {
      for (let off = 0; off < win.length; off += chunkSize) yield win.subarray(off, Math.min(off + chunkSize, win.length));
    } finally {
      win.fill(0);
    }
  }
}

/**
 * sealPieces seals payload to recipients (32-byte X25519 public keys, one
 * stanza each, in this order), signed by signer, and yields the object in
 * order: the header, each chunk, the footer. Their concatenation is the
 * sealed object, of sealedSize(...) bytes. The footer's signature is
 * verified against signer.signPub before it is yielded.
 */
export async function* sealPieces(h: SealHeader, payload: Uint8Array | Blob, recipients: Uint8Array[], signer: SealSigner, opts: SealOptions = {}): AsyncGenerator<Uint8Array> {
  const c = checkHeader(h);
  if (recipients.length < 1) throw new SealError('no recipients (seal to the epoch key of the household or workspace)');
  if (recipients.length > MAX_STANZAS) throw new SealError(`${recipients.length} recipients, more than the maximum ${MAX_STANZAS}`);
  recipients.forEach((r, i) => {
    if (!(r instanceof Uint8Array) || r.length !== 32) throw new SealError(`recipient ${i} is not a 32-byte X25519 public key`);
  });
  if (!(signer.signPub instanceof Uint8Array) || signer.signPub.length !== 32) throw new SealError('the signer has no 32-byte Ed25519 public key');
  const total = sourceLength(payload);

  const fileKey = randomBytes(32);
  const salt = randomBytes(32);
  let header: Uint8Array;
  let payloadKey: CryptoKey;
  try {
    const stanzas: Uint8Array[] = [];
    for (let i = 0; i < recipients.length; i++) {
      try {
        stanzas.push(await wrapFileKey(fileKey, recipients[i]));
      } catch {
        throw new SealError(`recipient ${i} is not a usable X25519 public key`);
      }
    }
    const keys = await deriveKeys(fileKey, salt);
    payloadKey = keys.payloadKey;
    const body = concat(
      MAGIC,
      new Uint8Array([VERSION, c.kind]),
      u32be(c.chunkSize),
      new Uint8Array([c.stream.length]),
      c.stream,
      u64be(c.sequence),
      u64be(c.start),
      u32be(c.epoch),
      salt,
      signer.signPub,
      new Uint8Array([stanzas.length]),
      ...stanzas,
    );
    const mac = await hmacSha256(keys.macKey, body);
    keys.macKey.fill(0);
    if (mac.length !== MAC_SIZE) throw new SealError('header MAC of the wrong size');
    header = concat(body, mac);
  } finally {
    fileKey.fill(0);
  }

  const commit = new Sha256().update(header);
  yield header;

  const chunks = Math.max(1, Math.ceil(total / c.chunkSize));
  let i = 0;
  let done = 0;
  for await (const pt of plaintextPieces(payload, c.chunkSize)) {
    opts.signal?.throwIfAborted();
    const last = i === chunks - 1;
    const ct = new Uint8Array(await crypto.subtle.encrypt({ name: 'AES-GCM', iv: chunkNonce(i, last), tagLength: 128 }, payloadKey, buf(pt)));
    commit.update(ct);
    yield ct;
    i++;
    done += pt.length;
    opts.onProgress?.(done, total);
  }
  if (i !== chunks || done !== total) throw new SealError('the clip changed size while it was read');

  const commitment = commit.digest();
  const length = BigInt(total);
  const msg = signedMessage(commitment, length, c.end);
  const sig = await signer.sign(msg);
  if (sig.length !== 64 || !(await ed25519Verify(signer.signPub, msg, sig))) {
    throw new SealError("the device's signature does not verify with its public key (a signer whose key does not match)");
  }
  yield concat(u64be(length), u64be(c.end), commitment, sig);
}

/**
 * sealObject seals payload into one buffer of the exact sealed size (see
 * sealPieces for the arguments). A 50 MB clip needs the clip, the sealed
 * object and one chunk in flight, nothing more.
 */
export async function sealObject(h: SealHeader, payload: Uint8Array | Blob, recipients: Uint8Array[], signer: SealSigner, opts: SealOptions = {}): Promise<Uint8Array<ArrayBuffer>> {
  const size = sealedSize(utf8(h.stream).length, h.chunkSize ?? DEFAULT_CHUNK_SIZE, recipients.length, sourceLength(payload));
  let out: Uint8Array<ArrayBuffer> | null = null;
  let off = 0;
  for await (const p of sealPieces(h, payload, recipients, signer, opts)) {
    // Allocated once the header is made, so a refused request allocates nothing.
    out ??= new Uint8Array(size);
    if (off + p.length > size) throw new SealError('the clip changed size while it was read');
    out.set(p, off);
    off += p.length;
  }
  if (!out || off !== size) throw new SealError('the clip changed size while it was read');
  return out;
}
