// Package recordings reads a hub's recordings for a member: it lists segments
// from an index and exports a time range to one playable MP4, opening each
// sealed segment with the member's identity and checking the hub's signature.
//
// Plaintext exists only in memory, one segment at a time, and in the output
// the member asked for. The output is written to a temporary file next to the
// destination and renamed into place only when every segment opened and
// verified, so a failed export leaves nothing behind.
package recordings

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"vigil/internal/envelope"
	"vigil/internal/segment"
	"vigil/internal/segstore"
)

// Lister is the part of the segment index that export needs.
type Lister interface {
	List(ctx context.Context, f segstore.Filter) ([]segstore.Segment, error)
}

// ErrNothing means no recording overlaps the requested range.
var ErrNothing = errors.New("no recordings in that range (hint: 'vigil recordings list' shows what is recorded)")

// ExportOptions selects what to export and how to open it.
type ExportOptions struct {
	Camera     string
	From, To   time.Time
	Identities []envelope.Identity
	Trust      envelope.Verifier
	// Progress, if set, is called after each segment is laid out.
	Progress func(done, total int)
}

// ExportFile exports a range to path (atomically: nothing is left at path on
// failure).
func ExportFile(ctx context.Context, idx Lister, path string, o ExportOptions) (segment.ExportStats, error) {
	segs, err := selectSegments(ctx, idx, o)
	if err != nil {
		return segment.ExportStats{}, err
	}
	// Fail before creating any file when the identity cannot open the
	// recordings.
	if _, err := openSegment(segs[0], o); err != nil {
		return segment.ExportStats{}, err
	}
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return segment.ExportStats{}, fmt.Errorf("create output: %w", err)
	}
	defer os.Remove(tmp.Name())
	st, err := export(ctx, tmp, segs, o)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return st, err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return st, fmt.Errorf("write output: %w", err)
	}
	return st, nil
}

// Export writes the range as MP4 to w. On error, w may hold a partial file.
func Export(ctx context.Context, idx Lister, w io.Writer, o ExportOptions) (segment.ExportStats, error) {
	segs, err := selectSegments(ctx, idx, o)
	if err != nil {
		return segment.ExportStats{}, err
	}
	return export(ctx, w, segs, o)
}

func selectSegments(ctx context.Context, idx Lister, o ExportOptions) ([]segstore.Segment, error) {
	if o.Camera == "" {
		return nil, errors.New("export needs a camera (hint: --camera NAME)")
	}
	if !o.To.IsZero() && !o.To.After(o.From) {
		return nil, fmt.Errorf("export range is empty: --to %s is not after --from %s", o.To.Format(time.RFC3339), o.From.Format(time.RFC3339))
	}
	segs, err := idx.List(ctx, segstore.Filter{Camera: o.Camera, From: o.From, To: o.To})
	if err != nil {
		return nil, err
	}
	if len(segs) == 0 {
		return nil, ErrNothing
	}
	return segs, nil
}

func export(ctx context.Context, w io.Writer, segs []segstore.Segment, o ExportOptions) (segment.ExportStats, error) {
	srcs := make([]segment.Source, len(segs))
	laid := 0
	for i, s := range segs {
		s := s
		first := true
		srcs[i] = segment.Source{Start: s.Start, Open: func() ([]byte, error) {
			if err := ctx.Err(); err != nil {
				return nil, fmt.Errorf("export stopped: %w", err)
			}
			b, err := openSegment(s, o)
			if first && err == nil && o.Progress != nil {
				first = false
				laid++
				o.Progress(laid, len(segs))
			}
			return b, err
		}}
	}
	return segment.Export(w, srcs)
}

// openSegment reads, verifies and decrypts one sealed segment file, and
// checks that its sealed header matches the index row.
func openSegment(s segstore.Segment, o ExportOptions) ([]byte, error) {
	sealed, err := os.ReadFile(s.Path)
	if err != nil {
		return nil, fmt.Errorf("read segment %s #%d: %w", s.Camera, s.Seq, err)
	}
	trust := o.Trust
	if trust == nil {
		return nil, errors.New("export: no trusted hub key given")
	}
	h, _, plain, err := envelope.Open(sealed, trust, o.Identities...)
	if err != nil {
		return nil, fmt.Errorf("open segment %s #%d: %w", s.Camera, s.Seq, err)
	}
	if h.Kind != envelope.KindSegment || h.Stream != s.Camera || h.Sequence != s.Seq || !h.Start.Equal(s.Start) {
		return nil, fmt.Errorf("segment %s #%d: sealed header does not match the index (the file was swapped or the index edited)", s.Camera, s.Seq)
	}
	return plain, nil
}
