package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Hubs' health reports (SQLite).

// PutHubReport stores r as its hub's latest report, replacing the one
// before; ErrNotFound when its household does not exist.
func (s *SQLite) PutHubReport(ctx context.Context, r HubReport) error {
	_, err := s.w.ExecContext(ctx, `INSERT INTO hub_reports (`+hubReportCols+`)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (household_id, hub_id) DO UPDATE SET `+hubReportUpdate, hubReportArgs(r)...)
	if err != nil {
		return fmt.Errorf("store: put hub report: %w", refErr(err))
	}
	return nil
}

// HubReports returns the latest report of every hub of the household that
// reported, by hub ID.
func (s *SQLite) HubReports(ctx context.Context, householdID string) ([]HubReport, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+hubReportReadCols+` FROM hub_reports WHERE household_id = ? ORDER BY hub_id`, householdID)
	if err != nil {
		return nil, fmt.Errorf("store: hub reports: %w", err)
	}
	out, err := collect(rows, scanHubReport)
	if err != nil {
		return nil, fmt.Errorf("store: hub reports: %w", err)
	}
	return out, nil
}

// QuietHubReports returns the reports of hubs gone quiet since before and
// not marked, and of hubs marked quiet that reported since.
func (s *SQLite) QuietHubReports(ctx context.Context, before time.Time, limit int) ([]HubReport, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+hubReportReadCols+` FROM hub_reports
WHERE (quiet_ns = ? AND received_ns < ?) OR (quiet_ns != ? AND received_ns > quiet_ns)
ORDER BY received_ns, household_id, hub_id LIMIT ?`, int64(zeroTimeNanos), encTime(before), int64(zeroTimeNanos), limit)
	if err != nil {
		return nil, fmt.Errorf("store: quiet hub reports: %w", err)
	}
	out, err := collect(rows, scanHubReport)
	if err != nil {
		return nil, fmt.Errorf("store: quiet hub reports: %w", err)
	}
	return out, nil
}

// MarkHubQuiet marks the hub's report received at lastContact quiet.
func (s *SQLite) MarkHubQuiet(ctx context.Context, householdID, hubID string, lastContact time.Time) (bool, error) {
	res, err := s.w.ExecContext(ctx, `UPDATE hub_reports SET quiet_ns = received_ns
WHERE household_id = ? AND hub_id = ? AND received_ns = ? AND quiet_ns = ?`, householdID, hubID, encTime(lastContact), int64(zeroTimeNanos))
	return changedOne(res, err, "mark hub quiet")
}

// MarkHubBack clears the quiet mark of a hub that reported since.
func (s *SQLite) MarkHubBack(ctx context.Context, householdID, hubID string, quiet time.Time) (bool, error) {
	res, err := s.w.ExecContext(ctx, `UPDATE hub_reports SET quiet_ns = ?
WHERE household_id = ? AND hub_id = ? AND quiet_ns = ? AND received_ns > quiet_ns`, int64(zeroTimeNanos), householdID, hubID, encTime(quiet))
	return changedOne(res, err, "mark hub back")
}

// changedOne reports whether an UPDATE changed a row.
func changedOne(res sql.Result, err error, what string) (bool, error) {
	if err != nil {
		return false, fmt.Errorf("store: %s: %w", what, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("store: %s: %w", what, err)
	}
	return n > 0, nil
}
