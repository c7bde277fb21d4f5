package e2e

// The household fixture: a household in the test cloud as the browser tests
// need it — an account with an admin device (Go keys), a hub paired through
// the real pairing protocol, a software camera the hub records and uploads
// into the cloud, and the means to enrol a browser's device (its "vigdev1:"
// string) or to leave it out of the chain.
//
// Typical use:
//
//	c := startCloud(t, nil)
//	hh := newHousehold(t, c, householdOptions{})   // owner account, admin device, hub, camera "front"
//	segs := hh.waitSegments(t, hh.Camera, 3, time.Minute)
//	sess := hh.Owner.browserSession(t, c.url)      // cookie + CSRF for a browser context
//	ctl := hh.controlServer(t)                     // the script POSTs its "vigdev1:" string to ctl+"/enrol"
//	browsertest.Run(t, ..., map[string]string{"BASE_URL": c.url, "HOUSEHOLD": hh.ID,
//		"CONTROL_URL": ctl, "SESSION": sess.Cookie, "CSRF": sess.CSRF}, &res)
//
// In the script: context.addCookies with SESSION, localStorage "vigil.csrf"
// = CSRF (an init script), the device string from /device (#device-string).
// Also: hh.enrol(deviceString, role, name) from Go, hh.addMember(t, role) for
// another account with no device in the chain, hh.interruptCamera(t, d) for a
// gap in the recording. Each account signs in at most three times per 30 s
// (the cloud accepts each authenticator code once); a fourth waits.

import (
	"context"
	"encoding/base32"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"vigil/internal/client"
	"vigil/internal/cloud/auth"
	"vigil/internal/config"
	"vigil/internal/history"
	"vigil/internal/hubd"
	"vigil/internal/keydir"
	"vigil/internal/member"
	"vigil/internal/pairing"
	"vigil/internal/softcam"
	"vigil/internal/vigiltest"
)

// householdOptions tunes newHousehold. The zero value records one camera,
// "front", in 2-second segments.
type householdOptions struct {
	// Cameras are the camera names (RTSP paths of one software camera);
	// empty means []string{"front"}.
	Cameras []string
	// SegmentDuration is the hub's segment length (default 2 s).
	SegmentDuration time.Duration
	// NoHub skips the hub and camera (a household with only its admin).
	NoHub bool
	// Hub adjusts the hub's options (live view network settings, ...).
	Hub func(*hubd.Options)
	// HubConfig adjusts the hub's config before it starts.
	HubConfig func(*config.Hub)
	// HubCloud is the cloud URL the hub runs with once paired (a proxy
	// before the cloud); empty means the cloud's own.
	HubCloud string
	// CameraFile is the footage the software camera serves (default
	// softcam.DefaultFile).
	CameraFile string
}

// testAccount is an account that can sign in (password + TOTP).
type testAccount struct {
	Email, Password string
	TOTPSecret      string // base32, as sign-up returns it
	ID              string
	API             *client.Client // signed in with an API token
}

// testHousehold is a household in the test cloud.
type testHousehold struct {
	Cloud   *cloudEnv
	ID      string // household ID
	Genesis []byte // genesis hash
	Owner   *testAccount
	Admin   *keydir.DeviceKeys // the owner's admin device
	Camera  string             // the first camera's name
	Cameras []string

	Hub    *hubd.Hub       // nil with NoHub
	HubDir string          // the hub's data directory
	Cam    *softcam.Server // nil with NoHub
	// CamFile is the footage the camera serves.
	CamFile string
}

var fixtureAccountSeq atomic.Int64

// totpSteps remembers, per account, the last authenticator step used, so
// each sign-in uses a fresh code (the cloud accepts a code once).
var totpSteps sync.Map // email -> int64 (the step)

// newAccount signs up a new account and signs it in with an API token.
func newAccount(t testing.TB, c *cloudEnv) *testAccount {
	t.Helper()
	a := &testAccount{Email: fmt.Sprintf("user%d-%d@example.com", fixtureAccountSeq.Add(1), time.Now().UnixNano()%1e6),
		Password: "a long enough password", API: client.New(c.url)}
	res, err := a.API.SignUp(context.Background(), a.Email, a.Password)
	if err != nil {
		t.Fatal(err)
	}
	a.TOTPSecret, a.ID = res.TOTPSecret, res.AccountID
	if _, err := a.API.SignIn(context.Background(), a.Email, a.Password, a.code(t)); err != nil {
		t.Fatal(err)
	}
	return a
}

// code returns an authenticator code the cloud has not seen yet for this
// account: it accepts the steps now-1, now and now+1, each once, so three
// sign-ins fit in any 30 s (the fourth waits for the next step).
func (a *testAccount) code(t testing.TB) string {
	t.Helper()
	secret, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(strings.TrimRight(a.TOTPSecret, "="))
	if err != nil {
		t.Fatal(err)
	}
	for {
		now := time.Now()
		step := now.Unix() / 30
		last, _ := totpSteps.Load(a.Email)
		next := step - 1
		// The previous step's code stops being accepted at the next step,
		// which a request sent in its last seconds may reach (the cloud
		// checks the code after hashing the password: a second or more
		// on a busy machine).
		if time.Until(time.Unix((step+1)*30, 0)) < 5*time.Second {
			next = step
		}
		if l, ok := last.(int64); ok && l >= next {
			next = l + 1
		}
		if next <= step+1 {
			totpSteps.Store(a.Email, next)
			return auth.TOTPCode(secret, time.Unix(next*30, 0))
		}
		time.Sleep(time.Until(time.Unix((step+1)*30, 0)) + 100*time.Millisecond)
	}
}

// browserSession is a signed-in browser session: the cookie to give a
// browser context and the CSRF token the app keeps in localStorage.
type browserSession struct {
	Cookie string `json:"cookie"` // "name=value"
	CSRF   string `json:"csrf"`
}

// browserSession signs the account in as a browser would (type "browser")
// and returns the session cookie and CSRF token.
func (a *testAccount) browserSession(t testing.TB, cloudURL string) browserSession {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"email": a.Email, "password": a.Password, "totp": a.code(t), "type": "browser"})
	resp, err := http.Post(cloudURL+"/v1/sessions", "application/json", strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("browser sign-in: %s: %s", resp.Status, b)
	}
	var out struct {
		CSRF string `json:"csrf"`
	}
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	for _, ck := range resp.Cookies() {
		if ck.Name == "vigil_session" {
			return browserSession{Cookie: ck.Name + "=" + ck.Value, CSRF: out.CSRF}
		}
	}
	t.Fatal("browser sign-in set no session cookie")
	return browserSession{}
}

// newHousehold creates an account, a household with its admin device and,
// unless NoHub, pairs a hub with it (the real pairing protocol through the
// cloud) and starts the software camera and the hub, which records and
// uploads. The hub and camera stop at the end of the test.
func newHousehold(t testing.TB, c *cloudEnv, o householdOptions) *testHousehold {
	t.Helper()
	if len(o.Cameras) == 0 {
		o.Cameras = []string{"front"}
	}
	if o.SegmentDuration == 0 {
		o.SegmentDuration = 2 * time.Second
	}
	ctx := context.Background()
	owner := newAccount(t, c)
	admin, err := keydir.NewDeviceKeys()
	if err != nil {
		t.Fatal(err)
	}
	g, _, st, err := keydir.NewHousehold("Home", admin, "laptop", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := owner.API.CreateHousehold(ctx, g); err != nil {
		t.Fatal(err)
	}
	hh := &testHousehold{Cloud: c, ID: st.HouseholdID, Genesis: st.GenesisHash, Owner: owner, Admin: admin,
		Camera: o.Cameras[0], Cameras: o.Cameras}
	if o.NoHub {
		return hh
	}

	// The hub pairs first (it needs no camera for that).
	vigiltest.RequireTool(t, "ffmpeg", "ffmpeg")
	if o.CameraFile == "" {
		o.CameraFile = softcam.DefaultFile
	}
	if _, err := os.Stat(o.CameraFile); err != nil {
		t.Fatalf("test footage missing: %v (install it with: apt-get install opencv-doc, or run 'make test')", err)
	}
	hh.HubDir = t.TempDir()
	hh.pairHub(t)

	cam := vigiltest.StartSoftcam(t, softcam.Config{Listen: "127.0.0.1:0", File: o.CameraFile, Paths: o.Cameras})
	hh.Cam, hh.CamFile = cam, o.CameraFile

	cloudURL := c.url
	if o.HubCloud != "" {
		cloudURL = o.HubCloud
	}
	cfg := &config.Hub{Data: hh.HubDir, SegmentDuration: config.Duration(o.SegmentDuration),
		Cloud: &config.Cloud{URL: cloudURL, UploadOrder: config.UploadOldest}}
	for _, name := range o.Cameras {
		cfg.Cameras = append(cfg.Cameras, config.Camera{Name: name, URL: cam.URL(name), Transport: "tcp"})
	}
	cfg.ApplyDefaults()
	if o.HubConfig != nil {
		o.HubConfig(cfg)
	}
	opts := hubd.Options{Logger: vigiltest.Logger(t).With("component", "hub"), MinBackoff: 100 * time.Millisecond,
		MaxBackoff: time.Second, UploadMinBackoff: 100 * time.Millisecond, UploadMaxBackoff: time.Second}
	if o.Hub != nil {
		o.Hub(&opts)
	}
	hub, err := hubd.New(cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := hub.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hub.Close() })
	hh.Hub = hub
	return hh
}

// pairHub runs both sides of the pairing: the hub's (hubd.Pair) and the
// admin device's (member.PairHub) with the code the hub shows.
func (hh *testHousehold) pairHub(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	codes := make(chan string, 1)
	hubErr := make(chan error, 1)
	go func() {
		_, err := hubd.Pair(ctx, hh.HubDir, hubd.PairOptions{Cloud: hh.Cloud.url, Name: "garage hub", Poll: 50 * time.Millisecond,
			ShowCode: func(code string) { codes <- code }})
		hubErr <- err
	}()
	var code string
	select {
	case code = <-codes:
	case err := <-hubErr:
		t.Fatalf("hub pairing: %v", err)
	case <-ctx.Done():
		t.Fatal("the hub never showed a pairing code")
	}
	pc, err := pairing.ParseCode(code)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := member.PairHub(ctx, hh.Owner.API, hh.ID, hh.Genesis, hh.Admin, pc, 50*time.Millisecond); err != nil {
		cancel()
		t.Fatalf("member side of pairing: %v", err)
	}
	if err := <-hubErr; err != nil {
		t.Fatalf("hub pairing: %v", err)
	}
}

// enrol adds a device, given as its "vigdev1:" string, to the household's
// chain as a member (role "member" or "admin"), signed by the admin device.
func (hh *testHousehold) enrol(deviceString, role, name string) error {
	dk, err := keydir.ParseDevice(deviceString, role, name)
	if err != nil {
		return err
	}
	ctx := context.Background()
	st, err := member.VerifiedChain(ctx, hh.Owner.API, hh.ID, hh.Genesis)
	if err != nil {
		return err
	}
	link, err := st.AddDevice(hh.Admin, dk, time.Now())
	if err != nil {
		return err
	}
	return hh.Owner.API.AppendLink(ctx, hh.ID, link)
}

// addMember creates another account and makes it a member of the household
// (it may read the sealed objects; no device of it is in the chain).
func (hh *testHousehold) addMember(t testing.TB, role string) *testAccount {
	t.Helper()
	a := newAccount(t, hh.Cloud)
	addMemberSigned(t, hh.Owner.API, hh.ID, hh.Admin, a.Email, role)
	return a
}

// addMemberSigned makes the account of email a member of household hh
// with role, in a member.add action the admin device signs.
func addMemberSigned(t testing.TB, api *client.Client, hh string, admin *keydir.DeviceKeys, email, role string) {
	t.Helper()
	act, err := history.NewAction(hh, history.MemberAddParams{Email: email, Role: role}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	signed, err := history.SignAction(admin, act)
	if err != nil {
		t.Fatal(err)
	}
	if err := api.AddMember(context.Background(), hh, signed); err != nil {
		t.Fatal(err)
	}
}

// waitSegments waits until the cloud holds at least n segments of camera
// and returns the listing.
func (hh *testHousehold) waitSegments(t testing.TB, camera string, n int, timeout time.Duration) []client.Object {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		objs, err := hh.Owner.API.Objects(context.Background(), hh.ID, camera, time.Time{}, time.Time{})
		if err == nil && len(objs) >= n {
			return objs
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %d segments of %s in the cloud (have %d, err %v)", timeout, n, camera, len(objs), err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// controlMux answers, on the Go side, what a browser script asks while it
// runs; a test adds routes of its own and serves it (serveControl):
//
//	POST /enrol?role=R&name=N  body: the browser's "vigdev1:" string → 204
//	             once the device is in the chain (role "admin" or
//	             "member", the default; name "browser" by default) and its
//	             head in the log, 400 with the reason
func (hh *testHousehold) controlMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /enrol", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(io.LimitReader(r.Body, 4096))
		role, name := keydir.RoleMember, r.URL.Query().Get("name")
		if r.URL.Query().Get("role") == keydir.RoleAdmin {
			role = keydir.RoleAdmin
		}
		if name == "" {
			name = "browser"
		}
		err := hh.enrol(string(b), role, name)
		if err == nil {
			err = hh.Cloud.srv.SyncLog(r.Context())
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	return mux
}

// controlServer serves controlMux on loopback and returns its URL.
func (hh *testHousehold) controlServer(t testing.TB) string {
	t.Helper()
	return serveControl(t, hh.controlMux())
}

// serveControl serves a control mux on loopback and returns its URL.
func serveControl(t testing.TB, mux *http.ServeMux) string {
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL
}

// interruptCamera stops the software camera for d and starts it again on
// the same address, leaving a gap in the recording (the hub reconnects).
func (hh *testHousehold) interruptCamera(t testing.TB, d time.Duration) {
	t.Helper()
	if hh.Cam == nil {
		t.Fatal("interruptCamera: the household has no camera (householdOptions.NoHub)")
	}
	addr := hh.Cam.Addr()
	hh.Cam.Close()
	time.Sleep(d)
	var cam *softcam.Server
	var err error
	for range 50 { // the old socket may linger for a moment
		cam, err = softcam.New(softcam.Config{Listen: addr, File: hh.CamFile, Paths: hh.Cameras, Logger: vigiltest.Logger(t).With("component", "softcam")})
		if err == nil {
			if err = cam.Start(context.Background()); err == nil {
				break
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("restarting the camera on %s: %v", addr, err)
	}
	t.Cleanup(func() { cam.Close() })
	hh.Cam = cam
}
