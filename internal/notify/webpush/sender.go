package webpush

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"vigil/internal/netguard"
)

// Subscription is a browser's push subscription, in the JSON shape of
// PushSubscription.toJSON().
type Subscription struct {
	Endpoint string `json:"endpoint"`
	Keys     struct {
		P256dh string `json:"p256dh"` // base64url uncompressed P-256 point
		Auth   string `json:"auth"`   // base64url 16 bytes
	} `json:"keys"`
}

func (s Subscription) keys() (p256dh, auth []byte, err error) {
	dec := func(v string) ([]byte, error) {
		return base64.RawURLEncoding.DecodeString(strings.TrimRight(v, "="))
	}
	if p256dh, err = dec(s.Keys.P256dh); err != nil || len(p256dh) != keySize {
		return nil, nil, errors.New("webpush: subscription p256dh is not a base64url P-256 point")
	}
	if auth, err = dec(s.Keys.Auth); err != nil || len(auth) != authSize {
		return nil, nil, errors.New("webpush: subscription auth is not 16 base64url bytes")
	}
	return p256dh, auth, nil
}

// Urgency is the Urgency header of RFC 8030 section 5.3.
type Urgency string

// Urgencies.
const (
	UrgencyVeryLow Urgency = "very-low"
	UrgencyLow     Urgency = "low"
	UrgencyNormal  Urgency = "normal"
	UrgencyHigh    Urgency = "high"
)

// ErrGone is returned when the push service says the subscription no longer
// exists (404 or 410): the caller should delete it.
var ErrGone = errors.New("webpush: subscription is gone")

// StatusError is returned for a response other than 201 (or 202), 404 and
// 410. For 429 RetryAfter holds the service's Retry-After, if any.
type StatusError struct {
	Host       string // the endpoint's host; the full URL is a capability
	Status     int
	RetryAfter time.Duration
}

func (e *StatusError) Error() string {
	if e.Status == http.StatusTooManyRequests {
		return fmt.Sprintf("webpush: %s: rate limited (429), retry after %v", e.Host, e.RetryAfter)
	}
	return fmt.Sprintf("webpush: %s: status %d", e.Host, e.Status)
}

// Sender posts encrypted messages to push services.
type Sender struct {
	VAPID   *VAPIDKey
	Subject string // VAPID "sub": "mailto:..." or "https://..." contact

	// Client is used for the requests; nil means NewClient's with zero
	// Options: public addresses only, checked when each connection is made.
	Client *http.Client
	// Now is the clock for VAPID tokens; nil means time.Now.
	Now func() time.Time

	once   sync.Once
	client *http.Client // Client, or the default made on first use
}

// Message is one push.
type Message struct {
	Payload []byte        // at most MaxPlaintext bytes
	TTL     time.Duration // how long the push service keeps it; 0 means 0 (deliver now or never)
	Urgency Urgency       // "" means normal
	Topic   string        // optional; replaces an undelivered message with the same topic
}

// NewClient returns the client a Sender posts with: it connects only to
// the addresses o admits, checked on each resolved address when the
// connection is made (netguard), so an endpoint whose name resolves to
// loopback, a private network or a cloud metadata service is refused
// however it resolved before; it uses no proxy (a proxy would dial the
// endpoint out of the guard's sight), does not follow redirects, and gives
// a request 10 seconds.
func NewClient(o netguard.Options) *http.Client {
	return &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{
			DialContext:           netguard.NewDialer(o).DialContext,
			ForceAttemptHTTP2:     true,
			TLSHandshakeTimeout:   10 * time.Second,
			ResponseHeaderTimeout: 10 * time.Second,
			MaxIdleConnsPerHost:   4,
			IdleConnTimeout:       90 * time.Second,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// Send encrypts m for sub and posts it. It returns nil on 201/202, [ErrGone]
// on 404/410, and a *[StatusError] otherwise.
func (s *Sender) Send(ctx context.Context, sub Subscription, m Message) error {
	if s.VAPID == nil {
		return errors.New("webpush: sender has no VAPID key")
	}
	u, err := url.Parse(sub.Endpoint)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return errors.New("webpush: subscription endpoint is not an http(s) URL")
	}
	p256dh, auth, err := sub.keys()
	if err != nil {
		return err
	}
	body, err := Encrypt(m.Payload, p256dh, auth)
	if err != nil {
		return err
	}
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	authz, err := s.VAPID.Authorization(sub.Endpoint, s.Subject, now(), 12*time.Hour)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, sub.Endpoint, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("webpush: %s: %w", u.Host, err)
	}
	req.Header.Set("Content-Type", "application/octet-stream")
	req.Header.Set("Content-Encoding", "aes128gcm")
	req.Header.Set("TTL", strconv.Itoa(int(m.TTL/time.Second)))
	urg := m.Urgency
	if urg == "" {
		urg = UrgencyNormal
	}
	req.Header.Set("Urgency", string(urg))
	if m.Topic != "" {
		req.Header.Set("Topic", m.Topic)
	}
	req.Header.Set("Authorization", authz)
	s.once.Do(func() {
		s.client = s.Client
		if s.client == nil {
			s.client = NewClient(netguard.Options{})
		}
	})
	c := s.client
	resp, err := c.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL is a capability; keep it out of errors
		}
		return fmt.Errorf("webpush: %s: %w", u.Host, err)
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusCreated, http.StatusAccepted, http.StatusOK:
		return nil
	case http.StatusNotFound, http.StatusGone:
		return fmt.Errorf("%w (%s, status %d)", ErrGone, u.Host, resp.StatusCode)
	}
	e := &StatusError{Host: u.Host, Status: resp.StatusCode}
	if ra, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && ra >= 0 {
		e.RetryAfter = time.Duration(ra) * time.Second
	}
	return e
}
