// Package webhook posts detection events and health alerts as JSON to URLs the household sets,
// signed with HMAC-SHA256 so that receivers can check they come from the hub.
//
// Signature. Every request carries
//
//	Vigil-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, t + "." + body)>
//
// and receivers check it with [Verify], which also rejects timestamps outside
// a tolerance (replays). The secret is per household and never sent.
//
// What a webhook carries: event metadata only ([Body]: id, camera, labels,
// zones, times, score, alert; for the hub's health alerts, kind "health",
// the check and its message). The household chose the URL, so the metadata
// goes in the clear over it (use https); the snapshot is included only when
// [Config.IncludeSnapshot] is set. Only http and https URLs are accepted,
// redirects are not followed, every attempt has a timeout, and 5xx, 429 and
// network errors are retried with exponential backoff. Queueing is the
// [notify.Dispatcher]'s: one bounded queue per sink, oldest dropped first.
//
// The package never logs bodies, secrets or URLs' query strings.
package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"vigil/internal/notify"
)

// SignatureHeader is the header carrying the signature.
const SignatureHeader = "Vigil-Signature"

// Body is the JSON a webhook posts.
type Body struct {
	notify.Payload
	Snapshot []byte `json:"snapshot,omitempty"` // JPEG, base64 in JSON; only with IncludeSnapshot
}

// Config configures a [Notifier].
type Config struct {
	URLs   []string // http(s) URLs; each event is posted to every one
	Secret []byte   // HMAC key, at least 16 bytes

	// IncludeSnapshot adds the event's snapshot to the body. Off by default.
	IncludeSnapshot bool

	// Timeout bounds one attempt; 0 means 10s.
	Timeout time.Duration
	// Attempts is the number of tries per URL; 0 means 4.
	Attempts int
	// Backoff is the wait before the first retry, doubled after each; 0
	// means 1s.
	Backoff time.Duration
	// Client is used for requests; nil means one that follows no redirects.
	Client *http.Client
	// Now is the clock for signatures; nil means time.Now.
	Now func() time.Time
}

// Notifier posts events to the configured URLs.
type Notifier struct {
	cfg  Config
	urls []*url.URL
}

// New validates cfg and returns a notifier.
func New(cfg Config) (*Notifier, error) {
	if len(cfg.Secret) < 16 {
		return nil, errors.New("webhook: secret must be at least 16 bytes (hint: generate one with `openssl rand -hex 32`)")
	}
	n := &Notifier{cfg: cfg}
	for _, s := range cfg.URLs {
		u, err := url.Parse(s)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
			return nil, fmt.Errorf("webhook: URL %q is not an http(s) URL without credentials", redact(s))
		}
		n.urls = append(n.urls, u)
	}
	if n.cfg.Timeout <= 0 {
		n.cfg.Timeout = 10 * time.Second
	}
	if n.cfg.Attempts <= 0 {
		n.cfg.Attempts = 4
	}
	if n.cfg.Backoff <= 0 {
		n.cfg.Backoff = time.Second
	}
	if n.cfg.Client == nil {
		n.cfg.Client = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	if n.cfg.Now == nil {
		n.cfg.Now = time.Now
	}
	return n, nil
}

// redact drops a URL's query and credentials, which may hold tokens.
func redact(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparsable URL)"
	}
	u.User, u.RawQuery, u.Fragment = nil, "", ""
	return u.String()
}

// Notify posts ev to every URL concurrently, retrying, and returns the
// failures joined.
func (n *Notifier) Notify(ctx context.Context, ev notify.Event) error {
	b := Body{Payload: notify.PayloadOf(ev)}
	if n.cfg.IncludeSnapshot {
		b.Snapshot = ev.Snapshot
	}
	body, err := json.Marshal(b)
	if err != nil {
		return err
	}
	errs := make([]error, len(n.urls))
	done := make(chan struct{})
	for i, u := range n.urls {
		go func() {
			defer func() { done <- struct{}{} }()
			errs[i] = n.post(ctx, u, ev.ID, body)
		}()
	}
	for range n.urls {
		<-done
	}
	return errors.Join(errs...)
}

// StatusError is a final non-2xx response.
type StatusError struct {
	URL    string // without query
	Status int
}

func (e *StatusError) Error() string { return fmt.Sprintf("webhook: %s: status %d", e.URL, e.Status) }

func (n *Notifier) post(ctx context.Context, u *url.URL, id string, body []byte) error {
	wait := n.cfg.Backoff
	var last error
	for attempt := range n.cfg.Attempts {
		if attempt > 0 {
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return errors.Join(last, ctx.Err())
			case <-t.C:
			}
			wait *= 2
		}
		retry, err := n.attempt(ctx, u, id, body)
		if err == nil {
			return nil
		}
		last = err
		if !retry {
			return err
		}
	}
	return last
}

func (n *Notifier) attempt(ctx context.Context, u *url.URL, id string, body []byte) (retry bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, n.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(body))
	if err != nil {
		return false, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Vigil-Webhook/1")
	req.Header.Set("Vigil-Event-Id", id)
	req.Header.Set(SignatureHeader, Sign(n.cfg.Secret, n.cfg.Now(), body))
	resp, err := n.cfg.Client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return ctx.Err() == nil || errors.Is(ctx.Err(), context.DeadlineExceeded), fmt.Errorf("webhook: %s: %w", redact(u.String()), err)
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return false, nil
	}
	se := &StatusError{URL: redact(u.String()), Status: resp.StatusCode}
	return resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests, se
}

// Sign returns the signature header value for body at time t.
func Sign(secret []byte, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac(secret, ts, body))
}

func mac(secret []byte, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts))
	m.Write([]byte("."))
	m.Write(body)
	return m.Sum(nil)
}

// Errors returned by [Verify].
var (
	ErrMalformedSignature = errors.New("webhook: malformed signature header")
	ErrBadSignature       = errors.New("webhook: signature does not match")
	ErrStale              = errors.New("webhook: signature timestamp outside tolerance")
)

// Verify checks a Vigil-Signature header value against body: that one of its
// v1 signatures is the HMAC-SHA256 of t + "." + body under secret, and that t
// is within tolerance of now (either side). Receivers use it as:
//
//	err := webhook.Verify(secret, r.Header.Get(webhook.SignatureHeader), body, time.Now(), 5*time.Minute)
func Verify(secret []byte, header string, body []byte, now time.Time, tolerance time.Duration) error {
	if len(header) > 1024 {
		return ErrMalformedSignature
	}
	var ts string
	var sigs [][]byte
	for p := range strings.SplitSeq(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(p), "=")
		if !ok {
			return ErrMalformedSignature
		}
		switch k {
		case "t":
			ts = v
		case "v1":
			s, err := hex.DecodeString(v)
			if err != nil || len(s) != sha256.Size {
				return ErrMalformedSignature
			}
			sigs = append(sigs, s)
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || len(sigs) == 0 || strconv.FormatInt(sec, 10) != ts {
		return ErrMalformedSignature
	}
	want := mac(secret, ts, body)
	ok := false
	for _, s := range sigs {
		ok = hmac.Equal(s, want) || ok
	}
	if !ok {
		return ErrBadSignature
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return ErrStale
	}
	return nil
}
