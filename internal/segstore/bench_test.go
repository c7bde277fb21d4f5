package segstore

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"sync/atomic"
	"testing"
)

// BenchmarkPut stores 1 MiB segments, fsyncs included; MB/s is the
// sustained write rate (the hub needs ~12.5 MB/s for 50 cameras).
func BenchmarkPut(b *testing.B) {
	ctx := context.Background()
	s, err := Open(ctx, b.TempDir(), Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	data := make([]byte, 1<<20)
	rand.Read(data)
	b.SetBytes(int64(len(data)))
	var seq uint64
	for b.Loop() {
		if _, err := s.Put(ctx, meta("bench", seq), data); err != nil {
			b.Fatal(err)
		}
		seq++
	}
}

// BenchmarkPutParallel is BenchmarkPut from many camera goroutines at once.
func BenchmarkPutParallel(b *testing.B) {
	ctx := context.Background()
	s, err := Open(ctx, b.TempDir(), Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	data := make([]byte, 1<<20)
	rand.Read(data)
	b.SetBytes(int64(len(data)))
	b.SetParallelism(8)
	var cams atomic.Int64
	b.RunParallel(func(pb *testing.PB) {
		cam := fmt.Sprintf("cam-%d", cams.Add(1))
		var seq uint64
		for pb.Next() {
			if _, err := s.Put(ctx, meta(cam, seq), data); err != nil {
				b.Error(err)
				return
			}
			seq++
		}
	})
}
