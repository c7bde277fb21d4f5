package consent_test

import (
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"strings"
	"testing"
	"time"

	"vigil/internal/consent"
	"vigil/internal/keydir"
)

type fixture struct {
	st           *keydir.State
	admin, other *keydir.DeviceKeys // other is a member device
	outsider     *keydir.DeviceKeys
	now          time.Time
	object       [32]byte
	ws           string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{now: time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC), object: sha256.Sum256([]byte("sealed clip"))}
	var err error
	if f.admin, err = keydir.NewDeviceKeys(); err != nil {
		t.Fatal(err)
	}
	f.other, _ = keydir.NewDeviceKeys()
	f.outsider, _ = keydir.NewDeviceKeys()
	_, _, f.st, err = keydir.NewHousehold("Home", f.admin, "laptop", f.now)
	if err != nil {
		t.Fatal(err)
	}
	link, err := f.st.AddDevice(f.admin, f.other.Public(keydir.RoleMember, "phone"), f.now)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.st.Apply(link); err != nil {
		t.Fatal(err)
	}
	_, _, ws, err := keydir.NewHousehold("Labelling", f.outsider, "lead", f.now)
	if err != nil {
		t.Fatal(err)
	}
	f.ws = ws.HouseholdID
	return f
}

func (f *fixture) consent(k *keydir.DeviceKeys) consent.Consent {
	return consent.Consent{V: 1, ID: consent.NewID(), Household: f.st.HouseholdID, Device: k.ID(), Workspace: f.ws,
		Purpose: consent.PurposePersonDetection, Camera: consent.CameraDigest("front"),
		From: f.now.Add(-time.Hour), To: f.now.Add(-time.Hour + 20*time.Second), Event: "ev-1", Object: f.object,
		Created: f.now, Expires: f.now.Add(consent.DefaultLife)}
}

func sign(t *testing.T, k *keydir.DeviceKeys, c consent.Consent) consent.Signed {
	t.Helper()
	s, err := consent.Sign(k, c)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestVerify(t *testing.T) {
	f := newFixture(t)
	c := f.consent(f.other)
	s := sign(t, f.other, c)
	got, err := consent.Verify(s, f.st, f.now, f.object)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != c.ID || got.Object != f.object || !got.Expires.Equal(c.Expires) {
		t.Errorf("verified consent %+v, want %+v", got, c)
	}
	// The text form round-trips.
	back, err := consent.ParseSigned(s.String())
	if err != nil || string(back.Body) != string(s.Body) {
		t.Fatalf("ParseSigned(String()): %v", err)
	}

	tampered := s
	tampered.Body = []byte(strings.Replace(string(s.Body), `"audio":false`, `"audio":true `, 1))
	flipped := consent.Signed{Body: s.Body, Sig: append([]byte(nil), s.Sig...)}
	flipped.Sig[0] ^= 1
	outsider := f.consent(f.outsider)
	removedSt := f.st.Clone()
	link, err := removedSt.RemoveDevice(f.admin, f.other.ID(), f.now)
	if err != nil {
		t.Fatal(err)
	}
	if err := removedSt.Apply(link); err != nil {
		t.Fatal(err)
	}
	long := f.consent(f.other)
	long.Expires = long.Created.Add(consent.MaxLife + time.Millisecond)
	if _, err := consent.Sign(f.other, long); !errors.Is(err, consent.ErrMalformed) {
		t.Errorf("consent longer than MaxLife: %v, want ErrMalformed", err)
	}
	for _, tc := range []struct {
		name   string
		s      consent.Signed
		st     *keydir.State
		now    time.Time
		object [32]byte
		want   error
	}{
		{"altered body", tampered, f.st, f.now, f.object, consent.ErrMalformed},
		{"bad signature", flipped, f.st, f.now, f.object, consent.ErrSignature},
		{"device outside the household", sign(t, f.outsider, outsider), f.st, f.now, f.object, consent.ErrSigner},
		{"device removed from the chain", s, removedSt, f.now, f.object, consent.ErrSigner},
		{"expired", s, f.st, c.Expires, f.object, consent.ErrExpired},
		{"created in the future", s, f.st, f.now.Add(-time.Hour), f.object, consent.ErrTime},
		{"digest mismatch", s, f.st, f.now, sha256.Sum256([]byte("other bytes")), consent.ErrDigest},
	} {
		if _, err := consent.Verify(tc.s, tc.st, tc.now, tc.object); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	// Another household's chain.
	_, _, otherSt, _ := keydir.NewHousehold("Other", f.other, "phone", f.now)
	if _, err := consent.Verify(s, otherSt, f.now, f.object); !errors.Is(err, consent.ErrHousehold) {
		t.Errorf("another household: %v, want ErrHousehold", err)
	}
}

func TestVerifyRevocation(t *testing.T) {
	f := newFixture(t)
	c := f.consent(f.other)
	stranger, _ := keydir.NewDeviceKeys()
	link, _ := f.st.AddDevice(f.admin, stranger.Public(keydir.RoleMember, "tablet"), f.now)
	if err := f.st.Apply(link); err != nil {
		t.Fatal(err)
	}
	rev := func(k *keydir.DeviceKeys, at time.Time) consent.Signed {
		s, err := consent.SignRevocation(k, consent.Revocation{V: 1, Consent: c.ID, Household: c.Household, Device: k.ID(), Time: at})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	for _, k := range []*keydir.DeviceKeys{f.other, f.admin} {
		if _, err := consent.VerifyRevocation(rev(k, f.now), c, f.st, f.now); err != nil {
			t.Errorf("revocation by %s: %v", k.ID(), err)
		}
	}
	for _, tc := range []struct {
		name string
		s    consent.Signed
		want error
	}{
		{"another member device", rev(stranger, f.now), consent.ErrSigner},
		{"a device outside the household", rev(f.outsider, f.now), consent.ErrSigner},
		{"an old revocation", rev(f.other, f.now.Add(-time.Hour)), consent.ErrTime},
	} {
		if _, err := consent.VerifyRevocation(tc.s, c, f.st, f.now); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	other := c
	other.ID = consent.NewID()
	if _, err := consent.VerifyRevocation(rev(f.other, f.now), other, f.st, f.now); !errors.Is(err, consent.ErrHousehold) {
		t.Errorf("revocation of another consent: %v, want ErrHousehold", err)
	}
}

// malformedBodies are bodies Parse must refuse with ErrMalformed; they
// are also the fuzzers' seeds.
func malformedBodies(t *testing.T, good []byte) map[string]string {
	g := string(good)
	return map[string]string{
		"empty":         "",
		"not JSON":      "consent",
		"spaces":        strings.Replace(g, `,"id"`, `, "id"`, 1),
		"reordered":     strings.Replace(strings.Replace(g, `"v":1,`, ``, 1), `}`, `,"v":1}`, 1),
		"unknown field": strings.Replace(g, `}`, `,"x":1}`, 1),
		"trailing":      g + "{}",
		"bad purpose":   strings.Replace(g, consent.PurposePersonDetection, "sell-to-advertisers", 1),
		"bad time":      strings.Replace(g, `.000Z"`, `Z"`, 1),
		"version 2":     strings.Replace(g, `"v":1`, `"v":2`, 1),
		"bad camera":    strings.Replace(g, consent.CameraDigest("front"), "front", 1),
		"not UTF-8":     strings.Replace(g, "ev-1", "ev-\xff", 1),
		"huge":          strings.Repeat(" ", consent.MaxSize+1),
	}
}

func TestParseMalformed(t *testing.T) {
	f := newFixture(t)
	good, err := f.consent(f.other).Encode()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := consent.Parse(good); err != nil {
		t.Fatalf("good body: %v", err)
	}
	for name, b := range malformedBodies(t, good) {
		if _, err := consent.Parse([]byte(b)); !errors.Is(err, consent.ErrMalformed) {
			t.Errorf("%s: %v, want ErrMalformed", name, err)
		}
	}
	for _, text := range []string{"", "abc", "a.b", strings.Repeat("A", 20000)} {
		if _, err := consent.ParseSigned(text); !errors.Is(err, consent.ErrMalformed) {
			t.Errorf("ParseSigned(%.20q): %v, want ErrMalformed", text, err)
		}
	}
}

// FuzzParse: whatever the bytes, Parse and ParseRevocation either refuse
// them with ErrMalformed or return a record that encodes to exactly them.
func FuzzParse(f *testing.F) {
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	c := consent.Consent{V: 1, ID: strings.Repeat("a", 26), Household: "h" + strings.Repeat("b", 26), Device: "d" + strings.Repeat("c", 26),
		Workspace: "h" + strings.Repeat("d", 26), Purpose: consent.PurposePersonDetection, Camera: consent.CameraDigest("front"),
		From: now, To: now.Add(time.Minute), Created: now, Expires: now.Add(consent.DefaultLife)}
	good, err := c.Encode()
	if err != nil {
		f.Fatal(err)
	}
	r, _ := consent.Revocation{V: 1, Consent: c.ID, Household: c.Household, Device: c.Device, Time: now}.Encode()
	f.Add(good)
	f.Add(r)
	for _, b := range malformedBodies(nil, good) {
		f.Add([]byte(b))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if c, err := consent.Parse(b); err == nil {
			if e, err := c.Encode(); err != nil || string(e) != string(b) {
				t.Fatalf("Parse accepted %q, which encodes to %q (%v)", b, e, err)
			}
		} else if !errors.Is(err, consent.ErrMalformed) {
			t.Fatalf("Parse: %v, not ErrMalformed", err)
		}
		if r, err := consent.ParseRevocation(b); err == nil {
			if e, err := r.Encode(); err != nil || string(e) != string(b) {
				t.Fatalf("ParseRevocation accepted %q, which encodes to %q (%v)", b, e, err)
			}
		} else if !errors.Is(err, consent.ErrMalformed) {
			t.Fatalf("ParseRevocation: %v, not ErrMalformed", err)
		}
		if s, err := consent.ParseSigned(string(b)); err == nil {
			if s.String() != string(b) {
				t.Fatalf("ParseSigned accepted %q, which is written %q", b, s.String())
			}
		} else if !errors.Is(err, consent.ErrMalformed) {
			t.Fatalf("ParseSigned: %v, not ErrMalformed", err)
		}
	})
}

// TestVerifyWithKey: a workspace's device checks a consent with the donor
// device's key alone.
func TestVerifyWithKey(t *testing.T) {
	f := newFixture(t)
	c := f.consent(f.other)
	s := sign(t, f.other, c)
	pub := f.other.Sign.Public().(ed25519.PublicKey)
	if _, err := consent.VerifyWithKey(s, pub, f.now, f.object); err != nil {
		t.Fatal(err)
	}
	flipped := consent.Signed{Body: s.Body, Sig: append([]byte(nil), s.Sig...)}
	flipped.Sig[9] ^= 1
	for _, tc := range []struct {
		name   string
		s      consent.Signed
		pub    ed25519.PublicKey
		now    time.Time
		object [32]byte
		want   error
	}{
		{"another device's key", s, f.admin.Sign.Public().(ed25519.PublicKey), f.now, f.object, consent.ErrSigner},
		{"bad signature", flipped, pub, f.now, f.object, consent.ErrSignature},
		{"expired", s, pub, c.Expires, f.object, consent.ErrExpired},
		{"other bytes", s, pub, f.now, sha256.Sum256([]byte("x")), consent.ErrDigest},
	} {
		if _, err := consent.VerifyWithKey(tc.s, tc.pub, tc.now, tc.object); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
}
