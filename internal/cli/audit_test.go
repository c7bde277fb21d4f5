package cli

import (
	"context"
	"encoding/base32"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"vigil/internal/blob"
	"vigil/internal/client"
	"vigil/internal/cloud"
	"vigil/internal/cloud/auth"
	"vigil/internal/cloud/store"
	"vigil/internal/history"
	"vigil/internal/keydir"
	"vigil/internal/tlog"
	"vigil/internal/tlog/tloghttp"
	"vigil/internal/vigiltest"
)

// auditEnv is a cloud whose log key the test holds (to play an insider who
// rewrites the log), a member device's profile, and a proxy in front of the
// cloud that can serve a forged log or listing.
type auditEnv struct {
	t       *testing.T
	ctx     context.Context
	skey    string
	storage *tlog.MemoryStorage
	srv     *cloud.Server
	real    string // the cloud's URL
	proxy   string
	profile string
	c       *client.Client
	hh      string
	// forged, when set, serves /tlog/ in place of the real log.
	forged tlog.Storage
	vkey   string
	// history rewrites the history listing when set.
	history func(history.HistoryPage) history.HistoryPage
	// chainIndex rewrites the log indexes of a chain answer when set.
	chainIndex func(idx []int64)
}

func newAuditEnv(t *testing.T) *auditEnv {
	e := &auditEnv{t: t, ctx: context.Background(), storage: tlog.NewMemoryStorage()}
	dir := t.TempDir()
	st, err := store.OpenSQLite(e.ctx, filepath.Join(dir, "cloud.db"), store.SQLiteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	blobs, err := blob.OpenDir(filepath.Join(dir, "blobs"), blob.DirOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if e.skey, e.vkey, err = tlog.GenerateKey("audit.test/tlog"); err != nil {
		t.Fatal(err)
	}
	signer, _ := note.NewSigner(e.skey)
	lg, err := tlog.Open(e.ctx, tlog.Config{Origin: "audit.test/tlog", Signer: signer, Storage: e.storage})
	if err != nil {
		t.Fatal(err)
	}
	e.srv, err = cloud.New(cloud.Options{Store: st, Blobs: blobs, Logger: vigiltest.Logger(t), Argon2: auth.Argon2Params{Memory: 1024, Time: 1, Threads: 1},
		Log: lg, LogStorage: e.storage, LogKey: e.vkey})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(e.srv.Handler())
	e.real = hs.URL
	target, _ := url.Parse(hs.URL)
	ps := httptest.NewServer(http.HandlerFunc(e.serveProxy(target)))
	e.proxy = ps.URL
	t.Cleanup(func() {
		ps.Close()
		hs.Close()
		e.srv.Close()
		lg.Close()
		blobs.Close()
		st.Close()
	})

	// An account, a device and a household, as 'vigil login' and
	// 'vigil household create' leave them in the profile (through the proxy).
	e.profile = filepath.Join(dir, "profile")
	e.c = client.New(e.proxy)
	res, err := e.c.SignUp(e.ctx, "ann@example.com", "a long enough password")
	if err != nil {
		t.Fatal(err)
	}
	secret, _ := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(res.TOTPSecret)
	tok, err := e.c.SignIn(e.ctx, "ann@example.com", "a long enough password", auth.TOTPCode(secret, time.Now()))
	if err != nil {
		t.Fatal(err)
	}
	p := profile{e.profile}
	if err := p.saveJSON("session.json", session{Cloud: e.proxy, Email: "ann@example.com", AccountID: res.AccountID, Token: tok}); err != nil {
		t.Fatal(err)
	}
	k, _, err := p.deviceKeys()
	if err != nil {
		t.Fatal(err)
	}
	genesis, _, hst, err := keydir.NewHousehold("Home", k, "laptop", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.CreateHousehold(e.ctx, genesis); err != nil {
		t.Fatal(err)
	}
	e.hh = hst.HouseholdID
	if err := p.saveJSON(filepath.Join("households", e.hh+".json"), pinnedHousehold{HouseholdID: e.hh, Name: "Home",
		GenesisHash: hex.EncodeToString(hst.GenesisHash), Cloud: e.proxy}); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *auditEnv) serveProxy(target *url.URL) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, r *http.Request) {
		if e.forged != nil && strings.HasPrefix(r.URL.Path, "/tlog/") {
			http.StripPrefix("/tlog", tloghttp.Handler(e.forged, e.vkey, nil)).ServeHTTP(w, r)
			return
		}
		req, _ := http.NewRequestWithContext(r.Context(), r.Method, target.String()+r.URL.RequestURI(), r.Body)
		req.Header = r.Header.Clone()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if e.history != nil && strings.HasSuffix(r.URL.Path, "/history") && resp.StatusCode == 200 {
			var page history.HistoryPage
			json.Unmarshal(body, &page)
			body, _ = json.Marshal(e.history(page))
		}
		if e.chainIndex != nil && strings.HasSuffix(r.URL.Path, "/chain") && resp.StatusCode == 200 {
			var chain map[string]any
			var idx struct {
				LogIndex []int64 `json:"log_index"`
			}
			json.Unmarshal(body, &chain)
			json.Unmarshal(body, &idx)
			e.chainIndex(idx.LogIndex)
			chain["log_index"] = idx.LogIndex
			body, _ = json.Marshal(chain)
		}
		for k, v := range resp.Header {
			if k != "Content-Length" {
				w.Header()[k] = v
			}
		}
		w.WriteHeader(resp.StatusCode)
		w.Write(body)
	}
}

// reads makes reads of the household, each of another kind (so each is a
// record of its own).
func (e *auditEnv) reads() {
	for _, p := range []string{"", "/chain", "/cameras", "/objects", "/settings"} {
		if _, _, err := e.c.Raw(e.ctx, "GET", "/v1/households/"+e.hh+p, nil); err != nil {
			e.t.Fatal(err)
		}
	}
	if err := e.srv.SyncLog(e.ctx); err != nil {
		e.t.Fatal(err)
	}
}

// changes makes n signed settings changes (each a record of its own).
func (e *auditEnv) changes(n int) {
	k, _, err := profile{e.profile}.deviceKeys()
	if err != nil {
		e.t.Fatal(err)
	}
	for i := range n {
		a, err := history.NewAction(e.hh, history.SettingsParams{MaxAgeSeconds: int64(3600 * (i + 2))}, time.Now())
		if err != nil {
			e.t.Fatal(err)
		}
		sa, err := history.SignAction(k, a)
		if err != nil {
			e.t.Fatal(err)
		}
		if _, err := e.c.PutSettings(e.ctx, e.hh, sa); err != nil {
			e.t.Fatal(err)
		}
	}
	if err := e.srv.SyncLog(e.ctx); err != nil {
		e.t.Fatal(err)
	}
}

func (e *auditEnv) audit(args ...string) (int, string, string) {
	return runVigil(append([]string{"audit", "--profile", e.profile}, args...)...)
}

func TestAuditCommand(t *testing.T) {
	e := newAuditEnv(t)
	if code, _, stderr := e.audit(); code != 0 || !strings.Contains(stderr, "pinned the transparency log") {
		t.Fatalf("the first audit pins the cloud's log: exit %d, %s", code, stderr)
	}
	e.reads()
	// A signed change is in the verified history within 5 s (no waiting for
	// the log here: the publisher's own pace).
	e.changes(1)
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, out, _ := e.audit("--all", "--json")
		if strings.Contains(out, `"action": "settings.set"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the signed settings change is not in the verified history after 5 s:\n%s", out)
		}
		time.Sleep(100 * time.Millisecond)
	}
	code, out, stderr := e.audit("--all")
	if code != 0 || !strings.Contains(out, "verified:") || !strings.Contains(out, "objects.list") || !strings.Contains(out, "settings.set (signed)") {
		t.Fatalf("first audit: exit %d\n%s\n%s", code, out, stderr)
	}
	// Coalesced polling: a hundred identical reads add two records, not a
	// hundred.
	for range 100 {
		e.c.Raw(e.ctx, "GET", "/v1/households/"+e.hh+"/members", nil)
	}
	e.srv.SyncLog(e.ctx)
	code, out, _ = e.audit("--json")
	var rep struct {
		OK      bool
		Records []history.Verified
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil || code != 0 || !rep.OK {
		t.Fatalf("second audit: exit %d, %v\n%s", code, err, out)
	}
	// The first read is a record; the other 99 are one record counting them
	// (SyncLog ends the coalescing window).
	var members []int64
	for _, r := range rep.Records {
		if r.Action == "members.list" {
			members = append(members, r.Count)
		}
	}
	if len(members) != 2 || members[0] != 1 || members[1] != 99 {
		t.Fatalf("100 identical reads made records with counts %v, want [1 99]", members)
	}

	// Another member compares checkpoints.
	cp := filepath.Join(t.TempDir(), "cp")
	if code, _, stderr := e.audit("--save-checkpoint", cp); code != 0 {
		t.Fatalf("save checkpoint: %s", stderr)
	}
	if code, out, stderr := e.audit("--compare", cp); code != 0 {
		t.Fatalf("comparing with an equal checkpoint: exit %d\n%s%s", code, out, stderr)
	}

	// The cloud stops listing one of the new records.
	e.changes(4)
	e.history = func(p history.HistoryPage) history.HistoryPage {
		if len(p.Records) > 2 {
			p.Records = append(p.Records[:1], p.Records[2:]...)
		}
		return p
	}
	code, out, _ = e.audit()
	if code != 1 || !strings.Contains(out, "WARNING") || !strings.Contains(out, "missing from the household's history") {
		t.Fatalf("a dropped record: exit %d\n%s", code, out)
	}
	// Or lists two of them in each other's place.
	e.history = func(p history.HistoryPage) history.HistoryPage {
		if len(p.Records) > 3 {
			p.Records[1].Entry, p.Records[2].Entry = p.Records[2].Entry, p.Records[1].Entry
			p.Records[1].Index, p.Records[2].Index = p.Records[2].Index, p.Records[1].Index
		}
		return p
	}
	code, out, _ = e.audit()
	if code != 1 || !strings.Contains(out, "reordered") {
		t.Fatalf("two records swapped: exit %d\n%s", code, out)
	}
	e.history = nil
	if code, out, _ := e.audit(); code != 0 {
		t.Fatalf("the real listing again: exit %d\n%s", code, out)
	}

	// The insider rewrites the log: the same entries with one left out and
	// the last repeated (the same size), under the same key.
	entries := logEntries(t, e)
	forged := tlog.NewMemoryStorage()
	signer, _ := note.NewSigner(e.skey)
	fl, err := tlog.Open(e.ctx, tlog.Config{Origin: "audit.test/tlog", Signer: signer, Storage: forged})
	if err != nil {
		t.Fatal(err)
	}
	defer fl.Close()
	drop := len(entries) - 3
	rewritten := append(append(append([][]byte{}, entries[:drop]...), entries[drop+1:]...), entries[len(entries)-1])
	if _, err := fl.Append(e.ctx, rewritten); err != nil {
		t.Fatal(err)
	}
	e.forged = forged
	code, out, _ = e.audit()
	if code != 1 || !strings.Contains(out, "WARNING") || !strings.Contains(out, "two different trees") {
		t.Fatalf("a rewritten log: exit %d\n%s", code, out)
	}
	// Grown by one more entry, it is no extension of what was verified.
	if _, err := fl.Append(e.ctx, [][]byte{entries[0]}); err != nil {
		t.Fatal(err)
	}
	code, out, _ = e.audit()
	if code != 1 || !strings.Contains(out, "not an extension") {
		t.Fatalf("a rewritten, longer log: exit %d\n%s", code, out)
	}
	// Another member shown the rewritten log: comparing checkpoints tells.
	fcp := filepath.Join(t.TempDir(), "forged")
	fl2 := tlog.NewMemoryStorage()
	fl2Log, err := tlog.Open(e.ctx, tlog.Config{Origin: "audit.test/tlog", Signer: signer, Storage: fl2})
	if err != nil {
		t.Fatal(err)
	}
	defer fl2Log.Close()
	if _, err := fl2Log.Append(e.ctx, rewritten); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(fcp, fl2Log.Checkpoint(), 0o644)
	e.forged = nil
	if code, out, _ := e.audit("--compare", fcp); code != 1 || !strings.Contains(out, "different histories") {
		t.Fatalf("comparing with a forged checkpoint: exit %d\n%s", code, out)
	}
}

// logEntries reads every entry of the real log.
func logEntries(t *testing.T, e *auditEnv) [][]byte {
	p, _ := tlog.NewPolicy(e.vkey, nil, 0)
	c, err := tlog.NewClient(p, tlog.StorageFetcher{Storage: e.storage}, nil)
	if err != nil {
		t.Fatal(err)
	}
	cp, err := c.Update(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for i := range cp.N {
		b, err := c.Entry(e.ctx, i)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// A build that names its log refuses a cloud that names another, and pins
// its own without asking the user to trust the cloud's.
func TestBuiltinLogPolicy(t *testing.T) {
	e := newAuditEnv(t)
	_, other, _ := tlog.GenerateKey("other.test/tlog")
	defer func(k string) { defaultLogKey = k }(defaultLogKey)
	defaultLogKey = other
	code, _, stderr := e.audit()
	if code != 1 || !strings.Contains(stderr, "not the one this build of vigil trusts") {
		t.Fatalf("a cloud naming another log: exit %d, %s", code, stderr)
	}
	defaultLogKey = e.vkey
	code, out, stderr := e.audit()
	if code != 0 || strings.Contains(stderr, "pinned the transparency log") {
		t.Fatalf("the built-in log: exit %d\n%s%s", code, out, stderr)
	}
}

// TestHouseholdCommandRefusesUnloggedHead: a member device uses the
// household's chain only with its head in the transparency log where the
// cloud says it is (G4: a head outside the log could be a fork shown to
// this device alone). A cloud that points at another entry gets no signed
// change from the device; with the true index the same command signs and
// sends it.
func TestHouseholdCommandRefusesUnloggedHead(t *testing.T) {
	e := newAuditEnv(t)
	if _, err := client.New(e.proxy).SignUp(e.ctx, "bob@example.com", "another long enough password"); err != nil {
		t.Fatal(err)
	}
	e.reads() // records follow the chain head (index 0) in the log
	members := func() int {
		_, b, err := e.c.Raw(e.ctx, "GET", "/v1/households/"+e.hh+"/members", nil)
		var out struct{ Members []json.RawMessage }
		if err != nil || json.Unmarshal(b, &out) != nil {
			t.Fatalf("members: %v %s", err, b)
		}
		return len(out.Members)
	}
	invite := func() (int, string, string) {
		return runVigil("household", "invite", "bob@example.com", "--profile", e.profile)
	}

	e.chainIndex = func(idx []int64) { idx[len(idx)-1] = 1 }
	code, _, stderr := invite()
	if code != 1 || !strings.Contains(stderr, "is not in the transparency log") || !strings.Contains(stderr, "is not at log index 1") {
		t.Fatalf("a head the cloud places on another entry: exit %d, %q; want 1 and the head refused", code, stderr)
	}
	if n := members(); n != 1 {
		t.Fatalf("%d members: the device signed a change on a chain whose head is not in the log", n)
	}

	e.chainIndex = nil
	if code, _, stderr := invite(); code != 0 {
		t.Fatalf("with the head where the cloud says: exit %d, %s", code, stderr)
	}
	if n := members(); n != 2 {
		t.Errorf("%d members after the invite, want 2", n)
	}
}
