package doorbell

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"vigil/internal/vigiltest"
)

// TestBellRateLimit: one ring per doorbell per interval; presses in the
// window are counted into it, another doorbell rings on its own, and a
// press after the window rings again.
func TestBellRateLimit(t *testing.T) {
	b := NewBell(5 * time.Second)
	t0 := time.Date(2026, 12, 4, 18, 0, 0, 0, time.UTC)
	rings := 0
	// A stuck button: a press every 100 ms for 12 s.
	for i := range 120 {
		if r, ok := b.Press(Press{Camera: "front", Time: t0.Add(time.Duration(i) * 100 * time.Millisecond), Source: "mqtt"}); ok {
			rings++
			if len(r.ID) != 32 || r.Camera != "front" {
				t.Fatalf("ring %+v", r)
			}
		}
	}
	if rings != 3 { // at 0 s, 5 s and 10 s
		t.Fatalf("a stuck button rang %d times in 12 s, want 3", rings)
	}
	if _, ok := b.Press(Press{Camera: "back", Time: t0.Add(11 * time.Second)}); !ok {
		t.Fatal("another doorbell did not ring")
	}
	// A doorbell with an interval of its own.
	b.SetInterval("side", time.Second)
	for i, want := range []bool{true, false, true} {
		if _, ok := b.Press(Press{Camera: "side", Time: t0.Add(time.Duration(i) * 600 * time.Millisecond)}); ok != want {
			t.Fatalf("side press %d rang %v, want %v", i, ok, want)
		}
	}
	// Out of order: a press timed before the last ring is counted into it.
	if _, ok := b.Press(Press{Camera: "front", Time: t0.Add(time.Second)}); ok {
		t.Fatal("a press from before the last ring rang")
	}
	st := b.Stats()["front"]
	if st.Presses != 121 || st.Rings != 3 || st.Suppressed != 118 {
		t.Fatalf("stats %+v", st)
	}
}

// logBuffer collects a source's logs, to check no secret reaches them.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestHTTPPresses: over real HTTP, a press signed with the button's secret
// rings; unsigned, malformed, wrongly signed (another button's secret, a
// tampered camera), stale and replayed presses are refused with errors that
// say why, and neither the secret nor a signature is logged or echoed.
func TestHTTPPresses(t *testing.T) {
	secret := []byte("front door button secret 0123456789")
	other := []byte("back door button secret 9876543210")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var logs logBuffer
	src := &HTTPSource{Listener: l, Secrets: map[string][]byte{"front": secret, "back": other},
		Logger: slog.New(slog.NewTextHandler(&logs, nil))}
	ctx, cancel := context.WithCancel(context.Background())
	var mu sync.Mutex
	var presses []Press
	done := make(chan error, 1)
	go func() {
		done <- src.Run(ctx, func(p Press) {
			mu.Lock()
			presses = append(presses, p)
			mu.Unlock()
		})
	}()
	base := "http://" + l.Addr().String()
	post := func(camera, sig string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, base+PressPath(camera), nil)
		if sig != "" {
			req.Header.Set(PressSignatureHeader, sig)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	now := time.Now()
	good := SignPress(secret, "front", now, NewNonce())
	if code, body := post("front", good); code != http.StatusNoContent {
		t.Fatalf("a signed press: %d %s", code, body)
	}
	var echoed []string
	for _, c := range []struct {
		name, camera, sig string
		code              int
		says              string
	}{
		{"unsigned", "front", "", 401, "not signed"},
		{"malformed", "front", "t=1,v1=zz", 401, "malformed"},
		{"short nonce", "front", SignPress(secret, "front", now, "abc"), 401, "nonce"},
		{"another button's secret", "front", SignPress(other, "front", now, NewNonce()), 401, "does not match"},
		{"signed for another doorbell", "back", SignPress(secret, "front", now, NewNonce()), 401, "does not match"},
		{"stale", "front", SignPress(secret, "front", now.Add(-2*time.Minute), NewNonce()), 401, "replay window"},
		{"from the future", "front", SignPress(secret, "front", now.Add(2*time.Minute), NewNonce()), 401, "replay window"},
		{"replayed", "front", good, 409, "already used"},
		{"unknown doorbell", "garage", SignPress(secret, "garage", now, NewNonce()), 404, "no doorbell"},
	} {
		code, body := post(c.camera, c.sig)
		if code != c.code || !strings.Contains(body, c.says) {
			t.Errorf("%s: %d %q, want %d saying %q", c.name, code, body, c.code, c.says)
		}
		echoed = append(echoed, body)
	}
	if resp, err := http.Get(base + PressPath("front")); err != nil || resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET: %v %v", resp, err)
	}
	cancel()
	if err := <-done; err != context.Canceled {
		t.Fatalf("Run: %v", err)
	}
	mu.Lock()
	if len(presses) != 1 || presses[0].Camera != "front" || presses[0].Source != "http" {
		t.Fatalf("presses %+v, want the one signed press", presses)
	}
	mu.Unlock()
	out := logs.String() + strings.Join(echoed, "\n")
	if !strings.Contains(logs.String(), "doorbell press refused") {
		t.Fatal("refused presses were not logged")
	}
	for _, s := range []string{string(secret), string(other), good[strings.Index(good, "v1=")+3:]} {
		if strings.Contains(out, s) {
			t.Fatalf("a secret or signature reached the logs or a response: %q", s)
		}
	}
}

// publisher is a plain paho client.
func publisher(t *testing.T, addr string) *paho.Client {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c := paho.NewClient(paho.ClientConfig{Conn: conn, ClientID: "button"})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := c.Connect(ctx, &paho.Connect{ClientID: "button", CleanStart: true, KeepAlive: 30}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Disconnect(&paho.Disconnect{}) })
	return c
}

// TestMQTTPressesRingOnce: through a real Mosquitto, a retained message
// left on the topic is not a press; a burst of 20 messages (a stuck
// button) makes one ring through the Bell, all 20 counted; a message on
// another topic is no press.
func TestMQTTPressesRingOnce(t *testing.T) {
	addr := vigiltest.Mosquitto(t)
	pub := publisher(t, addr)
	ctx := context.Background()
	send := func(topic string, retain bool) {
		t.Helper()
		if _, err := pub.Publish(ctx, &paho.Publish{Topic: topic, Payload: []byte("pressed"), QoS: 1, Retain: retain}); err != nil {
			t.Fatal(err)
		}
	}
	send("home/front/button", true) // stale, retained: no ring when the hub subscribes

	subscribed := make(chan struct{}, 4)
	src := &MQTTSource{Broker: "mqtt://" + addr, Topics: map[string]string{"home/front/button": "front"},
		RetryDelay: 100 * time.Millisecond, Subscribed: func() { subscribed <- struct{}{} }}
	bell := NewBell(time.Minute)
	rings := make(chan Ring, 8)
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- Serve(rctx, bell, func(r Ring) { rings <- r }, src) }()
	select {
	case <-subscribed:
	case <-time.After(20 * time.Second):
		t.Fatal("the source did not subscribe")
	}
	send("home/back/button", false)
	for range 20 {
		send("home/front/button", false)
	}
	var r Ring
	select {
	case r = <-rings:
	case <-time.After(20 * time.Second):
		t.Fatal("no ring")
	}
	if r.Camera != "front" || r.Source != "mqtt" {
		t.Fatalf("ring %+v", r)
	}
	deadline := time.Now().Add(20 * time.Second)
	for bell.Stats()["front"].Presses < 20 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Serve: %v", err)
	}
	if st := bell.Stats(); st["front"] != (BellStats{Presses: 20, Rings: 1, Suppressed: 19}) || len(st) != 1 {
		t.Fatalf("stats %+v: want 20 presses (the retained message none), one ring", st)
	}
	if len(rings) != 0 {
		t.Fatalf("%d more rings", len(rings))
	}
}

// FuzzVerifyPress: any signature header is refused or accepted without
// panicking, and accepted only when it carries the MAC of its own time and
// nonce under the button's secret.
func FuzzVerifyPress(f *testing.F) {
	secret := []byte("front door button secret 0123456789")
	now := time.Unix(1_800_000_000, 0)
	f.Add(SignPress(secret, "front", now, "0123456789abcdef"))
	f.Add("t=1800000000,n=0123456789abcdef,v1=00")
	f.Add("t=,n=,v1=")
	f.Add(",,,")
	f.Fuzz(func(t *testing.T, header string) {
		src := &HTTPSource{Secrets: map[string][]byte{"front": secret}}
		if err := src.Verify("front", header, now); err != nil {
			return
		}
		var ts, nonce string
		for p := range strings.SplitSeq(header, ",") {
			k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
			switch k {
			case "t":
				ts = v
			case "n":
				nonce = v
			}
		}
		sec, _ := strconv.ParseInt(ts, 10, 64)
		if want := SignPress(secret, "front", time.Unix(sec, 0), nonce); !strings.EqualFold(strings.ReplaceAll(header, " ", ""), want) &&
			!strings.Contains(strings.ToLower(header), want[strings.Index(want, "v1="):]) {
			t.Fatalf("accepted %q, which does not carry the press's MAC", header)
		}
		if src.Verify("front", header, now) == nil {
			t.Fatalf("accepted %q twice", header)
		}
	})
}
