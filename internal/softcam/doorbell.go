package softcam

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"
)

// Press is one press of the software doorbell's button.
type Press struct {
	Seq    uint64    `json:"seq"`    // 1 for the first press since New
	Time   time.Time `json:"time"`   // when it was raised
	Source string    `json:"source"` // "http", "signal", "api", ...
}

// PressLog is the presses raised since New.
type PressLog struct {
	Count  uint64  `json:"count"`
	Recent []Press `json:"recent"` // the last maxRecentPresses, oldest first
}

// maxRecentPresses bounds PressLog.Recent.
const maxRecentPresses = 64

// pressSubBuffer is each subscriber's channel capacity; a subscriber that
// falls further behind misses presses (counted in its drop counter) rather
// than delaying the button.
const pressSubBuffer = 16

// presses keeps the presses and fans them out to subscribers.
type presses struct {
	mu     sync.Mutex
	count  uint64
	recent []Press
	subs   map[chan Press]struct{}
	missed uint64
}

func (p *presses) raise(source string) Press {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.count++
	pr := Press{Seq: p.count, Time: time.Now(), Source: source}
	if len(p.recent) == maxRecentPresses {
		copy(p.recent, p.recent[1:])
		p.recent = p.recent[:maxRecentPresses-1]
	}
	p.recent = append(p.recent, pr)
	for ch := range p.subs {
		select {
		case ch <- pr:
		default:
			p.missed++
		}
	}
	return pr
}

func (p *presses) log() PressLog {
	p.mu.Lock()
	defer p.mu.Unlock()
	return PressLog{Count: p.count, Recent: append([]Press{}, p.recent...)}
}

// Press raises a press of the doorbell's button, as the HTTP control
// endpoint and the command's signal do, and returns it. It may be called
// at any time after New, from any goroutine.
func (s *Server) Press(source string) Press {
	pr := s.presses.raise(source)
	s.log.Info("softcam: doorbell pressed", "seq", pr.Seq, "source", source)
	return pr
}

// Presses reports the presses raised since New.
func (s *Server) Presses() PressLog { return s.presses.log() }

// SubscribePresses returns a channel that receives every later press, and
// a function that ends the subscription (and closes the channel). Delivery
// never blocks the press: a subscriber more than a few presses behind
// misses some (the PressLog still has them).
func (s *Server) SubscribePresses() (<-chan Press, func()) {
	ch := make(chan Press, pressSubBuffer)
	p := &s.presses
	p.mu.Lock()
	if p.subs == nil {
		p.subs = make(map[chan Press]struct{})
	}
	p.subs[ch] = struct{}{}
	p.mu.Unlock()
	var once sync.Once
	return ch, func() {
		once.Do(func() {
			p.mu.Lock()
			delete(p.subs, ch)
			p.mu.Unlock()
			close(ch)
		})
	}
}

// ControlAddr is the host:port of the HTTP control endpoint; "" when
// Config.Control is empty or before Start.
func (s *Server) ControlAddr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.controlAddr
}

// startControl listens on Config.Control and serves:
//
//	POST /press    raise a press; answers the Press as JSON
//	GET  /presses  the PressLog as JSON
//	GET  /backchannel  the BackChannelStats as JSON (with the last sound heard after silence)
//	POST /burst    a tone burst (Config.AudioBursts); answers a BurstSent
//	POST /motion, POST /tamper, GET /alarms: the camera's own alarms (alarms.go)
//
// It has no authentication: it is meant for loopback, as its default is.
func (s *Server) startControl(ctx context.Context) (net.Listener, *http.Server, error) {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", s.cfg.Control)
	if err != nil {
		return nil, nil, fmt.Errorf("softcam: control endpoint: %w", err)
	}
	if host, _, _ := net.SplitHostPort(s.cfg.Control); host != "" {
		if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
			s.log.Warn("softcam: the control endpoint has no authentication and listens beyond loopback", "addr", ln.Addr().String())
		}
	} else {
		s.log.Warn("softcam: the control endpoint has no authentication and listens on every interface", "addr", ln.Addr().String())
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /press", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, s.Press("http"))
	})
	mux.HandleFunc("GET /presses", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, s.Presses())
	})
	mux.HandleFunc("GET /backchannel", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, s.BackChannelStats())
	})
	mux.HandleFunc("POST /burst", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		defer cancel()
		t, err := s.Burst(ctx)
		if err != nil {
			http.Error(w, err.Error(), http.StatusConflict)
			return
		}
		writeJSON(w, BurstSent{Time: t, UnixMs: float64(t.UnixMicro()) / 1e3})
	})
	s.alarmRoutes(mux)
	hs := &http.Server{
		Handler:           http.MaxBytesHandler(mux, 1<<10),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      10 * time.Second,
		MaxHeaderBytes:    8 << 10,
	}
	return ln, hs, nil
}

// BurstSent is the control endpoint's answer to POST /burst: when the
// burst's first packet left the camera.
type BurstSent struct {
	Time   time.Time `json:"time"`
	UnixMs float64   `json:"unix_ms"` // Time in milliseconds since 1970, for scripts
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(v)
}

// serveControl runs hs until it is shut down.
func (s *Server) serveControl(ln net.Listener, hs *http.Server) {
	if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		s.log.Error("softcam: control endpoint stopped", "err", err)
	}
}
