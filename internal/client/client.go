// Package client is a Go client of the cloud API (docs/API.md) for the CLI,
// hubs and tests.
//
// It moves only what the API moves: sealed objects, signed chain links,
// pairing messages and account credentials. It never decrypts (callers open
// objects with their own keys) and never trusts what it fetches: callers
// verify chains against the genesis they pinned. It never logs tokens,
// passwords or bodies. Its request and answer shapes are internal/cloudapi's;
// it never imports the server (internal/cloud and below).
package client

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"vigil/internal/cloudapi"
	"vigil/internal/devauth"
	"vigil/internal/history"
)

// Client talks to one cloud service.
type Client struct {
	BaseURL string
	HTTP    *http.Client
	// Token is an API token (from SignIn with type "api").
	Token string
	// Device signs requests when set (hubs).
	DeviceID  string
	DeviceKey ed25519.PrivateKey
}

// New returns a client for baseURL.
func New(baseURL string) *Client {
	return &Client{BaseURL: strings.TrimRight(baseURL, "/"), HTTP: &http.Client{Timeout: 60 * time.Second}}
}

// Error is an error answer of the API.
type Error struct {
	Status     int
	Message    string
	RetryAfter time.Duration
}

func (e *Error) Error() string {
	return fmt.Sprintf("cloud: %s (HTTP %d)", e.Message, e.Status)
}

// IsStatus reports whether err is an API error with that status.
func IsStatus(err error, status int) bool {
	var e *Error
	return errors.As(err, &e) && e.Status == status
}

func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return err
		}
	}
	resp, err := c.send(ctx, method, path, body, "application/json", nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		io.Copy(io.Discard, resp.Body)
		return nil
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<20)).Decode(out); err != nil {
		return fmt.Errorf("cloud: reading answer to %s %s: %w", method, path, err)
	}
	return nil
}

// send performs a request and turns non-2xx answers into *Error.
func (c *Client) send(ctx context.Context, method, path string, body []byte, ctype string, hdr http.Header) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.BaseURL+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", ctype)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	switch {
	case c.DeviceKey != nil:
		if err := devauth.Sign(req, body, c.DeviceID, c.DeviceKey, time.Now()); err != nil {
			return nil, err
		}
	case c.Token != "":
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return resp, nil
	}
	defer resp.Body.Close()
	var e cloudapi.Error
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if json.Unmarshal(b, &e) != nil || e.Error == "" {
		e.Error = strings.TrimSpace(string(b))
		if e.Error == "" {
			e.Error = resp.Status
		}
	}
	ae := &Error{Status: resp.StatusCode, Message: e.Error}
	if ra := resp.Header.Get("Retry-After"); ra != "" {
		if d, err := time.ParseDuration(ra + "s"); err == nil {
			ae.RetryAfter = d
		}
	}
	return nil, ae
}

// The API's shapes the client's methods take and return (cloudapi).
type (
	SignUpResult = cloudapi.SignUpResult
	Household    = cloudapi.Household
	Object       = cloudapi.Object
	Pairing      = cloudapi.Pairing
	Settings     = cloudapi.Settings
	Invite       = cloudapi.Invite
	JoinRequest  = cloudapi.JoinRequest
)

// SignUp creates an account.
func (c *Client) SignUp(ctx context.Context, email, password string) (SignUpResult, error) {
	var out SignUpResult
	err := c.do(ctx, "POST", "/v1/accounts", cloudapi.SignUp{Email: email, Password: password}, &out)
	return out, err
}

// SignIn gets an API token and keeps it in c.Token.
func (c *Client) SignIn(ctx context.Context, email, password, totp string) (string, error) {
	var out cloudapi.SignInResult
	err := c.do(ctx, "POST", "/v1/sessions", cloudapi.SignIn{Email: email, Password: password, TOTP: totp, Type: "api"}, &out)
	if err == nil {
		c.Token = out.Token
	}
	return out.Token, err
}

// CreateHousehold uploads a genesis link.
func (c *Client) CreateHousehold(ctx context.Context, genesis []byte) (Household, error) {
	var out Household
	err := c.do(ctx, "POST", "/v1/households", cloudapi.CreateHousehold{Genesis: genesis}, &out)
	return out, err
}

// Households lists the caller's households.
func (c *Client) Households(ctx context.Context) ([]Household, error) {
	var out cloudapi.Households
	err := c.do(ctx, "GET", "/v1/households", nil, &out)
	return out.Households, err
}

// AppendLink appends a signed chain link.
func (c *Client) AppendLink(ctx context.Context, household string, link []byte) error {
	return c.do(ctx, "POST", "/v1/households/"+url.PathEscape(household)+"/chain", cloudapi.ChainLink{Link: link}, nil)
}

// SubscribePush subscribes a browser's Web Push endpoint to a household's
// events (POST /v1/households/{hh}/push): p256dh is the subscription's
// uncompressed P-256 key, auth its 16-byte secret.
func (c *Client) SubscribePush(ctx context.Context, household, endpoint string, p256dh, auth []byte) error {
	b64 := base64.RawURLEncoding.EncodeToString
	return c.do(ctx, http.MethodPost, "/v1/households/"+household+"/push", map[string]any{
		"endpoint": endpoint, "expirationTime": nil,
		"keys": map[string]string{"p256dh": b64(p256dh), "auth": b64(auth)},
	}, nil)
}

// Objects lists a household's objects of a camera ("" all) overlapping
// [from, to) (zero: open).
func (c *Client) Objects(ctx context.Context, household, camera string, from, to time.Time) ([]Object, error) {
	q := url.Values{}
	if camera != "" {
		q.Set("camera", camera)
	}
	if !from.IsZero() {
		q.Set("from", from.UTC().Format(time.RFC3339Nano))
	}
	if !to.IsZero() {
		q.Set("to", to.UTC().Format(time.RFC3339Nano))
	}
	var out cloudapi.Objects
	err := c.do(ctx, "GET", "/v1/households/"+url.PathEscape(household)+"/objects?"+q.Encode(), nil, &out)
	return out.Objects, err
}

// Cameras lists a household's cameras.
func (c *Client) Cameras(ctx context.Context, household string) ([]string, error) {
	var out cloudapi.Cameras
	err := c.do(ctx, "GET", "/v1/households/"+url.PathEscape(household)+"/cameras", nil, &out)
	return out.Cameras, err
}

// ReadObject downloads a whole sealed object (at most limit bytes).
func (c *Client) ReadObject(ctx context.Context, household, key string, limit int64) ([]byte, error) {
	resp, err := c.send(ctx, "GET", "/v1/households/"+url.PathEscape(household)+"/objects/"+key, nil, "", nil)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("cloud: object %s is larger than %d bytes", key, limit)
	}
	return b, nil
}

// Upload PUTs a sealed object (hubs). created is false when the cloud
// already had these bytes.
func (c *Client) Upload(ctx context.Context, sealed []byte) (key string, created bool, err error) {
	resp, err := c.send(ctx, "PUT", "/v1/objects", sealed, "application/vnd.vigil.sealed", nil)
	if err != nil {
		return "", false, err
	}
	defer resp.Body.Close()
	var out cloudapi.UploadResult
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&out); err != nil {
		return "", false, err
	}
	return out.Key, out.Created, nil
}

// CreatePairing opens a rendezvous with the hub's first message.
func (c *Client) CreatePairing(ctx context.Context, id string, msg []byte) error {
	return c.do(ctx, "POST", "/v1/pairings", cloudapi.CreatePairing{ID: id, Msg: msg}, nil)
}

// GetPairing reads a rendezvous.
func (c *Client) GetPairing(ctx context.Context, id string) (Pairing, error) {
	var out Pairing
	err := c.do(ctx, "GET", "/v1/pairings/"+url.PathEscape(id), nil, &out)
	return out, err
}

// PostPairingMsg appends step 1 (member, with its household) or step 2 (hub).
func (c *Client) PostPairingMsg(ctx context.Context, id string, step int, msg []byte, household string) error {
	return c.do(ctx, "POST", "/v1/pairings/"+url.PathEscape(id)+"/messages",
		cloudapi.PairingMessage{Step: step, Msg: msg, HouseholdID: household}, nil)
}

// Raw performs a request and returns status and body, for tests and tools.
func (c *Client) Raw(ctx context.Context, method, path string, body []byte) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.BaseURL+path, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, b, err
}

// AddMember gives another account access to the household's objects and
// chain, as the signed member.add action says (an admin account sends it;
// an admin device signed it: history.SignAction). Opening footage still
// needs a device the chain lists.
func (c *Client) AddMember(ctx context.Context, household string, action history.Signed) error {
	return c.do(ctx, "POST", "/v1/households/"+url.PathEscape(household)+"/members", action, nil)
}

// RemoveMember takes an account out of the household, as the signed
// member.remove action says.
func (c *Client) RemoveMember(ctx context.Context, household, account string, action history.Signed) error {
	return c.do(ctx, "DELETE", "/v1/households/"+url.PathEscape(household)+"/members/"+url.PathEscape(account), action, nil)
}

// PutSettings sets the household's retention, as the signed settings.set
// action says.
func (c *Client) PutSettings(ctx context.Context, household string, action history.Signed) (Settings, error) {
	var out Settings
	err := c.do(ctx, "PUT", "/v1/households/"+url.PathEscape(household)+"/settings", action, &out)
	return out, err
}

// HubSettings returns the household's latest signed settings.set action
// (for a hub: the client signs as the device), or nil when there is none.
// The caller verifies it (history.VerifySigned) before believing it.
func (c *Client) HubSettings(ctx context.Context) (*history.Signed, error) {
	var raw json.RawMessage
	if err := c.do(ctx, "GET", "/v1/hub/settings", nil, &raw); err != nil {
		return nil, err
	}
	if string(bytes.TrimSpace(raw)) == "{}" {
		return nil, nil
	}
	s, err := history.ParseSigned(raw)
	if err != nil {
		return nil, fmt.Errorf("cloud: the hub settings answer: %w", err)
	}
	return &s, nil
}
