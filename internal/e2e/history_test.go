package e2e

// The household's history in the web app against a real cloud whose
// transparency log the test runs (so it holds the log's signing key and
// can play an insider who rewrites the log), behind a reverse proxy on
// loopback that can serve a forged log, strip cosignatures or hide chain
// heads from the log.

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"vigil/internal/browsertest"
	"vigil/internal/cloud"
	"vigil/internal/history"
	"vigil/internal/keydir"
	"vigil/internal/tlog"
	"vigil/internal/tlog/tloghttp"
	"vigil/internal/tlog/tlogtest"
)

// historyEnv is a cloud with the test's own log, a household, and a proxy
// in front of the cloud that the browser talks to.
type historyEnv struct {
	t       *testing.T
	c       *cloudEnv
	hh      *testHousehold
	skey    string
	vkey    string
	storage *tlog.MemoryStorage
	proxy   string

	mu sync.Mutex
	// forged, when set, is served in place of the real log, with the
	// history listing and chain indexes rewritten to match it.
	forged *forgery
	// stripCosignatures drops the witnesses' lines from /tlog/checkpoint.
	stripCosignatures bool
	// chainIndex, when set, replaces the log index of the chain's head.
	chainIndex *int64
}

// forgery is a log rebuilt with the log's key from altered entries.
type forgery struct {
	storage tlog.Storage
	index   map[string]int64 // entry (hex) → its index in the forged log
	listing func([]history.RecordRef) []history.RecordRef
}

type historyOptions struct {
	witness  bool          // a witness cosigns and the policy's quorum is 1
	coalesce time.Duration // the cloud's coalescing window (negative: none)
	hub      bool          // a hub records camera "front" to the cloud
}

func newHistoryEnv(t *testing.T, o historyOptions) *historyEnv {
	t.Helper()
	e := &historyEnv{t: t, storage: tlog.NewMemoryStorage()}
	var err error
	if e.skey, e.vkey, err = tlog.GenerateKey("history.test/tlog"); err != nil {
		t.Fatal(err)
	}
	var witnesses []tlog.Witness
	var wkeys []string
	if o.witness {
		w := tlogtest.NewWitness(t, "witness.history.test", e.vkey)
		witnesses, wkeys = []tlog.Witness{w}, []string{w.VKey()}
	}
	lg := openLog(t, e.skey, e.storage, witnesses...)
	e.c = startCloud(t, func(co *cloud.Options) {
		co.Log, co.LogStorage, co.LogKey = lg, e.storage, e.vkey
		co.LogWitnesses, co.LogQuorum = wkeys, len(wkeys)
		co.Coalesce = o.coalesce
	})
	e.proxy = newProxy(t, e.c.url, func(w http.ResponseWriter, r *http.Request) bool {
		e.mu.Lock()
		f := e.forged
		e.mu.Unlock()
		if f == nil || !strings.HasPrefix(r.URL.Path, "/tlog/") {
			return false
		}
		http.StripPrefix("/tlog", tloghttp.Handler(f.storage, e.vkey, nil)).ServeHTTP(w, r)
		return true
	}, e.rewrite)
	e.hh = newHousehold(t, e.c, householdOptions{NoHub: !o.hub})
	return e
}

// rewrite adjusts the cloud's answers as the proxy's mode says.
func (e *historyEnv) rewrite(resp *http.Response) error {
	e.mu.Lock()
	f, strip, ci := e.forged, e.stripCosignatures, e.chainIndex
	e.mu.Unlock()
	p := resp.Request.URL.Path
	switch {
	case resp.StatusCode != http.StatusOK:
	case p == "/tlog/checkpoint" && strip:
		return editBody(resp, func(b []byte) ([]byte, error) {
			text, sigs, _ := bytes.Cut(b, []byte("\n\n"))
			var keep []byte
			for _, l := range bytes.SplitAfter(sigs, []byte("\n")) {
				if bytes.HasPrefix(l, []byte("— history.test/tlog ")) {
					keep = append(keep, l...)
				}
			}
			return append(append(text, "\n\n"...), keep...), nil
		})
	case strings.HasPrefix(p, "/v1/households/") && strings.HasSuffix(p, "/history") && f != nil:
		return editBody(resp, func(b []byte) ([]byte, error) {
			var page history.HistoryPage
			if err := json.Unmarshal(b, &page); err != nil {
				return nil, err
			}
			page.Records = f.listing(page.Records)
			for i, r := range page.Records {
				ix, ok := f.index[hex.EncodeToString(r.Entry)]
				if !ok {
					ix = -1
				}
				page.Records[i].Index = ix
			}
			return json.Marshal(page)
		})
	case strings.HasPrefix(p, "/v1/households/") && strings.HasSuffix(p, "/chain") && resp.Request.Method == "GET" && (f != nil || ci != nil):
		return editBody(resp, func(b []byte) ([]byte, error) {
			var c map[string]json.RawMessage
			if err := json.Unmarshal(b, &c); err != nil {
				return nil, err
			}
			var links [][]byte
			var idx []int64
			var from int64
			json.Unmarshal(c["links"], &links)
			json.Unmarshal(c["log_index"], &idx)
			json.Unmarshal(c["from"], &from)
			tk, _ := history.NewTagKey(e.hh.Genesis)
			for i := range idx {
				if f != nil {
					entry, _ := tk.ChainHeadEntry(from+int64(i), keydir.LinkHash(links[i]))
					ix, ok := f.index[hex.EncodeToString(entry)]
					if !ok {
						ix = -1
					}
					idx[i] = ix
				}
			}
			if ci != nil && len(idx) > 0 {
				idx[len(idx)-1] = *ci
			}
			c["log_index"], _ = json.Marshal(idx)
			return json.Marshal(c)
		})
	}
	return nil
}

// realEntries reads every entry of the real log.
func (e *historyEnv) realEntries() [][]byte {
	e.t.Helper()
	ctx := context.Background()
	p, _ := tlog.NewPolicy(e.vkey, nil, 0)
	c, err := tlog.NewClient(p, tlog.StorageFetcher{Storage: e.storage}, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	cp, err := c.Update(ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	out := make([][]byte, cp.N)
	for i := range cp.N {
		if out[i], err = c.Entry(ctx, i); err != nil {
			e.t.Fatal(err)
		}
	}
	return out
}

// reads makes n reads of the household, each a record of its own (the
// cloud of the forged-log test does not coalesce), and waits until they
// are in the log.
func (e *historyEnv) reads(n int) {
	paths := []string{"", "/chain", "/cameras", "/objects", "/settings", "/members", "/invites", "/shares"}
	for i := range n {
		if _, _, err := e.hh.Owner.API.Raw(context.Background(), "GET", "/v1/households/"+e.hh.ID+paths[i%len(paths)], nil); err != nil {
			e.t.Fatal(err)
		}
	}
	if err := e.c.srv.SyncLog(context.Background()); err != nil {
		e.t.Fatal(err)
	}
}

// forge builds a forged log from the real one: mode "drop" leaves record x
// out, "reseal" replaces it by another record sealed to the household (as
// the cloud can), "swap" swaps records x and x+1, and "rewrite" reseals
// record x in the first size entries only (a log of the size a browser
// verified, with another history). The history listing is adjusted to
// match, and the proxy serves it.
func (e *historyEnv) forge(mode string, x int64, size int64) error {
	ctx := context.Background()
	entries := e.realEntries()
	recs, err := e.hh.Owner.API.History(ctx, e.hh.ID, 1)
	if err != nil {
		return err
	}
	byN := map[int64]history.RecordRef{}
	for _, r := range recs {
		byN[r.N] = r
	}
	rx, ok := byN[x]
	if !ok || rx.Index < 0 || (mode == "swap" && byN[x+1].Index < 0) {
		return fmt.Errorf("record %d (and the next) is not in the log yet", x)
	}
	reseal := func() ([]byte, error) {
		links, _, err := e.hh.Owner.API.ChainIndexed(ctx, e.hh.ID, 0)
		if err != nil {
			return nil, err
		}
		st, err := keydir.Verify(links, e.hh.Genesis)
		if err != nil {
			return nil, err
		}
		tk, _ := history.NewTagKey(e.hh.Genesis)
		prev := history.ZeroPrev
		if x > 1 {
			prev = history.EntryHash(byN[x-1].Entry)
		}
		return history.SealRecord(tk, uint32(st.Epoch), st.EpochRecipient(), history.Record{V: 1, N: x, Prev: prev,
			Time: time.Now(), Actor: history.Actor{Kind: history.ActorCloud, ID: "retention"}, Action: "objects.list", Count: 1})
	}
	var swapped map[string][]byte // listing: entry (hex) → the entry listed in its place
	switch mode {
	case "drop":
		entries = append(entries[:rx.Index:rx.Index], entries[rx.Index+1:]...)
		swapped = map[string][]byte{hex.EncodeToString(rx.Entry): nil}
	case "reseal", "rewrite":
		if mode == "rewrite" {
			entries = entries[:size]
		}
		fake, err := reseal()
		if err != nil {
			return err
		}
		entries[rx.Index] = fake
		swapped = map[string][]byte{hex.EncodeToString(rx.Entry): fake}
	case "swap":
		ry := byN[x+1]
		entries[rx.Index], entries[ry.Index] = entries[ry.Index], entries[rx.Index]
		swapped = map[string][]byte{hex.EncodeToString(rx.Entry): ry.Entry, hex.EncodeToString(ry.Entry): rx.Entry}
	default:
		return fmt.Errorf("unknown forgery %q", mode)
	}
	f := &forgery{storage: buildLog(e.t, e.skey, entries), index: map[string]int64{}}
	for i, en := range entries {
		f.index[hex.EncodeToString(en)] = int64(i)
	}
	f.listing = func(rs []history.RecordRef) []history.RecordRef {
		out := rs[:0:0]
		for _, r := range rs {
			if repl, ok := swapped[hex.EncodeToString(r.Entry)]; ok {
				if repl == nil {
					continue
				}
				r.Entry = repl
			}
			out = append(out, r)
		}
		return out
	}
	e.mu.Lock()
	e.forged = f
	e.mu.Unlock()
	return nil
}

// control serves what the browser scripts ask of the Go side:
//
//	POST /enrol?role=R&name=N   body: the browser's "vigdev1:" string (controlMux)
//	POST /reads?n=N             n reads of the household, in the log when it answers
//	POST /object-reads?n=N      n identical reads of one object (coalesced)
//	POST /alt-reads?n=N         n reads of distinct objects, alternating between two cameras
//	POST /share-reads           a link share of front, opened by its link
//	POST /forge?mode=M&x=X&size=S  serve a forged log (see forge)
//	POST /mode?m=real|strip|unlogged|wrong-index
func (e *historyEnv) control() string {
	mux := e.hh.controlMux()
	fail := func(w http.ResponseWriter, err error) { http.Error(w, err.Error(), http.StatusBadRequest) }
	mux.HandleFunc("POST /reads", func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		e.reads(n)
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("POST /object-reads", func(w http.ResponseWriter, r *http.Request) {
		// n identical reads of one (absent) object: one record now, one
		// counting the others when the coalescing window ends, which
		// SyncLog ends before answering: left to the publisher's clock,
		// the count's record could land among the browser's reads that
		// follow and split them into two rows.
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		for range n {
			e.hh.Owner.API.Raw(r.Context(), "GET", "/v1/households/"+e.hh.ID+"/objects/"+e.hh.ID+"/dnothing/front/0000000000000001", nil)
		}
		if err := e.c.srv.SyncLog(r.Context()); err != nil {
			fail(w, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("POST /alt-reads", func(w http.ResponseWriter, r *http.Request) {
		// n reads of distinct (absent) objects by the owner's API token,
		// alternating between cameras "side" and "back": each a row of
		// its own on the history page.
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		for i := range n {
			cam := []string{"side", "back"}[i%2]
			e.hh.Owner.API.Raw(r.Context(), "GET", fmt.Sprintf("/v1/households/%s/objects/%s/dnothing/%s/%016x", e.hh.ID, e.hh.ID, cam, i+1), nil)
		}
		if err := e.c.srv.SyncLog(r.Context()); err != nil {
			fail(w, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("POST /share-reads", func(w http.ResponseWriter, r *http.Request) {
		// A link share of front's last 10 s, opened by someone with the
		// link: its manifest and each of its objects.
		objs := e.hh.waitSegments(e.t, "front", 2, time.Minute)
		last := objs[len(objs)-1]
		from := last.End.Add(-10 * time.Second)
		l := e.hh.shareLink(e.t, "front", from, last.End, time.Now().Add(time.Hour))
		l.get(e.t, e.c.url, "/v1/shares/"+l.id)
		for _, k := range l.keys {
			if status, _ := l.get(e.t, e.c.url, "/v1/shares/"+l.id+"/objects/"+k); status != http.StatusOK {
				fail(w, fmt.Errorf("reading shared object %s: %d", k, status))
				return
			}
		}
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("POST /forge", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		x, _ := strconv.ParseInt(q.Get("x"), 10, 64)
		size, _ := strconv.ParseInt(q.Get("size"), 10, 64)
		if err := e.forge(q.Get("mode"), x, size); err != nil {
			fail(w, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("POST /mode", func(w http.ResponseWriter, r *http.Request) {
		e.mu.Lock()
		defer e.mu.Unlock()
		e.forged, e.stripCosignatures, e.chainIndex = nil, false, nil
		switch m := r.URL.Query().Get("m"); m {
		case "real":
		case "strip":
			e.stripCosignatures = true
		case "unlogged":
			e.chainIndex = new(int64)
			*e.chainIndex = -1
		case "wrong-index":
			e.chainIndex = new(int64) // entry 0 is another entry
		default:
			http.Error(w, "unknown mode "+m, http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	return serveControl(e.t, mux)
}

type historyRow struct {
	N         int64  `json:"n"`
	Action    string `json:"action"`
	ActorKind string `json:"actorKind"`
	Count     int64  `json:"count"`
	Actor     string `json:"actor"`
	Device    string `json:"device"`
	Camera    string `json:"camera"`
	Signed    string `json:"signed"`
	FootageMs *int64 `json:"footageMs"`
	Text      string `json:"text"`
	Sub       string `json:"sub"`
}

type historyStatus struct {
	State    string   `json:"state"`
	Size     int64    `json:"size"`
	Record   int64    `json:"record"`
	Text     string   `json:"text"`
	Findings []string `json:"findings"`
}

// TestHistoryPage: the history page of a real session, on a phone. An
// admin browser (its device added by the Go admin as "history phone")
// binds its session to its device, watches recordings of front and signs
// a retention change; the page, verified against the log and cosigned by
// the witness the policy names, shows in sentences: "history phone watched
// front, <duration> of <time>" (the device's name from the chain, not the
// e-mail), the signed change with its signer, someone with a share link
// watching front, and the API token's reads (a session that named no
// device) as the account. The app's polling is absent unless "Everything"
// is on; older rows page in; the date filter shows from a day back; the
// page fits 360-430 px with 44 px controls and no serious axe finding. A
// checkpoint stripped of the witness's cosignature is refused.
func TestHistoryPage(t *testing.T) {
	e := newHistoryEnv(t, historyOptions{witness: true, coalesce: 2 * time.Second, hub: true})
	e.hh.waitSegments(t, "front", 3, time.Minute)
	sess := e.hh.Owner.browserSession(t, e.c.url)
	var res struct {
		Device        string        `json:"device"`
		SessionDevice string        `json:"sessionDevice"`
		First         historyStatus `json:"first"`
		Status        historyStatus `json:"status"`
		Rows          []historyRow  `json:"rows"`
		AllRows       []historyRow  `json:"allRows"`
		DefaultAgain  int           `json:"defaultAgain"`
		Watched       []struct {
			Key        string `json:"key"`
			Start, End int64
		} `json:"watched"`
		Witnesses   string `json:"witnesses"`
		OlderVisble bool   `json:"olderVisible"`
		Paging      struct {
			Before, After, MinBefore, MinAfter int
			Status                             string
		} `json:"paging"`
		FilterYesterday struct {
			Rows        int    `json:"rows"`
			OlderHidden bool   `json:"olderHidden"`
			Label       string `json:"label"`
		} `json:"filterYesterday"`
		FilterToday struct {
			Rows int `json:"rows"`
		} `json:"filterToday"`
		Measure struct {
			Problems []string `json:"problems"`
		} `json:"measure"`
		Summary    json.RawMessage `json:"summary"`
		Stripped   historyStatus   `json:"stripped"`
		StrippedHH string          `json:"strippedHousehold"`
	}
	browsertest.Run(t, 5*time.Minute, "history.mjs", map[string]string{
		"BASE_URL": e.proxy, "CONTROL_URL": e.control(), "HOUSEHOLD": e.hh.ID, "SESSION": sess.Cookie, "CSRF": sess.CSRF,
	}, &res)
	t.Logf("first status: %+v", res.First)
	if res.First.State != "verified" || res.First.Size == 0 {
		t.Fatalf("the history page did not verify the real log: %+v", res.First)
	}
	if res.SessionDevice != res.Device || res.Device == "" {
		t.Errorf("the history page did not bind the browser's session to its device %q: the session names %q", res.Device, res.SessionDevice)
	}
	if !strings.Contains(res.Witnesses, "witness.history.test") {
		t.Errorf("the page does not say which witness cosigned: %q", res.Witnesses)
	}
	for _, r := range res.Rows {
		t.Logf("row %+v", r)
	}
	var watched, signed, link, account bool
	for _, r := range res.Rows {
		switch {
		case r.Action == "object.read" && r.ActorKind == "device" && r.Camera == "front":
			// The device's name from the chain, the camera, the recorded
			// time: "history phone watched front, 6 s of today 21:04".
			if !strings.HasPrefix(r.Text, "history phone watched front, ") || strings.Contains(r.Text, e.hh.Owner.Email) {
				t.Errorf("the browser's viewing reads %q (%q), want the device's name", r.Text, r.Sub)
			}
			if r.Device != res.Device || r.Count != int64(len(res.Watched)) {
				t.Errorf("the browser's viewing: device %q count %d, want %q and %d", r.Device, r.Count, res.Device, len(res.Watched))
			}
			if r.FootageMs == nil || len(res.Watched) == 0 || *r.FootageMs != res.Watched[0].Start {
				t.Errorf("the browser's viewing names the recorded time %v, want the first watched object's start %+v", r.FootageMs, res.Watched)
			}
			if !regexp.MustCompile(`^history phone watched front, \d+ s of today `).MatchString(r.Text) {
				t.Errorf("the browser's viewing reads %q, want the duration and the day of the footage", r.Text)
			}
			watched = true
		case r.Action == "settings.set" && r.Signed == res.Device:
			if !strings.HasPrefix(r.Text, "history phone changed how long recordings are kept: for 7 days") || !strings.Contains(r.Sub, "signed by history phone") {
				t.Errorf("the signed change reads %q (%q)", r.Text, r.Sub)
			}
			signed = true
		case r.Action == "share.object.read" && r.ActorKind == "link":
			if !strings.HasPrefix(r.Text, "Someone with a share link watched front, ") {
				t.Errorf("the share link's viewing reads %q", r.Text)
			}
			link = true
		case r.Action == "object.read" && r.ActorKind == "account" && r.Camera == "front":
			// The API token's session named no device.
			if r.Device != "" || !strings.HasPrefix(r.Text, e.hh.Owner.Email+" watched front") {
				t.Errorf("the API token's reads: %+v", r)
			}
			account = true
		}
		if bookkeeping[r.Action] {
			t.Errorf("the default view shows the app's bookkeeping: %+v", r)
		}
		if strings.Contains(r.Text, "/v1/") || regexp.MustCompile(`\b[a-z]+\.[a-z]+\b`).MatchString(r.Text) && !strings.Contains(r.Text, "@") {
			t.Errorf("a row speaks in API names: %q", r.Text)
		}
	}
	if !watched || !signed || !link || !account {
		t.Errorf("history rows: the browser's viewing %v, its signed change %v, a share link's viewing %v, the API token's reads %v", watched, signed, link, account)
	}
	var all = map[string]bool{}
	for _, r := range res.AllRows {
		all[r.Action] = true
	}
	if !all["household.read"] || !all["history.read"] || len(res.AllRows) <= len(res.Rows) || res.DefaultAgain != len(res.Rows) {
		t.Errorf("Everything: %d rows (default %d, again %d), actions %v; want the bookkeeping too", len(res.AllRows), len(res.Rows), res.DefaultAgain, all)
	}
	if !res.OlderVisble || res.Paging.After <= res.Paging.Before || res.Paging.MinAfter >= res.Paging.MinBefore || res.Paging.Status != "verified" {
		t.Errorf("paging: %+v (older button shown %v)", res.Paging, res.OlderVisble)
	}
	if res.FilterYesterday.Rows != 0 || !res.FilterYesterday.OlderHidden || res.FilterYesterday.Label == "" || res.FilterToday.Rows == 0 {
		t.Errorf("date filter: yesterday %+v, today %+v", res.FilterYesterday, res.FilterToday)
	}
	for _, p := range res.Measure.Problems {
		t.Errorf("at 390x844: %s", p)
	}
	var sum struct{ State, Text string }
	json.Unmarshal(res.Summary, &sum)
	t.Logf("settings summary: %+v", sum)
	if res.Stripped.State != "error" || !strings.Contains(res.Stripped.Text, "cosignatures from 0 of the 1 witnesses") {
		t.Errorf("a checkpoint without the witness's cosignature: %+v", res.Stripped)
	}
	if !strings.Contains(res.StrippedHH, "cosignatures from 0 of the 1 witnesses") {
		t.Errorf("the household's settings with a checkpoint without cosignature: %q", res.StrippedHH)
	}
}

// bookkeeping are the actions the history page hides by default.
var bookkeeping = map[string]bool{
	"household.read": true, "households.list": true, "chain.read": true, "cameras.list": true, "objects.list": true,
	"events.list": true, "events.live": true, "live.ice": true, "members.list": true, "settings.read": true,
	"invites.list": true, "join-requests.list": true, "shares.list": true, "history.read": true,
}

// TestHistoryForgedLog: a log that drops, reseals or reorders a record,
// rebuilt under the log's own key with the history listing adjusted to
// match, is detected by the web app after it verified the real one: the
// history page shows the warning naming what it found. A log rewritten at
// the size the browser verified is a split view. A chain whose head is not
// in the log (still waiting, or not where the cloud says) is refused.
func TestHistoryForgedLog(t *testing.T) {
	e := newHistoryEnv(t, historyOptions{coalesce: -1})
	sess := e.hh.Owner.browserSession(t, e.c.url)
	var res map[string]struct {
		Before historyStatus `json:"before"`
		After  historyStatus `json:"after"`
		X      int64         `json:"x"`
	}
	var out struct {
		Scenarios   json.RawMessage `json:"scenarios"`
		Unlogged    string          `json:"unlogged"`
		WrongIndex  string          `json:"wrongIndex"`
		RealAgainHH string          `json:"realAgain"`
	}
	browsertest.Run(t, 5*time.Minute, "history-forged.mjs", map[string]string{
		"BASE_URL": e.proxy, "CONTROL_URL": e.control(), "HOUSEHOLD": e.hh.ID, "SESSION": sess.Cookie, "CSRF": sess.CSRF,
	}, &out)
	if err := json.Unmarshal(out.Scenarios, &res); err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{
		"drop":    {"records %[1]d to %[2]d are missing from the household's history", "record %[3]d does not follow the record before it"},
		"reseal":  {"record %[3]d does not follow the record before it: a record was dropped, rewritten or reordered"},
		"swap":    {"the entry listed as record %[1]d is record %[3]d: the history was reordered"},
		"rewrite": {"the log showed two different trees of %[4]d entries: it rewrote its history (a split view)"},
	}
	for name, phrases := range want {
		s, ok := res[name]
		if !ok {
			t.Errorf("scenario %s did not run", name)
			continue
		}
		t.Logf("%s: before %+v; after %+v", name, s.Before, s.After)
		if s.Before.State != "verified" {
			t.Errorf("%s: the real log did not verify first: %+v", name, s.Before)
		}
		if s.After.State != "warning" {
			t.Errorf("%s: the forged log was not detected: %+v", name, s.After)
			continue
		}
		all := strings.Join(s.After.Findings, "\n")
		for _, p := range phrases {
			if w := fmt.Sprintf(p, s.X, s.X, s.X+1, s.Before.Size); !strings.Contains(all, w) {
				t.Errorf("%s: the warning does not say %q; it lists:\n%s", name, w, all)
			}
		}
	}
	if !strings.Contains(out.Unlogged, "is not in the transparency log") || !strings.Contains(out.Unlogged, "still waiting for the log") {
		t.Errorf("a chain head that never reaches the log: %q", out.Unlogged)
	}
	if !strings.Contains(out.WrongIndex, "is not in the transparency log") || !strings.Contains(out.WrongIndex, "is not at log index 0") {
		t.Errorf("a chain head not where the cloud says: %q", out.WrongIndex)
	}
	if out.RealAgainHH != "ok" {
		t.Errorf("with the real log again the household opens: %q", out.RealAgainHH)
	}
}
