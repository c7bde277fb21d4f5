package cloudtest

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestScaledReplicas: a scaled cloud of two replicas serves through the
// proxy and each replica directly, with its store in PostgreSQL and its
// log in the bucket; a replica killed with SIGKILL is left out by the
// proxy, and restarted (on a new port) it serves again.
func TestScaledReplicas(t *testing.T) {
	c := Start(t, Scaled{Replicas: 2})
	if len(c.Replicas) != 2 || c.Proxy == nil || c.DSN == "" || c.Bucket == "" {
		t.Fatalf("scaled cloud: %+v", c)
	}
	for _, r := range c.Replicas {
		if code, body := get(t, r.URL()+"/v1/log"); code != 200 {
			t.Errorf("replica %d: GET /v1/log: %d %s", r.Index, code, body)
		}
	}
	for range 4 {
		if code, body := get(t, c.URL+"/v1/log"); code != 200 {
			t.Errorf("through the proxy: GET /v1/log: %d %s", code, body)
		}
	}

	old := c.Replicas[1].URL()
	c.Replicas[1].Kill(t)
	if c.Replicas[1].Running() || c.Replicas[1].PID() != 0 {
		t.Fatal("killed replica still running")
	}
	served := c.Proxy.Served()
	for range 4 {
		if code, body := get(t, c.URL+"/v1/log"); code != 200 {
			t.Errorf("with replica 1 killed: GET /v1/log: %d %s", code, body)
		}
	}
	if got := c.Proxy.Served() - served; got != 4 {
		t.Errorf("proxy passed on %d of 4 requests", got)
	}
	c.Replicas[1].Start(t)
	if c.Replicas[1].URL() == old || !c.Replicas[1].Running() {
		t.Errorf("restarted replica: %s (was %s), running %v", c.Replicas[1].URL(), old, c.Replicas[1].Running())
	}
	if code, body := get(t, c.Replicas[1].URL()+"/v1/log"); code != 200 {
		t.Errorf("restarted replica: GET /v1/log: %d %s", code, body)
	}

	// What is at rest: the schema in PostgreSQL, the log in the bucket.
	c.Stop()
	var tables, objects int
	st := c.Scan(t, func(where string, b []byte) {
		switch {
		case strings.HasPrefix(where, "postgres table "):
			tables++
		case strings.HasPrefix(where, "s3://"):
			objects++
		}
	})
	if st.Tables == 0 || st.Objects == 0 {
		t.Errorf("scan found no tables or no objects: %s", st)
	}
	t.Logf("scan: %s", st)
}

// TestEmbedded: the embedded cloud is one process behind the proxy, its
// database and blobs under its data directory.
func TestEmbedded(t *testing.T) {
	c := Start(t, Embedded{})
	if len(c.Replicas) != 1 || c.Proxy == nil || c.URL != c.Proxy.URL || c.DSN != "" {
		t.Fatalf("embedded cloud: %+v", c)
	}
	if code, body := get(t, c.URL+"/v1/log"); code != 200 {
		t.Errorf("GET /v1/log: %d %s", code, body)
	}
	c.Stop()
	st := c.Scan(t, func(string, []byte) {})
	if st.Tables == 0 || st.Files == 0 {
		t.Errorf("scan found no tables or files: %s", st)
	}
	t.Logf("scan: %s", st)
}
