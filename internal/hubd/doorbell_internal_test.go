package hubd

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"vigil/internal/config"
	"vigil/internal/detect"
	"vigil/internal/detect/frames"
)

// TestMQTTClientID: the hub's client ID at the broker is the configured
// one, or "vigil-hub-" and the host's name (kept to characters brokers
// take), so two hubs on one broker do not take each other's session.
func TestMQTTClientID(t *testing.T) {
	if got := mqttClientID(&config.MQTT{ClientID: "garage-hub"}); got != "garage-hub" {
		t.Errorf("configured: %q", got)
	}
	got := mqttClientID(&config.MQTT{})
	host, _ := os.Hostname()
	if !strings.HasPrefix(got, "vigil-hub") || len(got) > len("vigil-hub-")+40 ||
		strings.ContainsFunc(got, func(r rune) bool { return r <= ' ' || r > '~' }) {
		t.Errorf("default %q", got)
	}
	if host != "" && got == "vigil-hub" {
		t.Errorf("default %q does not name the host %q", got, host)
	}
}

// TestMomentJPEGWaitsForAFrame: a ring pressed before the camera's
// detection has a frame (its first comes seconds after the camera connects)
// gets the next frame as its snapshot rather than none; a recent frame is
// taken at once, and a hub that stops gives up waiting.
func TestMomentJPEGWaitsForAFrame(t *testing.T) {
	cd := &cameraDetection{doorbell: true}
	press := time.Now()
	frame := func(at time.Time) *frames.Frame {
		img, err := detect.NewRGB(64, 48)
		if err != nil {
			t.Fatal(err)
		}
		return &frames.Frame{Img: img, Time: at}
	}
	type got struct {
		jpg []byte
		at  time.Time
		ok  bool
	}
	res := make(chan got, 1)
	go func() {
		jpg, at, ok := cd.momentJPEG(context.Background(), press, ringSnapshotAge)
		res <- got{jpg, at, ok}
	}()
	// Keep frames coming until the waiting snapshot takes one (the waiter
	// may not be waiting yet when the first arrives: then it finds it).
	var r got
	first := press.Add(2 * time.Second)
	for i := 0; ; i++ {
		cd.keepLast(frame(first.Add(time.Duration(i) * 100 * time.Millisecond)))
		select {
		case r = <-res:
		case <-time.After(50 * time.Millisecond):
			continue
		}
		break
	}
	if !r.ok || len(r.jpg) < 2 || r.jpg[0] != 0xFF || r.jpg[1] != 0xD8 || r.at.Before(first) {
		t.Fatalf("waiting for a frame: ok %v, %d bytes, frame at %v; want the JPEG of a frame after the press", r.ok, len(r.jpg), r.at)
	}
	// A recent frame now: taken at once.
	if _, at, ok := cd.momentJPEG(context.Background(), r.at, ringSnapshotAge); !ok || at.IsZero() {
		t.Fatal("a recent frame was not taken")
	}
	// No frame will come, and the hub stops: no snapshot, no hang.
	stale := &cameraDetection{doorbell: true}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, ok := stale.momentJPEG(ctx, press, ringSnapshotAge); ok {
		t.Fatal("a snapshot with no frame at all")
	}
}
