// C2SP tlog-tiles: tile coordinates and paths (height 8), entry bundles,
// and a HashReader that reads stored hashes from tiles and trusts them
// only once they hash up to a tree's root (x/mod's TileHashReader).
//
// Owns: tile arithmetic, bundle parsing, and the tile verification. Must
// never: return a hash from a tile that was not verified against the
// root of the tree it is read for.

import { equal, readU16 } from '../crypto/bytes';
import { malformed } from './errors';
import { HASH_SIZE, nodeHash, shl, shr, splitStoredHashIndex, storedHashIndex, type HashReader } from './merkle';

/** TILE_HEIGHT is the height of every tile (C2SP tlog-tiles). */
export const TILE_HEIGHT = 8;
/** TILE_WIDTH is the number of hashes (or entries) in a full tile. */
export const TILE_WIDTH = 1 << TILE_HEIGHT;
/** MAX_ENTRY_SIZE is the largest entry an entry bundle can hold. */
export const MAX_ENTRY_SIZE = 0xffff;

/** Tile is a tile of height 8: level L (-1 for entry bundles), number N, width W (1..256). */
export interface Tile {
  L: number;
  N: number;
  W: number;
}

const tileKey = (t: Tile): string => `${t.L}/${t.N}/${t.W}`;

/** tilePath is the C2SP path of t relative to the log ("tile/0/x001/234", "tile/entries/000.p/5"). */
export function tilePath(t: Tile): string {
  let n = t.N;
  let s = String(n % 1000).padStart(3, '0');
  while (n >= 1000) {
    n = Math.floor(n / 1000);
    s = `x${String(n % 1000).padStart(3, '0')}/${s}`;
  }
  const p = t.W === TILE_WIDTH ? '' : `.p/${t.W}`;
  return `tile/${t.L === -1 ? 'entries' : String(t.L)}/${s}${p}`;
}

/** parseTilePath parses a canonical C2SP tile path (the one tilePath gives), or throws 'malformed'. */
export function parseTilePath(path: string): Tile {
  const bad = () => malformed(`tile path ${JSON.stringify(path.slice(0, 64))}`);
  const m = /^tile\/(entries|0|[1-9][0-9]?)\/((?:x[0-9]{3}\/)*)([0-9]{3})(?:\.p\/([1-9][0-9]{0,2}))?$/.exec(path);
  if (!m || path.length > 256) throw bad();
  const L = m[1] === 'entries' ? -1 : Number(m[1]);
  let N = 0;
  for (const g of m[2].split('/').filter((x) => x)) N = N * 1000 + Number(g.slice(1));
  N = N * 1000 + Number(m[3]);
  const W = m[4] ? Number(m[4]) : TILE_WIDTH;
  const t = { L, N, W };
  if (L > 63 || W < 1 || W > TILE_WIDTH || !Number.isSafeInteger(N) || tilePath(t) !== path) throw bad();
  return t;
}

/** tileForIndex returns the smallest tile holding stored hash index, and the byte range of the hash in it. */
export function tileForIndex(index: number): { t: Tile; start: number; end: number } {
  let [level, n] = splitStoredHashIndex(index);
  const L = Math.floor(level / TILE_HEIGHT);
  level -= L * TILE_HEIGHT;
  const N = shr(shl(n, level), TILE_HEIGHT);
  n -= shr(shl(N, TILE_HEIGHT), level);
  const W = shl(n + 1, level);
  return { t: { L, N, W }, start: shl(n, level) * HASH_SIZE, end: shl(n + 1, level) * HASH_SIZE };
}

/** tileParent returns t's ancestor k levels up in the tree of n records, or null past its edge. */
function tileParent(t: Tile, k: number, n: number): Tile | null {
  const L = t.L + k;
  const N = shr(t.N, k * TILE_HEIGHT);
  let W = TILE_WIDTH;
  const max = shr(n, L * TILE_HEIGHT);
  if (shl(N, TILE_HEIGHT) + W >= max) {
    if (shl(N, TILE_HEIGHT) >= max) return null;
    W = max - shl(N, TILE_HEIGHT);
  }
  return { L, N, W };
}

/** tileHash is the root of the subtree whose leaves are the hashes in data (a power of two of them). */
export async function tileHash(data: Uint8Array): Promise<Uint8Array> {
  let level: Uint8Array[] = [];
  for (let o = 0; o < data.length; o += HASH_SIZE) level.push(data.subarray(o, o + HASH_SIZE));
  if (level.length === 0 || (level.length & (level.length - 1)) !== 0) throw malformed('a subtree of a tile that is not a power of two wide');
  while (level.length > 1) {
    const next: Promise<Uint8Array>[] = [];
    for (let i = 0; i < level.length; i += 2) next.push(nodeHash(level[i], level[i + 1]));
    level = await Promise.all(next);
  }
  return level[0].slice();
}

/** hashFromTile returns the stored hash at index from the data of tile t (not verified). */
export function hashFromTile(t: Tile, data: Uint8Array, index: number): Promise<Uint8Array> {
  if (t.L < 0 || t.L >= 64 || t.W < 1 || t.W > TILE_WIDTH || data.length < t.W * HASH_SIZE) throw malformed(`tile ${tilePath(t)} is too short`);
  const { t: t1, start, end } = tileForIndex(index);
  if (t.L !== t1.L || t.N !== t1.N || t.W < t1.W) throw malformed(`hash ${index} is in tile ${tilePath(t1)}, not ${tilePath(t)}`);
  return tileHash(data.subarray(start, end));
}

/** parseEntryBundle splits a bundle into exactly count entries (1..256, each non-empty), or throws 'malformed'. */
export function parseEntryBundle(bundle: Uint8Array, count: number): Uint8Array[] {
  if (count < 1 || count > TILE_WIDTH) throw malformed(`entry bundle of ${count} entries (want 1 to ${TILE_WIDTH})`);
  const out: Uint8Array[] = [];
  let off = 0;
  while (out.length < count) {
    if (bundle.length - off < 2) throw malformed(`entry bundle: entry ${out.length}: ${bundle.length - off} bytes left, too few for a length`);
    const n = readU16(bundle, off);
    if (bundle.length - off - 2 < n) throw malformed(`entry bundle: entry ${out.length} of ${n} bytes with ${bundle.length - off - 2} left`);
    if (n === 0) throw malformed(`entry bundle: entry ${out.length} is empty`);
    out.push(bundle.slice(off + 2, off + 2 + n));
    off += 2 + n;
  }
  if (off !== bundle.length) throw malformed(`entry bundle has ${bundle.length - off} bytes after its ${count} entries`);
  return out;
}

/**
 * truncateTile cuts the bytes of a full tile down to the partial tile t (C2SP
 * tlog-tiles lets a log serve only full tiles).
 */
export function truncateTile(t: Tile, full: Uint8Array): Uint8Array {
  if (t.W < 1 || t.W > TILE_WIDTH) throw malformed(`tile width ${t.W}`);
  if (t.L >= 0) {
    if (full.length !== TILE_WIDTH * HASH_SIZE) throw malformed(`full hash tile of ${full.length} bytes`);
    return full.slice(0, t.W * HASH_SIZE);
  }
  let off = 0;
  for (let i = 0; i < t.W; i++) {
    if (full.length - off < 2) throw malformed(`entry bundle: entry ${i}: too few bytes for a length`);
    const n = readU16(full, off);
    if (n === 0 || full.length - off - 2 < n) throw malformed(`entry bundle: entry ${i} is empty or truncated`);
    off += 2 + n;
  }
  return full.slice(0, off);
}

/** TileSource fetches tiles (untrusted bytes). */
export interface TileSource {
  readTile(t: Tile): Promise<Uint8Array>;
}

/**
 * TreeMemo remembers, for one tree (size and root), the tiles verified
 * against its root and the stored hashes computed from them. It is only
 * ever consulted for reads of that same tree.
 */
export class TreeMemo {
  tiles = new Map<string, Uint8Array>();
  hashes = new Map<number, Uint8Array>();
  constructor(
    public size: number,
    public root: Uint8Array,
  ) {}
  matches(size: number, root: Uint8Array): boolean {
    return this.size === size && equal(this.root, root);
  }
}

/**
 * tileHashReader returns a HashReader of the tree of size records with root
 * (x/mod's TileHashReader): the tiles it reads must hash up to the root
 * (those covering the tree's right edge) or to a verified parent tile,
 * otherwise the read fails with 'malformed'. memo must be for this tree.
 */
export function tileHashReader(size: number, root: Uint8Array, src: TileSource, memo: TreeMemo): HashReader {
  if (!memo.matches(size, root)) throw malformed('tile memo of another tree');
  const stored = async (index: number): Promise<Uint8Array> => {
    const got = memo.hashes.get(index);
    if (got) return got;
    const { t } = tileForIndex(index);
    const [level, n] = splitStoredHashIndex(index);
    let h: Uint8Array;
    if (level % TILE_HEIGHT === 0) {
      // A hash stored in a tile: read it from the smallest verified tile holding it.
      const data = findVerified(t);
      const off = (n - shl(t.N, TILE_HEIGHT)) * HASH_SIZE;
      h = data.slice(off, off + HASH_SIZE);
    } else {
      h = await nodeHash(await stored(storedHashIndex(level - 1, 2 * n)), await stored(storedHashIndex(level - 1, 2 * n + 1)));
    }
    memo.hashes.set(index, h);
    return h;
  };
  const findVerified = (t: Tile): Uint8Array => {
    for (const [k, d] of memo.tiles) {
      const [L, N, W] = k.split('/').map(Number);
      if (L === t.L && N === t.N && W >= t.W) return d;
    }
    throw malformed(`tile ${tilePath(t)} was not verified`);
  };
  return {
    async readHashes(indexes: number[]): Promise<Uint8Array[]> {
      const order = new Map<string, number>();
      const tiles: Tile[] = [];
      const add = (t: Tile) => {
        order.set(tileKey(t), tiles.length);
        tiles.push(t);
      };
      // The tiles of the tree's right edge, which hash up to the root.
      const stx: number[] = [];
      for (let lo = 0; lo < size; ) {
        let l = 0;
        while (2 ** (l + 1) < size - lo + 1) l++;
        stx.push(storedHashIndex(l, shr(lo, l)));
        lo += 2 ** l;
      }
      const stxTile: number[] = [];
      for (const x of stx) {
        const t = tileParent(tileForIndex(x).t, 0, size);
        if (!t) throw malformed('bad tile arithmetic');
        const k = tileKey(t);
        if (!order.has(k)) add(t);
        stxTile.push(order.get(k)!);
      }
      const limit = storedHashIndex(0, size);
      for (const x of indexes) {
        if (x < 0 || x >= limit) throw malformed(`hash ${x} is not in the tree of size ${size}`);
        const t = tileForIndex(x).t;
        let k = 0;
        for (; ; k++) {
          const p = tileParent(t, k, size);
          if (k > 64) throw malformed('bad tile arithmetic');
          if (p && order.has(tileKey(p))) break;
        }
        for (k--; k >= 0; k--) {
          const p = tileParent(t, k, size);
          if (!p || p.W !== TILE_WIDTH) throw malformed(`bad tile arithmetic for hash ${x} in the tree of size ${size}`);
          add(p);
        }
      }
      if (!tiles.every((t) => memo.tiles.has(tileKey(t)))) {
        const data = await Promise.all(tiles.map((t) => memo.tiles.get(tileKey(t)) ?? src.readTile(t)));
        for (const [i, t] of tiles.entries()) {
          if (data[i].length !== t.W * HASH_SIZE) throw malformed(`tile ${tilePath(t)} has ${data[i].length} bytes, want ${t.W * HASH_SIZE}`);
        }
        // The edge tiles fold up to the root.
        let th: Uint8Array | null = null;
        for (let i = stx.length - 1; i >= 0; i--) {
          const h: Uint8Array = await hashFromTile(tiles[stxTile[i]], data[stxTile[i]], stx[i]);
          th = th === null ? h : await nodeHash(h, th);
        }
        if (!th || !equal(th, root)) throw malformed(`the tiles served for the tree of size ${size} do not hash up to its signed root (a rewritten tile)`);
        // Every other tile hashes to its place in its (verified) parent.
        for (let i = stxTile[stxTile.length - 1] + 1; i < tiles.length; i++) {
          const t = tiles[i];
          const p = tileParent(t, 1, size);
          const j = p ? order.get(tileKey(p)) : undefined;
          if (!p || j === undefined || j >= i) throw malformed('bad tile arithmetic');
          const want = await hashFromTile(p, data[j], storedHashIndex(p.L * TILE_HEIGHT, t.N));
          if (!equal(want, await tileHash(data[i]))) throw malformed(`tile ${tilePath(t)} does not hash to its parent tile (a rewritten tile)`);
        }
        for (const [i, t] of tiles.entries()) memo.tiles.set(tileKey(t), data[i]);
      }
      return Promise.all(indexes.map((x) => stored(x)));
    },
  };
}
