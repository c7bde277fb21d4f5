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
	for _, s := range invalidJSON {
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
}

// The largest record, sealed to a household's epoch recipient, fits the
// 3000 bytes the cloud forwards as a Web Push.
func TestLargestRecordFitsPush(t *testing.T) {
	if n := envelope.SealedSize(len(eventrec.StreamEvents), 0, 1, eventrec.MaxRecordBytes); n > 3000 {
		t.Errorf("a %d-byte record seals to %d bytes, over 3000", eventrec.MaxRecordBytes, n)
	}
}
