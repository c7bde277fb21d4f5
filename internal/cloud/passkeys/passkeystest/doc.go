// Package passkeystest is the conformance suite of passkeys.Store, the
// storage the passkeys domain needs: accounts (read), their passkeys, and
// the short-lived entries its ceremonies are kept in. Every implementation
// (the cloud's store over SQLite and PostgreSQL) passes Run;
// internal/cloud/store runs it over both.
//
// It checks the passkey methods' contracts as passkeys.Store and
// store.Store state them, the errors they return and that a refused write
// changes nothing. It pins down these readings: passkey IDs are unique
// across accounts; Credentials lists one account's passkeys oldest first,
// and nothing for an account without any; UpdateCredential changes only a
// passkey's record and last use, whatever else it is given; deleting
// another account's passkey is ErrNotFound and leaves it; a deleted
// passkey's ID can be registered again. Account and AccountByEmail are
// accountstest's, and PutIfAbsent and Take, which the EphemeralStore shares
// with other domains, are storetest's. Times have microsecond precision.
//
// It is a test helper: only tests import it (internal/deptest), and it
// fails the test it is given, never the process.
package passkeystest
