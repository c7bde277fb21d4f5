package cloud_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"vigil/internal/client"
	"vigil/internal/cloud"
	"vigil/internal/keydir"
	vmember "vigil/internal/member"
)

// lockedBuffer is a bytes.Buffer for a logger written from many
// goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) Bytes() []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	return bytes.Clone(l.b.Bytes())
}

// forms are the ways bytes b may be written down.
func forms(b []byte) []string {
	return []string{string(b), hex.EncodeToString(b), strings.ToUpper(hex.EncodeToString(b)), fmt.Sprint(b), fmt.Sprintf("%q", b),
		base64.RawStdEncoding.EncodeToString(b), base64.RawURLEncoding.EncodeToString(b)}
}

// An invite's secret and key never travel in a path or a query, and
// neither they nor the key appear in the cloud's logs (every level) or in
// any byte it stores; the invite's ID alone reads nothing. The whole
// flow runs: invite, read, a wrong key, join, follow, approve, and the
// refusals after expiry.
func TestInviteSecretsNeverInPathsOrLogs(t *testing.T) {
	var logs lockedBuffer
	e := newEnvWith(t, func(o *cloud.Options) {
		o.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	// Every request the cloud receives, as its request line and headers.
	var mu sync.Mutex
	var seen []string
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Method+" "+r.RequestURI)
		for k, v := range r.Header {
			seen = append(seen, k+": "+strings.Join(v, ","))
		}
		mu.Unlock()
		e.srv.Handler().ServeHTTP(w, r)
	}))
	t.Cleanup(front.Close)
	e.url = front.URL
	ctx := context.Background()
	alice := e.signUp("alice@example.com")
	bob := e.signUp("bob@example.com")
	mallory := e.signUp("mallory@example.com")
	st := e.household(alice, "Home")
	hh := st.HouseholdID
	inv := e.invite(alice, hh, "member", time.Hour)

	// Knowing the ID (from a log, a path, the household's history) is not
	// enough to read the invite or ask to join.
	for _, try := range []struct{ method, path, body string }{
		{"GET", "/v1/invites/" + inv.ID, ""},
		{"POST", "/v1/invites/open", `{"invite_id":"` + inv.ID + `"}`},
		{"POST", "/v1/invites/open", `{"key":"` + base64.StdEncoding.EncodeToString([]byte(inv.ID)) + `"}`},
	} {
		var body []byte
		if try.body != "" {
			body = []byte(try.body)
		}
		status, b, _ := mallory.c.Raw(ctx, try.method, try.path, body)
		if status == 200 || strings.Contains(string(b), "Home") || strings.Contains(string(b), hh) {
			t.Errorf("%s %s with the invite's ID only: %d %s", try.method, try.path, status, b)
		}
	}
	if _, err := mallory.c.OpenInvite(ctx, vmember.InviteKey([]byte("not the secret of this invite...."))); !client.IsStatus(err, 404) {
		t.Errorf("a wrong key: %v, want 404", err)
	}
	info, err := bob.c.OpenInvite(ctx, inv.Key)
	if err != nil || info.ID != inv.ID || info.HouseholdName != "Home" || info.Role != "member" {
		t.Fatalf("reading the invite with its key: %+v %v", info, err)
	}
	rid, _, dev := joinRequest(t, bob, inv)
	if s, err := bob.c.JoinStatus(ctx, inv.Key, rid); err != nil || s != "pending" {
		t.Fatalf("following the request: %q %v", s, err)
	}
	dk, err := keydir.ParseDevice(dev, keydir.RoleMember, "phone")
	if err != nil {
		t.Fatal(err)
	}
	link, err := st.AddDevice(alice.keys, dk, e.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := alice.c.ApproveJoinRequest(ctx, hh, rid, link); err != nil {
		t.Fatal(err)
	}
	if s, err := bob.c.JoinStatus(ctx, inv.Key, rid); err != nil || s != "approved" {
		t.Fatalf("after approval: %q %v", s, err)
	}
	e.clock.Add(time.Hour)
	if _, err := bob.c.OpenInvite(ctx, inv.Key); !client.IsStatus(err, 404) {
		t.Errorf("the invite after expiry: %v, want 404", err)
	}
	if err := e.srv.SyncLog(ctx); err != nil {
		t.Fatal(err)
	}

	mu.Lock()
	requests := strings.Join(seen, "\n")
	mu.Unlock()
	if !strings.Contains(requests, "POST /v1/invites/open") || !strings.Contains(requests, "POST /v1/invites/join") {
		t.Fatalf("the recorder did not see the invite routes:\n%s", requests)
	}
	logged := logs.Bytes()
	if !bytes.Contains(logged, []byte("join request")) {
		t.Fatalf("the join request was not logged (the logger is not the Server's?):\n%s", logged)
	}
	var stored [][]byte
	filepath.WalkDir(e.dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if b, err := os.ReadFile(p); err == nil {
				stored = append(stored, b)
			}
		}
		return nil
	})
	if len(stored) == 0 {
		t.Fatal("no stored files to scan")
	}
	for what, b := range map[string][]byte{"secret": inv.Secret, "key": inv.Key} {
		for _, f := range forms(b) {
			for _, line := range seen {
				if strings.HasPrefix(line, "GET ") || strings.HasPrefix(line, "POST ") || strings.HasPrefix(line, "PUT ") || strings.HasPrefix(line, "DELETE ") {
					if strings.Contains(line, f) {
						t.Errorf("the invite's %s is in a request line: %s", what, line)
					}
				}
			}
			if bytes.Contains(logged, []byte(f)) {
				t.Errorf("the invite's %s (%q) is in the cloud's logs", what, f)
			}
			for _, s := range stored {
				if bytes.Contains(s, []byte(f)) {
					t.Errorf("the invite's %s (%q) is in a stored file", what, f)
				}
			}
		}
	}
	for _, f := range forms(inv.Secret) {
		if strings.Contains(requests, f) {
			t.Errorf("the invite's secret was sent to the cloud (%q)", f)
		}
	}
}
