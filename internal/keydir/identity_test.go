package keydir

import (
	"bytes"
	"strings"
	"testing"
)

func TestDeviceIdentityRoundTrip(t *testing.T) {
	k, err := NewDeviceKeys()
	if err != nil {
		t.Fatal(err)
	}
	s := EncodeDevice(k)
	if !strings.HasPrefix(s, "vigdev1:") {
		t.Fatalf("identity %q lacks its prefix", s)
	}
	want := k.Public(RoleMember, "phone")
	got, err := ParseDevice(" "+s+"\n", RoleMember, "phone")
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != want.ID || got.Role != RoleMember || got.Name != "phone" ||
		!bytes.Equal(got.SignPub, want.SignPub) || !bytes.Equal(got.BoxPub, want.BoxPub) {
		t.Fatalf("parsed %+v, want %+v", got, want)
	}
}

func FuzzParseDevice(f *testing.F) {
	k, err := NewDeviceKeys()
	if err != nil {
		f.Fatal(err)
	}
	good := EncodeDevice(k)
	for _, s := range []string{good, good[:len(good)-1], "vigdev1:", "vigdev1:!!!!", "VIGIL-SIGNER-1-AAAA", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDevice(s, RoleMember, "x")
		if err != nil {
			if !strings.Contains(err.Error(), "device identity") {
				t.Fatalf("error %q does not say what was wrong", err)
			}
			return
		}
		if len(d.SignPub) != 32 || len(d.BoxPub) != 32 || d.ID != DeviceID(d.SignPub) {
			t.Fatalf("accepted %q as a malformed device %+v", s, d)
		}
	})
}
