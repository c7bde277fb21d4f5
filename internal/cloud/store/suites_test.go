package store_test

import (
	"testing"

	"vigil/internal/cloud/accounts"
	"vigil/internal/cloud/accounts/accountstest"
	"vigil/internal/cloud/events/eventstest"
	"vigil/internal/cloud/households/householdstest"
	"vigil/internal/cloud/hubhealth/hubhealthtest"
	"vigil/internal/cloud/labelling/labellingtest"
	"vigil/internal/cloud/objects/objectstest"
	"vigil/internal/cloud/passkeys/passkeystest"
	"vigil/internal/cloud/retention/retentiontest"
	"vigil/internal/cloud/shares/sharestest"
	"vigil/internal/cloud/staff/stafftest"
	"vigil/internal/cloud/store"
	"vigil/internal/cloud/store/storetest"
)

// suiteStore is what a store must be for every suite: both stores are.
type suiteStore interface {
	store.Store
	accounts.Store
	householdstest.Store
	objectstest.Store
	eventstest.Store
	sharestest.Store
	retentiontest.Store
	passkeystest.Store
	stafftest.Store
	hubhealthtest.Store
	labellingtest.Store
}

var (
	_ suiteStore = (*store.SQLite)(nil)
	_ suiteStore = (*store.Postgres)(nil)
)

// runSuites runs every conformance suite of the store, each subtest on a
// new store: the domains' over their Store interfaces, with stores from
// open closed when the subtest ends (those interfaces have no Close), and
// storetest's over the whole Store, with stores from openOwn (storetest
// closes them itself).
func runSuites(t *testing.T, open func(t *testing.T) suiteStore, openOwn func(t *testing.T) store.Store) {
	accountstest.Run(t, func(t *testing.T) accounts.Store { return open(t) })
	householdstest.Run(t, func(t *testing.T) householdstest.Store { return open(t) })
	objectstest.Run(t, func(t *testing.T) objectstest.Store { return open(t) })
	eventstest.Run(t, func(t *testing.T) eventstest.Store { return open(t) })
	sharestest.Run(t, func(t *testing.T) sharestest.Store { return open(t) })
	retentiontest.Run(t, func(t *testing.T) retentiontest.Store { return open(t) })
	passkeystest.Run(t, func(t *testing.T) passkeystest.Store { return open(t) })
	stafftest.Run(t, func(t *testing.T) stafftest.Store { return open(t) })
	hubhealthtest.Run(t, func(t *testing.T) hubhealthtest.Store { return open(t) })
	labellingtest.Run(t, func(t *testing.T) labellingtest.Store { return open(t) })
	storetest.Run(t, openOwn)
}
