package envelope

import (
	"bytes"
	"encoding/hex"
	"io"
	"testing"
	"time"
)

// FuzzOpen feeds arbitrary bytes to every reader. None may panic, and none
// may return verified plaintext for bytes other than an object the trusted
// signer produced (the positive vectors).
func FuzzOpen(f *testing.F) {
	vf := loadVectors(f)
	var ids []Identity
	var trusted TrustedKeys
	valid := map[string][]byte{} // sealed -> plaintext
	for _, v := range vf.Vectors {
		sealed, _ := hex.DecodeString(v.Sealed)
		f.Add(sealed)
		if v.Error != "" {
			continue
		}
		vids, vtrusted := vectorKeys(f, v)
		ids = append(ids, vids...)
		trusted = append(trusted, vtrusted...)
		valid[string(sealed)], _ = hex.DecodeString(v.Plaintext)
		// Tampered variants: truncations and flips at interesting places.
		for _, n := range []int{0, 9, 20, 60, len(sealed) / 2, len(sealed) - footerSize, len(sealed) - 1} {
			f.Add(sealed[:n])
		}
		for _, i := range []int{8, 9, 14, 60, len(sealed) - 200, len(sealed) - 100, len(sealed) - 1} {
			if i >= 0 && i < len(sealed) {
				b := bytes.Clone(sealed)
				b[i] ^= 0x5a
				f.Add(b)
			}
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		Inspect(bytes.NewReader(data))

		check := func(how string, pt []byte) {
			want, ok := valid[string(data)]
			if !ok {
				t.Fatalf("%s accepted bytes the signer did not produce (%d bytes)", how, len(data))
			}
			if !bytes.Equal(pt, want) {
				t.Fatalf("%s returned the wrong plaintext", how)
			}
		}
		if _, _, pt, err := Open(data, trusted, ids...); err == nil {
			check("Open", pt)
		} else if pt != nil {
			t.Fatal("Open returned plaintext with an error")
		}
		if r, err := NewReader(bytes.NewReader(data), trusted, ids...); err == nil {
			if pt, err := io.ReadAll(r); err == nil {
				check("Reader", pt)
			}
		}
		if ra, err := NewReaderAt(bytes.NewReader(data), int64(len(data)), trusted, ids...); err == nil {
			pt := make([]byte, ra.Size())
			if n, err := ra.ReadAt(pt, 0); err == nil || err == io.EOF && n == len(pt) {
				// Without Verify, ReaderAt trusts co-recipients with the
				// chunks (see its doc, and the forged-by-recipient vector),
				// but header and footer must be the signer's.
				if !sameFrame(valid, data, int(ra.hdrLen)) {
					t.Fatal("ReaderAt accepted a header or footer the signer did not produce")
				}
			}
			ra.ReadAt(make([]byte, 10), ra.Size()/2)
			if ra.Verify() == nil {
				check("ReaderAt.Verify", pt)
			}
		}
	})
}

// FuzzRoundTrip seals random plaintexts with random chunk sizes and write
// patterns and checks that every reader returns them.
func FuzzRoundTrip(f *testing.F) {
	f.Add([]byte(""), uint16(0), uint16(1))
	f.Add([]byte("hello"), uint16(1), uint16(3))
	f.Add(bytes.Repeat([]byte{1}, 1024), uint16(0), uint16(1000))
	f.Add(bytes.Repeat([]byte{2}, 5000), uint16(1), uint16(1025))
	f.Add(bytes.Repeat([]byte{3}, 3000), uint16(2000), uint16(0))
	k := newTestKeys(f, 2)
	f.Fuzz(func(t *testing.T, pt []byte, cs uint16, step uint16) {
		h := testHeader(MinChunkSize + int(cs)%(4*MinChunkSize))
		var buf bytes.Buffer
		w, err := NewWriter(&buf, h, k.signer, k.recipients()...)
		if err != nil {
			t.Fatal(err)
		}
		w.SetEnd(h.Start.Add(time.Second))
		s := max(1, int(step))
		for rest := pt; len(rest) > 0; {
			n := min(s, len(rest))
			if _, err := w.Write(rest[:n]); err != nil {
				t.Fatal(err)
			}
			rest = rest[n:]
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		sealed := buf.Bytes()
		if int64(len(sealed)) != SealedSize(len(h.Stream), h.ChunkSize, 2, int64(len(pt))) {
			t.Fatal("SealedSize is wrong")
		}
		for _, id := range k.ids {
			gh, f, got, err := Open(sealed, k.verifier(), id)
			if err != nil || !bytes.Equal(got, pt) || f.Length != int64(len(pt)) || gh.ChunkSize != h.ChunkSize {
				t.Fatalf("Open: %v", err)
			}
		}
		r, err := NewReader(bytes.NewReader(sealed), k.verifier(), k.ids[1])
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(r)
		if err != nil || !bytes.Equal(got, pt) {
			t.Fatalf("Reader: %v", err)
		}
		ra, err := NewReaderAt(bytes.NewReader(sealed), int64(len(sealed)), k.verifier(), k.ids[0])
		if err != nil {
			t.Fatal(err)
		}
		if len(pt) > 0 {
			off := int(step) % len(pt)
			p := make([]byte, min(len(pt)-off, 3*h.ChunkSize))
			if n, err := ra.ReadAt(p, int64(off)); n != len(p) || (err != nil && err != io.EOF) || !bytes.Equal(p, pt[off:off+n]) {
				t.Fatalf("ReadAt: %d, %v", n, err)
			}
		}
	})
}

// sameFrame reports whether data has the header and footer of one of the
// valid objects.
func sameFrame(valid map[string][]byte, data []byte, hdrLen int) bool {
	for v := range valid {
		if len(v) == len(data) && v[:hdrLen] == string(data[:hdrLen]) && v[len(v)-footerSize:] == string(data[len(data)-footerSize:]) {
			return true
		}
	}
	return false
}
