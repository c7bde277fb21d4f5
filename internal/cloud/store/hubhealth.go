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
	// QuietHubReports returns, across households, the reports whose hub
	// the household must be told about: those received before before and
	// not marked quiet (the hub went quiet), and those marked quiet whose
	// hub reported since (it is back); at most limit, oldest contact first.
	QuietHubReports(ctx context.Context, before time.Time, limit int) ([]HubReport, error)
	// MarkHubQuiet marks the hub's report quiet if it is still the one
	// received at lastContact and not marked: whether it did. Of replicas
	// racing, one marks.
	MarkHubQuiet(ctx context.Context, householdID, hubID string, lastContact time.Time) (bool, error)
	// MarkHubBack clears the mark of a hub marked quiet at quiet that has
	// reported since: whether it did. Of replicas racing, one clears.
	MarkHubBack(ctx context.Context, householdID, hubID string, quiet time.Time) (bool, error)
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

	// Quiet is the last contact after which the household was told the
	// hub went quiet (zero: not told, or told it is back since). The
	// cloud's own mark: PutHubReport keeps it, and only MarkHubQuiet and
	// MarkHubBack change it.
	Quiet time.Time
}

// hubReportCols are the columns scanHubReport reads, in order.
const hubReportCols = `household_id, hub_id, received_ns, version, started_ns, sent_ns, cameras, recording,
	pending, oldest_pending_ns, failures, rejected, evicted, cloud_away, error_kind, error_status, error_message, error_ns`

// hubReportUpdate sets every column of hubReportCols but the key from the
// row being inserted (an upsert: the quiet mark stays).
const hubReportUpdate = `received_ns = excluded.received_ns, version = excluded.version,
	started_ns = excluded.started_ns, sent_ns = excluded.sent_ns, cameras = excluded.cameras, recording = excluded.recording,
	pending = excluded.pending, oldest_pending_ns = excluded.oldest_pending_ns, failures = excluded.failures,
	rejected = excluded.rejected, evicted = excluded.evicted, cloud_away = excluded.cloud_away,
	error_kind = excluded.error_kind, error_status = excluded.error_status, error_message = excluded.error_message,
	error_ns = excluded.error_ns`

// hubReportReadCols are hubReportCols and the quiet mark, which
// scanHubReport reads.
const hubReportReadCols = hubReportCols + `, quiet_ns`

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

// scanHubReport scans hubReportReadCols.
func scanHubReport(row rowScanner) (HubReport, error) {
	var r HubReport
	var received, started, sent, oldest, errAt, cams, rec, away, status, quiet int64
	err := row.Scan(&r.HouseholdID, &r.HubID, &received, &r.Version, &started, &sent, &cams, &rec,
		&r.Pending, &oldest, &r.Failures, &r.Rejected, &r.Evicted, &away, &r.ErrorKind, &status, &r.ErrorMessage, &errAt, &quiet)
	r.Received, r.Started, r.Sent, r.OldestPending, r.ErrorAt = decTime(received), decTime(started), decTime(sent), decTime(oldest), decTime(errAt)
	r.Quiet = decTime(quiet)
	r.Cameras, r.Recording, r.CloudAway, r.ErrorStatus = int(cams), int(rec), away != 0, int(status)
	return r, err
}
