package client

import (
	"context"
	"net/url"

	"vigil/internal/cloudapi"
	"vigil/internal/history"
)

// CreateInvite opens the invite a signed invite.create action describes
// (its ID, role and expiry: history.InviteParams).
func (c *Client) CreateInvite(ctx context.Context, household string, action history.Signed) (Invite, error) {
	var out Invite
	err := c.do(ctx, "POST", "/v1/households/"+url.PathEscape(household)+"/invites", action, &out)
	return out, err
}

// DeleteInvite closes an invite, as the signed invite.delete action says.
func (c *Client) DeleteInvite(ctx context.Context, household, invite string, action history.Signed) error {
	return c.do(ctx, "DELETE", "/v1/households/"+url.PathEscape(household)+"/invites/"+url.PathEscape(invite), action, nil)
}

// JoinRequests lists the household's pending join requests (admins).
func (c *Client) JoinRequests(ctx context.Context, household string) ([]JoinRequest, error) {
	var out cloudapi.JoinRequests
	err := c.do(ctx, "GET", "/v1/households/"+url.PathEscape(household)+"/join-requests", nil, &out)
	return out.Requests, err
}

// ApproveJoinRequest approves a request with the chain link (signed by an
// admin device) that adds its device.
func (c *Client) ApproveJoinRequest(ctx context.Context, household, request string, link []byte) error {
	return c.do(ctx, "POST", "/v1/households/"+url.PathEscape(household)+"/join-requests/"+url.PathEscape(request)+"/approve",
		cloudapi.ChainLink{Link: link}, nil)
}

// OpenInvite reads the invite key opens (member.InviteKey of the secret in
// its link): which household it is for, the role and the expiry. The key
// travels in the body only.
func (c *Client) OpenInvite(ctx context.Context, key []byte) (cloudapi.InviteInfo, error) {
	var out cloudapi.InviteInfo
	err := c.do(ctx, "POST", "/v1/invites/open", cloudapi.OpenInvite{Key: key}, &out)
	return out, err
}

// RequestJoin posts this account's device to the invite key opens; it
// returns the request ID.
func (c *Client) RequestJoin(ctx context.Context, key []byte, device, name string, proof []byte) (string, error) {
	var out cloudapi.JoinStatus
	err := c.do(ctx, "POST", "/v1/invites/join",
		cloudapi.RequestJoin{Key: key, Device: device, Name: name, Proof: proof}, &out)
	return out.ID, err
}

// JoinStatus returns "pending", "approved" or "declined" for this
// account's request on the invite key opens.
func (c *Client) JoinStatus(ctx context.Context, key []byte, request string) (string, error) {
	var out cloudapi.JoinStatus
	err := c.do(ctx, "POST", "/v1/invites/status", cloudapi.JoinStatusQuery{Key: key, RequestID: request}, &out)
	return out.Status, err
}
