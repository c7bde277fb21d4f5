package cloud_test

import (
	"bytes"
	"crypto/ecdh"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"vigil/internal/client"
	"vigil/internal/cloud"
	"vigil/internal/cloud/store"
	"vigil/internal/cloudapi"
	"vigil/internal/devauth"
	"vigil/internal/notify/webpush"
	"vigil/internal/pgtest"
	"vigil/internal/vigiltest"
)

// TestHubQuietPushSQLite and TestHubQuietPushPostgres: a paired hub that
// stops reporting for the quiet time gets each subscribed member of its
// household one Web Push (RFC 8291, to a push service on loopback) saying
// it went quiet, however many times the cloud looks during the outage,
// and one saying it is back when it reports again. The push holds the
// household's and the hub's IDs and the cloud's times, nothing else.
func TestHubQuietPushSQLite(t *testing.T) {
	dir := t.TempDir()
	st, err := store.OpenSQLite(t.Context(), filepath.Join(dir, "cloud.db"), store.SQLiteOptions{Logger: vigiltest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	testHubQuietPush(t, dir, st)
}

func TestHubQuietPushPostgres(t *testing.T) {
	st, err := store.OpenPostgres(t.Context(), pgtest.NewSchema(t, pgtest.NewDB(t)), store.PostgresOptions{Logger: vigiltest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	testHubQuietPush(t, t.TempDir(), st)
}

// reportAt sends hub c's health report made at the cloud's time now,
// signed at now.
func reportAt(t *testing.T, c *client.Client, now time.Time) {
	t.Helper()
	body, err := json.Marshal(goodReport(now))
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequestWithContext(t.Context(), "POST", c.BaseURL+cloudapi.HubHealthPath, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if err := devauth.Sign(req, body, c.DeviceID, c.DeviceKey, now); err != nil {
		t.Fatal(err)
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("health report: %d", resp.StatusCode)
	}
}

func testHubQuietPush(t *testing.T, dir string, st store.Store) {
	const quiet = 10 * time.Minute
	e := newEnvWithOn(t, dir, st, func(o *cloud.Options) {
		o.Outbound = localPushOutbound
		o.HubQuietAfter, o.HubWatchEvery = quiet, 5*time.Millisecond
	})
	alice, bob := e.signUp("alice@example.com"), e.signUp("bob@example.com")
	hs := e.household(alice, "Home")
	hh := hs.HouseholdID
	e.addMember(alice, hh, "bob@example.com", "member")
	hub, _ := e.addHub(alice, hs)
	never, _ := e.addHub(alice, hs) // never reports: the cloud knows nothing to say of it
	ps := newPushService(t)
	ua, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	auth := make([]byte, 16)
	rand.Read(auth)
	b64 := base64.RawURLEncoding.EncodeToString
	for _, m := range []*member{alice, bob} {
		body, _ := json.Marshal(map[string]any{"endpoint": ps.srv.URL + "/" + m.email,
			"keys": map[string]string{"p256dh": b64(ua.PublicKey().Bytes()), "auth": b64(auth)}})
		if status, got := post(t, m.c, "/v1/households/"+hh+"/push", body); status != 201 {
			t.Fatalf("subscribe: %d %s", status, got)
		}
	}
	// next returns the pushes that arrive, one for each subscription,
	// decrypted and sorted by subscription.
	next := func(what string) []cloudapi.HubPush {
		t.Helper()
		var got []cloudapi.HubPush
		var paths []string
		for range 2 {
			var p pushed
			select {
			case p = <-ps.got:
			case <-time.After(20 * time.Second):
				t.Fatalf("%s: %d of 2 pushes arrived", what, len(got))
			}
			plain, err := webpush.Decrypt(p.body, ua, auth)
			if err != nil {
				t.Fatalf("%s: push body: %v", what, err)
			}
			var fields map[string]any
			if err := json.Unmarshal(plain, &fields); err != nil || plain[0] != '{' {
				t.Fatalf("%s: payload %q: %v", what, plain, err)
			}
			for k := range fields {
				if !slices.Contains([]string{"type", "household", "hub", "last_contact", "back"}, k) {
					t.Errorf("%s: the payload %s holds %q", what, plain, k)
				}
			}
			var hp cloudapi.HubPush
			json.Unmarshal(plain, &hp)
			got, paths = append(got, hp), append(paths, p.path)
		}
		slices.Sort(paths)
		if want := []string{"/alice@example.com", "/bob@example.com"}; !slices.Equal(paths, want) {
			t.Errorf("%s: pushes to %v, want %v", what, paths, want)
		}
		return got
	}
	none := func(what string) {
		t.Helper()
		select {
		case p := <-ps.got:
			t.Fatalf("%s: a push to %s", what, p.path)
		case <-time.After(300 * time.Millisecond): // about 60 looks
		}
	}
	health := func(m *member) cloudapi.MemberHub {
		t.Helper()
		var out cloudapi.HubsHealth
		if status := getJSON(t, m, fmt.Sprintf(cloudapi.HubsHealthPath, hh), &out); status != 200 {
			t.Fatalf("hubs health: %d", status)
		}
		if out.QuietAfter != int64(quiet/time.Second) || len(out.Hubs) != 2 {
			t.Fatalf("hubs health: %+v", out)
		}
		for _, h := range out.Hubs {
			if h.ID == never.DeviceID && (h.Reported || !h.LastContact.IsZero() || h.Quiet) {
				t.Errorf("the hub that never reported: %+v", h)
			}
		}
		i := slices.IndexFunc(out.Hubs, func(h cloudapi.MemberHub) bool { return h.ID == hub.DeviceID })
		return out.Hubs[i]
	}

	reportAt(t, hub, e.clock.Now())
	contact := e.clock.Now().UTC().Truncate(time.Microsecond)
	e.clock.Add(quiet - time.Second)
	none("a hub quiet for less than the quiet time")
	if h := health(bob); !h.Reported || h.Quiet || !h.LastContact.Equal(contact) || h.Version != "v1.4.0-test" || h.Uploads.Pending != 12 ||
		h.Uploads.LastError == nil || h.Uploads.LastError.Message != "502 Bad Gateway" {
		t.Errorf("a member reads the hub as %+v", h)
	}

	e.clock.Add(2 * time.Second)
	for _, p := range next("the hub went quiet") {
		if want := (cloudapi.HubPush{Type: cloudapi.HubPushQuiet, Household: hh, Hub: hub.DeviceID, LastContact: contact}); p != want {
			t.Errorf("quiet push %+v, want %+v", p, want)
		}
	}
	e.clock.Add(time.Hour)
	none("the same outage, an hour on")
	if h := health(alice); !h.Quiet || !h.LastContact.Equal(contact) {
		t.Errorf("the quiet hub reads as %+v", h)
	}

	reportAt(t, hub, e.clock.Now())
	back := e.clock.Now().UTC().Truncate(time.Microsecond)
	for _, p := range next("the hub is back") {
		if want := (cloudapi.HubPush{Type: cloudapi.HubPushBack, Household: hh, Hub: hub.DeviceID, LastContact: contact, Back: back}); p != want {
			t.Errorf("back push %+v, want %+v", p, want)
		}
	}
	none("the hub reporting")
	if h := health(alice); h.Quiet || !h.LastContact.Equal(back) {
		t.Errorf("the hub back reads as %+v", h)
	}

	// A second outage is told of again, once.
	e.clock.Add(quiet + time.Second)
	for _, p := range next("the hub went quiet again") {
		if p.Type != cloudapi.HubPushQuiet || !p.LastContact.Equal(back) {
			t.Errorf("second quiet push %+v", p)
		}
	}
	none("the second outage")
}

// TestHubsHealthMembersOnly: the hubs' health is the household's members'
// to read: another household's member, and a caller without a session,
// get what an unknown household gets.
func TestHubsHealthMembersOnly(t *testing.T) {
	e := newEnv(t)
	alice, mallory := e.signUp("alice@example.com"), e.signUp("mallory@example.com")
	hs := e.household(alice, "Home")
	e.household(mallory, "Elsewhere")
	hub, _ := e.addHub(alice, hs)
	if _, err := hub.ReportHealth(t.Context(), goodReport(time.Now())); err != nil {
		t.Fatal(err)
	}
	path := fmt.Sprintf(cloudapi.HubsHealthPath, hs.HouseholdID)
	var out cloudapi.HubsHealth
	if status := getJSON(t, alice, path, &out); status != 200 || len(out.Hubs) != 1 || out.Hubs[0].ID != hub.DeviceID || !out.Hubs[0].Reported {
		t.Fatalf("alice reads %d %+v", status, out)
	}
	unknown := fmt.Sprintf(cloudapi.HubsHealthPath, "no-such-household")
	sOther, bOther := call(t, mallory.c, "GET", path, nil)
	sUnknown, bUnknown := call(t, mallory.c, "GET", unknown, nil)
	if sOther != http.StatusNotFound || sOther != sUnknown || string(bOther) != string(bUnknown) {
		t.Errorf("another household's member: %d %s; an unknown household: %d %s", sOther, bOther, sUnknown, bUnknown)
	}
	resp, err := http.Get(e.url + path)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("no session: %d", resp.StatusCode)
	}
}
