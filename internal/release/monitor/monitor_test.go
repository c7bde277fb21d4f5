package monitor

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"golang.org/x/mod/sumdb/note"

	"vigil/internal/history"
	"vigil/internal/release"
	"vigil/internal/tlog"
	"vigil/internal/tlog/tloghttp"
)

func sri(b string) string { return release.SRI(sha256.Sum256([]byte(b))) }

func dist(js string) fstest.MapFS {
	css, sw := "body{}", "self.onpush=()=>{}"
	page := `<!doctype html><html><head><script type="module" src="/assets/index-A.js" integrity="` + sri(js) + `"></script>` +
		`<link rel="stylesheet" href="/assets/index-B.css" integrity="` + sri(css) + `"></head><body></body></html>`
	return fstest.MapFS{"index.html": {Data: []byte(page)}, "assets/index-A.js": {Data: []byte(js)},
		"assets/index-B.css": {Data: []byte(css)}, "assets/sw-C.js": {Data: []byte(sw)}}
}

// site is a cloud as the monitor sees it: the log at /tlog/, its policy at
// /v1/log, the app's files, and a hook that changes what is served.
type site struct {
	t       *testing.T
	log     *tlog.Log
	storage *tlog.MemoryStorage
	vkey    string
	srv     *httptest.Server

	mu       sync.Mutex
	files    fstest.MapFS
	releases []int64
	serve    func(w http.ResponseWriter, r *http.Request) bool // true: answered
}

func newSite(t *testing.T) *site {
	ctx := context.Background()
	skey, vkey, err := tlog.GenerateKey("vigil.test/tlog")
	if err != nil {
		t.Fatal(err)
	}
	signer, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	s := &site{t: t, storage: tlog.NewMemoryStorage(), vkey: vkey, files: dist("app()")}
	if s.log, err = tlog.Open(ctx, tlog.Config{Origin: "vigil.test/tlog", Signer: signer, Storage: s.storage}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.log.Close() })
	logH := http.StripPrefix("/tlog", tloghttp.Handler(s.storage, vkey, func(context.Context) ([]int64, error) {
		s.mu.Lock()
		defer s.mu.Unlock()
		return append([]int64(nil), s.releases...), nil
	}))
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		hook, files := s.serve, s.files
		s.mu.Unlock()
		switch {
		case hook != nil && hook(w, r):
		case strings.HasPrefix(r.URL.Path, "/tlog/"):
			logH.ServeHTTP(w, r)
		case r.URL.Path == "/v1/log":
			json.NewEncoder(w).Encode(history.LogPolicy{Origin: "vigil.test/tlog", Key: vkey, Witnesses: []string{}})
		case strings.HasPrefix(r.URL.Path, "/assets/"):
			f, ok := files[strings.TrimPrefix(r.URL.Path, "/")]
			if !ok {
				http.NotFound(w, r)
				return
			}
			w.Write(f.Data)
		default:
			w.Write(files["index.html"].Data)
		}
	}))
	t.Cleanup(s.srv.Close)
	return s
}

// publish signs the files as a release and appends it (and filler
// entries) to the log.
func (s *site) publish(key ed25519.PrivateKey, files fstest.MapFS, version string) {
	s.t.Helper()
	entry, err := release.SignDist(key, files, release.DefaultName, version, time.Date(2026, 3, 5, 12, 0, 0, 0, time.UTC))
	if err != nil {
		s.t.Fatal(err)
	}
	ix, err := s.log.Append(context.Background(), [][]byte{[]byte("other entry"), entry})
	if err != nil {
		s.t.Fatal(err)
	}
	s.mu.Lock()
	s.releases = append(s.releases, ix+1)
	s.mu.Unlock()
}

func (s *site) set(hook func(w http.ResponseWriter, r *http.Request) bool) {
	s.mu.Lock()
	s.serve = hook
	s.mu.Unlock()
}

func key(seed byte) ed25519.PrivateKey {
	return ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, 32))
}

func pub(k ed25519.PrivateKey) ed25519.PublicKey { return k.Public().(ed25519.PublicKey) }

func TestCheck(t *testing.T) {
	ctx := context.Background()
	s := newSite(t)
	rk, other := key(1), key(2)
	s.publish(rk, dist("app()"), "1")
	s.publish(other, dist("someone else's()"), "x")
	pol := &history.LogPolicy{Origin: "vigil.test/tlog", Key: s.vkey, Witnesses: []string{}}
	cfg := Config{Site: s.srv.URL, ReleaseKeys: []ed25519.PublicKey{pub(rk)}, Policy: pol}

	rep, err := Check(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() || len(rep.Releases) != 1 || len(rep.Skipped) != 1 || rep.Checkpoint.N != 4 {
		t.Fatalf("honest site: ok %v, %d releases, %d skipped, size %d", rep.OK(), len(rep.Releases), len(rep.Skipped), rep.Checkpoint.N)
	}
	got := map[string]bool{}
	for _, f := range rep.Files {
		got[strings.TrimPrefix(f.URL, s.srv.URL)] = f.Finding.OK()
	}
	for _, p := range []string{"/", DeepPath, "/assets/index-A.js", "/assets/index-B.css", "/assets/sw-C.js"} {
		if !got[p] {
			t.Errorf("%s not fetched and verified: %v", p, got)
		}
	}
	var text strings.Builder
	rep.WriteText(&text)
	if !strings.Contains(text.String(), "verified: every page") || !strings.Contains(text.String(), "(pinned)") {
		t.Errorf("report:\n%s", text.String())
	}

	tampered := func(p, body string) func(w http.ResponseWriter, r *http.Request) bool {
		return func(w http.ResponseWriter, r *http.Request) bool {
			if r.URL.Path != p {
				return false
			}
			w.Write([]byte(body))
			return true
		}
	}
	evilPage := strings.Replace(string(dist("app()")["index.html"].Data), `</head>`, `<script src="/assets/evil.js"></script></head>`, 1)
	tests := []struct {
		name  string
		hook  func(w http.ResponseWriter, r *http.Request) bool
		wants []string
	}{
		{"other bytes at a logged script path", tampered("/assets/index-A.js", "steal()"),
			[]string{"/assets/index-A.js " + sri("steal()") + " is in no logged release (logged: " + sri("app()")}},
		{"a page loading an unlogged script", func(w http.ResponseWriter, r *http.Request) bool {
			if r.URL.Path == "/assets/evil.js" {
				w.Write([]byte("steal()"))
				return true
			}
			if strings.HasPrefix(r.URL.Path, "/assets/") || strings.HasPrefix(r.URL.Path, "/tlog/") || strings.HasPrefix(r.URL.Path, "/v1/") {
				return false
			}
			w.Write([]byte(evilPage))
			return true
		}, []string{"/index.html " + sri(evilPage) + " is in no logged release", "/assets/evil.js " + sri("steal()") + " is in no logged release (no logged release has this path)"}},
		{"an unlogged service worker", tampered("/assets/sw-C.js", "self.onfetch=steal"),
			[]string{"/assets/sw-C.js " + sri("self.onfetch=steal") + " is in no logged release"}},
		{"another page on an app route only", tampered(DeepPath, evilPage), []string{"/index.html " + sri(evilPage)}},
		{"a redirect", func(w http.ResponseWriter, r *http.Request) bool {
			if r.URL.Path != "/" {
				return false
			}
			http.Redirect(w, r, "https://elsewhere.example/", http.StatusFound)
			return true
		}, []string{"redirecting to \"https://elsewhere.example/\""}},
		{"an inline script", tampered("/", `<script>steal()</script>`), []string{"inline script"}},
		{"code from another origin", tampered("/", `<link rel=stylesheet href="https://cdn.example/x.css">`), []string{"another origin"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s.set(tt.hook)
			defer s.set(nil)
			rep, err := Check(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			if rep.OK() {
				t.Fatal("the check passed")
			}
			sum := strings.Join(rep.Summary(), "\n")
			for _, w := range tt.wants {
				if !strings.Contains(sum, w) {
					t.Errorf("summary\n%s\nlacks %q", sum, w)
				}
			}
			var text strings.Builder
			rep.WriteText(&text)
			if !strings.Contains(text.String(), "NOT VERIFIED") || !strings.Contains(text.String(), "FAIL") {
				t.Errorf("report:\n%s", text.String())
			}
		})
	}

	t.Run("policy from the cloud", func(t *testing.T) {
		c := cfg
		c.Policy = nil
		rep, err := Check(ctx, c)
		if err != nil || !rep.OK() || rep.PolicySource != "the cloud's /v1/log" {
			t.Fatalf("ok %v source %q: %v", rep.OK(), rep.PolicySource, err)
		}
		var text strings.Builder
		rep.WriteText(&text)
		if !strings.Contains(text.String(), "pin it with --log-key") {
			t.Errorf("report does not say the policy is the cloud's:\n%s", text.String())
		}
	})
	t.Run("no trusted release", func(t *testing.T) {
		c := cfg
		c.ReleaseKeys = []ed25519.PublicKey{pub(key(3))}
		rep, err := Check(ctx, c)
		if err != nil || rep.OK() || len(rep.Releases) != 0 || !strings.Contains(strings.Join(rep.Summary(), "\n"), "no release signed by a trusted release key") {
			t.Fatalf("ok %v, %v: %q", rep.OK(), err, rep.Summary())
		}
	})
	t.Run("another log", func(t *testing.T) {
		_, vk, _ := tlog.GenerateKey("vigil.test/tlog")
		c := cfg
		c.Policy = &history.LogPolicy{Origin: "vigil.test/tlog", Key: vk, Witnesses: []string{}}
		if _, err := Check(ctx, c); err == nil || !errors.Is(err, tlog.ErrBadSignature) && !strings.Contains(err.Error(), "checkpoint") {
			t.Fatalf("a checkpoint of another log: %v", err)
		}
	})
	t.Run("rollback", func(t *testing.T) {
		last := rep.Checkpoint.Note
		s.publish(rk, dist("app2()"), "2")
		c := cfg
		c.Last = s.log.Checkpoint()
		// The site serves the older checkpoint it had before.
		s.set(func(w http.ResponseWriter, r *http.Request) bool {
			if r.URL.Path != "/tlog/checkpoint" {
				return false
			}
			w.Write(last)
			return true
		})
		defer s.set(nil)
		if _, err := Check(ctx, c); err == nil || !strings.Contains(err.Error(), "rolled back") {
			t.Fatalf("rollback: %v", err)
		}
	})
	t.Run("new release", func(t *testing.T) {
		s.mu.Lock()
		s.files = dist("app2()")
		s.mu.Unlock()
		c := cfg
		c.Last = rep.Checkpoint.Note
		rep2, err := Check(ctx, c)
		if err != nil || !rep2.OK() || len(rep2.Releases) != 2 {
			t.Fatalf("after a new release: ok %v, %d releases, %v", rep2.OK(), len(rep2.Releases), err)
		}
	})
	if _, err := Check(ctx, Config{Site: s.srv.URL + "/path"}); err == nil || !strings.Contains(err.Error(), "origin") {
		t.Fatalf("a site with a path: %v", err)
	}
}
