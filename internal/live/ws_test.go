package live

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"vigil/internal/devauth"
	"vigil/internal/keydir"
)

// TestRunHubReconnects: the hub's signalling connection comes back after
// the cloud drops it, signed by the hub's device key each time, and says
// hello with its cameras.
func TestRunHubReconnects(t *testing.T) {
	hh := newHousehold(t)
	var hellos, signed atomic.Int32
	up := websocket.Upgrader{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/hub/live" {
			http.NotFound(w, r)
			return
		}
		if strings.HasPrefix(r.Header.Get(devauth.Header), devauth.Scheme+" id="+hh.hub.ID()+",") {
			signed.Add(1)
		}
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		var m Message
		if c.ReadJSON(&m) == nil && m.Type == "hello" && len(m.Cameras) == 1 && m.Cameras[0] == "front" {
			if hellos.Add(1) == 1 {
				return // drop the first connection
			}
		}
		for c.ReadJSON(&m) == nil {
		}
	}))
	defer srv.Close()
	hub := NewHub(HubConfig{Household: hh.st.HouseholdID, Key: hh.hub.Sign, Chain: func() *keydir.State { return hh.st },
		Tap: func(string) *Tap { return nil }, Cameras: func() []string { return []string{"front"} }, Net: loopback})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		RunHub(ctx, hub, srv.URL, hh.hub.ID(), hh.hub.Sign, slog.New(slog.DiscardHandler))
		close(done)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for hellos.Load() < 2 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("RunHub did not stop when its context ended")
	}
	if hellos.Load() < 2 || signed.Load() < 2 {
		t.Fatalf("%d hellos on %d device-signed connections, want 2 each (a reconnection)", hellos.Load(), signed.Load())
	}
}
