// Package live is live view on the hub: each camera's H.264 access units
// are tapped once (Tap) and passed through, without transcoding, to every
// viewer over WebRTC (pion), with the camera's audio (G.711 and Opus
// passed through, AAC transcoded to Opus by one ffmpeg per camera while
// someone listens), and the viewers are admitted only on a
// signature the household chain vouches for (G8).
//
// A viewer's offer carries its DTLS fingerprint signed by its device key
// with the household, session, camera and time; the hub answers only a
// device that is an admin or member in the chain it verified, and only when
// the signed fingerprint is the one in the offer's SDP. Its answer carries
// its own DTLS fingerprint signed by the hub's device key, bound to the
// viewer's fingerprint, which the viewer checks against the hub key in its
// own verified chain and against the answer's SDP. DTLS then enforces both
// fingerprints, so a relay that swaps either makes the session fail.
//
// A viewer may also talk to the camera's speaker (talk.go): its microphone
// comes in on the same connection, and the hub writes it to the camera's
// back channel (HubConfig.BackChannel), one talker per camera, through
// bounded queues that never let a camera stall the hub.
//
// The cloud only relays the messages (docs/FORMAT.md, "Live view
// signalling"). This package never logs keys, signatures or media.
package live

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"

	"vigil/internal/keydir"
)

// DefaultMaxSessions bounds the concurrent viewers of a hub.
const DefaultMaxSessions = 16

// NetOptions tune ICE gathering (tests use loopback host candidates).
type NetOptions struct {
	// Loopback gathers loopback candidates too.
	Loopback bool
	// Interfaces, when set, keeps only the interfaces it accepts.
	Interfaces func(name string) bool
	// RelayOnly uses only TURN-relayed candidates.
	RelayOnly bool
}

func (n NetOptions) api() *webrtc.API {
	var se webrtc.SettingEngine
	if n.Loopback {
		se.SetIncludeLoopbackCandidate(true)
	}
	if n.Interfaces != nil {
		se.SetInterfaceFilter(n.Interfaces)
	}
	// Data channels carry only settings requests and replies (at most
	// MaxSettingsMessage): a peer gets no more than twice that in one
	// message, or buffered unread.
	se.SetSCTPMaxMessageSize(2 * MaxSettingsMessage)
	se.SetSCTPMaxReceiveBufferSize(4 * MaxSettingsMessage)
	me := &webrtc.MediaEngine{}
	_ = me.RegisterCodec(webrtc.RTPCodecParameters{RTPCodecCapability: h264Cap, PayloadType: 102}, webrtc.RTPCodecTypeVideo)
	// The camera's audio: G.711 (static payload types) or Opus. PCMU
	// first, then PCMA, then Opus: the answer lists them in this order,
	// so a browser talks in PCMU (talk.go takes G.711 only).
	for _, name := range []string{"PCMU", "PCMA", "opus"} {
		c := audioCaps[name]
		_ = me.RegisterCodec(webrtc.RTPCodecParameters{RTPCodecCapability: c.cap, PayloadType: c.pt}, webrtc.RTPCodecTypeAudio)
	}
	return webrtc.NewAPI(webrtc.WithSettingEngine(se), webrtc.WithMediaEngine(me))
}

var h264Cap = webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: clockRate,
	SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"}

// audioCaps are the audio codecs a live session can carry, by
// Tap.AudioCodec's name: the camera's G.711 and Opus without transcoding,
// and Opus transcoded from the camera's AAC.
var audioCaps = map[string]struct {
	cap webrtc.RTPCodecCapability
	pt  webrtc.PayloadType
}{
	"PCMU": {webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypePCMU, ClockRate: audioRate, Channels: 1}, 0},
	"PCMA": {webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypePCMA, ClockRate: audioRate, Channels: 1}, 8},
	"opus": {webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: opusRate, Channels: 2,
		SDPFmtpLine: "minptime=10;useinbandfec=1"}, 111},
}

// HubConfig configures a Hub.
type HubConfig struct {
	Household string                   // the household the hub is paired with
	Key       ed25519.PrivateKey       // the hub's device key
	Chain     func() *keydir.State     // the chain the hub verified
	Tap       func(camera string) *Tap // nil for an unknown camera
	Cameras   func() []string
	// Refresh, when set, fetches and verifies the chain again; the hub
	// calls it (at most every RefreshEvery) when an offer names a device
	// it does not know, so a browser enrolled a moment ago is admitted.
	Refresh func(ctx context.Context) error
	// ChainChanged, when set, is called when the cloud says the household
	// chain has a new link (a signalling message of type "chain"). The
	// cloud is not trusted with what changed: the caller fetches and
	// verifies the chain, then calls [Hub.Revoke]. It must not block.
	ChainChanged func()
	// Settings, when set, answers the requests a viewer sends on its
	// session's settings data channel (settings.go).
	Settings SettingsFunc
	// BackChannel, when set, opens a camera's speaker for a viewer who
	// talks (talk.go); without it talk requests are refused.
	BackChannel BackChannelFunc
	// CameraAdmin, when set, answers the requests an admin sends on its
	// session's cameras data channel (cameras.go).
	CameraAdmin CamerasFunc
	// Redact, when set, redacts the clips member devices send on their
	// session's redact data channel (redact.go), in private directories
	// made under RedactDir (the system's temporary directory when empty),
	// of at most MaxRedactClip bytes (DefaultMaxRedactClip when zero).
	Redact        RedactFunc
	RedactDir     string
	MaxRedactClip int64
	Net           NetOptions
	MaxSessions   int
	Now           func() time.Time
	Logger        *slog.Logger
}

// Hub answers viewers' offers.
type Hub struct {
	cfg HubConfig
	api *webrtc.API
	id  string

	mu       sync.Mutex
	sessions map[string]*session
	seen     map[string]time.Time // session IDs used, until their offer is stale
	talkers  map[string]*talk     // camera -> its one talker (talk.go)
	lastTalk map[string]*talk     // camera -> its last talk until its back channel is closed
	closed   bool
	wg       sync.WaitGroup // talk goroutines

	refreshMu   sync.Mutex
	lastRefresh time.Time

	conns     sync.Map       // *lockedConn: the signalling connections, told of camera changes
	workers   sync.WaitGroup // the cameras channels' requests and the redactions
	redacting atomic.Bool    // a redaction holds the hub's one slot
}

// RefreshEvery bounds how often an unknown device makes the hub fetch the
// chain again.
const RefreshEvery = 5 * time.Second

func (h *Hub) refreshChain(ctx context.Context) bool {
	if h.cfg.Refresh == nil {
		return false
	}
	h.refreshMu.Lock()
	defer h.refreshMu.Unlock()
	if time.Since(h.lastRefresh) < RefreshEvery {
		return false
	}
	h.lastRefresh = time.Now()
	if err := h.cfg.Refresh(ctx); err != nil {
		h.cfg.Logger.Warn("live view: refreshing the household chain", "err", err)
		return false
	}
	return true
}

type session struct {
	id     string
	device string // the viewer's device ID, checked again when the chain changes
	camera string
	dc     atomic.Bool // a settings channel is open
	camDC  atomic.Bool // a cameras channel is open
	redDC  atomic.Bool // a redact channel is open

	extraChannels atomic.Int32 // data channels refused
	talkDC, mic   atomic.Bool  // a talk channel is open; the microphone track is read
	talk          atomic.Pointer[talk]
	pc            *webrtc.PeerConnection
	tap           *Tap
	stop          chan struct{}
	once          sync.Once
}

// NewHub returns a Hub.
func NewHub(cfg HubConfig) *Hub {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.MaxSessions == 0 {
		cfg.MaxSessions = DefaultMaxSessions
	}
	return &Hub{cfg: cfg, api: cfg.Net.api(), id: keydir.DeviceID(cfg.Key.Public().(ed25519.PublicKey)),
		sessions: map[string]*session{}, seen: map[string]time.Time{}, talkers: map[string]*talk{}, lastTalk: map[string]*talk{}}
}

// RefusedError is a viewer the hub did not admit, with the reason.
type RefusedError struct {
	Reason  string
	unknown bool // the device is not in the chain (a newer chain may list it)
}

func (e *RefusedError) Error() string { return "live view refused: " + e.Reason }

func refused(format string, a ...any) error { return &RefusedError{Reason: fmt.Sprintf(format, a...)} }

// checkOffer verifies a viewer's offer against the hub's verified chain.
func (h *Hub) checkOffer(m Message) (viewerFP string, err error) {
	if err := checkIDs(m.Session, m.Camera); err != nil {
		return "", refused("%v", err)
	}
	st := h.cfg.Chain()
	if st == nil || st.HouseholdID != h.cfg.Household {
		return "", refused("the hub has no verified household chain")
	}
	if !admitted(st, h.cfg.Household, m.Device) {
		return "", &RefusedError{Reason: fmt.Sprintf("device %q is not an admin or member device of the household", m.Device), unknown: true}
	}
	d := st.Devices[m.Device]
	fp, err := SDPFingerprint(m.SDP)
	if err != nil {
		return "", refused("offer: %v", err)
	}
	if !fingerprintRE.MatchString(m.Fingerprint) {
		return "", refused("the signed fingerprint is not a sha-256 fingerprint")
	}
	if !verifyB64(d.SignPub, OfferMessage(h.cfg.Household, m.Session, m.Camera, m.TS, m.Fingerprint), m.Sig) {
		return "", refused("the viewer's signature does not verify")
	}
	if fp != m.Fingerprint {
		return "", refused("the DTLS fingerprint in the offer is not the one the viewer signed: someone between the viewer and the hub changed it")
	}
	now := h.cfg.Now().UnixMilli()
	if m.TS < now-MaxClockSkew || m.TS > now+MaxClockSkew {
		return "", refused("the offer's time is more than 2 minutes from the hub's clock")
	}
	return fp, nil
}

// Offer answers a viewer's offer: an answer message, or an error message
// saying why not.
func (h *Hub) Offer(ctx context.Context, m Message) Message {
	ans, err := h.offer(ctx, m)
	if err != nil {
		code := CodeHubFailed
		var re *RefusedError
		switch {
		case errors.As(err, &re):
			code = CodeRefused
		case errors.Is(err, errNoCamera):
			code = CodeNoCamera
		case errors.Is(err, errBusy):
			code = CodeBusy
		}
		h.cfg.Logger.Info("live view refused", "session", m.Session, "camera", m.Camera, "device", m.Device, "err", err)
		return Message{Type: "error", Session: m.Session, Camera: m.Camera, Code: code, Error: err.Error()}
	}
	return ans
}

var (
	errNoCamera = errors.New("the hub has no such camera")
	errBusy     = errors.New("the hub has too many live viewers; try again later")
)

func (h *Hub) offer(ctx context.Context, m Message) (Message, error) {
	viewerFP, err := h.checkOffer(m)
	var re *RefusedError
	if errors.As(err, &re) && re.unknown && h.refreshChain(ctx) {
		viewerFP, err = h.checkOffer(m)
	}
	if err != nil {
		return Message{}, err
	}
	tap := h.cfg.Tap(m.Camera)
	if tap == nil {
		return Message{}, fmt.Errorf("%w: %q", errNoCamera, m.Camera)
	}
	h.mu.Lock()
	now := h.cfg.Now()
	for id, t := range h.seen {
		if now.Sub(t) > 2*MaxClockSkew*time.Millisecond {
			delete(h.seen, id)
		}
	}
	switch {
	case h.closed:
		h.mu.Unlock()
		return Message{}, errors.New("the hub is stopping")
	case len(h.sessions) >= h.cfg.MaxSessions:
		h.mu.Unlock()
		return Message{}, errBusy
	}
	if _, dup := h.seen[m.Session]; dup {
		h.mu.Unlock()
		return Message{}, refused("session %s was already offered (replay)", m.Session)
	}
	// Again under the lock: a Revoke between the check above and here
	// would not see this session.
	if !admitted(h.cfg.Chain(), h.cfg.Household, m.Device) {
		h.mu.Unlock()
		return Message{}, refused("device %q is no longer in the household", m.Device)
	}
	h.seen[m.Session] = now
	s := &session{id: m.Session, device: m.Device, camera: m.Camera, tap: tap, stop: make(chan struct{})}
	h.sessions[m.Session] = s
	h.mu.Unlock()

	ans, err := h.start(ctx, s, m, viewerFP)
	if err != nil {
		h.end(s)
		return Message{}, err
	}
	return ans, nil
}

func (h *Hub) start(ctx context.Context, s *session, m Message, viewerFP string) (Message, error) {
	pc, err := h.api.NewPeerConnection(webrtc.Configuration{ICEServers: pionICEServers(m.ICEServers)})
	if err != nil {
		return Message{}, err
	}
	// end reads s.pc under h.mu after closing s.stop: either it closes
	// this connection or this sees the session ended and closes it.
	h.mu.Lock()
	s.pc = pc
	h.mu.Unlock()
	select {
	case <-s.stop:
		pc.Close()
		return Message{}, errors.New("the session ended while it was being set up")
	default:
	}
	track, err := webrtc.NewTrackLocalStaticSample(h264Cap, "video", "vigil-"+m.Camera)
	if err != nil {
		return Message{}, err
	}
	sender, err := pc.AddTrack(track)
	if err != nil {
		return Message{}, err
	}
	go func() {
		buf := make([]byte, 1500)
		for {
			if _, _, err := sender.Read(buf); err != nil {
				return
			}
		}
	}()
	// The camera's audio, when viewers can have it: a second track on the
	// same connection (and so in the same DTLS-SRTP session as the video),
	// in a stream of its own so that the browser does not hold the sound
	// back to lip-sync it with the video, which starts at the last keyframe.
	var audio *webrtc.TrackLocalStaticSample
	if c, ok := audioCaps[s.tap.AudioCodec()]; ok {
		if audio, err = webrtc.NewTrackLocalStaticSample(c.cap, "audio", "vigil-"+m.Camera+"-audio"); err != nil {
			return Message{}, err
		}
		asender, err := pc.AddTrack(audio)
		if err != nil {
			return Message{}, err
		}
		go func() {
			buf := make([]byte, 1500)
			for {
				if _, _, err := asender.Read(buf); err != nil {
					return
				}
			}
		}()
	}
	connected := make(chan struct{})
	var connOnce sync.Once
	pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
		switch st {
		case webrtc.PeerConnectionStateConnected:
			connOnce.Do(func() { close(connected) })
		case webrtc.PeerConnectionStateFailed, webrtc.PeerConnectionStateClosed, webrtc.PeerConnectionStateDisconnected:
			go h.end(s)
		}
	})
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		// The viewer's microphone (one audio track), read for talk.
		if tr.Kind() == webrtc.RTPCodecTypeAudio && s.mic.CompareAndSwap(false, true) && h.track() {
			h.readTalk(s, tr)
		}
	})
	pc.OnDataChannel(func(dc *webrtc.DataChannel) {
		if dc.Label() == TalkLabel && s.talkDC.CompareAndSwap(false, true) {
			h.serveTalk(s, dc)
			return
		}
		if dc.Label() == CamerasLabel && s.camDC.CompareAndSwap(false, true) {
			h.serveCameras(s, dc)
			return
		}
		if dc.Label() == RedactLabel && s.redDC.CompareAndSwap(false, true) {
			h.serveRedact(s, dc)
			return
		}
		if dc.Label() != SettingsLabel || !s.dc.CompareAndSwap(false, true) {
			// One settings, one cameras, one redact and one talk channel per session, nothing else. A peer
			// that keeps opening channels loses the session: pion keeps
			// every channel until the connection ends.
			dc.Close()
			if s.extraChannels.Add(1) > maxExtraChannels {
				h.cfg.Logger.Info("live session ended: the viewer opened too many data channels", "session", s.id)
				go h.end(s)
			}
			return
		}
		h.serveSettings(s, dc)
	})
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: m.SDP}); err != nil {
		return Message{}, refused("offer: %v", err)
	}
	answer, err := pc.CreateAnswer(nil)
	if err != nil {
		return Message{}, err
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(answer); err != nil {
		return Message{}, err
	}
	select {
	case <-gathered:
	case <-ctx.Done():
		return Message{}, ctx.Err()
	case <-time.After(10 * time.Second):
		return Message{}, errors.New("gathering ICE candidates timed out")
	}
	sdp := pc.LocalDescription().SDP
	hubFP, err := SDPFingerprint(sdp)
	if err != nil {
		return Message{}, err
	}
	go h.feed(s, track, audio, connected)
	return Message{Type: "answer", Session: m.Session, Camera: m.Camera, Device: h.id, Fingerprint: hubFP,
		Sig: signB64(h.cfg.Key, AnswerMessage(h.cfg.Household, m.Session, m.Camera, viewerFP, hubFP)), SDP: sdp}, nil
}

// feed writes the camera's frames (and its audio, when audio is not nil)
// to one viewer once DTLS is up, starting with the current group of
// pictures.
func (h *Hub) feed(s *session, track, audio *webrtc.TrackLocalStaticSample, connected <-chan struct{}) {
	select {
	case <-connected:
	case <-s.stop:
		return
	case <-time.After(30 * time.Second):
		h.end(s)
		return
	}
	sub := s.tap.subscribe()
	defer s.tap.unsubscribe(sub)
	var prev int64
	have := false
	for {
		var f frame
		select {
		case <-s.stop:
			return
		case a := <-sub.audio:
			// Only the codec the session negotiated: the camera may have
			// come back with another one.
			if audio == nil || audio.Codec().MimeType != audioCaps[a.codec].cap.MimeType {
				continue
			}
			if err := audio.WriteSample(media.Sample{Data: a.payload, Duration: a.duration()}); err != nil {
				h.end(s)
				return
			}
			continue
		case f = <-sub.ch:
		}
		d := 33 * time.Millisecond
		if have && !f.burst {
			if diff := f.pts - prev; diff > 0 && diff < clockRate {
				d = time.Duration(diff) * time.Second / clockRate
			}
		}
		if f.burst {
			d = burstStep
		}
		prev, have = f.pts, true
		if err := track.WriteSample(media.Sample{Data: f.data, Duration: d}); err != nil {
			h.end(s)
			return
		}
	}
}

// CloseSession ends a viewer's session (the viewer left).
func (h *Hub) CloseSession(id string) {
	h.mu.Lock()
	s := h.sessions[id]
	h.mu.Unlock()
	if s != nil {
		h.end(s)
	}
}

func (h *Hub) end(s *session) {
	s.once.Do(func() {
		close(s.stop)
		h.stopTalk(s, nil)
		h.mu.Lock()
		pc := s.pc
		if h.sessions[s.id] == s {
			delete(h.sessions, s.id)
		}
		h.mu.Unlock()
		if pc != nil {
			pc.Close()
		}
	})
}

// Revoke ends the sessions of viewers that are no longer an admin or member
// device in the chain the hub verified (a device removed from the
// household, or the hub's household chain gone): removing a device stops
// what it is watching, not only its next offer. It returns how many
// sessions it ended.
func (h *Hub) Revoke() int {
	st := h.cfg.Chain()
	h.mu.Lock()
	var gone []*session
	for _, s := range h.sessions {
		if !admitted(st, h.cfg.Household, s.device) {
			gone = append(gone, s)
		}
	}
	h.mu.Unlock()
	for _, s := range gone {
		h.cfg.Logger.Info("live view ended: the device is no longer in the household", "session", s.id, "device", s.device)
		h.end(s)
	}
	return len(gone)
}

// admitted says whether device may watch live in household's chain st.
func admitted(st *keydir.State, household, device string) bool {
	if st == nil || st.HouseholdID != household {
		return false
	}
	d, ok := st.Devices[device]
	return ok && (d.Role == keydir.RoleAdmin || d.Role == keydir.RoleMember)
}

// Sessions returns the number of live sessions.
func (h *Hub) Sessions() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.sessions)
}

// EndCamera ends the live sessions watching camera (it was removed) but
// the session keep (the one that asked, which waits for the answer), and
// returns how many it ended.
func (h *Hub) EndCamera(camera, keep string) int {
	h.mu.Lock()
	var gone []*session
	for _, s := range h.sessions {
		if s.camera == camera && s.id != keep {
			gone = append(gone, s)
		}
	}
	h.mu.Unlock()
	for _, s := range gone {
		h.end(s)
	}
	return len(gone)
}

// CamerasChanged tells the cloud the hub's cameras again (a camera was
// added), so that viewers can ask for the new one.
func (h *Hub) CamerasChanged() {
	if h.cfg.Cameras == nil {
		return
	}
	cams := h.cfg.Cameras()
	h.conns.Range(func(k, _ any) bool {
		if err := k.(*lockedConn).write(Message{Type: "hello", Cameras: cams}); err != nil {
			h.cfg.Logger.Info("live view: the hub's cameras not sent", "err", err)
		}
		return true
	})
}

// Close ends every session and waits for the camera management requests
// in progress (cameras.go).
func (h *Hub) Close() {
	h.mu.Lock()
	h.closed = true
	var all []*session
	for _, s := range h.sessions {
		all = append(all, s)
	}
	h.mu.Unlock()
	for _, s := range all {
		h.end(s)
	}
	h.wg.Wait()
	h.workers.Wait()
}

// track counts a talk goroutine unless the hub is closing.
func (h *Hub) track() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return false
	}
	h.wg.Add(1)
	return true
}

// Serve answers the offers arriving on one signalling connection until it
// fails or ctx is done. It first tells the cloud the hub's cameras.
func (h *Hub) Serve(ctx context.Context, c Conn) error {
	lc := &lockedConn{c: c}
	var cams []string
	if h.cfg.Cameras != nil {
		cams = h.cfg.Cameras()
	}
	if err := lc.write(Message{Type: "hello", Cameras: cams}); err != nil {
		return err
	}
	h.conns.Store(lc, true)
	defer h.conns.Delete(lc)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		<-ctx.Done()
		c.Close()
	}()
	var mine sync.Map
	defer mine.Range(func(k, _ any) bool { h.CloseSession(k.(string)); return true })
	for {
		var m Message
		if err := c.ReadJSON(&m); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return err
		}
		switch m.Type {
		case "offer":
			mine.Store(m.Session, true)
			go func() {
				ans := h.Offer(ctx, m)
				if err := lc.write(ans); err != nil {
					h.CloseSession(m.Session)
				}
			}()
		case "close":
			h.CloseSession(m.Session)
			mine.Delete(m.Session)
		case "chain":
			if h.cfg.ChainChanged != nil {
				h.cfg.ChainChanged()
			}
		}
	}
}
