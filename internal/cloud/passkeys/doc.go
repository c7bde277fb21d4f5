// Package passkeys is the cloud's passkeys (WebAuthn) domain: the relying
// party a deployment's configuration makes, the passkeys accounts register,
// and the ceremonies that register them and sign in with them.
//
// A signed-in account adds passkeys; a passkey then signs in on its own —
// possession of the authenticator plus its user verification are two
// factors (G3) — without the password or TOTP. Sign-up stays password +
// TOTP (the accounts package), so every account keeps a way in that does
// not depend on one device. Registration asks for a discoverable credential
// (resident key), so sign-in needs no e-mail address. One may be given: it
// restricts the ceremony to that account's passkeys, but the options never
// list credentials, so the answer is the same for an address with an
// account, one without, and no address at all; a ceremony begun for an
// unknown address fails at finish exactly like a known address with
// someone else's passkey.
//
// What it owns: whether an authenticator's answer proves an account. Service
// is its one entry: BeginRegistration and FinishRegistration add a passkey,
// List and Delete manage them, BeginLogin and FinishLogin check a sign-in
// and return the account it proved. A ceremony in progress is kept in the
// Store's short-lived entries, usable once, so a ceremony begun on one
// replica finishes on any. Its refusals are *Error values with a Kind the
// HTTP layer maps to a status; their messages are written for the person
// who made the request.
//
// Staff passkeys (staff.go) are the same relying party's, in a table of
// their own (StaffStore), with ceremonies marked as staff ones: an
// account's passkey or ceremony never signs staff in, nor the reverse. The
// HTTP layer proves who enrols (the staff domain's enrolment secret) and
// has the staff domain issue the session.
//
// Store is the storage it needs; the conformance suite of its contract is
// passkeystest, which internal/cloud/store runs over SQLite and over
// PostgreSQL.
//
// What it must never do: issue a session or a token (FinishLogin returns
// the account and the sign-in's requested grant; the accounts package
// issues the session, as for every other sign-in), import the cloud package
// or serve HTTP (the HTTP layer reads bodies with their limits, applies
// the per-address limits, sets cookies and maps errors; this package takes
// the browser's answer as bytes and returns the options as JSON), see
// household data, or log a challenge's answer or a credential record.
//
// It links net/http, and that is the one exception to the rule that
// domains do not (internal/deptest). go-webauthn's protocol package — the
// one that parses and verifies a browser's answer, which this package
// exists to do — imports net/http itself (parsers taking an
// *http.Request, a related-origins handler, and the metadata and
// revocation fetchers behind attestation checks). Keeping the library out
// of this package would leave it nothing to own: the HTTP layer would
// parse and verify, and this package would only store bytes it cannot
// check. So the library's checks are here, and the exception allows
// net/http only through the library: this package's own imports never
// include it.
package passkeys
