package client

import (
	"context"
	"fmt"
	"net/url"

	"vigil/internal/cloudapi"
	"vigil/internal/history"
)

// ChainIndexed fetches a household's links from seq from (members), or the
// hub's own household's links (when c signs as a device and household is
// ""), with where each link's head is in the transparency log (-1 while it
// waits for the log).
func (c *Client) ChainIndexed(ctx context.Context, household string, from int64) ([][]byte, []int64, error) {
	var out cloudapi.Chain
	path := "/v1/hub/chain"
	if household != "" {
		path = "/v1/households/" + url.PathEscape(household) + "/chain"
	}
	if err := c.do(ctx, "GET", fmt.Sprintf("%s?from=%d", path, from), nil, &out); err != nil {
		return nil, nil, err
	}
	if len(out.LogIndex) != len(out.Links) {
		return nil, nil, fmt.Errorf("cloud: the chain lists %d links and %d log indexes", len(out.Links), len(out.LogIndex))
	}
	return out.Links, out.LogIndex, nil
}

// History returns a household's records with N >= from, every page.
func (c *Client) History(ctx context.Context, household string, from int64) ([]history.RecordRef, error) {
	var out []history.RecordRef
	for {
		var page history.HistoryPage
		q := url.Values{"from": {fmt.Sprint(from)}}
		if err := c.do(ctx, "GET", "/v1/households/"+url.PathEscape(household)+"/history?"+q.Encode(), nil, &page); err != nil {
			return nil, err
		}
		out = append(out, page.Records...)
		if !page.More || len(page.Records) == 0 {
			return out, nil
		}
		from = page.Records[len(page.Records)-1].N + 1
	}
}

// LogPolicy returns the transparency log the cloud appends to and its
// witnesses (to pin the first time).
func (c *Client) LogPolicy(ctx context.Context) (history.LogPolicy, error) {
	var p history.LogPolicy
	err := c.do(ctx, "GET", "/v1/log", nil, &p)
	return p, err
}
