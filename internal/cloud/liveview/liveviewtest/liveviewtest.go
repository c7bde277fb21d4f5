// Package liveviewtest holds what the live view's tests share, at the
// liveview service (internal/cloud/liveview) and through the cloud's
// WebSockets (internal/cloud): what a viewer forges into its offer, and
// the checks of what of it reaches the hub.
//
// It owns no state and starts nothing; it must never be imported outside
// tests.
package liveviewtest

import (
	"encoding/json"
	"strings"
	"testing"

	"vigil/internal/cloud/liveview"
)

// ForgedHost is the relay a forging viewer names.
const ForgedHost = "relay.evil.example"

// ForgedICEServers are ICE servers a viewer adds to its offer: a relay of
// its own choosing, which must never reach the hub.
func ForgedICEServers() []map[string]any {
	return []map[string]any{{"urls": []string{"turn:" + ForgedHost + ":3478?transport=udp"}, "username": "u", "credential": "c"}}
}

// OutsideField is a field outside the format that a viewer adds to its
// offer, with its value; it must never reach the hub.
const OutsideField, OutsideValue = "extra", "not in the format"

// CheckOfferAtHub checks an offer as the hub got it (got: its fields):
// no field outside the format, never the ICE servers the viewer named,
// none at all from a service without a relay (withRelay false), and
// otherwise exactly one, which it returns (ok false when there is none to
// return).
func CheckOfferAtHub(t testing.TB, got map[string]json.RawMessage, withRelay bool) (server liveview.ICEServer, ok bool) {
	t.Helper()
	if _, in := got[OutsideField]; in {
		t.Error("a field outside the format reached the hub")
	}
	raw, in := got["ice_servers"]
	if strings.Contains(string(raw), ForgedHost) {
		t.Fatalf("the viewer's ICE servers reached the hub: %s", raw)
	}
	if !withRelay {
		if in {
			t.Errorf("ICE servers %s reached the hub from a service without a relay", raw)
		}
		return liveview.ICEServer{}, false
	}
	var servers []liveview.ICEServer
	if err := json.Unmarshal(raw, &servers); err != nil || len(servers) != 1 {
		t.Fatalf("the hub's ICE servers %s: %v", raw, err)
	}
	return servers[0], true
}
