package live

import (
	"encoding/json"
	"sync"

	"github.com/pion/webrtc/v4"
)

// Message is one signalling message (docs/FORMAT.md, "Live view
// signalling"). The cloud reads only type, session and camera to route it,
// and adds ice_servers to an offer on its way to the hub.
type Message struct {
	Type        string      `json:"type"` // hello, offer, answer, error, close
	Session     string      `json:"session,omitempty"`
	Camera      string      `json:"camera,omitempty"`
	Device      string      `json:"device,omitempty"` // device ID of the signer
	TS          int64       `json:"ts,omitempty"`     // offer: Unix milliseconds
	Fingerprint string      `json:"fingerprint,omitempty"`
	Sig         string      `json:"sig,omitempty"` // base64url Ed25519 signature
	SDP         string      `json:"sdp,omitempty"`
	Error       string      `json:"error,omitempty"`
	Code        string      `json:"code,omitempty"`    // error: a stable reason (see Err* codes)
	Cameras     []string    `json:"cameras,omitempty"` // hello: the hub's cameras
	ICEServers  []ICEServer `json:"ice_servers,omitempty"`
}

// ICEServer is a STUN or TURN server as in RTCIceServer.
type ICEServer struct {
	URLs       []string `json:"urls"`
	Username   string   `json:"username,omitempty"`
	Credential string   `json:"credential,omitempty"`
}

// Error codes carried by error messages.
const (
	CodeRefused     = "refused"      // the hub refused the viewer (G8)
	CodeNoCamera    = "no-camera"    // the hub has no such camera
	CodeHubOffline  = "hub-offline"  // no hub of the household with this camera is connected
	CodeBusy        = "busy"         // too many sessions
	CodeBadMessage  = "bad-message"  // malformed
	CodeHubFailed   = "failed"       // the hub could not set up the session
	CodeSessionGone = "session-gone" // the other side went away
)

func pionICEServers(s []ICEServer) []webrtc.ICEServer {
	out := make([]webrtc.ICEServer, 0, len(s))
	for _, x := range s {
		out = append(out, webrtc.ICEServer{URLs: x.URLs, Username: x.Username, Credential: x.Credential})
	}
	return out
}

// Conn is a message connection (a WebSocket). ReadJSON is called from one
// goroutine; WriteJSON may be called from several and is serialised.
type Conn interface {
	ReadJSON(v any) error
	WriteJSON(v any) error
	Close() error
}

type lockedConn struct {
	mu sync.Mutex
	c  Conn
}

func (l *lockedConn) write(m Message) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.c.WriteJSON(m)
}

var _ = json.Marshal
