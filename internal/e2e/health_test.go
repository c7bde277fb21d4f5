package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"vigil/internal/browsertest"
	"vigil/internal/cloud"
	"vigil/internal/cloudapi"
	"vigil/internal/envelope"
	"vigil/internal/eventrec"
	"vigil/internal/keydir"
)

// TestHealthPage: the health page on a phone, opened from the settings'
// hub link. A paired hub that reported once (with a backlog and a 502)
// and then went quiet for longer than the cloud's quiet time shows as
// "Not heard from since …" with its software, cameras, backlog and upload
// problem; the hub's sealed health records, opened in the enrolled
// browser, say in words that one camera has no video, that another's
// problem has ended, and that the hub's disk is filling; a detection
// event on the same stream is not mistaken for one, and a record whose
// times disagree with its signed header is not shown. The cloud marks the
// hub quiet (the mark its push to the household is sent on).
func TestHealthPage(t *testing.T) {
	c := startCloud(t, func(o *cloud.Options) { o.HubQuietAfter, o.HubWatchEvery = 2*time.Second, 100*time.Millisecond })
	hh := newHousehold(t, c, householdOptions{NoHub: true})
	hh.HubDir = t.TempDir()
	hh.pairHub(t)
	hub := newEventHub(t, hh)
	ctx := context.Background()
	now := time.Now().UTC()
	rep := cloudapi.HubHealth{Version: "v2.0.1-test", Started: now.Add(-3 * time.Hour), Sent: now, Cameras: 2, Recording: 1,
		Uploads: cloudapi.HubUploads{Pending: 12, OldestPending: now.Add(-4 * time.Minute), Failures: 9,
			LastError: &cloudapi.HubError{Kind: cloudapi.HubErrorServer, Status: 502, Message: "502 Bad Gateway", At: now.Add(-4 * time.Minute)}}}
	if _, err := hub.api.ReportHealth(ctx, rep); err != nil {
		t.Fatal(err)
	}

	start := now.Add(-10 * time.Minute)
	records := []eventrec.Record{
		{Kind: eventrec.KindHealth, ID: eventID(t), Check: eventrec.CheckCameraFrames, Camera: "front", State: eventrec.StateProblem,
			Start: start, Message: "front camera: no video for 2 minutes"},
		{Kind: eventrec.KindHealth, ID: eventID(t), Check: eventrec.CheckStorageSpace, State: eventrec.StateProblem,
			Start: start.Add(time.Minute), Message: "the hub's disk is almost full"},
		{ID: eventID(t), Camera: "front", State: eventrec.StateStart, Start: start.Add(2 * time.Minute),
			Labels: []string{"person"}, Score: 0.8, Box: [4]float64{0.1, 0.1, 0.2, 0.2}},
	}
	porch := eventrec.Record{Kind: eventrec.KindHealth, ID: eventID(t), Check: eventrec.CheckCameraReconnects, Camera: "porch",
		State: eventrec.StateProblem, Start: start.Add(3 * time.Minute), Message: "porch camera keeps dropping its connection"}
	porchEnd := porch
	porchEnd.State, porchEnd.End = eventrec.StateResolved, start.Add(5*time.Minute)
	porchEnd.Message = "porch camera is back (after 2 minutes)" // a resolution in the hub's words
	records = append(records, porch, porchEnd)
	sealed := map[string][]byte{}
	for _, r := range records {
		_, b, err := hub.record(r)
		if err != nil {
			t.Fatal(err)
		}
		sealed[r.ID+r.State] = b
	}
	// A health record whose start disagrees with its signed header: never
	// shown, counted as a note that could not be opened.
	forged := eventrec.Record{Kind: eventrec.KindHealth, ID: eventID(t), Check: eventrec.CheckCameraFrames, Camera: "garage",
		State: eventrec.StateProblem, Start: start, Message: "garage camera: no video for 5 minutes"}
	if _, _, err := hub.upload(func(seq uint64, epoch uint32, st *keydir.State) ([]byte, error) {
		body, err := eventrec.Marshal(forged)
		if err != nil {
			return nil, err
		}
		h := envelope.Header{Kind: envelope.KindEvent, Stream: eventrec.StreamEvents, Sequence: seq, Start: start.Add(-time.Minute), Epoch: epoch}
		return envelope.Seal(h, start.Add(-time.Minute), hub.key, body, st.EpochRecipient())
	}, eventrec.StreamEvents); err != nil {
		t.Fatal(err)
	}
	hubPush, err := json.Marshal(cloudapi.HubPush{Type: cloudapi.HubPushQuiet, Household: hh.ID, Hub: hub.device, LastContact: now})
	if err != nil {
		t.Fatal(err)
	}

	// The cloud's watcher marks the hub quiet once the quiet time passed.
	deadline := time.Now().Add(30 * time.Second)
	for {
		rs, err := c.st.HubReports(ctx, hh.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(rs) == 1 && !rs[0].Quiet.IsZero() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the quiet hub was never marked: %+v", rs)
		}
		time.Sleep(100 * time.Millisecond)
	}

	sess := hh.Owner.browserSession(t, c.url)
	type item struct {
		ID, State, Text string
	}
	var res struct {
		HubLink  string
		Hubs     []item
		Cameras  []item
		Checks   []item
		Error    string
		Problems []string
		// The events page of the same household, and the service
		// worker's notifications of a hub-quiet push and of sealed health
		// records.
		Events                                  struct{ Count, Error string }
		HubNotice, HealthNotice, ResolvedNotice struct{ Title, Body, URL string }
	}
	browsertest.Run(t, 3*time.Minute, "health.mjs", map[string]string{"BASE_URL": c.url, "HOUSEHOLD": hh.ID,
		"CONTROL_URL": hh.controlServer(t), "SESSION": sess.Cookie, "CSRF": sess.CSRF, "HUB_PUSH": base64.StdEncoding.EncodeToString(hubPush),
		"HEALTH_SEALED":   base64.StdEncoding.EncodeToString(sealed[records[0].ID+eventrec.StateProblem]),
		"RESOLVED_SEALED": base64.StdEncoding.EncodeToString(sealed[porch.ID+eventrec.StateResolved])}, &res)
	t.Logf("page: %+v", res)

	if want := "/h/" + hh.ID + "/health#hub-" + hub.device; res.HubLink != want {
		t.Errorf("the settings' hub link goes to %q, want %q", res.HubLink, want)
	}
	if len(res.Hubs) != 1 || res.Hubs[0].ID != hub.device || res.Hubs[0].State != "quiet" {
		t.Fatalf("hubs: %+v, want %s quiet", res.Hubs, hub.device)
	}
	for _, want := range []string{"garage hub", "Not heard from since", "Software v2.0.1-test", "Running for 3 h", "Recording 1 of 2 cameras",
		"12 recordings waiting to upload", "Latest upload problem: 502 Bad Gateway"} {
		if !strings.Contains(res.Hubs[0].Text, want) {
			t.Errorf("the hub reads %q, want it to say %q", res.Hubs[0].Text, want)
		}
	}
	cams := map[string]item{}
	for _, c := range res.Cameras {
		cams[c.ID] = c
	}
	if f := cams["front"]; f.State != "problem" || !strings.Contains(f.Text, "Video: front camera: no video for 2 minutes — since") {
		t.Errorf("front camera: %+v", f)
	}
	if p := cams["porch"]; p.State != "resolved" || !strings.Contains(p.Text, "Fine again since") || !strings.Contains(p.Text, "porch camera is back (after 2 minutes)") {
		t.Errorf("porch camera: %+v", p)
	}
	if len(res.Checks) != 1 || res.Checks[0].ID != eventrec.CheckStorageSpace || res.Checks[0].State != "problem" ||
		!strings.Contains(res.Checks[0].Text, "the hub's disk is almost full") {
		t.Errorf("the hub's own checks: %+v", res.Checks)
	}
	if _, ok := cams["garage"]; ok || !strings.HasPrefix(res.Error, "1 note from the hubs could not be opened") {
		t.Errorf("a forged record: cameras %+v, error %q; want it not shown and counted once (a detection event is neither)", res.Cameras, res.Error)
	}
	if res.Events.Count != "1" || res.Events.Error != "" {
		t.Errorf("the events page: %+v, want the one detection event and no record it could not open", res.Events)
	}
	if n := res.HubNotice; n.Title != "garage hub is not heard from" || !strings.Contains(n.Body, "Check that it has power and internet") ||
		n.URL != "/h/"+hh.ID+"/health#hub-"+hub.device {
		t.Errorf("the notification of a hub gone quiet: %+v", n)
	}
	if n := res.HealthNotice; n.Title != "front camera: no video for 2 minutes" || !strings.HasPrefix(n.Body, "Since ") || n.URL != "/h/"+hh.ID+"/health#camera-front" {
		t.Errorf("the notification of a camera problem: %+v", n)
	}
	if n := res.ResolvedNotice; n.Title != "porch camera is back (after 2 minutes)" || !strings.HasPrefix(n.Body, "Resolved at ") || n.URL != "/h/"+hh.ID+"/health#camera-porch" {
		t.Errorf("the notification of a problem resolved: %+v", n)
	}
	for _, p := range res.Problems {
		t.Errorf("layout: %s", p)
	}
}
