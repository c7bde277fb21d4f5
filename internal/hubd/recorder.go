package hubd

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"vigil/internal/camera"
	"vigil/internal/envelope"
	"vigil/internal/live"
	"vigil/internal/proctail"
	"vigil/internal/segment"
	"vigil/internal/segstore"
)

// queueLen bounds the sealed segments waiting for the disk per camera
// (about 30 s of video at the default segment length).
const queueLen = 8

// gapMin is the shortest hole between two segments recorded as a gap.
const gapMin = time.Second

// maxClockDrift is how far a camera's clock may run from the hub's before the
// recording's wall times are moved back in line with the hub's.
const maxClockDrift = 2 * time.Second

type sealedSegment struct {
	meta segstore.Meta
	data []byte
	// closed is when the segmenter closed the segment (for the store
	// latency metric).
	closed time.Time
	// gapReason says why recording stopped before this segment, when the
	// ingest knows (the camera dropped, the hub was stopped).
	gapReason string
}

// recorder records one camera. The ingest calls its Handler methods from one
// goroutine at a time; the store writes happen on the recorder's own writer
// goroutine so a slow disk never stalls the camera's connection.
type recorder struct {
	hub    *Hub
	name   string
	log    *slog.Logger
	ingest *camera.Ingest
	queue  chan sealedSegment
	// tap passes the camera's H.264 access units to live viewers; it never
	// blocks the ingest.
	tap  *live.Tap
	h264 bool // the session's video is H.264 (the only codec passed live)

	ctx context.Context // done when the hub stops or the camera is removed

	stop context.CancelFunc // stops this camera alone (set by startCamera)
	done chan struct{}      // closed when its goroutines are done

	// Owned by the ingest goroutine (Handler calls).
	seg       *segment.Segmenter
	g711      *g711Recorder // G.711 recorded as Opus (audiotranscode.go)
	seq       uint64
	gapReason string // carried by the next segment queued

	// Owned by the writer goroutine.
	lastStored time.Time // end of the last segment stored
	// storeTime observes each segment's close-to-stored latency; nil when
	// the hub serves no metrics.
	storeTime prometheus.Observer

	// lossReason says why segments were lost since the last one stored
	// (the queue was full, the store failed); set by either goroutine.
	lossMu     sync.Mutex
	lossReason string

	framesIn, recorded, dropped, waitingKey, segments, sealedBytes, storeErrors, gaps atomic.Uint64
}

func (r *recorder) start(ctx context.Context, wg *sync.WaitGroup) {
	r.ctx = ctx
	wg.Add(2)
	go func() {
		defer wg.Done()
		defer close(r.queue)
		_ = r.ingest.Run(ctx) // returns when ctx is done, after Stop flushed
		_ = r.tap.Close()     // its audio transcoder, if one runs
		r.closeG711()
	}()
	go func() {
		defer wg.Done()
		r.writeLoop()
	}()
}

func (r *recorder) stats() CameraStats {
	return CameraStats{
		Camera: r.name, Ingest: r.ingest.Stats(),
		FramesIn: r.framesIn.Load(), FramesRecorded: r.recorded.Load(),
		FramesDropped: r.dropped.Load(), WaitingKey: r.waitingKey.Load(),
		Segments: r.segments.Load(), SealedBytes: r.sealedBytes.Load(),
		StoreErrors: r.storeErrors.Load(), Gaps: r.gaps.Load(),
	}
}

// Start implements camera.Handler.
func (r *recorder) Start(t camera.Tracks) error {
	audio, audioRate := r.recordedAudio(t)
	s, err := segment.New(segment.Config{
		Duration:       time.Duration(r.hub.cfg.SegmentDuration),
		Codec:          t.Video,
		VPS:            t.VPS,
		SPS:            t.SPS,
		PPS:            t.PPS,
		Audio:          audio,
		AudioClockRate: audioRate,
		OnSegment:      r.onSegment,
		Now:            r.hub.opts.Now,
		MaxClockDrift:  maxClockDrift,
	})
	if err != nil {
		return err
	}
	r.seg = s
	r.h264 = t.Video == "H264"
	if r.h264 {
		r.tap.Start(t.SPS, t.PPS)
		r.tap.SetAudio(t.G711)
		if t.Audio != nil {
			r.tap.SetAudioCodec(t.Audio) // Opus as it comes, AAC as Opus
		}
	}
	return nil
}

// G711 implements camera.G711Handler: a camera's G.711 audio is passed
// to live viewers as it comes, and recorded as Opus.
func (r *recorder) G711(pts int64, payload []byte) {
	if r.h264 {
		r.tap.Audio(pts, payload)
	}
	r.recordG711(pts, payload)
}

// Video implements camera.Handler.
func (r *recorder) Video(pts int64, au [][]byte) {
	r.framesIn.Add(1)
	if r.h264 {
		r.tap.Video(pts, au)
	}
	if r.seg == nil {
		r.dropped.Add(1)
		return
	}
	switch err := r.seg.WriteVideo(pts, au); {
	case err == nil:
	case errors.Is(err, segment.ErrWaitingKeyframe):
		r.dropped.Add(1)
		r.waitingKey.Add(1)
	case errors.Is(err, segment.ErrMalformed):
		r.dropped.Add(1)
		r.log.Debug("dropped a malformed frame", "err", proctail.Describe(err))
	default:
		r.log.Error("recording", "err", proctail.Describe(err))
	}
}

// Audio implements camera.Handler.
func (r *recorder) Audio(pts int64, frames [][]byte) {
	if r.h264 {
		r.tap.AudioFrames(pts, frames)
	}
	if r.seg != nil {
		_ = r.seg.WriteAudio(pts, frames)
	}
}

// Stop implements camera.Handler: the session ended, so the open segment is
// closed and stored, and the next segment will be preceded by a gap.
func (r *recorder) Stop(reason error) {
	r.tap.Stop()
	r.stopG711()
	if r.seg != nil {
		if err := r.seg.Flush(); err != nil {
			r.log.Error("closing segment", "err", err)
		}
		r.seg = nil
	}
	r.gapReason = "camera disconnected"
	if errors.Is(reason, context.Canceled) {
		r.gapReason = "hub was not recording"
	}
}

// onSegment seals a finished segment in memory and queues it for the disk.
func (r *recorder) onSegment(s segment.Segment) error {
	closed := time.Now()
	recips, epoch := r.hub.sealRecipients()
	hdr := envelope.Header{
		Kind:     envelope.KindSegment,
		Stream:   r.name,
		Sequence: r.seq,
		Start:    s.Start,
		Epoch:    epoch,
	}
	sealed, err := envelope.Seal(hdr, s.End, r.hub.signer, s.Data, recips...)
	if err != nil {
		return err
	}
	item := sealedSegment{
		meta: segstore.Meta{
			Camera: r.name, Seq: r.seq, Start: s.Start, End: s.End,
			Codec: s.Codec, AudioCodec: s.AudioCodec, Keyframes: s.Keyframes, Frames: s.Frames,
		},
		data:      sealed,
		closed:    closed,
		gapReason: r.gapReason,
	}
	r.seq++
	r.gapReason = ""
	if r.ctx.Err() != nil {
		// The hub is stopping: this is the segment in progress, and the
		// writer drains the queue before the hub closes, so wait for room.
		r.queue <- item
		return nil
	}
	select {
	case r.queue <- item:
	default:
		// The disk is slower than the camera: drop this segment rather than
		// stall the camera connection, and say so.
		r.dropped.Add(uint64(s.Frames))
		r.storeErrors.Add(1)
		r.setLoss("storage too slow")
		r.log.Error("storage is too slow; dropped a segment", "start", s.Start.Format(time.RFC3339))
	}
	return nil
}

func (r *recorder) setLoss(reason string) {
	r.lossMu.Lock()
	if r.lossReason == "" {
		r.lossReason = reason
	}
	r.lossMu.Unlock()
}

func (r *recorder) takeLoss() string {
	r.lossMu.Lock()
	defer r.lossMu.Unlock()
	reason := r.lossReason
	r.lossReason = ""
	return reason
}

func (r *recorder) writeLoop() {
	for s := range r.queue {
		seg, err := r.hub.store.Put(context.Background(), s.meta, s.data)
		if err != nil {
			r.storeErrors.Add(1)
			r.dropped.Add(uint64(s.meta.Frames))
			r.setLoss("storage error")
			r.log.Error("storing segment", "err", err)
			continue
		}
		observeSince(r.storeTime, s.closed)
		r.segments.Add(1)
		r.recorded.Add(uint64(s.meta.Frames))
		r.sealedBytes.Add(uint64(seg.Bytes))
		r.log.Debug("segment stored", "seq", seg.Seq, "bytes", seg.Bytes, "frames", seg.Frames)
		r.noteGap(s)
		r.lastStored = s.meta.End
		if up := r.hub.uploader; up != nil {
			up.Enqueue(seg, s.data)
		}
	}
}

// noteGap records the hole between the last stored segment and s, if there
// is one, with the best reason known.
func (r *recorder) noteGap(s sealedSegment) {
	loss := r.takeLoss()
	if r.lastStored.IsZero() || s.meta.Start.Sub(r.lastStored) < gapMin {
		return
	}
	reason := s.gapReason
	if reason == "" {
		reason = loss
	}
	if reason == "" {
		reason = "no usable video from the camera"
	}
	g := segstore.Gap{Camera: r.name, Start: r.lastStored, End: s.meta.Start, Reason: reason}
	if err := r.hub.store.AddGap(context.Background(), g); err != nil {
		r.log.Error("recording gap", "err", err)
		return
	}
	r.gaps.Add(1)
	r.log.Info("gap in recording", "from", g.Start.Format(time.RFC3339), "to", g.End.Format(time.RFC3339),
		"length", g.End.Sub(g.Start).Round(time.Millisecond).String(), "reason", g.Reason)
}
