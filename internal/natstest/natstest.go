// Package natstest gives tests a NATS server with JetStream: the one
// VIGIL_TEST_NATS names (nats://127.0.0.1:4222 on a machine that runs one),
// else a private nats-server started in-process on 127.0.0.1, port 0, with
// its store in a temporary directory, stopped when the test ends. A test
// that must stop the server for a while (an outage) starts its own with
// Start. Only tests import it.
package natstest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Env names the environment variable holding a shared server's URL.
const Env = "VIGIL_TEST_NATS"

// URL returns the URL of a NATS server with JetStream for t: VIGIL_TEST_NATS
// when it is set, else a private server's.
func URL(t testing.TB) string {
	if u := os.Getenv(Env); u != "" {
		return u
	}
	return Start(t).URL()
}

// Server is a private nats-server that a test may stop and start again, on
// the same address and with the same store.
type Server struct {
	t    testing.TB
	mu   sync.Mutex
	srv  *server.Server
	port int
	dir  string
}

// Start starts a private server for t, stopped at t's cleanup.
func Start(t testing.TB) *Server {
	t.Helper()
	s := &Server{t: t, dir: t.TempDir(), port: server.RANDOM_PORT}
	s.start()
	t.Cleanup(s.Stop)
	return s
}

func (s *Server) start() {
	s.t.Helper()
	opts := &server.Options{
		Host: "127.0.0.1", Port: s.port, JetStream: true, StoreDir: s.dir,
		NoLog: true, NoSigs: true, ServerName: "natstest",
		JetStreamMaxMemory: 64 << 20, JetStreamMaxStore: 1 << 30,
	}
	var err error
	// The port of a server just stopped may take a moment to be free.
	for i := 0; ; i++ {
		var srv *server.Server
		if srv, err = server.NewServer(opts); err == nil {
			srv.Start() // returns once it listens; Shutdown stops it
			if srv.ReadyForConnections(10 * time.Second) {
				s.mu.Lock()
				s.srv = srv
				s.port = srv.Addr().(*net.TCPAddr).Port
				s.mu.Unlock()
				return
			}
			srv.Shutdown()
			err = fmt.Errorf("not ready for connections within 10s")
		}
		if i == 50 {
			s.t.Fatalf("natstest: starting nats-server: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Dir is the directory of the server's JetStream store (streams at rest).
func (s *Server) Dir() string { return s.dir }

// URL is the server's client URL (the same after Restart).
func (s *Server) URL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return fmt.Sprintf("nats://127.0.0.1:%d", s.port)
}

// Stop shuts the server down (Restart starts it again); stopping a stopped
// server does nothing.
func (s *Server) Stop() {
	s.mu.Lock()
	srv := s.srv
	s.srv = nil
	s.mu.Unlock()
	if srv != nil {
		srv.Shutdown()
		srv.WaitForShutdown()
	}
}

// Restart starts a stopped server again on the same port and store.
func (s *Server) Restart() {
	s.t.Helper()
	s.Stop()
	s.start()
}

// Prefix returns a subject and stream prefix of its own for one test on the
// server at url, and deletes the streams under it when the test ends, so
// tests sharing a server see none of each other's messages.
func Prefix(t testing.TB, url string) string {
	var b [6]byte
	rand.Read(b[:])
	p := "t" + hex.EncodeToString(b[:])
	t.Cleanup(func() {
		nc, err := nats.Connect(url, nats.Timeout(2*time.Second))
		if err != nil {
			return // the server is gone, and its streams with it
		}
		defer nc.Close()
		js, err := jetstream.New(nc)
		if err != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		names := js.StreamNames(ctx)
		var mine []string
		for n := range names.Name() {
			if strings.HasPrefix(n, p+"_") {
				mine = append(mine, n)
			}
		}
		for _, n := range mine {
			if err := js.DeleteStream(ctx, n); err != nil {
				t.Logf("natstest: deleting stream %s: %v", n, err)
			}
		}
	})
	return p
}
