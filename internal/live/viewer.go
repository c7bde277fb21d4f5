package live

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"vigil/internal/keydir"
)

// ViewerConfig configures a Go viewer (what the browser does, for tests and
// tools).
type ViewerConfig struct {
	Household string
	Camera    string
	Keys      *keydir.DeviceKeys // the viewer's device keys
	Chain     *keydir.State      // the chain the viewer verified
	ICE       []ICEServer
	Net       NetOptions
	Now       func() time.Time
	// Settings opens the session's settings data channel (Watch.Settings).
	Settings bool
	// Talk sends a microphone track (PCMU) and opens the talk channel
	// (Watch.Talk, Watch.Speak).
	Talk bool
	// Cameras opens the session's cameras data channel (Watch.Cameras).
	Cameras bool
	// Redact opens the session's redact data channel (Watch.Redact).
	Redact bool
}

// Exchange sends an offer to the hub and returns its reply (an answer or an
// error message).
type Exchange func(ctx context.Context, offer Message) (Message, error)

// Watch is a running Go viewer.
type Watch struct {
	Session string
	pc      *webrtc.PeerConnection

	frames, bytes atomic.Uint64
	firstNAL      atomic.Int32 // NAL type (STAP-A unpacked) of the first packet
	first         chan struct{}
	once          sync.Once
	failed        chan struct{}
	failOnce      sync.Once

	audioMu      sync.Mutex
	audioMime    string // of the received audio track
	audioPackets uint64
	audioData    []byte        // the first maxWatchAudio bytes of audio payload
	audioRTP     []*rtp.Packet // the first maxWatchPackets audio packets

	talk *watchTalk // the microphone and talk channel, if asked for

	settings *watchChannel // if asked for
	cameras  *watchChannel // if asked for
	redact   *watchRedact  // if asked for
}

// NewSessionID returns a random session ID.
func NewSessionID() string {
	var b [16]byte
	rand.Read(b[:])
	return b64.EncodeToString(b[:])
}

// HubError is a refusal or failure reported by the hub or the relay.
type HubError struct{ Code, Msg string }

func (e *HubError) Error() string { return e.Msg }

// ErrHubSignature: the answer's fingerprint signature does not check
// against the hub key in the viewer's verified chain, or is not the
// fingerprint of the answer's SDP.
var ErrHubSignature = errors.New("the hub's signature does not match this connection: someone between you and the hub changed it")

// StartWatch offers to watch a camera and checks the hub's answer (G8).
func StartWatch(ctx context.Context, cfg ViewerConfig, ex Exchange) (*Watch, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	pc, err := cfg.Net.api().NewPeerConnection(webrtc.Configuration{ICEServers: pionICEServers(cfg.ICE),
		ICETransportPolicy: map[bool]webrtc.ICETransportPolicy{true: webrtc.ICETransportPolicyRelay, false: webrtc.ICETransportPolicyAll}[cfg.Net.RelayOnly]})
	if err != nil {
		return nil, err
	}
	w := &Watch{Session: NewSessionID(), pc: pc, first: make(chan struct{}), failed: make(chan struct{})}
	ok := false
	defer func() {
		if !ok {
			pc.Close()
		}
	}()
	if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
		return nil, err
	}
	if cfg.Talk {
		if w.talk, err = newWatchTalk(pc); err != nil {
			return nil, err
		}
	} else if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeAudio, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
		return nil, err
	}
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		if tr.Kind() == webrtc.RTPCodecTypeAudio {
			w.readAudio(tr)
			return
		}
		for {
			p, _, err := tr.ReadRTP()
			if err != nil {
				return
			}
			if len(p.Payload) > 0 && w.bytes.Load() == 0 {
				t := p.Payload[0] & 0x1f
				if t == 24 && len(p.Payload) > 3 { // STAP-A: the first NAL inside
					t = p.Payload[3] & 0x1f
				}
				w.firstNAL.Store(int32(t))
			}
			w.bytes.Add(uint64(len(p.Payload)))
			if p.Marker {
				w.frames.Add(1)
				w.once.Do(func() { close(w.first) })
			}
		}
	})
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		if s == webrtc.PeerConnectionStateFailed || s == webrtc.PeerConnectionStateClosed {
			w.failOnce.Do(func() { close(w.failed) })
		}
	})
	if cfg.Settings {
		if w.settings, err = newWatchChannel(pc, SettingsLabel, "settings", "r"); err != nil {
			return nil, err
		}
	}
	if cfg.Cameras {
		if w.cameras, err = newWatchChannel(pc, CamerasLabel, "cameras", "c"); err != nil {
			return nil, err
		}
	}
	if cfg.Redact {
		if w.redact, err = newWatchRedact(pc); err != nil {
			return nil, err
		}
	}
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		return nil, err
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		return nil, err
	}
	select {
	case <-gathered:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	sdp := pc.LocalDescription().SDP
	fp, err := SDPFingerprint(sdp)
	if err != nil {
		return nil, err
	}
	ts := cfg.Now().UnixMilli()
	m := Message{Type: "offer", Session: w.Session, Camera: cfg.Camera, Device: cfg.Keys.ID(), TS: ts, Fingerprint: fp,
		Sig: signB64(cfg.Keys.Sign, OfferMessage(cfg.Household, w.Session, cfg.Camera, ts, fp)), SDP: sdp}
	ans, err := ex(ctx, m)
	if err != nil {
		return nil, err
	}
	if ans.Type == "error" {
		return nil, &HubError{Code: ans.Code, Msg: ans.Error}
	}
	if ans.Type != "answer" || ans.Session != w.Session {
		return nil, fmt.Errorf("unexpected %q message for session %q", ans.Type, ans.Session)
	}
	if err := CheckAnswer(cfg.Chain, cfg.Household, cfg.Camera, fp, ans); err != nil {
		return nil, err
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: ans.SDP}); err != nil {
		return nil, err
	}
	ok = true
	return w, nil
}

// maxWatchAudio bounds the audio payload a Watch keeps (8 s of G.711);
// maxWatchPackets the audio packets it keeps whole (10 s of 20 ms).
const (
	maxWatchAudio   = 8 * audioRate
	maxWatchPackets = 500
)

func (w *Watch) readAudio(tr *webrtc.TrackRemote) {
	w.audioMu.Lock()
	w.audioMime = tr.Codec().MimeType
	w.audioMu.Unlock()
	for {
		p, _, err := tr.ReadRTP()
		if err != nil {
			return
		}
		w.audioMu.Lock()
		w.audioPackets++
		if n := maxWatchAudio - len(w.audioData); n > 0 {
			w.audioData = append(w.audioData, p.Payload[:min(n, len(p.Payload))]...)
		}
		if len(w.audioRTP) < maxWatchPackets {
			w.audioRTP = append(w.audioRTP, p)
		}
		w.audioMu.Unlock()
	}
}

// Audio returns the received audio track's MIME type ("" when the hub sent
// none), the number of its packets and the start of its payload (G.711:
// one byte per sample).
func (w *Watch) Audio() (mime string, packets uint64, data []byte) {
	w.audioMu.Lock()
	defer w.audioMu.Unlock()
	return w.audioMime, w.audioPackets, append([]byte(nil), w.audioData...)
}

// AudioRTP returns the first audio packets received (up to 500), as they
// came: for Opus, whose packets are not one byte per sample.
func (w *Watch) AudioRTP() []*rtp.Packet {
	w.audioMu.Lock()
	defer w.audioMu.Unlock()
	return append([]*rtp.Packet(nil), w.audioRTP...)
}

// CheckAnswer checks a hub's answer: signed by a hub of the verified chain,
// over this session, camera and viewer fingerprint, and naming the
// fingerprint the answer's SDP carries.
func CheckAnswer(chain *keydir.State, household, camera, viewerFP string, ans Message) error {
	d, ok := chain.Devices[ans.Device]
	if !ok || d.Role != keydir.RoleHub {
		return fmt.Errorf("%w (the answer is not from a hub of the household)", ErrHubSignature)
	}
	if !verifyB64(d.SignPub, AnswerMessage(household, ans.Session, camera, viewerFP, ans.Fingerprint), ans.Sig) {
		return ErrHubSignature
	}
	fp, err := SDPFingerprint(ans.SDP)
	if err != nil || fp != ans.Fingerprint {
		return ErrHubSignature
	}
	return nil
}

// First is closed when the first whole frame arrived.
func (w *Watch) First() <-chan struct{} { return w.first }

// Failed is closed when the connection failed or closed.
func (w *Watch) Failed() <-chan struct{} { return w.failed }

// Frames returns the frames (RTP marker bits) and payload bytes received.
func (w *Watch) Frames() (frames, bytes uint64) { return w.frames.Load(), w.bytes.Load() }

// FirstNAL returns the type of the first NAL unit received (7 = SPS).
func (w *Watch) FirstNAL() int { return int(w.firstNAL.Load()) }

// Close ends the viewer's side.
func (w *Watch) Close() error { return w.pc.Close() }

var _ = ed25519.PublicKeySize
