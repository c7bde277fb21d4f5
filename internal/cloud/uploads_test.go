package cloud_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"vigil/internal/client"
	"vigil/internal/cloud"
)

// TestRemovedHubLosesAccess: a hub removed from the chain is refused at its
// next request, though its key was cached a moment before; another hub of
// the household goes on uploading.
func TestRemovedHubLosesAccess(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	alice := e.signUp("alice@example.com")
	st := e.household(alice, "Home")
	hub, hubKey := e.addHub(alice, st)
	other, otherKey := e.addHub(alice, st)
	start := e.clock.Now().Add(-time.Minute)
	for i := range 2 {
		if _, _, err := hub.Upload(ctx, seal(t, hubKey, st, "front", uint64(i), start, 1000)); err != nil {
			t.Fatal(err)
		}
	}
	link, err := st.RemoveDevice(alice.keys, hub.DeviceID, e.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := alice.c.AppendLink(ctx, st.HouseholdID, link); err != nil {
		t.Fatal(err)
	}
	if err := st.Apply(link); err != nil {
		t.Fatal(err)
	}
	if _, _, err := hub.Upload(ctx, seal(t, hubKey, st, "front", 2, start, 1000)); !client.IsStatus(err, 401) && !client.IsStatus(err, 403) {
		t.Errorf("upload by the removed hub: %v, want 401 or 403", err)
	}
	if _, _, err := other.Upload(ctx, seal(t, otherKey, st, "back", 0, start, 1000)); err != nil {
		t.Errorf("upload by the hub that stays: %v", err)
	}
}

// TestUploadQuota: uploads past the household's quota push out its oldest
// objects soon after (retention runs apart from the upload), never the one
// just uploaded.
func TestUploadQuota(t *testing.T) {
	e := newEnvWith(t, func(o *cloud.Options) { o.QuotaBytes = 250_000 })
	ctx := context.Background()
	alice := e.signUp("alice@example.com")
	st := e.household(alice, "Home")
	hub, hubKey := e.addHub(alice, st)
	start := e.clock.Now().Add(-time.Hour)
	var keys []string
	for i := range 4 {
		// The last one is the oldest by its time (a hub catching up).
		at := start.Add(time.Duration(i) * time.Minute)
		if i == 3 {
			at = start.Add(-time.Minute)
		}
		key, _, err := hub.Upload(ctx, seal(t, hubKey, st, "front", uint64(i), at, 100_000))
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, key)
	}
	// 4 objects of about 100 KB against 250 KB: the two oldest but the
	// last one go (keys[0], keys[1]); keys[3] was just uploaded.
	want := []string{keys[2], keys[3]}
	deadline := time.Now().Add(15 * time.Second)
	for {
		objs, err := alice.c.Objects(ctx, st.HouseholdID, "front", time.Time{}, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, o := range objs {
			got = append(got, o.Key)
		}
		slices.Sort(got)
		w := slices.Sorted(slices.Values(want))
		if slices.Equal(got, w) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("objects %v, want %v", got, w)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
