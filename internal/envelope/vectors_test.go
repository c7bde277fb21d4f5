package envelope

import (
	"bytes"
	"crypto/ed25519"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"testing"
	"testing/cryptotest"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/vectors.json")

const vectorsPath = "testdata/vectors.json"

// The vector file format is documented in docs/FORMAT.md. 64-bit integers
// are decimal strings, so that JavaScript reads them exactly.
type vectorFile struct {
	Comment string   `json:"comment"`
	Vectors []vector `json:"vectors"`
}

type vector struct {
	Name           string   `json:"name"`
	Description    string   `json:"description"`
	Identities     []string `json:"identities"`
	Recipients     []string `json:"recipients,omitempty"`
	TrustedSigners []string `json:"trusted_signers"`
	Sealed         string   `json:"sealed"`
	Error          string   `json:"error,omitempty"`

	Plaintext    string              `json:"plaintext,omitempty"`
	Header       *vectorHeader       `json:"header,omitempty"`
	Footer       *vectorFooter       `json:"footer,omitempty"`
	Intermediate *vectorIntermediate `json:"intermediate,omitempty"`
}

type vectorHeader struct {
	Kind          int    `json:"kind"`
	KindName      string `json:"kind_name"`
	Stream        string `json:"stream"`
	Sequence      string `json:"sequence"`
	StartUnixNano string `json:"start_unix_nano"`
	Epoch         uint32 `json:"epoch"`
	ChunkSize     int    `json:"chunk_size"`
	Signer        string `json:"signer"`
	Stanzas       int    `json:"stanzas"`
	Length        int    `json:"header_length"`
}

type vectorFooter struct {
	Length      string `json:"length"`
	EndUnixNano string `json:"end_unix_nano"`
	Commitment  string `json:"commitment"`
}

type vectorIntermediate struct {
	FileKey    string `json:"file_key"`
	Salt       string `json:"salt"`
	PayloadKey string `json:"payload_key"`
	MACKey     string `json:"mac_key"`
	HeaderMAC  string `json:"header_mac"`
	Chunks     int    `json:"chunks"`
}

var sentinels = map[string]error{
	"ErrCorrupt":            ErrCorrupt,
	"ErrIncorrectIdentity":  ErrIncorrectIdentity,
	"ErrUntrustedSigner":    ErrUntrustedSigner,
	"ErrBadSignature":       ErrBadSignature,
	"ErrUnsupportedVersion": ErrUnsupportedVersion,
}

func hexPub(k ed25519.PrivateKey) string { return hex.EncodeToString(k.Public().(ed25519.PublicKey)) }

// generateVectors makes the vectors from a deterministic random source.
func generateVectors(t *testing.T) *vectorFile {
	cryptotest.SetGlobalRandom(t, 0x76696769)
	signer, _ := GenerateSigningKey()
	other, _ := GenerateSigningKey()
	alice, _ := GenerateX25519Identity()
	bob, _ := GenerateX25519Identity()
	eve, _ := GenerateX25519Identity()
	start := time.Date(2026, 3, 14, 15, 9, 26, 535897932, time.UTC)
	pattern := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(i * 7)
		}
		return b
	}

	vf := &vectorFile{Comment: "Vigil sealed object format v1 test vectors; see docs/FORMAT.md. Regenerate with: go test ./internal/envelope -run TestVectors -update"}
	positive := func(name, desc string, h Header, pt []byte, ids ...*X25519Identity) []byte {
		var rs []Recipient
		v := vector{Name: name, Description: desc, TrustedSigners: []string{hexPub(signer)}}
		for _, id := range ids {
			rs = append(rs, id.Recipient())
			v.Identities = append(v.Identities, id.String())
			v.Recipients = append(v.Recipients, id.Recipient().String())
		}
		end := h.Start.Add(4*time.Second + 17*time.Millisecond)
		sealed, err := Seal(h, end, signer, pt, rs...)
		if err != nil {
			t.Fatal(err)
		}
		p, _ := readHeader(bytes.NewReader(sealed))
		fileKey := fileKeyFor(t, sealed, ids[0])
		payloadKey, macKey := deriveKeys(fileKey, p.salt)
		f := parseFooter(sealed[len(sealed)-footerSize:])
		v.Sealed = hex.EncodeToString(sealed)
		v.Plaintext = hex.EncodeToString(pt)
		v.Header = &vectorHeader{
			Kind: int(p.Kind), KindName: p.Kind.String(), Stream: p.Stream,
			Sequence: strconv.FormatUint(p.Sequence, 10), StartUnixNano: strconv.FormatInt(p.Start.UnixNano(), 10),
			Epoch: p.Epoch, ChunkSize: p.ChunkSize, Signer: hex.EncodeToString(p.Signer),
			Stanzas: len(p.stanzas), Length: len(p.raw),
		}
		v.Footer = &vectorFooter{
			Length: strconv.FormatUint(f.length, 10), EndUnixNano: strconv.FormatInt(f.end, 10),
			Commitment: hex.EncodeToString(f.commitment),
		}
		v.Intermediate = &vectorIntermediate{
			FileKey: hex.EncodeToString(fileKey), Salt: hex.EncodeToString(p.salt),
			PayloadKey: hex.EncodeToString(payloadKey), MACKey: hex.EncodeToString(macKey),
			HeaderMAC: hex.EncodeToString(p.mac()), Chunks: len(split(t, sealed).chunks),
		}
		vf.Vectors = append(vf.Vectors, v)
		return sealed
	}
	negative := func(name, desc, errName string, sealed []byte, ids []*X25519Identity, trusted ...ed25519.PrivateKey) {
		if len(trusted) == 0 {
			trusted = []ed25519.PrivateKey{signer}
		}
		v := vector{Name: name, Description: desc, Error: errName, Sealed: hex.EncodeToString(sealed)}
		for _, id := range ids {
			v.Identities = append(v.Identities, id.String())
		}
		for _, k := range trusted {
			v.TrustedSigners = append(v.TrustedSigners, hexPub(k))
		}
		vf.Vectors = append(vf.Vectors, v)
	}

	positive("empty", "empty payload: one empty last chunk", Header{
		Kind: KindSegment, Stream: "cam-front", Sequence: 1, Start: start, Epoch: 1,
	}, nil, alice)
	positive("small", "one short chunk, default chunk size", Header{
		Kind: KindSnapshot, Stream: "cam-garden", Sequence: 2, Start: start, Epoch: 1,
	}, []byte("hello, vigil"), alice)
	multi := positive("multi-chunk", "chunk_size 1024, 3000 bytes: chunks of 1024, 1024 and 952", Header{
		Kind: KindClip, Stream: "cam-front", Sequence: 3, Start: start, Epoch: 2, ChunkSize: 1024,
	}, pattern(3000), alice)
	positive("exact-chunks", "chunk_size 1024, 2048 bytes: the last chunk is full", Header{
		Kind: KindSegment, Stream: "doorbell", Sequence: 18446744073709551615, Start: start, Epoch: 4294967295, ChunkSize: 1024,
	}, pattern(2048), alice)
	positive("two-recipients", "sealed to two recipients; each identity opens it alone", Header{
		Kind: KindEvent, Stream: "caméra-entrée", Sequence: 4, Start: start, Epoch: 3, ChunkSize: 1024,
	}, []byte(`{"label":"person","score":0.91,"zone":"porch"}`), alice, bob)

	mut := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(multi)) }
	o := split(t, multi)
	hdrLen := len(o.hdr.raw)
	off := headerOffsets(len(o.hdr.Stream))
	ids := []*X25519Identity{alice}

	negative("bad-magic", "first byte of the magic changed", "ErrCorrupt", mut(func(b []byte) []byte { b[0] = 'V'; return b }), ids)
	negative("version-2", "version byte 0x02", "ErrUnsupportedVersion", mut(func(b []byte) []byte { b[8] = 2; return b }), ids)
	negative("edited-sequence", "sequence changed, MAC not updated", "ErrCorrupt", mut(func(b []byte) []byte { b[off["sequence"]+7] ^= 1; return b }), ids)
	negative("flipped-header-mac", "last byte of the header MAC flipped", "ErrCorrupt", mut(func(b []byte) []byte { b[hdrLen-1] ^= 1; return b }), ids)
	negative("flipped-chunk-byte", "a byte of chunk 1 flipped", "ErrCorrupt", mut(func(b []byte) []byte { b[hdrLen+1040+100] ^= 0x40; return b }), ids)
	negative("dropped-last-chunk", "chunk 2 removed; footer kept", "ErrCorrupt", func() []byte {
		o := split(t, multi)
		o.chunks = o.chunks[:2]
		return o.bytes()
	}(), ids)
	negative("swapped-chunks", "chunks 0 and 1 swapped", "ErrCorrupt", func() []byte {
		o := split(t, multi)
		o.chunks[0], o.chunks[1] = o.chunks[1], o.chunks[0]
		return o.bytes()
	}(), ids)
	negative("truncated-footer", "last byte of the footer removed", "ErrCorrupt", multi[:len(multi)-1], ids)
	negative("flipped-signature", "a byte of the signature flipped", "ErrBadSignature", mut(func(b []byte) []byte { b[len(b)-10] ^= 1; return b }), ids)
	negative("flipped-footer-length", "payload_length changed", "ErrBadSignature", mut(func(b []byte) []byte { b[len(b)-footerSize+7] ^= 1; return b }), ids)
	fileKey := fileKeyFor(t, multi, alice)
	negative("forged-by-recipient", "a recipient re-encrypted a modified payload with the file key; original header and footer", "ErrBadSignature", func() []byte {
		o := split(t, multi)
		pt := pattern(3000)
		copy(pt[1500:], "forged")
		o.encryptChunks(t, fileKey, pt)
		return o.bytes()
	}(), ids)
	negative("resigned-by-other", "a recipient replaced the signer, fixed the MAC and re-signed with its own key", "ErrUntrustedSigner", func() []byte {
		o := split(t, multi)
		copy(o.hdr.raw[off["signer"]:], other.Public().(ed25519.PublicKey))
		o.remac(fileKey)
		o.resign(other)
		return o.bytes()
	}(), ids)
	negative("wrong-identity", "opened with an identity it was not sealed to", "ErrIncorrectIdentity", multi, []*X25519Identity{eve})
	negative("untrusted-signer", "the producer's key is not trusted", "ErrUntrustedSigner", multi, ids, other)
	return vf
}

func TestVectors(t *testing.T) {
	if *update {
		vf := generateVectors(t)
		b, err := json.MarshalIndent(vf, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(vectorsPath, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	vf := loadVectors(t)
	if len(vf.Vectors) < 15 {
		t.Fatalf("only %d vectors", len(vf.Vectors))
	}
	for _, v := range vf.Vectors {
		t.Run(v.Name, func(t *testing.T) { checkVector(t, v) })
	}
}

func loadVectors(t testing.TB) *vectorFile {
	b, err := os.ReadFile(vectorsPath)
	if err != nil {
		t.Fatalf("%v (hint: go test -run TestVectors -update)", err)
	}
	var vf vectorFile
	if err := json.Unmarshal(b, &vf); err != nil {
		t.Fatal(err)
	}
	return &vf
}

// vectorKeys decodes a vector's keys.
func vectorKeys(t testing.TB, v vector) ([]Identity, TrustedKeys) {
	var ids []Identity
	for _, s := range v.Identities {
		id, err := ParseX25519Identity(s)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	var trusted TrustedKeys
	for _, s := range v.TrustedSigners {
		k, err := hex.DecodeString(s)
		if err != nil || len(k) != ed25519.PublicKeySize {
			t.Fatalf("bad trusted signer %q", s)
		}
		trusted = append(trusted, k)
	}
	return ids, trusted
}

func mustHex(t testing.TB, s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func checkVector(t *testing.T, v vector) {
	ids, trusted := vectorKeys(t, v)
	sealed := mustHex(t, v.Sealed)
	if v.Error != "" {
		want, ok := sentinels[v.Error]
		if !ok {
			t.Fatalf("unknown error name %q", v.Error)
		}
		_, _, pt, err := Open(sealed, trusted, ids...)
		if !errors.Is(err, want) || pt != nil {
			t.Fatalf("Open = %v, want %s", err, v.Error)
		}
		r, err := NewReader(bytes.NewReader(sealed), trusted, ids...)
		if err == nil {
			_, err = io.Copy(io.Discard, r)
		}
		if !errors.Is(err, want) {
			t.Fatalf("Reader = %v, want %s", err, v.Error)
		}
		return
	}

	pt := mustHex(t, v.Plaintext)
	for i, id := range ids {
		if got := id.(*X25519Identity).Recipient().String(); got != v.Recipients[i] {
			t.Errorf("identity %d has recipient %s, vector says %s", i, got, v.Recipients[i])
		}
		h, f, got, err := Open(sealed, trusted, id)
		if err != nil {
			t.Fatalf("identity %d: Open: %v", i, err)
		}
		if !bytes.Equal(got, pt) {
			t.Fatalf("identity %d: plaintext mismatch", i)
		}
		checkVectorHeader(t, h, v.Header)
		if strconv.FormatInt(f.Length, 10) != v.Footer.Length || strconv.FormatInt(f.End.UnixNano(), 10) != v.Footer.EndUnixNano {
			t.Errorf("footer %+v, want %+v", f, v.Footer)
		}
		r, err := NewReader(bytes.NewReader(sealed), trusted, id)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := io.ReadAll(r); err != nil || !bytes.Equal(got, pt) {
			t.Fatalf("Reader: %v", err)
		}
		ra, err := NewReaderAt(bytes.NewReader(sealed), int64(len(sealed)), trusted, id)
		if err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, len(pt))
		if n, err := ra.ReadAt(buf, 0); n != len(pt) || err != nil && err != io.EOF || !bytes.Equal(buf, pt) || ra.Verify() != nil {
			t.Fatalf("ReaderAt: %d, %v", n, err)
		}
	}
	h, err := Inspect(bytes.NewReader(sealed))
	if err != nil {
		t.Fatal(err)
	}
	checkVectorHeader(t, h, v.Header)

	// Intermediate values, for implementers.
	p, err := readHeader(bytes.NewReader(sealed))
	if err != nil {
		t.Fatal(err)
	}
	in := v.Intermediate
	fileKey, err := ids[0].Unwrap(p.stanzas)
	if err != nil || hex.EncodeToString(fileKey) != in.FileKey {
		t.Fatalf("file key mismatch: %v", err)
	}
	payloadKey, macKey := deriveKeys(fileKey, p.salt)
	if hex.EncodeToString(p.salt) != in.Salt || hex.EncodeToString(payloadKey) != in.PayloadKey ||
		hex.EncodeToString(macKey) != in.MACKey || hex.EncodeToString(p.mac()) != in.HeaderMAC {
		t.Errorf("intermediate key values differ")
	}
	if len(p.raw) != v.Header.Length || len(split(t, sealed).chunks) != in.Chunks {
		t.Errorf("layout differs")
	}
	if hex.EncodeToString(sealed[len(sealed)-footerSize+16:len(sealed)-64]) != v.Footer.Commitment {
		t.Errorf("commitment differs")
	}
	if binary.BigEndian.Uint64(sealed[len(sealed)-footerSize:]) != uint64(len(pt)) {
		t.Errorf("footer length differs")
	}
}

func checkVectorHeader(t *testing.T, h Header, want *vectorHeader) {
	t.Helper()
	got := fmt.Sprintf("%d %s %q %d %d %d %d %x", h.Kind, h.Kind, h.Stream, h.Sequence, h.Start.UnixNano(), h.Epoch, h.ChunkSize, []byte(h.Signer))
	exp := fmt.Sprintf("%d %s %q %s %s %d %d %s", want.Kind, want.KindName, want.Stream, want.Sequence, want.StartUnixNano, want.Epoch, want.ChunkSize, want.Signer)
	if got != exp {
		t.Errorf("header:\n got %s\nwant %s", got, exp)
	}
}
