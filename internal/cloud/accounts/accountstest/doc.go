// Package accountstest is the conformance suite of accounts.Store, the
// storage the accounts domain needs: accounts, found by ID or by e-mail, and
// the sessions and API tokens they sign in with. Every implementation (the
// cloud's store over SQLite and PostgreSQL) passes Run; internal/cloud/store
// runs it over both.
//
// It checks each method's contract as accounts.Store and store.Store state
// it, the errors it returns and that a refused write changes nothing. It
// pins down these readings: the store compares e-mail addresses exactly
// (the caller normalises them); UpdateAccount never changes the e-mail;
// expired tokens behave exactly like missing ones (ErrNotFound from Token),
// also after later writes; DeleteTokens removes one account's tokens of one
// kind, or of every kind for "", and no one else's. The EphemeralStore that
// accounts.Store embeds is shared by several domains; its suite is
// storetest's. Times have microsecond precision.
//
// It is a test helper: only tests import it (internal/deptest), and it
// fails the test it is given, never the process.
package accountstest
