package hubd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"vigil/internal/config"
	"vigil/internal/detect/events"
	"vigil/internal/eventrec"
	"vigil/internal/live"
	"vigil/internal/member"
	"vigil/internal/vigiltest"
)

// TestCameraSettingsFromApp: an admin device sends a camera's zones over
// the settings channel of a live session relayed by the cloud. The config
// file has no zones and counts only objects inside one, so no event can
// happen until the zones arrive; then the running detection takes them at
// once and the household's event records name the zone. Settings the hub
// cannot use are refused with the reason and change nothing; the settings
// survive a restart; a reset brings back the config file's.
func TestCameraSettingsFromApp(t *testing.T) {
	t.Parallel()
	cl := startCloud(t)
	m := newMember(t, cl.url())
	cam := vigiltest.StartCamera(t, "127.0.0.1:0", "cam")
	cfg := pairedConfig(t, cl, "yard", cam.URL("cam"))
	ev := eventsEndQuickly()
	ev.RequireZone = true
	cfg.Cameras[0].Detect = &config.Detect{Width: 768, Events: ev}
	if _, hubErr, memberErr := pair(t, cl.url(), cfg.Data, m); hubErr != nil || memberErr != nil {
		t.Fatalf("pairing: hub %v, member %v", hubErr, memberErr)
	}
	h := startHub(t, cfg, Options{UploadMinBackoff: 100 * time.Millisecond, UploadMaxBackoff: time.Second})
	ctx := context.Background()
	vs, err := member.VerifiedChain(ctx, m.c, m.st.HouseholdID, m.genesis)
	if err != nil {
		t.Fatal(err)
	}

	vc, err := live.DialViewer(ctx, cl.url(), m.st.HouseholdID, http.Header{"Authorization": {"Bearer " + m.c.Token}})
	if err != nil {
		t.Fatal(err)
	}
	defer vc.Close()
	var w *live.Watch
	waitFor(t, "the hub's live view", 30*time.Second, func() bool {
		w, err = live.StartWatch(ctx, live.ViewerConfig{Household: m.st.HouseholdID, Camera: "yard", Keys: m.keys, Chain: vs,
			Net: live.NetOptions{Loopback: true}, Settings: true}, vc.Exchange)
		var he *live.HubError
		if errors.As(err, &he) && (he.Code == live.CodeHubOffline || he.Code == live.CodeNoCamera) {
			return false
		}
		if err != nil {
			t.Fatalf("watch: %v", err)
		}
		return true
	})
	defer w.Close()
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()

	a, err := w.Settings(rctx, live.SettingsGet, nil)
	if err != nil || !a.OK || a.Source != "config" || !a.Detecting {
		t.Fatalf("get: %+v, %v", a, err)
	}
	var cur config.AppDetect
	if err := json.Unmarshal(a.Detect, &cur); err != nil || len(cur.Mask)+len(cur.Zones) != 0 || len(cur.Labels) != 10 || cur.MinScore != 0.4 {
		t.Fatalf("get: %s (%v), want no masks or zones, the 10 default labels and score 0.4", a.Detect, err)
	}
	for name, body := range map[string]string{
		"a point outside the frame": `{"mask":[],"zones":[{"name":"walkway","points":[[0,0],[1.5,0],[1,1]]}]}`,
		"an unknown field":          `{"mask":[],"zones":[],"rules":[]}`,
		"a mask of two points":      `{"mask":[[[0,0],[1,1]]],"zones":[]}`,
	} {
		a, err := w.Settings(rctx, live.SettingsPut, json.RawMessage(body))
		if err != nil || a.OK || a.Error == "" {
			t.Errorf("%s: %+v, %v; want a refusal with the reason", name, a, err)
		}
		t.Logf("%s: %s", name, a.Error)
	}
	if _, src, _ := h.CameraSettings("yard"); src != "config" {
		t.Fatalf("a refused put changed the settings (source %s)", src)
	}

	const zone = "walkway by the shed"
	zones := `{"mask":[],"zones":[{"name":"` + zone + `","points":[[0,0],[1,0],[1,1],[0,1]],"inertia":1}],"labels":["person","dog"],"min_score":0.45}`
	a, err = w.Settings(rctx, live.SettingsPut, json.RawMessage(zones))
	if err != nil || !a.OK || a.Source != "app" {
		t.Fatalf("put: %+v, %v", a, err)
	}
	got, src, err := h.CameraSettings("yard")
	if err != nil || src != "app" || len(got.Zones) != 1 || got.Zones[0].Name != zone || !slices.Equal(got.Labels, []string{"person", "dog"}) || got.MinScore != 0.45 {
		t.Fatalf("the hub holds %+v from %s (%v)", got, src, err)
	}

	ids, err := vs.EpochIdentities(m.keys)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "an event in the zone sent from the app", 90*time.Second, func() bool {
		evs, _ := m.c.Objects(ctx, m.st.HouseholdID, eventrec.StreamEvents, time.Time{}, time.Time{})
		for _, o := range evs {
			b, err := m.c.ReadObject(ctx, m.st.HouseholdID, o.Key, 1<<20)
			if err != nil {
				continue
			}
			if r, _, err := eventrec.Open(b, vs.TrustedHubs(), ids...); err == nil && slices.Contains(r.Zones, zone) {
				return true
			}
		}
		return false
	})
	// The settings went through the session's DTLS: the cloud, which
	// relayed the signalling and stores the event records, holds the
	// zone's name nowhere in the clear (G1).
	var leaks vigiltest.LeakScan
	leaks.Secret("zone name", []byte(zone))
	scanned := 0
	filepath.WalkDir(cl.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return nil
		}
		scanned += len(b)
		for _, f := range leaks.Check(p, b) {
			t.Error(f)
		}
		return nil
	})
	if scanned == 0 {
		t.Fatal("scanned nothing of the cloud")
	}
	w.Close()
	h.Close()

	// A restart keeps them.
	h2 := startHub(t, cfg, Options{})
	if got, src, _ := h2.CameraSettings("yard"); src != "app" || len(got.Zones) != 1 {
		t.Fatalf("after a restart the hub holds %+v from %s", got, src)
	}
	// A reset drops them.
	if _, err := h2.handleSettings(ctx, live.SettingsRequest{Camera: "yard", Device: m.keys.ID(), Op: live.SettingsReset}); err != nil {
		t.Fatal(err)
	}
	if _, src, _ := h2.CameraSettings("yard"); src != "config" {
		t.Fatalf("after a reset the settings come from %s", src)
	}
	if _, err := os.Stat(h2.settingsPath("yard")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the settings file is still there after a reset: %v", err)
	}
	if _, err := h2.handleSettings(ctx, live.SettingsRequest{Camera: "nope", Op: live.SettingsGet}); err == nil || !strings.Contains(err.Error(), "no camera") {
		t.Errorf("settings of an unknown camera: %v", err)
	}
}

// TestStoredSettingsThatNoLongerFit: a settings file whose zones lack one
// that an alert rule of the config file (edited since) names is not used;
// the config file's zones apply and the file stays for an admin to fix.
func TestStoredSettingsThatNoLongerFit(t *testing.T) {
	_, rcpt := household(t)
	cam := vigiltest.StartCamera(t, "127.0.0.1:0", "cam")
	cfg := hubConfig(t, rcpt, map[string]string{"yard": cam.URL("cam")}, time.Second)
	tri := [][2]float64{{0, 0}, {1, 0}, {1, 1}}
	cfg.Cameras[0].Detect = &config.Detect{MotionOnly: true, Events: events.Config{
		Zones: []events.Zone{{Name: "porch", Points: tri}},
		Rules: []events.Rule{{Name: "porch people", Labels: []string{"person"}, Zones: []string{"porch"}}},
	}}
	if err := os.MkdirAll(filepath.Join(cfg.Data, settingsDir), 0o700); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(settingsFile{V: 1, Camera: "yard", Detect: config.AppDetect{Zones: []events.Zone{{Name: "garden", Points: tri}}}})
	if err := os.WriteFile(filepath.Join(cfg.Data, settingsDir, "yard.json"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	h := startHub(t, cfg, Options{})
	got, src, err := h.CameraSettings("yard")
	if err != nil || src != "config" || len(got.Zones) != 1 || got.Zones[0].Name != "porch" {
		t.Fatalf("the hub uses %+v from %s (%v), want the config file's porch", got, src, err)
	}
	if _, err := os.Stat(filepath.Join(cfg.Data, settingsDir, "yard.json")); err != nil {
		t.Errorf("the file was removed: %v", err)
	}
}

// TestSettingsPuts: saving what the camera already uses does not rebuild
// its pipeline (a rebuild ends the events in progress); saves from several
// devices at once leave the file and the running settings the same; a
// request full of bad points gets a short answer.
func TestSettingsPuts(t *testing.T) {
	_, rcpt := household(t)
	cam := vigiltest.StartCamera(t, "127.0.0.1:0", "cam")
	cfg := hubConfig(t, rcpt, map[string]string{"yard": cam.URL("cam")}, time.Second)
	cfg.Cameras[0].Detect = &config.Detect{MotionOnly: true}
	h := startHub(t, cfg, Options{})
	ctx := context.Background()
	put := func(body string) error {
		_, err := h.handleSettings(ctx, live.SettingsRequest{Camera: "yard", Device: "admin", Op: live.SettingsPut, Detect: json.RawMessage(body)})
		return err
	}
	gen := func() uint64 {
		h.detection.mu.Lock()
		defer h.detection.mu.Unlock()
		return h.detection.cameras["yard"].gen.Load()
	}
	a := `{"mask":[],"zones":[{"name":"a","points":[[0,0],[1,0],[1,1]]}]}`
	b := `{"mask":[[[0,0],[0.5,0],[0.5,0.5]]],"zones":[{"name":"b","points":[[0,0],[1,0],[1,1]]}]}`
	if err := put(a); err != nil {
		t.Fatal(err)
	}
	g := gen()
	if err := put(a); err != nil {
		t.Fatal(err)
	}
	if gen() != g {
		t.Error("saving unchanged settings rebuilt the pipeline")
	}
	if err := put(b); err != nil {
		t.Fatal(err)
	}
	if gen() == g {
		t.Error("new settings did not reach the pipeline")
	}

	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body := a
			if i%2 == 1 {
				body = b
			}
			if err := put(body); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	mem, _, _ := h.CameraSettings("yard")
	raw, err := os.ReadFile(h.settingsPath("yard"))
	if err != nil {
		t.Fatal(err)
	}
	var f settingsFile
	if err := json.Unmarshal(raw, &f); err != nil {
		t.Fatalf("the settings file after concurrent saves: %v", err)
	}
	if f.Detect.Zones[0].Name != mem.Zones[0].Name {
		t.Errorf("the file holds zone %q, the hub uses %q", f.Detect.Zones[0].Name, mem.Zones[0].Name)
	}

	var bad strings.Builder
	bad.WriteString(`{"mask":[`)
	for i := range 40 {
		if i > 0 {
			bad.WriteString(",")
		}
		bad.WriteString(`[[2,2],[3,3],[4,4],[5,5],[6,6],[7,7],[8,8],[9,9]]`)
	}
	bad.WriteString(`],"zones":[]}`)
	err = put(bad.String())
	if err == nil || len(err.Error()) > 2048 || !strings.Contains(err.Error(), "more problems") {
		t.Errorf("320 bad points: an error of %d bytes: %.200v", len(fmt.Sprint(err)), err)
	}
}
