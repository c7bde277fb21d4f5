package cloud

import (
	"context"
	"time"

	"vigil/internal/cloud/store"
	"vigil/internal/devauth"
)

// SetBodyWait sets how long a device body waits for one of the
// maxBodyReads turns before the request gets 503.
func SetBodyWait(s *Server, d time.Duration) { s.bodyWait = d }

// MaxBodyReads is how many device bodies are read at once.
const MaxBodyReads = maxBodyReads

// StoreNonces is the replay memory of device requests that replicas over
// a shared store use: the entries of st's EphemeralStore.
func StoreNonces(st store.EphemeralStore) devauth.Nonces { return storeNonces{st} }

// KeyDeviceNonce is the key prefix of device requests' nonces in the
// EphemeralStore.
const KeyDeviceNonce = keyDeviceNonce

// RouteInfo is one route as the route-table tests see it.
type RouteInfo struct {
	Method, Pattern string
	Auth            string // "none", "account", "member", "admin", "device", "staff"
	Action          string
	StaffRoles      []string // the staff roles an authStaff route admits
}

// RouteTable lists every route the server registers, with its auth kind.
func RouteTable(s *Server) []RouteInfo {
	names := map[authKind]string{authNone: "none", authAccount: "account", authMember: "member", authAdmin: "admin",
		authDevice: "device", authStaff: "staff", authWorkspace: "workspace"}
	var out []RouteInfo
	for _, r := range s.routes() {
		n, ok := names[r.auth]
		if !ok {
			n = "unknown"
		}
		out = append(out, RouteInfo{Method: r.method, Pattern: r.pattern, Auth: n, Action: r.action, StaffRoles: r.staffRoles})
	}
	return out
}

// StaffCookie is the staff session cookie's name.
const StaffCookie = staffCookie

// StaffSession adds a staff member and mints a session for them, as the
// staff passkey sign-in does (TestStaffPasskeys goes through it).
func StaffSession(s *Server, name, role string) (id, secret, csrf string, err error) {
	st, _, err := s.staff.Add(context.Background(), name, role)
	if err != nil {
		return "", "", "", err
	}
	ss, err := s.staff.NewSession(context.Background(), st.ID)
	if err != nil {
		return "", "", "", err
	}
	return st.ID, ss.Secret, ss.CSRF, nil
}

// StaffAdd adds a staff member as 'vigil cloud staff add' does and
// returns their ID and enrolment secret.
func StaffAdd(s *Server, name, role string) (id, secret string, err error) {
	st, en, err := s.staff.Add(context.Background(), name, role)
	return st.ID, en.Secret, err
}

// StaffDisable disables a staff member as 'vigil cloud staff disable' does.
func StaffDisable(s *Server, id string) error { return s.staff.Disable(context.Background(), id) }

// RequestObject is how a lockbox request is named in a household's
// history (the object of its staff.* records).
func RequestObject(r store.StaffRequest) string { return requestObject(r) }

// TicketObject is how a ticket is named in a household's history (the
// object of its staff.ticket-* records).
func TicketObject(t store.StaffTicket) string { return ticketObject(t) }

// SupportCodeObject is how a support code (canonical) is named in a
// household's history (the object of staff.lookup and staff.tickets).
func SupportCodeObject(code string) string { return supportCodeObject(code) }

// RouteGroup is the metrics group of a route.
func RouteGroup(method, pattern string) string { return routeGroup(method, pattern) }

// TimedStore is st as the cloud's domains see it with metrics m: each read
// timed in its group.
func TimedStore(m *Metrics, st store.Store) store.Store {
	return m.timedStore(st, st.(store.HouseholdLister))
}
