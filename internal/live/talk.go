package live

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/g711"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"

	"vigil/internal/proctail"
)

// Talk-back: a viewer's microphone to the camera's speaker (docs/FORMAT.md,
// "Talk channel"). The viewer sends G.711 (PCMU, 8 kHz) on the audio
// transceiver of its live session, so its voice travels in the session's
// DTLS-SRTP, bound to both device keys (G8); the cloud relays only the
// signalling. It asks to talk and to stop on the session's "talk" data
// channel. While it talks, the hub holds the camera's talk slot (one talker
// per camera) and an RTSP back channel to the camera (HubConfig.BackChannel,
// a session of its own, opened on the first request and closed when the
// talk ends), and passes the RTP payloads through a bounded queue: audio
// from a viewer that is not talking is dropped, a camera that stops taking
// audio loses packets and then the talk, never the hub's time.

// TalkLabel is the label of a live session's talk data channel.
const TalkLabel = "talk"

// Bounds of the talk path.
const (
	// talkQueue is the payloads waiting for the camera (about 1 s of
	// 20 ms packets); a full queue drops.
	talkQueue = 50
	// talkStall is how long a camera may take no audio (writes failing
	// or blocked, with audio waiting) before the talk ends.
	talkStall = 3 * time.Second
	// talkOpenTimeout bounds opening the camera's back channel.
	talkOpenTimeout = 5 * time.Second
	// maxTalkMessage bounds a message on the talk channel.
	maxTalkMessage = 256
	// talkRequestsPerSecond bounds a viewer's talk requests (a burst of
	// that many, then that many a second); beyond, the channel closes.
	talkRequestsPerSecond = 10
)

// Talk refusal codes, in TalkReply.Code.
const (
	TalkBusy      = "busy"       // someone else talks to this camera
	TalkNoSpeaker = "no-speaker" // the camera has no usable back channel, or the hub none configured
	TalkFailed    = "failed"     // the back channel failed or stalled
	TalkRefused   = "refused"    // the device may not talk (no longer a member)
)

// BackChannel is where a camera's talk audio goes. Write takes one µ-law
// payload and must not block on the network: a camera that does not keep
// up makes it fail (a full queue), and after talkStall of failures the hub
// ends the talk. Done is closed when the camera ends the session. Close
// ends it and may be called more than once.
type BackChannel interface {
	Write(pcmu []byte) error
	Done() <-chan struct{}
	Close() error
}

// BackChannelFunc opens camera's back channel; ctx bounds the opening.
type BackChannelFunc func(ctx context.Context, camera string) (BackChannel, error)

// ErrNoSpeaker, returned (wrapped) by a BackChannelFunc, means the camera
// has no speaker to talk to; the viewer is told so.
var ErrNoSpeaker = errors.New("this camera has no speaker")

// talkRequest is a message from the viewer on the talk channel.
type talkRequest struct {
	Talk bool `json:"talk"`
}

// TalkReply is the hub's message on the talk channel: talking or not, and
// why not.
type TalkReply struct {
	Talking bool   `json:"talking"`
	Code    string `json:"code,omitempty"`
	Error   string `json:"error,omitempty"`
}

// talk is one viewer's turn at a camera's speaker.
type talk struct {
	s      *session
	queue  chan []byte
	stop   chan struct{}
	cancel context.CancelFunc
	once   sync.Once
	reply  func(TalkReply)
	// prev is the camera's previous talk, whose back channel the camera
	// must have seen closed before this one opens; closed is closed once
	// this talk's is.
	prev   *talk
	closed chan struct{}

	lastOK            atomic.Int64 // unix nanos: the last payload the camera took (or the start)
	written, dropped  atomic.Uint64
	stallLogged, open atomic.Bool
}

// serveTalk answers one session's talk channel.
func (h *Hub) serveTalk(s *session, dc *webrtc.DataChannel) {
	var mu sync.Mutex
	allowance := newBudget(talkRequestsPerSecond, talkRequestsPerSecond)
	reply := func(r TalkReply) {
		r.Error = truncate(r.Error, maxErrorBytes)
		b, _ := json.Marshal(r)
		if err := dc.SendText(string(b)); err != nil {
			h.cfg.Logger.Debug("live talk: reply not sent", "session", s.id, "err", err)
		}
	}
	dc.OnMessage(func(msg webrtc.DataChannelMessage) {
		mu.Lock()
		defer mu.Unlock()
		if !allowance.take(time.Now()) || len(msg.Data) > maxTalkMessage || !msg.IsString {
			h.cfg.Logger.Info("live talk: channel closed, the viewer sent too much", "session", s.id)
			h.stopTalk(s, nil)
			dc.Close()
			return
		}
		var req talkRequest
		if err := json.Unmarshal(msg.Data, &req); err != nil {
			reply(TalkReply{Code: TalkFailed, Error: "a talk request is {\"talk\":true} or {\"talk\":false}"})
			return
		}
		switch {
		case req.Talk:
			h.startTalk(s, reply)
		case s.talk.Load() != nil:
			h.stopTalk(s, &TalkReply{})
		default:
			reply(TalkReply{})
		}
	})
	dc.OnClose(func() { h.stopTalk(s, nil) })
}

// startTalk makes s the camera's talker, unless someone else is.
func (h *Hub) startTalk(s *session, reply func(TalkReply)) {
	h.mu.Lock()
	if cur := h.talkers[s.camera]; cur != nil {
		h.mu.Unlock()
		if cur.s == s {
			if cur.open.Load() {
				reply(TalkReply{Talking: true})
			}
			return // the reply comes when the back channel is open
		}
		reply(TalkReply{Code: TalkBusy, Error: fmt.Sprintf("Someone else in the household is talking through %s right now; try again when they stop.", s.camera)})
		return
	}
	switch {
	case h.closed || h.sessions[s.id] != s:
		h.mu.Unlock()
		return
	case h.cfg.BackChannel == nil:
		h.mu.Unlock()
		reply(TalkReply{Code: TalkNoSpeaker, Error: "This hub cannot talk through cameras."})
		return
	case !admitted(h.cfg.Chain(), h.cfg.Household, s.device):
		h.mu.Unlock()
		reply(TalkReply{Code: TalkRefused, Error: "This device is no longer an admin or member of the household."})
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	t := &talk{s: s, queue: make(chan []byte, talkQueue), stop: make(chan struct{}), cancel: cancel, reply: reply,
		prev: h.lastTalk[s.camera], closed: make(chan struct{})}
	t.lastOK.Store(time.Now().UnixNano())
	h.talkers[s.camera] = t
	h.lastTalk[s.camera] = t
	s.talk.Store(t)
	h.wg.Add(1)
	h.mu.Unlock()
	go h.runTalk(ctx, t)
}

// stopTalk ends s's talk, if it has one; r, when not nil, is sent to the
// viewer.
func (h *Hub) stopTalk(s *session, r *TalkReply) {
	if t := s.talk.Load(); t != nil {
		h.endTalk(t, r)
	}
}

// endTalk ends t once: the camera's slot is free, its back channel closed.
func (h *Hub) endTalk(t *talk, r *TalkReply) {
	t.once.Do(func() {
		close(t.stop)
		t.cancel()
		h.mu.Lock()
		if h.talkers[t.s.camera] == t {
			delete(h.talkers, t.s.camera)
		}
		t.s.talk.CompareAndSwap(t, nil)
		h.mu.Unlock()
		// runTalk closes the back channel (a stalled camera's TEARDOWN
		// may take a while: not on the caller's goroutine).
		if r != nil {
			t.reply(*r)
		}
	})
}

// runTalk opens the camera's back channel and writes the talker's audio to
// it until the talk ends.
func (h *Hub) runTalk(ctx context.Context, t *talk) {
	defer h.wg.Done()
	defer func() {
		close(t.closed)
		h.mu.Lock()
		if h.lastTalk[t.s.camera] == t {
			delete(h.lastTalk, t.s.camera)
		}
		h.mu.Unlock()
	}()
	log := h.cfg.Logger.With("session", t.s.id, "camera", t.s.camera, "device", t.s.device)
	if t.prev != nil {
		// Cameras take one talker: wait for the last one's TEARDOWN.
		select {
		case <-t.prev.closed:
		case <-t.stop:
			return
		}
		t.prev = nil
	}
	octx, ocancel := context.WithTimeout(ctx, talkOpenTimeout)
	sink, err := h.cfg.BackChannel(octx, t.s.camera)
	ocancel()
	if err != nil {
		code, msg := TalkFailed, fmt.Sprintf("The camera %s did not accept talk audio: %v", t.s.camera, err)
		if errors.Is(err, ErrNoSpeaker) {
			code, msg = TalkNoSpeaker, fmt.Sprintf("The camera %s has no speaker to talk through.", t.s.camera)
		}
		log.Info("talk refused", "err", err)
		h.endTalk(t, &TalkReply{Code: code, Error: msg})
		return
	}
	select {
	case <-t.stop: // ended while opening
		sink.Close()
		return
	default:
	}
	t.lastOK.Store(time.Now().UnixNano())
	t.open.Store(true)
	log.Info("talk started")
	t.reply(TalkReply{Talking: true})
	defer func() {
		sink.Close()
		log.Info("talk ended", "packets", t.written.Load(), "dropped", t.dropped.Load())
	}()
	for {
		select {
		case <-t.stop:
			return
		case <-sink.Done():
			log.Info("talk ended by the camera")
			h.endTalk(t, &TalkReply{Code: TalkFailed, Error: fmt.Sprintf("The camera %s ended the talk.", t.s.camera)})
			return
		case p := <-t.queue:
			if err := sink.Write(p); err != nil {
				t.dropped.Add(1)
				h.talkTrouble(t, log, err)
				continue
			}
			t.written.Add(1)
			t.lastOK.Store(time.Now().UnixNano())
		}
	}
}

// talkTrouble notes a payload the camera did not take: the first is
// logged, and past talkStall without one taken the talk ends.
func (h *Hub) talkTrouble(t *talk, log *slog.Logger, err error) {
	if t.stallLogged.CompareAndSwap(false, true) {
		log.Warn("talk audio not taken by the camera; dropping it", "err", proctail.Describe(err))
	}
	if time.Since(time.Unix(0, t.lastOK.Load())) > talkStall {
		log.Warn("talk ended: the camera has taken no audio for a while", "for", talkStall)
		h.endTalk(t, &TalkReply{Code: TalkFailed, Error: fmt.Sprintf("The camera %s stopped taking talk audio.", t.s.camera)})
	}
}

// readTalk reads the viewer's microphone track for the whole session:
// while the viewer talks, each payload goes to the talk's queue (as
// µ-law); otherwise it is dropped. It never blocks on the camera.
func (h *Hub) readTalk(s *session, tr *webrtc.TrackRemote) {
	defer h.wg.Done()
	var alaw *[256]byte // A-law to µ-law, made on the first PCMA packet
	for {
		p, _, err := tr.ReadRTP()
		if err != nil {
			return
		}
		t := s.talk.Load()
		if t == nil {
			continue
		}
		pcmu, ok := talkPayload(p.PayloadType, p.Payload, &alaw)
		if !ok {
			continue
		}
		select {
		case t.queue <- pcmu:
		default:
			t.dropped.Add(1)
			if t.open.Load() {
				h.talkTrouble(t, h.cfg.Logger.With("session", s.id, "camera", s.camera), errors.New("the talk queue is full"))
			} else if time.Since(time.Unix(0, t.lastOK.Load())) > talkOpenTimeout+time.Second {
				h.endTalk(t, &TalkReply{Code: TalkFailed, Error: fmt.Sprintf("The camera %s did not open its speaker in time.", s.camera)})
			}
		}
	}
}

// talkPayload checks one RTP payload from a viewer's microphone and
// returns it as µ-law: PCMU as it is (copied), PCMA converted (*alaw is
// the table, made when first needed); anything else, empty, or over
// maxAudioPayload is refused.
func talkPayload(pt uint8, payload []byte, alaw **[256]byte) ([]byte, bool) {
	if len(payload) == 0 || len(payload) > maxAudioPayload {
		return nil, false
	}
	switch webrtc.PayloadType(pt) {
	case audioCaps["PCMU"].pt:
		return clone(payload), true
	case audioCaps["PCMA"].pt:
		if *alaw == nil {
			t := alawToMulaw()
			*alaw = &t
		}
		out := make([]byte, len(payload))
		for i, b := range payload {
			out[i] = (*alaw)[b]
		}
		return out, true
	}
	return nil, false
}

// alawToMulaw is the A-law to µ-law table (through the linear sample).
func alawToMulaw() (table [256]byte) {
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	enc, _ := g711.Mulaw(g711.DecodeAlaw(all)).Marshal()
	copy(table[:], enc)
	return table
}

// Talker returns the session ID of the viewer talking through camera, or
// "".
func (h *Hub) Talker(camera string) string {
	h.mu.Lock()
	defer h.mu.Unlock()
	if t := h.talkers[camera]; t != nil {
		return t.s.id
	}
	return ""
}

// watchTalk is a Go viewer's microphone and talk channel.
type watchTalk struct {
	mic     *webrtc.TrackLocalStaticSample
	dc      *webrtc.DataChannel
	open    chan struct{}
	replies chan TalkReply
	mu      sync.Mutex // one request at a time
}

func newWatchTalk(pc *webrtc.PeerConnection) (*watchTalk, error) {
	mic, err := webrtc.NewTrackLocalStaticSample(audioCaps["PCMU"].cap, "microphone", "vigil-viewer")
	if err != nil {
		return nil, err
	}
	tr, err := pc.AddTransceiverFromTrack(mic, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendrecv})
	if err != nil {
		return nil, err
	}
	go func() { // RTCP from the hub
		buf := make([]byte, 1500)
		for {
			if _, _, err := tr.Sender().Read(buf); err != nil {
				return
			}
		}
	}()
	dc, err := pc.CreateDataChannel(TalkLabel, nil)
	if err != nil {
		return nil, err
	}
	wt := &watchTalk{mic: mic, dc: dc, open: make(chan struct{}), replies: make(chan TalkReply, 8)}
	dc.OnOpen(func() { close(wt.open) })
	dc.OnMessage(func(m webrtc.DataChannelMessage) {
		var r TalkReply
		if json.Unmarshal(m.Data, &r) != nil {
			return
		}
		select {
		case wt.replies <- r:
		default:
		}
	})
	return wt, nil
}

// TalkError is the hub's refusal of a talk request.
type TalkError struct{ Code, Msg string }

func (e *TalkError) Error() string { return e.Msg }

// Talk asks the hub to start (on) or stop talking through the camera and
// waits for its answer: nil once the camera's speaker is open (or the
// talk stopped), a *TalkError when the hub refuses. The session must have
// been started with ViewerConfig.Talk.
func (w *Watch) Talk(ctx context.Context, on bool) error {
	wt := w.talk
	if wt == nil {
		return errors.New("live: the session was started without Talk")
	}
	wt.mu.Lock()
	defer wt.mu.Unlock()
	select {
	case <-wt.open:
	case <-ctx.Done():
		return ctx.Err()
	}
	for len(wt.replies) > 0 { // stale news (a talk ended by the hub)
		<-wt.replies
	}
	b, _ := json.Marshal(talkRequest{Talk: on})
	if err := wt.dc.SendText(string(b)); err != nil {
		return err
	}
	for {
		select {
		case r := <-wt.replies:
			switch {
			case r.Talking == on:
				return nil
			case on:
				return &TalkError{Code: r.Code, Msg: r.Error}
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Speak sends one µ-law payload (one byte per 8 kHz sample) on the
// microphone track, as a browser's microphone would.
func (w *Watch) Speak(pcmu []byte) error {
	if w.talk == nil {
		return errors.New("live: the session was started without Talk")
	}
	return w.talk.mic.WriteSample(media.Sample{Data: pcmu, Duration: time.Duration(len(pcmu)) * time.Second / audioRate})
}
