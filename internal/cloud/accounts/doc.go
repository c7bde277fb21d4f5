// Package accounts is the cloud's accounts domain: account identities (an
// e-mail address and an ID), their credentials (Argon2id password hashes,
// TOTP second factors with replay protection, password resets by e-mail,
// one-time sign-in links), the sessions and API tokens they are signed in
// with, and the rate limits of the entry points that take credentials.
//
// What it owns: whether a caller proved who it is. Service is its one
// entry: sign-up, sign-in, reset, sign-out, sign-in links, authenticating
// a bearer secret, binding a session to a device. Its state is in a Store
// (the subset of the cloud's store.Store it needs), including the
// short-lived state every replica shares (limiter buckets, the last TOTP
// step used, sign-in links), so any replica can take the next request. Its
// refusals are *Error values with a Kind the HTTP layer maps to a status;
// their messages are written for the person who made the request. Every
// implementation of Store passes accountstest.Run, its conformance suite.
//
// What it must never do: import net/http or the cloud package (the HTTP
// layer parses requests, sets cookies and maps errors; this package takes
// and returns values), see household data (members, chains, objects,
// shares: an account is who someone is, not what they may read), treat an
// e-mail address as a credential (G3: a reset needs the second factor and
// restores sign-in, never keys), or log, store or return a password, an
// authenticator code or a token secret anywhere but to the one caller who
// gets a new secret (tokens are stored as SHA-256 hashes, passwords as
// Argon2id hashes).
//
// Passkeys (WebAuthn) are the passkeys package's (the WebAuthn library
// links net/http): it proves the account, and the HTTP layer issues the
// session with Service.Issue, counts a refused answer with FailedIP and
// checks what the sign-in asks for with CheckTokenType, so a passkey
// sign-in gets its session exactly as every other sign-in does.
package accounts
