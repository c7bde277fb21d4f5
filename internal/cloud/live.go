package cloud

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/pion/logging"
	"github.com/pion/turn/v5"

	"vigil/internal/cloud/bus"
	"vigil/internal/cloud/store"
)

// Live view signalling (docs/FORMAT.md, "Live view signalling"). A member's
// browser and the household's hub each hold a WebSocket to the cloud; the
// cloud passes their messages between a viewer and the hub of the same
// household, and nothing else. It reads only a message's type, session and
// camera, to route it. The messages carry DTLS fingerprints signed by the
// viewer's and the hub's device keys, which both ends check against the
// household chain (G8): a cloud that alters them only makes the session fail.

// Bounds of the relay.
const (
	liveMaxMessage      = 64 << 10 // one signalling message
	liveMaxViewerSess   = 8        // sessions open at once on one viewer connection
	liveWriteTimeout    = 10 * time.Second
	livePingEvery       = 25 * time.Second
	liveReadTimeout     = 60 * time.Second
	turnCredentialTTL   = 10 * time.Minute
	turnHubCredentialTT = time.Hour
)

var liveSessionRE = regexp.MustCompile(`^[A-Za-z0-9_-]{16,64}$`)

func (s *Server) liveRoutes() []route {
	return []route{
		{method: "GET", pattern: "/v1/households/{hh}/live", auth: authMember, action: "live.view", h: s.liveViewer},
		{method: "GET", pattern: "/v1/households/{hh}/live/ice", auth: authMember, action: "live.ice", h: s.liveICE},
		{method: "GET", pattern: "/v1/hub/live", auth: authDevice, h: s.liveHub},
	}
}

// ICEServer is one entry of RTCConfiguration.iceServers.
type ICEServer struct {
	URLs       []string `json:"urls"`
	Username   string   `json:"username,omitempty"`
	Credential string   `json:"credential,omitempty"`
}

// liveICE hands a member short-lived TURN credentials (none when the
// service runs no TURN relay) and the cameras of the household's hubs that
// are connected for live view.
func (s *Server) liveICE(w http.ResponseWriter, r *http.Request, c *call) error {
	servers := []ICEServer{}
	if t := s.opt.TURN; t != nil {
		cred, err := t.Credentials(c.account.ID, turnCredentialTTL)
		if err != nil {
			return err
		}
		servers = append(servers, cred)
	}
	writeJSON(w, http.StatusOK, map[string]any{"ice_servers": servers, "cameras": s.live.cameras(c.household.ID)})
	return nil
}

var liveUpgrader = websocket.Upgrader{
	ReadBufferSize: 4096, WriteBufferSize: 4096, HandshakeTimeout: 10 * time.Second,
	// The origin is checked before upgrading (sameOrigin), where the
	// authentication kind is known.
	CheckOrigin: func(*http.Request) bool { return true },
}

// sameOrigin: a browser's WebSocket carries the session cookie whichever
// page opened it, so a cookie-authenticated upgrade must come from the
// app's own origin (the Host it was served from, or PublicURL). A client
// with an API token sends no cookie and may send no Origin.
func (s *Server) sameOrigin(r *http.Request, c *call) bool {
	o := r.Header.Get("Origin")
	if o == "" {
		return c.token.Kind == store.TokenAPI
	}
	u, err := url.Parse(o)
	if err != nil || u.Host == "" {
		return false
	}
	if strings.EqualFold(u.Host, r.Host) {
		return true
	}
	if p, err := url.Parse(s.opt.PublicURL); err == nil && p.Host != "" && strings.EqualFold(p.Scheme+"://"+p.Host, o) {
		return true
	}
	return false
}

// checkBrowserUpgrade admits a member's WebSocket upgrade from the app's
// own origin only (a page elsewhere cannot use the member's cookie).
func (s *Server) checkBrowserUpgrade(r *http.Request, c *call) error {
	if !s.sameOrigin(r, c) {
		return errorf(http.StatusForbidden, "WebSocket from another origin refused")
	}
	if !websocket.IsWebSocketUpgrade(r) {
		return errorf(http.StatusBadRequest, "a WebSocket upgrade is expected")
	}
	return nil
}

// liveViewer: a member's WebSocket for the household {hh}. The membership
// check and the access record ("live.view") happened in wrap.
func (s *Server) liveViewer(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := s.checkBrowserUpgrade(r, c); err != nil {
		return err
	}
	if err := s.busReady(); err != nil {
		return err
	}
	conn, done, ok := s.upgrade(w, r)
	if !ok {
		return nil // answered
	}
	defer done()
	s.live.serveViewer(s, conn, c.household.ID, c.account.ID)
	return nil
}

// liveHub: a paired hub's device-authenticated WebSocket.
func (s *Server) liveHub(w http.ResponseWriter, r *http.Request, c *call) error {
	h, _, err := s.hubDevice(r.Context(), c.device)
	if errors.Is(err, store.ErrNotFound) {
		return errorf(http.StatusForbidden, "device %s is not a hub of any household", c.device)
	}
	if err != nil {
		return err
	}
	if r.Header.Get("Origin") != "" {
		return errorf(http.StatusForbidden, "hubs do not connect from web pages")
	}
	if !websocket.IsWebSocketUpgrade(r) {
		return errorf(http.StatusBadRequest, "a WebSocket upgrade is expected")
	}
	if err := s.busReady(); err != nil {
		return err
	}
	conn, done, ok := s.upgrade(w, r)
	if !ok {
		return nil // answered
	}
	defer done()
	s.live.serveHub(s, conn, h.ID, c.device)
	return nil
}

// liveConn is one WebSocket (Server.upgrade, lifecycle.go); writes are
// serialised and bounded in time.
type liveConn struct {
	ws   *websocket.Conn
	work *workers // counts its goroutines; Close closes it
	mu   sync.Mutex
	done chan struct{}
	once sync.Once
}

// startPings sets the connection's limits and starts its ping goroutine;
// false once the Server is closing.
func (c *liveConn) startPings() bool {
	ws := c.ws
	ws.SetReadLimit(liveMaxMessage)
	ws.SetReadDeadline(time.Now().Add(liveReadTimeout))
	ws.SetPongHandler(func(string) error { return ws.SetReadDeadline(time.Now().Add(liveReadTimeout)) })
	return c.work.start(func() {
		t := time.NewTicker(livePingEvery)
		defer t.Stop()
		for {
			select {
			case <-c.done:
				return
			case <-t.C:
				c.mu.Lock()
				err := ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(liveWriteTimeout))
				c.mu.Unlock()
				if err != nil {
					c.close()
					return
				}
			}
		}
	})
}

func (c *liveConn) send(b []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ws.SetWriteDeadline(time.Now().Add(liveWriteTimeout))
	if err := c.ws.WriteMessage(websocket.TextMessage, b); err != nil {
		c.work.start(c.close) // when closing, Close closes it
	}
}

func (c *liveConn) sendJSON(v any) {
	b, _ := json.Marshal(v)
	c.send(b)
}

func (c *liveConn) read() (map[string]json.RawMessage, []byte, error) {
	t, b, err := c.ws.ReadMessage()
	if err != nil {
		return nil, nil, err
	}
	c.ws.SetReadDeadline(time.Now().Add(liveReadTimeout))
	var m map[string]json.RawMessage
	if t != websocket.TextMessage || json.Unmarshal(b, &m) != nil {
		return nil, b, nil
	}
	return m, b, nil
}

func (c *liveConn) close() {
	c.once.Do(func() {
		close(c.done)
		c.ws.Close()
		c.work.mu.Lock()
		delete(c.work.conns, c)
		c.work.mu.Unlock()
	})
}

func field(m map[string]json.RawMessage, k string) string {
	var s string
	if raw, ok := m[k]; ok {
		json.Unmarshal(raw, &s)
	}
	return s
}

func liveError(session, code, msg string) map[string]string {
	return map[string]string{"type": "error", "session": session, "code": code, "error": msg}
}

// liveRelay pairs viewers' sessions with hubs, per household, across
// replicas. A viewer's messages go out on the bus to live.hub.H.D.S,
// which the replica holding hub D's WebSocket subscribes to; the hub's
// answers go back to the subject the viewer's replica named in the offer
// (live.viewer.H.C.S, C its connection). Each replica announces the hubs
// connected to it on live.presence (presence.go's protocol, below), so
// every replica knows which hubs, and cameras, are connected anywhere.
// With the in-process bus all of it stays in one process.
type liveRelay struct {
	srv   *Server     // set by startBus
	ready atomic.Bool // srv is set and the bus subscribed

	mu       sync.Mutex
	hubs     map[string]map[*liveHubConn]struct{} // household -> hubs connected here
	sessions map[string]*liveSession              // household + "/" + session -> sessions of viewers here
	seq      uint64                               // of this replica's presence announcements
	failing  bool                                 // the last announcement failed
	peers    map[string]*livePeer                 // other replicas, by name
}

type liveHubConn struct {
	conn      *liveConn
	household string
	device    string
	cameras   []string
	sessions  map[string]string // session -> its viewer's reply subject (under liveRelay.mu)
}

// liveSession is a viewer's session on the replica the viewer is connected
// to, and where its hub is.
type liveSession struct {
	viewer     *liveConn
	hubReplica string
	hubDevice  string
}

// livePeer is what this replica knows of another one's hubs.
type livePeer struct {
	seq   uint64
	seen  time.Time
	asked time.Time                      // last sync asked of it
	hubs  map[string]map[string][]string // household -> hub device -> cameras
}

// liveToHub and liveToViewer are the relay's messages on the bus: the
// signalling message as it goes to the other end, and the routing.
type liveToHub struct {
	Msg   json.RawMessage `json:"m"`
	Reply string          `json:"reply"` // the viewer's subject
}

type liveToViewer struct {
	Msg json.RawMessage `json:"m"`
	End bool            `json:"end,omitempty"` // the session is over
}

// Presence: how often a replica says it is there, and how long one that
// stopped saying so counts as there.
const (
	liveBeat    = 2 * time.Second
	livePeerTTL = 3 * liveBeat
	// liveDumpChunk hubs go in one presence dump message.
	liveDumpChunk = 1000
)

// presence is one announcement on live.presence: "hub" (a hub of this
// replica came, said hello or went), "beat" (still here, at seq), "sync"
// (send your hubs: Of names the replica, "" everyone), "dump" (all of this
// replica's hubs; First starts a new list).
type presence struct {
	Op        string        `json:"op"`
	Replica   string        `json:"replica"`
	Seq       uint64        `json:"seq,omitempty"`
	Household string        `json:"household,omitempty"`
	Device    string        `json:"device,omitempty"`
	Cameras   []string      `json:"cameras,omitempty"`
	Up        bool          `json:"up,omitempty"`
	Of        string        `json:"of,omitempty"`
	First     bool          `json:"first,omitempty"`
	Hubs      []presenceHub `json:"hubs,omitempty"`
}

type presenceHub struct {
	Household string   `json:"household"`
	Device    string   `json:"device"`
	Cameras   []string `json:"cameras,omitempty"`
}

func (l *liveRelay) init() {
	if l.hubs == nil {
		l.hubs = map[string]map[*liveHubConn]struct{}{}
		l.sessions = map[string]*liveSession{}
		l.peers = map[string]*livePeer{}
	}
}

func (l *liveRelay) replica() string { return l.srv.bus.replica }

// publish sends v on subject; the error is the bus's.
func (l *liveRelay) publish(subject string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return l.srv.bus.b.Publish(context.Background(), subject, b)
}

// announce publishes a presence message (with l.mu held, so that the
// sequence numbers go out in order).
func (l *liveRelay) announce(p presence) {
	p.Replica = l.replica()
	err := l.publish(subjLive+".presence", p)
	if err != nil && !l.failing { // once per outage; the bus logs its own state
		l.srv.log.Warn("live: presence not announced; the other replicas catch up when the bus is back", "op", p.Op, "err", err)
	}
	l.failing = err != nil
}

// startPresence asks the other replicas for their hubs and starts the
// beat, which also forgets replicas gone silent.
func (l *liveRelay) startPresence() error {
	l.mu.Lock()
	l.init()
	l.announce(presence{Op: "sync"})
	l.mu.Unlock()
	s := l.srv
	if !s.work.start(func() {
		t := time.NewTicker(liveBeat)
		defer t.Stop()
		for {
			select {
			case <-s.work.ctx.Done():
				return
			case <-t.C:
			}
			l.mu.Lock()
			l.announce(presence{Op: "beat", Seq: l.seq})
			var gone []string
			for name, p := range l.peers {
				if time.Since(p.seen) > livePeerTTL {
					delete(l.peers, name)
					gone = append(gone, name)
				}
			}
			ended := l.endSessions(func(ss *liveSession) bool { return slices.Contains(gone, ss.hubReplica) })
			l.mu.Unlock()
			for _, name := range gone {
				s.log.Warn("live: a replica went silent; its hubs are forgotten", "replica", name)
			}
			sendEnded(ended, "the hub's connection to the service was lost; start the session again")
		}
	}) {
		return errors.New("cloud: closing")
	}
	return nil
}

// endedSession is a viewer's session the relay ended.
type endedSession struct {
	viewer  *liveConn
	session string
}

// endSessions removes the viewers' sessions here that end says are over
// (with l.mu held), for sendEnded to tell the viewers.
func (l *liveRelay) endSessions(end func(*liveSession) bool) []endedSession {
	var out []endedSession
	for k, ss := range l.sessions {
		if end(ss) {
			delete(l.sessions, k)
			_, id, _ := strings.Cut(k, "/")
			out = append(out, endedSession{ss.viewer, id})
		}
	}
	return out
}

func sendEnded(ended []endedSession, why string) {
	for _, e := range ended {
		e.viewer.sendJSON(liveError(e.session, "session-gone", why))
	}
}

// presence handles another replica's announcement.
func (l *liveRelay) presence(_ string, data []byte) {
	var p presence
	if json.Unmarshal(data, &p) != nil || p.Replica == "" {
		return
	}
	l.mu.Lock()
	l.init()
	if p.Replica == l.replica() {
		l.mu.Unlock()
		return
	}
	if p.Op == "sync" {
		if p.Of == "" || p.Of == l.replica() {
			l.dump()
		}
		l.mu.Unlock()
		return
	}
	peer := l.peers[p.Replica]
	if peer == nil {
		peer = &livePeer{hubs: map[string]map[string][]string{}}
		l.peers[p.Replica] = peer
	}
	peer.seen = time.Now()
	var closing []*liveConn
	var ended []endedSession
	why := ""
	switch p.Op {
	case "beat":
		if p.Seq != peer.seq {
			l.askSync(p.Replica, peer)
		}
	case "dump":
		if p.First {
			peer.hubs = map[string]map[string][]string{}
		}
		for _, h := range p.Hubs {
			peer.set(h.Household, h.Device, h.Cameras, true)
		}
		peer.seq = p.Seq
	case "hub":
		if p.Seq != peer.seq+1 {
			l.askSync(p.Replica, peer)
		}
		peer.seq = p.Seq
		peer.set(p.Household, p.Device, p.Cameras, p.Up)
		if p.Up {
			// The hub connected there: a connection of it here is stale,
			// and so are sessions through another replica.
			for h := range l.hubs[p.Household] {
				if h.device == p.Device {
					closing = append(closing, h.conn)
				}
			}
			ended = l.endSessions(func(ss *liveSession) bool {
				return ss.hubDevice == p.Device && ss.hubReplica != p.Replica && l.sessionIn(ss, p.Household)
			})
			why = "the hub reconnected; start the session again"
		} else {
			ended = l.endSessions(func(ss *liveSession) bool {
				return ss.hubDevice == p.Device && ss.hubReplica == p.Replica && l.sessionIn(ss, p.Household)
			})
			why = "the hub disconnected"
		}
	}
	l.mu.Unlock()
	for _, c := range closing {
		l.srv.work.start(c.close)
	}
	if len(ended) > 0 { // not on the bus's goroutine: a viewer may be slow
		l.srv.work.start(func() { sendEnded(ended, why) })
	}
}

// sessionIn reports whether ss is a session of the household (l.mu held).
func (l *liveRelay) sessionIn(ss *liveSession, household string) bool {
	for k, v := range l.sessions {
		if v == ss {
			return strings.HasPrefix(k, household+"/")
		}
	}
	return false
}

func (p *livePeer) set(household, device string, cameras []string, up bool) {
	if !up {
		delete(p.hubs[household], device)
		if len(p.hubs[household]) == 0 {
			delete(p.hubs, household)
		}
		return
	}
	if p.hubs[household] == nil {
		p.hubs[household] = map[string][]string{}
	}
	p.hubs[household][device] = cameras
}

// askSync asks a replica for all its hubs, at most once a beat (l.mu held).
func (l *liveRelay) askSync(name string, p *livePeer) {
	if time.Since(p.asked) < liveBeat {
		return
	}
	p.asked = time.Now()
	l.announce(presence{Op: "sync", Of: name})
}

// dump announces all the hubs connected here (l.mu held).
func (l *liveRelay) dump() {
	var all []presenceHub
	for hh, set := range l.hubs {
		for h := range set {
			all = append(all, presenceHub{Household: hh, Device: h.device, Cameras: h.cameras})
		}
	}
	for first := true; first || len(all) > 0; first = false {
		n := min(len(all), liveDumpChunk)
		l.announce(presence{Op: "dump", Seq: l.seq, First: first, Hubs: all[:n]})
		all = all[n:]
	}
}

// hubRef names a connected hub: the replica it is connected to and its
// device ID.
type hubRef struct {
	replica, device string
	cameras         []string
}

// hubsOf lists the household's hubs connected to any replica, this one's
// first (l.mu held).
func (l *liveRelay) hubsOf(household string) []hubRef {
	var out []hubRef
	for h := range l.hubs[household] {
		out = append(out, hubRef{l.replica(), h.device, h.cameras})
	}
	slices.SortFunc(out, func(a, b hubRef) int { return strings.Compare(a.device, b.device) })
	names := slices.Sorted(maps.Keys(l.peers))
	for _, name := range names {
		for _, d := range slices.Sorted(maps.Keys(l.peers[name].hubs[household])) {
			out = append(out, hubRef{name, d, l.peers[name].hubs[household][d]})
		}
	}
	return out
}

// cameras lists the cameras of the household's hubs connected to any
// replica.
func (l *liveRelay) cameras(household string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := []string{}
	for _, h := range l.hubsOf(household) {
		for _, c := range h.cameras {
			if !slices.Contains(out, c) {
				out = append(out, c)
			}
		}
	}
	slices.Sort(out)
	return out
}

// hubFor returns a connected hub of the household with the camera, or the
// household's only hub when it has not said which cameras it has (l.mu
// held).
func (l *liveRelay) hubFor(household, camera string) (hubRef, bool) {
	hubs := l.hubsOf(household)
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

// chainChanged tells the household's connected hubs, on every replica,
// that its chain has a new link, so that they fetch and verify it now
// rather than at their next periodic refresh: a removed device's live
// sessions end within seconds. The hubs trust nothing in the message but
// its prompt.
func (l *liveRelay) chainChanged(household string) {
	if !l.ready.Load() {
		return // New has not returned: no hub is connected yet
	}
	if err := l.srv.Invalidate(context.Background(), InvalidateChain, household); err != nil {
		l.srv.log.Warn("live: chain notice not sent to other replicas", "household", household, "err", err)
		l.notifyHubs(household) // this replica's hubs at least
	}
}

// notifyHubs sends the chain notice to the household's hubs connected here.
func (l *liveRelay) notifyHubs(household string) {
	l.mu.Lock()
	var hubs []*liveConn
	for h := range l.hubs[household] {
		hubs = append(hubs, h.conn)
	}
	l.mu.Unlock()
	for _, c := range hubs { // not on the bus's goroutine: a hub may be slow
		l.srv.work.start(func() { c.sendJSON(map[string]string{"type": "chain"}) })
	}
}

func hubSubject(household, device, session string) string {
	return bus.Subject(subjLive, "hub", household, device, session)
}

// errLiveBus is what a viewer hears when its message could not go out.
func errLiveBus(session string) map[string]string {
	return liveError(session, "unavailable", "the service cannot reach the hub right now; start the session again in a few seconds")
}

func (l *liveRelay) serveViewer(s *Server, c *liveConn, household, account string) {
	defer c.close()
	var rnd [8]byte
	rand.Read(rnd[:])
	replyBase := bus.Subject(subjLive, "viewer", household, "c"+hex.EncodeToString(rnd[:]))
	sub, err := s.bus.b.Subscribe(replyBase+".*", func(_ string, data []byte) { l.toViewer(c, household, data) })
	if err != nil {
		s.log.Warn("live: viewer not subscribed", "household", household, "err", err)
		c.sendJSON(liveError("", "unavailable", "the service cannot reach its message bus; reconnect in a few seconds"))
		return
	}
	defer sub.Stop()
	mine := map[string]bool{}
	defer func() {
		l.mu.Lock()
		var closing []*liveSession
		var ids []string
		for id := range mine {
			if ss := l.sessions[household+"/"+id]; ss != nil && ss.viewer == c {
				delete(l.sessions, household+"/"+id)
				closing, ids = append(closing, ss), append(ids, id)
			}
		}
		l.mu.Unlock()
		for i, ss := range closing {
			b, _ := json.Marshal(map[string]string{"type": "close", "session": ids[i]})
			l.publish(hubSubject(household, ss.hubDevice, ids[i]), liveToHub{Msg: b, Reply: replyBase + "." + ids[i]})
		}
	}()
	for {
		m, _, err := c.read()
		if err != nil {
			return
		}
		typ, sess, cam := field(m, "type"), field(m, "session"), field(m, "camera")
		if m == nil || !liveSessionRE.MatchString(sess) {
			c.sendJSON(liveError(sess, "bad-message", "a JSON message with a session ID of 16 to 64 of A-Z a-z 0-9 _ - is expected"))
			continue
		}
		key := household + "/" + sess
		l.mu.Lock()
		l.init()
		for id := range mine { // sessions the hub ended
			if s := l.sessions[household+"/"+id]; s == nil || s.viewer != c {
				delete(mine, id)
			}
		}
		ss := l.sessions[key]
		var hub hubRef
		var refuse map[string]string
		switch {
		case typ == "close" && (ss == nil || ss.viewer != c):
			l.mu.Unlock()
			continue // already over
		case typ == "offer" && ss == nil:
			var ok bool
			hub, ok = l.hubFor(household, cam)
			switch {
			case !ok:
				refuse = liveError(sess, "hub-offline", "no hub of this household with camera "+strconv.Quote(cam)+" is connected")
			case len(mine) >= liveMaxViewerSess:
				refuse = liveError(sess, "busy", "too many live sessions on this connection")
			default:
				ss = &liveSession{viewer: c, hubReplica: hub.replica, hubDevice: hub.device}
				l.sessions[key] = ss
				mine[sess] = true
			}
		case ss == nil || ss.viewer != c:
			refuse = liveError(sess, "session-gone", "no such session")
		default:
			hub = hubRef{replica: ss.hubReplica, device: ss.hubDevice}
			if typ == "close" {
				delete(l.sessions, key)
				delete(mine, sess)
			}
		}
		l.mu.Unlock()
		if refuse != nil {
			c.sendJSON(refuse)
			continue
		}
		// The hub gets the viewer's fields it knows, and ICE servers only
		// from the cloud: a viewer cannot point the hub at a relay.
		out := make(map[string]json.RawMessage, len(viewerFields)+1)
		for _, k := range viewerFields {
			if v, ok := m[k]; ok {
				out[k] = v
			}
		}
		if typ == "offer" && s.opt.TURN != nil {
			if cred, err := s.opt.TURN.Credentials("hub-"+hub.device, turnHubCredentialTT); err == nil {
				b, _ := json.Marshal([]ICEServer{cred})
				out["ice_servers"] = b
			}
		}
		b, _ := json.Marshal(out)
		if err := l.publish(hubSubject(household, hub.device, sess), liveToHub{Msg: b, Reply: replyBase + "." + sess}); err != nil {
			s.log.Warn("live: viewer message not sent", "household", household, "err", err)
			if typ != "close" {
				l.mu.Lock()
				if l.sessions[key] == ss {
					delete(l.sessions, key)
				}
				delete(mine, sess)
				l.mu.Unlock()
				c.sendJSON(errLiveBus(sess))
			}
		}
	}
}

// toViewer passes a hub's message that came over the bus to the viewer's
// connection c, if the session is still one of c's.
func (l *liveRelay) toViewer(c *liveConn, household string, data []byte) {
	var in liveToViewer
	if json.Unmarshal(data, &in) != nil {
		return
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(in.Msg, &m) != nil {
		return
	}
	key := household + "/" + field(m, "session")
	l.mu.Lock()
	ss := l.sessions[key]
	ok := ss != nil && ss.viewer == c
	if ok && in.End {
		delete(l.sessions, key)
	}
	l.mu.Unlock()
	if ok {
		c.send(in.Msg)
	}
}

// viewerFields are the fields of a viewer's message passed on to the hub
// (docs/FORMAT.md, "Live view signalling").
var viewerFields = []string{"type", "session", "camera", "device", "ts", "fingerprint", "sig", "sdp"}

func (l *liveRelay) serveHub(s *Server, c *liveConn, household, device string) {
	defer c.close()
	h := &liveHubConn{conn: c, household: household, device: device, sessions: map[string]string{}}
	sub, err := s.bus.b.Subscribe(bus.Subject(subjLive, "hub", household, device)+".*", func(_ string, data []byte) {
		l.fromViewer(h, data)
	})
	if err != nil {
		s.log.Warn("live: hub not subscribed; it will reconnect", "household", household, "hub", device, "err", err)
		return
	}
	defer sub.Stop()
	l.mu.Lock()
	l.init()
	if l.hubs[household] == nil {
		l.hubs[household] = map[*liveHubConn]struct{}{}
	}
	for old := range l.hubs[household] {
		if old.device == device { // the hub reconnected
			delete(l.hubs[household], old)
			c.work.start(old.conn.close) // when closing, Close closes it
		}
	}
	l.hubs[household][h] = struct{}{}
	l.seq++
	l.announce(presence{Op: "hub", Seq: l.seq, Household: household, Device: device, Up: true})
	// Sessions here through the hub's connection to another replica are
	// over: that connection is gone or going.
	ended := l.endSessions(func(ss *liveSession) bool {
		return ss.hubDevice == device && ss.hubReplica != l.replica() && l.sessionIn(ss, household)
	})
	l.mu.Unlock()
	sendEnded(ended, "the hub reconnected; start the session again")
	s.log.Info("hub connected for live view", "household", household, "hub", device)
	defer func() {
		l.mu.Lock()
		if _, ok := l.hubs[household][h]; ok {
			delete(l.hubs[household], h)
			if len(l.hubs[household]) == 0 {
				delete(l.hubs, household)
			}
			still := false
			for o := range l.hubs[household] {
				still = still || o.device == device
			}
			if !still {
				l.seq++
				l.announce(presence{Op: "hub", Seq: l.seq, Household: household, Device: device})
			}
		}
		gone := h.sessions
		h.sessions = map[string]string{}
		l.mu.Unlock()
		for id, reply := range gone {
			b, _ := json.Marshal(liveError(id, "session-gone", "the hub disconnected"))
			l.publish(reply, liveToViewer{Msg: b, End: true})
		}
	}()
	for {
		m, raw, err := c.read()
		if err != nil {
			return
		}
		typ, sess := field(m, "type"), field(m, "session")
		if typ == "hello" {
			var cams []string
			json.Unmarshal(m["cameras"], &cams)
			if len(cams) > 256 {
				cams = cams[:256]
			}
			l.mu.Lock()
			h.cameras = cams
			if _, ok := l.hubs[household][h]; ok {
				l.seq++
				l.announce(presence{Op: "hub", Seq: l.seq, Household: household, Device: device, Cameras: cams, Up: true})
			}
			l.mu.Unlock()
			continue
		}
		if m == nil {
			continue
		}
		l.mu.Lock()
		reply, ok := h.sessions[sess]
		if ok && typ == "error" {
			delete(h.sessions, sess)
		}
		l.mu.Unlock()
		if ok {
			if err := l.publish(reply, liveToViewer{Msg: raw, End: typ == "error"}); err != nil {
				s.log.Warn("live: hub message not sent", "household", household, "err", err)
			}
		}
	}
}

// fromViewer passes a viewer's message that came over the bus to the hub
// connection h. A session the hub connection does not know (it began
// through a connection of the hub that is gone) is answered as gone, so
// that the viewer starts again.
func (l *liveRelay) fromViewer(h *liveHubConn, data []byte) {
	var in liveToHub
	if json.Unmarshal(data, &in) != nil || !strings.HasPrefix(in.Reply, bus.Subject(subjLive, "viewer", h.household)+".") {
		return
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(in.Msg, &m) != nil {
		return
	}
	typ, sess := field(m, "type"), field(m, "session")
	l.mu.Lock()
	reply, known := h.sessions[sess]
	forward := true
	switch {
	case typ == "offer" && !known:
		h.sessions[sess] = in.Reply
	case !known && typ == "close":
		forward = false
	case !known || reply != in.Reply:
		forward = false
		b, _ := json.Marshal(liveError(sess, "session-gone", "no such session"))
		defer l.publish(in.Reply, liveToViewer{Msg: b, End: true})
	case typ == "close":
		delete(h.sessions, sess)
	}
	l.mu.Unlock()
	if forward {
		h.conn.send(in.Msg)
	}
}

// TURNConfig configures the TURN relay run inside the cloud process.
type TURNConfig struct {
	// Listen is the UDP address, e.g. 0.0.0.0:3478.
	Listen string
	// PublicIP is the address clients reach the relay at (and the relayed
	// addresses given out); empty means Listen's host, which must then be
	// a specific address.
	PublicIP string
	// Realm defaults to "vigil".
	Realm  string
	Logger *slog.Logger
}

// TURN is a TURN relay (pion/turn) with time-limited HMAC credentials
// (the TURN REST scheme): the cloud hands them to members and hubs, and
// the relay accepts them until they expire.
type TURN struct {
	srv    *turn.Server
	secret string
	url    string
	addr   net.Addr
}

// StartTURN starts the relay.
func StartTURN(cfg TURNConfig) (*TURN, error) {
	host, _, err := net.SplitHostPort(cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("turn_listen: %q is not host:port", cfg.Listen)
	}
	pub := cfg.PublicIP
	if pub == "" {
		pub = host
	}
	ip := net.ParseIP(pub)
	if ip == nil || ip.IsUnspecified() {
		return nil, fmt.Errorf("turn_public_ip: %q is not a specific IP address the relay is reached at", pub)
	}
	if cfg.Realm == "" {
		cfg.Realm = "vigil"
	}
	pc, err := net.ListenPacket("udp4", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("turn_listen: %w", err)
	}
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		pc.Close()
		return nil, err
	}
	lf := logging.NewDefaultLoggerFactory()
	lf.Writer = io.Discard
	loopbackOK := ip.IsLoopback()
	t := &TURN{secret: fmt.Sprintf("%x", secret), addr: pc.LocalAddr()}
	_, port, _ := net.SplitHostPort(pc.LocalAddr().String())
	t.url = "turn:" + net.JoinHostPort(ip.String(), port) + "?transport=udp"
	t.srv, err = turn.NewServer(turn.ServerConfig{
		Realm:         cfg.Realm,
		LoggerFactory: lf,
		AuthHandler:   turn.LongTermTURNRESTAuthHandler(t.secret, lf.NewLogger("turn")),
		PacketConnConfigs: []turn.PacketConnConfig{{
			PacketConn:            pc,
			RelayAddressGenerator: &turn.RelayAddressGeneratorStatic{RelayAddress: ip, Address: host},
			// The relay must not become a way into the cloud's own
			// machine or networks (turnpeer.go).
			PermissionHandler: func(_ net.Addr, peer net.IP) bool {
				own := hostAddrs()
				if a, ok := netip.AddrFromSlice(ip); ok {
					own = append(own, a)
				}
				return turnPeerAllowed(peer, loopbackOK, own)
			},
		}},
	})
	if err != nil {
		pc.Close()
		return nil, err
	}
	return t, nil
}

// Credentials returns an ICE server entry with credentials for user valid
// for ttl.
func (t *TURN) Credentials(user string, ttl time.Duration) (ICEServer, error) {
	u, p, err := turn.GenerateLongTermTURNRESTCredentials(t.secret, user, ttl)
	if err != nil {
		return ICEServer{}, err
	}
	return ICEServer{URLs: []string{t.url}, Username: u, Credential: p}, nil
}

// Addr is the relay's UDP address.
func (t *TURN) Addr() net.Addr { return t.addr }

// Allocations is the number of relay allocations in use.
func (t *TURN) Allocations() int { return t.srv.AllocationCount() }

// Close stops the relay.
func (t *TURN) Close() error { return t.srv.Close() }

// closeWith sends a close frame with code and reason (not waiting for the
// answer); the caller then ends the connection.
func (c *liveConn) closeWith(code int, reason string) {
	c.mu.Lock()
	c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason), time.Now().Add(time.Second))
	c.mu.Unlock()
}
