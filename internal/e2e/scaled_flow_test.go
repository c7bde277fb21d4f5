package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"vigil/internal/cloudtest"
	"vigil/internal/config"
	"vigil/internal/envelope"
	"vigil/internal/hubd"
	"vigil/internal/member"
	"vigil/internal/recordings"
	"vigil/internal/segstore"
	"vigil/internal/softcam"
	"vigil/internal/vigiltest"
)

// segmentList serves a fixed list of segments to recordings.ExportFile.
type segmentList []segstore.Segment

func (l segmentList) List(context.Context, segstore.Filter) ([]segstore.Segment, error) {
	return l, nil
}

// TestCloudConfigurations runs the cloud's first flow on both of its
// configurations (internal/cloudtest): embedded (one 'vigil cloud' on
// SQLite and a directory) and scaled (3 replicas on PostgreSQL and S3
// behind a round-robin proxy). Through the public URL: sign up, create a
// household, pair a hub (the real pairing protocol), the hub records a
// software camera and uploads; the listing holds each segment once; the
// admin device downloads them, verifies the chain and exports an MP4 that
// ffprobe reads and that is byte for byte the hub's own export of the same
// range. Then the insider scan: every file of the data directory, every
// cell of every table of the database (SQLite or PostgreSQL) and every
// object of the bucket hold no media, no footage and no key in the clear.
func TestCloudConfigurations(t *testing.T) {
	for _, cfg := range cloudtest.Both() {
		t.Run(cfg.Name(), func(t *testing.T) {
			cloudFlow(t, cloudtest.Start(t, cfg))
		})
	}
}

func cloudFlow(t *testing.T, c *cloudtest.Cloud) {
	ctx := context.Background()
	env := &cloudEnv{url: c.URL}
	hh := newHousehold(t, env, householdOptions{NoHub: true})
	// Pairing polls until the admin device has added the hub (401 until
	// then); from here on nothing is refused.
	vigiltest.RequireTool(t, "ffmpeg", "ffmpeg")
	hh.HubDir = t.TempDir()
	hh.pairHub(t)
	paired := len(c.Proxy.Faults())
	startHub(t, hh, 2*time.Second)
	hh.waitSegments(t, hh.Camera, 3, 2*time.Minute)
	if err := hh.Hub.Close(); err != nil { // what is queued now stays on the hub
		t.Fatal(err)
	}
	objs, err := hh.Owner.API.Objects(ctx, hh.ID, hh.Camera, time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[uint64]string{}
	for _, o := range objs {
		if k, dup := seen[o.Seq]; dup {
			t.Errorf("segment %d of %s is listed twice: %s and %s", o.Seq, hh.Camera, k, o.Key)
		}
		seen[o.Seq] = o.Key
	}

	// The admin device's export from the cloud.
	st, err := member.VerifiedChain(ctx, hh.Owner.API, hh.ID, hh.Genesis)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := st.EpochIdentities(hh.Admin)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	var segs segmentList
	from, to := objs[0].Start, objs[0].End
	for i, o := range objs {
		b, err := hh.Owner.API.ReadObject(ctx, hh.ID, o.Key, 64<<20)
		if err != nil {
			t.Fatalf("reading %s: %v", o.Key, err)
		}
		p := filepath.Join(dir, strconv.Itoa(i)+".vseg")
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		segs = append(segs, segstore.Segment{Meta: segstore.Meta{Camera: o.Camera, Seq: o.Seq, Start: o.Start, End: o.End}, Bytes: o.Size, Path: p})
		from, to = minTime(from, o.Start), maxTime(to, o.End)
	}
	opts := recordings.ExportOptions{Camera: hh.Camera, From: from, To: to, Identities: ids, Trust: st.TrustedHubs()}
	cloudClip := filepath.Join(dir, "cloud.mp4")
	if _, err := recordings.ExportFile(ctx, segs, cloudClip, opts); err != nil {
		t.Fatalf("export from the cloud: %v", err)
	}
	// The hub's own export of the same range.
	local, err := segstore.OpenReadOnly(ctx, hh.HubDir, segstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer local.Close()
	all, err := local.List(ctx, segstore.Filter{Camera: hh.Camera})
	if err != nil {
		t.Fatal(err)
	}
	var same segmentList
	for _, s := range all {
		if _, ok := seen[s.Seq]; ok {
			same = append(same, s)
		}
	}
	if len(same) != len(objs) {
		t.Fatalf("the cloud lists %d segments the hub does not have (the hub has %d)", len(objs)-len(same), len(all))
	}
	localClip := filepath.Join(dir, "local.mp4")
	if _, err := recordings.ExportFile(ctx, same, localClip, opts); err != nil {
		t.Fatalf("the hub's export: %v", err)
	}
	a, _ := os.ReadFile(cloudClip)
	b, _ := os.ReadFile(localClip)
	if len(a) == 0 || !bytes.Equal(a, b) {
		t.Fatalf("the cloud's export (%d bytes) differs from the hub's (%d bytes)", len(a), len(b))
	}
	if p := vigiltest.FFprobe(t, cloudClip, "v:0"); p["codec_name"] != "h264" {
		t.Errorf("cloud export: %v", p)
	}
	t.Logf("%s: %d segments through the cloud, export of %d bytes identical to the hub's", c, len(objs), len(a))

	// Nothing was refused or failed on the way: not the hub's uploads and
	// chain reads (a replica that does not know the paired hub answers
	// 401), not the member's requests.
	for _, a := range c.Proxy.Faults()[paired:] {
		t.Errorf("%s answered %s", c, a)
	}

	// The insider scan.
	var leaks vigiltest.LeakScan
	leaks.Secret("admin device signing key", hh.Admin.Sign.Seed())
	leaks.Secret("admin device box key", hh.Admin.Box.Bytes())
	hubKey, err := os.ReadFile(filepath.Join(hh.HubDir, "hub.key"))
	if err != nil {
		t.Fatal(err)
	}
	leaks.Secret("hub signing key file", bytes.TrimSpace(hubKey))
	leaks.Secret("account password", []byte(hh.Owner.Password))
	for i, id := range ids {
		if x, ok := id.(*envelope.X25519Identity); ok {
			leaks.Secret(fmt.Sprintf("epoch %d private key", i), x.Bytes())
		}
	}
	if leaks.Plaintext("exported footage", a) == 0 {
		t.Fatal("no sample of the exported footage to scan for")
	}
	c.Stop()
	if c.MaskLogEntries(t, &leaks) == 0 {
		t.Fatal("no log entry in the cloud's database to tell the scan about")
	}
	found := 0
	stats := c.Scan(t, func(where string, b []byte) {
		for _, f := range leaks.Check(where, b) {
			if found++; found <= 20 {
				t.Error(f)
			}
		}
	})
	if found > 20 {
		t.Errorf("... and %d more findings", found-20)
	}
	var stored int64
	for _, o := range objs {
		stored += o.Size
	}
	if stats.Cells < 20 || stats.Bytes < stored || (c.DSN != "" && stats.Objects == 0) {
		t.Fatalf("the scan read too little to mean anything: %s", stats)
	}
	t.Logf("insider scan of the %s: %s; no media, footage or key in the clear", cfgName(c), stats)
}

// startHub starts the software camera (hh.Camera) and the paired hub
// (hh.HubDir), which records in segments of segDur and uploads; both stop
// when the test ends.
func startHub(t *testing.T, hh *testHousehold, segDur time.Duration) {
	t.Helper()
	ctx := context.Background()
	cam := vigiltest.StartSoftcam(t, softcam.Config{Listen: "127.0.0.1:0", Paths: hh.Cameras})
	hh.Cam = cam
	cfg := &config.Hub{Data: hh.HubDir, SegmentDuration: config.Duration(segDur),
		Cloud: &config.Cloud{URL: hh.Cloud.url, UploadOrder: config.UploadOldest}}
	for _, name := range hh.Cameras {
		cfg.Cameras = append(cfg.Cameras, config.Camera{Name: name, URL: cam.URL(name), Transport: "tcp"})
	}
	cfg.ApplyDefaults()
	hub, err := hubd.New(cfg, hubd.Options{Logger: vigiltest.Logger(t).With("component", "hub"), MinBackoff: 100 * time.Millisecond,
		MaxBackoff: time.Second, UploadMinBackoff: 100 * time.Millisecond, UploadMaxBackoff: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := hub.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hub.Close() })
	hh.Hub = hub
}

func cfgName(c *cloudtest.Cloud) string { return c.Config.Name() + " cloud" }

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
