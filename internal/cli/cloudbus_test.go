package cli

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"vigil/internal/cloud"
	"vigil/internal/natstest"
)

// 'vigil cloud --check' with a NATS server that runs JetStream: the bus's
// line names the server and says JetStream is on.
func TestCheckBusNATS(t *testing.T) {
	url := natstest.URL(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "cloud.yaml")
	if err := os.WriteFile(path, []byte("listen: 127.0.0.1:0\ndata: data\nbus:\n  driver: nats\n  url: "+url+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := cloud.LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if failed := checkCloud(context.Background(), cfg, 10*time.Second, slog.New(slog.DiscardHandler), &out); len(failed) > 0 {
		t.Fatalf("failed %v:\n%s", failed, out.String())
	}
	if !regexp.MustCompile(`(?m)^bus: ok: nats nats://\S+: server \d+\.\d+\.\d+ \(nats://\S+\), JetStream on$`).MatchString(out.String()) {
		t.Errorf("check output:\n%s", out.String())
	}
}

// TestCheckHintNamesTheKey: a host name that does not resolve is blamed on
// the key of the service whose check failed.
func TestCheckHintNamesTheKey(t *testing.T) {
	dns := &net.DNSError{Err: "no such host", Name: "nohost.invalid", IsNotFound: true}
	for service, key := range map[string]string{"store": "the DSN's host", "blobs": "blobs.s3.endpoint", "bus": "bus.url"} {
		if h := checkHint(service, fmt.Errorf("connecting: %w", dns)); !strings.HasPrefix(h, key) {
			t.Errorf("%s: hint %q, want it to start with %q", service, h, key)
		}
	}
}
