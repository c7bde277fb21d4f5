package e2e

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"vigil/internal/browsertest"
	"vigil/internal/cli"
	"vigil/internal/release"
	"vigil/web"
)

// The ways the tampering proxy can change what the cloud serves.
const (
	modePass     = "pass"     // what the cloud serves, untouched
	modeScript   = "script"   // other bytes at the logged script's path
	modeUnlogged = "unlogged" // a page that also loads a script no release has
	modeWorker   = "worker"   // other bytes at the logged service worker's path
	modeNoLog    = "nolog"    // the log cannot be reached
	modeSplit    = "split"    // a page with an unlogged stylesheet to navigations, the logged page to other requests
)

// tamperProxy serves the cloud at target on its own loopback origin,
// changed as mode says.
func tamperProxy(t *testing.T, target, mode, script, worker string) string {
	t.Helper()
	evil := []byte("document.title = 'not the logged app';\n")
	evilSum := sha256.Sum256(evil)
	evilTag := `<script type="module" src="/assets/evil-1234.js" integrity="` + release.SRI(evilSum) + `"></script>`
	serve := func(w http.ResponseWriter, r *http.Request) bool {
		switch {
		case mode == modeNoLog && strings.HasPrefix(r.URL.Path, "/tlog/"):
			http.Error(w, "the log is down", http.StatusServiceUnavailable)
		case mode == modeUnlogged && r.URL.Path == "/assets/evil-1234.js":
			w.Header().Set("Content-Type", "text/javascript")
			w.Write(evil)
		case mode == modeSplit && r.URL.Path == "/assets/evil-5678.css":
			w.Header().Set("Content-Type", "text/css")
			w.Write([]byte("input[value^=a] { background: url(/v1/leak?a) }\n"))
		default:
			return false
		}
		return true
	}
	modify := func(r *http.Response) error {
		p := r.Request.URL.Path
		html := strings.HasPrefix(r.Header.Get("Content-Type"), "text/html")
		switch {
		case mode == modeScript && p == script:
			return editBody(r, func(b []byte) ([]byte, error) {
				return append(b, []byte("\n;window.__vigilTampered = true;\n")...), nil
			})
		case mode == modeWorker && p == worker:
			return editBody(r, func([]byte) ([]byte, error) {
				return []byte("self.addEventListener('push', () => {}); // not the logged worker\n"), nil
			})
		case mode == modeUnlogged && html && !strings.HasPrefix(p, "/assets/"):
			return editBody(r, func(b []byte) ([]byte, error) {
				return bytes.Replace(b, []byte("</head>"), []byte(evilTag+"</head>"), 1), nil
			})
		case mode == modeSplit && html && r.Request.Header.Get("Sec-Fetch-Mode") == "navigate":
			return editBody(r, func(b []byte) ([]byte, error) {
				return bytes.Replace(b, []byte("</head>"), []byte(`<link rel="stylesheet" href="/assets/evil-5678.css"></head>`), 1), nil
			})
		}
		return nil
	}
	return newProxy(t, target, serve, modify)
}

// TestExtension: a real cloud with a signed release of the built app in its
// transparency log, behind proxies that serve it untouched or tampered, and
// Chromium with the configured verifier extension. The extension lets the
// real app run, stops a page whose script has other bytes at a logged path,
// one that loads an unlogged script, one whose service worker is not
// logged, and one served a page other than the logged one it is served when
// it asks again (the stylesheet it adds has loaded by then: styles are
// checked after the fact), and keeps every script blocked while it cannot
// verify the log;
// 'vigil verify web' agrees on each origin. The extension's release parser
// passes the vectors the Go parser passes.
func TestExtension(t *testing.T) {
	ctx := context.Background()
	extDir := filepath.Join(browsertest.WebDir(t), "extension", "dist", "manifest.json")
	if _, err := os.Stat(extDir); err != nil {
		t.Fatal("the verifier extension is not built: run 'make web' (npm run build:extension in web/)")
	}
	c := startCloud(t, nil)
	app, err := web.App()
	if err != nil {
		t.Fatal(err)
	}
	key := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{42}, 32))
	pub := release.FormatPublicKey(key.Public().(ed25519.PublicKey))
	entry, err := release.SignDist(key, app, release.DefaultName, "e2e", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := c.srv.PublishRelease(ctx, entry); err != nil {
		t.Fatal(err)
	}
	if err := c.srv.SyncLog(ctx); err != nil {
		t.Fatal(err)
	}
	signed, err := release.Parse(entry)
	if err != nil {
		t.Fatal(err)
	}
	var script, worker string
	for _, a := range signed.Manifest.Assets {
		switch {
		case release.IsServiceWorker(a.Path):
			worker = a.Path
		case release.IsScript(a.Path):
			script = a.Path
		}
	}
	if script == "" || worker == "" {
		t.Fatalf("the built app has no script or no service worker: %+v", signed.Manifest.Assets)
	}
	origins := map[string]string{}
	modes := []string{modePass, modeScript, modeUnlogged, modeWorker, modeNoLog, modeSplit}
	for _, m := range modes {
		origins[m] = tamperProxy(t, c.url, m, script, worker)
	}

	// A configured copy of the extension, as a household makes one.
	dir := filepath.Join(t.TempDir(), "verifier")
	args := []string{"verify", "extension", "--release-key", pub, "--log-key", c.srv.LogKey(), "-o", dir}
	for _, m := range modes {
		args = append(args, "--origin", origins[m])
	}
	var out, errOut bytes.Buffer
	if code := cli.Run(ctx, args, &out, &errOut); code != 0 {
		t.Fatalf("vigil verify extension: %d\n%s%s", code, out.String(), errOut.String())
	}

	type page struct {
		AppLoaded  bool     `json:"appLoaded"`
		Stopped    string   `json:"stopped"`
		Failed     string   `json:"failed"`
		Verdict    string   `json:"verdict"`
		Tampered   bool     `json:"tampered"`
		SWLeft     int      `json:"swLeft"`
		Violations []string `json:"violations"`
		Errors     []string `json:"errors"`
	}
	var res struct {
		Vectors struct {
			Valid, Invalid int
			Failures       []string
		} `json:"vectors"`
		Pages map[string]page `json:"pages"`
	}
	browsertest.Run(t, 3*time.Minute, "extension.mjs", map[string]string{
		"EXTENSION": dir, "VECTORS": filepath.Join(browsertest.WebDir(t), "..", "internal", "release", "testdata", "releases.json"),
		"PASS_URL": origins[modePass], "SCRIPT_URL": origins[modeScript], "UNLOGGED_URL": origins[modeUnlogged],
		"WORKER_URL": origins[modeWorker], "NOLOG_URL": origins[modeNoLog], "SPLIT_URL": origins[modeSplit], "WORKER_PATH": worker,
	}, &res)

	if len(res.Vectors.Failures) > 0 || res.Vectors.Valid < 3 || res.Vectors.Invalid < 20 {
		t.Errorf("the extension's release parser on the shared vectors: %d valid, %d invalid checked, failures %q", res.Vectors.Valid, res.Vectors.Invalid, res.Vectors.Failures)
	}
	p := res.Pages[modePass]
	if !p.AppLoaded || p.Stopped != "" || p.Verdict != "ok" || len(p.Violations) > 0 || len(p.Errors) > 0 {
		t.Errorf("the logged app: loaded %v, stopped %q, verdict %q, CSP violations %q, errors %q", p.AppLoaded, p.Stopped, p.Verdict, p.Violations, p.Errors)
	}
	wantStop := map[string][]string{
		modeScript:   {script, "sha256-"},
		modeUnlogged: {"/assets/evil-1234.js"},
		modeWorker:   {worker, "unregistered"},
		modeSplit:    {"is not the logged /index.html", "serves different pages to different requests"},
	}
	for m, wants := range wantStop {
		p := res.Pages[m]
		if p.Stopped == "" || !strings.HasPrefix(p.Verdict, "stopped") {
			t.Errorf("%s: the page was not stopped (verdict %q, app loaded %v)", m, p.Verdict, p.AppLoaded)
			continue
		}
		for _, w := range wants {
			if !strings.Contains(p.Stopped, w) {
				t.Errorf("%s: the message %q does not name %q", m, p.Stopped, w)
			}
		}
		if p.Tampered {
			t.Errorf("%s: the tampered script ran", m)
		}
	}
	if p := res.Pages[modeUnlogged]; !strings.Contains(p.Stopped, "/index.html") {
		t.Errorf("unlogged: the message %q does not say the page itself is not a logged /index.html", p.Stopped)
	}
	if p := res.Pages[modeWorker]; p.SWLeft != 0 {
		t.Errorf("worker: %d service workers still registered after the stop", p.SWLeft)
	}
	if p := res.Pages[modeNoLog]; p.AppLoaded || p.Failed == "" {
		t.Errorf("a log that cannot be reached: app loaded %v, failure shown %q (want every script blocked and the failure said)", p.AppLoaded, p.Failed)
	}

	// vigil verify web agrees on each origin.
	verify := func(site string) (int, string) {
		var out, errOut bytes.Buffer
		code := cli.Run(ctx, []string{"verify", "web", site, "--release-key", pub, "--log-key", c.srv.LogKey()}, &out, &errOut)
		return code, out.String() + errOut.String()
	}
	if code, out := verify(origins[modePass]); code != 0 {
		t.Errorf("vigil verify web on the logged app: exit %d\n%s", code, out)
	}
	for m, want := range map[string]string{modeScript: script + " sha256-", modeUnlogged: "/assets/evil-1234.js", modeWorker: worker + " sha256-", modeSplit: "/index.html sha256-"} {
		code, out := verify(origins[m])
		if code != 1 || !strings.Contains(out, "FAIL") || !strings.Contains(out, want) {
			t.Errorf("vigil verify web, %s: exit %d, want 1 naming %q\n%s", m, code, want, out)
		}
	}
	if code, out := verify(origins[modeUnlogged]); !strings.Contains(out, "/index.html sha256-") {
		t.Errorf("vigil verify web, unlogged: exit %d, does not name the page\n%s", code, out)
	}
	if code, _ := verify(origins[modeNoLog]); code != 1 {
		t.Errorf("vigil verify web without a log: exit %d, want 1", code)
	}
}
