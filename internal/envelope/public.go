package envelope

import (
	"bytes"
	"crypto/sha256"
	"fmt"
)

// VerifyPublic checks what anyone without a file key can check of a whole
// sealed object: the header parses, the producer is trusted by v, and the
// producer's signature covers exactly these bytes (the commitment over the
// header and every encrypted chunk, the plaintext length and the end time).
// It decrypts nothing. The cloud uses it to accept uploads only from the
// household's hubs and to index them by their signed header; a recipient
// still verifies everything again when opening.
func VerifyPublic(sealed []byte, v Verifier) (Header, Footer, error) {
	return verifyPublicWith(sealed, v, nil)
}

// Digests are the two SHA-256 sums of a sealed object the cloud needs:
// Commitment over all but the footer (what the producer's signature
// commits to) and Whole over every byte (what the object is stored under,
// and what a device's request signature covers as its body).
type Digests struct {
	Commitment, Whole [32]byte
	// n is the length of the object they are of.
	n int
}

// Digest computes both sums of sealed in one pass over its bytes.
func Digest(sealed []byte) Digests {
	d := sha256.New()
	out := Digests{n: len(sealed)}
	if len(sealed) >= footerSize {
		d.Write(sealed[:len(sealed)-footerSize])
		d.Sum(out.Commitment[:0])
		d.Write(sealed[len(sealed)-footerSize:])
	} else {
		d.Write(sealed)
	}
	d.Sum(out.Whole[:0])
	return out
}

// VerifyPublicDigests is VerifyPublic over sums already computed by Digest
// (sealed must be the bytes they are of): it hashes nothing again.
func VerifyPublicDigests(sealed []byte, v Verifier, d Digests) (Header, Footer, error) {
	if d.n != len(sealed) {
		return Header{}, Footer{}, fmt.Errorf("envelope: digests of %d bytes for an object of %d", d.n, len(sealed))
	}
	return verifyPublicWith(sealed, v, &d)
}

// VerifyPublicSum is VerifyPublic that also returns the SHA-256 of all of
// sealed, for a caller that stores the object under its hash: the bytes
// are hashed once for both.
func VerifyPublicSum(sealed []byte, v Verifier) (Header, Footer, [32]byte, error) {
	d := Digest(sealed)
	h, f, err := verifyPublicWith(sealed, v, &d)
	if err != nil {
		return Header{}, Footer{}, [32]byte{}, err
	}
	return h, f, d.Whole, nil
}

// verifyPublicWith is VerifyPublic; with d non-nil it takes the
// commitment's sum from d instead of hashing.
func verifyPublicWith(sealed []byte, v Verifier, d *Digests) (Header, Footer, error) {
	if v == nil {
		return Header{}, Footer{}, fmt.Errorf("envelope: nil Verifier; pass the trusted producer keys")
	}
	if len(sealed) < headerSize(0, 1)+tagSize+footerSize {
		return Header{}, Footer{}, corruptf("object of %d bytes is too short", len(sealed))
	}
	p, err := readHeader(bytes.NewReader(sealed))
	if err != nil {
		return Header{}, Footer{}, err
	}
	if !v.Trusted(p.Signer) {
		return Header{}, Footer{}, fmt.Errorf("envelope: producer %s: %w", SignerID(p.Signer), ErrUntrustedSigner)
	}
	f := parseFooter(sealed[len(sealed)-footerSize:])
	var sum [32]byte
	if d != nil {
		sum = d.Commitment
	} else {
		sum = sha256.Sum256(sealed[:len(sealed)-footerSize])
	}
	if !bytes.Equal(sum[:], f.commitment) {
		return Header{}, Footer{}, fmt.Errorf("envelope: content does not match the commitment signed by %s: %w", SignerID(p.Signer), ErrBadSignature)
	}
	if err := f.verify(p.Signer, f.commitment); err != nil {
		return Header{}, Footer{}, err
	}
	body := int64(len(sealed) - len(p.raw) - footerSize)
	if n := plaintextSize(body, p.ChunkSize); n < 0 || uint64(n) != f.length {
		return Header{}, Footer{}, corruptf("object size %d does not match the signed plaintext length %d (truncated or extended)", len(sealed), f.length)
	}
	h := p.Header
	return h, f.footer(), nil
}
