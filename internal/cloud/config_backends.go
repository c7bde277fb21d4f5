package cloud

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/jackc/pgx/v5"

	"vigil/internal/blob"
	"vigil/internal/blob/s3blob"
	"vigil/internal/units"
)

// The backends a config names (docs/CONFIG.md, "Cloud": store and blobs).
const (
	StoreSQLite   = "sqlite"
	StorePostgres = "postgres"
	BlobsDir      = "dir"
	BlobsS3       = "s3"
	BusLocal      = "local"
	BusNATS       = "nats"
)

// StoreConfig says where the metadata lives (the store key).
type StoreConfig struct {
	// Driver is sqlite (the default: data/cloud.db) or postgres.
	Driver string `yaml:"driver"`
	// DSN is the PostgreSQL connection string (postgres only), as libpq
	// takes it: postgres://vigil@db.example.com/vigil?sslmode=verify-full
	// or host=... dbname=.... It may hold no password: a DSN with one goes
	// in DSNFile (or the password in ~/.pgpass or PGPASSWORD).
	DSN string `yaml:"dsn"`
	// DSNFile names a file (mode 0600) holding the DSN, password
	// included; relative to the config file.
	DSNFile string `yaml:"dsn_file"`

	dsn string // DSN, or DSNFile's contents once validate has read it
}

// BlobsConfig says where the sealed objects live (the blobs key).
type BlobsConfig struct {
	// Driver is dir (the default: data/blobs) or s3.
	Driver string `yaml:"driver"`
	// S3 is the bucket (s3 only).
	S3 S3Config `yaml:"s3"`
}

// S3Config is an S3-compatible bucket (blobs.s3). The bucket must exist;
// the cloud keeps its objects under Prefix and touches nothing else.
type S3Config struct {
	// Endpoint is the server's host[:port], without a scheme:
	// s3.eu-central-1.amazonaws.com, minio.internal:9000.
	Endpoint string `yaml:"endpoint"`
	// Secure: HTTPS (the default); false speaks plain HTTP.
	Secure *bool `yaml:"secure"`
	// Region is the bucket's region; empty asks the server.
	Region string `yaml:"region"`
	Bucket string `yaml:"bucket"`
	// Prefix puts the objects under Prefix/ in the bucket.
	Prefix    string `yaml:"prefix"`
	AccessKey string `yaml:"access_key"`
	// SecretKeyFile names a file (mode 0600) holding the secret key;
	// relative to the config file.
	SecretKeyFile string `yaml:"secret_key_file"`
	// PartSize: larger objects are uploaded in parts of this size; 0 means
	// s3blob.DefaultPartSize.
	PartSize units.ByteSize `yaml:"part_size"`
	// MaxObjectSize is the largest object accepted; 0 means the default.
	MaxObjectSize units.ByteSize `yaml:"max_object_size"`

	secretKey string // SecretKeyFile's contents once validate has read it
}

// IsSecure reports whether the endpoint speaks HTTPS.
func (s *S3Config) IsSecure() bool { return s.Secure == nil || *s.Secure }

// ConnString is the PostgreSQL DSN: store.dsn, or what store.dsn_file
// holds. It may hold the password: never log or print it (see Redact).
func (s *StoreConfig) ConnString() string {
	if s.dsn != "" {
		return s.dsn
	}
	return s.DSN
}

// SecretKey is the S3 secret key blobs.s3.secret_key_file holds. Never log
// or print it (see Redact).
func (s *S3Config) SecretKey() string { return s.secretKey }

// SQLitePath is the SQLite store's file.
func (c *Config) SQLitePath() string { return filepath.Join(c.Data, "cloud.db") }

// BlobDir is the directory store's root.
func (c *Config) BlobDir() string { return filepath.Join(c.Data, "blobs") }

// StoreWhere names the store for logs and messages, without a password:
// "sqlite /srv/vigil/cloud.db", "postgres db.example.com:5432/vigil".
func (c *Config) StoreWhere() string {
	if c.Store.Driver != StorePostgres {
		return "sqlite " + c.SQLitePath()
	}
	pc, err := pgx.ParseConfig(c.Store.ConnString())
	if err != nil {
		return "postgres (a DSN that does not parse)"
	}
	return fmt.Sprintf("postgres %s:%d/%s", pc.Host, pc.Port, pc.Database)
}

// BlobsWhere names the blob store for logs and messages:
// "dir /srv/vigil/blobs", "s3 https://s3.example.com/bucket/prefix".
func (c *Config) BlobsWhere() string {
	if c.Blobs.Driver != BlobsS3 {
		return "dir " + c.BlobDir()
	}
	s := &c.Blobs.S3
	scheme := "https"
	if !s.IsSecure() {
		scheme = "http"
	}
	w := "s3 " + scheme + "://" + s.Endpoint + "/" + s.Bucket
	if p := strings.Trim(s.Prefix, "/"); p != "" {
		w += "/" + p
	}
	return w
}

// Redact returns msg with every secret of the config replaced by xxxxx:
// the PostgreSQL password (from the DSN or the environment) and the S3
// secret key, also as they appear escaped in a URL. Errors of the
// backends pass through it before anyone sees them.
func (c *Config) Redact(msg string) string {
	var secrets []string
	if c.Store.Driver == StorePostgres {
		if pc, err := pgx.ParseConfig(c.Store.ConnString()); err == nil && pc.Password != "" {
			secrets = append(secrets, pc.Password)
		}
	}
	if k := c.Blobs.S3.secretKey; k != "" {
		secrets = append(secrets, k)
	}
	secrets = append(secrets, c.Bus.secrets...)
	for _, s := range secrets {
		for _, form := range []string{s, url.QueryEscape(s), url.PathEscape(s), url.UserPassword("u", s).String()[2:]} {
			if form != "" {
				msg = strings.ReplaceAll(msg, form, "xxxxx")
			}
		}
	}
	return msg
}

// bucketName is the bucket names S3 clients accept (the legacy rules,
// which the strict ones narrow).
var bucketName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:-]{1,61}[A-Za-z0-9]$`)

// pgPasswordKV finds a password in a key=value DSN.
var pgPasswordKV = regexp.MustCompile(`(?i)(^|\s)(ssl)?password\s*=`)

// dsnHasPassword reports whether the DSN text itself holds a password.
func dsnHasPassword(dsn string) bool {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return strings.Contains(strings.SplitN(strings.SplitN(dsn, "://", 2)[1], "@", 2)[0], ":")
		}
		_, pw := u.User.Password()
		q := u.Query()
		return pw || q.Has("password") || q.Has("sslpassword")
	}
	return pgPasswordKV.MatchString(dsn)
}

const dsnExample = "e.g. postgres://vigil@db.example.com:5432/vigil?sslmode=verify-full, or host=db.example.com user=vigil dbname=vigil"

// validate checks the store key and reads store.dsn_file.
func (s *StoreConfig) validate() []error {
	var errs []error
	switch s.Driver {
	case StoreSQLite, StorePostgres:
	default:
		return []error{fmt.Errorf("store.driver: %q is not sqlite or postgres", s.Driver)}
	}
	if s.Driver == StoreSQLite {
		if s.DSN != "" || s.DSNFile != "" {
			errs = append(errs, errors.New("store.dsn, store.dsn_file: only for store.driver: postgres (remove them, or set the driver)"))
		}
		return errs
	}
	switch {
	case s.DSN == "" && s.DSNFile == "":
		return []error{errors.New("store.dsn: a postgres store needs a DSN (store.dsn or store.dsn_file; " + dsnExample + ")")}
	case s.DSN != "" && s.DSNFile != "":
		return []error{errors.New("store.dsn, store.dsn_file: give one of them, not both")}
	case s.DSN != "":
		if dsnHasPassword(s.DSN) {
			return []error{errors.New("store.dsn: holds a password, which this file must not: put the DSN in a file of its own (mode 0600) named by store.dsn_file, or the password in ~/.pgpass")}
		}
		if _, err := pgx.ParseConfig(s.DSN); err != nil {
			// The parser's message quotes the DSN: say what is wrong without it.
			return []error{errors.New("store.dsn: not a PostgreSQL connection string (" + dsnExample + ")")}
		}
		s.dsn = s.DSN
	default:
		v, err := readSecretFile("store.dsn_file", s.DSNFile)
		if err != nil {
			return []error{err}
		}
		if _, err := pgx.ParseConfig(v); err != nil {
			return []error{fmt.Errorf("store.dsn_file: %s holds no PostgreSQL connection string (%s)", s.DSNFile, dsnExample)}
		}
		s.dsn = v
	}
	return errs
}

// validate checks the blobs key and reads blobs.s3.secret_key_file.
func (b *BlobsConfig) validate() []error {
	switch b.Driver {
	case BlobsDir, BlobsS3:
	default:
		return []error{fmt.Errorf("blobs.driver: %q is not dir or s3", b.Driver)}
	}
	s := &b.S3
	if b.Driver == BlobsDir {
		if *s != (S3Config{}) {
			return []error{errors.New("blobs.s3: only for blobs.driver: s3 (remove it, or set the driver)")}
		}
		return nil
	}
	var errs []error
	switch {
	case s.Endpoint == "":
		errs = append(errs, errors.New("blobs.s3.endpoint: required for blobs.driver s3: the S3 server's host or host:port (e.g. s3.eu-central-1.amazonaws.com)"))
	case strings.Contains(s.Endpoint, "/"):
		errs = append(errs, fmt.Errorf("blobs.s3.endpoint: %q: give host or host:port, without a scheme or path (blobs.s3.secure chooses https, the default, or http)", redactURL(s.Endpoint)))
	}
	switch {
	case s.Bucket == "":
		errs = append(errs, errors.New("blobs.s3.bucket: required for blobs.driver s3 (a bucket that exists: the cloud never creates one)"))
	case !bucketName.MatchString(s.Bucket) || strings.Contains(s.Bucket, ".."):
		errs = append(errs, fmt.Errorf("blobs.s3.bucket: %q is not a bucket name (3 to 63 letters, digits, '.' and '-', starting and ending with a letter or digit)", s.Bucket))
	}
	if p := strings.TrimSuffix(s.Prefix, "/"); p != "" && !blob.ValidKey(p) {
		errs = append(errs, fmt.Errorf("blobs.s3.prefix: %q: want segments of A-Z a-z 0-9 . _ - separated by single '/' (e.g. vigil/blobs)", s.Prefix))
	}
	if s.AccessKey == "" {
		errs = append(errs, errors.New("blobs.s3.access_key: required for blobs.driver s3"))
	}
	if s.SecretKeyFile == "" {
		errs = append(errs, errors.New("blobs.s3.secret_key_file: required for blobs.driver s3: a file (mode 0600) holding the secret key"))
	} else if v, err := readSecretFile("blobs.s3.secret_key_file", s.SecretKeyFile); err != nil {
		errs = append(errs, err)
	} else {
		s.secretKey = v
	}
	const maxPart, maxParts = 5 << 30, 10_000 // S3's limits
	part := int64(s.PartSize)
	if part == 0 {
		part = s3blob.DefaultPartSize
	}
	if part < s3blob.MinPartSize || part > maxPart {
		errs = append(errs, fmt.Errorf("blobs.s3.part_size: %s: want %s (S3's smallest part) to %s, or 0 for %s",
			s.PartSize, units.ByteSize(s3blob.MinPartSize), units.ByteSize(maxPart), units.ByteSize(s3blob.DefaultPartSize)))
	} else if int64(s.MaxObjectSize) > part*maxParts {
		errs = append(errs, fmt.Errorf("blobs.s3.max_object_size: %s: at most %s (part_size × S3's %d parts), or 0 for the default",
			s.MaxObjectSize, units.ByteSize(part*maxParts), maxParts))
	}
	return errs
}

// readSecretFile reads a file that holds a secret: it must be readable by
// its owner only. Errors name key and the file, never the contents.
func readSecretFile(key, path string) (string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("%s: %w", key, err)
	}
	if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("%s: %s is not a file", key, path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return "", fmt.Errorf("%s: %s is open to others (mode %04o): it holds a secret; chmod 600 %s", key, path, perm, path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("%s: %w", key, err)
	}
	v := strings.TrimSpace(string(b))
	if v == "" {
		return "", fmt.Errorf("%s: %s is empty", key, path)
	}
	return v, nil
}

// redactURL hides the password of a URL-like value quoted in an error.
func redactURL(v string) string {
	if u, err := url.Parse(v); err == nil && u.User != nil {
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
			return u.String()
		}
	}
	return v
}

// BusConfig says what carries messages between replicas (the bus key).
type BusConfig struct {
	// Driver is local (the default: in-process, one replica) or nats.
	Driver string `yaml:"driver"`
	// URL is the NATS server's URL, nats://host:4222 (tls:// for TLS), or
	// several separated by commas (nats only). It holds no user or
	// password: those go in CredsFile.
	URL string `yaml:"url"`
	// CredsFile names a NATS credentials file (mode 0600: a user JWT and
	// its seed, as 'nsc generate creds' writes); relative to the config
	// file. Empty connects without.
	CredsFile string `yaml:"creds_file"`

	secrets []string // the JWT and seed of CredsFile once validate has read it
}

const busCredsHint = "credentials never go in this file: name a NATS credentials file (mode 0600) in bus.creds_file"

// BusWhere names the bus for logs and messages: "local (in-process)",
// "nats nats://nats.internal:4222".
func (c *Config) BusWhere() string {
	if c.Bus.Driver != BusNATS {
		return "local (in-process)"
	}
	return "nats " + c.Bus.URL
}

// validate checks the bus key and reads bus.creds_file.
func (b *BusConfig) validate() []error {
	switch b.Driver {
	case BusLocal, BusNATS:
	default:
		return []error{fmt.Errorf("bus.driver: %q is not local or nats", b.Driver)}
	}
	if b.Driver == BusLocal {
		if b.URL != "" || b.CredsFile != "" {
			return []error{errors.New("bus.url, bus.creds_file: only for bus.driver: nats (remove them, or set the driver)")}
		}
		return nil
	}
	var errs []error
	if strings.TrimSpace(b.URL) == "" {
		errs = append(errs, errors.New("bus.url: required for bus.driver nats: the NATS server's URL (e.g. nats://nats.internal:4222; several separated by commas)"))
	}
	for u := range strings.SplitSeq(b.URL, ",") {
		u = strings.TrimSpace(u)
		if u == "" && strings.TrimSpace(b.URL) == "" {
			break
		}
		pu, err := url.Parse(u)
		switch {
		case err != nil || pu.Host == "" || (pu.Scheme != "nats" && pu.Scheme != "tls"):
			errs = append(errs, fmt.Errorf("bus.url: %q is not a NATS URL like nats://nats.internal:4222 (tls:// for TLS)", redactURL(u)))
		case pu.User != nil:
			errs = append(errs, fmt.Errorf("bus.url: %q holds a user or token, which this file must not: %s", redactURL(u), busCredsHint))
		case pu.Path != "" && pu.Path != "/" || pu.RawQuery != "":
			errs = append(errs, fmt.Errorf("bus.url: %q: give scheme://host:port, without a path or query", u))
		}
	}
	if b.CredsFile != "" {
		v, err := readSecretFile("bus.creds_file", b.CredsFile)
		switch {
		case err != nil:
			errs = append(errs, err)
		case !strings.Contains(v, "NATS USER JWT") || !strings.Contains(v, "USER NKEY SEED"):
			errs = append(errs, fmt.Errorf("bus.creds_file: %s is not a NATS credentials file (a user JWT and its seed, as 'nsc generate creds' writes)", b.CredsFile))
		default:
			for line := range strings.Lines(v) {
				line = strings.TrimSpace(line)
				if len(line) > 20 && !strings.HasPrefix(line, "-") && !strings.Contains(line, " ") {
					b.secrets = append(b.secrets, line)
				}
			}
		}
	}
	return errs
}
