package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"vigil/internal/browsertest"
	"vigil/internal/config"
	"vigil/internal/envelope"
	"vigil/internal/eventrec"
	"vigil/internal/hubd"
	"vigil/internal/live"
)

// hubSettingsSeen is what the hub held for a camera when the script asked.
type hubSettingsSeen struct {
	Detect config.AppDetect
	Source string
	Err    error
}

// zonesControl serves the zones script: POST /enrol?role=admin|member adds
// the browser's device (its "vigdev1:" string) to the chain with that role;
// POST /hub-settings records, under the name in the body, what the hub
// holds for the camera at that moment.
func zonesControl(t *testing.T, hh *testHousehold, seen map[string]hubSettingsSeen, mu *sync.Mutex) string {
	t.Helper()
	mux := hh.controlMux()
	mux.HandleFunc("POST /hub-settings", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(io.LimitReader(r.Body, 64))
		d, src, err := hh.Hub.CameraSettings(hh.Camera)
		mu.Lock()
		seen[string(b)] = hubSettingsSeen{d, src, err}
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	})
	return serveControl(t, mux)
}

// TestZones: an enrolled browser opens the camera's newest snapshot (sealed
// by the hub, decrypted in the browser) on the zones page, a zone of 4
// clicked points and a mask of 3 are drawn over it (a vertex dragged, a
// stray point taken back with Backspace), the zone is named and given
// labels; under What to detect "bird" is unticked and the minimum score set
// to 0.55 (1 refused first); and the YAML the page writes loads with the
// hub's config parser with the clicked points, labels and score (zone
// names and other labels the page refuses are the ones the parser
// refuses). The browser (an admin device) saves the drawing to the hub
// over the settings channel of a live session, and the hub then holds the
// zone, the mask, the labels and the score; a reload keeps them; with them
// cleared from the browser, Load from hub brings back the same; "Use the
// config file's" drops them on the hub; a member device's Save is refused
// with the hub's reason. A camera with no snapshot gets a blank 16:9 frame.
func TestZones(t *testing.T) {
	c := startCloud(t, nil)
	hh := newHousehold(t, c, householdOptions{Hub: func(o *hubd.Options) { o.LiveNet = live.NetOptions{Loopback: true} }})
	hh.waitSegments(t, hh.Camera, 1, 90*time.Second) // the household page lists cameras that uploaded
	hub := newEventHub(t, hh)

	// An older event with a snapshot of another camera, then this camera's.
	now := time.Now()
	snapKey, err := hub.snapshot(testJPEG(t), now.Add(-time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	rec := eventrec.Record{ID: eventID(t), Camera: hh.Camera, State: eventrec.StateEnd, Start: now.Add(-2 * time.Minute), End: now.Add(-time.Minute),
		Labels: []string{"person"}, Score: 0.9, Box: [4]float64{0.2, 0.1, 0.3, 0.6}, Snapshot: snapKey}
	if _, _, err := hub.record(rec); err != nil {
		t.Fatal(err)
	}

	var seenMu sync.Mutex
	seen := map[string]hubSettingsSeen{}
	control := zonesControl(t, hh, seen, &seenMu)

	type pt = [2]float64
	zone := []pt{{0.1, 0.5}, {0.45, 0.5}, {0.45, 0.95}, {0.1, 0.95}}
	drag := [2]pt{{0.45, 0.95}, {0.5, 0.9}} // the zone's third point, moved
	mask := []pt{{0.6, 0.05}, {0.95, 0.05}, {0.95, 0.4}}
	stray := pt{0.7, 0.3} // added to the mask, then removed with Backspace
	enc := func(ps []pt) string {
		var b []string
		for _, p := range ps {
			b = append(b, strconv.FormatFloat(p[0], 'f', -1, 64)+","+strconv.FormatFloat(p[1], 'f', -1, 64))
		}
		return strings.Join(b, ";")
	}

	// A name YAML would misread unquoted.
	const zoneName = "drive \"way\": #1 \\ allée\u0085\u2028x"
	variants, err := json.Marshal([]string{"", "a", strings.Repeat("x", 64), strings.Repeat("x", 65), strings.Repeat("é", 32), strings.Repeat("é", 33),
		"tab\there", "del\x7f", "front door", "\U0001F697 car", "nel\u0085"})
	if err != nil {
		t.Fatal(err)
	}
	sess := hh.Owner.browserSession(t, c.url)
	var res struct {
		SnapWidth   int    `json:"snapWidth"`
		SnapHeight  int    `json:"snapHeight"`
		SnapSrc     string `json:"snapSrc"`
		Link        string `json:"link"`
		YAML        string `json:"yaml"`
		Valid       string `json:"valid"`
		Errors      string `json:"errors"`
		Zones       int    `json:"zones"`
		Masks       int    `json:"masks"`
		ZoneLabel   string `json:"zoneLabel"`
		Reloaded    string `json:"reloaded"`
		BlankStatus string `json:"blankStatus"`
		Variants    []struct {
			Name  string `json:"name"`
			Valid string `json:"valid"`
			YAML  string `json:"yaml"`
		} `json:"variants"`
		Unnamed struct {
			Valid  string `json:"valid"`
			Errors string `json:"errors"`
			Copy   bool   `json:"copy"`
		} `json:"unnamed"`
		Blank struct {
			Width  float64 `json:"width"`
			Height float64 `json:"height"`
		} `json:"blank"`
		DefaultTargets zoneTargets `json:"defaultTargets"`
		LabelVariants  []struct {
			Name  string `json:"name"`
			Valid string `json:"valid"`
			YAML  string `json:"yaml"`
		} `json:"labelVariants"`
		BadScore struct {
			Valid  string `json:"valid"`
			Errors string `json:"errors"`
			Save   bool   `json:"save"`
		} `json:"badScore"`
		Targets         zoneTargets `json:"targets"`
		ReloadedTargets zoneTargets `json:"reloadedTargets"`
		ClearedTargets  zoneTargets `json:"clearedTargets"`
		SaveDisabled    bool        `json:"saveDisabled"`
		Saved           hubStatus   `json:"saved"`
		Cleared         string      `json:"cleared"`
		Loaded          hubStatus   `json:"loaded"`
		Reset           hubStatus   `json:"reset"`
		Member          hubStatus   `json:"member"`
	}
	browsertest.Run(t, 3*time.Minute, "zones.mjs", map[string]string{
		"BASE_URL": c.url, "HOUSEHOLD": hh.ID, "CAMERA": hh.Camera, "CONTROL_URL": control,
		"SESSION": sess.Cookie, "CSRF": sess.CSRF,
		"ZONE": enc(zone), "DRAG": enc(drag[:]), "MASK": enc(mask), "STRAY": enc([]pt{stray}),
		"NAME_VARIANTS": string(variants), "ZONE_NAME": zoneName, "ZONE_LABELS": "person, car",
		"UNTICK": "bird", "MIN_SCORE": "0.55",
	}, &res)
	t.Logf("snapshot %dx%d; YAML:\n%s", res.SnapWidth, res.SnapHeight, res.YAML)
	t.Logf("hub: save %+v; load %+v; reset %+v; member %+v", res.Saved, res.Loaded, res.Reset, res.Member)

	if res.SnapWidth != 96 || res.SnapHeight != 64 || !strings.HasPrefix(res.SnapSrc, "blob:") {
		t.Errorf("the snapshot shows as %dx%d from %q, want the 96x64 JPEG from a blob: URL", res.SnapWidth, res.SnapHeight, res.SnapSrc)
	}
	if want := "/h/" + hh.ID + "/cam/" + hh.Camera + "/zones"; res.Link != want {
		t.Errorf("the settings page's Zones and masks link leads to %q, want %q", res.Link, want)
	}
	if res.Zones != 1 || res.Masks != 1 || res.ZoneLabel != zoneName {
		t.Errorf("drawn over the snapshot: %d zones (name %q), %d masks; want 1 zone %q and 1 mask", res.Zones, res.ZoneLabel, res.Masks, zoneName)
	}
	if res.Valid != "true" || res.Errors != "" {
		t.Errorf("the page finds the drawing invalid (%s): %q", res.Valid, res.Errors)
	}
	if u := res.Unnamed; u.Valid != "false" || !strings.Contains(u.Errors, "name missing") || !u.Copy {
		t.Errorf("a zone without a name: valid %q, errors %q, copy disabled %v; want it refused", u.Valid, u.Errors, u.Copy)
	}
	if res.Reloaded != res.YAML {
		t.Errorf("after a reload the page writes\n%s\nnot\n%s", res.Reloaded, res.YAML)
	}
	if !strings.Contains(res.BlankStatus, "No snapshot yet") || res.Blank.Height == 0 || math.Abs(res.Blank.Width/res.Blank.Height-16.0/9) > 0.02 {
		t.Errorf("a camera without snapshots: status %q, frame %+v, want a 16:9 blank frame", res.BlankStatus, res.Blank)
	}

	// The YAML in a hub config, read by the hub's parser.
	id, err := envelope.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	parse := func(yaml string) (*config.Hub, string, error) {
		var cfg strings.Builder
		fmt.Fprintf(&cfg, "data: ./hub-data\nrecipients: [%q]\ncameras:\n  - name: %s\n    url: rtsp://127.0.0.1:8554/front\n", id.Recipient().String(), hh.Camera)
		for _, line := range strings.Split(strings.TrimRight(yaml, "\n"), "\n") {
			cfg.WriteString("    " + line + "\n")
		}
		h, err := config.Parse([]byte(cfg.String()), "")
		return h, cfg.String(), err
	}
	if len(res.Variants) != 11 {
		t.Errorf("the page tried %d zone names, want 11", len(res.Variants))
	}
	accepted := 0
	for _, v := range res.Variants {
		_, _, err := parse(v.YAML)
		if err == nil {
			accepted++
		}
		if page := v.Valid == "true"; page != (err == nil) {
			t.Errorf("zone name %q: the page accepts it: %v; the hub: %v", v.Name, page, err)
		}
	}
	t.Logf("zone names: the hub accepts %d of %d, as the page does", accepted, len(res.Variants))
	if len(res.LabelVariants) != 11 {
		t.Errorf("the page tried %d other labels, want 11", len(res.LabelVariants))
	}
	accepted = 0
	for _, v := range res.LabelVariants {
		_, _, err := parse(v.YAML)
		if err == nil {
			accepted++
		}
		if page := v.Valid == "true"; page != (err == nil) {
			t.Errorf("other label %q: the page accepts it: %v; the hub: %v", v.Name, page, err)
		}
	}
	t.Logf("other labels: the hub accepts %d of %d, as the page does", accepted, len(res.LabelVariants))

	// What to detect: the hub's defaults at first; bird unticked, 0.55.
	defaults := "person,car,bicycle,motorcycle,truck,bus,dog,cat,bird,horse"
	noBird := "person,car,bicycle,motorcycle,truck,bus,dog,cat,horse"
	if got := res.DefaultTargets; strings.Join(got.Labels, ",") != defaults || got.Other != "" || got.MinScore != "0.4" {
		t.Errorf("What to detect at first: %+v, want the hub's defaults (%s, 0.4)", got, defaults)
	}
	if b := res.BadScore; b.Valid != "false" || !strings.Contains(b.Errors, "minimum score") || !b.Save {
		t.Errorf("a minimum score of 1: valid %q, errors %q, Save disabled %v; want it refused", b.Valid, b.Errors, b.Save)
	}
	chosen := zoneTargets{Labels: strings.Split(noBird, ","), MinScore: "0.55"}
	sameTargets := func(what string, got zoneTargets) {
		t.Helper()
		if strings.Join(got.Labels, ",") != noBird || got.Other != "" || got.MinScore != "0.55" {
			t.Errorf("%s: What to detect shows %+v, want %+v", what, got, chosen)
		}
	}
	sameTargets("chosen", res.Targets)
	sameTargets("after a reload", res.ReloadedTargets)
	hubCfg, cfg, err := parse(res.YAML)
	if err != nil {
		t.Fatalf("the hub's parser refuses the page's YAML: %v\n%s", err, cfg)
	}
	d := hubCfg.Cameras[0].Detect
	if d == nil {
		t.Fatal("no detect block after parsing")
	}
	near := func(what string, got [][2]float64, want []pt) {
		if len(got) != len(want) {
			t.Errorf("%s: %d points %v, want %d %v", what, len(got), got, len(want), want)
			return
		}
		for i := range want {
			if math.Abs(got[i][0]-want[i][0]) > 0.01 || math.Abs(got[i][1]-want[i][1]) > 0.01 {
				t.Errorf("%s point %d: %v, clicked at %v", what, i, got[i], want[i])
			}
		}
	}
	wantZone := append([]pt(nil), zone...)
	wantZone[2] = drag[1]
	if len(d.Events.Zones) != 1 {
		t.Fatalf("%d zones parsed, want 1", len(d.Events.Zones))
	}
	z := d.Events.Zones[0]
	if z.Name != zoneName || strings.Join(z.Labels, ",") != "person,car" {
		t.Errorf("the zone parses as %q with labels %v, want %q with person, car", z.Name, z.Labels, zoneName)
	}
	near("zone", z.Points, wantZone)
	if len(d.Mask) != 1 {
		t.Fatalf("%d masks parsed, want 1", len(d.Mask))
	}
	near("mask", d.Mask[0], mask)
	if strings.Join(d.Labels, ",") != noBird || d.MinScore != 0.55 {
		t.Errorf("the YAML's detect block parses with labels %v and min score %g, want %s and 0.55", d.Labels, d.MinScore, noBird)
	}

	// The hub got them over the settings channel.
	if res.SaveDisabled || res.Saved.State != "ok" || !strings.HasPrefix(res.Saved.Text, "Saved on the hub") || res.Saved.Source != "app" {
		t.Errorf("Save to hub (disabled %v): %+v, want it saved (source app)", res.SaveDisabled, res.Saved)
	}
	if res.Saved.Detecting == "false" && !strings.Contains(res.Saved.Text, "Detection is off") {
		t.Errorf("saved on a hub that does not detect on the camera: %q, want it said", res.Saved.Text)
	}
	seenMu.Lock()
	defer seenMu.Unlock()
	got, ok := seen["saved"]
	switch {
	case !ok:
		t.Error("the script did not ask what the hub holds after saving")
	case got.Err != nil || got.Source != "app":
		t.Errorf("after Save to hub the hub holds settings from %q (%v), want the app's", got.Source, got.Err)
	case len(got.Detect.Zones) != 1 || len(got.Detect.Mask) != 1:
		t.Errorf("after Save to hub the hub holds %d zones and %d masks, want 1 and 1: %+v", len(got.Detect.Zones), len(got.Detect.Mask), got.Detect)
	default:
		hz := got.Detect.Zones[0]
		if hz.Name != zoneName || strings.Join(hz.Labels, ",") != "person,car" || hz.Inertia != 0 {
			t.Errorf("the hub's zone is %q with labels %v, inertia %d; want %q with person, car and the default inertia", hz.Name, hz.Labels, hz.Inertia, zoneName)
		}
		near("the hub's zone", hz.Points, wantZone)
		near("the hub's mask", got.Detect.Mask[0], mask)
		if strings.Join(got.Detect.Labels, ",") != noBird || got.Detect.MinScore != 0.55 {
			t.Errorf("after Save to hub the hub tracks %v with min score %g, want %s and 0.55", got.Detect.Labels, got.Detect.MinScore, noBird)
		}
	}
	if res.Cleared != "detect: {}\n" {
		t.Errorf("with its drawing cleared the page writes %q, want an empty detect block", res.Cleared)
	}
	if got := res.ClearedTargets; strings.Join(got.Labels, ",") != defaults || got.MinScore != "0.4" {
		t.Errorf("with its drawing cleared What to detect shows %+v, want the hub's defaults", got)
	}
	if res.Loaded.State != "ok" || res.Loaded.Source != "app" || res.Loaded.YAML != res.YAML || res.Loaded.Shapes != "2" {
		t.Errorf("Load from hub: %+v (%s shapes), writes\n%s\nwant source app and the saved drawing\n%s", res.Loaded, res.Loaded.Shapes, res.Loaded.YAML, res.YAML)
	}
	sameTargets("loaded from the hub", res.Loaded.Targets)
	if res.Reset.State != "ok" || res.Reset.Source != "config" || res.Reset.YAML != "detect: {}\n" ||
		strings.Join(res.Reset.Targets.Labels, ",") != defaults || res.Reset.Targets.MinScore != "0.4" {
		t.Errorf("Use the config file's: %+v, want source config and the config file's (no) zones, default labels and score", res.Reset)
	}
	if got, ok := seen["reset"]; !ok || got.Err != nil || got.Source != "config" || len(got.Detect.Zones)+len(got.Detect.Mask) != 0 ||
		strings.Join(got.Detect.Labels, ",") != defaults || got.Detect.MinScore != 0.4 {
		t.Errorf("after Use the config file's the hub holds %+v, want the config file's", got)
	}
	if res.Member.State != "error" || !strings.Contains(res.Member.Text, "admin") {
		t.Errorf("a member device's Save to hub: %+v, want the hub's refusal", res.Member)
	}
	if got, ok := seen["member"]; !ok || got.Source != "config" {
		t.Errorf("after a member's Save the hub holds %+v, want the config file's still", got)
	}
}

// hubStatus is the zones page's status line of a hub operation.
type hubStatus struct {
	State     string      `json:"state"`
	Text      string      `json:"text"`
	Source    string      `json:"source"`
	Detecting string      `json:"detecting"`
	YAML      string      `json:"yaml"`
	Shapes    string      `json:"shapes"`
	Targets   zoneTargets `json:"targets"`
}

// zoneTargets is what the zones page's What to detect controls show.
type zoneTargets struct {
	Labels   []string `json:"labels"`
	Other    string   `json:"other"`
	MinScore string   `json:"minScore"`
}
