package envelope

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"testing"
	"time"
)

// object is a sealed object taken apart, for tests that forge objects.
type object struct {
	hdr    *parsedHeader
	chunks [][]byte // ciphertexts
	footer []byte
}

func split(t testing.TB, sealed []byte) *object {
	t.Helper()
	p, err := readHeader(bytes.NewReader(sealed))
	if err != nil {
		t.Fatal(err)
	}
	o := &object{hdr: p, footer: bytes.Clone(sealed[len(sealed)-footerSize:])}
	body := sealed[len(p.raw) : len(sealed)-footerSize]
	for len(body) > 0 {
		n := min(len(body), p.ChunkSize+tagSize)
		o.chunks = append(o.chunks, bytes.Clone(body[:n]))
		body = body[n:]
	}
	o.hdr.raw = bytes.Clone(o.hdr.raw)
	return o
}

func (o *object) bytes() []byte {
	b := slices.Clone(o.hdr.raw)
	for _, c := range o.chunks {
		b = append(b, c...)
	}
	return append(b, o.footer...)
}

// headerOffsets returns the offset of each header field in an object with a
// stream of streamLen bytes.
func headerOffsets(streamLen int) map[string]int {
	o := map[string]int{"magic": 0, "version": 8, "kind": 9, "chunk_size": 10, "stream_len": 14, "stream": 15}
	o["sequence"] = 15 + streamLen
	o["start"] = o["sequence"] + 8
	o["epoch"] = o["start"] + 8
	o["salt"] = o["epoch"] + 4
	o["signer"] = o["salt"] + 32
	o["stanza_count"] = o["signer"] + 32
	o["stanzas"] = o["stanza_count"] + 1
	return o
}

// fileKeyFor plays a recipient: it unwraps the file key of sealed with id.
func fileKeyFor(t testing.TB, sealed []byte, id Identity) []byte {
	t.Helper()
	p, err := readHeader(bytes.NewReader(sealed))
	if err != nil {
		t.Fatal(err)
	}
	k, err := id.Unwrap(p.stanzas)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// remac recomputes the header MAC with the file key.
func (o *object) remac(fileKey []byte) {
	_, macKey := deriveKeys(fileKey, o.hdr.raw[headerOffsets(len(o.hdr.Stream))["salt"]:][:saltSize])
	n := len(o.hdr.raw) - macSize
	copy(o.hdr.raw[n:], headerMAC(macKey, o.hdr.raw[:n]))
}

// resign recomputes the footer commitment and signs it with key.
func (o *object) resign(key ed25519.PrivateKey) {
	h := sha256.New()
	h.Write(o.hdr.raw)
	for _, c := range o.chunks {
		h.Write(c)
	}
	copy(o.footer[16:48], h.Sum(nil))
	f := parseFooter(o.footer)
	copy(o.footer[48:], ed25519.Sign(key, signedMessage(f.commitment, f.length, f.end)))
}

// encryptChunks replaces the payload, encrypted with the file key.
func (o *object) encryptChunks(t testing.TB, fileKey, pt []byte) {
	payloadKey, _ := deriveKeys(fileKey, o.hdr.raw[headerOffsets(len(o.hdr.Stream))["salt"]:][:saltSize])
	block, _ := aes.NewCipher(payloadKey)
	aead, _ := cipher.NewGCM(block)
	o.chunks = nil
	cs := o.hdr.ChunkSize
	for i := 0; i == 0 || i*cs < len(pt); i++ {
		piece := pt[i*cs : min(len(pt), (i+1)*cs)]
		var nonce [nonceSize]byte
		chunkNonce(&nonce, uint64(i), (i+1)*cs >= len(pt))
		o.chunks = append(o.chunks, aead.Seal(nil, nonce[:], piece, nil))
	}
	binary.BigEndian.PutUint64(o.footer[0:8], uint64(len(pt)))
}

// openAll opens sealed with Open, Reader and ReaderAt (reading everything),
// checks that they fail, and returns the three errors.
func openAll(t *testing.T, k *testKeys, sealed []byte, v Verifier, ids ...Identity) (errOpen, errReader, errReaderAt error) {
	t.Helper()
	if v == nil {
		v = k.verifier()
	}
	if len(ids) == 0 {
		ids = []Identity{k.ids[0]}
	}
	_, _, pt, errOpen := Open(sealed, v, ids...)
	if errOpen == nil || pt != nil {
		t.Fatalf("Open succeeded (plaintext %d bytes)", len(pt))
	}
	r, err := NewReader(bytes.NewReader(sealed), v, ids...)
	if err == nil {
		_, err = io.Copy(io.Discard, r)
		if err == nil {
			t.Fatal("Reader reached io.EOF")
		}
	}
	errReader = err
	ra, err := NewReaderAt(bytes.NewReader(sealed), int64(len(sealed)), v, ids...)
	if err == nil {
		_, err = ra.ReadAt(make([]byte, ra.Size()), 0)
		if err == nil {
			err = ra.Verify()
		}
		if err == nil {
			t.Fatal("ReaderAt read and verified everything")
		}
	}
	errReaderAt = err
	return errOpen, errReader, errReaderAt
}

func isOneOf(err error, targets ...error) bool {
	for _, t := range targets {
		if errors.Is(err, t) {
			return true
		}
	}
	return false
}

func wantErr(t *testing.T, name string, err error, targets ...error) {
	t.Helper()
	if !isOneOf(err, targets...) {
		t.Errorf("%s: error %v, want %v", name, err, targets)
	}
}

// expectAll checks the errors of Open, Reader and ReaderAt on sealed.
func expectAll(t *testing.T, k *testKeys, what string, sealed []byte, open, reader, readerAt []error) {
	t.Helper()
	eo, er, era := openAll(t, k, sealed, nil)
	wantErr(t, what+": Open", eo, open...)
	wantErr(t, what+": Reader", er, reader...)
	wantErr(t, what+": ReaderAt", era, readerAt...)
}

func TestFlipEveryByte(t *testing.T) {
	k := newTestKeys(t, 1)
	h := testHeader(MinChunkSize)
	h.Stream = "cam"
	pt := randBytes(1, 2*MinChunkSize+500) // three chunks
	sealed := seal(t, k, h, pt)
	off := headerOffsets(len(h.Stream))
	hdrLen := headerSize(len(h.Stream), 1)
	footerStart := len(sealed) - footerSize

	region := func(i int) []error {
		corrupt := []error{ErrCorrupt}
		switch {
		case i < off["version"]:
			return corrupt
		case i == off["version"]:
			return []error{ErrUnsupportedVersion}
		case i == off["stream_len"]:
			// The fields after it shift: any parse may follow.
			return []error{ErrCorrupt, ErrUntrustedSigner}
		case i >= off["signer"] && i < off["stanza_count"]:
			return []error{ErrUntrustedSigner}
		case i == off["stanzas"]: // stanza type
			return corrupt
		case i > off["stanzas"] && i < off["stanzas"]+stanzaSize:
			return []error{ErrIncorrectIdentity}
		case i < hdrLen:
			return corrupt // fields under the MAC, and the MAC
		case i < footerStart:
			return corrupt // chunk authentication
		}
		return []error{ErrBadSignature}
	}
	for i := range sealed {
		for _, x := range []byte{0x01, 0x80} {
			bad := bytes.Clone(sealed)
			bad[i] ^= x
			want := region(i)
			eo, er, era := openAll(t, k, bad, nil)
			wantErr(t, fmt.Sprintf("byte %d ^ %#x: Open", i, x), eo, want...)
			wantErr(t, fmt.Sprintf("byte %d ^ %#x: Reader", i, x), er, want...)
			wantErr(t, fmt.Sprintf("byte %d ^ %#x: ReaderAt", i, x), era, want...)
		}
	}
}

func TestTruncate(t *testing.T) {
	k := newTestKeys(t, 1)
	sealed := seal(t, k, testHeader(MinChunkSize), randBytes(2, 2*MinChunkSize+100))
	for n := range len(sealed) {
		eo, er, era := openAll(t, k, sealed[:n], nil)
		wantErr(t, fmt.Sprintf("truncated to %d: Open", n), eo, ErrCorrupt)
		wantErr(t, fmt.Sprintf("truncated to %d: Reader", n), er, ErrCorrupt)
		// The footer is found by position, so ReaderAt may see a bad signature.
		wantErr(t, fmt.Sprintf("truncated to %d: ReaderAt", n), era, ErrCorrupt, ErrBadSignature)
	}
	for _, extra := range [][]byte{{0}, make([]byte, footerSize), make([]byte, MinChunkSize+tagSize)} {
		expectAll(t, k, fmt.Sprintf("extended by %d", len(extra)), append(bytes.Clone(sealed), extra...),
			[]error{ErrCorrupt}, []error{ErrCorrupt}, []error{ErrCorrupt, ErrBadSignature})
	}
}

func TestChunkSurgery(t *testing.T) {
	k := newTestKeys(t, 1)
	h := testHeader(MinChunkSize)
	pt := randBytes(3, 4*MinChunkSize) // four full chunks
	sealed := seal(t, k, h, pt)
	corrupt := []error{ErrCorrupt}

	o := split(t, sealed)
	o.chunks = o.chunks[:len(o.chunks)-1]
	expectAll(t, k, "last chunk dropped", o.bytes(), corrupt, corrupt, corrupt)

	o = split(t, sealed)
	o.chunks = o.chunks[:len(o.chunks)-1]
	binary.BigEndian.PutUint64(o.footer[0:8], 3*MinChunkSize)
	expectAll(t, k, "last chunk dropped, length edited", o.bytes(), corrupt, corrupt, []error{ErrBadSignature})

	o = split(t, sealed)
	o.chunks = o.chunks[1:]
	expectAll(t, k, "first chunk dropped", o.bytes(), corrupt, corrupt, corrupt)

	o = split(t, sealed)
	o.chunks[1], o.chunks[2] = o.chunks[2], o.chunks[1]
	expectAll(t, k, "chunks swapped", o.bytes(), corrupt, corrupt, corrupt)

	o = split(t, sealed)
	o.chunks[2], o.chunks[3] = o.chunks[3], o.chunks[2]
	expectAll(t, k, "last chunk swapped", o.bytes(), corrupt, corrupt, corrupt)

	o = split(t, sealed)
	o.chunks = append(o.chunks[:3], o.chunks[2], o.chunks[3])
	expectAll(t, k, "chunk duplicated", o.bytes(), corrupt, corrupt, []error{ErrCorrupt, ErrBadSignature})

	// Splice: same keys, same header fields, same chunk size, other object.
	other := split(t, seal(t, k, h, randBytes(4, 4*MinChunkSize)))
	for i := range 4 {
		o = split(t, sealed)
		o.chunks[i] = other.chunks[i]
		expectAll(t, k, fmt.Sprintf("chunk %d spliced", i), o.bytes(), corrupt, corrupt, corrupt)
	}
	o = split(t, sealed)
	o.footer = other.footer
	expectAll(t, k, "footer spliced", o.bytes(), []error{ErrBadSignature}, []error{ErrBadSignature}, []error{ErrBadSignature, ErrCorrupt})
	o = split(t, sealed)
	o.hdr.raw = other.hdr.raw
	expectAll(t, k, "header spliced", o.bytes(), corrupt, corrupt, corrupt)
}

func TestHeaderEdits(t *testing.T) {
	k := newTestKeys(t, 1)
	h := testHeader(MinChunkSize)
	sealed := seal(t, k, h, randBytes(5, 3000))
	off := headerOffsets(len(h.Stream))
	edits := map[string]func(b []byte) []byte{
		"kind": func(b []byte) []byte { b[off["kind"]] = byte(KindClip); return b },
		"chunk size": func(b []byte) []byte {
			binary.BigEndian.PutUint32(b[off["chunk_size"]:], 2048)
			return b
		},
		"sequence": func(b []byte) []byte { binary.BigEndian.PutUint64(b[off["sequence"]:], 43); return b },
		"start": func(b []byte) []byte {
			binary.BigEndian.PutUint64(b[off["start"]:], uint64(testStart.Add(-time.Hour).UnixNano()))
			return b
		},
		"epoch":       func(b []byte) []byte { binary.BigEndian.PutUint32(b[off["epoch"]:], 6); return b },
		"stream same": func(b []byte) []byte { copy(b[off["stream"]:], "cam-back-door-"); return b },
		"stream longer": func(b []byte) []byte {
			b[off["stream_len"]]++
			return slices.Insert(b, off["stream"], 'x')
		},
		"stream shorter": func(b []byte) []byte {
			b[off["stream_len"]]--
			return slices.Delete(b, off["stream"], off["stream"]+1)
		},
		"salt": func(b []byte) []byte { b[off["salt"]+31] ^= 1; return b },
	}
	for name, edit := range edits {
		bad := edit(bytes.Clone(sealed))
		expectAll(t, k, name, bad, []error{ErrCorrupt}, []error{ErrCorrupt}, []error{ErrCorrupt})
	}
}

func TestWrongKeys(t *testing.T) {
	k := newTestKeys(t, 1)
	other := newTestKeys(t, 1)
	sealed := seal(t, k, testHeader(0), []byte("hello"))

	for name, ids := range map[string][]Identity{"wrong identity": {other.ids[0]}, "no identity": nil} {
		_, _, _, err := Open(sealed, k.verifier(), ids...)
		wantErr(t, name, err, ErrIncorrectIdentity)
		if _, err := NewReader(bytes.NewReader(sealed), k.verifier(), ids...); !errors.Is(err, ErrIncorrectIdentity) {
			t.Errorf("%s: NewReader: %v", name, err)
		}
		if _, err := NewReaderAt(bytes.NewReader(sealed), int64(len(sealed)), k.verifier(), ids...); !errors.Is(err, ErrIncorrectIdentity) {
			t.Errorf("%s: NewReaderAt: %v", name, err)
		}
	}
	_, _, _, err := Open(sealed, other.verifier(), k.ids[0])
	wantErr(t, "untrusted signer", err, ErrUntrustedSigner)
	_, _, _, err = Open(sealed, TrustedKeys{}, k.ids[0])
	wantErr(t, "no trusted signer", err, ErrUntrustedSigner)
	if _, _, _, err = Open(sealed, nil, k.ids[0]); err == nil {
		t.Error("Open with a nil Verifier succeeded")
	}
	if _, _, got, err := Open(sealed, AnySigner{}, k.ids[0]); err != nil || string(got) != "hello" {
		t.Errorf("Open with AnySigner: %v", err)
	}
	// The untrusted-signer error is actionable and names the signer.
	if _, _, _, err := Open(sealed, other.verifier(), k.ids[0]); !bytes.Contains([]byte(err.Error()), []byte(SignerID(k.pub()))) {
		t.Errorf("error does not name the signer: %v", err)
	}
}

type errIdentity struct{ err error }

func (e errIdentity) Unwrap([]*Stanza) ([]byte, error) { return nil, e.err }

func TestIdentityErrors(t *testing.T) {
	k := newTestKeys(t, 1)
	sealed := seal(t, k, testHeader(0), []byte("hello"))
	boom := errors.New("hardware key unplugged")
	_, _, _, err := Open(sealed, k.verifier(), errIdentity{fmt.Errorf("wrapped: %w", ErrIncorrectIdentity)}, k.ids[0])
	if err != nil {
		t.Errorf("an ErrIncorrectIdentity from the first identity stopped the search: %v", err)
	}
	_, _, _, err = Open(sealed, k.verifier(), errIdentity{boom}, k.ids[0])
	if !errors.Is(err, boom) {
		t.Errorf("Open = %v, want the identity's error", err)
	}
}

// TestRecipientForgery plays a malicious co-recipient: it knows the file key
// and tries to pass off its own content as the producer's.
func TestRecipientForgery(t *testing.T) {
	k := newTestKeys(t, 2)
	mallory := k.ids[1]
	h := testHeader(MinChunkSize)
	pt := randBytes(6, 3000)
	sealed := seal(t, k, h, pt)
	fileKey := fileKeyFor(t, sealed, mallory)
	forged := bytes.Clone(pt)
	copy(forged[100:], "nobody was at the door")

	// Re-encrypt a modified payload, keep the header and the footer.
	o := split(t, sealed)
	o.encryptChunks(t, fileKey, forged)
	if !bytes.Equal(o.bytes()[:len(o.hdr.raw)], sealed[:len(o.hdr.raw)]) || len(o.bytes()) != len(sealed) {
		t.Fatal("forgery changed the header or the size")
	}
	expectAll(t, k, "re-encrypted payload", o.bytes(),
		[]error{ErrBadSignature}, []error{ErrBadSignature}, []error{ErrBadSignature})

	// The documented limit of ReaderAt: each chunk passes AEAD, only Verify
	// (or a full read) catches the forgery.
	ra, err := NewReaderAt(bytes.NewReader(o.bytes()), int64(len(sealed)), k.verifier(), k.ids[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := ra.Verify(); !errors.Is(err, ErrBadSignature) {
		t.Errorf("ReaderAt.Verify = %v, want ErrBadSignature", err)
	}

	// Also put the new commitment in the footer, keeping the signature.
	o.resign(k.signer)
	copy(o.footer[48:], sealed[len(sealed)-64:])
	expectAll(t, k, "re-encrypted payload, new commitment", o.bytes(),
		[]error{ErrBadSignature}, []error{ErrBadSignature}, []error{ErrBadSignature})

	// Edit the header and fix its MAC, keep the chunks and the footer.
	o = split(t, sealed)
	binary.BigEndian.PutUint64(o.hdr.raw[headerOffsets(len(h.Stream))["sequence"]:], 1000)
	o.remac(fileKey)
	expectAll(t, k, "header edited, MAC fixed", o.bytes(),
		[]error{ErrBadSignature}, []error{ErrBadSignature}, []error{ErrBadSignature})
	// NewReaderAt alone accepts it (the MAC is right); Verify does not.
	ra, err = NewReaderAt(bytes.NewReader(o.bytes()), int64(len(sealed)), k.verifier(), k.ids[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := ra.Verify(); !errors.Is(err, ErrBadSignature) {
		t.Errorf("ReaderAt.Verify = %v, want ErrBadSignature", err)
	}

	// Re-sign with Mallory's own key: a valid object, but not trusted.
	malloryKey, _ := GenerateSigningKey()
	o = split(t, sealed)
	o.encryptChunks(t, fileKey, forged)
	copy(o.hdr.raw[headerOffsets(len(h.Stream))["signer"]:], malloryKey.Public().(ed25519.PublicKey))
	o.remac(fileKey)
	o.resign(malloryKey)
	expectAll(t, k, "re-signed by another key", o.bytes(),
		[]error{ErrUntrustedSigner}, []error{ErrUntrustedSigner}, []error{ErrUntrustedSigner})
	// Sanity check of the forgery tooling: it is valid for Mallory's key.
	if _, _, got, err := Open(o.bytes(), TrustedKeys{malloryKey.Public().(ed25519.PublicKey)}, k.ids[0]); err != nil || !bytes.Equal(got, forged) {
		t.Fatalf("forged object does not open under its own key: %v", err)
	}
	// Same with the original signer in the header: the signature fails.
	o = split(t, sealed)
	o.encryptChunks(t, fileKey, forged)
	o.resign(malloryKey)
	expectAll(t, k, "signed by another key", o.bytes(),
		[]error{ErrBadSignature}, []error{ErrBadSignature}, []error{ErrBadSignature})
}

func TestNonCanonical(t *testing.T) {
	// An object whose payload is a whole number of chunks must end with a
	// full last chunk, not an empty one; even the signer cannot make one.
	k := newTestKeys(t, 1)
	h := testHeader(MinChunkSize)
	pt := randBytes(7, 2*MinChunkSize)
	sealed := seal(t, k, h, pt)
	fileKey := fileKeyFor(t, sealed, k.ids[0])
	o := split(t, sealed)
	payloadKey, _ := deriveKeys(fileKey, o.hdr.salt)
	block, _ := aes.NewCipher(payloadKey)
	aead, _ := cipher.NewGCM(block)
	var nonce [nonceSize]byte
	chunkNonce(&nonce, 1, false)
	o.chunks[1] = aead.Seal(nil, nonce[:], pt[MinChunkSize:], nil)
	chunkNonce(&nonce, 2, true)
	o.chunks = append(o.chunks, aead.Seal(nil, nonce[:], nil, nil))
	o.resign(k.signer)
	expectAll(t, k, "empty last chunk", o.bytes(), []error{ErrCorrupt}, []error{ErrCorrupt}, []error{ErrCorrupt})

	// A footer length that disagrees with the chunks, signed.
	o = split(t, sealed)
	binary.BigEndian.PutUint64(o.footer[0:8], 5)
	o.resign(k.signer)
	expectAll(t, k, "signed wrong length", o.bytes(), []error{ErrCorrupt}, []error{ErrCorrupt}, []error{ErrCorrupt})
}
