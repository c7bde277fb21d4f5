package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"vigil/internal/envelope"
	"vigil/internal/keydir"
	"vigil/internal/segstore"
	"vigil/internal/vigiltest"
)

var vigilBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "vigil-bin-*")
	if err != nil {
		panic(err)
	}
	vigilBin = filepath.Join(dir, "vigil")
	out, err := exec.Command("go", "build", "-o", vigilBin, ".").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "building vigil: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func vigil(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	cmd := exec.Command(vigilBin, args...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	return o.String(), e.String(), err
}

func writeConfig(t *testing.T, dir, recipient, url string) string {
	t.Helper()
	cfg := fmt.Sprintf(`data: %s
recipients: [%q]
cameras:
  - name: front
    url: %s
    transport: tcp
retention:
  max_bytes: 1GB
  max_age: 720h
segment_duration: 1s
`, filepath.Join(dir, "hub-data"), recipient, url)
	path := filepath.Join(dir, "hub.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestKeysCommands(t *testing.T) {
	dir := t.TempDir()
	idFile := filepath.Join(dir, "household.key")
	out, _, err := vigil(t, "keys", "new", "-o", idFile)
	if err != nil {
		t.Fatal(err)
	}
	rcpt := strings.TrimSpace(out)
	if _, err := envelope.ParseX25519Recipient(rcpt); err != nil {
		t.Fatalf("keys new printed %q: %v", rcpt, err)
	}
	fi, err := os.Stat(idFile)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("identity file mode %v, want 0600", fi.Mode().Perm())
	}
	out2, _, err := vigil(t, "keys", "public", idFile)
	if err != nil || strings.TrimSpace(out2) != rcpt {
		t.Errorf("keys public: %q, %v; want %q", out2, err, rcpt)
	}
	if strings.Contains(out+out2, "VIGIL-IDENTITY") {
		t.Error("a keys command printed the private identity")
	}
	// Never overwrite an identity.
	if _, stderr, err := vigil(t, "keys", "new", "-o", idFile); err == nil || !strings.Contains(stderr, "already exists") {
		t.Errorf("keys new over an existing file: %v, %s", err, stderr)
	}
}

func TestConfigErrorsNameTheKey(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "hub.yaml")
	os.WriteFile(path, []byte("data: x\nrecipents: [a]\ncameras: []\n"), 0o600)
	_, stderr, err := vigil(t, "hub", "--config", path)
	if err == nil {
		t.Fatal("hub started with a bad config")
	}
	for _, want := range []string{"recipents", "line 2", "recipients"} {
		if !strings.Contains(stderr, want) && !strings.Contains(stderr, strings.TrimPrefix(want, "line ")+":") {
			t.Errorf("error %q does not mention %q", stderr, want)
		}
	}
}

// TestCrashRecovery: SIGKILL the hub mid-recording and start it again. The
// index and the files agree, every completed segment opens and verifies, and
// at most the segment in progress is lost.
func TestCrashRecovery(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	idFile := filepath.Join(dir, "household.key")
	out, _, err := vigil(t, "keys", "new", "-o", idFile)
	if err != nil {
		t.Fatal(err)
	}
	cam := vigiltest.StartCamera(t, "127.0.0.1:0", "cam")
	cfgPath := writeConfig(t, dir, strings.TrimSpace(out), cam.URL("cam"))
	data := filepath.Join(dir, "hub-data")

	var before []segstore.Segment
	for round := range 3 {
		var logs bytes.Buffer
		hub := exec.Command(vigilBin, "hub", "--config", cfgPath)
		hub.Stderr = &logs
		if err := hub.Start(); err != nil {
			t.Fatal(err)
		}
		// Let it record, then kill it at an arbitrary moment.
		time.Sleep(time.Duration(5000+round*700) * time.Millisecond)
		visible := listSegments(t, data)
		hub.Process.Signal(syscall.SIGKILL)
		hub.Wait()
		if len(visible) == 0 {
			t.Fatalf("round %d: nothing recorded; hub log:\n%s", round, logs.String())
		}
		// Every segment visible before the kill survives it.
		after := listSegments(t, data)
		have := map[uint64]bool{}
		for _, s := range after {
			have[s.Seq] = true
		}
		for _, s := range visible {
			if !have[s.Seq] {
				t.Errorf("round %d: segment %d was visible before the crash and is gone", round, s.Seq)
			}
		}
		before = after
	}

	// A clean start after the last crash repairs the store.
	var logs bytes.Buffer
	hub := exec.Command(vigilBin, "hub", "--config", cfgPath)
	hub.Stderr = &logs
	if err := hub.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * time.Second)
	stopped := time.Now()
	hub.Process.Signal(syscall.SIGTERM)
	if err := hub.Wait(); err != nil {
		t.Fatalf("hub did not stop cleanly on SIGTERM: %v\n%s", err, logs.String())
	}
	if !strings.Contains(logs.String(), "hub stopped") {
		t.Errorf("no clean stop in the log:\n%s", logs.String())
	}

	segs := listSegments(t, data)
	// SIGTERM seals the open segment: the recording reaches the stop, not
	// the last keyframe boundary (the camera's GOP is 2 s).
	if last := segs[len(segs)-1]; last.End.Before(stopped.Add(-400 * time.Millisecond)) {
		t.Errorf("last segment ends %s before SIGTERM: the open segment was lost", stopped.Sub(last.End))
	}
	if len(segs) < len(before) {
		t.Errorf("%d segments after restart, %d before", len(segs), len(before))
	}
	// Index and files agree.
	files := map[string]bool{}
	filepath.WalkDir(filepath.Join(data, "segments"), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			files[p] = true
		}
		return nil
	})
	for _, s := range segs {
		if !files[s.Path] {
			t.Errorf("index row %d has no file %s", s.Seq, s.Path)
		}
		delete(files, s.Path)
	}
	for f := range files {
		t.Errorf("file without index row: %s", f)
	}
	// Every segment opens and verifies.
	ids, err := envelope.ParseIdentities(mustOpen(t, idFile))
	if err != nil {
		t.Fatal(err)
	}
	hubKey, err := keydir.ReadSignerPublic(data)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range segs {
		b, err := os.ReadFile(s.Path)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, _, err := envelope.Open(b, envelope.TrustedKeys{hubKey}, ids...); err != nil {
			t.Errorf("segment %d does not open: %v", s.Seq, err)
		}
	}
	// The hub noted the hole each crash left.
	out, _, err = vigil(t, "recordings", "list", "--data", data, "--gaps")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "gap front") {
		t.Errorf("no gap recorded across the crashes:\n%s", out)
	}
	t.Logf("%d segments verified after 3 crashes", len(segs))
}

func mustOpen(t *testing.T, path string) *os.File {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func listSegments(t *testing.T, data string) []segstore.Segment {
	t.Helper()
	out, stderr, err := vigil(t, "recordings", "list", "--data", data, "--json")
	if err != nil {
		t.Fatalf("recordings list: %v: %s", err, stderr)
	}
	var segs []segstore.Segment
	dec := json.NewDecoder(strings.NewReader(out))
	for dec.More() {
		var j struct {
			Camera string    `json:"camera"`
			Seq    uint64    `json:"seq"`
			Start  time.Time `json:"start"`
			End    time.Time `json:"end"`
			Bytes  int64     `json:"bytes"`
		}
		if err := dec.Decode(&j); err != nil {
			t.Fatal(err)
		}
		segs = append(segs, segstore.Segment{Meta: segstore.Meta{Camera: j.Camera, Seq: j.Seq, Start: j.Start, End: j.End}, Bytes: j.Bytes})
	}
	if len(segs) == 0 {
		return nil
	}
	// Paths come from the store itself.
	st, err := segstore.OpenReadOnly(context.Background(), data, segstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	full, err := st.List(context.Background(), segstore.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	return full
}

// TestExportCLI drives the documented commands: record, list, export with the
// identity, export without it.
func TestExportCLI(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	idFile := filepath.Join(dir, "household.key")
	out, _, err := vigil(t, "keys", "new", "-o", idFile)
	if err != nil {
		t.Fatal(err)
	}
	cam := vigiltest.StartCamera(t, "127.0.0.1:0", "cam")
	cfgPath := writeConfig(t, dir, strings.TrimSpace(out), cam.URL("cam"))
	data := filepath.Join(dir, "hub-data")
	hub := exec.Command(vigilBin, "hub", "--config", cfgPath)
	if err := hub.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Second)
	hub.Process.Signal(syscall.SIGINT)
	if err := hub.Wait(); err != nil {
		t.Fatalf("hub exit: %v", err)
	}
	from := time.Now().Add(-time.Minute).UTC().Format(time.RFC3339)
	to := time.Now().Add(time.Minute).UTC().Format(time.RFC3339)
	clip := filepath.Join(dir, "clip.mp4")
	out, stderr, err := vigil(t, "recordings", "export", "--data", data, "--camera", "front", "--from", from, "--to", to,
		"--identity", idFile, "-o", clip)
	if err != nil {
		t.Fatalf("export: %v: %s", err, stderr)
	}
	t.Log(strings.TrimSpace(out))
	if p := vigiltest.FFprobe(t, clip, "v:0"); p["codec_name"] != "h264" {
		t.Errorf("exported clip: %v", p)
	}
	// A different household's identity: clear error, no file.
	other := filepath.Join(dir, "other.key")
	vigil(t, "keys", "new", "-o", other)
	clip2 := filepath.Join(dir, "clip2.mp4")
	_, stderr, err = vigil(t, "recordings", "export", "--data", data, "--camera", "front", "--from", from, "--to", to,
		"--identity", other, "-o", clip2)
	if err == nil {
		t.Fatal("export with the wrong identity succeeded")
	}
	if !strings.Contains(stderr, "identity") {
		t.Errorf("error does not say the identity is wrong: %s", stderr)
	}
	if _, err := os.Stat(clip2); !os.IsNotExist(err) {
		t.Errorf("failed export left %s", clip2)
	}
	// Missing --identity is a usage error that explains why it is needed.
	_, stderr, err = vigil(t, "recordings", "export", "--data", data, "--camera", "front", "-o", clip2)
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 || !strings.Contains(stderr, "--identity") {
		t.Errorf("export without --identity: %v: %s", err, stderr)
	}
	// A pinned hub key that is not the recording hub's is refused, even
	// though hub.pub in the data directory matches the segments.
	otherHub := strings.Repeat("ab", 32)
	_, stderr, err = vigil(t, "recordings", "export", "--data", data, "--camera", "front", "--from", from, "--to", to,
		"--identity", idFile, "-o", clip2, "--hub-key", otherHub)
	if err == nil || !strings.Contains(stderr, "untrusted") {
		t.Errorf("export with another pinned hub key: %v: %s", err, stderr)
	}
	pub, rerr := os.ReadFile(filepath.Join(data, "hub.pub"))
	if rerr != nil {
		t.Fatal(rerr)
	}
	if _, stderr, err = vigil(t, "recordings", "export", "--data", data, "--camera", "front", "--from", from, "--to", to,
		"--identity", idFile, "-o", clip2, "--hub-key", strings.TrimSpace(string(pub))); err != nil {
		t.Errorf("export with the right pinned hub key: %v: %s", err, stderr)
	}
	os.Remove(clip2)
	// A range is required, and the error points at what is recorded.
	_, stderr, err = vigil(t, "recordings", "export", "--data", data, "--camera", "front", "--identity", idFile, "-o", clip2)
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 || !strings.Contains(stderr, "recordings list") {
		t.Errorf("export without a range: %v: %s", err, stderr)
	}
	// Gaps in JSON: the hub stopped and nothing was recorded before, so none.
	out, stderr, err = vigil(t, "recordings", "list", "--data", data, "--json", "--gaps")
	if err != nil || strings.Contains(out, `"gap"`) || !strings.Contains(out, `"camera":"front"`) {
		t.Errorf("list --json --gaps: %v: %s%s", err, out, stderr)
	}
}

// TestDemo: 'vigil demo' (what 'make demo' runs) starts the cloud, pairs its
// hub and prints a one-time sign-in link and how to export footage; it stops
// cleanly on Ctrl-C, and the export command it prints works. (The link
// itself is opened in Chromium by internal/e2e TestDemo.)
func TestDemo(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	demo := exec.Command(vigilBin, "demo", "--data", "demo-data", "--listen", "127.0.0.1:0")
	demo.Dir = dir
	var out, logs vigiltest.SyncBuffer
	demo.Stdout, demo.Stderr = &out, &logs
	if err := demo.Start(); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(time.Minute); !strings.Contains(out.String(), "Ctrl-C") && time.Now().Before(deadline); {
		time.Sleep(200 * time.Millisecond)
	}
	time.Sleep(5 * time.Second) // a few segments
	demo.Process.Signal(syscall.SIGINT)
	if err := demo.Wait(); err != nil {
		t.Fatalf("demo did not stop cleanly on Ctrl-C: %v\n%s\n%s", err, out.String(), logs.String())
	}
	if !regexp.MustCompile(`http://127\.0\.0\.1:\d+/demo#\S*t=vgl_`).MatchString(out.String()) {
		t.Errorf("demo output lacks the sign-in link:\n%s", out.String())
	}
	for _, want := range []string{"hub        paired", "household.key", "Ctrl-C"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("demo output lacks %q:\n%s", want, out.String())
		}
	}
	text := out.String()
	// Run the printed export command, as a user would.
	var export []string
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(line), "\\"))
		if strings.HasPrefix(line, "vigil recordings export") || (len(export) > 0 && strings.HasPrefix(line, "--identity")) {
			export = append(export, strings.Fields(line)...)
		}
	}
	if len(export) < 4 {
		t.Fatalf("no export command in the demo output:\n%s", text)
	}
	cmd := exec.Command(vigilBin, export[1:]...)
	cmd.Dir = dir
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("printed export command failed: %v\n%s", err, b)
	}
	if p := vigiltest.FFprobe(t, filepath.Join(dir, "clip.mp4"), "v:0"); p["codec_name"] != "h264" {
		t.Errorf("demo export: %v", p)
	}
}
