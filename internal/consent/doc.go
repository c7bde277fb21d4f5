// Package consent is the donor's word on a donated clip (guarantee G7): a
// consent record, signed by a member device of the donor's household with
// its Ed25519 key, that gives exactly one sealed object (bound by its
// SHA-256) to one labelling workspace, for one purpose from a fixed list,
// with a scope (a camera, a time range, an event) and an expiry; and a
// revocation record that takes it back (docs/FORMAT.md, "Consent records").
//
// It owns the two formats, their one canonical encoding, the rules a valid
// record follows, and the check of a record against the donor household's
// verified chain (Verify, VerifyRevocation): the signature, the signer's
// place in the chain's current state, the expiry and the object's digest.
// Go here and the web app read and write the same bytes.
//
// It must never: import net/http or any cloud package (it is pure: the cloud
// and members' devices both call it); accept a record that does not
// re-encode to exactly its own bytes (every reader sees the same consent);
// believe a signer that is not a current admin or member device of the
// household's chain it is given; log, or put into an error, anything but
// IDs and the rule that failed.
package consent
