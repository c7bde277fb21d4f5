package hubhealth

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"vigil/internal/cloud/store"
)

// Store is the storage the domain needs.
type Store interface {
	// PutHubReport stores r as its hub's latest report, replacing the one
	// before; ErrNotFound when r's household does not exist.
	PutHubReport(ctx context.Context, r store.HubReport) error
	// HubReports returns the latest report of each hub of the household
	// that reported, by hub ID (empty, not an error, when none did).
	HubReports(ctx context.Context, householdID string) ([]store.HubReport, error)
	// QuietHubReports returns, across households, the reports of hubs
	// received before before and not marked quiet, and of hubs marked
	// quiet that reported since; at most limit, oldest contact first.
	QuietHubReports(ctx context.Context, before time.Time, limit int) ([]store.HubReport, error)
	// MarkHubQuiet marks the hub's report quiet if it is still the one
	// received at lastContact and not marked yet: whether it did.
	MarkHubQuiet(ctx context.Context, householdID, hubID string, lastContact time.Time) (bool, error)
	// MarkHubBack clears the quiet mark set at quiet of a hub that has
	// reported since: whether it did.
	MarkHubBack(ctx context.Context, householdID, hubID string, quiet time.Time) (bool, error)
}

// Limits on a report.
const (
	MaxVersion  = 64   // bytes of Version
	MaxMessage  = 200  // bytes of ErrorMessage
	MaxCameras  = 256  // cameras a hub may say it has
	MaxCount    = 1e12 // any counter
	MaxClockOff = 15 * time.Minute
)

// The kinds of upload failure a report may name (cloudapi.HubError*).
var errorKinds = map[string]bool{"network": true, "refused": true, "server": true, "rejected": true, "local": true}

// earliest is before any hub ran this software: an earlier time is a bug
// or a lie.
var earliest = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// Error is a refused report, with a message for the hub's log naming the
// field and what is wrong.
type Error struct{ Msg string }

func (e *Error) Error() string { return e.Msg }

func errorf(format string, args ...any) *Error { return &Error{Msg: fmt.Sprintf(format, args...)} }

// Config configures a Service.
type Config struct {
	Store Store
	Now   func() time.Time // nil: time.Now
}

// Service is the domain. It holds no state but its configuration, so
// replicas sharing a Store behave as one.
type Service struct {
	st  Store
	now func() time.Time
}

// New returns a Service.
func New(c Config) (*Service, error) {
	if c.Store == nil {
		return nil, errors.New("hubhealth: a store is required")
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return &Service{st: c.Store, now: c.Now}, nil
}

// Report checks r and stores it as its hub's latest report, received now.
// r.HouseholdID and r.HubID are the caller's (from the device signature),
// r.Received is set here.
func (s *Service) Report(ctx context.Context, r store.HubReport) (store.HubReport, error) {
	if r.HouseholdID == "" || r.HubID == "" {
		return store.HubReport{}, errors.New("hubhealth: a report needs its household and hub")
	}
	now := s.now().UTC()
	if err := Check(r, now); err != nil {
		return store.HubReport{}, err
	}
	r.Received = now.Truncate(time.Microsecond)
	for _, t := range []*time.Time{&r.Started, &r.Sent, &r.OldestPending, &r.ErrorAt} {
		*t = t.UTC().Truncate(time.Microsecond)
	}
	if err := s.st.PutHubReport(ctx, r); err != nil {
		return store.HubReport{}, err
	}
	return r, nil
}

// Reports returns the household's hubs' latest reports by hub ID.
func (s *Service) Reports(ctx context.Context, householdID string) (map[string]store.HubReport, error) {
	rs, err := s.st.HubReports(ctx, householdID)
	if err != nil {
		return nil, err
	}
	out := make(map[string]store.HubReport, len(rs))
	for _, r := range rs {
		out[r.HubID] = r
	}
	return out, nil
}

// Check returns why r is not a report the cloud keeps, or nil. now is the
// cloud's clock. It looks at what the hub wrote, not at HouseholdID, HubID
// or Received.
func Check(r store.HubReport, now time.Time) error {
	if err := checkVersion(r.Version); err != nil {
		return err
	}
	if r.Sent.IsZero() || r.Sent.Sub(now).Abs() > MaxClockOff {
		return errorf("sent: %v is more than %v from the cloud's clock", r.Sent.UTC().Format(time.RFC3339), MaxClockOff)
	}
	// Every other time is the hub's, compared with its own Sent.
	late := r.Sent.Add(time.Minute)
	if err := checkTime("started", r.Started, late, false); err != nil {
		return err
	}
	if r.Cameras < 0 || r.Cameras > MaxCameras {
		return errorf("cameras: %d, want 0 to %d", r.Cameras, MaxCameras)
	}
	if r.Recording < 0 || r.Recording > r.Cameras {
		return errorf("recording: %d cameras of %d", r.Recording, r.Cameras)
	}
	for _, c := range []struct {
		name string
		n    int64
	}{{"uploads.pending", r.Pending}, {"uploads.failures", r.Failures}, {"uploads.rejected", r.Rejected}, {"uploads.evicted", r.Evicted}} {
		if c.n < 0 || c.n > MaxCount {
			return errorf("%s: %d is out of range", c.name, c.n)
		}
	}
	if r.Pending == 0 && !r.OldestPending.IsZero() {
		return errorf("uploads.oldest_pending: set with nothing pending")
	}
	if err := checkTime("uploads.oldest_pending", r.OldestPending, late, true); err != nil {
		return err
	}
	return checkError(r, late)
}

func checkVersion(v string) error {
	if v == "" || len(v) > MaxVersion {
		return errorf("version: %d bytes, want 1 to %d", len(v), MaxVersion)
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; c <= ' ' || c > '~' {
			return errorf("version: byte %d is not printable ASCII", i)
		}
	}
	if looksLikeLocation(v) {
		return errorf("version: looks like a URL, address or path")
	}
	return nil
}

func checkTime(name string, t, late time.Time, optional bool) error {
	if t.IsZero() {
		if optional {
			return nil
		}
		return errorf("%s: missing", name)
	}
	if t.Before(earliest) || t.After(late) {
		return errorf("%s: %v is before %v or after the report was sent", name, t.UTC().Format(time.RFC3339), earliest.Format(time.RFC3339))
	}
	return nil
}

func checkError(r store.HubReport, late time.Time) error {
	if r.ErrorKind == "" {
		if r.ErrorStatus != 0 || r.ErrorMessage != "" || !r.ErrorAt.IsZero() {
			return errorf("uploads.last_error: a status, message or time without a kind")
		}
		return nil
	}
	if !errorKinds[r.ErrorKind] {
		return errorf("uploads.last_error.kind: %.32q is not one of network, refused, server, rejected, local", r.ErrorKind)
	}
	switch r.ErrorKind {
	case "refused", "server", "rejected":
		if r.ErrorStatus != 0 && (r.ErrorStatus < 100 || r.ErrorStatus > 599) {
			return errorf("uploads.last_error.status: %d is not an HTTP status", r.ErrorStatus)
		}
	default:
		if r.ErrorStatus != 0 {
			return errorf("uploads.last_error.status: a %s failure has no HTTP status", r.ErrorKind)
		}
	}
	if err := checkMessage(r.ErrorMessage); err != nil {
		return err
	}
	return checkTime("uploads.last_error.at", r.ErrorAt, late, false)
}

// checkMessage refuses an error text that is long, not UTF-8, has control
// or formatting characters, or looks like it names a place (a URL, an
// e-mail or network address, a file path): the hub scrubs those, so one
// that arrives is a bug or a lie, and staff never see it.
func checkMessage(m string) error {
	if m == "" || len(m) > MaxMessage {
		return errorf("uploads.last_error.message: %d bytes, want 1 to %d", len(m), MaxMessage)
	}
	// JSON decoding turns bytes that are not UTF-8 into U+FFFD.
	if !utf8.ValidString(m) || strings.ContainsRune(m, utf8.RuneError) {
		return errorf("uploads.last_error.message: not UTF-8")
	}
	for _, c := range m {
		if !unicode.IsPrint(c) {
			return errorf("uploads.last_error.message: holds a control or formatting character (%U)", c)
		}
	}
	if looksLikeLocation(m) || ipv4.MatchString(m) {
		return errorf("uploads.last_error.message: looks like it names a URL, address or file path; send a scrubbed message")
	}
	return nil
}

// looksLikeLocation reports whether s holds what a scrubbed text never
// does: a slash or backslash (URLs, paths), an at sign (e-mail, userinfo),
// or a colon before a digit or another colon, or between hex digits
// (host:port, IPv6).
func looksLikeLocation(s string) bool {
	if strings.ContainsAny(s, `/\@`) {
		return true
	}
	for i := 0; i+1 < len(s); i++ {
		if s[i] != ':' {
			continue
		}
		if n := s[i+1]; n == ':' || n >= '0' && n <= '9' || i > 0 && isHex(s[i-1]) && isHex(n) {
			return true
		}
	}
	return false
}

// ipv4 matches a dotted-quad address.
var ipv4 = regexp.MustCompile(`\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}`)

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}
