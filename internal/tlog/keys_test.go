package tlog

import "testing"

func TestVerifierKey(t *testing.T) {
	skey, vkey, err := GenerateKey("vigil.example/tlog")
	if err != nil {
		t.Fatal(err)
	}
	got, err := VerifierKey(skey)
	if err != nil || got != vkey {
		t.Fatalf("VerifierKey = %q, %v; want %q", got, err, vkey)
	}
	for _, bad := range []string{"", vkey, "PRIVATE+KEY+x+00000000+AA==", skey[:len(skey)-4] + "AAAA"} {
		if _, err := VerifierKey(bad); err == nil {
			t.Errorf("VerifierKey(%q) succeeded", bad)
		}
	}
}
