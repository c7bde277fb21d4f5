package client

import (
	"context"
	"net/url"
	"time"

	"vigil/internal/history"
)

// Invite is an open invitation to join a household (the secret is not
// here: it lives in the invite link's fragment and on the admin device).
type Invite struct {
	ID          string    `json:"invite_id"`
	HouseholdID string    `json:"household_id"`
	Role        string    `json:"role"`
	Expires     time.Time `json:"expires"`
}

// JoinRequest is a device asking to join through an invite.
type JoinRequest struct {
	ID          string    `json:"request_id"`
	InviteID    string    `json:"invite_id"`
	HouseholdID string    `json:"household_id"`
	AccountID   string    `json:"account_id"`
	Email       string    `json:"email"`
	Device      string    `json:"device"` // "vigdev1:..."
	DeviceID    string    `json:"device_id"`
	Name        string    `json:"name"`
	Proof       []byte    `json:"proof"`
	Role        string    `json:"role"`
	Status      string    `json:"status"`
	Created     time.Time `json:"created"`
}

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
	var out struct {
		Requests []JoinRequest `json:"requests"`
	}
	err := c.do(ctx, "GET", "/v1/households/"+url.PathEscape(household)+"/join-requests", nil, &out)
	return out.Requests, err
}

// ApproveJoinRequest approves a request with the chain link (signed by an
// admin device) that adds its device.
func (c *Client) ApproveJoinRequest(ctx context.Context, household, request string, link []byte) error {
	return c.do(ctx, "POST", "/v1/households/"+url.PathEscape(household)+"/join-requests/"+url.PathEscape(request)+"/approve",
		map[string]any{"link": link}, nil)
}

// RequestJoin posts this account's device to an invite; it returns the
// request ID.
func (c *Client) RequestJoin(ctx context.Context, invite, device, name string, proof []byte) (string, error) {
	var out struct {
		ID string `json:"request_id"`
	}
	err := c.do(ctx, "POST", "/v1/invites/"+url.PathEscape(invite)+"/requests",
		map[string]any{"device": device, "name": name, "proof": proof}, &out)
	return out.ID, err
}

// JoinStatus returns "pending", "approved" or "declined" for this
// account's request.
func (c *Client) JoinStatus(ctx context.Context, invite, request string) (string, error) {
	var out struct {
		Status string `json:"status"`
	}
	err := c.do(ctx, "GET", "/v1/invites/"+url.PathEscape(invite)+"/requests/"+url.PathEscape(request), nil, &out)
	return out.Status, err
}
