// Package householdstest is the conformance suite of households.Store, the
// storage the households domain needs: households with their membership
// chains, the devices the chains name, members, the pairing relay's
// rendezvous, retention settings, and the bytes a household uploaded
// lately. Every implementation (the cloud's store over SQLite and
// PostgreSQL) passes Run; internal/cloud/store runs it over both.
//
// It checks each method's contract as households.Store and store.Store
// state it, the errors it returns, and races between writers (two admins
// appending the same link, two members answering one pairing step: exactly
// one wins), and that a refused CreateHousehold stores nothing of the
// household. It pins down these readings: an expired pairing behaves
// exactly like a missing one (ErrNotFound from Pairing and
// AppendPairingMsg) and its ID can be created again, without its old
// messages; Links, Members and Households answer an unknown household or
// account with an empty result and no error; UploadedSince includes its
// boundary and forgets deleted objects. It leaves open what store.go
// does: the order of Households is not checked, and a CreateHousehold
// whose admin account does not exist may be refused (then atomically) or
// not. Times have microsecond precision.
//
// The EphemeralStore that households.Store shares with other domains
// (signed actions' nonces, invites) is tested by storetest.
//
// It is a test helper: only tests import it (internal/deptest), and it
// fails the test it is given, never the process.
package householdstest
