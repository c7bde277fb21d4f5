package eventrec_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"vigil/internal/envelope"
	"vigil/internal/eventrec"
)

func sample() eventrec.Record {
	start := time.Date(2026, 11, 28, 21, 0, 0, 123456789, time.UTC)
	return eventrec.Record{ID: strings.Repeat("ab", 16), Camera: "front", State: eventrec.StateEnd, Start: start,
		End: start.Add(7 * time.Second), Labels: []string{"person"}, Zones: []string{"driveway"}, Alert: true,
		Score: 0.91, Box: [4]float64{0.1, 0.2, 0.3, 0.4}, Snapshot: "hh/dev/snapshots/0000000000000002"}
}

func TestRoundTrip(t *testing.T) {
	for _, r := range []eventrec.Record{sample(), func() eventrec.Record {
		r := sample()
		r.State, r.End, r.Snapshot, r.Zones = eventrec.StateStart, time.Time{}, "", nil
		return r
	}()} {
		b, err := eventrec.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		got, err := eventrec.Unmarshal(b)
		if err != nil {
			t.Fatalf("%s: %v", b, err)
		}
		if r.Zones == nil {
			r.Zones = []string{}
		}
		if !reflect.DeepEqual(got, r) {
			t.Errorf("round trip:\n got %+v\nwant %+v", got, r)
		}
	}
}

func healthSample() eventrec.Record {
	start := time.Date(2026, 11, 28, 21, 0, 0, 123456789, time.UTC)
	return eventrec.Record{Kind: eventrec.KindHealth, ID: strings.Repeat("cd", 16), Check: eventrec.CheckCameraFrames,
		Camera: "Front door", State: eventrec.StateResolved, Start: start, End: start.Add(3 * time.Minute),
		Message: "Front door camera is back (no video for 3 minutes)", Flaps: 2}
}

func TestHealthRoundTrip(t *testing.T) {
	problem := healthSample()
	problem.State, problem.End, problem.Flaps, problem.Message = eventrec.StateProblem, time.Time{}, 0, "Front door camera: no video for 2 minutes"
	hub := healthSample()
	hub.Check, hub.Camera, hub.Message = eventrec.CheckCloudContact, "", "The hub is back in touch with the cloud"
	for _, r := range []eventrec.Record{healthSample(), problem, hub} {
		b, err := eventrec.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(b, []byte(`"kind":"health"`)) || bytes.Contains(b, []byte(`"labels"`)) {
			t.Errorf("health JSON: %s", b)
		}
		got, err := eventrec.Unmarshal(b)
		if err != nil {
			t.Fatalf("%s: %v", b, err)
		}
		if !reflect.DeepEqual(got, r) {
			t.Errorf("round trip:\n got %+v\nwant %+v", got, r)
		}
	}
	// An event record's JSON is unchanged: it carries no kind.
	if b, _ := eventrec.Marshal(sample()); bytes.Contains(b, []byte(`kind`)) {
		t.Errorf("event JSON names a kind: %s", b)
	}
}

func TestHealthRefuses(t *testing.T) {
	for name, edit := range map[string]func(*eventrec.Record){
		"unknown check":           func(r *eventrec.Record) { r.Check = "camera.colour" },
		"camera check, no camera": func(r *eventrec.Record) { r.Camera = "" },
		"hub check with camera":   func(r *eventrec.Record) { r.Check = eventrec.CheckStorageSpace },
		"event state":             func(r *eventrec.Record) { r.State = eventrec.StateEnd },
		"problem with end":        func(r *eventrec.Record) { r.State, r.Flaps = eventrec.StateProblem, 0 },
		"resolved without end":    func(r *eventrec.Record) { r.End = time.Time{} },
		"end before start":        func(r *eventrec.Record) { r.End = r.Start.Add(-time.Second) },
		"empty message":           func(r *eventrec.Record) { r.Message = "" },
		"long message":            func(r *eventrec.Record) { r.Message = strings.Repeat("x", eventrec.MaxMessageBytes+1) },
		"control in message":      func(r *eventrec.Record) { r.Message = "back\x1b[2J" },
		"negative flaps":          func(r *eventrec.Record) { r.Flaps = -1 },
		"flaps in problem":        func(r *eventrec.Record) { r.State, r.End = eventrec.StateProblem, time.Time{} },
		"labels":                  func(r *eventrec.Record) { r.Labels = []string{"person"} },
		"snapshot":                func(r *eventrec.Record) { r.Snapshot = "a/b" },
		"score":                   func(r *eventrec.Record) { r.Score = 0.5 },
		"unknown kind":            func(r *eventrec.Record) { r.Kind = "weather" },
		"event with message":      func(r *eventrec.Record) { *r = sample(); r.Message = "hello" },
		"event with check":        func(r *eventrec.Record) { *r = sample(); r.Check = eventrec.CheckCameraFrames },
	} {
		r := healthSample()
		edit(&r)
		if _, err := eventrec.Marshal(r); !errors.Is(err, eventrec.ErrInvalid) {
			t.Errorf("%s: marshalled (%v)", name, err)
		}
	}
	for _, s := range invalidHealthJSON {
		if _, err := eventrec.Unmarshal([]byte(s)); !errors.Is(err, eventrec.ErrInvalid) {
			t.Errorf("accepted or wrong error (%v):\n%s", err, s)
		}
	}
}

// invalidHealthJSON are health records every reader must refuse.
var invalidHealthJSON = []string{
	`{"v":1,"kind":"health","id":"cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd","check":"camera.frames","camera":"front","state":"problem","start":"2026-11-28T21:00:00Z","message":"x","flaps":0,"labels":[]}`,
	`{"v":1,"kind":"event","id":"cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd","check":"camera.frames","camera":"front","state":"problem","start":"2026-11-28T21:00:00Z","message":"x","flaps":0}`,
	`{"v":1,"kind":"","id":"abababababababababababababababab","camera":"front","state":"start","start":"2026-11-28T21:00:00Z","labels":[],"zones":[],"alert":false,"score":0,"box":[0,0,0,0],"snapshot":""}`,
	`{"v":1,"kind":null,"id":"abababababababababababababababab","camera":"front","state":"start","start":"2026-11-28T21:00:00Z","labels":[],"zones":[],"alert":false,"score":0,"box":[0,0,0,0],"snapshot":""}`,
	`{"v":2,"kind":"health","id":"cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd","check":"camera.frames","camera":"front","state":"problem","start":"2026-11-28T21:00:00Z","message":"x","flaps":0}`,
	`{"v":1,"kind":"health","id":"cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd","check":"storage.space","camera":"front","state":"problem","start":"2026-11-28T21:00:00Z","message":"x","flaps":0}`,
	`{"v":1,"kind":"health","id":"cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd","check":"camera.frames","state":"problem","start":"2026-11-28T21:00:00Z","message":"x","flaps":0}`,
	`{"v":1,"kind":"health","id":"cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd","check":"storage.space","state":"resolved","start":"2026-11-28T21:00:00Z","message":"x","flaps":0}`,
	`{"v":1,"kind":"health","id":"cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd","check":"storage.space","state":"problem","start":"2026-11-28T21:00:00Z","message":"","flaps":0}`,
	`{"v":1,"kind":"health","id":"cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd","check":"storage.space","state":"problem","start":"2026-11-28T21:00:00Z","message":"x","flaps":1.5}`,
	`{"v":1,"kind":"health","id":"cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd","check":"storage.space","state":"problem","start":"2026-11-28T21:00:00Z","message":"x","flaps":0} {}`,
	`{"v":1,"kind":"health","id":"cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd","check":"storage.space","state":"problem","start":"2026-11-28T21:00:00Z","message":"x","flaps":0,"kind":"other"}`,
}

// invalidJSON are records every reader must refuse.
var invalidJSON = []string{
	`{"v":2,"id":"abababababababababababababababab","camera":"front","state":"start","start":"2026-11-28T21:00:00Z","labels":[],"zones":[],"alert":false,"score":0,"box":[0,0,0,0],"snapshot":""}`,
	`{"v":1,"id":"ABABABABABABABABABABABABABABABAB","camera":"front","state":"start","start":"2026-11-28T21:00:00Z","labels":[],"zones":[],"alert":false,"score":0,"box":[0,0,0,0],"snapshot":""}`,
	`{"v":1,"id":"abababababababababababababababab","camera":"","state":"start","start":"2026-11-28T21:00:00Z","labels":[],"zones":[],"alert":false,"score":0,"box":[0,0,0,0],"snapshot":""}`,
	`{"v":1,"id":"abababababababababababababababab","camera":"front","state":"open","start":"2026-11-28T21:00:00Z","labels":[],"zones":[],"alert":false,"score":0,"box":[0,0,0,0],"snapshot":""}`,
	`{"v":1,"id":"abababababababababababababababab","camera":"front","state":"start","start":"2026-11-28T21:00:00Z","end":"2026-11-28T21:00:01Z","labels":[],"zones":[],"alert":false,"score":0,"box":[0,0,0,0],"snapshot":""}`,
	`{"v":1,"id":"abababababababababababababababab","camera":"front","state":"end","start":"2026-11-28T21:00:00Z","labels":[],"zones":[],"alert":false,"score":0,"box":[0,0,0,0],"snapshot":""}`,
	`{"v":1,"id":"abababababababababababababababab","camera":"front","state":"end","start":"2026-11-28T21:00:00Z","end":"2026-11-28T20:00:00Z","labels":[],"zones":[],"alert":false,"score":0,"box":[0,0,0,0],"snapshot":""}`,
	`{"v":1,"id":"abababababababababababababababab","camera":"front","state":"start","start":"2026-11-28T21:00:00Z","labels":[],"zones":[],"alert":false,"score":1.5,"box":[0,0,0,0],"snapshot":""}`,
	`{"v":1,"id":"abababababababababababababababab","camera":"front","state":"start","start":"2026-11-28T21:00:00Z","labels":[],"zones":[],"alert":false,"score":0,"box":[0.8,0,0.5,0],"snapshot":""}`,
	`{"v":1,"id":"abababababababababababababababab","camera":"front","state":"start","start":"2026-11-28T21:00:00Z","labels":[""],"zones":[],"alert":false,"score":0,"box":[0,0,0,0],"snapshot":""}`,
	`{"v":1,"id":"abababababababababababababababab","camera":"front","state":"start","start":"2026-11-28T21:00:00Z","labels":["a\u0000"],"zones":[],"alert":false,"score":0,"box":[0,0,0,0],"snapshot":""}`,
	`{"v":1,"id":"abababababababababababababababab","camera":"front","state":"start","start":"2026-11-28T21:00:00Z","labels":[],"zones":[],"alert":false,"score":0,"box":[0,0,0,0],"snapshot":"../etc"}`,
	`{"v":1,"id":"abababababababababababababababab","camera":"front","state":"start","start":"yesterday","labels":[],"zones":[],"alert":false,"score":0,"box":[0,0,0,0],"snapshot":""}`,
	`{"v":1,"id":"abababababababababababababababab","camera":"front","state":"start","start":"2026-11-28T21:00:00Z","labels":[],"zones":[],"alert":false,"score":0,"box":[0,0,0,0],"snapshot":"","extra":1}`,
	`{"v":1,"id":"abababababababababababababababab","camera":"front","state":"start","start":"2026-11-28T21:00:00Z","labels":[],"zones":[],"alert":false,"score":0,"box":[0,0,0,0],"snapshot":""} {}`,
	`{"v":1,"id":"abababababababababababababababab","camera":"front","state":"start","start":"2026-11-28T21:00:00Z","labels":[],"zones":[],"alert":false,"score":0,"box":[0,0,0],"snapshot":""}`,
}

func TestUnmarshalRefuses(t *testing.T) {
	for _, s := range invalidJSON {
		if _, err := eventrec.Unmarshal([]byte(s)); !errors.Is(err, eventrec.ErrInvalid) {
			t.Errorf("accepted or wrong error (%v):\n%s", err, s)
		}
	}
	long := sample()
	for range eventrec.MaxLabels + 1 {
		long.Labels = append(long.Labels, "person")
	}
	if _, err := eventrec.Marshal(long); !errors.Is(err, eventrec.ErrInvalid) {
		t.Errorf("%d labels: %v", len(long.Labels), err)
	}
	if _, err := eventrec.Unmarshal(bytes.Repeat([]byte(" "), eventrec.MaxRecordBytes+1)); !errors.Is(err, eventrec.ErrInvalid) {
		t.Errorf("oversized input: %v", err)
	}
}

func FuzzUnmarshal(f *testing.F) {
	good, _ := eventrec.Marshal(sample())
	f.Add(good)
	health, _ := eventrec.Marshal(healthSample())
	f.Add(health)
	for _, s := range append(invalidJSON, invalidHealthJSON...) {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := eventrec.Unmarshal(b)
		if err != nil {
			return
		}
		// Whatever is accepted re-encodes to an equal record.
		b2, err := eventrec.Marshal(r)
		if err != nil {
			t.Fatalf("accepted record does not marshal: %v", err)
		}
		r2, err := eventrec.Unmarshal(b2)
		if err != nil {
			t.Fatalf("re-encoded record refused: %v", err)
		}
		if b3, _ := eventrec.Marshal(r2); !bytes.Equal(b2, b3) {
			t.Fatalf("re-encoding differs:\n%s\n%s", b2, b3)
		}
	})
}

func TestSealOpen(t *testing.T) {
	_, hub, _ := ed25519.GenerateKey(rand.Reader)
	id, err := envelope.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	other, _ := envelope.GenerateX25519Identity()
	trust := envelope.TrustedKeys{hub.Public().(ed25519.PublicKey)}
	r := sample()
	sealed, err := eventrec.Seal(r, 7, 1, hub, id.Recipient())
	if err != nil {
		t.Fatal(err)
	}
	hdr, err := envelope.Inspect(bytes.NewReader(sealed))
	if err != nil || hdr.Stream != eventrec.StreamEvents || hdr.Kind != envelope.KindEvent || hdr.Sequence != 7 {
		t.Fatalf("public header %+v %v", hdr, err)
	}
	if bytes.Contains(sealed, []byte("front")) || bytes.Contains(sealed, []byte("driveway")) {
		t.Error("the sealed record shows its camera or zone")
	}
	got, _, err := eventrec.Open(sealed, trust, id)
	if err != nil || !reflect.DeepEqual(got, r) {
		t.Fatalf("open: %v\n%+v", err, got)
	}
	if _, _, err := eventrec.Open(sealed, trust, other); err == nil {
		t.Error("a stranger's identity opened the record")
	}
	jpeg := append([]byte{0xFF, 0xD8, 0xFF, 0xE0}, []byte("JFIF-MARKER")...)
	snap, err := eventrec.SealSnapshot(jpeg, r.Start, 8, 1, hub, id.Recipient())
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := eventrec.Open(snap, trust, id); err == nil {
		t.Error("a snapshot opened as an event record")
	}
	gotJPEG, at, err := eventrec.OpenSnapshot(snap, trust, id)
	if err != nil || !bytes.Equal(gotJPEG, jpeg) || !at.Equal(r.Start) {
		t.Fatalf("snapshot: %v", err)
	}
	if _, err := eventrec.SealSnapshot([]byte("not a jpeg"), r.Start, 9, 1, hub, id.Recipient()); err == nil {
		t.Error("sealed a snapshot that is not a JPEG")
	}
	// A health record seals the same way: an event on the events stream
	// whose public header shows neither its camera nor its message.
	hr := healthSample()
	sealed, err = eventrec.Seal(hr, 10, 1, hub, id.Recipient())
	if err != nil {
		t.Fatal(err)
	}
	if hdr, err := envelope.Inspect(bytes.NewReader(sealed)); err != nil || hdr.Stream != eventrec.StreamEvents || hdr.Kind != envelope.KindEvent {
		t.Fatalf("health public header %+v %v", hdr, err)
	}
	if bytes.Contains(sealed, []byte("Front door")) || bytes.Contains(sealed, []byte("camera.frames")) || bytes.Contains(sealed, []byte("health")) {
		t.Error("the sealed health record shows its camera, check or kind")
	}
	if got, _, err := eventrec.Open(sealed, trust, id); err != nil || !reflect.DeepEqual(got, hr) {
		t.Fatalf("open health: %v\n%+v", err, got)
	}
}

// The largest record, sealed to a household's epoch recipient, fits the
// 3000 bytes the cloud forwards as a Web Push.
func TestLargestRecordFitsPush(t *testing.T) {
	if n := envelope.SealedSize(len(eventrec.StreamEvents), 0, 1, eventrec.MaxRecordBytes); n > 3000 {
		t.Errorf("a %d-byte record seals to %d bytes, over 3000", eventrec.MaxRecordBytes, n)
	}
}
