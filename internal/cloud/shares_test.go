package cloud_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"vigil/internal/cloud"
	"vigil/internal/cloud/shares"
	"vigil/internal/envelope"
	"vigil/internal/history"
	"vigil/internal/keydir"
)

// shareFixture: alice's household with a hub that uploaded five 4-second
// segments of "front" (from start) and one of "back".
type shareFixture struct {
	e     *env
	alice *member
	st    *keydir.State
	hh    string
	start time.Time
	keys  []string // front, in order
	back  string
	objs  map[string][]byte
}

func newShareFixture(t *testing.T) *shareFixture {
	e := newEnv(t)
	f := &shareFixture{e: e, alice: e.signUp("alice@example.com"), objs: map[string][]byte{}}
	st := e.household(f.alice, "Home")
	f.st, f.hh = st, st.HouseholdID
	hub, hubKey := e.addHub(f.alice, st)
	f.start = e.clock.Now().Add(-time.Hour).Truncate(time.Second).UTC()
	ctx := context.Background()
	for i := range 5 {
		b := seal(t, hubKey, st, "front", uint64(i), f.start.Add(time.Duration(i)*4*time.Second), 2000)
		key, _, err := hub.Upload(ctx, b)
		if err != nil {
			t.Fatal(err)
		}
		f.keys = append(f.keys, key)
		f.objs[key] = b
	}
	b := seal(t, hubKey, st, "back", 0, f.start.Add(4*time.Second), 2000)
	key, _, err := hub.Upload(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	f.back = key
	return f
}

func newShareID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return strings.ToLower(strings.TrimRight(base32Std.EncodeToString(b), "="))
}

var base32Std = b32.WithPadding('=')

type linkShare struct {
	id    string
	token string // base64url, as the browser sends it
}

// createLink shares [from, to) of camera as a link expiring at exp.
func (f *shareFixture) createLink(t *testing.T, m *member, camera string, from, to, exp time.Time) (linkShare, int, []byte) {
	t.Helper()
	tok := make([]byte, 32)
	rand.Read(tok)
	h := sha256.Sum256(tok)
	ls := linkShare{id: newShareID(), token: base64.RawURLEncoding.EncodeToString(tok)}
	body, _ := json.Marshal(map[string]any{"id": ls.id, "camera": camera, "from": from, "to": to, "expires": exp,
		"kind": "link", "token_hash": h[:], "manifest": []byte("signed manifest " + ls.id)})
	status, resp, err := m.c.Raw(context.Background(), "POST", "/v1/households/"+f.hh+"/shares", body)
	if err != nil {
		t.Fatal(err)
	}
	return ls, status, resp
}

// guestGet reads path with a link token ("" for none) and an API token
// ("" for none).
func (f *shareFixture) guestGet(t *testing.T, path, linkToken, apiToken string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest("GET", f.e.url+path, nil)
	if linkToken != "" {
		req.Header.Set("Vigil-Share-Token", linkToken)
	}
	if apiToken != "" {
		req.Header.Set("Authorization", "Bearer "+apiToken)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func errMsg(b []byte) string {
	var e struct {
		Error string `json:"error"`
	}
	json.Unmarshal(b, &e)
	return e.Error
}

func (f *shareFixture) accesses(t *testing.T) []history.Verified {
	t.Helper()
	return f.e.history(f.alice, f.st)
}

func TestShareLink(t *testing.T) {
	f := newShareFixture(t)
	now := f.e.clock.Now()
	// Segments 1 and 2 ([4s, 12s)) are shared; 0 ends at 4s and 3 starts at 12s.
	ls, status, body := f.createLink(t, f.alice, "front", f.start.Add(4*time.Second), f.start.Add(12*time.Second), now.Add(24*time.Hour))
	if status != 201 {
		t.Fatalf("create link share: %d %s", status, body)
	}
	var created cloud.ShareJSON
	json.Unmarshal(body, &created)
	if created.ID != ls.id || created.Kind != "link" || created.State != "active" || created.Creator != "alice@example.com" {
		t.Errorf("created share: %+v", created)
	}

	// The guest reads the manifest with the token, and nothing without it.
	status, body = f.guestGet(t, "/v1/shares/"+ls.id, ls.token, "")
	var got cloud.ShareJSON
	json.Unmarshal(body, &got)
	if status != 200 || string(got.Manifest) != "signed manifest "+ls.id || got.Camera != "front" || !got.From.Equal(f.start.Add(4*time.Second)) {
		t.Fatalf("guest GET share: %d %s", status, body)
	}
	if got.Creator != "" {
		t.Errorf("a link guest learns the sharer's e-mail: %q", got.Creator)
	}
	wrong := make([]byte, 32)
	rand.Read(wrong)
	for name, tok := range map[string]string{
		"wrong token":     base64.RawURLEncoding.EncodeToString(wrong),
		"malformed token": "!!!",
		"short token":     ls.token[:20],
	} {
		if status, body := f.guestGet(t, "/v1/shares/"+ls.id, tok, ""); status != 404 {
			t.Errorf("%s: %d %s, want 404", name, status, body)
		}
		if status, _ := f.guestGet(t, "/v1/shares/"+ls.id+"/objects/"+f.keys[1], tok, ""); status != 404 {
			t.Errorf("%s, object: %d, want 404", name, status)
		}
	}
	if status, _ := f.guestGet(t, "/v1/shares/"+ls.id, "", ""); status != 401 {
		t.Errorf("no token: %d, want 401", status)
	}
	// A member's session does not open a link share without its token.
	if status, _ := f.guestGet(t, "/v1/shares/"+ls.id, "", f.alice.c.Token); status != 404 {
		t.Errorf("member session without the link token: %d, want 404", status)
	}
	// Another share's ID with this token.
	if status, _ := f.guestGet(t, "/v1/shares/"+newShareID(), ls.token, ""); status != 404 {
		t.Errorf("unknown share: %d, want 404", status)
	}

	// Objects in the range, and only those.
	for i, key := range f.keys {
		status, b := f.guestGet(t, "/v1/shares/"+ls.id+"/objects/"+key, ls.token, "")
		inRange := i == 1 || i == 2
		switch {
		case inRange && (status != 200 || !bytes.Equal(b, f.objs[key])):
			t.Errorf("object %d in range: %d, %d bytes", i, status, len(b))
		case !inRange && status != 404:
			t.Errorf("object %d outside the range: %d, want 404", i, status)
		}
	}
	if status, _ := f.guestGet(t, "/v1/shares/"+ls.id+"/objects/"+f.back, ls.token, ""); status != 404 {
		t.Errorf("another camera's object in the time range: %d, want 404", status)
	}
	if status, _ := f.guestGet(t, "/v1/shares/"+ls.id+"/objects/"+f.hh+"/nope/front/0000000000000001", ls.token, ""); status != 404 {
		t.Errorf("guessed key: %d, want 404", status)
	}

	// Every guest read is in the household's record, as a link.
	var reads, manifests int
	for _, a := range f.accesses(t) {
		if a.Actor.Kind != "link" {
			continue
		}
		if a.Actor.ID != "share:"+ls.id {
			t.Errorf("link access actor %q", a.Actor.ID)
		}
		switch a.Action {
		case "share.object.read":
			reads += int(a.Count)
		case "share.read":
			manifests += int(a.Count)
			if a.Object != "share:"+ls.id {
				t.Errorf("a share.read record names %q, not the share", a.Object)
			}
		}
	}
	// Two objects in range, three outside it and two made-up keys: each
	// request with the right token is recorded.
	if manifests != 1 || reads != 7 {
		t.Errorf("recorded link reads: %d manifest, %d object; want 1, 7", manifests, reads)
	}

	// Members list it; revoking refuses the guest with a clear answer.
	status, body, _ = f.alice.c.Raw(context.Background(), "GET", "/v1/households/"+f.hh+"/shares", nil)
	var list struct {
		Shares []cloud.ShareJSON `json:"shares"`
	}
	json.Unmarshal(body, &list)
	if status != 200 || len(list.Shares) != 1 || list.Shares[0].ID != ls.id {
		t.Fatalf("list shares: %d %s", status, body)
	}
	status, body, _ = f.alice.c.Raw(context.Background(), "DELETE", "/v1/households/"+f.hh+"/shares/"+ls.id, nil)
	if status != 200 || !strings.Contains(string(body), `"state":"revoked"`) {
		t.Fatalf("revoke: %d %s", status, body)
	}
	for _, path := range []string{"/v1/shares/" + ls.id, "/v1/shares/" + ls.id + "/objects/" + f.keys[1]} {
		status, body := f.guestGet(t, path, ls.token, "")
		if status != 410 || !strings.Contains(errMsg(body), "revoked") {
			t.Errorf("revoked share %s: %d %s, want 410 saying revoked", path, status, body)
		}
	}
	// A wrong token still learns nothing about the revoked share.
	if status, _ := f.guestGet(t, "/v1/shares/"+ls.id, base64.RawURLEncoding.EncodeToString(wrong), ""); status != 404 {
		t.Errorf("wrong token on a revoked share: %d, want 404", status)
	}
	if status, _, _ := f.alice.c.Raw(context.Background(), "DELETE", "/v1/households/"+f.hh+"/shares/"+newShareID(), nil); status != 404 {
		t.Errorf("revoking an unknown share: %d, want 404", status)
	}
}

func TestShareExpiry(t *testing.T) {
	f := newShareFixture(t)
	ls, status, body := f.createLink(t, f.alice, "front", f.start, f.start.Add(time.Minute), f.e.clock.Now().Add(time.Hour))
	if status != 201 {
		t.Fatalf("create: %d %s", status, body)
	}
	if status, _ := f.guestGet(t, "/v1/shares/"+ls.id+"/objects/"+f.keys[0], ls.token, ""); status != 200 {
		t.Fatalf("before expiry: %d", status)
	}
	f.e.clock.Add(time.Hour)
	for _, path := range []string{"/v1/shares/" + ls.id, "/v1/shares/" + ls.id + "/objects/" + f.keys[0]} {
		status, body := f.guestGet(t, path, ls.token, "")
		if status != 410 || !strings.Contains(errMsg(body), "expired") {
			t.Errorf("after expiry %s: %d %s, want 410 saying expired", path, status, body)
		}
	}
	_, body, _ = f.alice.c.Raw(context.Background(), "GET", "/v1/households/"+f.hh+"/shares", nil)
	if !strings.Contains(string(body), `"state":"expired"`) {
		t.Errorf("members' listing after expiry: %s", body)
	}
}

func TestShareAccount(t *testing.T) {
	f := newShareFixture(t)
	bob := f.e.signUp("bob@example.com")
	carol := f.e.signUp("carol@example.com")
	id := newShareID()
	mk := func(email string) (int, []byte) {
		body, _ := json.Marshal(map[string]any{"id": id, "camera": "front", "from": f.start, "to": f.start.Add(8 * time.Second),
			"expires": f.e.clock.Now().Add(time.Hour), "kind": "account", "guest_email": email, "manifest": []byte("m")})
		status, resp, _ := f.alice.c.Raw(context.Background(), "POST", "/v1/households/"+f.hh+"/shares", body)
		return status, resp
	}
	if status, body := mk("nobody@example.com"); status != 404 || !strings.Contains(errMsg(body), "no account") {
		t.Errorf("share with an unknown e-mail: %d %s", status, body)
	}
	if status, body := mk(" Bob@Example.com "); status != 201 {
		t.Fatalf("account share: %d %s", status, body)
	}
	// Bob sees it among the shares with him; carol does not.
	status, body, _ := bob.c.Raw(context.Background(), "GET", "/v1/shares", nil)
	if status != 200 || !strings.Contains(string(body), id) || !strings.Contains(string(body), "alice@example.com") {
		t.Errorf("bob's shares: %d %s", status, body)
	}
	if _, body, _ := carol.c.Raw(context.Background(), "GET", "/v1/shares", nil); strings.Contains(string(body), id) {
		t.Errorf("carol's shares list bob's: %s", body)
	}
	if status, body := f.guestGet(t, "/v1/shares/"+id, "", bob.c.Token); status != 200 || !strings.Contains(string(body), `"manifest"`) {
		t.Errorf("bob reads the share: %d %s", status, body)
	}
	if status, b := f.guestGet(t, "/v1/shares/"+id+"/objects/"+f.keys[1], "", bob.c.Token); status != 200 || !bytes.Equal(b, f.objs[f.keys[1]]) {
		t.Errorf("bob reads a shared object: %d", status)
	}
	if status, _ := f.guestGet(t, "/v1/shares/"+id+"/objects/"+f.keys[2], "", bob.c.Token); status != 404 {
		t.Errorf("bob reads an object after the range: %d, want 404", status)
	}
	// Neither carol nor the household's own member, nor a link token, opens it.
	for name, tok := range map[string]string{"carol": carol.c.Token, "alice": f.alice.c.Token} {
		if status, _ := f.guestGet(t, "/v1/shares/"+id, "", tok); status != 404 {
			t.Errorf("%s reads bob's share: %d, want 404", name, status)
		}
	}
	if status, _ := f.guestGet(t, "/v1/shares/"+id, base64.RawURLEncoding.EncodeToString(make([]byte, 32)), ""); status != 404 {
		t.Errorf("a token on an account share: %d, want 404", status)
	}
	// Bob is not a member: he cannot list the household's objects or shares.
	if status, _, _ := bob.c.Raw(context.Background(), "GET", "/v1/households/"+f.hh+"/objects", nil); status != 404 {
		t.Errorf("guest lists the household's objects: %d, want 404", status)
	}
	guestReads := 0
	for _, a := range f.fixtureAccessesBy(t, "guest") {
		if a.Action == "share.object.read" && a.Object == f.keys[1] {
			guestReads += int(a.Count)
		}
	}
	if guestReads != 1 {
		t.Errorf("guest object reads recorded: %d, want 1", guestReads)
	}
	// Revoked: bob is told.
	f.alice.c.Raw(context.Background(), "DELETE", "/v1/households/"+f.hh+"/shares/"+id, nil)
	if status, body := f.guestGet(t, "/v1/shares/"+id, "", bob.c.Token); status != 410 || !strings.Contains(errMsg(body), "revoked") {
		t.Errorf("revoked account share: %d %s", status, body)
	}
}

func (f *shareFixture) fixtureAccessesBy(t *testing.T, kind string) []history.Verified {
	var out []history.Verified
	for _, a := range f.accesses(t) {
		if a.Actor.Kind == kind {
			out = append(out, a)
		}
	}
	return out
}

func TestShareCreateRefusals(t *testing.T) {
	f := newShareFixture(t)
	mallory := f.e.signUp("mallory@example.com")
	now := f.e.clock.Now()
	// Not a member: the household does not exist for her.
	if _, status, _ := f.createLink(t, mallory, "front", f.start, f.start.Add(time.Minute), now.Add(time.Hour)); status != 404 {
		t.Errorf("non-member creates a share: %d, want 404", status)
	}
	if status, _, _ := mallory.c.Raw(context.Background(), "GET", "/v1/households/"+f.hh+"/shares", nil); status != 404 {
		t.Errorf("non-member lists shares: %d, want 404", status)
	}
	ls, status, _ := f.createLink(t, f.alice, "front", f.start, f.start.Add(time.Minute), now.Add(time.Hour))
	if status != 201 {
		t.Fatal(status)
	}
	if status, _, _ := mallory.c.Raw(context.Background(), "DELETE", "/v1/households/"+f.hh+"/shares/"+ls.id, nil); status != 404 {
		t.Errorf("non-member revokes: %d, want 404", status)
	}

	base := func() map[string]any {
		h := sha256.Sum256([]byte("t"))
		return map[string]any{"id": newShareID(), "camera": "front", "from": f.start, "to": f.start.Add(time.Minute),
			"expires": now.Add(time.Hour), "kind": "link", "token_hash": h[:], "manifest": []byte("m")}
	}
	cases := []struct {
		name   string
		change func(m map[string]any)
		status int
		msg    string
	}{
		{"bad id", func(m map[string]any) { m["id"] = "ABC" }, 400, "id"},
		{"taken id", func(m map[string]any) { m["id"] = ls.id }, 409, "exists"},
		{"empty range", func(m map[string]any) { m["to"] = f.start }, 400, "from"},
		{"expired", func(m map[string]any) { m["expires"] = now.Add(-time.Second) }, 400, "expires"},
		{"too long", func(m map[string]any) { m["expires"] = now.Add(400 * 24 * time.Hour) }, 400, "expires"},
		{"no manifest", func(m map[string]any) { delete(m, "manifest") }, 400, "manifest"},
		{"short token hash", func(m map[string]any) { m["token_hash"] = []byte{1} }, 400, "token_hash"},
		{"bad kind", func(m map[string]any) { m["kind"] = "public" }, 400, "kind"},
		{"unknown camera", func(m map[string]any) { m["camera"] = "garage" }, 404, "garage"},
	}
	for _, tc := range cases {
		m := base()
		tc.change(m)
		body, _ := json.Marshal(m)
		status, resp, _ := f.alice.c.Raw(context.Background(), "POST", "/v1/households/"+f.hh+"/shares", body)
		if status != tc.status || !strings.Contains(errMsg(resp), tc.msg) {
			t.Errorf("%s: %d %s, want %d mentioning %q", tc.name, status, resp, tc.status, tc.msg)
		}
	}
	// Creating a share is recorded.
	n := 0
	for _, a := range f.accesses(t) {
		if a.Action == "share.create" {
			n++
		}
	}
	if n == 0 {
		t.Error("share creation is not in the access record")
	}
}

// A redacted share's clip: only the member who made the share can store
// it, in its own household, within the size limit; its guest reads it, and
// nothing else; it is never among the household's objects; revoking the
// share erases it from the blob directory.
func TestShareClipRoute(t *testing.T) {
	f := newShareFixture(t)
	ctx := context.Background()
	now := f.e.clock.Now()
	bob := f.e.signUp("bob@example.com")
	f.e.addMember(f.alice, f.hh, bob.email, "member")
	mallory := f.e.signUp("mallory@example.com")
	mst := f.e.household(mallory, "Mallory's")

	create := func(redacted bool) linkShare {
		tok := make([]byte, 32)
		rand.Read(tok)
		h := sha256.Sum256(tok)
		ls := linkShare{id: newShareID(), token: base64.RawURLEncoding.EncodeToString(tok)}
		body, _ := json.Marshal(map[string]any{"id": ls.id, "camera": "front", "from": f.start, "to": f.start.Add(8 * time.Second),
			"expires": now.Add(time.Hour), "kind": "link", "token_hash": h[:], "manifest": []byte("signed manifest " + ls.id), "redacted": redacted})
		status, resp, err := f.alice.c.Raw(ctx, "POST", "/v1/households/"+f.hh+"/shares", body)
		if err != nil || status != 201 {
			t.Fatalf("create: %d %s %v", status, resp, err)
		}
		var j cloud.ShareJSON
		if json.Unmarshal(resp, &j); j.Redacted != redacted {
			t.Errorf("created share says redacted %v", j.Redacted)
		}
		return ls
	}
	ls := create(true)
	plain := create(false)
	_, sk, _ := ed25519.GenerateKey(rand.Reader)
	guestKey, _ := envelope.GenerateX25519Identity()
	clip, err := envelope.Seal(envelope.Header{Kind: envelope.KindClip, Stream: "front", Start: f.start}, f.start.Add(8*time.Second), sk,
		bytes.Repeat([]byte("faces blurred "), 4000), guestKey.Recipient())
	if err != nil {
		t.Fatal(err)
	}
	path := func(hh, id string) string { return "/v1/households/" + hh + "/shares/" + id + "/clip" }
	marker := clip[len(clip)/2 : len(clip)/2+64]
	scan := func() bool {
		found := false
		filepath.WalkDir(f.e.dir, func(p string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				if b, err := os.ReadFile(p); err == nil && bytes.Contains(b, marker) {
					found = true
				}
			}
			return nil
		})
		return found
	}
	for _, tc := range []struct {
		name   string
		m      *member
		path   string
		status int
	}{
		{"a member who did not make the share", bob, path(f.hh, ls.id), 403},
		{"not a member", mallory, path(f.hh, ls.id), 404},
		{"another household's member, through her household", mallory, path(mst.HouseholdID, ls.id), 404},
		{"a share that is not redacted", f.alice, path(f.hh, plain.id), 400},
		{"no such share", f.alice, path(f.hh, newShareID()), 404},
	} {
		status, resp, err := tc.m.c.Raw(ctx, "PUT", tc.path, clip)
		if err != nil || status != tc.status {
			t.Errorf("%s: %d %s %v, want %d", tc.name, status, resp, err, tc.status)
		}
	}

	// Too big: refused by its Content-Length, before the body is read.
	conn, err := net.Dial("tcp", strings.TrimPrefix(f.e.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "PUT %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: application/octet-stream\r\nContent-Length: %d\r\n\r\n",
		path(f.hh, ls.id), f.alice.c.Token, shares.MaxClip+1)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	conn.Close()
	if err != nil || resp.StatusCode != 413 {
		t.Errorf("a clip over MaxClip: %v %v, want 413", resp, err)
	}
	if scan() {
		t.Fatal("a refused request stored the clip")
	}

	status, body, err := f.alice.c.Raw(ctx, "PUT", path(f.hh, ls.id), clip)
	if err != nil || status != 201 {
		t.Fatalf("the share's creator stores its clip: %d %s %v", status, body, err)
	}
	// The guest reads the clip, and only it.
	clipPath := "/v1/shares/" + ls.id + "/objects/shares/" + ls.id + "/clip"
	if status, got := f.guestGet(t, clipPath, ls.token, ""); status != 200 || !bytes.Equal(got, clip) {
		t.Errorf("the guest reads the clip: %d, %d bytes", status, len(got))
	}
	if status, _ := f.guestGet(t, "/v1/shares/"+ls.id+"/objects/"+f.keys[1], ls.token, ""); status != 404 {
		t.Errorf("a redacted share serves a segment of its range: %d, want 404", status)
	}
	if status, _ := f.guestGet(t, "/v1/shares/"+plain.id+"/objects/shares/"+ls.id+"/clip", plain.token, ""); status != 404 {
		t.Errorf("another share's guest reads the clip: %d, want 404", status)
	}
	// Not the household's object.
	objs, err := f.alice.c.Objects(ctx, f.hh, "", time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		if strings.HasPrefix(o.Key, "shares/") {
			t.Errorf("the household's objects list the share's clip %s", o.Key)
		}
	}
	if !scan() {
		t.Fatal("the clip's bytes are not in the cloud's directory (the scan would prove nothing)")
	}
	if status, _, _ := f.alice.c.Raw(ctx, "DELETE", "/v1/households/"+f.hh+"/shares/"+ls.id, nil); status != 200 {
		t.Fatalf("revoke: %d", status)
	}
	if scan() {
		t.Error("the revoked share's clip is still in the cloud's directory")
	}
	if status, _ := f.guestGet(t, clipPath, ls.token, ""); status != 410 {
		t.Errorf("the revoked share's clip: %d, want 410", status)
	}
}
