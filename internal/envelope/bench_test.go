package envelope

import (
	"bytes"
	"fmt"
	"io"
	"testing"
)

var benchSizes = []int{1 << 20, 16 << 20}

func BenchmarkSeal(b *testing.B) {
	k := newTestKeys(b, 1)
	h := testHeader(0)
	for _, size := range benchSizes {
		pt := randBytes(1, size)
		for _, ws := range []int{size, 32 << 10} {
			name := fmt.Sprintf("%dMiB/write=all", size>>20)
			if ws != size {
				name = fmt.Sprintf("%dMiB/write=%dKiB", size>>20, ws>>10)
			}
			b.Run(name, func(b *testing.B) {
				b.SetBytes(int64(size))
				b.ReportAllocs()
				for b.Loop() {
					w, err := NewWriter(io.Discard, h, k.signer, k.recipients()...)
					if err != nil {
						b.Fatal(err)
					}
					for p := pt; len(p) > 0; p = p[min(ws, len(p)):] {
						w.Write(p[:min(ws, len(p))])
					}
					if err := w.Close(); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

func BenchmarkOpen(b *testing.B) {
	k := newTestKeys(b, 1)
	h := testHeader(0)
	for _, size := range benchSizes {
		sealed := seal(b, k, h, randBytes(1, size))
		b.Run(fmt.Sprintf("%dMiB/Reader", size>>20), func(b *testing.B) {
			b.SetBytes(int64(size))
			b.ReportAllocs()
			buf := make([]byte, 256<<10)
			src := bytes.NewReader(sealed)
			for b.Loop() {
				src.Reset(sealed)
				r, err := NewReader(src, k.verifier(), k.ids[0])
				if err != nil {
					b.Fatal(err)
				}
				if _, err := io.CopyBuffer(io.Discard, struct{ io.Reader }{r}, buf); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("%dMiB/Open", size>>20), func(b *testing.B) {
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				if _, _, _, err := Open(sealed, k.verifier(), k.ids[0]); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkReaderAtChunk(b *testing.B) {
	k := newTestKeys(b, 1)
	h := testHeader(0)
	sealed := seal(b, k, h, randBytes(1, 16<<20))
	ra, err := NewReaderAt(bytes.NewReader(sealed), int64(len(sealed)), k.verifier(), k.ids[0])
	if err != nil {
		b.Fatal(err)
	}
	p := make([]byte, DefaultChunkSize)
	chunks := ra.Size() / DefaultChunkSize
	b.SetBytes(DefaultChunkSize)
	b.ReportAllocs()
	i := int64(0)
	for b.Loop() {
		i = (i*7 + 3) % chunks
		if _, err := ra.ReadAt(p, i*DefaultChunkSize); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkNewReaderAt(b *testing.B) {
	k := newTestKeys(b, 1)
	sealed := seal(b, k, testHeader(0), randBytes(1, 1<<20))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := NewReaderAt(bytes.NewReader(sealed), int64(len(sealed)), k.verifier(), k.ids[0]); err != nil {
			b.Fatal(err)
		}
	}
}
