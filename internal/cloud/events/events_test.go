package events_test

import (
	"context"
	"crypto/ecdh"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"vigil/internal/cloud/events"
	"vigil/internal/cloud/store"
	"vigil/internal/cloud/store/storetest"
	"vigil/internal/envelope"
	"vigil/internal/eventrec"
	"vigil/internal/netguard"
	"vigil/internal/notify/webpush"
	"vigil/internal/pgtest"
)

// The events domain over both real stores, sending through notify/webpush's
// real Sender to a push service run by the test (an httptest server that
// decrypts what it receives, and answers 410 or 404 for subscriptions it
// says are gone).

func TestSQLite(t *testing.T) {
	run(t, func(t *testing.T) index {
		return storetest.OpenSQLite(t, nil)
	})
}

func TestPostgres(t *testing.T) {
	db := pgtest.NewDB(t)
	run(t, func(t *testing.T) index {
		return storetest.OpenPostgres(t, db, nil)
	})
}

// index is the store the tests open: the events domain's Store, and what
// makes households, members and objects for it.
type index interface {
	events.Store
	CreateAccount(ctx context.Context, a store.Account) error
	CreateHousehold(ctx context.Context, h store.Household, admin store.Member, genesis store.Link) error
	PutMember(ctx context.Context, m store.Member) error
	DeleteMember(ctx context.Context, householdID, accountID string) error
	PutObject(ctx context.Context, o store.Object) (bool, error)
}

var start = time.Date(2026, 12, 1, 20, 0, 0, 0, time.UTC)

func run(t *testing.T, open func(t *testing.T) index) {
	for _, c := range []struct {
		name string
		f    func(t *testing.T, st index)
	}{
		{"List", testList},
		{"SubscribeUnsubscribe", testSubscribe},
		{"EndpointRefusals", testEndpoints},
		{"VAPIDKeyShared", testVAPID},
		{"PushOnePerSubscription", testPush},
	} {
		t.Run(c.name, func(t *testing.T) { c.f(t, open(t)) })
	}
}

// pushService is a push service: it decrypts each message with the
// subscription's keys it made, and answers status for the paths in gone.
type pushService struct {
	srv *httptest.Server

	mu   sync.Mutex
	keys map[string]*ecdh.PrivateKey // path -> the browser's key
	auth map[string][]byte
	gone map[string]int // path -> 404 or 410
	got  map[string][]string
}

func newPushService(t *testing.T) *pushService {
	p := &pushService{keys: map[string]*ecdh.PrivateKey{}, auth: map[string][]byte{}, gone: map[string]int{}, got: map[string][]string{}}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		p.mu.Lock()
		defer p.mu.Unlock()
		if st := p.gone[r.URL.Path]; st != 0 {
			w.WriteHeader(st)
			return
		}
		k, ok := p.keys[r.URL.Path]
		if !ok {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		plain, err := webpush.Decrypt(body, k, p.auth[r.URL.Path])
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		p.got[r.URL.Path] = append(p.got[r.URL.Path], string(plain))
		w.WriteHeader(http.StatusCreated)
	}))
	t.Cleanup(p.srv.Close)
	return p
}

// subscription makes a browser's subscription at path.
func (p *pushService) subscription(t *testing.T, path string) events.Subscription {
	k, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	auth := make([]byte, 16)
	rand.Read(auth)
	p.mu.Lock()
	p.keys[path], p.auth[path] = k, auth
	p.mu.Unlock()
	enc := base64.RawURLEncoding.EncodeToString
	return events.Subscription{Endpoint: p.srv.URL + path, P256dh: enc(k.PublicKey().Bytes()), Auth: enc(auth)}
}

func (p *pushService) received(path string) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.got[path]...)
}

// sender is the adapter the HTTP layer has: notify/webpush's Sender over
// the service's VAPID key, its ErrGone reported as events.ErrGone.
type sender struct {
	svc  func() *events.Service
	sent int
	mu   sync.Mutex
}

func (s *sender) Send(ctx context.Context, sub events.Subscription, m events.Message) error {
	enc, err := s.svc().VAPIDKey(ctx)
	if err != nil {
		return err
	}
	k, err := webpush.ParseVAPIDKey(enc)
	if err != nil {
		return err
	}
	var ws webpush.Subscription
	ws.Endpoint, ws.Keys.P256dh, ws.Keys.Auth = sub.Endpoint, sub.P256dh, sub.Auth
	s.mu.Lock()
	s.sent++
	s.mu.Unlock()
	err = (&webpush.Sender{VAPID: k, Subject: "mailto:webpush@localhost", Client: webpush.NewClient(loopbackForTests)}).Send(ctx, ws,
		webpush.Message{Payload: m.Payload, TTL: m.TTL, Urgency: webpush.Urgency(m.Urgency), Topic: m.Topic})
	if errors.Is(err, webpush.ErrGone) {
		return fmt.Errorf("%w: %w", events.ErrGone, err)
	}
	return err
}

func service(t *testing.T, st index, publicURL string) (*events.Service, *sender) {
	t.Helper()
	snd := &sender{}
	svc, err := events.New(events.Config{Store: st, Sender: snd, PublicURL: publicURL, Now: func() time.Time { return start },
		NewVAPIDKey: func() (string, error) {
			k, err := webpush.GenerateVAPIDKey()
			if err != nil {
				return "", err
			}
			return k.String(), nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	snd.svc = func() *events.Service { return svc }
	return svc, snd
}

// household creates a household whose admin is acct-ID, and members
// (role "member") acct-NAME for each name.
func household(t *testing.T, st index, id string, members ...string) {
	t.Helper()
	ctx := context.Background()
	for _, a := range append([]string{id}, members...) {
		if err := st.CreateAccount(ctx, store.Account{ID: "acct-" + a, Email: a + "@example.com", Created: start}); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.CreateHousehold(ctx, store.Household{ID: id, Name: id, GenesisHash: []byte("g"), Created: start},
		store.Member{HouseholdID: id, AccountID: "acct-" + id, Role: store.RoleAdmin, Created: start},
		store.Link{HouseholdID: id, Seq: 0, Hash: []byte("g"), Data: []byte("genesis"), Created: start}); err != nil {
		t.Fatal(err)
	}
	for _, m := range members {
		if err := st.PutMember(ctx, store.Member{HouseholdID: id, AccountID: "acct-" + m, Role: store.RoleMember, Created: start}); err != nil {
			t.Fatal(err)
		}
	}
}

// refusal checks that err is an *events.Error of kind k whose message
// holds want.
func refusal(t *testing.T, err error, k events.Kind, want string) {
	t.Helper()
	var ee *events.Error
	if !errors.As(err, &ee) || ee.Kind != k || !strings.Contains(ee.Msg, want) {
		t.Fatalf("err = %v; want a refusal of kind %d saying %q", err, k, want)
	}
}

func endpoints(t *testing.T, st index, household string) []string {
	t.Helper()
	subs, err := st.PushSubs(context.Background(), household)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, s := range subs {
		out = append(out, s.AccountID+" "+s.Endpoint)
	}
	return out
}

func testList(t *testing.T, st index) {
	ctx := context.Background()
	household(t, st, "hh1")
	household(t, st, "hh2")
	put := func(hh, camera string, kind envelope.Kind, seq uint64) {
		at := start.Add(time.Duration(seq) * time.Minute)
		o := store.Object{HouseholdID: hh, Key: fmt.Sprintf("%s/hub/%s/%016x", hh, camera, seq), Device: "hub", Camera: camera,
			Kind: kind.String(), Seq: seq, Start: at, End: at.Add(5 * time.Second), Size: 100, Created: start}
		if _, err := st.PutObject(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	for seq := uint64(1); seq <= 3; seq++ {
		put("hh1", eventrec.StreamEvents, envelope.KindEvent, seq)
	}
	put("hh1", "front", envelope.KindSegment, 4)
	put("hh2", eventrec.StreamEvents, envelope.KindEvent, 5)
	svc, _ := service(t, st, "https://vigil.example")

	objs, more, err := svc.List(ctx, "hh1", time.Time{}, time.Time{})
	if err != nil || more || len(objs) != 3 {
		t.Fatalf("List = %d objects, more %v, %v; want the 3 event objects", len(objs), more, err)
	}
	for i, o := range objs {
		if o.Seq != uint64(i+1) || o.Kind != envelope.KindEvent.String() || o.HouseholdID != "hh1" {
			t.Fatalf("event %d = %+v; want hh1's event objects oldest first", i, o)
		}
	}
	objs, _, err = svc.List(ctx, "hh1", start.Add(2*time.Minute), start.Add(3*time.Minute))
	if err != nil || len(objs) != 1 || objs[0].Seq != 2 {
		t.Fatalf("List [2m, 3m) = %+v, %v; want event 2 only", objs, err)
	}
}

func testSubscribe(t *testing.T, st index) {
	ctx := context.Background()
	household(t, st, "hh1", "bob")
	p := newPushService(t)
	svc, _ := service(t, st, "http://127.0.0.1:8080")
	a, b := p.subscription(t, "/a"), p.subscription(t, "/b")
	if err := svc.Subscribe(ctx, "hh1", "acct-hh1", a); err != nil {
		t.Fatal(err)
	}
	if err := svc.Subscribe(ctx, "hh1", "acct-bob", b); err != nil {
		t.Fatal(err)
	}
	if err := svc.Subscribe(ctx, "hh1", "acct-bob", b); err != nil { // again: still one
		t.Fatal(err)
	}
	got := endpoints(t, st, "hh1")
	if len(got) != 2 || got[0] != "acct-hh1 "+a.Endpoint || got[1] != "acct-bob "+b.Endpoint {
		t.Fatalf("subscriptions = %q; want the admin's then bob's", got)
	}
	// Bob cannot remove the admin's subscription; the admin can.
	refusal(t, svc.Unsubscribe(ctx, "hh1", "acct-bob", a.Endpoint), events.NotFound, "not found")
	refusal(t, svc.Unsubscribe(ctx, "hh1", "acct-bob", ""), events.Invalid, "endpoint: the subscription's URL")
	if err := svc.Unsubscribe(ctx, "hh1", "acct-hh1", a.Endpoint); err != nil {
		t.Fatal(err)
	}
	if got := endpoints(t, st, "hh1"); len(got) != 1 || got[0] != "acct-bob "+b.Endpoint {
		t.Fatalf("after unsubscribing = %q; want bob's only", got)
	}
	// Keys that are not a browser's.
	bad := b
	bad.P256dh = bad.P256dh[1:]
	refusal(t, svc.Subscribe(ctx, "hh1", "acct-bob", bad), events.Invalid, "keys.p256dh")
	bad = b
	bad.Auth = "AAAA"
	refusal(t, svc.Subscribe(ctx, "hh1", "acct-bob", bad), events.Invalid, "keys.auth: base64url of 16 bytes")
	// At most MaxSubsPerAccount per account.
	for i := 1; i < events.MaxSubsPerAccount; i++ {
		if err := svc.Subscribe(ctx, "hh1", "acct-bob", p.subscription(t, fmt.Sprintf("/b%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	refusal(t, svc.Subscribe(ctx, "hh1", "acct-bob", p.subscription(t, "/one-too-many")), events.Conflict,
		fmt.Sprintf("this account has %d push subscriptions, the most allowed", events.MaxSubsPerAccount))
}

func testEndpoints(t *testing.T, st index) {
	ctx := context.Background()
	household(t, st, "hh1")
	p := newPushService(t)
	keys := p.subscription(t, "/k")
	onInternet, _ := service(t, st, "https://vigil.example")
	onLoopback, _ := service(t, st, "http://localhost:8080")
	sub := func(endpoint string) events.Subscription { s := keys; s.Endpoint = endpoint; return s }
	const (
		notURL   = "endpoint: an https URL of at most 2048 bytes"
		notHTTPS = "endpoint: an https URL (a browser push service)"
		local    = "endpoint: a push service on the internet, not a local address"
	)
	for _, c := range []struct {
		svc      *events.Service
		endpoint string
		want     string // "" accepted
	}{
		{onInternet, "https://push.example.net/sub/1", ""},
		{onInternet, "", notURL},
		{onInternet, "https://" + strings.Repeat("a", events.MaxEndpoint) + ".example/", notURL},
		{onInternet, "https://user@push.example.net/x", notURL},
		{onInternet, "https://push.example.net/x#frag", notURL},
		{onInternet, "/relative", notURL},
		{onInternet, "http://push.example.net/x", notHTTPS},
		{onInternet, "ftp://push.example.net/x", notHTTPS},
		{onInternet, "https://127.0.0.1/x", local},
		{onInternet, "https://localhost/x", local},
		{onInternet, "https://a.localhost/x", local},
		{onInternet, "https://10.1.2.3/x", local},
		{onInternet, "https://192.168.1.1/x", local},
		{onInternet, "https://172.16.0.1/x", local},
		{onInternet, "https://169.254.169.254/latest/meta-data", local},
		{onInternet, "https://0.0.0.0/x", local},
		{onInternet, "https://[::1]/x", local},
		{onInternet, "https://[fd00::1]/x", local},
		{onInternet, "https://[fe80::1]/x", local},
		{onInternet, "http://127.0.0.1:9/x", notHTTPS},
		// The red team's cases: refused here by their text, and at dial
		// time by the sender's dialer whatever a name resolves to
		// (netguard, webpush's TestSenderDialsOnlyPublicAddresses).
		{onInternet, "https://100.64.0.1/x", local},
		{onInternet, "https://metadata.google.internal/computeMetadata/v1/", local},
		{onInternet, "https://kubernetes.default.svc/x", local},
		{onInternet, "https://metadata/x", local},
		{onInternet, "https://printer.local/x", local},
		{onInternet, "https://[::ffff:127.0.0.1]/x", local},
		{onInternet, "https://[64:ff9b::a9fe:a9fe]/x", local},
		{onInternet, "https://192.0.2.1/x", local},
		{onInternet, "https://[ff02::1]/x", local},
		{onInternet, "https://8.8.8.8/x", ""},
		// A service on plain HTTP on loopback takes loopback endpoints,
		// and still no private ones.
		{onLoopback, "http://127.0.0.1:9/x", ""},
		{onLoopback, "http://localhost:9/x", ""},
		{onLoopback, "http://[::1]:9/x", ""},
		{onLoopback, "http://10.1.2.3/x", notHTTPS},
		{onLoopback, "https://10.1.2.3/x", local},
		{onLoopback, "http://a.localhost/x", notHTTPS},
	} {
		err := c.svc.Subscribe(ctx, "hh1", "acct-hh1", sub(c.endpoint))
		if c.want == "" {
			if err != nil {
				t.Errorf("endpoint %q: %v; want it accepted", c.endpoint, err)
			}
			continue
		}
		var ee *events.Error
		if !errors.As(err, &ee) || ee.Kind != events.Invalid || ee.Msg != c.want {
			t.Errorf("endpoint %q: %v; want %q", c.endpoint, err, c.want)
		}
	}
}

func testVAPID(t *testing.T, st index) {
	ctx := context.Background()
	a, _ := service(t, st, "https://vigil.example")
	b, _ := service(t, st, "https://vigil.example")
	ka, err := a.VAPIDKey(ctx)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := b.VAPIDKey(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if ka != kb {
		t.Fatal("two replicas over one store have different VAPID keys")
	}
	if _, err := webpush.ParseVAPIDKey(ka); err != nil {
		t.Fatalf("the stored VAPID key does not parse: %v", err)
	}
}

func testPush(t *testing.T, st index) {
	ctx := context.Background()
	household(t, st, "hh1", "bob", "carol")
	household(t, st, "hh2")
	p := newPushService(t)
	svc, snd := service(t, st, "http://127.0.0.1:8080")
	subs := map[string]string{"/admin1": "acct-hh1", "/admin2": "acct-hh1", "/bob": "acct-bob", "/gone410": "acct-bob",
		"/gone404": "acct-hh1", "/carol": "acct-carol"}
	for path, acct := range subs {
		if err := svc.Subscribe(ctx, "hh1", acct, p.subscription(t, path)); err != nil {
			t.Fatal(err)
		}
	}
	if err := svc.Subscribe(ctx, "hh2", "acct-hh2", p.subscription(t, "/other")); err != nil {
		t.Fatal(err)
	}
	p.mu.Lock()
	p.gone["/gone410"], p.gone["/gone404"] = http.StatusGone, http.StatusNotFound
	p.mu.Unlock()
	// Carol leaves: her subscription goes at the next push, unsent.
	if err := st.DeleteMember(ctx, "hh1", "acct-carol"); err != nil {
		t.Fatal(err)
	}

	const payload = "vigil.so sealed event record (opaque here)"
	sent := svc.Push(ctx, "hh1", events.Message{Payload: []byte(payload), TTL: time.Hour, Urgency: "high"}, nil)
	if sent != 3 {
		t.Errorf("Push sent %d; want 3 (two admin subscriptions and bob's)", sent)
	}
	for _, path := range []string{"/admin1", "/admin2", "/bob"} {
		if got := p.received(path); len(got) != 1 || got[0] != payload {
			t.Errorf("%s received %q; want the payload once", path, got)
		}
	}
	for _, path := range []string{"/carol", "/other", "/gone410", "/gone404"} {
		if got := p.received(path); len(got) != 0 {
			t.Errorf("%s received %q; want nothing", path, got)
		}
	}
	if snd.sent != 5 {
		t.Errorf("%d sends; want 5 (not to the one who left, nor to another household)", snd.sent)
	}
	got := strings.Join(endpoints(t, st, "hh1"), ",")
	for _, path := range []string{"/admin1", "/admin2", "/bob"} {
		if !strings.Contains(got, p.srv.URL+path) {
			t.Errorf("subscriptions %q lack %s", got, path)
		}
	}
	for _, path := range []string{"/gone410", "/gone404", "/carol"} {
		if strings.Contains(got, p.srv.URL+path) {
			t.Errorf("subscriptions %q still hold %s", got, path)
		}
	}
	if n := len(endpoints(t, st, "hh2")); n != 1 {
		t.Errorf("the other household has %d subscriptions; want its 1 untouched", n)
	}

	// To the admins only.
	sent = svc.Push(ctx, "hh1", events.Message{Payload: []byte(`{"type":"join-request"}`), TTL: time.Minute, Topic: "join-request"},
		func(m store.Member) bool { return m.Role == store.RoleAdmin })
	if sent != 2 || len(p.received("/bob")) != 1 || len(p.received("/admin1")) != 2 {
		t.Errorf("an admins' push sent %d, bob has %d, admin1 %d; want 2, 1, 2", sent, len(p.received("/bob")), len(p.received("/admin1")))
	}
}

// loopbackForTests lets the test's push service on 127.0.0.1 be reached.
var loopbackForTests = netguard.Options{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}
