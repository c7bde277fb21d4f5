package labelling_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"vigil/internal/blob"
	"vigil/internal/cloud/labelling"
	"vigil/internal/cloud/store/storetest"
	"vigil/internal/keydir"
)

// BenchmarkWorkspaceRequest is what every workspace request costs the
// domain before its own work: the HTTP layer's authentication looks the
// device up (Device) and the route checks the caller's place in the chain
// (Assignments' caller), on a workspace of a lead and 30 annotators.
func BenchmarkWorkspaceRequest(b *testing.B) {
	ctx := context.Background()
	now := time.Now()
	st := storetest.OpenSQLite(b, time.Now)
	blobs, err := blob.OpenDir(filepath.Join(b.TempDir(), "blobs"), blob.DirOptions{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { blobs.Close() })
	svc, err := labelling.New(labelling.Config{Store: st, Blobs: blobs, Access: &recorder{},
		Households: func(context.Context, string) (*keydir.State, error) { return nil, nil }})
	if err != nil {
		b.Fatal(err)
	}
	lead, _ := keydir.NewDeviceKeys()
	genesis, _, ws, _ := keydir.NewHousehold("Labelling", lead, "lead", now)
	if _, err := svc.CreateWorkspace(ctx, "s-admin", genesis); err != nil {
		b.Fatal(err)
	}
	var ann *keydir.DeviceKeys
	for range 30 {
		ann, _ = keydir.NewDeviceKeys()
		link, err := ws.AddDevice(lead, ann.Public(keydir.RoleMember, "annotator"), now)
		if err != nil {
			b.Fatal(err)
		}
		if err := svc.AppendLink(ctx, labelling.Caller{Workspace: ws.HouseholdID, Device: lead.ID()}, link); err != nil {
			b.Fatal(err)
		}
		if err := ws.Apply(link); err != nil {
			b.Fatal(err)
		}
	}
	c := labelling.Caller{Workspace: ws.HouseholdID, Device: ann.ID()}
	b.ResetTimer()
	for range b.N {
		if _, err := svc.Device(ctx, c.Workspace, c.Device); err != nil {
			b.Fatal(err)
		}
		if _, err := svc.Assignments(ctx, c); err != nil {
			b.Fatal(err)
		}
	}
}
