package softcam

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/pion/rtp"
)

// TestAudioBursts: in the bursts mode the audio track is silence, and each
// burst (Server.Burst, POST /burst) is BurstDuration of the tone, in
// consecutive packets of which the first is marked, reported as sent
// before it arrives, and followed by silence again.
func TestAudioBursts(t *testing.T) {
	clip := smallClip(t)
	s := startServer(t, Config{File: clip, Audio: AudioPCMU, AudioBursts: true, Control: "127.0.0.1:0"})
	c := setUpTCP(t, s.URL("cam"))
	type pkt struct {
		payload []byte
		marker  bool
		at      time.Time
	}
	var mu sync.Mutex
	var pkts []pkt
	c.OnPacketRTPAny(func(m *description.Media, f format.Format, p *rtp.Packet) {
		if g, ok := f.(*format.G711); !ok || !g.MULaw {
			return
		}
		mu.Lock()
		pkts = append(pkts, pkt{bytes.Clone(p.Payload), p.Marker, time.Now()})
		mu.Unlock()
	})
	if _, err := c.Play(nil); err != nil {
		t.Fatal(err)
	}
	received := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(pkts)
	}
	waitUntil := func(what string, ok func() bool) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); !ok(); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("waiting for %s", what)
			}
		}
	}
	waitUntil("silence", func() bool { return received() > 10 })

	// One burst through the method, one through the control endpoint.
	var sent []time.Time
	at, err := s.Burst(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	sent = append(sent, at)
	n := received()
	waitUntil("the first burst to end", func() bool { return received() > n+30 })
	resp, err := http.Post("http://"+s.ControlAddr()+"/burst", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	var bs BurstSent
	if err := json.NewDecoder(resp.Body).Decode(&bs); err != nil || resp.StatusCode != 200 {
		t.Fatalf("POST /burst: %d %v", resp.StatusCode, err)
	}
	resp.Body.Close()
	if bs.UnixMs != float64(bs.Time.UnixMicro())/1e3 {
		t.Errorf("POST /burst: unix_ms %v for %v", bs.UnixMs, bs.Time)
	}
	sent = append(sent, bs.Time)
	n = received()
	waitUntil("the second burst to end", func() bool { return received() > n+30 })

	mu.Lock()
	defer mu.Unlock()
	silent := func(p []byte) bool { return bytes.Count(p, []byte{0xff}) == len(p) }
	var bursts [][]pkt
	for i := 0; i < len(pkts); i++ {
		if silent(pkts[i].payload) {
			continue
		}
		j := i
		for j < len(pkts) && !silent(pkts[j].payload) {
			j++
		}
		bursts = append(bursts, pkts[i:j])
		i = j
	}
	if len(bursts) != 2 {
		t.Fatalf("%d bursts heard, want 2", len(bursts))
	}
	want := int(BurstDuration / (20 * time.Millisecond))
	for i, b := range bursts {
		if len(b) != want || !b[0].marker {
			t.Errorf("burst %d: %d packets (first marked %v), want %d, marked", i, len(b), b[0].marker, want)
		}
		var enc []byte
		for _, p := range b {
			enc = append(enc, p.payload...)
		}
		checkTone(t, "burst", mulawToPCM(enc), ToneHz, 8000)
		if b[0].at.Before(sent[i]) {
			t.Errorf("burst %d arrived at %v, before it was reported sent (%v)", i, b[0].at, sent[i])
		}
	}
}

// TestAudioBurstsConfig: bursts need PCMU without a sound file, and a
// camera without them refuses Burst.
func TestAudioBurstsConfig(t *testing.T) {
	clip := smallClip(t)
	for name, cfg := range map[string]Config{
		"no audio":   {File: clip, AudioBursts: true},
		"aac":        {File: clip, Audio: AudioAAC, AudioBursts: true},
		"with sound": {File: clip, Audio: AudioPCMU, AudioFile: "x.wav", AudioBursts: true},
	} {
		cfg.CacheDir = t.TempDir()
		if _, err := New(cfg); err == nil {
			t.Errorf("%s: New accepted %+v", name, cfg)
		}
	}
	s := startServer(t, Config{File: clip, Audio: AudioPCMU})
	if _, err := s.Burst(context.Background()); !errors.Is(err, ErrNoBursts) {
		t.Errorf("Burst on a camera without bursts: %v, want ErrNoBursts", err)
	}
	b := startServer(t, Config{File: clip, Audio: AudioPCMU, AudioBursts: true})
	b.Close()
	if _, err := b.Burst(context.Background()); !errors.Is(err, ErrNoBursts) && !errors.Is(err, ErrClosed) {
		t.Errorf("Burst on a closed camera: %v", err)
	}
}
