package cli

import (
	"context"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"vigil/internal/blob"
	"vigil/internal/client"
	"vigil/internal/cloud"
	"vigil/internal/cloud/auth"
	"vigil/internal/cloud/store"
	"vigil/internal/config"
	"vigil/internal/detect/nanodet"
	"vigil/internal/envelope"
	"vigil/internal/history"
	"vigil/internal/hubd"
	"vigil/internal/keydir"
	"vigil/internal/member"
	"vigil/internal/netguard"
	"vigil/internal/onvif"
	"vigil/internal/pairing"
	"vigil/internal/release"
	"vigil/internal/softcam"
	"vigil/internal/tlog"
	"vigil/internal/witness"
	"vigil/web"
)

// DemoOptions configure StartDemo.
type DemoOptions struct {
	// Data holds everything the demo keeps across runs: the cloud's database
	// and blobs, the demo account and its admin device, the hub.
	Data string
	// Listen is the cloud's HTTP address; when it is taken, a free port on
	// the same host is used. "" means 127.0.0.1:8080.
	Listen string
	// File is the software camera's video ("" is softcam.DefaultFile);
	// ignored with Clock.
	File string
	// Clock serves a live camera whose frames carry the wall-clock time
	// (softcam.Clock), for latency measurement.
	Clock bool
	// SegmentDuration of the hub (0: 2 s, so the timeline fills quickly).
	SegmentDuration time.Duration
	// NoDetect turns detection off. Otherwise the camera detects people and
	// cars when the model is installed ('make models'), and the events
	// reach the web app sealed.
	NoDetect bool
	// Progress receives one line per step while the demo starts.
	Progress io.Writer
	Logger   *slog.Logger
	// Argon2 parameters of the cloud (zero: the defaults).
	Argon2 auth.Argon2Params
	// Doorbell makes the camera a doorbell; nil: a plain camera. Ignored
	// with Clock.
	Doorbell *DemoDoorbell
	// PushLoopback lets the cloud deliver Web Push to push services on
	// loopback, which a cloud refuses otherwise (benchmarks and tests
	// that play the push service).
	PushLoopback bool
}

// DemoDoorbell is the demo camera as a doorbell: it serves a tone (PCMU)
// with its video and offers the ONVIF back channel; a press
// (Demo.Doorbell().Press, or POST /press on its control endpoint) reaches
// the hub as an ONVIF event and rings: a sealed "ring" event with a sealed
// snapshot, pushed sealed to the household's devices.
type DemoDoorbell struct {
	// Interval is the least time between two rings (0: the hub's
	// default).
	Interval time.Duration
	// Bursts serves silence, and the tone only in bursts on demand
	// (softcam.Config.AudioBursts), instead of the steady tone.
	Bursts bool
}

// demoONVIFUser is the demo doorbell's ONVIF account name; its password
// is random on each run.
const demoONVIFUser = "admin"

// Demo is a running demo: a cloud with the web app, a hub paired with the
// demo household and a software camera, all in this process.
type Demo struct {
	// CloudURL is the service, e.g. http://127.0.0.1:8080.
	CloudURL string
	// HouseholdID is the demo household.
	HouseholdID string
	// ReleaseKey is the public key that signed the web app the demo serves
	// (for 'vigil verify web' and the verifier extension).
	ReleaseKey string

	srv    *cloud.Server
	hs     *http.Server
	tlog   *tlog.Log
	wit    *witness.Witness
	witHS  *http.Server
	st     *store.SQLite
	blobs  *blob.Dir
	cam    interface{ Close() error }
	hub    *hubd.Hub
	c      *client.Client
	admin  *keydir.DeviceKeys
	prof   profile
	acct   string
	log    *slog.Logger
	out    io.Writer
	cancel context.CancelFunc
	wg     sync.WaitGroup

	// bell is the camera when it is a doorbell, onvifPassword its ONVIF
	// password (random per run).
	bell          *softcam.Server
	onvifPassword string

	mu      sync.Mutex
	invites map[string][]byte // invite ID -> secret, of the links handed out
}

// demoAccount is the demo account's credentials, kept in the data
// directory (0600) so that the user can also sign in by hand.
type demoAccount struct {
	Email      string `json:"email"`
	Password   string `json:"password"`
	TOTPSecret string `json:"totp_secret"` // base32
	AccountID  string `json:"account_id"`
}

const demoEmail = "demo@vigil.localhost"

func runDemo(e env) error {
	fs := newFlags(e, "demo", "[--data DIR] [--listen HOST:PORT] [--file VIDEO] [--clock] [--no-detect] [--doorbell]")
	data := fs.String("data", "demo-data", "directory the demo keeps across runs (cloud, account, hub)")
	listen := fs.String("listen", "127.0.0.1:8080", "the web app's address (the next free port if taken)")
	file := fs.String("file", "", "video for the software camera (default "+softcam.DefaultFile+")")
	clock := fs.Bool("clock", false, "camera showing the wall-clock time (for latency measurement) instead of a video")
	noDetect := fs.Bool("no-detect", false, "no person/car detection on the camera")
	bell := fs.Bool("doorbell", false, "the camera is a doorbell with sound: a POST to its control endpoint rings the household")
	verbose := fs.Bool("v", false, "debug logs")
	if err := parse(fs, e.args, 0); err != nil {
		return err
	}
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelDebug
	}
	ctx, stop := signal.NotifyContext(e.ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	o := DemoOptions{Data: *data, Listen: *listen, File: *file, Clock: *clock, NoDetect: *noDetect,
		Progress: e.stdout, Logger: newLogger(e.stderr, level)}
	if *bell {
		if *clock {
			return fmt.Errorf("%w: --doorbell and --clock do not go together", ErrUsage)
		}
		o.Doorbell = &DemoDoorbell{}
	}
	d, err := StartDemo(ctx, o)
	if err != nil {
		return err
	}
	u, err := d.SignInURL(ctx)
	if err != nil {
		d.Close()
		return err
	}
	fmt.Fprintf(e.stdout, `
Vigil demo is running. Open this link in a browser on this machine (it signs
you in once and enrols the browser as a device of the demo household):

  %[1]s

To add another browser or phone, make an invite link in the app (Settings,
"Invite a device") and approve the new device there: the demo adds only the
browsers that open its own links.

Sign in by hand: %[2]s, password and authenticator secret in %[4]s.
Run '%[3]s demo --data %[9]s' again for a fresh link.

The hub also seals every segment to a local household key, so in another
terminal you can export footage without the cloud:
  %[3]s recordings list --data %[5]s
  %[3]s recordings export --data %[5]s --camera front --from %[6]s --to %[7]s \
      --identity %[8]s -o clip.mp4

Every access to the household is in a transparency log, cosigned by the
demo's witness; check it from the admin device and check the web app's code:
  %[3]s audit --profile %[10]s
  %[3]s verify web %[11]s --release-key %[12]s
  %[3]s verify extension --origin %[11]s --release-key %[12]s -o vigil-verifier
Press Ctrl-C to stop (the open segment is sealed and kept).
`, u, demoEmail, selfName(), filepath.Join(*data, "admin", "account.json"), filepath.Join(*data, "hub"),
		time.Now().UTC().Truncate(time.Second).Format(time.RFC3339), time.Now().UTC().Add(time.Hour).Truncate(time.Second).Format(time.RFC3339),
		filepath.Join(*data, "household.key"), *data, filepath.Join(*data, "admin"), d.CloudURL, d.ReleaseKey)
	<-ctx.Done()
	fmt.Fprintln(e.stdout, "stopping…")
	return d.Close()
}

// StartDemo starts the demo's cloud, camera and hub, creating the demo
// account, household and pairing on the first run and reusing them after.
// It returns once the hub records; Close stops everything.
func StartDemo(ctx context.Context, o DemoOptions) (_ *Demo, err error) {
	if o.Data == "" {
		o.Data = "demo-data"
	}
	if o.Listen == "" {
		o.Listen = "127.0.0.1:8080"
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.SegmentDuration == 0 {
		o.SegmentDuration = 2 * time.Second
	}
	if _, err := checkDemoListen(o.Listen); err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(o.Data)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return nil, err
	}
	runCtx, cancel := context.WithCancel(context.Background())
	d := &Demo{log: o.Logger, out: o.Progress, cancel: cancel, prof: profile{filepath.Join(abs, "admin")}, invites: map[string][]byte{}}
	defer func() {
		if err != nil {
			d.Close()
		}
	}()
	step := func(format string, args ...any) { fmt.Fprintf(d.out, "  "+format+"\n", args...) }
	fmt.Fprintln(d.out, "Starting the Vigil demo in", o.Data)

	// The cloud, with the web app.
	if err := d.startCloud(filepath.Join(abs, "cloud"), o); err != nil {
		return nil, err
	}
	step("cloud      %s (web app and API; data in %s)", d.CloudURL, filepath.Join(o.Data, "cloud"))

	// The camera.
	camURL, err := d.startCamera(ctx, o)
	if err != nil {
		return nil, err
	}
	step("camera     %s", camURL)

	// The account and its admin device.
	if err := d.signIn(ctx); err != nil {
		return nil, err
	}
	step("account    %s", demoEmail)
	h, created, err := d.household(ctx, filepath.Join(abs, "admin"))
	if err != nil {
		return nil, err
	}
	if created {
		step("household  %s (%s) created; recovery phrase in %s", h.Name, h.HouseholdID, filepath.Join(o.Data, "admin", "recovery-phrase.txt"))
	} else {
		step("household  %s (%s)", h.Name, h.HouseholdID)
	}
	d.HouseholdID = h.HouseholdID

	// The hub, paired with the household.
	hubDir := filepath.Join(abs, "hub")
	p, err := hubd.LoadPaired(hubDir)
	if err != nil {
		return nil, err
	}
	if p == nil {
		if err := d.pairHub(ctx, hubDir, h); err != nil {
			return nil, fmt.Errorf("pairing the demo hub: %w", err)
		}
		step("hub        paired with the household")
	} else if p.HouseholdID != h.HouseholdID {
		return nil, fmt.Errorf("the demo hub in %s is paired with household %s, not %s (hint: delete %s)", hubDir, p.HouseholdID, h.HouseholdID, o.Data)
	}
	// A local household key as well: 'vigil recordings export' opens the
	// hub's footage with it, without the cloud.
	recipient, err := demoIdentity(filepath.Join(abs, "household.key"))
	if err != nil {
		return nil, err
	}
	cfg := &config.Hub{
		Data:            hubDir,
		Recipients:      []string{recipient},
		Cameras:         []config.Camera{{Name: "front", URL: camURL}},
		Retention:       config.Retention{MaxBytes: 2 << 30, MaxAge: config.Duration(7 * 24 * time.Hour)},
		SegmentDuration: config.Duration(o.SegmentDuration),
		Cloud:           &config.Cloud{URL: d.CloudURL},
	}
	switch {
	case o.NoDetect || o.Clock:
	case !fileExists(filepath.Join(nanodet.DefaultDir(), "nanodet.bin")):
		step("detection  off: the NanoDet model is not installed (run 'make models')")
	default:
		cfg.Cameras[0].Detect = &config.Detect{}
		cfg.Detection = &config.Detection{}
	}
	if o.Doorbell != nil && !o.Clock {
		cfg.Cameras[0].Doorbell = &config.Doorbell{Interval: config.Duration(o.Doorbell.Interval),
			ONVIF: &config.DoorbellONVIF{URL: "http://" + d.bell.ONVIFAddr() + onvif.DevicePath, Username: demoONVIFUser, Password: d.onvifPassword}}
		if cfg.Cameras[0].Detect == nil {
			// Decoded frames, for the ring's snapshot.
			cfg.Cameras[0].Detect = &config.Detect{MotionOnly: true}
		}
	}
	cfg.ApplyDefaults()
	hub, err := hubd.New(cfg, hubd.Options{Logger: o.Logger.With("component", "hub")})
	if err != nil {
		return nil, err
	}
	if err := hub.Start(runCtx); err != nil {
		return nil, err
	}
	d.hub = hub
	step("hub        recording camera \"front\" in %s, uploading sealed segments", filepath.Join(o.Data, "hub"))
	if cfg.Detection != nil {
		step("detection  people and cars on \"front\": events and snapshots sealed to the household (web app: Events)")
	}
	if d.bell != nil {
		step("doorbell   \"front\" rings on: curl -X POST http://%s/press", d.bell.ControlAddr())
	}

	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		d.approveDevices(runCtx)
	}()
	return d, nil
}

func (d *Demo) startCloud(dir string, o DemoOptions) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	st, err := store.OpenSQLite(context.Background(), filepath.Join(dir, "cloud.db"), store.SQLiteOptions{Logger: d.log})
	if err != nil {
		return err
	}
	d.st = st
	blobs, err := blob.OpenDir(filepath.Join(dir, "blobs"), blob.DirOptions{Logger: d.log})
	if err != nil {
		return err
	}
	d.blobs = blobs
	host, err := checkDemoListen(o.Listen)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", o.Listen)
	if err != nil {
		if ln, err = net.Listen("tcp", net.JoinHostPort(host, "0")); err != nil {
			return err
		}
	}
	d.CloudURL = "http://" + ln.Addr().String()
	app, err := web.App()
	if err != nil {
		ln.Close()
		return fmt.Errorf("the web app is not built into this binary (hint: 'make demo' builds it): %w", err)
	}
	// The transparency log, cosigned by a witness of its own (a separate
	// component with its own key and state, as an independent witness
	// would be).
	wcfg, err := d.startWitness(filepath.Join(filepath.Dir(dir), "witness"), filepath.Join(dir, "tlog.key"), d.CloudURL)
	if err != nil {
		ln.Close()
		return err
	}
	cfg := &cloud.Config{Data: dir, Witnesses: []cloud.WitnessConfig{wcfg}}
	tl, err := openCloudLog(context.Background(), cfg, d.CloudURL, blobs, d.log)
	if err != nil {
		ln.Close()
		return err
	}
	d.tlog = tl.log
	var outbound netguard.Options
	if o.PushLoopback {
		outbound.Allow = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	}
	srv, err := cloud.New(cloud.Options{Store: st, Blobs: blobs, Logger: d.log.With("component", "cloud"), App: app,
		PublicURL: d.CloudURL, Argon2: o.Argon2, Mailer: cloud.OutboxMailer{Dir: filepath.Join(dir, "outbox")},
		Log: tl.log, LogStorage: tl.storage, LogKey: tl.vkey, LogWitnesses: tl.witnesses, LogQuorum: cfg.Quorum(), Outbound: outbound})
	if err != nil {
		ln.Close()
		return err
	}
	d.srv = srv
	// The demo plays the release maintainer too: it signs the app it
	// serves with a release key kept outside the cloud's data, and the
	// cloud appends the signed release to the log.
	if d.ReleaseKey, err = d.publishRelease(filepath.Join(filepath.Dir(dir), "release.key"), filepath.Join(filepath.Dir(dir), "release.vrel"), app); err != nil {
		ln.Close()
		return err
	}
	d.hs = &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute,
		ErrorLog: slog.NewLogLogger(d.log.Handler(), slog.LevelWarn)}
	go d.hs.Serve(ln)
	return nil
}

// publishRelease signs the app with the demo's release key (made on the
// first run) unless the release signed before lists exactly these files,
// and appends it to the log.
func (d *Demo) publishRelease(keyFile, relFile string, app fs.FS) (string, error) {
	key, err := release.LoadKey(keyFile)
	if errors.Is(err, fs.ErrNotExist) {
		if key, err = release.GenerateKey(); err == nil {
			err = release.SaveKey(keyFile, key)
		}
	}
	if err != nil {
		return "", fmt.Errorf("the demo's release key: %w", err)
	}
	pub := key.Public().(ed25519.PublicKey)
	fresh, err := release.BuildManifest(app, release.DefaultName, "demo", time.Now())
	if err != nil {
		return "", fmt.Errorf("the web app's release manifest: %w", err)
	}
	entry, err := os.ReadFile(relFile)
	if err == nil {
		old, oerr := release.Open(entry, []ed25519.PublicKey{pub})
		now, perr := release.ParseManifest(fresh)
		if oerr != nil || perr != nil || !slices.Equal(old.Assets, now.Assets) {
			err = fs.ErrNotExist
		}
	}
	if err != nil {
		if entry, err = release.Sign(key, fresh); err != nil {
			return "", err
		}
		if err := os.WriteFile(relFile, entry, 0o644); err != nil {
			return "", err
		}
	}
	if err := d.srv.PublishRelease(context.Background(), entry); err != nil {
		return "", err
	}
	return release.FormatPublicKey(pub), nil
}

// startWitness starts the demo's witness on a loopback port for the log
// whose key is in logKey (made now if needed) and returns how the log
// reaches it.
func (d *Demo) startWitness(dir, logKey, public string) (cloud.WitnessConfig, error) {
	skey, err := loadOrCreateLogKey(logKey, "", public, d.log)
	if err != nil {
		return cloud.WitnessConfig{}, err
	}
	vkey, err := tlog.VerifierKey(skey)
	if err != nil {
		return cloud.WitnessConfig{}, err
	}
	origin, _, _ := strings.Cut(vkey, "+")
	signer, _, err := witness.LoadOrCreateKey(dir, "demo-witness")
	if err != nil {
		return cloud.WitnessConfig{}, err
	}
	w, err := witness.New(witness.Config{Dir: dir, Signer: signer, Logs: map[string]string{origin: vkey}, Logger: d.log.With("component", "witness")})
	if err != nil {
		return cloud.WitnessConfig{}, err
	}
	d.wit = w
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return cloud.WitnessConfig{}, err
	}
	d.witHS = &http.Server{Handler: w.Handler(), ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(d.log.Handler(), slog.LevelWarn)}
	go d.witHS.Serve(ln)
	return cloud.WitnessConfig{URL: "http://" + ln.Addr().String(), Key: w.VerifierKey()}, nil
}

// checkDemoListen returns the host of a loopback HOST:PORT: the demo serves
// plain HTTP.
func checkDemoListen(listen string) (string, error) {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return "", fmt.Errorf("%w: --listen %q: want HOST:PORT", ErrUsage, listen)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return "", fmt.Errorf("%w: --listen %q: the demo serves plain HTTP, so only on a loopback address (127.0.0.1, ::1, localhost); use 'vigil cloud' with TLS to serve other machines", ErrUsage, listen)
	}
	return host, nil
}

func (d *Demo) startCamera(ctx context.Context, o DemoOptions) (string, error) {
	log := d.log.With("component", "camera")
	if o.Clock {
		cam, err := softcam.NewClock(softcam.ClockConfig{Listen: "127.0.0.1:0", Path: "front", Logger: log})
		if err != nil {
			return "", err
		}
		d.cam = cam
		if err := cam.Start(ctx); err != nil {
			return "", err
		}
		return cam.URL(), nil
	}
	cfg := softcam.Config{File: o.File, Listen: "127.0.0.1:0", Paths: []string{"front"}, Logger: log}
	if o.Doorbell != nil {
		pw := make([]byte, 18)
		rand.Read(pw)
		d.onvifPassword = base64.RawURLEncoding.EncodeToString(pw)
		cfg.Audio, cfg.AudioBursts, cfg.BackChannel = softcam.AudioPCMU, o.Doorbell.Bursts, true
		cfg.Control, cfg.ONVIF = "127.0.0.1:0", "127.0.0.1:0"
		cfg.ONVIFUser, cfg.ONVIFPassword = demoONVIFUser, d.onvifPassword
	}
	cam, err := softcam.New(cfg)
	if err != nil {
		return "", err
	}
	d.cam = cam
	if err := cam.Start(ctx); err != nil {
		return "", err
	}
	if o.Doorbell != nil {
		d.bell = cam
	}
	return cam.URL("front"), nil
}

// Doorbell returns the demo's camera when it is a doorbell
// (DemoOptions.Doorbell), else nil.
func (d *Demo) Doorbell() *softcam.Server { return d.bell }

// signIn creates the demo account on the first run and signs the admin
// device in with an API token (reused while it works).
func (d *Demo) signIn(ctx context.Context) error {
	c := client.New(d.CloudURL)
	d.c = c
	var acct demoAccount
	path := filepath.Join(d.prof.dir, "account.json")
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		pw := make([]byte, 18)
		rand.Read(pw)
		acct = demoAccount{Email: demoEmail, Password: base64.RawURLEncoding.EncodeToString(pw)}
		res, err := c.SignUp(ctx, acct.Email, acct.Password)
		if client.IsStatus(err, http.StatusConflict) {
			return fmt.Errorf("the demo cloud has the demo account but %s is missing (hint: delete the demo directory to start over)", path)
		}
		if err != nil {
			return fmt.Errorf("creating the demo account: %w", err)
		}
		acct.TOTPSecret, acct.AccountID = res.TOTPSecret, res.AccountID
		if err := d.prof.saveJSON("account.json", acct); err != nil {
			return err
		}
	case err != nil:
		return err
	default:
		if err := json.Unmarshal(b, &acct); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
	}
	d.acct = acct.AccountID
	if s, err := d.prof.session(); err == nil && s.Token != "" {
		c.Token = s.Token
		if _, err := c.Households(ctx); err == nil {
			return d.prof.saveJSON("session.json", session{Cloud: d.CloudURL, Email: acct.Email, AccountID: acct.AccountID, Token: s.Token})
		}
		c.Token = ""
	}
	secret, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(strings.TrimRight(strings.ToUpper(acct.TOTPSecret), "="))
	if err != nil {
		return fmt.Errorf("%s: totp_secret is not base32", path)
	}
	tok, err := c.SignIn(ctx, acct.Email, acct.Password, auth.TOTPCode(secret, time.Now()))
	if err != nil {
		return fmt.Errorf("signing the demo account in: %w", err)
	}
	return d.prof.saveJSON("session.json", session{Cloud: d.CloudURL, Email: acct.Email, AccountID: acct.AccountID, Token: tok})
}

// household returns the demo household, creating it on the first run.
func (d *Demo) household(ctx context.Context, dir string) (*pinnedHousehold, bool, error) {
	k, _, err := d.prof.deviceKeys()
	if err != nil {
		return nil, false, err
	}
	d.admin = k
	if h, err := d.prof.household(""); err == nil {
		h.Cloud = d.CloudURL
		if _, err := d.prof.verifiedChain(ctx, d.c, h); err != nil {
			return nil, false, fmt.Errorf("the demo household's chain: %w", err)
		}
		return h, false, nil
	}
	genesis, phrase, st, err := keydir.NewHousehold("Demo home", k, "demo admin", time.Now())
	if err != nil {
		return nil, false, err
	}
	if _, err := d.c.CreateHousehold(ctx, genesis); err != nil {
		return nil, false, err
	}
	text := "# Recovery phrase of the Vigil demo household (opens its footage without any enrolled device).\n" + phrase + "\n"
	if err := keydir.WriteSecretFile(filepath.Join(dir, "recovery-phrase.txt"), []byte(text)); err != nil {
		return nil, false, err
	}
	h := &pinnedHousehold{HouseholdID: st.HouseholdID, Name: "Demo home", GenesisHash: hex.EncodeToString(st.GenesisHash), Cloud: d.CloudURL}
	if err := d.prof.saveHousehold(h); err != nil {
		return nil, false, err
	}
	return h, true, nil
}

// pairHub pairs the hub in dir with the household, playing both sides: the
// hub shows a code, the admin device enters it.
func (d *Demo) pairHub(ctx context.Context, dir string, h *pinnedHousehold) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	codes := make(chan string, 1)
	errc := make(chan error, 1)
	go func() {
		_, err := hubd.Pair(ctx, dir, hubd.PairOptions{Cloud: d.CloudURL, Name: "demo hub", Poll: 100 * time.Millisecond,
			ShowCode: func(code string) { codes <- code }, Logger: d.log})
		errc <- err
	}()
	var code string
	select {
	case code = <-codes:
	case err := <-errc:
		return err
	}
	pc, err := pairing.ParseCode(code)
	if err != nil {
		return err
	}
	g, _ := hex.DecodeString(h.GenesisHash)
	if _, err := member.PairHub(ctx, d.c, h.HouseholdID, g, d.admin, pc, 100*time.Millisecond); err != nil {
		cancel()
		<-errc
		return err
	}
	if err := <-errc; err != nil {
		return err
	}
	_, err = d.prof.verifiedChain(ctx, d.c, h)
	return err
}

// SignInURL returns a fresh link that signs the demo account in once and
// enrols the browser that opens it: a one-time sign-in token, and an invite
// of the household whose secret only this process and the link hold. The
// secrets are in the fragment, which the browser never sends to the server.
func (d *Demo) SignInURL(ctx context.Context) (string, error) {
	tok, err := d.srv.SignInLink(ctx, d.acct, 30*time.Minute)
	if err != nil {
		return "", err
	}
	now := time.Now()
	secret := make([]byte, 32)
	rand.Read(secret)
	a, err := history.NewAction(d.HouseholdID, history.InviteParams{Invite: member.InviteID(secret), Role: keydir.RoleAdmin,
		Expires: now.Add(30 * time.Minute).Truncate(time.Millisecond)}, now)
	if err != nil {
		return "", err
	}
	signed, err := history.SignAction(d.admin, a)
	if err != nil {
		return "", err
	}
	inv, err := d.c.CreateInvite(ctx, d.HouseholdID, signed)
	if err != nil {
		return "", err
	}
	d.mu.Lock()
	d.invites[inv.ID] = secret
	d.mu.Unlock()
	h, err := d.prof.household(d.HouseholdID)
	if err != nil {
		return "", err
	}
	frag := url.Values{"t": {tok}, "k": {base64.RawURLEncoding.EncodeToString(secret)}, "h": {d.HouseholdID}, "g": {h.GenesisHash}}
	return d.CloudURL + "/demo#" + frag.Encode(), nil
}

// approveDevices adds to the chain every browser that asks to join through
// one of the demo's own sign-in links (an invite of this demo with a proof
// of its secret, member.JoinProof), and declines a request on such an
// invite without the proof. The proof stands in for the people comparing
// the join code: only whoever has the link knows the secret. Requests on
// any other invite (one a household member made in the web app) are left
// alone: they wait for an admin device to approve or decline them.
func (d *Demo) approveDevices(ctx context.Context) {
	told := map[string]bool{} // requests left to an admin device, already announced
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(300 * time.Millisecond):
		}
		reqs, err := d.c.JoinRequests(ctx, d.HouseholdID)
		if err != nil {
			if ctx.Err() == nil {
				d.log.Warn("join requests", "err", err)
			}
			continue
		}
		pending := map[string]bool{}
		for _, q := range reqs {
			if q.Status != "pending" {
				continue
			}
			pending[q.ID] = true
			d.mu.Lock()
			_, ours := d.invites[q.InviteID]
			d.mu.Unlock()
			if !ours {
				if !told[q.ID] {
					told[q.ID] = true
					fmt.Fprintf(d.out, "  join       %q asks to join: approve or decline it on an admin device (the household's Settings)\n", q.Name)
				}
				continue
			}
			if err := d.approve(ctx, q); err != nil {
				d.log.Warn("join request declined", "request", q.ID, "err", err)
				d.c.Raw(ctx, "DELETE", "/v1/households/"+url.PathEscape(d.HouseholdID)+"/join-requests/"+url.PathEscape(q.ID), nil)
			}
		}
		for id := range told {
			if !pending[id] {
				delete(told, id)
			}
		}
	}
}

// approve adds the device of q, a request on one of the demo's own
// invites, when its proof holds.
func (d *Demo) approve(ctx context.Context, q client.JoinRequest) error {
	d.mu.Lock()
	secret, ok := d.invites[q.InviteID]
	d.mu.Unlock()
	if !ok || !hmac.Equal(member.JoinProof(secret, q.InviteID, q.Device), q.Proof) {
		return errors.New("the proof does not match the secret of the demo's invite")
	}
	dk, err := keydir.ParseDevice(q.Device, keydir.RoleAdmin, q.Name)
	if err != nil {
		return err
	}
	h, err := d.prof.household(d.HouseholdID)
	if err != nil {
		return err
	}
	st, err := d.prof.verifiedChain(ctx, d.c, h)
	if err != nil {
		return err
	}
	if _, ok := st.Devices[dk.ID]; ok {
		return errors.New("the device is in the household already")
	}
	link, err := st.AddDevice(d.admin, dk, time.Now())
	if err != nil {
		return err
	}
	if err := d.c.ApproveJoinRequest(ctx, d.HouseholdID, q.ID, link); err != nil {
		return err
	}
	if _, err := d.prof.verifiedChain(ctx, d.c, h); err != nil {
		return err
	}
	fmt.Fprintf(d.out, "  browser    device %s (%s) added to the household\n", dk.ID, q.Name)
	return nil
}

// Hub returns the demo's hub.
func (d *Demo) Hub() *hubd.Hub { return d.hub }

// Close stops the hub, the camera and the cloud.
func (d *Demo) Close() error {
	d.cancel()
	d.wg.Wait()
	var errs []error
	if d.hub != nil {
		errs = append(errs, d.hub.Close())
	}
	if d.cam != nil {
		errs = append(errs, d.cam.Close())
	}
	if d.hs != nil {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := d.hs.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
			errs = append(errs, err)
		}
		cancel()
	}
	if d.srv != nil {
		errs = append(errs, d.srv.Close())
	}
	if d.tlog != nil {
		errs = append(errs, d.tlog.Close())
	}
	if d.witHS != nil {
		errs = append(errs, d.witHS.Close())
	}
	if d.wit != nil {
		errs = append(errs, d.wit.Close())
	}
	if d.blobs != nil {
		errs = append(errs, d.blobs.Close())
	}
	if d.st != nil {
		errs = append(errs, d.st.Close())
	}
	return errors.Join(errs...)
}

// selfName is how the user can run this binary again from the current
// directory: ./bin/vigil after 'make demo', or plain vigil from PATH.
func selfName() string {
	exe, err := os.Executable()
	if err != nil {
		return "vigil"
	}
	wd, err := os.Getwd()
	if err != nil {
		return "vigil"
	}
	rel, err := filepath.Rel(wd, exe)
	if err != nil || strings.HasPrefix(rel, "..") {
		return "vigil"
	}
	return "./" + rel
}

// demoIdentity loads the demo's local household identity, creating it on
// the first run, and returns its recipient string.
func demoIdentity(path string) (string, error) {
	ids, err := readIdentities(path)
	if err == nil {
		if x, ok := ids[0].(*envelope.X25519Identity); ok {
			return x.Recipient().String(), nil
		}
		return "", fmt.Errorf("%s: not an X25519 identity", path)
	}
	if _, statErr := os.Stat(path); !errors.Is(statErr, fs.ErrNotExist) {
		return "", err
	}
	id, err := envelope.GenerateX25519Identity()
	if err != nil {
		return "", err
	}
	text := fmt.Sprintf("# Vigil demo household identity (local copy).\n# recipient: %s\n%s\n", id.Recipient(), id)
	if err := keydir.WriteSecretFile(path, []byte(text)); err != nil {
		return "", err
	}
	return strings.TrimSpace(id.Recipient().String()), nil
}
