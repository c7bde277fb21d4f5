// Package cloud is Vigil's cloud service: accounts and sign-in, households
// and their membership chains, the hub-pairing relay, sealed uploads from
// hubs and reads by members — over one HTTP API (docs/API.md).
//
// What it owns: who may call what. Every route is declared once in the route
// table (routes.go) with the authentication it needs; every household route
// passes through one membership check and one access recorder, so "which
// household's data did this request touch, and was that allowed and
// recorded" has a single answer.
//
// What it must never do: hold or receive anything that decrypts footage (G2)
// — it stores sealed objects, public keys, signed chain links and hashes of
// credentials, nothing else; treat an e-mail address as a credential (G3) —
// a reset by e-mail needs the second factor and restores account access,
// never keys; decide household membership (G4) — it verifies and stores the
// chain the household's admin devices sign, and serves it, and hubs and
// clients verify it again from the genesis they pinned; tell one household
// about another — IDs of other households answer exactly like IDs that do not
// exist; log tokens, passwords, codes, keys or object bytes; answer a client
// fault with a 500.
package cloud

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"time"

	"vigil/internal/blob"
	"vigil/internal/cloud/accounts"
	"vigil/internal/cloud/auth"
	"vigil/internal/cloud/bus"
	"vigil/internal/cloud/events"
	"vigil/internal/cloud/households"
	"vigil/internal/cloud/hubhealth"
	"vigil/internal/cloud/labelling"
	"vigil/internal/cloud/liveview"
	"vigil/internal/cloud/objects"
	"vigil/internal/cloud/passkeys"
	"vigil/internal/cloud/retention"
	"vigil/internal/cloud/shares"
	"vigil/internal/cloud/staff"
	"vigil/internal/cloud/store"
	"vigil/internal/devauth"
	"vigil/internal/history"
	"vigil/internal/netguard"
	"vigil/internal/tlog"
)

// Defaults for Options.
const (
	DefaultQuotaBytes  = 50 << 30
	DefaultSessionTTL  = accounts.DefaultSessionTTL
	DefaultAPITokenTTL = accounts.DefaultAPITokenTTL
	// MaxObjectBytes bounds one upload (a segment is a few MB; the segmenter
	// caps media at 64 MiB).
	MaxObjectBytes = 80 << 20
	// maxJSONBytes bounds every JSON request body.
	maxJSONBytes = 256 << 10
	pairingTTL   = 10 * time.Minute
	resetTTL     = accounts.DefaultResetTTL
)

// Mailer sends the service's e-mail (account resets). The message may hold a
// reset token; implementations must not log the body.
type Mailer interface {
	Send(ctx context.Context, to, subject, body string) error
}

// AccessRecorder records every read of a household's data or metadata, and
// every change. The Server's own records each one in the household's
// history, in the transparency log (translog.go).
type AccessRecorder interface {
	Record(ctx context.Context, a store.Access) error
}

// Options configure a Server.
type Options struct {
	Store  store.Store
	Blobs  blob.Store
	Mailer Mailer
	// Access records reads and changes; nil records them in the
	// households' histories in the transparency log (translog.go).
	Access AccessRecorder
	// Log is the transparency log, LogStorage its storage and LogKey its
	// note verifier key (served at /tlog/key). Without a Log the Server
	// runs one in memory with a fresh key (tests).
	Log        *tlog.Log
	LogStorage tlog.Storage
	LogKey     string
	// LogWitnesses are the cosignature keys of the witnesses the log asks
	// and LogQuorum how many must cosign for a checkpoint to count; both
	// are served to devices (GET /v1/log), which pin them.
	LogWitnesses []string
	LogQuorum    int
	// OpenLog, when set, leaves appending to the log to the replica that
	// leads the cluster: this Server only makes records durable in the
	// history outbox, and the command runs SequenceLog under a
	// cluster-wide lock (internal/cloud/leader); OpenLog opens the log
	// afresh from LogStorage for each term (Log is then not used). Unset,
	// the Server appends itself (one process).
	OpenLog func(ctx context.Context) (*tlog.Log, error)
	// ClusterRetention leaves the full retention sweep (every household,
	// every minute) to the cluster's scheduler, which runs SweepRetention
	// on one replica; this Server then sweeps only the households its own
	// uploads and settings changes nudge. Unset, it sweeps all itself.
	ClusterRetention bool
	// ClusterStaffSweep leaves recording the staff grants that ran out
	// unread (SweepStaffGrants, every StaffSweepInterval) to the
	// cluster's scheduler, which runs it on one replica at a time; this
	// Server then does not sweep itself (a read or listing of an expired
	// grant still records its expiry at once). Unset, it sweeps itself,
	// every StaffSweepEvery.
	ClusterStaffSweep bool
	// ClusterConsentSweep leaves ending the donations whose consent expired
	// (SweepConsents, every ConsentSweepInterval) to the cluster's
	// scheduler, which runs it on one replica at a time; unset, the Server
	// sweeps itself, every ConsentSweepInterval.
	ClusterConsentSweep bool
	// ClusterShareSweep leaves erasing the clips of revoked and expired
	// redacted shares (SweepShareClips, every ShareSweepInterval) to the
	// cluster's scheduler; unset, the Server sweeps itself.
	ClusterShareSweep bool
	// HubQuietAfter is how long a paired hub may go without a health
	// report before its household's members get one push saying it went
	// quiet (and one when it is back); 0: hubhealth.DefaultQuietAfter.
	HubQuietAfter time.Duration
	// HubWatchEvery is how often the Server looks for quiet hubs (0:
	// hubhealth.DefaultWatchEvery). Every replica may look: the store
	// marks each change once, and only the replica that marks it pushes.
	HubWatchEvery time.Duration
	// StaffSweepEvery is how often a Server that sweeps itself does (0:
	// StaffSweepInterval).
	StaffSweepEvery time.Duration
	// History keeps the history outbox and index; nil means the Store's
	// (when it has one: History() history.Store) or one in memory.
	History history.Store
	// Coalesce is how long repeated identical reads are counted into one
	// record (0: history.DefaultCoalesce).
	Coalesce time.Duration
	Logger   *slog.Logger
	Now      func() time.Time
	// App is the web app (index.html and assets/), served from every GET
	// path outside /v1/; nil serves the API alone.
	App fs.FS
	// PublicURL is the service's external URL (used in e-mails, and the
	// default relying party of passkeys).
	PublicURL string
	// RPID is the WebAuthn relying party ID that passkeys are bound to: a
	// domain name, PublicURL's host or a parent domain of it. Empty means
	// PublicURL's host ("localhost" when that is a loopback address; any
	// other IP address turns passkeys off). Changing it orphans every
	// registered passkey.
	RPID string
	// RPOrigins are the web origins ("https://vigil.example.com") allowed to
	// run passkey ceremonies. Empty means PublicURL's origin, plus the same
	// port on localhost when PublicURL is a loopback address.
	RPOrigins []string
	// SecureCookies marks cookies Secure and sends Strict-Transport-Security
	// (true unless serving plain HTTP on loopback). A PublicURL that is
	// https does the same whatever this says: behind a TLS-terminating
	// proxy the service hears plain HTTP, and its clients speak HTTPS.
	SecureCookies bool
	// QuotaBytes is the default per-household quota; past it the oldest
	// objects are deleted. 0 means DefaultQuotaBytes.
	QuotaBytes int64
	// MaxAge deletes objects older than this; 0 keeps them until the quota
	// needs the room.
	MaxAge time.Duration
	// Argon2 are the password hashing parameters; zero means
	// auth.DefaultArgon2.
	Argon2 auth.Argon2Params
	// TrustedProxies are the reverse proxies (their addresses) whose
	// X-Forwarded-For the client address is taken from: for a request
	// whose direct peer is in one of them, the client is the right-most
	// entry of X-Forwarded-For not itself in one of them (clientIP in
	// routes.go). Empty: the client is always the direct peer.
	TrustedProxies []netip.Prefix
	// TURN is the relay whose credentials live viewers and hubs get; nil
	// means none (liveview.StartTURN).
	TURN *liveview.TURN
	// Outbound is how the Server connects to addresses its users supply
	// (Web Push endpoints): the zero value admits public internet
	// addresses only, checked on each resolved address when the
	// connection is made (internal/netguard), so no endpoint reaches
	// loopback, a private network or a cloud metadata service whatever
	// its name resolves to. Tests that deliver to a push service on
	// 127.0.0.1 set Allow to loopback; they also give a Resolver of
	// their own.
	Outbound netguard.Options
	// Bus carries what crosses replicas: live-view signalling, event
	// notices, push jobs and cache invalidations (lifecycle.go). nil is an
	// in-process bus: one replica. The caller closes a Bus it gives, after
	// the Server.
	Bus bus.Bus
	// Metrics counts and times requests per route group and blob
	// operations (NewMetrics, on a registry the caller serves); nil
	// measures nothing.
	Metrics *Metrics
}

// Server is the cloud HTTP service.
type Server struct {
	opt    Options
	st     store.Store
	blobs  blob.Store
	access AccessRecorder
	log    *slog.Logger
	now    func() time.Time

	// Short-lived state is in the store, shared by every replica
	// (ephemeral.go): rate limits, TOTP steps, passkey ceremonies, sign-in
	// links, signed actions' nonces, invites and join requests; and, on
	// stores shared by replicas, device requests' nonces (devnonces.go).
	accounts  *accounts.Service // sign-up, sign-in, resets, sessions, limits (accounts.go)
	devices   *devauth.Verifier
	uploads   *devauth.Verifier // for authUpload: devices, or one remembering nonces per replica
	bodyReads chan struct{}     // device bodies being read (uploads.go)
	bodyWait  time.Duration     // how long a body waits for its turn (uploads.go)

	mux *http.ServeMux

	households *households.Service // chains, their verified states, the pairing relay (households.go)

	retention *retention.Service // quota and age retention (objects.go nudges it)
	objects   *objects.Service   // sealed uploads, listings and reads (objects.go)
	hubs      hubKeys            // cached hub keys (hubkeys.go)
	bodies    bodyPool           // device body buffers (uploads.go)

	passkeys *passkeys.Service // passkey registration and sign-in (passkey.go)

	shares *shares.Service // shared ranges for guests and links (shares.go)

	staff *staff.Service // staff identities, sessions and support codes (staff.go)

	hubHealth *hubhealth.Service // hubs' latest health reports (hubhealth_web.go)
	hubWatch  *hubhealth.Watcher // tells households of hubs gone quiet (hubhealth_web.go)

	labelling        *labelling.Service // donations and labelling workspaces (labelling_web.go)
	workspaceDevices *devauth.Verifier  // workspace routes: devices of the workspace's chain
	webApp           webAppBuild        // the web app's build, for staff (hubhealth_web.go)

	handler http.Handler // mux behind the security headers

	live *liveview.Service // live-view signalling across replicas (live.go; set by startBus)

	events   eventState      // event fan-out and Web Push sender (events.go)
	eventSvc *events.Service // event listing and Web Push subscriptions and delivery (events.go)

	work *workers // goroutines and WebSockets Close ends (lifecycle.go)

	outage outage   // backing services' unavailability, logged once per outage (routes.go)
	bus    busState // what crosses replicas (lifecycle.go)

	hist      *history.Publisher // the households' histories into the log (translog.go)
	ownLog    bool               // the log was opened by New (and is closed by Close)
	logOrigin string
	closeOnce sync.Once
}

// New returns a Server. It does not start listening; serve Handler().
func New(o Options) (*Server, error) {
	if o.Store == nil || o.Blobs == nil {
		return nil, errors.New("cloud: a metadata store and a blob store are required")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.QuotaBytes == 0 {
		o.QuotaBytes = DefaultQuotaBytes
	}
	if o.Argon2 == (auth.Argon2Params{}) {
		o.Argon2 = auth.DefaultArgon2
	}
	if o.Mailer == nil {
		o.Mailer = discardMailer{}
	}
	if u, err := url.Parse(o.PublicURL); err == nil && strings.EqualFold(u.Scheme, "https") {
		o.SecureCookies = true
	}
	o.Blobs = o.Metrics.blobs(o.Blobs) // metrics.go
	s := &Server{
		opt:    o,
		st:     o.Store,
		blobs:  o.Blobs,
		access: o.Access,
		log:    o.Logger,
		now:    o.Now,
		work:   newWorkers(),
	}
	lister, ok := o.Store.(store.HouseholdLister)
	if !ok {
		return nil, errors.New("cloud: the metadata store cannot list households (store.HouseholdLister), which retention needs")
	}
	var err error
	if s.households, err = households.New(households.Config{Store: o.Store, OnHead: s.queueHead,
		PairingTTL: pairingTTL, OnJoinRequest: s.joinRequested,
		OnSettings: func(hh string) { s.retention.Nudge(hh, "") }, Logger: o.Logger, Now: o.Now}); err != nil {
		return nil, err
	}
	s.retention, err = retention.New(retention.Config{Index: struct {
		store.Store
		store.HouseholdLister
	}{o.Store, lister}, Blobs: o.Blobs, QuotaBytes: o.QuotaBytes, MaxAge: o.MaxAge, Logger: o.Logger, Now: o.Now,
		Interval: retentionInterval(o.ClusterRetention)})
	if err != nil {
		return nil, err
	}
	s.work.start(func() { s.retention.Run(s.work.ctx) })
	if err := s.openLog(context.Background()); err != nil {
		s.work.stop()
		return nil, err
	}
	o = s.opt
	if s.access == nil {
		s.access = historyRecorder{s}
	}
	if s.shares, err = newShares(s); err != nil { // shares.go
		s.Close()
		return nil, err
	}
	if s.passkeys, err = passkeys.New(passkeys.Config{Store: o.Store, Staff: o.Store, PublicURL: o.PublicURL, RPID: o.RPID,
		RPOrigins: o.RPOrigins, Logger: o.Logger, Now: o.Now}); err != nil {
		s.Close()
		return nil, fmt.Errorf("cloud: %w", err)
	}
	if off := s.passkeys.Off(); off != "" {
		s.log.Warn("passkeys are off", "reason", off)
	}
	if s.accounts, err = accounts.New(accounts.Config{Store: o.Store, Mailer: o.Mailer, PublicURL: o.PublicURL,
		Argon2: o.Argon2, SessionTTL: DefaultSessionTTL, APITokenTTL: DefaultAPITokenTTL, ResetTTL: resetTTL,
		Logger: o.Logger, Now: o.Now}); err != nil {
		s.Close()
		return nil, err
	}
	if s.staff, err = staff.New(staff.Config{Store: o.Store, Logger: o.Logger, Now: o.Now}); err != nil {
		s.Close()
		return nil, err
	}
	if s.hubHealth, err = hubhealth.New(hubhealth.Config{Store: o.Store, Now: o.Now}); err != nil {
		s.Close()
		return nil, err
	}
	if !o.ClusterStaffSweep {
		every := o.StaffSweepEvery
		if every <= 0 {
			every = StaffSweepInterval
		}
		s.work.start(func() { s.sweepEvery(s.work.ctx, every, "recording expired staff grants", s.sweepStaffGrants) }) // staff.go
	}
	if s.objects, err = newObjects(s); err != nil { // objects.go
		s.Close()
		return nil, err
	}
	if s.eventSvc, err = newEventsService(s); err != nil { // events.go
		s.Close()
		return nil, err
	}
	if s.hubWatch, err = newHubWatch(s); err != nil { // hubhealth_web.go
		s.Close()
		return nil, err
	}
	s.devices = &devauth.Verifier{Lookup: s.deviceKey, Now: o.Now, Nonces: deviceNonces(o.Store)} // devnonces.go
	s.uploads = s.devices
	if s.devices.Nonces != nil {
		s.uploads = &devauth.Verifier{Lookup: s.deviceKey, Now: o.Now} // uploads: nonces per replica (devnonces.go)
	}
	if s.labelling, err = newLabelling(s); err != nil { // labelling_web.go
		s.Close()
		return nil, err
	}
	if !o.ClusterConsentSweep {
		s.work.start(func() {
			s.sweepEvery(s.work.ctx, ConsentSweepInterval, "ending donations whose consent expired", func(ctx context.Context) error {
				_, err := s.labelling.Sweep(ctx)
				return err
			})
		}) // labelling_web.go
	}
	if !o.ClusterShareSweep {
		s.work.start(func() {
			s.sweepEvery(s.work.ctx, ShareSweepInterval, "erasing the clips of ended shares", func(ctx context.Context) error {
				_, err := s.shares.SweepClips(ctx)
				return err
			})
		}) // shares.go
	}
	s.workspaceDevices = &devauth.Verifier{Lookup: s.workspaceDeviceKey, Now: o.Now, Nonces: deviceNonces(o.Store)}
	s.bodyReads, s.bodyWait = make(chan struct{}, maxBodyReads), bodyReadWait
	s.mux = http.NewServeMux()
	for _, rt := range s.routes() {
		s.mux.Handle(rt.method+" "+rt.pattern, o.Metrics.instrument(routeGroup(rt.method, rt.pattern), s.wrap(rt)))
	}
	s.mux.Handle("/tlog/", o.Metrics.instrument(routeGroup("GET", "/tlog/"), s.logHandler()))
	s.mux.Handle("/", o.Metrics.instrument(routeGroup("GET", "/"), http.HandlerFunc(s.serveApp)))
	s.handler = s.hardened(s.mux)
	if err := s.startBus(); err != nil { // lifecycle.go
		s.Close()
		return nil, err
	}
	return s, nil
}

// retentionInterval is how often a Server sweeps every household itself:
// never when the cluster's scheduler does (SweepRetention).
func retentionInterval(cluster bool) time.Duration {
	if cluster {
		return -1
	}
	return 0
}

// SweepRetention applies every household's quota and age limit once: the
// cluster's scheduler runs it on one replica when ClusterRetention is set.
func (s *Server) SweepRetention(ctx context.Context) error { return s.retention.Sweep(ctx) }

// Handler returns the HTTP handler of the API.
func (s *Server) Handler() http.Handler { return s.handler }

type discardMailer struct{}

func (discardMailer) Send(context.Context, string, string, string) error { return nil }

// sweepEvery runs sweep every interval until ctx is done: a Server's own
// sweeps (staff grants, expired consents, the clips of ended shares),
// unless the cluster's scheduler runs them; Close stops it. A failure is
// logged as what went wrong (what) and the next tick tries again.
func (s *Server) sweepEvery(ctx context.Context, every time.Duration, what string, sweep func(context.Context) error) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := sweep(ctx); err != nil && ctx.Err() == nil {
				s.log.Warn(what, "err", err)
			}
		}
	}
}
