package e2e

import (
	"context"
	"encoding/base32"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"vigil/internal/browsertest"
	"vigil/internal/client"
	"vigil/internal/cloud"
	"vigil/internal/cloud/auth"
	"vigil/internal/cloud/liveview"
	"vigil/internal/config"
	"vigil/internal/hubd"
	"vigil/internal/keydir"
	"vigil/internal/live"
	"vigil/internal/member"
	"vigil/internal/pairing"
	"vigil/internal/softcam"
	"vigil/internal/vigiltest"
)

var accountSeq atomic.Int64

// account signs up and signs in (API token).
func account(t testing.TB, url string) (*client.Client, string) {
	t.Helper()
	ctx := context.Background()
	c := client.New(url)
	email := fmt.Sprintf("live%d-%d@example.com", os.Getpid(), accountSeq.Add(1))
	res, err := c.SignUp(ctx, email, "a long enough password")
	if err != nil {
		t.Fatal(err)
	}
	secret, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(res.TOTPSecret)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.SignIn(ctx, email, "a long enough password", auth.TOTPCode(secret, time.Now())); err != nil {
		t.Fatal(err)
	}
	return c, email
}

// liveHousehold is a household in the cloud with an admin device, a paired
// hub recording a software camera ("front"), and the hub's live view up.
type liveHousehold struct {
	cloud   *cloudEnv
	c       *client.Client // the admin's account
	admin   *keydir.DeviceKeys
	st      *keydir.State
	genesis []byte
	hub     *hubd.Hub
	cam     *softcam.Server // the camera "front"
}

func (h *liveHousehold) id() string { return h.st.HouseholdID }

// addDevice adds a member device to the chain (signed by the admin).
func (h *liveHousehold) addDevice(t testing.TB, dev keydir.DeviceKey) {
	t.Helper()
	link, err := h.st.AddDevice(h.admin, dev, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := h.c.AppendLink(context.Background(), h.id(), link); err != nil {
		t.Fatal(err)
	}
	if err := h.st.Apply(link); err != nil {
		t.Fatal(err)
	}
}

func startLiveHousehold(t *testing.T, mod func(*cloud.Options)) *liveHousehold {
	t.Helper()
	return startLiveHouseholdAudio(t, mod, softcam.AudioNone)
}

// startLiveHouseholdAudio is startLiveHousehold with a camera serving audio
// (a softcam.Audio codec) with its video.
func startLiveHouseholdAudio(t *testing.T, mod func(*cloud.Options), audio string) *liveHousehold {
	t.Helper()
	return startLiveHouseholdCam(t, mod, softcam.Config{Audio: audio}, nil)
}

// startLiveHouseholdCam is startLiveHousehold with the camera "front"
// served by a software camera configured by camCfg (its listen address,
// paths and logger are set here); hubMod, when set, adjusts the hub's
// config and options once the camera runs.
func startLiveHouseholdCam(t *testing.T, mod func(*cloud.Options), camCfg softcam.Config, hubMod func(*softcam.Server, *config.Hub, *hubd.Options)) *liveHousehold {
	t.Helper()
	env := startCloud(t, mod)
	ctx := context.Background()
	c, _ := account(t, env.url)
	admin, err := keydir.NewDeviceKeys()
	if err != nil {
		t.Fatal(err)
	}
	g, _, st, err := keydir.NewHousehold("Home", admin, "laptop", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateHousehold(ctx, g); err != nil {
		t.Fatal(err)
	}
	lh := &liveHousehold{cloud: env, c: c, admin: admin, st: st, genesis: st.GenesisHash}

	vigiltest.RequireTool(t, "ffmpeg", "ffmpeg")
	if _, err := os.Stat(softcam.DefaultFile); err != nil {
		t.Fatalf("test footage missing: %v (install it with: apt-get install opencv-doc, or run 'make test')", err)
	}
	camCfg.Listen, camCfg.Paths, camCfg.Logger = "127.0.0.1:0", []string{"front"}, vigiltest.Logger(t).With("component", "softcam")
	cam := vigiltest.StartSoftcam(t, camCfg)
	lh.cam = cam

	cfg := &config.Hub{Data: t.TempDir(), SegmentDuration: config.Duration(2 * time.Second),
		Cameras: []config.Camera{{Name: "front", URL: cam.URL("front"), Transport: "tcp"}},
		Cloud:   &config.Cloud{URL: env.url, UploadOrder: config.UploadOldest}}
	cfg.ApplyDefaults()
	pairHub(t, env.url, cfg.Data, lh)
	// The chain now lists the hub.
	if lh.st, err = member.VerifiedChain(ctx, c, lh.id(), lh.genesis); err != nil {
		t.Fatal(err)
	}
	opts := hubd.Options{Logger: vigiltest.Logger(t).With("component", "hub"), LiveNet: live.NetOptions{Loopback: true}}
	if hubMod != nil {
		hubMod(cam, cfg, &opts)
	}
	hub, err := hubd.New(cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := hub.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hub.Close() })
	lh.hub = hub
	return lh
}

// pairHub pairs the hub in dataDir with the household (both sides).
func pairHub(t *testing.T, url, dataDir string, lh *liveHousehold) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	codes := make(chan string, 1)
	errc := make(chan error, 1)
	go func() {
		_, err := hubd.Pair(ctx, dataDir, hubd.PairOptions{Cloud: url, Name: "hub", Poll: 50 * time.Millisecond,
			ShowCode: func(code string) { codes <- code }})
		errc <- err
	}()
	var code string
	select {
	case code = <-codes:
	case err := <-errc:
		t.Fatalf("pairing: %v", err)
	}
	pc, err := pairing.ParseCode(code)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := member.PairHub(ctx, lh.c, lh.id(), lh.genesis, lh.admin, pc, 50*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

func bearer(c *client.Client) http.Header {
	return http.Header{"Authorization": {"Bearer " + c.Token}}
}

// watch connects a Go viewer with the device keys through the cloud,
// retrying while the hub's signalling connection is not up yet.
func watch(t *testing.T, lh *liveHousehold, keys *keydir.DeviceKeys, net live.NetOptions, ice []live.ICEServer) (*live.Watch, time.Duration) {
	t.Helper()
	return watchWith(t, lh, live.ViewerConfig{Household: lh.id(), Camera: "front", Keys: keys, Chain: lh.st, Net: net, ICE: ice})
}

// watchWith is watch with the viewer configured by cfg.
func watchWith(t *testing.T, lh *liveHousehold, cfg live.ViewerConfig) (*live.Watch, time.Duration) {
	t.Helper()
	ctx := context.Background()
	vc, err := live.DialViewer(ctx, lh.cloud.url, lh.id(), bearer(lh.c))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { vc.Close() })
	deadline := time.Now().Add(30 * time.Second)
	for {
		start := time.Now()
		w, err := live.StartWatch(ctx, cfg, vc.Exchange)
		var he *live.HubError
		if errors.As(err, &he) && (he.Code == live.CodeHubOffline || he.Code == live.CodeNoCamera) && time.Now().Before(deadline) {
			time.Sleep(100 * time.Millisecond)
			continue
		}
		if err != nil {
			t.Fatalf("watch: %v", err)
		}
		t.Cleanup(func() { w.Close() })
		select {
		case <-w.First():
		case <-w.Failed():
			t.Fatal("the live connection failed")
		case <-time.After(20 * time.Second):
			t.Fatal("no frame within 20 s")
		}
		return w, time.Since(start)
	}
}

func waitFrames(t *testing.T, w *live.Watch, n uint64) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if f, _ := w.Frames(); f >= n {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	f, b := w.Frames()
	t.Fatalf("viewer got %d frames (%d bytes), want %d", f, b, n)
}

// TestLiveViewThroughCloud: two viewers (the admin's device and a member
// device) watch the hub's camera at once through the cloud's signalling;
// the cloud recorded the access.
func TestLiveViewThroughCloud(t *testing.T) {
	lh := startLiveHousehold(t, nil)
	phone, _ := keydir.NewDeviceKeys()
	lh.addDevice(t, phone.Public(keydir.RoleMember, "phone"))
	loop := live.NetOptions{Loopback: true}
	var wg sync.WaitGroup
	var ws [2]*live.Watch
	w0, first := watch(t, lh, lh.admin, loop, nil)
	t.Logf("first live frame %v after the offer (viewer 1)", first.Round(time.Millisecond))
	ws[0] = w0
	ws[1], first = watch(t, lh, phone, loop, nil)
	t.Logf("first live frame %v after the offer (viewer 2)", first.Round(time.Millisecond))
	for _, w := range ws {
		wg.Add(1)
		go func() { defer wg.Done(); waitFrames(t, w, 60) }()
	}
	wg.Wait()
	for i, w := range ws {
		if n := w.FirstNAL(); n != 7 {
			t.Errorf("viewer %d: first NAL unit type %d, want 7 (SPS)", i+1, n)
		}
	}
	if n := lh.hub.Live().Sessions(); n != 2 {
		t.Errorf("hub has %d live sessions, want 2", n)
	}
	views := int64(0)
	for _, a := range lh.cloud.history(t, lh.c, lh.id(), lh.genesis, lh.admin, nil) {
		if a.Action == "live.view" {
			views += a.Count
		}
	}
	if views < 2 {
		t.Errorf("%d live.view access records, want 2", views)
	}
}

// TestLiveRemovedDeviceCutThroughCloud: an admin removes a device that is
// watching live; the cloud tells the hub the chain changed, the hub fetches
// and verifies it and ends that device's session within seconds (its
// periodic chain refresh is a minute away), while the admin goes on
// watching; the removed device's next offer is refused.
func TestLiveRemovedDeviceCutThroughCloud(t *testing.T) {
	lh := startLiveHousehold(t, nil)
	phone, _ := keydir.NewDeviceKeys()
	lh.addDevice(t, phone.Public(keydir.RoleMember, "phone"))
	loop := live.NetOptions{Loopback: true}
	admin, _ := watch(t, lh, lh.admin, loop, nil)
	cut, _ := watch(t, lh, phone, loop, nil)
	waitFrames(t, cut, 20)

	link, err := lh.st.RemoveDevice(lh.admin, phone.ID(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	removed := time.Now()
	if err := lh.c.AppendLink(context.Background(), lh.id(), link); err != nil {
		t.Fatal(err)
	}
	if err := lh.st.Apply(link); err != nil {
		t.Fatal(err)
	}
	select {
	case <-cut.Failed():
		t.Logf("the removed device's live session ended %v after the removal", time.Since(removed).Round(time.Millisecond))
	case <-time.After(15 * time.Second):
		t.Fatal("the removed device still watches 15 s after its removal")
	}
	before, _ := admin.Frames()
	waitFrames(t, admin, before+20)
	if n := lh.hub.Live().Sessions(); n != 1 {
		t.Errorf("the hub has %d live sessions, want the admin's 1", n)
	}

	vc, err := live.DialViewer(context.Background(), lh.cloud.url, lh.id(), bearer(lh.c))
	if err != nil {
		t.Fatal(err)
	}
	defer vc.Close()
	_, err = live.StartWatch(context.Background(), live.ViewerConfig{Household: lh.id(), Camera: "front", Keys: phone, Chain: lh.st, Net: loop}, vc.Exchange)
	var he *live.HubError
	if !errors.As(err, &he) || he.Code != live.CodeRefused {
		t.Errorf("the removed device's new offer: %v, want refused", err)
	}
}

// TestLiveNonMemberCannotSignal: an account that is not a member gets the
// same answer as for a household that does not exist; a page of another
// origin cannot open the WebSocket with a member's credentials; a device
// the chain does not list is refused by the hub.
func TestLiveNonMemberCannotSignal(t *testing.T) {
	lh := startLiveHousehold(t, nil)
	ctx := context.Background()
	other, _ := account(t, lh.cloud.url)
	_, err := live.DialViewer(ctx, lh.cloud.url, lh.id(), bearer(other))
	var de *live.DialError
	if !errors.As(err, &de) || de.Status != http.StatusNotFound {
		t.Errorf("non-member: %v, want HTTP 404", err)
	}
	h := bearer(lh.c)
	h.Set("Origin", "http://evil.example")
	if _, err := live.DialViewer(ctx, lh.cloud.url, lh.id(), h); !errors.As(err, &de) || de.Status != http.StatusForbidden {
		t.Errorf("other origin: %v, want HTTP 403", err)
	}
	if _, err := live.DialViewer(ctx, lh.cloud.url, lh.id(), nil); !errors.As(err, &de) || de.Status != http.StatusUnauthorized {
		t.Errorf("signed out: %v, want HTTP 401", err)
	}
	// A member account whose device is not in the chain.
	stranger, _ := keydir.NewDeviceKeys()
	vc, err := live.DialViewer(ctx, lh.cloud.url, lh.id(), bearer(lh.c))
	if err != nil {
		t.Fatal(err)
	}
	defer vc.Close()
	cfg := live.ViewerConfig{Household: lh.id(), Camera: "front", Keys: stranger, Chain: lh.st, Net: live.NetOptions{Loopback: true}}
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err = live.StartWatch(ctx, cfg, vc.Exchange)
		var he *live.HubError
		if errors.As(err, &he) && he.Code == live.CodeHubOffline && time.Now().Before(deadline) {
			time.Sleep(100 * time.Millisecond)
			continue
		}
		if !errors.As(err, &he) || he.Code != live.CodeRefused {
			t.Fatalf("unknown device: %v, want the hub's refusal", err)
		}
		t.Logf("hub: %v", he)
		break
	}
	// Refused sessions do not count against the connection's limit.
	for i := range 10 {
		_, err = live.StartWatch(ctx, cfg, vc.Exchange)
		var he *live.HubError
		if !errors.As(err, &he) || he.Code != live.CodeRefused {
			t.Fatalf("offer %d of an unknown device: %v, want the hub's refusal", i+2, err)
		}
	}
	// The hub's own endpoint needs a device signature.
	if _, err := live.DialViewer(ctx, lh.cloud.url, "../hub", bearer(lh.c)); err == nil {
		t.Error("a viewer reached the hub endpoint")
	}
}

// TestLiveThroughTURN: a viewer that may only use relayed candidates
// (ICETransportPolicy relay) watches through the cloud's TURN relay with
// the credentials the cloud handed out.
func TestLiveThroughTURN(t *testing.T) {
	turnSrv, err := liveview.StartTURN(liveview.TURNConfig{Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { turnSrv.Close() })
	lh := startLiveHousehold(t, func(o *cloud.Options) { o.TURN = turnSrv })
	code, body, err := lh.c.Raw(context.Background(), "GET", "/v1/households/"+lh.id()+"/live/ice", nil)
	if err != nil || code != 200 {
		t.Fatalf("ICE servers: %d %v", code, err)
	}
	var ice struct {
		Servers []live.ICEServer `json:"ice_servers"`
	}
	if err := json.Unmarshal(body, &ice); err != nil || len(ice.Servers) != 1 || ice.Servers[0].Username == "" {
		t.Fatalf("ICE servers %s: %v", body, err)
	}
	w, first := watch(t, lh, lh.admin, live.NetOptions{Loopback: true, RelayOnly: true}, ice.Servers)
	t.Logf("first relayed frame %v after the offer", first.Round(time.Millisecond))
	waitFrames(t, w, 30)
	if n := turnSrv.Allocations(); n < 1 {
		t.Errorf("the TURN relay has %d allocations while a relay-only viewer watches", n)
	}
	// Wrong credentials are refused by the relay: no relayed candidate,
	// so a relay-only viewer never connects.
	bad := ice.Servers
	bad[0].Credential = "wrong"
	vc, err := live.DialViewer(context.Background(), lh.cloud.url, lh.id(), bearer(lh.c))
	if err != nil {
		t.Fatal(err)
	}
	defer vc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	badW, err := live.StartWatch(ctx, live.ViewerConfig{Household: lh.id(), Camera: "front", Keys: lh.admin, Chain: lh.st,
		Net: live.NetOptions{Loopback: true, RelayOnly: true}, ICE: bad}, vc.Exchange)
	if err == nil {
		defer badW.Close()
		select {
		case <-badW.First():
			t.Error("a relay-only viewer with wrong TURN credentials got video")
		case <-time.After(5 * time.Second):
		}
	}
}

// swappingProxy serves the app and API of the cloud on its own origin and
// relays the live-view WebSocket itself; while swap is set it replaces the
// DTLS fingerprint in every answer (SDP and signed field) with another
// certificate's, as a malicious relay would.
// drop closes the WebSocket connections relayed so far.
func swappingProxy(t *testing.T, cloudURL string, swap *atomic.Bool) (base string, drop func()) {
	t.Helper()
	target, err := url.Parse(cloudURL)
	if err != nil {
		t.Fatal(err)
	}
	up := websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}
	var mu sync.Mutex
	conns := map[*websocket.Conn]bool{}
	base = newProxy(t, cloudURL, func(w http.ResponseWriter, r *http.Request) bool {
		if !websocket.IsWebSocketUpgrade(r) {
			return false
		}
		h := http.Header{}
		for _, k := range []string{"Cookie", "Origin", "Authorization"} {
			if v := r.Header.Get(k); v != "" {
				h.Set(k, v)
			}
		}
		h.Set("Host", r.Host)
		upstream, resp, err := websocket.DefaultDialer.Dial("ws://"+target.Host+r.URL.RequestURI(), h)
		if err != nil {
			code := http.StatusBadGateway
			if resp != nil {
				code = resp.StatusCode
			}
			http.Error(w, "upstream refused", code)
			return true
		}
		defer upstream.Close()
		down, err := up.Upgrade(w, r, nil)
		if err != nil {
			return true
		}
		defer down.Close()
		mu.Lock()
		conns[down] = true
		mu.Unlock()
		go func() {
			for {
				mt, b, err := down.ReadMessage()
				if err != nil {
					upstream.Close()
					return
				}
				upstream.WriteMessage(mt, b)
			}
		}()
		for {
			mt, b, err := upstream.ReadMessage()
			if err != nil {
				return true
			}
			var m live.Message
			if swap.Load() && json.Unmarshal(b, &m) == nil && m.Type == "answer" {
				fp, _ := live.SDPFingerprint(m.SDP)
				m.SDP = strings.ReplaceAll(m.SDP, "a=fingerprint:"+fp, "a=fingerprint:"+otherFP)
				m.Fingerprint = otherFP
				b, _ = json.Marshal(m)
			}
			if down.WriteMessage(mt, b) != nil {
				return true
			}
		}
	}, nil)
	return base, func() {
		mu.Lock()
		defer mu.Unlock()
		for c := range conns {
			c.Close()
		}
		clear(conns)
	}
}

const otherFP = "sha-256 00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF"

// TestLiveBrowser: a phone's browser enrolled in the household (its device
// added to the chain by the admin) sees the camera live on home, with the
// time on the picture turning, full screen on a tap, the page no wider than
// the screen, live video again after the connection drops, and no session
// while the page is in the background (again once it is back); through a
// relay that swaps the hub's DTLS fingerprint, the one-camera page refuses
// the session and says why.
func TestLiveBrowser(t *testing.T) {
	// The camera sends its tone as PCMU: the page plays it once unmuted.
	lh := startLiveHouseholdAudio(t, nil, softcam.AudioPCMU)
	// The hub is connected and has a group of pictures to start from.
	w, _ := watch(t, lh, lh.admin, live.NetOptions{Loopback: true}, nil)
	w.Close()

	ctx := context.Background()
	bc := client.New(lh.cloud.url)
	email := fmt.Sprintf("browser%d-%d@example.com", os.Getpid(), accountSeq.Add(1))
	res, err := bc.SignUp(ctx, email, "a long enough password")
	if err != nil {
		t.Fatal(err)
	}
	addMemberSigned(t, lh.c, lh.id(), lh.admin, email, keydir.RoleMember)
	var swap atomic.Bool
	base, drop := swappingProxy(t, lh.cloud.url, &swap)
	// The script calls these when it has shown its device identity and
	// when it wants the relay to start swapping.
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		switch r.URL.Path {
		case "/enrol":
			dev, err := keydir.ParseDevice(strings.TrimSpace(string(b)), keydir.RoleMember, "browser")
			if err != nil {
				http.Error(w, err.Error(), 400)
				return
			}
			lh.addDevice(t, dev)
		case "/swap":
			swap.Store(true)
		case "/drop":
			drop()
		}
	}))
	t.Cleanup(hook.Close)
	var out struct {
		FirstFrameMs float64 `json:"firstFrameMs"`
		Differ       bool    `json:"differ"`
		Mean1        float64 `json:"mean1"`
		Mean2        float64 `json:"mean2"`
		Std1         float64 `json:"std1"`
		Refusal      string  `json:"refusal"`
		Reconnected  bool    `json:"reconnected"`
		Width        int     `json:"width"`
		Height       int     `json:"height"`
		BigVideo     int     `json:"bigVideo"`
		Paused       bool    `json:"pausedWhenHidden"`
		Resumed      bool    `json:"resumedWhenShown"`
		Status       string  `json:"status"`
		TimeAdvanced bool    `json:"timeAdvanced"`
		TimeSkewMs   float64 `json:"timeSkewMs"`
		Times        []string
		Fullscreen   bool   `json:"fullscreen"`
		FSLabel      string `json:"fullscreenLabel"`
		LeftFS       bool   `json:"leftFullscreen"`
		PageWidth    int    `json:"pageWidth"`
		Viewport     int    `json:"viewportWidth"`
		Sound        struct {
			Shown       bool    `json:"shown"`
			MutedBefore bool    `json:"mutedBefore"`
			LabelBefore string  `json:"labelBefore"`
			Pressed     string  `json:"pressed"`
			Label       string  `json:"label"`
			MutedAfter  bool    `json:"mutedAfter"`
			ToneDB      float64 `json:"toneDb"`
			OtherDB     float64 `json:"otherDb"`
			Err         string  `json:"err"`
		} `json:"sound"`
	}
	browsertest.Run(t, 3*time.Minute, "live.mjs", map[string]string{
		"BASE_URL": base, "HOOK_URL": hook.URL, "EMAIL": email, "PASSWORD": "a long enough password",
		"TOTP_SECRET": res.TOTPSecret, "HOUSEHOLD": lh.id(), "CAMERA": "front",
		"AUDIO_HZ": fmt.Sprint(softcam.ToneHz),
	}, &out)
	// Sound: the camera's G.711 tone reaches the page in the same DTLS-SRTP
	// session as the picture, muted until the speaker button is pressed.
	t.Logf("sound: %+v", out.Sound)
	if !out.Sound.Shown || !out.Sound.MutedBefore || out.Sound.LabelBefore != "Unmute" {
		t.Errorf("the speaker button: shown %v, muted before pressing %v, label %q; want shown, muted, \"Unmute\"", out.Sound.Shown, out.Sound.MutedBefore, out.Sound.LabelBefore)
	}
	if out.Sound.MutedAfter || out.Sound.Pressed != "true" || out.Sound.Label != "Mute" {
		t.Errorf("after pressing the speaker button: muted %v, pressed %q, label %q; want sound on", out.Sound.MutedAfter, out.Sound.Pressed, out.Sound.Label)
	}
	if out.Sound.Err != "" || out.Sound.ToneDB < -60 || out.Sound.ToneDB-out.Sound.OtherDB < 30 {
		t.Errorf("the page hears %.1f dB at %d Hz against %.1f dB elsewhere (%s): want the camera's tone", out.Sound.ToneDB, softcam.ToneHz, out.Sound.OtherDB, out.Sound.Err)
	}
	t.Logf("time from opening home to the camera's first decoded live frame: %.0f ms (target <= 1000 ms)", out.FirstFrameMs)
	t.Logf("with the fingerprint swapped the page says: %s", out.Refusal)
	t.Logf("frames: mean luminance %.1f / %.1f, std %.1f, differ %v", out.Mean1, out.Mean2, out.Std1, out.Differ)
	if !out.Differ {
		t.Error("two frames a second apart are identical: the video is not live")
	}
	if out.Mean1 < 10 || out.Std1 < 5 {
		t.Errorf("the frame is black or flat (mean %.1f, std %.1f)", out.Mean1, out.Std1)
	}
	if !out.Reconnected {
		t.Error("after the signalling connection dropped the page did not come back to live video")
	}
	if out.Status != "Live" {
		t.Errorf("the picture's status says %q, want %q", out.Status, "Live")
	}
	// The time on the picture is the time now (this machine's clock, read
	// by the script) and turns.
	if !out.TimeAdvanced || out.TimeSkewMs > 3000 {
		t.Errorf("the time on the picture: %q (%.0f ms from now), want the current time, turning", out.Times, out.TimeSkewMs)
	}
	if !out.Fullscreen || out.FSLabel != "Exit full screen" {
		t.Errorf("the full-screen button: fullscreen %v (button now %q), want the picture with its time full screen", out.Fullscreen, out.FSLabel)
	}
	if !out.LeftFS {
		t.Error("a second tap on the full-screen button did not leave full screen")
	}
	if out.Viewport != 390 || out.PageWidth > out.Viewport {
		t.Errorf("home is %d px wide on a %d px screen", out.PageWidth, out.Viewport)
	}
	if !out.Paused || !out.Resumed {
		t.Errorf("a page in the background: session stopped %v, started again when shown %v; want both", out.Paused, out.Resumed)
	}
	if out.BigVideo != 1 {
		t.Errorf("the one-camera page shows %d large videos, want 1", out.BigVideo)
	}
	if !strings.Contains(out.Refusal, "signature does not match") {
		t.Errorf("with the fingerprint swapped the page says %q, want the refusal reason", out.Refusal)
	}
}
