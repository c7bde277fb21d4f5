package cloud_test

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"vigil/internal/client"
	"vigil/internal/cloud/auth"
	"vigil/internal/history"
	"vigil/internal/keydir"
)

// TestSessionDeviceBinding: a session names the member device it runs on
// only after it proved it holds the device's signing key, by signing the
// session's own challenge; the records of its accesses then carry the
// device. A signature by another key, for another device string, over
// another session's challenge or in another form is refused and binds
// nothing; a bound session cannot be moved to another device; a second
// session of the same account that did not bind names no device.
func TestSessionDeviceBinding(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	alice := e.signUp("alice@example.com")
	st := e.household(alice, "Home")
	bound := alice.c // the session that binds

	// A second session of the same account.
	other := client.New(e.url)
	if _, err := other.SignIn(ctx, alice.email, alice.password, auth.TOTPCode(alice.totp, e.clock.Now())); err != nil {
		t.Fatal(err)
	}
	e.clock.Add(31 * time.Second)

	type state struct {
		Challenge string `json:"challenge"`
		Device    string `json:"device"`
	}
	get := func(c *client.Client) state {
		t.Helper()
		status, body, err := c.Raw(ctx, "GET", "/v1/sessions/current/device", nil)
		if err != nil || status != 200 {
			t.Fatalf("GET the session's device: %d %s %v", status, body, err)
		}
		var s state
		if err := json.Unmarshal(body, &s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	sign := func(k *keydir.DeviceKeys, challenge string) string {
		c, err := base64.RawURLEncoding.DecodeString(challenge)
		if err != nil || len(c) != 32 {
			t.Fatalf("challenge %q: %v", challenge, err)
		}
		msg := append([]byte("vigil/session/v1/device\x00"), c...)
		return base64.RawURLEncoding.EncodeToString(ed25519.Sign(k.Sign, msg))
	}
	bind := func(c *client.Client, body any) (int, string) {
		t.Helper()
		b, _ := json.Marshal(body)
		status, resp, err := c.Raw(ctx, "PUT", "/v1/sessions/current/device", b)
		if err != nil && status == 0 {
			t.Fatal(err)
		}
		return status, string(resp)
	}
	mine := keydir.EncodeDevice(alice.keys)
	myID := keydir.DeviceID(alice.keys.Sign.Public().(ed25519.PublicKey))
	stranger, _ := keydir.NewDeviceKeys()
	theirs := keydir.EncodeDevice(stranger)

	s0 := get(bound)
	if s0.Device != "" {
		t.Fatalf("a new session names device %q", s0.Device)
	}
	if s1 := get(other); s1.Challenge == s0.Challenge {
		t.Fatal("two sessions have one challenge")
	}
	for name, c := range map[string]struct {
		body   any
		status int
	}{
		"another key's signature for my device":  {map[string]string{"device": mine, "sig": sign(stranger, s0.Challenge)}, 401},
		"my signature for another device string": {map[string]string{"device": theirs, "sig": sign(alice.keys, s0.Challenge)}, 401},
		"another session's challenge":            {map[string]string{"device": mine, "sig": sign(alice.keys, get(other).Challenge)}, 401},
		"the bare challenge signed": {map[string]string{"device": mine, "sig": base64.RawURLEncoding.EncodeToString(
			ed25519.Sign(alice.keys.Sign, must64(t, s0.Challenge)))}, 401},
		"not a device string": {map[string]string{"device": myID, "sig": sign(alice.keys, s0.Challenge)}, 400},
		"a damaged device":    {map[string]string{"device": mine[:len(mine)-4], "sig": sign(alice.keys, s0.Challenge)}, 400},
		"a short signature":   {map[string]string{"device": mine, "sig": sign(alice.keys, s0.Challenge)[:80]}, 400},
		"padded base64":       {map[string]string{"device": mine, "sig": sign(alice.keys, s0.Challenge) + "=="}, 400},
		"an unknown field":    {map[string]string{"device": mine, "sig": sign(alice.keys, s0.Challenge), "id": myID}, 400},
		"no signature":        {map[string]string{"device": mine}, 400},
	} {
		status, resp := bind(bound, c.body)
		if status != c.status {
			t.Errorf("%s: %d %s, want %d", name, status, resp, c.status)
		}
		if strings.Contains(resp, sign(alice.keys, s0.Challenge)) {
			t.Errorf("%s: the answer echoes the signature", name)
		}
	}
	if s := get(bound); s.Device != "" {
		t.Fatalf("refused bindings bound the session to %q", s.Device)
	}
	// Reads before the binding name no device.
	if _, err := bound.Cameras(ctx, st.HouseholdID); err != nil {
		t.Fatal(err)
	}

	if status, resp := bind(bound, map[string]string{"device": mine, "sig": sign(alice.keys, s0.Challenge)}); status != 200 || !strings.Contains(resp, myID) {
		t.Fatalf("binding with the device's signature: %d %s", status, resp)
	}
	if s := get(bound); s.Device != myID || s.Challenge != s0.Challenge {
		t.Fatalf("after binding: %+v, want device %s", s, myID)
	}
	if status, resp := bind(bound, map[string]string{"device": mine, "sig": sign(alice.keys, s0.Challenge)}); status != 200 {
		t.Errorf("binding to the same device again: %d %s", status, resp)
	}
	if status, resp := bind(bound, map[string]string{"device": theirs, "sig": sign(stranger, s0.Challenge)}); status != 409 {
		t.Errorf("moving a bound session to another device: %d %s, want 409", status, resp)
	}
	if s := get(other); s.Device != "" {
		t.Fatalf("binding one session bound another: %+v", s)
	}

	// Reads after the binding name the device; the other session's do not.
	if _, err := bound.Objects(ctx, st.HouseholdID, "front", time.Time{}, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if _, err := other.Objects(ctx, st.HouseholdID, "back", time.Time{}, time.Time{}); err != nil {
		t.Fatal(err)
	}
	var before, after, unbound *history.Verified
	recs := e.history(alice, st)
	for i := range recs {
		r := &recs[i]
		switch {
		case r.Action == "cameras.list" && before == nil:
			before = r
		case r.Action == "objects.list" && r.Actor.Device != "" && after == nil:
			after = r
		case r.Action == "objects.list" && r.Actor.Device == "" && unbound == nil:
			unbound = r
		}
	}
	if before == nil || before.Actor != (history.Actor{Kind: history.ActorAccount, ID: before.Actor.ID}) {
		t.Errorf("the read before binding: %+v", before)
	}
	if after == nil || after.Actor.Kind != history.ActorAccount || after.Actor.Device != myID {
		t.Errorf("the read after binding: %+v, want device %s", after, myID)
	}
	if unbound == nil || unbound.Actor.ID != after.Actor.ID {
		t.Errorf("the other session's read: %+v (it should be the same account, no device)", unbound)
	}
}

func must64(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
