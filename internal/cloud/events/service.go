package events

import (
	"context"
	"encoding/base64"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"time"

	"vigil/internal/cloud/store"
	"vigil/internal/envelope"
	"vigil/internal/eventrec"
	"vigil/internal/netguard"
)

const (
	// MaxList caps one events listing; List says there are more (ask
	// again from the last start).
	MaxList = 1000
	// MaxSubsPerAccount bounds an account's push subscriptions.
	MaxSubsPerAccount = 20
	// MaxEndpoint bounds a subscription's URL.
	MaxEndpoint = 2048
)

// Store is the index the events domain needs. The cloud's SQLite and
// PostgreSQL stores satisfy it.
type Store interface {
	Objects(ctx context.Context, f store.ObjectFilter) ([]store.Object, error)
	Member(ctx context.Context, householdID, accountID string) (store.Member, error) // store.ErrNotFound
	// PutPushSub stores sub; store.ErrConflict when the account has max.
	PutPushSub(ctx context.Context, sub store.PushSub, max int) error
	PushSubs(ctx context.Context, householdID string) ([]store.PushSub, error)
	// DeletePushSub removes the household's subscription with endpoint,
	// the account's only unless accountID is empty; store.ErrNotFound.
	DeletePushSub(ctx context.Context, householdID, accountID, endpoint string) error
	PushVAPIDKey(ctx context.Context) (string, error) // store.ErrNotFound before the first
	InitPushVAPIDKey(ctx context.Context, key string) (string, error)
}

// Subscription is a browser's push subscription: its endpoint (a
// capability URL) and its keys, base64url as PushSubscription.toJSON()
// gives them.
type Subscription struct {
	Endpoint string
	P256dh   string
	Auth     string
}

// Message is one push: the payload (opaque bytes: a sealed event record,
// or a notice carrying no secret) and how the push service keeps it.
type Message struct {
	Payload []byte
	TTL     time.Duration
	Urgency string // "very-low", "low", "normal" or "high"; "" for normal
	Topic   string // a push service keeps only the newest undelivered message of a topic
}

// Sender delivers one push message. It returns an error wrapping ErrGone
// when the push service says the subscription no longer exists. The
// cloud's is notify/webpush's Sender, adapted by the HTTP layer.
type Sender interface {
	Send(ctx context.Context, sub Subscription, m Message) error
}

// Config configures a Service.
type Config struct {
	Store  Store
	Sender Sender
	// NewVAPIDKey generates a VAPID key in its stored form
	// (webpush.GenerateVAPIDKey().String()); called when none is stored.
	NewVAPIDKey func() (string, error)
	// PublicURL is the service's public URL: when it is plain HTTP on a
	// loopback address, plain-HTTP loopback endpoints are accepted.
	PublicURL string
	Logger    *slog.Logger
	Now       func() time.Time
}

// Service is the events domain. It is safe for concurrent use; its only
// state is the VAPID key once read, which is the same on every replica.
type Service struct {
	st       Store
	sender   Sender
	newKey   func() (string, error)
	loopback bool
	log      *slog.Logger
	now      func() time.Time

	mu    sync.Mutex
	vapid string
}

// New returns a Service.
func New(c Config) (*Service, error) {
	if c.Store == nil || c.Sender == nil || c.NewVAPIDKey == nil {
		return nil, errors.New("events: a store, a sender and a VAPID key generator are required")
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return &Service{st: c.Store, sender: c.Sender, newKey: c.NewVAPIDKey, loopback: loopbackService(c.PublicURL),
		log: c.Logger, now: c.Now}, nil
}

// List returns the household's event objects overlapping [from, to)
// (zero: unbounded), oldest first, at most MaxList, and whether there are
// more.
func (s *Service) List(ctx context.Context, household string, from, to time.Time) ([]store.Object, bool, error) {
	objs, err := s.st.Objects(ctx, store.ObjectFilter{HouseholdID: household, Camera: eventrec.StreamEvents,
		Kind: envelope.KindEvent.String(), From: from, To: to, Limit: MaxList + 1})
	if err != nil {
		return nil, false, err
	}
	more := len(objs) > MaxList
	if more {
		objs = objs[:MaxList]
	}
	return objs, more, nil
}

// VAPIDKey returns the service's VAPID key in its stored form, generating
// and storing it the first time (whichever replica stores first wins).
func (s *Service) VAPIDKey(ctx context.Context) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.vapid != "" {
		return s.vapid, nil
	}
	enc, err := s.st.PushVAPIDKey(ctx)
	if errors.Is(err, store.ErrNotFound) {
		k, gerr := s.newKey()
		if gerr != nil {
			return "", gerr
		}
		enc, err = s.st.InitPushVAPIDKey(ctx, k)
	}
	if err != nil {
		return "", err
	}
	s.vapid = enc
	return enc, nil
}

// Subscribe stores account's subscription for the household's events.
func (s *Service) Subscribe(ctx context.Context, household, account string, sub Subscription) error {
	if err := s.checkEndpoint(sub.Endpoint); err != nil {
		return err
	}
	if len(sub.P256dh) > 200 || b64Len(sub.P256dh) != 65 || !strings.HasPrefix(sub.P256dh, "B") {
		return errorf(Invalid, "keys.p256dh: base64url of an uncompressed P-256 point (65 bytes)")
	}
	if len(sub.Auth) > 40 || b64Len(sub.Auth) != 16 {
		return errorf(Invalid, "keys.auth: base64url of 16 bytes")
	}
	err := s.st.PutPushSub(ctx, store.PushSub{HouseholdID: household, AccountID: account, Endpoint: sub.Endpoint,
		P256dh: sub.P256dh, Auth: sub.Auth, Created: s.now().UTC()}, MaxSubsPerAccount)
	if errors.Is(err, store.ErrConflict) {
		return errorf(Conflict, "this account has %d push subscriptions, the most allowed; remove one first", MaxSubsPerAccount)
	}
	return err
}

// Unsubscribe removes one of account's subscriptions to the household.
func (s *Service) Unsubscribe(ctx context.Context, household, account, endpoint string) error {
	if endpoint == "" || len(endpoint) > MaxEndpoint {
		return errorf(Invalid, "endpoint: the subscription's URL")
	}
	err := s.st.DeletePushSub(ctx, household, account, endpoint)
	if errors.Is(err, store.ErrNotFound) {
		return &Error{Kind: NotFound, Msg: "not found"}
	}
	return err
}

// Push sends m to each of the household's subscriptions whose account is
// a member admit accepts (nil: any member), deletes those of accounts that
// are no longer members and those the push service says are gone, and
// returns how many the push service took. Failures are logged, never
// returned: a push is tried once.
func (s *Service) Push(ctx context.Context, household string, m Message, admit func(store.Member) bool) int {
	subs, err := s.st.PushSubs(ctx, household)
	if err != nil {
		s.log.Error("push subscriptions", "household", household, "err", err)
		return 0
	}
	sent := 0
	for _, p := range subs {
		// A subscription outlives its account's membership only until the
		// next push.
		mem, err := s.st.Member(ctx, household, p.AccountID)
		if errors.Is(err, store.ErrNotFound) {
			if err := s.st.DeletePushSub(ctx, household, p.AccountID, p.Endpoint); err != nil && !errors.Is(err, store.ErrNotFound) {
				s.log.Error("deleting push subscription", "household", household, "err", err)
			}
			continue
		} else if err != nil {
			s.log.Error("push subscription's member", "household", household, "err", err)
			continue
		}
		if admit != nil && !admit(mem) {
			continue
		}
		err = s.sender.Send(ctx, Subscription{Endpoint: p.Endpoint, P256dh: p.P256dh, Auth: p.Auth}, m)
		switch {
		case errors.Is(err, ErrGone):
			s.log.Info("push subscription gone; deleted", "household", household, "account", p.AccountID, "host", EndpointHost(p.Endpoint))
			if err := s.st.DeletePushSub(ctx, household, "", p.Endpoint); err != nil && !errors.Is(err, store.ErrNotFound) {
				s.log.Error("deleting push subscription", "household", household, "err", err)
			}
		case err != nil:
			s.log.Warn("push failed", "household", household, "host", EndpointHost(p.Endpoint), "err", err)
		default:
			sent++
		}
	}
	return sent
}

// EndpointHost is what may be logged of an endpoint (the URL is a
// capability).
func EndpointHost(endpoint string) string {
	if u, err := url.Parse(endpoint); err == nil {
		return u.Host
	}
	return ""
}

// loopbackService reports whether the service itself runs on plain HTTP on
// a loopback address (development and tests), where push endpoints on
// loopback are allowed.
func loopbackService(publicURL string) bool {
	u, err := url.Parse(publicURL)
	if err != nil || u.Scheme != "http" {
		return false
	}
	ip := net.ParseIP(u.Hostname())
	return u.Hostname() == "localhost" || (ip != nil && ip.IsLoopback())
}

// checkEndpoint refuses push endpoints that would make the cloud post to
// something other than a push service on the internet.
func (s *Service) checkEndpoint(endpoint string) error {
	u, err := url.Parse(endpoint)
	if len(endpoint) > MaxEndpoint || err != nil || u.Host == "" || u.User != nil || u.Fragment != "" {
		return errorf(Invalid, "endpoint: an https URL of at most %d bytes", MaxEndpoint)
	}
	host := u.Hostname()
	ip := net.ParseIP(host)
	local := localName(host)
	if a, err := netip.ParseAddr(host); err == nil {
		local = netguard.NotPublic(a) != ""
	}
	switch {
	case local && u.Scheme == "http" && s.loopback && (host == "localhost" || (ip != nil && ip.IsLoopback())):
		return nil
	case u.Scheme != "https":
		return errorf(Invalid, "endpoint: an https URL (a browser push service)")
	case local:
		return errorf(Invalid, "endpoint: a push service on the internet, not a local address")
	}
	return nil
}

// localNames are the suffixes of names that only a local resolver
// answers: the host's own, a LAN's, a cloud's or a cluster's internal
// names (metadata.google.internal, kubernetes.default.svc).
var localNames = []string{".localhost", ".local", ".lan", ".home.arpa", ".internal", ".intranet", ".corp", ".private", ".svc", ".cluster.local"}

// localName reports whether host is a name no push service on the
// internet has: localhost, a single label, or one under localNames. It is
// an early, friendly refusal only: the sender's dialer checks the address
// each name resolves to when it connects (netguard).
func localName(host string) bool {
	h := strings.ToLower(strings.TrimSuffix(host, "."))
	if h == "localhost" || !strings.Contains(h, ".") {
		return true
	}
	for _, suf := range localNames {
		if strings.HasSuffix(h, suf) {
			return true
		}
	}
	return false
}

func b64Len(s string) int {
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
	if err != nil {
		return -1
	}
	return len(b)
}
