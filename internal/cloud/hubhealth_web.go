package cloud

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io/fs"
	"net/http"
	"sync"
	"time"

	"vigil/internal/buildinfo"
	"vigil/internal/cloud/events"
	"vigil/internal/cloud/hubhealth"
	"vigil/internal/cloud/store"
	"vigil/internal/cloudapi"
	"vigil/internal/keydir"
	"vigil/internal/notify/webpush"
)

// Hubs' health reports (internal/cloud/hubhealth): a hub posts its own,
// signed with its device key; the cloud keeps the latest per hub with the
// time it arrived; the household's members read them (hubsHealth), and
// staff see them under a lockbox grant (staffHealth in staff.go). A hub
// that stops reporting for Options.HubQuietAfter gets its household one
// push saying so, and one when it is back (newHubWatch): its ID and the
// cloud's times, nothing else. Reports are metadata only
// (docs/THREAT_MODEL.md).

// maxHubHealthBytes bounds a report's body: a full one is well under 1 KiB.
const maxHubHealthBytes = 4 << 10

func (s *Server) hubHealthRoutes() []route {
	return []route{
		{method: "POST", pattern: cloudapi.HubHealthPath, auth: authDevice, h: s.hubHealthReport},
		{method: "GET", pattern: "/v1/households/{hh}/hubs/health", auth: authMember, action: "hubs.health", h: s.hubsHealth},
	}
}

// hubQuietPushTTL is how long a push service keeps an undelivered push
// about a hub gone quiet or back.
const hubQuietPushTTL = 24 * time.Hour

// newHubWatch starts the watcher that tells a household when one of its
// hubs goes quiet and when it is back: a push to every member's
// subscriptions (cloudapi.HubPush). A hub removed from its household's
// chain is not told of.
func newHubWatch(s *Server) (*hubhealth.Watcher, error) {
	return hubhealth.NewWatcher(hubhealth.WatchConfig{Store: s.st, QuietAfter: s.quietAfter(), Every: s.opt.HubWatchEvery,
		Now: s.now, Logger: s.log,
		IsHub: func(ctx context.Context, hh, hub string) (bool, error) {
			d, err := s.households.HubDevice(ctx, hub)
			if errors.Is(err, store.ErrNotFound) {
				return false, nil
			}
			return err == nil && d.Household.ID == hh, err
		},
		Tell: func(_ context.Context, c hubhealth.Change) {
			p := cloudapi.HubPush{Type: cloudapi.HubPushQuiet, Household: c.HouseholdID, Hub: c.HubID, LastContact: c.LastContact.UTC()}
			urgency := webpush.UrgencyHigh
			if !c.Back.IsZero() {
				p.Type, p.Back, urgency = cloudapi.HubPushBack, c.Back.UTC(), webpush.UrgencyNormal
			}
			b, err := json.Marshal(p)
			if err != nil {
				return
			}
			s.log.Info("telling a household of its hub", "household", c.HouseholdID, "hub", c.HubID, "change", p.Type)
			s.startPush(c.HouseholdID, events.Message{Payload: b, TTL: hubQuietPushTTL, Urgency: string(urgency)}, nil)
		}})
}

// quietAfter is how long without a report makes a hub quiet.
func (s *Server) quietAfter() time.Duration {
	if s.opt.HubQuietAfter > 0 {
		return s.opt.HubQuietAfter
	}
	return hubhealth.DefaultQuietAfter
}

// hubsHealth: each hub of the household's chain now, with its latest
// health report, for the household's members (the web app's health page).
// A removed hub's old report is not shown.
func (s *Server) hubsHealth(w http.ResponseWriter, r *http.Request, c *call) error {
	st, err := s.households.State(r.Context(), c.household)
	if err != nil {
		return err
	}
	reports, err := s.hubHealth.Reports(r.Context(), c.household.ID)
	if err != nil {
		return err
	}
	out := cloudapi.HubsHealth{Hubs: []cloudapi.MemberHub{}, QuietAfter: int64(s.quietAfter() / time.Second)}
	for _, d := range st.Hubs() {
		out.Hubs = append(out.Hubs, memberHub(d, reports))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// memberHub is hub d as its household's members see it.
func memberHub(d keydir.DeviceKey, reports map[string]store.HubReport) cloudapi.MemberHub {
	out := cloudapi.MemberHub{ID: d.ID, Name: d.Name}
	rep, ok := reports[d.ID]
	if !ok {
		return out
	}
	out.Reported, out.LastContact, out.Quiet = true, rep.Received, !rep.Quiet.IsZero() && !rep.Received.After(rep.Quiet)
	out.Version, out.Started, out.Cameras, out.Recording = rep.Version, rep.Started, rep.Cameras, rep.Recording
	out.Uploads = hubUploads(rep)
	return out
}

// hubUploads is the upload state of report rep.
func hubUploads(rep store.HubReport) cloudapi.HubUploads {
	u := cloudapi.HubUploads{Pending: rep.Pending, OldestPending: rep.OldestPending, Failures: rep.Failures,
		Rejected: rep.Rejected, Evicted: rep.Evicted, CloudAway: rep.CloudAway}
	if rep.ErrorKind != "" {
		u.LastError = &cloudapi.HubError{Kind: rep.ErrorKind, Status: rep.ErrorStatus, Message: rep.ErrorMessage, At: rep.ErrorAt}
	}
	return u
}

// hubHealthError maps the domain's refusal of a report to 400.
func hubHealthError(err error) error {
	var he *hubhealth.Error
	if errors.As(err, &he) {
		return errorf(http.StatusBadRequest, "health report refused: %s", he.Msg)
	}
	return err
}

// hubHealthReport: a hub's health report, for itself only. The device
// signature names the hub; the household is the one whose verified chain
// holds it as a hub now (a hub removed from its chain gets 404, like any
// device the cloud does not know); nothing in the body names either.
func (s *Server) hubHealthReport(w http.ResponseWriter, r *http.Request, c *call) error {
	h, _, err := s.hubDevice(r.Context(), c.device)
	if errors.Is(err, store.ErrNotFound) {
		return errNotFound
	}
	if err != nil {
		return err
	}
	if len(c.body) > maxHubHealthBytes {
		return errorf(http.StatusRequestEntityTooLarge, "a health report is at most %d bytes", maxHubHealthBytes)
	}
	var req cloudapi.HubHealth
	if err := decodeJSONBytes(c.body, &req); err != nil {
		return err
	}
	rep := hubReport(req)
	rep.HouseholdID, rep.HubID = h.ID, c.device
	got, err := s.hubHealth.Report(r.Context(), rep)
	if err != nil {
		return hubHealthError(err)
	}
	writeJSON(w, http.StatusOK, map[string]any{"received": got.Received})
	return nil
}

// hubReport is the report's fields as the store keeps them.
func hubReport(req cloudapi.HubHealth) store.HubReport {
	u := req.Uploads
	rep := store.HubReport{Version: req.Version, Started: req.Started.UTC(), Sent: req.Sent.UTC(), Cameras: req.Cameras,
		Recording: req.Recording, Pending: u.Pending, OldestPending: u.OldestPending.UTC(), Failures: u.Failures,
		Rejected: u.Rejected, Evicted: u.Evicted, CloudAway: u.CloudAway}
	if e := u.LastError; e != nil {
		rep.ErrorKind, rep.ErrorStatus, rep.ErrorMessage, rep.ErrorAt = e.Kind, e.Status, e.Message, e.At.UTC()
		if rep.ErrorKind == "" {
			// A last_error without a kind is refused, not dropped.
			rep.ErrorKind = "(none)"
		}
	}
	return rep
}

// staffHub is hub d as staff see it, with its latest report if any.
func staffHub(d keydir.DeviceKey, rep store.HubReport, ok bool) cloudapi.StaffHub {
	out := cloudapi.StaffHub{ID: d.ID, Name: d.Name}
	if ok {
		out.LastContact, out.Version, out.Started, out.Cameras, out.Recording = rep.Received, rep.Version, rep.Started, rep.Cameras, rep.Recording
	}
	return out
}

// staffUploads is hub d's upload state as staff see it.
func staffUploads(d keydir.DeviceKey, rep store.HubReport, ok bool) cloudapi.StaffHubUploads {
	out := cloudapi.StaffHubUploads{ID: d.ID, Name: d.Name, Reported: ok}
	if !ok {
		return out
	}
	out.LastContact, out.HubUploads = rep.Received, hubUploads(rep)
	return out
}

// webAppBuild names the web app's build: the first 12 hex digits of the
// SHA-256 of its index page (which names every hashed asset), computed
// once; "" without an app.
type webAppBuild struct {
	once sync.Once
	name string
}

func (b *webAppBuild) get(app fs.FS) string {
	b.once.Do(func() {
		if app == nil {
			return
		}
		if idx, err := fs.ReadFile(app, "index.html"); err == nil {
			sum := sha256.Sum256(idx)
			b.name = "index-" + hex.EncodeToString(sum[:6])
		}
	})
	return b.name
}

// cloudBuild is the cloud's own build, for the versions scope.
func cloudBuild() string { return buildinfo.Version() }
