package shares_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"vigil/internal/blob"
	"vigil/internal/cloud/shares"
	"vigil/internal/cloud/store"
	"vigil/internal/envelope"
	"vigil/internal/pgtest"
)

// The service runs over each real metadata store and a real blob directory.
// The recorder keeps what it is given so the test can read it back; the
// cloud's own records each access in the household's history.

// backend opens a new, empty store for each subtest; setup runs once per
// backend (PostgreSQL: one database, a schema per store).
type backend struct {
	name  string
	setup func(t *testing.T) func(t *testing.T) shares.Store
}

func backends() []backend {
	return []backend{
		{"SQLite", func(*testing.T) func(t *testing.T) shares.Store {
			return func(t *testing.T) shares.Store {
				s, err := store.OpenSQLite(t.Context(), filepath.Join(t.TempDir(), "cloud.db"), store.SQLiteOptions{})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { s.Close() })
				return s
			}
		}},
		{"PostgreSQL", func(t *testing.T) func(t *testing.T) shares.Store {
			db := pgtest.NewDB(t)
			return func(t *testing.T) shares.Store {
				s, err := store.OpenPostgres(t.Context(), pgtest.NewSchema(t, db), store.PostgresOptions{})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { s.Close() })
				return s
			}
		}},
	}
}

type recorder struct {
	mu   sync.Mutex
	recs []store.Access
	fail error // a recorder that cannot record (its log's store is down)
}

func (r *recorder) Record(_ context.Context, a store.Access) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail != nil {
		return r.fail
	}
	r.recs = append(r.recs, a)
	return nil
}

func (r *recorder) take() []store.Access {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.recs
	r.recs = nil
	return out
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

var errNotEmail = errors.New("not an e-mail address")

func normalize(s string) (string, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	if !strings.Contains(s, "@") {
		return "", errNotEmail
	}
	return s, nil
}

// fixture: households hh-1 (alice) and hh-2 (bob), a guest account, and in
// hh-1 five 4-second segments of "front" from start and one of "back".
type fixture struct {
	svc   *shares.Service
	st    shares.Store
	rec   *recorder
	clock *clock
	start time.Time
	front []string
	back  string
	other string // a "front" segment of hh-2 in the same range
	data  map[string][]byte
	blobs *blob.Dir
	dir   string // the blob directory
}

func newFixture(t *testing.T, open func(t *testing.T) shares.Store) *fixture {
	ctx := t.Context()
	full := open(t)
	st := full.(store.Store)
	dir := t.TempDir()
	blobs, err := blob.OpenDir(dir, blob.DirOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { blobs.Close() })
	now := time.Date(2031, 3, 14, 15, 9, 26, 0, time.UTC)
	f := &fixture{st: full, rec: &recorder{}, clock: &clock{t: now}, start: now.Add(-time.Hour), data: map[string][]byte{}, blobs: blobs, dir: dir}
	for _, id := range []string{"alice", "bob", "guest"} {
		a := store.Account{ID: id, Email: id + "@example.com", PasswordHash: "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$" + id, Created: now}
		if err := st.CreateAccount(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	for hh, admin := range map[string]string{"hh-1": "alice", "hh-2": "bob"} {
		h := store.Household{ID: hh, Name: hh, GenesisHash: []byte(hh + "/0"), Created: now}
		if err := st.CreateHousehold(ctx, h, store.Member{AccountID: admin, Role: store.RoleAdmin, Created: now},
			store.Link{Seq: 0, Hash: []byte(hh + "/0"), Data: []byte("genesis"), Created: now}); err != nil {
			t.Fatal(err)
		}
	}
	put := func(hh, camera string, i int) string {
		key := fmt.Sprintf("%s/%s/%d", hh, camera, i)
		b := bytes.Repeat([]byte{byte(i), byte(len(camera))}, 1000)
		if _, _, err := blobs.Put(ctx, key, bytes.NewReader(b), int64(len(b))); err != nil {
			t.Fatal(err)
		}
		start := f.start.Add(time.Duration(i) * 4 * time.Second)
		o := store.Object{HouseholdID: hh, Key: key, Device: "hub", Camera: camera, Kind: "segment", Seq: uint64(i),
			Start: start, End: start.Add(4 * time.Second), Size: int64(len(b)), SHA256: sha256.Sum256(b), Created: now}
		if _, err := st.PutObject(ctx, o); err != nil {
			t.Fatal(err)
		}
		f.data[key] = b
		return key
	}
	for i := range 5 {
		f.front = append(f.front, put("hh-1", "front", i))
	}
	f.back = put("hh-1", "back", 1)
	f.other = put("hh-2", "front", 1)
	f.svc, err = shares.New(shares.Config{Store: full, Blobs: blobs, Access: f.rec, NormalizeEmail: normalize, Now: f.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// id makes a share ID of the right shape from a short name.
func id(name string) string { return (name + strings.Repeat("a", 26))[:26] }

// link returns a link draft over [from, to) of front and its token.
func (f *fixture) link(name string, from, to time.Time) (shares.Draft, string) {
	tok := sha256.Sum256([]byte("token of " + name))
	h := sha256.Sum256(tok[:])
	return shares.Draft{ID: id(name), Camera: "front", From: from, To: to, Expires: f.clock.Now().Add(24 * time.Hour),
		Kind: store.ShareLink, TokenHash: h[:], Manifest: []byte("manifest of " + name)}, base64.RawURLEncoding.EncodeToString(tok[:])
}

func kindOf(err error) string {
	var e *shares.Error
	for _, k := range []struct {
		err  error
		name string
	}{{shares.ErrInvalid, "invalid"}, {shares.ErrTooLarge, "too large"}, {shares.ErrNotFound, "not found"},
		{shares.ErrExists, "exists"}, {shares.ErrGone, "gone"}, {shares.ErrForbidden, "forbidden"}} {
		if errors.Is(err, k.err) {
			if !errors.As(err, &e) {
				return k.name + " (bare)"
			}
			return k.name
		}
	}
	return fmt.Sprint(err)
}

func TestService(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			open := b.setup(t)
			t.Run("Create", func(t *testing.T) { testCreate(t, newFixture(t, open)) })
			t.Run("Link", func(t *testing.T) { testLink(t, newFixture(t, open)) })
			t.Run("Account", func(t *testing.T) { testAccount(t, newFixture(t, open)) })
			t.Run("ExpiryRevoke", func(t *testing.T) { testExpiryRevoke(t, newFixture(t, open)) })
			t.Run("Redacted", func(t *testing.T) { testRedacted(t, newFixture(t, open)) })
		})
	}
}

func testCreate(t *testing.T, f *fixture) {
	ctx := t.Context()
	from, to := f.start, f.start.Add(8*time.Second)
	for _, tc := range []struct {
		name string
		edit func(d *shares.Draft)
		want string // the error's kind
		msg  string // a part of its message
	}{
		{"short ID", func(d *shares.Draft) { d.ID = "abc" }, "invalid", "id: 26 letters"},
		{"upper-case ID", func(d *shares.Draft) { d.ID = strings.ToUpper(d.ID) }, "invalid", "id: 26 letters"},
		{"camera", func(d *shares.Draft) { d.Camera = "front door" }, "invalid", "camera: 1 to 64"},
		{"empty range", func(d *shares.Draft) { d.To = d.From }, "invalid", "from before to"},
		{"no from", func(d *shares.Draft) { d.From = time.Time{} }, "invalid", "from before to"},
		{"expired", func(d *shares.Draft) { d.Expires = f.clock.Now() }, "invalid", "expires: a time in the future"},
		{"too long", func(d *shares.Draft) { d.Expires = f.clock.Now().Add(shares.MaxLife + time.Second) }, "invalid", "at most 366 days"},
		{"no manifest", func(d *shares.Draft) { d.Manifest = nil }, "invalid", "manifest: the signed share manifest"},
		{"huge manifest", func(d *shares.Draft) { d.Manifest = make([]byte, shares.MaxManifest+1) }, "too large", "share a shorter range"},
		{"link without hash", func(d *shares.Draft) { d.TokenHash = d.TokenHash[:31] }, "invalid", "a link share needs token_hash"},
		{"link with guest", func(d *shares.Draft) { d.GuestEmail = "guest@example.com" }, "invalid", "no guest_email"},
		{"account with hash", func(d *shares.Draft) { d.Kind = store.ShareAccount; d.GuestEmail = "guest@example.com" }, "invalid", "an account share has no token_hash"},
		{"unknown guest", func(d *shares.Draft) {
			d.Kind, d.TokenHash, d.GuestEmail = store.ShareAccount, nil, "nobody@example.com"
		}, "not found", "the guest signs up first"},
		{"kind", func(d *shares.Draft) { d.Kind = "public" }, "invalid", `kind: "link" or "account"`},
		{"camera without recordings", func(d *shares.Draft) { d.Camera = "garden" }, "not found", `camera "garden" has no recordings`},
	} {
		d, _ := f.link("refused", from, to)
		tc.edit(&d)
		_, err := f.svc.Create(ctx, "hh-1", "alice", d)
		if got := kindOf(err); got != tc.want || !strings.Contains(fmt.Sprint(err), tc.msg) {
			t.Errorf("%s: %v (%s), want %s naming %q", tc.name, err, got, tc.want, tc.msg)
		}
	}
	// The accounts' rule for an e-mail address answers for itself.
	d, _ := f.link("bademail", from, to)
	d.Kind, d.TokenHash, d.GuestEmail = store.ShareAccount, nil, "guest"
	if _, err := f.svc.Create(ctx, "hh-1", "alice", d); !errors.Is(err, errNotEmail) {
		t.Errorf("malformed guest e-mail: %v, want the normaliser's error", err)
	}
	// A camera of another household does not count.
	if _, err := f.svc.Create(ctx, "hh-2", "bob", shares.Draft{ID: id("bobsback"), Camera: "back", From: from, To: to,
		Expires: f.clock.Now().Add(time.Hour), Kind: store.ShareLink, TokenHash: make([]byte, 32), Manifest: []byte("m")}); kindOf(err) != "not found" {
		t.Errorf("share of another household's camera: %v, want not found", err)
	}
	if shs, _ := f.svc.List(ctx, "hh-1"); len(shs) != 0 {
		t.Fatalf("refused drafts were stored: %v", shs)
	}

	d, _ = f.link("made", from.In(time.FixedZone("UTC+5", 5*3600)), to)
	sh, err := f.svc.Create(ctx, "hh-1", "alice", d)
	if err != nil {
		t.Fatal(err)
	}
	if sh.HouseholdID != "hh-1" || sh.Creator != "alice" || !sh.Created.Equal(f.clock.Now()) || sh.From.Location() != time.UTC ||
		!sh.From.Equal(from) || sh.Guest != "" || f.svc.State(sh) != shares.Active {
		t.Errorf("created %+v", sh)
	}
	if _, err := f.svc.Create(ctx, "hh-1", "alice", d); kindOf(err) != "exists" {
		t.Errorf("the same ID again: %v, want exists", err)
	}
	f.clock.Add(time.Second)
	acct := d
	acct.ID, acct.Kind, acct.TokenHash, acct.GuestEmail = id("guestshare"), store.ShareAccount, nil, "  Guest@Example.com "
	gs, err := f.svc.Create(ctx, "hh-1", "alice", acct)
	if err != nil {
		t.Fatal(err)
	}
	if gs.Guest != "guest" {
		t.Errorf("account share's guest %q, want guest", gs.Guest)
	}
	if c, g := f.svc.Emails(ctx, gs); c != "alice@example.com" || g != "guest@example.com" {
		t.Errorf("Emails: %q, %q", c, g)
	}
	if c, g := f.svc.Emails(ctx, sh); c != "alice@example.com" || g != "" {
		t.Errorf("Emails of a link share: %q, %q", c, g)
	}
	ids := func(shs []store.Share, err error) string {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, sh := range shs {
			out = append(out, sh.ID[:4])
		}
		return strings.Join(out, ",")
	}
	if got := ids(f.svc.List(ctx, "hh-1")); got != "gues,made" {
		t.Errorf("List hh-1: %s", got)
	}
	if got := ids(f.svc.List(ctx, "hh-2")); got != "" {
		t.Errorf("List hh-2: %s", got)
	}
	if got := ids(f.svc.With(ctx, "guest")); got != "gues" {
		t.Errorf("With guest: %s", got)
	}
	if recs := f.rec.take(); len(recs) != 0 {
		t.Errorf("creating and listing recorded guest reads: %+v", recs)
	}
}

func testLink(t *testing.T, f *fixture) {
	ctx := t.Context()
	// [start+2s, start+9s): front segments 0, 1 and 2 overlap it.
	d, tok := f.link("link", f.start.Add(2*time.Second), f.start.Add(9*time.Second))
	if _, err := f.svc.Create(ctx, "hh-1", "alice", d); err != nil {
		t.Fatal(err)
	}
	g := shares.Guest{Token: tok}
	sh, err := f.svc.Open(ctx, d.ID, g, "GET /v1/shares/x")
	if err != nil {
		t.Fatal(err)
	}
	if string(sh.Manifest) != "manifest of link" {
		t.Errorf("manifest %q", sh.Manifest)
	}
	want := store.Access{Time: f.clock.Now(), HouseholdID: "hh-1", Actor: "share:" + d.ID, ActorKind: "link", Action: shares.ActionRead,
		Object: "share:" + d.ID, Reason: "share " + d.ID + ": GET /v1/shares/x"}
	if recs := f.rec.take(); len(recs) != 1 || fmt.Sprint(recs[0]) != fmt.Sprint(want) {
		t.Errorf("records %+v, want %+v", recs, want)
	}

	for i, key := range f.front {
		o, err := f.svc.ReadObject(ctx, d.ID, g, key, "GET "+key)
		if i > 2 {
			if err != shares.ErrNotFound {
				t.Errorf("segment %d outside the range: %v, want ErrNotFound", i, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("segment %d: %v", i, err)
		}
		b, err := io.ReadAll(o.Body)
		o.Body.Close()
		if err != nil || !bytes.Equal(b, f.data[key]) || o.Meta.Key != key || o.Meta.SHA256 != sha256.Sum256(b) {
			t.Errorf("segment %d: read %d bytes (%v), meta %+v", i, len(b), err, o.Meta)
		}
	}
	if recs := f.rec.take(); len(recs) != 5 || recs[0].Action != shares.ActionReadObject || recs[0].Object != f.front[0] {
		t.Errorf("object reads recorded %+v, want each of the 5 asked", recs)
	}
	// Whatever the key: another camera, another household's object, no
	// object, a malformed key.
	for _, key := range []string{f.back, f.other, "hh-1/front/9", "../hh-2/front/1", ""} {
		if _, err := f.svc.ReadObject(ctx, d.ID, g, key, "GET"); err != shares.ErrNotFound {
			t.Errorf("object %q: %v, want ErrNotFound", key, err)
		}
	}
	f.rec.take()

	// A wrong credential is the same answer as no share, and is not recorded.
	wrong := sha256.Sum256([]byte("another token"))
	for what, c := range map[string]struct {
		id string
		g  shares.Guest
	}{
		"wrong token":      {d.ID, shares.Guest{Token: base64.RawURLEncoding.EncodeToString(wrong[:])}},
		"short token":      {d.ID, shares.Guest{Token: tok[:20]}},
		"not base64url":    {d.ID, shares.Guest{Token: "!!" + tok[2:]}},
		"an account":       {d.ID, shares.Guest{Account: "guest"}},
		"no credential":    {d.ID, shares.Guest{}},
		"no such share":    {id("nothere"), g},
		"malformed ID":     {"../" + d.ID, g},
		"the creator's ID": {d.ID, shares.Guest{Account: "alice"}},
	} {
		if _, err := f.svc.Open(ctx, c.id, c.g, "GET"); err != shares.ErrNotFound {
			t.Errorf("%s: %v, want ErrNotFound", what, err)
		}
		if _, err := f.svc.ReadObject(ctx, c.id, c.g, f.front[0], "GET"); err != shares.ErrNotFound {
			t.Errorf("%s, object: %v, want ErrNotFound", what, err)
		}
	}
	if recs := f.rec.take(); len(recs) != 0 {
		t.Errorf("refused reads recorded: %+v", recs)
	}

	// A read that cannot be recorded is not served.
	f.rec.fail = errors.New("history store down")
	if _, err := f.svc.ReadObject(ctx, d.ID, g, f.front[0], "GET"); err == nil || !strings.Contains(err.Error(), "history store down") {
		t.Errorf("unrecorded read: %v, want the recorder's error", err)
	}
	f.rec.fail = nil
}

func testAccount(t *testing.T, f *fixture) {
	ctx := t.Context()
	d, tok := f.link("acct", f.start, f.start.Add(4*time.Second))
	d.Kind, d.TokenHash, d.GuestEmail = store.ShareAccount, nil, "guest@example.com"
	if _, err := f.svc.Create(ctx, "hh-1", "alice", d); err != nil {
		t.Fatal(err)
	}
	g := shares.Guest{Account: "guest"}
	if _, err := f.svc.Open(ctx, d.ID, g, "GET"); err != nil {
		t.Fatal(err)
	}
	if recs := f.rec.take(); len(recs) != 1 || recs[0].Actor != "guest" || recs[0].ActorKind != "guest" {
		t.Errorf("records %+v, want one by the guest account", recs)
	}
	// The range ends where segment 1 starts: [From, To) does not cover it.
	if _, err := f.svc.ReadObject(ctx, d.ID, g, f.front[0], "GET"); err != nil {
		t.Errorf("segment 0: %v", err)
	}
	if _, err := f.svc.ReadObject(ctx, d.ID, g, f.front[1], "GET"); err != shares.ErrNotFound {
		t.Errorf("segment 1, starting at the range's end: %v, want ErrNotFound", err)
	}
	for what, g := range map[string]shares.Guest{
		"another account": {Account: "bob"},
		"the sharer":      {Account: "alice"},
		"a token":         {Token: tok},
	} {
		if _, err := f.svc.Open(ctx, d.ID, g, "GET"); err != shares.ErrNotFound {
			t.Errorf("%s: %v, want ErrNotFound", what, err)
		}
	}
}

func testExpiryRevoke(t *testing.T, f *fixture) {
	ctx := t.Context()
	d, tok := f.link("expiring", f.start, f.start.Add(time.Minute))
	d.Expires = f.clock.Now().Add(time.Hour)
	if _, err := f.svc.Create(ctx, "hh-1", "alice", d); err != nil {
		t.Fatal(err)
	}
	r, tok2 := f.link("revoked", f.start, f.start.Add(time.Minute))
	if _, err := f.svc.Create(ctx, "hh-1", "alice", r); err != nil {
		t.Fatal(err)
	}
	f.rec.take()

	// Revoking: only by the share's household; the first time counts.
	if _, err := f.svc.Revoke(ctx, "hh-2", r.ID); err != shares.ErrNotFound {
		t.Errorf("revoked by another household: %v, want ErrNotFound", err)
	}
	if _, err := f.svc.Revoke(ctx, "hh-1", "BAD"); err != shares.ErrNotFound {
		t.Errorf("revoking a malformed ID: %v, want ErrNotFound", err)
	}
	if _, err := f.svc.Open(ctx, r.ID, shares.Guest{Token: tok2}, "GET"); err != nil {
		t.Fatalf("before revocation: %v", err)
	}
	revokedAt := f.clock.Now()
	sh, err := f.svc.Revoke(ctx, "hh-1", r.ID)
	if err != nil || !sh.Revoked.Equal(revokedAt) || f.svc.State(sh) != shares.Revoked {
		t.Fatalf("Revoke: %+v, %v", sh, err)
	}
	f.clock.Add(time.Minute)
	if sh, err := f.svc.Revoke(ctx, "hh-1", r.ID); err != nil || !sh.Revoked.Equal(revokedAt) {
		t.Errorf("revoked again: %v, %v, want the first time %v", sh.Revoked, err, revokedAt)
	}
	want := "this share was revoked by the household on " + revokedAt.Format(time.RFC1123)
	for _, err := range []error{
		func() error { _, err := f.svc.Open(ctx, r.ID, shares.Guest{Token: tok2}, "GET"); return err }(),
		func() error {
			_, err := f.svc.ReadObject(ctx, r.ID, shares.Guest{Token: tok2}, f.front[0], "GET")
			return err
		}(),
	} {
		if kindOf(err) != "gone" || err.Error() != want {
			t.Errorf("revoked share: %v, want gone: %q", err, want)
		}
	}
	// A wrong token learns nothing of the state.
	if _, err := f.svc.Open(ctx, r.ID, shares.Guest{Token: tok}, "GET"); err != shares.ErrNotFound {
		t.Errorf("revoked share, wrong token: %v, want ErrNotFound", err)
	}

	// Expiry: active until just before Expires, expired at it exactly.
	f.clock.Add(d.Expires.Sub(f.clock.Now()) - time.Nanosecond)
	if _, err := f.svc.Open(ctx, d.ID, shares.Guest{Token: tok}, "GET"); err != nil {
		t.Errorf("a nanosecond before expiry: %v", err)
	}
	f.clock.Add(time.Nanosecond)
	_, err = f.svc.ReadObject(ctx, d.ID, shares.Guest{Token: tok}, f.front[0], "GET")
	if want := "this share expired on " + d.Expires.UTC().Format(time.RFC1123); kindOf(err) != "gone" || err.Error() != want {
		t.Errorf("at expiry: %v, want gone: %q", err, want)
	}
	shs, err := f.svc.List(ctx, "hh-1")
	if err != nil || len(shs) != 2 {
		t.Fatalf("List: %v, %v", shs, err)
	}
	for _, sh := range shs {
		if want := map[string]string{d.ID: shares.Expired, r.ID: shares.Revoked}[sh.ID]; f.svc.State(sh) != want {
			t.Errorf("%s is %s, want %s", sh.ID, f.svc.State(sh), want)
		}
	}
	if recs := f.rec.take(); len(recs) != 2 {
		t.Errorf("records %+v, want the 2 reads served", recs)
	}
}

// sealedClip is a sealed clip of camera (signed by a throwaway key, as the
// cloud cannot check the signer) whose plaintext is distinctive.
func sealedClip(t *testing.T, kind envelope.Kind, camera string, n int) []byte {
	t.Helper()
	_, sk, _ := ed25519.GenerateKey(rand.Reader)
	to, _ := envelope.GenerateX25519Identity()
	plain := bytes.Repeat([]byte("blurred clip "), n)
	sealed, err := envelope.Seal(envelope.Header{Kind: kind, Stream: camera, Start: time.Unix(1e9, 0)}, time.Unix(1e9+3, 0), sk, plain, to.Recipient())
	if err != nil {
		t.Fatal(err)
	}
	return sealed
}

// holds reports whether any file under dir holds b.
func holds(t *testing.T, dir string, b []byte) bool {
	t.Helper()
	found := false
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		if err == nil && bytes.Contains(data, b) {
			found = true
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}

// A redacted share is of its one clip: stored once by the share's creator
// while the share is active, served to its guest and nothing else of the
// household, never among the household's objects, and erased (no byte left
// in the blob directory) when the share is revoked or expires.
func testRedacted(t *testing.T, f *fixture) {
	ctx := t.Context()
	d, tok := f.link("redacted", f.start, f.start.Add(8*time.Second))
	d.Redacted = true
	sh, err := f.svc.Create(ctx, "hh-1", "alice", d)
	if err != nil || !sh.Redacted || !sh.Clip.IsZero() {
		t.Fatalf("Create redacted: %+v, %v", sh, err)
	}
	plain, ptok := f.link("plain", f.start, f.start.Add(8*time.Second))
	if _, err := f.svc.Create(ctx, "hh-1", "alice", plain); err != nil {
		t.Fatal(err)
	}
	clip := sealedClip(t, envelope.KindClip, "front", 1000)
	put := func(hh, account, id string, b []byte, size int64) error {
		_, err := f.svc.PutClip(ctx, hh, account, id, bytes.NewReader(b), size)
		return err
	}
	// Before its clip is stored, the guest is served nothing.
	if _, err := f.svc.ReadObject(ctx, d.ID, shares.Guest{Token: tok}, shares.ClipKey(d.ID), "GET"); err != shares.ErrNotFound {
		t.Errorf("the clip before it was stored: %v", err)
	}
	for _, tc := range []struct {
		name, hh, account, id string
		body                  []byte
		size                  int64
		want                  string
	}{
		{"another household", "hh-2", "bob", d.ID, clip, int64(len(clip)), "not found (bare)"},
		{"another household's member as creator", "hh-2", "alice", d.ID, clip, int64(len(clip)), "not found (bare)"},
		{"no such share", "hh-1", "alice", id("nothing"), clip, int64(len(clip)), "not found (bare)"},
		{"a malformed ID", "hh-1", "alice", "../x", clip, int64(len(clip)), "not found (bare)"},
		{"not the share's creator", "hh-1", "guest", d.ID, clip, int64(len(clip)), "forbidden"},
		{"a share that is not redacted", "hh-1", "alice", plain.ID, clip, int64(len(clip)), "invalid"},
		{"too big", "hh-1", "alice", d.ID, clip, shares.MaxClip + 1, "too large"},
		{"empty", "hh-1", "alice", d.ID, nil, 0, "invalid"},
		{"not sealed", "hh-1", "alice", d.ID, bytes.Repeat([]byte("x"), 500), 500, "invalid"},
		{"a segment", "hh-1", "alice", d.ID, sealedClip(t, envelope.KindSegment, "front", 10), -1, "invalid"},
		{"another camera's clip", "hh-1", "alice", d.ID, sealedClip(t, envelope.KindClip, "back", 10), -1, "invalid"},
	} {
		size := tc.size
		if size < 0 {
			size = int64(len(tc.body))
		}
		if err := put(tc.hh, tc.account, tc.id, tc.body, size); kindOf(err) != tc.want {
			t.Errorf("%s: %v, want %s", tc.name, err, tc.want)
		}
	}
	if keys, _ := f.blobs.List(ctx, "shares/"); len(keys) != 0 {
		t.Fatalf("refused clips left %v", keys)
	}
	if err := put("hh-1", "alice", d.ID, clip, int64(len(clip))); err != nil {
		t.Fatal(err)
	}
	if err := put("hh-1", "alice", d.ID, clip, int64(len(clip))); err != nil {
		t.Errorf("the same clip again: %v", err)
	}
	if other := sealedClip(t, envelope.KindClip, "front", 10); kindOf(put("hh-1", "alice", d.ID, other, int64(len(other)))) != "exists" {
		t.Error("another clip replaced the stored one")
	}
	// Served to the guest; nothing else of the household is.
	o, err := f.svc.ReadObject(ctx, d.ID, shares.Guest{Token: tok}, shares.ClipKey(d.ID), "GET")
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(o.Body)
	o.Body.Close()
	if !bytes.Equal(got, clip) || o.Meta.Size != int64(len(clip)) {
		t.Errorf("the guest reads %d bytes, want the %d of the clip", len(got), len(clip))
	}
	for _, key := range []string{f.front[0], f.front[1], shares.ClipKey(plain.ID)} {
		if _, err := f.svc.ReadObject(ctx, d.ID, shares.Guest{Token: tok}, key, "GET"); err != shares.ErrNotFound {
			t.Errorf("a redacted share serves %s: %v", key, err)
		}
	}
	// Another share's guest cannot read it.
	if _, err := f.svc.ReadObject(ctx, plain.ID, shares.Guest{Token: ptok}, shares.ClipKey(d.ID), "GET"); err != shares.ErrNotFound {
		t.Errorf("another share's guest reads the clip: %v", err)
	}
	// Never the household's object.
	if _, err := f.st.Object(ctx, "hh-1", shares.ClipKey(d.ID)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the clip is indexed as a household object: %v", err)
	}
	marker := clip[len(clip)/2 : len(clip)/2+64]
	if !holds(t, f.dir, marker) {
		t.Fatal("the blob directory does not hold the clip (the scan would prove nothing)")
	}

	// Revoked: erased at once, and no longer stored.
	if _, err := f.svc.Revoke(ctx, "hh-1", d.ID); err != nil {
		t.Fatal(err)
	}
	if holds(t, f.dir, marker) {
		t.Error("the revoked share's clip is still in the blob directory")
	}
	if got, _ := f.st.Share(ctx, d.ID); !got.Clip.IsZero() {
		t.Errorf("the revoked share still records a clip at %v", got.Clip)
	}
	if err := put("hh-1", "alice", d.ID, clip, int64(len(clip))); kindOf(err) != "gone" {
		t.Errorf("a clip for a revoked share: %v, want gone", err)
	}

	// Expired: the sweep erases it.
	e, etok := f.link("expires", f.start, f.start.Add(8*time.Second))
	e.Redacted, e.Expires = true, f.clock.Now().Add(time.Hour)
	if _, err := f.svc.Create(ctx, "hh-1", "alice", e); err != nil {
		t.Fatal(err)
	}
	clip2 := sealedClip(t, envelope.KindClip, "front", 2000)
	if err := put("hh-1", "alice", e.ID, clip2, int64(len(clip2))); err != nil {
		t.Fatal(err)
	}
	marker2 := clip2[len(clip2)/2 : len(clip2)/2+64]
	if n, err := f.svc.SweepClips(ctx); err != nil || n != 0 || !holds(t, f.dir, marker2) {
		t.Fatalf("a sweep before expiry: %d, %v", n, err)
	}
	f.clock.Add(time.Hour)
	if n, err := f.svc.SweepClips(ctx); err != nil || n != 1 {
		t.Errorf("the sweep at expiry erased %d: %v", n, err)
	}
	if holds(t, f.dir, marker2) {
		t.Error("the expired share's clip is still in the blob directory")
	}
	if _, err := f.svc.ReadObject(ctx, e.ID, shares.Guest{Token: etok}, shares.ClipKey(e.ID), "GET"); kindOf(err) != "gone" {
		t.Errorf("the expired share's clip: %v, want gone", err)
	}
	if n, err := f.svc.SweepClips(ctx); err != nil || n != 0 {
		t.Errorf("a second sweep erased %d: %v", n, err)
	}
}
