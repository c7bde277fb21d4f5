package release

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strings"
	"time"

	"vigil/internal/canonjson"
	"vigil/internal/history"
)

// Limits of a manifest. A signed release must fit in one log entry.
const (
	// MaxManifestSize is the largest manifest: a log entry holds at most
	// 65535 bytes, 98 of which are the entry's type, key and signature.
	MaxManifestSize = history.MaxEntrySize - entryFixed
	// MaxAssets is the most files one release may list.
	MaxAssets = 1024
	// MaxPathLen is the longest path of a file.
	MaxPathLen = 256
	maxNameLen = 64
	maxVerLen  = 128
	// IndexPath is where the app's page is: the cloud answers every path
	// outside /assets/ and /v1/ with it.
	IndexPath = "/index.html"
	// AssetsPrefix is the directory of the content-hashed files.
	AssetsPrefix = "/assets/"
	// DefaultName is the name of the Vigil web app's releases.
	DefaultName = "vigil-web"
)

// ErrMalformed is wrapped by every error for a manifest or a signed release
// that breaks the format's rules.
var ErrMalformed = errors.New("release: malformed")

// Asset is one file of a release: where the cloud serves it and the SHA-256
// of its bytes.
type Asset struct {
	Path   string
	SHA256 [32]byte
}

// SRI returns the hash as Subresource Integrity writes it ("sha256-<base64>").
func (a Asset) SRI() string { return SRI(a.SHA256) }

// SRI returns sum in Subresource Integrity form ("sha256-<base64>").
func SRI(sum [32]byte) string { return "sha256-" + base64.StdEncoding.EncodeToString(sum[:]) }

// Manifest is a release manifest: a build of the web app.
type Manifest struct {
	Name    string    // DefaultName for Vigil's web app
	Version string    // the build, chosen by whoever signs it
	Created time.Time // when it was made (UTC, whole seconds)
	Assets  []Asset   // sorted by Path, no duplicates, IndexPath among them
}

// Lookup returns the asset at path.
func (m Manifest) Lookup(path string) (Asset, bool) {
	i := sort.Search(len(m.Assets), func(i int) bool { return m.Assets[i].Path >= path })
	if i < len(m.Assets) && m.Assets[i].Path == path {
		return m.Assets[i], true
	}
	return Asset{}, false
}

// String names the release for people: "vigil-web 2026.03.1 (2026-03-05T12:00:00Z)".
func (m Manifest) String() string {
	return fmt.Sprintf("%s %s (%s)", m.Name, m.Version, m.Created.UTC().Format(time.RFC3339))
}

// wire is the manifest's JSON: its fields in the canonical order.
type wire struct {
	V       int         `json:"v"`
	Name    string      `json:"name"`
	Version string      `json:"version"`
	Created string      `json:"created"`
	Assets  []wireAsset `json:"assets"`
}

type wireAsset struct {
	Path   string `json:"path"`
	SHA256 string `json:"sha256"`
}

// Encode returns the manifest's canonical bytes (the form a release signs),
// after checking it against the format's rules.
func (m Manifest) Encode() ([]byte, error) {
	if err := m.validate(); err != nil {
		return nil, err
	}
	return m.encode(), nil
}

func (m Manifest) encode() []byte {
	w := wire{V: 1, Name: m.Name, Version: m.Version, Created: m.Created.UTC().Format(time.RFC3339), Assets: make([]wireAsset, len(m.Assets))}
	for i, a := range m.Assets {
		w.Assets[i] = wireAsset{Path: a.Path, SHA256: base64.StdEncoding.EncodeToString(a.SHA256[:])}
	}
	b, _ := canonjson.Marshal(w) // strings and an int: it cannot fail
	return b
}

// ParseManifest reads a manifest. It must be in canonical form — exactly
// the bytes Encode gives for its contents: the fields v, name, version,
// created, assets (and path, sha256 in each asset) in that order, no
// whitespace, no other fields — so that every reader, in Go or in the
// browser, sees the same release. Errors wrap ErrMalformed.
func ParseManifest(b []byte) (Manifest, error) {
	if len(b) > MaxManifestSize {
		return Manifest{}, fmt.Errorf("%w: a manifest of %d bytes is over the limit of %d", ErrMalformed, len(b), MaxManifestSize)
	}
	var w wire
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&w); err != nil {
		return Manifest{}, fmt.Errorf("%w: manifest: %v", ErrMalformed, err)
	}
	if w.V != 1 {
		return Manifest{}, fmt.Errorf("%w: manifest version %d (this reader knows version 1)", ErrMalformed, w.V)
	}
	created, err := time.Parse(time.RFC3339, w.Created)
	if err != nil {
		return Manifest{}, fmt.Errorf("%w: created %q is not an RFC 3339 time", ErrMalformed, w.Created)
	}
	m := Manifest{Name: w.Name, Version: w.Version, Created: created.UTC(), Assets: make([]Asset, len(w.Assets))}
	for i, a := range w.Assets {
		sum, err := base64.StdEncoding.Strict().DecodeString(a.SHA256)
		if err != nil || len(sum) != sha256.Size {
			return Manifest{}, fmt.Errorf("%w: asset %q: sha256 is not the base64 of 32 bytes", ErrMalformed, a.Path)
		}
		m.Assets[i] = Asset{Path: a.Path}
		copy(m.Assets[i].SHA256[:], sum)
	}
	if err := m.validate(); err != nil {
		return Manifest{}, err
	}
	if !bytes.Equal(m.encode(), b) {
		return Manifest{}, fmt.Errorf("%w: the manifest is not in canonical form (fields v, name, version, created, assets in that order, no whitespace, created as YYYY-MM-DDTHH:MM:SSZ)", ErrMalformed)
	}
	return m, nil
}

// validate checks the rules every manifest keeps.
func (m Manifest) validate() error {
	if !validToken(m.Name, maxNameLen, false) {
		return fmt.Errorf("%w: name %q: 1 to %d of A-Z a-z 0-9 . _ -", ErrMalformed, m.Name, maxNameLen)
	}
	if !validToken(m.Version, maxVerLen, true) {
		return fmt.Errorf("%w: version %q: 1 to %d of A-Z a-z 0-9 . _ - + : ~", ErrMalformed, m.Version, maxVerLen)
	}
	if m.Created.IsZero() || m.Created.Year() < 2000 || m.Created.Year() > 9999 || m.Created.Nanosecond() != 0 {
		return fmt.Errorf("%w: created %v: a time in whole seconds between the years 2000 and 9999", ErrMalformed, m.Created)
	}
	if len(m.Assets) == 0 || len(m.Assets) > MaxAssets {
		return fmt.Errorf("%w: %d files (a release lists 1 to %d)", ErrMalformed, len(m.Assets), MaxAssets)
	}
	index := false
	for i, a := range m.Assets {
		if err := ValidPath(a.Path); err != nil {
			return err
		}
		if i > 0 && m.Assets[i-1].Path >= a.Path {
			return fmt.Errorf("%w: files must be sorted by path without duplicates (%q before %q)", ErrMalformed, m.Assets[i-1].Path, a.Path)
		}
		index = index || a.Path == IndexPath
	}
	if !index {
		return fmt.Errorf("%w: the release has no %s", ErrMalformed, IndexPath)
	}
	return nil
}

// ValidPath checks a file's path: IndexPath, or AssetsPrefix followed by
// segments of A-Z a-z 0-9 . _ ~ - (none "." or ".."), at most MaxPathLen
// bytes in all.
func ValidPath(p string) error {
	if p == IndexPath {
		return nil
	}
	rest, ok := strings.CutPrefix(p, AssetsPrefix)
	if !ok || len(p) > MaxPathLen {
		return fmt.Errorf("%w: path %q: the cloud serves %s and files under %s only (at most %d bytes)", ErrMalformed, p, IndexPath, AssetsPrefix, MaxPathLen)
	}
	for _, seg := range strings.Split(rest, "/") {
		if seg == "" || seg == "." || seg == ".." || !validSeg(seg) {
			return fmt.Errorf("%w: path %q: segment %q (use A-Z a-z 0-9 . _ ~ -, no empty, . or .. segments)", ErrMalformed, p, seg)
		}
	}
	return nil
}

func validSeg(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-' || c == '~') {
			return false
		}
	}
	return true
}

func validToken(s string, max int, version bool) bool {
	if s == "" || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '_', c == '-':
		case version && (c == '+' || c == ':' || c == '~'):
		default:
			return false
		}
	}
	return true
}

// ServedAs returns the manifest path a URL path of the app's origin is
// answered with, as the cloud serves the app (internal/cloud/webapp.go):
// a path under /assets/ is that file, every other path is IndexPath.
func ServedAs(urlPath string) string {
	if strings.HasPrefix(urlPath, AssetsPrefix) {
		return urlPath
	}
	return IndexPath
}

// IsServiceWorker reports whether a release's file is a service worker
// script: the build names them assets/sw-<hash>.js. Verifiers allow a
// service worker to be registered from these paths only.
func IsServiceWorker(path string) bool {
	name, ok := strings.CutPrefix(path, AssetsPrefix+"sw-")
	return ok && strings.HasSuffix(name, ".js") && !strings.Contains(name, "/")
}

// IsScript reports whether a release's file is JavaScript (a page script
// or a service worker).
func IsScript(path string) bool {
	return strings.HasPrefix(path, AssetsPrefix) && (strings.HasSuffix(path, ".js") || strings.HasSuffix(path, ".mjs"))
}

// BuildManifest makes the manifest of a build of the web app: dist holds
// what the cloud serves, index.html and assets/ (a .keep file at the top is
// ignored). Any other file is refused, as is an index.html whose scripts
// and stylesheets do not carry the integrity hash of the file they load
// (the browser extension lets a script run only by that hash).
func BuildManifest(dist fs.FS, name, version string, created time.Time) ([]byte, error) {
	m := Manifest{Name: name, Version: version, Created: created.UTC().Truncate(time.Second)}
	err := fs.WalkDir(dist, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if p == "." || p == "assets" || strings.HasPrefix(p, "assets/") {
				return nil
			}
			return fmt.Errorf("the build holds the directory %s, which the cloud does not serve (it serves index.html and assets/ only): remove it, or build again with 'npm run build' in web/", p)
		}
		if p == ".keep" {
			return nil
		}
		if !d.Type().IsRegular() {
			return fmt.Errorf("the build holds %s, which is not a regular file", p)
		}
		if p != "index.html" && !strings.HasPrefix(p, "assets/") {
			return fmt.Errorf("the build holds %s, which the cloud does not serve (it serves index.html and assets/ only): remove it, or build again with 'npm run build' in web/", p)
		}
		if err := ValidPath("/" + p); err != nil {
			return fmt.Errorf("the build holds %s: %w", p, err)
		}
		b, err := fs.ReadFile(dist, p)
		if err != nil {
			return err
		}
		m.Assets = append(m.Assets, Asset{Path: "/" + p, SHA256: sha256.Sum256(b)})
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.Slice(m.Assets, func(i, j int) bool { return m.Assets[i].Path < m.Assets[j].Path })
	if _, ok := m.Lookup(IndexPath); !ok {
		return nil, errors.New("the build has no index.html: build the web app first ('npm run build' in web/, or 'make web')")
	}
	index, err := fs.ReadFile(dist, "index.html")
	if err != nil {
		return nil, err
	}
	if err := checkIntegrity(index, m); err != nil {
		return nil, err
	}
	b, err := m.Encode()
	if err != nil {
		return nil, err
	}
	if len(b) > MaxManifestSize {
		return nil, fmt.Errorf("the manifest of %d files is %d bytes, over the limit of %d", len(m.Assets), len(b), MaxManifestSize)
	}
	return b, nil
}

// checkIntegrity checks that every script and stylesheet of the page names
// a file of the release and carries its hash.
func checkIntegrity(index []byte, m Manifest) error {
	refs, err := References(index)
	if err != nil {
		return err
	}
	for _, r := range refs {
		if !r.Code() {
			continue
		}
		if r.URL == "" {
			return errors.New("index.html has an inline script: the cloud's CSP forbids it and a verifier can allow scripts only by the hash of a file")
		}
		if !strings.HasPrefix(r.URL, "/") || strings.HasPrefix(r.URL, "//") {
			return fmt.Errorf("index.html loads %s from another origin: a release may load only its own files", r.URL)
		}
		a, ok := m.Lookup(r.URL)
		if !ok {
			return fmt.Errorf("index.html loads %s, which is not in the build", r.URL)
		}
		if r.Integrity != a.SRI() {
			return fmt.Errorf("index.html loads %s with integrity %q, not the file's %s: build with 'npm run build' in web/, which adds the hashes (web/scripts/sri.mjs)", r.URL, r.Integrity, a.SRI())
		}
	}
	return nil
}
