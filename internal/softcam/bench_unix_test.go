//go:build unix

package softcam

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/pion/rtp"
)

// BenchmarkServe50 serves vtest.avi on 50 paths, each read by one TCP
// client in this process that depacketizes every frame. One op is one
// frame sent (on any path). Reported: process CPU per frame and CPU use
// as a percentage of one core; client work is included.
//
//	go test -run '^$' -bench Serve50 -benchtime 5s ./internal/softcam
//
// The clip is prepared into the user cache directory, as the tool would.
func BenchmarkServe50(b *testing.B) { benchServe(b, 50, gortsplibReaders) }

// BenchmarkServe1 is the single-path baseline for BenchmarkServe50.
func BenchmarkServe1(b *testing.B) { benchServe(b, 1, gortsplibReaders) }

// BenchmarkServe50NoReaders is the same without clients: the cost of
// pacing 50 live paths nobody watches.
func BenchmarkServe50NoReaders(b *testing.B) { benchServe(b, 50, noReaders) }

// BenchmarkServe50RawReaders reads each path with a hand-made RTSP client
// that only drains the TCP connection, so nearly all CPU is the server's.
func BenchmarkServe50RawReaders(b *testing.B) { benchServe(b, 50, rawReaders) }

type readerKind int

const (
	noReaders readerKind = iota
	gortsplibReaders
	rawReaders
)

func benchServe(b *testing.B, nPaths int, readers readerKind) {
	needVtest(b)
	base, err := os.UserCacheDir()
	if err != nil {
		b.Skip(err)
	}
	paths := make([]string, nPaths)
	for i := range paths {
		paths[i] = fmt.Sprintf("cam%02d", i)
	}
	s, err := New(Config{
		Listen: "127.0.0.1:0", Paths: paths,
		CacheDir: filepath.Join(base, "vigil", "softcam"),
		Logger:   slog.New(slog.DiscardHandler),
	})
	if err != nil {
		b.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	defer s.Close()

	var received atomic.Uint64
	for _, p := range paths {
		switch readers {
		case gortsplibReaders:
			c := benchReader(b, s.URL(p), &received)
			defer c.Close()
		case rawReaders:
			c, err := net.Dial("tcp", s.Addr())
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			if _, err := rawPlay(c, s.URL(p)); err != nil {
				b.Fatal(err)
			}
			go io.Copy(io.Discard, c)
		}
	}
	time.Sleep(500 * time.Millisecond)

	sent := func() uint64 {
		var n uint64
		for _, ps := range s.Stats() {
			n += ps.FramesSent
		}
		return n
	}
	b.ResetTimer()
	f0, r0, cpu0, t0 := sent(), received.Load(), cpuTime(b), time.Now()
	for sent()-f0 < uint64(b.N) {
		time.Sleep(5 * time.Millisecond)
	}
	frames, cpu, wall := sent()-f0, cpuTime(b)-cpu0, time.Since(t0)
	b.StopTimer()

	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	b.ReportMetric(float64(ms.HeapInuse)/(1<<20), "heap-MiB")
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(frames), "cpu-ns/frame")
	b.ReportMetric(100*cpu.Seconds()/wall.Seconds(), "cpu%")
	if readers == gortsplibReaders {
		b.ReportMetric(float64(received.Load()-r0)/float64(frames), "received/sent")
	}
}

func benchReader(b *testing.B, url string, received *atomic.Uint64) *gortsplib.Client {
	u, err := base.ParseURL(url)
	if err != nil {
		b.Fatal(err)
	}
	tcp := gortsplib.ProtocolTCP
	c := &gortsplib.Client{Scheme: u.Scheme, Host: u.Host, Protocol: &tcp}
	if err := c.Start(); err != nil {
		b.Fatal(err)
	}
	desc, _, err := c.Describe(u)
	if err != nil {
		b.Fatal(err)
	}
	var forma *format.H264
	medi := desc.FindFormat(&forma)
	dec, err := forma.CreateDecoder()
	if err != nil {
		b.Fatal(err)
	}
	if _, err := c.Setup(desc.BaseURL, medi, 0, 0); err != nil {
		b.Fatal(err)
	}
	c.OnPacketRTP(medi, forma, func(pkt *rtp.Packet) {
		if _, err := dec.Decode(pkt); err == nil {
			received.Add(1)
		}
	})
	if _, err := c.Play(nil); err != nil {
		b.Fatal(err)
	}
	return c
}

// cpuTime is the user+system CPU time used by this process so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
