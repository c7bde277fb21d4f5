package e2e

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"vigil/internal/envelope"
)

// xorshiftBytes is the payload of a browser seal case: Go and
// web/test-src/crypto.ts derive the same n bytes from seed, so megabytes
// need not travel to the browser.
func xorshiftBytes(n int, seed uint32) []byte {
	out := make([]byte, n)
	s := seed
	if s == 0 {
		s = 1
	}
	for i := 0; i < n; i += 4 {
		s ^= s << 13
		s ^= s >> 17
		s ^= s << 5
		for j := 0; j < 4 && i+j < n; j++ {
			out[i+j] = byte(s >> (8 * j))
		}
	}
	return out
}

// sealCase is one object the browser seals (web/test-src/crypto.ts SealCase).
type sealCase struct {
	Name      string `json:"name"`
	Length    int    `json:"length"`
	Seed      uint32 `json:"seed"`
	ChunkSize int    `json:"chunkSize,omitempty"`
	Stream    string `json:"stream"`
	Sequence  string `json:"sequence"`
	Start     string `json:"start"`
	End       string `json:"end,omitempty"`
	Epoch     uint32 `json:"epoch"`
	Blob      bool   `json:"blob,omitempty"`
}

// browserSeal is what sealTest reports.
type browserSeal struct {
	SignPub string `json:"signPub"`
	Results []struct {
		Name     string     `json:"name"`
		Sealed   []byte     `json:"sealed"`
		Progress [][2]int64 `json:"progress"`
		Opened   *struct {
			Same                                 bool
			Kind, Epoch, ChunkSize, Stanzas      int
			Stream, Sequence, Start, End, Length string
		} `json:"opened"`
		OpenError string `json:"openError"`
	} `json:"results"`
	Refused map[string]string `json:"refused"`
	ShaSame []bool            `json:"shaSame"`
}

// sealInput is the browser's input for sealTest: a workspace identity only
// Go holds, an annotator identity the browser opens with, and the cases.
type sealInput struct {
	workspace, annotator *envelope.X25519Identity
	cases                []sealCase
}

func newSealInput(t *testing.T) (*sealInput, map[string]any) {
	t.Helper()
	ws, err := envelope.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	an, err := envelope.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	const start = 1796000000123456789
	cases := []sealCase{
		{Name: "empty", Length: 0, Seed: 1, Stream: "cam-front", Sequence: "0", Start: strconv.Itoa(start), Epoch: 3},
		{Name: "one byte", Length: 1, Seed: 2, Stream: "cam-front", Sequence: "1", Start: strconv.Itoa(start), End: strconv.Itoa(start + 1e9), Epoch: 3},
		{Name: "one whole chunk", Length: 1024, Seed: 3, ChunkSize: 1024, Stream: "Küche", Sequence: "18446744073709551615", Start: "-5", End: "-1", Epoch: 4294967295},
		{Name: "two whole chunks", Length: 2048, Seed: 4, ChunkSize: 1024, Stream: "", Sequence: "7", Start: strconv.Itoa(start), Epoch: 1},
		{Name: "chunks and a partial one", Length: 5*1024 + 100, Seed: 5, ChunkSize: 1024, Stream: "cam-back", Sequence: "42", Start: strconv.Itoa(start), End: strconv.Itoa(start + 30e9), Epoch: 2, Blob: true},
		{Name: "megabytes", Length: 3<<20 + 12345, Seed: 6, Stream: "cam-back", Sequence: "43", Start: strconv.Itoa(start), End: strconv.Itoa(start + 60e9), Epoch: 2, Blob: true},
		{Name: "megabytes from an array", Length: 1<<20 + 1, Seed: 7, ChunkSize: 16 << 10, Stream: "cam-back", Sequence: "44", Start: strconv.Itoa(start), Epoch: 2},
	}
	return &sealInput{workspace: ws, annotator: an, cases: cases}, map[string]any{
		"recipients": []string{ws.Recipient().String(), an.Recipient().String()},
		"annotator":  an.String(),
		"cases":      cases,
	}
}

// checkBrowserSeal: every object the browser sealed with its device key
// opens in Go (internal/envelope) to the payload and header fields it was
// given, with the size Go's SealedSize says, signed by the browser device's
// key and publicly verifiable as the cloud checks uploads; Go refuses it
// when one byte of the header, a chunk or the footer is flipped, when the
// trusted signer is another key and for an identity not among its
// recipients. The browser opened each with its own openObject, reported
// progress chunk by chunk, refused requests the format forbids, and its
// incremental SHA-256 matches WebCrypto's.
func checkBrowserSeal(t *testing.T, in *sealInput, devSignPub string, got browserSeal) {
	t.Helper()
	if got.SignPub != devSignPub || len(devSignPub) != 64 {
		t.Fatalf("the browser sealed with key %s, its device key is %s", got.SignPub, devSignPub)
	}
	pub := mustHex(t, devSignPub)
	trusted := envelope.TrustedKeys{ed25519.PublicKey(pub)}
	otherPub, _, _ := ed25519.GenerateKey(rand.Reader)
	stranger, err := envelope.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Results) != len(in.cases) {
		t.Fatalf("%d seal results for %d cases", len(got.Results), len(in.cases))
	}
	for i, c := range in.cases {
		r := got.Results[i]
		if r.Name != c.Name {
			t.Fatalf("result %d is %q, want %q", i, r.Name, c.Name)
		}
		want := xorshiftBytes(c.Length, c.Seed)
		cs := c.ChunkSize
		if cs == 0 {
			cs = envelope.DefaultChunkSize
		}
		seq, _ := strconv.ParseUint(c.Sequence, 10, 64)
		start, _ := strconv.ParseInt(c.Start, 10, 64)
		end := start
		if c.End != "" {
			end, _ = strconv.ParseInt(c.End, 10, 64)
		}
		if n := envelope.SealedSize(len(c.Stream), cs, 2, int64(c.Length)); int64(len(r.Sealed)) != n {
			t.Errorf("%s: sealed %d bytes, Go's SealedSize says %d", c.Name, len(r.Sealed), n)
		}
		for _, id := range []*envelope.X25519Identity{in.workspace, in.annotator} {
			h, f, pt, err := envelope.Open(r.Sealed, trusted, id)
			if err != nil {
				t.Errorf("%s: Go cannot open the browser's object: %v", c.Name, err)
				continue
			}
			if !bytes.Equal(pt, want) {
				t.Errorf("%s: Go opens %d bytes that differ from the %d sealed", c.Name, len(pt), len(want))
			}
			if h.Kind != envelope.KindClip || h.Stream != c.Stream || h.Sequence != seq || h.Start.UnixNano() != start || h.Epoch != c.Epoch ||
				h.ChunkSize != cs || !bytes.Equal(h.Signer, pub) || f.Length != int64(c.Length) || f.End.UnixNano() != end {
				t.Errorf("%s: Go reads header %+v footer %+v", c.Name, h, f)
			}
		}
		if h, _, err := envelope.VerifyPublic(r.Sealed, trusted); err != nil || h.Stream != c.Stream {
			t.Errorf("%s: the cloud's public check refuses the browser's object: %v", c.Name, err)
		}

		hl := 132 + len(c.Stream) + 2*85
		flips := []struct {
			what string
			off  int
			want error
		}{
			{"a header byte (sequence)", 15 + len(c.Stream) + 7, envelope.ErrCorrupt},
			{"a header byte (epoch)", 31 + len(c.Stream), envelope.ErrCorrupt},
			{"the first chunk's first byte", hl, envelope.ErrCorrupt},
			{"the last chunk's tag", len(r.Sealed) - 112 - 1, envelope.ErrCorrupt},
			{"the footer's commitment", len(r.Sealed) - 112 + 20, envelope.ErrBadSignature},
			{"the footer's signature", len(r.Sealed) - 1, envelope.ErrBadSignature},
			{"the footer's length", len(r.Sealed) - 112 + 7, envelope.ErrBadSignature},
		}
		for _, fl := range flips {
			bad := bytes.Clone(r.Sealed)
			bad[fl.off] ^= 0x01
			if _, _, pt, err := envelope.Open(bad, trusted, in.workspace); !errors.Is(err, fl.want) || pt != nil {
				t.Errorf("%s with %s flipped: %v, want %v", c.Name, fl.what, err, fl.want)
			}
		}
		if _, _, _, err := envelope.Open(r.Sealed, envelope.TrustedKeys{otherPub}, in.workspace); !errors.Is(err, envelope.ErrUntrustedSigner) {
			t.Errorf("%s trusting another key: %v", c.Name, err)
		}
		if _, _, _, err := envelope.Open(r.Sealed, trusted, stranger); !errors.Is(err, envelope.ErrIncorrectIdentity) {
			t.Errorf("%s opened by a stranger: %v", c.Name, err)
		}

		// The browser's own reading of what it sealed.
		o := r.Opened
		if r.OpenError != "" || o == nil || !o.Same || o.Kind != 4 || o.Stream != c.Stream || o.Sequence != c.Sequence || o.Start != c.Start ||
			o.End != strconv.FormatInt(end, 10) || o.Epoch != int(c.Epoch) || o.ChunkSize != cs || o.Length != strconv.Itoa(c.Length) || o.Stanzas != 2 {
			t.Errorf("%s: the browser's openObject: %+v %q", c.Name, o, r.OpenError)
		}
		// Progress: once per chunk, growing, ending at the length.
		chunks := max(1, (c.Length+cs-1)/cs)
		if len(r.Progress) != chunks {
			t.Errorf("%s: %d progress reports for %d chunks", c.Name, len(r.Progress), chunks)
		}
		for j, p := range r.Progress {
			if p[1] != int64(c.Length) || p[0] != int64(min(c.Length, (j+1)*cs)) {
				t.Errorf("%s: progress report %d is %v", c.Name, j, p)
				break
			}
		}
	}

	refusals := map[string]string{
		"kind0": "invalid kind 0", "kind6": "invalid kind 6", "chunk512": "invalid chunk size 512", "noRecipients": "no recipients",
		"shortRecipient": "recipient 0 is not a 32-byte", "lowOrderRecipient": "recipient 0 is not a usable", "longStream": "256 bytes",
		"loneSurrogate": "not valid Unicode", "startRange": "start time", "wrongSigner": "does not verify with its public key", "aborted": "abort",
	}
	for name, want := range refusals {
		if r := got.Refused[name]; !strings.Contains(r, want) {
			t.Errorf("sealing %s: %q, want an error containing %q", name, r, want)
		}
	}
	if fmt.Sprint(got.ShaSame) != "[true true true true true true true true true true true true]" {
		t.Errorf("incremental SHA-256 against WebCrypto: %v", got.ShaSame)
	}
}
