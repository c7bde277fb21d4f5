package live

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/pion/webrtc/v4"
)

// Redaction travels over a WebRTC data channel labelled "redact" of any
// live session (docs/FORMAT.md, "Redaction channel"). A member donating a
// clip (G7) opens it in the browser — the hub holds no key that opens past
// footage (G9) — and hands the plaintext MP4 to its own household's hub
// through this channel, inside the session's DTLS bound to both device keys
// (G8); the hub blurs it and sends the redacted MP4 back the same way. The
// cloud relays only DTLS ciphertext. The hub keeps nothing: the clip and its
// redaction live in a private directory removed when the job ends.
//
// Any member device of the chain the hub verified may redact, one clip at a
// time per hub (a redaction decodes and encodes every frame).
//
// The protocol, text messages being JSON and binary messages raw bytes:
//
//	viewer: {"op":"begin","size":N,"keep_audio":false}
//	hub:    {"op":"ready"}                        or {"op":"error","error":...}
//	viewer: N bytes of MP4 in binary messages of at most RedactChunk bytes
//	hub:    {"op":"progress","done":d,"total":t}  (at most every half second)
//	hub:    {"op":"result","size":M,"report":{...}}, M bytes in binary messages, {"op":"end"}
//	        or {"op":"error","error":...}
//	viewer: {"op":"cancel"} at any time ends the job
//
// After "end" or "error" the channel takes another "begin".

// RedactLabel is the redaction channel's label.
const RedactLabel = "redact"

// RedactChunk is the largest binary message either side sends.
const RedactChunk = 64 << 10

// DefaultMaxRedactClip bounds a clip sent for redaction (about four
// minutes of a 2 Mbit/s stream) when HubConfig.MaxRedactClip is zero.
const DefaultMaxRedactClip = 64 << 20

// RedactTimeout bounds one redaction, receiving and sending included.
const RedactTimeout = 15 * time.Minute

// RedactJob is one redaction as the hub's RedactFunc sees it: In is the
// clip as the viewer sent it; the function writes the redacted MP4 to Out.
// Both are in a directory only this job uses, removed when it ends.
type RedactJob struct {
	Session   string
	Device    string
	In, Out   string
	KeepAudio bool
	// Progress may be called with frames done and the clip's frame count
	// (0 when unknown); the channel forwards it, rate-limited.
	Progress func(done, total int)
}

// RedactFunc redacts a clip and returns a report (any JSON value: counts,
// never frames or boxes' pixels). Its error is shown to the member: it must
// say what is wrong and how to fix it.
type RedactFunc func(ctx context.Context, job RedactJob) (any, error)

type redactWire struct {
	Op        string          `json:"op"`
	Size      int64           `json:"size,omitempty"`
	KeepAudio bool            `json:"keep_audio,omitempty"`
	Done      int             `json:"done,omitempty"`
	Total     int             `json:"total,omitempty"`
	Report    json.RawMessage `json:"report,omitempty"`
	Error     string          `json:"error,omitempty"`
}

// maxRedactRequest bounds a text message from the viewer.
const maxRedactRequest = 4096

// redactBufferHigh is how much the hub lets wait in the channel's send
// buffer before it waits for the viewer to read.
const redactBufferHigh = 1 << 20

// redactJob is the state of one channel's job.
type redactJob struct {
	dir       string
	file      *os.File
	want, got int64
	keepAudio bool
	cancel    context.CancelFunc
}

// serveRedact runs one session's redaction channel.
func (h *Hub) serveRedact(s *session, dc *webrtc.DataChannel) {
	var (
		mu    sync.Mutex
		job   *redactJob
		stray int64 // bytes received outside a job since the last begin
	)
	send := func(w redactWire) {
		w.Error = truncate(w.Error, maxErrorBytes)
		b, _ := json.Marshal(w)
		if err := dc.SendText(string(b)); err != nil {
			h.cfg.Logger.Info("live redact: message not sent", "session", s.id, "err", err)
		}
	}
	// end forgets the job j, if it is still the channel's, and removes
	// its files; the caller holds mu.
	end := func(j *redactJob) {
		if j == nil || job != j {
			return
		}
		if job.cancel != nil {
			job.cancel()
		}
		if job.file != nil {
			job.file.Close()
		}
		os.RemoveAll(job.dir)
		h.redacting.Store(false)
		job = nil
	}
	fail := func(msg string) { // the caller holds mu
		end(job)
		send(redactWire{Op: "error", Error: msg})
	}
	low := make(chan struct{}, 1)
	dc.SetBufferedAmountLowThreshold(redactBufferHigh / 2)
	dc.OnBufferedAmountLow(func() {
		select {
		case low <- struct{}{}:
		default:
		}
	})
	var closeOnce sync.Once
	dc.OnClose(func() {
		closeOnce.Do(func() {
			mu.Lock()
			end(job)
			mu.Unlock()
		})
	})
	allowance := newBudget(camerasBurst, settingsRate)
	dc.OnMessage(func(msg webrtc.DataChannelMessage) {
		mu.Lock()
		defer mu.Unlock()
		if !msg.IsString {
			if job == nil || job.file == nil {
				// Bytes of a job cancelled or failed a moment ago are
				// dropped; a peer that keeps sending them loses the channel.
				if stray += int64(len(msg.Data)); stray > DefaultMaxRedactClip {
					h.cfg.Logger.Info("live redact: channel closed, the viewer sends bytes outside a job", "session", s.id)
					dc.Close()
				}
				return
			}
			if len(msg.Data) > RedactChunk || job.got+int64(len(msg.Data)) > job.want {
				fail(fmt.Sprintf("the clip is longer than the %d bytes its begin announced, or a message is over %d bytes", job.want, RedactChunk))
				return
			}
			if _, err := job.file.Write(msg.Data); err != nil {
				h.cfg.Logger.Warn("live redact: writing the clip", "session", s.id, "err", err)
				fail("the hub could not store the clip for redaction (is its disk full?)")
				return
			}
			job.got += int64(len(msg.Data))
			if job.got == job.want {
				j := job
				h.startRedact(s, dc, j, send, low, &mu, func() { end(j) })
			}
			return
		}
		if !allowance.take(time.Now()) || len(msg.Data) > maxRedactRequest {
			h.cfg.Logger.Info("live redact: channel closed, the viewer sends requests too fast or too large", "session", s.id)
			end(job)
			dc.Close()
			return
		}
		var req redactWire
		if err := json.Unmarshal(msg.Data, &req); err != nil {
			send(redactWire{Op: "error", Error: "the request is not JSON: " + err.Error()})
			return
		}
		switch req.Op {
		case "cancel":
			end(job)
		case "begin":
			if job != nil {
				fail("a redaction is already under way on this channel: cancel it first")
				return
			}
			if err := h.redactAllowed(s, req.Size); err != nil {
				send(redactWire{Op: "error", Error: err.Error()})
				return
			}
			if !h.redacting.CompareAndSwap(false, true) {
				send(redactWire{Op: "error", Error: "the hub is redacting another clip; try again in a few minutes"})
				return
			}
			dir, err := os.MkdirTemp(h.cfg.RedactDir, "vigil-redact-")
			if err != nil {
				h.redacting.Store(false)
				h.cfg.Logger.Warn("live redact: a private directory", "err", err)
				send(redactWire{Op: "error", Error: "the hub could not make room for the clip"})
				return
			}
			stray = 0
			job = &redactJob{dir: dir, want: req.Size, keepAudio: req.KeepAudio}
			if job.file, err = os.OpenFile(filepath.Join(dir, "in.mp4"), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600); err != nil {
				fail("the hub could not make room for the clip")
				return
			}
			send(redactWire{Op: "ready"})
		default:
			send(redactWire{Op: "error", Error: fmt.Sprintf("unknown op %q: begin or cancel", req.Op)})
		}
	})
}

// redactAllowed checks a begin: a member device of the chain as verified
// now, a redactor configured, and a size in bounds.
func (h *Hub) redactAllowed(s *session, size int64) error {
	if h.cfg.Redact == nil {
		return errors.New("this hub does not redact clips")
	}
	if !admitted(h.cfg.Chain(), h.cfg.Household, s.device) {
		return errors.New("this device is no longer in the household")
	}
	max := h.cfg.MaxRedactClip
	if max <= 0 {
		max = DefaultMaxRedactClip
	}
	if size <= 0 || size > max {
		return fmt.Errorf("a clip for redaction is 1 to %d bytes (this one is %d): choose a shorter range", max, size)
	}
	return nil
}

// startRedact runs a received clip through the RedactFunc and sends the
// result back, on a goroutine Close waits for. The caller holds mu.
func (h *Hub) startRedact(s *session, dc *webrtc.DataChannel, job *redactJob, send func(redactWire), low <-chan struct{}, mu *sync.Mutex, end func()) {
	job.file.Close()
	job.file = nil
	ctx, cancel := context.WithTimeout(context.Background(), RedactTimeout)
	job.cancel = cancel
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		end()
		return
	}
	h.workers.Add(1)
	h.mu.Unlock()
	go func() {
		defer h.workers.Done()
		stopWatch := make(chan struct{})
		defer close(stopWatch)
		go func() {
			select {
			case <-s.stop:
				cancel() // the viewer left
			case <-stopWatch:
			}
		}()
		finish := func(w *redactWire) {
			mu.Lock()
			defer mu.Unlock()
			if ctx.Err() != nil && w != nil && w.Op == "error" {
				w = nil // cancelled: the viewer asked for it or left
			}
			end()
			if w != nil {
				send(*w)
			}
		}
		var (
			progressMu sync.Mutex
			last       time.Time
		)
		in, out := filepath.Join(job.dir, "in.mp4"), filepath.Join(job.dir, "out.mp4")
		report, err := h.cfg.Redact(ctx, RedactJob{Session: s.id, Device: s.device, In: in, Out: out, KeepAudio: job.keepAudio,
			Progress: func(done, total int) {
				progressMu.Lock()
				defer progressMu.Unlock()
				if time.Since(last) < 500*time.Millisecond || ctx.Err() != nil {
					return
				}
				last = time.Now()
				send(redactWire{Op: "progress", Done: done, Total: total})
			}})
		if err != nil {
			h.cfg.Logger.Info("live redact: refused", "session", s.id, "device", s.device, "err", err)
			finish(&redactWire{Op: "error", Error: err.Error()})
			return
		}
		rb, err := json.Marshal(report)
		if err != nil {
			finish(&redactWire{Op: "error", Error: "the hub could not write its report"})
			return
		}
		f, err := os.Open(out)
		if err != nil {
			finish(&redactWire{Op: "error", Error: "the redaction wrote no clip"})
			return
		}
		defer f.Close()
		fi, err := f.Stat()
		if err != nil || fi.Size() == 0 {
			finish(&redactWire{Op: "error", Error: "the redaction wrote no clip"})
			return
		}
		send(redactWire{Op: "result", Size: fi.Size(), Report: rb})
		buf := make([]byte, RedactChunk)
		for {
			for dc.BufferedAmount() > redactBufferHigh {
				select {
				case <-low:
				case <-time.After(time.Second): // a missed signal: look again
				case <-ctx.Done():
					finish(nil)
					return
				}
			}
			n, err := io.ReadFull(f, buf)
			if n > 0 {
				if serr := dc.Send(buf[:n]); serr != nil {
					h.cfg.Logger.Info("live redact: sending the clip", "session", s.id, "err", serr)
					finish(nil)
					return
				}
			}
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				break
			}
			if err != nil {
				finish(&redactWire{Op: "error", Error: "the hub could not read the redacted clip"})
				return
			}
		}
		finish(&redactWire{Op: "end"})
	}()
}

// watchRedact is a Go viewer's redact channel.
type watchRedact struct {
	dc     *webrtc.DataChannel
	open   chan struct{}
	closed chan struct{}
	msgs   chan webrtc.DataChannelMessage
	low    chan struct{}
	mu     sync.Mutex // one redaction at a time
}

func newWatchRedact(pc *webrtc.PeerConnection) (*watchRedact, error) {
	dc, err := pc.CreateDataChannel(RedactLabel, nil)
	if err != nil {
		return nil, err
	}
	r := &watchRedact{dc: dc, open: make(chan struct{}), closed: make(chan struct{}),
		msgs: make(chan webrtc.DataChannelMessage, 64), low: make(chan struct{}, 1)}
	dc.OnOpen(func() { close(r.open) })
	var once sync.Once
	dc.OnClose(func() { once.Do(func() { close(r.closed) }) })
	dc.SetBufferedAmountLowThreshold(redactBufferHigh / 2)
	dc.OnBufferedAmountLow(func() {
		select {
		case r.low <- struct{}{}:
		default:
		}
	})
	dc.OnMessage(func(m webrtc.DataChannelMessage) {
		select {
		case r.msgs <- m:
		case <-r.closed:
		}
	})
	return r, nil
}

// RedactError is the hub's refusal or failure of a redaction, as it said it.
type RedactError struct{ Msg string }

func (e *RedactError) Error() string { return "the hub did not redact the clip: " + e.Msg }

// Redact sends clip over the watch's redact channel (ViewerConfig.Redact)
// and returns the hub's redacted clip and its report. progress, when not
// nil, gets the hub's progress. A context that ends cancels the job at the
// hub.
func (w *Watch) Redact(ctx context.Context, clip []byte, keepAudio bool, progress func(done, total int)) ([]byte, json.RawMessage, error) {
	r := w.redact
	if r == nil {
		return nil, nil, errors.New("the watch has no redact channel (ViewerConfig.Redact)")
	}
	select {
	case <-r.open:
	case <-w.failed:
		return nil, nil, errors.New("the live connection failed")
	case <-ctx.Done():
		return nil, nil, ctx.Err()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	sendJSON := func(v redactWire) error {
		b, _ := json.Marshal(v)
		return r.dc.SendText(string(b))
	}
	next := func() (webrtc.DataChannelMessage, error) {
		select {
		case m := <-r.msgs:
			return m, nil
		case <-r.closed:
			return webrtc.DataChannelMessage{}, errors.New("the hub closed the redact channel")
		case <-w.failed:
			return webrtc.DataChannelMessage{}, errors.New("the live connection failed")
		case <-ctx.Done():
			sendJSON(redactWire{Op: "cancel"})
			return webrtc.DataChannelMessage{}, ctx.Err()
		}
	}
	reply := func() (redactWire, error) {
		for {
			m, err := next()
			if err != nil {
				return redactWire{}, err
			}
			if !m.IsString {
				continue // bytes of an earlier, cancelled job
			}
			var v redactWire
			if err := json.Unmarshal(m.Data, &v); err != nil {
				return redactWire{}, fmt.Errorf("the hub's message is not JSON: %w", err)
			}
			if v.Op == "error" {
				return v, &RedactError{Msg: v.Error}
			}
			if v.Op == "progress" {
				if progress != nil {
					progress(v.Done, v.Total)
				}
				continue
			}
			return v, nil
		}
	}
	if err := sendJSON(redactWire{Op: "begin", Size: int64(len(clip)), KeepAudio: keepAudio}); err != nil {
		return nil, nil, err
	}
	if v, err := reply(); err != nil {
		return nil, nil, err
	} else if v.Op != "ready" {
		return nil, nil, fmt.Errorf("the hub answered a begin with %q", v.Op)
	}
	for off := 0; off < len(clip); off += RedactChunk {
		for r.dc.BufferedAmount() > redactBufferHigh {
			select {
			case <-r.low:
			case <-time.After(time.Second):
			case <-ctx.Done():
				sendJSON(redactWire{Op: "cancel"})
				return nil, nil, ctx.Err()
			}
		}
		if err := r.dc.Send(clip[off:min(off+RedactChunk, len(clip))]); err != nil {
			return nil, nil, err
		}
	}
	res, err := reply()
	if err != nil {
		return nil, nil, err
	}
	if res.Op != "result" || res.Size <= 0 || res.Size > 4*DefaultMaxRedactClip {
		return nil, nil, fmt.Errorf("the hub answered a clip with %q of %d bytes", res.Op, res.Size)
	}
	out := make([]byte, 0, res.Size)
	for int64(len(out)) < res.Size {
		m, err := next()
		if err != nil {
			return nil, nil, err
		}
		if m.IsString {
			var v redactWire
			json.Unmarshal(m.Data, &v)
			if v.Op == "error" {
				return nil, nil, &RedactError{Msg: v.Error}
			}
			return nil, nil, fmt.Errorf("the hub sent %q in the middle of the clip", v.Op)
		}
		if int64(len(out)+len(m.Data)) > res.Size {
			return nil, nil, errors.New("the hub sent more than the clip's size")
		}
		out = append(out, m.Data...)
	}
	if v, err := reply(); err != nil {
		return nil, nil, err
	} else if v.Op != "end" {
		return nil, nil, fmt.Errorf("the hub ended a clip with %q", v.Op)
	}
	return out, res.Report, nil
}
