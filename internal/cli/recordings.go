package cli

import (
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"vigil/internal/envelope"
	"vigil/internal/keydir"
	"vigil/internal/recordings"
	"vigil/internal/segstore"
)

func runRecordings(e env) error {
	return runSubcommand(e, "recordings", "list | export\n\nLists a hub's recordings, or exports a range of them to MP4.",
		recordingsSubs())
}

// recordingsSubs is the table of vigil recordings's subcommands; its help lists them from it.
func recordingsSubs() []subcommand {
	return []subcommand{{"list", recordingsList, nil}, {"export", recordingsExport, nil}}
}

// segmentJSON is the --json form of one segment.
type segmentJSON struct {
	Camera     string    `json:"camera"`
	Seq        uint64    `json:"seq"`
	Start      time.Time `json:"start"`
	End        time.Time `json:"end"`
	Bytes      int64     `json:"bytes"`
	Codec      string    `json:"codec"`
	AudioCodec string    `json:"audio_codec,omitempty"`
	Frames     int       `json:"frames"`
	Keyframes  int       `json:"keyframes"`
}

// gapJSON is the --json --gaps form of one gap.
type gapJSON struct {
	Gap    bool      `json:"gap"`
	Camera string    `json:"camera"`
	Start  time.Time `json:"start"`
	End    time.Time `json:"end"`
	Reason string    `json:"reason"`
}

func recordingsList(e env, args []string) error {
	fs := newFlags(e, "recordings list", "(--data DIR | --cloud URL [--household ID]) [--camera NAME] [--from T] [--to T] [--json] [--gaps]")
	data := fs.String("data", "", "hub data directory")
	cam := fs.String("camera", "", "only this camera")
	from := fs.String("from", "", "only segments ending after this time (RFC 3339)")
	to := fs.String("to", "", "only segments starting before this time (RFC 3339)")
	asJSON := fs.Bool("json", false, "one JSON object per segment, one per line")
	gaps := fs.Bool("gaps", false, "also list gaps: text lines after the segments, or JSON objects with \"gap\": true")
	cloudURL := fs.String("cloud", "", "list the household's copies in this cloud instead of a hub's data directory")
	hhID := fs.String("household", "", "with --cloud: the household (default: the only one this device knows)")
	dir := profileFlag(fs)
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	f, err := filter(*cam, *from, *to)
	if err != nil {
		return err
	}
	if *cloudURL != "" {
		return cloudList(e, *cloudURL, *hhID, *dir, f, *asJSON)
	}
	if *data == "" {
		return fmt.Errorf("%w: --data DIR (a hub's data directory) or --cloud URL is required", ErrUsage)
	}
	st, err := segstore.OpenReadOnly(e.ctx, *data, segstore.Options{})
	if err != nil {
		return err
	}
	defer st.Close()
	segs, err := st.List(e.ctx, f)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(e.stdout)
		for _, s := range segs {
			if err := enc.Encode(segmentJSON{Camera: s.Camera, Seq: s.Seq, Start: s.Start.UTC(), End: s.End.UTC(),
				Bytes: s.Bytes, Codec: s.Codec, AudioCodec: s.AudioCodec, Frames: s.Frames, Keyframes: s.Keyframes}); err != nil {
				return err
			}
		}
		if *gaps {
			gs, err := st.Gaps(e.ctx, f)
			if err != nil {
				return err
			}
			for _, g := range gs {
				if err := enc.Encode(gapJSON{Gap: true, Camera: g.Camera, Start: g.Start.UTC(), End: g.End.UTC(), Reason: g.Reason}); err != nil {
					return err
				}
			}
		}
		return nil
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CAMERA\tSEQ\tSTART\tEND\tLENGTH\tBYTES\tCODEC\tFRAMES")
	var total int64
	for _, s := range segs {
		total += s.Bytes
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%d\t%s\t%d\n", s.Camera, s.Seq, s.Start.UTC().Format(time.RFC3339Nano),
			s.End.UTC().Format(time.RFC3339Nano), s.End.Sub(s.Start).Round(time.Millisecond), s.Bytes, s.Codec, s.Frames)
	}
	tw.Flush()
	fmt.Fprintf(e.stdout, "%d segments, %d bytes\n", len(segs), total)
	if *gaps {
		gs, err := st.Gaps(e.ctx, f)
		if err != nil {
			return err
		}
		for _, g := range gs {
			fmt.Fprintf(e.stdout, "gap %s %s .. %s (%s): %s\n", g.Camera, g.Start.UTC().Format(time.RFC3339),
				g.End.UTC().Format(time.RFC3339), g.End.Sub(g.Start).Round(time.Millisecond), g.Reason)
		}
	}
	return nil
}

func filter(cam, from, to string) (segstore.Filter, error) {
	f := segstore.Filter{Camera: cam}
	var err error
	if from != "" {
		if f.From, err = time.Parse(time.RFC3339, from); err != nil {
			return f, fmt.Errorf("%w: --from %q is not an RFC 3339 time like 2026-11-28T21:00:00Z", ErrUsage, from)
		}
	}
	if to != "" {
		if f.To, err = time.Parse(time.RFC3339, to); err != nil {
			return f, fmt.Errorf("%w: --to %q is not an RFC 3339 time like 2026-11-28T21:10:00Z", ErrUsage, to)
		}
	}
	return f, nil
}

func recordingsExport(e env, args []string) error {
	fs := newFlags(e, "recordings export", "(--data DIR --identity FILE [--hub-key HEX] | --cloud URL [--household ID]) --camera NAME --from T --to T -o clip.mp4")
	data := fs.String("data", "", "hub data directory")
	cam := fs.String("camera", "", "camera to export")
	from := fs.String("from", "", "start of the range (RFC 3339)")
	to := fs.String("to", "", "end of the range (RFC 3339)")
	idFile := fs.String("identity", "", "household identity file (from 'vigil keys new')")
	out := fs.String("o", "", "output MP4 file")
	hubKeyHex := fs.String("hub-key", "", "trust only this hub public key (hex, as in DIR/hub.pub), not the one stored in DIR")
	cloudURL := fs.String("cloud", "", "export the household's copies from this cloud, opened with this device's keys")
	hhID := fs.String("household", "", "with --cloud: the household (default: the only one this device knows)")
	dir := profileFlag(fs)
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	if *cloudURL != "" {
		switch {
		case *cam == "":
			return fmt.Errorf("%w: --camera NAME is required", ErrUsage)
		case *out == "":
			return fmt.Errorf("%w: -o FILE is required", ErrUsage)
		case *from == "" || *to == "":
			return fmt.Errorf("%w: --from and --to are required (RFC 3339); 'vigil recordings list --cloud URL' shows what is stored", ErrUsage)
		}
		f, err := filter(*cam, *from, *to)
		if err != nil {
			return err
		}
		return cloudExport(e, *cloudURL, *hhID, *dir, f, *out)
	}
	switch {
	case *data == "":
		return fmt.Errorf("%w: --data DIR (a hub's data directory) or --cloud URL is required", ErrUsage)
	case *cam == "":
		return fmt.Errorf("%w: --camera NAME is required", ErrUsage)
	case *out == "":
		return fmt.Errorf("%w: -o FILE is required", ErrUsage)
	case *idFile == "":
		return fmt.Errorf("%w: --identity FILE is required: recordings are sealed to the household key and only its identity opens them", ErrUsage)
	case *from == "" || *to == "":
		return fmt.Errorf("%w: --from and --to are required (RFC 3339, e.g. --from 2026-11-28T21:00:00Z --to 2026-11-28T21:10:00Z); 'vigil recordings list --data %s' shows what is recorded", ErrUsage, *data)
	}
	f, err := filter(*cam, *from, *to)
	if err != nil {
		return err
	}
	ids, err := readIdentities(*idFile)
	if err != nil {
		return err
	}
	var hubKey ed25519.PublicKey
	if *hubKeyHex != "" {
		b, err := hex.DecodeString(strings.TrimSpace(*hubKeyHex))
		if err != nil || len(b) != ed25519.PublicKeySize {
			return fmt.Errorf("%w: --hub-key must be %d hex-encoded bytes, as in the hub's hub.pub", ErrUsage, ed25519.PublicKeySize)
		}
		hubKey = b
	} else if hubKey, err = keydir.ReadSignerPublic(*data); err != nil {
		return err
	}
	st, err := segstore.OpenReadOnly(e.ctx, *data, segstore.Options{})
	if err != nil {
		return err
	}
	defer st.Close()
	// Ctrl-C stops the export and removes the partial, decrypted output.
	ctx, stop := signal.NotifyContext(e.ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	progress := func(done, total int) {}
	if isTerminal(e.stderr) {
		progress = func(done, total int) { fmt.Fprintf(e.stderr, "\rexporting: %d/%d segments", done, total) }
	}
	began := time.Now()
	stats, err := recordings.ExportFile(ctx, st, *out, recordings.ExportOptions{
		Camera: f.Camera, From: f.From, To: f.To, Identities: ids,
		Trust: envelope.TrustedKeys{hubKey}, Progress: progress,
	})
	if isTerminal(e.stderr) {
		fmt.Fprintln(e.stderr)
	}
	if errors.Is(err, recordings.ErrNothing) {
		if cams, cerr := st.Cameras(e.ctx); cerr == nil && !slices.Contains(cams, f.Camera) {
			return fmt.Errorf("no recordings of a camera named %q; recorded cameras: %s", f.Camera, strings.Join(cams, ", "))
		}
	}
	if err != nil {
		return err
	}
	size := "?"
	if fi, err := os.Stat(*out); err == nil {
		size = strconv.FormatInt(fi.Size(), 10)
	}
	fmt.Fprintf(e.stdout, "wrote %s: %d segments, %d frames, %s, %s bytes in %s\n", *out, stats.Segments, stats.VideoFrames,
		stats.Duration.Round(time.Millisecond), size, time.Since(began).Round(time.Millisecond))
	if stats.AudioSkipped > 0 {
		fmt.Fprintf(e.stderr, "note: the audio of %d segments was left out: its codec differs from the first audio in the range\n", stats.AudioSkipped)
	}
	return nil
}
