package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"vigil/internal/cloud"
	"vigil/internal/cloud/liveview"
	"vigil/internal/metrics"
	"vigil/internal/netguard"
	"vigil/web"
)

// cloudSubs is the table of vigil cloud's subcommands; without one, vigil
// cloud runs the service.
func cloudSubs() []subcommand {
	return []subcommand{
		{"staff", func(e env, args []string) error { e.args = args; return runCloudStaff(e) }, cloudStaffSubs},
		{"workspace", func(e env, args []string) error { e.args = args; return runCloudWorkspace(e) }, cloudWorkspaceSubs},
	}
}

func runCloud(e env) error {
	if ok, err := dispatchSubcommand(&e, cloudSubs()); ok {
		return err
	}
	fs := newFlags(e, "cloud", "--config FILE [--check [--timeout D]]\n"+
		"       vigil cloud staff add|list|disable --config FILE [flags]   manage the staff accounts\n"+
		"       vigil cloud workspace add|list --config FILE [flags]   manage labelling workspaces\n\n"+
		subcommandList("cloud", cloudSubs())+"\n\nWithout a subcommand, run the cloud service (flags below).")
	path := fs.String("config", "", "cloud configuration file (YAML; see docs/CONFIG.md, \"Cloud\")")
	check := fs.Bool("check", false, "check the configuration and connect to every backing service (store, blobs, bus), print one line for each, and exit: 0 when all are ok")
	timeout := fs.Duration("timeout", 10*time.Second, "with --check: how long each service may take to answer")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the service to this file until it stops")
	if err := parse(fs, e.args, 0); err != nil {
		return err
	}
	if *path == "" {
		return fmt.Errorf("%w: --config is required (see docs/CONFIG.md, \"Cloud\")", ErrUsage)
	}
	if *timeout <= 0 {
		return fmt.Errorf("%w: --timeout must be positive", ErrUsage)
	}
	if *check {
		cfg, err := cloud.LoadConfig(*path)
		if err != nil {
			return err
		}
		log := slog.New(redactingHandler{h: newLogger(e.stderr, slog.LevelWarn).Handler(), redact: cfg.Redact})
		if failed := checkCloud(e.ctx, cfg, *timeout, log, e.stdout); len(failed) > 0 {
			return fmt.Errorf("check failed: %s", strings.Join(failed, ", "))
		}
		return nil
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer func() {
			pprof.StopCPUProfile()
			f.Close()
		}()
	}
	cfg, err := cloud.LoadConfig(*path)
	if err != nil {
		return err
	}
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	log := slog.New(redactingHandler{h: newLogger(e.stderr, level).Handler(), redact: cfg.Redact})
	ctx, stop := signal.NotifyContext(e.ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return err
	}
	// The URL on stdout lets scripts (and 'vigil bench cloud') find a
	// service started on port 0.
	return serveCloud(ctx, cfg, ln, log, func(url string) { fmt.Fprintln(e.stdout, url) })
}

// serveCloud runs the cloud service on ln until ctx is done.
func serveCloud(ctx context.Context, cfg *cloud.Config, ln net.Listener, log *slog.Logger, ready func(url string)) error {
	if err := os.MkdirAll(cfg.Data, 0o700); err != nil {
		return err
	}
	var cm *cloud.Metrics
	if cfg.MetricsListen != "" {
		reg := prometheus.NewRegistry()
		var err error
		if cm, err = cloud.NewMetrics(reg); err != nil {
			return err
		}
		mln, err := net.Listen("tcp", cfg.MetricsListen)
		if err != nil {
			return fmt.Errorf("metrics_listen: %w", err)
		}
		ms := metrics.Serve(mln, reg, log.With("component", "metrics"))
		defer ms.Close()
		log.Info("serving metrics", "url", "http://"+mln.Addr().String()+"/metrics")
	}
	st, err := openCloudStore(ctx, cfg, log, cm.StoreWriteObserver())
	if err != nil {
		return err
	}
	defer st.Close()
	blobs, err := openCloudBlobs(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer blobs.Close()
	scheme := "https"
	if cfg.TLSCert == "" {
		scheme = "http"
	}
	url := scheme + "://" + ln.Addr().String()
	public := cfg.PublicURL
	if public == "" {
		public = url
	}
	app, err := web.App()
	if err != nil {
		log.Warn("serving the API only", "reason", err)
		app = nil
	}
	var turnSrv *liveview.TURN
	if cfg.TURNListen != "" {
		if turnSrv, err = liveview.StartTURN(liveview.TURNConfig{Listen: cfg.TURNListen, PublicIP: cfg.TURNPublicIP}); err != nil {
			return err
		}
		defer turnSrv.Close()
		log.Info("TURN relay for live view", "udp", turnSrv.Addr().String())
	}
	msgBus, err := openCloudBus(ctx, cfg, log)
	if err != nil {
		return err
	}
	if msgBus != nil {
		defer msgBus.Close() // after the Server's Close (deferred later)
	}
	tl, err := openCloudLog(ctx, cfg, public, blobs, log)
	if err != nil {
		return err
	}
	defer tl.log.Close()
	srv, err := cloud.New(cloud.Options{
		Store: st, Blobs: blobs, Logger: log, PublicURL: public, App: app, TURN: turnSrv,
		Mailer:         cloud.OutboxMailer{Dir: filepath.Join(cfg.Data, "outbox")},
		SecureCookies:  cfg.TLSCert != "", // and whenever public is https (cloud.Options)
		TrustedProxies: cfg.TrustedProxyPrefixes(),
		QuotaBytes:     int64(cfg.Quota),
		MaxAge:         time.Duration(cfg.MaxAge),
		HubQuietAfter:  time.Duration(cfg.HubQuietAfter),
		Log:            tl.log, LogStorage: tl.storage, LogKey: tl.vkey,
		LogWitnesses: tl.witnesses, LogQuorum: cfg.Quorum(),
		OpenLog: clusterLog(cfg, tl),
		// On PostgreSQL the full retention sweep runs once for the
		// cluster, under the scheduler (cloudJobs).
		ClusterRetention: cfg.Store.Driver == cloud.StorePostgres,
		// So does the staff grant sweep (the staff-grants job).
		ClusterStaffSweep:   cfg.Store.Driver == cloud.StorePostgres,
		ClusterConsentSweep: cfg.Store.Driver == cloud.StorePostgres,
		ClusterShareSweep:   cfg.Store.Driver == cloud.StorePostgres,
		Bus:                 msgBus,
		Outbound:            netguard.Options{Allow: cfg.OutboundPrefixes()},
		Metrics:             cm,
	})
	if err != nil {
		return err
	}
	defer srv.Close()
	jobs, err := startCloudJobs(cfg, srv, log)
	if err != nil {
		return err
	}
	defer jobs.Close()
	if cfg.WebRelease != "" {
		entry, err := os.ReadFile(cfg.WebRelease)
		if err != nil {
			return fmt.Errorf("web_release: %w", err)
		}
		if err := srv.PublishRelease(ctx, entry); err != nil {
			return fmt.Errorf("web_release %s: %w (hint: make it with 'vigil release sign')", cfg.WebRelease, err)
		}
		log.Info("web app release in the transparency log", "file", cfg.WebRelease)
	} else if app != nil {
		log.Warn("the web app served here is not in the transparency log: set web_release to its signed release (vigil release sign) so browsers and monitors can check it")
	}
	hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	log.Info("cloud serving", "url", url, "data", cfg.Data, "store", cfg.StoreWhere(), "blobs", cfg.BlobsWhere(), "bus", cfg.BusWhere())
	ready(url)
	if err := serveHTTP(ctx, hs, ln, cfg.TLSCert, cfg.TLSKey); err != nil {
		return err
	}
	log.Info("cloud stopped")
	return nil
}

// serveHTTP serves hs on ln (TLS with certFile and keyFile when certFile is
// set) until serving fails or ctx is done, then shuts hs down, giving the
// requests under way 10 seconds to finish.
func serveHTTP(ctx context.Context, hs *http.Server, ln net.Listener, certFile, keyFile string) error {
	errc := make(chan error, 1)
	go func() {
		if certFile != "" {
			errc <- hs.ServeTLS(ln, certFile, keyFile)
		} else {
			errc <- hs.Serve(ln)
		}
	}()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return nil
}
