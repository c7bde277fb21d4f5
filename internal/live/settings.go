package live

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/pion/webrtc/v4"

	"vigil/internal/keydir"
)

// Camera settings travel over a WebRTC data channel labelled "settings" of
// a live session (docs/FORMAT.md, "Camera settings channel"): the session's
// DTLS is bound to both device keys (G8), so the cloud, which relays only
// the signalling, neither reads nor changes them. The hub answers every
// request; it checks the viewer's role in the chain it verified at each
// request, so a device demoted or removed mid-session is refused at once.

// SettingsLabel is the data channel's label.
const SettingsLabel = "settings"

// MaxSettingsMessage bounds a request or reply on the channel.
const MaxSettingsMessage = 64 << 10

// Limits on one session's settings channel: a page sends one request per
// session, a peer that sends many, or reads no replies, loses the channel.
const (
	settingsBurst    = 10                     // requests at once
	settingsRate     = 2                      // requests a second after the burst
	maxSettingsQueue = 4 * MaxSettingsMessage // reply bytes the peer has not taken
	maxExtraChannels = 4                      // data channels refused before the session ends
	maxErrorBytes    = 2048                   // of an error reply
)

// Settings operations.
const (
	SettingsGet   = "get"   // read the camera's current settings (admin or member)
	SettingsPut   = "put"   // replace the app's settings of the camera (admin)
	SettingsReset = "reset" // drop them: the hub's config file applies again (admin)
)

// SettingsRequest is one request, as the hub's handler sees it: the camera
// and device are the session's, checked when it was admitted.
type SettingsRequest struct {
	Camera string
	Device string
	Op     string
	Detect json.RawMessage // put: the settings, not yet parsed
}

// SettingsReply is the handler's answer to an accepted request.
type SettingsReply struct {
	Detect    json.RawMessage // the camera's settings now
	Source    string          // "app" or "config": where they come from
	Detecting bool            // whether the camera runs detection
}

// SettingsFunc handles a request from an admitted device. Its error is
// shown to the user: it must say what is wrong and how to fix it.
type SettingsFunc func(ctx context.Context, req SettingsRequest) (SettingsReply, error)

type settingsWire struct {
	ID        string          `json:"id"`
	Op        string          `json:"op,omitempty"`
	OK        bool            `json:"ok"`
	Detect    json.RawMessage `json:"detect,omitempty"`
	Source    string          `json:"source,omitempty"`
	Detecting *bool           `json:"detecting,omitempty"`
	Error     string          `json:"error,omitempty"`
}

var settingsIDRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,32}$`)

// budget is a data channel's allowance of requests: burst at once, then
// rate a second. A peer that runs out loses the channel. It is not safe
// for concurrent use (pion delivers a channel's messages one at a time).
type budget struct {
	burst, rate, tokens float64
	last                time.Time
}

func newBudget(burst, rate float64) *budget {
	return &budget{burst: burst, rate: rate, tokens: burst, last: time.Now()}
}

// take spends one request at now, reporting false when none is left.
func (b *budget) take(now time.Time) bool {
	b.tokens = min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// serveSettings answers the requests of one session's settings channel.
func (h *Hub) serveSettings(s *session, dc *webrtc.DataChannel) {
	var mu sync.Mutex // one request at a time, in order
	allowance := newBudget(settingsBurst, settingsRate)
	reply := func(w settingsWire) {
		w.Error = truncate(w.Error, maxErrorBytes)
		b, _ := json.Marshal(w)
		if len(b) > MaxSettingsMessage {
			b, _ = json.Marshal(settingsWire{ID: w.ID, Error: "the camera's settings are too large to send; edit them in the hub's config file"})
		}
		if err := dc.SendText(string(b)); err != nil {
			h.cfg.Logger.Info("live settings: reply not sent", "session", s.id, "err", err)
		}
	}
	dc.OnMessage(func(msg webrtc.DataChannelMessage) {
		mu.Lock()
		defer mu.Unlock()
		if !allowance.take(time.Now()) || dc.BufferedAmount() > maxSettingsQueue {
			h.cfg.Logger.Info("live settings: channel closed, the viewer sends requests too fast or reads no replies", "session", s.id)
			dc.Close()
			return
		}
		if len(msg.Data) > MaxSettingsMessage || !msg.IsString {
			reply(settingsWire{Error: fmt.Sprintf("a settings request is one JSON text message of at most %d bytes", MaxSettingsMessage)})
			dc.Close()
			return
		}
		var req settingsWire
		if err := json.Unmarshal(msg.Data, &req); err != nil {
			reply(settingsWire{Error: "the request is not JSON: " + err.Error()})
			return
		}
		if !settingsIDRE.MatchString(req.ID) {
			reply(settingsWire{Error: "the request's id must be 1 to 32 of A-Z a-z 0-9 _ -"})
			return
		}
		ans, err := h.settings(s, req)
		if err != nil {
			h.cfg.Logger.Info("live settings refused", "session", s.id, "camera", s.camera, "device", s.device, "op", req.Op, "err", err)
			reply(settingsWire{ID: req.ID, Error: err.Error()})
			return
		}
		if req.Op != SettingsGet {
			h.cfg.Logger.Info("camera settings changed from the web app", "camera", s.camera, "device", s.device, "op", req.Op)
		}
		reply(settingsWire{ID: req.ID, OK: true, Detect: ans.Detect, Source: ans.Source, Detecting: &ans.Detecting})
	})
}

// truncate cuts s to at most n bytes, at a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n - len("…")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

func (h *Hub) settings(s *session, req settingsWire) (SettingsReply, error) {
	if h.cfg.Settings == nil {
		return SettingsReply{}, errors.New("this hub does not take settings from the web app")
	}
	st := h.cfg.Chain()
	if !admitted(st, h.cfg.Household, s.device) {
		return SettingsReply{}, errors.New("this device is no longer in the household")
	}
	switch req.Op {
	case SettingsGet:
	case SettingsPut, SettingsReset:
		if st.Devices[s.device].Role != keydir.RoleAdmin {
			return SettingsReply{}, errors.New("only an admin device may change a camera's settings; ask an admin of the household")
		}
	default:
		return SettingsReply{}, fmt.Errorf("unknown op %q: use get, put or reset", req.Op)
	}
	if req.Op == SettingsPut && len(req.Detect) == 0 {
		return SettingsReply{}, errors.New("put needs the settings in \"detect\"")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return h.cfg.Settings(ctx, SettingsRequest{Camera: s.camera, Device: s.device, Op: req.Op, Detect: req.Detect})
}

// SettingsAnswer is a reply as a viewer receives it.
type SettingsAnswer struct {
	OK        bool
	Detect    json.RawMessage
	Source    string
	Detecting bool
	Error     string
}

// Settings sends one request on the watch's settings channel (see
// ViewerConfig.Settings) and waits for the hub's reply.
func (w *Watch) Settings(ctx context.Context, op string, detect json.RawMessage) (SettingsAnswer, error) {
	if w.settings == nil {
		return SettingsAnswer{}, errors.New("this watch has no settings channel (ViewerConfig.Settings)")
	}
	raw, err := w.settings.request(ctx, w.failed, func(id string) any { return settingsWire{ID: id, Op: op, Detect: detect} })
	if err != nil {
		return SettingsAnswer{}, err
	}
	var r settingsWire
	if err := json.Unmarshal(raw, &r); err != nil {
		return SettingsAnswer{}, fmt.Errorf("the hub's reply: %w", err)
	}
	a := SettingsAnswer{OK: r.OK, Detect: r.Detect, Source: r.Source, Error: r.Error}
	if r.Detecting != nil {
		a.Detecting = *r.Detecting
	}
	return a, nil
}
