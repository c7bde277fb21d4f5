package envelope

import (
	"bytes"
	"crypto/cipher"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
)

// ReaderAt gives random access to the plaintext of a sealed object, decrypting
// only the chunks a read needs.
//
// NewReaderAt verifies the header MAC and the producer's signature over the
// footer, and checks that the object's size matches the signed plaintext
// length. Every chunk ReadAt returns is authenticated with AES-256-GCM, in
// its position, so an outsider (anyone without the file key, such as the
// cloud) cannot modify, reorder, splice or truncate what it returns.
//
// What ReadAt cannot check without reading everything is the signed
// commitment over the header and all chunks. A malicious co-recipient who
// knows the file key could re-encrypt different content (or edit the header
// fields and recompute its MAC) and keep the original footer. Call
// [ReaderAt.Verify], or read the object with [Reader] to io.EOF, when the
// producer's authorship of the content matters.
//
// ReadAt is safe for concurrent use, as io.ReaderAt requires.
type ReaderAt struct {
	ra        io.ReaderAt
	hdr       Header
	hdrRaw    []byte
	aead      cipher.AEAD
	chunkSize int
	hdrLen    int64
	sealed    int64 // size of the sealed object
	chunks    int64
	footer    Footer
	rawFooter rawFooter
	bufs      sync.Pool // *[]byte of cap chunkSize+tagSize
}

// NewReaderAt reads the header and footer of the size-byte sealed object in
// ra and verifies them; see [NewReader] for v and ids.
func NewReaderAt(ra io.ReaderAt, size int64, v Verifier, ids ...Identity) (*ReaderAt, error) {
	if size < int64(headerSize(0, 1))+tagSize+footerSize {
		return nil, corruptf("object of %d bytes is too short", size)
	}
	prefix := make([]byte, min(size, int64(maxHeaderSize)))
	if err := readFullAt(ra, prefix, 0); err != nil {
		return nil, fmt.Errorf("envelope: reading header: %w", err)
	}
	p, err := readHeader(bytes.NewReader(prefix))
	if err != nil {
		return nil, err
	}
	aead, err := p.open(v, ids)
	if err != nil {
		return nil, err
	}
	fb := make([]byte, footerSize)
	if err := readFullAt(ra, fb, size-footerSize); err != nil {
		return nil, fmt.Errorf("envelope: reading footer: %w", err)
	}
	f := parseFooter(fb)
	if err := f.verify(p.Signer, f.commitment); err != nil {
		return nil, err
	}
	r := &ReaderAt{
		ra:        ra,
		hdr:       p.Header,
		hdrRaw:    p.raw,
		aead:      aead,
		chunkSize: p.ChunkSize,
		hdrLen:    int64(len(p.raw)),
		sealed:    size,
		footer:    f.footer(),
		rawFooter: f,
	}
	body := size - r.hdrLen - footerSize
	if n := plaintextSize(body, r.chunkSize); n < 0 || uint64(n) != f.length {
		return nil, corruptf("object size %d does not match the signed plaintext length %d (truncated or extended)", size, f.length)
	}
	r.chunks = max(1, (r.footer.Length+int64(r.chunkSize)-1)/int64(r.chunkSize))
	r.bufs.New = func() any {
		b := make([]byte, r.chunkSize+tagSize)
		return &b
	}
	return r, nil
}

// readFullAt reads len(p) bytes at off; a short read is ErrCorrupt.
func readFullAt(ra io.ReaderAt, p []byte, off int64) error {
	n, err := ra.ReadAt(p, off)
	if n == len(p) {
		return nil
	}
	if err == nil || err == io.EOF || err == io.ErrUnexpectedEOF {
		return corruptf("truncated object")
	}
	return err
}

// Size returns the plaintext length.
func (r *ReaderAt) Size() int64 { return r.footer.Length }

// Header returns the header, authenticated by its MAC; see [ReaderAt] for
// what that does not cover.
func (r *ReaderAt) Header() Header {
	h := r.hdr
	h.Signer = slices.Clone(h.Signer)
	return h
}

// Footer returns the signed footer.
func (r *ReaderAt) Footer() Footer { return r.footer }

// ReadAt reads len(p) plaintext bytes starting at plaintext offset off. Like
// io.ReaderAt it returns io.EOF when fewer than len(p) bytes remain.
func (r *ReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("envelope: ReadAt: negative offset")
	}
	length := r.footer.Length
	if off >= length {
		if len(p) == 0 {
			return 0, nil
		}
		return 0, io.EOF
	}
	want := int(min(int64(len(p)), length-off))
	cs := int64(r.chunkSize)
	bp := r.bufs.Get().(*[]byte)
	defer r.bufs.Put(bp)
	var nonce [nonceSize]byte
	n := 0
	for n < want {
		pos := off + int64(n)
		i := pos / cs
		within := int(pos - i*cs)
		plainLen := int(min(cs, length-i*cs))
		ct := (*bp)[:plainLen+tagSize]
		if err := readFullAt(r.ra, ct, r.hdrLen+i*(cs+tagSize)); err != nil {
			return n, fmt.Errorf("envelope: reading chunk %d: %w", i, err)
		}
		chunkNonce(&nonce, uint64(i), i == r.chunks-1)
		if within == 0 && want-n >= plainLen {
			// The whole chunk is wanted: decrypt straight into p.
			if _, err := r.aead.Open(p[n:n], nonce[:], ct, nil); err != nil {
				return n, corruptf("chunk %d failed authentication", i)
			}
			n += plainLen
			continue
		}
		out, err := r.aead.Open(ct[:0], nonce[:], ct, nil)
		if err != nil {
			return n, corruptf("chunk %d failed authentication", i)
		}
		n += copy(p[n:want], out[within:])
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// Verify reads the whole object (without decrypting it) and checks the
// signed commitment over the header and every chunk. After Verify returns
// nil, and as long as the underlying bytes do not change, everything ReadAt
// returns was produced by the signer.
func (r *ReaderAt) Verify() error {
	h := sha256.New()
	h.Write(r.hdrRaw)
	sr := io.NewSectionReader(r.ra, r.hdrLen, r.sealed-r.hdrLen-footerSize)
	bp := r.bufs.Get().(*[]byte)
	defer r.bufs.Put(bp)
	if _, err := io.CopyBuffer(h, sr, *bp); err != nil {
		return fmt.Errorf("envelope: reading object: %w", err)
	}
	if !bytes.Equal(h.Sum(nil), r.rawFooter.commitment) {
		return fmt.Errorf("envelope: content does not match the commitment signed by %s: %w", SignerID(ed25519.PublicKey(r.hdr.Signer)), ErrBadSignature)
	}
	return nil
}
