// Package stafftest is the conformance suite of staff.Store, the storage
// the staff domain needs: staff identities, their sessions, the
// households' support codes, lockbox requests, tickets and their notes,
// the operations counts, and the staff passkeys
// the passkeys domain keeps. Every implementation (the cloud's store over
// SQLite and PostgreSQL) passes Run; internal/cloud/store runs it over
// both.
//
// It pins down these readings: staff IDs and names are unique; StaffList
// is oldest first; disabling keeps the first time and removes the
// identity's sessions; a session of an unknown identity is ErrNotFound,
// and StaffToken returns an expired session (the domain decides); a
// household keeps its first support code, a code belongs to one household
// only, and a household's deletion frees neither's row for another;
// tickets list newest first, change state only from the state named (one
// of two racing changes wins) and keep their notes oldest first; the
// operations counts are across households (hubs only, not clients; uploads
// from the time given; staff not disabled); PutIfAbsent and Take are
// storetest's. Times have microsecond precision.
//
// It is a test helper: only tests import it (internal/deptest), and it
// fails the test it is given, never the process.
package stafftest
