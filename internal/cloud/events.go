package cloud

// Sealed detection events: hubs upload event records and snapshots as
// sealed objects (eventrec), the cloud indexes them like segments, lists
// them, tells connected members of new ones over a WebSocket and forwards
// small ones as Web Push messages. Notices cross replicas on the bus
// (events.H), and each small event's push is a job of the bus's push queue,
// de-duplicated by the object's key: it goes out once, whichever replica
// took the upload and however many replicas work the queue. Everything it
// handles here is
// ciphertext: a push's payload is the sealed record itself, so neither the
// cloud nor the push service can read it (docs/FORMAT.md, "Event records
// v1"). The one other push is a JoinPush to the admins when a device asks
// to join (households_web.go): the household's ID and nothing else.

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"vigil/internal/cloud/bus"
	"vigil/internal/cloud/households"
	"vigil/internal/cloud/store"
	"vigil/internal/envelope"
	"vigil/internal/eventrec"
	"vigil/internal/notify/webpush"
)

const (
	// maxEventList caps one events listing; "more" says there are others
	// (ask again from the last start).
	maxEventList = 1000
	// maxPushSealed is the largest sealed event record sent as a push
	// (under webpush.MaxPlaintext with room to spare).
	maxPushSealed = 3000
	// maxPushSubsPerAccount bounds an account's push subscriptions.
	maxPushSubsPerAccount = 20
	// maxPushEndpoint bounds a subscription's URL.
	maxPushEndpoint = 2048
	// pushTTL is how long a push service keeps an undelivered message.
	pushTTL = time.Hour
	// pushTimeout bounds the delivery of one event to all subscriptions.
	pushTimeout = 30 * time.Second
	// maxPushing bounds concurrent deliveries; past it a push is dropped.
	maxPushing = 16
	// eventQueueLen is each WebSocket subscriber's queue; a subscriber that
	// falls this far behind is disconnected.
	eventQueueLen = 64
	// maxEventSubs bounds a household's WebSocket subscribers.
	maxEventSubs = 64
	// eventBusCheck is how often an open listener checks the bus is there.
	eventBusCheck = 2 * time.Second
)

// pushSender delivers one Web Push message (*webpush.Sender). It returns
// webpush.ErrGone when the subscription no longer exists.
type pushSender interface {
	Send(ctx context.Context, sub webpush.Subscription, m webpush.Message) error
}

// eventState is the in-process fan-out of new event objects and the Web
// Push sender.
type eventState struct {
	mu   sync.Mutex
	subs map[string]map[*eventSub]struct{} // household -> WebSocket subscribers

	pushMu  sync.Mutex
	sender  pushSender // built on first use from the stored VAPID key
	vapid   *webpush.VAPIDKey
	pushing chan struct{}
	once    sync.Once
}

type eventSub struct {
	ch      chan any // eventNote, or JoinPush for an admin
	admin   bool
	dropped chan struct{}
	once    sync.Once
}

func (s *eventSub) drop() { s.once.Do(func() { close(s.dropped) }) }

// eventNote is what a WebSocket subscriber receives for a new event object.
type eventNote struct {
	Key   string    `json:"key"`
	Start time.Time `json:"start"`
	Seq   uint64    `json:"seq"`
}

func (e *eventState) init() {
	e.once.Do(func() {
		e.subs = map[string]map[*eventSub]struct{}{}
		e.pushing = make(chan struct{}, maxPushing)
	})
}

func (s *Server) eventRoutes() []route {
	return []route{
		{method: "GET", pattern: "/v1/households/{hh}/events", auth: authMember, action: "events.list", h: s.listEvents},
		{method: "GET", pattern: "/v1/households/{hh}/events/live", auth: authMember, action: "events.live", h: s.eventsLive},
		{method: "GET", pattern: "/v1/push/vapid", auth: authAccount, h: s.pushVAPID},
		{method: "POST", pattern: "/v1/households/{hh}/push", auth: authMember, action: "push.subscribe", h: s.pushSubscribe},
		{method: "DELETE", pattern: "/v1/households/{hh}/push", auth: authMember, action: "push.unsubscribe", h: s.pushUnsubscribe},
	}
}

// EventJSON is one event object in a listing.
type EventJSON struct {
	Key    string    `json:"key"`
	Seq    uint64    `json:"seq"`
	Start  time.Time `json:"start"`
	End    time.Time `json:"end"`
	Size   int64     `json:"size"`
	Device string    `json:"device"`
}

// listEvents lists the household's event objects overlapping [from, to),
// oldest first, at most maxEventList.
func (s *Server) listEvents(w http.ResponseWriter, r *http.Request, c *call) error {
	f := store.ObjectFilter{HouseholdID: c.household.ID, Camera: eventrec.StreamEvents, Kind: envelope.KindEvent.String(), Limit: maxEventList + 1}
	var err error
	if f.From, err = parseTimeParam(r, "from"); err != nil {
		return err
	}
	if f.To, err = parseTimeParam(r, "to"); err != nil {
		return err
	}
	objs, err := s.st.Objects(r.Context(), f)
	if err != nil {
		return err
	}
	more := len(objs) > maxEventList
	if more {
		objs = objs[:maxEventList]
	}
	out := make([]EventJSON, 0, len(objs))
	for _, o := range objs {
		out = append(out, EventJSON{Key: o.Key, Seq: o.Seq, Start: o.Start.UTC(), End: o.End.UTC(), Size: o.Size, Device: o.Device})
	}
	writeJSON(w, http.StatusOK, map[string]any{"events": out, "more": more})
	return nil
}

// eventUploaded is called once for each newly indexed event object: it
// tells the household's WebSocket subscribers on every replica and, for a
// small record, queues a Web Push to its subscriptions. It never blocks
// the upload.
func (s *Server) eventUploaded(o store.Object, sealed []byte) {
	note := eventNote{Key: o.Key, Start: o.Start.UTC(), Seq: o.Seq}
	s.publishEvent(eventMsg{Household: o.HouseholdID, Note: &note})
	if len(sealed) > maxPushSealed {
		return
	}
	s.queuePush(o.Key, pushJob{Household: o.HouseholdID, Payload: append([]byte(nil), sealed...)})
}

// eventMsg is a notice on the bus (events.H): a new event object, or a
// join request (for the admins' listeners only).
type eventMsg struct {
	Household string     `json:"household"`
	Note      *eventNote `json:"note,omitempty"`
	Join      bool       `json:"join,omitempty"`
}

func (s *Server) publishEvent(m eventMsg) {
	b, err := json.Marshal(m)
	if err == nil {
		err = s.bus.b.Publish(context.Background(), bus.Subject(subjEvents, m.Household), b)
	}
	if err != nil {
		s.log.Warn("event notice not sent", "household", m.Household, "err", err)
	}
}

// eventNoticed passes a notice from the bus to the household's listeners
// on this replica; one too slow to take it is dropped.
func (s *Server) eventNoticed(_ string, data []byte) {
	var m eventMsg
	if json.Unmarshal(data, &m) != nil {
		return
	}
	var v any
	switch {
	case m.Note != nil:
		v = *m.Note
	case m.Join:
		v = JoinPush{Type: "join-request", Household: m.Household}
	default:
		return
	}
	e := &s.events
	e.init()
	e.mu.Lock()
	defer e.mu.Unlock()
	for sub := range e.subs[m.Household] {
		if m.Join && !sub.admin {
			continue
		}
		select {
		case sub.ch <- v:
		default:
			delete(e.subs[m.Household], sub)
			sub.drop()
		}
	}
}

// pushJob is a job of the push queue: a sealed event record for the
// household's push subscriptions.
type pushJob struct {
	Household string `json:"household"`
	Payload   []byte `json:"payload"`
}

// queuePush puts the push of an event object on the bus's push queue in
// the background, once per object key however often it is called on any
// replica; while the bus is away it keeps trying for pushTimeout.
func (s *Server) queuePush(key string, j pushJob) {
	e := &s.events
	e.init()
	b, err := json.Marshal(j)
	if err != nil {
		return
	}
	select {
	case e.pushing <- struct{}{}:
	default:
		s.log.Warn("push dropped: too many deliveries in flight", "household", j.Household)
		return
	}
	started := s.work.start(func() {
		defer func() { <-e.pushing }()
		ctx, cancel := context.WithTimeout(s.work.ctx, pushTimeout)
		defer cancel()
		for wait := 100 * time.Millisecond; ; wait = min(2*wait, 5*time.Second) {
			_, err := s.bus.b.Enqueue(ctx, queuePush, key, b)
			if err == nil {
				return
			}
			if !errors.Is(err, bus.ErrUnavailable) {
				s.log.Error("push not queued", "household", j.Household, "err", err)
				return
			}
			select {
			case <-ctx.Done():
				s.log.Error("push not queued: the bus stayed away", "household", j.Household, "err", err)
				return
			case <-time.After(wait):
			}
		}
	})
	if !started { // the Server is closing
		<-e.pushing
	}
}

// pushJob runs a job of the push queue: it is done once tried (a push
// service that failed is not asked again, so nobody gets it twice).
func (s *Server) pushJob(ctx context.Context, data []byte) error {
	var j pushJob
	if err := json.Unmarshal(data, &j); err != nil {
		s.log.Error("push job not understood; dropped", "err", err)
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, pushTimeout)
	defer cancel()
	s.push(ctx, j.Household, webpush.Message{Payload: j.Payload, TTL: pushTTL, Urgency: webpush.UrgencyHigh}, nil)
	return nil
}

// JoinPush is the Web Push payload that tells a household's admins a
// device asks to join: {"type":"join-request","household":HH}. It carries
// no secret and nothing about the device (the app lists the request); the
// service worker tells it from a sealed event record by its first byte
// ('{', where a sealed object starts with "vigil.so").
type JoinPush struct {
	Type      string `json:"type"` // "join-request"
	Household string `json:"household"`
}

// joinRequested tells the household's admins that a device asks to join:
// a JoinPush on their open event listeners (on every replica) and as a
// Web Push to their subscriptions (only they can approve). It never
// blocks the request.
func (s *Server) joinRequested(household string) {
	s.publishEvent(eventMsg{Household: household, Join: true})
	b, err := json.Marshal(JoinPush{Type: "join-request", Household: household})
	if err != nil {
		return
	}
	// The topic makes a push service keep only the newest undelivered one.
	s.startPush(household, webpush.Message{Payload: b, TTL: households.UsedInviteGrace, Urgency: webpush.UrgencyHigh, Topic: "join-request"},
		func(m store.Member) bool { return m.Role == store.RoleAdmin })
}

// startPush delivers m to the household's subscriptions in the
// background (those of members admit accepts; nil: every member), or
// drops it when maxPushing deliveries are in flight.
func (s *Server) startPush(household string, m webpush.Message, admit func(store.Member) bool) {
	e := &s.events
	e.init()
	select {
	case e.pushing <- struct{}{}:
	default:
		s.log.Warn("push dropped: too many deliveries in flight", "household", household)
		return
	}
	started := s.work.start(func() {
		defer func() { <-e.pushing }()
		ctx, cancel := context.WithTimeout(s.work.ctx, pushTimeout)
		defer cancel()
		s.push(ctx, household, m, admit)
	})
	if !started { // the Server is closing
		<-e.pushing
	}
}

// push sends m to each of the household's subscriptions whose account is
// a member admit accepts (nil: any member), and deletes those the push
// service says are gone.
func (s *Server) push(ctx context.Context, household string, m webpush.Message, admit func(store.Member) bool) {
	subs, err := s.st.PushSubs(ctx, household)
	if err != nil || len(subs) == 0 {
		if err != nil {
			s.log.Error("push subscriptions", "household", household, "err", err)
		}
		return
	}
	sender, err := s.pushSender(ctx)
	if err != nil {
		s.log.Error("push sender", "err", err)
		return
	}
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
		var sub webpush.Subscription
		sub.Endpoint, sub.Keys.P256dh, sub.Keys.Auth = p.Endpoint, p.P256dh, p.Auth
		err = sender.Send(ctx, sub, m)
		switch {
		case errors.Is(err, webpush.ErrGone):
			s.log.Info("push subscription gone; deleted", "household", household, "account", p.AccountID, "host", endpointHost(p.Endpoint))
			if err := s.st.DeletePushSub(ctx, household, "", p.Endpoint); err != nil && !errors.Is(err, store.ErrNotFound) {
				s.log.Error("deleting push subscription", "household", household, "err", err)
			}
		case err != nil:
			s.log.Warn("push failed", "household", household, "host", endpointHost(p.Endpoint), "err", err)
		}
	}
}

// endpointHost is what may be logged of an endpoint (the URL is a
// capability).
func endpointHost(endpoint string) string {
	if u, err := url.Parse(endpoint); err == nil {
		return u.Host
	}
	return ""
}

// vapidKey returns the service's VAPID key, generating and storing it the
// first time (whichever server stores first wins).
func (s *Server) vapidKey(ctx context.Context) (*webpush.VAPIDKey, error) {
	e := &s.events
	e.pushMu.Lock()
	defer e.pushMu.Unlock()
	if e.vapid != nil {
		return e.vapid, nil
	}
	enc, err := s.st.PushVAPIDKey(ctx)
	if errors.Is(err, store.ErrNotFound) {
		k, gerr := webpush.GenerateVAPIDKey()
		if gerr != nil {
			return nil, gerr
		}
		enc, err = s.st.InitPushVAPIDKey(ctx, k.String())
	}
	if err != nil {
		return nil, err
	}
	k, err := webpush.ParseVAPIDKey(enc)
	if err != nil {
		return nil, err
	}
	e.vapid = k
	return k, nil
}

func (s *Server) pushSender(ctx context.Context) (pushSender, error) {
	k, err := s.vapidKey(ctx)
	if err != nil {
		return nil, err
	}
	e := &s.events
	e.pushMu.Lock()
	defer e.pushMu.Unlock()
	if e.sender == nil {
		subject := "mailto:webpush@localhost"
		if strings.HasPrefix(s.opt.PublicURL, "https://") {
			subject = s.opt.PublicURL
		}
		e.sender = &webpush.Sender{VAPID: k, Subject: subject}
	}
	return e.sender, nil
}

func (s *Server) pushVAPID(w http.ResponseWriter, r *http.Request, c *call) error {
	k, err := s.vapidKey(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]string{"public_key": k.PublicKey()})
	return nil
}

type pushSubReq struct {
	Endpoint       string `json:"endpoint"`
	ExpirationTime *int64 `json:"expirationTime"` // PushSubscription.toJSON() sends it; ignored
	Keys           struct {
		P256dh string `json:"p256dh"`
		Auth   string `json:"auth"`
	} `json:"keys"`
}

// loopbackService reports whether the service itself runs on plain HTTP on
// a loopback address (development and tests), where push endpoints on
// loopback are allowed.
func (s *Server) loopbackService() bool {
	u, err := url.Parse(s.opt.PublicURL)
	if err != nil || u.Scheme != "http" {
		return false
	}
	ip := net.ParseIP(u.Hostname())
	return u.Hostname() == "localhost" || (ip != nil && ip.IsLoopback())
}

// checkEndpoint refuses push endpoints that would make the cloud post to
// something other than a push service on the internet.
func (s *Server) checkEndpoint(endpoint string) error {
	u, err := url.Parse(endpoint)
	if len(endpoint) > maxPushEndpoint || err != nil || u.Host == "" || u.User != nil || u.Fragment != "" {
		return errorf(http.StatusBadRequest, "endpoint: an https URL of at most %d bytes", maxPushEndpoint)
	}
	host := u.Hostname()
	ip := net.ParseIP(host)
	local := host == "localhost" || strings.HasSuffix(host, ".localhost") ||
		(ip != nil && (ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsUnspecified()))
	switch {
	case local && u.Scheme == "http" && s.loopbackService() && (host == "localhost" || (ip != nil && ip.IsLoopback())):
		return nil
	case u.Scheme != "https":
		return errorf(http.StatusBadRequest, "endpoint: an https URL (a browser push service)")
	case local:
		return errorf(http.StatusBadRequest, "endpoint: a push service on the internet, not a local address")
	}
	return nil
}

func b64Len(s string) int {
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
	if err != nil {
		return -1
	}
	return len(b)
}

// pushSubscribe stores the caller's subscription for the household's events.
func (s *Server) pushSubscribe(w http.ResponseWriter, r *http.Request, c *call) error {
	var req pushSubReq
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	if err := s.checkEndpoint(req.Endpoint); err != nil {
		return err
	}
	if len(req.Keys.P256dh) > 200 || b64Len(req.Keys.P256dh) != 65 || !strings.HasPrefix(req.Keys.P256dh, "B") {
		return errorf(http.StatusBadRequest, "keys.p256dh: base64url of an uncompressed P-256 point (65 bytes)")
	}
	if len(req.Keys.Auth) > 40 || b64Len(req.Keys.Auth) != 16 {
		return errorf(http.StatusBadRequest, "keys.auth: base64url of 16 bytes")
	}
	sub := store.PushSub{HouseholdID: c.household.ID, AccountID: c.account.ID, Endpoint: req.Endpoint,
		P256dh: req.Keys.P256dh, Auth: req.Keys.Auth, Created: s.now().UTC()}
	err := s.st.PutPushSub(r.Context(), sub, maxPushSubsPerAccount)
	if errors.Is(err, store.ErrConflict) {
		return errorf(http.StatusConflict, "this account has %d push subscriptions, the most allowed; remove one first", maxPushSubsPerAccount)
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, map[string]string{"endpoint": req.Endpoint})
	return nil
}

// pushUnsubscribe removes one of the caller's subscriptions.
func (s *Server) pushUnsubscribe(w http.ResponseWriter, r *http.Request, c *call) error {
	endpoint := r.URL.Query().Get("endpoint")
	if endpoint == "" || len(endpoint) > maxPushEndpoint {
		return errorf(http.StatusBadRequest, "endpoint: the subscription's URL")
	}
	err := s.st.DeletePushSub(r.Context(), c.household.ID, c.account.ID, endpoint)
	if errors.Is(err, store.ErrNotFound) {
		return errNotFound
	}
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// eventsLive: a member's WebSocket that receives {"key","start","seq"} for
// each event object the household's hubs upload from now on, and an
// admin {"type":"join-request","household":HH} for each device that asks
// to join. While the bus is away it is refused (503), and one open is
// closed (1013), so that the app reconnects when the bus is back.
func (s *Server) eventsLive(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := s.checkBrowserUpgrade(r, c); err != nil {
		return err
	}
	if err := s.busReady(); err != nil {
		return err
	}
	e := &s.events
	e.init()
	sub := &eventSub{ch: make(chan any, eventQueueLen), admin: c.member.Role == store.RoleAdmin, dropped: make(chan struct{})}
	e.mu.Lock()
	if len(e.subs[c.household.ID]) >= maxEventSubs {
		e.mu.Unlock()
		return &apiError{status: http.StatusServiceUnavailable, msg: "too many event listeners for this household; retry later", retryAfter: 30}
	}
	if e.subs[c.household.ID] == nil {
		e.subs[c.household.ID] = map[*eventSub]struct{}{}
	}
	e.subs[c.household.ID][sub] = struct{}{}
	e.mu.Unlock()
	defer func() {
		e.mu.Lock()
		delete(e.subs[c.household.ID], sub)
		if len(e.subs[c.household.ID]) == 0 {
			delete(e.subs, c.household.ID)
		}
		e.mu.Unlock()
	}()
	conn, done, ok := s.upgrade(w, r)
	if !ok {
		return nil // answered
	}
	defer done()
	conn.work.start(func() { // reads only to see pongs and the close
		defer conn.close()
		for {
			if _, _, err := conn.read(); err != nil {
				return
			}
		}
	})
	health := time.NewTicker(eventBusCheck)
	defer health.Stop()
	for {
		select {
		case n := <-sub.ch:
			conn.sendJSON(n)
		case <-sub.dropped:
			conn.closeWith(websocket.CloseTryAgainLater, "too slow")
			return nil
		case <-health.C:
			if s.bus.b.Ready() != nil {
				conn.closeWith(websocket.CloseTryAgainLater, "the service's message bus is away; reconnect")
				return nil
			}
		case <-conn.done:
			return nil
		}
	}
}
