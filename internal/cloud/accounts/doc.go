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
// authenticator code, a token secret or the device-cookie key anywhere but
// to the one caller who gets a new secret (tokens are stored as SHA-256 hashes, passwords as
// Argon2id hashes).
//
// Sign-in limits that an outsider cannot turn against the owner. Every
// entry point that takes a credential is limited per client address
// (LimitIP: a token bucket, and a backoff after repeated failures), which
// slows one guesser but not a botnet. Guessing is also limited per
// account, and that limit is where a naive scheme hands outsiders a
// weapon: when every failure for an e-mail address counts against the
// account, anyone who knows the address can keep its owner out by failing
// on purpose. So the per-account limit follows OWASP's device cookies
// ("Slow Down Online Guessing Attacks with Device Cookies"):
//
//   - Every sign-in (password and code, passkey, sign-in link) gives the
//     client a device cookie (devicecookie.go): a random nonce and an
//     expiry, bound to the account by an HMAC under a key every replica
//     shares (kept in the Store). It is not a credential: it only says
//     "this client signed in to this account before".
//   - A sign-in attempt that presents a valid device cookie for the
//     account is counted in that cookie's own bucket (the account ID and
//     the cookie's nonce); every other attempt (no cookie, a cookie of
//     another account, a changed or expired one, one under another key) is
//     counted in the account's one bucket of untrusted clients.
//   - Each bucket gives AccountFreeFailures failures, then backs off (1 s,
//     doubling up to 15 min, forgotten a day after the last attempt): while
//     the untrusted bucket is locked, untrusted clients are refused
//     (Limited, with a RetryAfter) and clients with a valid device cookie
//     are not; a device cookie that fails too often is locked out itself.
//   - A success ends the backoff of the bucket it was counted in, and of
//     that bucket only: the owner signing in from a trusted browser does
//     not reopen guessing for the locked-out outsiders.
//
// What an outsider can still do: lock out untrusted clients (a new
// browser, a cleared cookie jar) for up to 15 minutes at a time, which the
// owner meets only where they never signed in before, and which every
// passkey or trusted browser skips. What a thief of a device cookie gets:
// its own bucket of guesses, no more than an untrusted client gets (the
// password and the second factor are still needed). Password resets take
// a mailed token and are limited per account in a bucket of their own, so
// that failed sign-ins do not block the reset either.
//
// Passkeys (WebAuthn) are the passkeys package's (the WebAuthn library
// links net/http): it proves the account, and the HTTP layer issues the
// session with Service.Issue, counts a refused answer with FailedIP and
// checks what the sign-in asks for with CheckTokenType, so a passkey
// sign-in gets its session exactly as every other sign-in does.
package accounts
