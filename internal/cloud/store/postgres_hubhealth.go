package store

import (
	"context"
	"fmt"
	"time"
)

// Hubs' health reports (PostgreSQL).

// PutHubReport stores r as its hub's latest report, replacing the one
// before; ErrNotFound when its household does not exist.
func (s *Postgres) PutHubReport(ctx context.Context, r HubReport) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO hub_reports (`+hubReportCols+`)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)
ON CONFLICT (household_id, hub_id) DO UPDATE SET `+hubReportUpdate, hubReportArgs(r)...)
	if err != nil {
		return fmt.Errorf("store: put hub report: %w", pgRefErr(err))
	}
	return nil
}

// HubReports returns the latest report of every hub of the household that
// reported, by hub ID.
func (s *Postgres) HubReports(ctx context.Context, householdID string) ([]HubReport, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+hubReportReadCols+` FROM hub_reports WHERE household_id = $1 ORDER BY hub_id`, householdID)
	out, err := pgCollect(rows, err, scanHubReport)
	if err != nil {
		return nil, fmt.Errorf("store: hub reports: %w", err)
	}
	return out, nil
}

// QuietHubReports returns the reports of hubs gone quiet since before and
// not marked, and of hubs marked quiet that reported since.
func (s *Postgres) QuietHubReports(ctx context.Context, before time.Time, limit int) ([]HubReport, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+hubReportReadCols+` FROM hub_reports
WHERE (quiet_ns = $1 AND received_ns < $2) OR (quiet_ns != $1 AND received_ns > quiet_ns)
ORDER BY received_ns, household_id, hub_id LIMIT $3`, int64(zeroTimeNanos), encTime(before), limit)
	out, err := pgCollect(rows, err, scanHubReport)
	if err != nil {
		return nil, fmt.Errorf("store: quiet hub reports: %w", err)
	}
	return out, nil
}

// MarkHubQuiet marks the hub's report received at lastContact quiet.
func (s *Postgres) MarkHubQuiet(ctx context.Context, householdID, hubID string, lastContact time.Time) (bool, error) {
	tag, err := s.pool.Exec(ctx, `UPDATE hub_reports SET quiet_ns = received_ns
WHERE household_id = $1 AND hub_id = $2 AND received_ns = $3 AND quiet_ns = $4`, householdID, hubID, encTime(lastContact), int64(zeroTimeNanos))
	if err != nil {
		return false, fmt.Errorf("store: mark hub quiet: %w", err)
	}
	return tag.RowsAffected() > 0, nil
}

// MarkHubBack clears the quiet mark of a hub that reported since.
func (s *Postgres) MarkHubBack(ctx context.Context, householdID, hubID string, quiet time.Time) (bool, error) {
	tag, err := s.pool.Exec(ctx, `UPDATE hub_reports SET quiet_ns = $1
WHERE household_id = $2 AND hub_id = $3 AND quiet_ns = $4 AND received_ns > quiet_ns`, int64(zeroTimeNanos), householdID, hubID, encTime(quiet))
	if err != nil {
		return false, fmt.Errorf("store: mark hub back: %w", err)
	}
	return tag.RowsAffected() > 0, nil
}
