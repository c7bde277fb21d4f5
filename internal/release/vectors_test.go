package release

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"vigil/internal/history"
)

var update = flag.Bool("update", false, "rewrite testdata/releases.json")

// Vectors shared with the browser extension (web/extension/release.ts):
// signed releases that open, and ones refused with the reason.
type vectors struct {
	Trusted []string      `json:"trusted"`
	Valid   []validVector `json:"valid"`
	Invalid []badVector   `json:"invalid"`
}

type validVector struct {
	Entry   string     `json:"entry"` // base64 of the log entry
	Name    string     `json:"name"`
	Version string     `json:"version"`
	Created string     `json:"created"`
	Assets  [][]string `json:"assets"` // [path, "sha256-…"]
}

type badVector struct {
	Why   string `json:"why"`
	Entry string `json:"entry"`
	Error string `json:"error"` // "malformed", "signature" or "untrusted"
}

func signRaw(key ed25519.PrivateKey, manifest []byte) []byte {
	return history.Release{Key: key.Public().(ed25519.PublicKey), Sig: ed25519.Sign(key, message(manifest)), Manifest: manifest}.Encode()
}

func makeVectors(t *testing.T) vectors {
	key, other := testKey(7), testKey(8)
	v := vectors{Trusted: []string{FormatPublicKey(key.Public().(ed25519.PublicKey))}}
	b64 := base64.StdEncoding.EncodeToString
	m, err := BuildManifest(testDist(), DefaultName, "2026.03.1+g1a2b:3~rc", created)
	if err != nil {
		t.Fatal(err)
	}
	for _, mb := range [][]byte{m, []byte(manifestCases()[0].json), []byte(manifestCases()[1].json)} {
		e, err := Sign(key, mb)
		if err != nil {
			t.Fatal(err)
		}
		pm, _ := ParseManifest(mb)
		vv := validVector{Entry: b64(e), Name: pm.Name, Version: pm.Version, Created: pm.Created.Format("2006-01-02T15:04:05Z")}
		for _, a := range pm.Assets {
			vv.Assets = append(vv.Assets, []string{a.Path, a.SRI()})
		}
		v.Valid = append(v.Valid, vv)
	}
	good, _ := Sign(key, m)
	flip := func(i int) []byte { b := bytes.Clone(good); b[i] ^= 1; return b }
	otherSigned, _ := Sign(other, m)
	v.Invalid = append(v.Invalid,
		badVector{"signed by a key that is not trusted", b64(otherSigned), "untrusted"},
		badVector{"a bit of the signature flipped", b64(flip(2 + 32 + 7)), "signature"},
		badVector{"a bit of the manifest flipped", b64(flip(len(good) - 5)), "signature"},
		badVector{"entry version 2", b64(append([]byte{2}, good[1:]...)), "malformed"},
		badVector{"entry type 2 (a household record)", b64(append([]byte{1, 2}, good[2:]...)), "malformed"},
		badVector{"no manifest", b64(good[:98]), "malformed"},
		badVector{"shorter than a key and signature", b64(good[:40]), "malformed"},
	)
	for _, c := range manifestCases() {
		if !c.ok {
			v.Invalid = append(v.Invalid, badVector{"manifest: " + c.name, b64(signRaw(key, []byte(c.json))), "malformed"})
		}
	}
	return v
}

func checkVector(t *testing.T, trusted []ed25519.PublicKey, b64 string) (Manifest, error) {
	t.Helper()
	e, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		t.Fatal(err)
	}
	return Open(e, trusted)
}

// TestVectors checks testdata/releases.json, which the extension's tests
// also read (go test -run TestVectors -update rewrites it).
func TestVectors(t *testing.T) {
	path := filepath.Join("testdata", "releases.json")
	want := makeVectors(t)
	if *update {
		b, err := json.MarshalIndent(want, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var v vectors
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	var trusted []ed25519.PublicKey
	for _, s := range v.Trusted {
		k, err := ParsePublicKey(s)
		if err != nil {
			t.Fatal(err)
		}
		trusted = append(trusted, k)
	}
	if len(v.Valid) == 0 || len(v.Invalid) < 20 {
		t.Fatalf("%d valid, %d invalid vectors", len(v.Valid), len(v.Invalid))
	}
	for _, vv := range v.Valid {
		m, err := checkVector(t, trusted, vv.Entry)
		if err != nil {
			t.Fatalf("valid vector %s: %v", vv.Version, err)
		}
		if m.Name != vv.Name || m.Version != vv.Version || m.Created.Format("2006-01-02T15:04:05Z") != vv.Created || len(m.Assets) != len(vv.Assets) {
			t.Fatalf("valid vector %s: opened %+v", vv.Version, m)
		}
		for i, a := range m.Assets {
			if a.Path != vv.Assets[i][0] || a.SRI() != vv.Assets[i][1] {
				t.Fatalf("valid vector %s: asset %d is %s %s", vv.Version, i, a.Path, a.SRI())
			}
		}
	}
	sentinel := map[string]error{"malformed": ErrMalformed, "signature": ErrBadSignature, "untrusted": ErrUntrustedKey}
	for _, bv := range v.Invalid {
		_, err := checkVector(t, trusted, bv.Entry)
		if !errors.Is(err, sentinel[bv.Error]) {
			t.Errorf("%s: %v, want %s", bv.Why, err, bv.Error)
		}
	}
}
