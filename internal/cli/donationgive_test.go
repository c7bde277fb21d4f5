package cli

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"vigil/internal/client"
	"vigil/internal/config"
	"vigil/internal/consent"
	"vigil/internal/dataset/datasettest"
	"vigil/internal/detect/faces/facestest"
	"vigil/internal/envelope"
	"vigil/internal/hubd"
	"vigil/internal/keydir"
	"vigil/internal/member"
	"vigil/internal/pairing"
	"vigil/internal/softcam"
	"vigil/internal/vigiltest"
)

// megamind is footage with a face in nearly every frame (opencv-doc).
const megamind = "/usr/share/doc/opencv-doc/examples/data/Megamind.avi"

// recordingHousehold pairs a hub to the donor's household (the hub's side
// and the donor device's, with the code the hub shows), records a software
// camera playing file into the cloud until n segments of camera are
// there, stops the hub and the camera, and returns the segments.
func recordingHousehold(t *testing.T, lc *labCloud, dn *donor, camera, file string, n int) []client.Object {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	h, err := profile{dn.profile}.household(dn.hh)
	if err != nil {
		t.Fatal(err)
	}
	g, _ := hex.DecodeString(h.GenesisHash)
	hubDir := t.TempDir()
	codes, hubErr := make(chan string, 1), make(chan error, 1)
	go func() {
		_, err := hubd.Pair(ctx, hubDir, hubd.PairOptions{Cloud: lc.url, Name: "garage hub", Poll: 50 * time.Millisecond,
			ShowCode: func(code string) { codes <- code }})
		hubErr <- err
	}()
	var code string
	select {
	case code = <-codes:
	case err := <-hubErr:
		t.Fatalf("hub pairing: %v", err)
	}
	pc, err := pairing.ParseCode(code)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := member.PairHub(ctx, dn.c, dn.hh, g, dn.k, pc, 50*time.Millisecond); err != nil {
		cancel()
		<-hubErr
		t.Fatalf("the member's side of pairing: %v", err)
	}
	if err := <-hubErr; err != nil {
		t.Fatalf("hub pairing: %v", err)
	}

	cam, err := softcam.New(softcam.Config{Listen: "127.0.0.1:0", File: file, Paths: []string{camera}, Logger: vigiltest.Logger(t).With("component", "softcam")})
	if err != nil {
		t.Fatal(err)
	}
	if err := cam.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer cam.Close()
	cfg := &config.Hub{Data: hubDir, SegmentDuration: config.Duration(2 * time.Second),
		Cloud:   &config.Cloud{URL: lc.url, UploadOrder: config.UploadOldest},
		Cameras: []config.Camera{{Name: camera, URL: cam.URL(camera), Transport: "tcp"}}}
	cfg.ApplyDefaults()
	hub, err := hubd.New(cfg, hubd.Options{Logger: vigiltest.Logger(t).With("component", "hub"), MinBackoff: 100 * time.Millisecond,
		MaxBackoff: time.Second, UploadMinBackoff: 100 * time.Millisecond, UploadMaxBackoff: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := hub.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer hub.Close()
	for {
		objs, err := dn.c.Objects(ctx, dn.hh, camera, time.Time{}, time.Time{})
		if err == nil && len(objs) >= n {
			return objs
		}
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for %d segments of %s in the cloud: have %d (%v)", n, camera, len(objs), err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// TestDonationGive donates a range of a camera filming faces
// (Megamind.avi) from the member's computer with 'vigil donation give':
// the range comes from the cloud, opened with the device's keys, is
// blurred here, and what it shows before the question names the purpose,
// the scope, the expiry and the workspace's devices. Answering "n" sends
// nothing. With --yes the cloud lists the donation; its consent verifies
// against the household's chain for the sealed bytes the cloud stores; the
// workspace's lead opens the sealed clip ("donation", sequence 0, the
// workspace's epoch, signed by the donor device) into the very preview the
// member watched, in which pigo finds no face while it finds faces in the
// same range exported unblurred. No opened clip is left in the temporary
// directory, after a donation or after Ctrl-C while the clip is blurred
// (which sends nothing). A workspace the cloud does not list, a range with nothing
// recorded and a workspace whose listed genesis differs from the one the
// device pinned are refused.
func TestDonationGive(t *testing.T) {
	vigiltest.RequireTool(t, "ffmpeg", "ffprobe")
	if _, err := os.Stat(filepath.Join(datasettest.Root(t), "models", "node_modules")); err != nil {
		t.Skip("the NanoDet model is not installed (make models)")
	}
	if _, err := os.Stat(megamind); err != nil {
		t.Fatalf("test footage missing: %v (install it with: apt-get install opencv-doc)", err)
	}
	tmpRoot := t.TempDir()
	t.Setenv("TMPDIR", tmpRoot)
	ctx := context.Background()
	lc := startLabCloud(t)
	dir := t.TempDir()
	dn := newDonor(t, lc, filepath.Join(dir, "donor"))

	// The workspace: a lead's device makes it, the operator registers
	// it, the lead adds an annotator's device.
	leadP, annP := filepath.Join(dir, "lead"), filepath.Join(dir, "annotator")
	genesisFile := filepath.Join(dir, "genesis.txt")
	out := vigil(t, "workspace", "create", "--name", "Person detection", "-o", genesisFile, "--cloud", lc.url, "--profile", leadP, "--device-name", "lead")
	m := regexp.MustCompile(`workspace (h[a-z2-7]{26}) `).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("workspace create:\n%s", out)
	}
	ws := m[1]
	vigil(t, "cloud", "workspace", "add", "--config", lc.config, "--genesis", genesisFile)
	annID := strings.TrimSpace(vigil(t, "device", "id", "--profile", annP))
	vigil(t, "workspace", "add-device", "--device", annID, "--name", "annotator one", "--profile", leadP)
	leadKeys, _, _ := profile{leadP}.deviceKeys()
	annKeys, _, _ := profile{annP}.deviceKeys()

	segs := recordingHousehold(t, lc, dn, "front", megamind, 3)
	// One whole segment: the range lies inside the second one.
	seg := segs[1]
	from := seg.Start.Add(200 * time.Millisecond).UTC().Format(time.RFC3339Nano)
	to := seg.Start.Add(700 * time.Millisecond).UTC().Format(time.RFC3339Nano)
	give := func(stdin string, extra ...string) (string, string, int) {
		args := append([]string{"donation", "give", "--camera", "front", "--from", from, "--to", to, "--workspace", ws, "--profile", dn.profile}, extra...)
		var o, e bytes.Buffer
		code := run(ctx, args, strings.NewReader(stdin), &o, &e)
		return o.String(), e.String(), code
	}

	// Refused before anything is opened: a workspace the cloud does not
	// list, and a range with nothing recorded.
	other := "h" + strings.Repeat("a", 26)
	if _, errOut, code := vigilCode("donation", "give", "--camera", "front", "--from", from, "--to", to, "--workspace", other, "--yes", "--profile", dn.profile); code != 1 ||
		!strings.Contains(errOut, "no labelling workspace "+other) || !strings.Contains(errOut, ws+" (Person detection)") {
		t.Fatalf("an unknown workspace: exit %d %s", code, errOut)
	}
	early := seg.Start.Add(-time.Hour)
	if _, errOut, code := vigilCode("donation", "give", "--camera", "front", "--from", early.Format(time.RFC3339), "--to", early.Add(time.Minute).Format(time.RFC3339),
		"--workspace", ws, "--yes", "--profile", dn.profile); code != 1 || !strings.Contains(errOut, `nothing of camera "front" is stored`) {
		t.Fatalf("a range with no recordings: exit %d %s", code, errOut)
	}

	// Answering "n" sends nothing; what the member was shown.
	previewN := filepath.Join(dir, "preview-n.mp4")
	out, errOut, code := give("n\n", "--preview", previewN)
	if code != 0 || !strings.Contains(out, "not donated") || !strings.Contains(errOut, "Donate this clip? [y/N]") {
		t.Fatalf("answering n: exit %d\n%s%s", code, out, errOut)
	}
	for _, want := range []string{"purpose: better person detection (" + consent.PurposePersonDetection + ")", "scope: camera front, ",
		"expires: " + time.Now().Add(consent.DefaultLife).UTC().Format("2006-01-02"), "workspace: Person detection (" + ws + "); only its 2 devices",
		leadKeys.ID() + "\tlead\tlead", annKeys.ID() + "\tannotator one\tannotator", "sound dropped", "preview: " + previewN} {
		if !strings.Contains(out, want) {
			t.Errorf("what the member is shown lacks %q:\n%s", want, out)
		}
	}
	if ds, err := dn.c.Donations(ctx, dn.hh); err != nil || len(ds) != 0 {
		t.Fatalf("after answering n the cloud lists %+v (%v)", ds, err)
	}
	if _, err := os.Stat(previewN); err != nil {
		t.Fatalf("the preview: %v", err)
	}

	// Ctrl-C (SIGINT to this process) while the clip is blurred: the
	// opened clip is removed and nothing is sent, though --yes was given.
	type result struct {
		out, errOut string
		code        int
	}
	done := make(chan result, 1)
	go func() {
		o, e, c := give("", "--yes")
		done <- result{o, e, c}
	}()
	for blurring := false; !blurring; {
		select {
		case r := <-done:
			t.Fatalf("give ended before it was interrupted: exit %d\n%s%s", r.code, r.out, r.errOut)
		case <-time.After(50 * time.Millisecond):
		}
		clips, _ := filepath.Glob(filepath.Join(tmpRoot, "vigil-donate-*", "clip.mp4"))
		files, _ := filepath.Glob(filepath.Join(tmpRoot, "vigil-donate-*", "*"))
		blurring = len(clips) == 1 && len(files) >= 2
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	r := <-done
	if !strings.Contains(r.errOut, "stopped: nothing was donated") || strings.Contains(r.out, "donated:") {
		t.Fatalf("interrupted: exit %d\n%s%s", r.code, r.out, r.errOut)
	}
	if left, _ := os.ReadDir(tmpRoot); len(left) != 0 {
		t.Fatalf("left in the temporary directory after Ctrl-C: %v", left)
	}
	if ds, err := dn.c.Donations(ctx, dn.hh); err != nil || len(ds) != 0 {
		t.Fatalf("after Ctrl-C the cloud lists %+v (%v)", ds, err)
	}

	// --yes donates.
	preview := filepath.Join(dir, "preview.mp4")
	out, errOut, code = give("", "--yes", "--preview", preview)
	if code != 0 || strings.Contains(errOut, "Donate this clip?") {
		t.Fatalf("give --yes: exit %d\n%s%s", code, out, errOut)
	}
	t.Logf("give --yes:\n%s", out)
	m = regexp.MustCompile(`donated: ([a-z2-7]{26}) \(open\)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no donation ID in:\n%s", out)
	}
	id := m[1]
	if left, _ := os.ReadDir(tmpRoot); len(left) != 0 {
		t.Errorf("left in the temporary directory: %v", left)
	}
	ds, err := dn.c.Donations(ctx, dn.hh)
	if err != nil || len(ds) != 1 || ds[0].ID != id || ds[0].Workspace != ws || ds[0].State != "open" || ds[0].Purpose != consent.PurposePersonDetection {
		t.Fatalf("the cloud's donations: %+v %v", ds, err)
	}
	leadC := workspaceClient(&pinnedWorkspace{Cloud: lc.url}, leadKeys)
	sealed, err := leadC.Clip(ctx, ws, id)
	if err != nil {
		t.Fatal(err)
	}
	h, _ := profile{dn.profile}.household(dn.hh)
	g, _ := hex.DecodeString(h.GenesisHash)
	hst, err := member.VerifiedChain(ctx, dn.c, dn.hh, g)
	if err != nil {
		t.Fatal(err)
	}
	signed, err := consent.ParseSigned(ds[0].Consent)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := consent.Verify(signed, hst, time.Now(), sha256.Sum256(sealed))
	if err != nil {
		t.Fatalf("the consent does not verify against the household's chain for the stored bytes: %v", err)
	}
	if cs.ID != id || cs.Device != dn.k.ID() || cs.Workspace != ws || cs.Camera != consent.CameraDigest("front") || cs.Audio ||
		cs.From.After(seg.Start.Add(200*time.Millisecond)) || cs.To.Before(seg.Start.Add(700*time.Millisecond)) || cs.Expires.Sub(cs.Created) != consent.DefaultLife {
		t.Errorf("the consent: %+v (segment %v..%v)", cs, seg.Start, seg.End)
	}
	if _, err := consent.Verify(signed, hst, time.Now(), sha256.Sum256(append(bytes.Clone(sealed), 0))); err == nil {
		t.Error("the consent verifies for other bytes")
	}

	// The lead opens it: the preview the member watched, byte for byte.
	links, _, err := leadC.WorkspaceChain(ctx, ws)
	if err != nil {
		t.Fatal(err)
	}
	lw, _ := profile{leadP}.workspace(ws)
	lg, _ := hex.DecodeString(lw.GenesisHash)
	wst, err := keydir.Verify(links, lg)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := wst.EpochIdentities(leadKeys)
	if err != nil {
		t.Fatal(err)
	}
	hdr, _, plain, err := envelope.Open(sealed, envelope.TrustedKeys{hst.Devices[dn.k.ID()].SignPub}, ids...)
	if err != nil {
		t.Fatalf("the lead opens the clip: %v", err)
	}
	if hdr.Kind != envelope.KindClip || hdr.Stream != "donation" || hdr.Sequence != 0 || hdr.Epoch != uint32(wst.Epoch) {
		t.Errorf("the sealed clip's header: %+v", hdr)
	}
	if pv, err := os.ReadFile(preview); err != nil || !bytes.Equal(pv, plain) {
		t.Fatalf("the donated clip is not the preview (%v)", err)
	}
	orig := filepath.Join(dir, "orig.mp4")
	vigil(t, "recordings", "export", "--cloud", lc.url, "--camera", "front", "--from", from, "--to", to, "-o", orig, "--profile", dn.profile)
	donated := filepath.Join(dir, "donated.mp4")
	if err := os.WriteFile(donated, plain, 0o600); err != nil {
		t.Fatal(err)
	}
	before, after := facestest.Frames(t, orig), facestest.Frames(t, donated)
	t.Logf("pigo finds a face in %d frames of the exported range and in %d of the donated clip", before, after)
	if before == 0 || after != 0 {
		t.Errorf("faces in %d frames of the export and %d of the donation, want some and none", before, after)
	}

	// A workspace whose listed genesis is not the one the device pinned
	// when it first donated to it is refused.
	pin := filepath.Join(dn.profile, "labelling", ws+".json")
	b, err := os.ReadFile(pin)
	if err != nil {
		t.Fatalf("the donor's pin of the workspace: %v", err)
	}
	if err := os.WriteFile(pin, []byte(strings.Replace(string(b), lw.GenesisHash, strings.Repeat("ab", 32), 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, errOut, code := give("", "--yes"); code != 1 || !strings.Contains(errOut, "this device pinned "+strings.Repeat("ab", 32)) {
		t.Fatalf("a workspace with another genesis: exit %d %s", code, errOut)
	}
	if ds, _ := dn.c.Donations(ctx, dn.hh); len(ds) != 1 {
		t.Fatalf("the cloud lists %d donations", len(ds))
	}
}
