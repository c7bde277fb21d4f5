package labelling_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"vigil/internal/blob"
	"vigil/internal/cloud/labelling"
	"vigil/internal/cloud/store"
	"vigil/internal/cloud/store/storetest"
	"vigil/internal/consent"
	"vigil/internal/keydir"
)

type recorder struct {
	mu sync.Mutex
	as []store.Access
}

func (r *recorder) Record(_ context.Context, a store.Access) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.as = append(r.as, a)
	return nil
}

func (r *recorder) count(action string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, a := range r.as {
		if a.Action == action {
			n++
		}
	}
	return n
}

// TestSweepBatches: the expiry sweep ends every due donation, more than
// one batch of them, erases their clips, records each end in the donor's
// history, and leaves the donations not yet due alone.
func TestSweepBatches(t *testing.T) {
	ctx := t.Context()
	now := time.Date(2027, 1, 1, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	st := storetest.OpenSQLite(t, clock)
	blobs, err := blob.OpenDir(filepath.Join(t.TempDir(), "blobs"), blob.DirOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { blobs.Close() })

	donor, _ := keydir.NewDeviceKeys()
	genesis, _, hh, err := keydir.NewHousehold("Home", donor, "laptop", now)
	if err != nil {
		t.Fatal(err)
	}
	storetest.MkAccount(t, st, "alice")
	if err := st.CreateHousehold(ctx, store.Household{ID: hh.HouseholdID, Name: "Home", GenesisHash: hh.GenesisHash, Created: now},
		store.Member{HouseholdID: hh.HouseholdID, AccountID: "alice", Role: store.RoleAdmin, Created: now},
		store.Link{HouseholdID: hh.HouseholdID, Seq: 0, Hash: keydir.LinkHash(genesis), Data: genesis, Created: now}); err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	svc, err := labelling.New(labelling.Config{Store: st, Blobs: blobs, Access: rec, Now: clock,
		Households: func(context.Context, string) (*keydir.State, error) { return hh, nil }})
	if err != nil {
		t.Fatal(err)
	}
	lead, _ := keydir.NewDeviceKeys()
	wsGenesis, _, ws, _ := keydir.NewHousehold("Labelling", lead, "lead", now)
	if _, err := svc.CreateWorkspace(ctx, "s-admin", wsGenesis); err != nil {
		t.Fatal(err)
	}

	const due = labelling.SweepBatch + 3
	for i := range due + 2 {
		sealed := make([]byte, 2000)
		rand.Read(sealed)
		life := time.Hour
		if i >= due {
			life = 48 * time.Hour // not due
		}
		c := consent.Consent{V: 1, ID: consent.NewID(), Household: hh.HouseholdID, Device: donor.ID(), Workspace: ws.HouseholdID,
			Purpose: consent.PurposePersonDetection, Camera: consent.CameraDigest("front"), From: now.Add(-time.Hour), To: now.Add(-time.Minute),
			Object: sha256.Sum256(sealed), Created: now, Expires: now.Add(life)}
		s, err := consent.Sign(donor, c)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := svc.Donate(ctx, labelling.Donor{Household: hh.HouseholdID, Account: "alice"}, s.String(), bytes.NewReader(sealed), int64(len(sealed))); err != nil {
			t.Fatalf("donation %d: %v", i, err)
		}
	}
	if n, err := svc.Sweep(ctx); err != nil || n != 0 {
		t.Fatalf("sweep before expiry: %d %v", n, err)
	}
	now = now.Add(2 * time.Hour)
	n, err := svc.Sweep(ctx)
	if err != nil || n != due {
		t.Fatalf("sweep: %d %v, want %d", n, err, due)
	}
	if got := rec.count(labelling.ActionExpire); got != due {
		t.Errorf("%d expiries recorded, want %d", got, due)
	}
	keys, err := blobs.List(ctx, "labelling/")
	if err != nil || len(keys) != 2 {
		t.Errorf("clips left: %d (%v), want the 2 not due", len(keys), err)
	}
	ds, _ := st.Donations(ctx, store.DonationFilter{HouseholdID: hh.HouseholdID})
	expired := 0
	for _, d := range ds {
		if d.State == store.DonationExpired {
			expired++
		}
	}
	if expired != due {
		t.Errorf("%d donations expired, want %d", expired, due)
	}
	if n, err := svc.Sweep(ctx); err != nil || n != 0 {
		t.Errorf("sweep again: %d %v", n, err)
	}
}
