package client

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"

	"vigil/internal/cloudapi"
	"vigil/internal/consent"
)

// Labelling: a member's donations, and a workspace device's work
// (docs/API.md, "Labelling"). A workspace device's client signs its
// requests (DeviceID, DeviceKey).

// The labelling shapes (cloudapi).
type (
	Workspace      = cloudapi.Workspace
	Donation       = cloudapi.Donation
	DatasetVersion = cloudapi.DatasetVersion
	Evaluation     = cloudapi.Evaluation
)

// maxSealedRead bounds a sealed clip or annotation read.
const maxSealedRead = 256 << 20

// Donate uploads a sealed clip with the signed consent that gives it.
func (c *Client) Donate(ctx context.Context, household string, signed consent.Signed, sealed []byte) (Donation, error) {
	hdr := http.Header{"Vigil-Consent": {signed.String()}}
	resp, err := c.send(ctx, "POST", "/v1/households/"+url.PathEscape(household)+"/donations", sealed, "application/octet-stream", hdr)
	if err != nil {
		return Donation{}, err
	}
	defer resp.Body.Close()
	var out Donation
	return out, decodeAnswer(resp, &out)
}

// Donations lists the household's donations, newest first.
func (c *Client) Donations(ctx context.Context, household string) ([]Donation, error) {
	var out []Donation
	err := c.do(ctx, "GET", "/v1/households/"+url.PathEscape(household)+"/donations", nil, &out)
	return out, err
}

// RevokeDonation takes a donation back with a signed revocation.
func (c *Client) RevokeDonation(ctx context.Context, household, id string, signed consent.Signed) (Donation, error) {
	var out Donation
	err := c.do(ctx, "POST", "/v1/households/"+url.PathEscape(household)+"/donations/"+url.PathEscape(id)+"/revoke",
		cloudapi.DonationRevoke{Revocation: signed.String()}, &out)
	return out, err
}

func wsPath(ws string) string { return "/v1/workspaces/" + url.PathEscape(ws) }

// WorkspaceChain returns the workspace's chain links (verify them with
// keydir.Verify from the genesis pinned) and where each head is in the
// transparency log (-1 while it waits), to prove with
// history.TagKey.ProveChainHead.
func (c *Client) WorkspaceChain(ctx context.Context, ws string) ([][]byte, []int64, error) {
	var out cloudapi.Chain
	if err := c.do(ctx, "GET", wsPath(ws)+"/chain", nil, &out); err != nil {
		return nil, nil, err
	}
	if len(out.LogIndex) != len(out.Links) {
		return nil, nil, fmt.Errorf("cloud: the chain lists %d links and %d log indexes", len(out.Links), len(out.LogIndex))
	}
	return out.Links, out.LogIndex, nil
}

// AppendWorkspaceLink adds a link an admin device of the workspace signed.
func (c *Client) AppendWorkspaceLink(ctx context.Context, ws string, link []byte) error {
	return c.do(ctx, "POST", wsPath(ws)+"/chain", cloudapi.WorkspaceLink{Link: link}, nil)
}

// Assignments lists the donations this device may work on.
func (c *Client) Assignments(ctx context.Context, ws string) ([]Donation, error) {
	var out []Donation
	err := c.do(ctx, "GET", wsPath(ws)+"/assignments", nil, &out)
	return out, err
}

// Assign gives a donation to an annotator device (admin devices).
func (c *Client) Assign(ctx context.Context, ws, id, device string) (Donation, error) {
	var out Donation
	err := c.do(ctx, "POST", wsPath(ws)+"/donations/"+url.PathEscape(id)+"/assign", cloudapi.DonationAssign{Device: device}, &out)
	return out, err
}

// Clip downloads a donation's sealed clip.
func (c *Client) Clip(ctx context.Context, ws, id string) ([]byte, error) {
	b, _, err := c.readSealed(ctx, wsPath(ws)+"/donations/"+url.PathEscape(id)+"/clip")
	return b, err
}

// PutAnnotation uploads annotation version of a donation, sealed.
func (c *Client) PutAnnotation(ctx context.Context, ws, id string, version int, sealed []byte) error {
	resp, err := c.send(ctx, "PUT", wsPath(ws)+"/donations/"+url.PathEscape(id)+"/annotations/"+strconv.Itoa(version), sealed, "application/octet-stream", nil)
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}

// Annotation downloads a donation's latest sealed annotation and its
// version.
func (c *Client) Annotation(ctx context.Context, ws, id string) ([]byte, int, error) {
	b, resp, err := c.readSealed(ctx, wsPath(ws)+"/donations/"+url.PathEscape(id)+"/annotation")
	if err != nil {
		return nil, 0, err
	}
	v, err := strconv.Atoi(resp.Header.Get("Vigil-Annotation-Version"))
	if err != nil {
		return nil, 0, fmt.Errorf("cloud: annotation without a version")
	}
	return b, v, nil
}

// Review accepts or rejects a donation's annotation version (admin
// devices, never the annotator's).
func (c *Client) Review(ctx context.Context, ws, id string, version int, accept bool) (Donation, error) {
	var out Donation
	err := c.do(ctx, "POST", wsPath(ws)+"/donations/"+url.PathEscape(id)+"/review", cloudapi.DonationReview{Version: version, Accept: accept}, &out)
	return out, err
}

// CreateDataset makes the workspace's next dataset version.
func (c *Client) CreateDataset(ctx context.Context, ws string) (DatasetVersion, error) {
	var out DatasetVersion
	err := c.do(ctx, "POST", wsPath(ws)+"/datasets", struct{}{}, &out)
	return out, err
}

// Datasets lists the workspace's dataset versions with their marks.
func (c *Client) Datasets(ctx context.Context, ws string) ([]DatasetVersion, error) {
	var out []DatasetVersion
	err := c.do(ctx, "GET", wsPath(ws)+"/datasets", nil, &out)
	return out, err
}

// Evaluate stores a named, sealed evaluation of a dataset version.
func (c *Client) Evaluate(ctx context.Context, ws, name string, dataset int, sealed []byte) (Evaluation, error) {
	var out Evaluation
	err := c.do(ctx, "POST", wsPath(ws)+"/evaluations", cloudapi.EvaluationCreate{Name: name, Dataset: dataset, Sealed: sealed}, &out)
	return out, err
}

// Evaluations lists the workspace's evaluations with their marks.
func (c *Client) Evaluations(ctx context.Context, ws string) ([]Evaluation, error) {
	var out []Evaluation
	err := c.do(ctx, "GET", wsPath(ws)+"/evaluations", nil, &out)
	return out, err
}

func (c *Client) readSealed(ctx context.Context, path string) ([]byte, *http.Response, error) {
	resp, err := c.send(ctx, "GET", path, nil, "", nil)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxSealedRead+1))
	if err == nil && len(b) > maxSealedRead {
		err = fmt.Errorf("cloud: %s is larger than %d bytes", path, maxSealedRead)
	}
	return b, resp, err
}

// decodeAnswer reads a JSON answer into out.
func decodeAnswer(resp *http.Response, out any) error {
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(out); err != nil {
		return fmt.Errorf("cloud: reading answer: %w", err)
	}
	return nil
}

// LabellingWorkspaces lists the workspaces a member may donate to (any
// signed-in account).
func (c *Client) LabellingWorkspaces(ctx context.Context) ([]cloudapi.LabellingWorkspace, error) {
	var out []cloudapi.LabellingWorkspace
	err := c.do(ctx, "GET", "/v1/labelling/workspaces", nil, &out)
	return out, err
}

// DonorWorkspaceChain is WorkspaceChain as a signed-in account reads it,
// to seal a donation to the workspace and show who can open it: verify the
// links with keydir.Verify from the workspace's genesis hash and prove the
// head with history.TagKey.ProveChainHead.
func (c *Client) DonorWorkspaceChain(ctx context.Context, ws string) ([][]byte, []int64, error) {
	var out cloudapi.Chain
	if err := c.do(ctx, "GET", "/v1/labelling/workspaces/"+url.PathEscape(ws)+"/chain", nil, &out); err != nil {
		return nil, nil, err
	}
	if len(out.LogIndex) != len(out.Links) {
		return nil, nil, fmt.Errorf("cloud: the chain lists %d links and %d log indexes", len(out.Links), len(out.LogIndex))
	}
	return out.Links, out.LogIndex, nil
}
