package e2e

import (
	"bytes"
	"context"
	"encoding/binary"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/g711"

	"vigil/internal/browsertest"
	"vigil/internal/cli"
	"vigil/internal/config"
	"vigil/internal/eventrec"
	"vigil/internal/hubd"
	"vigil/internal/onvif"
	"vigil/internal/softcam"
	"vigil/internal/vigiltest"
)

// doorbellONVIFPassword is the software doorbell's ONVIF password in these
// tests.
const doorbellONVIFPassword = "the doorbell's ONVIF password"

// startDoorbellHousehold is startLiveHouseholdAudio with the camera as a
// software doorbell ('vigil camera --doorbell': its tone as PCMU with the
// video, presses on its control endpoint published as ONVIF events), which
// the hub records, decodes (motion only, for a ring's snapshot) and whose
// ONVIF events it reads presses from.
func startDoorbellHousehold(t *testing.T) (*liveHousehold, *softcam.Server) {
	t.Helper()
	subscribed := make(chan string, 4)
	lh := startLiveHouseholdCam(t, nil,
		softcam.Config{Audio: softcam.AudioPCMU, BackChannel: true, Control: "127.0.0.1:0",
			ONVIF: "127.0.0.1:0", ONVIFUser: "admin", ONVIFPassword: doorbellONVIFPassword},
		func(cam *softcam.Server, cfg *config.Hub, o *hubd.Options) {
			cfg.Cameras[0].Detect = &config.Detect{MotionOnly: true, FPS: 5}
			cfg.Cameras[0].Doorbell = &config.Doorbell{ONVIF: &config.DoorbellONVIF{URL: "http://" + cam.ONVIFAddr() + onvif.DevicePath,
				Username: "admin", Password: doorbellONVIFPassword}, Interval: config.Duration(5 * time.Second)} // the default
			o.ONVIFSubscribed = func(camera string) {
				select {
				case subscribed <- camera:
				default:
				}
			}
		})
	hub, cam := lh.hub, lh.cam
	select {
	case <-subscribed:
	case <-time.After(30 * time.Second):
		t.Fatal("the hub did not subscribe to the doorbell's ONVIF events")
	}
	// Frames are decoded before a press, for the ring's snapshot.
	waitUntil(t, "frames decoded", 30*time.Second, func() bool {
		st := hub.DetectionStats()
		return len(st) == 1 && st[0].Frames > 5
	})
	return lh, cam
}

// waitUntil polls ok until it holds, failing the test after timeout.
func waitUntil(t *testing.T, what string, timeout time.Duration, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(timeout); !ok(); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: more than %s", what, timeout)
		}
	}
}

// TestDoorPressInsiderScan: a press on the software doorbell's button (its
// HTTP control endpoint) reaches the hub through the doorbell's ONVIF
// events and rings: a ring event with a snapshot, sealed, at the cloud,
// which the household opens. Then the insider's view of the cloud: every
// file it keeps (SQLite database and WAL, blobs) holds no label, ring ID,
// snapshot (its bytes or any JPEG's markers in the clear) or doorbell
// audio (the µ-law bytes it sends, their PCM) in the clear.
func TestDoorPressInsiderScan(t *testing.T) {
	lh, cam := startDoorbellHousehold(t)
	ctx := context.Background()
	resp, err := http.Post("http://"+cam.ControlAddr()+"/press", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("press: %s", resp.Status)
	}

	ids, err := lh.st.EpochIdentities(lh.admin)
	if err != nil {
		t.Fatal(err)
	}
	var ring eventrec.Record
	waitUntil(t, "the ring at the cloud", 60*time.Second, func() bool {
		objs, err := lh.c.Objects(ctx, lh.id(), eventrec.StreamEvents, time.Time{}, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range objs {
			b, err := lh.c.ReadObject(ctx, lh.id(), o.Key, 1<<20)
			if err != nil {
				t.Fatal(err)
			}
			r, _, err := eventrec.Open(b, lh.st.TrustedHubs(), ids...)
			if err != nil {
				t.Fatalf("the household cannot open an event record: %v", err)
			}
			if len(r.Labels) == 1 && r.Labels[0] == "ring" {
				ring = r
				return true
			}
		}
		return false
	})
	if ring.Camera != "front" || ring.Snapshot == "" {
		t.Fatalf("ring %+v: want the doorbell's, with a snapshot", ring)
	}
	sb, err := lh.c.ReadObject(ctx, lh.id(), ring.Snapshot, 8<<20)
	if err != nil {
		t.Fatal(err)
	}
	jpg, _, err := eventrec.OpenSnapshot(sb, lh.st.TrustedHubs(), ids...)
	if err != nil || !bytes.HasPrefix(jpg, []byte{0xff, 0xd8}) {
		t.Fatalf("the ring's snapshot: %v (%d bytes)", err, len(jpg))
	}
	if st := lh.hub.DoorbellStats()["front"]; st.Presses != 1 || st.Rings != 1 {
		t.Errorf("doorbell stats %+v, want one press, one ring", st)
	}
	// Segments with the press in them reach the cloud too.
	time.Sleep(3 * time.Second)
	lh.hub.Close()
	lh.cloud.srv.Close()

	var leaks vigiltest.LeakScan
	leaks.Secret("ring label", []byte(`"labels":["ring"]`))
	leaks.Secret("ring kind", []byte(`"kind":"ring"`))
	leaks.Secret("ring ID", []byte(ring.ID))
	if leaks.Plaintext("snapshot", jpg) == 0 {
		t.Fatal("no sample of the snapshot to scan for")
	}
	// The doorbell's sound: its tone loop as the µ-law bytes it sends and
	// as 16-bit PCM.
	pcm := softcam.Tone(softcam.ToneHz, 8000, 8000)
	be := make(g711.Mulaw, 2*len(pcm))
	le := make([]byte, 2*len(pcm))
	for i, s := range pcm {
		binary.BigEndian.PutUint16(be[2*i:], uint16(s))
		binary.LittleEndian.PutUint16(le[2*i:], uint16(s))
	}
	mulaw, err := be.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if leaks.Plaintext("doorbell audio (PCMU)", mulaw) == 0 || leaks.Plaintext("doorbell audio (PCM)", le) == 0 {
		t.Fatal("no sample of the doorbell's audio to scan for")
	}
	scanned, files := 0, []string{}
	err = filepath.WalkDir(lh.cloud.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(lh.cloud.dir, p)
		scanned, files = scanned+len(b), append(files, rel)
		for _, f := range leaks.Check(p, b) {
			t.Error(f)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	has := func(pattern string) bool {
		for _, f := range files {
			if ok, _ := filepath.Match(pattern, f); ok {
				return true
			}
		}
		return false
	}
	if !has("cloud.db") || !has("cloud.db-wal") || !has("blobs/packs/*") || scanned < len(jpg) {
		t.Fatalf("scanned %d bytes in %q: want the database, its WAL and the blob packs", scanned, files)
	}
	t.Logf("insider scan: %d bytes in %d cloud files: %q", scanned, len(files), files)
}

// TestDoorScreens: the doorbell's flow on a 390x844 touch phone, signed in
// through the link of 'vigil demo --doorbell': a press shows the ring on
// home with its snapshot and on the camera's timeline, and the doorbell's
// live view plays with its speaker button, which turns the sound on, and
// its talk button, which talks to the doorbell's back channel
// (web/test/door-shots.mjs).
//
// With VIGIL_SCREENSHOTS=1 it writes the README's doorbell screenshots
// (phone-door-*.png) into docs/screenshots; otherwise they go to the
// test's temporary directory.
func TestDoorScreens(t *testing.T) {
	d, link := startDemo(t, cli.DemoOptions{NoDetect: true, Doorbell: &cli.DemoDoorbell{}})
	shots := t.TempDir()
	if os.Getenv("VIGIL_SCREENSHOTS") == "1" {
		shots = filepath.Join(browsertest.WebDir(t), "..", "docs", "screenshots")
	}
	var res struct {
		Household string `json:"household"`
		Ring      struct {
			ID       string `json:"id"`
			Kind     string `json:"kind"`
			Snapshot bool   `json:"snapshot"`
		} `json:"ring"`
		Timeline struct {
			Shown bool   `json:"shown"`
			Kind  string `json:"kind"`
		} `json:"timeline"`
		Live struct {
			Playing      bool   `json:"playing"`
			SoundShown   bool   `json:"soundShown"`
			SoundPressed string `json:"soundPressed"`
			SoundLabel   string `json:"soundLabel"`
			TalkShown    bool   `json:"talkShown"`
			Talking      bool   `json:"talking"`
			TalkNote     string `json:"talkNote"`
		} `json:"live"`
		Screenshots []string `json:"screenshots"`
	}
	browsertest.Run(t, 5*time.Minute, "door-shots.mjs", map[string]string{"DEMO_URL": link,
		"CONTROL_URL": "http://" + d.Doorbell().ControlAddr(), "SCREENSHOTS": shots}, &res)
	t.Logf("%+v", res)
	if res.Household != d.HouseholdID {
		t.Errorf("the demo link opened household %q, want %q", res.Household, d.HouseholdID)
	}
	if res.Ring.ID == "" || res.Ring.Kind != "Ring" || !res.Ring.Snapshot {
		t.Errorf("home shows %+v: want the ring with its snapshot", res.Ring)
	}
	if !res.Timeline.Shown || res.Timeline.Kind != "Ring" {
		t.Errorf("the timeline shows %+v: want the ring", res.Timeline)
	}
	if !res.Live.Playing || !res.Live.SoundShown || res.Live.SoundPressed != "true" || res.Live.SoundLabel != "Mute" {
		t.Errorf("the live view: %+v; want it playing, the speaker button shown and turned on", res.Live)
	}
	if !res.Live.TalkShown || !res.Live.Talking || !strings.Contains(res.Live.TalkNote, "Talking") {
		t.Errorf("the live view: %+v; want the talk button shown, and talking after a tap", res.Live)
	}
	if st := d.Doorbell().BackChannelStats(); st.Packets == 0 {
		t.Errorf("the doorbell's back channel got %+v: want the microphone's audio", st)
	}
	if st := d.Doorbell().Presses(); st.Count != 1 {
		t.Errorf("%d presses, want 1", st.Count)
	}
	if len(res.Screenshots) != 4 {
		t.Errorf("screenshots %q, want home, timeline, live and talking", res.Screenshots)
	}
	for _, s := range res.Screenshots {
		if fi, err := os.Stat(s); err != nil || fi.Size() == 0 {
			t.Errorf("screenshot %s was not written: %v", s, err)
		}
	}
}
