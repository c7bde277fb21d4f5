package envelope

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"testing"
	"time"
)

func TestVerifyPublic(t *testing.T) {
	id, _ := GenerateX25519Identity()
	signer, _ := GenerateSigningKey()
	plain := make([]byte, 3*DefaultChunkSize+123)
	rand.Read(plain)
	start := time.Unix(1_700_000_000, 0).UTC()
	sealed, err := Seal(Header{Kind: KindSegment, Stream: "front", Sequence: 7, Start: start}, start.Add(4*time.Second), signer, plain, id.Recipient())
	if err != nil {
		t.Fatal(err)
	}
	trust := TrustedKeys{signer.Public().(ed25519.PublicKey)}
	h, f, err := VerifyPublic(sealed, trust)
	if err != nil {
		t.Fatal(err)
	}
	if h.Stream != "front" || h.Sequence != 7 || !h.Start.Equal(start) || f.Length != int64(len(plain)) || !f.End.Equal(start.Add(4*time.Second)) {
		t.Errorf("header %+v footer %+v", h, f)
	}
	// VerifyPublicSum answers the same, with the SHA-256 of every byte.
	h2, f2, sum, err := VerifyPublicSum(sealed, trust)
	if err != nil || h2.Stream != h.Stream || h2.Sequence != h.Sequence || f2 != f || sum != sha256.Sum256(sealed) {
		t.Errorf("VerifyPublicSum: %+v %+v %x %v; want VerifyPublic's and %x", h2, f2, sum, err, sha256.Sum256(sealed))
	}
	bad := append([]byte(nil), sealed...)
	bad[len(bad)/2] ^= 1
	if _, _, sum, err := VerifyPublicSum(bad, trust); err == nil || sum != [32]byte{} {
		t.Errorf("VerifyPublicSum of altered bytes: %x %v", sum, err)
	}
	other, _ := GenerateSigningKey()
	if _, _, err := VerifyPublic(sealed, TrustedKeys{other.Public().(ed25519.PublicKey)}); !errors.Is(err, ErrUntrustedSigner) {
		t.Errorf("untrusted signer: %v", err)
	}
	// Every byte is covered: a flip anywhere is refused.
	for i := 0; i < len(sealed); i += 1 + i/64 {
		b := append([]byte(nil), sealed...)
		b[i] ^= 0x01
		if _, _, err := VerifyPublic(b, trust); err == nil {
			t.Fatalf("flipped byte %d of %d accepted", i, len(sealed))
		}
	}
	for _, n := range []int{0, 10, len(sealed) - 1} {
		if _, _, err := VerifyPublic(sealed[:n], trust); err == nil {
			t.Errorf("truncated to %d accepted", n)
		}
	}
	if _, _, err := VerifyPublic(append(append([]byte(nil), sealed...), 0), trust); err == nil {
		t.Error("extended object accepted")
	}
}

func FuzzVerifyPublic(f *testing.F) {
	id, _ := GenerateX25519Identity()
	signer, _ := GenerateSigningKey()
	sealed, _ := Seal(Header{Kind: KindSegment, Stream: "s", Start: time.Unix(0, 0)}, time.Unix(1, 0), signer, []byte("hello"), id.Recipient())
	f.Add(sealed)
	trust := TrustedKeys{signer.Public().(ed25519.PublicKey)}
	f.Fuzz(func(t *testing.T, b []byte) {
		if _, _, err := VerifyPublic(b, trust); err == nil && string(b) != string(sealed) {
			t.Fatal("accepted bytes the hub did not sign")
		}
	})
}
