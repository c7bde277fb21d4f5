package camera

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5/pkg/liberrors"
)

// lockedBuffer collects log output from concurrent writers.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) lines() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Split(strings.TrimRight(l.b.String(), "\n"), "\n")
}

// garbageServer listens on 127.0.0.1:0 and answers every connection with
// random bytes, sometimes after a plausible RTSP status line so that the
// client's parser gets further. It stops when the test ends.
func garbageServer(t *testing.T, seed uint64) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { l.Close(); wg.Wait() })
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	wg.Go(func() {
		for i := 0; ; i++ {
			c, err := l.Accept()
			if err != nil {
				return
			}
			junk := make([]byte, 512+rng.IntN(4096))
			for j := range junk {
				junk[j] = byte(rng.Uint32())
			}
			var prefix string
			switch i % 3 {
			case 1:
				prefix = "RTSP/1.0 200 OK\r\nCSeq: 1\r\nContent-Base: "
			case 2:
				prefix = "RTSP/1.0 200 OK\r\nCSeq: 1\r\nContent-Type: application/sdp\r\nContent-Length: 900\r\n\r\nv=0\r\nm=video 0 RTP/AVP 96\r\na=control:"
			}
			wg.Go(func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(5 * time.Second))
				c.Read(make([]byte, 4096)) // the client's request
				c.Write(append([]byte(prefix), junk...))
				// Answer the next request too (DESCRIBE after OPTIONS).
				c.Read(make([]byte, 4096))
				c.Write(append([]byte(prefix), junk...))
			})
		}
	})
	return "rtsp://" + l.Addr().String() + "/stream"
}

type nopHandler struct{}

func (nopHandler) Start(Tracks) error    { return nil }
func (nopHandler) Video(int64, [][]byte) {}
func (nopHandler) Audio(int64, [][]byte) {}
func (nopHandler) Stop(error)            {}

// TestGarbageCameraLogs: a "camera" that answers with random bytes gets
// none of them into the hub's log. Every line about it is short and
// printable, and however often the text of the failure changes, a kind of
// failure is warned about once, then again only after a minute (an injected
// clock) with the count of the failures in between.
func TestGarbageCameraLogs(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	url := garbageServer(t, seed)
	var out lockedBuffer
	log := slog.New(slog.NewTextHandler(&out, &slog.HandlerOptions{Level: slog.LevelDebug}))
	var clock atomic.Int64
	clock.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	in, err := New(Config{Name: "garden", URL: url, Transport: "tcp", ReadTimeout: 300 * time.Millisecond,
		MinBackoff: time.Millisecond, MaxBackoff: 2 * time.Millisecond, Logger: log,
		Now: func() time.Time { return time.Unix(0, clock.Load()) }}, nopHandler{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- in.Run(ctx) }()
	stop := sync.OnceFunc(func() { cancel(); <-done })
	defer stop()

	ended := func() int { return strings.Count(strings.Join(out.lines(), "\n"), "camera stream ended") }
	waitEnded := func(n int) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for ended() < n {
			if time.Now().After(deadline) {
				t.Fatalf("only %d failed sessions in 20 s, want %d", ended(), n)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitEnded(15)
	clock.Add(int64(61 * time.Second)) // a minute later, each kind is news again
	before := ended()
	waitEnded(before + 15)
	stop()

	lines := out.lines()
	warns := map[string][]string{} // kind -> warning lines
	texts := map[string]bool{}
	longest := 0
	for _, l := range lines {
		longest = max(longest, len(l))
		if len(l) >= 300 {
			t.Errorf("log line of %d bytes: %.400q", len(l), l)
		}
		for i := range len(l) {
			if l[i] < 0x20 || l[i] > 0x7e {
				t.Errorf("log line with byte %#x: %q", l[i], l)
				break
			}
		}
		if !strings.Contains(l, "camera stream ended") {
			continue
		}
		texts[field(l, "err")] = true
		if strings.Contains(l, "level=WARN") {
			k := field(l, "kind")
			warns[k] = append(warns[k], l)
		}
	}
	if len(texts) < 2 {
		t.Errorf("the failures' texts did not vary (%d distinct); the test does not exercise the limit", len(texts))
	}
	t.Logf("%d lines (longest %d bytes), %d distinct failure texts, warnings by kind: %v", len(lines), longest, len(texts), countOf(warns))
	var repeated int
	for k, ws := range warns {
		// Once before the clock moved and once after, at most.
		if len(ws) > 2 {
			t.Errorf("kind %q warned %d times in two minutes of clock:\n%s", k, len(ws), strings.Join(ws, "\n"))
		}
		if len(ws) == 2 && field(ws[1], "failures_since_last_report") != "0" {
			repeated++
		}
	}
	if repeated == 0 {
		t.Errorf("no kind was warned about again after a minute with a count of the failures in between: %v", countOf(warns))
	}
}

// field returns the value of key in a slog text line ("" if absent),
// unquoting a quoted value.
func field(line, key string) string {
	i := strings.Index(line, " "+key+"=")
	if i < 0 {
		return ""
	}
	v := line[i+len(key)+2:]
	if strings.HasPrefix(v, `"`) {
		var s string
		if _, err := fmt.Sscanf(v, "%q", &s); err == nil {
			return s
		}
		return v
	}
	if j := strings.IndexByte(v, ' '); j >= 0 {
		v = v[:j]
	}
	return v
}

func countOf(m map[string][]string) map[string]int {
	c := map[string]int{}
	for k, v := range m {
		c[k] = len(v)
	}
	return c
}

// TestKind: the kind comes from the error's type, whatever its text.
func TestKind(t *testing.T) {
	for _, c := range []struct {
		err  error
		want string
	}{
		{fmt.Errorf("describe: %w", liberrors.ErrClientBadStatusCode{Code: 401, Message: "\xff\xfe"}), KindAuth},
		{fmt.Errorf("describe: %w", liberrors.ErrClientBadStatusCode{Code: 404}), KindStatus},
		{fmt.Errorf("connect: %w", &net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}), KindRefused},
		{fmt.Errorf("describe: %w", liberrors.ErrClientRequestTimedOut{}), KindTimeout},
		{&net.DNSError{Err: "no such host", Name: "cam.lan"}, KindDNS},
		{fmt.Errorf("describe: %w", io.EOF), KindClosed},
		{fmt.Errorf("play: %w", syscall.ECONNRESET), KindClosed},
		{errNoVideo, KindNoVideo},
		{recordingError{errors.New("disk full")}, KindRecording},
		{context.Canceled, KindCanceled},
		{fmt.Errorf("describe: invalid URL (\xb3\xc7\x94yW)"), KindProtocol},
		{fmt.Errorf("describe: invalid URL (abc)"), KindProtocol},
	} {
		if got := Kind(c.err); got != c.want {
			t.Errorf("Kind(%v) = %q, want %q", c.err, got, c.want)
		}
	}
}
