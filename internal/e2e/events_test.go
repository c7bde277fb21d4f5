package e2e

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"image"
	"image/color"
	"image/jpeg"
	"math"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"vigil/internal/browsertest"
	"vigil/internal/client"
	"vigil/internal/cloud"
	"vigil/internal/envelope"
	"vigil/internal/eventrec"
	"vigil/internal/keydir"
	"vigil/internal/member"
)

// eventHub uploads sealed event records and snapshots as the household's
// paired hub would: sealed to the current epoch, signed with the hub's key,
// PUT through the device-signed object route.
type eventHub struct {
	hh     *testHousehold
	api    *client.Client
	key    ed25519.PrivateKey
	device string
	mu     sync.Mutex
	seq    map[string]uint64 // per stream
}

func newEventHub(t *testing.T, hh *testHousehold) *eventHub {
	t.Helper()
	key, _, err := keydir.LoadOrCreateSigner(hh.HubDir)
	if err != nil {
		t.Fatal(err)
	}
	dev := keydir.DeviceID(key.Public().(ed25519.PublicKey))
	c := client.New(hh.Cloud.url)
	c.DeviceID, c.DeviceKey = dev, key
	return &eventHub{hh: hh, api: c, key: key, device: dev, seq: map[string]uint64{}}
}

func (e *eventHub) next(stream string) uint64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.seq[stream]++
	return e.seq[stream]
}

// upload seals with the household's current epoch and uploads; it returns
// the object's key.
func (e *eventHub) upload(seal func(seq uint64, epoch uint32, st *keydir.State) ([]byte, error), stream string) (string, []byte, error) {
	ctx := context.Background()
	st, err := member.VerifiedChain(ctx, e.hh.Owner.API, e.hh.ID, e.hh.Genesis)
	if err != nil {
		return "", nil, err
	}
	seq := e.next(stream)
	sealed, err := seal(seq, uint32(st.Epoch), st)
	if err != nil {
		return "", nil, err
	}
	key, _, err := e.api.Upload(ctx, sealed)
	if err != nil {
		return "", nil, err
	}
	if want := eventrec.ObjectKey(e.hh.ID, e.device, stream, seq); key != want {
		return "", nil, &keyMismatch{key, want}
	}
	return key, sealed, nil
}

type keyMismatch struct{ got, want string }

func (k *keyMismatch) Error() string {
	return "the cloud stored the object as " + k.got + ", not " + k.want
}

func (e *eventHub) record(r eventrec.Record) (string, []byte, error) {
	return e.upload(func(seq uint64, epoch uint32, st *keydir.State) ([]byte, error) {
		return eventrec.Seal(r, seq, epoch, e.key, st.EpochRecipient())
	}, eventrec.StreamEvents)
}

func (e *eventHub) snapshot(jpg []byte, at time.Time) (string, error) {
	k, _, err := e.upload(func(seq uint64, epoch uint32, st *keydir.State) ([]byte, error) {
		return eventrec.SealSnapshot(jpg, at, seq, epoch, e.key, st.EpochRecipient())
	}, eventrec.StreamSnapshots)
	return k, err
}

func eventID(t testing.TB) string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// testJPEG is a small colour gradient.
func testJPEG(t testing.TB) []byte {
	img := image.NewRGBA(image.Rect(0, 0, 96, 64))
	for y := range 64 {
		for x := range 96 {
			img.Set(x, y, color.RGBA{uint8(x * 2), uint8(y * 3), 128, 255})
		}
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, nil); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestEvents: sealed event records and a snapshot uploaded by the hub are
// opened in an enrolled browser's inbox on a phone (camera, what the event
// was in plain words, where, an alert marker only where it alerted, the
// snapshot decoded from a blob: URL), an event's start and end records
// merge into one row, a tap on the snapshot plays the event in its row, an
// event uploaded while the page is open appears live with a banner, an
// event's Timeline link opens the camera page zoomed to it (its mark
// highlighted and in view) playing from its start, the camera page marks
// the camera's events and plays one, the push subscription is sent to the
// cloud, and the service worker's opener reads a sealed push payload. The
// inbox fits 360-430 px with 44 px controls and no serious axe finding. A
// never-enrolled browser sees the refusal and no label.
func TestEvents(t *testing.T) {
	// The page's push service is on 127.0.0.1 (web/test/events.mjs),
	// which the cloud's outbound policy refuses unless allowed.
	c := startCloud(t, func(o *cloud.Options) { o.Outbound.Allow = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")} })
	hh := newHousehold(t, c, householdOptions{SegmentDuration: 2 * time.Second})
	other := hh.addMember(t, "member")
	segs := hh.waitSegments(t, hh.Camera, 3, 90*time.Second)
	hub := newEventHub(t, hh)
	jpg := testJPEG(t)

	// Event A: a person in the driveway, an alert, during segment 1; start
	// and end records, with a snapshot.
	aStart := segs[1].Start.Add(300 * time.Millisecond)
	aEnd := segs[1].End.Add(-200 * time.Millisecond)
	a := eventrec.Record{ID: eventID(t), Camera: hh.Camera, State: eventrec.StateStart, Start: aStart,
		Labels: []string{"person"}, Zones: []string{"driveway"}, Alert: true, Score: 0.91, Box: [4]float64{0.2, 0.1, 0.3, 0.6}}
	if _, _, err := hub.record(a); err != nil {
		t.Fatal(err)
	}
	snapKey, err := hub.snapshot(jpg, aStart.Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	aEndRec := a
	aEndRec.State, aEndRec.End, aEndRec.Snapshot = eventrec.StateEnd, aEnd, snapKey
	_, pushSealed, err := hub.record(aEndRec)
	if err != nil {
		t.Fatal(err)
	}
	// Event B: a car in the street, not an alert, still open, no snapshot.
	b := eventrec.Record{ID: eventID(t), Camera: hh.Camera, State: eventrec.StateStart, Start: segs[2].Start.Add(200 * time.Millisecond),
		Labels: []string{"car"}, Zones: []string{"street"}, Score: 0.7, Box: [4]float64{0.5, 0.5, 0.2, 0.2}}
	if _, _, err := hub.record(b); err != nil {
		t.Fatal(err)
	}
	// Event E's record claims another start than its signed header: refused.
	e := eventrec.Record{ID: eventID(t), Camera: hh.Camera, State: eventrec.StateStart, Start: segs[2].Start.Add(600 * time.Millisecond),
		Labels: []string{"horse"}, Zones: []string{"paddock"}, Score: 0.6}
	if _, _, err := hub.upload(func(seq uint64, epoch uint32, st *keydir.State) ([]byte, error) {
		body, err := eventrec.Marshal(e)
		if err != nil {
			return nil, err
		}
		h := envelope.Header{Kind: envelope.KindEvent, Stream: eventrec.StreamEvents, Sequence: seq, Start: e.Start.Add(-time.Minute), Epoch: epoch}
		return envelope.Seal(h, e.Start.Add(-time.Minute), hub.key, body, st.EpochRecipient())
	}, eventrec.StreamEvents); err != nil {
		t.Fatal(err)
	}
	// Event F names a segment as its snapshot: the row shows no image.
	f := eventrec.Record{ID: eventID(t), Camera: hh.Camera, State: eventrec.StateEnd, Start: segs[2].Start.Add(time.Second),
		End: segs[2].Start.Add(1500 * time.Millisecond), Labels: []string{"cat"}, Zones: []string{"yard"}, Score: 0.5, Snapshot: segs[0].Key}
	if _, _, err := hub.record(f); err != nil {
		t.Fatal(err)
	}
	// Event G is of another camera: not marked on front's timeline.
	g := eventrec.Record{ID: eventID(t), Camera: "garage", State: eventrec.StateStart, Start: segs[0].Start.Add(100 * time.Millisecond),
		Labels: []string{"person"}, Score: 0.6, Box: [4]float64{0, 0, 1, 1}}
	if _, _, err := hub.record(g); err != nil {
		t.Fatal(err)
	}
	// Event C is uploaded while the inbox is open (the script asks for it).
	cRec := eventrec.Record{ID: eventID(t), Camera: hh.Camera, State: eventrec.StateStart, Start: time.Now(),
		Labels: []string{"dog"}, Zones: []string{"garden"}, Alert: true, Score: 0.8, Box: [4]float64{0.1, 0.1, 0.2, 0.2}}

	mux := hh.controlMux()
	mux.HandleFunc("POST /live-event", func(w http.ResponseWriter, r *http.Request) {
		rec := cRec
		rec.Start = time.Now()
		if _, _, err := hub.record(rec); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	// Event D is uploaded after the browser subscribed to push.
	dRec := eventrec.Record{ID: eventID(t), Camera: hh.Camera, State: eventrec.StateStart,
		Labels: []string{"person"}, Zones: []string{"porch"}, Alert: true, Score: 0.95, Box: [4]float64{0.4, 0.2, 0.2, 0.5}}
	var pushedMu sync.Mutex
	var dSealed []byte
	mux.HandleFunc("POST /push-event", func(w http.ResponseWriter, r *http.Request) {
		rec := dRec
		rec.Start = time.Now()
		_, sealed, err := hub.record(rec)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		pushedMu.Lock()
		dSealed = sealed
		pushedMu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	})
	ctl := serveControl(t, mux)

	variants, goAccepts := recordVariants(t, hub)
	sess := hh.Owner.browserSession(t, c.url)
	otherSess := other.browserSession(t, c.url)
	type row struct {
		ID       string `json:"id"`
		Camera   string `json:"camera"`
		Kind     string `json:"kind"`
		Labels   string `json:"labels"`
		Place    string `json:"place"`
		Alert    bool   `json:"alert"`
		Ongoing  bool   `json:"ongoing"`
		Start    int64  `json:"start"`
		Timeline string `json:"timeline"`
		Text     string `json:"text"`
		SnapW    int    `json:"snapWidth"`
		SnapH    int    `json:"snapHeight"`
		SnapSrc  string `json:"snapSrc"`
		SnapNone bool   `json:"snapNone"`
		SnapErr  string `json:"snapError"`
		BoxLeft  string `json:"boxLeft"`
		BoxWidth string `json:"boxWidth"`
	}
	type play struct {
		At       float64 `json:"at"`
		Advanced bool    `json:"advanced"`
	}
	var res struct {
		Donate struct {
			ID                   string
			Camera               string
			Start, End, From, To float64
			Now                  float64
		} `json:"donate"`
		DonateButtons []struct {
			Ongoing, Button bool
		} `json:"donateButtons"`
		Rows        []row        `json:"rows"`
		InboxError  string       `json:"inboxError"`
		InboxText   string       `json:"inboxText"`
		Layout      layoutResult `json:"layout"`
		AlertRows   []string     `json:"alertRows"`
		VehicleRows []string     `json:"vehicleRows"`
		GarageRows  []string     `json:"garageRows"`
		Inline      play         `json:"inline"`
		InlineWidth float64      `json:"inlineWidth"`
		InlineKept  bool         `json:"inlineKept"`
		LiveRow     row          `json:"liveRow"`
		Banner      string       `json:"banner"`
		Marks       []string     `json:"marks"`
		Strip       []string     `json:"strip"`
		MarkClicked int64        `json:"markClicked"`
		MarkAt      float64      `json:"markAt"`
		MarkHigh    []string     `json:"markHighlighted"`
		InboxPath   string       `json:"inboxPath"`
		LinkURL     string       `json:"linkURL"`
		Link        struct {
			play
			Clicked     int64    `json:"clicked"`
			From        float64  `json:"from"`
			To          float64  `json:"to"`
			InBar       bool     `json:"inBar"`
			Highlighted []string `json:"highlighted"`
		} `json:"link"`
		PushBody struct {
			Endpoint string            `json:"endpoint"`
			Keys     map[string]string `json:"keys"`
		} `json:"pushBody"`
		PushPath       string `json:"pushPath"`
		PushTitle      string `json:"pushTitle"`
		Refusal        string `json:"refusal"`
		RefusalDetails string `json:"refusalDetails"`
		OtherText      string `json:"otherText"`
		OtherSealed    int    `json:"otherSealed"`
		OtherPush      string `json:"otherPush"`
		PushStatus     string `json:"pushStatus"`
		PushMessage    struct {
			Path, Encoding, TTL, Auth string
		} `json:"pushMessage"`
		PushPayload []byte `json:"pushPayload"`
		PushedTitle string `json:"pushedTitle"`
		Variants    []struct {
			Title string `json:"title"`
			Error string `json:"error"`
		} `json:"variants"`
		HealthNotices []struct {
			Title string `json:"title"`
			Body  string `json:"body"`
			Tag   string `json:"tag"`
			URL   string `json:"url"`
		} `json:"healthNotices"`
		RingNotice struct {
			Title              string   `json:"title"`
			URL                string   `json:"url"`
			TalkURL            string   `json:"talkUrl"`
			Actions            []string `json:"actions"`
			RequireInteraction bool     `json:"requireInteraction"`
			Image              string   `json:"image"`
		} `json:"ringNotice"`
	}
	ring := slices.IndexFunc(goAccepts, func(v variantResult) bool { return v.name == "a ring" })
	if ring < 0 || !goAccepts[ring].ok {
		t.Fatalf("Go refuses the ring variant: %v", goAccepts[ring].err)
	}
	// A doorbell's ring as the hub seals it, whose snapshot is event A's
	// (sealed in the cloud): sealed only, not uploaded.
	ringAt := time.Now().UTC()
	ringRec := eventrec.Record{ID: eventID(t), Camera: hh.Camera, State: eventrec.StateEnd, Start: ringAt, End: ringAt,
		Labels: []string{"ring"}, Alert: true, Score: 1, Snapshot: snapKey}
	ringChain, err := member.VerifiedChain(context.Background(), hub.hh.Owner.API, hub.hh.ID, hub.hh.Genesis)
	if err != nil {
		t.Fatal(err)
	}
	ringSealed, err := eventrec.Seal(ringRec, 5000, uint32(ringChain.Epoch), hub.key, ringChain.EpochRecipient())
	if err != nil {
		t.Fatal(err)
	}
	// A health alert and its resolution, as the hub seals them
	// (hubd/watch.go): sealed only, not uploaded.
	healthStart := time.Now().UTC().Add(-3 * time.Minute)
	var healthID string
	var healthSealed [2][]byte
	for i, rec := range []eventrec.Record{
		{Kind: eventrec.KindHealth, ID: eventID(t), Check: eventrec.CheckCameraFrames, Camera: hh.Camera, State: eventrec.StateProblem,
			Start: healthStart, Message: hh.Camera + " camera: no video for 2 minutes"},
		{Kind: eventrec.KindHealth, Check: eventrec.CheckCameraFrames, Camera: hh.Camera, State: eventrec.StateResolved,
			Start: healthStart, End: healthStart.Add(3 * time.Minute), Message: hh.Camera + " camera is back (after 3 minutes)", Flaps: 1},
	} {
		if i == 1 {
			rec.ID = healthID
		}
		healthID = rec.ID
		if healthSealed[i], err = eventrec.Seal(rec, uint64(6000+i), uint32(ringChain.Epoch), hub.key, ringChain.EpochRecipient()); err != nil {
			t.Fatal(err)
		}
	}
	browsertest.Run(t, 3*time.Minute, "events.mjs", map[string]string{
		"BASE_URL": c.url, "HOUSEHOLD": hh.ID, "CAMERA": hh.Camera, "CONTROL_URL": ctl,
		"SESSION": sess.Cookie, "CSRF": sess.CSRF, "OTHER_SESSION": otherSess.Cookie, "OTHER_CSRF": otherSess.CSRF,
		"EVENT_A": a.ID, "OTHER_CAMERA": g.Camera, "EVENT_B": b.ID, "EVENT_C": cRec.ID,
		"PUSH_SEALED": base64.StdEncoding.EncodeToString(pushSealed), "VARIANTS": strings.Join(variants, ","),
		"RING_SEALED":   base64.StdEncoding.EncodeToString(ringSealed),
		"HEALTH_SEALED": base64.StdEncoding.EncodeToString(healthSealed[0]) + "," + base64.StdEncoding.EncodeToString(healthSealed[1]),
	}, &res)

	// "Donate to improve detection" on a finished event's row opens the
	// sheet on its clip, three seconds before and after it (never past
	// now); an event still going has no such button.
	if d := res.Donate; d.ID == "" || d.Camera == "" || d.From != d.Start-3000 || d.To > d.Now || (d.To != d.End+3000 && !(d.To < d.End+3000 && d.To > d.Now-60_000)) {
		t.Errorf("the donate sheet of an event row: %+v, want its start - 3 s to its end + 3 s", d)
	}
	for _, b := range res.DonateButtons {
		if b.Button == b.Ongoing {
			t.Errorf("an event row (ongoing %v) has a donate button: %v", b.Ongoing, b.Button)
		}
	}

	t.Logf("inbox rows %+v; live %+v; banner %q; timeline marks %d; played in the row from %+.0f ms, from the link %+.0f ms, from the strip %+.0f ms of the event's start; push title %q, pushed by the cloud %q; never-enrolled: %q, push %q",
		res.Rows, res.LiveRow, res.Banner, len(res.Marks), res.Inline.At-float64(aStart.UnixMilli()), res.Link.At-float64(aStart.UnixMilli()), res.MarkAt-float64(aStart.UnixMilli()),
		res.PushTitle, res.PushedTitle, res.Refusal, res.OtherPush)
	byID := map[string]row{}
	for _, r := range res.Rows {
		byID[r.ID] = r
	}
	if len(res.Rows) != 4 {
		t.Errorf("the inbox shows %d rows, want 4 (the start and end records of one event merge; E is refused): %+v", len(res.Rows), res.Rows)
	}
	timeline := func(id string) string { return "/h/" + hh.ID + "/cam/" + hh.Camera + "?event=" + id }
	if rg := byID[g.ID]; rg.Camera != "garage" || rg.Kind != "Person" || rg.Labels != "person" || rg.Place != "" || rg.Alert {
		t.Errorf("event G shows %+v, want camera garage, Person, no place, no alert", rg)
	}
	if strings.Join(res.GarageRows, ",") != g.ID {
		t.Errorf("the camera filter garage shows %v, want only G", res.GarageRows)
	}
	if _, ok := byID[e.ID]; ok || !strings.Contains(res.InboxError, "1 event could not be opened") || !strings.Contains(res.InboxError, "1 event record could not be opened") || !strings.Contains(res.InboxError, "times disagree") {
		t.Errorf("event E (times disagreeing with its signed header) is shown (%v) or not reported: %q", ok, res.InboxError)
	}
	if rf := byID[f.ID]; rf.Kind != "Animal" || rf.Place != "in Yard" || rf.SnapW != 0 || !strings.Contains(rf.SnapErr, "not a snapshot") {
		t.Errorf("event F (a cat), whose snapshot key names a segment: %+v", rf)
	}
	ra, rb := byID[a.ID], byID[b.ID]
	if ra.Camera != hh.Camera || ra.Kind != "Person" || ra.Place != "in Driveway" || !ra.Alert || ra.Ongoing {
		t.Errorf("event A shows %+v, want camera %s, Person, in Driveway, an alert, ended", ra, hh.Camera)
	}
	if ra.SnapW != 96 || ra.SnapH != 64 || !strings.HasPrefix(ra.SnapSrc, "blob:") {
		t.Errorf("event A's snapshot: %dx%d from %q, want the 96x64 JPEG from a blob: URL", ra.SnapW, ra.SnapH, ra.SnapSrc)
	}
	if ra.BoxLeft != "20%" || ra.BoxWidth != "30%" {
		t.Errorf("event A's box is drawn at left %q width %q, want 20%% and 30%%", ra.BoxLeft, ra.BoxWidth)
	}
	if ra.Timeline != timeline(a.ID) {
		t.Errorf("event A links to %q, want %q", ra.Timeline, timeline(a.ID))
	}
	if rb.Kind != "Vehicle" || rb.Place != "in Street" || rb.Alert || !rb.Ongoing || !rb.SnapNone {
		t.Errorf("event B shows %+v, want Vehicle, in Street, no alert, ongoing, no snapshot", rb)
	}
	for _, r := range res.Rows {
		if r.Kind == "Alert" || strings.Contains(r.Text, "Labels") || strings.Contains(r.Text, "Zones") || strings.Contains(r.Text, "—") {
			t.Errorf("a row says %q", r.Text)
		}
	}
	for _, word := range []string{"Labels:", "Zones:", "ciphertext", "segment"} {
		if strings.Contains(res.InboxText, word) {
			t.Errorf("the inbox says %q", word)
		}
	}
	res.Layout.check(t, "the events inbox")
	for i := 1; i < len(res.Rows); i++ {
		if res.Rows[i].Start > res.Rows[i-1].Start {
			t.Errorf("the inbox is not newest first: %+v", res.Rows)
			break
		}
	}
	if strings.Join(res.AlertRows, ",") != a.ID || strings.Join(res.VehicleRows, ",") != b.ID {
		t.Errorf("filters: only alerts shows %v (want A), Vehicle shows %v (want B)", res.AlertRows, res.VehicleRows)
	}
	// The snapshot plays the event in its row, from its start.
	if math.Abs(res.Inline.At-float64(aStart.UnixMilli())) >= 2000 || !res.Inline.Advanced || res.InlineWidth < 300 {
		t.Errorf("a tap on A's snapshot played from %v (advancing %v, %.0f px wide), want A's start %v", time.UnixMilli(int64(res.Inline.At)), res.Inline.Advanced, res.InlineWidth, aStart)
	}
	if !res.InlineKept {
		t.Error("the event playing in its row stopped when a new event arrived")
	}
	if res.LiveRow.ID != cRec.ID || res.LiveRow.Kind != "Animal" || res.LiveRow.Place != "in Garden" {
		t.Errorf("the event uploaded while the page was open shows as %+v", res.LiveRow)
	}
	if res.Banner != "Dog at "+hh.Camera+" (garden)" {
		t.Errorf("the live banner says %q", res.Banner)
	}
	if marks := strings.Join(res.Marks, ","); len(res.Marks) != 5 || !strings.Contains(marks, f.ID) || !strings.Contains(marks, a.ID) || !strings.Contains(marks, b.ID) || !strings.Contains(marks, cRec.ID) || !strings.Contains(marks, dRec.ID) {
		t.Errorf("the timeline marks %v, want events A, B, C, D and F", res.Marks)
	}
	if len(res.Strip) != len(res.Marks) {
		t.Errorf("the strip under the bar shows %v, the bar marks %v", res.Strip, res.Marks)
	}
	if res.InboxPath != "/h/"+hh.ID+"/events" {
		t.Errorf("the Events tab leads to %q", res.InboxPath)
	}
	// The Timeline link: zoomed to A (its mark highlighted, inside the
	// bar), playing from A's start.
	if !strings.HasSuffix(res.LinkURL, timeline(a.ID)) {
		t.Errorf("A's Timeline link opened %q", res.LinkURL)
	}
	if l := res.Link; l.Clicked != aStart.UnixMilli() || math.Abs(l.At-float64(aStart.UnixMilli())) >= 2000 || !l.Advanced {
		t.Errorf("A's Timeline link plays from %v (asked %v, advancing %v), want A's start %v", time.UnixMilli(int64(l.At)), time.UnixMilli(l.Clicked), l.Advanced, aStart)
	}
	if l := res.Link; !l.InBar || strings.Join(l.Highlighted, ",") != a.ID || l.To-l.From > float64(time.Hour.Milliseconds()) ||
		float64(aStart.UnixMilli()) < l.From || float64(aEnd.UnixMilli()) > l.To {
		t.Errorf("A's Timeline link shows %v..%v, highlighted %v, mark inside the bar %v; want A (%v..%v) in a window of at most an hour, highlighted",
			time.UnixMilli(int64(l.From)), time.UnixMilli(int64(l.To)), l.Highlighted, l.InBar, aStart, aEnd)
	}
	if res.MarkClicked != aStart.UnixMilli() || math.Abs(res.MarkAt-float64(aStart.UnixMilli())) >= 2000 || strings.Join(res.MarkHigh, ",") != a.ID {
		t.Errorf("tapping event A in the strip: asked %d (want %d), played from %.0f, highlighted %v", res.MarkClicked, aStart.UnixMilli(), res.MarkAt, res.MarkHigh)
	}
	if res.PushPath != "/v1/households/"+hh.ID+"/push" || res.PushBody.Endpoint == "" || len(res.PushBody.Keys["p256dh"]) < 80 || len(res.PushBody.Keys["auth"]) < 20 {
		t.Errorf("the push subscription sent to %q: %+v", res.PushPath, res.PushBody)
	}
	if !strings.Contains(res.PushStatus, "notified") {
		t.Errorf("subscribing this browser: %q", res.PushStatus)
	}
	if res.PushTitle != "Person at "+hh.Camera+" (driveway)" {
		t.Errorf("the service worker opened the push payload as %q", res.PushTitle)
	}
	// The Web Push the cloud sent for event D: RFC 8291, VAPID, and its
	// payload is the sealed record exactly as the hub uploaded it.
	pushedMu.Lock()
	want := dSealed
	pushedMu.Unlock()
	if res.PushMessage.Encoding != "aes128gcm" || res.PushMessage.Auth != "vapid" || res.PushMessage.TTL == "" {
		t.Errorf("the push message: %+v, want aes128gcm with a VAPID authorization and a TTL", res.PushMessage)
	}
	if !bytes.Equal(res.PushPayload, want) {
		t.Errorf("the push payload (%d bytes) is not the sealed record of event D (%d bytes)", len(res.PushPayload), len(want))
	}
	if res.PushedTitle != "Person at "+hh.Camera+" (porch)" {
		t.Errorf("the service worker opened the pushed payload as %q", res.PushedTitle)
	}
	// The browser reads records as Go's eventrec does.
	if len(res.Variants) != len(goAccepts) {
		t.Fatalf("the browser opened %d record variants, want %d", len(res.Variants), len(goAccepts))
	}
	accepted := 0
	for i, v := range res.Variants {
		if v.Error == "" {
			accepted++
		}
		if browser := v.Error == ""; browser != goAccepts[i].ok {
			t.Errorf("record variant %q: Go accepts %v (%v), the browser %v (%q)", goAccepts[i].name, goAccepts[i].ok, goAccepts[i].err, browser, v.Error)
		}
	}
	t.Logf("record variants: the browser accepts %d of %d, as Go does", accepted, len(res.Variants))
	// A doorbell's ring: "Ring" to the reader; its notification stays until
	// answered, answering opens the doorbell's live view, and Talk opens it
	// ready to talk.
	if v := res.Variants[ring]; v.Title != "Ring at front" {
		t.Errorf("the browser opened a ring as %+v", v)
	}
	n := res.RingNotice
	if n.Title != "Ring at "+hh.Camera || n.URL != "/h/"+hh.ID+"/cam/"+hh.Camera+"/live" || !slices.Equal(n.Actions, []string{"answer", "talk"}) || n.TalkURL != n.URL+"?talk=1" || !n.RequireInteraction {
		t.Errorf("the service worker's notification of a ring: %+v", n)
	}
	// Its picture is the snapshot, fetched sealed and opened in the browser.
	if want := "data:image/jpeg;base64," + base64.StdEncoding.EncodeToString(jpg); n.Image != want {
		t.Errorf("the ring's notification image: %d characters (%.40q), want the snapshot's data URL (%d)", len(n.Image), n.Image, len(want))
	}
	// The hub's health alert: the service worker shows the hub's own words,
	// and the resolution replaces the problem (one tag).
	if hn := res.HealthNotices; len(hn) != 2 || hn[0].Title != hh.Camera+" camera: no video for 2 minutes" ||
		hn[1].Title != hh.Camera+" camera is back (after 3 minutes)" || hn[0].Tag != "health:"+healthID || hn[1].Tag != hn[0].Tag ||
		hn[0].URL != "/h/"+hh.ID+"/health#camera-"+hh.Camera || !strings.HasPrefix(hn[0].Body, "Since ") || !strings.HasPrefix(hn[1].Body, "Resolved at ") {
		t.Errorf("the service worker's notifications of a health alert: %+v", hn)
	}
	if !strings.Contains(res.Refusal, "cannot open the events") || !strings.Contains(res.RefusalDetails, "not enrolled") {
		t.Errorf("the never-enrolled browser shows %q (details %q), want the refusal", res.Refusal, res.RefusalDetails)
	}
	for _, word := range []string{"person", "driveway", "car", "street", "dog", "garden"} {
		if strings.Contains(strings.ToLower(res.OtherText), word) {
			t.Errorf("the never-enrolled browser's inbox shows %q: %q", word, res.OtherText)
		}
	}
	if res.OtherSealed < 3 {
		t.Errorf("the never-enrolled browser lists %d sealed events, want at least 3", res.OtherSealed)
	}
	if res.OtherPush == "" {
		t.Error("the never-enrolled browser opened the push payload")
	}
}

type variantResult struct {
	name string
	ok   bool
	err  error
}

// recordVariants seals record bodies, valid and not, the way a hub would
// (header times from the body where they parse) and says which of them
// Go's eventrec accepts; the browser must decide the same. It returns them
// as base64.
func recordVariants(t *testing.T, hub *eventHub) ([]string, []variantResult) {
	t.Helper()
	now := time.Now().UTC().Truncate(time.Millisecond)
	base := func() map[string]any {
		return map[string]any{"v": 1, "id": strings.Repeat("ab", 16), "camera": "front", "state": "start",
			"start": now.Format(time.RFC3339Nano), "labels": []string{"person"}, "zones": []string{"driveway"},
			"alert": true, "score": 0.5, "box": []float64{0.1, 0.1, 0.2, 0.2}, "snapshot": ""}
	}
	type variant struct {
		name string
		edit func(m map[string]any)
		raw  []byte
		at   time.Time // header time when the body's does not parse
	}
	// health makes an edit that turns the record into a health record,
	// then applies more.
	health := func(more func(m map[string]any)) func(m map[string]any) {
		return func(m map[string]any) {
			clear(m)
			for k, v := range map[string]any{"v": 1, "kind": "health", "id": strings.Repeat("cd", 16), "check": "camera.frames",
				"camera": "front", "state": "problem", "start": now.Format(time.RFC3339Nano),
				"message": "front camera: no video for 2 minutes", "flaps": 0} {
				m[k] = v
			}
			if more != nil {
				more(m)
			}
		}
	}
	labels := make([]string, 17)
	for i := range labels {
		labels[i] = "l" + strconv.Itoa(i)
	}
	vs := []variant{
		{name: "valid", edit: func(m map[string]any) {}},
		{name: "end record", edit: func(m map[string]any) { m["state"], m["end"] = "end", now.Add(time.Second).Format(time.RFC3339Nano) }},
		{name: "a ring", edit: func(m map[string]any) {
			// As the hub seals a doorbell's ring (internal/hubd/doorbell.go).
			m["state"], m["end"], m["labels"], m["zones"], m["score"], m["box"] = "end", m["start"], []string{"ring"}, []string{}, 1, []float64{0, 0, 0, 0}
		}},
		{name: "offset time", edit: func(m map[string]any) { m["start"] = now.In(time.FixedZone("", 3600)).Format(time.RFC3339Nano) }},
		{name: "no labels", edit: func(m map[string]any) { delete(m, "labels"); m["zones"] = nil }},
		{name: "no score or alert", edit: func(m map[string]any) { delete(m, "score"); delete(m, "alert") }},
		{name: "snapshot key", edit: func(m map[string]any) { m["snapshot"] = "h1/d2/snapshots/0000000000000001" }},
		{name: "unknown field", edit: func(m map[string]any) { m["colour"] = "red" }},
		{name: "version 2", edit: func(m map[string]any) { m["v"] = 2 }},
		{name: "upper-case id", edit: func(m map[string]any) { m["id"] = strings.Repeat("AB", 16) }},
		{name: "short id", edit: func(m map[string]any) { m["id"] = strings.Repeat("a", 31) }},
		{name: "state", edit: func(m map[string]any) { m["state"] = "middle" }},
		{name: "start with end", edit: func(m map[string]any) { m["end"] = now.Format(time.RFC3339Nano) }},
		{name: "end without end", edit: func(m map[string]any) { m["state"] = "end" }},
		{name: "end before start", edit: func(m map[string]any) { m["state"], m["end"] = "end", now.Add(-time.Second).Format(time.RFC3339Nano) }},
		{name: "17 labels", edit: func(m map[string]any) { m["labels"] = labels }},
		{name: "empty label", edit: func(m map[string]any) { m["labels"] = []string{""} }},
		{name: "control in label", edit: func(m map[string]any) { m["labels"] = []string{"per\u0007son"} }},
		{name: "no-break space in zone", edit: func(m map[string]any) { m["zones"] = []string{"drive\u00a0way"} }},
		{name: "right-to-left override in camera", edit: func(m map[string]any) { m["camera"] = "fr\u202eont" }},
		{name: "space in zone", edit: func(m map[string]any) { m["zones"] = []string{"front door"} }},
		{name: "accented zone", edit: func(m map[string]any) { m["zones"] = []string{"allée"} }},
		{name: "65-byte label", edit: func(m map[string]any) { m["labels"] = []string{strings.Repeat("x", 65)} }},
		{name: "empty camera", edit: func(m map[string]any) { m["camera"] = "" }},
		{name: "score 1.5", edit: func(m map[string]any) { m["score"] = 1.5 }},
		{name: "box past the frame", edit: func(m map[string]any) { m["box"] = []float64{0.8, 0, 0.3, 0.1} }},
		{name: "box of 3", edit: func(m map[string]any) { m["box"] = []float64{0.1, 0.1, 0.1} }},
		{name: "no box", edit: func(m map[string]any) { delete(m, "box") }},
		{name: "snapshot dot segment", edit: func(m map[string]any) { m["snapshot"] = "h1/../snapshots/0000000000000001" }},
		{name: "snapshot empty segment", edit: func(m map[string]any) { m["snapshot"] = "h1//x" }},
		{name: "start not a time", edit: func(m map[string]any) { m["start"] = "yesterday" }},
		{name: "start in 1600", edit: func(m map[string]any) { m["start"] = "1600-01-02T03:04:05Z" }},
		{name: "end in 2300", edit: func(m map[string]any) { m["state"], m["end"] = "end", "2300-01-02T03:04:05Z" }},
		{name: "ten fraction digits", edit: func(m map[string]any) { m["start"] = now.Format("2006-01-02T15:04:05") + ".1234567891Z" }},
		{name: "lower-case t", edit: func(m map[string]any) { m["start"] = now.Format("2006-01-02t15:04:05Z") }},
		{name: "no seconds", edit: func(m map[string]any) { m["start"] = now.Format("2006-01-02T15:04Z") }},
		// Sealed at the time a lenient parser would roll these over to.
		{name: "hour 24", edit: func(m map[string]any) { m["start"] = "2026-03-01T24:00:00Z" }, at: time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)},
		{name: "February 30", edit: func(m map[string]any) { m["start"] = "2026-02-30T10:00:00Z" }, at: time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)},
		{name: "offset +24:00", edit: func(m map[string]any) { m["start"] = "2026-03-02T10:00:00+24:00" }},
		{name: "offset -23:60", edit: func(m map[string]any) { m["start"] = "2026-03-02T10:00:00-23:60" }},
		{name: "offset +25:00", edit: func(m map[string]any) { m["start"] = "2026-03-02T10:00:00+25:00" }, at: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)},
		{name: "comma fraction", edit: func(m map[string]any) { m["start"] = "2026-03-02T10:00:00,5Z" }},
		{name: "February 29 of a leap year", edit: func(m map[string]any) { m["start"] = "2028-02-29T10:00:00Z" }},
		{name: "February 29 of 2100", edit: func(m map[string]any) { m["start"] = "2100-02-29T10:00:00Z" }, at: time.Date(2100, 3, 1, 10, 0, 0, 0, time.UTC)},
		{name: "alert a string", edit: func(m map[string]any) { m["alert"] = "yes" }},
		{name: "labels a string", edit: func(m map[string]any) { m["labels"] = "person" }},
		// Health records (docs/FORMAT.md, "Health records") share the stream.
		{name: "health problem", edit: health(nil)},
		{name: "health resolved", edit: health(func(m map[string]any) {
			m["state"], m["end"], m["flaps"], m["message"] = "resolved", now.Add(time.Minute).Format(time.RFC3339Nano), 3, "front camera is back (after 1 minute)"
		})},
		{name: "health of the hub", edit: health(func(m map[string]any) {
			m["check"], m["message"] = "cloud.contact", "The hub has not reached the cloud for 5 minutes"
			delete(m, "camera")
		})},
		{name: "health hub check with camera", edit: health(func(m map[string]any) { m["check"] = "storage.space" })},
		{name: "health camera check without camera", edit: health(func(m map[string]any) { delete(m, "camera") })},
		{name: "health unknown check", edit: health(func(m map[string]any) { m["check"] = "camera.colour" })},
		{name: "health with labels", edit: health(func(m map[string]any) { m["labels"] = []string{"person"} })},
		{name: "health flaps in a problem", edit: health(func(m map[string]any) { m["flaps"] = 2 })},
		{name: "health flaps not a count", edit: health(func(m map[string]any) { m["state"], m["end"], m["flaps"] = "resolved", m["start"], 1.5 })},
		{name: "health empty message", edit: health(func(m map[string]any) { m["message"] = "" })},
		{name: "health control in message", edit: health(func(m map[string]any) { m["message"] = "no \u001b[2J video" })},
		{name: "health resolved without end", edit: health(func(m map[string]any) { m["state"] = "resolved" })},
		{name: "health event state", edit: health(func(m map[string]any) { m["state"] = "start" })},
		{name: "kind event", edit: func(m map[string]any) { m["kind"] = "event" }},
		{name: "kind null", edit: func(m map[string]any) { m["kind"] = nil }},
		{name: "array", raw: []byte(`[1]`)},
		{name: "trailing data", raw: nil, edit: nil},
		{name: "byte order mark", raw: nil, edit: nil},
		{name: "invalid UTF-8", raw: nil, edit: nil},
	}
	valid, err := json.Marshal(base())
	if err != nil {
		t.Fatal(err)
	}
	for i := range vs {
		switch vs[i].name {
		case "trailing data":
			vs[i].raw = append(append([]byte(nil), valid...), " x"...)
		case "byte order mark":
			vs[i].raw = append([]byte("\xef\xbb\xbf"), valid...)
		case "invalid UTF-8":
			vs[i].raw = bytes.Replace(valid, []byte("person"), []byte("pers\xffn"), 1)
		}
	}
	st, err := member.VerifiedChain(context.Background(), hub.hh.Owner.API, hub.hh.ID, hub.hh.Genesis)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	var results []variantResult
	for _, v := range vs {
		body := v.raw
		m := base()
		if v.edit != nil {
			v.edit(m)
			// The edits write JSON escapes; decode them into the strings.
			b, err := json.Marshal(m)
			if err != nil {
				t.Fatal(err)
			}
			body = bytes.ReplaceAll(b, []byte(`\\u`), []byte(`\u`))
		}
		_, uerr := eventrec.Unmarshal(body)
		// Header times agree with the body where it has them.
		sealable := func(v any) (time.Time, bool) {
			s, _ := v.(string)
			tm, err := time.Parse(time.RFC3339Nano, s)
			return tm, err == nil && tm.Year() >= 1678 && tm.Year() <= 2261
		}
		start, end := now, now
		if !v.at.IsZero() {
			start, end = v.at, v.at
		}
		if tm, ok := sealable(m["start"]); ok {
			start, end = tm, tm
		}
		if tm, ok := sealable(m["end"]); ok && (m["state"] == "end" || m["state"] == "resolved") {
			end = tm
		}
		// Sealed only, not uploaded: the inbox does not list them.
		h := envelope.Header{Kind: envelope.KindEvent, Stream: eventrec.StreamEvents, Sequence: uint64(1000 + len(out)), Start: start, Epoch: uint32(st.Epoch)}
		sealed, err := envelope.Seal(h, end, hub.key, body, st.EpochRecipient())
		if err != nil {
			t.Fatalf("variant %s: %v", v.name, err)
		}
		out = append(out, base64.StdEncoding.EncodeToString(sealed))
		results = append(results, variantResult{name: v.name, ok: uerr == nil, err: uerr})
	}
	return out, results
}
