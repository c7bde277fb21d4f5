// Package auth holds the cloud's sign-in primitives: Argon2id password
// hashes, TOTP second factors (RFC 6238), bearer and CSRF tokens, and a
// rate limiter with failure backoff whose buckets are kept by the caller
// (Buckets: the cloud's store, shared by its replicas).
//
// It owns the correctness of those primitives and nothing else: it does not
// know about accounts, HTTP or storage. The cloud's handlers decide what a
// sign-in needs; per G3 that is a passkey, or a password and a second factor.
// An e-mail address is not a credential and nothing here treats it as one:
// where an e-mail appears (as a Limiter key or a TOTP label) it only names
// an account.
//
// What this package must never do:
//
//   - log, print or put into an error a password, TOTP secret or code,
//     bearer token or CSRF token. Errors describe what is wrong with an
//     input (too short, malformed hash), never the input itself;
//   - return a form of a password or bearer token that can be stored in the
//     clear: passwords leave as Argon2id PHC strings, tokens as SHA-256
//     hashes, and the secret half of a token is handed out once;
//   - compare secrets in variable time: password hashes, TOTP codes and
//     tokens are compared with crypto/subtle;
//   - let a stored value dictate unbounded work: Argon2 parameters read
//     from a stored hash are capped before any memory is allocated.
//
// Account recovery is not here. It may restore an account, never the keys
// that decrypt footage (G3); those stay with enrolled devices and the
// household's recovery phrase.
package auth
