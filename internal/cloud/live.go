package cloud

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"github.com/pion/logging"
	"github.com/pion/turn/v5"

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

// cameras lists the cameras of the household's connected hubs.
func (l *liveRelay) cameras(household string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := []string{}
	for h := range l.hubs[household] {
		for _, c := range h.cameras {
			if !slices.Contains(out, c) {
				out = append(out, c)
			}
		}
	}
	slices.Sort(out)
	return out
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

// liveRelay pairs viewers' sessions with hubs, per household.
type liveRelay struct {
	mu       sync.Mutex
	hubs     map[string]map[*liveHubConn]struct{} // household -> connected hubs
	sessions map[string]*liveSession              // household + "/" + session
}

type liveHubConn struct {
	conn      *liveConn
	household string
	device    string
	cameras   []string
}

type liveSession struct {
	viewer *liveConn
	hub    *liveHubConn
}

func (l *liveRelay) init() {
	if l.hubs == nil {
		l.hubs = map[string]map[*liveHubConn]struct{}{}
		l.sessions = map[string]*liveSession{}
	}
}

// chainChanged tells the household's connected hubs that its chain has a
// new link, so that they fetch and verify it now rather than at their next
// periodic refresh: a removed device's live sessions end within seconds.
// The hubs trust nothing in the message but its prompt.
func (l *liveRelay) chainChanged(household string) {
	l.mu.Lock()
	var hubs []*liveConn
	for h := range l.hubs[household] {
		hubs = append(hubs, h.conn)
	}
	l.mu.Unlock()
	for _, c := range hubs {
		c.sendJSON(map[string]string{"type": "chain"})
	}
}

// hubFor returns a connected hub of the household with the camera.
func (l *liveRelay) hubFor(household, camera string) *liveHubConn {
	var any *liveHubConn
	for h := range l.hubs[household] {
		if slices.Contains(h.cameras, camera) {
			return h
		}
		any = h
	}
	if any != nil && len(l.hubs[household]) == 1 && len(any.cameras) == 0 {
		return any
	}
	return nil
}

func (l *liveRelay) serveViewer(s *Server, c *liveConn, household, account string) {
	defer c.close()
	mine := map[string]bool{}
	defer func() {
		l.mu.Lock()
		var closing []*liveHubConn
		var ids []string
		for id := range mine {
			if ss := l.sessions[household+"/"+id]; ss != nil && ss.viewer == c {
				delete(l.sessions, household+"/"+id)
				closing, ids = append(closing, ss.hub), append(ids, id)
			}
		}
		l.mu.Unlock()
		for i, h := range closing {
			h.conn.sendJSON(map[string]string{"type": "close", "session": ids[i]})
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
		var hub *liveHubConn
		var refuse map[string]string
		switch {
		case typ == "close" && (ss == nil || ss.viewer != c):
			l.mu.Unlock()
			continue // already over
		case typ == "offer" && ss == nil:
			hub = l.hubFor(household, cam)
			switch {
			case hub == nil:
				refuse = liveError(sess, "hub-offline", "no hub of this household with camera "+strconv.Quote(cam)+" is connected")
			case len(mine) >= liveMaxViewerSess:
				refuse = liveError(sess, "busy", "too many live sessions on this connection")
			default:
				l.sessions[key] = &liveSession{viewer: c, hub: hub}
				mine[sess] = true
			}
		case ss == nil || ss.viewer != c:
			refuse = liveError(sess, "session-gone", "no such session")
		default:
			hub = ss.hub
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
		hub.conn.sendJSON(out)
	}
}

// viewerFields are the fields of a viewer's message passed on to the hub
// (docs/FORMAT.md, "Live view signalling").
var viewerFields = []string{"type", "session", "camera", "device", "ts", "fingerprint", "sig", "sdp"}

func (l *liveRelay) serveHub(s *Server, c *liveConn, household, device string) {
	defer c.close()
	h := &liveHubConn{conn: c, household: household, device: device}
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
	l.mu.Unlock()
	s.log.Info("hub connected for live view", "household", household, "hub", device)
	defer func() {
		l.mu.Lock()
		delete(l.hubs[household], h)
		var gone []*liveConn
		var ids []string
		for k, ss := range l.sessions {
			if ss.hub == h {
				delete(l.sessions, k)
				gone, ids = append(gone, ss.viewer), append(ids, strings.TrimPrefix(k, household+"/"))
			}
		}
		l.mu.Unlock()
		for i, v := range gone {
			v.sendJSON(liveError(ids[i], "session-gone", "the hub disconnected"))
		}
	}()
	for {
		m, _, err := c.read()
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
			l.mu.Unlock()
			continue
		}
		key := household + "/" + sess
		l.mu.Lock()
		ss := l.sessions[key]
		if ss != nil && ss.hub != h {
			ss = nil
		}
		if ss != nil && typ == "error" {
			delete(l.sessions, key)
		}
		l.mu.Unlock()
		if ss != nil {
			ss.viewer.sendJSON(m)
		}
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
