package cli

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io/fs"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"testing/fstest"

	"vigil/internal/blob"
	"vigil/internal/cloud"
	"vigil/internal/cloud/auth"
	"vigil/internal/cloud/store"
	"vigil/internal/release"
	"vigil/internal/tlog"
	"vigil/internal/vigiltest"
)

// swapFS is a web app whose files the test can change while the cloud
// serves it (an operator who ships other code).
type swapFS struct {
	mu sync.Mutex
	fs fstest.MapFS
}

func (s *swapFS) Open(name string) (fs.File, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fs.Open(name)
}

func (s *swapFS) set(name, data string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := fstest.MapFS{}
	for k, v := range s.fs {
		m[k] = v
	}
	m[name] = &fstest.MapFile{Data: []byte(data)}
	s.fs = m
}

func sriOf(s string) string { return release.SRI(sha256.Sum256([]byte(s))) }

func testApp() fstest.MapFS {
	js, sw := "app()", "self.onpush=()=>{}"
	page := `<!doctype html><script type="module" src="/assets/index-A.js" integrity="` + sriOf(js) + `"></script><main id="app"></main>`
	return fstest.MapFS{"index.html": {Data: []byte(page)}, "assets/index-A.js": {Data: []byte(js)}, "assets/sw-B.js": {Data: []byte(sw)}}
}

// releaseCloud is a cloud serving app, with a signed release of it in the
// log; it returns the URL, the release key file and its public key.
func releaseCloud(t *testing.T, app *swapFS) (string, *cloud.Server, string, string) {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	st, err := store.OpenSQLite(ctx, filepath.Join(dir, "cloud.db"), store.SQLiteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	blobs, err := blob.OpenDir(filepath.Join(dir, "blobs"), blob.DirOptions{})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewUnstartedServer(nil)
	url := "http://" + hs.Listener.Addr().String()
	srv, err := cloud.New(cloud.Options{Store: st, Blobs: blobs, Logger: vigiltest.Logger(t), App: app, PublicURL: url,
		Argon2: auth.Argon2Params{Memory: 1024, Time: 1, Threads: 1}})
	if err != nil {
		t.Fatal(err)
	}
	hs.Config.Handler = srv.Handler()
	hs.Start()
	t.Cleanup(func() {
		hs.Close()
		srv.Close()
		blobs.Close()
		st.Close()
	})
	keyFile := filepath.Join(dir, "release.key")
	code, pub, stderr := runVigil("release", "key", "-o", keyFile)
	if code != 0 {
		t.Fatalf("release key: %d %s", code, stderr)
	}
	pub = strings.TrimSpace(pub)
	distDir := filepath.Join(dir, "dist")
	if err := os.CopyFS(distDir, app.fs); err != nil {
		t.Fatal(err)
	}
	vrel := filepath.Join(dir, "release.vrel")
	if code, out, stderr := runVigil("release", "sign", "--key", keyFile, "--dist", distDir, "--version", "1.0", "-o", vrel); code != 0 || !strings.Contains(out, "vigil-web 1.0") || !strings.Contains(out, pub) {
		t.Fatalf("release sign: %d %q %s", code, out, stderr)
	}
	entry, err := os.ReadFile(vrel)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.PublishRelease(ctx, entry); err != nil {
		t.Fatal(err)
	}
	if err := srv.SyncLog(ctx); err != nil {
		t.Fatal(err)
	}
	return url, srv, keyFile, pub
}

func TestReleaseCommands(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "k")
	code, pub, _ := runVigil("release", "key", "-o", key)
	if code != 0 {
		t.Fatal(code)
	}
	if code, _, stderr := runVigil("release", "key", "-o", key); code != 1 || !strings.Contains(stderr, "never overwritten") {
		t.Fatalf("second key over the first: %d %s", code, stderr)
	}
	if err := os.CopyFS(filepath.Join(dir, "dist"), testApp()); err != nil {
		t.Fatal(err)
	}
	vrel := filepath.Join(dir, "r.vrel")
	if code, _, stderr := runVigil("release", "sign", "--key", key, "--dist", filepath.Join(dir, "dist"), "-o", vrel); code != 0 {
		t.Fatalf("sign: %s", stderr)
	}
	code, out, _ := runVigil("release", "show", vrel, "--release-key", strings.TrimSpace(pub))
	if code != 0 || !strings.Contains(out, "trusted  yes") || !strings.Contains(out, sriOf("app()")+"  /assets/index-A.js") {
		t.Fatalf("show: %d\n%s", code, out)
	}
	if code, out, _ := runVigil("release", "show", vrel, "--release-key", base64.StdEncoding.EncodeToString(make([]byte, 32))); code != 1 || !strings.Contains(out, "trusted  NO") {
		t.Fatalf("show with another key: %d\n%s", code, out)
	}
	// A build with a file the cloud does not serve is refused.
	os.WriteFile(filepath.Join(dir, "dist", "notes.txt"), []byte("x"), 0o644)
	if code, _, stderr := runVigil("release", "sign", "--key", key, "--dist", filepath.Join(dir, "dist"), "-o", vrel); code != 1 || !strings.Contains(stderr, "notes.txt, which the cloud does not serve") {
		t.Fatalf("sign with an extra file: %d %s", code, stderr)
	}
	bad := filepath.Join(dir, "bad.vrel")
	b, _ := os.ReadFile(vrel)
	b[len(b)-3] ^= 1
	os.WriteFile(bad, b, 0o644)
	if code, _, stderr := runVigil("release", "show", bad); code != 1 || !strings.Contains(stderr, "signature") {
		t.Fatalf("show a damaged release: %d %s", code, stderr)
	}
	for _, args := range [][]string{{"release"}, {"release", "nope"}, {"release", "key"}, {"release", "sign", "--key", key}, {"release", "show"}, {"release", "show", vrel, "--release-key", "AAAA"}} {
		if code, _, _ := runVigil(args...); code != 2 {
			t.Errorf("%q: exit %d, want 2", args, code)
		}
	}
	for _, args := range [][]string{{"release", "-h"}, {"release", "key", "-h"}, {"release", "sign", "--help"}, {"verify", "-h"}, {"verify", "web", "-h"}, {"verify", "extension", "--help"}} {
		if code, _, _ := runVigil(args...); code != 0 {
			t.Errorf("%q: exit %d, want 0", args, code)
		}
	}
}

func TestVerifyWebCommand(t *testing.T) {
	app := &swapFS{fs: testApp()}
	url, srv, _, pub := releaseCloud(t, app)
	state := filepath.Join(t.TempDir(), "state.json")

	// The log policy from the cloud's /v1/log, said so; then pinned in the state.
	code, out, stderr := runVigil("verify", "web", url, "--release-key", pub, "--state", state)
	if code != 0 || !strings.Contains(out, "the cloud's /v1/log") || !strings.Contains(out, "verified: every page") {
		t.Fatalf("honest site: %d\n%s\n%s", code, out, stderr)
	}
	for _, p := range []string{url + "/ ", url + "/h/x ", url + "/assets/index-A.js ", url + "/assets/sw-B.js "} {
		if !strings.Contains(out, "ok    "+p) {
			t.Errorf("report does not show %s checked:\n%s", p, out)
		}
	}
	code, out, _ = runVigil("verify", "web", url, "--release-key", pub, "--state", state)
	if code != 0 || !strings.Contains(out, "pinned in "+state) {
		t.Fatalf("second run: %d\n%s", code, out)
	}
	code, out, _ = runVigil("verify", "web", "--log-key", srv.LogKey(), url, "--release-key", pub)
	if code != 0 || !strings.Contains(out, "pinned by the flags") {
		t.Fatalf("pinned log: %d\n%s", code, out)
	}

	// The operator ships other code at the logged script's path.
	app.set("assets/index-A.js", "app(); steal()")
	code, out, stderr = runVigil("verify", "web", url, "--release-key", pub, "--log-key", srv.LogKey())
	want := "/assets/index-A.js " + sriOf("app(); steal()") + " is in no logged release (logged: " + sriOf("app()") + ")"
	if code != 1 || !strings.Contains(out, "FAIL") || !strings.Contains(stderr, want) {
		t.Fatalf("tampered script: %d\n%s\n%s", code, out, stderr)
	}

	// Another log named in the flags than the one in the state.
	_, other, err := tlog.GenerateKey("other.test/tlog")
	if err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := runVigil("verify", "web", url, "--release-key", pub, "--state", state, "--log-key", other); code != 1 || !strings.Contains(stderr, "differs from the one in --state") {
		t.Fatalf("another log than the state's: %d %s", code, stderr)
	}
	for _, args := range [][]string{{"verify", "web"}, {"verify", "web", url}, {"verify", "web", url, "--release-key", "x"}, {"verify", "web", url, "--release-key", pub, "--witness", "w"}, {"verify", "nope"}} {
		if code, _, _ := runVigil(args...); code != 2 {
			t.Errorf("%q: exit %d, want 2", args, code)
		}
	}
}

func TestVerifyExtensionCommand(t *testing.T) {
	app := &swapFS{fs: testApp()}
	url, srv, _, pub := releaseCloud(t, app)
	dir := filepath.Join(t.TempDir(), "ext")
	code, out, stderr := runVigil("verify", "extension", "--origin", url, "--origin", "https://Vigil.Example", "--release-key", pub, "-o", dir)
	if code == 1 && strings.Contains(stderr, "not built") {
		t.Fatalf("%s", stderr)
	}
	if code != 0 || !strings.Contains(out, "/v1/log") {
		t.Fatalf("verify extension: %d\n%s\n%s", code, out, stderr)
	}
	var cfg extensionConfig
	b, _ := os.ReadFile(filepath.Join(dir, "config.json"))
	if err := json.Unmarshal(b, &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.V != 1 || len(cfg.Origins) != 2 || cfg.Origins[0] != url || cfg.Origins[1] != "https://vigil.example" || cfg.Log.Key != srv.LogKey() || cfg.ReleaseKeys[0] != pub {
		t.Fatalf("config.json: %s", b)
	}
	var m struct {
		Host    []string `json:"host_permissions"`
		Content []struct {
			Matches []string `json:"matches"`
			RunAt   string   `json:"run_at"`
		} `json:"content_scripts"`
	}
	b, _ = os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	want := []string{"http://127.0.0.1/*", "https://vigil.example/*"}
	if strings.Join(m.Host, " ") != strings.Join(want, " ") || len(m.Content) != 1 || strings.Join(m.Content[0].Matches, " ") != strings.Join(want, " ") || m.Content[0].RunAt != "document_start" {
		t.Fatalf("manifest.json: %s", b)
	}
	var rules []dnrRule
	b, _ = os.ReadFile(filepath.Join(dir, "rules.json"))
	if err := json.Unmarshal(b, &rules); err != nil || len(rules) != 4 {
		t.Fatalf("rules.json (%v): %s", err, b)
	}
	re := regexp.MustCompile(rules[0].Condition["regexFilter"].(string))
	if !re.MatchString(url+"/h/x") || re.MatchString(url+"0/") || re.MatchString("http://127.0.0.2"+strings.TrimPrefix(url, "http://127.0.0.1")+"/") {
		t.Fatalf("the fail-closed rule's filter %s", re)
	}
	for _, f := range []string{"background.js", "content.js"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("%s missing: %v", f, err)
		}
	}
	if code, _, stderr := runVigil("verify", "extension", "--origin", url, "--release-key", pub, "-o", dir); code != 1 || !strings.Contains(stderr, "not empty") {
		t.Fatalf("into the same directory: %d %s", code, stderr)
	}
	for _, o := range []string{"http://vigil.example", "ftp://x", "https://x/path"} {
		if code, _, _ := runVigil("verify", "extension", "--origin", o, "--release-key", pub, "-o", t.TempDir()); code != 2 {
			t.Errorf("--origin %s: exit %d, want 2", o, code)
		}
	}
}

// The extension recognises a page loaded under the fail-closed rules by
// their policy: rules.ts must hold the text this package writes.
func TestFailClosedPolicyShared(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "web", "extension", "rules.ts"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(strings.Fields(string(b)), " "), `"`+failClosedCSP+`"`) {
		t.Fatalf("web/extension/rules.ts does not define FAIL_CLOSED_CSP as %q", failClosedCSP)
	}
}
