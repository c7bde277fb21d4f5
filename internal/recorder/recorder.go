// Package recorder owns a camera's recording loop: the access units the
// camera package's ingest delivers go into a segmenter (segment); each
// finished segment is sealed in memory to the household's recipients
// (envelope), stored crash-safely with its index row (segstore), and the
// stored segment is handed to the uploader. A hole in the recording is
// stored as a gap with the best reason known, and the camera's live viewers
// get its access units from the recorder's tap (live) as they arrive. Each
// frame passes through this package once, on its way from the camera to the
// store and the uploader.
//
// It must never let a plaintext segment out of memory: a segment is sealed
// before it is queued for the disk. It must never stall the camera's
// connection on a slow disk (a full queue drops a segment and says so), and
// it never imports the hub's wiring (hubd), the cloud or the CLI: its store,
// keys, recipients and uploader are given to it.
package recorder

import (
	"cmp"
	"context"
	"crypto/ed25519"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

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

// Config is what one camera's recording needs.
type Config struct {
	// Camera is the camera's ingest (its name, URL, transport and
	// reconnect timing); its Logger is replaced by Logger.
	Camera camera.Config
	// SegmentDuration is the segments' length: a segment closes at the
	// first keyframe after it.
	SegmentDuration time.Duration
	// Store keeps the sealed segments and the gaps; the recorder never
	// closes it.
	Store *segstore.Store
	// Signer signs every sealed segment (the hub's key).
	Signer ed25519.PrivateKey
	// Recipients returns who a segment is sealed to now, and the key
	// epoch; it is called once per segment, on the ingest goroutine.
	Recipients func() ([]envelope.Recipient, uint32)
	// Uploader, if not nil, is given each segment once it is stored.
	Uploader Uploader
	// StoreTime, if not nil, observes each segment's close-to-stored
	// latency in seconds.
	StoreTime Observer
	// Logger: nil discards.
	Logger *slog.Logger
	// Now is the wall clock that places a session's first frame; nil
	// means time.Now.
	Now func() time.Time
}

// Uploader takes the segments the recorder stored, with the sealed bytes
// the store wrote (the uploader need not read them back). Enqueue must not
// block for long: it runs on the camera's writer goroutine.
type Uploader interface {
	Enqueue(seg segstore.Segment, sealed []byte)
}

// Observer observes one value (a prometheus.Observer is one).
type Observer interface {
	Observe(float64)
}

// Stats are one camera's recording counters.
type Stats struct {
	Camera         string
	Ingest         camera.Stats
	FramesIn       uint64 // access units received
	FramesRecorded uint64 // access units in stored segments
	FramesDropped  uint64 // malformed, before the first keyframe, or lost to a full queue
	WaitingKey     uint64 // of FramesDropped: before the first keyframe of a session
	Segments       uint64
	SealedBytes    uint64
	StoreErrors    uint64
	Gaps           uint64
}

// QueueLen bounds the sealed segments waiting for the disk per camera.
const QueueLen = queueLen

// A Recorder records one camera from Start until Close (or until the
// context given to Start is done).
type Recorder struct {
	r    *recorder
	stop context.CancelFunc
	done chan struct{}
}

// Start starts recording cfg.Camera: it reads where the camera's recording
// left off in the store (the next sequence number, and the end of the last
// segment, so that the hole since then is stored as a gap) and starts the
// camera's ingest and the writer goroutine. When ctx is done, or on Close,
// the segment in progress is sealed and stored before the goroutines end.
func Start(ctx context.Context, cfg Config) (*Recorder, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	name := cfg.Camera.Name
	next, err := cfg.Store.NextSeq(ctx, name)
	if err != nil {
		return nil, err
	}
	last, err := cfg.Store.LastEnd(ctx, name)
	if err != nil {
		return nil, err
	}
	r := &recorder{
		cfg:        cfg,
		name:       name,
		log:        cfg.Logger.With("camera", name),
		seq:        next,
		queue:      make(chan sealedSegment, queueLen),
		lastStored: last,
		tap:        live.NewTapWith(live.TapConfig{Logger: cfg.Logger.With("camera", name)}),
		storeTime:  cfg.StoreTime,
	}
	if !last.IsZero() {
		r.gapReason = "hub was not recording"
	}
	cc := cfg.Camera
	cc.Logger = cfg.Logger
	in, err := camera.New(cc, r)
	if err != nil {
		return nil, err
	}
	r.ingest = in
	ctx, cancel := context.WithCancel(ctx)
	rec := &Recorder{r: r, stop: cancel, done: make(chan struct{})}
	var wg sync.WaitGroup
	r.start(ctx, &wg)
	go func() {
		wg.Wait()
		close(rec.done)
	}()
	return rec, nil
}

// Close stops recording: the segment in progress is sealed and stored, and
// Close returns once the recorder's goroutines are done.
func (rec *Recorder) Close() {
	rec.stop()
	<-rec.done
}

// Done is closed when the recorder's goroutines are done (after Close, or
// once the context given to Start is done and the open segment is stored).
func (rec *Recorder) Done() <-chan struct{} { return rec.done }

// Name is the camera's name.
func (rec *Recorder) Name() string { return rec.r.name }

// Stats returns the camera's counters.
func (rec *Recorder) Stats() Stats { return rec.r.stats() }

// Queued is how many sealed segments wait for the disk.
func (rec *Recorder) Queued() int { return len(rec.r.queue) }

// Tap is where the camera's live viewers take its access units.
func (rec *Recorder) Tap() *live.Tap { return rec.r.tap }

// recorder records one camera. The ingest calls its Handler methods from one
// goroutine at a time; the store writes happen on the recorder's own writer
// goroutine so a slow disk never stalls the camera's connection.
type recorder struct {
	cfg    Config
	name   string
	log    *slog.Logger
	ingest *camera.Ingest
	queue  chan sealedSegment
	// tap passes the camera's H.264 access units to live viewers; it never
	// blocks the ingest.
	tap  *live.Tap
	h264 bool // the session's video is H.264 (the only codec passed live)

	ctx context.Context // done when the hub stops or the camera is removed

	// Owned by the ingest goroutine (Handler calls).
	seg  *segment.Segmenter
	g711 *g711Recorder // G.711 recorded as Opus (audiotranscode.go)
	seq  uint64
	// gapReason says why recording stopped before the next segment queued
	// (the camera dropped, the hub stopped, a segment was dropped because
	// the queue was full); it is carried by that segment.
	gapReason string

	// Owned by the writer goroutine.
	lastStored time.Time // end of the last segment stored
	// storeTime observes each segment's close-to-stored latency; nil when
	// the hub serves no metrics.
	storeTime Observer

	// lossReason says why segments queued after the last one stored were
	// lost (the store failed, or the camera had dropped before them).
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

func (r *recorder) stats() Stats {
	return Stats{
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
		Duration:       r.cfg.SegmentDuration,
		Codec:          t.Video,
		VPS:            t.VPS,
		SPS:            t.SPS,
		PPS:            t.PPS,
		Audio:          audio,
		AudioClockRate: audioRate,
		OnSegment:      r.onSegment,
		Now:            r.cfg.Now,
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
	recips, epoch := r.cfg.Recipients()
	hdr := envelope.Header{
		Kind:     envelope.KindSegment,
		Stream:   r.name,
		Sequence: r.seq,
		Start:    s.Start,
		Epoch:    epoch,
	}
	sealed, err := envelope.Seal(hdr, s.End, r.cfg.Signer, s.Data, recips...)
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
		// The next segment queued follows the hole this one leaves, and
		// says why: what this one carried, else the full queue.
		r.gapReason = cmp.Or(item.gapReason, "storage too slow")
		r.log.Error("storage is too slow; dropped a segment", "start", s.Start.Format(time.RFC3339))
	}
	return nil
}

func (r *recorder) writeLoop() {
	for s := range r.queue {
		seg, err := r.cfg.Store.Put(context.Background(), s.meta, s.data)
		if err != nil {
			r.storeErrors.Add(1)
			r.dropped.Add(uint64(s.meta.Frames))
			if r.lossReason == "" {
				r.lossReason = cmp.Or(s.gapReason, "storage error")
			}
			r.log.Error("storing segment", "err", err)
			continue
		}
		if r.storeTime != nil {
			r.storeTime.Observe(time.Since(s.closed).Seconds())
		}
		r.segments.Add(1)
		r.recorded.Add(uint64(s.meta.Frames))
		r.sealedBytes.Add(uint64(seg.Bytes))
		r.log.Debug("segment stored", "seq", seg.Seq, "bytes", seg.Bytes, "frames", seg.Frames)
		r.noteGap(s)
		r.lastStored = s.meta.End
		if up := r.cfg.Uploader; up != nil {
			up.Enqueue(seg, s.data)
		}
	}
}

// noteGap records the hole between the last stored segment and s, if there
// is one, with the best reason known.
func (r *recorder) noteGap(s sealedSegment) {
	loss := r.lossReason
	r.lossReason = ""
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
	if err := r.cfg.Store.AddGap(context.Background(), g); err != nil {
		r.log.Error("recording gap", "err", err)
		return
	}
	r.gaps.Add(1)
	r.log.Info("gap in recording", "from", g.Start.Format(time.RFC3339), "to", g.End.Format(time.RFC3339),
		"length", g.End.Sub(g.Start).Round(time.Millisecond).String(), "reason", g.Reason)
}
