package cli

import (
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestBoundedDSN: a DSN without connect_timeout gets one, in either
// syntax; one that sets it keeps its own.
func TestBoundedDSN(t *testing.T) {
	for dsn, want := range map[string]time.Duration{
		"host=db.example.com user=vigil dbname=vigil":                    5 * time.Second,
		"postgres://vigil@db.example.com:5432/vigil?sslmode=verify-full": 5 * time.Second,
		"postgres://vigil@db.example.com/vigil":                          5 * time.Second,
		"host=db user=vigil connect_timeout=2":                           2 * time.Second,
		"postgres://vigil@db/vigil?connect_timeout=9":                    9 * time.Second,
	} {
		pc, err := pgx.ParseConfig(boundedDSN(dsn))
		if err != nil {
			t.Errorf("%s: %v", dsn, err)
			continue
		}
		if pc.ConnectTimeout != want {
			t.Errorf("%s: connect timeout %s, want %s", dsn, pc.ConnectTimeout, want)
		}
		if pc.Host == "" || pc.User != "vigil" {
			t.Errorf("%s: host %q user %q lost", dsn, pc.Host, pc.User)
		}
	}
}
