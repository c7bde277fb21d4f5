// Package tlog is Vigil's transparency log: an append-only Merkle log that
// follows the published specifications (RFC 6962 hashing, C2SP
// tlog-tiles, tlog-checkpoint, signed-note, tlog-cosignature), so that any
// client that knows only those can check it. docs/FORMAT.md ("Transparency
// log") is the normative description.
//
// What it owns:
//
//   - the sequencer ([Log]): integrates batches of entries, writes hash
//     tiles and entry bundles (immutable) and a signed checkpoint to a
//     [Storage], asks witnesses to cosign each checkpoint, and only then
//     publishes it;
//   - the storage interface ([Storage]: four methods) with an in-memory
//     implementation for tests, a blob-store implementation for the cloud,
//     and the conformance suite every implementation passes (tlogtest);
//   - the client side ([Policy], [Client]): checkpoints verified against
//     the log key and K of N witness cosignatures, consistency with the
//     last checkpoint a client verified (no rollback, no fork), inclusion
//     of entries, all computed from tiles that are trusted only once they
//     hash up to a verified root.
//
// What it must never do: know what an entry means (entries are opaque
// bytes here; internal/history gives them meaning); trust a tile, a proof
// or a checkpoint before it is verified; import net/http (the HTTP
// serving and fetching live in tlog/tloghttp); panic on malformed input.
package tlog
