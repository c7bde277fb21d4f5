package liveview

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"vigil/internal/cloud/bus"
)

// Bounds and defaults of the service.
const (
	// MaxViewerSessions is how many sessions one viewer connection may
	// have open at once.
	MaxViewerSessions = 8
	// DefaultBeat is how often a replica says it is there (Config.Beat).
	DefaultBeat = 2 * time.Second
	// MemberCredentialTTL is how long a member's TURN credentials last.
	MemberCredentialTTL = 10 * time.Minute
	// HubCredentialTTL is how long the TURN credentials a hub gets with an
	// offer last.
	HubCredentialTTL = time.Hour
)

// Conn is one connection of a viewer or a hub, as the HTTP layer holds it
// (a WebSocket). The service calls Send from several goroutines at once,
// and Close concurrently with Send and Read: an implementation serialises
// its writes. Read is called from one goroutine.
type Conn interface {
	// Send writes one message, in a bounded time. An error means the
	// connection is unusable; the implementation then ends it, so that
	// Read fails.
	Send(msg []byte) error
	// Read returns the next message; nil (and no error) for a message
	// that is not text. An error ends the connection: the service stops
	// reading it.
	Read() ([]byte, error)
	// Close ends the connection, telling the other end why when reason
	// is not empty. It may be called more than once; Read then fails.
	Close(reason string)
}

// Hubs tells the service which hubs a household's chain holds.
type Hubs interface {
	// IsHub reports whether device is a hub in the household's chain as
	// stored now (not as cached before the change ChainChanged reports).
	IsHub(ctx context.Context, household, device string) (bool, error)
}

// Config configures a Service.
type Config struct {
	// Bus carries the signalling and presence between replicas; required.
	// The caller closes it, after the Service.
	Bus bus.Bus
	// Hubs answers whether a hub is still in its household; required.
	Hubs Hubs
	// Replica names this replica among the others; empty is a random
	// name. Two replicas on one bus never share a name.
	Replica string
	// TURN is the relay whose credentials viewers and hubs get; nil means
	// none.
	TURN *TURN
	// Beat is how often this replica announces itself; a replica silent
	// for three beats is forgotten, and the sessions through its hubs
	// end. 0 is DefaultBeat.
	Beat time.Duration
	// Logger; nil discards.
	Logger *slog.Logger
}

// Reasons a connection is closed for (Conn.Close).
const (
	ReasonClosing  = "the service is shutting down; reconnect"
	ReasonReplaced = "the hub connected again; this connection is replaced"
	ReasonRemoved  = "the hub is no longer in the household's chain"
)

// Service pairs viewers' sessions with hubs, per household, across
// replicas. A viewer's messages go out on the bus to live.hub.H.D.S,
// which the replica holding hub D's connection subscribes to; the hub's
// answers go back to the subject the viewer's replica named in the offer
// (live.viewer.H.C.S, C its connection). Each replica announces the hubs
// connected to it on live.presence (presence.go). With the in-process bus
// all of it stays in one process.
type Service struct {
	bus     bus.Bus
	hubs    Hubs
	turn    *TURN
	replica string
	beat    time.Duration
	log     *slog.Logger
	ctx     context.Context // cancelled by Close
	cancel  context.CancelFunc
	presSub bus.Sub

	life   sync.Mutex // guards closed, conns and wg's additions
	closed bool
	conns  map[Conn]struct{} // being served
	wg     sync.WaitGroup    // Serve calls and goroutines started here

	mu       sync.Mutex
	hubConns map[string]map[*hubConn]struct{} // household -> hubs connected here
	sessions map[string]*session              // household + "/" + session -> sessions of viewers here
	seq      uint64                           // of this replica's presence announcements
	failing  bool                             // the last announcement failed
	peers    map[string]*peer                 // other replicas, by name
}

// hubConn is a hub's connection to this replica.
type hubConn struct {
	conn      Conn
	household string
	device    string
	cameras   []string
	sessions  map[string]string // session -> its viewer's reply subject (under Service.mu)
}

// session is a viewer's session on the replica the viewer is connected
// to, and where its hub is.
type session struct {
	viewer     Conn
	hubReplica string
	hubDevice  string
}

// New starts a Service: it subscribes to the other replicas' presence,
// asks them for their hubs and starts its beat. Close stops it.
func New(cfg Config) (*Service, error) {
	if cfg.Bus == nil || cfg.Hubs == nil {
		return nil, errors.New("liveview: a bus and a Hubs are required")
	}
	if cfg.Replica == "" {
		var rnd [8]byte
		rand.Read(rnd[:])
		cfg.Replica = "r" + hex.EncodeToString(rnd[:])
	}
	if cfg.Beat <= 0 {
		cfg.Beat = DefaultBeat
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Service{bus: cfg.Bus, hubs: cfg.Hubs, turn: cfg.TURN, replica: cfg.Replica, beat: cfg.Beat, log: cfg.Logger,
		ctx: ctx, cancel: cancel, conns: map[Conn]struct{}{},
		hubConns: map[string]map[*hubConn]struct{}{}, sessions: map[string]*session{}, peers: map[string]*peer{}}
	sub, err := s.bus.Subscribe(subjPresence, s.presence)
	if err != nil {
		cancel()
		return nil, errors.New("liveview: subscribing to presence: " + err.Error())
	}
	s.presSub = sub
	s.startPresence()
	return s, nil
}

// Replica is this replica's name.
func (s *Service) Replica() string { return s.replica }

// Ready is nil when the service can take a connection now: an *Error of
// kind Unavailable while the bus is away, Closed once Close was called.
// The HTTP layer asks before it upgrades a request.
func (s *Service) Ready() error {
	s.life.Lock()
	closed := s.closed
	s.life.Unlock()
	if closed {
		return errClosed()
	}
	if err := s.bus.Ready(); err != nil {
		return errorf(Unavailable, err, "the service cannot reach its message bus right now; try again in a few seconds")
	}
	return nil
}

// Close closes every connection being served (ReasonClosing), waits for
// the Serve calls and the service's goroutines to return, and stops its
// subscription. A hub's viewers on other replicas hear that its sessions
// ended, while the bus still carries it.
func (s *Service) Close() error {
	s.life.Lock()
	if s.closed {
		s.life.Unlock()
		s.wg.Wait()
		return nil
	}
	s.closed = true
	conns := slices.Collect(maps.Keys(s.conns))
	s.life.Unlock()
	s.cancel()
	for _, c := range conns {
		c.Close(ReasonClosing)
	}
	s.wg.Wait()
	s.presSub.Stop()
	return nil
}

// start runs f in a goroutine Close waits for; once closing it does not,
// and returns false.
func (s *Service) start(f func()) bool {
	s.life.Lock()
	defer s.life.Unlock()
	if s.closed {
		return false
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		f()
	}()
	return true
}

// begin counts a Serve call of c for Close; false once closing (c is then
// closed).
func (s *Service) begin(c Conn) bool {
	s.life.Lock()
	if s.closed {
		s.life.Unlock()
		c.Close(ReasonClosing)
		return false
	}
	s.wg.Add(1)
	s.conns[c] = struct{}{}
	s.life.Unlock()
	return true
}

// end undoes begin once c is done with.
func (s *Service) end(c Conn) {
	c.Close("")
	s.life.Lock()
	delete(s.conns, c)
	s.life.Unlock()
	s.wg.Done()
}

// ICEServers returns the ICE servers for a member's browser: short-lived
// TURN credentials for user, or none when the service runs no relay.
func (s *Service) ICEServers(user string) ([]ICEServer, error) {
	out := []ICEServer{}
	if s.turn == nil {
		return out, nil
	}
	cred, err := s.turn.Credentials(user, MemberCredentialTTL)
	if err != nil {
		return nil, err
	}
	return append(out, cred), nil
}

// Cameras lists the cameras of the household's hubs connected to any
// replica.
func (s *Service) Cameras(household string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []string{}
	for _, h := range s.hubsOf(household) {
		for _, c := range h.cameras {
			if !slices.Contains(out, c) {
				out = append(out, c)
			}
		}
	}
	slices.Sort(out)
	return out
}

// hubRef names a connected hub: the replica it is connected to and its
// device ID.
type hubRef struct {
	replica, device string
	cameras         []string
}

// hubsOf lists the household's hubs connected to any replica, this one's
// first (s.mu held).
func (s *Service) hubsOf(household string) []hubRef {
	var out []hubRef
	for h := range s.hubConns[household] {
		out = append(out, hubRef{s.replica, h.device, h.cameras})
	}
	slices.SortFunc(out, func(a, b hubRef) int { return strings.Compare(a.device, b.device) })
	for _, name := range slices.Sorted(maps.Keys(s.peers)) {
		for _, d := range slices.Sorted(maps.Keys(s.peers[name].hubs[household])) {
			out = append(out, hubRef{name, d, s.peers[name].hubs[household][d]})
		}
	}
	return out
}

// hubFor returns a connected hub of the household with the camera, or the
// household's only hub when it has not said which cameras it has (s.mu
// held).
func (s *Service) hubFor(household, camera string) (hubRef, bool) {
	hubs := s.hubsOf(household)
	for _, h := range hubs {
		if slices.Contains(h.cameras, camera) {
			return h, true
		}
	}
	if len(hubs) == 1 && len(hubs[0].cameras) == 0 {
		return hubs[0], true
	}
	return hubRef{}, false
}

// ChainChanged is this replica's part of a new link in the household's
// chain; the HTTP layer calls it on every replica (it spreads the news on
// the bus itself, with its cache invalidations). Each of the household's
// hubs connected here is told to fetch and verify the chain now rather
// than at its next periodic refresh (the hub trusts nothing in the
// message but its prompt), and a hub the chain no longer holds is
// disconnected: its viewers, on any replica, hear that their sessions
// ended. It never blocks: the work runs in goroutines Close waits for.
func (s *Service) ChainChanged(household string) {
	s.mu.Lock()
	var hubs []*hubConn
	for h := range s.hubConns[household] {
		hubs = append(hubs, h)
	}
	s.mu.Unlock()
	for _, h := range hubs { // one goroutine each: a hub may be slow
		s.start(func() {
			ok, err := s.hubs.IsHub(s.ctx, household, h.device)
			if err != nil {
				// The hub's own check of the chain still ends sessions of
				// removed devices (G8); this one runs at the next change.
				s.log.Warn("live: whether a hub is still in its household is unknown", "household", household, "hub", h.device, "err", err)
				ok = true
			}
			if !ok {
				s.log.Info("live: a hub removed from its household is disconnected", "household", household, "hub", h.device)
				s.mu.Lock()
				gone := s.dropHub(h, whyRemoved)
				s.mu.Unlock()
				s.tellViewers(gone, whyRemoved)
				h.conn.Close(ReasonRemoved)
				return
			}
			h.conn.Send(msgChain)
		})
	}
}

var msgChain = []byte(`{"type":"chain"}`)

// Why a viewer's session ended, as the viewer hears it.
const (
	whyRemoved      = "the hub was removed from the household"
	whyDisconnected = "the hub disconnected"
	whyReconnected  = "the hub reconnected; start the session again"
	whyLost         = "the hub's connection to the service was lost; start the session again"
)

// dropHub takes h out of the hubs connected here, announcing that its
// device is gone (and why, for the viewers on other replicas) when no
// other connection of it is here, and takes its sessions (s.mu held):
// session -> the viewer's reply subject.
func (s *Service) dropHub(h *hubConn, why string) map[string]string {
	if _, ok := s.hubConns[h.household][h]; ok {
		delete(s.hubConns[h.household], h)
		if len(s.hubConns[h.household]) == 0 {
			delete(s.hubConns, h.household)
		}
		still := false
		for o := range s.hubConns[h.household] {
			still = still || o.device == h.device
		}
		if !still {
			s.seq++
			s.announce(presence{Op: "hub", Seq: s.seq, Household: h.household, Device: h.device, Why: why})
		}
	}
	gone := h.sessions
	h.sessions = map[string]string{}
	return gone
}

// tellViewers tells the viewers of sessions (session -> reply subject),
// wherever they are, that the sessions ended, and why.
func (s *Service) tellViewers(sessions map[string]string, why string) {
	for id, reply := range sessions {
		b, _ := json.Marshal(liveError(id, "session-gone", why))
		s.publish(reply, toViewer{Msg: b, End: true})
	}
}

// endedSession is a viewer's session the service ended.
type endedSession struct {
	viewer  Conn
	session string
}

// endSessions removes the viewers' sessions here that end says are over
// (s.mu held), for sendEnded to tell the viewers.
func (s *Service) endSessions(end func(household string, ss *session) bool) []endedSession {
	var out []endedSession
	for k, ss := range s.sessions {
		hh, id, _ := strings.Cut(k, "/")
		if end(hh, ss) {
			delete(s.sessions, k)
			out = append(out, endedSession{ss.viewer, id})
		}
	}
	return out
}

func sendEnded(ended []endedSession, why string) {
	for _, e := range ended {
		sendJSON(e.viewer, liveError(e.session, "session-gone", why))
	}
}

// publish sends v on subject; the error is the bus's.
func (s *Service) publish(subject string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return s.bus.Publish(context.Background(), subject, b)
}

func sendJSON(c Conn, v any) {
	b, _ := json.Marshal(v)
	c.Send(b)
}

func liveError(session, code, msg string) map[string]string {
	return map[string]string{"type": "error", "session": session, "code": code, "error": msg}
}
