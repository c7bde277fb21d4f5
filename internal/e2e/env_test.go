package e2e

import (
	"context"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"vigil/internal/blob"
	"vigil/internal/client"
	"vigil/internal/cloud"
	"vigil/internal/cloud/auth"
	"vigil/internal/cloud/store"
	"vigil/internal/history"
	"vigil/internal/keydir"
	"vigil/internal/member"
	"vigil/internal/vigiltest"
	"vigil/web"
)

// cloudEnv is a cloud service with the web app on a loopback port.
type cloudEnv struct {
	srv   *cloud.Server
	url   string
	st    store.Store
	blobs *blob.Dir
	dir   string
}

var testArgon = auth.Argon2Params{Memory: 1024, Time: 1, Threads: 1}

// startCloud serves the API and the built app on 127.0.0.1 (a random port).
// The public URL is the loopback URL itself, so passkeys work (RP ID
// "localhost" is not used: the test opens the 127.0.0.1 URL).
func startCloud(t testing.TB, mod func(*cloud.Options)) *cloudEnv {
	t.Helper()
	app, err := web.App()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	ctx := context.Background()
	st, err := store.OpenSQLite(ctx, filepath.Join(dir, "cloud.db"), store.SQLiteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	blobs, err := blob.OpenDir(filepath.Join(dir, "blobs"), blob.DirOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { blobs.Close() })
	hs := httptest.NewUnstartedServer(nil)
	url := "http://" + hs.Listener.Addr().String()
	o := cloud.Options{Store: st, Blobs: blobs, Logger: vigiltest.Logger(t), App: app,
		Mailer: cloud.OutboxMailer{Dir: filepath.Join(dir, "outbox")}, Argon2: testArgon, PublicURL: url}
	if mod != nil {
		mod(&o)
	}
	srv, err := cloud.New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	hs.Config.Handler = srv.Handler()
	hs.Config.ReadHeaderTimeout = 10 * time.Second
	hs.Start()
	t.Cleanup(hs.Close)
	return &cloudEnv{srv: srv, url: url, st: st, blobs: blobs, dir: dir}
}

// history returns household hh's records as the device keys verify them
// in the log (everything recorded so far is published first); now is the
// audit's clock (nil: time.Now).
func (c *cloudEnv) history(t testing.TB, api *client.Client, hh string, genesis []byte, keys *keydir.DeviceKeys, now func() time.Time) []history.Verified {
	t.Helper()
	if err := c.srv.SyncLog(context.Background()); err != nil {
		t.Fatal(err)
	}
	rep, err := member.VerifiedHistory(context.Background(), api, hh, genesis, keys, now)
	if err != nil {
		t.Fatal(err)
	}
	return rep.Records
}
