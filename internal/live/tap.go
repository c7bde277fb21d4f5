package live

import (
	"sync"
	"time"
)

// Bounds of a Tap. A viewer whose queue is full loses frames up to the next
// keyframe; the camera's ingest never waits for a viewer.
const (
	// viewerQueue is the number of access units waiting for one viewer
	// (about 2 s at 30 fps).
	viewerQueue = 64
	// gopMaxFrames and gopMaxBytes bound the frames kept since the last
	// keyframe, which a new viewer starts from.
	gopMaxFrames = 300
	gopMaxBytes  = 8 << 20
	// clockRate is the H.264 RTP clock.
	clockRate = 90000
	// audioQueue is the number of audio packets waiting for one viewer
	// (about 1 s of 20 ms packets); a viewer whose queue is full loses
	// packets.
	audioQueue = 50
	// audioRate is the G.711 clock (one byte per sample).
	audioRate = 8000
	// maxAudioPayload bounds one G.711 packet (250 ms); larger ones are
	// dropped.
	maxAudioPayload = 2000
)

// audioPacket is one G.711 or Opus RTP payload for the viewers.
type audioPacket struct {
	codec   string // "PCMU", "PCMA" or "opus"
	payload []byte
	pts     int64 // in audioRate units (G.711) or opusRate units (Opus)
}

// frame is one H.264 access unit in Annex-B form, ready for the payloader.
type frame struct {
	data []byte
	pts  int64 // in clockRate units
	key  bool
	// burst marks frames of the group of pictures a viewer starts with:
	// they are sent back to back so the first picture shows at once.
	burst bool
}

// Tap fans one camera's H.264 access units out to its live viewers. The
// camera's ingest calls Start, Video and Stop (never concurrently); viewers
// subscribe and unsubscribe from any goroutine. Video never blocks: a
// viewer that cannot keep up loses frames until the next keyframe.
type Tap struct {
	mu       sync.Mutex
	sps, pps []byte
	gop      []frame // since the last keyframe (starting with it)
	gopBytes int
	subs     map[*subscriber]struct{}
	frames   uint64
	audio    string // "PCMU", "PCMA", "opus" or "" (no audio for viewers)
	audioIn  uint64
	tc       transcode // AAC to Opus (aac.go)
}

// NewTap returns a Tap with no session yet.
func NewTap() *Tap { return &Tap{subs: map[*subscriber]struct{}{}} }

type subscriber struct {
	ch       chan frame
	audio    chan audioPacket
	needKey  bool // lost a frame: wait for the next keyframe
	dropped  uint64
	released bool
}

// Start begins a camera session with its parameter sets (either may be nil:
// then they are taken from the stream).
func (t *Tap) Start(sps, pps []byte) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.sps, t.pps = clone(sps), clone(pps)
	t.gop, t.gopBytes = nil, 0
}

// Stop ends the camera session: viewers wait for the next session's
// keyframe.
func (t *Tap) Stop() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.gop, t.gopBytes = nil, 0
	t.audio = ""
	t.tc.aac = nil
	t.stopTranscoderLocked()
	for s := range t.subs {
		s.needKey = true
	}
}

// SetAudio names the G.711 codec of the camera session's audio ("PCMU" or
// "PCMA"); anything else (or "") means no audio for live viewers. A Stop
// clears it.
func (t *Tap) SetAudio(codec string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	switch codec {
	case "PCMU", "PCMA":
		t.audio = codec
	default:
		t.audio = ""
	}
}

// AudioCodec returns the codec viewers get for this session: "PCMU" or
// "PCMA" (SetAudio), "opus" (SetAudioCodec) or "".
func (t *Tap) AudioCodec() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.audio
}

// AudioPackets returns the number of audio packets the tap has passed on.
func (t *Tap) AudioPackets() uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.audioIn
}

// Audio passes one G.711 payload (pts in the 8 kHz clock) to every viewer.
// It is dropped when the session has no audio codec set, is empty or
// larger than maxAudioPayload. It never blocks: a viewer that cannot keep
// up loses packets.
func (t *Tap) Audio(pts int64, payload []byte) {
	if len(payload) == 0 || len(payload) > maxAudioPayload {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.audio != "PCMU" && t.audio != "PCMA" {
		return
	}
	t.audioIn++
	if len(t.subs) == 0 {
		return
	}
	p := audioPacket{codec: t.audio, payload: clone(payload), pts: pts}
	for s := range t.subs {
		select {
		case s.audio <- p:
		default:
			s.dropped++
		}
	}
}

// Frames returns the number of access units the tap has received.
func (t *Tap) Frames() uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.frames
}

// Viewers returns the number of subscribed viewers.
func (t *Tap) Viewers() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.subs)
}

// Video passes one access unit (NAL units without start codes; pts in the
// 90 kHz clock) to every viewer. It never blocks.
func (t *Tap) Video(pts int64, au [][]byte) {
	key := false
	for _, n := range au {
		if len(n) == 0 {
			continue
		}
		switch n[0] & 0x1f {
		case 5:
			key = true
		case 7:
			t.mu.Lock()
			t.sps = clone(n)
			t.mu.Unlock()
		case 8:
			t.mu.Lock()
			t.pps = clone(n)
			t.mu.Unlock()
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.frames++
	if !key && len(t.gop) == 0 && len(t.subs) == 0 {
		return
	}
	f := frame{data: t.annexB(au, key), pts: pts, key: key}
	if key {
		t.gop, t.gopBytes = t.gop[:0:0], 0
	}
	if len(t.gop) > 0 || key {
		if len(t.gop) < gopMaxFrames && t.gopBytes+len(f.data) <= gopMaxBytes {
			t.gop = append(t.gop, f)
			t.gopBytes += len(f.data)
		} else {
			// A group too long to keep: new viewers wait for a keyframe.
			t.gop, t.gopBytes = nil, 0
		}
	}
	for s := range t.subs {
		if s.needKey {
			if !key {
				continue
			}
			s.needKey = false
		}
		select {
		case s.ch <- f:
		default:
			s.dropped++
			s.needKey = true
		}
	}
}

// annexB joins the NAL units of an access unit with start codes, putting
// the parameter sets in front of a keyframe that lacks them.
func (t *Tap) annexB(au [][]byte, key bool) []byte {
	hasSPS, hasPPS := false, false
	n := 0
	for _, u := range au {
		if len(u) > 0 {
			switch u[0] & 0x1f {
			case 7:
				hasSPS = true
			case 8:
				hasPPS = true
			}
		}
		n += 4 + len(u)
	}
	var pre [][]byte
	if key && !hasSPS && t.sps != nil {
		pre = append(pre, t.sps)
	}
	if key && !hasPPS && t.pps != nil {
		pre = append(pre, t.pps)
	}
	out := make([]byte, 0, n+8+len(t.sps)+len(t.pps))
	for _, u := range append(pre, au...) {
		if len(u) == 0 {
			continue
		}
		out = append(out, 0, 0, 0, 1)
		out = append(out, u...)
	}
	return out
}

// subscribe adds a viewer. Its queue starts with the current group of
// pictures (from the last keyframe, marked burst) when there is one, so the
// first picture needs no wait for the camera's next keyframe.
func (t *Tap) subscribe() *subscriber {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := &subscriber{ch: make(chan frame, viewerQueue+gopMaxFrames), audio: make(chan audioPacket, audioQueue), needKey: true}
	if len(t.gop) > 0 {
		s.needKey = false
		for _, f := range t.gop {
			f.burst = true
			s.ch <- f
		}
	}
	t.subs[s] = struct{}{}
	return s
}

func (t *Tap) unsubscribe(s *subscriber) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.subs, s)
	if len(t.subs) == 0 {
		t.stopTranscoderLocked() // nobody listens
	}
}

func clone(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte(nil), b...)
}

// burstStep is the spacing given to the frames of a starting group of
// pictures, so the receiver shows them at once and then plays live.
const burstStep = time.Millisecond
