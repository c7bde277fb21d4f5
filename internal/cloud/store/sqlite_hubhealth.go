package store

import (
	"context"
	"fmt"
)

// Hubs' health reports (SQLite).

// PutHubReport stores r as its hub's latest report, replacing the one
// before; ErrNotFound when its household does not exist.
func (s *SQLite) PutHubReport(ctx context.Context, r HubReport) error {
	_, err := s.w.ExecContext(ctx, `INSERT OR REPLACE INTO hub_reports (`+hubReportCols+`)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, hubReportArgs(r)...)
	if err != nil {
		return fmt.Errorf("store: put hub report: %w", refErr(err))
	}
	return nil
}

// HubReports returns the latest report of every hub of the household that
// reported, by hub ID.
func (s *SQLite) HubReports(ctx context.Context, householdID string) ([]HubReport, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+hubReportCols+` FROM hub_reports WHERE household_id = ? ORDER BY hub_id`, householdID)
	if err != nil {
		return nil, fmt.Errorf("store: hub reports: %w", err)
	}
	out, err := collect(rows, scanHubReport)
	if err != nil {
		return nil, fmt.Errorf("store: hub reports: %w", err)
	}
	return out, nil
}
