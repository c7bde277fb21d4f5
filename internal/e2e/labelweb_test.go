package e2e

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"vigil/internal/browsertest"
	"vigil/internal/client"
	"vigil/internal/consent"
	"vigil/internal/dataset"
	"vigil/internal/devauth"
	"vigil/internal/envelope"
	"vigil/internal/keydir"
)

// devauthProxy stands before the cloud and checks every device-signed
// request the browsers send with internal/devauth, independently of the
// cloud: the signature over method, target, host, time, nonce and the
// body's SHA-256, and that the same request with one body byte changed
// does not verify.
type devauthProxy struct {
	mu       sync.Mutex
	keys     map[string]ed25519.PublicKey
	verified []string // "METHOD path bodyBytes"
	failed   []string // requests whose signature did not verify (unknown devices included)
	tampered int      // requests with a body whose changed copy verified (must stay 0)
	refused  int      // requests with a body whose changed copy was refused
}

func (p *devauthProxy) addKey(k keydir.DeviceKey) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.keys[k.ID] = k.SignPub
}

func (p *devauthProxy) lookup(_ context.Context, id string) (ed25519.PublicKey, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if k, ok := p.keys[id]; ok {
		return k, nil
	}
	return nil, fmt.Errorf("device %s: %w", id, devauth.ErrUnknownDevice)
}

func (p *devauthProxy) handler(t *testing.T, target string) http.Handler {
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	v := &devauth.Verifier{Lookup: p.lookup}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.Header.Get("Authorization"), devauth.Scheme+" ") {
			rp.ServeHTTP(w, r)
			return
		}
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, "reading the body", http.StatusBadRequest)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		what := fmt.Sprintf("%s %s %d", r.Method, r.URL.Path, len(body))
		if len(body) > 0 {
			// A changed body must not verify (checked first: a refused
			// request leaves no nonce behind).
			other := bytes.Clone(body)
			other[len(other)/2] ^= 1
			_, err := v.Verify(r, other)
			p.mu.Lock()
			if err == nil {
				p.tampered++
			} else {
				p.refused++
			}
			p.mu.Unlock()
		}
		_, err = v.Verify(r, body)
		p.mu.Lock()
		if err != nil {
			p.failed = append(p.failed, what+": "+err.Error())
		} else {
			p.verified = append(p.verified, what)
		}
		p.mu.Unlock()
		rp.ServeHTTP(w, r)
	})
}

// labelWebResult is what web/test/label-workspace.mjs reports.
type labelWebResult struct {
	Devices                        struct{ Annotator, Reviewer, Outsider string }
	OutsiderState, OutsiderStatus  string
	OutsiderList                   bool
	AnnotatorState, UnassignedText string
	UnassignedCount                int
	AnnotatorVersion               int
	AnnotatorStatus                string
	ReviewerState, ReviewStatus    string
	ReviewTracks                   int
	ReviewEditToolsHidden          bool
	SentBackStatus                 string
	SentBackEditorState            string
	ResubmittedVersion             int
	Axe                            []string
	RollbackState, RollbackStatus  string
	ForgedClip, ForgedConsent      struct {
		State, Error string
		Videos       int
	}
}

// TestBrowserLabellingWorkspace: the labelling workspace's pages in
// Chromium (web/src/pages/label.ts) against a real cloud, with device-signed
// requests only. A household member's device (Go) donates an MP4 made from
// vtest.avi with a signed consent; a lead device (Go) makes the workspace
// and adds one browser's device as an annotator and another's as a lead.
// A third browser, in no chain, gets nothing (404) and says so; the
// annotator sees no clip before the assignment; then it opens the clip
// (the page checks the consent with the donor device's key and opens it
// with the epoch key unwrapped for it), draws a box at frame 0, saves a
// draft, moves the box at a later frame and submits; the reviewer accepts.
// Go reads the latest annotation as the lead, opens it (signed by the
// annotator's browser device) and parses it with dataset.ParseAnnotation.
// Every signed request is also checked by internal/devauth in a proxy
// before the cloud, with its body.
func TestBrowserLabellingWorkspace(t *testing.T) {
	browsertest.Require(t)
	ctx := t.Context()
	c := startCloud(t, nil)
	hh := newHousehold(t, c, householdOptions{NoHub: true})

	dir := t.TempDir()
	const fps, frames, width, height, moveAt = 10, 30, 768, 576, 15
	clipPath := filepath.Join(dir, "clip.mp4")
	runFFmpeg(t, "-i", "/usr/share/doc/opencv-doc/examples/data/vtest.avi", "-frames:v", fmt.Sprint(frames), "-an",
		"-c:v", "libx264", "-pix_fmt", "yuv420p", "-preset", "veryfast", "-movflags", "+faststart", clipPath)
	plain, err := os.ReadFile(clipPath)
	if err != nil {
		t.Fatal(err)
	}

	// The workspace: its first lead's device signs the genesis; a staff
	// admin registers it with the cloud.
	lead, ws := registerWorkspace(t, ctx, c, "Person detection")
	wsID := ws.HouseholdID
	leadC := &client.Client{BaseURL: c.url, HTTP: http.DefaultClient, DeviceID: lead.ID(), DeviceKey: lead.Sign}

	// The donation: sealed to the workspace's epoch key by the household's
	// admin device, with its signed consent.
	from := time.Now().Add(-time.Hour).Truncate(time.Second).UTC()
	sealed, err := envelope.Seal(envelope.Header{Kind: envelope.KindClip, Stream: "donation", Start: from, Epoch: uint32(ws.Epoch)},
		from.Add(3*time.Second), hh.Admin.Sign, plain, ws.EpochRecipient())
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Millisecond)
	cs := consent.Consent{V: 1, ID: consent.NewID(), Household: hh.ID, Device: hh.Admin.ID(), Workspace: wsID,
		Purpose: consent.PurposePersonDetection, Camera: consent.CameraDigest("front"), From: from, To: from.Add(3 * time.Second),
		Object: sha256.Sum256(sealed), Created: now, Expires: now.Add(consent.DefaultLife)}
	signed, err := consent.Sign(hh.Admin, cs)
	if err != nil {
		t.Fatal(err)
	}
	don, err := hh.Owner.API.Donate(ctx, hh.ID, signed, sealed)
	if err != nil {
		t.Fatalf("donate: %v", err)
	}

	proxy := &devauthProxy{keys: map[string]ed25519.PublicKey{}}
	front := httptest.NewServer(proxy.handler(t, c.url))
	t.Cleanup(front.Close)

	var annotator, reviewer keydir.DeviceKey
	addDevice := func(k keydir.DeviceKey) error {
		link, err := ws.AddDevice(lead, k, time.Now())
		if err != nil {
			return err
		}
		if err := leadC.AppendWorkspaceLink(ctx, wsID, link); err != nil {
			return err
		}
		if err := ws.Apply(link); err != nil {
			return err
		}
		proxy.addKey(k)
		return nil
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /devices", func(w http.ResponseWriter, r *http.Request) {
		var in struct{ Annotator, Reviewer string }
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		var err error
		if annotator, err = keydir.ParseDevice(in.Annotator, keydir.RoleMember, "annotator"); err == nil {
			if reviewer, err = keydir.ParseDevice(in.Reviewer, keydir.RoleAdmin, "reviewer"); err == nil {
				if err = addDevice(annotator); err == nil {
					err = addDevice(reviewer)
				}
			}
		}
		if err == nil {
			err = c.srv.SyncLog(r.Context())
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("POST /assign", func(w http.ResponseWriter, r *http.Request) {
		if _, err := leadC.Assign(r.Context(), wsID, don.ID, annotator.ID); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	ctl := serveControl(t, mux)

	draw := [4]float64{640, 240, 46, 82} // the pedestrian on the right of frame 0
	move := [2]float64{-138, -4}         // where they are at frame 15
	drawJSON, _ := json.Marshal(draw)
	moveJSON, _ := json.Marshal(move)
	var res labelWebResult
	browsertest.Run(t, 4*time.Minute, "label-workspace.mjs", map[string]string{
		"BASE_URL": front.URL, "CONTROL_URL": ctl, "WS": wsID, "DRAW": string(drawJSON), "MOVE": string(moveJSON),
		"MOVE_AT": fmt.Sprint(moveAt), "CLIP_W": fmt.Sprint(width), "CLIP_H": fmt.Sprint(height),
	}, &res)

	// The pages show the devices' IDs as keydir computes them.
	if res.Devices.Annotator != annotator.ID || res.Devices.Reviewer != reviewer.ID || res.Devices.Outsider == "" {
		t.Errorf("devices: %+v; Go parsed annotator %s, reviewer %s", res.Devices, annotator.ID, reviewer.ID)
	}
	// A device in no chain: 404 from the cloud, the page says so, lists nothing.
	if res.OutsiderState != "not-member" || !strings.Contains(res.OutsiderStatus, "not in workspace") || res.OutsiderList {
		t.Errorf("outsider: state %q, %q, list shown %v", res.OutsiderState, res.OutsiderStatus, res.OutsiderList)
	}
	// An annotator with nothing assigned: no clip.
	if res.AnnotatorState != "annotator" || res.UnassignedCount != 0 || !strings.Contains(res.UnassignedText, "No clips are assigned") {
		t.Errorf("unassigned annotator: state %q, %d items, %q", res.AnnotatorState, res.UnassignedCount, res.UnassignedText)
	}
	// A clip whose bytes are not the consent's, or a consent whose
	// signature is not the donor device's: no frame (no video element).
	if f := res.ForgedClip; f.State != "refused" || f.Videos != 0 || !strings.Contains(f.Error, "not the ones consent") {
		t.Errorf("a changed clip: %+v", f)
	}
	if f := res.ForgedConsent; f.State != "refused" || f.Videos != 0 || !strings.Contains(f.Error, "signature of consent") {
		t.Errorf("a consent with another signature: %+v", f)
	}
	if res.AnnotatorVersion != 2 || res.ReviewerState != "lead" || res.ReviewTracks != 1 || !res.ReviewEditToolsHidden {
		t.Errorf("annotated as version %d; reviewer state %q, %d tracks, edit tools hidden %v", res.AnnotatorVersion, res.ReviewerState, res.ReviewTracks, res.ReviewEditToolsHidden)
	}
	// A shorter chain than the one the page verified before: refused.
	if res.RollbackState != "error" || !strings.Contains(res.RollbackStatus, "older or different chain") {
		t.Errorf("a rolled-back chain: state %q, %q", res.RollbackState, res.RollbackStatus)
	}
	if len(res.Axe) > 0 {
		t.Errorf("axe finds serious problems on the labelling pages: %q", res.Axe)
	}
	// Sent back once: the annotator's page says so and submits version 3.
	if !strings.Contains(res.SentBackStatus, "sent back") || res.SentBackEditorState != "rejected" || res.ResubmittedVersion != 3 {
		t.Errorf("after send-back: %q, editor %q, resubmitted as version %d", res.SentBackStatus, res.SentBackEditorState, res.ResubmittedVersion)
	}

	// The cloud: accepted by the reviewer's device, annotated by the annotator's.
	as, err := leadC.Assignments(ctx, wsID)
	if err != nil || len(as) != 1 {
		t.Fatalf("assignments as the lead: %+v %v", as, err)
	}
	if d := as[0]; d.State != "accepted" || d.Accepted != 3 || d.Reviewer != reviewer.ID || d.Assignee != annotator.ID {
		t.Errorf("donation after review: %+v", d)
	}
	// The lead opens the latest annotation: sealed to the workspace,
	// signed by the annotator's browser device.
	got, v, err := leadC.Annotation(ctx, wsID, don.ID)
	if err != nil || v != 3 {
		t.Fatalf("latest annotation: v%d %v", v, err)
	}
	ids, err := ws.EpochIdentities(lead)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := envelope.Open(got, envelope.TrustedKeys{reviewer.SignPub}, ids...); err == nil {
		t.Error("the annotation opens as if the reviewer's device had signed it")
	}
	_, _, payload, err := envelope.Open(got, envelope.TrustedKeys{annotator.SignPub}, ids...)
	if err != nil {
		t.Fatalf("open the annotation: %v", err)
	}
	a, err := dataset.ParseAnnotation(payload, dataset.DefaultSchema())
	if err != nil {
		t.Fatalf("the browser's payload: %v", err)
	}
	if a.Clip != don.ID || a.FPS != fps || a.Width != width || a.Height != height || a.Frames != frames || a.Annotator != annotator.ID || a.Review.State != dataset.InReview {
		t.Errorf("payload: clip %s %vfps %dx%d %d frames, annotator %s, review %+v", a.Clip, a.FPS, a.Width, a.Height, a.Frames, a.Annotator, a.Review)
	}
	if len(a.Tracks) != 1 || a.Tracks[0].Label != "person" || len(a.Tracks[0].Keyframes) != 2 {
		t.Fatalf("tracks: %+v", a.Tracks)
	}
	k0, k1 := a.Tracks[0].Keyframes[0], a.Tracks[0].Keyframes[1]
	if k0.Frame != 0 || k1.Frame != moveAt || k0.Box == nil || k1.Box == nil {
		t.Fatalf("keyframes: %+v %+v", k0, k1)
	}
	want0 := [4]float64{draw[0], draw[1], draw[2], draw[3]}
	want1 := [4]float64{draw[0] + move[0], draw[1] + move[1], draw[2], draw[3]}
	if !near(*k0.Box, want0, 4) || !near(*k1.Box, want1, 4) {
		t.Errorf("boxes %v at 0 and %v at %d; drawn %v, moved by %v", *k0.Box, *k1.Box, moveAt, want0, move)
	}

	// Every device-signed request verified with internal/devauth, bodies
	// included (the annotation PUTs, the review), and a changed body never.
	proxy.mu.Lock()
	defer proxy.mu.Unlock()
	var puts, reviews int
	for _, s := range proxy.verified {
		switch {
		case strings.HasPrefix(s, "PUT ") && strings.Contains(s, "/annotations/") && !strings.HasSuffix(s, " 0"):
			puts++
		case strings.HasPrefix(s, "POST ") && strings.HasSuffix(strings.Fields(s)[1], "/review"):
			reviews++
		}
	}
	if puts != 3 || reviews != 2 || proxy.tampered != 0 || proxy.refused < 3 {
		t.Errorf("devauth: %d annotation PUTs and %d reviews verified; %d changed bodies verified, %d refused", puts, reviews, proxy.tampered, proxy.refused)
	}
	// Only the outsider's requests fail (its device is in no chain).
	for _, f := range proxy.failed {
		if !strings.Contains(f, "unknown device") {
			t.Errorf("a browser's signed request did not verify: %s", f)
		}
	}
	if len(proxy.failed) == 0 {
		t.Error("the outsider's request was not seen")
	}
}
