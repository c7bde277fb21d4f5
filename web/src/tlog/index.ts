// A client of any C2SP transparency log (tlog-tiles, tlog-checkpoint,
// signed-note, tlog-cosignature) in the browser: checkpoints verified
// against the log's key and K of N witness cosignatures, consistency with
// the last verified checkpoint (no rollback, no fork), inclusion of
// entries, all computed with WebCrypto from tiles that are trusted only
// once they hash up to a verified root. The port of Go internal/tlog's
// client side; it knows nothing of what an entry means.
//
// Owns: the formats and the proofs. Must never: trust a tile, a proof or a
// checkpoint before it is verified; throw anything but TlogError.

export { TlogError, type TlogErrorCode } from './errors';
export { newPolicy, verifyCheckpoint, formatCheckpoint, MAX_CHECKPOINT_BYTES, type Checkpoint, type Policy } from './checkpoint';
export { httpFetcher, type Fetcher } from './fetch';
export { LogClient } from './client';
export { recordHash, nodeHash, EMPTY_HASH } from './merkle';
export { parseTilePath, tilePath, parseEntryBundle, TILE_HEIGHT, TILE_WIDTH, type Tile } from './tiles';
