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
	return verifyPublic(sealed, v, nil)
}

// VerifyPublicSum is VerifyPublic that also returns the SHA-256 of all of
// sealed, for a caller that stores the object under its hash: the bytes
// are hashed once for both.
func VerifyPublicSum(sealed []byte, v Verifier) (Header, Footer, [32]byte, error) {
	var sum [32]byte
	h, f, err := verifyPublic(sealed, v, &sum)
	if err != nil {
		return Header{}, Footer{}, [32]byte{}, err
	}
	return h, f, sum, nil
}

// verifyPublic is VerifyPublic; with whole non-nil it also sets *whole to
// the SHA-256 of all of sealed.
func verifyPublic(sealed []byte, v Verifier, whole *[32]byte) (Header, Footer, error) {
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
	d := sha256.New()
	d.Write(sealed[:len(sealed)-footerSize])
	sum := d.Sum(nil)
	if !bytes.Equal(sum, f.commitment) {
		return Header{}, Footer{}, fmt.Errorf("envelope: content does not match the commitment signed by %s: %w", SignerID(p.Signer), ErrBadSignature)
	}
	if err := f.verify(p.Signer, f.commitment); err != nil {
		return Header{}, Footer{}, err
	}
	body := int64(len(sealed) - len(p.raw) - footerSize)
	if n := plaintextSize(body, p.ChunkSize); n < 0 || uint64(n) != f.length {
		return Header{}, Footer{}, corruptf("object size %d does not match the signed plaintext length %d (truncated or extended)", len(sealed), f.length)
	}
	if whole != nil {
		d.Write(sealed[len(sealed)-footerSize:])
		d.Sum(whole[:0])
	}
	h := p.Header
	return h, f.footer(), nil
}
