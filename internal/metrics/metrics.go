// Package metrics serves a Prometheus registry at /metrics on a listener of
// its own, for the hub and the cloud, and holds the histogram buckets they
// share.
//
// What it owns: the metrics listener's lifecycle (Serve, Close waits for its
// goroutine) and the one page it answers. The collectors live with the
// components they measure (hubd, cloud), each registered on a
// prometheus.Registry its caller passes in; nothing here registers on the
// client library's global default registry.
//
// What it must never do: serve anything but the registry it was given
// (no pprof, no Go runtime collectors added behind the caller's back), or
// accept a request body.
package metrics

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// LatencyBuckets returns the buckets, in seconds, of the latency
// histograms: 1 ms to 10 s.
func LatencyBuckets() []float64 {
	return []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}
}

// StageBuckets returns the buckets, in seconds, of the detection stage
// histograms: 100 µs to 2.5 s.
func StageBuckets() []float64 {
	return []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5}
}

// Handler answers GET /metrics with g's metrics in the Prometheus text (or
// negotiated) exposition format, and every other path with 404.
func Handler(g prometheus.Gatherer) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(g, promhttp.HandlerOpts{
		ErrorHandling:       promhttp.ContinueOnError,
		MaxRequestsInFlight: 4,
		Timeout:             10 * time.Second,
	}))
	return mux
}

// Server serves one registry on its own listener.
type Server struct {
	hs   *http.Server
	addr net.Addr
	done chan struct{}
}

// Serve serves g's metrics on ln until Close. log receives serving errors.
func Serve(ln net.Listener, g prometheus.Gatherer, log *slog.Logger) *Server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		hs: &http.Server{Handler: Handler(g), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: time.Minute,
			ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)},
		addr: ln.Addr(),
		done: make(chan struct{}),
	}
	go func() {
		defer close(s.done)
		if err := s.hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics listener stopped", "err", err)
		}
	}()
	return s
}

// Addr is the address the metrics are served on.
func (s *Server) Addr() net.Addr { return s.addr }

// Close stops serving, giving a scrape under way a second to finish, and
// waits for the serving goroutine.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	err := s.hs.Shutdown(ctx)
	if errors.Is(err, context.DeadlineExceeded) {
		err = s.hs.Close()
	}
	<-s.done
	return err
}
