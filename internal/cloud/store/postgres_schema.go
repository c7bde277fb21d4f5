package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// postgresMigrations returns the schema steps: step i upgrades the schema
// from version i to i+1. Append new steps; never edit old ones.
//
// Conventions are SQLite's (sqliteMigrations), so both keep exactly the
// same values: every time is a BIGINT of Unix nanoseconds (UTC), with
// math.MinInt64 standing for the zero time.Time (encTime); []byte and
// [32]byte are BYTEA; Object.Seq (uint64) is stored bit for bit as BIGINT.
// Identifiers, names and keys are TEXT COLLATE "C": compared and ordered
// byte by byte, as SQLite's BINARY collation does, whatever the database's
// locale.
func postgresMigrations() []string {
	return []string{
		// 0 -> 1: the schema SQLite reached in its ninth version.
		`
CREATE TABLE accounts (
	id            TEXT COLLATE "C" PRIMARY KEY,
	email         TEXT COLLATE "C" NOT NULL,
	password_hash TEXT   NOT NULL,
	totp_secret   BYTEA,
	created_ns    BIGINT NOT NULL
);
-- E-mails are compared exactly: the caller normalises.
CREATE UNIQUE INDEX accounts_email ON accounts (email);

-- Passkeys: public keys only.
CREATE TABLE credentials (
	id           BYTEA  PRIMARY KEY,
	account_id   TEXT COLLATE "C" NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
	data         BYTEA  NOT NULL,
	created_ns   BIGINT NOT NULL,
	last_used_ns BIGINT NOT NULL
);
CREATE INDEX credentials_account ON credentials (account_id, created_ns);

-- Tokens by the SHA-256 of their secret; the secret itself is never stored.
CREATE TABLE tokens (
	hash       BYTEA  PRIMARY KEY CHECK (octet_length(hash) = 32),
	account_id TEXT COLLATE "C" NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
	kind       TEXT COLLATE "C" NOT NULL,
	scopes     TEXT[] NOT NULL DEFAULT '{}',
	csrf       TEXT   NOT NULL DEFAULT '',
	device     TEXT   NOT NULL DEFAULT '',
	created_ns BIGINT NOT NULL,
	expires_ns BIGINT NOT NULL
);
CREATE INDEX tokens_account_kind ON tokens (account_id, kind);
CREATE INDEX tokens_expires ON tokens (expires_ns);

-- A household; quota_bytes and max_age_ns are its retention, settings_*
-- the signed settings.set action they came from (NULL: none).
CREATE TABLE households (
	id              TEXT COLLATE "C" PRIMARY KEY,
	name            TEXT   NOT NULL,
	genesis_hash    BYTEA,
	quota_bytes     BIGINT NOT NULL,
	max_age_ns      BIGINT NOT NULL DEFAULT 0,
	settings_device TEXT,
	settings_body   BYTEA,
	settings_sig    BYTEA,
	created_ns      BIGINT NOT NULL
);

CREATE TABLE members (
	household_id TEXT COLLATE "C" NOT NULL REFERENCES households (id) ON DELETE CASCADE,
	account_id   TEXT COLLATE "C" NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
	role         TEXT   NOT NULL,
	created_ns   BIGINT NOT NULL,
	PRIMARY KEY (household_id, account_id)
);
CREATE INDEX members_account ON members (account_id, household_id);

-- Membership-chain links exactly as signed; the primary key is the
-- (household, seq) index and refuses a second link with the same seq.
CREATE TABLE links (
	household_id TEXT COLLATE "C" NOT NULL REFERENCES households (id) ON DELETE CASCADE,
	seq          BIGINT NOT NULL CHECK (seq >= 0),
	hash         BYTEA,
	data         BYTEA,
	created_ns   BIGINT NOT NULL,
	PRIMARY KEY (household_id, seq)
);

CREATE TABLE devices (
	id           TEXT COLLATE "C" PRIMARY KEY,
	household_id TEXT COLLATE "C" NOT NULL REFERENCES households (id) ON DELETE CASCADE,
	kind         TEXT   NOT NULL,
	sign_pub     BYTEA,
	created_ns   BIGINT NOT NULL
);
CREATE INDEX devices_household ON devices (household_id, id);

CREATE TABLE objects (
	household_id TEXT COLLATE "C" NOT NULL REFERENCES households (id) ON DELETE CASCADE,
	key          TEXT COLLATE "C" NOT NULL,
	device       TEXT   NOT NULL,
	camera       TEXT COLLATE "C" NOT NULL,
	kind         TEXT COLLATE "C" NOT NULL,
	seq          BIGINT NOT NULL,
	start_ns     BIGINT NOT NULL,
	end_ns       BIGINT NOT NULL,
	size         BIGINT NOT NULL,
	sha256       BYTEA  NOT NULL CHECK (octet_length(sha256) = 32),
	created_ns   BIGINT NOT NULL,
	PRIMARY KEY (household_id, key)
);
CREATE INDEX objects_camera_start ON objects (household_id, camera, start_ns, key);
CREATE INDEX objects_end ON objects (household_id, end_ns, start_ns, key);
CREATE INDEX objects_created ON objects (household_id, created_ns);

-- Pairing rendezvous; household_id is '' until a member's message sets it.
CREATE TABLE pairings (
	id           TEXT COLLATE "C" PRIMARY KEY,
	household_id TEXT   NOT NULL DEFAULT '',
	created_ns   BIGINT NOT NULL,
	expires_ns   BIGINT NOT NULL
);
CREATE INDEX pairings_expires ON pairings (expires_ns);

-- The primary key refuses a second message for the same step.
CREATE TABLE pairing_msgs (
	pairing_id TEXT COLLATE "C" NOT NULL REFERENCES pairings (id) ON DELETE CASCADE,
	step       INTEGER NOT NULL CHECK (step >= 0),
	data       BYTEA,
	PRIMARY KEY (pairing_id, step)
);

-- Shares: time ranges shared with guest accounts or as links; the
-- manifest is opaque (built and signed in the sharer's browser).
CREATE TABLE shares (
	id           TEXT COLLATE "C" PRIMARY KEY,
	household_id TEXT COLLATE "C" NOT NULL REFERENCES households (id) ON DELETE CASCADE,
	creator      TEXT COLLATE "C" NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
	camera       TEXT   NOT NULL,
	from_ns      BIGINT NOT NULL,
	to_ns        BIGINT NOT NULL,
	expires_ns   BIGINT NOT NULL,
	revoked_ns   BIGINT NOT NULL,
	kind         TEXT   NOT NULL,
	guest        TEXT COLLATE "C" REFERENCES accounts (id) ON DELETE CASCADE, -- NULL for links
	token_hash   BYTEA  NOT NULL CHECK (octet_length(token_hash) = 32),
	manifest     BYTEA  NOT NULL,
	created_ns   BIGINT NOT NULL
);
CREATE INDEX shares_household ON shares (household_id, created_ns);
CREATE INDEX shares_guest ON shares (guest, created_ns) WHERE guest IS NOT NULL;
CREATE INDEX shares_creator ON shares (creator);

-- Web Push subscriptions for sealed events, and the VAPID key.
CREATE TABLE push_subs (
	household_id TEXT COLLATE "C" NOT NULL REFERENCES households (id) ON DELETE CASCADE,
	endpoint     TEXT COLLATE "C" NOT NULL,
	account_id   TEXT COLLATE "C" NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
	p256dh       TEXT   NOT NULL,
	auth         TEXT   NOT NULL,
	created_ns   BIGINT NOT NULL,
	PRIMARY KEY (household_id, endpoint)
);
CREATE INDEX push_subs_account ON push_subs (account_id);
CREATE TABLE push_vapid (
	id  SMALLINT PRIMARY KEY CHECK (id = 1),
	key TEXT     NOT NULL
);

-- The history outbox and index: transparency log entries (chain heads,
-- household records, web releases), durable here before the log has them.
-- No foreign keys: an entry outlives whatever it is about.
CREATE TABLE history (
	id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	key          TEXT COLLATE "C" NOT NULL UNIQUE,
	kind         SMALLINT NOT NULL,
	household_id TEXT COLLATE "C" NOT NULL,
	num          BIGINT   NOT NULL,
	entry        BYTEA    NOT NULL,
	log_index    BIGINT   NOT NULL DEFAULT -1
);
CREATE INDEX history_household ON history (household_id, kind, num);
CREATE INDEX history_pending ON history (id) WHERE log_index < 0;
CREATE UNIQUE INDEX history_log_index ON history (log_index) WHERE log_index >= 0;
`,
		// 1 -> 2: short-lived state every replica shares (EphemeralStore):
		// rate limits, TOTP steps, ceremonies, sign-in links, invites.
		`
CREATE TABLE ephemeral (
	key        TEXT COLLATE "C" PRIMARY KEY,
	value      BYTEA  NOT NULL,
	expires_ns BIGINT NOT NULL
);
CREATE INDEX ephemeral_expires ON ephemeral (expires_ns);
`,
		// 2 -> 3: staff identities (not accounts), their sessions in a
		// table of their own, and the households' support codes.
		`
CREATE TABLE staff (
	id          TEXT   COLLATE "C" PRIMARY KEY,
	name        TEXT   COLLATE "C" NOT NULL UNIQUE,
	role        TEXT   NOT NULL CHECK (role IN ('support', 'operator', 'admin')),
	created_ns  BIGINT NOT NULL,
	disabled_ns BIGINT NOT NULL
);
CREATE TABLE staff_tokens (
	hash       BYTEA  PRIMARY KEY CHECK (length(hash) = 32),
	staff_id   TEXT   COLLATE "C" NOT NULL REFERENCES staff (id) ON DELETE CASCADE,
	csrf       TEXT   NOT NULL,
	created_ns BIGINT NOT NULL,
	expires_ns BIGINT NOT NULL
);
CREATE INDEX staff_tokens_staff ON staff_tokens (staff_id);
CREATE TABLE support_codes (
	household_id TEXT COLLATE "C" PRIMARY KEY REFERENCES households (id) ON DELETE CASCADE,
	code         TEXT COLLATE "C" NOT NULL UNIQUE
);
`,
		// 3 -> 4: the lockbox: staff requests for a household's metadata
		// and the admins' decisions.
		`
CREATE TABLE staff_requests (
	id           TEXT   COLLATE "C" PRIMARY KEY,
	household_id TEXT   COLLATE "C" NOT NULL REFERENCES households (id) ON DELETE CASCADE,
	staff_id     TEXT   COLLATE "C" NOT NULL REFERENCES staff (id) ON DELETE CASCADE,
	scopes       TEXT   NOT NULL,
	reason       TEXT   NOT NULL,
	duration_ns  BIGINT NOT NULL,
	created_ns   BIGINT NOT NULL,
	state        TEXT   NOT NULL CHECK (state IN ('pending', 'approved', 'denied', 'revoked', 'expired')),
	decided_ns   BIGINT NOT NULL,
	decided_by   TEXT   NOT NULL,
	expires_ns   BIGINT NOT NULL
);
CREATE INDEX staff_requests_household ON staff_requests (household_id, created_ns);
`,
		// 4 -> 5: staff passkeys, apart from accounts' passkeys.
		`
CREATE TABLE staff_credentials (
	id           BYTEA  PRIMARY KEY,
	staff_id     TEXT   COLLATE "C" NOT NULL REFERENCES staff (id) ON DELETE CASCADE,
	data         BYTEA  NOT NULL,
	created_ns   BIGINT NOT NULL,
	last_used_ns BIGINT NOT NULL
);
CREATE INDEX staff_credentials_staff ON staff_credentials (staff_id, created_ns);
`,
		// 5 -> 6: approved grants by their end, for the expiry sweep.
		`CREATE INDEX staff_requests_due ON staff_requests (expires_ns) WHERE state = 'approved';`,
		// 6 -> 7: support tickets about a household and staff members'
		// notes on them (staff metadata).
		`
CREATE TABLE staff_tickets (
	id           TEXT   COLLATE "C" PRIMARY KEY,
	household_id TEXT   COLLATE "C" NOT NULL REFERENCES households (id) ON DELETE CASCADE,
	subject      TEXT   NOT NULL,
	state        TEXT   NOT NULL CHECK (state IN ('open', 'closed')),
	opened_by    TEXT   COLLATE "C" NOT NULL REFERENCES staff (id) ON DELETE CASCADE,
	opened_ns    BIGINT NOT NULL,
	closed_by    TEXT   COLLATE "C" NOT NULL,
	closed_ns    BIGINT NOT NULL
);
CREATE INDEX staff_tickets_household ON staff_tickets (household_id, opened_ns);
CREATE INDEX staff_tickets_opened_by ON staff_tickets (opened_by, opened_ns);
CREATE TABLE staff_notes (
	id         TEXT   COLLATE "C" PRIMARY KEY,
	ticket_id  TEXT   COLLATE "C" NOT NULL REFERENCES staff_tickets (id) ON DELETE CASCADE,
	staff_id   TEXT   COLLATE "C" NOT NULL REFERENCES staff (id) ON DELETE CASCADE,
	created_ns BIGINT NOT NULL,
	text       TEXT   NOT NULL
);
CREATE INDEX staff_notes_ticket ON staff_notes (ticket_id, created_ns);
`,
		// 7 -> 8: hubs' latest health reports (internal/cloud/hubhealth):
		// metadata only, one row per hub, replaced by the next report.
		`
CREATE TABLE hub_reports (
	household_id      TEXT   COLLATE "C" NOT NULL REFERENCES households (id) ON DELETE CASCADE,
	hub_id            TEXT   COLLATE "C" NOT NULL,
	received_ns       BIGINT NOT NULL,
	version           TEXT   NOT NULL,
	started_ns        BIGINT NOT NULL,
	sent_ns           BIGINT NOT NULL,
	cameras           BIGINT NOT NULL,
	recording         BIGINT NOT NULL,
	pending           BIGINT NOT NULL,
	oldest_pending_ns BIGINT NOT NULL,
	failures          BIGINT NOT NULL,
	rejected          BIGINT NOT NULL,
	evicted           BIGINT NOT NULL,
	cloud_away        BIGINT NOT NULL CHECK (cloud_away IN (0, 1)),
	error_kind        TEXT   NOT NULL,
	error_status      BIGINT NOT NULL,
	error_message     TEXT   NOT NULL,
	error_ns          BIGINT NOT NULL,
	PRIMARY KEY (household_id, hub_id)
);
`,
		// -> labelling workspaces (internal/cloud/labelling): their
		// chains, donations with their consent, annotations (blob keys),
		// dataset versions, evaluations and the marks revocations leave.
		`
CREATE TABLE labelling_workspaces (
	id           TEXT    PRIMARY KEY,
	name         TEXT    NOT NULL,
	genesis_hash BYTEA   NOT NULL,
	created_by   TEXT    NOT NULL,
	created_ns   BIGINT NOT NULL
);
CREATE TABLE labelling_links (
	workspace_id TEXT    NOT NULL REFERENCES labelling_workspaces (id) ON DELETE CASCADE,
	seq          BIGINT NOT NULL CHECK (seq >= 0),
	hash         BYTEA   NOT NULL,
	data         BYTEA   NOT NULL,
	created_ns   BIGINT NOT NULL,
	PRIMARY KEY (workspace_id, seq)
);
CREATE TABLE labelling_donations (
	id            TEXT    PRIMARY KEY,
	workspace_id  TEXT    NOT NULL REFERENCES labelling_workspaces (id) ON DELETE CASCADE,
	household_id  TEXT    NOT NULL REFERENCES households (id) ON DELETE CASCADE,
	device        TEXT    NOT NULL,
	consent       TEXT    NOT NULL,
	object_key    TEXT    NOT NULL,
	object_size   BIGINT NOT NULL,
	object_sha256 BYTEA   NOT NULL,
	purpose       TEXT    NOT NULL,
	state         TEXT    NOT NULL,
	assignee      TEXT    NOT NULL,
	assigned_ns   BIGINT NOT NULL,
	annotation    BIGINT NOT NULL,
	accepted      BIGINT NOT NULL,
	reviewer      TEXT    NOT NULL,
	expires_ns    BIGINT NOT NULL,
	created_ns    BIGINT NOT NULL,
	ended_ns      BIGINT NOT NULL
);
CREATE INDEX labelling_donations_workspace ON labelling_donations (workspace_id, created_ns);
CREATE INDEX labelling_donations_household ON labelling_donations (household_id, created_ns);
CREATE INDEX labelling_donations_expires ON labelling_donations (expires_ns);
CREATE TABLE labelling_annotations (
	donation_id TEXT    NOT NULL REFERENCES labelling_donations (id) ON DELETE CASCADE,
	version     BIGINT NOT NULL,
	device      TEXT    NOT NULL,
	blob_key    TEXT    NOT NULL,
	size        BIGINT NOT NULL,
	created_ns  BIGINT NOT NULL,
	PRIMARY KEY (donation_id, version)
);
CREATE TABLE labelling_datasets (
	workspace_id TEXT    NOT NULL REFERENCES labelling_workspaces (id) ON DELETE CASCADE,
	version      BIGINT NOT NULL,
	creator      TEXT    NOT NULL,
	created_ns   BIGINT NOT NULL,
	PRIMARY KEY (workspace_id, version)
);
-- A dataset version's items never change: a revoked donation keeps its
-- row here (an ID, no content) and gains a mark.
CREATE TABLE labelling_items (
	workspace_id TEXT    NOT NULL,
	version      BIGINT NOT NULL,
	donation_id  TEXT    NOT NULL,
	annotation   BIGINT NOT NULL,
	annotator    TEXT    NOT NULL,
	reviewer     TEXT    NOT NULL,
	PRIMARY KEY (workspace_id, version, donation_id),
	FOREIGN KEY (workspace_id, version) REFERENCES labelling_datasets (workspace_id, version) ON DELETE CASCADE
);
CREATE INDEX labelling_items_donation ON labelling_items (donation_id);
CREATE TABLE labelling_evaluations (
	workspace_id TEXT    NOT NULL,
	id           TEXT    NOT NULL,
	name         TEXT    NOT NULL,
	dataset      BIGINT NOT NULL,
	device       TEXT    NOT NULL,
	sealed       BYTEA   NOT NULL,
	created_ns   BIGINT NOT NULL,
	PRIMARY KEY (workspace_id, id),
	FOREIGN KEY (workspace_id, dataset) REFERENCES labelling_datasets (workspace_id, version) ON DELETE CASCADE
);
CREATE TABLE labelling_marks (
	workspace_id TEXT    NOT NULL REFERENCES labelling_workspaces (id) ON DELETE CASCADE,
	target       TEXT    NOT NULL, -- 'dataset:N' or 'evaluation:ID'
	donation_id  TEXT    NOT NULL,
	reason       TEXT    NOT NULL,
	marked_ns    BIGINT NOT NULL,
	PRIMARY KEY (workspace_id, target, donation_id)
);
`,
		// -> redacted shares: their one blurred clip (stored under the
		// share's own blob key) and when it was stored (0: none, or erased).
		`
ALTER TABLE shares ADD COLUMN redacted BOOLEAN NOT NULL DEFAULT false;
ALTER TABLE shares ADD COLUMN clip_ns  BIGINT  NOT NULL DEFAULT 0;
CREATE INDEX shares_clips ON shares (expires_ns) WHERE clip_ns != 0;
`,
		// -> hubs gone quiet: the last contact after which the household
		// was told its hub went quiet (the zero time: not told).
		`
ALTER TABLE hub_reports ADD COLUMN quiet_ns BIGINT NOT NULL DEFAULT -9223372036854775808;
`,
	}
}

// postgresSchemaVersion is the schema version this code writes.
func postgresSchemaVersion() int { return len(postgresMigrations()) }

// Advisory lock keys (the two-int form, so they never meet a one-bigint
// key another program takes): the first int names what is locked, the
// second which one.
const (
	// lockMigrate, with the hash of the schema's name: one migration of one
	// schema at a time, across every process that opens it.
	lockMigrate = 0x76670001
	// lockRecord, with the hash of the household: one AppendRecord of one
	// household at a time.
	lockRecord = 0x76670002
)

// migratePostgres brings the schema to len(steps). It runs in one
// transaction that first takes an advisory lock on the schema, so replicas
// starting at once migrate once (the others wait, then find the schema
// current), and a failed step leaves the schema as it was (PostgreSQL's DDL
// is transactional).
func migratePostgres(ctx context.Context, pool *pgxpool.Pool, steps []string, log *slog.Logger, nowNanos int64) error {
	var from, to int
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, hashtext(current_schema()))`, lockMigrate); err != nil {
			return fmt.Errorf("lock: %w", err)
		}
		if _, err := tx.Exec(ctx, `
CREATE TABLE IF NOT EXISTS schema_migrations (
	version    INTEGER PRIMARY KEY,
	applied_ns BIGINT  NOT NULL
)`); err != nil {
			return fmt.Errorf("create version table: %w", err)
		}
		if err := tx.QueryRow(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&from); err != nil {
			return fmt.Errorf("read schema version: %w", err)
		}
		if from > len(steps) {
			return fmt.Errorf("schema version %d is newer than this program supports (%d); hint: run a newer vigil", from, len(steps))
		}
		for to = from; to < len(steps); to++ {
			if _, err := tx.Exec(ctx, steps[to]); err != nil {
				return fmt.Errorf("migrate to %d: %w", to+1, err)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, applied_ns) VALUES ($1, $2)`, to+1, nowNanos); err != nil {
				return fmt.Errorf("migrate to %d: %w", to+1, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if to > from {
		log.Info("store: postgres schema migrated", "from", from, "to", to)
	}
	return nil
}

// PostgreSQL error codes the store maps to its own errors.
const (
	pgUniqueViolation      = "23505"
	pgForeignKeyViolation  = "23503"
	pgSerializationFailure = "40001"
	pgDeadlockDetected     = "40P01"
)

func pgCode(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

func pgUnique(err error) bool { return pgCode(err) == pgUniqueViolation }

// pgRefErr maps a foreign key failure (the account or household the row
// refers to does not exist) to ErrNotFound.
func pgRefErr(err error) error {
	if pgCode(err) == pgForeignKeyViolation {
		return fmt.Errorf("%w (%w)", ErrNotFound, err)
	}
	return err
}

// pgInsertErr maps the failure of an INSERT: a unique violation to
// ErrExists, a foreign key failure as pgRefErr does.
func pgInsertErr(err error) error {
	if pgUnique(err) {
		return ErrExists
	}
	return pgRefErr(err)
}

// pgNotFound maps pgx.ErrNoRows to ErrNotFound.
func pgNotFound(err error) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return ErrNotFound
	}
	return err
}
