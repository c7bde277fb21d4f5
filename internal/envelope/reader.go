package envelope

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"slices"
)

// Reader decrypts and verifies a sealed object as a stream.
//
// Each chunk is authenticated (AES-256-GCM under a key only the recipients
// know) before its plaintext is returned. The producer's signature covers the
// whole object and can only be checked at the end, so:
//
//   - Read returns io.EOF only after the footer, the commitment over the
//     header and every chunk, and the signature have been verified;
//   - any other error means the object must be rejected, including the
//     plaintext already returned;
//   - the plaintext of the last chunk (for objects of one chunk: all of it)
//     is released only after those checks pass.
//
// Plaintext returned before io.EOF is authentic against anybody who does not
// hold the file key, but a malicious co-recipient could have substituted it.
// A caller that must know the producer made the content (for example before
// showing or storing it as a recording) must buffer it until io.EOF, or use
// [Open].
//
// A Reader is not safe for concurrent use.
type Reader struct {
	src       io.Reader
	hdr       Header
	signer    ed25519.PublicKey
	aead      cipher.AEAD
	commit    hash.Hash
	chunkSize int

	// buf holds ciphertext read ahead: one chunk, the footer and one more
	// byte, which is how the reader tells the last chunk from the others.
	buf     []byte
	have    int    // bytes of buf filled
	used    int    // bytes at the start of buf already consumed (a chunk)
	plain   []byte // decrypted plaintext not yet returned, in buf
	nonce   [nonceSize]byte
	counter uint64
	length  uint64
	eof     bool // src returned EOF
	footer  Footer
	err     error // sticky; io.EOF once everything is verified
}

// NewReader reads and parses the header from src, checks that v trusts the
// signer, unwraps the file key with the first matching identity and checks
// the header MAC. v must not be nil; see [AnySigner] for tools that do not
// care who produced an object.
func NewReader(src io.Reader, v Verifier, ids ...Identity) (*Reader, error) {
	p, err := readHeader(src)
	if err != nil {
		return nil, err
	}
	aead, err := p.open(v, ids)
	if err != nil {
		return nil, err
	}
	r := &Reader{
		src:       src,
		hdr:       p.Header,
		signer:    p.Signer,
		aead:      aead,
		commit:    sha256.New(),
		chunkSize: p.ChunkSize,
		buf:       make([]byte, p.ChunkSize+tagSize+footerSize+1),
	}
	r.commit.Write(p.raw)
	return r, nil
}

// open checks trust, unwraps the file key, checks the header MAC and returns
// the payload AEAD.
func (p *parsedHeader) open(v Verifier, ids []Identity) (cipher.AEAD, error) {
	if v == nil {
		return nil, errors.New("envelope: nil Verifier; pass the trusted producer keys (TrustedKeys)")
	}
	if !v.Trusted(p.Signer) {
		return nil, fmt.Errorf("envelope: producer %s: %w; hint: add the hub's signing key to the trusted keys, or check where the object came from", SignerID(p.Signer), ErrUntrustedSigner)
	}
	if len(ids) == 0 {
		return nil, fmt.Errorf("envelope: no identities given: %w; hint: pass the household identity file with --identity", ErrIncorrectIdentity)
	}
	var fileKey []byte
	for _, id := range ids {
		k, err := id.Unwrap(p.stanzas)
		if errors.Is(err, ErrIncorrectIdentity) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("envelope: unwrapping file key: %w", err)
		}
		fileKey = k
		break
	}
	if fileKey == nil {
		return nil, fmt.Errorf("envelope: %w (object for epoch %d, %d recipients); hint: pass the household identity file with --identity, for the right key epoch", ErrIncorrectIdentity, p.Epoch, len(p.stanzas))
	}
	if len(fileKey) != fileKeySize {
		return nil, corruptf("unwrapped file key has the wrong length")
	}
	payloadKey, macKey := deriveKeys(fileKey, p.salt)
	if !hmac.Equal(headerMAC(macKey, p.raw[:len(p.raw)-macSize]), p.mac()) {
		return nil, corruptf("header MAC mismatch (the header was modified)")
	}
	block, err := aes.NewCipher(payloadKey)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// Header returns the object's header, authenticated by its MAC. The signer
// is trusted by the Verifier; that it really produced the object is known
// only once Read returns io.EOF.
func (r *Reader) Header() Header {
	h := r.hdr
	h.Signer = slices.Clone(h.Signer)
	return h
}

// Footer returns the verified footer. It is valid only after Read returned
// io.EOF.
func (r *Reader) Footer() Footer { return r.footer }

// Read reads decrypted plaintext. It returns io.EOF only after the whole
// object has been verified; see [Reader] for what earlier bytes guarantee.
func (r *Reader) Read(p []byte) (int, error) {
	for len(r.plain) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		if len(p) == 0 {
			return 0, nil
		}
		n, err := r.nextChunk(p)
		if err != nil {
			r.err = err
			if err != io.EOF {
				return 0, err
			}
		}
		if n > 0 {
			return n, nil
		}
	}
	n := copy(p, r.plain)
	r.plain = r.plain[n:]
	return n, nil
}

// nextChunk reads, authenticates and decrypts the next chunk. If the
// plaintext fits in p it is decrypted straight into p and its length is
// returned; otherwise it is left in r.plain. After the last chunk it verifies
// the footer and returns io.EOF (with the last plaintext, if any).
func (r *Reader) nextChunk(p []byte) (int, error) {
	// Move the look-ahead that follows the previous chunk to the front.
	if r.used > 0 {
		r.have = copy(r.buf, r.buf[r.used:r.have])
		r.used = 0
	}
	if !r.eof && r.have < len(r.buf) {
		n, err := io.ReadFull(r.src, r.buf[r.have:])
		r.have += n
		switch err {
		case nil:
		case io.EOF, io.ErrUnexpectedEOF:
			r.eof = true
		default:
			return 0, fmt.Errorf("envelope: reading chunk %d: %w", r.counter, err)
		}
	}

	var ct, footer []byte
	last := r.eof // a full buffer means at least one byte follows the footer
	if last {
		if r.have < tagSize+footerSize {
			return 0, corruptf("truncated object: %d bytes after chunk %d, need at least %d", r.have, r.counter, tagSize+footerSize)
		}
		ct = r.buf[:r.have-footerSize]
		footer = r.buf[r.have-footerSize : r.have]
	} else {
		ct = r.buf[:r.chunkSize+tagSize]
	}
	r.used = len(ct)
	r.commit.Write(ct)

	chunkNonce(&r.nonce, r.counter, last)
	plainLen := len(ct) - tagSize
	var out []byte
	var err error
	direct := len(p) >= plainLen
	if direct {
		out, err = r.aead.Open(p[:0], r.nonce[:], ct, nil)
	} else {
		out, err = r.aead.Open(ct[:0], r.nonce[:], ct, nil)
	}
	if err != nil {
		if last {
			return 0, corruptf("last chunk %d failed authentication (truncated, reordered or modified object)", r.counter)
		}
		return 0, corruptf("chunk %d failed authentication (modified, reordered or spliced object)", r.counter)
	}
	if last && len(out) == 0 && r.counter > 0 {
		return 0, corruptf("empty last chunk %d", r.counter)
	}
	r.counter++
	r.length += uint64(len(out))

	if last {
		if err := r.verifyFooter(footer); err != nil {
			clear(out)
			return 0, err
		}
	}
	if direct {
		if last {
			return len(out), io.EOF
		}
		return len(out), nil
	}
	r.plain = out
	if last {
		return 0, io.EOF
	}
	return 0, nil
}

func (r *Reader) verifyFooter(b []byte) error {
	f := parseFooter(b)
	commitment := r.commit.Sum(nil)
	if !bytes.Equal(commitment, f.commitment) {
		return fmt.Errorf("envelope: content does not match the commitment signed by %s: %w", SignerID(r.signer), ErrBadSignature)
	}
	if err := f.verify(r.signer, commitment); err != nil {
		return err
	}
	if f.length != r.length {
		return corruptf("footer says %d plaintext bytes, object has %d", f.length, r.length)
	}
	r.footer = f.footer()
	return nil
}

// Open decrypts and fully verifies a sealed object held in memory. It
// returns the plaintext only if every check passed.
func Open(sealed []byte, v Verifier, ids ...Identity) (Header, Footer, []byte, error) {
	src := bytes.NewReader(sealed)
	r, err := NewReader(src, v, ids...)
	if err != nil {
		return Header{}, Footer{}, nil, err
	}
	// The exact plaintext size, if the object is well formed.
	est := plaintextSize(int64(src.Len())-footerSize, r.chunkSize)
	out := make([]byte, 0, max(est, 0))
	for {
		var n int
		if len(out) < cap(out) {
			n, err = r.Read(out[len(out):cap(out)])
			out = out[:len(out)+n]
		} else {
			var b [1]byte
			n, err = r.Read(b[:])
			out = append(out, b[:n]...)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			clear(out)
			return Header{}, Footer{}, nil, err
		}
	}
	return r.Header(), r.footer, out, nil
}

// plaintextSize returns the plaintext length of a well-formed body (all
// chunks) of body bytes, or -1 if no well-formed object has that body size.
func plaintextSize(body int64, chunkSize int) int64 {
	full := int64(chunkSize + tagSize)
	if body < tagSize {
		return -1
	}
	n := (body + full - 1) / full
	lastCT := body - (n-1)*full
	if lastCT < tagSize || n > 1 && lastCT == tagSize {
		return -1
	}
	return body - n*tagSize
}

// Inspect reads and parses the header from r without any key. Nothing it
// returns is authenticated: use it only for indexing and routing, never for
// decisions that need the producer's word. It reads exactly the header bytes.
func Inspect(r io.Reader) (Header, error) {
	p, err := readHeader(r)
	if err != nil {
		return Header{}, err
	}
	h := p.Header
	h.Signer = slices.Clone(h.Signer)
	return h, nil
}
