package cli

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"vigil/internal/blob"
	"vigil/internal/client"
	"vigil/internal/cloud"
	"vigil/internal/cloud/auth"
	"vigil/internal/cloud/store"
	"vigil/internal/consent"
	"vigil/internal/dataset"
	"vigil/internal/dataset/datasettest"
	"vigil/internal/detect/nanodet"
	"vigil/internal/envelope"
	"vigil/internal/keydir"
	vredact "vigil/internal/redact"
	"vigil/internal/tlog"
	"vigil/internal/vigiltest"
)

// labCloud is a cloud on SQLite and a blob directory under data, as
// 'vigil cloud --config' with config would run it, served in-process.
type labCloud struct {
	url, config string
	srv         *cloud.Server
}

func startLabCloud(t *testing.T) *labCloud {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(data, 0o700); err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "cloud.yaml")
	if err := os.WriteFile(cfgPath, []byte("listen: 127.0.0.1:0\ndata: "+data+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := cloud.LoadConfig(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.OpenSQLite(ctx, cfg.SQLitePath(), store.SQLiteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	blobs, err := blob.OpenDir(cfg.BlobDir(), blob.DirOptions{})
	if err != nil {
		t.Fatal(err)
	}
	skey, vkey, err := tlog.GenerateKey("lab.test/tlog")
	if err != nil {
		t.Fatal(err)
	}
	signer, _ := note.NewSigner(skey)
	storage := tlog.NewMemoryStorage()
	lg, err := tlog.Open(ctx, tlog.Config{Origin: "lab.test/tlog", Signer: signer, Storage: storage})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := cloud.New(cloud.Options{Store: st, Blobs: blobs, Logger: vigiltest.Logger(t), Argon2: auth.Argon2Params{Memory: 1024, Time: 1, Threads: 1},
		Log: lg, LogStorage: storage, LogKey: vkey})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(func() {
		hs.Close()
		srv.Close()
		lg.Close()
		blobs.Close()
		st.Close()
	})
	return &labCloud{url: hs.URL, config: cfgPath, srv: srv}
}

// donor is a household member's device: an account signed in, its keys,
// and a household whose only device it is, in its profile.
type donor struct {
	c       *client.Client
	k       *keydir.DeviceKeys
	hh      string
	profile string
}

func newDonor(t *testing.T, lc *labCloud, dir string) *donor {
	t.Helper()
	ctx := context.Background()
	c := client.New(lc.url)
	res, err := c.SignUp(ctx, "dina@example.com", "a long enough password")
	if err != nil {
		t.Fatal(err)
	}
	secret, _ := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(res.TOTPSecret)
	if c.Token, err = c.SignIn(ctx, "dina@example.com", "a long enough password", auth.TOTPCode(secret, time.Now())); err != nil {
		t.Fatal(err)
	}
	p := profile{dir}
	if err := p.saveJSON("session.json", session{Cloud: lc.url, Email: "dina@example.com", AccountID: res.AccountID, Token: c.Token}); err != nil {
		t.Fatal(err)
	}
	k, _, err := p.deviceKeys()
	if err != nil {
		t.Fatal(err)
	}
	genesis, _, st, err := keydir.NewHousehold("Home", k, "laptop", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateHousehold(ctx, genesis); err != nil {
		t.Fatal(err)
	}
	if err := p.saveHousehold(&pinnedHousehold{HouseholdID: st.HouseholdID, Name: "Home", GenesisHash: hex.EncodeToString(st.GenesisHash), Cloud: lc.url}); err != nil {
		t.Fatal(err)
	}
	return &donor{c: c, k: k, hh: st.HouseholdID, profile: dir}
}

// personScore runs 'vigil bench detect --dataset ds' and returns its
// person score.
type score struct {
	Label                 string
	Precision, Recall, AP *float64
	Truths, TP, FP        int
}

func personScore(t *testing.T, ds, jsonPath string) score {
	t.Helper()
	vigil(t, "bench", "detect", "--dataset", ds, "--json", jsonPath)
	b, err := os.ReadFile(jsonPath)
	if err != nil {
		t.Fatal(err)
	}
	var r struct{ Labels []score }
	if err := json.Unmarshal(b, &r); err != nil || len(r.Labels) == 0 || r.Labels[0].Label != "person" || r.Labels[0].Recall == nil || r.Labels[0].Precision == nil || r.Labels[0].AP == nil {
		t.Fatalf("scores %s: %v", b, err)
	}
	return r.Labels[0]
}

// The donated clip: the first clipFrames frames of vtest.avi, redacted
// by internal/redact as a member's device does before donating (faces
// and the heads of the people NanoDet finds blurred). clipTruths is the
// number of visible people the ground truth has in them.
const (
	clipFrames = 121
	clipTruths = 25
)

func redactedClip(t *testing.T, dir string) string {
	t.Helper()
	cut := filepath.Join(dir, "vtest-cut.mp4")
	cmd := exec.Command("ffmpeg", "-nostdin", "-v", "error", "-i", datasettest.Footage, "-frames:v", strconv.Itoa(clipFrames), "-an",
		"-c:v", "libx264", "-preset", "ultrafast", "-crf", "18", "-pix_fmt", "yuv420p", "-fps_mode", "passthrough", "-threads", "1", cut)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v: %s", err, b)
	}
	persons, err := nanodet.LoadOptions(nanodet.DefaultDir(), nanodet.Options{MinScore: vredact.PersonScore})
	if err != nil {
		t.Fatalf("%v (hint: make models)", err)
	}
	defer persons.Close()
	out := filepath.Join(dir, "vtest-redacted.mp4")
	rep, err := vredact.Clip(context.Background(), cut, out, vredact.Options{Persons: persons})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Frames != clipFrames || rep.BlurredFrames == 0 {
		t.Fatalf("redaction: %+v", rep)
	}
	t.Logf("redacted %d frames, %d with something blurred (%d face boxes, %d head boxes)", rep.Frames, rep.BlurredFrames, rep.FaceBoxes, rep.HeadBoxes)
	return out
}

// clipAnnotation is the ground truth's annotation of vtest.avi cut to the
// donated clip's frames.
func clipAnnotation(t *testing.T, clip string) *dataset.Annotation {
	t.Helper()
	a := datasettest.Annotation(t, clip)
	a.Frames = clipFrames
	var tracks []dataset.Track
	for _, tr := range a.Tracks {
		var kfs []dataset.Keyframe
		for _, k := range tr.Keyframes {
			if k.Frame < clipFrames {
				kfs = append(kfs, k)
			}
		}
		if len(kfs) > 0 {
			tr.ID, tr.Keyframes = len(tracks)+1, kfs
			tracks = append(tracks, tr)
		}
	}
	a.Tracks = tracks
	if err := a.Check(dataset.DefaultSchema()); err != nil {
		t.Fatal(err)
	}
	return a
}

// vigil runs the command and returns its stdout; a non-zero exit fails
// the test.
func vigil(t *testing.T, args ...string) string {
	t.Helper()
	out, errOut, code := vigilCode(args...)
	if code != 0 {
		t.Fatalf("vigil %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

func vigilCode(args ...string) (stdout, stderr string, code int) {
	var o, e bytes.Buffer
	code = Run(context.Background(), args, &o, &e)
	return o.String(), e.String(), code
}

// TestWorkspaceDonationToScoredDataset runs a donation through the
// labelling workspace to a scored dataset, with the leads' commands of
// the CLI: a member's device donates a clip of vtest.avi (sealed to the
// workspace, with a signed consent); a lead's device makes the workspace,
// the operator registers it, the lead adds an annotator's device and
// assigns the donation; the annotator's device annotates it with the
// hand-checked ground truth; the lead accepts it, makes dataset version
// 1 and exports it (COCO and YOLO that validate), and NanoDet scores on
// it. The donor then revokes: version 2 lacks the donation, version 1 is
// marked, and it cannot be exported again.
func TestWorkspaceDonationToScoredDataset(t *testing.T) {
	if _, err := os.Stat(filepath.Join(datasettest.Root(t), "models", "node_modules")); err != nil {
		t.Skip("the NanoDet model is not installed (make models)")
	}
	ctx := context.Background()
	lc := startLabCloud(t)
	dir := t.TempDir()
	leadP, annP := filepath.Join(dir, "lead"), filepath.Join(dir, "annotator")
	dn := newDonor(t, lc, filepath.Join(dir, "donor"))

	// The lead's device makes the workspace; the operator registers it.
	genesisFile := filepath.Join(dir, "genesis.txt")
	out := vigil(t, "workspace", "create", "--name", "Person detection", "-o", genesisFile, "--cloud", lc.url, "--profile", leadP, "--device-name", "lead")
	ws := regexp.MustCompile(`workspace (h[a-z2-7]{26}) `).FindStringSubmatch(out)
	gh := regexp.MustCompile(`genesis ([0-9a-f]{64})`).FindStringSubmatch(out)
	if ws == nil || gh == nil {
		t.Fatalf("workspace create:\n%s", out)
	}
	if out := vigil(t, "cloud", "workspace", "add", "--config", lc.config, "--genesis", genesisFile); !strings.Contains(out, ws[1]) || !strings.Contains(out, gh[1]) {
		t.Fatalf("cloud workspace add:\n%s", out)
	}
	if _, errOut, code := vigilCode("cloud", "workspace", "add", "--config", lc.config, "--genesis", genesisFile); code != 1 || !strings.Contains(errOut, "exists") {
		t.Fatalf("registering twice: exit %d %s", code, errOut)
	}
	if out := vigil(t, "workspace", "list", "--profile", leadP); !strings.Contains(out, ws[1]+"\tPerson detection\tgenesis "+gh[1]) {
		t.Fatalf("workspace list:\n%s", out)
	}

	// The lead adds the annotator's device by the identity it shows.
	annID := strings.TrimSpace(vigil(t, "device", "id", "--profile", annP))
	annKeys, _, err := profile{annP}.deviceKeys()
	if err != nil {
		t.Fatal(err)
	}
	if _, errOut, code := vigilCode("workspace", "join", ws[1], "--genesis", gh[1], "--cloud", lc.url, "--profile", annP); code != 1 || !strings.Contains(errOut, "vigil workspace add-device") {
		t.Fatalf("joining before being added: exit %d %s", code, errOut)
	}
	vigil(t, "workspace", "add-device", "--device", annID, "--name", "annotator", "--profile", leadP)
	if out := vigil(t, "workspace", "join", ws[1], "--genesis", gh[1], "--cloud", lc.url, "--profile", annP); !strings.Contains(out, "as an annotator") {
		t.Fatalf("join: %s", out)
	}
	// A second lead, who will review.
	revP := filepath.Join(dir, "reviewer")
	revID := strings.TrimSpace(vigil(t, "device", "id", "--profile", revP))
	revKeys, _, _ := profile{revP}.deviceKeys()
	vigil(t, "workspace", "add-device", "--device", revID, "--lead", "--profile", leadP)
	if out := vigil(t, "workspace", "join", ws[1], "--genesis", gh[1], "--cloud", lc.url, "--profile", revP); !strings.Contains(out, "as a lead") {
		t.Fatalf("join as a lead: %s", out)
	}

	// The donor's device seals a clip of vtest.avi to the workspace's
	// current epoch key, from the chain it verifies from the genesis, and
	// signs the consent.
	leadKeys, _, _ := profile{leadP}.deviceKeys()
	leadC := workspaceClient(&pinnedWorkspace{Cloud: lc.url}, leadKeys)
	links, _, err := leadC.WorkspaceChain(ctx, ws[1])
	if err != nil {
		t.Fatal(err)
	}
	g, _ := hex.DecodeString(gh[1])
	wst, err := keydir.Verify(links, g)
	if err != nil {
		t.Fatal(err)
	}
	clipPath := redactedClip(t, dir)
	plain, err := os.ReadFile(clipPath)
	if err != nil {
		t.Fatal(err)
	}
	from := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
	sealed, err := envelope.Seal(envelope.Header{Kind: envelope.KindClip, Stream: "donation", Start: from, Epoch: uint32(wst.Epoch)},
		from.Add(80*time.Second), dn.k.Sign, plain, wst.EpochRecipient())
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Millisecond)
	cs := consent.Consent{V: 1, ID: consent.NewID(), Household: dn.hh, Device: dn.k.ID(), Workspace: ws[1],
		Purpose: consent.PurposePersonDetection, Camera: consent.CameraDigest("hall"), From: from, To: from.Add(80 * time.Second),
		Object: sha256.Sum256(sealed), Created: now, Expires: now.Add(consent.DefaultLife)}
	signed, err := consent.Sign(dn.k, cs)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dn.c.Donate(ctx, dn.hh, signed, sealed); err != nil {
		t.Fatalf("donate: %v", err)
	}
	id := cs.ID

	// The lead sees it open, the annotator nothing; the lead assigns it.
	if out := vigil(t, "workspace", "donations", "--profile", leadP); !strings.Contains(out, id+"\topen\t") {
		t.Fatalf("lead's donations:\n%s", out)
	}
	if out := vigil(t, "workspace", "donations", "--profile", annP); out != "" {
		t.Fatalf("the annotator sees donations not assigned to it:\n%s", out)
	}
	if _, errOut, code := vigilCode("workspace", "assign", "--donation", id, "--device", annKeys.ID(), "--profile", annP); code != 1 || !strings.Contains(errOut, "only a lead's device") {
		t.Fatalf("an annotator assigns: exit %d %s", code, errOut)
	}
	vigil(t, "workspace", "assign", "--donation", id, "--device", annKeys.ID(), "--profile", leadP)
	if out := vigil(t, "workspace", "donations", "--profile", annP); !strings.Contains(out, id+"\tassigned\t") {
		t.Fatalf("annotator's donations:\n%s", out)
	}

	// The annotator's device checks the consent, opens the clip and puts
	// the ground truth's boxes as its annotation, submitted for review.
	ad, err := openWorkspace(env{ctx: ctx, stdout: os.Stdout, stderr: os.Stderr}, annP, ws[1])
	if err != nil {
		t.Fatal(err)
	}
	got, err := ad.donation(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	clipSealed, err := ad.c.Clip(ctx, ws[1], id)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := checkConsent(got, clipSealed, time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, _, err := checkConsent(got, append(bytes.Clone(clipSealed), 0), time.Now()); err == nil {
		t.Fatal("a consent checks against other bytes")
	}
	opened, err := ad.openBy(clipSealed, got.DeviceKey)
	if err != nil || !bytes.Equal(opened, plain) {
		t.Fatalf("the annotator opens the clip: %v", err)
	}
	a := clipAnnotation(t, id)
	a.Annotator, a.Review = annKeys.ID(), dataset.Review{State: dataset.InReview}
	payload, err := a.Marshal(dataset.DefaultSchema())
	if err != nil {
		t.Fatal(err)
	}
	sa, err := envelope.Seal(envelope.Header{Kind: envelope.KindEvent, Stream: "annotation", Start: time.Now(), Epoch: uint32(ad.st.Epoch)},
		time.Now(), annKeys.Sign, payload, ad.st.EpochRecipient())
	if err != nil {
		t.Fatal(err)
	}
	if err := ad.c.PutAnnotation(ctx, ws[1], id, 1, sa); err != nil {
		t.Fatalf("annotate: %v", err)
	}

	// The lead reviews: a summary of the annotation; sent back once, then
	// the annotator's second version is accepted. The annotator's device
	// cannot review.
	if _, errOut, code := vigilCode("workspace", "review", "--donation", id, "--accept", "--profile", annP); code != 1 || !strings.Contains(errOut, "only a lead's device") {
		t.Fatalf("an annotator reviews: exit %d %s", code, errOut)
	}
	out = vigil(t, "workspace", "review", "--donation", id, "--send-back", "--profile", leadP)
	if !strings.Contains(out, fmt.Sprintf("annotation version 1 by %s: 768x576, %d frames", annKeys.ID(), clipFrames)) || !strings.Contains(out, "sent back to "+annKeys.ID()+" (assigned)") {
		t.Fatalf("review, sent back:\n%s", out)
	}
	if err := ad.c.PutAnnotation(ctx, ws[1], id, 2, sa); err != nil {
		t.Fatalf("annotate again: %v", err)
	}
	out = vigil(t, "workspace", "review", "--donation", id, "--accept", "--profile", revP)
	if !strings.Contains(out, "annotation version 2 by "+annKeys.ID()) || !strings.Contains(out, "accepted (accepted)") {
		t.Fatalf("review:\n%s", out)
	}
	if out := vigil(t, "workspace", "dataset", "create", "--profile", leadP); !strings.HasPrefix(out, "dataset version 1: 1 items") {
		t.Fatalf("dataset create:\n%s", out)
	}

	// Version 1 exports, validates and is scored.
	v1 := filepath.Join(dir, "v1")
	out = vigil(t, "dataset", "export", "--version", "1", "-o", v1, "--profile", leadP)
	if !strings.Contains(out, "1 items") || !strings.Contains(out, "validated") {
		t.Fatalf("export:\n%s", out)
	}
	if err := dataset.Validate(v1); err != nil {
		t.Fatal(err)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".vigil-export-*")); len(left) != 0 {
		t.Fatalf("the opened clips stay after the export: %v", left)
	}
	m1, err := dataset.ReadManifest(v1)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(signed.String()))
	clipSum := sha256.Sum256(plain)
	li := m1.Items[0].Lineage
	if len(m1.Items) != 1 || li.Donation != id || li.Consent != id || li.Household != dn.hh || li.Annotator != annKeys.ID() ||
		li.Reviewer != revKeys.ID() || li.ConsentDigest != "sha256:"+hex.EncodeToString(sum[:]) || li.ClipDigest != "sha256:"+hex.EncodeToString(clipSum[:]) {
		t.Fatalf("lineage %+v", li)
	}
	manifest1, _ := os.ReadFile(filepath.Join(v1, dataset.ManifestFile))
	// NanoDet is scored on the exported version. The heads of the people
	// are blurred in it, which costs the detector most of them; the same
	// frames unredacted, with the same boxes (the same YOLO labels as the
	// CLI's export, file for file), show that the boxes sit on the people
	// of those frames.
	donated := personScore(t, v1, filepath.Join(dir, "scores.json"))
	control := filepath.Join(dir, "control")
	ca := clipAnnotation(t, id)
	ca.Annotator, ca.Review = annKeys.ID(), dataset.Review{State: dataset.Accepted, Reviewer: revKeys.ID()}
	if err := dataset.Export(ctx, control, dataset.Version{Number: 1, Schema: dataset.DefaultSchema()},
		[]dataset.Item{{Path: filepath.Join(dir, "vtest-cut.mp4"), Annotation: ca, Lineage: m1.Items[0].Lineage}}); err == nil {
		t.Fatal("the control exported with the redacted clip's digest")
	}
	cl := m1.Items[0].Lineage
	cl.ClipDigest = ""
	if err := dataset.Export(ctx, control, dataset.Version{Number: 1, Schema: dataset.DefaultSchema()},
		[]dataset.Item{{Path: filepath.Join(dir, "vtest-cut.mp4"), Annotation: ca, Lineage: cl}}); err != nil {
		t.Fatal(err)
	}
	labels, _ := filepath.Glob(filepath.Join(v1, dataset.LabelsDir, "*.txt"))
	if len(labels) != len(m1.Items[0].Images) || len(labels) == 0 {
		t.Fatalf("%d label files for %d images", len(labels), len(m1.Items[0].Images))
	}
	for _, l := range labels {
		a, _ := os.ReadFile(l)
		b, err := os.ReadFile(filepath.Join(control, dataset.LabelsDir, filepath.Base(l)))
		if err != nil || !bytes.Equal(a, b) {
			t.Fatalf("%s differs from the control's: %v", filepath.Base(l), err)
		}
	}
	orig := personScore(t, control, filepath.Join(dir, "control.json"))
	t.Logf("person on the donated (redacted) clip: precision %.3f, recall %.3f, AP %.3f (truths %d, TP %d, FP %d)", *donated.Precision, *donated.Recall, *donated.AP, donated.Truths, donated.TP, donated.FP)
	t.Logf("person on the same frames unredacted: precision %.3f, recall %.3f, AP %.3f (truths %d, TP %d, FP %d)", *orig.Precision, *orig.Recall, *orig.AP, orig.Truths, orig.TP, orig.FP)
	if donated.Truths != clipTruths || orig.Truths != clipTruths {
		t.Fatalf("truths %d and %d, want %d", donated.Truths, orig.Truths, clipTruths)
	}
	if *orig.Recall < 0.85 || *orig.Precision < 0.75 || *orig.AP < 0.8 {
		t.Fatalf("person scores unredacted: precision %.3f recall %.3f AP %.3f, want at least 0.75, 0.85, 0.8", *orig.Precision, *orig.Recall, *orig.AP)
	}

	// The donor revokes. Version 2 lacks the donation; version 1 is marked
	// (marks.json only) and cannot be exported again.
	if out := vigil(t, "donation", "list", "--profile", dn.profile); !strings.Contains(out, id+"\taccepted\tworkspace "+ws[1]) {
		t.Fatalf("donation list:\n%s", out)
	}
	if out := vigil(t, "donation", "revoke", id, "--profile", dn.profile); !strings.Contains(out, "donation "+id+" revoked") {
		t.Fatalf("donation revoke:\n%s", out)
	}
	if out := vigil(t, "donation", "list", "--profile", dn.profile); !strings.Contains(out, id+"\trevoked\t") {
		t.Fatalf("donation list after the revocation:\n%s", out)
	}
	if out := vigil(t, "workspace", "dataset", "create", "--profile", leadP); !strings.HasPrefix(out, "dataset version 2: 0 items") {
		t.Fatalf("dataset create after the revocation:\n%s", out)
	}
	v2 := filepath.Join(dir, "v2")
	vigil(t, "dataset", "export", "--version", "2", "-o", v2, "--previous", v1, "--profile", leadP)
	m2, err := dataset.ReadManifest(v2)
	if err != nil {
		t.Fatal(err)
	}
	if len(m2.Items) != 0 || len(m2.Removed) != 1 || m2.Removed[0] != id || m2.Previous != 1 {
		t.Fatalf("version 2: items %v removed %v previous %d", m2.Items, m2.Removed, m2.Previous)
	}
	if out := vigil(t, "dataset", "mark", "-d", v1, "--profile", leadP); !strings.Contains(out, "MARKED") {
		t.Fatalf("mark:\n%s", out)
	}
	marks, err := dataset.ReadMarks(v1, m1)
	if err != nil || len(marks) != 1 || marks[0].Donation != id || marks[0].Kind != dataset.Revoked {
		t.Fatalf("marks of version 1: %+v %v", marks, err)
	}
	if again, _ := os.ReadFile(filepath.Join(v1, dataset.ManifestFile)); !bytes.Equal(again, manifest1) {
		t.Fatal("marking rewrote the manifest")
	}
	if out := vigil(t, "dataset", "mark", "-d", v1, "--profile", leadP); !strings.Contains(out, "holds 1 donations") {
		t.Fatalf("marking again:\n%s", out)
	}
	if _, errOut, code := vigilCode("dataset", "export", "--version", "1", "-o", filepath.Join(dir, "v1-again"), "--profile", leadP); code != 1 || !strings.Contains(errOut, "no longer in the workspace") {
		t.Fatalf("exporting the marked version again: exit %d %s", code, errOut)
	}
	if _, err := os.Stat(filepath.Join(dir, "v1-again")); err == nil {
		t.Fatal("a refused export left a directory")
	}

	// A device refuses a chain from another genesis than the one it was
	// given, and one that lacks the last link it verified.
	wrong := strings.Repeat("ab", 32)
	if _, errOut, code := vigilCode("workspace", "join", ws[1], "--genesis", wrong, "--cloud", lc.url, "--profile", annP); code != 1 || !strings.Contains(errOut, "does not verify from the pinned genesis") {
		t.Fatalf("join with another genesis: exit %d %s", code, errOut)
	}
	lp := profile{leadP}
	pin, err := lp.workspace(ws[1])
	if err != nil || pin.Known == nil || pin.Known.Seq != 2 {
		t.Fatalf("the lead's pin: %+v %v", pin, err)
	}
	pin.Known.Head = bytes.Repeat([]byte{7}, len(pin.Known.Head))
	if err := lp.saveWorkspace(pin); err != nil {
		t.Fatal(err)
	}
	if _, errOut, code := vigilCode("workspace", "donations", "--profile", leadP); code != 1 || !strings.Contains(errOut, "older or different chain") {
		t.Fatalf("a chain without the link the device saw: exit %d %s", code, errOut)
	}
}
