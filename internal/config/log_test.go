package config

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"strings"
	"testing"

	"vigil/internal/tlog"
)

// witnessKey returns a C2SP tlog-cosignature verifier key named name.
func witnessKey(t *testing.T, name string) string {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tk := append([]byte{0x04}, pub...)
	h := sha256.Sum256(append([]byte(name+"\n"), tk...))
	return fmt.Sprintf("%s+%08x+%s", name, binary.BigEndian.Uint32(h[:4]), base64.StdEncoding.EncodeToString(tk))
}

// TestLogSection: the log section is typed and checked key by key; a
// policy the hub could not verify with is refused before the hub starts.
func TestLogSection(t *testing.T) {
	_, vkey, err := tlog.GenerateKey("cloud.example/tlog")
	if err != nil {
		t.Fatal(err)
	}
	w1, w2 := witnessKey(t, "witness.one"), witnessKey(t, "witness.two")
	base := "data: d\ncameras: [{name: a, url: 'rtsp://h/'}]\ncloud:\n  url: https://cloud.example\n"

	h, err := Parse([]byte(base+"log:\n  key: "+vkey+"\n  witnesses: ["+w1+", "+w2+"]\n  quorum: 2\n"), "")
	if err != nil {
		t.Fatal(err)
	}
	if h.Log == nil || h.Log.Key != vkey || len(h.Log.Witnesses) != 2 || h.Log.Quorum != 2 {
		t.Fatalf("log section: %+v", h.Log)
	}
	if _, err := tlog.NewPolicy(h.Log.Key, h.Log.Witnesses, h.Log.Quorum); err != nil {
		t.Fatalf("a valid section makes no policy: %v", err)
	}

	for _, tc := range []struct {
		name, yaml string
		want       []string
	}{
		{"no key", base + "log:\n  quorum: 0\n", []string{"config.yaml:5: log.key: required"}},
		{"not a key", base + "log:\n  key: cloud.example/tlog+1234\n", []string{"config.yaml:6: log.key: not a log verifier key"}},
		{"quorum above the witnesses", base + "log:\n  key: " + vkey + "\n  witnesses: [" + w1 + "]\n  quorum: 2\n",
			[]string{"config.yaml:8: log.quorum: 2 is out of range: use 0 to 1"}},
		{"negative quorum", base + "log:\n  key: " + vkey + "\n  quorum: -1\n", []string{"config.yaml:7: log.quorum: -1 is out of range"}},
		{"bad witness", base + "log:\n  key: " + vkey + "\n  witnesses: [" + w1 + ", " + vkey + "]\n",
			[]string{"config.yaml:7: log.witnesses[1]: not a witness cosignature key"}},
		{"witness twice", base + "log:\n  key: " + vkey + "\n  witnesses: [" + w1 + ", " + w1 + "]\n",
			[]string{"config.yaml:7: log.witnesses: ", "listed twice"}},
		{"without a cloud", "data: d\ncameras: [{name: a, url: 'rtsp://h/'}]\nrecipients: [r]\nlog:\n  key: " + vkey + "\n",
			[]string{"config.yaml:4: log: a transparency log is only used by a hub paired through a cloud"}},
		{"unknown key", base + "log:\n  key: " + vkey + "\n  witness: [" + w1 + "]\n", []string{`log: unknown key "witness" (hint: did you mean "witnesses"?)`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parse([]byte(tc.yaml), "", "config.yaml")
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\ndoes not contain %q", err, w)
				}
			}
		})
	}

	// A bad key is one error, on the key's line, also with witnesses listed.
	_, err = parse([]byte(base+"log:\n  key: cloud.example/tlog+1234\n  witnesses: ["+w1+"]\n"), "", "config.yaml")
	if err == nil || !strings.Contains(err.Error(), "config.yaml:6: log.key: not a log verifier key") || strings.Contains(err.Error(), "log.witnesses") {
		t.Errorf("a bad key with witnesses listed: %v", err)
	}
}
