// Package sharestest is the conformance suite of shares.Store, the storage
// the shares domain needs: the shares themselves (store.ShareStore). Every
// implementation (the cloud's store over SQLite and PostgreSQL) passes Run;
// internal/cloud/store runs it over both.
//
// It checks each method's contract as store.ShareStore states it: refusals
// for a taken ID and for an unknown household, creator or guest; listings
// newest first, without manifests, one household's or one guest's only;
// revocation only within the household, keeping the first time; revoked
// shares still listed. Cameras, Object, Account and AccountByEmail, which
// shares.Store also declares, are other domains' and are tested by their
// suites.
//
// It is a test helper: only tests import it (internal/deptest), and it
// fails the test it is given, never the process.
package sharestest
