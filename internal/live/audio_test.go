package live

import (
	"context"
	"encoding/binary"
	"math"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/g711"
)

// toneG711 returns n samples of a hz sine at 8 kHz, encoded with codec.
func toneG711(t *testing.T, codec string, hz float64, n int) []byte {
	t.Helper()
	be := make([]byte, 2*n)
	for i := range n {
		binary.BigEndian.PutUint16(be[2*i:], uint16(int16(16384*math.Sin(2*math.Pi*hz*float64(i)/audioRate))))
	}
	var enc []byte
	var err error
	if codec == "PCMA" {
		enc, err = g711.Alaw(be).Marshal()
	} else {
		enc, err = g711.Mulaw(be).Marshal()
	}
	if err != nil {
		t.Fatal(err)
	}
	return enc
}

func decodeG711(codec string, enc []byte) []float64 {
	var be []byte
	if codec == "PCMA" {
		be = g711.DecodeAlaw(enc)
	} else {
		be = g711.DecodeMulaw(enc)
	}
	out := make([]float64, len(be)/2)
	for i := range out {
		out[i] = float64(int16(binary.BigEndian.Uint16(be[2*i:])))
	}
	return out
}

// goertzel returns the power of x at hz (sample rate rate).
func goertzel(x []float64, hz, rate float64) float64 {
	c := 2 * math.Cos(2*math.Pi*hz/rate)
	var s1, s2 float64
	for _, v := range x {
		s1, s2 = v+c*s1-s2, s1
	}
	return s1*s1 + s2*s2 - c*s1*s2
}

// feedAudio sends a 440 Hz tone to tap as 20 ms G.711 packets until ctx is
// done.
func feedAudio(ctx context.Context, t *testing.T, tap *Tap, codec string) {
	const loop = 8000 // 1 s: 440 whole cycles
	tone := toneG711(t, codec, 440, loop)
	tk := time.NewTicker(20 * time.Millisecond)
	defer tk.Stop()
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return
		case <-tk.C:
		}
		off := (i * 160) % loop
		tap.Audio(int64(i*160), tone[off:off+160])
	}
}

// TestLiveG711Audio: a camera's G.711 audio reaches a pion viewer as a
// second track of the same (DTLS-SRTP) connection, in the camera's codec,
// and decodes to the camera's 440 Hz tone.
func TestLiveG711Audio(t *testing.T) {
	for _, codec := range []string{"PCMU", "PCMA"} {
		t.Run(codec, func(t *testing.T) {
			hh := newHousehold(t)
			hub, tap := startHub(t, hh)
			tap.SetAudio(codec)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			go feedAudio(ctx, t, tap, codec)
			w, err := StartWatch(ctx, viewer(hh, hh.member), direct(hub))
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			waitFrames(t, w, 3)
			deadline := time.Now().Add(15 * time.Second)
			var data []byte
			var mime string
			for time.Now().Before(deadline) {
				mime, _, data = w.Audio()
				if len(data) >= audioRate {
					break
				}
				time.Sleep(50 * time.Millisecond)
			}
			if mime != "audio/"+codec {
				t.Fatalf("audio track %q, want audio/%s", mime, codec)
			}
			if len(data) < audioRate {
				t.Fatalf("only %d audio samples", len(data))
			}
			pcm := decodeG711(codec, data[:audioRate])
			at := goertzel(pcm, 440, audioRate)
			for _, other := range []float64{300, 660, 1000, 2000} {
				if o := goertzel(pcm, other, audioRate); at < 100*o {
					t.Errorf("power at 440 Hz %.3g not far above %.0f Hz %.3g", at, other, o)
				}
			}
			if at < 1e9 {
				t.Errorf("power at 440 Hz %.3g: too quiet", at)
			}
		})
	}
}

// TestLiveNoAudio: a camera without G.711 audio gives a viewer no audio
// track, and audio handed to the tap anyway is not passed on.
func TestLiveNoAudio(t *testing.T) {
	hh := newHousehold(t)
	hub, tap := startHub(t, hh)
	tap.SetAudio("AAC") // not passed through
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go feedAudio(ctx, t, tap, "PCMU")
	w, err := StartWatch(ctx, viewer(hh, hh.member), direct(hub))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	waitFrames(t, w, 30)
	if mime, n, _ := w.Audio(); mime != "" || n != 0 {
		t.Errorf("audio track %q with %d packets, want none", mime, n)
	}
	if n := tap.AudioPackets(); n != 0 {
		t.Errorf("tap passed %d audio packets with no audio codec", n)
	}
}

// TestTapAudioBounds: oversized and empty payloads are dropped, a slow
// viewer loses packets instead of blocking the camera, and Stop ends the
// session's audio.
func TestTapAudioBounds(t *testing.T) {
	tap := NewTap()
	tap.Start(nil, nil)
	tap.SetAudio("PCMU")
	sub := tap.subscribe()
	defer tap.unsubscribe(sub)
	tap.Audio(0, nil)
	tap.Audio(0, make([]byte, maxAudioPayload+1))
	if n := tap.AudioPackets(); n != 0 {
		t.Fatalf("passed %d bad packets", n)
	}
	for i := range audioQueue + 10 {
		tap.Audio(int64(i*160), make([]byte, 160))
	}
	if len(sub.audio) != audioQueue || sub.dropped != 10 {
		t.Errorf("queue %d, dropped %d; want %d and 10", len(sub.audio), sub.dropped, audioQueue)
	}
	tap.Stop()
	if c := tap.AudioCodec(); c != "" {
		t.Errorf("audio codec %q after Stop", c)
	}
}
