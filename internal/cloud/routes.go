package cloud

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"time"

	"vigil/internal/blob/s3blob"
	"vigil/internal/cloud/accounts"
	"vigil/internal/cloud/staff"
	"vigil/internal/cloud/store"
	"vigil/internal/envelope"
)

// authKind says what a route requires of the caller.
type authKind int

const (
	authNone    authKind = iota // anyone (rate limited where it matters)
	authAccount                 // a signed-in account (session cookie + CSRF, or API token)
	authMember                  // authAccount and a member of the household {hh}
	authAdmin                   // authMember with the admin role
	authDevice                  // a device signature (hubs)
	// authUpload is authDevice for PUT /v1/objects, whose effect is keyed
	// by its content: its nonces are remembered per replica only
	// (devnonces.go).
	authUpload
	authStaff // a staff session (staff.go): never an account's, and never enough for any other kind
	// authWorkspace is a request signed by a device of the labelling
	// workspace {ws}'s current chain (labelling_web.go).
	authWorkspace
)

// route is one API route. Household routes (authMember, authAdmin) are
// checked and recorded in wrap, nowhere else.
type route struct {
	method, pattern string
	auth            authKind
	// action names the access for the record ("objects.list", ...); set on
	// every route that reads household data.
	action string
	// staffRoles are the staff roles that may use an authStaff route
	// (staff.SupportRoles, ...); a role not named gets 403, and a route
	// naming none refuses every staff member.
	staffRoles []string
	h          func(w http.ResponseWriter, r *http.Request, c *call) error
}

// call is what wrap established about a request.
type call struct {
	ip        string
	account   store.Account // authAccount and up
	token     store.Token
	household store.Household // authMember and up
	member    store.Member
	device    string // authDevice: the device ID
	body      []byte // authDevice: the verified body
	// staff and staffToken are the staff member of an authStaff route and
	// their session.
	staff      store.Staff
	staffToken store.StaffToken
	// digests are body's SHA-256 sums (authDevice), computed once: the
	// request signature covers the whole, and a sealed object's producer
	// signature its commitment (objects.go).
	digests envelope.Digests
}

func (s *Server) routes() []route {
	rs := []route{
		{method: "POST", pattern: "/v1/accounts", auth: authNone, h: s.signUp},
		{method: "POST", pattern: "/v1/sessions", auth: authNone, h: s.signIn},
		{method: "DELETE", pattern: "/v1/sessions/current", auth: authAccount, h: s.signOut},
		{method: "POST", pattern: "/v1/account/reset", auth: authNone, h: s.resetStart},
		{method: "POST", pattern: "/v1/account/reset/confirm", auth: authNone, h: s.resetConfirm},
		{method: "GET", pattern: "/v1/account", auth: authAccount, h: s.getAccount},
		{method: "GET", pattern: "/v1/sessions/current/device", auth: authAccount, h: s.getSessionDevice},
		{method: "PUT", pattern: "/v1/sessions/current/device", auth: authAccount, h: s.bindSessionDevice},
		{method: "POST", pattern: "/v1/passkeys/register/begin", auth: authAccount, h: s.passkeyRegisterBegin},
		{method: "POST", pattern: "/v1/passkeys/register/finish", auth: authAccount, h: s.passkeyRegisterFinish},
		{method: "POST", pattern: "/v1/passkeys/login/begin", auth: authNone, h: s.passkeyLoginBegin},
		{method: "POST", pattern: "/v1/passkeys/login/finish", auth: authNone, h: s.passkeyLoginFinish},
		{method: "GET", pattern: "/v1/passkeys", auth: authAccount, h: s.listPasskeys},
		{method: "DELETE", pattern: "/v1/passkeys/{id}", auth: authAccount, h: s.deletePasskey},

		{method: "POST", pattern: "/v1/households", auth: authAccount, h: s.createHousehold},
		{method: "GET", pattern: "/v1/households", auth: authAccount, h: s.listHouseholds},
		{method: "GET", pattern: "/v1/households/{hh}", auth: authMember, action: "household.read", h: s.getHousehold},
		{method: "GET", pattern: "/v1/households/{hh}/chain", auth: authMember, action: "chain.read", h: s.getChain},
		{method: "POST", pattern: "/v1/households/{hh}/chain", auth: authAdmin, action: "chain.append", h: s.appendChain},
		{method: "GET", pattern: "/v1/households/{hh}/cameras", auth: authMember, action: "cameras.list", h: s.listCameras},
		{method: "GET", pattern: "/v1/households/{hh}/objects", auth: authMember, action: "objects.list", h: s.listObjects},
		{method: "GET", pattern: "/v1/households/{hh}/objects/{key...}", auth: authMember, action: "object.read", h: s.readObject},

		{method: "POST", pattern: "/v1/pairings", auth: authNone, h: s.createPairing},
		{method: "GET", pattern: "/v1/pairings/{id}", auth: authNone, h: s.getPairing},
		{method: "POST", pattern: "/v1/pairings/{id}/messages", auth: authNone, h: s.postPairingMsg},

		{method: "PUT", pattern: "/v1/objects", auth: authUpload, h: s.upload},
		{method: "GET", pattern: "/v1/hub/chain", auth: authDevice, h: s.hubChain},
	}
	// Each feature declares its routes next to its handlers.
	rs = append(rs, s.householdRoutes()...) // households_web.go: members, devices joining, settings
	rs = append(rs, s.liveRoutes()...)      // live.go: live-view signalling, TURN credentials
	rs = append(rs, s.shareRoutes()...)     // shares.go: shared ranges for guests and links
	rs = append(rs, s.eventRoutes()...)     // events.go: sealed detection events, their WebSocket, Web Push
	rs = append(rs, s.logRoutes()...)       // translog.go: the households' histories in the transparency log
	// signinlink.go: one-time sign-in links, device requests.
	rs = append(rs, s.signInLinkRoutes()...)
	rs = append(rs, s.staffRoutes()...)       // staff.go: the staff side, its own auth kind
	rs = append(rs, s.staffSignInRoutes()...) // staff.go: staff passkey enrolment and sign-in
	rs = append(rs, s.lockboxRoutes()...)     // staff.go: household admins decide staff requests
	rs = append(rs, s.hubHealthRoutes()...)   // hubhealth_web.go: hubs report their health
	rs = append(rs, s.labellingRoutes()...)   // labelling_web.go: donations, labelling workspaces
	return rs
}

// Routes lists the API's routes as "METHOD pattern" (for docs and tests).
func (s *Server) Routes() []string {
	var out []string
	for _, r := range s.routes() {
		out = append(out, r.method+" "+r.pattern)
	}
	return out
}

// apiError is an error with the status and message the client sees.
type apiError struct {
	status int
	msg    string
	// retryAfter, in seconds, for 429 and 503.
	retryAfter int
}

func (e *apiError) Error() string { return e.msg }

func errorf(status int, format string, args ...any) *apiError {
	return &apiError{status: status, msg: fmt.Sprintf(format, args...)}
}

// errNotFound is the one answer for anything that does not exist or is not
// the caller's: the same status and the same bytes.
var errNotFound = &apiError{status: http.StatusNotFound, msg: "not found"}

var errSignIn = accountsError(accounts.ErrSignInRequired)

func writeError(w http.ResponseWriter, err error) {
	ae := accountsError(err)
	if ae == nil {
		ae = householdsError(err)
	}
	if ae == nil {
		ae = staffError(err)
	}
	if ae == nil && !errors.As(err, &ae) {
		ae = &apiError{status: http.StatusInternalServerError, msg: "internal error"}
	}
	if ae.retryAfter > 0 {
		w.Header().Set("Retry-After", fmt.Sprint(ae.retryAfter))
	}
	writeJSON(w, ae.status, map[string]string{"error": ae.msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"internal error"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// wrap authenticates and authorises a request as its route declares, records
// household reads, and turns errors into JSON answers.
func (s *Server) wrap(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := &call{ip: s.clientIP(r)}
		r, err := s.authorize(w, r, rt, c)
		if err == nil {
			err = rt.h(w, r, c)
		}
		if err != nil {
			if ae := accountsError(err); ae != nil {
				err = ae
			} else if ae := householdsError(err); ae != nil {
				err = ae
			} else if ae := staffError(err); ae != nil {
				err = ae
			} else if ae := labellingError(err); ae != nil {
				err = ae
			}
			var ae *apiError
			if !errors.As(err, &ae) {
				if u := unavailable(err); u != nil {
					s.outage.note(s.log, rt, err)
					err = u
				} else {
					s.log.Error("request failed", "route", rt.method+" "+rt.pattern, "err", err)
				}
			}
			writeError(w, err)
		}
	})
}

// retryUnavailable is the Retry-After, in seconds, of an answer that a
// backing service is unavailable: hubs keep their queue and send again
// then.
const retryUnavailable = 5

// unavailable returns the answer to an error that means a backing service
// (the store's database, the object storage) is down or too slow right
// now, or nil for any other error: 503 with Retry-After, never 500, since
// the same request will succeed once the service is back.
func unavailable(err error) *apiError {
	var what string
	var ue *url.Error
	switch {
	case store.IsUnavailable(err):
		what = "the database"
	case errors.Is(err, context.DeadlineExceeded) && !errors.As(err, &ue):
		// A deadline no client of a service wrapped: whose, is not known.
		what = "a backing service"
	case s3blob.IsUnavailable(err):
		what = "the object storage"
	default:
		return nil
	}
	return &apiError{status: http.StatusServiceUnavailable, retryAfter: retryUnavailable,
		msg: fmt.Sprintf("%s is temporarily unavailable; try again in %d s", what, retryUnavailable)}
}

// outageGap is how long without an unavailable backing service ends an
// outage: the next failure is logged again.
const outageGap = 30 * time.Second

// outage logs a backing service's unavailability once per burst of
// failures, not once per request, and the number of requests refused
// when the next burst starts.
type outage struct {
	mu      sync.Mutex
	last    time.Time // the last refused request
	refused int       // requests refused in the current burst
}

func (o *outage) note(log *slog.Logger, rt route, err error) {
	now := time.Now()
	o.mu.Lock()
	quiet := o.last.IsZero() || now.Sub(o.last) >= outageGap
	prev := o.refused
	if quiet {
		o.refused = 0
	}
	o.refused++
	o.last = now
	o.mu.Unlock()
	if quiet {
		log.Warn("a backing service is unavailable: answering 503 with Retry-After until it is back (logged once per outage)",
			"route", rt.method+" "+rt.pattern, "err", err, "refused_in_last_outage", prev)
		return
	}
	log.Debug("backing service unavailable", "route", rt.method+" "+rt.pattern, "err", err)
}

// authorize returns the request to serve: a signed-in one carries the
// device its session is bound to in its context (sessionDevice), so that
// every access record made while serving it names the device.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request, rt route, c *call) (*http.Request, error) {
	switch rt.auth {
	case authNone:
		return r, nil
	case authStaff:
		if err := s.authenticateStaff(r, c); err != nil {
			return r, err
		}
		return r, staff.Permit(c.staff, rt.staffRoles)
	case authWorkspace:
		return s.authorizeWorkspace(w, r, c)
	case authDevice, authUpload:
		v := s.devices
		if rt.auth == authUpload {
			v = s.uploads
		}
		// The header is checked before the body is read (uploads.go).
		if _, err := v.Precheck(r); err != nil {
			return r, deviceRefusal(err)
		}
		body, err := s.readDeviceBody(w, r)
		if err != nil {
			return r, err
		}
		d := envelope.Digest(body)
		id, err := v.VerifySum(r, d.Whole)
		if err != nil {
			return r, deviceRefusal(err)
		}
		c.device, c.body, c.digests = id, body, d
		return r, nil
	}
	if err := s.authenticate(r, c); err != nil {
		return r, err
	}
	if c.token.Device != "" {
		r = r.WithContext(withSessionDevice(r.Context(), c.token.Device))
	}
	if rt.auth == authAccount {
		return r, nil
	}
	hh := r.PathValue("hh")
	h, m, err := s.membership(r, c.account.ID, hh)
	if err != nil {
		return r, err
	}
	if rt.auth == authAdmin && m.Role != store.RoleAdmin {
		return r, errorf(http.StatusForbidden, "only a household admin can do this")
	}
	c.household, c.member = h, m
	if rt.action != "" {
		a := store.Access{Time: s.now().UTC(), HouseholdID: h.ID, Actor: c.account.ID, ActorKind: "account",
			Action: rt.action, Object: r.PathValue("key"), Reason: rt.method + " " + rt.pattern}
		if err := s.access.Record(r.Context(), a); err != nil {
			// A read that cannot be recorded does not happen.
			return r, fmt.Errorf("recording access: %w", err)
		}
	}
	return r, nil
}

// membership is the one place that decides whether an account may touch a
// household: a member of it, as the households domain holds its members.
// Not a member and no such household give the same answer.
func (s *Server) membership(r *http.Request, accountID, hh string) (store.Household, store.Member, error) {
	return s.households.Membership(r.Context(), hh, accountID)
}

const (
	sessionCookie = "vigil_session"
	// deviceCookiePath is where browsers send device cookies: the
	// password sign-in route.
	deviceCookiePath = "/v1/sessions"
	csrfHeader       = accounts.CSRFHeader
)

// authenticate accepts an API token (Authorization: Bearer) or a session
// cookie; a cookie-authenticated request that changes state must carry the
// session's CSRF token (accounts.Service.Authenticate).
func (s *Server) authenticate(r *http.Request, c *call) error {
	cr := accounts.Credential{Reading: r.Method == http.MethodGet || r.Method == http.MethodHead, CSRF: r.Header.Get(csrfHeader)}
	if h := r.Header.Get("Authorization"); h != "" {
		tok, ok := strings.CutPrefix(h, "Bearer ")
		if !ok || tok == "" {
			return errSignIn
		}
		cr.Secret, cr.Kind = tok, store.TokenAPI
	} else if ck, err := r.Cookie(sessionCookie); err == nil && ck.Value != "" {
		cr.Secret, cr.Kind = ck.Value, store.TokenSession
	} else {
		return errSignIn
	}
	a, t, err := s.accounts.Authenticate(r.Context(), cr)
	if ae := accountsError(err); ae != nil {
		return ae
	}
	if err != nil {
		return err
	}
	c.account, c.token = a, t
	return nil
}

// readBody reads at most limit bytes of the request body.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	if r.ContentLength > limit {
		return nil, errorf(http.StatusRequestEntityTooLarge, "body of %d bytes is over the limit of %d", r.ContentLength, limit)
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return nil, errorf(http.StatusRequestEntityTooLarge, "body is over the limit of %d bytes", limit)
	}
	if err != nil {
		return nil, errorf(http.StatusBadRequest, "reading the body: %v", err)
	}
	return b, nil
}

// decodeJSON reads one JSON object into v: bounded, strict (unknown fields
// and trailing data are refused), with a message naming the problem.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any) error {
	b, err := readBody(w, r, maxJSONBytes)
	if err != nil {
		return err
	}
	return decodeJSONBytes(b, v)
}

func decodeJSONBytes(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.Is(err, io.EOF):
			return errorf(http.StatusBadRequest, "empty body: a JSON object is expected")
		case errors.As(err, &se):
			return errorf(http.StatusBadRequest, "malformed JSON at byte %d", se.Offset)
		case errors.As(err, &te):
			return errorf(http.StatusBadRequest, "field %q: expected %s", te.Field, te.Type)
		case strings.HasPrefix(err.Error(), "json: unknown field"):
			return errorf(http.StatusBadRequest, "%s", strings.TrimPrefix(err.Error(), "json: "))
		}
		return errorf(http.StatusBadRequest, "malformed JSON")
	}
	if dec.More() {
		return errorf(http.StatusBadRequest, "trailing data after the JSON object")
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errorf(http.StatusBadRequest, "trailing data after the JSON object")
	}
	return nil
}

// clientIP is the address of the request's client, whose limits it is
// held to. The direct peer is the client unless it is one of
// Options.TrustedProxies; then X-Forwarded-For says who the proxy heard
// from. Each proxy appends the address it heard from to what it got, so
// read from the right, the entries are each hop's word about the hop
// before it: the right-most entry that is not itself a trusted proxy is
// the first address no trusted proxy can vouch beyond, the client. Entries
// further left are the client's own word and are ignored. When every entry
// is a trusted proxy the left-most is taken; an entry that is not an
// address stops the walk at the hop that wrote it (the address before it).
func (s *Server) clientIP(r *http.Request) string {
	peer := r.RemoteAddr
	if host, _, err := net.SplitHostPort(peer); err == nil {
		peer = host
	}
	if len(s.opt.TrustedProxies) == 0 {
		return peer
	}
	client, err := netip.ParseAddr(peer)
	if err != nil || !s.trustedProxy(client) {
		return peer
	}
	var hops []string
	for _, v := range r.Header.Values("X-Forwarded-For") {
		hops = append(hops, strings.Split(v, ",")...)
	}
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break
		}
		client = a.Unmap()
		if !s.trustedProxy(client) {
			break
		}
	}
	return client.String()
}

// trustedProxy reports whether a is in Options.TrustedProxies.
func (s *Server) trustedProxy(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range s.opt.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
