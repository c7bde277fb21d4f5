package release

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"vigil/internal/history"
)

var created = time.Date(2026, 3, 5, 12, 0, 0, 0, time.UTC)

func sri(b string) string {
	s := sha256.Sum256([]byte(b))
	return SRI(s)
}

// testDist is a build like web/dist: a page whose script and stylesheet
// carry their hashes, the files, a service worker.
func testDist() fstest.MapFS {
	js, css, sw := "console.log('app')", "body{color:red}", "self.onpush=()=>{}"
	page := `<!doctype html><html><head>` +
		`<script type="module" crossorigin src="/assets/index-A1.js" integrity="` + sri(js) + `"></script>` +
		`<link rel="stylesheet" crossorigin href="/assets/index-B2.css" integrity="` + sri(css) + `">` +
		`</head><body><main id="app"></main></body></html>`
	return fstest.MapFS{
		".keep":               {Data: nil},
		"index.html":          {Data: []byte(page)},
		"assets/index-A1.js":  {Data: []byte(js)},
		"assets/index-B2.css": {Data: []byte(css)},
		"assets/sw-C3.js":     {Data: []byte(sw)},
	}
}

func testKey(seed byte) ed25519.PrivateKey {
	return ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, 32))
}

func TestBuildManifest(t *testing.T) {
	b, err := BuildManifest(testDist(), DefaultName, "2026.03.1", created.Add(300*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"v":1,"name":"vigil-web","version":"2026.03.1","created":"2026-03-05T12:00:00Z","assets":[` +
		`{"path":"/assets/index-A1.js","sha256":"` + strings.TrimPrefix(sri("console.log('app')"), "sha256-") + `"},` +
		`{"path":"/assets/index-B2.css","sha256":"` + strings.TrimPrefix(sri("body{color:red}"), "sha256-") + `"},` +
		`{"path":"/assets/sw-C3.js","sha256":"` + strings.TrimPrefix(sri("self.onpush=()=>{}"), "sha256-") + `"},` +
		`{"path":"/index.html","sha256":"` + strings.TrimPrefix(sri(string(testDist()["index.html"].Data)), "sha256-") + `"}]}`
	if string(b) != want {
		t.Fatalf("manifest\n%s\nwant\n%s", b, want)
	}
	m, err := ParseManifest(b)
	if err != nil {
		t.Fatal(err)
	}
	if m.Name != DefaultName || m.Version != "2026.03.1" || !m.Created.Equal(created) || len(m.Assets) != 4 {
		t.Fatalf("parsed %+v", m)
	}
	if a, ok := m.Lookup("/assets/sw-C3.js"); !ok || a.SRI() != sri("self.onpush=()=>{}") {
		t.Fatalf("lookup sw: %v %v", a, ok)
	}
	if _, ok := m.Lookup("/assets/none.js"); ok {
		t.Fatal("lookup of an absent path succeeded")
	}
}

func TestBuildManifestRefuses(t *testing.T) {
	tests := []struct {
		name string
		mod  func(fstest.MapFS)
		want string
	}{
		{"unexpected file", func(d fstest.MapFS) { d["favicon.ico"] = &fstest.MapFile{Data: []byte("x")} }, "favicon.ico, which the cloud does not serve"},
		{"unexpected dir", func(d fstest.MapFS) { d["extra/a.js"] = &fstest.MapFile{Data: []byte("x")} }, "directory extra"},
		{"no index", func(d fstest.MapFS) { delete(d, "index.html") }, "no index.html"},
		{"bad asset name", func(d fstest.MapFS) { d["assets/a b.js"] = &fstest.MapFile{Data: []byte("x")} }, "segment"},
		{"no integrity", func(d fstest.MapFS) {
			d["index.html"] = &fstest.MapFile{Data: []byte(`<script type="module" src="/assets/index-A1.js"></script>`)}
		}, "integrity"},
		{"wrong integrity", func(d fstest.MapFS) {
			d["index.html"] = &fstest.MapFile{Data: []byte(`<script src="/assets/index-A1.js" integrity="` + sri("other") + `"></script>`)}
		}, "not the file's"},
		{"stylesheet without integrity", func(d fstest.MapFS) {
			d["index.html"] = &fstest.MapFile{Data: []byte(`<LINK REL=Stylesheet HREF=/assets/index-B2.css>`)}
		}, "integrity"},
		{"inline script", func(d fstest.MapFS) { d["index.html"] = &fstest.MapFile{Data: []byte(`<script>alert(1)</script>`)} }, "inline script"},
		{"other origin", func(d fstest.MapFS) {
			d["index.html"] = &fstest.MapFile{Data: []byte(`<script src="https://cdn.example/x.js" integrity="sha256-x"></script>`)}
		}, "another origin"},
		{"missing file", func(d fstest.MapFS) {
			d["index.html"] = &fstest.MapFile{Data: []byte(`<script src="/assets/gone.js" integrity="sha256-x"></script>`)}
		}, "not in the build"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := testDist()
			tt.mod(d)
			_, err := BuildManifest(d, DefaultName, "1", created)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err %v, want %q", err, tt.want)
			}
		})
	}
	if _, err := BuildManifest(testDist(), "vigil web", "1", created); err == nil || !strings.Contains(err.Error(), "name") {
		t.Fatalf("a name with a space: %v", err)
	}
	if _, err := BuildManifest(testDist(), DefaultName, "1 2", created); err == nil || !strings.Contains(err.Error(), "version") {
		t.Fatalf("a version with a space: %v", err)
	}
}

// manifestCases are manifests that parse (ok) or not: the table tests and
// the fuzzer's seeds.
func manifestCases() []struct {
	name, json string
	ok         bool
} {
	h := "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=" // SHA-256 of nothing
	asset := func(p string) string { return `{"path":"` + p + `","sha256":"` + h + `"}` }
	head := `{"v":1,"name":"vigil-web","version":"1.0","created":"2026-03-05T12:00:00Z","assets":[`
	return []struct {
		name, json string
		ok         bool
	}{
		{"minimal", head + asset("/index.html") + `]}`, true},
		{"with assets", head + asset("/assets/a.js") + "," + asset("/assets/sub/b.css") + "," + asset("/index.html") + `]}`, true},
		{"whitespace", strings.Replace(head, `"v":1,`, `"v": 1,`, 1) + asset("/index.html") + `]}`, false},
		{"trailing newline", head + asset("/index.html") + "]}\n", false},
		{"trailing data", head + asset("/index.html") + `]}{}`, false},
		{"reordered", `{"name":"vigil-web","v":1,"version":"1.0","created":"2026-03-05T12:00:00Z","assets":[` + asset("/index.html") + `]}`, false},
		{"other case", `{"V":1,"name":"vigil-web","version":"1.0","created":"2026-03-05T12:00:00Z","assets":[` + asset("/index.html") + `]}`, false},
		{"duplicate field", `{"v":1,"name":"evil","name":"vigil-web","version":"1.0","created":"2026-03-05T12:00:00Z","assets":[` + asset("/index.html") + `]}`, false},
		{"unknown field", strings.TrimSuffix(head+asset("/index.html")+`]}`, "}") + `,"x":1}`, false},
		{"version 2", strings.Replace(head, `"v":1`, `"v":2`, 1) + asset("/index.html") + `]}`, false},
		{"fractional time", strings.Replace(head, "12:00:00Z", "12:00:00.5Z", 1) + asset("/index.html") + `]}`, false},
		{"offset time", strings.Replace(head, "12:00:00Z", "13:00:00+01:00", 1) + asset("/index.html") + `]}`, false},
		{"no index", head + asset("/assets/a.js") + `]}`, false},
		{"no assets", head + `]}`, false},
		{"unsorted", head + asset("/index.html") + "," + asset("/assets/a.js") + `]}`, false},
		{"duplicate path", head + asset("/assets/a.js") + "," + asset("/assets/a.js") + "," + asset("/index.html") + `]}`, false},
		{"dot dot", head + asset("/assets/../x.js") + "," + asset("/index.html") + `]}`, false},
		{"other root file", head + asset("/favicon.ico") + "," + asset("/index.html") + `]}`, false},
		{"escaped path", head + asset(`/assets/\u0061.js`) + "," + asset("/index.html") + `]}`, false},
		{"short hash", head + `{"path":"/index.html","sha256":"AAAA"}]}`, false},
		{"unpadded hash", head + `{"path":"/index.html","sha256":"47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU"}]}`, false},
		{"line separator in version", strings.Replace(head, `"1.0"`, "\"1\u20280\"", 1) + asset("/index.html") + `]}`, false},
		{"html in version", strings.Replace(head, `"1.0"`, `"<b>"`, 1) + asset("/index.html") + `]}`, false},
		{"not json", "vigil", false},
	}
}

func TestParseManifest(t *testing.T) {
	for _, tt := range manifestCases() {
		t.Run(tt.name, func(t *testing.T) {
			m, err := ParseManifest([]byte(tt.json))
			if tt.ok != (err == nil) {
				t.Fatalf("ok %v, err %v", tt.ok, err)
			}
			if err != nil {
				if !errors.Is(err, ErrMalformed) {
					t.Fatalf("error %v does not wrap ErrMalformed", err)
				}
				return
			}
			if b, err := m.Encode(); err != nil || string(b) != tt.json {
				t.Fatalf("re-encoded %s, %v", b, err)
			}
		})
	}
}

func TestSignOpen(t *testing.T) {
	key, other := testKey(1), testKey(2)
	pub := key.Public().(ed25519.PublicKey)
	m, err := BuildManifest(testDist(), DefaultName, "1", created)
	if err != nil {
		t.Fatal(err)
	}
	entry, err := Sign(key, m)
	if err != nil {
		t.Fatal(err)
	}
	e, err := history.ParseEntry(entry)
	if err != nil || e.Release == nil || !bytes.Equal(e.Release.Manifest, m) || !pub.Equal(e.Release.Key) {
		t.Fatalf("the signed release is not a type-3 log entry with the manifest: %v", err)
	}
	got, err := Open(entry, []ed25519.PublicKey{other.Public().(ed25519.PublicKey), pub})
	if err != nil || got.Version != "1" || len(got.Assets) != 4 {
		t.Fatalf("Open: %+v, %v", got, err)
	}
	if _, err := Open(entry, []ed25519.PublicKey{other.Public().(ed25519.PublicKey)}); !errors.Is(err, ErrUntrustedKey) {
		t.Fatalf("another key: %v, want ErrUntrustedKey", err)
	}
	if _, err := Open(entry, nil); !errors.Is(err, ErrUntrustedKey) {
		t.Fatalf("no trusted key: %v", err)
	}
	// A flipped byte anywhere in the signature or the manifest.
	for _, i := range []int{2 + 32 + 5, len(entry) - 10} {
		bad := bytes.Clone(entry)
		bad[i] ^= 1
		if _, err := Open(bad, []ed25519.PublicKey{pub}); err == nil {
			t.Fatalf("byte %d flipped: opened", i)
		}
	}
	// The key swapped for another: the signature no longer verifies.
	bad := bytes.Clone(entry)
	copy(bad[2:], other.Public().(ed25519.PublicKey))
	if _, err := Open(bad, []ed25519.PublicKey{other.Public().(ed25519.PublicKey)}); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("key swapped: %v, want ErrBadSignature", err)
	}
	for _, b := range [][]byte{nil, {1}, {1, 3}, entry[:98], append([]byte{2}, entry[1:]...), append([]byte{1, 1}, entry[2:]...)} {
		if _, err := Open(b, []ed25519.PublicKey{pub}); !errors.Is(err, ErrMalformed) {
			t.Fatalf("%x...: %v, want ErrMalformed", b[:min(len(b), 4)], err)
		}
	}
	if _, err := Sign(key, []byte(`{"v":1}`)); !errors.Is(err, ErrMalformed) {
		t.Fatalf("signing a malformed manifest: %v", err)
	}
}

func TestKeyFiles(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "release.key")
	k, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	if err := SaveKey(p, k); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(p)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, %v; want 0600", st.Mode(), err)
	}
	before, _ := os.ReadFile(p)
	k2, _ := GenerateKey()
	if err := SaveKey(p, k2); err == nil || !strings.Contains(err.Error(), "never overwritten") {
		t.Fatalf("second save: %v", err)
	}
	if after, _ := os.ReadFile(p); !bytes.Equal(before, after) {
		t.Fatal("the key file changed")
	}
	got, err := LoadKey(p)
	if err != nil || !got.Equal(k) {
		t.Fatalf("LoadKey: %v", err)
	}
	pub := FormatPublicKey(k.Public().(ed25519.PublicKey))
	if back, err := ParsePublicKey(pub); err != nil || !back.Equal(k.Public()) {
		t.Fatalf("public key %q: %v", pub, err)
	}
	for _, s := range []string{"", "AAAA", pub[:40], pub + "=", strings.TrimRight(pub, "=")} {
		if _, err := ParsePublicKey(s); err == nil {
			t.Fatalf("public key %q accepted", s)
		}
	}
	for _, b := range []string{"", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", "-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n"} {
		if _, err := ParseKey([]byte(b)); err == nil {
			t.Fatalf("key file %q accepted", b)
		}
	}
}

func TestLoggedCheck(t *testing.T) {
	m1 := Manifest{Name: DefaultName, Version: "1", Created: created, Assets: []Asset{
		{Path: "/assets/a.js", SHA256: sha256.Sum256([]byte("a1"))}, {Path: IndexPath, SHA256: sha256.Sum256([]byte("i1"))}}}
	m2 := Manifest{Name: DefaultName, Version: "2", Created: created.Add(time.Hour), Assets: []Asset{
		{Path: "/assets/a.js", SHA256: sha256.Sum256([]byte("a2"))}, {Path: IndexPath, SHA256: sha256.Sum256([]byte("i1"))}}}
	l := NewLogged([]Manifest{m1, m2})
	if f := l.Check("/assets/a.js", []byte("a1")); !f.OK() || f.Manifest.Version != "1" {
		t.Fatalf("a1: %v", f)
	}
	if f := l.Check(IndexPath, []byte("i1")); !f.OK() || f.Manifest.Version != "2" || len(f.Releases) != 2 {
		t.Fatalf("index in both releases: %+v (want the newest)", f)
	}
	f := l.Check("/assets/a.js", []byte("evil"))
	if f.OK() || len(f.Logged) != 2 || !strings.Contains(f.String(), sri("a1")) || !strings.Contains(f.String(), sri("evil")) || !strings.Contains(f.String(), "/assets/a.js") {
		t.Fatalf("other bytes at a logged path: %v", f)
	}
	if f := l.Check("/assets/evil.js", []byte("a1")); f.OK() || len(f.Logged) != 0 || !strings.Contains(f.String(), "no logged release has this path") {
		t.Fatalf("an unlogged path: %v", f)
	}
	var none *Logged
	if none.Check(IndexPath, []byte("i1")).OK() {
		t.Fatal("a nil set trusts a file")
	}
	if ServedAs("/") != IndexPath || ServedAs("/h/x/cam/y") != IndexPath || ServedAs("/assets/a.js") != "/assets/a.js" {
		t.Fatal("ServedAs")
	}
	if !IsServiceWorker("/assets/sw-C3.js") || IsServiceWorker("/assets/index-A.js") || IsServiceWorker("/assets/x/sw-a.js") || IsServiceWorker("/sw-a.js") {
		t.Fatal("IsServiceWorker")
	}
}

func referenceCases() []string {
	return []string{
		`<script type="module" crossorigin src="/assets/a.js" integrity="sha256-x"></script><link rel="stylesheet" href="/assets/b.css">`,
		`<SCRIPT SRC=/assets/a.js></SCRIPT><LINK REL="StyleSheet" HREF='/assets/b.css'>`,
		`<!-- <script src="/hidden.js"></script> --><script>inline()</script>`,
		`<svg><script href="/assets/svg.js"></script></svg><link rel="modulepreload" href="/assets/c.js"><link rel="icon" href="/i.png">`,
		`<textarea><script src="/not-a-script.js"></script></textarea>`,
		`<script src="/a.js"`,
	}
}

func TestReferences(t *testing.T) {
	want := [][]string{
		{"script /assets/a.js sha256-x", "link stylesheet /assets/b.css "},
		{"script /assets/a.js ", "link stylesheet /assets/b.css "},
		{"script  "},
		{"script /assets/svg.js ", "link modulepreload /assets/c.js ", "link icon /i.png "},
		nil,
		nil,
	}
	for i, page := range referenceCases() {
		refs, err := References([]byte(page))
		if err != nil {
			t.Fatalf("%d: %v", i, err)
		}
		var got []string
		for _, r := range refs {
			s := r.Tag + " " + r.URL + " " + r.Integrity
			if r.Tag == "link" {
				s = r.Tag + " " + r.Rel + " " + r.URL + " " + r.Integrity
			}
			got = append(got, s)
		}
		if strings.Join(got, "|") != strings.Join(want[i], "|") {
			t.Errorf("%d %q:\n got %q\nwant %q", i, page, got, want[i])
		}
	}
}
