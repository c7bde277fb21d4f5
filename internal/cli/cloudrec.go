package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"text/tabwriter"
	"time"

	"vigil/internal/client"
	"vigil/internal/recordings"
	"vigil/internal/segment"
	"vigil/internal/segstore"
)

func cloudClientFor(dir, cloudURL, hh string) (*client.Client, *pinnedHousehold, error) {
	p := profile{dir}
	c, s, err := p.client()
	if err != nil {
		return nil, nil, err
	}
	if want := client.New(cloudURL).BaseURL; want != s.Cloud {
		return nil, nil, fmt.Errorf("this device is signed in to %s, not %s (hint: 'vigil login --cloud %s ...')", s.Cloud, want, want)
	}
	h, err := p.household(hh)
	if err != nil {
		return nil, nil, err
	}
	return c, h, nil
}

func cloudList(e env, cloudURL, hh, dir string, f segstore.Filter, asJSON bool) error {
	c, h, err := cloudClientFor(dir, cloudURL, hh)
	if err != nil {
		return err
	}
	objs, err := c.Objects(e.ctx, h.HouseholdID, f.Camera, f.From, f.To)
	if err != nil {
		return err
	}
	if asJSON {
		enc := json.NewEncoder(e.stdout)
		for _, o := range objs {
			if err := enc.Encode(o); err != nil {
				return err
			}
		}
		return nil
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CAMERA\tSEQ\tSTART\tEND\tLENGTH\tBYTES")
	var total int64
	for _, o := range objs {
		total += o.Size
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%d\n", o.Camera, o.Seq, o.Start.UTC().Format(time.RFC3339Nano),
			o.End.UTC().Format(time.RFC3339Nano), o.End.Sub(o.Start).Round(time.Millisecond), o.Size)
	}
	tw.Flush()
	fmt.Fprintf(e.stdout, "%d sealed objects in the cloud, %d bytes\n", len(objs), total)
	return nil
}

// staticLister serves a fixed list of segments to recordings.ExportFile.
type staticLister []segstore.Segment

func (l staticLister) List(context.Context, segstore.Filter) ([]segstore.Segment, error) {
	return l, nil
}

// cloudExport downloads the sealed objects of the range (ciphertext, into a
// private temporary directory), verifies the household chain from the
// pinned genesis, and exports with this device's epoch keys, trusting only
// hubs the chain lists.
func cloudExport(e env, cloudURL, hh, dir string, f segstore.Filter, out string) error {
	ctx, stop := signal.NotifyContext(e.ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	c, h, err := cloudClientFor(dir, cloudURL, hh)
	if err != nil {
		return err
	}
	began := time.Now()
	x, err := cloudExportFile(ctx, e, c, h, dir, f, out)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "wrote %s: %d segments, %d frames, %s, from the cloud in %s\n", out, x.Stats.Segments, x.Stats.VideoFrames,
		x.Stats.Duration.Round(time.Millisecond), time.Since(began).Round(time.Millisecond))
	return nil
}

// cloudExported is what cloudExportFile wrote: its export statistics and
// the time its first segment starts (the clip covers whole segments, from
// Start for Stats.Duration).
type cloudExported struct {
	Stats segment.ExportStats
	Start time.Time
}

// cloudExportFile is cloudExport's work for household h with c, writing
// the MP4 to out: the chain verified from the pinned genesis, the sealed
// segments downloaded into a private temporary directory (removed before
// it returns) and opened with this device's epoch keys, trusting only the
// hubs the chain lists.
func cloudExportFile(ctx context.Context, e env, c *client.Client, h *pinnedHousehold, dir string, f segstore.Filter, out string) (cloudExported, error) {
	st, err := profile{dir}.verifiedChain(ctx, c, h)
	if err != nil {
		return cloudExported{}, err
	}
	k, _, err := profile{dir}.deviceKeys()
	if err != nil {
		return cloudExported{}, err
	}
	ids, err := st.EpochIdentities(k)
	if err != nil {
		return cloudExported{}, fmt.Errorf("this device cannot open the household's footage: %w", err)
	}
	objs, err := c.Objects(ctx, h.HouseholdID, f.Camera, f.From, f.To)
	if err != nil {
		return cloudExported{}, err
	}
	if len(objs) == 0 {
		return cloudExported{}, recordings.ErrNothing
	}
	tmp, err := os.MkdirTemp("", "vigil-export-")
	if err != nil {
		return cloudExported{}, err
	}
	defer os.RemoveAll(tmp)
	segs := make(staticLister, 0, len(objs))
	var start time.Time
	for i, o := range objs {
		b, err := c.ReadObject(ctx, h.HouseholdID, o.Key, 128<<20)
		if err != nil {
			return cloudExported{}, err
		}
		p := filepath.Join(tmp, strconv.Itoa(i)+".vseg")
		if err := os.WriteFile(p, b, 0o600); err != nil {
			return cloudExported{}, err
		}
		segs = append(segs, segstore.Segment{Meta: segstore.Meta{Camera: o.Camera, Seq: o.Seq, Start: o.Start, End: o.End}, Bytes: o.Size, Path: p})
		if start.IsZero() || o.Start.Before(start) {
			start = o.Start
		}
		if isTerminal(e.stderr) {
			fmt.Fprintf(e.stderr, "\rdownloading: %d/%d sealed segments", i+1, len(objs))
		}
	}
	if isTerminal(e.stderr) {
		fmt.Fprintln(e.stderr)
	}
	stats, err := recordings.ExportFile(ctx, segs, out, recordings.ExportOptions{
		Camera: f.Camera, From: f.From, To: f.To, Identities: ids, Trust: st.TrustedHubs(),
	})
	if err != nil {
		return cloudExported{}, err
	}
	return cloudExported{Stats: stats, Start: start}, nil
}
