package cloud

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"vigil/internal/cloud/labelling"
	"vigil/internal/cloud/staff"
	"vigil/internal/cloud/store"
	"vigil/internal/cloudapi"
	"vigil/internal/consent"
	"vigil/internal/devauth"
)

// The labelling routes: staff admins create workspaces; household members
// donate and revoke clips; a workspace's devices, by signed requests, work
// on what they are allowed to see. The logic is the labelling domain's
// (internal/cloud/labelling); the handlers here authenticate, parse, call
// it, map its refusals (labellingError) and write the answer.

// ConsentHeader carries a donation's signed consent (BODY.SIG).
const ConsentHeader = "Vigil-Consent"

func newLabelling(s *Server) (*labelling.Service, error) {
	return labelling.New(labelling.Config{Store: s.st, Blobs: s.blobs, Access: s.access, Households: s.households.StateOf,
		OnHead: func(ctx context.Context, ws string, genesis []byte, seq int64, head []byte) {
			// As a household's: a head not queued now is not in the log
			// until the next link (logged, and the devices' check says so).
			if _, err := s.hist.ChainHead(ctx, ws, genesis, seq, head); err != nil {
				s.log.Error("workspace chain head not queued for the log", "workspace", ws, "seq", seq, "err", err)
			}
		},
		Logger: s.log, Now: s.now})
}

func (s *Server) labellingRoutes() []route {
	return []route{
		{method: "POST", pattern: "/staff/v1/workspaces", auth: authStaff, staffRoles: staff.AdminRoles, h: s.createWorkspace},
		{method: "GET", pattern: "/staff/v1/workspaces", auth: authStaff, staffRoles: staff.AdminRoles, h: s.listWorkspaces},

		{method: "GET", pattern: "/v1/labelling/workspaces", auth: authAccount, h: s.donorWorkspaces},
		{method: "GET", pattern: "/v1/labelling/workspaces/{ws}/chain", auth: authAccount, h: s.workspaceChain},

		{method: "POST", pattern: "/v1/households/{hh}/donations", auth: authMember, h: s.donate},
		{method: "GET", pattern: "/v1/households/{hh}/donations", auth: authMember, action: "donations.list", h: s.listDonations},
		{method: "POST", pattern: "/v1/households/{hh}/donations/{id}/revoke", auth: authMember, h: s.revokeDonation},

		{method: "GET", pattern: "/v1/workspaces/{ws}/chain", auth: authWorkspace, h: s.workspaceChain},
		{method: "POST", pattern: "/v1/workspaces/{ws}/chain", auth: authWorkspace, h: s.appendWorkspaceLink},
		{method: "GET", pattern: "/v1/workspaces/{ws}/assignments", auth: authWorkspace, h: s.listAssignments},
		{method: "POST", pattern: "/v1/workspaces/{ws}/donations/{id}/assign", auth: authWorkspace, h: s.assignDonation},
		{method: "GET", pattern: "/v1/workspaces/{ws}/donations/{id}/clip", auth: authWorkspace, h: s.readClip},
		{method: "PUT", pattern: "/v1/workspaces/{ws}/donations/{id}/annotations/{version}", auth: authWorkspace, h: s.putAnnotation},
		{method: "GET", pattern: "/v1/workspaces/{ws}/donations/{id}/annotation", auth: authWorkspace, h: s.readAnnotation},
		{method: "POST", pattern: "/v1/workspaces/{ws}/donations/{id}/review", auth: authWorkspace, h: s.reviewDonation},
		{method: "POST", pattern: "/v1/workspaces/{ws}/datasets", auth: authWorkspace, h: s.createDataset},
		{method: "GET", pattern: "/v1/workspaces/{ws}/datasets", auth: authWorkspace, h: s.listDatasets},
		{method: "POST", pattern: "/v1/workspaces/{ws}/evaluations", auth: authWorkspace, h: s.createEvaluation},
		{method: "GET", pattern: "/v1/workspaces/{ws}/evaluations", auth: authWorkspace, h: s.listEvaluations},
	}
}

// labellingError maps the labelling domain's refusals to answers.
func labellingError(err error) *apiError {
	if errors.Is(err, labelling.ErrNotFound) {
		var le *labelling.Error
		if errors.As(err, &le) {
			return errorf(http.StatusNotFound, "%s", le.Msg)
		}
		return errNotFound
	}
	var le *labelling.Error
	if !errors.As(err, &le) {
		return nil
	}
	status := http.StatusBadRequest
	switch {
	case errors.Is(le.Kind, labelling.ErrConsent), errors.Is(le.Kind, labelling.ErrForbidden):
		status = http.StatusForbidden
	case errors.Is(le.Kind, labelling.ErrConflict):
		status = http.StatusConflict
	case errors.Is(le.Kind, labelling.ErrTooLarge):
		status = http.StatusRequestEntityTooLarge
	}
	return errorf(status, "%s", le.Msg)
}

// workspaceCtx carries the {ws} of a workspace route to the device key
// lookup.
type workspaceCtx struct{}

// workspaceDeviceKey is the Lookup of workspace routes: the device's key
// if it is in the current verified chain of the request's workspace.
func (s *Server) workspaceDeviceKey(ctx context.Context, id string) (ed25519.PublicKey, error) {
	ws, _ := ctx.Value(workspaceCtx{}).(string)
	d, err := s.labelling.Device(ctx, ws, id)
	if errors.Is(err, labelling.ErrNotFound) {
		return nil, fmt.Errorf("device %s: %w", id, devauth.ErrUnknownDevice)
	}
	if err != nil {
		return nil, err
	}
	return d.SignPub, nil
}

// authorizeWorkspace authenticates a workspace route: a request signed by
// a device of the workspace's chain. Anything else — another device, a
// session of an account or of staff — finds nothing there (404).
func (s *Server) authorizeWorkspace(w http.ResponseWriter, r *http.Request, c *call) (*http.Request, error) {
	r = r.WithContext(context.WithValue(r.Context(), workspaceCtx{}, r.PathValue("ws")))
	if _, err := s.workspaceDevices.Precheck(r); err != nil {
		return r, errNotFound
	}
	body, err := s.readDeviceBody(w, r)
	if err != nil {
		return r, err
	}
	id, err := s.workspaceDevices.Verify(r, body)
	if errors.Is(err, devauth.ErrUnknownDevice) {
		return r, errNotFound
	}
	if err != nil {
		return r, deviceRefusal(err)
	}
	c.device, c.body = id, body
	return r, nil
}

func caller(r *http.Request, c *call) labelling.Caller {
	return labelling.Caller{Workspace: r.PathValue("ws"), Device: c.device}
}

func workspaceJSON(w store.Workspace) cloudapi.Workspace {
	return cloudapi.Workspace{ID: w.ID, Name: w.Name, GenesisHash: w.GenesisHash, CreatedBy: w.CreatedBy, Created: w.Created}
}

func donationJSON(d store.Donation) cloudapi.Donation {
	return cloudapi.Donation{ID: d.ID, Workspace: d.WorkspaceID, Household: d.HouseholdID, Device: d.Device, Consent: d.Consent,
		Purpose: d.Purpose, State: d.State, Size: d.ObjectSize, Assignee: d.Assignee, Annotation: d.Annotation, Accepted: d.Accepted,
		Reviewer: d.Reviewer, Expires: d.Expires, Created: d.Created, Ended: d.Ended}
}

func donationsJSON(ds []store.Donation) []cloudapi.Donation {
	out := make([]cloudapi.Donation, len(ds))
	for i, d := range ds {
		out[i] = donationJSON(d)
	}
	return out
}

func marksJSON(ms []store.Mark) []cloudapi.DatasetMark {
	out := make([]cloudapi.DatasetMark, len(ms))
	for i, m := range ms {
		out[i] = cloudapi.DatasetMark{Donation: m.DonationID, Reason: m.Reason, Time: m.Time}
	}
	return out
}

func datasetJSON(v store.DatasetVersion) cloudapi.DatasetVersion {
	out := cloudapi.DatasetVersion{Version: v.Version, Creator: v.Creator, Created: v.Created, Items: make([]cloudapi.DatasetItem, len(v.Items)), Marks: marksJSON(v.Marks)}
	for i, it := range v.Items {
		out.Items[i] = cloudapi.DatasetItem{Donation: it.DonationID, Annotation: it.Annotation, Annotator: it.Annotator, Reviewer: it.Reviewer}
	}
	return out
}

func evaluationJSON(e store.Evaluation) cloudapi.Evaluation {
	return cloudapi.Evaluation{ID: e.ID, Name: e.Name, Dataset: e.Dataset, Device: e.Device, Sealed: e.Sealed, Created: e.Created, Marks: marksJSON(e.Marks)}
}

func (s *Server) createWorkspace(w http.ResponseWriter, r *http.Request, c *call) error {
	var req cloudapi.WorkspaceCreate
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	ws, err := s.labelling.CreateWorkspace(r.Context(), c.staff.ID, req.Genesis)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, workspaceJSON(ws))
	return nil
}

func (s *Server) listWorkspaces(w http.ResponseWriter, r *http.Request, c *call) error {
	ws, err := s.labelling.Workspaces(r.Context())
	if err != nil {
		return err
	}
	out := make([]cloudapi.Workspace, len(ws))
	for i, x := range ws {
		out[i] = workspaceJSON(x)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// donorWorkspaces lists the workspaces a member may donate to, for any
// signed-in account: names, genesis hashes and the purposes a consent may
// name; nothing a workspace keeps to itself (its chain, public keys and
// wrapped epoch keys only, is at .../chain).
func (s *Server) donorWorkspaces(w http.ResponseWriter, r *http.Request, c *call) error {
	ws, err := s.labelling.Workspaces(r.Context())
	if err != nil {
		return err
	}
	out := make([]cloudapi.LabellingWorkspace, len(ws))
	for i, x := range ws {
		out[i] = cloudapi.LabellingWorkspace{ID: x.ID, Name: x.Name, GenesisHash: x.GenesisHash, Purposes: consent.Purposes}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// donate streams the sealed clip of the body to the blob store; the
// consent in the header decides whether it is kept.
func (s *Server) donate(w http.ResponseWriter, r *http.Request, c *call) error {
	if r.ContentLength > labelling.MaxClip {
		return errorf(http.StatusRequestEntityTooLarge, "the sealed clip is over %d bytes (donate a shorter clip)", labelling.MaxClip)
	}
	if r.ContentLength < 0 {
		return errorf(http.StatusLengthRequired, "send the sealed clip with its Content-Length")
	}
	body := &clientBody{r: http.MaxBytesReader(w, r.Body, labelling.MaxClip), want: r.ContentLength}
	d, err := s.labelling.Donate(r.Context(), labelling.Donor{Household: c.household.ID, Account: c.account.ID},
		r.Header.Get(ConsentHeader), body, r.ContentLength)
	if err != nil {
		if body.failed() && labellingError(err) == nil {
			// The client's fault, not the store's.
			return errorf(http.StatusBadRequest, "reading the sealed clip: the body ended or failed before its Content-Length of %d bytes", r.ContentLength)
		}
		return err
	}
	writeJSON(w, http.StatusCreated, donationJSON(d))
	return nil
}

// clientBody remembers whether reading a request body failed: an error of
// the connection, or an end before want bytes.
type clientBody struct {
	r    io.Reader
	want int64
	n    int64
	err  error
}

func (b *clientBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	b.n += int64(n)
	if err != nil && b.err == nil {
		b.err = err
	}
	return n, err
}

func (b *clientBody) failed() bool {
	return b.err != nil && (!errors.Is(b.err, io.EOF) || b.n < b.want)
}

func (s *Server) listDonations(w http.ResponseWriter, r *http.Request, c *call) error {
	ds, err := s.labelling.Donations(r.Context(), c.household.ID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, donationsJSON(ds))
	return nil
}

func (s *Server) revokeDonation(w http.ResponseWriter, r *http.Request, c *call) error {
	var req cloudapi.DonationRevoke
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	d, err := s.labelling.Revoke(r.Context(), labelling.Donor{Household: c.household.ID, Account: c.account.ID}, r.PathValue("id"), req.Revocation)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, donationJSON(d))
	return nil
}

// workspaceChain answers as a household's chain route does: the links and
// where each head is in the transparency log, for the device to prove. A
// workspace device reads it at /v1/workspaces/{ws}/chain; any signed-in
// account at /v1/labelling/workspaces/{ws}/chain, for a donor's browser to
// seal to the epoch key and show who can open the clip (the chain holds
// public keys and wrapped epoch keys only, and its heads are in the log).
func (s *Server) workspaceChain(w http.ResponseWriter, r *http.Request, c *call) error {
	ws, links, err := s.labelling.Links(r.Context(), r.PathValue("ws"), 0)
	if err != nil {
		return err
	}
	idx, err := s.chainIndexes(r.Context(), store.Household{ID: ws.ID, GenesisHash: ws.GenesisHash}, 0, links)
	if err != nil {
		return err
	}
	resp := cloudapi.Chain{HouseholdID: ws.ID, GenesisHash: hex.EncodeToString(ws.GenesisHash), Links: [][]byte{}, LogIndex: idx}
	for _, l := range links {
		resp.Links = append(resp.Links, l.Data)
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

func (s *Server) appendWorkspaceLink(w http.ResponseWriter, r *http.Request, c *call) error {
	var req cloudapi.WorkspaceLink
	if err := decodeJSONBytes(c.body, &req); err != nil {
		return err
	}
	if err := s.labelling.AppendLink(r.Context(), caller(r, c), req.Link); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) listAssignments(w http.ResponseWriter, r *http.Request, c *call) error {
	ds, err := s.labelling.Assignments(r.Context(), caller(r, c))
	if err != nil {
		return err
	}
	out := donationsJSON(ds)
	for i := range out {
		out[i].DeviceKey = s.labelling.DonorKey(r.Context(), ds[i])
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) assignDonation(w http.ResponseWriter, r *http.Request, c *call) error {
	var req cloudapi.DonationAssign
	if err := decodeJSONBytes(c.body, &req); err != nil {
		return err
	}
	d, err := s.labelling.Assign(r.Context(), caller(r, c), r.PathValue("id"), req.Device)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, donationJSON(d))
	return nil
}

// serveSealed writes sealed bytes as they are stored.
func serveSealed(w http.ResponseWriter, body io.ReadSeeker, size int64) {
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Content-Length", strconv.FormatInt(size, 10))
	w.WriteHeader(http.StatusOK)
	io.Copy(w, body)
}

func (s *Server) readClip(w http.ResponseWriter, r *http.Request, c *call) error {
	clip, err := s.labelling.OpenClip(r.Context(), caller(r, c), r.PathValue("id"))
	if err != nil {
		return err
	}
	defer clip.Body.Close()
	serveSealed(w, clip.Body, clip.Body.Size())
	return nil
}

func (s *Server) putAnnotation(w http.ResponseWriter, r *http.Request, c *call) error {
	v, err := strconv.Atoi(r.PathValue("version"))
	if err != nil || v < 1 {
		return errorf(http.StatusBadRequest, "version: a positive integer (the next annotation version)")
	}
	a, err := s.labelling.PutAnnotation(r.Context(), caller(r, c), r.PathValue("id"), v, c.body)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, map[string]any{"version": a.Version, "size": a.Size})
	return nil
}

func (s *Server) readAnnotation(w http.ResponseWriter, r *http.Request, c *call) error {
	a, err := s.labelling.OpenAnnotation(r.Context(), caller(r, c), r.PathValue("id"))
	if err != nil {
		return err
	}
	defer a.Body.Close()
	w.Header().Set("Vigil-Annotation-Version", strconv.Itoa(a.Meta.Version))
	serveSealed(w, a.Body, a.Body.Size())
	return nil
}

func (s *Server) reviewDonation(w http.ResponseWriter, r *http.Request, c *call) error {
	var req cloudapi.DonationReview
	if err := decodeJSONBytes(c.body, &req); err != nil {
		return err
	}
	d, err := s.labelling.Review(r.Context(), caller(r, c), r.PathValue("id"), req.Version, req.Accept)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, donationJSON(d))
	return nil
}

func (s *Server) createDataset(w http.ResponseWriter, r *http.Request, c *call) error {
	v, err := s.labelling.CreateDataset(r.Context(), caller(r, c))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, datasetJSON(v))
	return nil
}

func (s *Server) listDatasets(w http.ResponseWriter, r *http.Request, c *call) error {
	vs, err := s.labelling.Datasets(r.Context(), caller(r, c))
	if err != nil {
		return err
	}
	out := make([]cloudapi.DatasetVersion, len(vs))
	for i, v := range vs {
		out[i] = datasetJSON(v)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) createEvaluation(w http.ResponseWriter, r *http.Request, c *call) error {
	var req cloudapi.EvaluationCreate
	if err := decodeJSONBytes(c.body, &req); err != nil {
		return err
	}
	e, err := s.labelling.Evaluate(r.Context(), caller(r, c), req.Name, req.Dataset, req.Sealed)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, evaluationJSON(e))
	return nil
}

func (s *Server) listEvaluations(w http.ResponseWriter, r *http.Request, c *call) error {
	es, err := s.labelling.Evaluations(r.Context(), caller(r, c))
	if err != nil {
		return err
	}
	out := make([]cloudapi.Evaluation, len(es))
	for i, e := range es {
		out[i] = evaluationJSON(e)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// ConsentSweepInterval is how often donations whose consent expired are
// ended.
const ConsentSweepInterval = 10 * time.Minute

// SweepLabelling ends every donation whose consent has expired, as a
// revocation does, and returns how many. Close waits for a sweep in flight
// and cancels it; after Close it does nothing and returns an error.
func (s *Server) SweepLabelling(ctx context.Context) (int, error) {
	if !s.work.add() {
		return 0, errClosed
	}
	defer s.work.wg.Done()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(s.work.ctx, cancel)()
	return s.labelling.Sweep(ctx)
}

// SweepConsents is SweepLabelling for the cluster's scheduler (the
// "consent-expiry" job, when Options.ClusterConsentSweep is set).
func (s *Server) SweepConsents(ctx context.Context) error {
	_, err := s.SweepLabelling(ctx)
	return err
}
