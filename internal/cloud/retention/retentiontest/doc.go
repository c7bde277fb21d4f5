// Package retentiontest is the conformance suite of retention.Index, the
// storage retention needs: the object index read oldest first. Every
// implementation (the cloud's store over SQLite and PostgreSQL) passes Run;
// internal/cloud/store runs it over both.
//
// It checks OldestObjects: objects ordered by the end of their time range,
// at most n of them, none for n = 0 or for an unknown household. Usage and
// DeleteObject are checked with Cameras (the objects domain's) by
// storetest, which holds the tests that span domains; Retention with
// SetRetention by householdstest (the households domain writes the
// settings); HouseholdIDs by internal/cloud/store's own tests.
//
// It is a test helper: only tests import it (internal/deptest), and it
// fails the test it is given, never the process.
package retentiontest
