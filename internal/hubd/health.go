package hubd

import (
	"context"
	"fmt"
	"log/slog"
	"math/bits"
	"net/http"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"vigil/internal/buildinfo"
	"vigil/internal/cloudapi"
	"vigil/internal/upload"
)

// Health reports. A paired hub tells the cloud how it is doing, signed
// with its device key (POST /v1/hub/health): its build, when it started,
// how many cameras it has and records, and its upload queue — backlog,
// failure counts and the latest failure as a kind, a status and a short
// scrubbed message. Metadata only: no camera name, path, address or URL
// leaves the hub in one (docs/THREAT_MODEL.md). Staff see the latest
// report under a household's lockbox grant.
//
// The sender runs in a goroutine of its own: a report soon after start,
// one every healthEvery, and one promptly (within healthPoll) when the
// backlog starts, doubles or ends, or the latest failure changes. It never blocks recording or
// uploads; a report that cannot be sent is logged once until one goes
// through again.

const (
	healthEvery   = time.Minute
	healthPoll    = 5 * time.Second
	healthTimeout = 30 * time.Second
	// maxHealthMessage bounds the error text the hub sends (the cloud
	// takes at most 200 bytes).
	maxHealthMessage = 160
)

// healthStats is what a report is made from, read at once.
type healthStats struct {
	Cameras, Recording int
	Uploads            upload.Stats
}

// healthSender makes and sends health reports.
type healthSender struct {
	send    func(ctx context.Context, h cloudapi.HubHealth) error
	stats   func() healthStats
	now     func() time.Time
	log     *slog.Logger
	every   time.Duration
	poll    time.Duration
	started time.Time
	version string

	sentKey string    // the state of the last report the cloud took
	errKey  string    // the latest failure, scrubbed
	errAt   time.Time // when the hub first saw it
	failing bool      // the last report could not be sent (logged)
}

// startHealth starts the paired hub's health reports.
func (h *Hub) startHealth(ctx context.Context) {
	s := &healthSender{
		send: func(ctx context.Context, r cloudapi.HubHealth) error {
			_, err := h.cloud.ReportHealth(ctx, r)
			return err
		},
		stats:   h.healthStats,
		now:     h.opts.Now,
		log:     h.log.With("component", "health"),
		every:   h.opts.HealthEvery,
		poll:    h.opts.HealthPoll,
		started: h.opts.Now().UTC(),
		version: buildinfo.Version(),
	}
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		s.run(ctx)
	}()
}

func (h *Hub) healthStats() healthStats {
	recs := h.recorders()
	st := healthStats{Cameras: len(recs), Uploads: h.uploader.Stats()}
	for _, r := range recs {
		if r.Stats().Ingest.Connected {
			st.Recording++
		}
	}
	return st
}

// run sends reports until ctx ends.
func (s *healthSender) run(ctx context.Context) {
	if s.every <= 0 {
		s.every = healthEvery
	}
	if s.poll <= 0 {
		s.poll = healthPoll
	}
	poll := time.NewTicker(s.poll)
	defer poll.Stop()
	next := s.now() // the first report goes at once
	for {
		r, key := s.report()
		now := s.now()
		if key != s.sentKey || !now.Before(next) {
			if s.trySend(ctx, r) {
				s.sentKey = key
				next = now.Add(s.every)
			} else {
				// Retried at the next regular report, not every poll.
				s.sentKey = key
				next = now.Add(min(s.every, 30*time.Second))
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-poll.C:
		}
	}
}

// trySend sends r, logging the first failure of a run of them and the
// recovery after one.
func (s *healthSender) trySend(ctx context.Context, r cloudapi.HubHealth) bool {
	sctx, cancel := context.WithTimeout(ctx, healthTimeout)
	defer cancel()
	err := s.send(sctx, r)
	if err != nil && ctx.Err() != nil {
		return false // stopping: not a failure to report
	}
	switch {
	case err != nil && !s.failing:
		s.failing = true
		s.log.Warn("health report not sent; will keep trying (logged once until one goes through)", "err", err)
	case err != nil:
		s.log.Debug("health report not sent", "err", err)
	case s.failing:
		s.failing = false
		s.log.Info("health reports reach the cloud again")
	}
	return err == nil
}

// report makes a report of the hub now, and the key of the state it
// reports: a new key is sent at once.
func (s *healthSender) report() (cloudapi.HubHealth, string) {
	st := s.stats()
	u := st.Uploads
	now := s.now().UTC()
	r := cloudapi.HubHealth{Version: s.version, Started: s.started, Sent: now, Cameras: st.Cameras, Recording: st.Recording,
		Uploads: cloudapi.HubUploads{Pending: u.Pending, OldestPending: u.OldestPending, Failures: u.Failures,
			Rejected: u.Rejected, Evicted: u.Evicted, CloudAway: u.CloudAway}}
	if u.Pending == 0 {
		r.Uploads.OldestPending = time.Time{}
	}
	if e := scrubError(u.LastErrorKind, u.LastErrorStatus, u.LastError); e != nil {
		k := fmt.Sprint(e.Kind, e.Status, e.Message)
		if k != s.errKey {
			s.errKey, s.errAt = k, now
		}
		e.At = s.errAt
		r.Uploads.LastError = e
	}
	// The backlog counts as changed when it starts, ends or doubles.
	key := fmt.Sprint(bits.Len64(uint64(max(u.Pending, 0))), u.CloudAway, s.errKey, u.Rejected, u.Evicted, st.Cameras, st.Recording)
	return r, key
}

// scrubError is the latest upload failure as a report gives it, nil if
// there is none: its kind, its HTTP status, and a short message that names
// no URL, path, address or camera. Failures without an answer from the
// cloud, and the hub's own, get a fixed phrase; an answer's status line
// and the cloud's message are kept with anything that looks like a place
// dropped.
func scrubError(kind string, status int, msg string) *cloudapi.HubError {
	if kind == "" {
		return nil
	}
	e := &cloudapi.HubError{Status: status}
	switch kind {
	case upload.ErrNetwork:
		e.Kind, e.Status, e.Message = cloudapi.HubErrorNetwork, 0, networkPhrase(msg)
		return e
	case upload.ErrLocal:
		e.Kind, e.Status, e.Message = cloudapi.HubErrorLocal, 0, "the hub could not read a segment or its upload queue"
		return e
	case upload.ErrRefused:
		e.Kind = cloudapi.HubErrorRefused
	case upload.ErrServer:
		e.Kind = cloudapi.HubErrorServer
	case upload.ErrRejected:
		e.Kind = cloudapi.HubErrorRejected
	default:
		return nil
	}
	if status < 100 || status > 599 {
		// No answer to quote: the hub's own refusal of a segment, or a
		// request it could not sign.
		e.Status = 0
		if kind == upload.ErrRejected {
			e.Message = "a segment failed the hub's own checks before upload"
		} else {
			e.Message = "the hub could not sign its request"
		}
		return e
	}
	e.Message = scrubText(msg)
	if e.Message == "" {
		e.Message = fmt.Sprintf("%d %s", status, http.StatusText(status))
	}
	return e
}

// networkPhrase names a network failure by what kind it is, never by the
// error's text (which names the cloud's URL and addresses).
func networkPhrase(msg string) string {
	m := strings.ToLower(msg)
	for _, p := range []struct{ has, say string }{
		{"connection refused", "connection refused"},
		{"no such host", "the cloud's name did not resolve"},
		{"server misbehaving", "the cloud's name did not resolve"},
		{"x509", "TLS certificate not accepted"},
		{"certificate", "TLS certificate not accepted"},
		{"tls", "TLS handshake failed"},
		{"deadline exceeded", "timed out"},
		{"timeout", "timed out"},
		{"connection reset", "connection reset"},
		{"broken pipe", "connection reset"},
		{"network is unreachable", "network unreachable"},
		{"no route to host", "network unreachable"},
		{"eof", "connection closed before an answer"},
	} {
		if strings.Contains(m, p.has) {
			return p.say
		}
	}
	return "network error"
}

// ipv4 matches a dotted-quad address.
var ipv4 = regexp.MustCompile(`\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}`)

// scrubText keeps the words of msg that name no place: a word with a
// slash, backslash or at sign, a colon before a digit or colon or between
// hex digits, or a dotted-quad address becomes "…"; characters that are
// not printable go; the result is at most maxHealthMessage bytes.
func scrubText(msg string) string {
	msg = strings.ToValidUTF8(msg, "")
	var words []string
	for _, w := range strings.Fields(msg) {
		w = strings.Map(func(r rune) rune {
			if !unicode.IsPrint(r) || r == utf8.RuneError {
				return -1
			}
			return r
		}, w)
		if w == "" {
			continue
		}
		if placeLike(w) {
			w = "…"
		}
		if n := len(words); n > 0 && w == "…" && words[n-1] == "…" {
			continue
		}
		words = append(words, w)
	}
	out := strings.Join(words, " ")
	if len(out) > maxHealthMessage {
		cut := maxHealthMessage - len("…")
		for cut > 0 && !utf8.RuneStart(out[cut]) {
			cut--
		}
		out = out[:cut] + "…"
	}
	return out
}

func placeLike(w string) bool {
	if strings.ContainsAny(w, `/\@`) || ipv4.MatchString(w) {
		return true
	}
	for i := 0; i+1 < len(w); i++ {
		if w[i] != ':' {
			continue
		}
		if n := w[i+1]; n == ':' || n >= '0' && n <= '9' || i > 0 && isHexDigit(w[i-1]) && isHexDigit(n) {
			return true
		}
	}
	return false
}

func isHexDigit(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}
