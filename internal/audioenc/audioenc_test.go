package audioenc

import (
	"bytes"
	"encoding/binary"
	"math"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/g711"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4/pkg/media/oggwriter"
)

func goertzel(x []float64, hz, rate float64) float64 {
	c := 2 * math.Cos(2*math.Pi*hz/rate)
	var s1, s2 float64
	for _, v := range x {
		s1, s2 = v+c*s1-s2, s1
	}
	return s1*s1 + s2*s2 - c*s1*s2
}

// TestEncodeG711: G.711 in (either law), Opus packets out, in order, 20 ms
// each, decoding (ffmpeg) to the tone that went in.
func TestEncodeG711(t *testing.T) {
	ff, err := exec.LookPath("ffmpeg")
	if err != nil {
		t.Fatalf("ffmpeg is needed: %v", err)
	}
	for _, codec := range []string{"PCMU", "PCMA"} {
		t.Run(codec, func(t *testing.T) {
			const n = 8000 * 3
			be := make([]byte, 2*n)
			for i := range n {
				binary.BigEndian.PutUint16(be[2*i:], uint16(int16(16384*math.Sin(2*math.Pi*440*float64(i)/8000))))
			}
			var enc []byte
			if codec == "PCMA" {
				enc, err = g711.Alaw(be).Marshal()
			} else {
				enc, err = g711.Mulaw(be).Marshal()
			}
			if err != nil {
				t.Fatal(err)
			}
			var mu sync.Mutex
			var pkts [][]byte
			var total int
			e := Start(Config{FFmpeg: ff, Input: G711(codec), Packet: func(p []byte, samples int) {
				mu.Lock()
				defer mu.Unlock()
				if samples != 960 {
					t.Errorf("a packet of %d samples, want 960", samples)
				}
				pkts = append(pkts, append([]byte(nil), p...))
				total += samples
			}})
			for off := 0; off < len(enc); off += 160 {
				for !e.Write(enc[off : off+160]) {
					time.Sleep(time.Millisecond) // the queue is full: wait for ffmpeg
				}
			}
			deadline := time.Now().Add(20 * time.Second)
			for {
				mu.Lock()
				got := total
				mu.Unlock()
				if got >= 6*(n-8000) || time.Now().After(deadline) {
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
			if err := e.Close(); err != nil {
				t.Fatal(err)
			}
			if err := e.Err(); err != nil {
				t.Errorf("Err after Close: %v", err)
			}
			mu.Lock()
			defer mu.Unlock()
			var ogg bytes.Buffer
			w, err := oggwriter.NewWith(&ogg, Rate, 1)
			if err != nil {
				t.Fatal(err)
			}
			for i, p := range pkts {
				if err := w.WriteRTP(&rtp.Packet{Header: rtp.Header{Timestamp: uint32(i * 960), SequenceNumber: uint16(i)}, Payload: p}); err != nil {
					t.Fatal(err)
				}
			}
			w.Close()
			cmd := exec.Command(ff, "-hide_banner", "-loglevel", "error", "-f", "ogg", "-i", "pipe:0", "-f", "s16le", "-ac", "1", "-ar", "8000", "pipe:1")
			cmd.Stdin = &ogg
			raw, err := cmd.Output()
			if err != nil {
				t.Fatal(err)
			}
			if len(raw) < 2*8000+1000 {
				t.Fatalf("decoded %d samples of %d", len(raw)/2, n)
			}
			raw = raw[len(raw)-2*8000:]
			pcm := make([]float64, 8000)
			for i := range pcm {
				pcm[i] = float64(int16(binary.LittleEndian.Uint16(raw[2*i:])))
			}
			at := goertzel(pcm, 440, 8000)
			for _, o := range []float64{300, 660, 1000, 2000} {
				if p := goertzel(pcm, o, 8000); at < 100*p {
					t.Errorf("power at 440 Hz %.3g not far above %.0f Hz %.3g", at, o, p)
				}
			}
		})
	}
}

// TestEncoderEnds: an ffmpeg that cannot start, or that ends by itself,
// is reported through Done and Err; writes after are dropped.
func TestEncoderEnds(t *testing.T) {
	e := Start(Config{FFmpeg: "/nonexistent/ffmpeg", Input: ADTS})
	<-e.Done()
	if err := e.Err(); err == nil {
		t.Error("no error for an ffmpeg that cannot start")
	}
	if e.Write([]byte{1}) {
		t.Error("a write to an ended encoder was accepted")
	}
	e.Close()
}
