package upload

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"vigil/internal/devauth"
	"vigil/internal/envelope"
	"vigil/internal/segstore"
)

// errEvicted means the segment's file is gone from the store.
var errEvicted = errors.New("segment file is gone from the store")

// rejectError is a local reason never to send a file.
type rejectError struct{ msg string }

func (e *rejectError) Error() string { return e.msg }

// readSealed reads the segment file of j.
func readSealed(j job) ([]byte, error) {
	f, err := os.Open(j.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, errEvicted
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	// The index gives the size: one buffer and one read, not a growing
	// buffer and a read per growth.
	size := j.bytes
	if size < 0 || size > maxObjectBytes {
		size = maxObjectBytes
	}
	body := make([]byte, size+1)
	n, err := io.ReadFull(f, body)
	switch {
	case err == io.EOF || err == io.ErrUnexpectedEOF:
		return body[:n], nil
	case err != nil:
		return nil, fmt.Errorf("reading %s: %w", j.path, err)
	}
	// Larger than the index says: read on, up to the limit checkSealed
	// refuses.
	rest, err := io.ReadAll(io.LimitReader(f, maxObjectBytes+1-int64(n)))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", j.path, err)
	}
	return append(body, rest...), nil
}

// checkSealed checks that body is a sealed segment whose header matches the
// index, so that nothing else is sent.
func checkSealed(j job, body []byte) error {
	if len(body) > maxObjectBytes {
		return &rejectError{fmt.Sprintf("segment file is larger than %d MiB; not uploading it", maxObjectBytes>>20)}
	}
	h, err := envelope.Inspect(bytes.NewReader(body))
	if err != nil {
		return &rejectError{fmt.Sprintf("segment file is not a sealed object, refusing to upload it: %v", err)}
	}
	if h.Kind != envelope.KindSegment || h.Stream != j.camera || h.Sequence != j.seq {
		return &rejectError{fmt.Sprintf("sealed header says %s of %q seq %d but the store indexed a segment of %q seq %d; refusing to upload it",
			h.Kind, h.Stream, h.Sequence, j.camera, j.seq)}
	}
	return nil
}

// body returns j's sealed bytes, handed over by Enqueue or read from its
// file, after checkSealed.
func (u *Uploader) body(j job) ([]byte, error) {
	b := u.handoff.take(j.key())
	if b == nil {
		var err error
		if b, err = readSealed(j); err != nil {
			return nil, err
		}
	}
	if err := checkSealed(j, b); err != nil {
		return nil, err
	}
	return b, nil
}

// outcome is what an attempt made of a segment.
type outcome int

const (
	outcomePending  outcome = iota // still to upload (failed, delayed or interrupted)
	outcomeDone                    // in the cloud
	outcomeRejected                // refused for good
	outcomeMissing                 // its file was gone
)

// process makes one attempt at uploading j.
func (u *Uploader) process(ctx context.Context, j job) outcome {
	log := u.log.With("camera", j.camera, "seq", j.seq)
	body, err := u.body(j)
	var rej *rejectError
	switch {
	case errors.Is(err, errEvicted):
		u.record(j, segstore.UploadMissing, err.Error(), time.Time{})
		log.Debug("upload: segment left the store before upload")
		return outcomeMissing
	case errors.As(err, &rej):
		u.failures.Add(1)
		u.rejected.Add(1)
		u.setLastError(ErrRejected, 0, rej.msg)
		u.record(j, segstore.UploadRejected, rej.msg, time.Time{})
		log.Error("upload: "+rej.msg, "path", j.path)
		return outcomeRejected
	case err != nil:
		u.failures.Add(1)
		u.setLastError(ErrLocal, 0, err.Error())
		wait := min(time.Minute<<min(j.attempts, 6), time.Hour)
		u.record(j, segstore.UploadPending, err.Error(), u.now().Add(wait))
		log.Warn("upload: cannot read a segment; will retry", "err", err, "retry_in", wait)
		return outcomePending
	}

	res := u.send(ctx, body)
	switch res.kind {
	case resCanceled:
		// Stopping: the segment stays pending.
	case resDone:
		// Counted before the segment stops being pending, so that Stats
		// never shows a segment neither pending nor uploaded.
		if res.status == http.StatusCreated {
			u.uploaded.Add(1)
		} else {
			u.already.Add(1)
		}
		u.record(j, segstore.UploadDone, "", time.Time{})
		u.cloudOK()
		log.Debug("upload: segment uploaded", "bytes", len(body), "status", res.status)
		u.checkBacklog()
		return outcomeDone
	case resRejected:
		u.failures.Add(1)
		u.rejected.Add(1)
		u.setLastError(ErrRejected, res.status, res.msg)
		u.record(j, segstore.UploadRejected, res.msg, time.Time{})
		u.cloudOK()
		log.Error("upload: the cloud refused a segment for good; it will not be retried", "status", res.status, "err", res.msg)
		return outcomeRejected
	case resRefused, resRetry:
		u.failures.Add(1)
		u.setLastError(errorKind(res), res.status, res.msg)
		u.cloudAway(res)
	}
	return outcomePending
}

type resultKind int

const (
	resDone     resultKind = iota // 201 or 200
	resRejected                   // permanent for this object
	resRefused                    // the cloud refuses this hub: keep queued, retry
	resRetry                      // cloud away or busy: keep queued, retry
	resCanceled                   // ctx ended
)

type result struct {
	kind       resultKind
	status     int // 0 for network errors
	msg        string
	retryAfter time.Duration
}

// errorKind is the Stats.LastErrorKind of a failed attempt to send.
func errorKind(res result) string {
	switch {
	case res.kind == resRefused:
		return ErrRefused
	case res.kind == resRejected:
		return ErrRejected
	case res.status == 0:
		return ErrNetwork
	}
	return ErrServer
}

// classify maps a response status to what becomes of the object.
func classify(status int) resultKind {
	switch status {
	case http.StatusCreated, http.StatusOK:
		return resDone
	case http.StatusConflict, http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnprocessableEntity:
		return resRejected
	case http.StatusUnauthorized, http.StatusForbidden, http.StatusNotFound:
		return resRefused
	}
	return resRetry
}

// send PUTs body to the cloud once.
func (u *Uploader) send(ctx context.Context, body []byte) result {
	rctx, cancel := context.WithTimeout(ctx, u.requestTimeout(len(body)))
	defer cancel()
	br := &bodyReader{ctx: rctx, b: u.bucket, r: bytes.NewReader(body), sent: &u.bytesSent}
	res := putSealed(rctx, u.client, u.endpoint, u.cfg.DeviceID, u.cfg.Key, u.now(), body, br)
	if res.kind == resRetry && ctx.Err() != nil {
		return result{kind: resCanceled}
	}
	return res
}

// putSealed PUTs one sealed object (body, read through r) to endpoint,
// signed with the hub's device key, and classifies the answer. Segments and
// the outbox's events and snapshots go through it alike.
func putSealed(ctx context.Context, client *http.Client, endpoint, deviceID string, key ed25519.PrivateKey, now time.Time, body []byte, r io.Reader) result {
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, endpoint, r)
	if err != nil {
		return result{kind: resRetry, msg: err.Error()}
	}
	req.ContentLength = int64(len(body))
	req.Header.Set("Content-Type", ContentType)
	if err := devauth.Sign(req, body, deviceID, key, now); err != nil {
		return result{kind: resRefused, msg: err.Error()}
	}
	resp, err := client.Do(req)
	if err != nil {
		return result{kind: resRetry, msg: err.Error()}
	}
	defer resp.Body.Close()
	res := result{kind: classify(resp.StatusCode), status: resp.StatusCode}
	if res.kind != resDone {
		res.msg = serverMessage(resp)
		res.retryAfter = retryAfter(resp.Header.Get("Retry-After"), now)
	}
	// Drain a little so the connection can be reused.
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	return res
}

// requestTimeout allows a request at least 2 minutes plus the time its body
// takes at a slow rate (32 KiB/s, or the cap shared by all uploads).
func (u *Uploader) requestTimeout(n int) time.Duration {
	rate := int64(32 << 10)
	if c := u.cfg.MaxBytesPerSec; c > 0 {
		rate = min(rate, max(c/int64(u.cfg.Concurrency), 1))
	}
	return 2*time.Minute + time.Duration(int64(n)/rate)*time.Second
}

// serverMessage returns the status and the server's JSON error message,
// cleaned up for a log line.
func serverMessage(resp *http.Response) string {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	var e struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(b, &e) == nil && e.Error != "" {
		return resp.Status + ": " + clean(e.Error)
	}
	return resp.Status
}

// clean drops control characters and caps a server-provided message.
func clean(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	const maxLen = 300
	if len(s) > maxLen {
		s = strings.ToValidUTF8(s[:maxLen], "") + "…"
	}
	return s
}

// retryAfter parses a Retry-After header: delay-seconds or an HTTP date.
func retryAfter(h string, now time.Time) time.Duration {
	h = strings.TrimSpace(h)
	if h == "" {
		return 0
	}
	if s, err := strconv.ParseInt(h, 10, 64); err == nil {
		if s < 0 {
			return 0
		}
		return time.Duration(min(s, int64(maxRetryAfter/time.Second))) * time.Second
	}
	if t, err := http.ParseTime(h); err == nil && t.After(now) {
		return min(t.Sub(now), maxRetryAfter)
	}
	return 0
}

// backoff returns the wait after the n-th consecutive failure (n >= 1):
// MinBackoff doubling up to MaxBackoff, with the upper half jittered.
func (u *Uploader) backoff(n int) time.Duration {
	d := u.cfg.MinBackoff
	for i := 1; i < n && d < u.cfg.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, u.cfg.MaxBackoff)
	return d/2 + rand.N(d/2+1)
}

// cloudAway pauses every worker after a failed attempt and logs, at most
// once per warn period, that the cloud is away.
func (u *Uploader) cloudAway(res result) {
	now := u.now()
	u.mu.Lock()
	u.failStreak++
	d := u.backoff(u.failStreak)
	if res.kind == resRefused {
		d = max(d, u.cfg.MaxBackoff)
	}
	if res.retryAfter > d {
		d = res.retryAfter
	}
	if until := now.Add(d); until.After(u.pauseUntil) {
		u.pauseUntil = until
	}
	u.probeable = probeable(res)
	first := u.awaySince.IsZero()
	if first {
		u.awaySince = now
		u.handoff.clear()
	}
	warn := first || now.Sub(u.lastAwayWarn) >= u.warn
	if warn {
		u.lastAwayWarn = now
	}
	since := u.awaySince
	u.mu.Unlock()
	if !warn {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	u.backlog(ctx)
	cancel()
	args := []any{"err", res.msg, "pending", u.pending.Load(), "retry_in", d.Round(time.Millisecond)}
	if !first {
		args = append(args, "for", now.Sub(since).Round(time.Second))
	}
	switch {
	case res.kind == resRefused:
		u.log.Error("upload: the cloud refuses this hub's uploads; segments stay queued and will be retried",
			append(args, "device", u.cfg.DeviceID, "hint", "check that the hub is paired with this cloud, its clock is right and the cloud URL is correct")...)
	case first:
		u.log.Warn("upload: cannot reach the cloud; segments stay queued and will be retried", args...)
	default:
		u.log.Warn("upload: the cloud is still unreachable", args...)
	}
}

// prober ends a pause early when the cloud answers again: while uploads
// are paused after no answer (or a gateway's 502 or 504), it sends a HEAD
// to the upload URL every u.probe, and any answer below 500 (the cloud's
// own "method not allowed" is one) resumes the workers.
func (u *Uploader) prober(ctx context.Context) {
	t := time.NewTicker(u.probe)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		u.mu.Lock()
		due := u.probeable && u.pauseUntil.Sub(u.now()) > u.probe
		u.mu.Unlock()
		if !due || !cloudAnswers(ctx, u.client, u.endpoint, u.probe) {
			continue
		}
		u.mu.Lock()
		resumed := u.probeable
		if resumed {
			u.pauseUntil, u.probeable = time.Time{}, false
		}
		u.mu.Unlock()
		if resumed {
			u.log.Debug("upload: the cloud answers again; resuming uploads")
			u.notify()
		}
	}
}

// probeable reports whether a wait after res may be ended by a probe: the
// cloud gave no answer, or a gateway before it said it is away (502, 504),
// and it did not ask for a wait of its own (Retry-After).
func probeable(res result) bool {
	return res.kind == resRetry && res.retryAfter == 0 &&
		(res.status == 0 || res.status == http.StatusBadGateway || res.status == http.StatusGatewayTimeout)
}

// cloudAnswers sends one probe, a HEAD of endpoint that carries nothing and
// is not signed, within timeout; it reports an answer below 500.
func cloudAnswers(ctx context.Context, client *http.Client, endpoint string, timeout time.Duration) bool {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodHead, endpoint, nil)
	if err != nil {
		return false
	}
	resp, err := client.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode < 500
}

// cloudOK notes that the cloud answered.
func (u *Uploader) cloudOK() {
	now := u.now()
	u.mu.Lock()
	u.failStreak = 0
	u.probeable = false
	away := u.awaySince
	u.awaySince = time.Time{}
	u.mu.Unlock()
	if !away.IsZero() {
		u.log.Info("upload: the cloud is reachable again", "after", now.Sub(away).Round(time.Second), "pending", u.pending.Load())
	}
}

// noteEvicted counts segments that left the store before upload and warns,
// at most once per warn period, that the cloud will not have them.
func (u *Uploader) noteEvicted(n int64) {
	u.evicted.Add(n)
	now := u.now()
	u.mu.Lock()
	u.evictUnwarned += n
	count := u.evictUnwarned
	warn := now.Sub(u.evictWarned) >= u.warn
	if warn {
		u.evictWarned, u.evictUnwarned = now, 0
	}
	u.mu.Unlock()
	if warn {
		u.log.Warn("upload: the hub's retention deleted segments before they could be uploaded; the cloud will not have them",
			"count", count, "hint", "give the hub more storage or a faster uplink")
	}
}

// checkBacklog logs when a backlog starts draining and when it is drained.
func (u *Uploader) checkBacklog() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	b, err := u.backlog(ctx)
	if err != nil {
		return
	}
	n := b.Count
	now := u.now()
	done := u.uploaded.Load() + u.already.Load()
	u.mu.Lock()
	start := !u.inBacklog && n >= backlogStart && u.awaySince.IsZero()
	drained := u.inBacklog && n <= backlogDrained
	since, base := u.backlogSince, u.backlogBase
	switch {
	case start:
		u.inBacklog, u.backlogSince, u.backlogBase = true, now, done
	case drained:
		u.inBacklog = false
	}
	u.mu.Unlock()
	switch {
	case start:
		u.log.Info(fmt.Sprintf("upload: uploading backlog: %d segments, %.1f MB", b.Count, float64(b.Bytes)/1e6),
			"oldest", b.Oldest.UTC().Format(time.RFC3339), "order", u.cfg.Order)
	case drained:
		u.log.Info("upload: backlog drained", "uploaded", done-base, "took", now.Sub(since).Round(time.Second))
	}
}

// writeBuffer is the size of a connection's write buffer in Transport:
// large enough that a typical segment leaves in one write. With the
// standard transport's 4 KiB buffer a body goes out in 32 KiB writes (the
// buffer hands the copy to the connection), and the cloud wakes to read
// each of them.
const writeBuffer = 256 << 10

// Transport returns the HTTP transport uploads use when Config.Client (or
// OutboxConfig.Client) is nil: the standard one's settings (proxy from the
// environment, timeouts, keep-alives) with a write buffer that sends a
// segment's body in one write.
func Transport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.WriteBufferSize = writeBuffer
	return t
}
