package envelope

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"strings"
	"testing"
)

func TestKeyStrings(t *testing.T) {
	id, err := GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	s := id.String()
	if !strings.HasPrefix(s, "VIGIL-IDENTITY-1-") || s != strings.ToUpper(s) || len(s) != len("VIGIL-IDENTITY-1-")+58 {
		t.Fatalf("identity string %q has the wrong shape", s)
	}
	id2, err := ParseX25519Identity(s)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(id2.Bytes(), id.Bytes()) {
		t.Fatal("identity round trip changed the key")
	}
	r := id.Recipient().String()
	if !strings.HasPrefix(r, "vigr1") || r != strings.ToLower(r) || len(r) != len("vigr1")+58 {
		t.Fatalf("recipient string %q has the wrong shape", r)
	}
	rc, err := ParseX25519Recipient(r)
	if err != nil {
		t.Fatal(err)
	}
	if rc.String() != r || id2.Recipient().String() != r {
		t.Fatal("recipient round trip changed the key")
	}

	sk, err := GenerateSigningKey()
	if err != nil {
		t.Fatal(err)
	}
	ss := MarshalSigningKey(sk)
	if !strings.HasPrefix(ss, "VIGIL-SIGNER-1-") {
		t.Fatalf("signing key string %q has the wrong shape", ss)
	}
	sk2, err := ParseSigningKey(ss)
	if err != nil || !sk2.Equal(sk) {
		t.Fatalf("signing key round trip: %v", err)
	}
	if id := SignerID(sk.Public().(ed25519.PublicKey)); len(id) != 16 {
		t.Fatalf("SignerID = %q", id)
	}
}

// mutations returns strings that differ from s by one typo.
func mutations(s string, prefixLen int) []string {
	var out []string
	alphabet := "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
	if s[prefixLen:] == strings.ToLower(s[prefixLen:]) {
		alphabet = strings.ToLower(alphabet)
	}
	for i := prefixLen; i < len(s); i++ {
		for _, c := range []byte(alphabet) {
			if c != s[i] {
				out = append(out, s[:i]+string(c)+s[i+1:])
				break
			}
		}
		if i+1 < len(s) && s[i] != s[i+1] {
			out = append(out, s[:i]+s[i+1:i+2]+s[i:i+1]+s[i+2:]) // transposition
		}
	}
	return out
}

func TestKeyStringTypos(t *testing.T) {
	id, _ := GenerateX25519Identity()
	sk, _ := GenerateSigningKey()
	secret := id.String()
	cases := []struct {
		name   string
		s      string
		prefix int
		parse  func(string) error
	}{
		{"recipient", id.Recipient().String(), 5, func(s string) error { _, err := ParseX25519Recipient(s); return err }},
		{"identity", secret, 17, func(s string) error { _, err := ParseX25519Identity(s); return err }},
		{"signer", MarshalSigningKey(sk), 15, func(s string) error { _, err := ParseSigningKey(s); return err }},
	}
	for _, c := range cases {
		for _, m := range mutations(c.s, c.prefix) {
			err := c.parse(m)
			if err == nil {
				t.Errorf("%s: typo accepted", c.name)
				continue
			}
			if strings.Contains(err.Error(), m[c.prefix:c.prefix+10]) {
				t.Errorf("%s: error quotes the key: %v", c.name, err)
			}
		}
		for _, bad := range []string{"", c.s[:len(c.s)-1], c.s + "A", c.s + "a", strings.ToUpper(c.s), strings.ToLower(c.s), "x" + c.s, c.s[:c.prefix] + "!" + c.s[c.prefix+1:]} {
			if bad == c.s {
				continue
			}
			if err := c.parse(bad); err == nil {
				t.Errorf("%s: %q accepted", c.name, bad)
			}
		}
		// The checksum error names the likely cause.
		m := mutations(c.s, c.prefix)[0]
		if err := c.parse(m); !strings.Contains(err.Error(), "checksum") && !strings.Contains(err.Error(), "malformed") {
			t.Errorf("%s: unhelpful error %v", c.name, err)
		}
	}
}

func TestParseIdentities(t *testing.T) {
	a, _ := GenerateX25519Identity()
	b, _ := GenerateX25519Identity()
	file := "# household epoch 7\r\n\r\n  " + a.String() + "  \r\n# created 2026-03-14\n" + b.String()
	ids, err := ParseIdentities(strings.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != 2 || ids[0].(*X25519Identity).String() != a.String() || ids[1].(*X25519Identity).String() != b.String() {
		t.Fatalf("parsed %d identities", len(ids))
	}

	sk, _ := GenerateSigningKey()
	bad := a.String()
	bad = bad[:20] + map[bool]string{true: "B", false: "A"}[bad[20] == 'A'] + bad[21:]
	for _, c := range []struct{ file, want string }{
		{"# only a comment\n\n", "no identities"},
		{"", "no identities"},
		{a.String() + "\n" + bad + "\n", "line 2"},
		{"\n\n" + a.Recipient().String(), "line 3 is a recipient"},
		{MarshalSigningKey(sk), "line 1 is a signing key"},
		{"AGE-SECRET-KEY-1XYZ", "line 1 is not an identity"},
	} {
		_, err := ParseIdentities(strings.NewReader(c.file))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("ParseIdentities(%q) = %v, want %q", c.file, err, c.want)
			continue
		}
		for _, secret := range []string{a.String()[17:], bad[17:], MarshalSigningKey(sk)[15:]} {
			if strings.Contains(err.Error(), secret[:12]) {
				t.Errorf("error leaks key material: %v", err)
			}
		}
	}
	if _, err := ParseIdentities(strings.NewReader(strings.Repeat("x", 100000))); err == nil {
		t.Error("a 100 kB line was accepted")
	}
}

func TestParseRecipients(t *testing.T) {
	a, _ := GenerateX25519Identity()
	b, _ := GenerateX25519Identity()
	file := "# epoch 7\n" + a.Recipient().String() + "\n\n" + b.Recipient().String() + "\n"
	rs, err := ParseRecipients(strings.NewReader(file))
	if err != nil || len(rs) != 2 {
		t.Fatalf("ParseRecipients = %d, %v", len(rs), err)
	}
	_, err = ParseRecipients(strings.NewReader(file + a.String() + "\n"))
	if err == nil || !strings.Contains(err.Error(), "line 5 is a secret key") || strings.Contains(err.Error(), a.String()[17:29]) {
		t.Errorf("ParseRecipients with an identity = %v", err)
	}
	if _, err := ParseRecipients(strings.NewReader("\n#\n")); err == nil {
		t.Error("empty recipients file accepted")
	}
	if _, err := ParseRecipients(strings.NewReader("vigr1abc\n")); err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Errorf("bad recipient: %v", err)
	}
}

func TestX25519Unwrap(t *testing.T) {
	a, _ := GenerateX25519Identity()
	b, _ := GenerateX25519Identity()
	key := bytes.Repeat([]byte{7}, 32)
	s, err := a.Recipient().Wrap(key)
	if err != nil {
		t.Fatal(err)
	}
	if s.Type != StanzaTypeX25519 || len(s.Enc) != 32 || len(s.Body) != 48 {
		t.Fatalf("stanza shape %d %d %d", s.Type, len(s.Enc), len(s.Body))
	}
	if _, err := a.Recipient().Wrap(key[:16]); err == nil {
		t.Error("wrapped a 16-byte key")
	}
	got, err := a.Unwrap([]*Stanza{s})
	if err != nil || !bytes.Equal(got, key) {
		t.Fatalf("Unwrap = %v", err)
	}
	if _, err := b.Unwrap([]*Stanza{s}); !errors.Is(err, ErrIncorrectIdentity) {
		t.Fatalf("Unwrap by another identity = %v", err)
	}
	// A stanza whose hint was changed to b's still does not open for b.
	forged := *s
	forged.Hint = b.Recipient().hint
	if _, err := b.Unwrap([]*Stanza{&forged}); !errors.Is(err, ErrIncorrectIdentity) {
		t.Fatalf("Unwrap of a re-hinted stanza = %v", err)
	}
	// Hint collisions: a stanza with a's hint but not for a is skipped.
	other, _ := b.Recipient().Wrap(key)
	other.Hint = a.Recipient().hint
	if got, err := a.Unwrap([]*Stanza{other, s}); err != nil || !bytes.Equal(got, key) {
		t.Fatalf("Unwrap past a colliding hint = %v", err)
	}
	// Low-order points cannot be recipients.
	if r, err := NewX25519Recipient(make([]byte, 32)); err == nil {
		if _, err := r.Wrap(key); err == nil {
			t.Error("wrapped to the all-zero public key")
		}
	}
	if _, err := NewX25519Recipient(make([]byte, 31)); err == nil {
		t.Error("31-byte public key accepted")
	}
	if _, err := NewX25519Identity(make([]byte, 33)); err == nil {
		t.Error("33-byte private key accepted")
	}
}

func TestTrustedKeys(t *testing.T) {
	a, _ := GenerateSigningKey()
	b, _ := GenerateSigningKey()
	pa := a.Public().(ed25519.PublicKey)
	v := TrustedKeys{pa}
	if !v.Trusted(pa) || v.Trusted(b.Public().(ed25519.PublicKey)) || v.Trusted(pa[:31]) || v.Trusted(nil) {
		t.Error("TrustedKeys gives wrong answers")
	}
	if (TrustedKeys{nil}).Trusted(nil) {
		t.Error("nil key trusted")
	}
	if !(AnySigner{}).Trusted(pa) {
		t.Error("AnySigner does not trust")
	}
}
