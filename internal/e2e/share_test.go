package e2e

import (
	"context"
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"vigil/internal/browsertest"
	"vigil/internal/cloud"
	"vigil/internal/cloud/client"
	"vigil/internal/envelope"
	"vigil/internal/keydir"
	"vigil/internal/member"
)

// offsetClock is the cloud's clock: the wall clock plus an offset the test
// moves forward (share expiry).
type offsetClock struct{ off atomic.Int64 }

func (c *offsetClock) Now() time.Time          { return time.Now().Add(time.Duration(c.off.Load())) }
func (c *offsetClock) Advance(d time.Duration) { c.off.Add(int64(d)) }

var b64u = base64.RawURLEncoding

// A share link made the way docs/FORMAT.md ("Share manifest") says, by an
// independent Go implementation of the sharer: the browser must open it.
type goLink struct {
	id     string
	secret []byte
	token  []byte
	url    string
	keys   []string // shared object keys
}

type manifestObject struct {
	Key    string `json:"key"`
	Start  string `json:"start"`
	End    string `json:"end"`
	Stanza string `json:"stanza"`
}

type manifestBody struct {
	V             int    `json:"v"`
	ID            string `json:"id"`
	Household     string `json:"household"`
	HouseholdName string `json:"household_name"`
	Camera        string `json:"camera"`
	From          string `json:"from"`
	To            string `json:"to"`
	Expires       string `json:"expires"`
	Kind          string `json:"kind"`
	Recipient     string `json:"recipient"`
	Sharer        struct {
		Device  string `json:"device"`
		SignPub string `json:"sign_pub"`
		Name    string `json:"name"`
	} `json:"sharer"`
	Hubs    []string         `json:"hubs"`
	Objects []manifestObject `json:"objects"`
	Created string           `json:"created"`
}

func linkDerive(t testing.TB, secret []byte, id, info string) []byte {
	t.Helper()
	k, err := hkdf.Key(sha256.New, secret, []byte(id), info, 32)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// headerStanzas parses the stanzas of a sealed header (docs/FORMAT.md).
func headerStanzas(t testing.TB, b []byte) []*envelope.Stanza {
	t.Helper()
	L := int(b[14])
	o := 15 + L + 8 + 8 + 4 + 32 + 32
	n := int(b[o])
	o++
	var out []*envelope.Stanza
	for i := 0; i < n; i++ {
		s := &envelope.Stanza{Type: b[o], Enc: b[o+5 : o+37], Body: b[o+37 : o+85]}
		copy(s.Hint[:], b[o+1:o+5])
		out = append(out, s)
		o += 85
	}
	return out
}

func rfc(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// shareLink shares [from, to) of camera as a link expiring at exp, signed by
// the household's admin device.
func (hh *testHousehold) shareLink(t testing.TB, camera string, from, to, exp time.Time) goLink {
	t.Helper()
	return hh.shareLinkForged(t, camera, from, to, exp, false)
}

// shareLinkForged with forge set stores a manifest whose link MAC is wrong,
// as a cloud substituting a manifest of its own would have to.
func (hh *testHousehold) shareLinkForged(t testing.TB, camera string, from, to, exp time.Time, forge bool) goLink {
	t.Helper()
	ctx := context.Background()
	idb := make([]byte, 16)
	rand.Read(idb)
	l := goLink{id: strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(idb)), secret: make([]byte, 32)}
	rand.Read(l.secret)
	l.token = linkDerive(t, l.secret, l.id, "vigil/share/v1/link-token")
	priv, err := ecdh.X25519().NewPrivateKey(linkDerive(t, l.secret, l.id, "vigil/share/v1/link-key"))
	if err != nil {
		t.Fatal(err)
	}
	rcpt, err := envelope.NewX25519Recipient(priv.PublicKey().Bytes())
	if err != nil {
		t.Fatal(err)
	}
	st, err := member.VerifiedChain(ctx, hh.Owner.API, hh.ID, hh.Genesis)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := st.EpochIdentities(hh.Admin)
	if err != nil {
		t.Fatal(err)
	}
	objs, err := hh.Owner.API.Objects(ctx, hh.ID, camera, from, to)
	if err != nil {
		t.Fatal(err)
	}
	pub := hh.Admin.Sign.Public().(ed25519.PublicKey)
	body := manifestBody{V: 1, ID: l.id, Household: hh.ID, HouseholdName: st.Name, Camera: camera, From: rfc(from), To: rfc(to),
		Expires: rfc(exp), Kind: "link", Recipient: b64u.EncodeToString(priv.PublicKey().Bytes()), Created: rfc(time.Now())}
	body.Sharer.Device, body.Sharer.SignPub, body.Sharer.Name = keydir.DeviceID(pub), b64u.EncodeToString(pub), "laptop"
	for _, k := range st.TrustedHubs() {
		body.Hubs = append(body.Hubs, b64u.EncodeToString(k))
	}
	for _, o := range objs {
		if !o.Start.Before(to) || !o.End.After(from) {
			continue
		}
		sealed, err := hh.Owner.API.ReadObject(ctx, hh.ID, o.Key, 64<<20)
		if err != nil {
			t.Fatal(err)
		}
		var fk []byte
		for _, id := range ids {
			if fk, err = id.Unwrap(headerStanzas(t, sealed)); err == nil {
				break
			}
		}
		if fk == nil {
			t.Fatalf("the admin device cannot open %s: %v", o.Key, err)
		}
		s, err := rcpt.Wrap(fk)
		if err != nil {
			t.Fatal(err)
		}
		stanza := append(append(append([]byte{s.Type}, s.Hint[:]...), s.Enc...), s.Body...)
		body.Objects = append(body.Objects, manifestObject{Key: o.Key, Start: rfc(o.Start), End: rfc(o.End), Stanza: b64u.EncodeToString(stanza)})
		l.keys = append(l.keys, o.Key)
	}
	bb, _ := json.Marshal(body)
	sig := ed25519.Sign(hh.Admin.Sign, append([]byte("vigil/share/v1/manifest\x00"), bb...))
	mac := hmac.New(sha256.New, linkDerive(t, l.secret, l.id, "vigil/share/v1/link-mac"))
	mac.Write(bb)
	macSum := mac.Sum(nil)
	if forge {
		rand.Read(macSum)
	}
	signed, _ := json.Marshal(map[string]string{"body": b64u.EncodeToString(bb), "sig": b64u.EncodeToString(sig), "mac": b64u.EncodeToString(macSum)})
	th := sha256.Sum256(l.token)
	req, _ := json.Marshal(map[string]any{"id": l.id, "camera": camera, "from": from, "to": to, "expires": exp, "kind": "link",
		"token_hash": th[:], "manifest": signed})
	status, resp, err := hh.Owner.API.Raw(ctx, "POST", "/v1/households/"+hh.ID+"/shares", req)
	if err != nil || status != http.StatusCreated {
		t.Fatalf("creating the share: %d %s %v", status, resp, err)
	}
	l.url = hh.Cloud.url + "/s/" + l.id + "#k=" + b64u.EncodeToString(l.secret)
	return l
}

// get reads a share path with the link's token.
func (l goLink) get(t testing.TB, base, path string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest("GET", base+path, nil)
	req.Header.Set("Vigil-Share-Token", b64u.EncodeToString(l.token))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// TestShareLinkBrowser: a share link opens in a fresh browser context that
// never signed in; it plays exactly the shared segments, decrypted in the
// browser, and the link's key never leaves it. Once revoked, or expired, the
// link is refused with a message saying so.
func TestShareLinkBrowser(t *testing.T) {
	browsertest.Require(t)
	clk := &offsetClock{}
	c := startCloud(t, func(o *cloud.Options) { o.Now = clk.Now })
	hh := newHousehold(t, c, householdOptions{})
	objs := hh.waitSegments(t, hh.Camera, 6, 2*time.Minute)

	// Share the third and fourth segments only.
	from, to := objs[2].Start, objs[3].End
	link := hh.shareLink(t, hh.Camera, from, to, time.Now().Add(time.Hour))
	other := hh.shareLink(t, hh.Camera, from, to, time.Now().Add(time.Hour))
	forged := hh.shareLinkForged(t, hh.Camera, from, to, time.Now().Add(24*time.Hour), true)
	partial := hh.shareLink(t, hh.Camera, from, to, time.Now().Add(24*time.Hour))
	var want []client.Object
	for _, o := range objs {
		if o.Start.Before(to) && o.End.After(from) {
			want = append(want, o)
		}
	}
	if len(link.keys) != len(want) || len(want) < 2 || len(want) >= len(objs) {
		t.Fatalf("shared %d objects of %d, want %d", len(link.keys), len(objs), len(want))
	}
	// With the link's token the cloud serves the shared objects and no other.
	for _, o := range objs {
		status, _ := link.get(t, c.url, "/v1/shares/"+link.id+"/objects/"+o.Key)
		shared := o.Start.Before(to) && o.End.After(from)
		if shared && status != 200 || !shared && status != 404 {
			t.Errorf("object %s (shared %v) through the link: %d", o.Key, shared, status)
		}
	}

	var play struct {
		State struct {
			State, Segments, Total string
		} `json:"state"`
		Video struct {
			CurrentTime, Duration, Brightness float64
			Width                             int
		} `json:"video"`
		Range    string   `json:"range"`
		Listed   int      `json:"listed"`
		URL      string   `json:"url"`
		KeySent  bool     `json:"keySent"`
		KeyInURL bool     `json:"keyInURL"`
		Errors   []string `json:"errors"`
	}
	browsertest.Run(t, 2*time.Minute, "share.mjs", map[string]string{"PHASE": "play", "LINK": link.url}, &play)
	t.Logf("guest page: %+v", play)
	n := fmt.Sprint(len(want))
	if play.State.State != "loaded" || play.State.Segments != n || play.State.Total != n || play.Listed != len(want) {
		t.Errorf("guest page: state %+v, %d listed; want %s segments played", play.State, play.Listed, n)
	}
	span := to.Sub(from).Seconds()
	if play.Video.Width == 0 || play.Video.CurrentTime <= 0 || play.Video.Duration > span+0.5 || play.Video.Duration < span/2 {
		t.Errorf("video: %+v; want it playing, at most the shared %.1f s", play.Video, span)
	}
	if play.Video.Brightness < 10 {
		t.Errorf("the played frame is black (mean %.1f)", play.Video.Brightness)
	}
	if play.KeySent || play.KeyInURL {
		t.Errorf("the link key left the fragment: sent %v, still in the address bar %v (%s)", play.KeySent, play.KeyInURL, play.URL)
	}
	if len(play.Errors) > 0 {
		t.Errorf("page errors: %q", play.Errors)
	}

	// The household's record names each guest read as a link read.
	accs, err := c.st.Accesses(context.Background(), hh.ID, time.Time{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	reads := map[string]bool{}
	for _, a := range accs {
		if a.ActorKind == "link" && a.Actor == "share:"+link.id && a.Action == "share.object.read" {
			reads[a.Object] = true
		}
	}
	for _, o := range want {
		if !reads[o.Key] {
			t.Errorf("the guest's read of %s is not in the access record", o.Key)
		}
	}

	// Revoke one link; let the other expire.
	if status, body, _ := hh.Owner.API.Raw(context.Background(), "DELETE", "/v1/households/"+hh.ID+"/shares/"+link.id, nil); status != 200 {
		t.Fatalf("revoke: %d %s", status, body)
	}
	clk.Advance(2 * time.Hour)
	// Retention deletes one shared segment: the rest still plays.
	if err := c.st.DeleteObject(context.Background(), hh.ID, want[0].Key); err != nil {
		t.Fatal(err)
	}
	if err := c.blobs.Delete(context.Background(), want[0].Key); err != nil {
		t.Fatal(err)
	}
	wrong := make([]byte, 32)
	rand.Read(wrong)
	var refused map[string]struct {
		State, Status, Message, Segments string
		VideoHidden                      bool
	}
	browsertest.Run(t, 2*time.Minute, "share.mjs", map[string]string{"PHASE": "refused", "REVOKED": link.url, "EXPIRED": other.url,
		"WRONG": c.url + "/s/" + other.id + "#k=" + b64u.EncodeToString(wrong), "FORGED": forged.url, "PARTIAL": partial.url}, &refused)
	t.Logf("refused: %+v", refused)
	for name, want := range map[string][2]string{"revoked": {"410", "revoked"}, "expired": {"410", "expired"}, "wrong": {"404", "does not exist"}, "forged": {"", "does not match this link"}} {
		r := refused[name]
		if r.State != "error" || r.Status != want[0] || !strings.Contains(r.Message, want[1]) || !r.VideoHidden {
			t.Errorf("%s link: %+v; want a %s saying %q", name, r, want[0], want[1])
		}
	}
	if p := refused["partial"]; p.State != "loaded" || p.Segments != fmt.Sprint(len(want)-1) {
		t.Errorf("a share with one segment deleted since: %+v, want the other %d played", p, len(want)-1)
	}
	if status, _ := other.get(t, c.url, "/v1/shares/"+other.id+"/objects/"+other.keys[0]); status != 410 {
		t.Errorf("expired link's object: %d, want 410", status)
	}
}

// TestShareCreateInBrowser: an enrolled member's browser shares a range from
// the shares page (re-wrapping each file key in the browser); a context that
// never signed in plays exactly that range from the link; after the member
// revokes it, the guest's reload is refused.
func TestShareCreateInBrowser(t *testing.T) {
	browsertest.Require(t)
	c := startCloud(t, nil)
	hh := newHousehold(t, c, householdOptions{})
	objs := hh.waitSegments(t, hh.Camera, 6, 2*time.Minute)
	// Whole seconds (the page's time fields have a resolution of a second)
	// inside the third and the fourth segment.
	mid := func(o client.Object) time.Time { return o.Start.Add(o.End.Sub(o.Start) / 2) }
	from := mid(objs[2]).Truncate(time.Second)
	to := mid(objs[3]).Truncate(time.Second).Add(time.Second)
	want := 0
	for _, o := range objs {
		if o.Start.Before(to) && o.End.After(from) {
			want++
		}
	}
	if want < 2 || want >= len(objs) {
		t.Fatalf("[%v, %v) overlaps %d of %d segments", from, to, want, len(objs))
	}
	var out struct {
		ID          string            `json:"id"`
		LinkHasKey  bool              `json:"linkHasKey"`
		Played      map[string]string `json:"played"`
		PlayedError string            `json:"played_error"`
		CurrentTime float64           `json:"currentTime"`
		After       struct {
			State, Status, Message string
			VideoShown             bool
		}
	}
	browsertest.Run(t, 3*time.Minute, "share-create.mjs", map[string]string{
		"BASE_URL": c.url, "HOOK_URL": hh.controlServer(t), "EMAIL": hh.Owner.Email, "PASSWORD": hh.Owner.Password,
		"TOTP_SECRET": hh.Owner.TOTPSecret, "HOUSEHOLD": hh.ID, "CAMERA": hh.Camera,
		"FROM_MS": fmt.Sprint(from.UnixMilli()), "TO_MS": fmt.Sprint(to.UnixMilli()),
	}, &out)
	t.Logf("browser share: %+v", out)
	if !out.LinkHasKey {
		t.Error("the link has no key in its fragment")
	}
	n := fmt.Sprint(want)
	if out.Played["state"] != "loaded" || out.Played["segments"] != n || out.Played["total"] != n {
		t.Errorf("guest played %v (%s); want %s segments", out.Played, out.PlayedError, n)
	}
	if out.CurrentTime <= 0 {
		t.Error("the shared video does not play")
	}
	if out.After.State != "error" || out.After.Status != "410" || !strings.Contains(out.After.Message, "revoked") || out.After.VideoShown {
		t.Errorf("after revocation the guest sees %+v", out.After)
	}
	// The cloud holds what the browser sent: the range, a token hash, and
	// a manifest whose stanzas only the link opens.
	sh, err := c.st.Share(context.Background(), out.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !sh.From.Equal(from) || !sh.To.Equal(to) || sh.Kind != "link" || sh.TokenHash == [32]byte{} || sh.Revoked.IsZero() {
		t.Errorf("stored share: %+v", sh)
	}
}

// TestShareAccountBrowser: a member's browser shares a range with a guest
// account's device (its "vigdev1:" string); the guest, signed in on that
// browser, finds it under "Shared with me" and plays it; the member's own
// browser, which is not the guest, is refused.
func TestShareAccountBrowser(t *testing.T) {
	browsertest.Require(t)
	c := startCloud(t, nil)
	hh := newHousehold(t, c, householdOptions{})
	guest := newAccount(t, c)
	objs := hh.waitSegments(t, hh.Camera, 5, 2*time.Minute)
	mid := func(o client.Object) time.Time { return o.Start.Add(o.End.Sub(o.Start) / 2) }
	from := mid(objs[1]).Truncate(time.Second)
	to := mid(objs[2]).Truncate(time.Second).Add(time.Second)
	want := 0
	for _, o := range objs {
		if o.Start.Before(to) && o.End.After(from) {
			want++
		}
	}
	var out struct {
		ID             string            `json:"id"`
		URLHasFragment bool              `json:"urlHasFragment"`
		Played         map[string]string `json:"played"`
		PlayedError    string            `json:"playedError"`
		Info           string            `json:"info"`
		Member         struct{ State, Status, Message string }
	}
	browsertest.Run(t, 3*time.Minute, "share-account.mjs", map[string]string{
		"BASE_URL": c.url, "HOOK_URL": hh.controlServer(t), "EMAIL": hh.Owner.Email, "PASSWORD": hh.Owner.Password,
		"TOTP_SECRET": hh.Owner.TOTPSecret, "HOUSEHOLD": hh.ID, "CAMERA": hh.Camera,
		"GUEST_EMAIL": guest.Email, "GUEST_PASSWORD": guest.Password, "GUEST_TOTP": guest.TOTPSecret,
		"FROM_MS": fmt.Sprint(from.UnixMilli()), "TO_MS": fmt.Sprint(to.UnixMilli()),
	}, &out)
	t.Logf("account share: %+v", out)
	n := fmt.Sprint(want)
	if out.Played["state"] != "loaded" || out.Played["segments"] != n {
		t.Errorf("guest played %v (%s); want %s segments", out.Played, out.PlayedError, n)
	}
	if out.URLHasFragment {
		t.Error("an account share's address carries a key")
	}
	if !strings.Contains(out.Info, hh.Owner.Email) {
		t.Errorf("the guest page does not say who shared it: %q", out.Info)
	}
	if out.Member.State != "error" || out.Member.Status != "404" || !strings.Contains(out.Member.Message, "not shared with the account") {
		t.Errorf("the member's browser (not the guest) opening the share: %+v, want 404", out.Member)
	}
	sh, err := c.st.Share(context.Background(), out.ID)
	if err != nil || sh.Kind != "account" || sh.Guest != guest.ID {
		t.Fatalf("stored share: %+v %v", sh, err)
	}
	accs, err := c.st.Accesses(context.Background(), hh.ID, time.Time{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	reads := 0
	for _, a := range accs {
		if a.ActorKind == "guest" && a.Actor == guest.ID && a.Action == "share.object.read" {
			reads++
		}
	}
	if reads != want {
		t.Errorf("%d guest object reads recorded, want %d", reads, want)
	}
}
