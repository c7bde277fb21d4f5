package camera

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
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

// stallingCamera is an RTSP server that offers a PCMA back channel,
// answers DESCRIBE, SETUP and PLAY, and then reads nothing more: a camera
// that accepts the back channel and stalls (a fault no real test camera
// produces on demand).
func stallingCamera(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	sdp := "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=door\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\n" +
		"m=video 0 RTP/AVP 96\r\na=control:trackID=0\r\na=rtpmap:96 H264/90000\r\na=fmtp:96 packetization-mode=1\r\na=recvonly\r\n" +
		"m=audio 0 RTP/AVP 8\r\na=control:trackID=1\r\na=rtpmap:8 PCMA/8000\r\na=sendonly\r\n"
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.(*net.TCPConn).SetReadBuffer(4096)
		r := bufio.NewReader(c)
		for {
			var method, cseq string
			for {
				line, err := r.ReadString('\n')
				if err != nil {
					return
				}
				line = strings.TrimSpace(line)
				if line == "" {
					break
				}
				if method == "" {
					method, _, _ = strings.Cut(line, " ")
				}
				if v, ok := strings.CutPrefix(line, "CSeq: "); ok {
					cseq = v
				}
			}
			head := "RTSP/1.0 200 OK\r\nCSeq: " + cseq + "\r\n"
			switch method {
			case "OPTIONS":
				fmt.Fprint(c, head+"Public: DESCRIBE, SETUP, PLAY, TEARDOWN\r\n\r\n")
			case "DESCRIBE":
				fmt.Fprintf(c, "%sContent-Type: application/sdp\r\nContent-Base: rtsp://%s/door/\r\nContent-Length: %d\r\n\r\n%s", head, ln.Addr(), len(sdp), sdp)
			case "SETUP":
				fmt.Fprint(c, head+"Session: 1234;timeout=60\r\nTransport: RTP/AVP/TCP;unicast;interleaved=0-1\r\n\r\n")
			case "PLAY":
				fmt.Fprint(c, head+"Session: 1234\r\n\r\n")
				<-time.After(time.Minute) // and read nothing more
				return
			default:
				fmt.Fprint(c, "RTSP/1.0 501 Not Implemented\r\nCSeq: "+cseq+"\r\n\r\n")
			}
		}
	}()
	return "rtsp://" + ln.Addr().String() + "/door"
}

// TestBackChannelStalledCamera: the back channel of a camera that stops
// reading never blocks a writer: Write fails fast once the bounded queue
// is full, the session ends within the write timeout, and Close returns.
// The camera takes A-law, so the hub's µ-law is transcoded.
func TestBackChannelStalledCamera(t *testing.T) {
	bc, err := OpenBackChannel(context.Background(), BackChannelConfig{URL: stallingCamera(t), Timeout: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if bc.Codec() != "PCMA" {
		t.Errorf("codec %q, want PCMA", bc.Codec())
	}
	pkt := make([]byte, 160)
	failed, deadline := 0, time.Now().Add(30*time.Second)
	for ended := false; !ended; {
		start := time.Now()
		if bc.Write(pkt) != nil {
			failed++
		}
		if d := time.Since(start); d > time.Second {
			t.Fatalf("a write took %v", d)
		}
		select {
		case <-bc.Done():
			ended = true
		default:
			if time.Now().After(deadline) {
				t.Fatalf("the session to a camera that reads nothing did not end (%d writes failed)", failed)
			}
		}
	}
	if failed == 0 {
		t.Error("no write failed on a camera that reads nothing")
	}
	t.Logf("the session ended: %v", bc.Err())
	if err := bc.Write(pkt); err == nil {
		t.Error("a write after the session ended succeeded")
	}
	bc.Close()
}
