package e2e

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"vigil/internal/detect/faces/facestest"

	"vigil/internal/browsertest"
	"vigil/internal/envelope"
	"vigil/internal/hubd"
	"vigil/internal/keydir"
	"vigil/internal/live"
	"vigil/internal/member"
	"vigil/internal/share"
	"vigil/internal/vigiltest"
)

// TestShareRedactedInBrowser: a member's enrolled browser shares a range of
// a camera whose footage has faces (Megamind.avi) as a redacted link: the
// share sheet's "Blur faces and heads" has the household's hub blur the
// clip (as a donation's), shows it with the hub's report, and "Share the
// blurred clip" makes the link. A guest in another browser context plays
// it as one blurred clip and is told so. Go opens the share as the link's
// guest (internal/share): a version 2 manifest, signed by the browser's
// device and naming it as the clip's signer, that lists the one clip and no
// segment object; the clip verifies against that device's key, is the MP4
// the sheet previewed, and pigo finds faces in the footage but none in it.
// The clip is never among the household's objects. Stopping the share
// erases the clip: no byte of it is left in the cloud's directory, and the
// guest's reload is refused.
func TestShareRedactedInBrowser(t *testing.T) {
	vigiltest.RequireTool(t, "ffprobe", "ffmpeg")
	if _, err := os.Stat(megamind); err != nil {
		t.Fatalf("test footage missing: %v (install it with: apt-get install opencv-doc)", err)
	}
	ctx := context.Background()
	c := startCloud(t, nil)
	hh := newHousehold(t, c, householdOptions{CameraFile: megamind, Hub: func(o *hubd.Options) { o.LiveNet = live.NetOptions{Loopback: true} }})
	segs := hh.waitSegments(t, hh.Camera, 4, 2*time.Minute)
	from := segs[1].Start.Truncate(time.Second).Add(time.Second)
	to := from.Add(3 * time.Second)
	if last := segs[len(segs)-1].End; to.After(last) {
		t.Fatalf("the recordings end at %v, before the range's end %v", last, to)
	}

	// What Go checks while the share is active, as its link's guest.
	type checked struct {
		id       string
		body     *share.Body
		header   envelope.Header
		clipPath string
		sealed   []byte
		goLink   string
	}
	var (
		mu  sync.Mutex
		got checked
	)
	mux := hh.controlMux()
	mux.HandleFunc("POST /shared", func(w http.ResponseWriter, r *http.Request) {
		err := func() error {
			base, id, secret, err := share.ParseLinkURL(r.URL.Query().Get("link"))
			if err != nil {
				return err
			}
			if base != c.url {
				return fmt.Errorf("the link is for %s, not %s", base, c.url)
			}
			lk, err := share.DeriveLinkKeys(secret, id)
			if err != nil {
				return err
			}
			// The guest's own route, with the link's token.
			get := func(path string) ([]byte, error) {
				req, _ := http.NewRequestWithContext(r.Context(), "GET", c.url+path, nil)
				req.Header.Set("Vigil-Share-Token", lk.TokenHeader())
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					return nil, err
				}
				defer resp.Body.Close()
				b, _ := io.ReadAll(resp.Body)
				if resp.StatusCode != 200 {
					return nil, fmt.Errorf("GET %s: %d %s", path, resp.StatusCode, b)
				}
				return b, nil
			}
			sh, err := c.st.Share(r.Context(), id)
			if err != nil {
				return err
			}
			if !sh.Redacted {
				return fmt.Errorf("the cloud's share is not redacted: %+v", sh)
			}
			body, err := share.Open(sh.Manifest, id, lk.Identity.Recipient().Bytes(), lk.MACKey)
			if err != nil {
				return fmt.Errorf("Go opens the browser's manifest: %w", err)
			}
			st, err := member.VerifiedChain(r.Context(), hh.Owner.API, hh.ID, hh.Genesis)
			if err != nil {
				return err
			}
			dev, ok := st.Devices[body.Redacted.Device]
			if !ok || dev.Name != "hall phone" || b64u.EncodeToString(dev.SignPub) != body.Redacted.SignPub {
				return fmt.Errorf("the manifest names %+v as the clip's signer, not the browser's device in the chain (%+v)", body.Redacted, dev)
			}
			sealed, err := get("/v1/shares/" + id + "/objects/" + share.ClipKey(id))
			if err != nil {
				return err
			}
			h, plain, err := share.OpenClip(body, sealed, lk.Identity)
			if err != nil {
				return fmt.Errorf("Go opens the clip as the guest: %w", err)
			}
			if p := sha256.Sum256(plain); hex.EncodeToString(p[:]) != r.URL.Query().Get("sha256") {
				return fmt.Errorf("the shared clip is not the one the sheet previewed")
			}
			if len(filesHolding(c.dir, sealed[len(sealed)/2:len(sealed)/2+64])) == 0 {
				return fmt.Errorf("the clip's bytes are not in the cloud's directory (its erasure could not be checked)")
			}
			path := filepath.Join(t.TempDir(), "shared.mp4")
			if err := os.WriteFile(path, plain, 0o600); err != nil {
				return err
			}
			// The other way round: Go shares the same blurred clip as a
			// redacted link, which the page then opens.
			goLink, err := hh.shareRedacted(r.Context(), plain, body.Objects[0].Start, body.Objects[0].End, body.From, body.To)
			if err != nil {
				return fmt.Errorf("Go makes a redacted share: %w", err)
			}
			mu.Lock()
			got = checked{id: id, body: body, header: h, clipPath: path, sealed: sealed, goLink: goLink}
			mu.Unlock()
			return nil
		}()
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		io.WriteString(w, got.goLink)
	})
	ctl := serveControl(t, mux)

	shots := t.TempDir()
	if os.Getenv("VIGIL_SCREENSHOTS") == "1" {
		shots = filepath.Join(browsertest.WebDir(t), "..", "docs", "screenshots")
	}
	sess := hh.Owner.browserSession(t, c.url)
	var res struct {
		Sheet struct {
			FromMs, ToMs float64
			Button, Note string
		} `json:"sheet"`
		Preview struct {
			Duration float64 `json:"duration"`
			Width    int     `json:"width"`
			SHA256   string  `json:"sha256"`
			Original string  `json:"original"`
		} `json:"preview"`
		Report  map[string]string `json:"report"`
		ID      string            `json:"id"`
		Link    string            `json:"link"`
		Created struct {
			Sentence, Blurred, Redacted, SHA256 string
		} `json:"created"`
		Listed      string            `json:"listed"`
		Played      map[string]string `json:"played"`
		PlayedError string            `json:"playedError"`
		Video       struct {
			CurrentTime, Duration float64
			Width                 int
		} `json:"video"`
		BlurredNote string            `json:"blurredNote"`
		Checked     string            `json:"checked"`
		GoPlayed    map[string]string `json:"goPlayed"`
		GoError     string            `json:"goError"`
		GoVideo     struct {
			CurrentTime float64
			Width       int
		} `json:"goVideo"`
		GoNote string `json:"goNote"`
		After  struct {
			State, Status, Message string
		} `json:"after"`
		Problems    []string `json:"problems"`
		Screenshots []string `json:"screenshots"`
	}
	browsertest.Run(t, 9*time.Minute, "share-redacted.mjs", map[string]string{
		"BASE_URL": c.url, "HOUSEHOLD": hh.ID, "CAMERA": hh.Camera, "CONTROL_URL": ctl, "SESSION": sess.Cookie, "CSRF": sess.CSRF,
		"FROM": strconv.FormatInt(from.UnixMilli(), 10), "TO": strconv.FormatInt(to.UnixMilli(), 10), "SCREENSHOTS": shots,
	}, &res)
	t.Logf("sheet: %+v; report: %s; created: %q; guest: %v (%s)", res.Sheet, res.Report["text"], res.Created.Sentence, res.Played, res.PlayedError)

	// The sheet: the range, the choice, the preview and the hub's report.
	if res.Sheet.FromMs != float64(from.UnixMilli()) || res.Sheet.ToMs != float64(to.UnixMilli()) || res.Sheet.Button != "Blur and preview" || res.Sheet.Note == "" {
		t.Errorf("the sheet with blurring chosen: %+v", res.Sheet)
	}
	if res.Preview.Duration <= 0 || res.Preview.Width == 0 || res.Preview.SHA256 == "" || res.Preview.SHA256 == res.Preview.Original {
		t.Errorf("the preview: %+v, want a playable video other than the original", res.Preview)
	}
	if n, _ := strconv.Atoi(res.Report["faces"]); n == 0 || res.Report["audioKept"] != "false" {
		t.Errorf("the hub's report %v: want faces blurred and no sound", res.Report)
	}
	if res.Created.Redacted != "true" || !strings.Contains(res.Created.Sentence, "blurred clip of "+hh.Camera) || res.Created.Blurred == "" || res.Created.SHA256 != res.Preview.SHA256 {
		t.Errorf("the sheet after sharing: %+v", res.Created)
	}
	if !strings.Contains(res.Listed, "Blurred") {
		t.Errorf("the shares page lists %q, without saying it is blurred", res.Listed)
	}

	// The guest played one blurred clip, and was told so.
	if res.Played["state"] != "loaded" || res.Played["redacted"] != "true" || res.Played["segments"] != "1" {
		t.Errorf("the guest's page: %v (%s)", res.Played, res.PlayedError)
	}
	if res.Video.CurrentTime <= 0 || res.Video.Width == 0 {
		t.Errorf("the guest's video: %+v, want it playing", res.Video)
	}
	if res.BlurredNote != "Faces and heads are blurred" {
		t.Errorf("the guest's page says %q", res.BlurredNote)
	}

	// Go, as the guest.
	if res.Checked != "" {
		t.Fatalf("Go as the guest: %s", res.Checked)
	}
	mu.Lock()
	g := got
	mu.Unlock()
	if g.id != res.ID {
		t.Fatalf("checked share %q, the page made %q", g.id, res.ID)
	}
	if g.body.V != share.VRedacted || len(g.body.Hubs) != 0 || len(g.body.Objects) != 1 {
		t.Errorf("the manifest: version %d, hubs %v, %d objects", g.body.V, g.body.Hubs, len(g.body.Objects))
	}
	objs, err := hh.Owner.API.Objects(ctx, hh.ID, "", time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	household := map[string]bool{}
	for _, o := range objs {
		household[o.Key] = true
		if strings.HasPrefix(o.Key, "shares/") {
			t.Errorf("the household's objects list %s", o.Key)
		}
	}
	for _, o := range g.body.Objects {
		if household[o.Key] || o.Key != share.ClipKey(g.id) {
			t.Errorf("the manifest names object %s, want only the share's clip", o.Key)
		}
	}
	if h := g.header; h.Kind != envelope.KindClip || h.Stream != hh.Camera || h.Start.Before(from.Add(-5*time.Second)) || h.Start.After(to) {
		t.Errorf("the sealed clip's header: %+v", h)
	}
	orig := filepath.Join(t.TempDir(), "orig.mp4")
	if out, err := exec.Command("ffmpeg", "-v", "error", "-i", megamind, "-t", "4", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-an", orig).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v: %s", err, out)
	}
	before, after := facestest.Frames(t, orig), facestest.Frames(t, g.clipPath)
	t.Logf("pigo finds a face in %d frames of 4 s of the footage and in %d of the shared clip", before, after)
	if before == 0 || after != 0 {
		t.Errorf("faces in %d frames of the footage and %d of the shared clip, want some and none", before, after)
	}

	// The browser opens the redacted share Go made.
	if res.GoPlayed["state"] != "loaded" || res.GoPlayed["redacted"] != "true" || res.GoVideo.CurrentTime <= 0 || res.GoVideo.Width == 0 ||
		res.GoNote != "Faces and heads are blurred" {
		t.Errorf("the page opens Go's redacted share: %v (%s), video %+v, note %q", res.GoPlayed, res.GoError, res.GoVideo, res.GoNote)
	}

	// Stopped: the clip is erased, and the guest refused.
	if res.After.State != "error" || res.After.Status != "410" {
		t.Errorf("after stopping, the guest's reload: %+v", res.After)
	}
	sh, err := c.st.Share(ctx, g.id)
	if err != nil || sh.Revoked.IsZero() || !sh.Clip.IsZero() {
		t.Errorf("the stopped share: %+v %v", sh, err)
	}
	if left := filesHolding(c.dir, g.sealed[len(g.sealed)/2:len(g.sealed)/2+64]); len(left) > 0 {
		t.Errorf("the stopped share's clip is still in %v", left)
	}
	for _, p := range res.Problems {
		t.Errorf("the share sheet or the guest's page: %s", p)
	}
}

// shareRedacted shares plain, a blurred clip of the household's camera
// covering [start, end), as a redacted link of [from, to) made by the Go
// implementation (internal/share) and signed by the admin device, and
// returns the link.
func (hh *testHousehold) shareRedacted(ctx context.Context, plain []byte, start, end, from, to time.Time) (string, error) {
	id, secret := share.NewID(), share.NewSecret()
	lk, err := share.DeriveLinkKeys(secret, id)
	if err != nil {
		return "", err
	}
	sealed, err := envelope.Seal(envelope.Header{Kind: envelope.KindClip, Stream: hh.Camera, Start: start}, end, hh.Admin.Sign, plain, lk.Identity.Recipient())
	if err != nil {
		return "", err
	}
	pub := hh.Admin.Sign.Public().(ed25519.PublicKey)
	sharer := share.Sharer{Device: keydir.DeviceID(pub), SignPub: b64u.EncodeToString(pub), Name: "laptop"}
	exp := time.Now().Add(time.Hour).UTC()
	body := &share.Body{V: share.VRedacted, ID: id, Household: hh.ID, HouseholdName: "Home", Camera: hh.Camera, From: from, To: to, Expires: exp,
		Kind: share.KindLink, Recipient: b64u.EncodeToString(lk.Identity.Recipient().Bytes()), Sharer: sharer, Created: time.Now().UTC(),
		Redacted: &share.Redaction{Device: sharer.Device, SignPub: sharer.SignPub},
		Objects:  []share.Object{{Key: share.ClipKey(id), Start: start, End: end, Stanza: share.EncodeStanza(headerStanzas(nil, sealed)[0])}}}
	signed, err := share.Sign(body, hh.Admin.Sign, lk.MACKey)
	if err != nil {
		return "", err
	}
	th := lk.TokenHash()
	req, _ := json.Marshal(map[string]any{"id": id, "camera": hh.Camera, "from": from, "to": to, "expires": exp, "kind": "link",
		"token_hash": th[:], "manifest": signed, "redacted": true})
	if status, resp, err := hh.Owner.API.Raw(ctx, "POST", "/v1/households/"+hh.ID+"/shares", req); err != nil || status != http.StatusCreated {
		return "", fmt.Errorf("creating the share: %d %s %v", status, resp, err)
	}
	if status, resp, err := hh.Owner.API.Raw(ctx, "PUT", "/v1/households/"+hh.ID+"/shares/"+id+"/clip", sealed); err != nil || status != http.StatusCreated {
		return "", fmt.Errorf("storing its clip: %d %s %v", status, resp, err)
	}
	return share.LinkURL(hh.Cloud.url, id, secret), nil
}

// filesHolding lists the files under dir that hold b.
func filesHolding(dir string, b []byte) []string {
	var out []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if data, err := os.ReadFile(p); err == nil && bytes.Contains(data, b) {
				out = append(out, p)
			}
		}
		return nil
	})
	return out
}
