// Package envelope implements Vigil's sealed-object format: the encrypted,
// signed container for every segment, snapshot, event and clip that leaves
// a hub.
//
// A sealed object is a header, a sequence of AES-256-GCM chunks and a
// footer. A fresh random file key per object is wrapped with HPKE
// (DHKEM(X25519), HKDF-SHA256, AES-256-GCM) to each [Recipient]; the
// producer (a hub) signs the whole object with Ed25519. The exact byte
// layout is specified in docs/FORMAT.md, and testdata/vectors.json holds test
// vectors shared with the browser implementation.
//
// The package owns:
//   - the wire format: [Writer], [Seal], [Reader], [Open], [ReaderAt], [Inspect];
//   - the recipient and identity abstraction, modelled on age:
//     [Recipient] wraps a file key, [Identity] unwraps it;
//   - the X25519 key types and their human-facing string encodings
//     ("vigr1…", "VIGIL-IDENTITY-1-…") and the hub signing-key encoding
//     ("VIGIL-SIGNER-1-…");
//   - producer trust: a [Verifier] decides which signing keys are accepted.
//
// What the package must never do:
//   - perform I/O beyond the reader or writer it is given (no files, no
//     network; it does not import net/http);
//   - log anything, and in particular put key material or plaintext into a
//     log line or an error message;
//   - release plaintext as verified before the checks that cover it: [Open]
//     returns plaintext only after the header MAC, every chunk, the
//     commitment and the producer's signature have been verified, and
//     [Reader.Read] returns io.EOF only after the same checks (see
//     [Reader] for what the bytes before io.EOF guarantee).
//
// Errors wrap one of the sentinel errors [ErrCorrupt], [ErrIncorrectIdentity],
// [ErrUntrustedSigner], [ErrBadSignature] and [ErrUnsupportedVersion]; test
// for them with errors.Is.
package envelope
