// Package eventstest is the conformance suite of events.Store, the storage
// the events domain needs: its members' Web Push subscriptions and the
// service's VAPID key. Every implementation (the cloud's store over SQLite
// and PostgreSQL) passes Run; internal/cloud/store runs it over both.
//
// It checks each method's contract as events.Store and store.Store state it:
// the limit of subscriptions per account (a replaced one is not another),
// refusals for an unknown household or account, deletion by the owner or by
// anyone for "", and that racing InitPushVAPIDKey calls all get the one key
// stored. Objects and Member, which events.Store also declares, are the
// objects and households domains' and are tested by their suites.
//
// It is a test helper: only tests import it (internal/deptest), and it
// fails the test it is given, never the process.
package eventstest
