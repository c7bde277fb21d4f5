package doorbell

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The signed HTTP press (docs/CONFIG.md, "Doorbells"):
//
//	POST /v1/doorbells/<camera>/press
//	Vigil-Signature: t=<unix seconds>,n=<nonce>,v1=<hex HMAC-SHA-256>
//
// The MAC is HMAC-SHA-256 with the button's secret over
// "vigil-press-v1\n<camera>\n<t>\n<nonce>". The nonce is 16 to 64 of
// A-Z a-z 0-9 _ -, fresh for every press; t must be within the window of
// the hub's clock, and a nonce is accepted once within it.

// PressSignatureHeader carries a press's signature.
const PressSignatureHeader = "Vigil-Signature"

// PressPath is the path of camera's signed presses.
func PressPath(camera string) string { return "/v1/doorbells/" + camera + "/press" }

// DefaultWindow is how far a press's timestamp may be from the hub's clock.
const DefaultWindow = time.Minute

// maxNonces bounds the nonces remembered per source; past it, presses are
// refused until old ones leave the window (a flood of validly signed
// presses means the secret is out anyway).
const maxNonces = 4096

var nonceRE = regexp.MustCompile(`^[A-Za-z0-9_-]{16,64}$`)

// Errors of a signed press, wrapped with details.
var (
	ErrUnsigned     = errors.New("doorbell: the press is not signed")
	ErrMalformed    = errors.New("doorbell: malformed press signature")
	ErrBadSignature = errors.New("doorbell: the press signature does not match the button's secret")
	ErrStale        = errors.New("doorbell: the press is outside the replay window")
	ErrReplayed     = errors.New("doorbell: the press's nonce was already used")
)

func pressMAC(secret []byte, camera, ts, nonce string) []byte {
	m := hmac.New(sha256.New, secret)
	fmt.Fprintf(m, "vigil-press-v1\n%s\n%s\n%s", camera, ts, nonce)
	return m.Sum(nil)
}

// SignPress returns the Vigil-Signature header value of a press of camera
// at t with nonce, signed with the button's secret.
func SignPress(secret []byte, camera string, t time.Time, nonce string) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",n=" + nonce + ",v1=" + hex.EncodeToString(pressMAC(secret, camera, ts, nonce))
}

// NewNonce returns a fresh random nonce for [SignPress].
func NewNonce() string { return newID() }

// HTTPSource accepts signed presses over HTTP on Listener.
type HTTPSource struct {
	// Listener is where presses arrive (the hub's doorbell_listen). Run
	// closes it.
	Listener net.Listener
	// Secrets are the buttons' secrets by camera name. Never logged.
	Secrets map[string][]byte
	// Window bounds the timestamp's distance from Now; 0 means
	// [DefaultWindow].
	Window time.Duration
	// Now is the hub's clock; nil means time.Now.
	Now func() time.Time
	// Logger gets refused presses (never a secret or a signature); nil
	// discards.
	Logger *slog.Logger

	mu     sync.Mutex
	nonces map[string]time.Time // camera + "\n" + nonce -> timestamp
}

// Verify checks a press of camera signed with header at now, and
// remembers its nonce. It returns one of the package's errors, wrapped.
func (s *HTTPSource) Verify(camera, header string, now time.Time) error {
	secret, ok := s.Secrets[camera]
	if !ok {
		return fmt.Errorf("doorbell: no doorbell %q with a secret", camera)
	}
	if header == "" {
		return fmt.Errorf("%w: send the %s header (t=<unix seconds>,n=<nonce>,v1=<hex HMAC-SHA-256>)", ErrUnsigned, PressSignatureHeader)
	}
	if len(header) > 512 {
		return fmt.Errorf("%w: header too long", ErrMalformed)
	}
	var ts, nonce, sig string
	for p := range strings.SplitSeq(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(p), "=")
		if !ok {
			return fmt.Errorf("%w: %q is not key=value", ErrMalformed, k)
		}
		switch k {
		case "t":
			ts = v
		case "n":
			nonce = v
		case "v1":
			sig = v
		default:
			return fmt.Errorf("%w: unknown key %q (t, n and v1 are known)", ErrMalformed, k)
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || strconv.FormatInt(sec, 10) != ts {
		return fmt.Errorf("%w: t must be the press's time in Unix seconds", ErrMalformed)
	}
	if !nonceRE.MatchString(nonce) {
		return fmt.Errorf("%w: n must be a fresh nonce of 16 to 64 of A-Z a-z 0-9 _ -", ErrMalformed)
	}
	mac, err := hex.DecodeString(sig)
	if err != nil || len(mac) != sha256.Size {
		return fmt.Errorf("%w: v1 must be the hex HMAC-SHA-256 of the press", ErrMalformed)
	}
	if !hmac.Equal(mac, pressMAC(secret, camera, ts, nonce)) {
		return ErrBadSignature
	}
	window := s.Window
	if window <= 0 {
		window = DefaultWindow
	}
	at := time.Unix(sec, 0)
	if d := now.Sub(at); d > window || d < -window {
		return fmt.Errorf("%w: signed at %s, the hub's clock says %s (window %s; check the button's clock)",
			ErrStale, at.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339), window)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.nonces == nil {
		s.nonces = map[string]time.Time{}
	}
	for k, t := range s.nonces {
		if now.Sub(t) > window {
			delete(s.nonces, k)
		}
	}
	key := camera + "\n" + nonce
	if _, seen := s.nonces[key]; seen {
		return ErrReplayed
	}
	if len(s.nonces) >= maxNonces {
		return fmt.Errorf("%w: more than %d presses within the window", ErrReplayed, maxNonces)
	}
	// Kept until the timestamp (which may lie ahead) leaves the window.
	if at.Before(now) {
		at = now
	}
	s.nonces[key] = at
	return nil
}

// Handler returns the HTTP handler of presses, calling press for each
// verified one.
func (s *HTTPSource) Handler(press func(Press)) http.Handler {
	now := s.Now
	if now == nil {
		now = time.Now
	}
	log := s.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/v1/doorbells/{camera}/press", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			http.Error(w, "a press is a POST", http.StatusMethodNotAllowed)
			return
		}
		io.Copy(io.Discard, io.LimitReader(r.Body, 4096))
		cam := r.PathValue("camera")
		t := now()
		err := s.Verify(cam, r.Header.Get(PressSignatureHeader), t)
		switch {
		case err == nil:
			press(Press{Camera: cam, Time: t, Source: "http"})
			w.WriteHeader(http.StatusNoContent)
			return
		case errors.Is(err, ErrReplayed):
			http.Error(w, err.Error(), http.StatusConflict)
		case errors.Is(err, ErrUnsigned), errors.Is(err, ErrMalformed), errors.Is(err, ErrBadSignature), errors.Is(err, ErrStale):
			http.Error(w, err.Error(), http.StatusUnauthorized)
		default:
			http.Error(w, err.Error(), http.StatusNotFound)
		}
		log.Warn("doorbell press refused", "camera", cam, "remote", r.RemoteAddr, "err", err)
	})
	return mux
}

// Run serves presses on s.Listener until ctx ends.
func (s *HTTPSource) Run(ctx context.Context, press func(Press)) error {
	if s.Listener == nil {
		return errors.New("doorbell: the HTTP press source has no listener")
	}
	hs := &http.Server{Handler: s.Handler(press), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 30 * time.Second, IdleTimeout: time.Minute, MaxHeaderBytes: 16 << 10}
	if s.Logger != nil {
		hs.ErrorLog = slog.NewLogLogger(s.Logger.Handler(), slog.LevelWarn)
	}
	done := make(chan error, 1)
	go func() { done <- hs.Serve(s.Listener) }()
	select {
	case err := <-done:
		return fmt.Errorf("doorbell: HTTP presses: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		hs.Close()
	}
	<-done
	return ctx.Err()
}
