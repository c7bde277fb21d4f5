package notify

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"reflect"
	"sync"
	"testing"
	"time"

	"vigil/internal/envelope"
	"vigil/internal/eventrec"
)

func TestDispatcherFansOutAndMeasures(t *testing.T) {
	var mu sync.Mutex
	got := map[string][]string{}
	sink := func(name string, fail bool) Sink {
		return Sink{Name: name, Notifier: NotifierFunc(func(_ context.Context, ev Event) error {
			mu.Lock()
			got[name] = append(got[name], ev.ID)
			mu.Unlock()
			if fail {
				return errors.New("down")
			}
			return nil
		})}
	}
	clock := time.Unix(1000, 0)
	d := NewDispatcher(DispatcherConfig{Now: func() time.Time { return clock }}, sink("a", false), sink("b", true))
	for i, id := range []string{"e1", "e2", "e3", "e4"} {
		// First frames 1, 2, 3, 4 seconds before the (fixed) delivery time.
		d.Notify(context.Background(), Event{ID: id, FirstFrame: clock.Add(-time.Duration(i+1) * time.Second)})
	}
	waitFor(t, func() bool {
		s := d.Stats()
		return s[0].Delivered == 4 && s[1].Failed == 4
	})
	d.Close()
	if got["a"][0] != "e1" || len(got["a"]) != 4 || len(got["b"]) != 4 {
		t.Fatalf("deliveries: %v", got)
	}
	s := d.Stats()
	if s[0].Samples != 4 || s[0].P50 != 2*time.Second || s[0].P95 != 4*time.Second {
		t.Fatalf("sink a stats %+v", s[0])
	}
	if s[1].Samples != 0 || s[1].Delivered != 0 {
		t.Fatalf("failed deliveries were measured: %+v", s[1])
	}
}

func TestDispatcherDropsOldestWithoutBlocking(t *testing.T) {
	release := make(chan struct{})
	var mu sync.Mutex
	var got []string
	slow := NotifierFunc(func(ctx context.Context, ev Event) error {
		<-release
		mu.Lock()
		got = append(got, ev.ID)
		mu.Unlock()
		return nil
	})
	d := NewDispatcher(DispatcherConfig{QueueSize: 2}, Sink{Name: "slow", Notifier: slow})
	defer d.Close()
	d.Notify(context.Background(), Event{ID: "first"})
	waitFor(t, func() bool { return len(d.sinks[0].ch) == 0 }) // "first" is in flight
	for _, id := range []string{"x1", "x2", "x3", "x4", "x5"} {
		d.Notify(context.Background(), Event{ID: id}) // must not block
	}
	if s := d.Stats()[0]; s.Dropped != 3 {
		t.Fatalf("dropped %d, want 3", s.Dropped)
	}
	close(release)
	waitFor(t, func() bool { return d.Stats()[0].Delivered == 3 })
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 3 || got[0] != "first" || got[1] != "x4" || got[2] != "x5" {
		t.Fatalf("delivered %v, want [first x4 x5]", got)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in 10s")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestPercentile(t *testing.T) {
	ds := []time.Duration{5, 1, 4, 2, 3, 10, 9, 8, 7, 6}
	if p := Percentile(ds, 0.5); p != 5 {
		t.Errorf("p50 = %v", p)
	}
	if p := Percentile(ds, 0.95); p != 10 {
		t.Errorf("p95 = %v", p)
	}
	if p := Percentile(nil, 0.5); p != 0 {
		t.Errorf("empty p50 = %v", p)
	}
}

// TestSealerSealsEventRecords: a notification leaves the hub as the event
// record the cloud relays and the web app opens: its public header names
// no camera, only the household opens it, and an ended event is an "end"
// record.
func TestSealerSealsEventRecords(t *testing.T) {
	id, _ := envelope.GenerateX25519Identity()
	hub, _ := envelope.GenerateSigningKey()
	s := &Sealer{Signer: hub, Keys: func() (uint32, []envelope.Recipient, error) {
		return 9, []envelope.Recipient{id.Recipient()}, nil
	}}
	start := time.Date(2026, 11, 29, 3, 0, 0, 0, time.UTC)
	ev := Event{ID: "00112233445566778899aabbccddeeff", Camera: "garden", Labels: []string{"cat"}, Score: 0.8,
		Start: start, End: start.Add(time.Minute), Phase: PhaseEnd}
	sealed, err := s.Seal(ev)
	if err != nil {
		t.Fatal(err)
	}
	h, err := envelope.Inspect(bytes.NewReader(sealed))
	if err != nil {
		t.Fatal(err)
	}
	if h.Kind != envelope.KindEvent || h.Stream != eventrec.StreamEvents || h.Epoch != 9 || !h.Start.Equal(start) {
		t.Fatalf("public header %+v", h)
	}
	trusted := envelope.TrustedKeys{hub.Public().(ed25519.PublicKey)}
	r, _, err := eventrec.Open(sealed, trusted, id)
	if err != nil {
		t.Fatal(err)
	}
	if r.ID != ev.ID || r.Camera != "garden" || r.Labels[0] != "cat" || !r.End.Equal(ev.End) || r.State != eventrec.StateEnd || r.Score != 0.8 {
		t.Fatalf("record %+v", r)
	}
	stranger, _ := envelope.GenerateX25519Identity()
	if _, _, err := eventrec.Open(sealed, trusted, stranger); !errors.Is(err, envelope.ErrIncorrectIdentity) {
		t.Fatalf("another identity: err = %v", err)
	}
	other, _ := envelope.GenerateSigningKey()
	if _, _, err := eventrec.Open(sealed, envelope.TrustedKeys{other.Public().(ed25519.PublicKey)}, id); !errors.Is(err, envelope.ErrUntrustedSigner) {
		t.Fatalf("untrusted hub: err = %v", err)
	}
	open := ev
	open.End, open.Phase = time.Time{}, PhaseStart
	if sealed, err = s.Seal(open); err != nil {
		t.Fatal(err)
	}
	if r, _, err := eventrec.Open(sealed, trusted, id); err != nil || r.State != eventrec.StateStart || !r.End.IsZero() {
		t.Fatalf("open event: %+v, %v", r, err)
	}
	big := ev
	big.Zones = make([]string, 1000)
	if _, err := s.Seal(big); err == nil {
		t.Fatal("a record with 1000 zones was sealed")
	}
	bad := ev
	bad.ID = "not an id"
	if _, err := s.Seal(bad); !errors.Is(err, eventrec.ErrInvalid) {
		t.Fatalf("invalid id: err = %v", err)
	}
}

func FuzzParsePayload(f *testing.F) {
	b, _ := PayloadOf(Event{ID: "e", Camera: "c", Labels: []string{"person"}, Start: time.Unix(1, 0)}).Marshal()
	f.Add(b)
	f.Add([]byte(`{"id":1}`))
	f.Add([]byte(`{} {}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ParsePayload(b)
		if err != nil {
			return
		}
		out, err := p.Marshal()
		if err != nil {
			return // re-encoding may grow past MaxPayload (escapes)
		}
		if _, err := ParsePayload(out); err != nil {
			t.Fatalf("a marshalled payload does not parse: %v", err)
		}
	})
}

// TestSealerSealsHealthRecords: a health alert seals as a health record,
// problem then resolved with its flaps.
func TestSealerSealsHealthRecords(t *testing.T) {
	id, _ := envelope.GenerateX25519Identity()
	hub, _ := envelope.GenerateSigningKey()
	s := &Sealer{Signer: hub, Keys: func() (uint32, []envelope.Recipient, error) {
		return 1, []envelope.Recipient{id.Recipient()}, nil
	}}
	trusted := envelope.TrustedKeys{hub.Public().(ed25519.PublicKey)}
	start := time.Date(2026, 12, 1, 3, 0, 0, 0, time.UTC)
	ev := Event{ID: "00112233445566778899aabbccddeeff", Kind: KindHealth, Camera: "garden", Check: eventrec.CheckCameraFrames,
		Message: "garden camera: no video for 1 minute", Phase: PhaseStart, Start: start, Flaps: 0}
	for _, end := range []time.Time{{}, start.Add(5 * time.Minute)} {
		ev.End = end
		if !end.IsZero() {
			ev.Phase, ev.Flaps, ev.Message = PhaseEnd, 2, "garden camera is back (after 5 minutes)"
		}
		sealed, err := s.Seal(ev)
		if err != nil {
			t.Fatal(err)
		}
		r, _, err := eventrec.Open(sealed, trusted, id)
		if err != nil {
			t.Fatal(err)
		}
		want := eventrec.Record{Kind: eventrec.KindHealth, ID: ev.ID, Check: ev.Check, Camera: "garden", State: eventrec.StateProblem,
			Start: start, Message: ev.Message}
		if !end.IsZero() {
			want.State, want.End, want.Flaps = eventrec.StateResolved, end, 2
		}
		if !reflect.DeepEqual(r, want) {
			t.Fatalf("record\n got %+v\nwant %+v", r, want)
		}
	}
}
