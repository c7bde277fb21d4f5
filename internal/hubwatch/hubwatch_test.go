package hubwatch_test

import (
	"strings"
	"testing"
	"time"

	"vigil/internal/eventrec"
	"vigil/internal/hubwatch"
	"vigil/internal/vigiltest"
)

// sim drives a Watcher on an injected clock with a hub of one camera
// whose counters the test moves.
type sim struct {
	t      *testing.T
	clk    *vigiltest.Clock
	w      *hubwatch.Watcher
	obs    hubwatch.Observation
	fps    uint64 // frames added per second while the camera runs
	alerts []hubwatch.Alert
}

func newSim(t *testing.T, cfg hubwatch.Config) *sim {
	s := &sim{t: t, clk: vigiltest.NewClock(time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)), fps: 10}
	s.w = hubwatch.New(cfg, s.clk.Now, vigiltest.Logger(t))
	s.obs = hubwatch.Observation{Cameras: []hubwatch.Camera{{Name: "Front door"}}, Storage: hubwatch.Storage{Free: 40 << 30}}
	return s
}

// run advances d in steps of a second, the camera sending s.fps frames
// each second and a segment stored every 4 s unless told otherwise.
func (s *sim) run(d time.Duration, edit func(o *hubwatch.Observation)) {
	for range int(d / time.Second) {
		s.clk.Add(time.Second)
		s.obs.Cameras[0].Frames += s.fps
		if s.clk.Now().Unix()%4 == 0 {
			s.obs.Storage.Writes++
		}
		if edit != nil {
			edit(&s.obs)
		}
		for _, a := range s.w.Step(s.obs) {
			s.check(a)
			s.alerts = append(s.alerts, a)
		}
	}
}

// check: every alert is a valid health record.
func (s *sim) check(a hubwatch.Alert) {
	s.t.Helper()
	if _, err := eventrec.Marshal(a.Record()); err != nil {
		s.t.Fatalf("alert %+v is not a valid health record: %v", a, err)
	}
}

func (s *sim) take() []hubwatch.Alert {
	a := s.alerts
	s.alerts = nil
	return a
}

func describe(as []hubwatch.Alert) string {
	var b strings.Builder
	for _, a := range as {
		b.WriteString("\n  " + a.Check + " " + a.Camera + " " + a.State + ": " + a.Message)
	}
	return b.String()
}

func want(t *testing.T, got []hubwatch.Alert, check, state string) hubwatch.Alert {
	t.Helper()
	if len(got) != 1 || got[0].Check != check || got[0].State != state {
		t.Fatalf("want one %s %s alert, got %d:%s", check, state, len(got), describe(got))
	}
	return got[0]
}

// TestCameraStopsAndReturns: a camera that stops sending raises one
// problem once NoVideo and Hold have passed, in plain words, and one
// resolution with the same ID after it has been back for Hold.
func TestCameraStopsAndReturns(t *testing.T) {
	s := newSim(t, hubwatch.Config{})
	s.run(5*time.Minute, nil)
	if a := s.take(); len(a) != 0 {
		t.Fatalf("a healthy hub alerted:%s", describe(a))
	}
	fps := s.fps
	s.fps = 0
	s.run(hubwatch.DefaultNoVideo+hubwatch.DefaultHold-2*time.Second, nil)
	if a := s.take(); len(a) != 0 {
		t.Fatalf("alerted before NoVideo+Hold:%s", describe(a))
	}
	s.run(3*time.Second, nil)
	p := want(t, s.take(), eventrec.CheckCameraFrames, hubwatch.StateProblem)
	if p.Camera != "Front door" || p.Message != "Front door camera: no video for 1 minute" {
		t.Errorf("problem %+v", p)
	}
	s.run(10*time.Minute, nil)
	if a := s.take(); len(a) != 0 {
		t.Fatalf("a lasting problem alerted again:%s", describe(a))
	}
	s.fps = fps
	s.run(hubwatch.DefaultHold+time.Second, nil)
	r := want(t, s.take(), eventrec.CheckCameraFrames, hubwatch.StateResolved)
	if r.ID != p.ID || !r.Start.Equal(p.Start) || r.End.Sub(r.Start) < 11*time.Minute || r.Flaps != 0 ||
		r.Message != "Front door camera is back (after 11 minutes)" {
		t.Errorf("resolved %+v after problem %+v", r, p)
	}
	s.run(10*time.Minute, nil)
	if a := s.take(); len(a) != 0 {
		t.Fatalf("alerts after recovery:%s", describe(a))
	}
}

// TestFlappingCamera: a camera that drops out for 2 minutes every 3
// minutes for an hour makes one problem per Repeat, each dropout after the
// first counted, and never one alert per dropout.
func TestFlappingCamera(t *testing.T) {
	s := newSim(t, hubwatch.Config{})
	s.run(2*time.Minute, nil)
	for range 20 {
		fps := s.fps
		s.fps = 0
		s.run(2*time.Minute, nil)
		s.fps = fps
		s.run(time.Minute, nil)
	}
	s.run(5*time.Minute, nil)
	got := s.take()
	// The first dropout alerts, and is resolved when the camera has been
	// back for Hold; the next ones are held back by Repeat until 30
	// minutes after the first alert (dropouts 2 to 10), and counted in
	// the resolution of the next alert (dropout 11); dropouts 12 to 20
	// wait for the next resolution.
	if len(got) != 4 {
		t.Fatalf("%d alerts for 20 dropouts in an hour, want 4:%s", len(got), describe(got))
	}
	for i, a := range got {
		wantState := []string{hubwatch.StateProblem, hubwatch.StateResolved}[i%2]
		if a.Check != eventrec.CheckCameraFrames || a.State != wantState || a.ID != got[i/2*2].ID {
			t.Fatalf("alert %d is not the %s of its problem:%s", i, wantState, describe(got))
		}
	}
	if got[1].Flaps != 0 || got[3].Flaps != 9 || !strings.HasSuffix(got[3].Message, "; it also came and went 9 more times") {
		t.Errorf("flaps %d and %d, want 0 and 9:%s", got[1].Flaps, got[3].Flaps, describe(got))
	}
	if d := got[2].Start.Sub(got[0].Start); d != 30*time.Minute {
		t.Errorf("second alert's dropout began %v after the first's, want the 11th dropout, 30 minutes", d)
	}
}

// TestShortDropoutsDoNotAlert: dropouts shorter than NoVideo+Hold never
// alert, however many.
func TestShortDropoutsDoNotAlert(t *testing.T) {
	s := newSim(t, hubwatch.Config{})
	for range 30 {
		fps := s.fps
		s.fps = 0
		s.run(80*time.Second, nil)
		s.fps = fps
		s.run(20*time.Second, nil)
	}
	if a := s.take(); len(a) != 0 {
		t.Fatalf("short dropouts alerted:%s", describe(a))
	}
}

// TestReconnectLoop: a camera that keeps reconnecting while frames still
// arrive raises the reconnect check, not the video one.
func TestReconnectLoop(t *testing.T) {
	s := newSim(t, hubwatch.Config{})
	s.run(time.Minute, nil)
	s.run(3*time.Minute, func(o *hubwatch.Observation) {
		if s.clk.Now().Unix()%20 == 0 {
			o.Cameras[0].Disconnects++
		}
	})
	p := want(t, s.take(), eventrec.CheckCameraReconnects, hubwatch.StateProblem)
	if !strings.HasPrefix(p.Message, "Front door camera keeps losing its connection") {
		t.Errorf("message %q", p.Message)
	}
	s.run(hubwatch.DefaultReconnectWindow+hubwatch.DefaultHold+time.Second, nil)
	want(t, s.take(), eventrec.CheckCameraReconnects, hubwatch.StateResolved)
}

// TestSlowFrameRate: a camera that learnt 10 fps and falls to 2 raises the
// rate check; back at 10 it resolves.
func TestSlowFrameRate(t *testing.T) {
	s := newSim(t, hubwatch.Config{})
	s.run(10*time.Minute, nil)
	s.fps = 2
	s.run(2*time.Minute, nil)
	p := want(t, s.take(), eventrec.CheckCameraRate, hubwatch.StateProblem)
	if p.Message != "Front door camera: video at 2.0 frames a second, far below its usual 10" {
		t.Errorf("message %q", p.Message)
	}
	s.fps = 10
	s.run(2*time.Minute, nil)
	want(t, s.take(), eventrec.CheckCameraRate, hubwatch.StateResolved)
}

// TestStorageChecks: write errors, low space, a disk filling fast, and
// retention forced below its age, each with its own alert and resolution.
func TestStorageChecks(t *testing.T) {
	s := newSim(t, hubwatch.Config{MinFree: 1 << 30, Repeat: time.Minute})
	s.run(time.Minute, nil)
	// Every write fails.
	s.run(time.Minute, func(o *hubwatch.Observation) {
		if s.clk.Now().Unix()%4 == 0 {
			o.Storage.Writes--
			o.Storage.WriteErrors++
		}
	})
	want(t, s.take(), eventrec.CheckStorageWrites, hubwatch.StateProblem)
	s.run(time.Minute, nil)
	want(t, s.take(), eventrec.CheckStorageWrites, hubwatch.StateResolved)

	s.obs.Storage.Free = 200 << 20
	s.run(time.Minute, nil)
	p := want(t, s.take(), eventrec.CheckStorageSpace, hubwatch.StateProblem)
	if p.Message != "The hub's disk is nearly full (200 MB free)" {
		t.Errorf("message %q", p.Message)
	}
	s.obs.Storage.Free = 40 << 30
	s.run(time.Minute, nil)
	want(t, s.take(), eventrec.CheckStorageSpace, hubwatch.StateResolved)

	s.run(11*time.Minute, nil)
	if a := s.take(); len(a) != 0 {
		t.Fatalf("a steady disk alerted:%s", describe(a))
	}
	// 40 GB falling by 10 MB a second: full in about an hour.
	s.run(6*time.Minute, func(o *hubwatch.Observation) { o.Storage.Free -= 10 << 20 })
	p = want(t, s.take(), eventrec.CheckStorageSpace, hubwatch.StateProblem)
	if !strings.HasPrefix(p.Message, "The hub's disk is filling up: at this rate it is full in about ") || !strings.Contains(p.Message, "hours") {
		t.Errorf("message %q", p.Message)
	}
	s.run(11*time.Minute, nil)
	want(t, s.take(), eventrec.CheckStorageSpace, hubwatch.StateResolved)

	s.obs.Storage.Forced, s.obs.Storage.ForcedAge, s.obs.Storage.RetentionAge = 3, 26*time.Hour, 30*24*time.Hour
	s.run(time.Minute, nil)
	p = want(t, s.take(), eventrec.CheckStorageRetention, hubwatch.StateProblem)
	if p.Message != "The hub is deleting recordings younger than the 30 days it should keep, to make room (the latest was 26 hours old)" {
		t.Errorf("message %q", p.Message)
	}
	s.run(hubwatch.DefaultRetentionWindow, nil)
	want(t, s.take(), eventrec.CheckStorageRetention, hubwatch.StateResolved)
}

// TestCloudChecks: a cloud away for longer than CloudContact raises one
// problem (not the backlog, which grows because of it); a backlog that
// grows while the cloud answers raises the backlog check.
func TestCloudChecks(t *testing.T) {
	s := newSim(t, hubwatch.Config{})
	s.obs.Cloud = &hubwatch.Cloud{}
	s.run(time.Minute, nil)
	s.obs.Cloud.Away = true
	s.run(20*time.Minute, func(o *hubwatch.Observation) {
		if s.clk.Now().Unix()%4 == 0 {
			o.Cloud.Pending++
		}
	})
	p := want(t, s.take(), eventrec.CheckCloudContact, hubwatch.StateProblem)
	if p.Message != "The hub has not reached the cloud for 5 minutes; it keeps recording and will upload when it can" {
		t.Errorf("message %q", p.Message)
	}
	s.obs.Cloud.Away, s.obs.Cloud.Pending = false, 0
	s.run(time.Minute, nil)
	want(t, s.take(), eventrec.CheckCloudContact, hubwatch.StateResolved)

	// The cloud answers, but uploads fall behind.
	s.run(12*time.Minute, func(o *hubwatch.Observation) {
		if s.clk.Now().Unix()%8 == 0 {
			o.Cloud.Pending++
		}
	})
	want(t, s.take(), eventrec.CheckUploadBacklog, hubwatch.StateProblem)
	s.obs.Cloud.Pending = 0
	s.run(time.Minute, nil)
	want(t, s.take(), eventrec.CheckUploadBacklog, hubwatch.StateResolved)
}

func TestWords(t *testing.T) {
	for d, w := range map[time.Duration]string{
		time.Second: "1 second", 45 * time.Second: "45 seconds", 90 * time.Second: "1 minute",
		2 * time.Hour: "2 hours", 47 * time.Hour: "47 hours", 72 * time.Hour: "3 days",
	} {
		if got := hubwatch.Words(d); got != w {
			t.Errorf("Words(%v) = %q, want %q", d, got, w)
		}
	}
	for n, w := range map[int64]string{100: "100 bytes", 3 << 19: "1.5 MB", 200 << 30: "200 GB"} {
		if got := hubwatch.Bytes(n); got != w {
			t.Errorf("Bytes(%d) = %q, want %q", n, got, w)
		}
	}
}

// BenchmarkStep: one look at a hub of 16 cameras, a paired hub's disk
// and uploads, every check evaluated.
func BenchmarkStep(b *testing.B) {
	clk := vigiltest.NewClock(time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC))
	w := hubwatch.New(hubwatch.Config{}, clk.Now, nil)
	o := hubwatch.Observation{Storage: hubwatch.Storage{Free: 40 << 30}, Cloud: &hubwatch.Cloud{}}
	for i := range 16 {
		o.Cameras = append(o.Cameras, hubwatch.Camera{Name: "camera-" + string(rune('a'+i))})
	}
	for b.Loop() {
		clk.Add(5 * time.Second)
		for i := range o.Cameras {
			o.Cameras[i].Frames += 75
		}
		o.Storage.Writes++
		if len(w.Step(o)) != 0 {
			b.Fatal("a healthy hub alerted")
		}
	}
}

// TestSensors: every check the record format knows is listed, a camera's
// for each camera and the hub's once, the cloud's only with a cloud.
func TestSensors(t *testing.T) {
	got := map[hubwatch.Sensor]int{}
	for _, s := range hubwatch.Sensors([]string{"front", "back"}, true) {
		got[s]++
		if !eventrec.IsCheck(s.Check) || eventrec.IsCameraCheck(s.Check) != (s.Camera != "") {
			t.Errorf("sensor %+v: not a check of the record format, or its camera does not fit it", s)
		}
	}
	all := []string{eventrec.CheckCameraFrames, eventrec.CheckCameraReconnects, eventrec.CheckCameraRate,
		eventrec.CheckStorageWrites, eventrec.CheckStorageSpace, eventrec.CheckStorageRetention,
		eventrec.CheckUploadBacklog, eventrec.CheckCloudContact}
	want := 0
	for _, check := range all {
		subjects := []string{""}
		if eventrec.IsCameraCheck(check) {
			subjects = []string{"front", "back"}
		}
		for _, cam := range subjects {
			want++
			if got[hubwatch.Sensor{Check: check, Camera: cam}] != 1 {
				t.Errorf("%s of %q listed %d times, want once", check, cam, got[hubwatch.Sensor{Check: check, Camera: cam}])
			}
		}
	}
	if len(got) != want {
		t.Errorf("%d sensors, want %d: %v", len(got), want, got)
	}
	for _, s := range hubwatch.Sensors(nil, false) {
		if s.Camera != "" || s.Check == eventrec.CheckCloudContact || s.Check == eventrec.CheckUploadBacklog {
			t.Errorf("a hub without cameras or cloud lists %+v", s)
		}
	}
}
