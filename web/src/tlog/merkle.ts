// RFC 6962 Merkle trees as golang.org/x/mod/sumdb/tlog numbers them:
// record and node hashes (WebCrypto SHA-256), stored hash indexes, tree
// hashes, and inclusion and consistency proofs, computed from any
// HashReader and checked against a root. A port of x/mod's tlog.go; tree
// sizes are plain numbers (exact up to 2^53; checkpoints are bounded to
// 2^48), so every shift here is a multiplication or a floor division.
//
// Owns: the index arithmetic and the proof checks. Must never: trust a
// hash because it was read (a HashReader says where hashes come from; only
// a check against a verified root makes them true).

import { equal, sha256 } from '../crypto/bytes';
import { malformed, TlogError } from './errors';

export const HASH_SIZE = 32;

/** EMPTY_HASH is the root of the empty tree: SHA-256 of the empty string. */
export const EMPTY_HASH = new Uint8Array([
  0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9, 0x24,
  0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55,
]);

/** A HashReader returns the stored hashes at the given indexes (nothing it returns is trusted by itself). */
export interface HashReader {
  readHashes(indexes: number[]): Promise<Uint8Array[]>;
}

/** recordHash is the leaf hash of an entry: SHA-256(0x00 || entry). */
export function recordHash(entry: Uint8Array): Promise<Uint8Array> {
  return sha256(new Uint8Array([0]), entry);
}

/** nodeHash is the hash of an inner node: SHA-256(0x01 || left || right). */
export function nodeHash(left: Uint8Array, right: Uint8Array): Promise<Uint8Array> {
  return sha256(new Uint8Array([1]), left, right);
}

// Shifts on numbers beyond 32 bits.
export const shl = (n: number, k: number): number => n * 2 ** k;
export const shr = (n: number, k: number): number => Math.floor(n / 2 ** k);

function trailingZeros(x: number): number {
  if (x <= 0) return 64;
  let z = 0;
  while (x % 2 === 0) {
    x /= 2;
    z++;
  }
  return z;
}

/** maxpow2 returns k, the largest power of two smaller than n (n >= 2), and log2(k). */
function maxpow2(n: number): [number, number] {
  let l = 0;
  while (2 ** (l + 1) < n) l++;
  return [2 ** l, l];
}

/** storedHashIndex maps the tree coordinates (level, n) to a dense linear ordering. */
export function storedHashIndex(level: number, n: number): number {
  for (let l = level; l > 0; l--) n = 2 * n + 1;
  let i = 0;
  for (; n > 0; n = shr(n, 1)) i += n;
  return i + level;
}

/** splitStoredHashIndex is the inverse of storedHashIndex. */
export function splitStoredHashIndex(index: number): [number, number] {
  let n = shr(index, 1);
  let indexN = storedHashIndex(0, n);
  if (indexN > index) throw malformed(`bad stored hash index ${index}`);
  for (;;) {
    const x = indexN + 1 + trailingZeros(n + 1);
    if (x > index) break;
    n++;
    indexN = x;
  }
  const level = index - indexN;
  return [level, shr(n, level)];
}

function badMath(where: string): TlogError {
  return malformed(`bad index arithmetic in ${where}`);
}

function subTreeIndex(lo: number, hi: number, need: number[]): number[] {
  while (lo < hi) {
    const [k, level] = maxpow2(hi - lo + 1);
    if (lo % k !== 0) throw badMath('subTreeIndex');
    need.push(storedHashIndex(level, shr(lo, level)));
    lo += k;
  }
  return need;
}

async function subTreeHash(lo: number, hi: number, hashes: Uint8Array[]): Promise<[Uint8Array, Uint8Array[]]> {
  let numTree = 0;
  while (lo < hi) {
    const [k] = maxpow2(hi - lo + 1);
    if (lo % k !== 0 || lo >= hi) throw badMath('subTreeHash');
    numTree++;
    lo += k;
  }
  if (hashes.length < numTree) throw badMath('subTreeHash');
  let h = hashes[numTree - 1];
  for (let i = numTree - 2; i >= 0; i--) h = await nodeHash(hashes[i], h);
  return [h, hashes.slice(numTree)];
}

async function read(r: HashReader, indexes: number[]): Promise<Uint8Array[]> {
  const hs = await r.readHashes(indexes);
  if (hs.length !== indexes.length) throw malformed(`read ${hs.length} hashes for ${indexes.length} indexes`);
  return hs;
}

/** treeHash computes the root of the tree of n records from r. */
export async function treeHash(n: number, r: HashReader): Promise<Uint8Array> {
  if (n === 0) return EMPTY_HASH.slice();
  const indexes = subTreeIndex(0, n, []);
  const [h, rest] = await subTreeHash(0, n, await read(r, indexes));
  if (rest.length !== 0) throw badMath('treeHash');
  return h;
}

function leafProofIndex(lo: number, hi: number, n: number, need: number[]): number[] {
  if (!(lo <= n && n < hi)) throw badMath('leafProofIndex');
  if (lo + 1 === hi) return need;
  const [k] = maxpow2(hi - lo);
  if (n < lo + k) {
    leafProofIndex(lo, lo + k, n, need);
    subTreeIndex(lo + k, hi, need);
  } else {
    subTreeIndex(lo, lo + k, need);
    leafProofIndex(lo + k, hi, n, need);
  }
  return need;
}

async function leafProof(lo: number, hi: number, n: number, hashes: Uint8Array[]): Promise<[Uint8Array[], Uint8Array[]]> {
  if (!(lo <= n && n < hi)) throw badMath('leafProof');
  if (lo + 1 === hi) return [[], hashes];
  let p: Uint8Array[];
  let th: Uint8Array;
  const [k] = maxpow2(hi - lo);
  if (n < lo + k) {
    [p, hashes] = await leafProof(lo, lo + k, n, hashes);
    [th, hashes] = await subTreeHash(lo + k, hi, hashes);
  } else {
    [th, hashes] = await subTreeHash(lo, lo + k, hashes);
    [p, hashes] = await leafProof(lo + k, hi, n, hashes);
  }
  p.push(th);
  return [p, hashes];
}

/** proveRecord returns the inclusion proof of record n in the tree of t records. */
export async function proveRecord(t: number, n: number, r: HashReader): Promise<Uint8Array[]> {
  if (t < 0 || n < 0 || n >= t) throw malformed(`no record ${n} in a tree of ${t}`);
  const indexes = leafProofIndex(0, t, n, []);
  if (indexes.length === 0) return [];
  const [p, rest] = await leafProof(0, t, n, await read(r, indexes));
  if (rest.length !== 0) throw badMath('proveRecord');
  return p;
}

async function runRecordProof(p: Uint8Array[], lo: number, hi: number, n: number, leaf: Uint8Array): Promise<Uint8Array | null> {
  if (!(lo <= n && n < hi)) throw badMath('runRecordProof');
  if (lo + 1 === hi) return p.length === 0 ? leaf : null;
  if (p.length === 0) return null;
  const [k] = maxpow2(hi - lo);
  const last = p[p.length - 1];
  if (n < lo + k) {
    const th = await runRecordProof(p.slice(0, -1), lo, lo + k, n, leaf);
    return th && nodeHash(th, last);
  }
  const th = await runRecordProof(p.slice(0, -1), lo + k, hi, n, leaf);
  return th && nodeHash(last, th);
}

/** checkRecord reports whether p proves leaf hash h at index n in the tree of t records with root th. */
export async function checkRecord(p: Uint8Array[], t: number, th: Uint8Array, n: number, h: Uint8Array): Promise<boolean> {
  if (t < 0 || n < 0 || n >= t) return false;
  const th2 = await runRecordProof(p, 0, t, n, h);
  return th2 !== null && equal(th2, th);
}

function treeProofIndex(lo: number, hi: number, n: number, need: number[]): number[] {
  if (!(lo < n && n <= hi)) throw badMath('treeProofIndex');
  if (n === hi) return lo === 0 ? need : subTreeIndex(lo, hi, need);
  const [k] = maxpow2(hi - lo);
  if (n <= lo + k) {
    treeProofIndex(lo, lo + k, n, need);
    subTreeIndex(lo + k, hi, need);
  } else {
    subTreeIndex(lo, lo + k, need);
    treeProofIndex(lo + k, hi, n, need);
  }
  return need;
}

async function treeProof(lo: number, hi: number, n: number, hashes: Uint8Array[]): Promise<[Uint8Array[], Uint8Array[]]> {
  if (!(lo < n && n <= hi)) throw badMath('treeProof');
  if (n === hi) {
    if (lo === 0) return [[], hashes];
    const [th, rest] = await subTreeHash(lo, hi, hashes);
    return [[th], rest];
  }
  let p: Uint8Array[];
  let th: Uint8Array;
  const [k] = maxpow2(hi - lo);
  if (n <= lo + k) {
    [p, hashes] = await treeProof(lo, lo + k, n, hashes);
    [th, hashes] = await subTreeHash(lo + k, hi, hashes);
  } else {
    [th, hashes] = await subTreeHash(lo, lo + k, hashes);
    [p, hashes] = await treeProof(lo + k, hi, n, hashes);
  }
  p.push(th);
  return [p, hashes];
}

/** proveTree returns the proof that the tree of n records is a prefix of the tree of t. */
export async function proveTree(t: number, n: number, r: HashReader): Promise<Uint8Array[]> {
  if (t < 1 || n < 1 || n > t) throw malformed(`no consistency proof from ${n} to ${t}`);
  const indexes = treeProofIndex(0, t, n, []);
  if (indexes.length === 0) return [];
  const [p, rest] = await treeProof(0, t, n, await read(r, indexes));
  if (rest.length !== 0) throw badMath('proveTree');
  return p;
}

async function runTreeProof(p: Uint8Array[], lo: number, hi: number, n: number, old: Uint8Array): Promise<[Uint8Array, Uint8Array] | null> {
  if (!(lo < n && n <= hi)) throw badMath('runTreeProof');
  if (n === hi) {
    if (lo === 0) return p.length === 0 ? [old, old] : null;
    return p.length === 1 ? [p[0], p[0]] : null;
  }
  if (p.length === 0) return null;
  const [k] = maxpow2(hi - lo);
  const last = p[p.length - 1];
  if (n <= lo + k) {
    const r = await runTreeProof(p.slice(0, -1), lo, lo + k, n, old);
    return r && [r[0], await nodeHash(r[1], last)];
  }
  const r = await runTreeProof(p.slice(0, -1), lo + k, hi, n, old);
  return r && [await nodeHash(last, r[0]), await nodeHash(last, r[1])];
}

/**
 * checkTree reports whether p proves that the tree of n records with root
 * h is a prefix of the tree of t records with root th.
 */
export async function checkTree(p: Uint8Array[], t: number, th: Uint8Array, n: number, h: Uint8Array): Promise<boolean> {
  if (t < 1 || n < 1 || n > t) return false;
  const r = await runTreeProof(p, 0, t, n, h);
  return r !== null && equal(r[1], th) && equal(r[0], h);
}
