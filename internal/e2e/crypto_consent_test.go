package e2e

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"vigil/internal/browsertest"
	"vigil/internal/consent"
	"vigil/internal/keydir"
)

// TestBrowserConsent: the browser's consent records (web/src/crypto/consent.ts)
// are Go's internal/consent byte for byte: for Go's vectors the browser
// writes the same consent and revocation bodies and, with the same device
// seed, the same signatures; what it signs with a fresh non-extractable
// device key Go verifies (consent.VerifyWithKey, and the revocation against
// a chain naming that device); it reads Go's signed consent back with its
// fields and signature, refuses the same text made non-canonical, and
// refuses to write what Go's Encode refuses.
func TestBrowserConsent(t *testing.T) {
	seed := make([]byte, ed25519.SeedSize)
	for i := range seed {
		seed[i] = byte(i*7 + 1)
	}
	k := &keydir.DeviceKeys{Sign: ed25519.NewKeyFromSeed(seed)}
	admin, err := keydir.NewDeviceKeys()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Millisecond)
	_, _, st, err := keydir.NewHousehold("Home", admin, "laptop", now)
	if err != nil {
		t.Fatal(err)
	}
	_, _, ws, err := keydir.NewHousehold("Person detection", admin, "lead", now)
	if err != nil {
		t.Fatal(err)
	}
	obj := sha256.Sum256([]byte("a sealed donation"))
	from := time.Date(2026, 12, 4, 11, 0, 0, 0, time.UTC)
	vectors := []consent.Consent{
		{V: 1, ID: "abcdefghijklmnopqrstuvwxyz", Household: st.HouseholdID, Device: k.ID(), Workspace: ws.HouseholdID,
			Purpose: consent.PurposePersonDetection, Camera: consent.CameraDigest("front"), From: from, To: from.Add(20 * time.Second),
			Event: "ev-1.x_2", Object: obj, Audio: false, Created: now, Expires: now.Add(consent.DefaultLife)},
		{V: 1, ID: consent.NewID(), Household: st.HouseholdID, Device: k.ID(), Workspace: ws.HouseholdID,
			Purpose: consent.PurposeObjectDetection, Camera: consent.CameraDigest("back yard"), From: from.Add(123 * time.Millisecond), To: from.Add(time.Hour),
			Event: "", Object: obj, Audio: true, Created: now, Expires: now.Add(consent.MaxLife)},
	}
	type wire struct {
		V         int    `json:"v"`
		ID        string `json:"id"`
		Household string `json:"household"`
		Device    string `json:"device"`
		Workspace string `json:"workspace"`
		Purpose   string `json:"purpose"`
		Camera    string `json:"camera"`
		From      string `json:"from"`
		To        string `json:"to"`
		Event     string `json:"event"`
		Object    string `json:"object"`
		Audio     bool   `json:"audio"`
		Created   string `json:"created"`
		Expires   string `json:"expires"`
	}
	ts := func(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }
	toWire := func(c consent.Consent) wire {
		return wire{c.V, c.ID, c.Household, c.Device, c.Workspace, c.Purpose, c.Camera, ts(c.From), ts(c.To), c.Event, hex.EncodeToString(c.Object[:]), c.Audio, ts(c.Created), ts(c.Expires)}
	}
	type vec struct {
		Seed       string         `json:"seed"`
		Consent    wire           `json:"consent"`
		Revocation map[string]any `json:"revocation"`
	}
	var in []vec
	var wantBodies, wantSigned, wantRevBodies, wantRevs []string
	for _, c := range vectors {
		r := consent.Revocation{V: 1, Consent: c.ID, Household: c.Household, Device: c.Device, Time: now}
		in = append(in, vec{Seed: hex.EncodeToString(seed), Consent: toWire(c),
			Revocation: map[string]any{"v": 1, "consent": r.Consent, "household": r.Household, "device": r.Device, "time": ts(r.Time)}})
		b, err := c.Encode()
		if err != nil {
			t.Fatal(err)
		}
		s, err := consent.Sign(k, c)
		if err != nil {
			t.Fatal(err)
		}
		rb, _ := r.Encode()
		rs, err := consent.SignRevocation(k, r)
		if err != nil {
			t.Fatal(err)
		}
		wantBodies, wantSigned = append(wantBodies, hex.EncodeToString(b)), append(wantSigned, s.String())
		wantRevBodies, wantRevs = append(wantRevBodies, hex.EncodeToString(rb)), append(wantRevs, rs.String())
	}
	goSigned, _ := consent.Sign(k, vectors[0])
	// What Go's Encode refuses, the browser must refuse to write.
	bad := map[string]map[string]any{
		"purpose":      {"purpose": "improve-face-recognition"},
		"fromAfterTo":  {"from": ts(from.Add(time.Minute))},
		"tooLong":      {"expires": ts(now.Add(consent.MaxLife + time.Millisecond))},
		"upperCamera":  {"camera": strings.ToUpper(consent.CameraDigest("front"))},
		"eventSpace":   {"event": "ev 1"},
		"id":           {"id": "ABCDEFGHIJKLMNOPQRSTUVWXYZ"},
		"workspace":    {"workspace": "d" + ws.HouseholdID[1:]},
		"microseconds": {"created": "2026-12-04T12:00:00.0001Z"},
		"version":      {"v": 2},
	}
	for name, change := range bad {
		c := vectors[0]
		switch name {
		case "purpose":
			c.Purpose = change["purpose"].(string)
		case "fromAfterTo":
			c.From = from.Add(time.Minute)
		case "tooLong":
			c.Expires = now.Add(consent.MaxLife + time.Millisecond)
		case "upperCamera":
			c.Camera = change["camera"].(string)
		case "eventSpace":
			c.Event = "ev 1"
		case "id":
			c.ID = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
		case "workspace":
			c.Workspace = change["workspace"].(string)
		case "microseconds":
			c.Created = now.Add(time.Microsecond)
		case "version":
			c.V = 2
		}
		if _, err := c.Encode(); err == nil {
			t.Fatalf("Go encodes the bad consent %q", name)
		}
	}

	var res struct {
		Vectors []struct {
			ID             string `json:"id"`
			Body           string `json:"body"`
			Signed         string `json:"signed"`
			RevocationBody string `json:"revocationBody"`
			Revocation     string `json:"revocation"`
			Camera         string `json:"camera"`
		} `json:"vectors"`
		Device struct {
			ID          string `json:"id"`
			SignPub     string `json:"signPub"`
			ConsentID   string `json:"consentId"`
			Signed      string `json:"signed"`
			Revocation  string `json:"revocation"`
			OtherDevice string `json:"otherDevice"`
		} `json:"device"`
		GoParsed struct {
			Consent         wire `json:"consent"`
			Verifies        bool `json:"verifies"`
			FlippedVerifies bool `json:"flippedVerifies"`
		} `json:"goParsed"`
		Refused map[string]string `json:"refused"`
	}
	browsertest.Run(t, 2*time.Minute, "crypto-consent.mjs", map[string]string{"INPUT": writeInput(t, map[string]any{
		"vectors": in, "goSigned": goSigned.String(), "goPub": hex.EncodeToString(k.Sign.Public().(ed25519.PublicKey)), "bad": bad,
	})}, &res)

	if len(res.Vectors) != len(vectors) {
		t.Fatalf("the browser answered %d vectors of %d", len(res.Vectors), len(vectors))
	}
	for i, v := range res.Vectors {
		if v.ID != k.ID() {
			t.Errorf("vector %d: the browser's device ID of the seed is %s, Go's %s", i, v.ID, k.ID())
		}
		if v.Body != wantBodies[i] || v.Signed != wantSigned[i] {
			t.Errorf("vector %d: the browser's consent\n%s\n%s\nGo's\n%s\n%s", i, v.Body, v.Signed, wantBodies[i], wantSigned[i])
		}
		if v.RevocationBody != wantRevBodies[i] || v.Revocation != wantRevs[i] {
			t.Errorf("vector %d: the browser's revocation %s, Go's %s", i, v.Revocation, wantRevs[i])
		}
		if v.Camera != consent.CameraDigest("front") {
			t.Errorf("camera digest: browser %s, Go %s", v.Camera, consent.CameraDigest("front"))
		}
	}

	// The fresh device's consent and revocation verify in Go.
	pub, _ := hex.DecodeString(res.Device.SignPub)
	if keydir.DeviceID(pub) != res.Device.ID {
		t.Fatalf("the browser's device ID %s is not its key's %s", res.Device.ID, keydir.DeviceID(pub))
	}
	s, err := consent.ParseSigned(res.Device.Signed)
	if err != nil {
		t.Fatal(err)
	}
	c, err := consent.VerifyWithKey(s, pub, time.Now(), obj)
	if err != nil || c.ID != res.Device.ConsentID || c.Device != res.Device.ID {
		t.Fatalf("Go verifies the browser's consent: %+v %v", c, err)
	}
	if _, err := consent.VerifyWithKey(s, k.Sign.Public().(ed25519.PublicKey), time.Now(), obj); err == nil {
		t.Fatal("the browser's consent verifies with another device's key")
	}
	// The revocation, against a household chain that names the browser's device.
	box, _ := keydir.NewDeviceKeys()
	link, err := st.AddDevice(admin, keydir.DeviceKey{ID: res.Device.ID, Role: keydir.RoleMember, Name: "browser", SignPub: pub, BoxPub: box.Box.Recipient().Bytes()}, now)
	if err == nil {
		err = st.Apply(link)
	}
	if err != nil {
		t.Fatal(err)
	}
	rs, err := consent.ParseSigned(res.Device.Revocation)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := consent.VerifyRevocation(rs, c, st, now.Add(time.Minute)); err != nil {
		t.Fatalf("Go verifies the browser's revocation: %v", err)
	}
	if !strings.Contains(res.Device.OtherDevice, "not this device") {
		t.Errorf("the browser signs a consent naming another device: %q", res.Device.OtherDevice)
	}
	// Go's consent, read in the browser.
	if res.GoParsed.Consent != toWire(vectors[0]) || !res.GoParsed.Verifies || res.GoParsed.FlippedVerifies {
		t.Errorf("the browser reads Go's consent as %+v (verifies %v, flipped verifies %v)", res.GoParsed.Consent, res.GoParsed.Verifies, res.GoParsed.FlippedVerifies)
	}
	for name := range bad {
		if !strings.Contains(res.Refused[name], "malformed") {
			t.Errorf("the browser writes the bad consent %q: %q", name, res.Refused[name])
		}
	}
	if !strings.Contains(res.Refused["spaced"], "canonical") {
		t.Errorf("the browser reads a non-canonical consent: %q", res.Refused["spaced"])
	}
}
