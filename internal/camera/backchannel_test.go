package camera

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/g711"
)

// TestMulawToAlaw: every µ-law code becomes the A-law code of (nearly) the
// same linear sample: within A-law's step at that level.
func TestMulawToAlaw(t *testing.T) {
	tab := MulawToAlaw()
	all := make([]byte, 256)
	conv := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
		conv[i] = tab[i]
	}
	mu, a := g711.DecodeMulaw(all), g711.DecodeAlaw(conv)
	for i := range 256 {
		x := int(int16(binary.BigEndian.Uint16(mu[2*i:])))
		y := int(int16(binary.BigEndian.Uint16(a[2*i:])))
		if d := abs(x - y); d > 16 && d*16 > abs(x) {
			t.Errorf("µ-law %#02x (%d) -> A-law %#02x (%d)", i, x, tab[i], y)
		}
	}
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// TestBackChannelBadCamera: a camera that accepts the connection and
// never answers is given up within the timeout, and one that is not RTSP
// at all gives a clear error; neither hangs.
func TestBackChannelBadCamera(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close() // silent: reads nothing, answers nothing
		}
	}()
	_, err = OpenBackChannel(context.Background(), BackChannelConfig{URL: "rtsp://" + ln.Addr().String() + "/door", Timeout: 300 * time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "did not answer") {
		t.Errorf("a silent camera: %v, want a timeout", err)
	}
	if _, err := OpenBackChannel(context.Background(), BackChannelConfig{URL: "http://example.com/"}); err == nil {
		t.Error("an http URL was accepted")
	}
	if errors.Is(err, ErrNoBackChannel) {
		t.Error("a silent camera reported as having no back channel")
	}
}
