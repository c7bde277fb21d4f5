package cli

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"vigil/internal/client"
	"vigil/internal/consent"
	"vigil/internal/dataset"
	"vigil/internal/envelope"
	"vigil/internal/keydir"
	"vigil/internal/member"
)

// The labelling workspace from a lead's or an annotator's device (docs/
// ARCHITECTURE.md, "Donations and the labelling workspace"). A workspace
// is a household-shaped group: its chain is in the household chain's
// format, its admin devices are the leads (who add devices, assign,
// review and make dataset versions), its member devices the annotators.
// The device signs every request with its own key; it pins the
// workspace's genesis in its profile (workspaces/WS.json) and verifies
// the chain from it, past the last link it saw, with the head proved in
// the transparency log.

type pinnedWorkspace struct {
	WorkspaceID string        `json:"workspace_id"`
	Name        string        `json:"name"`
	GenesisHash string        `json:"genesis_hash"`
	Cloud       string        `json:"cloud"`
	Known       *member.Known `json:"known,omitempty"`
}

func (p profile) saveWorkspace(w *pinnedWorkspace) error {
	return p.saveJSON(filepath.Join("workspaces", w.WorkspaceID+".json"), w)
}

// workspace returns the workspace id this device pinned (the only one
// when id is "").
func (p profile) workspace(id string) (*pinnedWorkspace, error) {
	if id == "" {
		ids := p.workspaceIDs()
		switch len(ids) {
		case 0:
			return nil, errors.New("this device is in no workspace (hint: 'vigil workspace create --name NAME -o genesis.txt', or 'vigil workspace join WS --genesis HEX --cloud URL')")
		case 1:
			id = ids[0]
		default:
			return nil, fmt.Errorf("%w: this device is in several workspaces (%s): pick one with --workspace WS", ErrUsage, strings.Join(ids, ", "))
		}
	}
	if strings.ContainsAny(id, `/\.`) || id == "" {
		return nil, fmt.Errorf("%w: %q is not a workspace ID", ErrUsage, id)
	}
	var w pinnedWorkspace
	err := p.loadJSON(filepath.Join("workspaces", id+".json"), &w)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("this device has not pinned workspace %s (hint: 'vigil workspace list'; a lead gives you its genesis for 'vigil workspace join')", id)
	}
	if err != nil {
		return nil, err
	}
	return &w, nil
}

func (p profile) workspaceIDs() []string {
	entries, _ := os.ReadDir(filepath.Join(p.dir, "workspaces"))
	var ids []string
	for _, e := range entries {
		if n, ok := strings.CutSuffix(e.Name(), ".json"); ok {
			ids = append(ids, n)
		}
	}
	return ids
}

// workspaceClient is a client that signs as this device.
func workspaceClient(w *pinnedWorkspace, k *keydir.DeviceKeys) *client.Client {
	c := client.New(w.Cloud)
	c.DeviceID, c.DeviceKey = k.ID(), k.Sign
	return c
}

// workspaceLogWait bounds the wait for a new head to reach the log.
const workspaceLogWait = 30 * time.Second

// verifiedWorkspace fetches the workspace's chain and verifies it from the
// pinned genesis and past the last link this device saw, proves its head
// is in the transparency log, and remembers the new head.
func (p profile) verifiedWorkspace(ctx context.Context, c *client.Client, w *pinnedWorkspace) (*keydir.State, error) {
	fetch := func(ctx context.Context) ([][]byte, []int64, error) {
		links, idx, err := c.WorkspaceChain(ctx, w.WorkspaceID)
		if client.IsStatus(err, 404) {
			return nil, nil, fmt.Errorf("the cloud does not let this device (%s) into workspace %s: it is not registered yet (hint: the operator runs 'vigil cloud workspace add'), or this device is not in its chain (hint: a lead runs 'vigil workspace add-device')", c.DeviceID, w.WorkspaceID)
		}
		return links, idx, err
	}
	return p.loggedWorkspace(ctx, c, w, fetch, p.saveWorkspace)
}

// loggedWorkspace verifies the workspace chain fetch reads with the one
// verifier of chains (member.VerifiedLoggedChain): from w's genesis, past
// the last link w names, its head proven in the transparency log this
// device pinned; it then remembers the new head with save.
func (p profile) loggedWorkspace(ctx context.Context, c *client.Client, w *pinnedWorkspace, fetch member.Fetch, save func(*pinnedWorkspace) error) (*keydir.State, error) {
	g, err := hex.DecodeString(w.GenesisHash)
	if err != nil {
		return nil, fmt.Errorf("pinned genesis of workspace %s is not hex", w.WorkspaceID)
	}
	lc, saveLog, err := p.logClient(ctx, c, nil)
	if err != nil {
		return nil, err
	}
	st, err := member.VerifiedLoggedChain(ctx, "workspace", fetch, w.WorkspaceID, g, w.Known, member.WithLog(lc), member.WithWait(workspaceLogWait))
	if err != nil {
		return nil, err
	}
	if err := saveLog(); err != nil {
		return nil, err
	}
	if w.Known == nil || st.Seq > w.Known.Seq {
		w.Known = &member.Known{Seq: st.Seq, Head: st.Head}
		if err := save(w); err != nil {
			return nil, err
		}
	}
	return st, nil
}

// workspaceFlags are the flags every workspace command shares.
type workspaceFlags struct {
	ws *string
}

func addWorkspaceFlags(fs interface {
	String(name, value, usage string) *string
}) workspaceFlags {
	return workspaceFlags{
		ws: fs.String("workspace", "", "the workspace's ID (default: the only one this device is in)"),
	}
}

// wsDevice is what a workspace command works with: this device's keys,
// the pinned workspace, a client signing as this device and the verified
// chain.
type wsDevice struct {
	p  profile
	k  *keydir.DeviceKeys
	w  *pinnedWorkspace
	c  *client.Client
	st *keydir.State
}

func openWorkspace(e env, dir, ws string) (*wsDevice, error) {
	p := profile{dir}
	w, err := p.workspace(ws)
	if err != nil {
		return nil, err
	}
	k, _, err := p.deviceKeys()
	if err != nil {
		return nil, err
	}
	c := workspaceClient(w, k)
	st, err := p.verifiedWorkspace(e.ctx, c, w)
	if err != nil {
		return nil, err
	}
	if _, ok := st.Devices[k.ID()]; !ok {
		return nil, fmt.Errorf("this device (%s) is not in workspace %s's chain (hint: a lead runs 'vigil workspace add-device --device IDENTITY' with what 'vigil device id' prints here)", k.ID(), w.WorkspaceID)
	}
	return &wsDevice{p: p, k: k, w: w, c: c, st: st}, nil
}

// lead refuses unless this device is an admin device of the workspace.
func (d *wsDevice) lead(what string) error {
	if dk := d.st.Devices[d.k.ID()]; dk.Role != keydir.RoleAdmin {
		return fmt.Errorf("only a lead's device (an admin device of workspace %s) can %s, and this device (%s) is an annotator's", d.w.WorkspaceID, what, d.k.ID())
	}
	return nil
}

const workspaceSynopsis = `create --name NAME -o FILE [--cloud URL] [--device-name NAME]
       vigil workspace join WS --genesis HEX --cloud URL
       vigil workspace list
       vigil workspace add-device --device IDENTITY [--name NAME] [--lead] [--workspace WS]
       vigil workspace assign --donation ID --device ID [--workspace WS]
       vigil workspace donations [--workspace WS]
       vigil workspace review --donation ID --accept|--send-back [--workspace WS]
       vigil workspace dataset create|list [--workspace WS]

Each takes --profile DIR: this device's profile (keys, pinned workspaces).
A lead's device (an admin of the workspace's chain) adds devices, assigns,
reviews and makes dataset versions; an annotator's device sees only the
donations assigned to it.`

func runWorkspace(e env) error {
	return runSubcommand(e, "workspace", workspaceSynopsis, workspaceSubs())
}

// workspaceSubs is the table of vigil workspace's subcommands; its help lists them from it.
func workspaceSubs() []subcommand {
	return []subcommand{
		{"create", workspaceCreate, nil}, {"join", workspaceJoin, nil}, {"list", workspaceList, nil},
		{"add-device", workspaceAddDevice, nil}, {"assign", workspaceAssign, nil}, {"donations", workspaceDonations, nil},
		{"review", workspaceReview, nil}, {"dataset", workspaceDataset, workspaceDatasetSubs}}
}

// workspaceCreate makes a workspace's genesis link with this device as its
// first lead and writes it (base64, one line) for the operator to register
// with 'vigil cloud workspace add'. Nothing is sent.
func workspaceCreate(e env, args []string) error {
	fs := newFlags(e, "workspace create", "--name NAME -o FILE [--cloud URL] [--device-name NAME] [--profile DIR]")
	name := fs.String("name", "", "the workspace's name, e.g. \"Person detection\"")
	out := fs.String("o", "", "write the genesis link here, for the operator's 'vigil cloud workspace add --genesis FILE'")
	cloudURL := fs.String("cloud", "", "the cloud the workspace lives on (default: the one this device is signed in to)")
	devName := fs.String("device-name", "", "this device's name in the workspace (default: the host name)")
	dir := profileFlag(fs)
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	if *name == "" || *out == "" {
		return fmt.Errorf("%w: --name and -o are required", ErrUsage)
	}
	p := profile{*dir}
	if *cloudURL == "" {
		s, err := p.session()
		if err != nil {
			return fmt.Errorf("%w: --cloud URL is required (this device is not signed in to a cloud)", ErrUsage)
		}
		*cloudURL = s.Cloud
	}
	if *devName == "" {
		*devName, _ = os.Hostname()
	}
	k, _, err := p.deviceKeys()
	if err != nil {
		return err
	}
	genesis, _, st, err := keydir.NewHousehold(*name, k, *devName, time.Now())
	if err != nil {
		return fmt.Errorf("%w: %v", ErrUsage, err)
	}
	if err := os.WriteFile(*out, []byte(base64.StdEncoding.EncodeToString(genesis)+"\n"), 0o644); err != nil {
		return err
	}
	w := pinnedWorkspace{WorkspaceID: st.HouseholdID, Name: *name, GenesisHash: hex.EncodeToString(st.GenesisHash), Cloud: strings.TrimRight(*cloudURL, "/")}
	if err := p.saveWorkspace(&w); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "workspace %s (%s) made; this device is its first lead.\n", st.HouseholdID, *name)
	fmt.Fprintf(e.stdout, "genesis %s\n", w.GenesisHash)
	fmt.Fprintf(e.stdout, "the operator registers it with: vigil cloud workspace add --config FILE --genesis %s\n", *out)
	return nil
}

// workspaceJoin pins a workspace a lead added this device to.
func workspaceJoin(e env, args []string) error {
	fs := newFlags(e, "workspace join", "WS --genesis HEX --cloud URL [--profile DIR]")
	genesis := fs.String("genesis", "", "the workspace's genesis hash, as 'vigil workspace list' shows it on a lead's device")
	cloudURL := fs.String("cloud", "", "the cloud the workspace lives on")
	dir := profileFlag(fs)
	if err := parseArgs(fs, args, 1); err != nil {
		return err
	}
	id := fs.Arg(0)
	if id == "" || *genesis == "" || *cloudURL == "" {
		return fmt.Errorf("%w: the workspace ID, --genesis and --cloud are required", ErrUsage)
	}
	if g, err := hex.DecodeString(*genesis); err != nil || len(g) != sha256.Size {
		return fmt.Errorf("%w: --genesis is a hex SHA-256 hash", ErrUsage)
	}
	if strings.ContainsAny(id, `/\.`) {
		return fmt.Errorf("%w: %q is not a workspace ID", ErrUsage, id)
	}
	p := profile{*dir}
	w := &pinnedWorkspace{WorkspaceID: id, GenesisHash: strings.ToLower(*genesis), Cloud: strings.TrimRight(*cloudURL, "/")}
	k, _, err := p.deviceKeys()
	if err != nil {
		return err
	}
	st, err := p.verifiedWorkspace(e.ctx, workspaceClient(w, k), w)
	if err != nil {
		return err
	}
	if _, err := st.EpochIdentities(k); err != nil {
		return fmt.Errorf("this device is not in workspace %s yet (hint: a lead runs 'vigil workspace add-device --device %s'): %w", id, keydir.EncodeDevice(k), err)
	}
	w.Name = st.Name
	if err := p.saveWorkspace(w); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "joined workspace %s (%s) as %s\n", id, st.Name, roleWord(st.Devices[k.ID()].Role))
	return nil
}

func roleWord(role string) string {
	if role == keydir.RoleAdmin {
		return "a lead"
	}
	return "an annotator"
}

func workspaceList(e env, args []string) error {
	fs := newFlags(e, "workspace list", "[--profile DIR]")
	dir := profileFlag(fs)
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	p := profile{*dir}
	ids := p.workspaceIDs()
	if len(ids) == 0 {
		fmt.Fprintln(e.stderr, "this device is in no workspace")
		return nil
	}
	for _, id := range ids {
		w, err := p.workspace(id)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "%s\t%s\tgenesis %s\t%s\n", w.WorkspaceID, w.Name, w.GenesisHash, w.Cloud)
	}
	return nil
}

// workspaceAddDevice signs a chain link that adds a device (its identity
// as 'vigil device id' prints it) as an annotator, or with --lead as a
// lead, wrapping every epoch key to it.
func workspaceAddDevice(e env, args []string) error {
	fs := newFlags(e, "workspace add-device", "--device IDENTITY [--name NAME] [--lead] [--workspace WS] [--profile DIR]")
	dev := fs.String("device", "", "the device's identity, as 'vigil device id' (or the browser's device page) shows it")
	name := fs.String("name", "", "the device's name in the workspace, e.g. \"Ana's laptop\" (default: annotator, or lead)")
	isLead := fs.Bool("lead", false, "add it as a lead (adds devices, assigns, reviews, makes datasets) instead of an annotator")
	wf := addWorkspaceFlags(fs)
	dir := profileFlag(fs)
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	if *dev == "" {
		return fmt.Errorf("%w: --device is required (what 'vigil device id' prints on it)", ErrUsage)
	}
	role := keydir.RoleMember
	if *isLead {
		role = keydir.RoleAdmin
	}
	if *name == "" {
		*name = map[bool]string{true: "lead", false: "annotator"}[*isLead]
	}
	dk, err := keydir.ParseDevice(*dev, role, *name)
	if err != nil {
		return fmt.Errorf("%w: --device: %v", ErrUsage, err)
	}
	d, err := openWorkspace(e, *dir, *wf.ws)
	if err != nil {
		return err
	}
	if err := d.lead("add devices"); err != nil {
		return err
	}
	link, err := d.st.AddDevice(d.k, dk, time.Now())
	if err != nil {
		return err
	}
	if err := d.c.AppendWorkspaceLink(e.ctx, d.w.WorkspaceID, link); err != nil {
		return err
	}
	if _, err := d.p.verifiedWorkspace(e.ctx, d.c, d.w); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "device %s (%s) added to workspace %s as %s; it opens the clips assigned to it\n", dk.ID, *name, d.w.WorkspaceID, roleWord(role))
	return nil
}

func workspaceAssign(e env, args []string) error {
	fs := newFlags(e, "workspace assign", "--donation ID --device ID [--workspace WS] [--profile DIR]")
	id := fs.String("donation", "", "the donation (as 'vigil workspace donations' lists them)")
	dev := fs.String("device", "", "the annotator device's ID (d…)")
	wf := addWorkspaceFlags(fs)
	dir := profileFlag(fs)
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	if *id == "" || *dev == "" {
		return fmt.Errorf("%w: --donation and --device are required", ErrUsage)
	}
	d, err := openWorkspace(e, *dir, *wf.ws)
	if err != nil {
		return err
	}
	if err := d.lead("assign donations"); err != nil {
		return err
	}
	if _, ok := d.st.Devices[*dev]; !ok {
		return fmt.Errorf("device %s is not in workspace %s's chain (hint: 'vigil workspace add-device' first)", *dev, d.w.WorkspaceID)
	}
	dn, err := d.c.Assign(e.ctx, d.w.WorkspaceID, *id, *dev)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "donation %s assigned to %s (%s)\n", dn.ID, *dev, dn.State)
	return nil
}

func workspaceDonations(e env, args []string) error {
	fs := newFlags(e, "workspace donations", "[--workspace WS] [--profile DIR]")
	wf := addWorkspaceFlags(fs)
	dir := profileFlag(fs)
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	d, err := openWorkspace(e, *dir, *wf.ws)
	if err != nil {
		return err
	}
	ds, err := d.c.Assignments(e.ctx, d.w.WorkspaceID)
	if err != nil {
		return err
	}
	for _, dn := range ds {
		assignee := dn.Assignee
		if assignee == "" {
			assignee = "-"
		}
		fmt.Fprintf(e.stdout, "%s\t%s\t%s\tassignee %s\tannotation %d\tuntil %s\n", dn.ID, dn.State, dn.Purpose, assignee, dn.Annotation, dn.Expires.UTC().Format(time.RFC3339))
	}
	if len(ds) == 0 {
		fmt.Fprintln(e.stderr, "no donations for this device")
	}
	return nil
}

// workspaceReview opens the donation's latest annotation, shows a summary
// of it, and accepts it or sends it back to its annotator.
func workspaceReview(e env, args []string) error {
	fs := newFlags(e, "workspace review", "--donation ID --accept|--send-back [--workspace WS] [--profile DIR]")
	id := fs.String("donation", "", "the donation whose latest annotation to review")
	accept := fs.Bool("accept", false, "accept the annotation: it enters the next dataset version")
	back := fs.Bool("send-back", false, "send it back to its annotator")
	wf := addWorkspaceFlags(fs)
	dir := profileFlag(fs)
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	if *id == "" || *accept == *back {
		return fmt.Errorf("%w: --donation and one of --accept or --send-back are required", ErrUsage)
	}
	d, err := openWorkspace(e, *dir, *wf.ws)
	if err != nil {
		return err
	}
	if err := d.lead("review"); err != nil {
		return err
	}
	dn, err := d.donation(e.ctx, *id)
	if err != nil {
		return err
	}
	a, v, err := d.annotation(e.ctx, dn)
	if err != nil {
		return err
	}
	boxes, frames := 0, map[int]bool{}
	labels := map[string]int{}
	for _, t := range a.Tracks {
		labels[t.Label]++
		for _, k := range t.Keyframes {
			if k.Box != nil {
				boxes++
				frames[k.Frame] = true
			}
		}
	}
	fmt.Fprintf(e.stdout, "donation %s, annotation version %d by %s: %dx%d, %d frames at %g fps; %d tracks %v, %d boxes on %d frames\n",
		dn.ID, v, dn.Assignee, a.Width, a.Height, a.Frames, a.FPS, len(a.Tracks), labels, boxes, len(frames))
	out, err := d.c.Review(e.ctx, d.w.WorkspaceID, dn.ID, v, *accept)
	if err != nil {
		return err
	}
	if *accept {
		fmt.Fprintf(e.stdout, "accepted (%s): it enters the next dataset version\n", out.State)
	} else {
		fmt.Fprintf(e.stdout, "sent back to %s (%s)\n", out.Assignee, out.State)
	}
	return nil
}

// donation returns the donation id as this device may see it.
func (d *wsDevice) donation(ctx context.Context, id string) (client.Donation, error) {
	ds, err := d.c.Assignments(ctx, d.w.WorkspaceID)
	if err != nil {
		return client.Donation{}, err
	}
	for _, dn := range ds {
		if dn.ID == id {
			return dn, nil
		}
	}
	return client.Donation{}, fmt.Errorf("no donation %s open to this device in workspace %s (hint: 'vigil workspace donations')", id, d.w.WorkspaceID)
}

// annotation fetches the donation's latest annotation, checks that its
// annotator's device sealed it, and parses it.
func (d *wsDevice) annotation(ctx context.Context, dn client.Donation) (*dataset.Annotation, int, error) {
	sealed, v, err := d.c.Annotation(ctx, d.w.WorkspaceID, dn.ID)
	if client.IsStatus(err, 404) {
		return nil, 0, fmt.Errorf("donation %s has no annotation yet", dn.ID)
	}
	if err != nil {
		return nil, 0, err
	}
	plain, err := d.open(sealed, dn.Assignee)
	if err != nil {
		return nil, 0, fmt.Errorf("annotation %d of donation %s: %w", v, dn.ID, err)
	}
	a, err := dataset.ParseAnnotation(plain, dataset.DefaultSchema())
	if err != nil {
		return nil, 0, fmt.Errorf("annotation %d of donation %s: %w", v, dn.ID, err)
	}
	return a, v, nil
}

// open opens an object sealed to the workspace by device signer (a device
// of the workspace's chain, or a donor device's key given directly).
func (d *wsDevice) open(sealed []byte, signer string) ([]byte, error) {
	sd, ok := d.st.Devices[signer]
	if !ok {
		return nil, fmt.Errorf("sealed by %q, not a device of the workspace's chain", signer)
	}
	return d.openBy(sealed, sd.SignPub)
}

func (d *wsDevice) openBy(sealed []byte, signer []byte) ([]byte, error) {
	ids, err := d.st.EpochIdentities(d.k)
	if err != nil {
		return nil, err
	}
	_, _, plain, err := envelope.Open(sealed, envelope.TrustedKeys{signer}, ids...)
	return plain, err
}

// checkConsent verifies the donation's consent against the donor device's
// key and the sealed clip's bytes.
func checkConsent(dn client.Donation, sealed []byte, now time.Time) (consent.Signed, consent.Consent, error) {
	s, err := consent.ParseSigned(dn.Consent)
	if err != nil {
		return consent.Signed{}, consent.Consent{}, fmt.Errorf("donation %s: %w", dn.ID, err)
	}
	if len(dn.DeviceKey) == 0 {
		return consent.Signed{}, consent.Consent{}, fmt.Errorf("donation %s: the donor device has left its household; its consent cannot be checked", dn.ID)
	}
	c, err := consent.VerifyWithKey(s, dn.DeviceKey, now, sha256.Sum256(sealed))
	if err != nil {
		return consent.Signed{}, consent.Consent{}, fmt.Errorf("donation %s: the consent does not verify; refusing the clip: %w", dn.ID, err)
	}
	if c.ID != dn.ID || c.Household != dn.Household || c.Workspace != dn.Workspace {
		return consent.Signed{}, consent.Consent{}, fmt.Errorf("donation %s: the consent is for another donation, household or workspace; refusing the clip", dn.ID)
	}
	return s, c, nil
}

func workspaceDataset(e env, args []string) error {
	return runSubcommand(env{ctx: e.ctx, args: args, stdin: e.stdin, stdout: e.stdout, stderr: e.stderr}, "workspace dataset", "create|list [--workspace WS] [--profile DIR]", workspaceDatasetSubs())
}

// workspaceDatasetSubs is the table of vigil workspace dataset's subcommands.
func workspaceDatasetSubs() []subcommand {
	return []subcommand{
		{"create", workspaceDatasetCreate, nil}, {"list", workspaceDatasetList, nil}}
}

func workspaceDatasetCreate(e env, args []string) error {
	fs := newFlags(e, "workspace dataset create", "[--workspace WS] [--profile DIR]")
	wf := addWorkspaceFlags(fs)
	dir := profileFlag(fs)
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	d, err := openWorkspace(e, *dir, *wf.ws)
	if err != nil {
		return err
	}
	if err := d.lead("make dataset versions"); err != nil {
		return err
	}
	v, err := d.c.CreateDataset(e.ctx, d.w.WorkspaceID)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "dataset version %d: %d items (export it with 'vigil dataset export --workspace %s --version %d -o DIR')\n", v.Version, len(v.Items), d.w.WorkspaceID, v.Version)
	return nil
}

func workspaceDatasetList(e env, args []string) error {
	fs := newFlags(e, "workspace dataset list", "[--workspace WS] [--profile DIR]")
	wf := addWorkspaceFlags(fs)
	dir := profileFlag(fs)
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	d, err := openWorkspace(e, *dir, *wf.ws)
	if err != nil {
		return err
	}
	vs, err := d.c.Datasets(e.ctx, d.w.WorkspaceID)
	if err != nil {
		return err
	}
	for _, v := range vs {
		fmt.Fprintf(e.stdout, "%d\t%s\t%d items\t%d marks\n", v.Version, v.Created.UTC().Format(time.RFC3339), len(v.Items), len(v.Marks))
	}
	return nil
}
