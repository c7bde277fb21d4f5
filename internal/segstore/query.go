package segstore

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// where builds the WHERE clause selecting rows of f: same camera, and
// overlapping [From, To). A zero-length item at t overlaps when
// From <= t < To.
func (f Filter) where() (string, []any, error) {
	var conds []string
	var args []any
	if f.Camera != "" {
		if err := validCamera(f.Camera); err != nil {
			return "", nil, err
		}
		conds = append(conds, "camera = ?")
		args = append(args, f.Camera)
	}
	if !f.To.IsZero() {
		conds = append(conds, "start_ns < ?")
		args = append(args, clampNanos(f.To))
	}
	if !f.From.IsZero() {
		from := clampNanos(f.From)
		conds = append(conds, "(end_ns > ? OR start_ns >= ?)")
		args = append(args, from, from)
	}
	if len(conds) == 0 {
		return "", nil, nil
	}
	return " WHERE " + strings.Join(conds, " AND "), args, nil
}

// clampNanos returns t as Unix nanoseconds, clamped to the int64 range.
func clampNanos(t time.Time) int64 {
	switch {
	case t.Before(time.Unix(0, minInt64Nanos)):
		return minInt64Nanos
	case !t.Before(time.Unix(0, maxInt64Nanos)):
		return maxInt64Nanos
	}
	return t.UnixNano()
}

const (
	minInt64Nanos = -1 << 63
	maxInt64Nanos = 1<<63 - 1
)

// List returns the segments selected by f, ordered by camera, then start.
// The result is a snapshot: retention may delete listed files at any time.
func (s *Store) List(ctx context.Context, f Filter) ([]Segment, error) {
	if err := s.acquire(); err != nil {
		return nil, err
	}
	defer s.release()
	where, args, err := f.where()
	if err != nil {
		return nil, err
	}
	rows, err := s.db.QueryContext(ctx, `SELECT id, camera, seq, start_ns, end_ns, bytes, codec, audio_codec,
		keyframes, frames, path FROM segments`+where+` ORDER BY camera, start_ns, id`, args...)
	if err != nil {
		return nil, fmt.Errorf("segstore: list: %w", err)
	}
	defer rows.Close()
	var segs []Segment
	for rows.Next() {
		var sg Segment
		var seq, start, end int64
		var rel string
		if err := rows.Scan(&sg.ID, &sg.Camera, &seq, &start, &end, &sg.Bytes, &sg.Codec, &sg.AudioCodec,
			&sg.Keyframes, &sg.Frames, &rel); err != nil {
			return nil, fmt.Errorf("segstore: list: %w", err)
		}
		sg.Seq, sg.Start, sg.End = uint64(seq), time.Unix(0, start), time.Unix(0, end)
		if sg.Path, err = s.absPath(rel); err != nil {
			return nil, err
		}
		segs = append(segs, sg)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("segstore: list: %w", err)
	}
	return segs, nil
}

// Cameras returns the names of the cameras that have at least one segment,
// sorted.
func (s *Store) Cameras(ctx context.Context) ([]string, error) {
	if err := s.acquire(); err != nil {
		return nil, err
	}
	defer s.release()
	rows, err := s.db.QueryContext(ctx, `SELECT DISTINCT camera FROM segments ORDER BY camera`)
	if err != nil {
		return nil, fmt.Errorf("segstore: cameras: %w", err)
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, fmt.Errorf("segstore: cameras: %w", err)
		}
		names = append(names, n)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("segstore: cameras: %w", err)
	}
	return names, nil
}

// NextSeq returns the sequence number for the camera's next segment: one
// more than the highest seq ever stored for it (including segments deleted
// since, so numbers are never reused), or 0 for a new camera.
func (s *Store) NextSeq(ctx context.Context, camera string) (uint64, error) {
	if err := s.acquire(); err != nil {
		return 0, err
	}
	defer s.release()
	if err := validCamera(camera); err != nil {
		return 0, err
	}
	var next sql.NullInt64
	err := s.db.QueryRowContext(ctx, `SELECT MAX(n) FROM (
		SELECT MAX(seq) + 1 AS n FROM segments WHERE camera = ?1
		UNION ALL SELECT MAX(seq) + 1 FROM garbage WHERE camera = ?1
		UNION ALL SELECT next_seq FROM cameras WHERE name = ?1)`, camera).Scan(&next)
	if err != nil {
		return 0, fmt.Errorf("segstore: next seq %q: %w", camera, err)
	}
	if !next.Valid {
		return 0, nil
	}
	return uint64(next.Int64), nil
}

// LastEnd returns the end of the camera's latest stored segment, however
// old, or the zero time when it has none. It reads the latest few segments
// by start through the index, not the camera's whole history.
func (s *Store) LastEnd(ctx context.Context, camera string) (time.Time, error) {
	if err := s.acquire(); err != nil {
		return time.Time{}, err
	}
	defer s.release()
	var end sql.NullInt64
	if err := s.db.QueryRowContext(ctx, `SELECT MAX(end_ns) FROM (
		SELECT end_ns FROM segments WHERE camera = ?1 ORDER BY start_ns DESC LIMIT 16)`, camera).Scan(&end); err != nil {
		return time.Time{}, fmt.Errorf("segstore: last end %q: %w", camera, err)
	}
	if !end.Valid {
		return time.Time{}, nil
	}
	return time.Unix(0, end.Int64), nil
}

// AddGap records that g.Camera has no recording in [g.Start, g.End).
func (s *Store) AddGap(ctx context.Context, g Gap) error {
	if err := s.acquire(); err != nil {
		return err
	}
	defer s.release()
	if s.readOnly {
		return ErrReadOnly
	}
	if err := validCamera(g.Camera); err != nil {
		return err
	}
	switch {
	case !timeInRange(g.Start) || !timeInRange(g.End):
		return fmt.Errorf("%w: gap start or end out of range (zero?)", ErrInvalidMeta)
	case g.End.Before(g.Start):
		return fmt.Errorf("%w: gap end %v before start %v", ErrInvalidMeta, g.End, g.Start)
	case len(g.Reason) > maxReasonLen || !utf8.ValidString(g.Reason):
		return fmt.Errorf("%w: gap reason must be valid UTF-8 of at most %d bytes", ErrInvalidMeta, maxReasonLen)
	}
	if _, err := s.db.ExecContext(ctx, `INSERT INTO gaps (camera, start_ns, end_ns, reason) VALUES (?, ?, ?, ?)`,
		g.Camera, g.Start.UnixNano(), g.End.UnixNano(), g.Reason); err != nil {
		return fmt.Errorf("segstore: add gap: %w", err)
	}
	return nil
}

// Gaps returns the gaps selected by f, ordered by camera, then start.
func (s *Store) Gaps(ctx context.Context, f Filter) ([]Gap, error) {
	if err := s.acquire(); err != nil {
		return nil, err
	}
	defer s.release()
	where, args, err := f.where()
	if err != nil {
		return nil, err
	}
	rows, err := s.db.QueryContext(ctx, `SELECT camera, start_ns, end_ns, reason FROM gaps`+where+
		` ORDER BY camera, start_ns, id`, args...)
	if err != nil {
		return nil, fmt.Errorf("segstore: gaps: %w", err)
	}
	defer rows.Close()
	var gaps []Gap
	for rows.Next() {
		var g Gap
		var start, end int64
		if err := rows.Scan(&g.Camera, &start, &end, &g.Reason); err != nil {
			return nil, fmt.Errorf("segstore: gaps: %w", err)
		}
		g.Start, g.End = time.Unix(0, start), time.Unix(0, end)
		gaps = append(gaps, g)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("segstore: gaps: %w", err)
	}
	return gaps, nil
}
