package store

import (
	"context"
	"fmt"
	"time"
)

// Shares (PostgreSQL). A link share has no guest (NULL); an account share
// has an all-zero token hash.

// CreateShare stores a new share.
func (s *Postgres) CreateShare(ctx context.Context, sh Share) error {
	var guest *string
	if sh.Guest != "" {
		guest = &sh.Guest
	}
	manifest := sh.Manifest
	if manifest == nil {
		manifest = []byte{}
	}
	_, err := s.pool.Exec(ctx, `
INSERT INTO shares (id, household_id, creator, camera, from_ns, to_ns, expires_ns, revoked_ns, kind, guest, token_hash, manifest, created_ns, redacted, clip_ns)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)`,
		sh.ID, sh.HouseholdID, sh.Creator, sh.Camera, encTime(sh.From), encTime(sh.To), encTime(sh.Expires), encTime(sh.Revoked),
		sh.Kind, guest, sh.TokenHash[:], manifest, encTime(sh.Created), sh.Redacted, clipNanos(sh.Clip))
	if err := pgInsertErr(err); err != nil {
		return fmt.Errorf("store: create share: %w", err)
	}
	return nil
}

// Share returns one share with its manifest.
func (s *Postgres) Share(ctx context.Context, id string) (Share, error) {
	sh, err := scanShare(s.pool.QueryRow(ctx, `SELECT `+shareCols+`, manifest FROM shares WHERE id = $1`, id), true)
	if err != nil {
		return Share{}, fmt.Errorf("store: share: %w", pgNotFound(err))
	}
	return sh, nil
}

func (s *Postgres) listShares(ctx context.Context, where string, arg string) ([]Share, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+shareCols+` FROM shares WHERE `+where+` ORDER BY created_ns DESC, id`, arg)
	out, err := pgCollect(rows, err, func(row interface{ Scan(...any) error }) (Share, error) { return scanShare(row, false) })
	if err != nil {
		return nil, fmt.Errorf("store: shares: %w", err)
	}
	return out, nil
}

// Shares returns the household's shares, newest first.
func (s *Postgres) Shares(ctx context.Context, householdID string) ([]Share, error) {
	return s.listShares(ctx, `household_id = $1`, householdID)
}

// SharesWith returns the shares with a guest account, newest first.
func (s *Postgres) SharesWith(ctx context.Context, accountID string) ([]Share, error) {
	return s.listShares(ctx, `guest = $1`, accountID)
}

// RevokeShare marks a share revoked (the first time counts). One UPDATE:
// under concurrent revokes, the second sees the first's time and keeps it.
func (s *Postgres) RevokeShare(ctx context.Context, householdID, id string, at time.Time) error {
	err := pgAffected(s.pool.Exec(ctx, `
UPDATE shares SET revoked_ns = CASE WHEN revoked_ns = $1 THEN $2 ELSE revoked_ns END
WHERE id = $3 AND household_id = $4`, int64(zeroTimeNanos), encTime(at), id, householdID))
	if err != nil {
		return fmt.Errorf("store: revoke share: %w", err)
	}
	return nil
}

// SetShareClip records (or, with the zero time, clears) when a redacted
// share's clip was stored.
func (s *Postgres) SetShareClip(ctx context.Context, id string, at time.Time) error {
	if err := pgAffected(s.pool.Exec(ctx, `UPDATE shares SET clip_ns = $1 WHERE id = $2 AND redacted`, clipNanos(at), id)); err != nil {
		return fmt.Errorf("store: set share clip: %w", err)
	}
	return nil
}

// DueShareClips returns shares whose stored clip is revoked or expired.
func (s *Postgres) DueShareClips(ctx context.Context, now time.Time, limit int) ([]Share, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+shareCols+` FROM shares
WHERE clip_ns != 0 AND (revoked_ns != $1 OR expires_ns <= $2) ORDER BY expires_ns, id LIMIT $3`,
		int64(zeroTimeNanos), encTime(now), limit)
	out, err := pgCollect(rows, err, func(row interface{ Scan(...any) error }) (Share, error) { return scanShare(row, false) })
	if err != nil {
		return nil, fmt.Errorf("store: due share clips: %w", err)
	}
	return out, nil
}
