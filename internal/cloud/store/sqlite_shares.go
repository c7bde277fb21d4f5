package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Shares (SQLite). A link share has no guest (NULL); an account share has an
// all-zero token hash.

const shareCols = `id, household_id, creator, camera, from_ns, to_ns, expires_ns, revoked_ns, kind, COALESCE(guest, ''), token_hash, created_ns, redacted, clip_ns`

func scanShare(row interface{ Scan(...any) error }, withManifest bool) (Share, error) {
	var sh Share
	var from, to, exp, rev, created, clip int64
	var th []byte
	dst := []any{&sh.ID, &sh.HouseholdID, &sh.Creator, &sh.Camera, &from, &to, &exp, &rev, &sh.Kind, &sh.Guest, &th, &created, &sh.Redacted, &clip}
	if withManifest {
		dst = append(dst, &sh.Manifest)
	}
	if err := row.Scan(dst...); err != nil {
		return Share{}, err
	}
	if len(th) != 32 {
		return Share{}, fmt.Errorf("share %q: token hash of %d bytes", sh.ID, len(th))
	}
	copy(sh.TokenHash[:], th)
	sh.From, sh.To, sh.Expires, sh.Revoked, sh.Created, sh.Clip = decTime(from), decTime(to), decTime(exp), decTime(rev), decTime(created), clipTime(clip)
	return sh, nil
}

// clip_ns is Unix nanoseconds, 0 for none (a column added with a
// constant default, which cannot be zeroTimeNanos).
func clipNanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return max(1, t.UnixNano())
}

func clipTime(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns).UTC()
}

// CreateShare stores a new share.
func (s *SQLite) CreateShare(ctx context.Context, sh Share) error {
	var guest any
	if sh.Guest != "" {
		guest = sh.Guest
	}
	manifest := sh.Manifest
	if manifest == nil {
		manifest = []byte{}
	}
	_, err := s.w.ExecContext(ctx, `
INSERT INTO shares (id, household_id, creator, camera, from_ns, to_ns, expires_ns, revoked_ns, kind, guest, token_hash, manifest, created_ns, redacted, clip_ns)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		sh.ID, sh.HouseholdID, sh.Creator, sh.Camera, encTime(sh.From), encTime(sh.To), encTime(sh.Expires), encTime(sh.Revoked),
		sh.Kind, guest, sh.TokenHash[:], manifest, encTime(sh.Created), sh.Redacted, clipNanos(sh.Clip))
	switch {
	case isUniqueViolation(err):
		err = ErrExists
	case err != nil:
		err = refErr(err)
	}
	if err != nil {
		return fmt.Errorf("store: create share: %w", err)
	}
	return nil
}

// Share returns one share with its manifest.
func (s *SQLite) Share(ctx context.Context, id string) (Share, error) {
	sh, err := scanShare(s.r.QueryRowContext(ctx, `SELECT `+shareCols+`, manifest FROM shares WHERE id = ?`, id), true)
	if err != nil {
		return Share{}, fmt.Errorf("store: share: %w", notFound(err))
	}
	return sh, nil
}

func (s *SQLite) listShares(ctx context.Context, where string, arg string) ([]Share, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+shareCols+` FROM shares WHERE `+where+` ORDER BY created_ns DESC, id`, arg)
	if err != nil {
		return nil, fmt.Errorf("store: shares: %w", err)
	}
	out, err := collect(rows, func(row interface{ Scan(...any) error }) (Share, error) { return scanShare(row, false) })
	if err != nil {
		return nil, fmt.Errorf("store: shares: %w", err)
	}
	return out, nil
}

// Shares returns the household's shares, newest first.
func (s *SQLite) Shares(ctx context.Context, householdID string) ([]Share, error) {
	return s.listShares(ctx, `household_id = ?`, householdID)
}

// SharesWith returns the shares with a guest account, newest first.
func (s *SQLite) SharesWith(ctx context.Context, accountID string) ([]Share, error) {
	return s.listShares(ctx, `guest = ?`, accountID)
}

// RevokeShare marks a share revoked (the first time counts).
func (s *SQLite) RevokeShare(ctx context.Context, householdID, id string, at time.Time) error {
	return s.writeTx(ctx, func(tx *sql.Tx) error {
		var rev int64
		err := tx.QueryRowContext(ctx, `SELECT revoked_ns FROM shares WHERE id = ? AND household_id = ?`, id, householdID).Scan(&rev)
		if err != nil {
			return fmt.Errorf("store: revoke share: %w", notFound(err))
		}
		if rev != zeroTimeNanos {
			return nil
		}
		if _, err := tx.ExecContext(ctx, `UPDATE shares SET revoked_ns = ? WHERE id = ?`, encTime(at), id); err != nil {
			return fmt.Errorf("store: revoke share: %w", err)
		}
		return nil
	})
}

// SetShareClip records (or, with the zero time, clears) when a redacted
// share's clip was stored.
func (s *SQLite) SetShareClip(ctx context.Context, id string, at time.Time) error {
	res, err := s.w.ExecContext(ctx, `UPDATE shares SET clip_ns = ? WHERE id = ? AND redacted = 1`, clipNanos(at), id)
	if err == nil {
		var n int64
		if n, err = res.RowsAffected(); err == nil && n == 0 {
			err = ErrNotFound
		}
	}
	if err != nil {
		return fmt.Errorf("store: set share clip: %w", err)
	}
	return nil
}

// DueShareClips returns shares whose stored clip is revoked or expired.
func (s *SQLite) DueShareClips(ctx context.Context, now time.Time, limit int) ([]Share, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+shareCols+` FROM shares
WHERE clip_ns != 0 AND (revoked_ns != ? OR expires_ns <= ?) ORDER BY expires_ns, id LIMIT ?`,
		zeroTimeNanos, encTime(now), limit)
	if err != nil {
		return nil, fmt.Errorf("store: due share clips: %w", err)
	}
	out, err := collect(rows, func(row interface{ Scan(...any) error }) (Share, error) { return scanShare(row, false) })
	if err != nil {
		return nil, fmt.Errorf("store: due share clips: %w", err)
	}
	return out, nil
}
