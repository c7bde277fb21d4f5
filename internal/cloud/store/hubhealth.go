package store

import (
	"context"
	"time"
)

// HubReportStore keeps each hub's latest health report
// (internal/cloud/hubhealth's Store; hubhealthtest is its suite).
type HubReportStore interface {
	// PutHubReport stores r as its hub's latest report, replacing the one
	// before; ErrNotFound when r's household does not exist.
	PutHubReport(ctx context.Context, r HubReport) error
	// HubReports returns the latest report of each hub of the household
	// that reported, by hub ID (empty, not an error, when none did).
	HubReports(ctx context.Context, householdID string) ([]HubReport, error)
}

// HubReport is the latest health report of one hub (internal/cloud/hubhealth):
// metadata only — counts, times, a version and a short error text the
// domain checked. Received is the cloud's clock when it arrived: the hub's
// last contact.
type HubReport struct {
	HouseholdID string
	HubID       string
	Received    time.Time

	Version   string
	Started   time.Time
	Sent      time.Time
	Cameras   int
	Recording int

	Pending       int64
	OldestPending time.Time // zero when unknown or nothing is pending
	Failures      int64
	Rejected      int64
	Evicted       int64
	CloudAway     bool

	// The latest upload failure; ErrorKind is "" when there is none.
	ErrorKind    string
	ErrorStatus  int
	ErrorMessage string
	ErrorAt      time.Time
}

// hubReportCols are the columns scanHubReport reads, in order.
const hubReportCols = `household_id, hub_id, received_ns, version, started_ns, sent_ns, cameras, recording,
	pending, oldest_pending_ns, failures, rejected, evicted, cloud_away, error_kind, error_status, error_message, error_ns`

// hubReportArgs are r's values for hubReportCols.
func hubReportArgs(r HubReport) []any {
	away := 0
	if r.CloudAway {
		away = 1
	}
	return []any{r.HouseholdID, r.HubID, encTime(r.Received), r.Version, encTime(r.Started), encTime(r.Sent),
		int64(r.Cameras), int64(r.Recording), r.Pending, encTime(r.OldestPending), r.Failures, r.Rejected, r.Evicted,
		int64(away), r.ErrorKind, int64(r.ErrorStatus), r.ErrorMessage, encTime(r.ErrorAt)}
}

// scanHubReport scans hubReportCols.
func scanHubReport(row rowScanner) (HubReport, error) {
	var r HubReport
	var received, started, sent, oldest, errAt, cams, rec, away, status int64
	err := row.Scan(&r.HouseholdID, &r.HubID, &received, &r.Version, &started, &sent, &cams, &rec,
		&r.Pending, &oldest, &r.Failures, &r.Rejected, &r.Evicted, &away, &r.ErrorKind, &status, &r.ErrorMessage, &errAt)
	r.Received, r.Started, r.Sent, r.OldestPending, r.ErrorAt = decTime(received), decTime(started), decTime(sent), decTime(oldest), decTime(errAt)
	r.Cameras, r.Recording, r.CloudAway, r.ErrorStatus = int(cams), int(rec), away != 0, int(status)
	return r, err
}
