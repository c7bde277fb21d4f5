package cloud

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"vigil/internal/yamlconf/yamlconftest"
)

func TestConfigBackends(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(s), mode); err != nil {
			t.Fatal(err)
		}
		return p
	}

	// Absent, the backends are today's: SQLite and a directory under data.
	c, err := LoadConfig(write("default.yaml", "listen: 127.0.0.1:0\ndata: d\n", 0o600))
	if err != nil {
		t.Fatal(err)
	}
	if c.Store.Driver != StoreSQLite || c.Blobs.Driver != BlobsDir ||
		c.StoreWhere() != "sqlite "+filepath.Join(dir, "d", "cloud.db") || c.BlobsWhere() != "dir "+filepath.Join(dir, "d", "blobs") {
		t.Errorf("defaults: %+v %+v, %s, %s", c.Store, c.Blobs, c.StoreWhere(), c.BlobsWhere())
	}

	// PostgreSQL and S3, secrets in files named relative to the config.
	write("pg.dsn", "postgres://vigil:p%40ss%2Fw0rd@db.example.com:5433/vigil?sslmode=verify-full\n", 0o600)
	write("s3.secret", "  s3-secret-key-value\n", 0o400)
	c, err = LoadConfig(write("cloud.yaml", `listen: 127.0.0.1:0
data: d
store:
  driver: postgres
  dsn_file: pg.dsn
blobs:
  driver: s3
  s3:
    endpoint: s3.example.com
    region: eu-central-1
    bucket: vigil-objects
    prefix: cloud/blobs/
    access_key: AKIAVIGIL
    secret_key_file: s3.secret
    part_size: 32MiB
    max_object_size: 2GB
`, 0o600))
	if err != nil {
		t.Fatal(err)
	}
	s3 := c.Blobs.S3
	if c.Store.DSNFile != filepath.Join(dir, "pg.dsn") || !strings.Contains(c.Store.ConnString(), "p%40ss%2Fw0rd@db.example.com") ||
		s3.SecretKeyFile != filepath.Join(dir, "s3.secret") || s3.SecretKey() != "s3-secret-key-value" ||
		!s3.IsSecure() || s3.PartSize != 32<<20 || s3.MaxObjectSize != 2e9 || s3.Region != "eu-central-1" {
		t.Errorf("config %+v %+v", c.Store, s3)
	}
	if w := c.StoreWhere(); w != "postgres db.example.com:5433/vigil" {
		t.Errorf("StoreWhere = %q", w)
	}
	if w := c.BlobsWhere(); w != "s3 https://s3.example.com/vigil-objects/cloud/blobs" {
		t.Errorf("BlobsWhere = %q", w)
	}
	// Redact hides the password as it is and as a URL escapes it, and the
	// S3 secret, wherever they stand in a message.
	msg := c.Redact("dial p@ss/w0rd; url p%40ss%2Fw0rd; q p%40ss%2Fw0rd; s3 s3-secret-key-value.")
	if strings.Contains(msg, "w0rd") || strings.Contains(msg, "s3-secret") || strings.Count(msg, "xxxxx") != 4 {
		t.Errorf("Redact = %q", msg)
	}

	// The PostgreSQL password from the environment is redacted too.
	t.Setenv("PGPASSWORD", "from-the-environment")
	c, err = LoadConfig(write("env.yaml", "listen: 127.0.0.1:0\ndata: d\nstore:\n  driver: postgres\n  dsn: host=db.example.com user=vigil dbname=vigil\n", 0o600))
	if err != nil {
		t.Fatal(err)
	}
	if msg := c.Redact("auth from-the-environment"); msg != "auth xxxxx" {
		t.Errorf("Redact = %q", msg)
	}
}

func TestConfigBackendErrors(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "open.dsn"), []byte("host=db password=hunter2\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "empty.secret"), nil, 0o600)
	const head = "listen: 127.0.0.1:0\ndata: d\n"
	for _, tc := range []struct{ yaml, want string }{
		{"store:\n  driver: postgres\n", "store.dsn: a postgres store needs a DSN (store.dsn or store.dsn_file"},
		{"store:\n  driver: postgres\n  dsn: postgres://u:hunter2@db/vigil\n", "store.dsn: holds a password"},
		{"store:\n  driver: postgres\n  dsn: host=db password=hunter2\n", "store.dsn: holds a password"},
		{"store:\n  driver: postgres\n  dsn: host=db sslpassword=hunter2\n", "store.dsn: holds a password"},
		{"store:\n  driver: postgres\n  dsn: postgres://u:hunter2@db:port/vigil\n", "store.dsn: holds a password"},
		{"store:\n  driver: postgres\n  dsn: host=db port=x\n", "store.dsn: not a PostgreSQL connection string"},
		{"store:\n  driver: postgres\n  dsn_file: open.dsn\n", "is open to others (mode 0644)"},
		{"store:\n  driver: postgres\n  dsn_file: nothere\n", "store.dsn_file:"},
		{"store:\n  dsn: host=db\n", "only for store.driver: postgres"},
		{"store:\n  driver: oracle\n", `store.driver: "oracle" is not sqlite or postgres`},
		{"store: postgres\n", "cloud.yaml:3: store: expected a mapping of driver, dsn, dsn_file, got the string \"postgres\""},
		{"store:\n  driver: postgres\n  driver: sqlite\n", "cloud.yaml:5: store.driver: key appears twice (first on line 4)"},
		{"store:\n  pasword: x\n", `cloud.yaml:4: store: unknown key "pasword" (known keys: driver, dsn, dsn_file)`},
		{"store:\n  password: hunter2\n", "store.password: unknown key: the password goes in the DSN"},
		{"blobs:\n  driver: s3\n", "blobs.s3.endpoint: required"},
		{"blobs:\n  driver: s3\n  s3:\n    secret_key_file: empty.secret\n", "empty.secret is empty"},
		{"blobs:\n  driver: s3\n  s3:\n    endpoint: http://minio:9000\n", "blobs.s3.endpoint: \"http://minio:9000\": give host or host:port"},
		{"blobs:\n  driver: s3\n  s3:\n    bucket: ab\n", `blobs.s3.bucket: "ab" is not a bucket name`},
		{"blobs:\n  driver: s3\n  s3:\n    prefix: ../x\n", `blobs.s3.prefix: "../x"`},
		{"blobs:\n  driver: s3\n  s3:\n    part_size: 6GiB\n", "blobs.s3.part_size: 6GiB: want 5MiB"},
		{"blobs:\n  driver: s3\n  s3:\n    part_size: 5MiB\n    max_object_size: 60GB\n", "blobs.s3.max_object_size: 60GB: at most 50000MiB"},
		{"blobs:\n  driver: s3\n  s3:\n    secure: maybe\n", `cloud.yaml:6: blobs.s3.secure: expected true or false, got the string "maybe"`},
		{"blobs:\n  s3:\n    bucket: b\n", "blobs.s3: only for blobs.driver: s3"},
		{"blobs:\n  driver: s3\n  s3:\n    secret_key: hunter2\n", "blobs.s3.secret_key: unknown key: the secret key never goes in this file"},
		{"witnesses:\n  - url: https://w.example\n    kee: x\n", `cloud.yaml:5: witnesses[0]: unknown key "kee" (hint: did you mean "key"?)`},
	} {
		p := filepath.Join(dir, "cloud.yaml")
		os.WriteFile(p, []byte(head+tc.yaml), 0o600)
		_, err := LoadConfig(p)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want an error mentioning %q", tc.yaml, err, tc.want)
			continue
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%q: the error shows the secret: %v", tc.yaml, err)
		}
	}
}

// TestDocCoversEveryKey checks that docs/CONFIG.md's cloud section names
// every key of Config, nested ones by their full name (store.dsn_file).
func TestDocCoversEveryKey(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "docs", "CONFIG.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, doc, ok := strings.Cut(string(b), "## Cloud service")
	if !ok {
		t.Fatal("docs/CONFIG.md has no \"## Cloud service\" section")
	}
	keys := yamlconftest.Keys(reflect.TypeFor[Config]())
	for _, key := range keys {
		// A section is documented by its keys; a list of mappings
		// (witnesses) by its own row.
		section := slices.ContainsFunc(keys, func(k string) bool { return strings.HasPrefix(k, key+".") })
		if (section && !strings.HasSuffix(key, "[]")) || strings.Contains(key, "[].") {
			continue
		}
		if key = strings.TrimSuffix(key, "[]"); !strings.Contains(doc, "`"+key+"`") {
			t.Errorf("docs/CONFIG.md's cloud section does not mention `%s`", key)
		}
	}
}
