package cloud_test

import (
	"bytes"
	"crypto/ecdh"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"testing"
	"time"

	"vigil/internal/cloud"
	"vigil/internal/notify/webpush"
)

// TestJoinRequestPush: a join request sends the household's admin
// accounts' push subscriptions a Web Push (RFC 8291, to a push service on
// loopback) whose payload says only which household has a device waiting:
// no invite secret, proof, device or name. A member who is not an admin
// cannot approve and gets none.
func TestJoinRequestPush(t *testing.T) {
	e := newEnvWith(t, withLocalPush)
	alice, bob, carol := e.signUp("alice@example.com"), e.signUp("bob@example.com"), e.signUp("carol@example.com")
	st := e.household(alice, "Home")
	hh := st.HouseholdID
	e.addMember(alice, hh, "bob@example.com", "member")
	ps := newPushService(t)

	ua, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	auth := make([]byte, 16)
	rand.Read(auth)
	b64 := base64.RawURLEncoding.EncodeToString
	subscribe := func(m *member, path string) {
		body, _ := json.Marshal(map[string]any{"endpoint": ps.srv.URL + path,
			"keys": map[string]string{"p256dh": b64(ua.PublicKey().Bytes()), "auth": b64(auth)}})
		if status, got := post(t, m.c, "/v1/households/"+hh+"/push", body); status != 201 {
			t.Fatalf("subscribe %s: %d %s", path, status, got)
		}
	}
	subscribe(bob, "/bob") // older: tried first
	e.clock.Add(time.Second)
	subscribe(alice, "/alice")

	inv := e.invite(alice, hh, "member", time.Hour)
	secret := inv.Secret
	_, _, dev := joinRequest(t, carol, inv)

	var got pushed
	select {
	case got = <-ps.got:
	case <-time.After(20 * time.Second):
		t.Fatal("no push arrived after a join request")
	}
	if got.path != "/alice" {
		t.Fatalf("the join push went to %s, want the admin's /alice only", got.path)
	}
	plain, err := webpush.Decrypt(got.body, ua, auth)
	if err != nil {
		t.Fatalf("push body: %v", err)
	}
	var p cloud.JoinPush
	if err := json.Unmarshal(plain, &p); err != nil {
		t.Fatalf("payload %q: %v", plain, err)
	}
	if p != (cloud.JoinPush{Type: "join-request", Household: hh}) {
		t.Errorf("payload %+v, want a join-request for %s", p, hh)
	}
	for _, secretPart := range [][]byte{secret, []byte(b64(secret)), []byte(dev), []byte(inv.ID), []byte("phone"), []byte("carol")} {
		if bytes.Contains(plain, secretPart) {
			t.Errorf("the push payload %q holds %q", plain, secretPart)
		}
	}
	if plain[0] != '{' {
		t.Errorf("the payload starts with %q; the service worker tells it from a sealed record by '{'", plain[0])
	}
}
