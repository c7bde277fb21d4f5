package live

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/pion/webrtc/v4"
)

// watchChannel is a request-and-reply data channel of a Go viewer's Watch
// (the settings and cameras channels): one request at a time, each carrying
// an ID its reply repeats.
type watchChannel struct {
	name    string // for errors: "settings", "cameras"
	prefix  string // of request IDs
	dc      *webrtc.DataChannel
	open    chan struct{}
	closed  chan struct{}
	replies chan []byte
	mu      sync.Mutex // one request at a time
	seq     int
}

// newWatchChannel creates the channel labelled label on pc, before the
// offer is made.
func newWatchChannel(pc *webrtc.PeerConnection, label, name, prefix string) (*watchChannel, error) {
	dc, err := pc.CreateDataChannel(label, nil)
	if err != nil {
		return nil, err
	}
	c := &watchChannel{name: name, prefix: prefix, dc: dc, open: make(chan struct{}), closed: make(chan struct{}), replies: make(chan []byte, 4)}
	dc.OnOpen(func() { close(c.open) })
	var once sync.Once
	dc.OnClose(func() { once.Do(func() { close(c.closed) }) })
	dc.OnMessage(func(m webrtc.DataChannelMessage) {
		select {
		case c.replies <- m.Data:
		default: // nobody is waiting: a reply the hub was not asked for
		}
	})
	return c, nil
}

// request sends the message make returns for a fresh ID and returns the
// hub's reply to it (or an error reply without an ID), raw. failed is the
// watch's connection failure.
func (c *watchChannel) request(ctx context.Context, failed <-chan struct{}, make func(id string) any) ([]byte, error) {
	select {
	case <-c.open:
	case <-failed:
		return nil, errors.New("the live connection failed")
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seq++
	id := fmt.Sprintf("%s%d", c.prefix, c.seq)
	b, err := json.Marshal(make(id))
	if err != nil {
		return nil, err
	}
	if err := c.dc.SendText(string(b)); err != nil {
		return nil, err
	}
	for {
		select {
		case raw := <-c.replies:
			var r struct {
				ID string `json:"id"`
			}
			if err := json.Unmarshal(raw, &r); err != nil {
				return nil, fmt.Errorf("the hub's reply is not JSON: %w", err)
			}
			if r.ID != id && r.ID != "" {
				continue // a late reply to an earlier request
			}
			return raw, nil
		case <-c.closed:
			return nil, fmt.Errorf("the hub closed the %s channel", c.name)
		case <-failed:
			return nil, errors.New("the live connection failed")
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}
