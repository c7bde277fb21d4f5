package hubd

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"vigil/internal/config"
	"vigil/internal/doorbell"
	"vigil/internal/eventrec"
	"vigil/internal/member"
	"vigil/internal/onvif"
	"vigil/internal/softcam"
	"vigil/internal/vigiltest"
)

// TestCameraAlarmsSealedToCloud: the software doorbell's own motion and
// tamper detection, raised on its control endpoint, travel over its real
// ONVIF events to a paired hub and reach the cloud as sealed event records
// labelled "motion" and "tamper" (tamper an alert, motion not), which the
// member opens; motion again within the interval makes no more; a press
// still rings (it follows the alarms on the subscription, so once its ring
// is in the cloud they have all been handled); the motion state the subscription
// starts with (the camera saw motion before the hub subscribed) makes no
// event; and the camera's password is never logged.
func TestCameraAlarmsSealedToCloud(t *testing.T) {
	t.Parallel()
	vigiltest.RequireTool(t, "ffmpeg", "ffmpeg")
	const password = "the doorbell's ONVIF password for alarms"
	cam := vigiltest.StartSoftcam(t, softcam.Config{Listen: "127.0.0.1:0", Paths: []string{"door"},
		ONVIF: "127.0.0.1:0", ONVIFUser: "admin", ONVIFPassword: password, Control: "127.0.0.1:0",
		Logger: vigiltest.Logger(t).With("component", "softcam")})
	control := func(path string) {
		t.Helper()
		resp, err := http.Post("http://"+cam.ControlAddr()+path, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("POST %s: %d", path, resp.StatusCode)
		}
	}
	// The camera sees motion before the hub subscribes: its state, not
	// news.
	control("/motion?state=on")

	cl := startCloud(t)
	m := newMember(t, cl.url())
	const camName = "frontdoorzq"
	cfg := pairedConfig(t, cl, camName, cam.URL("door"))
	cfg.Cameras[0].Doorbell = &config.Doorbell{ONVIF: &config.DoorbellONVIF{URL: "http://" + cam.ONVIFAddr() + onvif.DevicePath,
		Username: "admin", Password: password}, Interval: config.Duration(time.Second)}
	if _, hubErr, memberErr := pair(t, cl.url(), cfg.Data, m); hubErr != nil || memberErr != nil {
		t.Fatalf("pairing: hub %v, member %v", hubErr, memberErr)
	}
	subscribed := make(chan string, 8)
	logs := &lockedBuffer{}
	h := startHub(t, cfg, Options{UploadMinBackoff: 100 * time.Millisecond, UploadMaxBackoff: time.Second,
		Logger:          slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		ONVIFSubscribed: func(camera string) { subscribed <- camera }})
	select {
	case <-subscribed:
	case <-time.After(30 * time.Second):
		t.Fatalf("the hub did not subscribe to the camera's events; log:\n%s", logs)
	}

	control("/motion?state=off") // a change to false: no event
	pulses := time.Now()
	control("/tamper") // a pulse: one tamper event
	control("/motion") // a pulse: one motion event
	control("/motion") // again, within the interval: none
	if resp, err := http.Post("http://"+cam.ControlAddr()+"/press", "", nil); err != nil {
		t.Fatal(err)
	} else {
		resp.Body.Close()
	}

	ctx := context.Background()
	vs, err := member.VerifiedChain(ctx, m.c, m.st.HouseholdID, m.genesis)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := vs.EpochIdentities(m.keys)
	if err != nil {
		t.Fatal(err)
	}
	byLabel := map[string][]eventrec.Record{}
	waitFor(t, "motion, tamper and ring in the cloud", 60*time.Second, func() bool {
		objs, _ := m.c.Objects(ctx, m.st.HouseholdID, eventrec.StreamEvents, time.Time{}, time.Time{})
		clear(byLabel)
		for _, o := range objs {
			b, err := m.c.ReadObject(ctx, m.st.HouseholdID, o.Key, 1<<20)
			if err != nil {
				t.Fatal(err)
			}
			r, _, err := eventrec.Open(b, vs.TrustedHubs(), ids...)
			if err != nil {
				t.Fatalf("the member cannot open an event record: %v", err)
			}
			if len(r.Labels) != 1 {
				t.Fatalf("record labels %v", r.Labels)
			}
			byLabel[r.Labels[0]] = append(byLabel[r.Labels[0]], r)
		}
		return len(byLabel["motion"]) > 0 && len(byLabel["tamper"]) > 0 && len(byLabel["ring"]) > 0
	})
	h.Close()

	// The motion event is the pulse's: had the initial state counted, it
	// would have been the event (before the pulses) and the pulse within
	// its interval.
	if n := len(byLabel["motion"]); n != 1 || byLabel["motion"][0].Start.Before(pulses) {
		t.Errorf("motion events %+v, want 1 after %s (the initial state counted?)", byLabel["motion"], pulses)
	}
	if n := len(byLabel["tamper"]); n != 1 {
		t.Errorf("%d tamper events, want 1", n)
	}
	for label, alert := range map[string]bool{"motion": false, "tamper": true, "ring": true} {
		r := byLabel[label][0]
		if r.Camera != camName || r.Alert != alert || r.State != eventrec.StateEnd || !r.End.Equal(r.Start) || len(r.ID) != 32 {
			t.Errorf("%s record %+v", label, r)
		}
	}
	st := h.AlarmStats()
	if st[camName+"/motion"] != (doorbell.BellStats{Presses: 2, Rings: 1, Suppressed: 1}) || st[camName+"/tamper"] != (doorbell.BellStats{Presses: 1, Rings: 1}) {
		t.Errorf("alarm stats %+v", st)
	}
	if st := h.DoorbellStats()[camName]; st.Presses != 1 || st.Rings != 1 {
		t.Errorf("doorbell stats %+v", st)
	}
	if strings.Contains(logs.String(), password) {
		t.Fatal("the camera's ONVIF password was logged")
	}

	// The insider's view (G2): no cloud file says what the camera saw, or
	// which camera it was, in the clear.
	var leaks, named vigiltest.LeakScan
	for _, l := range []*vigiltest.LeakScan{&leaks, &named} {
		for label, recs := range byLabel {
			l.Secret("label "+label, []byte(`["`+label+`"]`)) // as a sealed record holds it
			for _, r := range recs {
				l.Secret(label+" event ID", []byte(r.ID))
			}
		}
	}
	named.Secret("camera name", []byte(camName))
	scanCloudFiles(t, cl.dir, &leaks, &named)
}
