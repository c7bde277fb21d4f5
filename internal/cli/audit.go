package cli

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"vigil/internal/client"
	"vigil/internal/history"
	"vigil/internal/member"
	"vigil/internal/tlog"
)

// A member device's view of the transparency log: the log and witness
// policy it pinned the first time it talked to its cloud, and the last
// checkpoint it verified (profile/log.json).

type pinnedLog struct {
	Cloud      string            `json:"cloud"`
	Policy     history.LogPolicy `json:"policy"`
	Checkpoint string            `json:"checkpoint,omitempty"` // the note of the last verified checkpoint
}

// logClient returns a client of the log this device pinned for c's cloud
// (pinning the cloud's on first use) and a function that saves the
// checkpoint it has verified since.
func (p profile) logClient(ctx context.Context, c *client.Client, stderr io.Writer) (*tlog.Client, func() error, error) {
	var pin pinnedLog
	if err := p.loadJSON("log.json", &pin); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, nil, err
	}
	if pin.Cloud != c.BaseURL {
		lp, err := c.LogPolicy(ctx)
		if err != nil {
			return nil, nil, fmt.Errorf("asking the cloud for its transparency log: %w", err)
		}
		builtin, ok, err := builtinLogPolicy()
		switch {
		case err != nil:
			return nil, nil, err
		case ok && !builtin.Equal(lp):
			return nil, nil, fmt.Errorf("the cloud at %s names the transparency log %s, not the one this build of vigil trusts (%s): refusing it", c.BaseURL, lp.Key, builtin.Key)
		case ok:
			pin = pinnedLog{Cloud: c.BaseURL, Policy: builtin}
		default:
			pin = pinnedLog{Cloud: c.BaseURL, Policy: lp}
			if stderr != nil {
				fmt.Fprintf(stderr, "pinned the transparency log of %s: %s (%d of %d witnesses); compare the key with one published elsewhere\n",
					c.BaseURL, lp.Key, lp.Quorum, len(lp.Witnesses))
			}
		}
	}
	var last []byte
	if pin.Checkpoint != "" {
		last = []byte(pin.Checkpoint)
	}
	lc, _, err := member.LogClient(c, pin.Policy, last)
	if err != nil {
		return nil, nil, fmt.Errorf("the pinned transparency log (%s): %w", filepath.Join(p.dir, "log.json"), err)
	}
	save := func() error {
		pin.Checkpoint = string(lc.Latest().Note)
		return p.saveJSON("log.json", pin)
	}
	return lc, save, nil
}

func runAudit(e env) error {
	fs := newFlags(e, "audit", "[--household ID] [--all] [--json] [--save-checkpoint FILE] [--compare FILE] [--profile DIR]")
	hh := fs.String("household", "", "the household to audit (default: the only one this device knows)")
	all := fs.Bool("all", false, "list every record of the history, not only those since the last audit")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	saveCP := fs.String("save-checkpoint", "", "write the checkpoint this device verified to FILE, for another member to --compare")
	compare := fs.String("compare", "", "compare this device's checkpoint with one another member saved (--save-checkpoint)")
	dir := profileFlag(fs)
	if err := parse(fs, e.args, 0); err != nil {
		return err
	}
	p := profile{*dir}
	c, _, err := p.client()
	if err != nil {
		return err
	}
	h, err := p.household(*hh)
	if err != nil {
		return err
	}
	g, err := hex.DecodeString(h.GenesisHash)
	if err != nil {
		return fmt.Errorf("pinned genesis of %s is not hex", h.HouseholdID)
	}
	k, _, err := p.deviceKeys()
	if err != nil {
		return err
	}
	lc, saveLog, err := p.logClient(e.ctx, c, e.stderr)
	if err != nil {
		return err
	}
	state := history.AuditState{}
	if h.Audit != nil {
		state = *h.Audit
	}
	state.Checkpoint = lc.Latest().Note
	if *all {
		state.RecordN, state.RecordHash = 0, ""
	}
	rep, err := history.Audit(e.ctx, history.AuditConfig{Household: h.HouseholdID, Genesis: g, Keys: k, Log: lc,
		Source: member.CloudSource{C: c, Household: h.HouseholdID}, State: state})
	if err != nil {
		return err
	}
	if *compare != "" {
		if err := compareCheckpoints(e.ctx, lc, *compare); err != nil {
			rep.Findings = append(rep.Findings, history.Finding{Severe: true, What: err.Error()})
		}
	}
	// Remember only what was verified; with --all keep the furthest point.
	next := rep.State
	if h.Audit != nil && *all && next.RecordN < h.Audit.RecordN {
		next.RecordN, next.RecordHash = h.Audit.RecordN, h.Audit.RecordHash
	}
	h.Audit = &next
	if err := p.saveHousehold(h); err != nil {
		return err
	}
	if err := saveLog(); err != nil {
		return err
	}
	if *saveCP != "" {
		if err := os.WriteFile(*saveCP, rep.Checkpoint.Note, 0o644); err != nil {
			return err
		}
	}
	if *asJSON {
		printAuditJSON(e.stdout, rep)
	} else {
		printAudit(e.stdout, h, rep)
	}
	if !rep.OK() {
		return errors.New("the audit found the household's history or the log altered (see WARNING above)")
	}
	return nil
}

// compareCheckpoints checks this device's verified log against a
// checkpoint another member verified: both must be views of one log.
func compareCheckpoints(ctx context.Context, lc *tlog.Client, file string) error {
	b, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	other, err := lc.Policy().Verify(b)
	if err != nil {
		return fmt.Errorf("the checkpoint in %s does not verify with this device's log policy: %w", file, err)
	}
	mine := lc.Latest()
	if err := tlog.Compare(mine, other); err != nil {
		return fmt.Errorf("the other member's checkpoint and this device's are of the same size with different trees: the log showed you different histories (split view): %w", err)
	}
	if other.N <= mine.N {
		h, err := lc.TreeHash(ctx, other.N)
		if err != nil {
			return err
		}
		if h != other.Hash {
			return fmt.Errorf("the other member's checkpoint of %d entries is not a prefix of the log this device verified: the log showed you different histories (split view)", other.N)
		}
		return nil
	}
	return fmt.Errorf("the other member's checkpoint (%d entries) is newer than this device's (%d): run the audit again, then compare", other.N, mine.N)
}

func printAudit(w io.Writer, h *pinnedHousehold, rep *history.Report) {
	cp := rep.Checkpoint
	fmt.Fprintf(w, "household   %s (%s)\n", h.Name, h.HouseholdID)
	fmt.Fprintf(w, "log         %s, %d entries, root %s\n", cp.Origin, cp.N, base64.StdEncoding.EncodeToString(cp.Hash[:])[:16]+"…")
	fmt.Fprintf(w, "chain       %d links, key epoch %d, head %x…\n", rep.Chain.Seq+1, rep.Chain.Epoch, rep.Chain.Head[:8])
	fmt.Fprintf(w, "records     %d verified now, up to record %d", len(rep.Records), rep.State.RecordN)
	if rep.Pending > 0 {
		fmt.Fprintf(w, "; %d not in the log yet", rep.Pending)
	}
	fmt.Fprintln(w)
	if len(rep.Records) > 0 {
		fmt.Fprintln(w)
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "N\tTIME\tWHO\tDID\tWHAT\tTIMES")
		for _, r := range rep.Records {
			who := r.Actor.Kind + " " + r.Actor.ID
			if d, ok := rep.Chain.Devices[r.Actor.ID]; ok {
				who = r.Actor.Kind + " " + d.Name
			}
			if dev := r.Actor.Device; dev != "" {
				if d, ok := rep.Chain.Devices[dev]; ok {
					who += " on " + d.Name
				} else {
					who += " on " + dev + " (not a device of the household)"
				}
			}
			did := r.Action
			if len(r.Signed) > 0 {
				did += " (signed)"
			}
			times := fmt.Sprint(r.Count)
			if r.Last != nil {
				times += " until " + r.Last.Local().Format(time.DateTime)
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", r.N, r.Time.Local().Format(time.DateTime), who, did, r.Object, times)
		}
		tw.Flush()
	}
	fmt.Fprintln(w)
	if rep.OK() {
		fmt.Fprintln(w, "verified: the log only grew, the chain heads and every record are in it, in order and complete, and the hubs saw the same chain and log")
	}
	for _, f := range rep.Findings {
		if f.Severe {
			fmt.Fprintln(w, "WARNING: "+f.What)
		} else {
			fmt.Fprintln(w, "note: "+f.What)
		}
	}
}

func printAuditJSON(w io.Writer, rep *history.Report) {
	type finding struct {
		Severe bool   `json:"severe"`
		What   string `json:"what"`
	}
	out := struct {
		OK         bool               `json:"ok"`
		Origin     string             `json:"origin"`
		Size       int64              `json:"size"`
		Root       string             `json:"root"`
		ChainSeq   int64              `json:"chain_seq"`
		RecordN    int64              `json:"record_n"`
		Pending    int                `json:"pending"`
		Records    []history.Verified `json:"records"`
		Findings   []finding          `json:"findings"`
		Checkpoint string             `json:"checkpoint"`
	}{OK: rep.OK(), Origin: rep.Checkpoint.Origin, Size: rep.Checkpoint.N, Root: base64.StdEncoding.EncodeToString(rep.Checkpoint.Hash[:]),
		ChainSeq: rep.Chain.Seq, RecordN: rep.State.RecordN, Pending: rep.Pending, Records: rep.Records, Findings: []finding{},
		Checkpoint: string(rep.Checkpoint.Note)}
	if out.Records == nil {
		out.Records = []history.Verified{}
	}
	for _, f := range rep.Findings {
		out.Findings = append(out.Findings, finding{f.Severe, f.What})
	}
	b, _ := json.MarshalIndent(out, "", "  ")
	fmt.Fprintln(w, strings.TrimSpace(string(b)))
}
