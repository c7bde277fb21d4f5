package cloud

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"vigil/internal/cloud/liveview"
	"vigil/internal/cloud/store"
)

// Live view signalling (docs/FORMAT.md, "Live view signalling"): the HTTP
// end of it. A member's browser and the household's hub each hold a
// WebSocket to the cloud; this file authenticates them, checks the
// origin, upgrades the request and hands the connection (liveConn, a
// liveview.Conn) to the liveview service, which pairs viewers' sessions
// with hubs across replicas and owns the TURN relay's credentials.

// Bounds of one WebSocket.
const (
	liveMaxMessage   = 64 << 10 // one signalling message
	liveWriteTimeout = 10 * time.Second
	livePingEvery    = 25 * time.Second
	liveReadTimeout  = 60 * time.Second
)

func (s *Server) liveRoutes() []route {
	return []route{
		{method: "GET", pattern: "/v1/households/{hh}/live", auth: authMember, action: "live.view", h: s.liveViewer},
		{method: "GET", pattern: "/v1/households/{hh}/live/ice", auth: authMember, action: "live.ice", h: s.liveICE},
		{method: "GET", pattern: "/v1/hub/live", auth: authDevice, h: s.liveHub},
	}
}

// liveICE hands a member short-lived TURN credentials (none when the
// service runs no TURN relay) and the cameras of the household's hubs that
// are connected for live view.
func (s *Server) liveICE(w http.ResponseWriter, r *http.Request, c *call) error {
	servers, err := s.live.ICEServers(c.account.ID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"ice_servers": servers, "cameras": s.live.Cameras(c.household.ID)})
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
	if err := s.live.Ready(); err != nil {
		return liveviewError(err)
	}
	conn, done, ok := s.upgrade(w, r)
	if !ok {
		return nil // answered
	}
	defer done()
	if err := s.live.ServeViewer(conn, c.household.ID); err != nil {
		s.log.Debug("live: viewer not served", "household", c.household.ID, "err", err) // the viewer was told
	}
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
	if err := s.live.Ready(); err != nil {
		return liveviewError(err)
	}
	conn, done, ok := s.upgrade(w, r)
	if !ok {
		return nil // answered
	}
	defer done()
	if err := s.live.ServeHub(conn, h.ID, c.device); err != nil {
		s.log.Debug("live: hub not served; it reconnects", "household", h.ID, "hub", c.device, "err", err)
	}
	return nil
}

// chainChanged tells every replica, this one included, that the
// household's chain has a new link (InvalidateChain): each drops its
// cached state of the household, and its live service tells the
// household's hubs connected there to fetch the chain, and disconnects a
// hub the chain no longer holds, so that a removed device's live sessions
// end within seconds. While the bus is away this replica at least reacts.
func (s *Server) chainChanged(household string) {
	if !s.bus.ready.Load() {
		return // New has not returned: no hub is connected yet
	}
	if err := s.Invalidate(context.Background(), InvalidateChain, household); err != nil {
		s.log.Warn("live: chain notice not sent to other replicas", "household", household, "err", err)
		s.liveChainChanged(household)
	}
}

// liveviewError is the answer to a liveview refusal, and any other error
// as it is.
func liveviewError(err error) error {
	var le *liveview.Error
	if !errors.As(err, &le) {
		return err
	}
	switch le.Kind {
	case liveview.Unavailable:
		return errBusDown
	case liveview.Closed:
		return errorf(http.StatusServiceUnavailable, "%s", le.Msg)
	}
	return errorf(http.StatusInternalServerError, "%s", le.Msg)
}

// liveHubs answers the liveview service whether a hub is still in its
// household's chain (households.Service.HubDevice, which reads the
// verified chain).
type liveHubs struct{ s *Server }

func (l liveHubs) IsHub(ctx context.Context, household, device string) (bool, error) {
	h, _, err := l.s.hubDevice(ctx, device)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return h.ID == household, nil
}

// liveConn is one WebSocket (Server.upgrade, lifecycle.go); writes are
// serialised and bounded in time. Its Send, Read and Close make it the
// liveview.Conn the liveview service serves.
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

func (c *liveConn) send(b []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ws.SetWriteDeadline(time.Now().Add(liveWriteTimeout))
	err := c.ws.WriteMessage(websocket.TextMessage, b)
	if err != nil {
		c.work.start(c.close) // when closing, Close closes it
	}
	return err
}

// Send writes one text message (liveview.Conn).
func (c *liveConn) Send(b []byte) error { return c.send(b) }

// Read returns the next text message, nil for one of another kind
// (liveview.Conn).
func (c *liveConn) Read() ([]byte, error) {
	t, b, err := c.ws.ReadMessage()
	if err != nil {
		return nil, err
	}
	c.ws.SetReadDeadline(time.Now().Add(liveReadTimeout))
	if t != websocket.TextMessage {
		return nil, nil
	}
	return b, nil
}

// Close ends the connection, with a close frame carrying reason when there
// is one (liveview.Conn).
func (c *liveConn) Close(reason string) {
	if reason != "" {
		c.closeWith(websocket.CloseNormalClosure, reason)
	}
	c.close()
}

func (c *liveConn) sendJSON(v any) {
	b, _ := json.Marshal(v)
	c.send(b)
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

// closeWith sends a close frame with code and reason (not waiting for the
// answer); the caller then ends the connection.
func (c *liveConn) closeWith(code int, reason string) {
	select {
	case <-c.done:
		return // closed already
	default:
	}
	c.mu.Lock()
	c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason), time.Now().Add(time.Second))
	c.mu.Unlock()
}
