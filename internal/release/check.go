package release

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"strings"

	"golang.org/x/net/html"
)

// Ref is a file a page loads from its markup.
type Ref struct {
	Tag       string // "script" or "link"
	Rel       string // a link's rel (lower case)
	URL       string // src or href as written ("" for an inline script)
	Integrity string // the integrity attribute, "" when absent
}

// Code reports whether the reference is code or style a verifier checks
// and the build gives an integrity hash (web/scripts/sri.mjs): a script
// (inline or not), a stylesheet, a module preload or a preload.
func (r Ref) Code() bool {
	if r.Tag == "script" {
		return true
	}
	for _, rel := range strings.Fields(r.Rel) {
		switch rel {
		case "stylesheet", "modulepreload", "preload":
			return true
		}
	}
	return false
}

// maxPage bounds the page References reads.
const maxPage = 4 << 20

// References lists the scripts and links of a page, in document order.
// It reads HTML as a browser's tokenizer does (golang.org/x/net/html), so
// a reference hidden from a simpler scanner is still found.
func References(page []byte) ([]Ref, error) {
	if len(page) > maxPage {
		return nil, fmt.Errorf("%w: a page of %d bytes is over the limit of %d", ErrMalformed, len(page), maxPage)
	}
	z := html.NewTokenizer(bytes.NewReader(page))
	var out []Ref
	for {
		tt := z.Next()
		switch tt {
		case html.ErrorToken:
			if z.Err() == io.EOF {
				return out, nil
			}
			return nil, fmt.Errorf("%w: page: %v", ErrMalformed, z.Err())
		case html.StartTagToken, html.SelfClosingTagToken:
			t := z.Token()
			if t.Data != "script" && t.Data != "link" {
				continue
			}
			r := Ref{Tag: t.Data}
			for _, a := range t.Attr {
				if a.Namespace != "" {
					continue
				}
				switch {
				// An SVG script loads its href (or xlink:href) as an HTML
				// script loads its src.
				case t.Data == "script" && (a.Key == "src" || a.Key == "href" || a.Key == "xlink:href"),
					t.Data == "link" && a.Key == "href":
					r.URL = strings.TrimSpace(a.Val)
				case a.Key == "rel":
					r.Rel = strings.ToLower(a.Val)
				case a.Key == "integrity":
					r.Integrity = strings.TrimSpace(a.Val)
				}
			}
			if t.Data == "link" && r.URL == "" {
				continue
			}
			out = append(out, r)
		}
	}
}

// Logged is the set of releases a verifier trusts: manifests whose
// signature by a pinned release key it checked and whose entry it proved
// in a verified log checkpoint. The zero Logged trusts nothing.
type Logged struct {
	releases []Manifest
	byPath   map[string][]loggedFile
}

type loggedFile struct {
	sum     [32]byte
	release int // index in releases
}

// NewLogged returns the set of the given releases.
func NewLogged(ms []Manifest) *Logged {
	l := &Logged{releases: append([]Manifest(nil), ms...), byPath: map[string][]loggedFile{}}
	for i, m := range l.releases {
		for _, a := range m.Assets {
			l.byPath[a.Path] = append(l.byPath[a.Path], loggedFile{sum: a.SHA256, release: i})
		}
	}
	return l
}

// Finding is the verdict on one served file.
type Finding struct {
	Path     string    // the file's path in a release (IndexPath for any app route)
	Served   [32]byte  // SHA-256 of the bytes served
	Releases []string  // the releases listing Path with this hash (empty: not logged)
	Logged   []string  // the hashes logged releases list for Path (SRI form), when it is not logged
	Manifest *Manifest // the newest release listing Path with this hash
}

// OK reports whether a logged release lists the path with the served hash.
func (f Finding) OK() bool { return len(f.Releases) > 0 }

// String says what was found, naming the path, the hash served and the
// logged ones.
func (f Finding) String() string {
	if f.OK() {
		return fmt.Sprintf("%s %s is in the logged release %s", f.Path, SRI(f.Served), strings.Join(f.Releases, ", "))
	}
	if len(f.Logged) == 0 {
		return fmt.Sprintf("%s %s is in no logged release (no logged release has this path)", f.Path, SRI(f.Served))
	}
	return fmt.Sprintf("%s %s is in no logged release (logged: %s)", f.Path, SRI(f.Served), strings.Join(f.Logged, ", "))
}

// Check returns the verdict on body, served at the release path p (see
// ServedAs).
func (l *Logged) Check(p string, body []byte) Finding {
	sum := sha256.Sum256(body)
	f := Finding{Path: p, Served: sum}
	if l == nil {
		return f
	}
	seen := map[[32]byte]bool{}
	for _, lf := range l.byPath[p] {
		if lf.sum == sum {
			m := l.releases[lf.release]
			f.Releases = append(f.Releases, m.String())
			if f.Manifest == nil || m.Created.After(f.Manifest.Created) {
				f.Manifest = &m
			}
			continue
		}
		if !seen[lf.sum] {
			seen[lf.sum] = true
			f.Logged = append(f.Logged, SRI(lf.sum))
		}
	}
	if f.OK() {
		f.Logged = nil
	}
	return f
}
