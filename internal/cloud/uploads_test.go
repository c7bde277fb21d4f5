package cloud_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"vigil/internal/client"
	"vigil/internal/cloud"
	"vigil/internal/devauth"
	"vigil/internal/envelope"
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

// BenchmarkUploadHandler is the server's side of one upload of a 128 KiB sealed
// segment: the handler from the signed request to the answer, with the
// SQLite store and the blob directory on disk. Sealing and signing (the
// hub's work) happen with the timer stopped, a batch at a time.
func BenchmarkUploadHandler(b *testing.B) {
	e := newEnv(b)
	alice := e.signUp("alice@example.com")
	st := e.household(alice, "Home")
	hub, hubKey := e.addHub(alice, st)
	h := e.srv.Handler()
	plain := make([]byte, 128<<10)
	start := e.clock.Now().Add(-time.Hour)
	const batch = 64
	reqs := make([]*http.Request, 0, batch)
	bodies := make([][]byte, 0, batch)
	seq := uint64(0)
	b.SetBytes(int64(len(plain)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if len(reqs) == 0 {
			b.StopTimer()
			for range batch {
				at := start.Add(time.Duration(seq) * 4 * time.Second)
				sealed, err := envelope.Seal(envelope.Header{Kind: envelope.KindSegment, Stream: "front", Sequence: seq, Start: at, Epoch: uint32(st.Epoch)},
					at.Add(4*time.Second), hubKey, plain, st.EpochRecipient())
				if err != nil {
					b.Fatal(err)
				}
				seq++
				r := httptest.NewRequest("PUT", "http://vigil.test/v1/objects", bytes.NewReader(sealed))
				if err := devauth.Sign(r, sealed, hub.DeviceID, hubKey, e.clock.Now()); err != nil {
					b.Fatal(err)
				}
				reqs, bodies = append(reqs, r), append(bodies, sealed)
			}
			b.StartTimer()
		}
		r := reqs[0]
		reqs, bodies = reqs[1:], bodies[1:]
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != http.StatusCreated {
			b.Fatalf("upload: %d %s", w.Code, w.Body)
		}
	}
}
