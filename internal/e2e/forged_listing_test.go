package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"vigil/internal/browsertest"
	"vigil/internal/client"
	"vigil/internal/envelope"
	"vigil/internal/member"
	"vigil/internal/share"
)

// listingProxy is a cloud that lies about its listing: a proxy on
// 127.0.0.1 in front of the real cloud (newProxy). A household's object
// listing (GET /v1/households/{hh}/objects) is asked of the cloud with the
// query widen returns, and its JSON rewritten by forge; a footer request
// (Range: bytes=-112) for an object in graft is answered with the footer of
// another object. Everything else passes through unchanged.
type listingProxy struct {
	URL     string
	listing string                                                   // the listing's path
	widen   func(q url.Values) url.Values                            // nil: the browser's query
	forge   func(q url.Values, objs []client.Object) []client.Object // q: the query asked; nil: unchanged
	graft   map[string][]byte                                        // object key -> the sealed object whose footer to serve instead
	grafted atomic.Int64                                             // footers grafted so far
}

func newListingProxy(t *testing.T, c *cloudEnv, household string) *listingProxy {
	t.Helper()
	p := &listingProxy{listing: "/v1/households/" + household + "/objects"}
	p.URL = newProxy(t, c.url, p.serve, p.modify)
	return p
}

// serve grafts footers and widens the listing's query.
func (p *listingProxy) serve(w http.ResponseWriter, r *http.Request) bool {
	if r.Method != http.MethodGet {
		return false
	}
	if r.URL.Path == p.listing && p.forge != nil && p.widen != nil {
		r.URL.RawQuery = p.widen(r.URL.Query()).Encode()
		return false
	}
	key, ok := strings.CutPrefix(r.URL.Path, p.listing+"/")
	other := p.graft[key]
	if !ok || other == nil || r.Header.Get("Range") != "bytes=-112" {
		return false
	}
	// The footer of another object, with a size that agrees with it.
	n := len(other)
	w.Header().Set("Content-Type", "application/vnd.vigil.sealed")
	w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", n-112, n-1, n))
	w.Header().Set("Content-Length", "112")
	w.WriteHeader(http.StatusPartialContent)
	w.Write(other[n-112:])
	p.grafted.Add(1)
	return true
}

// modify answers the listing with the forged one.
func (p *listingProxy) modify(resp *http.Response) error {
	if resp.Request.URL.Path != p.listing || p.forge == nil || resp.StatusCode != http.StatusOK {
		return nil
	}
	resp.Header.Set("Cache-Control", "no-store")
	return editBody(resp, func(b []byte) ([]byte, error) {
		var list struct {
			Objects []client.Object `json:"objects"`
		}
		if err := json.Unmarshal(b, &list); err != nil {
			return nil, err
		}
		list.Objects = p.forge(resp.Request.URL.Query(), list.Objects)
		return json.Marshal(list)
	})
}

// sharedBySignedTimes is the inclusion rule of docs/FORMAT.md ("Share
// manifest", "Choosing the objects"): the signed interval overlaps
// [from, to) and starts at most 60 s before from.
func sharedBySignedTimes(start, end, from, to time.Time) bool {
	return !end.Before(start) && start.Before(to) && end.After(from) && !start.Before(from.Add(-60*time.Second))
}

// manifestIdentity opens an object with the stanza a share manifest holds
// for it (not the object's own stanzas), as the guest does.
type manifestIdentity struct {
	id     *envelope.X25519Identity
	stanza *envelope.Stanza
}

func (m manifestIdentity) Unwrap([]*envelope.Stanza) ([]byte, error) {
	return m.id.Unwrap([]*envelope.Stanza{m.stanza})
}

// signedObject is an object of the cloud with its signed times.
type signedObject struct {
	client.Object
	sealed []byte
	hdr    envelope.Header
	ftr    envelope.Footer
}

// TestForgedListing: the cloud's object listing is not signed, and a cloud
// that forges it gains nothing. Through a proxy that rewrites the listing,
// (1) a member's enrolled browser shares a range while objects from outside
// it are listed with times inside it (some moved, some added, one with a
// footer grafted from an object in the range): the manifest the cloud
// stores holds a stanza for exactly the objects whose signed times are in
// the range, each with its signed times, and the page reports every forged
// object as refused; a guest plays the link. (2) The timeline refuses to
// play a segment listed at another segment's time, saying the listing
// disagrees with the signed segment, and plays one the listing left alone.
func TestForgedListing(t *testing.T) {
	browsertest.Require(t)
	ctx := context.Background()
	c := startCloud(t, nil)
	hh := newHousehold(t, c, householdOptions{})
	objs := hh.waitSegments(t, hh.Camera, 12, 3*time.Minute)
	st, err := member.VerifiedChain(ctx, hh.Owner.API, hh.ID, hh.Genesis)
	if err != nil {
		t.Fatal(err)
	}
	hubs := st.TrustedHubs()

	// The truth: every object's signed times, from its verified bytes.
	var mu sync.Mutex
	truth := map[string]*signedObject{}
	signed := func(o client.Object) *signedObject {
		mu.Lock()
		defer mu.Unlock()
		if s := truth[o.Key]; s != nil {
			return s
		}
		sealed, err := hh.Owner.API.ReadObject(ctx, hh.ID, o.Key, 64<<20)
		if err != nil {
			t.Errorf("reading %s: %v", o.Key, err)
			return nil
		}
		hdr, ftr, err := envelope.VerifyPublic(sealed, hubs)
		if err != nil {
			t.Errorf("object %s does not verify: %v", o.Key, err)
			return nil
		}
		s := &signedObject{Object: o, sealed: sealed, hdr: hdr, ftr: ftr}
		truth[o.Key] = s
		return s
	}

	// Whole seconds (the page's time fields have a resolution of a second)
	// inside the seventh and the eighth segment.
	mid := func(o client.Object) time.Time { return o.Start.Add(o.End.Sub(o.Start) / 2) }
	from := mid(objs[6]).Truncate(time.Second)
	to := mid(objs[7]).Truncate(time.Second).Add(time.Second)
	overlaps := func(o client.Object) bool { return o.Start.Before(to) && o.End.After(from) }
	// The object just before the range, and one in it whose footer (its
	// end after from) is grafted onto it.
	var before, inside *signedObject
	for _, o := range objs {
		if !o.End.After(from) {
			before = signed(o)
		} else if inside == nil && overlaps(o) {
			inside = signed(o)
		}
	}
	if before == nil || inside == nil || t.Failed() {
		t.Fatalf("no object before [%v, %v) and one in it: %+v", from, to, objs)
	}

	var forgedMu sync.Mutex
	forged := map[string]string{} // key -> how the listing forged it
	sp := newListingProxy(t, c, hh.ID)
	sp.graft = map[string][]byte{before.Key: inside.sealed}
	sp.widen = func(q url.Values) url.Values {
		out := url.Values{}
		for k, v := range q {
			out[k] = v
		}
		if f, err := time.Parse(time.RFC3339Nano, q.Get("from")); err == nil {
			out.Set("from", f.Add(-6*time.Second).Format(time.RFC3339Nano))
		}
		if tt, err := time.Parse(time.RFC3339Nano, q.Get("to")); err == nil {
			out.Set("to", tt.Add(6*time.Second).Format(time.RFC3339Nano))
		}
		return out
	}
	sp.forge = func(q url.Values, list []client.Object) []client.Object {
		if q.Get("camera") != hh.Camera || q.Get("from") == "" {
			return list
		}
		in := func(o *client.Object, how string) {
			o.Start, o.End = from.Add(250*time.Millisecond), to.Add(-250*time.Millisecond)
			forgedMu.Lock()
			forged[o.Key] = how
			forgedMu.Unlock()
		}
		have := map[string]bool{}
		for i := range list {
			have[list[i].Key] = true
			// (a) Objects from outside the range, their times moved into it.
			if !overlaps(list[i]) {
				in(&list[i], "moved")
			}
		}
		// (b) Other segments of the camera, added with times in the range.
		all, err := hh.Owner.API.Objects(ctx, hh.ID, hh.Camera, time.Time{}, time.Time{})
		if err != nil {
			t.Errorf("the proxy's own listing: %v", err)
		}
		for _, o := range all {
			if !have[o.Key] {
				in(&o, "added")
				list = append(list, o)
			}
		}
		return list
	}

	ctl := hh.controlServer(t)
	sess := hh.Owner.browserSession(t, c.url)
	var out struct {
		Link            string `json:"link"`
		ID              string `json:"id"`
		Objects         int    `json:"objects"`
		RefusedShown    bool   `json:"refusedShown"`
		RefusedCount    int    `json:"refusedCount"`
		RefusedHeadline string `json:"refusedHeadline"`
		Refused         []struct {
			Key, Text string
		} `json:"refused"`
		Played      map[string]string `json:"played"`
		PlayedError string            `json:"playedError"`
	}
	browsertest.Run(t, 3*time.Minute, "share-forged.mjs", map[string]string{
		"BASE_URL": sp.URL, "HOUSEHOLD": hh.ID, "CAMERA": hh.Camera, "CONTROL_URL": ctl,
		"SESSION": sess.Cookie, "CSRF": sess.CSRF, "FROM_MS": fmt.Sprint(from.UnixMilli()), "TO_MS": fmt.Sprint(to.UnixMilli()),
	}, &out)
	t.Logf("forged listing: %d objects forged, %d footers grafted; the page refused %d: %q", len(forged), sp.grafted.Load(), out.RefusedCount, out.RefusedHeadline)
	for _, r := range out.Refused {
		t.Logf("  refused %s", r.Text)
	}

	moved, added := 0, 0
	for _, how := range forged {
		if how == "moved" {
			moved++
		} else {
			added++
		}
	}
	if moved == 0 || added == 0 || forged[before.Key] != "moved" {
		t.Fatalf("the proxy forged %d moved and %d added objects (the one before the range: %q); the test needs both", moved, added, forged[before.Key])
	}
	if sp.grafted.Load() == 0 {
		t.Error("the browser never read the grafted footer")
	}

	// The manifest the cloud stored, opened with the guest's key.
	sh, err := c.st.Share(ctx, out.ID)
	if err != nil {
		t.Fatal(err)
	}
	_, id, secret, err := share.ParseLinkURL(out.Link)
	if err != nil || id != out.ID {
		t.Fatalf("the page's link %q: %v", out.Link, err)
	}
	lk, err := share.DeriveLinkKeys(secret, id)
	if err != nil {
		t.Fatal(err)
	}
	body, err := share.Open(sh.Manifest, id, lk.Identity.Recipient().Bytes(), lk.MACKey)
	if err != nil {
		t.Fatal(err)
	}
	if !body.From.Equal(from) || !body.To.Equal(to) || body.Camera != hh.Camera {
		t.Errorf("manifest range %s [%v, %v), want %s [%v, %v)", body.Camera, body.From, body.To, hh.Camera, from, to)
	}
	inManifest := map[string]bool{}
	for _, mo := range body.Objects {
		inManifest[mo.Key] = true
		s := truth[mo.Key]
		if s == nil {
			var o client.Object
			o.Key = mo.Key
			if s = signed(o); s == nil {
				continue
			}
		}
		if !sharedBySignedTimes(s.hdr.Start, s.ftr.End, from, to) {
			t.Errorf("the manifest holds a key for %s, signed %v – %v, outside [%v, %v) (the listing %s it)", mo.Key, s.hdr.Start, s.ftr.End, from, to, forged[mo.Key])
		}
		if !mo.Start.Equal(s.hdr.Start) || !mo.End.Equal(s.ftr.End) {
			t.Errorf("manifest times of %s: %v – %v, signed %v – %v", mo.Key, mo.Start, mo.End, s.hdr.Start, s.ftr.End)
		}
		// The stanza opens exactly this object (header MAC, every chunk,
		// the hub's signature).
		stz, err := mo.StanzaOf()
		if err != nil {
			t.Error(err)
			continue
		}
		h, _, _, err := envelope.Open(s.sealed, hubs, manifestIdentity{lk.Identity, stz})
		if err != nil || h.Stream != hh.Camera {
			t.Errorf("the manifest's key for %s does not open it as a segment of %s: %v (stream %q)", mo.Key, hh.Camera, err, h.Stream)
		}
	}
	// Every object the signed times put in the range is shared; every
	// forged one is refused, and the page says so.
	all, err := hh.Owner.API.Objects(ctx, hh.ID, hh.Camera, time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	want := 0
	for _, o := range all {
		s := signed(o)
		if s == nil || !sharedBySignedTimes(s.hdr.Start, s.ftr.End, from, to) {
			continue
		}
		want++
		if !inManifest[o.Key] {
			t.Errorf("%s (signed %v – %v) is in the range but not shared", o.Key, s.hdr.Start, s.ftr.End)
		}
	}
	refused := map[string]string{}
	for _, r := range out.Refused {
		refused[r.Key] = r.Text
	}
	for key, how := range forged {
		if inManifest[key] {
			t.Errorf("the manifest holds a key for %s, which the listing %s into the range", key, how)
		}
		if _, ok := refused[key]; !ok {
			t.Errorf("the page does not report %s (%s by the listing) as refused", key, how)
		}
	}
	if !out.RefusedShown || out.RefusedCount != len(out.Refused) || out.RefusedCount < len(forged) ||
		!strings.Contains(out.RefusedHeadline, "the service's list disagrees with the recordings") {
		t.Errorf("the page's report: shown %v, count %d, %d listed, headline %q; want the %d forged objects", out.RefusedShown, out.RefusedCount, len(out.Refused), out.RefusedHeadline, len(forged))
	}
	// The object with the grafted footer was refused on its own end, read
	// from the whole object.
	if txt := refused[before.Key]; !strings.Contains(txt, "ends at or before the start of the range") ||
		!strings.Contains(txt, before.ftr.End.UTC().Format("2006-01-02T15:04:05.000Z")) {
		t.Errorf("the object before the range (footer grafted from %s): %q; want it refused on its own signed end %v", inside.Key, txt, before.ftr.End)
	}
	if len(body.Objects) != want || want < 2 {
		t.Errorf("the manifest holds %d objects, the signed times put %d in the range", len(body.Objects), want)
	}
	if out.Objects != want {
		t.Errorf("the share sheet made a link to %d segments, want %d", out.Objects, want)
	}
	n := strconv.Itoa(want)
	if out.Played["state"] != "loaded" || out.Played["segments"] != n || out.Played["refused"] != "" {
		t.Errorf("the guest played %v (%s); want the %s shared segments, none refused", out.Played, out.PlayedError, n)
	}

	// The timeline: the listing gives segment a the times of segment b, and
	// b those of a. The segment played as a control is after both, so the
	// player's read-ahead never reaches them.
	a, b, control := objs[1], objs[4], objs[9]
	tp := newListingProxy(t, c, hh.ID)
	tp.forge = func(q url.Values, list []client.Object) []client.Object {
		if q.Get("camera") != hh.Camera {
			return list
		}
		for i := range list {
			switch list[i].Key {
			case a.Key:
				list[i].Start, list[i].End = b.Start, b.End
			case b.Key:
				list[i].Start, list[i].End = a.Start, a.End
			}
		}
		return list
	}
	tsess := hh.Owner.browserSession(t, c.url)
	var tl struct {
		Moved, OK struct {
			Error, DataError string
			FirstFrame, At   *string
			Buffered         int
		}
	}
	browsertest.Run(t, 2*time.Minute, "timeline-forged.mjs", map[string]string{
		"BASE_URL": tp.URL, "HOUSEHOLD": hh.ID, "CAMERA": hh.Camera, "CONTROL_URL": ctl,
		"SESSION": tsess.Cookie, "CSRF": tsess.CSRF,
		"PLAY_AT": fmt.Sprint(mid(b).UnixMilli()), "PLAY_OK": fmt.Sprint(mid(control).UnixMilli()),
	}, &tl)
	t.Logf("timeline, a segment listed at another's time: %q", tl.Moved.Error)
	if !strings.HasPrefix(tl.Moved.Error, "the cloud's listing disagrees with the signed segment: ") || !strings.Contains(tl.Moved.Error, a.Key) ||
		tl.Moved.FirstFrame != nil || tl.Moved.Buffered != 0 {
		t.Errorf("the moved segment: %+v; want it refused with the listing's disagreement, nothing played", tl.Moved)
	}
	if tl.OK.FirstFrame == nil || tl.OK.DataError != "" {
		t.Errorf("a segment the listing did not move: %+v; want it played", tl.OK)
	} else if at, err := strconv.ParseInt(ptrOr(tl.OK.At), 10, 64); err != nil || math.Abs(float64(at-mid(control).UnixMilli())) >= 2000 {
		t.Errorf("?at=%d played from %q, want within 2 s of it", mid(control).UnixMilli(), ptrOr(tl.OK.At))
	}
}

// ptrOr is *s, or "" for nil.
func ptrOr(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
