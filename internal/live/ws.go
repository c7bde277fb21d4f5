package live

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"vigil/internal/devauth"
)

// wsURL turns the cloud's base URL into the WebSocket URL of path.
func wsURL(base, path string) (string, error) {
	switch {
	case strings.HasPrefix(base, "https://"):
		return "wss://" + strings.TrimSuffix(strings.TrimPrefix(base, "https://"), "/") + path, nil
	case strings.HasPrefix(base, "http://"):
		return "ws://" + strings.TrimSuffix(strings.TrimPrefix(base, "http://"), "/") + path, nil
	}
	return "", fmt.Errorf("cloud URL %q is not http(s)", base)
}

// readTimeout: the cloud pings every 25 s; a connection silent for longer
// than this is dead.
const readTimeout = 75 * time.Second

func dial(ctx context.Context, u string, h http.Header) (*websocket.Conn, error) {
	d := websocket.Dialer{HandshakeTimeout: 10 * time.Second, Proxy: http.ProxyFromEnvironment}
	ws, resp, err := d.DialContext(ctx, u, h)
	if err != nil {
		if resp != nil {
			return nil, &DialError{Status: resp.StatusCode}
		}
		return nil, err
	}
	ws.SetReadLimit(1 << 20)
	ws.SetReadDeadline(time.Now().Add(readTimeout))
	ws.SetPingHandler(func(data string) error {
		ws.SetReadDeadline(time.Now().Add(readTimeout))
		return ws.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(10*time.Second))
	})
	return ws, nil
}

// DialError is a refused WebSocket handshake.
type DialError struct{ Status int }

func (e *DialError) Error() string {
	return fmt.Sprintf("the cloud refused the live-view connection (HTTP %d)", e.Status)
}

// DialHub opens the hub's device-authenticated signalling connection.
func DialHub(ctx context.Context, cloud, deviceID string, key ed25519.PrivateKey) (Conn, error) {
	u, err := wsURL(cloud, "/v1/hub/live")
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, "GET", strings.Replace(strings.Replace(u, "wss://", "https://", 1), "ws://", "http://", 1), nil)
	if err != nil {
		return nil, err
	}
	if err := devauth.Sign(req, nil, deviceID, key, time.Now()); err != nil {
		return nil, err
	}
	return dial(ctx, u, http.Header{devauth.Header: req.Header.Values(devauth.Header)})
}

// RunHub keeps the hub's signalling connection to the cloud up, with
// backoff, answering offers until ctx is done.
func RunHub(ctx context.Context, h *Hub, cloud, deviceID string, key ed25519.PrivateKey, log *slog.Logger) {
	backoff := 500 * time.Millisecond
	var lastErr string
	for ctx.Err() == nil {
		c, err := DialHub(ctx, cloud, deviceID, key)
		if err == nil {
			start := time.Now()
			lastErr = ""
			log.Info("live view: connected to the cloud")
			err = h.Serve(ctx, c)
			c.Close()
			if time.Since(start) > time.Minute {
				backoff = 500 * time.Millisecond
			}
		}
		if ctx.Err() != nil {
			return
		}
		if err != nil && err.Error() != lastErr {
			log.Warn("live view: signalling connection to the cloud lost; retrying", "err", err, "in", backoff)
			lastErr = err.Error()
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 30*time.Second)
	}
}

// ViewerConn is a viewer's signalling connection (Go viewers: tests and
// tools; the browser speaks the same messages).
type ViewerConn struct {
	ws *websocket.Conn
	wm sync.Mutex

	mu      sync.Mutex
	waiting map[string]chan Message
	err     error
	done    chan struct{}
}

// DialViewer opens a viewer's signalling connection for a household;
// header carries the credentials (Authorization: Bearer, or the session
// cookie and Origin).
func DialViewer(ctx context.Context, cloud, household string, header http.Header) (*ViewerConn, error) {
	u, err := wsURL(cloud, "/v1/households/"+household+"/live")
	if err != nil {
		return nil, err
	}
	ws, err := dial(ctx, u, header)
	if err != nil {
		return nil, err
	}
	v := &ViewerConn{ws: ws, waiting: map[string]chan Message{}, done: make(chan struct{})}
	go v.readLoop()
	return v, nil
}

func (v *ViewerConn) readLoop() {
	defer close(v.done)
	for {
		var m Message
		if err := v.ws.ReadJSON(&m); err != nil {
			v.mu.Lock()
			v.err = err
			v.mu.Unlock()
			return
		}
		v.mu.Lock()
		ch := v.waiting[m.Session]
		v.mu.Unlock()
		if ch != nil {
			select {
			case ch <- m:
			default:
			}
		}
	}
}

// Send writes one message.
func (v *ViewerConn) Send(m Message) error {
	v.wm.Lock()
	defer v.wm.Unlock()
	v.ws.SetWriteDeadline(time.Now().Add(10 * time.Second))
	return v.ws.WriteJSON(m)
}

// Exchange sends an offer and waits for the answer or error of its session.
func (v *ViewerConn) Exchange(ctx context.Context, offer Message) (Message, error) {
	ch := make(chan Message, 4)
	v.mu.Lock()
	v.waiting[offer.Session] = ch
	v.mu.Unlock()
	if err := v.Send(offer); err != nil {
		return Message{}, err
	}
	for {
		select {
		case m := <-ch:
			if m.Type == "answer" || m.Type == "error" {
				return m, nil
			}
		case <-v.done:
			return Message{}, errors.New("the signalling connection closed")
		case <-ctx.Done():
			return Message{}, ctx.Err()
		case <-time.After(20 * time.Second):
			return Message{}, errors.New("no answer from the hub")
		}
	}
}

// Close closes the connection.
func (v *ViewerConn) Close() error { return v.ws.Close() }
