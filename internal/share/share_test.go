package share

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"vigil/internal/envelope"
)

// The link key schedule is pinned: a browser and Go derive the same keys
// from the same link (docs/FORMAT.md). Changing it breaks every link.
func TestDeriveLinkKeysVector(t *testing.T) {
	secret := make([]byte, 32)
	for i := range secret {
		secret[i] = byte(i + 1)
	}
	k, err := DeriveLinkKeys(secret, "aaaaaaaaaaaaaaaaaaaaaaaaaa")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{
		"recipient": hex.EncodeToString(k.Identity.Recipient().Bytes()),
		"token":     hex.EncodeToString(k.Token),
		"mac":       hex.EncodeToString(k.MACKey),
	}
	// Independent values: no two outputs equal, none equal to the secret.
	if got["token"] == got["mac"] || bytes.Equal(k.Token, secret) || bytes.Equal(k.Identity.Bytes(), k.Token) {
		t.Error("link outputs are not independent")
	}
	want := map[string]string{
		"recipient": vectorRecipient,
		"token":     vectorToken,
		"mac":       vectorMAC,
	}
	for name := range want {
		if got[name] != want[name] {
			t.Errorf("%s = %s, want %s", name, got[name], want[name])
		}
	}
	// Another ID, another key.
	k2, _ := DeriveLinkKeys(secret, "bbbbbbbbbbbbbbbbbbbbbbbbbb")
	if bytes.Equal(k2.Token, k.Token) {
		t.Error("the share ID does not separate links")
	}
	if _, err := DeriveLinkKeys(secret[:15], "x"); err == nil {
		t.Error("a 120-bit secret was accepted")
	}
}

func TestLinkURL(t *testing.T) {
	id, secret := NewID(), NewSecret()
	if !regexp.MustCompile(`^[a-z2-7]{26}$`).MatchString(id) {
		t.Errorf("id %q", id)
	}
	u := LinkURL("https://vigil.example.com/", id, secret)
	base, gid, gs, err := ParseLinkURL(u)
	if err != nil || base != "https://vigil.example.com" || gid != id || !bytes.Equal(gs, secret) {
		t.Fatalf("ParseLinkURL(%s) = %q %q %x %v", u, base, gid, gs, err)
	}
	for _, bad := range []string{"https://x/s/" + id, "https://x/s/" + id + "#k=abc", "https://x/h/" + id + "#k=" + strings.Repeat("A", 43), "https://x/s/#k=" + strings.Repeat("A", 43)} {
		if _, _, _, err := ParseLinkURL(bad); err == nil {
			t.Errorf("ParseLinkURL(%s) accepted", bad)
		}
	}
}

func testManifest(t *testing.T) (*Body, ed25519.PrivateKey, *LinkKeys, []byte, *envelope.X25519Identity) {
	t.Helper()
	_, sk, _ := ed25519.GenerateKey(rand.Reader)
	id := NewID()
	lk, err := DeriveLinkKeys(NewSecret(), id)
	if err != nil {
		t.Fatal(err)
	}
	fileKey := make([]byte, 32)
	rand.Read(fileKey)
	now := time.Now().UTC()
	o, err := Wrap("hh/dev/front/0000000000000001", now, now.Add(2*time.Second), fileKey, lk.Identity.Recipient())
	if err != nil {
		t.Fatal(err)
	}
	b := &Body{V: 1, ID: id, Household: "hh", Camera: "front", From: now, To: now.Add(time.Minute), Expires: now.Add(time.Hour),
		Kind: KindLink, Recipient: b64u.EncodeToString(lk.Identity.Recipient().Bytes()),
		Sharer: Sharer{Device: "d1", SignPub: b64u.EncodeToString(sk.Public().(ed25519.PublicKey))}, Objects: []Object{o}}
	return b, sk, lk, fileKey, lk.Identity
}

func TestSignOpen(t *testing.T) {
	b, sk, lk, fileKey, idn := testManifest(t)
	m, err := Sign(b, sk, lk.MACKey)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Open(m, b.ID, idn.Recipient().Bytes(), lk.MACKey)
	if err != nil {
		t.Fatal(err)
	}
	st, err := got.Objects[0].StanzaOf()
	if err != nil {
		t.Fatal(err)
	}
	fk, err := idn.Unwrap([]*envelope.Stanza{st})
	if err != nil || !bytes.Equal(fk, fileKey) {
		t.Fatalf("the guest unwraps %x, %v; want the file key", fk, err)
	}
	// A guest without the link key cannot.
	other, _ := envelope.GenerateX25519Identity()
	if _, err := other.Unwrap([]*envelope.Stanza{st}); !errors.Is(err, envelope.ErrIncorrectIdentity) {
		t.Errorf("another key unwraps: %v", err)
	}
}

func TestOpenRefuses(t *testing.T) {
	b, sk, lk, _, idn := testManifest(t)
	rcpt := idn.Recipient().Bytes()
	good, _ := Sign(b, sk, lk.MACKey)
	var s signed
	json.Unmarshal(good, &s)
	resign := func(change func(b *Body), key ed25519.PrivateKey, mac []byte) []byte {
		c := *b
		change(&c)
		m, err := Sign(&c, key, mac)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	_, stranger, _ := ed25519.GenerateKey(rand.Reader)
	otherLink, _ := DeriveLinkKeys(NewSecret(), b.ID)
	flipped := func() []byte {
		bb, _ := b64u.DecodeString(s.Body)
		bb[len(bb)/2] ^= 1
		c := s
		c.Body = b64u.EncodeToString(bb)
		m, _ := json.Marshal(c)
		return m
	}
	noMAC := func() []byte {
		c := s
		c.MAC = ""
		m, _ := json.Marshal(c)
		return m
	}
	cases := map[string]struct {
		m    []byte
		want string
	}{
		"flipped body byte":            {flipped(), "link"},
		"no MAC":                       {noMAC(), "link"},
		"MAC of another link":          {resign(func(*Body) {}, sk, otherLink.MACKey), "link"},
		"signed by a stranger, no MAC": {resign(func(c *Body) {}, stranger, nil), "link"},
		"garbage":                      {[]byte("{"), "damaged"},
	}
	for name, tc := range cases {
		if _, err := Open(tc.m, b.ID, rcpt, lk.MACKey); !errors.Is(err, ErrManifest) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want a refusal mentioning %q", name, err, tc.want)
		}
	}
	// Without a MAC key (an account share), the signature decides.
	noMACCases := map[string]struct {
		m    []byte
		want string
	}{
		"flipped body byte": {flipped(), ""},
		"stranger's signature": {func() []byte {
			c := s
			c.Sig = b64u.EncodeToString(ed25519.Sign(stranger, []byte("x")))
			m, _ := json.Marshal(c)
			return m
		}(), "signature"},
		"another share's ID": {good, "share"},
		"another recipient":  {resign(func(c *Body) { c.Recipient = b64u.EncodeToString(make([]byte, 32)) }, sk, nil), "another device"},
		"version 2":          {resign(func(c *Body) { c.V = 2 }, sk, nil), "version"},
	}
	for name, tc := range noMACCases {
		id := b.ID
		if name == "another share's ID" {
			id = NewID()
		}
		if _, err := Open(tc.m, id, rcpt, nil); !errors.Is(err, ErrManifest) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want a refusal mentioning %q", name, err, tc.want)
		}
	}
}

// The link vector (secret 01 02 … 20, share ID "a" × 26), computed also with
// OpenSSL (Node's crypto.hkdfSync and X25519) and listed in docs/FORMAT.md.
const (
	vectorRecipient = "0017369cf6ca2e223c039ff54bb8d2c253b7570b05e6311900915c8d4377e112"
	vectorToken     = "d2b04e7b03fa89e99c43fd4c47f5aa44c7af637d39767b72558dfd71e53e35ae"
	vectorMAC       = "e9fc9885fbf2d89ad94e558ffb48949d671ba27909e6a8d45d55564962ae6a1d"
)

// Open never panics and never accepts what it was not given the keys for.
func FuzzOpen(f *testing.F) {
	_, sk, _ := ed25519.GenerateKey(rand.Reader)
	lk, _ := DeriveLinkKeys(make([]byte, 32), "aaaaaaaaaaaaaaaaaaaaaaaaaa")
	rcpt := lk.Identity.Recipient().Bytes()
	b := &Body{V: 1, ID: "aaaaaaaaaaaaaaaaaaaaaaaaaa", Kind: KindLink, Recipient: b64u.EncodeToString(rcpt),
		Sharer: Sharer{SignPub: b64u.EncodeToString(sk.Public().(ed25519.PublicKey))}}
	good, _ := Sign(b, sk, lk.MACKey)
	f.Add(good)
	// A redacted (version 2) manifest of the same share.
	r := *b
	pub := b64u.EncodeToString(sk.Public().(ed25519.PublicKey))
	r.V, r.Redacted = VRedacted, &Redaction{SignPub: pub}
	r.Sharer.SignPub = pub
	r.Objects = []Object{{Key: ClipKey(b.ID), Stanza: b64u.EncodeToString(make([]byte, stanzaSize))}}
	redacted, _ := Sign(&r, sk, lk.MACKey)
	if _, err := Open(redacted, b.ID, rcpt, lk.MACKey); err != nil {
		f.Fatalf("the redacted seed does not open: %v", err)
	}
	f.Add(redacted)
	f.Add([]byte(`{"body":"","sig":""}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, m []byte) {
		body, err := Open(m, b.ID, rcpt, lk.MACKey)
		if err == nil && body.V == VRedacted && (body.Redacted == nil || len(body.Objects) != 1 || body.Objects[0].Key != ClipKey(b.ID)) {
			t.Fatalf("accepted a redacted manifest that is not of one clip: %+v", body)
		}
		if err == nil && !bytes.Equal(m, good) && !bytes.Equal(m, redacted) {
			// Only an encoding variant of the good manifest may pass: same body.
			if body.ID != b.ID || body.Recipient != b.Recipient {
				t.Fatalf("accepted a different manifest: %+v", body)
			}
		}
	})
}

// headerStanzas parses the stanzas of a sealed header (docs/FORMAT.md).
func headerStanzas(t *testing.T, b []byte) []*envelope.Stanza {
	t.Helper()
	L := int(b[14])
	o := 15 + L + 8 + 8 + 4 + 32 + 32
	n := int(b[o])
	o++
	var out []*envelope.Stanza
	for range n {
		s := &envelope.Stanza{Type: b[o], Enc: b[o+5 : o+37], Body: b[o+37 : o+85]}
		copy(s.Hint[:], b[o+1:o+5])
		out = append(out, s)
		o += 85
	}
	return out
}

// redactedManifest is a version 2 manifest of one clip sealed by the
// sharer's key sk to the link's key, and the sealed clip.
func redactedManifest(t *testing.T, kind envelope.Kind, camera string) (*Body, ed25519.PrivateKey, *LinkKeys, []byte, []byte) {
	t.Helper()
	b, sk, lk, _, _ := testManifest(t)
	clip := []byte("an mp4 with every face blurred")
	start := time.Now().UTC().Truncate(time.Second)
	sealed, err := envelope.Seal(envelope.Header{Kind: kind, Stream: camera, Start: start}, start.Add(3*time.Second), sk, clip, lk.Identity.Recipient())
	if err != nil {
		t.Fatal(err)
	}
	b.V = VRedacted
	b.Hubs = nil
	b.Redacted = &Redaction{Device: b.Sharer.Device, SignPub: b.Sharer.SignPub}
	b.Objects = []Object{{Key: ClipKey(b.ID), Start: start, End: start.Add(3 * time.Second), Stanza: EncodeStanza(headerStanzas(t, sealed)[0])}}
	return b, sk, lk, sealed, clip
}

// A redacted share (version 2) opens to its one clip, verified against the
// sharer device the manifest names.
func TestRedactedOpenClip(t *testing.T) {
	b, sk, lk, sealed, clip := redactedManifest(t, envelope.KindClip, "front")
	m, err := Sign(b, sk, lk.MACKey)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Open(m, b.ID, lk.Identity.Recipient().Bytes(), lk.MACKey)
	if err != nil {
		t.Fatal(err)
	}
	if got.Redacted == nil || got.Redacted.Device != "d1" {
		t.Fatalf("the opened manifest's redaction: %+v", got.Redacted)
	}
	h, plain, err := OpenClip(got, sealed, lk.Identity)
	if err != nil || !bytes.Equal(plain, clip) || h.Kind != envelope.KindClip {
		t.Fatalf("OpenClip = %v %q %v", h.Kind, plain, err)
	}
	// Another link's key cannot open it.
	other, _ := DeriveLinkKeys(NewSecret(), b.ID)
	if _, _, err := OpenClip(got, sealed, other.Identity); !errors.Is(err, ErrClip) {
		t.Errorf("another link's key: %v", err)
	}
	// A clip signed by another key than the manifest's is refused.
	_, stranger, _ := ed25519.GenerateKey(rand.Reader)
	forged := *got
	forged.Redacted = &Redaction{Device: "d1", SignPub: b64u.EncodeToString(stranger.Public().(ed25519.PublicKey))}
	if _, _, err := OpenClip(&forged, sealed, lk.Identity); !errors.Is(err, ErrClip) {
		t.Errorf("a clip checked against another signer: %v", err)
	}
	// A version 1 manifest has no clip.
	v1, sk1, lk1, _, _ := testManifest(t)
	m1, _ := Sign(v1, sk1, lk1.MACKey)
	o1, err := Open(m1, v1.ID, lk1.Identity.Recipient().Bytes(), lk1.MACKey)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := OpenClip(o1, sealed, lk.Identity); !errors.Is(err, ErrClip) {
		t.Errorf("OpenClip of a version 1 share: %v", err)
	}
	// A segment (a hub's kind) or another camera's clip is not the share's clip.
	for name, c := range map[string]struct {
		kind envelope.Kind
		cam  string
	}{"a segment": {envelope.KindSegment, "front"}, "another camera": {envelope.KindClip, "back"}} {
		b2, sk2, lk2, sealed2, _ := redactedManifest(t, c.kind, c.cam)
		m2, _ := Sign(b2, sk2, lk2.MACKey)
		o2, err := Open(m2, b2.ID, lk2.Identity.Recipient().Bytes(), lk2.MACKey)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := OpenClip(o2, sealed2, lk2.Identity); !errors.Is(err, ErrClip) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// A redacted manifest must hold only its clip, signed by the sharer; a
// version 1 manifest cannot claim a redaction.
func TestRedactedOpenRefuses(t *testing.T) {
	b, sk, lk, _, _ := redactedManifest(t, envelope.KindClip, "front")
	rcpt := lk.Identity.Recipient().Bytes()
	cases := map[string]func(c *Body){
		"no redaction":           func(c *Body) { c.Redacted = nil },
		"another signing device": func(c *Body) { c.Redacted = &Redaction{Device: "d2", SignPub: c.Sharer.SignPub} },
		"another signing key": func(c *Body) {
			c.Redacted = &Redaction{Device: c.Sharer.Device, SignPub: b64u.EncodeToString(make([]byte, 32))}
		},
		"a segment besides":       func(c *Body) { c.Objects = append(c.Objects, Object{Key: "hh/dev/front/1"}) },
		"a segment instead":       func(c *Body) { c.Objects = []Object{{Key: "hh/dev/front/1", Stanza: c.Objects[0].Stanza}} },
		"another share's clip":    func(c *Body) { c.Objects = []Object{{Key: ClipKey(NewID()), Stanza: c.Objects[0].Stanza}} },
		"a hub":                   func(c *Body) { c.Hubs = []string{c.Sharer.SignPub} },
		"version 1 with redacted": func(c *Body) { c.V = V1 },
		"version 3":               func(c *Body) { c.V = 3 },
	}
	for name, change := range cases {
		c := *b
		c.Objects = append([]Object(nil), b.Objects...)
		change(&c)
		m, err := Sign(&c, sk, lk.MACKey)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Open(m, b.ID, rcpt, lk.MACKey); !errors.Is(err, ErrManifest) {
			t.Errorf("%s: opened (%v)", name, err)
		}
	}
}
