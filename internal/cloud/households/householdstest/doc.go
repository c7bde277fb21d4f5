// Package householdstest is the conformance suite of households.Store, the
// storage the households domain needs: households with their membership
// chains, members, the pairing relay's rendezvous, and the bytes a household
// uploaded lately. Every implementation (the cloud's store over SQLite and
// PostgreSQL) passes Run; internal/cloud/store runs it over both.
//
// It checks each method's contract as households.Store and store.Store
// state it, the errors it returns, and races between writers (two admins
// appending the same link, two members answering one pairing step: exactly
// one wins). It pins down these readings: an expired pairing behaves
// exactly like a missing one (ErrNotFound from Pairing and
// AppendPairingMsg) and its ID can be created again, without its old
// messages; Links and Members answer an unknown household with an empty
// result and no error; UploadedSince includes its boundary and forgets
// deleted objects. Times have microsecond precision.
//
// What households.Store leaves to store.Store is tested by storetest:
// CreateHousehold's atomicity as Households sees it, Devices, DeletePairing,
// Retention and the EphemeralStore.
//
// It is a test helper: only tests import it (internal/deptest), and it
// fails the test it is given, never the process.
package householdstest
