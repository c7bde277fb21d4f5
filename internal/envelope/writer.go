package envelope

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io"
	"time"
)

// Writer seals a stream of plaintext into a sealed object.
//
// NewWriter writes the header at once; Write encrypts and writes each chunk
// as soon as the writer knows it is not the last one; Close writes the last
// chunk and the footer. A Writer buffers at most one chunk. It is not safe
// for concurrent use.
type Writer struct {
	dst       io.Writer
	aead      cipher.AEAD
	signer    ed25519.PrivateKey
	commit    hash.Hash
	chunkSize int
	buf       []byte // pending plaintext, len <= chunkSize, cap chunkSize+tagSize
	nonce     [nonceSize]byte
	counter   uint64
	length    uint64
	start     time.Time
	end       time.Time
	err       error // sticky
	closed    bool
}

// NewWriter validates h, wraps a fresh file key to each recipient, writes the
// header to dst and returns a Writer for the payload. h.ChunkSize 0 means
// DefaultChunkSize; h.Signer is set from signer. At least one and at most
// MaxStanzas recipients are required.
func NewWriter(dst io.Writer, h Header, signer ed25519.PrivateKey, recipients ...Recipient) (*Writer, error) {
	fileKey := make([]byte, fileKeySize)
	rand.Read(fileKey)
	salt := make([]byte, saltSize)
	rand.Read(salt)
	return newWriter(dst, h, signer, fileKey, salt, recipients)
}

func newWriter(dst io.Writer, h Header, signer ed25519.PrivateKey, fileKey, salt []byte, recipients []Recipient) (*Writer, error) {
	h, err := checkHeader(h)
	if err != nil {
		return nil, err
	}
	if len(signer) != ed25519.PrivateKeySize {
		return nil, errors.New("envelope: invalid signing key; hint: load the hub signing key with ParseSigningKey")
	}
	pub := signer.Public().(ed25519.PublicKey)
	if h.Signer != nil && !bytes.Equal(h.Signer, pub) {
		return nil, errors.New("envelope: Header.Signer does not match the signing key; leave it nil")
	}
	h.Signer = pub
	if len(recipients) == 0 {
		return nil, errors.New("envelope: no recipients; hint: seal to the household epoch recipient")
	}
	if len(recipients) > MaxStanzas {
		return nil, fmt.Errorf("envelope: %d recipients, more than the maximum %d", len(recipients), MaxStanzas)
	}
	stanzas := make([]*Stanza, len(recipients))
	for i, r := range recipients {
		s, err := r.Wrap(fileKey)
		if err != nil {
			return nil, fmt.Errorf("envelope: recipient %d: %w", i, err)
		}
		if !s.validShape() {
			return nil, fmt.Errorf("envelope: recipient %d returned a stanza that format version 1 cannot hold", i)
		}
		stanzas[i] = s
	}

	payloadKey, macKey := deriveKeys(fileKey, salt)
	hdr := appendHeader(make([]byte, 0, headerSize(len(h.Stream), len(stanzas))), &h, salt, stanzas)
	hdr = append(hdr, headerMAC(macKey, hdr)...)

	block, err := aes.NewCipher(payloadKey)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	w := &Writer{
		dst:       dst,
		aead:      aead,
		signer:    signer,
		commit:    sha256.New(),
		chunkSize: h.ChunkSize,
		buf:       make([]byte, 0, h.ChunkSize+tagSize),
		start:     h.Start,
	}
	w.commit.Write(hdr)
	if _, err := dst.Write(hdr); err != nil {
		return nil, fmt.Errorf("envelope: writing header: %w", err)
	}
	return w, nil
}

// SetEnd sets the end time written in the footer. It defaults to the
// header's Start; the zero time restores the default.
func (w *Writer) SetEnd(t time.Time) { w.end = t }

// Write encrypts p. Full chunks are written to the destination as soon as
// more data follows them.
func (w *Writer) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	if w.closed {
		return 0, errors.New("envelope: write after Close")
	}
	n := 0
	for len(p) > 0 {
		if len(w.buf) == w.chunkSize {
			// More data follows, so the buffered chunk is not the last.
			if err := w.sealChunk(w.buf, false); err != nil {
				return n, err
			}
		}
		if len(w.buf) == 0 && len(p) > w.chunkSize {
			// A whole chunk that is not the last: seal it straight from p.
			if err := w.sealChunk(p[:w.chunkSize], false); err != nil {
				return n, err
			}
			p = p[w.chunkSize:]
			n += w.chunkSize
			continue
		}
		k := copy(w.buf[len(w.buf):w.chunkSize], p)
		w.buf = w.buf[:len(w.buf)+k]
		p = p[k:]
		n += k
	}
	return n, nil
}

// sealChunk encrypts plaintext (w.buf itself, or a chunk of the caller's
// buffer) into w.buf, hashes and writes it.
func (w *Writer) sealChunk(plaintext []byte, last bool) error {
	chunkNonce(&w.nonce, w.counter, last)
	ct := w.aead.Seal(w.buf[:0], w.nonce[:], plaintext, nil)
	w.commit.Write(ct)
	w.counter++
	w.length += uint64(len(plaintext))
	w.buf = w.buf[:0]
	if _, err := w.dst.Write(ct); err != nil {
		w.err = fmt.Errorf("envelope: writing chunk: %w", err)
		return w.err
	}
	return nil
}

// Close writes the last chunk and the signed footer. It does not close the
// destination. Calling Close again returns the first result.
func (w *Writer) Close() error {
	if w.closed || w.err != nil {
		return w.err
	}
	w.closed = true
	end := w.end
	if end.IsZero() {
		end = w.start
	}
	if !timeRepresentable(end) {
		w.err = errors.New("envelope: end time is outside the representable range (years 1678-2262)")
		return w.err
	}
	if err := w.sealChunk(w.buf, true); err != nil {
		return err
	}
	w.buf = nil
	commitment := w.commit.Sum(nil)
	f := make([]byte, 0, footerSize)
	f = binary.BigEndian.AppendUint64(f, w.length)
	f = binary.BigEndian.AppendUint64(f, uint64(end.UnixNano()))
	f = append(f, commitment...)
	f = append(f, ed25519.Sign(w.signer, signedMessage(commitment, w.length, end.UnixNano()))...)
	if _, err := w.dst.Write(f); err != nil {
		w.err = fmt.Errorf("envelope: writing footer: %w", err)
	}
	return w.err
}

// SealedSize returns the size of the sealed object for a header with the
// given stream length, chunk size (0 for the default) and recipient count,
// and a payload of length bytes.
func SealedSize(streamLen, chunkSize, recipients int, length int64) int64 {
	if chunkSize == 0 {
		chunkSize = DefaultChunkSize
	}
	chunks := max(1, (length+int64(chunkSize)-1)/int64(chunkSize))
	return int64(headerSize(streamLen, recipients)) + length + chunks*tagSize + footerSize
}

// Seal seals plaintext in one call. See [NewWriter] for h and recipients; end
// is the footer's end time (the zero time means h.Start).
func Seal(h Header, end time.Time, signer ed25519.PrivateKey, plaintext []byte, recipients ...Recipient) ([]byte, error) {
	if _, err := checkHeader(h); err != nil {
		return nil, err
	}
	size := SealedSize(len(h.Stream), h.ChunkSize, min(len(recipients), MaxStanzas), int64(len(plaintext)))
	buf := bytes.NewBuffer(make([]byte, 0, size))
	w, err := NewWriter(buf, h, signer, recipients...)
	if err != nil {
		return nil, err
	}
	w.SetEnd(end)
	if _, err := w.Write(plaintext); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
