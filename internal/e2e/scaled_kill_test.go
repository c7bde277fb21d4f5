package e2e

import (
	"bytes"
	"context"
	"os"
	"slices"
	"testing"
	"time"

	"vigil/internal/cloudtest"
	"vigil/internal/segstore"
)

// TestCloudReplicaKilled: a replica killed with SIGKILL while a hub
// uploads (embedded: the only process, so for a while nothing answers;
// scaled: one of three, the proxy sends the hub to the others) and
// restarted loses nothing: once the hub has caught up, every segment it
// recorded before the last one the cloud holds is in the cloud, each
// exactly once, byte for byte what the hub sealed.
func TestCloudReplicaKilled(t *testing.T) {
	for _, cfg := range cloudtest.Both() {
		t.Run(cfg.Name(), func(t *testing.T) {
			c := cloudtest.Start(t, cfg)
			hh := newHousehold(t, &cloudEnv{url: c.URL}, householdOptions{SegmentDuration: time.Second})
			before := len(hh.waitSegments(t, hh.Camera, 2, 2*time.Minute))
			victim := c.Replicas[len(c.Replicas)-1]
			victim.Kill(t)
			time.Sleep(3 * time.Second) // the hub records on, uploading to the others or queueing
			victim.Start(t)
			hh.waitSegments(t, hh.Camera, before+5, 2*time.Minute)
			if err := hh.Hub.Close(); err != nil {
				t.Fatal(err)
			}
			checkCloudHasHubSegments(t, hh)
		})
	}
}

// checkCloudHasHubSegments compares the cloud's listing with the (closed)
// hub's store: no segment twice, none the hub does not have, none missing
// before the newest the cloud holds, each the same bytes.
func checkCloudHasHubSegments(t *testing.T, hh *testHousehold) {
	t.Helper()
	ctx := context.Background()
	objs, err := hh.Owner.API.Objects(ctx, hh.ID, hh.Camera, time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	local, err := segstore.OpenReadOnly(ctx, hh.HubDir, segstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer local.Close()
	segs, err := local.List(ctx, segstore.Filter{Camera: hh.Camera})
	if err != nil {
		t.Fatal(err)
	}
	byseq := map[uint64]segstore.Segment{}
	for _, s := range segs {
		byseq[s.Seq] = s
	}
	inCloud := map[uint64]int{}
	var newest uint64
	for _, o := range objs {
		inCloud[o.Seq]++
		newest = max(newest, o.Seq)
		s, ok := byseq[o.Seq]
		if !ok {
			t.Errorf("the cloud holds segment %d, which the hub does not have", o.Seq)
			continue
		}
		got, err := hh.Owner.API.ReadObject(ctx, hh.ID, o.Key, 64<<20)
		if err != nil {
			t.Errorf("reading segment %d: %v", o.Seq, err)
			continue
		}
		want, err := os.ReadFile(s.Path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("segment %d: the cloud's copy (%d bytes) is not what the hub sealed (%d bytes)", o.Seq, len(got), len(want))
		}
	}
	var missing []uint64
	for _, s := range segs {
		switch n := inCloud[s.Seq]; {
		case n > 1:
			t.Errorf("segment %d is in the cloud %d times", s.Seq, n)
		case n == 0 && s.Seq < newest:
			missing = append(missing, s.Seq)
		}
	}
	slices.Sort(missing)
	if len(missing) > 0 {
		t.Errorf("segments %v, recorded before segment %d that the cloud holds, never reached it", missing, newest)
	}
	t.Logf("the hub recorded %d segments; the cloud holds %d (up to %d), each once and intact", len(segs), len(objs), newest)
}
