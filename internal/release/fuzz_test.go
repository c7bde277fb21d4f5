package release

import (
	"bytes"
	"crypto/ed25519"
	"testing"
)

// FuzzOpen: any bytes as a signed release (log entry or release.vrel): never
// a panic; what opens re-encodes to its own manifest and passes the rules.
func FuzzOpen(f *testing.F) {
	key := testKey(9)
	for _, c := range manifestCases() {
		f.Add(signRaw(key, []byte(c.json)))
	}
	m, _ := BuildManifest(testDist(), DefaultName, "1", created)
	good, _ := Sign(key, m)
	f.Add(good)
	f.Add(good[:98])
	f.Add([]byte{1, 3})
	f.Fuzz(func(t *testing.T, entry []byte) {
		s, err := Parse(entry)
		if err != nil {
			return
		}
		b, err := s.Manifest.Encode()
		if err != nil || !bytes.Equal(b, entry[98:]) {
			t.Fatalf("an opened manifest re-encodes to %q, %v", b, err)
		}
		if _, err := Open(entry, []ed25519.PublicKey{s.Key}); err != nil {
			t.Fatalf("Parse accepted, Open with its key refused: %v", err)
		}
		if _, ok := s.Manifest.Lookup(IndexPath); !ok {
			t.Fatal("an opened manifest without index.html")
		}
	})
}

// FuzzParseManifest: a manifest that parses is canonical and valid.
func FuzzParseManifest(f *testing.F) {
	for _, c := range manifestCases() {
		f.Add([]byte(c.json))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseManifest(b)
		if err != nil {
			return
		}
		e, err := m.Encode()
		if err != nil || !bytes.Equal(e, b) {
			t.Fatalf("parsed manifest re-encodes to %q, %v", e, err)
		}
		for i, a := range m.Assets {
			if ValidPath(a.Path) != nil || i > 0 && m.Assets[i-1].Path >= a.Path {
				t.Fatalf("asset %q accepted", a.Path)
			}
		}
	})
}

// FuzzReferences: any page: no panic, every reference a script or a link.
func FuzzReferences(f *testing.F) {
	for _, p := range referenceCases() {
		f.Add([]byte(p))
	}
	f.Add(testDist()["index.html"].Data)
	f.Fuzz(func(t *testing.T, page []byte) {
		refs, err := References(page)
		if err != nil {
			return
		}
		for _, r := range refs {
			if r.Tag != "script" && r.Tag != "link" || r.Tag == "link" && r.URL == "" {
				t.Fatalf("reference %+v", r)
			}
		}
	})
}
