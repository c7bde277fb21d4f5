package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"vigil/internal/browsertest"
	"vigil/internal/cli"
	"vigil/internal/client"
	"vigil/internal/consent"
	"vigil/internal/dataset"
	"vigil/internal/dataset/eval"
	"vigil/internal/dataset/yolo"
	"vigil/internal/detect/groundtruth"
	"vigil/internal/envelope"
	"vigil/internal/hubd"
	"vigil/internal/keydir"
	"vigil/internal/live"
	"vigil/internal/member"
	"vigil/internal/softcam"
	"vigil/internal/vigiltest"
)

// journeyDraw is one box the annotator's browser draws: a drag from Start
// to End in clip pixels at the plan's frame, starting at a corner that is
// clear of every box drawn before it (a drag that starts on a box moves it).
type journeyDraw struct {
	Start [2]float64 `json:"start"`
	End   [2]float64 `json:"end"`
	Box   [4]float64 `json:"box"`
}

// journeyPlan is what the Go side tells the annotator's browser to draw.
type journeyPlan struct {
	Frame  int           `json:"frame"`  // the donated clip's frame
	Source int           `json:"source"` // the same frame of vtest.avi
	Draws  []journeyDraw `json:"draws"`
}

// TestLabellingJourney is the labelling loop in one run, on the demo's
// footage (vtest.avi, the software camera's default), with every step
// where a person would take it:
//
//  1. A member's browser, enrolled in the household, donates a 6-second
//     range of the camera from the camera page: the sheet names the
//     workspace and lists the devices its verified chain names (the two
//     leads, the annotator's and the reviewer's browsers), the household's
//     hub blurs the clip over the live session's redact channel, the member
//     sees the preview and approves. Having verified the workspace's
//     chain, the browser pinned its genesis: a listing that names another
//     genesis for it is refused.
//  2. The Go side opens the donation as a lead would and finds where in
//     vtest.avi the clip is (each frame matched against the footage), then
//     picks a frame of the clip that the hand-checked ground truth
//     (testdata/groundtruth) covers and tells the annotator's browser to
//     draw every visible person there.
//  3. The annotator's browser, a device of the workspace's chain in another
//     browser context, opens the assigned clip, steps to that frame and
//     draws a box on a new "person" track for each person, then submits.
//  4. The reviewer's browser, a lead's device in a third context, accepts.
//  5. A second lead, the CLI on another device, makes dataset version 1
//     ('vigil workspace dataset create') and exports it ('vigil dataset
//     export'): COCO and YOLO that dataset.Validate accepts, whose one
//     image is that frame (it matches vtest.avi's frame best of all 795)
//     with the YOLO labels of the boxes the browser drew, lineage naming
//     the donation, its consent, the annotator and the reviewer.
//  6. 'vigil bench detect --dataset' scores the hub's detector on it: as
//     many truths as boxes drawn, precision, recall and AP reported
//     (the detector finds few of vtest's small people once their heads
//     are blurred: THREAT_MODEL.md, G7, the redacted scores).
func TestLabellingJourney(t *testing.T) {
	vigiltest.RequireTool(t, "ffprobe", "ffmpeg")
	browsertest.Require(t)
	ctx := context.Background()
	c := startCloud(t, nil)
	hh := newHousehold(t, c, householdOptions{Hub: func(o *hubd.Options) { o.LiveNet = live.NetOptions{Loopback: true} }})
	if hh.CamFile != softcam.DefaultFile {
		t.Fatalf("the camera serves %s, want the demo's footage %s", hh.CamFile, softcam.DefaultFile)
	}
	gt, err := groundtruth.Load(filepath.Join(browsertest.WebDir(t), "..", "testdata", "groundtruth", "vtest.json"))
	if err != nil {
		t.Fatal(err)
	}

	// The workspace: a Go lead makes it, a staff admin registers it; a
	// second lead is the CLI on its own device, joined by the genesis hash.
	lead, ws := registerWorkspace(t, ctx, c, "Person detection")
	wsID := ws.HouseholdID
	leadC := &client.Client{BaseURL: c.url, HTTP: http.DefaultClient, DeviceID: lead.ID(), DeviceKey: lead.Sign}
	addDevice := func(k keydir.DeviceKey) error {
		link, err := ws.AddDevice(lead, k, time.Now())
		if err == nil {
			err = leadC.AppendWorkspaceLink(ctx, wsID, link)
		}
		if err == nil {
			err = ws.Apply(link)
		}
		return err
	}
	cliLead := filepath.Join(t.TempDir(), "cli-lead")
	cliDev, err := keydir.ParseDevice(strings.TrimSpace(runCLI(t, "device", "id", "--profile", cliLead)), keydir.RoleAdmin, "lead desktop")
	if err != nil {
		t.Fatal(err)
	}
	if err := addDevice(cliDev); err != nil {
		t.Fatal(err)
	}
	if err := c.srv.SyncLog(ctx); err != nil {
		t.Fatal(err)
	}
	if out := runCLI(t, "workspace", "join", wsID, "--genesis", hex.EncodeToString(ws.GenesisHash), "--cloud", c.url, "--profile", cliLead); !strings.Contains(out, "as a lead") {
		t.Fatalf("the CLI lead joins: %q", out)
	}

	segs := hh.waitSegments(t, hh.Camera, 6, 2*time.Minute)
	from := segs[1].Start.Truncate(time.Second).Add(time.Second)
	to := from.Add(6 * time.Second)
	if last := segs[len(segs)-1].End; to.After(last) {
		t.Fatalf("the recordings end at %v, before the range's end %v", last, to)
	}

	vtest := lumaFrames(t, softcam.DefaultFile, 96, 72, 795)
	var (
		mu                  sync.Mutex
		annotator, reviewer keydir.DeviceKey
		donation            string
		plan                journeyPlan
		donor               keydir.DeviceKey
	)
	mux := hh.controlMux()
	mux.HandleFunc("POST /devices", func(w http.ResponseWriter, r *http.Request) {
		var in struct{ Annotator, Reviewer string }
		err := json.NewDecoder(r.Body).Decode(&in)
		mu.Lock()
		defer mu.Unlock()
		if err == nil {
			annotator, err = keydir.ParseDevice(in.Annotator, keydir.RoleMember, "annotator browser")
		}
		if err == nil {
			reviewer, err = keydir.ParseDevice(in.Reviewer, keydir.RoleAdmin, "reviewer browser")
		}
		if err == nil {
			err = addDevice(annotator)
		}
		if err == nil {
			err = addDevice(reviewer)
		}
		if err == nil {
			err = c.srv.SyncLog(r.Context())
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	// The donation, opened as a lead: the consent verifies for the stored
	// bytes, the clip opens, and the plan says what to draw where.
	mux.HandleFunc("POST /donated", func(w http.ResponseWriter, r *http.Request) {
		id, sha := r.URL.Query().Get("id"), r.URL.Query().Get("sha256")
		p, d, err := func() (journeyPlan, keydir.DeviceKey, error) {
			var p journeyPlan
			ds, err := leadC.Assignments(r.Context(), wsID)
			if err != nil {
				return p, keydir.DeviceKey{}, err
			}
			i := slices.IndexFunc(ds, func(d client.Donation) bool { return d.ID == id })
			if i < 0 {
				return p, keydir.DeviceKey{}, fmt.Errorf("the workspace lists no donation %s", id)
			}
			sealed, err := leadC.Clip(r.Context(), wsID, id)
			if err != nil {
				return p, keydir.DeviceKey{}, err
			}
			st, err := member.VerifiedChain(r.Context(), hh.Owner.API, hh.ID, hh.Genesis)
			if err != nil {
				return p, keydir.DeviceKey{}, err
			}
			signed, err := consent.ParseSigned(ds[i].Consent)
			if err != nil {
				return p, keydir.DeviceKey{}, err
			}
			cs, err := consent.Verify(signed, st, time.Now(), sha256.Sum256(sealed))
			if err != nil {
				return p, keydir.DeviceKey{}, fmt.Errorf("the consent does not verify for the stored clip: %w", err)
			}
			dk := st.Devices[cs.Device]
			ids, err := ws.EpochIdentities(lead)
			if err != nil {
				return p, keydir.DeviceKey{}, err
			}
			_, _, plain, err := envelope.Open(sealed, envelope.TrustedKeys{dk.SignPub}, ids...)
			if err != nil {
				return p, keydir.DeviceKey{}, fmt.Errorf("the workspace opens the clip: %w", err)
			}
			if s := sha256.Sum256(plain); hex.EncodeToString(s[:]) != sha {
				return p, keydir.DeviceKey{}, fmt.Errorf("the clip the workspace opens is not the one the page previewed")
			}
			path := filepath.Join(t.TempDir(), "donated.mp4")
			if err := os.WriteFile(path, plain, 0o600); err != nil {
				return p, keydir.DeviceKey{}, err
			}
			p, err = journeyPlanFor(t, path, vtest, gt)
			return p, dk, err
		}()
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		mu.Lock()
		donation, plan, donor = id, p, d
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(p)
	})
	mux.HandleFunc("POST /assign", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		id, ann := donation, annotator.ID
		mu.Unlock()
		if _, err := leadC.Assign(r.Context(), wsID, id, ann); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	ctl := serveControl(t, mux)

	sess := hh.Owner.browserSession(t, c.url)
	var res struct {
		Devices struct{ Annotator, Reviewer string }
		Sheet   struct {
			Workspace string   `json:"workspace"`
			Devices   []string `json:"devices"`
		} `json:"sheet"`
		Preview struct {
			SHA256, Original string
			Duration         float64
		} `json:"preview"`
		Report    map[string]string `json:"report"`
		Donation  string            `json:"donation"`
		Plan      journeyPlan       `json:"plan"`
		Tracks    int               `json:"tracks"`
		Submitted int               `json:"submitted"`
		Accepted  string            `json:"accepted"`
		// OtherGenesis is the sheet's error for a listing that names
		// another genesis for the workspace the browser donated to.
		OtherGenesis string `json:"otherGenesis"`
	}
	browsertest.Run(t, 12*time.Minute, "label-journey.mjs", map[string]string{
		"BASE_URL": c.url, "HOUSEHOLD": hh.ID, "CAMERA": hh.Camera, "CONTROL_URL": ctl, "SESSION": sess.Cookie, "CSRF": sess.CSRF,
		"WS": wsID, "FROM": strconv.FormatInt(from.UnixMilli(), 10), "TO": strconv.FormatInt(to.UnixMilli(), 10),
	}, &res)
	mu.Lock()
	p := plan
	mu.Unlock()
	t.Logf("donation %s: hub report %v; annotated frame %d (vtest frame %d) with %d people; %d tracks, submitted as version %d; review: %q",
		res.Donation, res.Report, p.Frame, p.Source, len(p.Draws), res.Tracks, res.Submitted, res.Accepted)

	// 1. The sheet named the workspace and all four devices of its chain.
	want := []string{lead.ID(), cliDev.ID, annotator.ID, reviewer.ID}
	slices.Sort(want)
	got := slices.Sorted(slices.Values(res.Sheet.Devices))
	if res.Sheet.Workspace != wsID || !slices.Equal(got, want) {
		t.Errorf("the sheet: workspace %s with devices %v, want %s with %v", res.Sheet.Workspace, got, wsID, want)
	}
	if res.Preview.SHA256 == "" || res.Preview.SHA256 == res.Preview.Original || res.Preview.Duration < 5 {
		t.Errorf("the preview: %+v, want a blurred clip of about 6 s", res.Preview)
	}
	if !strings.Contains(res.OtherGenesis, "pinned") {
		t.Errorf("a listing with another genesis for the workspace: the sheet says %q, want it refused for not being the pinned one", res.OtherGenesis)
	}
	if res.Tracks != len(p.Draws) || len(p.Draws) == 0 {
		t.Fatalf("the annotator's editor has %d tracks after drawing %d boxes", res.Tracks, len(p.Draws))
	}

	// 3–4. The cloud: annotated by the annotator's browser, accepted by the
	// reviewer's; the payload's boxes are the ones drawn.
	as, err := leadC.Assignments(ctx, wsID)
	if err != nil || len(as) != 1 {
		t.Fatalf("assignments: %+v %v", as, err)
	}
	if d := as[0]; d.ID != res.Donation || d.State != "accepted" || d.Assignee != annotator.ID || d.Reviewer != reviewer.ID || d.Accepted != res.Submitted {
		t.Fatalf("the donation after review: %+v (submitted as version %d)", d, res.Submitted)
	}
	sealedAnn, _, err := leadC.Annotation(ctx, wsID, res.Donation)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := ws.EpochIdentities(lead)
	if err != nil {
		t.Fatal(err)
	}
	_, _, payload, err := envelope.Open(sealedAnn, envelope.TrustedKeys{annotator.SignPub}, ids...)
	if err != nil {
		t.Fatalf("the annotation does not open as the annotator's: %v", err)
	}
	a, err := dataset.ParseAnnotation(payload, dataset.DefaultSchema())
	if err != nil {
		t.Fatal(err)
	}
	var drawn [][4]float64
	for _, b := range a.Boxes(p.Frame) {
		if b.Label != "person" {
			t.Errorf("a box labelled %q", b.Label)
		}
		drawn = append(drawn, [4]float64{b.Box.X, b.Box.Y, b.Box.W, b.Box.H})
	}
	if len(drawn) != len(p.Draws) {
		t.Fatalf("the annotation has %d boxes at frame %d, the browser drew %d", len(drawn), p.Frame, len(p.Draws))
	}
	for _, d := range p.Draws {
		if !slices.ContainsFunc(drawn, func(b [4]float64) bool { return near(b, d.Box, 4) }) {
			t.Errorf("no box of the annotation near %v (it has %v)", d.Box, drawn)
		}
	}

	// 5. The CLI lead makes and exports dataset version 1.
	if out := runCLI(t, "workspace", "dataset", "create", "--profile", cliLead); !strings.HasPrefix(out, "dataset version 1: 1 items") {
		t.Fatalf("dataset create: %q", out)
	}
	v1 := filepath.Join(t.TempDir(), "v1")
	runCLI(t, "dataset", "export", "--version", "1", "-o", v1, "--profile", cliLead)
	if err := dataset.Validate(v1); err != nil {
		t.Fatalf("the exported dataset does not validate: %v", err)
	}
	m, err := dataset.ReadManifest(v1)
	if err != nil {
		t.Fatal(err)
	}
	it := m.Item(res.Donation)
	if len(m.Items) != 1 || it == nil {
		t.Fatalf("the manifest's items: %+v", m.Items)
	}
	if l := it.Lineage; l.Donation != res.Donation || l.Household != hh.ID || l.Annotator != annotator.ID || l.Reviewer != reviewer.ID || l.Consent == "" {
		t.Errorf("the item's lineage: %+v", l)
	}
	if len(it.Images) != 1 {
		t.Fatalf("the item's images: %v, want the one annotated frame", it.Images)
	}
	img := filepath.Join(v1, dataset.ImagesDir, it.Images[0])
	frame := lumaFrames(t, img, 96, 72, 1)[0]
	if best, dist := nearestFrame(frame, vtest); best != p.Source {
		t.Errorf("the exported image is closest to vtest.avi's frame %d (%.2f), want %d (%.2f)", best, dist[best], p.Source, dist[p.Source])
	}
	labels, err := os.ReadFile(filepath.Join(v1, dataset.LabelsDir, strings.TrimSuffix(it.Images[0], ".jpg")+".txt"))
	if err != nil {
		t.Fatal(err)
	}
	ls, err := yolo.ParseLabels(labels, len(dataset.DefaultSchema().Labels))
	if err != nil {
		t.Fatal(err)
	}
	if len(ls) != len(p.Draws) {
		t.Errorf("%d YOLO labels, %d boxes drawn", len(ls), len(p.Draws))
	}
	for _, d := range p.Draws {
		cx, cy := (d.Box[0]+d.Box[2]/2)/768, (d.Box[1]+d.Box[3]/2)/576
		if !slices.ContainsFunc(ls, func(l yolo.Label) bool {
			return math.Abs(l.CX-cx) < 0.01 && math.Abs(l.CY-cy) < 0.01 && math.Abs(l.W-d.Box[2]/768) < 0.01 && math.Abs(l.H-d.Box[3]/576) < 0.01
		}) {
			t.Errorf("no YOLO label for the box %v drawn (labels %+v)", d.Box, ls)
		}
	}

	// 6. Scored.
	scorePath := filepath.Join(t.TempDir(), "score.json")
	out := runCLI(t, "bench", "detect", "--dataset", v1, "--json", scorePath)
	t.Logf("vigil bench detect --dataset:\n%s", out)
	b, err := os.ReadFile(scorePath)
	if err != nil {
		t.Fatal(err)
	}
	var rep eval.Result
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatalf("the bench's JSON: %v", err)
	}
	i := slices.IndexFunc(rep.Labels, func(s eval.Score) bool { return s.Label == "person" })
	if rep.Images != 1 || rep.Version != 1 || i < 0 {
		t.Fatalf("the bench scored %d images of version %d, labels %+v", rep.Images, rep.Version, rep.Labels)
	}
	s := rep.Labels[i]
	if s.Truths != len(p.Draws) || s.TP+s.FN != s.Truths || s.Precision == nil || s.Recall == nil || s.AP == nil || *s.Recall != float64(s.TP)/float64(s.Truths) {
		t.Errorf("the person score: %+v, want %d truths", s, len(p.Draws))
	}
	if !strings.Contains(out, "person") {
		t.Errorf("the bench's report names no person score:\n%s", out)
	}
	mu.Lock()
	d := donor
	mu.Unlock()
	if d.Name != "kitchen tablet" {
		t.Errorf("the consent is signed by %q, want the member's browser (kitchen tablet)", d.Name)
	}
}

// journeyPlanFor finds where the clip is in vtest.avi (each of its frames
// matched against all of the footage's; the offset most frames agree on)
// and picks the first frame of the clip that the ground truth covers with
// at least one visible person. It plans a box for each visible person,
// each drag starting at a corner at least 16 px clear of the boxes drawn
// before it (people who stand too close together to start a drag clear of
// the others are left out, and so is the ground truth's hidden people).
func journeyPlanFor(t *testing.T, clip string, vtest [][]byte, gt *groundtruth.Truth) (journeyPlan, error) {
	probe, err := exec.Command("ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0", "-show_entries", "stream=width,height,nb_read_frames", "-of", "csv=p=0", clip).Output()
	if err != nil {
		return journeyPlan{}, fmt.Errorf("ffprobe: %v", err)
	}
	var w, h, n int
	if _, err := fmt.Sscanf(strings.TrimSpace(string(probe)), "%d,%d,%d", &w, &h, &n); err != nil || w != gt.Width || h != gt.Height || n < 40 {
		return journeyPlan{}, fmt.Errorf("the donated clip is %q (width,height,frames), want %dx%d and at least 40 frames", probe, gt.Width, gt.Height)
	}
	frames := lumaFrames(t, clip, 96, 72, n)
	votes := map[int]int{}
	for i, f := range frames {
		j, _ := nearestFrame(f, vtest)
		votes[(j-i+len(vtest))%len(vtest)]++
	}
	off, most := 0, 0
	for o, v := range votes {
		if v > most {
			off, most = o, v
		}
	}
	if most*10 < n*8 {
		return journeyPlan{}, fmt.Errorf("no offset into vtest.avi that most of the clip's %d frames agree on: %v", n, votes)
	}
	for i := range n {
		src := (off + i) % len(vtest)
		people, ok := gt.Frames[src]
		if !ok {
			continue
		}
		p := journeyPlan{Frame: i, Source: src}
		var placed [][4]float64
		for _, q := range people {
			if q.Hidden {
				continue
			}
			b := [4]float64{q.Box[0], q.Box[1], q.Box[2], q.Box[3]}
			corners := [][2]float64{{b[0], b[1]}, {b[0] + b[2], b[1] + b[3]}, {b[0] + b[2], b[1]}, {b[0], b[1] + b[3]}}
			for k, s := range corners {
				if slices.ContainsFunc(placed, func(o [4]float64) bool {
					return s[0] > o[0]-16 && s[0] < o[0]+o[2]+16 && s[1] > o[1]-16 && s[1] < o[1]+o[3]+16
				}) {
					continue
				}
				p.Draws = append(p.Draws, journeyDraw{Start: s, End: corners[k^1], Box: b})
				placed = append(placed, b)
				break
			}
		}
		if len(p.Draws) > 0 {
			return p, nil
		}
	}
	return journeyPlan{}, fmt.Errorf("the clip (vtest.avi frames %d..%d) holds no frame of the ground truth with a visible person", off, off+n-1)
}

// runCLI runs the vigil command in this process and returns its standard
// output; it fails the test on a non-zero exit.
func runCLI(t *testing.T, args ...string) string {
	t.Helper()
	var out, errOut bytes.Buffer
	if code := cli.Run(context.Background(), args, &out, &errOut); code != 0 {
		t.Fatalf("vigil %s: exit %d\n%s%s", strings.Join(args, " "), code, out.String(), errOut.String())
	}
	return out.String()
}
