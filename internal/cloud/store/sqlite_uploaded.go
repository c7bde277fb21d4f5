package store

import (
	"context"
	"fmt"
	"time"
)

// UploadedSince returns the total Size of the household's objects whose
// Created is at or after since.
func (s *SQLite) UploadedSince(ctx context.Context, householdID string, since time.Time) (int64, error) {
	var n int64
	err := s.r.QueryRowContext(ctx, `SELECT COALESCE(SUM(size), 0) FROM objects WHERE household_id = ? AND created_ns >= ?`,
		householdID, encTime(since)).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("store: bytes uploaded to household %q since %s: %w", householdID, since.Format(time.RFC3339), err)
	}
	return n, nil
}
