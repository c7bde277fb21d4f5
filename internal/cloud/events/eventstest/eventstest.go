package eventstest

import (
	"errors"
	"sync"
	"testing"
	"time"

	"vigil/internal/cloud/events"
	"vigil/internal/cloud/store"
	"vigil/internal/cloud/store/storetest"
)

// Store is what the suite needs: the events domain's Store, and the
// storetest.Fixtures that make the households and accounts subscriptions
// belong to.
type Store interface {
	events.Store
	storetest.Fixtures
}

// Run runs the suite. newStore returns a new, empty store for each subtest and
// closes it when the subtest ends (t.Cleanup). Subtests do not run in
// parallel.
func Run(t *testing.T, newStore func(t *testing.T) Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s Store)
	}{
		{"PushSubs", testPushSubs},
		{"PushVAPIDKey", testPushVAPIDKey},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, newStore(t)) })
	}
}

func pushSub(hh, account, endpoint string, created time.Duration) store.PushSub {
	return store.PushSub{HouseholdID: hh, AccountID: account, Endpoint: endpoint, P256dh: "p256dh of " + endpoint,
		Auth: "auth of " + endpoint, Created: storetest.At(created)}
}

func testPushSubs(t *testing.T, s Store) {
	ctx := t.Context()
	storetest.MkHousehold(t, s, "hh-1", "alice")
	storetest.MkHousehold(t, s, "hh-2", "bob")

	a1 := pushSub("hh-1", "alice", "https://push.example/a1", time.Minute)
	a1.Created = a1.Created.In(storetest.Elsewhere)
	storetest.OK(t, s.PutPushSub(ctx, a1, 2), "PutPushSub")
	storetest.OK(t, s.PutPushSub(ctx, pushSub("hh-1", "alice", "https://push.example/a2", 2*time.Minute), 2), "PutPushSub second")
	if err := s.PutPushSub(ctx, pushSub("hh-1", "alice", "https://push.example/a3", 3*time.Minute), 2); !errors.Is(err, store.ErrConflict) {
		t.Errorf("a third subscription with max 2: %v, want ErrConflict", err)
	}
	// Replacing one of the two is not a third.
	a1b := pushSub("hh-1", "alice", "https://push.example/a1", 4*time.Minute)
	a1b.Auth = "new auth"
	storetest.OK(t, s.PutPushSub(ctx, a1b, 2), "PutPushSub replacing")
	storetest.OK(t, s.PutPushSub(ctx, pushSub("hh-2", "bob", "https://push.example/a1", time.Minute), 0), "same endpoint, other household")
	for what, sub := range map[string]store.PushSub{
		"unknown household": pushSub("hh-none", "alice", "https://push.example/x", 0),
		"unknown account":   pushSub("hh-1", "nobody", "https://push.example/x", 0),
	} {
		if err := s.PutPushSub(ctx, sub, 0); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("subscription with an %s: %v, want ErrNotFound", what, err)
		}
	}

	got, err := s.PushSubs(ctx, "hh-1")
	storetest.OK(t, err, "PushSubs")
	storetest.Same(t, "hh-1 subscriptions", got, []store.PushSub{pushSub("hh-1", "alice", "https://push.example/a2", 2*time.Minute), a1b})
	got, err = s.PushSubs(ctx, "hh-none")
	storetest.OK(t, err, "PushSubs of an unknown household")
	storetest.Same(t, "unknown household's subscriptions", len(got), 0)

	if err := s.DeletePushSub(ctx, "hh-1", "bob", "https://push.example/a1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("deleting another account's subscription: %v, want ErrNotFound", err)
	}
	storetest.OK(t, s.DeletePushSub(ctx, "hh-1", "alice", "https://push.example/a1"), "DeletePushSub")
	storetest.OK(t, s.DeletePushSub(ctx, "hh-1", "", "https://push.example/a2"), "DeletePushSub any account")
	if err := s.DeletePushSub(ctx, "hh-1", "", "https://push.example/a2"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("deleting twice: %v, want ErrNotFound", err)
	}
	got, err = s.PushSubs(ctx, "hh-2")
	storetest.OK(t, err, "PushSubs")
	storetest.Same(t, "hh-2 keeps its subscription", len(got), 1)
}

func testPushVAPIDKey(t *testing.T, s Store) {
	ctx := t.Context()
	if _, err := s.PushVAPIDKey(ctx); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("VAPID key before any: %v, want ErrNotFound", err)
	}
	var wg sync.WaitGroup
	got := make([]string, storetest.Racers)
	for i := range storetest.Racers {
		wg.Go(func() {
			k, err := s.InitPushVAPIDKey(ctx, string(rune('a'+i)))
			if err != nil {
				t.Errorf("InitPushVAPIDKey: %v", err)
			}
			got[i] = k
		})
	}
	wg.Wait()
	for _, k := range got {
		if k != got[0] {
			t.Fatalf("racing InitPushVAPIDKey returned different keys: %q", got)
		}
	}
	k, err := s.PushVAPIDKey(ctx)
	storetest.OK(t, err, "PushVAPIDKey")
	storetest.Same(t, "stored VAPID key", k, got[0])
}
