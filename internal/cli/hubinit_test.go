package cli

import (
	"bytes"
	"context"
	"encoding/hex"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"vigil/internal/config"
	"vigil/internal/hubd"
	"vigil/internal/member"
	"vigil/internal/onvif"
	"vigil/internal/pairing"
)

// TestHubInitAsks answers 'vigil hub init' on its standard input: the data
// directory, two cameras and a cloud; the file it writes loads with them.
func TestHubInitAsks(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "hub.yaml")
	answers := strings.Join([]string{
		"",      // data directory: keep --data
		"front", // first camera
		"rtsp://user:pw@192.0.2.20/stream1",
		"garage",
		"rtsp://192.0.2.21/live",
		"", // no more cameras
		"https://cloud.example.com",
	}, "\n") + "\n"
	var out, errs bytes.Buffer
	code := run(context.Background(), []string{"hub", "init", "--config", path, "--data", filepath.Join(dir, "d"), "--discover", "0", "--no-pair"},
		strings.NewReader(answers), &out, &errs)
	if code != 0 {
		t.Fatalf("exit %d: %s%s", code, out.String(), errs.String())
	}
	for _, q := range []string{"data directory [" + filepath.Join(dir, "d") + "]", "camera name", "its RTSP URL", "cloud URL"} {
		if !strings.Contains(out.String(), q) {
			t.Errorf("did not ask %q:\n%s", q, out.String())
		}
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Data != filepath.Join(dir, "d") || len(cfg.Cameras) != 2 || cfg.Cameras[0].Name != "front" ||
		cfg.Cameras[1].URL != "rtsp://192.0.2.21/live" || cfg.Cloud == nil || cfg.Cloud.URL != "https://cloud.example.com" {
		t.Fatalf("wrote %+v", cfg)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o640 {
		t.Errorf("mode %v, want 0640 (camera passwords)", st.Mode().Perm())
	}
	if strings.Contains(out.String()+errs.String(), "user:pw") {
		t.Error("printed a camera's password")
	}

	// Answers that run out fail without writing anything.
	path2 := filepath.Join(dir, "hub2.yaml")
	out.Reset()
	errs.Reset()
	code = run(context.Background(), []string{"hub", "init", "--config", path2, "--discover", "0"}, strings.NewReader("\nfront\n"), &out, &errs)
	if code != 1 || !strings.Contains(errs.String(), "no answer") {
		t.Fatalf("exit %d, stderr %q; want 1 and 'no answer'", code, errs.String())
	}
	if _, err := os.Stat(path2); !os.IsNotExist(err) {
		t.Fatalf("wrote %s after a failure: %v", path2, err)
	}
}

// TestHubInitDiscovers lists the ONVIF camera that answers discovery (a
// real WS-Discovery responder on loopback) before asking for cameras, its
// claimed name (with a line break in it) printed on one line, quoted.
func TestHubInitDiscovers(t *testing.T) {
	r, err := onvif.NewResponder(onvif.ResponderOptions{Listen: "127.0.0.1:0",
		XAddrs: []string{"http://127.0.0.1:1/onvif/device_service"},
		Scopes: []string{"onvif://www.onvif.org/name/Porch%0Acam", "onvif://www.onvif.org/hardware/DB-1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	dir := t.TempDir()
	path := filepath.Join(dir, "hub.yaml")
	answers := "\nporch\nrtsp://127.0.0.1:1/s\n\nhttps://cloud.example.com\n"
	var out, errs bytes.Buffer
	code := run(context.Background(), []string{"hub", "init", "--config", path, "--data", filepath.Join(dir, "d"), "--no-pair",
		"--discover", "2s", "--discover-target", r.Addr().String()}, strings.NewReader(answers), &out, &errs)
	if code != 0 {
		t.Fatalf("exit %d: %s%s", code, out.String(), errs.String())
	}
	listed := out.String()
	if i, j := strings.Index(listed, `"Porch cam"`), strings.Index(listed, "camera name"); i < 0 || j < i ||
		!strings.Contains(listed, `"http://127.0.0.1:1/onvif/device_service"`) {
		t.Fatalf("did not list the discovered camera (quoted) before asking:\n%s", listed)
	}
}

// codeWriter collects what a command prints and hands over the first
// pairing code in it.
type codeWriter struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	code chan string
	sent bool
}

var pairingCodeLine = regexp.MustCompile(`pairing code: (\S+)\n`)

func (w *codeWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if m := pairingCodeLine.FindStringSubmatch(w.buf.String()); m != nil && !w.sent {
		w.sent = true
		w.code <- m[1]
	}
	return len(p), nil
}

func (w *codeWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// TestHubInitPairs runs 'vigil hub init' with a real cloud: it writes the
// configuration, prints a pairing code, and a household admin's device
// entering that code pairs the hub, which then pins the household.
func TestHubInitPairs(t *testing.T) {
	lc := startLabCloud(t)
	dn := newDonor(t, lc, t.TempDir())
	h, err := profile{dn.profile}.household(dn.hh)
	if err != nil {
		t.Fatal(err)
	}
	g, _ := hex.DecodeString(h.GenesisHash)
	dir := t.TempDir()
	path, data := filepath.Join(dir, "hub.yaml"), filepath.Join(dir, "hub-data")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out := &codeWriter{code: make(chan string, 1)}
	var errs bytes.Buffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"hub", "init", "--non-interactive", "--config", path, "--data", data, "--name", "porch hub",
			"--camera", "porch=rtsp://192.0.2.40/s1", "--cloud", lc.url}, strings.NewReader(""), out, &errs)
	}()
	var code string
	select {
	case code = <-out.code:
	case c := <-done:
		t.Fatalf("hub init exited %d before a code: %s%s", c, out.String(), errs.String())
	}
	if _, err := config.Load(path); err != nil {
		t.Fatalf("the configuration is not written before the code: %v", err)
	}
	pc, err := pairing.ParseCode(code)
	if err != nil {
		t.Fatalf("printed %q: %v", code, err)
	}
	if _, err := member.PairHub(ctx, dn.c, dn.hh, g, dn.k, pc, 50*time.Millisecond); err != nil {
		cancel()
		<-done
		t.Fatalf("the member's side of pairing: %v", err)
	}
	if c := <-done; c != 0 {
		t.Fatalf("hub init exited %d: %s%s", c, out.String(), errs.String())
	}
	if !strings.Contains(out.String(), "paired with household "+dn.hh) {
		t.Errorf("hub init said:\n%s", out.String())
	}
	p, err := hubd.LoadPaired(data)
	if err != nil || p == nil || p.HouseholdID != dn.hh {
		t.Fatalf("the hub pinned %+v (%v), want household %s", p, err, dn.hh)
	}
}
