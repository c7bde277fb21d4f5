package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// sqliteMigrations returns the schema steps: step i upgrades the database
// from schema version i to i+1. Append new steps; never edit old ones.
//
// Conventions: every time is an INTEGER of Unix nanoseconds (UTC), with
// math.MinInt64 standing for the zero time.Time (see encTime); []byte and
// [32]byte are BLOBs; Object.Seq (uint64) is stored bit for bit as INTEGER.
// Tables are STRICT so a wrong type is an error, not a silent conversion.
func sqliteMigrations() []string {
	return []string{
		// 0 -> 1: initial schema.
		`
CREATE TABLE accounts (
	id            TEXT    PRIMARY KEY,
	email         TEXT    NOT NULL,
	password_hash TEXT    NOT NULL,
	totp_secret   BLOB,
	created_ns    INTEGER NOT NULL
) STRICT;
-- E-mails are compared exactly (BINARY collation): the caller normalises.
CREATE UNIQUE INDEX accounts_email ON accounts (email);

-- Tokens by the SHA-256 of their secret; the secret itself is never stored.
CREATE TABLE tokens (
	hash       BLOB    PRIMARY KEY CHECK (length(hash) = 32),
	account_id TEXT    NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
	kind       TEXT    NOT NULL,
	scopes     TEXT    NOT NULL DEFAULT '[]', -- JSON array of strings
	csrf       TEXT    NOT NULL DEFAULT '',
	created_ns INTEGER NOT NULL,
	expires_ns INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
CREATE INDEX tokens_account_kind ON tokens (account_id, kind);
CREATE INDEX tokens_expires ON tokens (expires_ns);

CREATE TABLE households (
	id           TEXT    PRIMARY KEY,
	name         TEXT    NOT NULL,
	genesis_hash BLOB,
	quota_bytes  INTEGER NOT NULL,
	created_ns   INTEGER NOT NULL
) STRICT;

CREATE TABLE members (
	household_id TEXT    NOT NULL REFERENCES households (id) ON DELETE CASCADE,
	account_id   TEXT    NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
	role         TEXT    NOT NULL,
	created_ns   INTEGER NOT NULL,
	PRIMARY KEY (household_id, account_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX members_account ON members (account_id, household_id);

-- Membership-chain links exactly as signed; the primary key is the
-- (household, seq) index and refuses a second link with the same seq.
CREATE TABLE links (
	household_id TEXT    NOT NULL REFERENCES households (id) ON DELETE CASCADE,
	seq          INTEGER NOT NULL CHECK (seq >= 0),
	hash         BLOB,
	data         BLOB,
	created_ns   INTEGER NOT NULL,
	PRIMARY KEY (household_id, seq)
) STRICT;

CREATE TABLE devices (
	id           TEXT    PRIMARY KEY,
	household_id TEXT    NOT NULL REFERENCES households (id) ON DELETE CASCADE,
	kind         TEXT    NOT NULL,
	sign_pub     BLOB,
	created_ns   INTEGER NOT NULL
) STRICT;
CREATE INDEX devices_household ON devices (household_id, id);

CREATE TABLE objects (
	household_id TEXT    NOT NULL REFERENCES households (id) ON DELETE CASCADE,
	key          TEXT    NOT NULL,
	device       TEXT    NOT NULL,
	camera       TEXT    NOT NULL,
	kind         TEXT    NOT NULL,
	seq          INTEGER NOT NULL,
	start_ns     INTEGER NOT NULL,
	end_ns       INTEGER NOT NULL,
	size         INTEGER NOT NULL,
	sha256       BLOB    NOT NULL CHECK (length(sha256) = 32),
	created_ns   INTEGER NOT NULL,
	PRIMARY KEY (household_id, key)
) STRICT;
CREATE INDEX objects_camera_start ON objects (household_id, camera, start_ns, key);
CREATE INDEX objects_end ON objects (household_id, end_ns);

-- Pairing rendezvous; household_id is '' until a member's message sets it.
CREATE TABLE pairings (
	id           TEXT    PRIMARY KEY,
	household_id TEXT    NOT NULL DEFAULT '',
	created_ns   INTEGER NOT NULL,
	expires_ns   INTEGER NOT NULL
) STRICT;
CREATE INDEX pairings_expires ON pairings (expires_ns);

-- The primary key refuses a second message for the same step.
CREATE TABLE pairing_msgs (
	pairing_id TEXT    NOT NULL REFERENCES pairings (id) ON DELETE CASCADE,
	step       INTEGER NOT NULL CHECK (step >= 0),
	data       BLOB,
	PRIMARY KEY (pairing_id, step)
) STRICT, WITHOUT ROWID;

-- The access record. Deliberately no foreign key: a record is never
-- refused or removed because of the state of other tables.
CREATE TABLE accesses (
	id           INTEGER PRIMARY KEY,
	time_ns      INTEGER NOT NULL,
	household_id TEXT    NOT NULL,
	actor        TEXT    NOT NULL,
	actor_kind   TEXT    NOT NULL,
	action       TEXT    NOT NULL,
	object       TEXT    NOT NULL,
	reason       TEXT    NOT NULL
) STRICT;
CREATE INDEX accesses_household_time ON accesses (household_id, time_ns, id);
`,
		// 1 -> 2: passkeys (public keys only).
		`
CREATE TABLE credentials (
	id           BLOB    PRIMARY KEY,
	account_id   TEXT    NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
	data         BLOB    NOT NULL,
	created_ns   INTEGER NOT NULL,
	last_used_ns INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
CREATE INDEX credentials_account ON credentials (account_id);
`,
		// shares: time ranges shared with guest accounts or as links; the
		// manifest is opaque (built and signed in the sharer's browser).
		`
CREATE TABLE shares (
	id           TEXT    PRIMARY KEY,
	household_id TEXT    NOT NULL REFERENCES households (id) ON DELETE CASCADE,
	creator      TEXT    NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
	camera       TEXT    NOT NULL,
	from_ns      INTEGER NOT NULL,
	to_ns        INTEGER NOT NULL,
	expires_ns   INTEGER NOT NULL,
	revoked_ns   INTEGER NOT NULL,
	kind         TEXT    NOT NULL,
	guest        TEXT    REFERENCES accounts (id) ON DELETE CASCADE, -- NULL for links
	token_hash   BLOB    NOT NULL CHECK (length(token_hash) = 32),
	manifest     BLOB    NOT NULL,
	created_ns   INTEGER NOT NULL
) STRICT;
CREATE INDEX shares_household ON shares (household_id, created_ns);
CREATE INDEX shares_guest ON shares (guest, created_ns) WHERE guest IS NOT NULL;
`,
		// -> household retention: maximum age of objects (quota_bytes is the quota).
		`ALTER TABLE households ADD COLUMN max_age_ns INTEGER NOT NULL DEFAULT 0;`,
		// -> Web Push subscriptions for sealed events, and the VAPID key.
		`
CREATE TABLE push_subs (
	household_id TEXT    NOT NULL REFERENCES households (id) ON DELETE CASCADE,
	endpoint     TEXT    NOT NULL,
	account_id   TEXT    NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
	p256dh       TEXT    NOT NULL,
	auth         TEXT    NOT NULL,
	created_ns   INTEGER NOT NULL,
	PRIMARY KEY (household_id, endpoint)
) STRICT, WITHOUT ROWID;
CREATE INDEX push_subs_account ON push_subs (account_id);
CREATE TABLE push_vapid (
	id  INTEGER PRIMARY KEY CHECK (id = 1),
	key TEXT    NOT NULL
) STRICT;
`,
		// -> the signed settings.set action behind a household's retention
		// (NULL: none), and objects by upload time (the quota floor).
		`
ALTER TABLE households ADD COLUMN settings_device TEXT;
ALTER TABLE households ADD COLUMN settings_body   BLOB;
ALTER TABLE households ADD COLUMN settings_sig    BLOB;
CREATE INDEX objects_created ON objects (household_id, created_ns);
`,
		// -> the history outbox and index (transparency log entries).
		historySchema,
		// -> the access record is the households' history in the
		// transparency log now.
		`DROP TABLE accesses;`,
		// -> a session names the device it proved it holds.
		`ALTER TABLE tokens ADD COLUMN device TEXT NOT NULL DEFAULT '';`,
		// -> short-lived state every replica shares (EphemeralStore):
		// rate limits, TOTP steps, ceremonies, sign-in links, invites.
		`
CREATE TABLE ephemeral (
	key        TEXT    PRIMARY KEY,
	value      BLOB    NOT NULL,
	expires_ns INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
CREATE INDEX ephemeral_expires ON ephemeral (expires_ns);
`,
		// -> staff identities (not accounts), their sessions in a table of
		// their own, and the households' support codes.
		`
CREATE TABLE staff (
	id          TEXT    PRIMARY KEY,
	name        TEXT    NOT NULL UNIQUE,
	role        TEXT    NOT NULL CHECK (role IN ('support', 'operator', 'admin')),
	created_ns  INTEGER NOT NULL,
	disabled_ns INTEGER NOT NULL
) STRICT;
CREATE TABLE staff_tokens (
	hash       BLOB    PRIMARY KEY CHECK (length(hash) = 32),
	staff_id   TEXT    NOT NULL REFERENCES staff (id) ON DELETE CASCADE,
	csrf       TEXT    NOT NULL,
	created_ns INTEGER NOT NULL,
	expires_ns INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
CREATE INDEX staff_tokens_staff ON staff_tokens (staff_id);
CREATE TABLE support_codes (
	household_id TEXT PRIMARY KEY REFERENCES households (id) ON DELETE CASCADE,
	code         TEXT NOT NULL UNIQUE
) STRICT;
`,
		// -> the lockbox: staff requests for a household's metadata and
		// the admins' decisions.
		`
CREATE TABLE staff_requests (
	id           TEXT    PRIMARY KEY,
	household_id TEXT    NOT NULL REFERENCES households (id) ON DELETE CASCADE,
	staff_id     TEXT    NOT NULL REFERENCES staff (id) ON DELETE CASCADE,
	scopes       TEXT    NOT NULL, -- comma-separated, ascending
	reason       TEXT    NOT NULL,
	duration_ns  INTEGER NOT NULL,
	created_ns   INTEGER NOT NULL,
	state        TEXT    NOT NULL CHECK (state IN ('pending', 'approved', 'denied', 'revoked', 'expired')),
	decided_ns   INTEGER NOT NULL,
	decided_by   TEXT    NOT NULL,
	expires_ns   INTEGER NOT NULL
) STRICT;
CREATE INDEX staff_requests_household ON staff_requests (household_id, created_ns);
`,
		// -> staff passkeys, apart from accounts' passkeys.
		`
CREATE TABLE staff_credentials (
	id           BLOB    PRIMARY KEY,
	staff_id     TEXT    NOT NULL REFERENCES staff (id) ON DELETE CASCADE,
	data         BLOB    NOT NULL,
	created_ns   INTEGER NOT NULL,
	last_used_ns INTEGER NOT NULL
) STRICT;
CREATE INDEX staff_credentials_staff ON staff_credentials (staff_id, created_ns);
`,
		// -> approved grants by their end, for the expiry sweep.
		`CREATE INDEX staff_requests_due ON staff_requests (expires_ns) WHERE state = 'approved';`,
		// -> support tickets about a household and staff members' notes
		// on them (staff metadata).
		`
CREATE TABLE staff_tickets (
	id           TEXT    PRIMARY KEY,
	household_id TEXT    NOT NULL REFERENCES households (id) ON DELETE CASCADE,
	subject      TEXT    NOT NULL,
	state        TEXT    NOT NULL CHECK (state IN ('open', 'closed')),
	opened_by    TEXT    NOT NULL REFERENCES staff (id) ON DELETE CASCADE,
	opened_ns    INTEGER NOT NULL,
	closed_by    TEXT    NOT NULL,
	closed_ns    INTEGER NOT NULL
) STRICT;
CREATE INDEX staff_tickets_household ON staff_tickets (household_id, opened_ns);
CREATE INDEX staff_tickets_opened_by ON staff_tickets (opened_by, opened_ns);
CREATE TABLE staff_notes (
	id         TEXT    PRIMARY KEY,
	ticket_id  TEXT    NOT NULL REFERENCES staff_tickets (id) ON DELETE CASCADE,
	staff_id   TEXT    NOT NULL REFERENCES staff (id) ON DELETE CASCADE,
	created_ns INTEGER NOT NULL,
	text       TEXT    NOT NULL
) STRICT;
CREATE INDEX staff_notes_ticket ON staff_notes (ticket_id, created_ns);
`,
		// -> hubs' latest health reports (internal/cloud/hubhealth):
		// metadata only, one row per hub, replaced by the next report.
		`
CREATE TABLE hub_reports (
	household_id      TEXT    NOT NULL REFERENCES households (id) ON DELETE CASCADE,
	hub_id            TEXT    NOT NULL,
	received_ns       INTEGER NOT NULL,
	version           TEXT    NOT NULL,
	started_ns        INTEGER NOT NULL,
	sent_ns           INTEGER NOT NULL,
	cameras           INTEGER NOT NULL,
	recording         INTEGER NOT NULL,
	pending           INTEGER NOT NULL,
	oldest_pending_ns INTEGER NOT NULL,
	failures          INTEGER NOT NULL,
	rejected          INTEGER NOT NULL,
	evicted           INTEGER NOT NULL,
	cloud_away        INTEGER NOT NULL CHECK (cloud_away IN (0, 1)),
	error_kind        TEXT    NOT NULL,
	error_status      INTEGER NOT NULL,
	error_message     TEXT    NOT NULL,
	error_ns          INTEGER NOT NULL,
	PRIMARY KEY (household_id, hub_id)
) STRICT, WITHOUT ROWID;
`,
		// -> labelling workspaces (internal/cloud/labelling): their
		// chains, donations with their consent, annotations (blob keys),
		// dataset versions, evaluations and the marks revocations leave.
		`
CREATE TABLE labelling_workspaces (
	id           TEXT    PRIMARY KEY,
	name         TEXT    NOT NULL,
	genesis_hash BLOB    NOT NULL,
	created_by   TEXT    NOT NULL,
	created_ns   INTEGER NOT NULL
) STRICT;
CREATE TABLE labelling_links (
	workspace_id TEXT    NOT NULL REFERENCES labelling_workspaces (id) ON DELETE CASCADE,
	seq          INTEGER NOT NULL CHECK (seq >= 0),
	hash         BLOB    NOT NULL,
	data         BLOB    NOT NULL,
	created_ns   INTEGER NOT NULL,
	PRIMARY KEY (workspace_id, seq)
) STRICT;
CREATE TABLE labelling_donations (
	id            TEXT    PRIMARY KEY,
	workspace_id  TEXT    NOT NULL REFERENCES labelling_workspaces (id) ON DELETE CASCADE,
	household_id  TEXT    NOT NULL REFERENCES households (id) ON DELETE CASCADE,
	device        TEXT    NOT NULL,
	consent       TEXT    NOT NULL,
	object_key    TEXT    NOT NULL,
	object_size   INTEGER NOT NULL,
	object_sha256 BLOB    NOT NULL,
	purpose       TEXT    NOT NULL,
	state         TEXT    NOT NULL,
	assignee      TEXT    NOT NULL,
	assigned_ns   INTEGER NOT NULL,
	annotation    INTEGER NOT NULL,
	accepted      INTEGER NOT NULL,
	reviewer      TEXT    NOT NULL,
	expires_ns    INTEGER NOT NULL,
	created_ns    INTEGER NOT NULL,
	ended_ns      INTEGER NOT NULL
) STRICT;
CREATE INDEX labelling_donations_workspace ON labelling_donations (workspace_id, created_ns);
CREATE INDEX labelling_donations_household ON labelling_donations (household_id, created_ns);
CREATE INDEX labelling_donations_expires ON labelling_donations (expires_ns);
CREATE TABLE labelling_annotations (
	donation_id TEXT    NOT NULL REFERENCES labelling_donations (id) ON DELETE CASCADE,
	version     INTEGER NOT NULL,
	device      TEXT    NOT NULL,
	blob_key    TEXT    NOT NULL,
	size        INTEGER NOT NULL,
	created_ns  INTEGER NOT NULL,
	PRIMARY KEY (donation_id, version)
) STRICT;
CREATE TABLE labelling_datasets (
	workspace_id TEXT    NOT NULL REFERENCES labelling_workspaces (id) ON DELETE CASCADE,
	version      INTEGER NOT NULL,
	creator      TEXT    NOT NULL,
	created_ns   INTEGER NOT NULL,
	PRIMARY KEY (workspace_id, version)
) STRICT;
-- A dataset version's items never change: a revoked donation keeps its
-- row here (an ID, no content) and gains a mark.
CREATE TABLE labelling_items (
	workspace_id TEXT    NOT NULL,
	version      INTEGER NOT NULL,
	donation_id  TEXT    NOT NULL,
	annotation   INTEGER NOT NULL,
	annotator    TEXT    NOT NULL,
	reviewer     TEXT    NOT NULL,
	PRIMARY KEY (workspace_id, version, donation_id),
	FOREIGN KEY (workspace_id, version) REFERENCES labelling_datasets (workspace_id, version) ON DELETE CASCADE
) STRICT;
CREATE INDEX labelling_items_donation ON labelling_items (donation_id);
CREATE TABLE labelling_evaluations (
	workspace_id TEXT    NOT NULL,
	id           TEXT    NOT NULL,
	name         TEXT    NOT NULL,
	dataset      INTEGER NOT NULL,
	device       TEXT    NOT NULL,
	sealed       BLOB    NOT NULL,
	created_ns   INTEGER NOT NULL,
	PRIMARY KEY (workspace_id, id),
	FOREIGN KEY (workspace_id, dataset) REFERENCES labelling_datasets (workspace_id, version) ON DELETE CASCADE
) STRICT;
CREATE TABLE labelling_marks (
	workspace_id TEXT    NOT NULL REFERENCES labelling_workspaces (id) ON DELETE CASCADE,
	target       TEXT    NOT NULL, -- 'dataset:N' or 'evaluation:ID'
	donation_id  TEXT    NOT NULL,
	reason       TEXT    NOT NULL,
	marked_ns    INTEGER NOT NULL,
	PRIMARY KEY (workspace_id, target, donation_id)
) STRICT;
`,
		// -> redacted shares: their one blurred clip (stored under the
		// share's own blob key) and when it was stored (0: none, or erased).
		`
ALTER TABLE shares ADD COLUMN redacted INTEGER NOT NULL DEFAULT 0 CHECK (redacted IN (0, 1));
ALTER TABLE shares ADD COLUMN clip_ns  INTEGER NOT NULL DEFAULT 0;
CREATE INDEX shares_clips ON shares (expires_ns) WHERE clip_ns != 0;
`,
		// -> hubs gone quiet: the last contact after which the household
		// was told its hub went quiet (the zero time: not told).
		`
ALTER TABLE hub_reports ADD COLUMN quiet_ns INTEGER NOT NULL DEFAULT -9223372036854775808;
`,
	}
}

// sqliteSchemaVersion is the schema version this code writes.
func sqliteSchemaVersion() int { return len(sqliteMigrations()) }

// migrateSQLite brings the database to sqliteSchemaVersion. The version
// table and every pending step are applied in one write transaction (BEGIN
// IMMEDIATE), so two processes opening the same file cannot both migrate and
// a failed step leaves the database as it was.
func migrateSQLite(ctx context.Context, db *sql.DB, log *slog.Logger, nowNanos int64) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `
CREATE TABLE IF NOT EXISTS schema_version (
	version    INTEGER PRIMARY KEY,
	applied_ns INTEGER NOT NULL
) STRICT`); err != nil {
		return fmt.Errorf("migrate: create version table: %w", err)
	}
	var v int
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_version`).Scan(&v); err != nil {
		return fmt.Errorf("migrate: read schema version: %w", err)
	}
	steps := sqliteMigrations()
	if v > len(steps) {
		return fmt.Errorf("migrate: schema version %d is newer than this program supports (%d); hint: run a newer vigil", v, len(steps))
	}
	if v == len(steps) {
		return nil
	}
	from := v
	for ; v < len(steps); v++ {
		if _, err := tx.ExecContext(ctx, steps[v]); err != nil {
			return fmt.Errorf("migrate to %d: %w", v+1, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_version (version, applied_ns) VALUES (?, ?)`, v+1, nowNanos); err != nil {
			return fmt.Errorf("migrate to %d: %w", v+1, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("migrate to %d: %w", v, err)
	}
	log.Info("store: sqlite schema migrated", "from", from, "to", v)
	return nil
}

// sqliteCode returns the extended SQLite result code of err, or 0.
func sqliteCode(err error) int {
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code()
	}
	return 0
}

// isUniqueViolation reports whether err is a primary key or UNIQUE
// constraint failure.
func isUniqueViolation(err error) bool {
	c := sqliteCode(err)
	return c == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY || c == sqlite3.SQLITE_CONSTRAINT_UNIQUE
}

// isForeignKeyViolation reports whether err is a foreign key failure: the
// row refers to an account or household that does not exist.
func isForeignKeyViolation(err error) bool {
	return sqliteCode(err) == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY
}
