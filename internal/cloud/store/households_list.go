package store

import (
	"context"
	"fmt"
)

// HouseholdLister pages through every household's ID, for work that visits
// them all (retention). Both implementations have it.
type HouseholdLister interface {
	// HouseholdIDs returns up to n household IDs greater than after ("":
	// from the first), in ascending byte order; fewer than n means the end.
	HouseholdIDs(ctx context.Context, after string, n int) ([]string, error)
}

var (
	_ HouseholdLister = (*SQLite)(nil)
	_ HouseholdLister = (*Postgres)(nil)
)

// scanID reads one ID column.
func scanID(row rowScanner) (string, error) {
	var id string
	err := row.Scan(&id)
	return id, err
}

// HouseholdIDs implements HouseholdLister.
func (s *SQLite) HouseholdIDs(ctx context.Context, after string, n int) ([]string, error) {
	if n <= 0 {
		return []string{}, nil
	}
	rows, err := s.r.QueryContext(ctx, `SELECT id FROM households WHERE id > ? ORDER BY id LIMIT ?`, after, n)
	if err == nil {
		var ids []string
		if ids, err = collect(rows, scanID); err == nil {
			return ids, nil
		}
	}
	return nil, fmt.Errorf("store: household IDs: %w", err)
}

// HouseholdIDs implements HouseholdLister.
func (s *Postgres) HouseholdIDs(ctx context.Context, after string, n int) ([]string, error) {
	if n <= 0 {
		return []string{}, nil
	}
	rows, err := s.pool.Query(ctx, `SELECT id FROM households WHERE id > $1 ORDER BY id LIMIT $2`, after, n)
	ids, err := pgCollect(rows, err, scanID)
	if err != nil {
		return nil, fmt.Errorf("store: household IDs: %w", err)
	}
	if ids == nil {
		ids = []string{}
	}
	return ids, nil
}
