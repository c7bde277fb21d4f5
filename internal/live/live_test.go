package live

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"vigil/internal/keydir"
)

// household is a verified chain with an admin, a member device and a hub.
type household struct {
	admin, member, hub *keydir.DeviceKeys
	st                 *keydir.State
}

func newHousehold(t testing.TB) *household {
	t.Helper()
	var h household
	var err error
	for _, k := range []**keydir.DeviceKeys{&h.admin, &h.member, &h.hub} {
		if *k, err = keydir.NewDeviceKeys(); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now()
	_, _, st, err := keydir.NewHousehold("home", h.admin, "laptop", now)
	if err != nil {
		t.Fatal(err)
	}
	link, err := st.AddDevice(h.admin, h.member.Public(keydir.RoleMember, "phone"), now)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Apply(link); err != nil {
		t.Fatal(err)
	}
	if link, err = st.AddHub(h.admin, keydir.DeviceKey{ID: h.hub.ID(), Role: keydir.RoleHub, Name: "hub", SignPub: h.hub.Sign.Public().(ed25519.PublicKey)}, now); err != nil {
		t.Fatal(err)
	}
	if err := st.Apply(link); err != nil {
		t.Fatal(err)
	}
	h.st = st
	return &h
}

// fakeCamera feeds a Tap synthetic H.264 access units at 30 fps with a
// keyframe every second, until ctx is done.
func fakeCamera(ctx context.Context, tap *Tap) {
	sps := []byte{0x67, 0x42, 0xc0, 0x1f, 0xda, 0x01, 0x40, 0x16, 0xec, 0x04, 0x40}
	pps := []byte{0x68, 0xce, 0x3c, 0x80}
	tap.Start(sps, pps)
	tk := time.NewTicker(time.Second / 30)
	defer tk.Stop()
	for i := int64(0); ; i++ {
		select {
		case <-ctx.Done():
			tap.Stop()
			return
		case <-tk.C:
		}
		body := make([]byte, 2000)
		for j := range body {
			body[j] = byte(i + int64(j))
		}
		if i%30 == 0 {
			tap.Video(i*3000, [][]byte{append([]byte{0x65}, body...)})
		} else {
			tap.Video(i*3000, [][]byte{append([]byte{0x41}, body[:500]...)})
		}
	}
}

var loopback = NetOptions{Loopback: true, Interfaces: func(n string) bool { return n == "lo" }}

func startHub(t *testing.T, hh *household) (*Hub, *Tap) {
	return startHubWith(t, hh, nil)
}

// startHubWith starts a hub of hh fed by a fake camera "front", with mod
// adjusting its config first.
func startHubWith(t *testing.T, hh *household, mod func(*HubConfig)) (*Hub, *Tap) {
	t.Helper()
	tap := NewTap()
	ctx, cancel := context.WithCancel(context.Background())
	go fakeCamera(ctx, tap)
	cfg := HubConfig{Household: hh.st.HouseholdID, Key: hh.hub.Sign, Chain: func() *keydir.State { return hh.st },
		Tap: func(c string) *Tap {
			if c == "front" {
				return tap
			}
			return nil
		}, Net: loopback}
	if mod != nil {
		mod(&cfg)
	}
	hub := NewHub(cfg)
	t.Cleanup(func() { cancel(); hub.Close() })
	return hub, tap
}

// settingsWatch watches "front" with keys and a settings channel.
func settingsWatch(t *testing.T, hub *Hub, hh *household, keys *keydir.DeviceKeys) *Watch {
	t.Helper()
	cfg := viewer(hh, keys)
	cfg.Settings = true
	w, err := StartWatch(context.Background(), cfg, direct(hub))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return w
}

func direct(hub *Hub) Exchange {
	return func(ctx context.Context, m Message) (Message, error) { return hub.Offer(ctx, m), nil }
}

func viewer(hh *household, keys *keydir.DeviceKeys) ViewerConfig {
	return ViewerConfig{Household: hh.st.HouseholdID, Camera: "front", Keys: keys, Chain: hh.st, Net: loopback}
}

func waitFrames(t *testing.T, w *Watch, n uint64) {
	t.Helper()
	deadline := time.After(15 * time.Second)
	for {
		if f, _ := w.Frames(); f >= n {
			return
		}
		select {
		case <-deadline:
			f, b := w.Frames()
			t.Fatalf("viewer got %d frames (%d bytes), want %d", f, b, n)
		case <-w.Failed():
			t.Fatal("viewer connection failed")
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func TestLiveViewerGetsFrames(t *testing.T) {
	hh := newHousehold(t)
	hub, tap := startHub(t, hh)
	time.Sleep(1200 * time.Millisecond) // a group of pictures is cached
	ctx := context.Background()
	start := time.Now()
	w, err := StartWatch(ctx, viewer(hh, hh.member), direct(hub))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	select {
	case <-w.First():
		t.Logf("first frame %v after the offer", time.Since(start).Round(time.Millisecond))
	case <-time.After(10 * time.Second):
		t.Fatal("no frame")
	}
	waitFrames(t, w, 30)
	if n := w.FirstNAL(); n != 7 {
		t.Errorf("first NAL unit type %d, want 7 (SPS: the viewer starts at a keyframe with its parameter sets)", n)
	}
	if tap.Viewers() != 1 || hub.Sessions() != 1 {
		t.Errorf("tap viewers %d, hub sessions %d, want 1", tap.Viewers(), hub.Sessions())
	}
	w.Close()
	deadline := time.Now().Add(10 * time.Second)
	for hub.Sessions() != 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if hub.Sessions() != 0 {
		t.Error("the hub kept the session of a viewer that left")
	}
}

func TestLiveTwoViewers(t *testing.T) {
	hh := newHousehold(t)
	hub, tap := startHub(t, hh)
	var ws []*Watch
	for _, k := range []*keydir.DeviceKeys{hh.member, hh.admin} {
		w, err := StartWatch(context.Background(), viewer(hh, k), direct(hub))
		if err != nil {
			t.Fatal(err)
		}
		defer w.Close()
		ws = append(ws, w)
	}
	var wg sync.WaitGroup
	for _, w := range ws {
		wg.Add(1)
		go func() { defer wg.Done(); waitFrames(t, w, 30) }()
	}
	wg.Wait()
	if tap.Viewers() != 2 {
		t.Errorf("tap has %d viewers, want 2", tap.Viewers())
	}
}

func TestLiveUnknownDeviceRefused(t *testing.T) {
	hh := newHousehold(t)
	hub, _ := startHub(t, hh)
	stranger, _ := keydir.NewDeviceKeys()
	for name, k := range map[string]*keydir.DeviceKeys{"stranger": stranger, "hub key": hh.hub} {
		_, err := StartWatch(context.Background(), viewer(hh, k), direct(hub))
		var he *HubError
		if !errors.As(err, &he) || he.Code != CodeRefused || !strings.Contains(he.Msg, "not an admin or member") {
			t.Errorf("%s: err %v, want a refusal naming the device", name, err)
		}
	}
	if hub.Sessions() != 0 {
		t.Error("a refused viewer has a session")
	}
}

// otherFP is a valid fingerprint of some other certificate.
const otherFP = "sha-256 00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF"

func swapSDP(sdp string) string {
	fp, _ := SDPFingerprint(sdp)
	return strings.ReplaceAll(sdp, "a=fingerprint:"+fp, "a=fingerprint:"+otherFP)
}

func TestLiveSwappedFingerprintRefused(t *testing.T) {
	hh := newHousehold(t)
	hub, _ := startHub(t, hh)
	cases := map[string]struct {
		offer, answer func(*Message)
		hubSide       bool
	}{
		"offer SDP":                  {offer: func(m *Message) { m.SDP = swapSDP(m.SDP) }, hubSide: true},
		"offer SDP and signed":       {offer: func(m *Message) { m.SDP = swapSDP(m.SDP); m.Fingerprint = otherFP }, hubSide: true},
		"answer SDP":                 {answer: func(m *Message) { m.SDP = swapSDP(m.SDP) }},
		"answer SDP and fingerprint": {answer: func(m *Message) { m.SDP = swapSDP(m.SDP); m.Fingerprint = otherFP }},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			ex := func(ctx context.Context, m Message) (Message, error) {
				if c.offer != nil {
					c.offer(&m)
				}
				a := hub.Offer(ctx, m)
				if c.answer != nil && a.Type == "answer" {
					c.answer(&a)
				}
				return a, nil
			}
			_, err := StartWatch(context.Background(), viewer(hh, hh.member), ex)
			var he *HubError
			if c.hubSide {
				if !errors.As(err, &he) || he.Code != CodeRefused {
					t.Fatalf("err %v, want the hub's refusal", err)
				}
				t.Logf("hub: %v", he)
			} else if !errors.Is(err, ErrHubSignature) {
				t.Fatalf("err %v, want ErrHubSignature", err)
			}
		})
	}
}

func TestLiveReplayedOfferRefused(t *testing.T) {
	hh := newHousehold(t)
	hub, _ := startHub(t, hh)
	var saved Message
	ex := func(ctx context.Context, m Message) (Message, error) { saved = m; return hub.Offer(ctx, m), nil }
	w, err := StartWatch(context.Background(), viewer(hh, hh.member), ex)
	if err != nil {
		t.Fatal(err)
	}
	w.Close()
	if a := hub.Offer(context.Background(), saved); a.Type != "error" || a.Code != CodeRefused {
		t.Errorf("replayed offer answered with %q %q", a.Type, a.Error)
	}
}

// TestLiveRemovedDeviceCut: removing a device from the household ends the
// live session it has open, not only its next offer; the other viewer goes
// on watching.
func TestLiveRemovedDeviceCut(t *testing.T) {
	hh := newHousehold(t)
	var chain atomic.Pointer[keydir.State]
	chain.Store(hh.st)
	hub, _ := startHubWith(t, hh, func(c *HubConfig) { c.Chain = chain.Load })
	ctx := context.Background()

	watches := map[string]*Watch{}
	for name, k := range map[string]*keydir.DeviceKeys{"member": hh.member, "admin": hh.admin} {
		w, err := StartWatch(ctx, viewer(hh, k), direct(hub))
		if err != nil {
			t.Fatal(err)
		}
		defer w.Close()
		watches[name] = w
		waitFrames(t, w, 10)
	}
	if n := hub.Revoke(); n != 0 {
		t.Fatalf("Revoke with an unchanged chain ended %d sessions", n)
	}

	next := hh.st.Clone()
	link, err := next.RemoveDevice(hh.admin, hh.member.ID(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := next.Apply(link); err != nil {
		t.Fatal(err)
	}
	chain.Store(next)
	if n := hub.Revoke(); n != 1 {
		t.Fatalf("Revoke ended %d sessions, want the removed member's 1", n)
	}
	if hub.Sessions() != 1 {
		t.Errorf("the hub has %d sessions, want the admin's 1", hub.Sessions())
	}
	select {
	case <-watches["member"].Failed():
	case <-time.After(15 * time.Second):
		t.Error("the removed member's connection is still up 15 s after the hub ended it")
	}
	member, _ := watches["member"].Frames()
	admin, _ := watches["admin"].Frames()
	time.Sleep(time.Second)
	if f, _ := watches["member"].Frames(); f != member {
		t.Errorf("the removed member got %d more frames after its session ended", f-member)
	}
	if f, _ := watches["admin"].Frames(); f < admin+10 {
		t.Errorf("the admin got %d frames in the second after the member was cut, want about 30", f-admin)
	}
}

// TestLiveSettingsChannel: over a session's settings data channel an admin
// device reads and changes a camera's settings, a member device may read
// them but not change them, and malformed requests get a reason, not a
// crash. The handler sees the session's camera and device, never one the
// request names.
func TestLiveSettingsChannel(t *testing.T) {
	hh := newHousehold(t)
	ctx := context.Background()
	var mu sync.Mutex
	var got []SettingsRequest
	current := json.RawMessage(`{"mask":[],"zones":[]}`)
	hub, _ := startHubWith(t, hh, func(c *HubConfig) {
		c.Settings = func(_ context.Context, r SettingsRequest) (SettingsReply, error) {
			mu.Lock()
			defer mu.Unlock()
			got = append(got, r)
			if r.Op == SettingsPut {
				if r.Detect[0] != '{' {
					return SettingsReply{}, errors.New("not an object")
				}
				current = r.Detect
			}
			return SettingsReply{Detect: current, Source: "app", Detecting: true}, nil
		}
	})
	admin, member := settingsWatch(t, hub, hh, hh.admin), settingsWatch(t, hub, hh, hh.member)
	rctx, rcancel := context.WithTimeout(ctx, 15*time.Second)
	defer rcancel()

	zones := json.RawMessage(`{"mask":[],"zones":[{"name":"porch","points":[[0.1,0.5],[0.4,0.5],[0.4,0.9]]}]}`)
	a, err := admin.Settings(rctx, SettingsPut, zones)
	if err != nil || !a.OK || !a.Detecting || a.Source != "app" || string(a.Detect) != string(zones) {
		t.Fatalf("admin put: %+v, %v", a, err)
	}
	a, err = member.Settings(rctx, SettingsGet, nil)
	if err != nil || !a.OK || string(a.Detect) != string(zones) {
		t.Fatalf("member get: %+v, %v", a, err)
	}
	for _, op := range []string{SettingsPut, SettingsReset} {
		a, err = member.Settings(rctx, op, json.RawMessage(`{"mask":[],"zones":[]}`))
		if err != nil || a.OK || !strings.Contains(a.Error, "only an admin device") {
			t.Fatalf("member %s: %+v, %v", op, a, err)
		}
	}
	for name, tc := range map[string]struct {
		op   string
		body json.RawMessage
		want string
	}{
		"unknown op":    {"delete", nil, `unknown op "delete"`},
		"put, no body":  {SettingsPut, nil, `put needs the settings`},
		"handler error": {SettingsPut, json.RawMessage(`"x"`), "not an object"},
	} {
		a, err = admin.Settings(rctx, tc.op, tc.body)
		if err != nil || a.OK || !strings.Contains(a.Error, tc.want) {
			t.Errorf("%s: %+v, %v; want an error with %q", name, a, err, tc.want)
		}
	}
	mu.Lock()
	for _, r := range got {
		if r.Camera != "front" {
			t.Errorf("handler saw camera %q", r.Camera)
		}
		if r.Op != SettingsGet && r.Device != hh.admin.ID() {
			t.Errorf("handler ran %s for device %s", r.Op, r.Device)
		}
	}
	n := len(got)
	mu.Unlock()
	if n != 3 { // put, get, the put the handler refused
		t.Errorf("handler called %d times, want 3", n)
	}

	// Raw messages: not JSON, a bad id, and one too large (the hub
	// answers, then closes the channel).
	for _, raw := range []string{`{"id":`, `{"id":"a b","op":"get"}`, `{"id":"` + strings.Repeat("x", MaxSettingsMessage) + `"}`} {
		if err := admin.settings.dc.SendText(raw); err != nil {
			t.Fatal(err)
		}
		select {
		case b := <-admin.settings.replies:
			var r settingsWire
			if json.Unmarshal(b, &r) != nil || r.OK || r.Error == "" {
				t.Errorf("reply to %.20q: %s", raw, b)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no reply to %.20q", raw)
		}
	}
}

// TestLiveSettingsChannelLimits: a viewer that floods the settings channel
// loses it after the burst, and one that keeps opening other data channels
// loses its session; a well-behaved viewer's channel on the same hub goes on.
func TestLiveSettingsChannelLimits(t *testing.T) {
	hh := newHousehold(t)
	ctx := context.Background()
	hub, _ := startHubWith(t, hh, func(c *HubConfig) {
		c.Settings = func(context.Context, SettingsRequest) (SettingsReply, error) {
			return SettingsReply{Detect: json.RawMessage(`{"mask":[],"zones":[]}`), Source: "config"}, nil
		}
	})
	open := func(k *keydir.DeviceKeys) *Watch { return settingsWatch(t, hub, hh, k) }
	rctx, rcancel := context.WithTimeout(ctx, 15*time.Second)
	defer rcancel()

	flood := open(hh.member)
	if a, err := flood.Settings(rctx, SettingsGet, nil); err != nil || !a.OK {
		t.Fatalf("first get: %+v, %v", a, err)
	}
	closed := make(chan struct{})
	flood.settings.dc.OnClose(func() { close(closed) })
	var replies atomic.Int32
	flood.settings.dc.OnMessage(func(webrtc.DataChannelMessage) { replies.Add(1) })
	for i := range 40 {
		if err := flood.settings.dc.SendText(fmt.Sprintf(`{"id":"f%d","op":"get"}`, i)); err != nil {
			break
		}
	}
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("the hub kept answering a flood of 40 requests")
	}
	if n := replies.Load(); n > settingsBurst || n == 0 {
		t.Errorf("%d replies to the flood, want some, at most the burst of %d", n, settingsBurst)
	}

	greedy := open(hh.admin)
	for i := range maxExtraChannels + 1 {
		if _, err := greedy.pc.CreateDataChannel(fmt.Sprintf("extra-%d", i), nil); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-greedy.Failed():
	case <-time.After(15 * time.Second):
		t.Fatalf("the session of a viewer that opened %d extra data channels goes on", maxExtraChannels+1)
	}

	calm := open(hh.admin)
	if a, err := calm.Settings(rctx, SettingsGet, nil); err != nil || !a.OK {
		t.Fatalf("a calm viewer after the others: %+v, %v", a, err)
	}
}
