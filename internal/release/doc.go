// Package release makes and checks signed releases of the web app
// (docs/FORMAT.md, "Web release manifests"): the manifest of a build (every
// file the cloud serves and its SHA-256), the release key that signs it, the
// signed release (a type-3 transparency log entry, also the release.vrel
// file), and the check of a served file against the releases a verifier
// trusts.
//
// What it owns: the manifest's canonical form and rules (so the Go and
// TypeScript verifiers read the same bytes the same way), release key files,
// signing and opening releases, and the rule that a served file is trusted
// only if a verified release lists its path with its hash.
//
// What it must never do: fetch anything (the HTTP side is
// internal/release/monitor and the extension), trust a release before its
// signature and its signer are checked, write a release key over an existing
// file, hold or print a release key's private half anywhere but its file,
// or panic on malformed input.
package release
