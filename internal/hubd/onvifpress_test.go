package hubd

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"vigil/internal/config"
	"vigil/internal/doorbell"
	"vigil/internal/onvif"
	"vigil/internal/vigiltest"
)

// onvifCamera is an ONVIF device on loopback: the doorbell camera's event
// service, restartable on the same address.
type onvifCamera struct {
	t          *testing.T
	user, pass string
	addr       string

	mu       sync.Mutex
	dev      *onvif.Server
	hs       *httptest.Server
	connects []time.Time // when GetSystemDateAndTime was asked (a connection attempt)
	ops      map[string]int
}

func startONVIFCamera(t *testing.T, user, pass string) *onvifCamera {
	c := &onvifCamera{t: t, user: user, pass: pass, addr: "127.0.0.1:0", ops: map[string]int{}}
	c.start()
	t.Cleanup(c.stop)
	return c
}

func (c *onvifCamera) start() {
	c.t.Helper()
	var l net.Listener
	var err error
	for range 50 { // the old listener's port is free once it is closed
		if l, err = net.Listen("tcp", c.addr); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		c.t.Fatal(err)
	}
	dev := onvif.NewServer(onvif.Device{Info: onvif.DeviceInfo{Manufacturer: "Vigil", Model: "doorbell"}, Username: c.user, Password: c.pass})
	hs := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if strings.Contains(string(body), "GetSystemDateAndTime") {
			c.mu.Lock()
			c.connects = append(c.connects, time.Now())
			c.mu.Unlock()
		}
		for _, op := range []string{"<tev:CreatePullPointSubscription>", "<wsnt:Renew>", "<wsnt:Unsubscribe/>"} {
			if strings.Contains(string(body), op) {
				c.mu.Lock()
				c.ops[op]++
				c.mu.Unlock()
			}
		}
		r.Body = io.NopCloser(strings.NewReader(string(body)))
		dev.ServeHTTP(w, r)
	}))
	hs.Listener.Close()
	hs.Listener = l
	hs.Start()
	c.mu.Lock()
	c.dev, c.hs, c.addr = dev, hs, l.Addr().String()
	c.mu.Unlock()
}

func (c *onvifCamera) stop() {
	c.mu.Lock()
	dev, hs := c.dev, c.hs
	c.mu.Unlock()
	dev.Close() // ends the waiting PullMessages calls
	hs.Close()
}

func (c *onvifCamera) url() string { return "http://" + c.addr + onvif.DevicePath }

func (c *onvifCamera) publish(e onvif.Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.dev.Publish(e)
}

func (c *onvifCamera) connectTimes() []time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Time(nil), c.connects...)
}

func (c *onvifCamera) count(op string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ops[op]
}

func digitalInput(op, state string) onvif.Event {
	return onvif.Event{Topic: "Device/Trigger/DigitalInput", Operation: op,
		Source: []onvif.Item{{Name: "InputToken", Value: "DIGIT_INPUT_000"}}, Data: []onvif.Item{{Name: "LogicalState", Value: state}}}
}

// TestDoorbellONVIF: a doorbell camera's presses come from its ONVIF
// events over real HTTP: a DigitalInput going active rings the household's
// webhook once, while motion, a release and the input's initial state do
// not; after the camera restarts (its subscriptions gone, its address
// refusing connections for a while) the hub subscribes again and a later
// press rings. The camera's password is never logged.
func TestDoorbellONVIF(t *testing.T) {
	t.Parallel()
	const password = "the doorbell's ONVIF password"
	secret := []byte("a webhook secret of the household")
	recv, hooks := webhookReceiver(t, secret)
	door := startONVIFCamera(t, "admin", password)

	_, rcpt := household(t)
	cam := vigiltest.StartCamera(t, "127.0.0.1:0", "cam")
	cfg := hubConfig(t, rcpt, map[string]string{"gate": cam.URL("cam")}, time.Second)
	cfg.Cameras[0].Doorbell = &config.Doorbell{ONVIF: &config.DoorbellONVIF{URL: door.url(), Username: "admin", Password: password},
		Interval: config.Duration(time.Second)}
	cfg.Detection = &config.Detection{Webhooks: &config.Webhooks{URLs: []string{recv.URL}, Secret: string(secret)}}
	subscribed := make(chan string, 8)
	logs := &lockedBuffer{}
	h := startHub(t, cfg, Options{Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		ONVIFSubscribed: func(camera string) { subscribed <- camera }})
	waitSubscribed := func() {
		t.Helper()
		select {
		case c := <-subscribed:
			if c != "gate" {
				t.Fatalf("subscribed for %q", c)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("the hub did not subscribe to the camera's events; log:\n%s", logs)
		}
	}
	waitRing := func() {
		t.Helper()
		select {
		case p := <-hooks:
			if p.Kind != "ring" || p.Camera != "gate" || p.Labels[0] != "ring" || !p.Alert {
				t.Fatalf("webhook %+v", p)
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("no webhook for the ring; log:\n%s", logs)
		}
	}

	waitSubscribed()
	door.publish(onvif.Event{Topic: "VideoSource/MotionAlarm", Operation: "Changed", Data: []onvif.Item{{Name: "State", Value: "true"}}})
	door.publish(digitalInput("Initialized", "true"))
	door.publish(digitalInput("Changed", "true"))
	door.publish(digitalInput("Changed", "false"))
	waitRing()
	// Only the change to active was a press.
	waitFor(t, "the press counted", 10*time.Second, func() bool { return h.DoorbellStats()["gate"].Presses == 1 })
	door.publish(onvif.Event{Topic: "RuleEngine/CellMotionDetector/Motion", Operation: "Changed", Data: []onvif.Item{{Name: "IsMotion", Value: "true"}}})

	// The camera restarts: its subscription is gone and, for a while,
	// nothing answers at its address.
	door.stop()
	time.Sleep(300 * time.Millisecond)
	door.start()
	waitSubscribed()
	time.Sleep(time.Second) // past the first ring's interval
	door.publish(digitalInput("Changed", "true"))
	waitRing()

	h.Close()
	if len(hooks) != 0 {
		t.Fatalf("%d more webhooks", len(hooks))
	}
	if st := h.DoorbellStats()["gate"]; st != (doorbell.BellStats{Presses: 2, Rings: 2}) {
		t.Fatalf("stats %+v: motion, a release or an initial state counted as a press", st)
	}
	out := logs.String()
	if strings.Contains(out, password) {
		t.Fatal("the camera's ONVIF password was logged")
	}
	if n := strings.Count(out, "ONVIF events unavailable"); n != 1 {
		t.Errorf("the camera's restart logged as unavailable %d times, want once:\n%s", n, out)
	}
	if !strings.Contains(out, "kind=motion") {
		t.Errorf("no debug line for the motion event:\n%s", out)
	}
}

// TestDoorbellONVIFWrongCredentials: a camera refusing the hub's ONVIF
// credentials gets one clear error in the log (naming the config key,
// never the password), the hub keeps running, and the source retries with
// a growing wait rather than spinning.
func TestDoorbellONVIFWrongCredentials(t *testing.T) {
	t.Parallel()
	const wrong = "not the doorbell's ONVIF password"
	door := startONVIFCamera(t, "admin", "the doorbell's ONVIF password")
	_, rcpt := household(t)
	cam := vigiltest.StartCamera(t, "127.0.0.1:0", "cam")
	cfg := hubConfig(t, rcpt, map[string]string{"gate": cam.URL("cam")}, time.Second)
	cfg.Cameras[0].Doorbell = &config.Doorbell{ONVIF: &config.DoorbellONVIF{URL: door.url(), Username: "admin", Password: wrong},
		Interval: config.DefaultDoorbellInterval}
	logs := &lockedBuffer{}
	h := startHub(t, cfg, Options{Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		ONVIFSubscribed: func(string) { t.Error("subscribed with the wrong password") }})
	// startHub's backoff is 100 ms doubling to 1 s: five attempts take
	// at least 100+200+400+800 ms.
	waitFor(t, "five connection attempts", 30*time.Second, func() bool { return len(door.connectTimes()) >= 5 })
	ts := door.connectTimes()
	for i, want := range []time.Duration{100, 200, 400, 800} {
		if gap := ts[i+1].Sub(ts[i]); gap < want*time.Millisecond {
			t.Errorf("attempt %d came %v after the one before, less than the backoff of %v ms: the source spins", i+2, gap, want)
		}
	}
	if h.DoorbellStats()["gate"].Presses != 0 {
		t.Error("presses without a subscription")
	}
	h.Close()
	out := logs.String()
	if strings.Contains(out, wrong) {
		t.Fatal("the ONVIF password was logged")
	}
	if n := strings.Count(out, "refused the ONVIF username and password: check cameras[].doorbell.onvif"); n != 1 {
		t.Fatalf("the refusal logged %d times, want once:\n%s", n, out)
	}
	if !strings.Contains(out, "level=ERROR") {
		t.Errorf("the refusal is not an error:\n%s", out)
	}
}

// TestONVIFSourceRenews: the source renews its subscription before the
// camera ends it (a press long after the subscription's first end still
// arrives on the same one) and unsubscribes when its context ends.
func TestONVIFSourceRenews(t *testing.T) {
	t.Parallel()
	door := startONVIFCamera(t, "admin", "pw")
	subs := make(chan string, 8)
	presses := make(chan doorbell.Press, 8)
	s := &onvifSource{camera: "gate", url: door.url(), username: "admin", password: "pw", log: vigiltest.Logger(t),
		subscription: 2 * time.Second, pullWait: 200 * time.Millisecond, minBackoff: 100 * time.Millisecond, maxBackoff: time.Second,
		subscribed: func(c string) { subs <- c }}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx, func(p doorbell.Press) { presses <- p }) }()
	select {
	case <-subs:
	case <-time.After(30 * time.Second):
		t.Fatal("no subscription")
	}
	subscribedAt := time.Now()
	waitFor(t, "two renewals", 30*time.Second, func() bool { return door.count("<wsnt:Renew>") >= 2 })
	// Past the subscription's first end (2 s), had it not been renewed.
	time.Sleep(time.Until(subscribedAt.Add(3 * time.Second)))
	door.publish(digitalInput("Changed", "true"))
	select {
	case p := <-presses:
		if p.Camera != "gate" || p.Source != "onvif" || p.Time.IsZero() {
			t.Fatalf("press %+v", p)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no press after the renewals")
	}
	if n := door.count("<tev:CreatePullPointSubscription>"); n != 1 {
		t.Fatalf("%d subscriptions: the first was not kept alive", n)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not return when its context ended")
	}
	if n := door.count("<wsnt:Unsubscribe/>"); n != 1 {
		t.Fatalf("%d unsubscriptions at the end, want 1", n)
	}
}

// TestONVIFRenewIn: a subscription is renewed halfway to the nearer of the
// end asked for and the end the device states (a device may grant less),
// never sooner than in a second.
func TestONVIFRenewIn(t *testing.T) {
	now := time.Date(2026, 12, 4, 18, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		term  time.Time
		asked time.Duration
		want  time.Duration
	}{
		{time.Time{}, time.Minute, 30 * time.Second},
		{now.Add(time.Minute), time.Minute, 30 * time.Second},
		{now.Add(time.Hour), time.Minute, 30 * time.Second},
		{now.Add(10 * time.Second), time.Minute, 5 * time.Second},
		{now.Add(time.Second), time.Minute, time.Second},
		{now.Add(-time.Minute), time.Minute, time.Second},
	} {
		if got := renewIn(now, c.term, c.asked); got != c.want {
			t.Errorf("renewIn(term %v, asked %v) = %v, want %v", c.term.Sub(now), c.asked, got, c.want)
		}
	}
}
