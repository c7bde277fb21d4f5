package e2e

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"vigil/internal/browsertest"
	"vigil/internal/config"
	"vigil/internal/envelope"
	"vigil/internal/eventrec"
)

// TestZones: an enrolled browser opens the camera's newest snapshot (sealed
// by the hub, decrypted in the browser) on the zones page, a zone of 4
// clicked points and a mask of 3 are drawn over it (a vertex dragged, a
// stray point taken back with Backspace), the zone is named and given
// labels, and the YAML the page writes loads with the hub's config parser
// with the clicked points. A reload keeps the drawing; a camera with no
// snapshot gets a blank 16:9 frame.
func TestZones(t *testing.T) {
	c := startCloud(t, nil)
	hh := newHousehold(t, c, householdOptions{})
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
	}
	browsertest.Run(t, 3*time.Minute, "zones.mjs", map[string]string{
		"BASE_URL": c.url, "HOUSEHOLD": hh.ID, "CAMERA": hh.Camera, "CONTROL_URL": hh.controlServer(t),
		"SESSION": sess.Cookie, "CSRF": sess.CSRF,
		"ZONE": enc(zone), "DRAG": enc(drag[:]), "MASK": enc(mask), "STRAY": enc([]pt{stray}),
		"NAME_VARIANTS": string(variants), "ZONE_NAME": zoneName, "ZONE_LABELS": "person, car",
	}, &res)
	t.Logf("snapshot %dx%d; YAML:\n%s", res.SnapWidth, res.SnapHeight, res.YAML)

	if res.SnapWidth != 96 || res.SnapHeight != 64 || !strings.HasPrefix(res.SnapSrc, "blob:") {
		t.Errorf("the snapshot shows as %dx%d from %q, want the 96x64 JPEG from a blob: URL", res.SnapWidth, res.SnapHeight, res.SnapSrc)
	}
	if want := "/h/" + hh.ID + "/cam/" + hh.Camera + "/zones"; res.Link != want {
		t.Errorf("the household page's Zones and masks link leads to %q, want %q", res.Link, want)
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
}
