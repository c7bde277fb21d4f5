package webpush

import (
	"bytes"
	"crypto/ecdh"
	"encoding/base64"
	"errors"
	"testing"
)

func b64(t testing.TB, s string) []byte {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		t.Fatalf("decode %q: %v", s, err)
	}
	return b
}

// rfc8291 is the example of RFC 8291 section 5 (Appendix A).
var rfc8291 = struct {
	plaintext, asPrivate, uaPublic, uaPrivate, salt, auth, body string
}{
	plaintext: "When I grow up, I want to be a watermelon",
	asPrivate: "yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw",
	uaPublic:  "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4",
	uaPrivate: "q1dXpw3UpT5VOmu_cf_v6ih07Aems3njxI-JWgLcM94",
	salt:      "DGv6ra1nlYgDCS1FRnbzlw",
	auth:      "BTBZMqHH6r4Tts7J_aSIgg",
	body: "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPT" +
		"pK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN",
}

func TestRFC8291Vector(t *testing.T) {
	v := rfc8291
	as, err := ecdh.P256().NewPrivateKey(b64(t, v.asPrivate))
	if err != nil {
		t.Fatal(err)
	}
	got, err := EncryptWith([]byte(v.plaintext), b64(t, v.uaPublic), b64(t, v.auth), b64(t, v.salt), as)
	if err != nil {
		t.Fatal(err)
	}
	if want := b64(t, v.body); !bytes.Equal(got, want) {
		t.Fatalf("Encrypt:\n got %s\nwant %s", base64.RawURLEncoding.EncodeToString(got), v.body)
	}

	ua, err := ecdh.P256().NewPrivateKey(b64(t, v.uaPrivate))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(ua.PublicKey().Bytes(), b64(t, v.uaPublic)) {
		t.Fatal("vector's user agent key pair does not match")
	}
	pt, err := Decrypt(b64(t, v.body), ua, b64(t, v.auth))
	if err != nil {
		t.Fatal(err)
	}
	if string(pt) != v.plaintext {
		t.Fatalf("Decrypt = %q, want %q", pt, v.plaintext)
	}
}

func TestEncryptRoundTripAndTamper(t *testing.T) {
	ua, _ := ecdh.P256().GenerateKey(nil)
	auth := bytes.Repeat([]byte{7}, 16)
	for _, n := range []int{0, 1, 100, MaxPlaintext} {
		pt := bytes.Repeat([]byte{'x'}, n)
		body, err := Encrypt(pt, ua.PublicKey().Bytes(), auth)
		if err != nil {
			t.Fatalf("len %d: %v", n, err)
		}
		if len(body) > RecordSize {
			t.Fatalf("len %d: body is %d bytes, more than one record", n, len(body))
		}
		got, err := Decrypt(body, ua, auth)
		if err != nil || !bytes.Equal(got, pt) {
			t.Fatalf("len %d: round trip failed: %v", n, err)
		}
		body[len(body)-1] ^= 1
		if _, err := Decrypt(body, ua, auth); !errors.Is(err, ErrDecrypt) {
			t.Fatalf("len %d: tampered body: err = %v, want ErrDecrypt", n, err)
		}
	}
	if _, err := Encrypt(make([]byte, MaxPlaintext+1), ua.PublicKey().Bytes(), auth); err == nil {
		t.Fatal("Encrypt accepted a payload larger than one record")
	}
	other, _ := ecdh.P256().GenerateKey(nil)
	body, _ := Encrypt([]byte("hi"), ua.PublicKey().Bytes(), auth)
	if _, err := Decrypt(body, other, auth); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("wrong key: err = %v, want ErrDecrypt", err)
	}
	if _, err := Decrypt(body, ua, make([]byte, 16)); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("wrong auth secret: err = %v, want ErrDecrypt", err)
	}
}

func FuzzDecrypt(f *testing.F) {
	ua, err := ecdh.P256().NewPrivateKey(b64(f, rfc8291.uaPrivate))
	if err != nil {
		f.Fatal(err)
	}
	auth := b64(f, rfc8291.auth)
	f.Add(b64(f, rfc8291.body))
	f.Add([]byte{})
	f.Add(make([]byte, headerSize+tagSize+1))
	f.Fuzz(func(t *testing.T, body []byte) {
		pt, err := Decrypt(body, ua, auth)
		if err == nil && len(pt) >= len(body) {
			t.Fatalf("plaintext %d bytes from a %d-byte body", len(pt), len(body))
		}
	})
}
