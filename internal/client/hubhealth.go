package client

import (
	"context"
	"errors"
	"time"

	"vigil/internal/cloudapi"
)

// ReportHealth sends the hub's health report (c signs as the hub's
// device): metadata only, which the cloud keeps as the hub's latest with
// the time it got it. It returns that time.
func (c *Client) ReportHealth(ctx context.Context, h cloudapi.HubHealth) (time.Time, error) {
	if c.DeviceKey == nil {
		return time.Time{}, errors.New("cloud: a health report is signed with the hub's device key")
	}
	var out struct {
		Received time.Time `json:"received"`
	}
	if err := c.do(ctx, "POST", cloudapi.HubHealthPath, h, &out); err != nil {
		return time.Time{}, err
	}
	return out.Received, nil
}
