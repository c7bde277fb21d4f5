package store

import (
	"context"
	"fmt"
)

// Hubs' health reports (PostgreSQL).

// PutHubReport stores r as its hub's latest report, replacing the one
// before; ErrNotFound when its household does not exist.
func (s *Postgres) PutHubReport(ctx context.Context, r HubReport) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO hub_reports (`+hubReportCols+`)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)
ON CONFLICT (household_id, hub_id) DO UPDATE SET received_ns = EXCLUDED.received_ns, version = EXCLUDED.version,
	started_ns = EXCLUDED.started_ns, sent_ns = EXCLUDED.sent_ns, cameras = EXCLUDED.cameras, recording = EXCLUDED.recording,
	pending = EXCLUDED.pending, oldest_pending_ns = EXCLUDED.oldest_pending_ns, failures = EXCLUDED.failures,
	rejected = EXCLUDED.rejected, evicted = EXCLUDED.evicted, cloud_away = EXCLUDED.cloud_away,
	error_kind = EXCLUDED.error_kind, error_status = EXCLUDED.error_status, error_message = EXCLUDED.error_message,
	error_ns = EXCLUDED.error_ns`, hubReportArgs(r)...)
	if err != nil {
		return fmt.Errorf("store: put hub report: %w", pgRefErr(err))
	}
	return nil
}

// HubReports returns the latest report of every hub of the household that
// reported, by hub ID.
func (s *Postgres) HubReports(ctx context.Context, householdID string) ([]HubReport, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+hubReportCols+` FROM hub_reports WHERE household_id = $1 ORDER BY hub_id`, householdID)
	out, err := pgCollect(rows, err, scanHubReport)
	if err != nil {
		return nil, fmt.Errorf("store: hub reports: %w", err)
	}
	return out, nil
}
