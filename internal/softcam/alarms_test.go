package softcam

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"vigil/internal/onvif"
)

// TestDoorbellAlarms: motion and tamper raised on the control endpoint
// reach an ONVIF subscriber as the properties real cameras send (their
// state first, Initialized; then each change), so that only the changes
// to true are news.
func TestDoorbellAlarms(t *testing.T) {
	s := startServer(t, Config{File: smallClip(t), CacheDir: t.TempDir(), Paths: []string{"main"},
		Control: "127.0.0.1:0", ONVIF: "127.0.0.1:0", ONVIFUser: "admin", ONVIFPassword: "door-secret"})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	post := func(path string, want int) AlarmStates {
		t.Helper()
		resp, err := http.Post("http://"+s.ControlAddr()+path, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != want {
			t.Fatalf("POST %s: %d, want %d", path, resp.StatusCode, want)
		}
		var st AlarmStates
		if want == http.StatusOK {
			if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
				t.Fatal(err)
			}
		}
		return st
	}
	// Motion is on before anyone subscribes.
	if st := post("/motion?state=on", 200); st != (AlarmStates{Motion: true}) {
		t.Fatalf("after motion on: %+v", st)
	}
	post("/tamper?state=maybe", http.StatusBadRequest)

	c, err := onvif.NewClient(onvif.ClientOptions{XAddr: "http://" + s.ONVIFAddr() + onvif.DevicePath, Username: "admin", Password: "door-secret"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	sub, err := c.Subscribe(ctx, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	post("/motion?state=off", 200)
	post("/tamper", 200) // a pulse: on, then off
	post("/motion", 200)
	if st := s.Alarms(); st != (AlarmStates{}) {
		t.Fatalf("after the pulses: %+v", st)
	}

	var got []onvif.Event
	for len(got) < 7 {
		evs, err := sub.Pull(ctx, 5*time.Second, 64)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, evs...)
	}
	var st onvif.AlarmStates
	var news []onvif.Kind
	for _, e := range got {
		a, ok := e.Alarm()
		if !ok {
			t.Fatalf("event %+v is no alarm", e)
		}
		if st.Rising(a) {
			news = append(news, a.Kind)
		}
	}
	// Initialized motion on and tamper off, motion off, tamper on and off,
	// motion on and off.
	if len(got) != 7 || got[0].Operation != "Initialized" || got[1].Operation != "Initialized" || got[2].Operation != "Changed" {
		t.Fatalf("pulled %+v", got)
	}
	if len(news) != 2 || news[0] != onvif.KindTamper || news[1] != onvif.KindMotion {
		t.Fatalf("news %v, want tamper then motion", news)
	}
}
