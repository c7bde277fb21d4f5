package live

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/pion/webrtc/v4"

	"vigil/internal/keydir"
)

// Camera management travels over a WebRTC data channel labelled "cameras"
// of any live session (docs/FORMAT.md, "Camera management channel"): an
// admin's page opens a session on one of the hub's cameras and asks the hub
// to discover, probe and add cameras through it. Like the settings channel
// it is inside the session's DTLS, bound to both device keys (G8), so a
// camera's address, user name and password go from the browser to the hub
// and never through the cloud in the clear. The hub checks the viewer's role
// in the chain it verified at each request: every operation is for admin
// devices only.

// CamerasLabel is the camera management channel's label.
const CamerasLabel = "cameras"

// MaxCamerasMessage bounds a request or reply on the channel (a probe's
// reply carries a snapshot). It stays under the SCTP message size a peer
// accepts (NetOptions.api).
const MaxCamerasMessage = 96 << 10

// CamerasTimeout bounds the hub's handling of one request (a probe talks
// to a camera that may be slow).
const CamerasTimeout = 30 * time.Second

// CamerasRequest is one request as the hub's handler sees it: Op and Body
// as the viewer sent them (Body not yet parsed), Device the session's
// viewer, an admin of the chain the hub verified.
type CamerasRequest struct {
	Session string
	Device  string
	Op      string
	Body    json.RawMessage
}

// CamerasFunc handles a request from an admin device and returns the
// reply's result (any JSON value). Its error is shown to the user: it must
// say what is wrong and how to fix it, and never carry a password.
type CamerasFunc func(ctx context.Context, req CamerasRequest) (any, error)

type camerasWire struct {
	ID     string          `json:"id"`
	Op     string          `json:"op,omitempty"`
	Body   json.RawMessage `json:"body,omitempty"`
	OK     bool            `json:"ok"`
	Result json.RawMessage `json:"result,omitempty"`
	Error  string          `json:"error,omitempty"`
}

// serveCameras answers the requests of one session's cameras channel, in
// order, on one goroutine of its own (a probe takes seconds; pion's read
// loop must not wait for it), with the settings channel's rate bounds. A
// peer that sends more than maxCamerasQueue requests ahead of the replies,
// or reads no replies, loses the channel.
func (h *Hub) serveCameras(s *session, dc *webrtc.DataChannel) {
	reply := func(w camerasWire) {
		w.Error = truncate(w.Error, maxErrorBytes)
		b, _ := json.Marshal(w)
		if len(b) > MaxCamerasMessage {
			b, _ = json.Marshal(camerasWire{ID: w.ID, Error: "the hub's reply is too large to send"})
		}
		if err := dc.SendText(string(b)); err != nil {
			h.cfg.Logger.Info("live cameras: reply not sent", "session", s.id, "err", err)
		}
	}
	queue := make(chan []byte, maxCamerasQueue)
	closed := make(chan struct{})
	var closeOnce sync.Once
	closeCh := func() { closeOnce.Do(func() { close(closed); dc.Close() }) }
	dc.OnClose(closeCh)
	h.mu.Lock()
	if h.closed { // Close is waiting for the workers: start none
		h.mu.Unlock()
		closeCh()
		return
	}
	h.workers.Add(1)
	h.mu.Unlock()
	go func() {
		defer h.workers.Done()
		for {
			var data []byte
			select {
			case <-s.stop:
				return
			case <-closed:
				return
			case data = <-queue:
			}
			var req camerasWire
			if err := json.Unmarshal(data, &req); err != nil {
				reply(camerasWire{Error: "the request is not JSON: " + err.Error()})
				continue
			}
			if !settingsIDRE.MatchString(req.ID) {
				reply(camerasWire{Error: "the request's id must be 1 to 32 of A-Z a-z 0-9 _ -"})
				continue
			}
			res, err := h.cameras(s, req)
			if err != nil {
				// The op only: a request may carry a camera's password.
				h.cfg.Logger.Info("live cameras request refused", "session", s.id, "device", s.device, "op", req.Op, "err", err)
				reply(camerasWire{ID: req.ID, Error: err.Error()})
				continue
			}
			b, err := json.Marshal(res)
			if err != nil {
				reply(camerasWire{ID: req.ID, Error: "the hub could not write its reply"})
				continue
			}
			reply(camerasWire{ID: req.ID, OK: true, Result: b})
		}
	}()
	allowance := newBudget(camerasBurst, settingsRate)
	dc.OnMessage(func(msg webrtc.DataChannelMessage) {
		if !allowance.take(time.Now()) || dc.BufferedAmount() > 2*MaxCamerasMessage {
			h.cfg.Logger.Info("live cameras: channel closed, the viewer sends requests too fast or reads no replies", "session", s.id)
			closeCh()
			return
		}
		if len(msg.Data) > MaxCamerasMessage || !msg.IsString {
			reply(camerasWire{Error: fmt.Sprintf("a cameras request is one JSON text message of at most %d bytes", MaxCamerasMessage)})
			closeCh()
			return
		}
		select {
		case queue <- msg.Data:
		default:
			h.cfg.Logger.Info("live cameras: channel closed, the viewer sends requests before the replies", "session", s.id)
			closeCh()
		}
	})
}

// maxCamerasQueue bounds the requests waiting on one cameras channel;
// camerasBurst is how many a page may send at once (a probe for each
// password tried), settingsRate a second after that.
const (
	maxCamerasQueue = 4
	camerasBurst    = 20
)

func (h *Hub) cameras(s *session, req camerasWire) (any, error) {
	if h.cfg.CameraAdmin == nil {
		return nil, errors.New("this hub does not take cameras from the web app")
	}
	st := h.cfg.Chain()
	if !admitted(st, h.cfg.Household, s.device) {
		return nil, errors.New("this device is no longer in the household")
	}
	if st.Devices[s.device].Role != keydir.RoleAdmin {
		return nil, errors.New("only an admin device may find and add cameras; ask an admin of the household")
	}
	ctx, cancel := context.WithTimeout(context.Background(), CamerasTimeout)
	defer cancel()
	go func() {
		select {
		case <-s.stop:
			cancel() // the viewer left: stop talking to the camera
		case <-ctx.Done():
		}
	}()
	return h.cfg.CameraAdmin(ctx, CamerasRequest{Session: s.id, Device: s.device, Op: req.Op, Body: req.Body})
}

// CamerasAnswer is a reply as a viewer receives it.
type CamerasAnswer struct {
	OK     bool
	Result json.RawMessage
	Error  string
}

// Cameras sends one request on the watch's cameras channel (see
// ViewerConfig.Cameras) and waits for the hub's reply.
func (w *Watch) Cameras(ctx context.Context, op string, body any) (CamerasAnswer, error) {
	if w.cameras == nil {
		return CamerasAnswer{}, errors.New("this watch has no cameras channel (ViewerConfig.Cameras)")
	}
	var rawBody json.RawMessage
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return CamerasAnswer{}, err
		}
		rawBody = b
	}
	raw, err := w.cameras.request(ctx, w.failed, func(id string) any { return camerasWire{ID: id, Op: op, Body: rawBody} })
	if err != nil {
		return CamerasAnswer{}, err
	}
	var r camerasWire
	if err := json.Unmarshal(raw, &r); err != nil {
		return CamerasAnswer{}, fmt.Errorf("the hub's reply: %w", err)
	}
	return CamerasAnswer{OK: r.OK, Result: r.Result, Error: r.Error}, nil
}
