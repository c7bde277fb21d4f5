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
//
// Listing, the subscriptions, the VAPID key and the fan-out to each
// subscription are the events domain's (internal/cloud/events); this file
// keeps the HTTP handlers, the live WebSocket, the bus notices and the push
// queue, and adapts notify/webpush's Sender to the domain's Sender.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"vigil/internal/cloud/bus"
	"vigil/internal/cloud/events"
	"vigil/internal/cloud/households"
	"vigil/internal/cloud/store"
	"vigil/internal/netguard"
	"vigil/internal/notify/webpush"
)

const (
	// maxPushSealed is the largest sealed event record sent as a push
	// (under webpush.MaxPlaintext with room to spare).
	maxPushSealed = 3000
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

// eventState is the in-process fan-out of new event objects and the Web
// Push sender.
type eventState struct {
	mu   sync.Mutex
	subs map[string]map[*eventSub]struct{} // household -> WebSocket subscribers

	pushMu  sync.Mutex
	sender  *webpush.Sender // built on first use from the stored VAPID key
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
// oldest first, at most events.MaxList.
func (s *Server) listEvents(w http.ResponseWriter, r *http.Request, c *call) error {
	from, err := parseTimeParam(r, "from")
	if err != nil {
		return err
	}
	to, err := parseTimeParam(r, "to")
	if err != nil {
		return err
	}
	objs, more, err := s.eventSvc.List(r.Context(), c.household.ID, from, to)
	if err != nil {
		return err
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
	s.eventSvc.Push(ctx, j.Household, events.Message{Payload: j.Payload, TTL: pushTTL, Urgency: string(webpush.UrgencyHigh)}, nil)
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
	s.startPush(household, events.Message{Payload: b, TTL: households.UsedInviteGrace, Urgency: string(webpush.UrgencyHigh), Topic: "join-request"},
		func(m store.Member) bool { return m.Role == store.RoleAdmin })
}

// startPush delivers m to the household's subscriptions in the
// background (those of members admit accepts; nil: every member), or
// drops it when maxPushing deliveries are in flight.
func (s *Server) startPush(household string, m events.Message, admit func(store.Member) bool) {
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
		s.eventSvc.Push(ctx, household, m, admit)
	})
	if !started { // the Server is closing
		<-e.pushing
	}
}

// closeIdle closes the Web Push client's idle connections (Close: no
// delivery is in flight any more).
func (e *eventState) closeIdle() {
	e.pushMu.Lock()
	defer e.pushMu.Unlock()
	if e.sender != nil && e.sender.Client != nil {
		e.sender.Client.CloseIdleConnections()
	}
}

// newEventsService returns the events domain over the Server's store,
// sending through notify/webpush (webpushSender).
func newEventsService(s *Server) (*events.Service, error) {
	return events.New(events.Config{Store: s.st, Sender: webpushSender{s}, PublicURL: s.opt.PublicURL, Logger: s.log, Now: s.now,
		NewVAPIDKey: func() (string, error) {
			k, err := webpush.GenerateVAPIDKey()
			if err != nil {
				return "", err
			}
			return k.String(), nil
		}})
}

// webpushSender is the events domain's Sender: notify/webpush's Sender
// (which posts HTTP requests, so the domain does not link it), built on
// first use from the stored VAPID key.
type webpushSender struct{ s *Server }

func (w webpushSender) Send(ctx context.Context, sub events.Subscription, m events.Message) error {
	sender, err := w.s.pushSender(ctx)
	if err != nil {
		return err
	}
	var ws webpush.Subscription
	ws.Endpoint, ws.Keys.P256dh, ws.Keys.Auth = sub.Endpoint, sub.P256dh, sub.Auth
	err = sender.Send(ctx, ws, webpush.Message{Payload: m.Payload, TTL: m.TTL, Urgency: webpush.Urgency(m.Urgency), Topic: m.Topic})
	if errors.Is(err, webpush.ErrGone) {
		return fmt.Errorf("%w: %w", events.ErrGone, err)
	}
	return err
}

func (s *Server) pushSender(ctx context.Context) (*webpush.Sender, error) {
	e := &s.events
	e.pushMu.Lock()
	defer e.pushMu.Unlock()
	if e.sender != nil {
		return e.sender, nil
	}
	enc, err := s.eventSvc.VAPIDKey(ctx)
	if err != nil {
		return nil, err
	}
	k, err := webpush.ParseVAPIDKey(enc)
	if err != nil {
		return nil, err
	}
	subject := "mailto:webpush@localhost"
	if strings.HasPrefix(s.opt.PublicURL, "https://") {
		subject = s.opt.PublicURL
	}
	e.sender = &webpush.Sender{VAPID: k, Subject: subject, Client: webpush.NewClient(s.opt.Outbound)}
	return e.sender, nil
}

// pushLookupTimeout bounds the lookup of a new subscription's host.
const pushLookupTimeout = 3 * time.Second

// checkPushHost refuses, early and with the reason, a push endpoint whose
// host name resolves now to an address the sender would not connect to.
// It is a courtesy to the subscriber, not the guard: the sender's dialer
// checks the address it connects to at each delivery (a name may resolve
// elsewhere by then), and a name that does not resolve now is left to
// that check.
func (s *Server) checkPushHost(ctx context.Context, endpoint string) error {
	u, err := url.Parse(endpoint)
	if err != nil || u.Hostname() == "" {
		return nil // the domain says what is wrong with it
	}
	if _, err := netip.ParseAddr(u.Hostname()); err == nil {
		return nil // an address: the domain checks it
	}
	ctx, cancel := context.WithTimeout(ctx, pushLookupTimeout)
	defer cancel()
	_, err = netguard.NewDialer(s.opt.Outbound).Lookup(ctx, u.Hostname())
	var re *netguard.RefusedError
	if errors.As(err, &re) {
		return errorf(http.StatusBadRequest, "endpoint: %s resolves to %s, %s: the cloud posts only to push services on the internet", u.Hostname(), re.Addr, re.Reason)
	}
	return nil
}

// eventsError maps an events domain refusal to its answer, and returns
// any other error as it is.
func eventsError(err error) error {
	var ee *events.Error
	if !errors.As(err, &ee) {
		return err
	}
	switch ee.Kind {
	case events.NotFound:
		return errNotFound
	case events.Invalid:
		return errorf(http.StatusBadRequest, "%s", ee.Msg)
	case events.Conflict:
		return errorf(http.StatusConflict, "%s", ee.Msg)
	}
	return err
}

func (s *Server) pushVAPID(w http.ResponseWriter, r *http.Request, c *call) error {
	enc, err := s.eventSvc.VAPIDKey(r.Context())
	if err != nil {
		return err
	}
	k, err := webpush.ParseVAPIDKey(enc)
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

// pushSubscribe stores the caller's subscription for the household's events.
func (s *Server) pushSubscribe(w http.ResponseWriter, r *http.Request, c *call) error {
	var req pushSubReq
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	if err := s.checkPushHost(r.Context(), req.Endpoint); err != nil {
		return err
	}
	err := s.eventSvc.Subscribe(r.Context(), c.household.ID, c.account.ID,
		events.Subscription{Endpoint: req.Endpoint, P256dh: req.Keys.P256dh, Auth: req.Keys.Auth})
	if err != nil {
		return eventsError(err)
	}
	writeJSON(w, http.StatusCreated, map[string]string{"endpoint": req.Endpoint})
	return nil
}

// pushUnsubscribe removes one of the caller's subscriptions.
func (s *Server) pushUnsubscribe(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := s.eventSvc.Unsubscribe(r.Context(), c.household.ID, c.account.ID, r.URL.Query().Get("endpoint")); err != nil {
		return eventsError(err)
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
			if _, err := conn.Read(); err != nil {
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
