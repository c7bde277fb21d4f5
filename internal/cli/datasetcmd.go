package cli

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"vigil/internal/client"
	"vigil/internal/cloudapi"
	"vigil/internal/dataset"
	"vigil/internal/keydir"
)

// vigil dataset export|mark: a dataset version, built on a device of the
// labelling workspace (it holds plaintext frames; the cloud never builds
// or stores one). Every clip is checked before a frame of it is used: the
// donor's consent verifies with the donor device's key and names the
// sealed bytes received, and the clip and annotation open with this
// device's workspace keys from the devices that sealed them.

func runDataset(e env) error {
	return runSubcommand(e, "dataset", `export --version N -o DIR [--previous DIR] [--stride N] [--workspace WS]
       vigil dataset mark -d DIR [--workspace WS]

export writes dataset version N of the workspace (COCO, YOLO and a
manifest with each item's lineage) to the new directory DIR and validates
it. mark adds to an exported version the marks the cloud reports for it
(a donation revoked or expired since): marks.json, the rest unchanged.
Each takes --profile DIR: this device's profile.`, datasetSubs())
}

// datasetSubs is the table of vigil dataset's subcommands; its help lists them from it.
func datasetSubs() []subcommand {
	return []subcommand{{"export", datasetExport, nil}, {"mark", datasetMark, nil}}
}

func datasetExport(e env, args []string) error {
	fs := newFlags(e, "dataset export", "--version N -o DIR [--previous DIR] [--stride N] [--workspace WS] [--profile DIR]")
	version := fs.Int("version", 0, "the dataset version to export (as 'vigil workspace dataset list' shows them)")
	out := fs.String("o", "", "the new directory to write the version to")
	prev := fs.String("previous", "", "an exported earlier version: the donations it held that this one lacks are listed as removed")
	stride := fs.Int("stride", 0, "also take every N-th frame with its interpolated boxes (0: the annotated frames only)")
	wf := addWorkspaceFlags(fs)
	dir := profileFlag(fs)
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	if *version <= 0 || *out == "" {
		return fmt.Errorf("%w: --version N (a positive number) and -o DIR are required", ErrUsage)
	}
	if *stride < 0 {
		return fmt.Errorf("%w: --stride is 0 or more", ErrUsage)
	}
	if _, err := os.Stat(*out); err == nil {
		return fmt.Errorf("%s exists: a version is written once, to a new directory (hint: 'vigil dataset mark -d %s' adds the cloud's marks to it)", *out, *out)
	}
	var previous *dataset.Manifest
	if *prev != "" {
		m, err := dataset.ReadManifest(*prev)
		if err != nil {
			return fmt.Errorf("--previous: %w", err)
		}
		previous = m
	}
	d, err := openWorkspace(e, *dir, *wf.ws)
	if err != nil {
		return err
	}
	v, err := d.datasetVersion(e, *version)
	if err != nil {
		return err
	}
	open := map[string]client.Donation{}
	ds, err := d.c.Assignments(e.ctx, d.w.WorkspaceID)
	if err != nil {
		return err
	}
	for _, dn := range ds {
		open[dn.ID] = dn
	}
	// The opened clips wait beside the version, not in a shared
	// temporary directory, and are removed once it is written.
	tmp, err := os.MkdirTemp(filepath.Dir(filepath.Clean(*out)), ".vigil-export-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	var items []dataset.Item
	for i, it := range v.Items {
		fmt.Fprintf(e.stderr, "item %d of %d: donation %s\n", i+1, len(v.Items), it.Donation)
		item, err := d.exportItem(e, tmp, it, open)
		if err != nil {
			return err
		}
		items = append(items, item)
	}
	fmt.Fprintf(e.stderr, "writing version %d to %s\n", v.Version, *out)
	if err := dataset.Export(e.ctx, *out, dataset.Version{Number: v.Version, Previous: previous, Created: v.Created,
		Schema: dataset.DefaultSchema(), Stride: *stride}, items); err != nil {
		return err
	}
	if err := dataset.Validate(*out); err != nil {
		return fmt.Errorf("the exported version does not validate: %w", err)
	}
	n, err := applyMarks(*out, v)
	if err != nil {
		return err
	}
	m, err := dataset.ReadManifest(*out)
	if err != nil {
		return err
	}
	images := 0
	for _, mi := range m.Items {
		images += len(mi.Images)
	}
	fmt.Fprintf(e.stdout, "dataset version %d written to %s: %d items, %d images (COCO, YOLO, manifest); validated\n", v.Version, *out, len(m.Items), images)
	if n > 0 {
		fmt.Fprintf(e.stdout, "MARKED: %d donations of this version were revoked or expired since (marks.json): drop them or use a later version\n", n)
	}
	return nil
}

// datasetVersion returns the workspace's version n as the cloud lists it.
func (d *wsDevice) datasetVersion(e env, n int) (client.DatasetVersion, error) {
	vs, err := d.c.Datasets(e.ctx, d.w.WorkspaceID)
	if err != nil {
		return client.DatasetVersion{}, err
	}
	for _, v := range vs {
		if v.Version == n {
			return v, nil
		}
	}
	return client.DatasetVersion{}, fmt.Errorf("workspace %s has no dataset version %d (hint: 'vigil workspace dataset list')", d.w.WorkspaceID, n)
}

// exportItem fetches one item's sealed clip and its accepted annotation,
// checks the consent, opens both and returns the dataset item.
func (d *wsDevice) exportItem(e env, tmp string, it cloudapi.DatasetItem, open map[string]client.Donation) (dataset.Item, error) {
	dn, ok := open[it.Donation]
	if !ok {
		return dataset.Item{}, fmt.Errorf("donation %s of this version is no longer in the workspace (revoked or expired): its clip is deleted, so this version cannot be exported again; export a later version", it.Donation)
	}
	sealed, err := d.c.Clip(e.ctx, d.w.WorkspaceID, dn.ID)
	if err != nil {
		return dataset.Item{}, fmt.Errorf("donation %s: %w", dn.ID, err)
	}
	signed, c, err := checkConsent(dn, sealed, time.Now())
	if err != nil {
		return dataset.Item{}, err
	}
	plain, err := d.openBy(sealed, dn.DeviceKey)
	if err != nil {
		return dataset.Item{}, fmt.Errorf("donation %s: the clip does not open with this device's workspace keys: %w", dn.ID, err)
	}
	a, v, err := d.annotation(e.ctx, dn)
	if err != nil {
		return dataset.Item{}, err
	}
	if v != it.Annotation || dn.Accepted != it.Annotation {
		return dataset.Item{}, fmt.Errorf("donation %s: version %d holds annotation %d, the cloud has %d (accepted %d)", dn.ID, it.Annotation, it.Annotation, v, dn.Accepted)
	}
	if it.Annotator != dn.Assignee || it.Reviewer == "" || it.Reviewer == it.Annotator {
		return dataset.Item{}, fmt.Errorf("donation %s: lineage annotator %q, reviewer %q does not fit its assignee %q", dn.ID, it.Annotator, it.Reviewer, dn.Assignee)
	}
	if r, ok := d.st.Devices[it.Reviewer]; !ok || r.Role != keydir.RoleAdmin {
		return dataset.Item{}, fmt.Errorf("donation %s: reviewer %s is not a lead of the workspace's chain", dn.ID, it.Reviewer)
	}
	// The annotator's device seals the payload in review; the acceptance
	// is the reviewer's signed request, which the cloud reports.
	switch {
	case a.Review.State == dataset.InReview || a.Review.State == dataset.Annotating:
		a.Review = dataset.Review{State: dataset.Accepted, Reviewer: it.Reviewer}
	case a.Review.State == dataset.Accepted && a.Review.Reviewer == it.Reviewer:
	default:
		return dataset.Item{}, fmt.Errorf("donation %s: the annotation says %s by %q, the cloud says accepted by %s", dn.ID, a.Review.State, a.Review.Reviewer, it.Reviewer)
	}
	if a.Annotator != it.Annotator {
		return dataset.Item{}, fmt.Errorf("donation %s: the annotation names annotator %q, its device is %s", dn.ID, a.Annotator, it.Annotator)
	}
	path := filepath.Join(tmp, dn.ID+".mp4")
	if err := os.WriteFile(path, plain, 0o600); err != nil {
		return dataset.Item{}, err
	}
	sum := sha256.Sum256([]byte(signed.String()))
	return dataset.Item{Path: path, Annotation: a, Lineage: dataset.Lineage{
		Donation: dn.ID, Consent: c.ID, ConsentDigest: "sha256:" + hex.EncodeToString(sum[:]), Household: c.Household,
		Annotator: it.Annotator, Reviewer: it.Reviewer}}, nil
}

// applyMarks adds the cloud's marks of v that dir lacks; it returns how
// many marks dir holds afterwards.
func applyMarks(dir string, v client.DatasetVersion) (int, error) {
	m, err := dataset.ReadManifest(dir)
	if err != nil {
		return 0, err
	}
	if m.Version != v.Version {
		return 0, fmt.Errorf("%s holds version %d, not %d", dir, m.Version, v.Version)
	}
	have, err := dataset.ReadMarks(dir, m)
	if err != nil {
		return 0, err
	}
	for _, mk := range v.Marks {
		kind := dataset.MarkKind(mk.Reason)
		if kind != dataset.Revoked && kind != dataset.Expired {
			return 0, fmt.Errorf("the cloud marks donation %s %q: not revoked or expired", mk.Donation, mk.Reason)
		}
		if slices.ContainsFunc(have, func(o dataset.Mark) bool { return o.Kind == kind && o.Donation == mk.Donation }) {
			continue
		}
		k := dataset.Mark{Kind: kind, Donation: mk.Donation, Since: mk.Time.UTC(), Marked: time.Now().UTC()}
		if err := dataset.AddMark(dir, k); err != nil {
			return 0, err
		}
		have = append(have, k)
	}
	return len(have), nil
}

func datasetMark(e env, args []string) error {
	fs := newFlags(e, "dataset mark", "-d DIR [--workspace WS] [--profile DIR]")
	out := fs.String("d", "", "an exported dataset version")
	wf := addWorkspaceFlags(fs)
	dir := profileFlag(fs)
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	if *out == "" {
		return fmt.Errorf("%w: -d DIR (an exported version) is required", ErrUsage)
	}
	m, err := dataset.ReadManifest(*out)
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("%s holds no dataset version (hint: 'vigil dataset export' writes one)", *out)
	}
	if err != nil {
		return err
	}
	d, err := openWorkspace(e, *dir, *wf.ws)
	if err != nil {
		return err
	}
	v, err := d.datasetVersion(e, m.Version)
	if err != nil {
		return err
	}
	n, err := applyMarks(*out, v)
	if err != nil {
		return err
	}
	if err := dataset.Validate(*out); err != nil {
		return fmt.Errorf("%s does not validate: %w", *out, err)
	}
	if n == 0 {
		fmt.Fprintf(e.stdout, "dataset version %d in %s: no marks\n", m.Version, *out)
		return nil
	}
	fmt.Fprintf(e.stdout, "MARKED: dataset version %d in %s holds %d donations revoked or expired since (marks.json): drop them or use a later version\n", m.Version, *out, n)
	return nil
}
