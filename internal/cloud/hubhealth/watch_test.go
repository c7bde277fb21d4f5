package hubhealth_test

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"vigil/internal/cloud/hubhealth"
	"vigil/internal/cloud/store"
	"vigil/internal/cloud/store/storetest"
	"vigil/internal/vigiltest"
)

// TestWatcher: two watchers over one store (two replicas) tell each change
// once between them — a hub gone quiet, then back — and nothing while a
// hub keeps reporting or stays quiet; a hub no longer in its household's
// chain is marked but its household is not told; a failing IsHub tells
// nothing until it answers again; Close waits for the goroutine
// and a second Close is harmless.
func TestWatcher(t *testing.T) {
	st, err := store.OpenSQLite(t.Context(), filepath.Join(t.TempDir(), "cloud.db"), store.SQLiteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	storetest.MkHousehold(t, st, "h1", "a1")
	clk := vigiltest.NewClock(time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC))
	svc, err := hubhealth.New(hubhealth.Config{Store: st, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	report := func(hub string) {
		t.Helper()
		now := clk.Now()
		if _, err := svc.Report(t.Context(), store.HubReport{HouseholdID: "h1", HubID: hub, Version: "v1", Started: now.Add(-time.Hour),
			Sent: now, Cameras: 1, Recording: 1}); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	var told []hubhealth.Change
	var broken bool
	watcher := func() *hubhealth.Watcher {
		w, err := hubhealth.NewWatcher(hubhealth.WatchConfig{Store: st, Now: clk.Now, Every: -1, QuietAfter: 10 * time.Minute,
			Logger: vigiltest.Logger(t),
			IsHub: func(_ context.Context, hh, hub string) (bool, error) {
				mu.Lock()
				defer mu.Unlock()
				if broken {
					return false, errors.New("chain unavailable")
				}
				return hub != "hub-removed", nil
			},
			Tell: func(_ context.Context, c hubhealth.Change) {
				mu.Lock()
				told = append(told, c)
				mu.Unlock()
			}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { w.Close() })
		return w
	}
	a, b := watcher(), watcher()
	sweep := func(what string, want ...hubhealth.Change) {
		t.Helper()
		mu.Lock()
		told = nil
		mu.Unlock()
		for _, w := range []*hubhealth.Watcher{a, b, a, b} {
			if _, err := w.Sweep(t.Context()); err != nil {
				t.Fatalf("%s: %v", what, err)
			}
		}
		mu.Lock()
		defer mu.Unlock()
		if len(told) != len(want) {
			t.Fatalf("%s: told %+v, want %+v", what, told, want)
		}
		for i := range want {
			if told[i].HouseholdID != want[i].HouseholdID || told[i].HubID != want[i].HubID || !told[i].LastContact.Equal(want[i].LastContact) || !told[i].Back.Equal(want[i].Back) {
				t.Errorf("%s: told %+v, want %+v", what, told[i], want[i])
			}
		}
	}

	first := clk.Now()
	report("hub-a")
	report("hub-removed")
	clk.Add(10*time.Minute - time.Second)
	report("hub-b") // keeps reporting
	sweep("before the quiet time")
	clk.Add(2 * time.Second)
	sweep("hub-a quiet", hubhealth.Change{HouseholdID: "h1", HubID: "hub-a", LastContact: first})
	clk.Add(time.Hour)
	report("hub-b")
	sweep("an hour into the outage")
	back := clk.Now()
	report("hub-a")
	sweep("hub-a back", hubhealth.Change{HouseholdID: "h1", HubID: "hub-a", LastContact: first, Back: back})
	sweep("hub-a reporting")

	// A failing chain check tells nothing and leaves the change for the
	// next look.
	clk.Add(11 * time.Minute)
	report("hub-b")
	mu.Lock()
	broken = true
	mu.Unlock()
	sweep("hub-a quiet again, the chain unavailable")
	mu.Lock()
	broken = false
	mu.Unlock()
	sweep("after the chain is back", hubhealth.Change{HouseholdID: "h1", HubID: "hub-a", LastContact: back})

	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := hubhealth.NewWatcher(hubhealth.WatchConfig{Store: st}); err == nil {
		t.Error("a watcher without Tell was made")
	}
}
