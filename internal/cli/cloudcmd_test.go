package cli

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"database/sql"
	"encoding/base32"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/minio/minio-go/v7"

	"vigil/internal/blob"
	"vigil/internal/client"
	"vigil/internal/cloud"
	"vigil/internal/cloud/auth"
	"vigil/internal/cloud/store"
	"vigil/internal/envelope"
	"vigil/internal/keydir"
	"vigil/internal/pgtest"
	"vigil/internal/s3test"
)

// syncBuffer is a bytes.Buffer safe for a writer and a reader at once.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// startCloud runs 'vigil cloud --config cfg' in-process until the test
// ends (or stop is called) and returns its URL and its log.
func startCloud(t *testing.T, cfg string) (url string, log *syncBuffer, stop func() int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out, log := &syncBuffer{}, &syncBuffer{}
	done := make(chan int, 1)
	go func() { done <- Run(ctx, []string{"cloud", "--config", cfg}, out, log) }()
	var once sync.Once
	code := 0
	stop = func() int {
		once.Do(func() {
			cancel()
			code = <-done
		})
		return code
	}
	t.Cleanup(func() { stop() })
	deadline := time.Now().Add(time.Minute)
	for {
		if u, _, ok := strings.Cut(out.String(), "\n"); ok {
			return u, log, stop
		}
		select {
		case c := <-done:
			done <- c // for stop, which the cleanup calls
			t.Fatalf("vigil cloud exited with %d:\n%s", c, log.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("vigil cloud did not start:\n%s", log.String())
		}
	}
}

// withPassword returns dsn with a password in it (one a trusting server
// ignores) unless it has one, and the password.
func withPassword(t *testing.T, dsn string) (string, string) {
	t.Helper()
	pc, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	if pc.Password != "" {
		return dsn, pc.Password
	}
	b := make([]byte, 8)
	rand.Read(b)
	pw := "pw-" + hex.EncodeToString(b)
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			t.Fatal(err)
		}
		u.User = url.UserPassword(u.User.Username(), pw)
		return u.String(), pw
	}
	return dsn + " password=" + pw, pw
}

// TestCloudPostgresS3 runs 'vigil cloud' on PostgreSQL and an S3 bucket
// (real servers: pgtest, s3test), with --check before and after the first
// start, and a member's round trip through the Go client: sign up, create
// a household, add a hub, upload a sealed object, list it and read it
// back. The household and the object land in PostgreSQL and the bucket,
// not in the data directory; no output shows the DSN's password or the S3
// secret key.
func TestCloudPostgresS3(t *testing.T) {
	t.Parallel()
	dsn, pgPassword := withPassword(t, pgtest.NewDB(t))
	s3 := s3test.Start(t)
	prefix := s3.Prefix(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "pg.dsn"), []byte(dsn+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "s3.secret"), []byte(s3.SecretKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "cloud.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`listen: 127.0.0.1:0
data: data
log_level: debug
store:
  driver: postgres
  dsn_file: pg.dsn
blobs:
  driver: s3
  s3:
    endpoint: %s
    secure: %v
    region: %s
    bucket: %s
    prefix: %s
    access_key: %s
    secret_key_file: s3.secret
`, s3.Endpoint, s3.Secure, s3.Region, s3.Bucket, prefix, s3.AccessKey)), 0o600)
	var outputs []string
	check := func(wantCode int, want ...string) {
		t.Helper()
		code, out, errOut := runVigil("cloud", "--check", "--config", cfg)
		outputs = append(outputs, out, errOut)
		if code != wantCode {
			t.Fatalf("vigil cloud --check exited with %d, want %d:\n%s%s", code, wantCode, out, errOut)
		}
		for _, w := range want {
			if !regexp.MustCompile("(?m)" + w).MatchString(out) {
				t.Errorf("vigil cloud --check printed\n%s\nwant a line matching %q", out, w)
			}
		}
	}
	blobsOK := `^blobs: ok: s3 https?://` + regexp.QuoteMeta(s3.Endpoint+"/"+s3.Bucket+"/"+prefix) +
		`: the bucket honours conditional writes; a probe object written, read back and deleted$`
	check(0, `^store: ok: postgres \S+: \d+ migration steps? pending \(version 0 of \d+\): the next start applies (it|them)$`, blobsOK)

	cloudURL, log, stop := startCloud(t, cfg)
	ctx := t.Context()
	c := client.New(cloudURL)
	res, err := c.SignUp(ctx, "ann@example.com", "a long enough password")
	if err != nil {
		t.Fatal(err)
	}
	totp, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(res.TOTPSecret)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.SignIn(ctx, "ann@example.com", "a long enough password", auth.TOTPCode(totp, time.Now())); err != nil {
		t.Fatal(err)
	}
	keys, err := keydir.NewDeviceKeys()
	if err != nil {
		t.Fatal(err)
	}
	genesis, _, st, err := keydir.NewHousehold("Home", keys, "laptop", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateHousehold(ctx, genesis); err != nil {
		t.Fatal(err)
	}
	_, hubKey, _ := ed25519.GenerateKey(rand.Reader)
	hubPub := hubKey.Public().(ed25519.PublicKey)
	link, err := st.AddHub(keys, keydir.DeviceKey{ID: keydir.DeviceID(hubPub), Role: keydir.RoleHub, Name: "hub", SignPub: hubPub}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := c.AppendLink(ctx, st.HouseholdID, link); err != nil {
		t.Fatal(err)
	}
	if err := st.Apply(link); err != nil {
		t.Fatal(err)
	}
	hub := &client.Client{BaseURL: cloudURL, HTTP: http.DefaultClient, DeviceID: keydir.DeviceID(hubPub), DeviceKey: hubKey}
	start := time.Now().Add(-time.Minute).Truncate(time.Second).UTC()
	plain := make([]byte, 50_000)
	rand.Read(plain)
	sealed, err := envelope.Seal(envelope.Header{Kind: envelope.KindSegment, Stream: "front", Start: start, Epoch: uint32(st.Epoch)},
		start.Add(4*time.Second), hubKey, plain, st.EpochRecipient())
	if err != nil {
		t.Fatal(err)
	}
	key, created, err := hub.Upload(ctx, sealed)
	if err != nil || !created {
		t.Fatalf("upload: %v (created %v)", err, created)
	}
	objs, err := c.Objects(ctx, st.HouseholdID, "front", time.Time{}, time.Time{})
	if err != nil || len(objs) != 1 || objs[0].Key != key {
		t.Fatalf("objects: %+v, %v; want the one uploaded (%s)", objs, err, key)
	}
	got, err := c.ReadObject(ctx, st.HouseholdID, key, 1<<20)
	if err != nil || !bytes.Equal(got, sealed) {
		t.Fatalf("reading the object back: %v (%d bytes, want %d)", err, len(got), len(sealed))
	}
	if hh, err := c.Households(ctx); err != nil || len(hh) != 1 || hh[0].ID != st.HouseholdID {
		t.Fatalf("households: %+v, %v", hh, err)
	}
	// On PostgreSQL the log is sequenced by the replica that leads (this
	// one, alone): the household's records get their log indexes.
	for deadline := time.Now().Add(20 * time.Second); ; {
		recs, err := c.History(ctx, st.HouseholdID, 1)
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) > 0 && recs[0].Index >= 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the household's records are not in the log: %+v\n%s", recs, log.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !strings.Contains(log.String(), `msg="scheduler: took over job" job=tlog`) {
		t.Errorf("the log does not say this replica leads the log's sequencing:\n%s", log.String())
	}
	for _, job := range []string{"retention", "staff-grants", "consent-expiry", "share-clips"} {
		for deadline := time.Now().Add(10 * time.Second); !strings.Contains(log.String(), `msg="scheduler: took over job" job=`+job); {
			if time.Now().After(deadline) {
				t.Fatalf("the log does not say this replica runs the cluster's %s job:\n%s", job, log.String())
			}
			time.Sleep(100 * time.Millisecond)
		}
	}

	// The object is in the bucket under the prefix, the household and the
	// object's index in PostgreSQL; the data directory holds neither.
	inBucket := false
	for o := range s3.Client().ListObjects(ctx, s3.Bucket, minio.ListObjectsOptions{Prefix: prefix + "/", Recursive: true}) {
		if o.Err != nil {
			t.Fatal(o.Err)
		}
		inBucket = inBucket || o.Size == int64(len(sealed))
	}
	if !inBucket {
		t.Errorf("no object of %d bytes under %s/ in the bucket", len(sealed), prefix)
	}
	pg, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	var households, objects int
	if err := pg.QueryRow(ctx, `SELECT (SELECT count(*) FROM households), (SELECT count(*) FROM objects)`).Scan(&households, &objects); err != nil {
		t.Fatal(err)
	}
	if households != 1 || objects != 1 {
		t.Errorf("PostgreSQL holds %d households and %d objects, want 1 and 1", households, objects)
	}
	for _, p := range []string{"cloud.db", "blobs"} {
		if _, err := os.Stat(filepath.Join(dir, "data", p)); err == nil {
			t.Errorf("data/%s exists: the default backend was opened", p)
		}
	}
	if code := stop(); code != 0 {
		t.Errorf("vigil cloud exited with %d:\n%s", code, log.String())
	}
	if !strings.Contains(log.String(), "store=\"postgres ") || !strings.Contains(log.String(), "blobs=\"s3 ") {
		t.Errorf("the log does not name the backends:\n%s", log.String())
	}
	outputs = append(outputs, log.String())

	check(0, `^store: ok: postgres \S+: schema up to date \(version \d+\)$`, blobsOK)

	// A schema a newer build wrote: the cloud would refuse it, --check says so.
	if _, err := pg.Exec(ctx, `INSERT INTO schema_migrations (version, applied_ns) VALUES (1000, 0)`); err != nil {
		t.Fatal(err)
	}
	pg.Close(ctx)
	check(1, `^store: FAIL: postgres \S+: schema version 1000 is newer than this build's \(\d+\); hint: run a newer vigil$`, blobsOK)

	for _, out := range outputs {
		for what, secret := range map[string]string{"the DSN's password": pgPassword, "the S3 secret key": s3.SecretKey} {
			if strings.Contains(out, secret) {
				t.Errorf("%s is in the output:\n%s", what, out)
			}
		}
	}
}

// TestCloudCheckSQLite runs --check on the default backends once they
// exist: the schema is up to date, the directory takes a probe object
// (and keeps none), a directory a running cloud holds is reported and not
// probed, and a schema from a newer build fails.
func TestCloudCheckSQLite(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "cloud.yaml")
	os.WriteFile(cfg, []byte("listen: 127.0.0.1:0\ndata: data\n"), 0o600)
	data := filepath.Join(dir, "data")
	os.MkdirAll(data, 0o700)
	st, err := store.OpenSQLite(t.Context(), filepath.Join(data, "cloud.db"), store.SQLiteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	bs, err := blob.OpenDir(filepath.Join(data, "blobs"), blob.DirOptions{})
	if err != nil {
		t.Fatal(err)
	}
	run := func(wantCode int, want ...string) {
		t.Helper()
		code, out, errOut := runVigil("cloud", "--check", "--config", cfg)
		if code != wantCode {
			t.Fatalf("vigil cloud --check exited with %d, want %d:\n%s%s", code, wantCode, out, errOut)
		}
		for _, w := range want {
			if !regexp.MustCompile("(?m)" + w).MatchString(out) {
				t.Errorf("vigil cloud --check printed\n%s\nwant a line matching %q", out, w)
			}
		}
	}
	run(0, `^store: ok: sqlite \S+/data/cloud.db: schema up to date \(version \d+\)$`,
		`^blobs: ok: dir \S+/data/blobs: in use by a running vigil cloud \(not probed\)$`)
	bs.Close()
	run(0, `^blobs: ok: dir \S+/data/blobs: a probe object written, read back and deleted$`)
	bs, err = blob.OpenDir(filepath.Join(data, "blobs"), blob.DirOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if keys, err := bs.List(t.Context(), ""); err != nil || len(keys) != 0 {
		t.Errorf("the blob store holds %q (%v) after --check, want nothing", keys, err)
	}
	bs.Close()

	db, err := sql.Open("sqlite", filepath.Join(data, "cloud.db"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`INSERT INTO schema_version (version, applied_ns) VALUES (1000, 0)`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	run(1, `^store: FAIL: sqlite \S+/data/cloud.db: schema version 1000 is newer than this build's \(\d+\); hint: run a newer vigil$`)
}

// TestRedactingLog: whatever a library puts in a log line (the message, a
// string, an error, a group, attributes bound with With) reaches the log
// without the config's secrets.
func TestRedactingLog(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "pg.dsn"), []byte("host=db.example.com user=vigil password=hunter2-pw dbname=vigil\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "s3.secret"), []byte("S3CRET-k3y\n"), 0o600)
	cfgPath := filepath.Join(dir, "cloud.yaml")
	os.WriteFile(cfgPath, []byte("listen: 127.0.0.1:0\ndata: d\nstore:\n  driver: postgres\n  dsn_file: pg.dsn\n"+
		"blobs:\n  driver: s3\n  s3:\n    endpoint: s3.example.com\n    bucket: vigil\n    access_key: AK\n    secret_key_file: s3.secret\n"), 0o600)
	cfg, err := cloud.LoadConfig(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	log := slog.New(redactingHandler{h: newLogger(&out, slog.LevelDebug).Handler(), redact: cfg.Redact})
	log = log.With("bound", "password=hunter2-pw")
	log.Warn("connecting with hunter2-pw", "err", errors.New("auth S3CRET-k3y refused"), "dsn", "password=hunter2-pw",
		slog.Group("g", "k", "S3CRET-k3y"), "n", 7)
	log.WithGroup("grp").Info("x", "url", "postgres://vigil:hunter2-pw@db/vigil")
	if s := out.String(); strings.Contains(s, "hunter2") || strings.Contains(s, "S3CRET") || strings.Count(s, "xxxxx") != 7 || !strings.Contains(s, "n=7") {
		t.Errorf("log:\n%s", s)
	}
}
