// Package labellingtest is the conformance suite of labelling.Store, the
// storage of labelling workspaces (store.LabellingStore). Every
// implementation (the cloud's store over SQLite and PostgreSQL) passes Run;
// internal/cloud/store runs it over both.
//
// It checks each method's contract as store.LabellingStore states it:
// workspaces and their chain links (a link out of turn is a conflict);
// donations refused for a taken ID or an unknown workspace or household;
// the state machine (assign, annotate by the assignee only and in version
// order, review, no change to an ended donation); dataset versions of the
// accepted donations with their lineage; ending a donation deletes its
// annotations' rows, clears its consent, returns every blob key to delete
// and marks the dataset versions and evaluations that held it, while their
// item lists stay as they were.
//
// It is a test helper: only tests import it (internal/deptest), and it
// fails the test it is given, never the process.
package labellingtest
