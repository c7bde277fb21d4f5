// Fetching a log over HTTP (C2SP tlog-tiles): the checkpoint and tiles,
// with bounded sizes and the partial-tile fallback (a 404 for a partial
// tile: read the full tile and truncate it). Nothing fetched is trusted
// here; LogClient verifies it.

import { concat } from '../crypto/bytes';
import { TlogError } from './errors';
import { HASH_SIZE } from './merkle';
import { noteText } from './note';
import { MAX_CHECKPOINT_BYTES } from './checkpoint';
import { MAX_ENTRY_SIZE, parseTilePath, TILE_WIDTH, tilePath, truncateTile } from './tiles';

/** Fetcher reads a log. Nothing it returns is trusted before it is verified. */
export interface Fetcher {
  /** checkpoint returns the newest checkpoint note. */
  checkpoint(): Promise<string>;
  /** tile returns the bytes of the tile at a C2SP path relative to the log ("tile/0/000.p/5"). */
  tile(path: string): Promise<Uint8Array>;
}

class NotFound extends TlogError {}

async function get(url: string, limit: number, noStore: boolean): Promise<Uint8Array> {
  let res: Response;
  try {
    res = await fetch(url, { credentials: 'omit', cache: noStore ? 'no-store' : 'default', redirect: 'error' });
  } catch (e) {
    throw new TlogError('unavailable', `tlog: GET ${url}: the log cannot be reached (${(e as Error).message})`);
  }
  if (res.status === 404) {
    await res.body?.cancel();
    throw new NotFound('unavailable', `tlog: GET ${url}: not found`);
  }
  if (!res.ok) {
    await res.body?.cancel();
    throw new TlogError('unavailable', `tlog: GET ${url}: ${res.status} ${res.statusText}`);
  }
  const len = Number(res.headers.get('Content-Length') ?? '0');
  if (len > limit) {
    await res.body?.cancel();
    throw new TlogError('malformed', `tlog: GET ${url}: the answer is over ${limit} bytes`);
  }
  const reader = res.body?.getReader();
  if (!reader) return new Uint8Array(0);
  const parts: Uint8Array[] = [];
  let n = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      n += value.length;
      if (n > limit) {
        await reader.cancel();
        throw new TlogError('malformed', `tlog: GET ${url}: the answer is over ${limit} bytes`);
      }
      parts.push(value);
    }
  } catch (e) {
    if (e instanceof TlogError) throw e;
    throw new TlogError('unavailable', `tlog: GET ${url}: ${(e as Error).message}`);
  }
  return concat(...parts);
}

/**
 * httpFetcher reads the log served at origin + '/tlog/' (origin: e.g.
 * "https://vigil.example", '' for the page's own origin).
 */
export function httpFetcher(origin: string): Fetcher {
  const base = origin.replace(/\/+$/, '') + '/tlog/';
  return {
    async checkpoint() {
      return noteText(await get(base + 'checkpoint', MAX_CHECKPOINT_BYTES, true));
    },
    async tile(path: string) {
      const t = parseTilePath(path);
      const limit = t.L === -1 ? TILE_WIDTH * (2 + MAX_ENTRY_SIZE) : TILE_WIDTH * HASH_SIZE;
      try {
        return await get(base + path, limit, false);
      } catch (e) {
        if (!(e instanceof NotFound) || t.W === TILE_WIDTH) throw e;
      }
      return truncateTile(t, await get(base + tilePath({ ...t, W: TILE_WIDTH }), limit, false));
    },
  };
}
