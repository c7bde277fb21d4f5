package upload

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"vigil/internal/segstore"
)

// benchSegment is the plaintext size of a benchmark segment: about 4 s of
// a 3 Mbit/s camera.
const benchSegment = 1500 << 10

// BenchmarkSegmentBody compares the ways a worker gets a segment's sealed
// bytes: reading the file back as the uploader did (one growing buffer),
// reading it into a buffer sized from the index, or taking the bytes the
// recorder handed to Enqueue. Each is checked with checkSealed. It reports
// CPU time (user+system, from getrusage) and read syscalls (from
// /proc/self/io) per segment.
func BenchmarkSegmentBody(b *testing.B) {
	f := newFixture(&testing.T{}, segstore.Options{})
	defer f.store.Close()
	seg := f.put("cam", baseTime, benchSegment)
	data, err := os.ReadFile(seg.Path)
	if err != nil {
		b.Fatal(err)
	}
	j := job{camera: seg.Camera, seq: seg.Seq, start: seg.Start, bytes: seg.Bytes, path: seg.Path}
	u := &Uploader{}
	for _, mode := range []string{"reread-readall", "reread-sized", "handed"} {
		b.Run(mode, func(b *testing.B) {
			b.SetBytes(seg.Bytes)
			b.ReportAllocs()
			c := startCounters()
			for b.Loop() {
				var body []byte
				var err error
				switch mode {
				case "reread-readall":
					body, err = readAllSealed(j)
				case "reread-sized":
					body, err = u.body(j)
				case "handed":
					u.handoff.put(j.key(), data)
					body, err = u.body(j)
				}
				if err != nil || len(body) != len(data) {
					b.Fatalf("%d bytes, %v", len(body), err)
				}
			}
			c.report(b)
		})
	}
}

// readAllSealed is how the uploader read a segment before it used the
// index's size: io.ReadAll, which grows its buffer as it reads.
func readAllSealed(j job) ([]byte, error) {
	f, err := os.Open(j.path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	body, err := io.ReadAll(io.LimitReader(f, maxObjectBytes+1))
	if err != nil {
		return nil, err
	}
	return body, checkSealed(j, body)
}

// BenchmarkProcess is one upload attempt of a 1.5 MB segment, body to a
// cloud on loopback that reads it and answers 201, with the bytes read back
// from the file or handed over. The CPU time includes the in-process
// cloud's.
func BenchmarkProcess(b *testing.B) {
	f := newFixture(&testing.T{}, segstore.Options{})
	defer f.store.Close()
	seg := f.put("cam", baseTime, benchSegment)
	data, err := os.ReadFile(seg.Path)
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusCreated)
	}))
	defer srv.Close()
	cfg := f.config()
	cfg.CloudURL = srv.URL
	u, err := New(cfg, f.store)
	if err != nil {
		b.Fatal(err)
	}
	defer u.Close()
	j := job{camera: seg.Camera, seq: seg.Seq, start: seg.Start, bytes: seg.Bytes, path: seg.Path}
	for _, mode := range []string{"reread", "handed"} {
		b.Run(mode, func(b *testing.B) {
			b.SetBytes(seg.Bytes)
			b.ReportAllocs()
			c := startCounters()
			for b.Loop() {
				if mode == "handed" {
					u.handoff.put(j.key(), data)
				}
				if out := u.process(context.Background(), j); out != outcomeDone {
					b.Fatalf("outcome %d", out)
				}
			}
			c.report(b)
		})
	}
}

type counters struct {
	cpu   time.Duration
	reads int64
}

func startCounters() counters { return counters{cpuTime(), readSyscalls()} }

func (c counters) report(b *testing.B) {
	b.ReportMetric(float64(cpuTime()-c.cpu)/float64(b.N), "cpu-ns/op")
	b.ReportMetric(float64(readSyscalls()-c.reads)/float64(b.N), "read-syscalls/op")
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// readSyscalls is the process's count of read syscalls (syscr), -1 where
// /proc/self/io is not available.
func readSyscalls() int64 {
	b, err := os.ReadFile("/proc/self/io")
	if err != nil {
		return -1
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "syscr: "); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	return -1
}
