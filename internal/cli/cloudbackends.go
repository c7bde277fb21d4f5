package cli

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"vigil/internal/blob"
	"vigil/internal/blob/s3blob"
	"vigil/internal/cloud"
	"vigil/internal/cloud/bus"
	"vigil/internal/cloud/bus/natsbus"
	"vigil/internal/cloud/leader"
	"vigil/internal/cloud/retention"
	"vigil/internal/cloud/store"
	"vigil/internal/tlog"
	"vigil/internal/units"
)

// blobStore is a blob store the cloud command opened and closes.
type blobStore interface {
	blob.Store
	Close() error
}

// redactedError is an error whose message had the config's secrets
// replaced; errors.Is and As still see the error it came from.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// redact returns err with cfg's secrets removed from its message.
func redact(cfg *cloud.Config, err error) error {
	if err == nil {
		return nil
	}
	return &redactedError{msg: cfg.Redact(err.Error()), err: err}
}

// openCloudStore opens the metadata store cfg names, bringing its schema
// up to date.
// observeWrite, if set, is given each write transaction's duration.
func openCloudStore(ctx context.Context, cfg *cloud.Config, log *slog.Logger, observeWrite func(time.Duration)) (store.Store, error) {
	if cfg.Store.Driver == cloud.StorePostgres {
		st, err := store.OpenPostgres(ctx, boundedDSN(cfg.Store.ConnString()), store.PostgresOptions{Logger: log, ObserveWrite: observeWrite})
		if err != nil {
			return nil, redact(cfg, fmt.Errorf("%w (hint: 'vigil cloud --check' tests the store and says what to fix)", err))
		}
		return st, nil
	}
	return store.OpenSQLite(ctx, cfg.SQLitePath(), store.SQLiteOptions{Logger: log, ObserveWrite: observeWrite})
}

// openCloudStoreFromConfig opens the store the cloud's configuration at
// path names, for a command run beside the cloud by whoever runs it: the
// configuration's data directory is made if missing, and log writes
// warnings to stderr with the configuration's secrets redacted; done
// closes the store.
func openCloudStoreFromConfig(e env, path string) (st store.Store, log *slog.Logger, done func(), err error) {
	if path == "" {
		return nil, nil, nil, fmt.Errorf("%w: --config is required (the cloud's configuration: see docs/CONFIG.md, \"Cloud\")", ErrUsage)
	}
	cfg, err := cloud.LoadConfig(path)
	if err != nil {
		return nil, nil, nil, err
	}
	if err := os.MkdirAll(cfg.Data, 0o700); err != nil {
		return nil, nil, nil, err
	}
	log = slog.New(redactingHandler{h: newLogger(e.stderr, slog.LevelWarn).Handler(), redact: cfg.Redact})
	st, err = openCloudStore(e.ctx, cfg, log, nil)
	if err != nil {
		return nil, nil, nil, err
	}
	return st, log, func() { st.Close() }, nil
}

// connectTimeout bounds a new connection to PostgreSQL unless the DSN sets
// connect_timeout: a request waits no longer for a database that does not
// answer (it gets 503), where the system's TCP timeout is minutes.
const connectTimeout = "5"

// boundedDSN returns dsn with connect_timeout set to connectTimeout
// seconds when it sets none.
func boundedDSN(dsn string) string {
	pc, err := pgx.ParseConfig(dsn)
	if err != nil || pc.ConnectTimeout != 0 {
		return dsn // OpenPostgres reports a DSN that does not parse
	}
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return dsn
		}
		q := u.Query()
		q.Set("connect_timeout", connectTimeout)
		u.RawQuery = q.Encode()
		return u.String()
	}
	return dsn + " connect_timeout=" + connectTimeout
}

// openCloudBlobs opens the blob store cfg names.
func openCloudBlobs(ctx context.Context, cfg *cloud.Config, log *slog.Logger) (blobStore, error) {
	if cfg.Blobs.Driver != cloud.BlobsS3 {
		return blob.OpenDir(cfg.BlobDir(), blob.DirOptions{Logger: log})
	}
	s := &cfg.Blobs.S3
	bs, err := s3blob.Open(ctx, s3blob.Config{
		Endpoint: s.Endpoint, Secure: s.IsSecure(), Region: s.Region, Bucket: s.Bucket, Prefix: s.Prefix,
		AccessKey: s.AccessKey, SecretKey: s.SecretKey(),
		PartSize: int64(s.PartSize), MaxObjectSize: int64(s.MaxObjectSize), Logger: log,
	})
	if err != nil {
		return nil, redact(cfg, fmt.Errorf("%w (hint: 'vigil cloud --check' tests the bucket and says what to fix)", err))
	}
	if host, _, err := net.SplitHostPort(s.Endpoint); !s.IsSecure() && (err != nil || !units.IsLoopbackHost(host)) {
		log.Warn("blobs.s3.secure is false: sealed objects and signed requests cross the network in plain HTTP", "endpoint", s.Endpoint)
	}
	return bs, nil
}

// clusterLog is cloud.Options.OpenLog: on PostgreSQL, where replicas may
// share the store, the log is appended to by the replica that leads
// (startCloudJobs); on SQLite (one process) the server appends itself.
func clusterLog(cfg *cloud.Config, tl *logSetup) func(context.Context) (*tlog.Log, error) {
	if cfg.Store.Driver != cloud.StorePostgres {
		return nil
	}
	return tl.open
}

// cloudJobs are the jobs that run once across the cloud's replicas: on
// PostgreSQL each on the replica that holds its lock, handed over when
// that replica dies; on SQLite (one process) the Server does this work
// itself. A job added here runs under the same rules, and the Server's
// option that stops it doing that work itself (Options.ClusterRetention,
// Options.ClusterStaffSweep, Options.ClusterConsentSweep, Options.ClusterShareSweep) is set in serveCloud on
// the same condition.
func cloudJobs(cfg *cloud.Config, srv *cloud.Server) []leader.Job {
	var jobs []leader.Job
	if cfg.Store.Driver == cloud.StorePostgres {
		jobs = append(jobs, leader.Job{Name: "tlog", Run: srv.SequenceLog},
			leader.Job{Name: "retention", Every: retention.DefaultInterval, Run: srv.SweepRetention},
			leader.Job{Name: "staff-grants", Every: cloud.StaffSweepInterval, Run: srv.SweepStaffGrants},
			leader.Job{Name: "consent-expiry", Every: cloud.ConsentSweepInterval, Run: srv.SweepConsents},
			leader.Job{Name: "share-clips", Every: cloud.ShareSweepInterval, Run: srv.SweepShareClips})
	}
	return jobs
}

// startCloudJobs starts the scheduler of cloudJobs; Close stops them.
func startCloudJobs(cfg *cloud.Config, srv *cloud.Server, log *slog.Logger) (*leader.Scheduler, error) {
	lc := leader.Config{Logger: log}
	if cfg.Store.Driver == cloud.StorePostgres {
		lc.DSN = cfg.Store.ConnString()
	}
	s, err := leader.New(lc, cloudJobs(cfg, srv)...)
	if err != nil {
		return nil, redact(cfg, err)
	}
	return s, nil
}

// checkResult is what one check of 'vigil cloud --check' found.
type checkResult struct {
	service string
	msg     string
	err     error
}

// checkCloud tests each backing service cfg names, each within timeout
// and all at once, and writes one line per service to w: "ok" and what it
// found, or what is wrong and what to do. It returns the services that
// failed. It changes nothing but a probe object it writes and deletes
// (under checkPrefix) in a blob store that exists.
func checkCloud(ctx context.Context, cfg *cloud.Config, timeout time.Duration, log *slog.Logger, w io.Writer) (failed []string) {
	checks := []struct {
		service string
		run     func(context.Context, *cloud.Config, *slog.Logger) (string, error)
	}{
		{"store", checkStore},
		{"blobs", checkBlobs},
		{"bus", checkBus},
	}
	results := make([]checkResult, len(checks))
	var wg sync.WaitGroup
	for i, c := range checks {
		wg.Go(func() {
			cctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			msg, err := c.run(cctx, cfg, log)
			if err != nil && cctx.Err() != nil && ctx.Err() == nil {
				err = fmt.Errorf("%w: no answer within %s (hint: check the host, the port and any firewall between; --timeout waits longer)", err, timeout)
			}
			results[i] = checkResult{service: c.service, msg: msg, err: err}
		})
	}
	wg.Wait()
	for _, r := range results {
		if r.err != nil {
			fmt.Fprintf(w, "%s: FAIL: %s\n", r.service, cfg.Redact(checkFailure(r.service, r.msg, r.err)))
			failed = append(failed, r.service)
			continue
		}
		fmt.Fprintf(w, "%s: ok: %s\n", r.service, cfg.Redact(r.msg))
	}
	return failed
}

// checkFailure words a failed check: where, what went wrong and, when the
// error does not say already, a hint.
func checkFailure(service, where string, err error) string {
	msg := err.Error()
	for _, p := range []string{"store: ", "blob/s3: ", "blob: ", "bus: "} {
		msg = strings.TrimPrefix(msg, p)
	}
	if where != "" && !strings.Contains(msg, where) {
		msg = where + ": " + msg
	}
	if strings.Contains(msg, "hint:") {
		return msg
	}
	if h := checkHint(service, err); h != "" {
		msg += " (hint: " + h + ")"
	}
	return msg
}

// checkHint says what to do about a failed check's error, or "".
func checkHint(service string, err error) string {
	var pe *pgconn.PgError
	var dns *net.DNSError
	switch {
	case service == "bus" && (errors.Is(err, syscall.ECONNREFUSED) || strings.Contains(err.Error(), "no servers available")):
		return "nothing listens there: is nats-server running, and does bus.url name it?"
	case service == "bus" && strings.Contains(strings.ToLower(err.Error()), "authorization"):
		return "the NATS server refused the connection's credentials: check bus.creds_file"
	case errors.Is(err, syscall.ECONNREFUSED) || strings.Contains(err.Error(), "connection refused"):
		if service == "store" {
			return "nothing listens there: is PostgreSQL running, and do the DSN's host and port (store.dsn or store.dsn_file) name it?"
		}
		return "nothing listens there: is the S3 server running, and does blobs.s3.endpoint name it?"
	case errors.As(err, &dns):
		switch service {
		case "store":
			return "the DSN's host name does not resolve"
		case "bus":
			return "bus.url's host name does not resolve"
		}
		return "blobs.s3.endpoint's host name does not resolve"
	case errors.As(err, &pe) && (pe.Code == "28P01" || pe.Code == "28000"):
		return "the server refused the user or password: check the DSN (store.dsn_file), ~/.pgpass or PGPASSWORD"
	case errors.As(err, &pe) && pe.Code == "3D000":
		return "the database does not exist: create it (createdb), or correct the DSN's database name"
	case errors.As(err, &pe) && pe.Code == "42501":
		return "the user lacks a privilege the cloud needs: grant it CREATE and USAGE on the schema"
	case strings.Contains(err.Error(), "server gave HTTP response to HTTPS client"):
		return "the endpoint speaks plain HTTP: set blobs.s3.secure: false (or give it TLS)"
	case strings.Contains(err.Error(), "certificate"):
		return "the endpoint's TLS certificate is not trusted here: check blobs.s3.endpoint, or install its CA"
	}
	return ""
}

// checkStore reads the store's schema state without changing it.
func checkStore(ctx context.Context, cfg *cloud.Config, _ *slog.Logger) (string, error) {
	where := cfg.StoreWhere()
	var st store.SchemaState
	var err error
	if cfg.Store.Driver == cloud.StorePostgres {
		st, err = store.PostgresSchemaState(ctx, cfg.Store.ConnString())
	} else {
		st, err = store.SQLiteSchemaState(ctx, cfg.SQLitePath())
	}
	if err != nil {
		return where, err
	}
	if st.Newer() {
		return where, errors.New(where + ": " + st.String())
	}
	return where + ": " + st.String(), nil
}

// checkPrefix is where the blob check writes its probe object; no object
// of the cloud's is under it.
const checkPrefix = "vigil-check"

// checkBlobs opens the blob store (an S3 store checks its bucket and
// conditional writes as it opens) and writes, reads back and deletes a
// probe object. A directory not made yet is fine when its parent is a
// directory; one a running cloud holds is not probed.
func checkBlobs(ctx context.Context, cfg *cloud.Config, log *slog.Logger) (string, error) {
	where := cfg.BlobsWhere()
	var bs blobStore
	var err error
	opened := ""
	if cfg.Blobs.Driver == cloud.BlobsS3 {
		s := &cfg.Blobs.S3
		bs, err = s3blob.Open(ctx, s3blob.Config{
			Endpoint: s.Endpoint, Secure: s.IsSecure(), Region: s.Region, Bucket: s.Bucket, Prefix: s.Prefix,
			AccessKey: s.AccessKey, SecretKey: s.SecretKey(),
			PartSize: int64(s.PartSize), MaxObjectSize: int64(s.MaxObjectSize), Logger: log,
		})
		opened = "the bucket honours conditional writes; "
	} else {
		dir := cfg.BlobDir()
		if _, serr := os.Stat(dir); errors.Is(serr, fs.ErrNotExist) {
			parent := filepath.Dir(dir)
			for {
				fi, err := os.Stat(parent)
				if err == nil && fi.IsDir() {
					return where + ": not made yet: the first start makes it (in " + parent + ")", nil
				}
				if err == nil || !errors.Is(err, fs.ErrNotExist) || parent == filepath.Dir(parent) {
					return where, fmt.Errorf("%s cannot be made: %s is not a directory", dir, parent)
				}
				parent = filepath.Dir(parent)
			}
		}
		bs, err = blob.OpenDir(dir, blob.DirOptions{Logger: log})
		if errors.Is(err, blob.ErrLocked) {
			return where + ": in use by a running vigil cloud (not probed)", nil
		}
	}
	if err != nil {
		return where, err
	}
	defer bs.Close()
	var rnd [8]byte
	rand.Read(rnd[:])
	key := checkPrefix + "/" + hex.EncodeToString(rnd[:])
	data := make([]byte, 64)
	rand.Read(data)
	if _, _, err := bs.Put(ctx, key, bytes.NewReader(data), int64(len(data))); err != nil {
		return where, fmt.Errorf("writing a probe object: %w", err)
	}
	got, rerr := readAll(ctx, bs, key)
	if derr := bs.Delete(ctx, key); derr != nil {
		return where, fmt.Errorf("deleting the probe object %s: %w", key, derr)
	}
	switch {
	case rerr != nil:
		return where, fmt.Errorf("reading the probe object back: %w", rerr)
	case !bytes.Equal(got, data):
		return where, errors.New("the probe object read back differs from what was written")
	}
	if _, err := bs.Stat(ctx, key); !errors.Is(err, blob.ErrNotFound) {
		return where, fmt.Errorf("the deleted probe object is still there (%v)", err)
	}
	return where + ": " + opened + "a probe object written, read back and deleted", nil
}

// openCloudBus opens the bus cfg names: nil for the in-process one (the
// Server makes it), a NATS connection the caller closes after the Server.
func openCloudBus(ctx context.Context, cfg *cloud.Config, log *slog.Logger) (bus.Bus, error) {
	if cfg.Bus.Driver != cloud.BusNATS {
		return nil, nil
	}
	host, _ := os.Hostname()
	b, err := natsbus.Open(ctx, natsbus.Options{URL: cfg.Bus.URL, CredsFile: cfg.Bus.CredsFile, Name: "vigil cloud " + host, Logger: log})
	if err != nil {
		return nil, redact(cfg, fmt.Errorf("%w (hint: 'vigil cloud --check' tests the bus and says what to fix)", err))
	}
	return b, nil
}

// checkBus connects to the NATS server and asks it about JetStream; the
// in-process bus needs nothing.
func checkBus(ctx context.Context, cfg *cloud.Config, log *slog.Logger) (string, error) {
	where := cfg.BusWhere()
	if cfg.Bus.Driver != cloud.BusNATS {
		return where + ": one replica only (several need bus.driver: nats)", nil
	}
	o := natsbus.Options{URL: cfg.Bus.URL, CredsFile: cfg.Bus.CredsFile, Name: "vigil cloud --check", Logger: log}
	if d, ok := ctx.Deadline(); ok {
		// A little past the check's own deadline, which then says so.
		o.ConnectTimeout = time.Until(d) + 50*time.Millisecond
	}
	b, err := natsbus.Open(ctx, o)
	if err != nil {
		if ctx.Err() == nil && strings.Contains(err.Error(), "timeout") {
			<-ctx.Done()
		}
		return where, err
	}
	defer b.Close()
	return where + ": " + b.Server(), nil
}

func readAll(ctx context.Context, bs blob.Store, key string) ([]byte, error) {
	o, err := bs.Open(ctx, key)
	if err != nil {
		return nil, err
	}
	defer o.Close()
	return io.ReadAll(o)
}

// redactingHandler passes records to h with redact applied to the message
// and to every attribute's text, so that no log line of the cloud shows
// the config's secrets, whatever a library put in an error.
type redactingHandler struct {
	h      slog.Handler
	redact func(string) string
}

func (r redactingHandler) Enabled(ctx context.Context, l slog.Level) bool { return r.h.Enabled(ctx, l) }

func (r redactingHandler) Handle(ctx context.Context, rec slog.Record) error {
	out := slog.NewRecord(rec.Time, rec.Level, r.redact(rec.Message), rec.PC)
	rec.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(r.attr(a))
		return true
	})
	return r.h.Handle(ctx, out)
}

func (r redactingHandler) WithAttrs(as []slog.Attr) slog.Handler {
	red := make([]slog.Attr, len(as))
	for i, a := range as {
		red[i] = r.attr(a)
	}
	return redactingHandler{h: r.h.WithAttrs(red), redact: r.redact}
}

func (r redactingHandler) WithGroup(name string) slog.Handler {
	return redactingHandler{h: r.h.WithGroup(name), redact: r.redact}
}

func (r redactingHandler) attr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindGroup:
		g := v.Group()
		red := make([]any, len(g))
		for i, ga := range g {
			red[i] = r.attr(ga)
		}
		return slog.Group(a.Key, red...)
	case slog.KindString:
		return slog.String(a.Key, r.redact(v.String()))
	case slog.KindAny:
		if s := fmt.Sprint(v.Any()); r.redact(s) != s {
			return slog.String(a.Key, r.redact(s))
		}
	}
	return slog.Attr{Key: a.Key, Value: v}
}
