package e2e

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
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
	"vigil/internal/client"
	"vigil/internal/cloud"
	"vigil/internal/envelope"
	"vigil/internal/keydir"
	"vigil/internal/member"
	"vigil/internal/share"
)

// offsetClock is the cloud's clock: the wall clock plus an offset the test
// moves forward (share expiry).
type offsetClock struct{ off atomic.Int64 }

func (c *offsetClock) Now() time.Time          { return time.Now().Add(time.Duration(c.off.Load())) }
func (c *offsetClock) Advance(d time.Duration) { c.off.Add(int64(d)) }

var b64u = base64.RawURLEncoding

// phoneReport is what web/test/share-phone.mjs phoneCheck measures of a page
// on a phone: the widths (of 360, 390, 430 px) it overflows, its controls
// under 44x44 px, and its serious or critical axe-core violations.
type phoneReport struct {
	TooWide []string `json:"tooWide"`
	Small   []string `json:"small"`
	Axe     []string `json:"axe"`
}

func (p phoneReport) check(t *testing.T, page string) {
	t.Helper()
	if len(p.TooWide) > 0 {
		t.Errorf("%s is wider than the phone's screen at %q", page, p.TooWide)
	}
	if len(p.Small) > 0 {
		t.Errorf("%s has controls under 44x44 px: %q", page, p.Small)
	}
	if len(p.Axe) > 0 {
		t.Errorf("%s: axe-core finds %q", page, p.Axe)
	}
}

// A share link made by internal/share, the Go implementation of the
// manifest (docs/FORMAT.md, "Share manifest"), independent of the browser's:
// the browser must open it.
type goLink struct {
	id    string
	token string // Vigil-Share-Token
	url   string
	keys  []string // shared object keys
}

// headerStanzas parses the stanzas of a sealed header (docs/FORMAT.md); t
// may be nil (off the test's goroutine).
func headerStanzas(t testing.TB, b []byte) []*envelope.Stanza {
	if t != nil {
		t.Helper()
	}
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
	id, secret := share.NewID(), share.NewSecret()
	lk, err := share.DeriveLinkKeys(secret, id)
	if err != nil {
		t.Fatal(err)
	}
	l := goLink{id: id, token: lk.TokenHeader(), url: share.LinkURL(hh.Cloud.url, id, secret)}
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
	body := &share.Body{V: 1, ID: id, Household: hh.ID, HouseholdName: st.Name, Camera: camera, From: from.UTC(), To: to.UTC(),
		Expires: exp.UTC(), Kind: share.KindLink, Recipient: b64u.EncodeToString(lk.Identity.Recipient().Bytes()), Created: time.Now().UTC(),
		Sharer: share.Sharer{Device: keydir.DeviceID(pub), SignPub: b64u.EncodeToString(pub), Name: "laptop"}}
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
		for _, idn := range ids {
			if fk, err = idn.Unwrap(headerStanzas(t, sealed)); err == nil {
				break
			}
		}
		if fk == nil {
			t.Fatalf("the admin device cannot open %s: %v", o.Key, err)
		}
		entry, err := share.Wrap(o.Key, o.Start, o.End, fk, lk.Identity.Recipient())
		if err != nil {
			t.Fatal(err)
		}
		body.Objects = append(body.Objects, entry)
		l.keys = append(l.keys, o.Key)
	}
	macKey := lk.MACKey
	if forge {
		macKey = share.NewSecret()
	}
	signed, err := share.Sign(body, hh.Admin.Sign, macKey)
	if err != nil {
		t.Fatal(err)
	}
	// What the browser will check, checked here too.
	if _, err := share.Open(signed, id, lk.Identity.Recipient().Bytes(), lk.MACKey); (err == nil) == forge {
		t.Fatalf("share.Open of the manifest (forged %v): %v", forge, err)
	}
	th := lk.TokenHash()
	req, _ := json.Marshal(map[string]any{"id": id, "camera": camera, "from": from, "to": to, "expires": exp, "kind": "link",
		"token_hash": th[:], "manifest": signed})
	status, resp, err := hh.Owner.API.Raw(ctx, "POST", "/v1/households/"+hh.ID+"/shares", req)
	if err != nil || status != http.StatusCreated {
		t.Fatalf("creating the share: %d %s %v", status, resp, err)
	}
	return l
}

// get reads a share path with the link's token.
func (l goLink) get(t testing.TB, base, path string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest("GET", base+path, nil)
	req.Header.Set("Vigil-Share-Token", l.token)
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
		Videos   int `json:"videos"`
		Download struct {
			Size int
			Box  string
			Name string
		} `json:"download"`
		Phone    phoneReport `json:"phone"`
		Range    string      `json:"range"`
		URL      string      `json:"url"`
		KeySent  bool        `json:"keySent"`
		KeyInURL bool        `json:"keyInURL"`
		Errors   []string    `json:"errors"`
	}
	browsertest.Run(t, 2*time.Minute, "share.mjs", map[string]string{"PHASE": "play", "LINK": link.url}, &play)
	t.Logf("guest page: %+v", play)
	n := fmt.Sprint(len(want))
	if play.State.State != "loaded" || play.State.Segments != n || play.State.Total != n {
		t.Errorf("guest page: state %+v; want %s segments played", play.State, n)
	}
	span := to.Sub(from).Seconds()
	if play.Videos != 1 || play.Video.Width == 0 || play.Video.CurrentTime <= 0 || play.Video.Duration > span+1 || play.Video.Duration < span-1 {
		t.Errorf("video: %d players, %+v; want one playing the shared %.1f s", play.Videos, play.Video, span)
	}
	if play.Download.Box != "ftyp" || play.Download.Size < 1000 || !strings.HasSuffix(play.Download.Name, ".mp4") {
		t.Errorf("download: %+v; want one MP4 file", play.Download)
	}
	play.Phone.check(t, "the guest page")
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
	reads := map[string]bool{}
	for _, a := range c.history(t, hh.Owner.API, hh.ID, hh.Genesis, hh.Admin, clk.Now) {
		if a.Actor.Kind == "link" && a.Actor.ID == "share:"+link.id && a.Action == "share.object.read" {
			reads[a.Object] = true
		}
	}
	for _, o := range want {
		if !reads[o.Key] {
			t.Errorf("the guest's read of %s is not in the household's history", o.Key)
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
	// The moment the sheet opens on: a minute ago (its 30 s around it are
	// all in the past, so the sheet keeps them as they are).
	at := time.Now().Add(-time.Minute).Truncate(time.Second)
	type span struct {
		From, To int64
		When     string
	}
	var out struct {
		ID          string `json:"id"`
		Link        string `json:"link"`
		LinkHasKey  bool   `json:"linkHasKey"`
		Prefilled   span   `json:"prefilled"`
		Minute      span   `json:"minute"`
		Chosen      span   `json:"chosen"`
		Sentence    string `json:"sentence"`
		LinkInView  bool   `json:"linkInView"`
		CopyInView  bool   `json:"copyInView"`
		Copy        struct{ Label, Copied, Clipboard string }
		Shared      *struct{ URL, Title, Text string } `json:"shared"`
		Played      map[string]string                  `json:"played"`
		PlayedError string                             `json:"played_error"`
		Video       struct {
			CurrentTime, Duration float64
			Width                 int
		} `json:"video"`
		Videos   int `json:"videos"`
		Download *struct {
			Size int
			Box  string
			Name string
		} `json:"download"`
		Opened int `json:"opened"`
		After  struct {
			State, Status, Message string
			VideoShown             bool
		}
		Phone struct{ Sheet, Result, Shares phoneReport } `json:"phone"`
	}
	browsertest.Run(t, 3*time.Minute, "share-create.mjs", map[string]string{
		"BASE_URL": c.url, "HOOK_URL": hh.controlServer(t), "EMAIL": hh.Owner.Email, "PASSWORD": hh.Owner.Password,
		"TOTP_SECRET": hh.Owner.TOTPSecret, "HOUSEHOLD": hh.ID, "CAMERA": hh.Camera, "AT_MS": fmt.Sprint(at.UnixMilli()),
		"FROM_MS": fmt.Sprint(from.UnixMilli()), "TO_MS": fmt.Sprint(to.UnixMilli()),
	}, &out)
	t.Logf("browser share: %+v", out)
	// The sheet: around the moment, 30 s; a preset re-centres on it.
	near := func(got int64, want time.Time) bool { d := got - want.UnixMilli(); return d > -2000 && d < 2000 }
	if !near(out.Prefilled.From, at.Add(-15*time.Second)) || !near(out.Prefilled.To, at.Add(15*time.Second)) {
		t.Errorf("the sheet opened on %+v; want %v ± 15 s", out.Prefilled, at)
	}
	if !near(out.Minute.From, at.Add(-30*time.Second)) || !near(out.Minute.To, at.Add(30*time.Second)) {
		t.Errorf("the 1 min preset chose %+v; want %v ± 30 s", out.Minute, at)
	}
	if out.Chosen.From != from.UnixMilli() || out.Chosen.To != to.UnixMilli() {
		t.Errorf("the sheet's start and end: %+v, want %v – %v", out.Chosen, from, to)
	}
	if !out.LinkInView || !out.CopyInView {
		t.Errorf("after creating, the link (%v) and Copy (%v) are not both in view", out.LinkInView, out.CopyInView)
	}
	if out.Copy.Label != "Copied" || out.Copy.Copied != "1" || out.Copy.Clipboard != out.Link {
		t.Errorf("Copy: %+v; want \"Copied\" and the link on the clipboard", out.Copy)
	}
	if out.Shared == nil || out.Shared.URL != out.Link {
		t.Errorf("the phone's share sheet was handed %+v, want the link", out.Shared)
	}
	if !strings.HasPrefix(out.Sentence, "Anyone with this link can watch "+hh.Camera) || !strings.Contains(out.Sentence, "until") ||
		strings.Contains(out.Sentence, "segment") || strings.Contains(out.Sentence, "#") {
		t.Errorf("the sheet says %q; want one plain sentence", out.Sentence)
	}
	out.Phone.Sheet.check(t, "the share sheet")
	out.Phone.Result.check(t, "the share sheet with its link")
	out.Phone.Shares.check(t, "the shares page")
	if !out.LinkHasKey {
		t.Error("the link has no key in its fragment")
	}
	n := fmt.Sprint(want)
	if out.Played["state"] != "loaded" || out.Played["segments"] != n || out.Played["total"] != n {
		t.Errorf("guest played %v (%s); want %s segments", out.Played, out.PlayedError, n)
	}
	if out.Video.CurrentTime <= 0 || out.Videos != 1 || out.Video.Duration < to.Sub(from).Seconds()-0.5 {
		t.Errorf("the guest's video: %d players, %+v; want one playing, covering the %v shared", out.Videos, out.Video, to.Sub(from))
	}
	if out.Download == nil || out.Download.Box != "ftyp" || out.Download.Size < 1000 {
		t.Errorf("the guest's download: %+v; want one MP4 file", out.Download)
	}
	if out.Opened != 1 {
		t.Errorf("the shares page says the link was opened %d times, want 1", out.Opened)
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
		SignedOut      struct{ State, Status, Message string }
		SharedPhone    phoneReport `json:"sharedPhone"`
		DeviceLabel    string      `json:"deviceLabel"`
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
	out.SharedPhone.check(t, `"Shared with me"`)
	if strings.TrimSpace(out.DeviceLabel) == "" {
		t.Error(`"Shared with me": the browser's code has no label`)
	}
	if !strings.Contains(out.Info, hh.Owner.Email) {
		t.Errorf("the guest page does not say who shared it: %q", out.Info)
	}
	if out.Member.State != "error" || out.Member.Status != "404" || !strings.Contains(out.Member.Message, "not shared with the account") {
		t.Errorf("the member's browser (not the guest) opening the share: %+v, want 404", out.Member)
	}
	if out.SignedOut.State != "error" || out.SignedOut.Status != "401" || !strings.Contains(out.SignedOut.Message, "sign in") {
		t.Errorf("a signed-out browser opening the share: %+v, want to be asked to sign in", out.SignedOut)
	}
	sh, err := c.st.Share(context.Background(), out.ID)
	if err != nil || sh.Kind != "account" || sh.Guest != guest.ID {
		t.Fatalf("stored share: %+v %v", sh, err)
	}
	reads := 0
	for _, a := range c.history(t, hh.Owner.API, hh.ID, hh.Genesis, hh.Admin, nil) {
		if a.Actor.Kind == "guest" && a.Actor.ID == guest.ID && a.Action == "share.object.read" {
			reads += int(a.Count)
		}
	}
	if reads != want {
		t.Errorf("%d guest object reads recorded, want %d", reads, want)
	}
}
