package live

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"vigil/internal/keydir"
)

// camerasWatch watches "front" with keys and a cameras channel (and a
// settings channel: a session may have both).
func camerasWatch(t *testing.T, hub *Hub, hh *household, keys *keydir.DeviceKeys) *Watch {
	t.Helper()
	cfg := viewer(hh, keys)
	cfg.Cameras, cfg.Settings = true, true
	w, err := StartWatch(context.Background(), cfg, direct(hub))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return w
}

// TestLiveCamerasChannel: an admin's requests on the cameras channel reach
// the handler with the op and body as sent, and its result or error comes
// back; a member device is refused at every op and the handler never runs
// for it; a device removed from the chain mid-session is refused at its
// next request. Malformed and oversized messages get an error reply (the
// oversized one then loses the channel), and a flood loses the channel.
func TestLiveCamerasChannel(t *testing.T) {
	hh := newHousehold(t)
	ctx := context.Background()
	var mu sync.Mutex
	var got []CamerasRequest
	var chain = hh.st
	hub, _ := startHubWith(t, hh, func(c *HubConfig) {
		c.Chain = func() *keydir.State { mu.Lock(); defer mu.Unlock(); return chain }
		c.CameraAdmin = func(_ context.Context, r CamerasRequest) (any, error) {
			mu.Lock()
			got = append(got, r)
			mu.Unlock()
			if r.Op == "fail" {
				return nil, errors.New("the camera refused the user name or password")
			}
			return map[string]any{"op": r.Op, "body": r.Body}, nil
		}
		c.Settings = func(context.Context, SettingsRequest) (SettingsReply, error) {
			return SettingsReply{Detect: json.RawMessage(`{}`), Source: "config"}, nil
		}
	})
	admin, member := camerasWatch(t, hub, hh, hh.admin), camerasWatch(t, hub, hh, hh.member)
	rctx, rcancel := context.WithTimeout(ctx, 30*time.Second)
	defer rcancel()

	a, err := admin.Cameras(rctx, "probe", map[string]string{"address": "192.0.2.1", "password": "pw"})
	var res struct {
		Op   string
		Body map[string]string
	}
	if err != nil || !a.OK || json.Unmarshal(a.Result, &res) != nil || res.Op != "probe" || res.Body["password"] != "pw" {
		t.Fatalf("admin probe: %+v %s, %v", a, a.Result, err)
	}
	if a, err := admin.Settings(rctx, SettingsGet, nil); err != nil || !a.OK {
		t.Fatalf("the settings channel of the same session: %+v, %v", a, err)
	}
	if a, err := admin.Cameras(rctx, "fail", nil); err != nil || a.OK || !strings.Contains(a.Error, "refused the user name") {
		t.Errorf("a handler error: %+v, %v", a, err)
	}
	for _, op := range []string{"discover", "probe", "add"} {
		a, err := member.Cameras(rctx, op, map[string]string{"name": "x"})
		if err != nil || a.OK || !strings.Contains(a.Error, "only an admin device") {
			t.Errorf("member %s: %+v, %v", op, a, err)
		}
	}
	mu.Lock()
	for _, r := range got {
		if r.Device != hh.admin.ID() {
			t.Errorf("the handler ran %s for device %s", r.Op, r.Device)
		}
	}
	if len(got) != 2 {
		t.Errorf("handler called %d times, want 2", len(got))
	}
	mu.Unlock()

	// Raw messages: not JSON, a bad id, one too large.
	for _, raw := range []string{`{"id":`, `{"id":"a b","op":"discover"}`, `{"id":"` + strings.Repeat("x", MaxCamerasMessage) + `"}`} {
		if err := admin.cameras.dc.SendText(raw); err != nil {
			t.Fatal(err)
		}
		select {
		case b := <-admin.cameras.replies:
			var r camerasWire
			if json.Unmarshal(b, &r) != nil || r.OK || r.Error == "" {
				t.Errorf("reply to %.20q: %s", raw, b)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no reply to %.20q", raw)
		}
	}
	select {
	case <-admin.cameras.closed:
	case <-time.After(10 * time.Second):
		t.Fatal("the channel stays open after an oversized request")
	}

	// A flood: the channel closes after at most the burst.
	flood := camerasWatch(t, hub, hh, hh.admin)
	if a, err := flood.Cameras(rctx, "discover", nil); err != nil || !a.OK {
		t.Fatalf("first request: %+v, %v", a, err)
	}
	flood.cameras.dc.OnMessage(func(webrtc.DataChannelMessage) {})
	for i := range 60 {
		if err := flood.cameras.dc.SendText(fmt.Sprintf(`{"id":"f%d","op":"discover"}`, i)); err != nil {
			break
		}
	}
	select {
	case <-flood.cameras.closed:
	case <-time.After(10 * time.Second):
		t.Fatal("the hub kept answering a flood of 60 requests")
	}

	// The admin leaves the household: its next request is refused.
	later := camerasWatch(t, hub, hh, hh.admin)
	mu.Lock()
	st := *chain
	st.Devices = map[string]keydir.DeviceKey{}
	for id, d := range chain.Devices {
		if id != hh.admin.ID() {
			st.Devices[id] = d
		}
	}
	chain = &st
	mu.Unlock()
	if a, err := later.Cameras(rctx, "discover", nil); err != nil || a.OK || !strings.Contains(a.Error, "no longer in the household") {
		t.Errorf("a removed admin: %+v, %v", a, err)
	}
}
