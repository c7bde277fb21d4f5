package cli

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"time"

	"vigil/internal/client"
	"vigil/internal/cloudapi"
	"vigil/internal/consent"
	"vigil/internal/detect/nanodet"
	"vigil/internal/envelope"
	"vigil/internal/keydir"
	"vigil/internal/recordings"
	redaction "vigil/internal/redact"
)

// vigil donation give: a member's computer donates a range of a camera to
// a labelling workspace without the clip crossing the household's network
// again (docs/ARCHITECTURE.md, "Donations and the labelling workspace",
// the third place): this device exports the range from the cloud with its
// own keys, redacts it with internal/redact (the code the hub runs for the
// web app), shows what it will give and to whom, and only after the
// member says yes seals the redacted clip to the workspace's current epoch
// key, signs the consent over the sealed bytes and uploads both. The
// opened and the redacted clip live in a private temporary directory that
// is removed before the question is asked; only the sealed clip is kept,
// in memory, until it is sent or dropped.

// canonTime is how the scope is shown: as the consent holds it, to the
// millisecond.
const canonTime = "2006-01-02T15:04:05.000Z07:00"

// maxDonationSpan bounds the range one donation covers (the web app's
// bound too).
const maxDonationSpan = 10 * time.Minute

var workspaceIDRE = regexp.MustCompile(`^h[a-z2-7]{26}$`)

// purposeNames maps --purpose's words to the consent's purposes.
var purposeNames = map[string]string{
	"person-detection":             consent.PurposePersonDetection,
	"object-detection":             consent.PurposeObjectDetection,
	consent.PurposePersonDetection: consent.PurposePersonDetection,
	consent.PurposeObjectDetection: consent.PurposeObjectDetection,
}

// purposeWords are the purposes as a member reads them (the web app's).
var purposeWords = map[string]string{
	consent.PurposePersonDetection: "better person detection",
	consent.PurposeObjectDetection: "better detection of vehicles, animals and parcels",
}

const donationGiveSynopsis = `--camera NAME --from T --to T --workspace ID [--purpose person-detection|object-detection] [--keep-audio] [--preview FILE] [--yes] [--household ID] [--profile DIR]

Donates a range of a camera to a labelling workspace from this computer:
the range is exported from the cloud and opened with this device's keys,
faces and the heads of people are blurred here (as 'vigil redact' does),
and after you approve, the blurred clip is sealed so that only the
workspace's devices open it, with a consent this device signs. Nothing
is sent before you answer yes. Take it back with 'vigil donation revoke'.`

func donationGive(e env, args []string) (err error) {
	fs := newFlags(e, "donation give", donationGiveSynopsis)
	cam := fs.String("camera", "", "the camera whose recording to donate")
	from := fs.String("from", "", "start of the range (RFC 3339)")
	to := fs.String("to", "", "end of the range (RFC 3339); at most 10 minutes after --from")
	wsID := fs.String("workspace", "", "the labelling workspace to donate to (its ID, h…)")
	purpose := fs.String("purpose", "person-detection", "what the clip is for: person-detection or object-detection")
	keepAudio := fs.Bool("keep-audio", false, "keep the clip's sound (dropped by default)")
	preview := fs.String("preview", "", "also write the blurred clip here, to watch before answering (MP4; must not exist)")
	yes := fs.Bool("yes", false, "donate without asking")
	hhID := fs.String("household", "", "household (default: the only one this device knows)")
	models := fs.String("models", "", "directory of the person detector's model (default: the one 'make models' installs, or $VIGIL_MODELS)")
	dir := profileFlag(fs)
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	switch {
	case *cam == "":
		return fmt.Errorf("%w: --camera NAME is required", ErrUsage)
	case *from == "" || *to == "":
		return fmt.Errorf("%w: --from and --to are required (RFC 3339); 'vigil recordings list --cloud URL' shows what is stored", ErrUsage)
	case *wsID == "":
		return fmt.Errorf("%w: --workspace ID is required (the labelling workspace to donate to)", ErrUsage)
	case !workspaceIDRE.MatchString(*wsID):
		return fmt.Errorf("%w: --workspace %q is not a workspace ID (h and 26 letters a-z and digits 2-7)", ErrUsage, *wsID)
	}
	pur, ok := purposeNames[*purpose]
	if !ok {
		return fmt.Errorf("%w: --purpose is person-detection or object-detection", ErrUsage)
	}
	f, err := filter(*cam, *from, *to)
	if err != nil {
		return err
	}
	switch {
	case !f.To.After(f.From):
		return fmt.Errorf("%w: --to must be after --from", ErrUsage)
	case f.To.Sub(f.From) > maxDonationSpan:
		return fmt.Errorf("%w: a donation is at most %s: choose a shorter range", ErrUsage, maxDonationSpan)
	}
	if *preview != "" {
		if _, err := os.Lstat(*preview); err == nil {
			return fmt.Errorf("--preview %s exists: choose another name", *preview)
		}
	}

	// Ctrl-C while the clip is opened, blurred or sealed stops the work
	// and removes the temporary directory (the deferred RemoveAll).
	ctx, stop := signal.NotifyContext(e.ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	stopped := false // by stop() below, not by a signal
	defer func() {
		if err != nil && !stopped && ctx.Err() != nil && e.ctx.Err() == nil {
			fmt.Fprintln(e.stderr, "stopped: nothing was donated, and the opened clip is removed")
		}
	}()
	p := profile{*dir}
	c, h, k, err := p.member(*hhID)
	if err != nil {
		return err
	}

	// The workspace first: nothing is opened for one that does not verify.
	w, st, err := p.donorWorkspace(ctx, c, *wsID)
	if err != nil {
		return err
	}
	if !slices.Contains(w.purposes, pur) {
		return fmt.Errorf("workspace %s (%s) does not take donations for %s (it takes: %s)", w.WorkspaceID, w.Name, pur, strings.Join(w.purposes, ", "))
	}
	persons, err := loadPersons(*models)
	if err != nil {
		return err
	}
	defer persons.Close()

	tmp, err := os.MkdirTemp("", "vigil-donate-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	clip := filepath.Join(tmp, "clip.mp4")
	x, err := cloudExportFile(ctx, e, c, h, *dir, f, clip)
	if errors.Is(err, recordings.ErrNothing) {
		return fmt.Errorf("nothing of camera %q is stored in the cloud between %s and %s (hint: 'vigil recordings list --cloud URL --camera %s' shows what is)",
			f.Camera, f.From.UTC().Format(time.RFC3339), f.To.UTC().Format(time.RFC3339), f.Camera)
	}
	if err != nil {
		return err
	}
	redacted := filepath.Join(tmp, "redacted.mp4")
	rep, err := redactForDonation(ctx, e, persons, clip, redacted, *keepAudio)
	if err != nil {
		return err
	}
	plain, err := os.ReadFile(redacted)
	if err != nil {
		return err
	}
	if *preview != "" {
		if err := writeNew(*preview, plain); err != nil {
			return fmt.Errorf("--preview: %w", err)
		}
	}
	if err := os.RemoveAll(tmp); err != nil {
		return err
	}

	// The scope is what the clip covers: whole segments, from the first
	// one's start.
	start := x.Start.UTC().Truncate(time.Millisecond)
	end := x.Start.Add(x.Stats.Duration).UTC().Add(time.Millisecond - 1).Truncate(time.Millisecond)
	if !end.After(start) {
		end = start.Add(time.Millisecond)
	}
	sealed, err := envelope.Seal(envelope.Header{Kind: envelope.KindClip, Stream: "donation", Start: start, Epoch: uint32(st.Epoch)},
		end, k.Sign, plain, st.EpochRecipient())
	clear(plain)
	if err != nil {
		return err
	}

	sound := "sound dropped"
	if rep.Audio {
		sound = "sound kept"
	}
	fmt.Fprintf(e.stdout, "blurred: %d frames (%dx%d), a face found in %d, blurring in %d; %d face and %d head boxes; %s\n",
		rep.Frames, rep.Width, rep.Height, rep.FaceFrames, rep.BlurredFrames, rep.FaceBoxes, rep.HeadBoxes, sound)
	if *preview != "" {
		fmt.Fprintf(e.stdout, "preview: %s (the blurred clip, exactly as it would be given)\n", *preview)
	}
	fmt.Fprintf(e.stdout, "purpose: %s (%s)\n", purposeWords[pur], pur)
	fmt.Fprintf(e.stdout, "scope: camera %s, %s to %s (%s)\n", f.Camera, start.Format(canonTime), end.Format(canonTime), end.Sub(start).Round(time.Millisecond))
	fmt.Fprintf(e.stdout, "expires: %s (in %d days; revoke it any time with 'vigil donation revoke ID')\n",
		time.Now().Add(consent.DefaultLife).UTC().Format("2006-01-02"), consent.DefaultLife/(24*time.Hour))
	devs := workspaceDevices(st)
	fmt.Fprintf(e.stdout, "workspace: %s (%s); only its %d devices open the clip (its chain is checked against the public log):\n", w.Name, w.WorkspaceID, len(devs))
	for _, d := range devs {
		fmt.Fprintf(e.stdout, "  %s\t%s\t%s\n", d.ID, d.Name, map[bool]string{true: "lead", false: "annotator"}[d.Role == keydir.RoleAdmin])
	}
	// Nothing of the clip is on disk any more (but the preview asked
	// for): from here Ctrl-C ends the command as it would any other.
	stopped = true
	stop()
	if !*yes {
		ok, err := confirm(e, "Donate this clip? [y/N] ")
		if err != nil {
			return err
		}
		if !ok {
			fmt.Fprintln(e.stdout, "not donated")
			return nil
		}
	}

	now := time.Now().UTC().Truncate(time.Millisecond)
	cs := consent.Consent{V: consent.Version, ID: consent.NewID(), Household: h.HouseholdID, Device: k.ID(), Workspace: w.WorkspaceID,
		Purpose: pur, Camera: consent.CameraDigest(f.Camera), From: start, To: end, Object: sha256.Sum256(sealed),
		Audio: rep.Audio, Created: now, Expires: now.Add(consent.DefaultLife)}
	signed, err := consent.Sign(k, cs)
	if err != nil {
		return err
	}
	d, err := c.Donate(e.ctx, h.HouseholdID, signed, sealed)
	if err != nil {
		return fmt.Errorf("the cloud refused the donation: %w", err)
	}
	fmt.Fprintf(e.stdout, "donated: %s (%s), %d sealed bytes; take it back with 'vigil donation revoke %s'\n", d.ID, d.State, len(sealed), d.ID)
	return nil
}

// donorWorkspace is a workspace as a donor sees it: listed by the cloud,
// pinned in this profile (labelling/WS.json) the first time this device
// donates to it, and its chain verified from that genesis, past the last
// link seen, with its head in the transparency log.
type donorWorkspace struct {
	pinnedWorkspace
	purposes []string
}

func (p profile) donorWorkspace(ctx context.Context, c *client.Client, id string) (*donorWorkspace, *keydir.State, error) {
	list, err := c.LabellingWorkspaces(ctx)
	if err != nil {
		return nil, nil, err
	}
	i := slices.IndexFunc(list, func(w cloudapi.LabellingWorkspace) bool { return w.ID == id })
	if i < 0 {
		var ids []string
		for _, w := range list {
			ids = append(ids, w.ID+" ("+w.Name+")")
		}
		if len(ids) == 0 {
			return nil, nil, fmt.Errorf("no labelling workspace %s on %s: it takes no donations (none does)", id, c.BaseURL)
		}
		return nil, nil, fmt.Errorf("no labelling workspace %s on %s takes donations; these do: %s", id, c.BaseURL, strings.Join(ids, ", "))
	}
	info := list[i]
	listed := hex.EncodeToString(info.GenesisHash)
	pinPath := filepath.Join("labelling", id+".json")
	w := &donorWorkspace{purposes: info.Purposes}
	err = p.loadJSON(pinPath, &w.pinnedWorkspace)
	switch {
	case errors.Is(err, os.ErrNotExist):
		w.pinnedWorkspace = pinnedWorkspace{WorkspaceID: id, Name: info.Name, GenesisHash: listed, Cloud: c.BaseURL}
	case err != nil:
		return nil, nil, err
	case w.GenesisHash != listed:
		return nil, nil, fmt.Errorf("the cloud lists workspace %s with genesis %s, but this device pinned %s when it first donated to it: not donating", id, listed, w.GenesisHash)
	}
	fetch := func(ctx context.Context) ([][]byte, []int64, error) { return c.DonorWorkspaceChain(ctx, id) }
	save := func(pw *pinnedWorkspace) error { return p.saveJSON(pinPath, pw) }
	st, err := p.loggedWorkspace(ctx, c, &w.pinnedWorkspace, fetch, save)
	if err != nil {
		return nil, nil, fmt.Errorf("workspace %s does not check out, so nothing is donated to it: %w", id, err)
	}
	w.Name = st.Name
	return w, st, nil
}

// workspaceDevices are the devices a workspace's chain names, sorted by
// ID: the ones its epoch key is wrapped to.
func workspaceDevices(st *keydir.State) []keydir.DeviceKey {
	var ds []keydir.DeviceKey
	for _, d := range st.Devices {
		if d.Role != keydir.RoleHub {
			ds = append(ds, d)
		}
	}
	slices.SortFunc(ds, func(a, b keydir.DeviceKey) int { return strings.Compare(a.ID, b.ID) })
	return ds
}

// redactForDonation blurs in into out with internal/redact, as the hub
// does for the web app; progress goes to stderr when it is a terminal.
func redactForDonation(ctx context.Context, e env, persons *nanodet.Model, in, out string, keepAudio bool) (redaction.Report, error) {
	began := time.Now()
	last := began
	tty := isTerminal(e.stderr)
	rep, err := redaction.Clip(ctx, in, out, redaction.Options{Persons: persons, KeepAudio: keepAudio,
		Progress: func(p redaction.Progress) {
			if now := time.Now(); tty && now.Sub(last) >= time.Second {
				last = now
				printProgress(e, p, now.Sub(began))
			}
		}})
	if err != nil {
		return rep, fmt.Errorf("blurring the clip: %w", err)
	}
	return rep, nil
}

// confirm asks question on stderr and reads one line of e.stdin: true
// for y or yes (any case), false for anything else or no answer.
func confirm(e env, question string) (bool, error) {
	fmt.Fprint(e.stderr, question)
	in := e.stdin
	if in == nil {
		in = os.Stdin
	}
	line, err := bufio.NewReader(in).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return false, err
	}
	a := strings.ToLower(strings.TrimSpace(line))
	return a == "y" || a == "yes", nil
}

// writeNew writes b to a new file at path (0600), never over an existing
// one.
func writeNew(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
	}
	return err
}
