package softcam

import (
	"bytes"
	"context"
	"os/exec"
	"testing"
	"time"
)

func TestClockFrameRoundTrip(t *testing.T) {
	f := make([]byte, ClockWidth*ClockHeight*3/2)
	for _, ms := range []uint64{0, 1, 1795903894928, 1<<48 - 1} {
		DrawClockFrame(f, ms, 7)
		got, ok := ReadClockFrame(f, ClockWidth)
		if !ok || got != ms {
			t.Errorf("ReadClockFrame = %d, %v; want %d", got, ok, ms)
		}
	}
	// A damaged bit fails the check.
	DrawClockFrame(f, 1795903894928, 0)
	for yy := 0; yy < ClockBlock; yy++ {
		for xx := 0; xx < ClockBlock; xx++ {
			f[yy*ClockWidth+xx+5*ClockBlock] ^= 0xff
		}
	}
	if _, ok := ReadClockFrame(f, ClockWidth); ok {
		t.Error("a frame with one flipped block passed the check")
	}
}

// TestClockLive: frames read back from the RTSP stream, through H.264,
// carry times between the start of the test and now.
func TestClockLive(t *testing.T) {
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		t.Fatal("needs ffmpeg: sudo apt-get install -y ffmpeg")
	}
	t0 := time.Now()
	c, err := NewClock(ClockConfig{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	out, err := exec.CommandContext(ctx, "ffmpeg", "-hide_banner", "-loglevel", "error", "-rtsp_transport", "tcp",
		"-i", c.URL(), "-frames:v", "10", "-f", "rawvideo", "-pix_fmt", "gray", "-").Output()
	if err != nil {
		t.Fatalf("reading the clock stream: %v", err)
	}
	size := ClockWidth * ClockHeight
	if len(out) != 10*size {
		t.Fatalf("got %d bytes, want 10 frames of %d", len(out), size)
	}
	var last uint64
	for i := 0; i < 10; i++ {
		ms, ok := ReadClockFrame(out[i*size:(i+1)*size], ClockWidth)
		if !ok {
			t.Fatalf("frame %d: time not readable", i)
		}
		if ms < uint64(t0.UnixMilli()) || ms > uint64(time.Now().UnixMilli()) {
			t.Errorf("frame %d shows %d, not between %d and now", i, ms, t0.UnixMilli())
		}
		if ms <= last {
			t.Errorf("frame %d shows %d, not after the previous frame's %d", i, ms, last)
		}
		last = ms
	}
	if bytes.Count(out[:size], []byte{0}) == size {
		t.Error("black frame")
	}
}
