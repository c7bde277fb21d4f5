// Package objectstest is the conformance suite of objects.Store, the
// storage the objects domain needs: the index of a household's sealed
// objects. Every implementation (the cloud's store over SQLite and
// PostgreSQL) passes Run; internal/cloud/store runs it over both.
//
// It checks each method's contract as objects.Store and store.Store state
// it: the same object indexed again is not created twice, even by racing
// writers, and other bytes under a taken key are a conflict that changes
// nothing; Objects filters by camera, kind and time range, orders by
// camera, start and key, and limits. It pins down these readings: Object.Seq
// keeps the full uint64 range; an unknown household has no objects, and no
// error. Times have microsecond precision. Cameras is checked with Usage and
// DeleteObject (retention's) by storetest.
//
// It is a test helper: only tests import it (internal/deptest), and it
// fails the test it is given, never the process.
package objectstest
