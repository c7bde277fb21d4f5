// LogClient follows one log: it keeps the last checkpoint it verified and
// accepts a new one only when it extends it (consistency proof), and
// proves entries included in it (inclusion proof), all computed from tiles
// that are trusted only once they hash up to a verified root. The port of
// Go internal/tlog Client.

import { equal, hex } from '../crypto/bytes';
import { TlogError } from './errors';
import { verifyCheckpoint, type Checkpoint, type Policy } from './checkpoint';
import type { Fetcher } from './fetch';
import { checkRecord, checkTree, EMPTY_HASH, proveRecord, proveTree, recordHash, treeHash, type HashReader } from './merkle';
import { parseEntryBundle, TILE_WIDTH, tileHashReader, tilePath, TreeMemo, type Tile } from './tiles';

const short = (h: Uint8Array) => hex(h).slice(0, 16) + '…';

export class LogClient {
  private last: Checkpoint;
  private memo: TreeMemo | null = null;
  private updating: Promise<unknown> = Promise.resolve();

  /** last is the checkpoint this client verified before (verifyCheckpoint it first), or none. */
  constructor(
    private p: Policy,
    private f: Fetcher,
    last?: Checkpoint,
  ) {
    this.last = last ?? { origin: p.origin, size: 0, hash: EMPTY_HASH.slice(), note: '', cosigners: [] };
  }

  policy(): Policy {
    return this.p;
  }

  /** latest is the last checkpoint verified (size 0 and an empty note before the first). */
  latest(): Checkpoint {
    return this.last;
  }

  /**
   * update fetches the newest checkpoint, verifies it with the policy and
   * proves it consistent with the last verified one, which it replaces.
   * Smaller: 'older' (the last one is kept: never a rollback). The same
   * size with another root: 'split-view'. Larger but not an extension:
   * 'inconsistent'. Tiles that do not hash to the new root: 'malformed'.
   * Concurrent calls run one after the other.
   */
  update(): Promise<Checkpoint> {
    const run = this.updating.then(() => this.doUpdate());
    this.updating = run.catch(() => undefined);
    return run;
  }

  private async doUpdate(): Promise<Checkpoint> {
    let msg: string;
    try {
      msg = await this.f.checkpoint();
    } catch (e) {
      throw asTlog(e, 'fetching the checkpoint');
    }
    const next = await verifyCheckpoint(this.p, msg);
    const old = this.last;
    if (old.note !== '') {
      if (next.size < old.size) {
        throw new TlogError('older', `tlog: the log served a checkpoint of size ${next.size}, older than the one of size ${old.size} already verified`, next.size);
      }
      if (next.size === old.size) {
        if (!equal(next.hash, old.hash)) {
          throw new TlogError('split-view', `tlog: split view: two signed checkpoints of ${old.origin} at size ${next.size} with different roots (${short(old.hash)}, ${short(next.hash)})`, next.size);
        }
      } else if (old.size > 0) {
        const proof = await proveTree(next.size, old.size, this.reader(next));
        if (!(await checkTree(proof, next.size, next.hash, old.size, old.hash))) {
          throw new TlogError('inconsistent', `tlog: the checkpoint of size ${next.size} does not extend the verified checkpoint of size ${old.size}`, next.size);
        }
      }
    }
    this.last = next;
    return next;
  }

  /** entry returns the entry at index, read from its entry bundle and proven included in latest(). */
  async entry(index: number): Promise<Uint8Array> {
    const cp = this.last;
    if (!Number.isSafeInteger(index) || index < 0 || index >= cp.size) throw new TlogError('not-included', `tlog: entry ${index} is not in the verified tree of size ${cp.size}`);
    const n = Math.floor(index / TILE_WIDTH);
    const t: Tile = { L: -1, N: n, W: Math.min(TILE_WIDTH, cp.size - n * TILE_WIDTH) };
    let data: Uint8Array;
    try {
      data = await this.f.tile(tilePath(t));
    } catch (e) {
      throw asTlog(e, `fetching entry bundle ${tilePath(t)}`);
    }
    const entry = parseEntryBundle(data, t.W)[index - n * TILE_WIDTH];
    await this.prove(cp, index, entry);
    return entry;
  }

  /** proveEntry checks that the entry at index in latest() is exactly entry ('not-included' otherwise). */
  proveEntry(index: number, entry: Uint8Array): Promise<void> {
    return this.prove(this.last, index, entry);
  }

  private async prove(cp: Checkpoint, index: number, entry: Uint8Array): Promise<void> {
    if (!Number.isSafeInteger(index) || index < 0 || index >= cp.size) throw new TlogError('not-included', `tlog: entry ${index} is not in the verified tree of size ${cp.size}`);
    const proof = await proveRecord(cp.size, index, this.reader(cp));
    if (!(await checkRecord(proof, cp.size, cp.hash, index, await recordHash(entry)))) {
      throw new TlogError('not-included', `tlog: entry ${index} in the tree of size ${cp.size} is another entry`);
    }
  }

  /** treeHash returns the root of the first n entries of latest(), from tiles proven against it. */
  async treeHash(n: number): Promise<Uint8Array> {
    const cp = this.last;
    if (!Number.isSafeInteger(n) || n < 0 || n > cp.size) throw new TlogError('malformed', `tlog: size ${n} is beyond the verified tree of size ${cp.size}`);
    if (n === cp.size) return cp.hash.slice();
    return treeHash(n, this.reader(cp));
  }

  private reader(cp: Checkpoint): HashReader {
    if (!this.memo || !this.memo.matches(cp.size, cp.hash)) this.memo = new TreeMemo(cp.size, cp.hash);
    const f = this.f;
    const inner = tileHashReader(cp.size, cp.hash, {
      async readTile(t: Tile) {
        try {
          return await f.tile(tilePath(t));
        } catch (e) {
          throw asTlog(e, `fetching tile ${tilePath(t)}`);
        }
      },
    }, this.memo);
    return {
      async readHashes(indexes: number[]) {
        try {
          return await inner.readHashes(indexes);
        } catch (e) {
          throw asTlog(e, 'reading hashes');
        }
      },
    };
  }
}

function asTlog(e: unknown, what: string): TlogError {
  if (e instanceof TlogError) return e;
  return new TlogError('unavailable', `tlog: ${what}: ${e instanceof Error ? e.message : String(e)}`);
}

