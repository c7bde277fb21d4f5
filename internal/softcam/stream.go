package softcam

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/bluenviron/gortsplib/v5/pkg/liberrors"
	"github.com/pion/rtp"
)

// maxLag is how far behind schedule a pacer may fall (a suspended process,
// an overloaded machine) before it skips ahead instead of bursting frames.
const maxLag = time.Second

// pace waits on timer until due, and reports false if ctx ends first. A
// pacer more than maxLag behind does not wait: it calls behind with the
// lag, adds the lag to *skipped (so the rest of the schedule moves with
// it) and returns due moved by the lag.
func pace(ctx context.Context, timer *time.Timer, due time.Time, skipped *time.Duration, behind func(lag time.Duration)) (time.Time, bool) {
	if wait := time.Until(due); wait > 0 {
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return due, false
		case <-timer.C:
		}
	} else if -wait > maxLag {
		behind(-wait)
		*skipped += -wait
		due = due.Add(-wait)
	}
	return due, ctx.Err() == nil
}

// camPath is one RTSP path: a live stream of the shared clip.
type camPath struct {
	name    string
	clip    *clip
	startAU int // index of the access unit the path starts with
	stream  *gortsplib.ServerStream
	media   *description.Media
	// audio is the looped audio track and audioMedia its SDP media; nil
	// when the camera serves video only.
	audio      *audioClip
	audioMedia *description.Media
	// bursts carries Server.Burst's requests to the audio pacer; nil
	// unless the audio serves bursts.
	bursts chan *burstRequest
	// backMedia is the ONVIF back channel's media, nil when not offered.
	backMedia *description.Media

	framesSent atomic.Uint64
	audioSent  atomic.Uint64

	mu       sync.Mutex // guards the fields below; held while writing a frame
	sessions map[*gortsplib.ServerSession]*sessionRec
	closed   []SessionStats // ring of the last maxClosedSessions, oldest first
}

// sessionRec is the per-session accounting of a reading session.
type sessionRec struct {
	remote    string
	transport string
	started   time.Time

	// dropped is written from gortsplib's write path (OnStreamWriteError),
	// which runs while camPath.mu is held by the pacer, hence atomic.
	dropped atomic.Uint64

	// guarded by camPath.mu
	lastSent    uint64 // session's outbound byte counter at the last check
	lastDropped uint64
	frames      uint64
	decodable   uint64
	synced      bool // got a complete IDR since the start or the last drop
}

func (r *sessionRec) snapshot() SessionStats {
	return SessionStats{
		Remote:          r.remote,
		Transport:       r.transport,
		Frames:          r.frames,
		DecodableFrames: r.decodable,
		DroppedPackets:  r.dropped.Load(),
		Started:         r.started,
	}
}

// newCamPath creates the stream of a path. startAU staggers paths: were
// they all to start on the same frame, every path would send its IDR
// frames in the same millisecond, a burst no real set of cameras makes.
//
// ac (optional) adds an audio track; back adds the ONVIF back channel, a
// sendonly PCMU track that gortsplib only describes to clients that send
// "Require: www.onvif.org/ver20/backchannel".
func newCamPath(name string, srv *gortsplib.Server, c *clip, startAU int, ac *audioClip, back bool) (*camPath, error) {
	media := &description.Media{
		Type: description.MediaTypeVideo,
		Formats: []format.Format{&format.H264{
			PayloadTyp:        payloadType,
			PacketizationMode: 1,
			SPS:               c.sps,
			PPS:               c.pps,
		}},
	}
	p := &camPath{
		name:     name,
		clip:     c,
		startAU:  startAU,
		media:    media,
		audio:    ac,
		sessions: make(map[*gortsplib.ServerSession]*sessionRec),
	}
	medias := []*description.Media{media}
	if ac != nil {
		p.audioMedia = ac.media()
		medias = append(medias, p.audioMedia)
		if ac.burst != nil {
			p.bursts = make(chan *burstRequest)
		}
	}
	if back {
		p.backMedia = backChannelMedia()
		medias = append(medias, p.backMedia)
	}
	p.stream = &gortsplib.ServerStream{
		Server: srv,
		Desc:   &description.Session{Title: "vigil softcam " + name, Medias: medias},
	}
	if err := p.stream.Initialize(); err != nil {
		return nil, err
	}
	return p, nil
}

// run paces the clip on the path until ctx is done. Deadlines are absolute
// offsets from start (a monotonic reading), so sleeping late never
// accumulates drift. Each loop shifts timestamps by the clip period, so RTP
// timestamps increase forever (modulo 2^32).
func (p *camPath) run(ctx context.Context, start time.Time, log *slog.Logger) {
	var seed [6]byte
	_, _ = rand.Read(seed[:])
	tsBase := binary.BigEndian.Uint32(seed[:4])
	seq := binary.BigEndian.Uint16(seed[4:])

	timer := time.NewTimer(0)
	defer timer.Stop()
	<-timer.C

	pkt := p.clip.aus[0].packets[0] // reused header; payloads stay shared
	// loopBase is added to clip timestamps in the current loop; the first
	// loop starts at startAU, which plays at start.
	loopBase := -p.clip.aus[p.startAU].dts
	var skipped time.Duration // wall time skipped after falling behind
	for first := p.startAU; ; first = 0 {
		for i := first; i < len(p.clip.aus); i++ {
			au := &p.clip.aus[i]
			due, ok := pace(ctx, timer, start.Add(skipped+ticksToDuration(loopBase+au.dts)), &skipped, func(lag time.Duration) {
				log.Warn("softcam: pacer fell behind, skipping ahead", "path", p.name, "lag", lag)
			})
			if !ok {
				return
			}

			ts := tsBase + uint32(loopBase+au.pts)
			p.mu.Lock()
			for j := range au.packets {
				pkt = au.packets[j]
				pkt.SequenceNumber = seq
				pkt.Timestamp = ts
				seq++
				// The error is only ErrServerStreamClosed, during Close.
				_ = p.stream.WritePacketRTPWithNTP(p.media, &pkt, due)
			}
			p.framesSent.Add(1)
			p.accountLocked(au)
			p.mu.Unlock()
		}
		loopBase += p.clip.period
	}
}

// accountLocked credits au to every playing session that was handed all of
// its packets since the previous frame. p.mu must be held.
//
// gortsplib exposes no per-packet hook, but it adds the size of every RTP
// packet it queues for a session to the session's outbound byte counter,
// synchronously inside WritePacketRTP. So the counter's growth across one
// access unit tells whether the session got none of it (not active yet, or
// paused), all of it, or part of it (it became active half way through).
// RTCP sender reports are added to the same counter, asynchronously; they
// only make the growth larger, and cannot start before a session got a
// complete IDR frame, so they cannot turn a partial frame into a full one.
func (p *camPath) accountLocked(au *accessUnit) {
	for ss, rec := range p.sessions {
		sent := outboundBytes(ss)
		delta := sent - rec.lastSent
		rec.lastSent = sent
		dropped := rec.dropped.Load()
		lost := dropped != rec.lastDropped
		rec.lastDropped = dropped

		switch {
		case lost:
			rec.synced = false // reference chain broken until the next IDR
		case delta >= au.size:
			rec.frames++
			if au.idr {
				rec.synced = true
			}
			if rec.synced {
				rec.decodable++
			}
		}
	}
}

// outboundBytes is the number of bytes (RTP and RTCP) gortsplib has handed
// to the session's write queue so far. It never decreases.
func outboundBytes(ss *gortsplib.ServerSession) uint64 {
	st := ss.Stats()
	if st == nil {
		return 0
	}
	return st.OutboundBytes
}

// addSession starts accounting for a session that is about to PLAY
// (gortsplib activates it right after OnPlay returns).
func (p *camPath) addSession(ss *gortsplib.ServerSession, remote, transport string) *sessionRec {
	p.mu.Lock()
	defer p.mu.Unlock()
	if rec, ok := p.sessions[ss]; ok {
		return rec // PLAY after PAUSE: keep counting where we were
	}
	rec := &sessionRec{
		remote:    remote,
		transport: transport,
		started:   time.Now(),
		lastSent:  outboundBytes(ss),
	}
	p.sessions[ss] = rec
	return rec
}

// removeSession moves a session's final counts to the closed list. It is
// called after gortsplib removed the session from the stream, so no frame
// written later can concern it.
func (p *camPath) removeSession(ss *gortsplib.ServerSession) (SessionStats, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	rec, ok := p.sessions[ss]
	if !ok {
		return SessionStats{}, false
	}
	delete(p.sessions, ss)
	st := rec.snapshot()
	st.Ended = time.Now()
	if len(p.closed) == maxClosedSessions {
		copy(p.closed, p.closed[1:])
		p.closed = p.closed[:maxClosedSessions-1]
	}
	p.closed = append(p.closed, st)
	return st, true
}

func (p *camPath) stats() PathStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	ps := PathStats{
		Path:             p.name,
		FramesSent:       p.framesSent.Load(),
		AudioPacketsSent: p.audioSent.Load(),
		ClosedSessions:   append([]SessionStats(nil), p.closed...),
	}
	for _, rec := range p.sessions {
		ps.Sessions = append(ps.Sessions, rec.snapshot())
	}
	slices.SortFunc(ps.Sessions, func(a, b SessionStats) int { return a.Started.Compare(b.Started) })
	return ps
}

// handler answers gortsplib's callbacks. gortsplib calls it from connection
// and session goroutines; it never blocks on the network.
type handler struct {
	s     *Server
	ready atomic.Bool // false before Start completes and once Close begins
	// recs maps a playing *gortsplib.ServerSession to its *sessionRec, for
	// OnStreamWriteError, which runs inside the pacer's critical section.
	recs sync.Map
}

// lookup finds the path for an RTSP request path ("/cam" or "cam").
func (h *handler) lookup(reqPath string) *camPath {
	if !h.ready.Load() {
		return nil
	}
	h.s.mu.Lock()
	defer h.s.mu.Unlock()
	return h.s.paths[strings.Trim(reqPath, "/")]
}

func notFound() (*base.Response, *gortsplib.ServerStream, error) {
	return &base.Response{StatusCode: base.StatusNotFound}, nil, errors.New("no such path")
}

func (h *handler) OnDescribe(ctx *gortsplib.ServerHandlerOnDescribeCtx) (*base.Response, *gortsplib.ServerStream, error) {
	p := h.lookup(ctx.Path)
	if p == nil {
		return notFound()
	}
	return &base.Response{StatusCode: base.StatusOK}, p.stream, nil
}

func (h *handler) OnSetup(ctx *gortsplib.ServerHandlerOnSetupCtx) (*base.Response, *gortsplib.ServerStream, error) {
	p := h.lookup(ctx.Path)
	if p == nil {
		return notFound()
	}
	return &base.Response{StatusCode: base.StatusOK}, p.stream, nil
}

func (h *handler) OnPlay(ctx *gortsplib.ServerHandlerOnPlayCtx) (*base.Response, error) {
	p := h.lookup(ctx.Path)
	if p == nil || ctx.Session.Stream() != p.stream {
		return &base.Response{StatusCode: base.StatusNotFound}, errors.New("no such path")
	}
	remote := ctx.Conn.NetConn().RemoteAddr().String()
	transport := ""
	if tr := ctx.Session.Transport(); tr != nil {
		transport = tr.Protocol.String()
	}
	h.recs.Store(ctx.Session, p.addSession(ctx.Session, remote, transport))
	talk := h.listenBackChannel(p, ctx.Session)
	h.s.log.Info("softcam: client playing", "path", p.name, "remote", remote, "transport", transport, "backchannel", talk)
	return &base.Response{StatusCode: base.StatusOK}, nil
}

// listenBackChannel makes ss the talker when it set up the path's back
// channel and nobody else is talking, and hooks its packets to the file.
// It reports what happened, for the log.
func (h *handler) listenBackChannel(p *camPath, ss *gortsplib.ServerSession) string {
	bc := h.s.back
	if p.backMedia == nil || bc == nil {
		return "off"
	}
	for _, m := range ss.Medias() {
		if m != p.backMedia {
			continue
		}
		if !bc.acquire(ss) {
			return "busy"
		}
		ss.OnPacketRTP(m, m.Formats[0], func(pkt *rtp.Packet) { bc.write(ss, pkt) })
		return "talking"
	}
	return "not set up"
}

// OnDecodeError counts packets from clients that gortsplib refused (on
// this camera, only the back channel receives media), instead of letting
// gortsplib log each one.
func (h *handler) OnDecodeError(ctx *gortsplib.ServerHandlerOnDecodeErrorCtx) {
	if bc := h.s.back; bc != nil {
		bc.decodeError()
	}
}

func (h *handler) OnSessionClose(ctx *gortsplib.ServerHandlerOnSessionCloseCtx) {
	h.recs.Delete(ctx.Session)
	if bc := h.s.back; bc != nil {
		bc.release(ctx.Session)
	}
	st := ctx.Session.Stream()
	if st == nil {
		return
	}
	h.s.mu.Lock()
	order := h.s.order
	h.s.mu.Unlock()
	for _, p := range order {
		if p.stream != st {
			continue
		}
		if fin, ok := p.removeSession(ctx.Session); ok {
			h.s.log.Info("softcam: client gone", "path", p.name, "remote", fin.Remote,
				"frames", fin.Frames, "decodable", fin.DecodableFrames, "dropped_packets", fin.DroppedPackets,
				"reason", errString(ctx.Error))
		}
	}
}

func (h *handler) OnStreamWriteError(ctx *gortsplib.ServerHandlerOnStreamWriteErrorCtx) {
	if v, ok := h.recs.Load(ctx.Session); ok {
		v.(*sessionRec).dropped.Add(1)
	}
	// Without this handler gortsplib would log every drop to the standard
	// logger; a stuck client's queue overflowing is expected, not news.
}

func (h *handler) OnConnClose(ctx *gortsplib.ServerHandlerOnConnCloseCtx) {
	var terminated liberrors.ErrServerTerminated
	if ctx.Error != nil && !errors.As(ctx.Error, &terminated) {
		h.s.log.Debug("softcam: connection closed", "remote", ctx.Conn.NetConn().RemoteAddr().String(), "err", ctx.Error)
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
