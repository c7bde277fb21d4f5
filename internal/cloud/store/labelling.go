package store

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// The labelling workspaces (internal/cloud/labelling's Store;
// labellingtest is its suite). What is stored is metadata and ciphertext
// handles only: chain links as signed, consent records (signed by the
// donor's device; no content), blob keys of sealed clips and sealed
// annotations, and sealed evaluation records. The SQL is written once, for
// both dialects (lbDB below), since neither needs anything the other lacks
// but row locks.

// Donation states.
const (
	DonationOpen      = "open"      // stored, not assigned yet
	DonationAssigned  = "assigned"  // an annotator device has it (again, after a rejected review)
	DonationAnnotated = "annotated" // its annotator sent an annotation
	DonationInReview  = "in-review" // a reviewer opened it
	DonationAccepted  = "accepted"  // a reviewer accepted its latest annotation
	DonationRevoked   = "revoked"   // the donor took it back: its clip and annotations are deleted
	DonationExpired   = "expired"   // its consent ran out: as revoked
)

// DonationEnded reports whether state is one a donation never leaves
// (revoked or expired).
func DonationEnded(state string) bool { return state == DonationRevoked || state == DonationExpired }

// Workspace is a labelling workspace: a group with its own membership
// chain (links kept as Link values whose HouseholdID holds the workspace's
// ID), whose devices annotate donated clips sealed to its epoch key.
type Workspace struct {
	ID          string // its chain's ID
	Name        string
	GenesisHash []byte
	CreatedBy   string // the staff member (staff ID) who created it
	Created     time.Time
}

// Donation is a clip a household member gave to a workspace, with the
// consent that gives it.
type Donation struct {
	ID          string // the consent's ID
	WorkspaceID string
	HouseholdID string
	Device      string // the donor device
	// Consent is the signed consent record in its text form
	// (docs/FORMAT.md, "Consent records"); "" once revoked or expired.
	Consent      string
	ObjectKey    string // the sealed clip's blob key
	ObjectSize   int64
	ObjectSHA256 [32]byte // zero once revoked or expired
	Purpose      string
	State        string
	Assignee     string // the annotator device; "" before assignment
	Assigned     time.Time
	Annotation   int    // the latest annotation's version; 0 for none
	Accepted     int    // the accepted annotation's version; 0 for none
	Reviewer     string // the device that last reviewed it
	Expires      time.Time
	Created      time.Time
	Ended        time.Time // when it was revoked or expired
}

// DonationFilter selects donations; empty fields match all.
type DonationFilter struct {
	WorkspaceID string
	HouseholdID string
	Assignee    string
}

// Annotation is one version of a donation's sealed annotation, held in
// the blob store under Key.
type Annotation struct {
	DonationID string
	Version    int // 1, 2, ...: the latest wins
	Device     string
	Key        string
	Size       int64
	Created    time.Time
}

// DatasetVersion is a workspace's numbered list of accepted donations.
// Its items never change; a donation revoked later adds a Mark.
type DatasetVersion struct {
	WorkspaceID string
	Version     int
	Creator     string // the admin device
	Created     time.Time
	Items       []DatasetItem // by donation ID
	Marks       []Mark        // by donation ID
}

// DatasetItem is a donation in a dataset version, with its lineage.
type DatasetItem struct {
	DonationID string
	Annotation int    // the annotation version used
	Annotator  string // the device that made it
	Reviewer   string // the device that accepted it
}

// Mark says that a donation a dataset version or evaluation contained was
// revoked or expired.
type Mark struct {
	DonationID string
	Reason     string // DonationRevoked or DonationExpired
	Time       time.Time
}

// Evaluation is a named score record of a dataset version: a sealed blob
// the workspace's devices made.
type Evaluation struct {
	WorkspaceID string
	ID          string
	Name        string
	Dataset     int // the dataset version
	Device      string
	Sealed      []byte
	Created     time.Time
	Marks       []Mark // its dataset version's, by donation ID
}

// LabellingStore keeps labelling workspaces, their chains, donations,
// annotations, dataset versions and evaluations.
type LabellingStore interface {
	// CreateWorkspace stores w and its genesis link (Seq 0); ErrExists for
	// a taken ID.
	CreateWorkspace(ctx context.Context, w Workspace, genesis Link) error
	Workspace(ctx context.Context, id string) (Workspace, error)
	// Workspaces lists every workspace, oldest first.
	Workspaces(ctx context.Context) ([]Workspace, error)
	// AppendWorkspaceLink adds l (l.HouseholdID is the workspace) if l.Seq
	// is exactly one more than the last; otherwise ErrConflict.
	AppendWorkspaceLink(ctx context.Context, l Link) error
	// WorkspaceLinks returns the links with Seq >= fromSeq, in order.
	WorkspaceLinks(ctx context.Context, id string, fromSeq int64) ([]Link, error)

	// CreateDonation stores d: ErrExists for a taken ID, ErrNotFound for an
	// unknown workspace or household.
	CreateDonation(ctx context.Context, d Donation) error
	Donation(ctx context.Context, id string) (Donation, error)
	// Donations returns the matching donations, newest first.
	Donations(ctx context.Context, f DonationFilter) ([]Donation, error)
	// AssignDonation gives the donation to device (state assigned);
	// ErrConflict when it is accepted or ended.
	AssignDonation(ctx context.Context, id, device string, at time.Time) (Donation, error)
	// SetDonationState moves the donation from state from to state to;
	// ErrConflict when it is not in from.
	SetDonationState(ctx context.Context, id, from, to string) error
	// PutAnnotation stores a: ErrConflict unless a.Version is the latest
	// plus one, a.Device is the assignee and the donation is assigned,
	// annotated or in review (it becomes annotated).
	PutAnnotation(ctx context.Context, a Annotation) error
	// Annotations returns the donation's annotations, oldest first.
	Annotations(ctx context.Context, donationID string) ([]Annotation, error)
	// ReviewDonation records reviewer's decision on annotation version:
	// accepted, or back to assigned. ErrConflict unless the donation is
	// annotated or in review and version is its latest.
	ReviewDonation(ctx context.Context, id string, version int, reviewer string, accept bool) (Donation, error)
	// EndDonation revokes or expires (state) the donation at the given
	// time, atomically: it deletes its annotations' rows, clears its
	// consent and digest, and marks every dataset version that lists it
	// and every evaluation of those. It returns the donation and the blob
	// keys of its clip and annotations, for the caller to delete. A
	// donation already ended is returned as it is, with its clip's key.
	EndDonation(ctx context.Context, id, state string, at time.Time) (Donation, []string, error)
	// DueDonations returns up to limit donations not ended whose consent
	// expires at or before now.
	DueDonations(ctx context.Context, now time.Time, limit int) ([]Donation, error)

	// CreateDatasetVersion makes the workspace's next dataset version of
	// every donation accepted now; ErrNotFound for an unknown workspace.
	CreateDatasetVersion(ctx context.Context, workspaceID, creator string, at time.Time) (DatasetVersion, error)
	DatasetVersion(ctx context.Context, workspaceID string, version int) (DatasetVersion, error)
	// DatasetVersions lists the workspace's dataset versions, oldest first.
	DatasetVersions(ctx context.Context, workspaceID string) ([]DatasetVersion, error)
	// PutEvaluation stores e (Marks ignored): ErrExists for a taken ID,
	// ErrNotFound for an unknown dataset version.
	PutEvaluation(ctx context.Context, e Evaluation) error
	// Evaluations lists the workspace's evaluations, oldest first.
	Evaluations(ctx context.Context, workspaceID string) ([]Evaluation, error)
}

// lbDB runs the labelling SQL on either dialect. Queries use ? for
// parameters; the PostgreSQL side numbers them.
type lbDB interface {
	exec(ctx context.Context, q string, args ...any) (int64, error)
	row(ctx context.Context, q string, args ...any) rowScanner
	each(ctx context.Context, q string, args []any, fn func(rowScanner) error) error
	// forUpdate is the clause that locks a selected row ("" for SQLite,
	// whose writer holds the whole database).
	forUpdate() string
}

type sqliteLB struct {
	q interface {
		ExecContext(context.Context, string, ...any) (sql.Result, error)
		QueryRowContext(context.Context, string, ...any) *sql.Row
		QueryContext(context.Context, string, ...any) (*sql.Rows, error)
	}
}

func (d sqliteLB) exec(ctx context.Context, q string, args ...any) (int64, error) {
	res, err := d.q.ExecContext(ctx, q, args...)
	if err != nil {
		if isUniqueViolation(err) {
			return 0, fmt.Errorf("%w (%w)", ErrExists, err)
		}
		return 0, refErr(err)
	}
	return res.RowsAffected()
}

type sqliteRow struct{ r *sql.Row }

func (r sqliteRow) Scan(dst ...any) error { return notFound(r.r.Scan(dst...)) }

func (d sqliteLB) row(ctx context.Context, q string, args ...any) rowScanner {
	return sqliteRow{d.q.QueryRowContext(ctx, q, args...)}
}

func (d sqliteLB) each(ctx context.Context, q string, args []any, fn func(rowScanner) error) error {
	rows, err := d.q.QueryContext(ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}

func (sqliteLB) forUpdate() string { return "" }

type pgLB struct {
	q interface {
		Exec(context.Context, string, ...any) (pgconn.CommandTag, error)
		QueryRow(context.Context, string, ...any) pgx.Row
		Query(context.Context, string, ...any) (pgx.Rows, error)
	}
}

// rebind numbers the ? parameters of q for PostgreSQL.
func rebind(q string) string {
	var b strings.Builder
	n := 0
	for i := 0; i < len(q); i++ {
		if q[i] == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteByte(q[i])
	}
	return b.String()
}

func (d pgLB) exec(ctx context.Context, q string, args ...any) (int64, error) {
	tag, err := d.q.Exec(ctx, rebind(q), args...)
	if err != nil {
		return 0, pgInsertErr(err)
	}
	return tag.RowsAffected(), nil
}

type pgRow struct{ r pgx.Row }

func (r pgRow) Scan(dst ...any) error { return pgNotFound(r.r.Scan(dst...)) }

func (d pgLB) row(ctx context.Context, q string, args ...any) rowScanner {
	return pgRow{d.q.QueryRow(ctx, rebind(q), args...)}
}

func (d pgLB) each(ctx context.Context, q string, args []any, fn func(rowScanner) error) error {
	rows, err := d.q.Query(ctx, rebind(q), args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}

func (pgLB) forUpdate() string { return " FOR UPDATE" }

// The two stores' entry points: reads on the read pool, writes in one
// transaction.

func (s *SQLite) lbRead() lbDB { return sqliteLB{s.r} }
func (s *SQLite) lbWrite(ctx context.Context, fn func(lbDB) error) error {
	return s.writeTx(ctx, func(tx *sql.Tx) error { return fn(sqliteLB{tx}) })
}
func (s *Postgres) lbRead() lbDB { return pgLB{s.pool} }
func (s *Postgres) lbWrite(ctx context.Context, fn func(lbDB) error) error {
	return s.tx(ctx, func(tx pgx.Tx) error { return fn(pgLB{tx}) })
}

// labelling implements LabellingStore over either dialect; SQLite and
// Postgres embed one.
type labelling struct {
	read  func() lbDB
	write func(ctx context.Context, fn func(lbDB) error) error
}

func lbErr(what string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("store: %s: %w", what, err)
}

// CreateWorkspace stores w and its genesis link.
func (l labelling) CreateWorkspace(ctx context.Context, w Workspace, genesis Link) error {
	return lbErr("create workspace", l.write(ctx, func(q lbDB) error {
		if _, err := q.exec(ctx, `INSERT INTO labelling_workspaces (id, name, genesis_hash, created_by, created_ns) VALUES (?, ?, ?, ?, ?)`,
			w.ID, w.Name, w.GenesisHash, w.CreatedBy, encTime(w.Created)); err != nil {
			return err
		}
		_, err := q.exec(ctx, `INSERT INTO labelling_links (workspace_id, seq, hash, data, created_ns) VALUES (?, 0, ?, ?, ?)`,
			w.ID, genesis.Hash, genesis.Data, encTime(genesis.Created))
		return err
	}))
}

const workspaceCols = `id, name, genesis_hash, created_by, created_ns`

func scanWorkspace(r rowScanner) (Workspace, error) {
	var w Workspace
	var created int64
	err := r.Scan(&w.ID, &w.Name, &w.GenesisHash, &w.CreatedBy, &created)
	w.Created = decTime(created)
	return w, err
}

// Workspace returns the workspace with the ID.
func (l labelling) Workspace(ctx context.Context, id string) (Workspace, error) {
	w, err := scanWorkspace(l.read().row(ctx, `SELECT `+workspaceCols+` FROM labelling_workspaces WHERE id = ?`, id))
	return w, lbErr("workspace", err)
}

// Workspaces lists the workspaces, oldest first.
func (l labelling) Workspaces(ctx context.Context) ([]Workspace, error) {
	out := []Workspace{}
	err := l.read().each(ctx, `SELECT `+workspaceCols+` FROM labelling_workspaces ORDER BY created_ns, id`, nil, func(r rowScanner) error {
		w, err := scanWorkspace(r)
		out = append(out, w)
		return err
	})
	return out, lbErr("workspaces", err)
}

// AppendWorkspaceLink adds l when its Seq is the next.
func (l labelling) AppendWorkspaceLink(ctx context.Context, ln Link) error {
	return lbErr("append workspace link", l.write(ctx, func(q lbDB) error {
		var id string
		if err := q.row(ctx, `SELECT id FROM labelling_workspaces WHERE id = ?`+q.forUpdate(), ln.HouseholdID).Scan(&id); err != nil {
			return err
		}
		var head int64
		if err := q.row(ctx, `SELECT COALESCE(MAX(seq), -1) FROM labelling_links WHERE workspace_id = ?`, ln.HouseholdID).Scan(&head); err != nil {
			return err
		}
		if ln.Seq != head+1 {
			return fmt.Errorf("seq %d, want %d: %w", ln.Seq, head+1, ErrConflict)
		}
		_, err := q.exec(ctx, `INSERT INTO labelling_links (workspace_id, seq, hash, data, created_ns) VALUES (?, ?, ?, ?, ?)`,
			ln.HouseholdID, ln.Seq, ln.Hash, ln.Data, encTime(ln.Created))
		return err
	}))
}

// WorkspaceLinks returns the workspace's links from fromSeq on.
func (l labelling) WorkspaceLinks(ctx context.Context, id string, fromSeq int64) ([]Link, error) {
	out := []Link{}
	err := l.read().each(ctx, `SELECT seq, hash, data, created_ns FROM labelling_links WHERE workspace_id = ? AND seq >= ? ORDER BY seq`,
		[]any{id, fromSeq}, func(r rowScanner) error {
			ln := Link{HouseholdID: id}
			var created int64
			err := r.Scan(&ln.Seq, &ln.Hash, &ln.Data, &created)
			ln.Created = decTime(created)
			out = append(out, ln)
			return err
		})
	return out, lbErr("workspace links", err)
}

const donationCols = `id, workspace_id, household_id, device, consent, object_key, object_size, object_sha256, purpose, state,
	assignee, assigned_ns, annotation, accepted, reviewer, expires_ns, created_ns, ended_ns`

func scanDonation(r rowScanner) (Donation, error) {
	var d Donation
	var sum []byte
	var assigned, expires, created, ended, ann, acc int64
	err := r.Scan(&d.ID, &d.WorkspaceID, &d.HouseholdID, &d.Device, &d.Consent, &d.ObjectKey, &d.ObjectSize, &sum, &d.Purpose,
		&d.State, &d.Assignee, &assigned, &ann, &acc, &d.Reviewer, &expires, &created, &ended)
	copy(d.ObjectSHA256[:], sum)
	d.Assigned, d.Expires, d.Created, d.Ended = decTime(assigned), decTime(expires), decTime(created), decTime(ended)
	d.Annotation, d.Accepted = int(ann), int(acc)
	return d, err
}

// CreateDonation stores d.
func (l labelling) CreateDonation(ctx context.Context, d Donation) error {
	return lbErr("create donation", l.write(ctx, func(q lbDB) error {
		_, err := q.exec(ctx, `INSERT INTO labelling_donations (`+donationCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			d.ID, d.WorkspaceID, d.HouseholdID, d.Device, d.Consent, d.ObjectKey, d.ObjectSize, d.ObjectSHA256[:], d.Purpose, d.State,
			d.Assignee, encTime(d.Assigned), int64(d.Annotation), int64(d.Accepted), d.Reviewer, encTime(d.Expires), encTime(d.Created), encTime(d.Ended))
		return err
	}))
}

// Donation returns the donation with the ID.
func (l labelling) Donation(ctx context.Context, id string) (Donation, error) {
	d, err := scanDonation(l.read().row(ctx, `SELECT `+donationCols+` FROM labelling_donations WHERE id = ?`, id))
	return d, lbErr("donation", err)
}

func donationsWhere(ctx context.Context, q lbDB, where string, args []any) ([]Donation, error) {
	out := []Donation{}
	err := q.each(ctx, `SELECT `+donationCols+` FROM labelling_donations WHERE `+where, args, func(r rowScanner) error {
		d, err := scanDonation(r)
		out = append(out, d)
		return err
	})
	return out, err
}

// Donations returns the matching donations, newest first.
func (l labelling) Donations(ctx context.Context, f DonationFilter) ([]Donation, error) {
	out, err := donationsWhere(ctx, l.read(), `(? = '' OR workspace_id = ?) AND (? = '' OR household_id = ?) AND (? = '' OR assignee = ?)
ORDER BY created_ns DESC, id`, []any{f.WorkspaceID, f.WorkspaceID, f.HouseholdID, f.HouseholdID, f.Assignee, f.Assignee})
	return out, lbErr("donations", err)
}

// lockDonation reads the donation, locking its row for the transaction.
func lockDonation(ctx context.Context, q lbDB, id string) (Donation, error) {
	return scanDonation(q.row(ctx, `SELECT `+donationCols+` FROM labelling_donations WHERE id = ?`+q.forUpdate(), id))
}

// AssignDonation gives the donation to device.
func (l labelling) AssignDonation(ctx context.Context, id, device string, at time.Time) (Donation, error) {
	var d Donation
	err := l.write(ctx, func(q lbDB) error {
		var err error
		if d, err = lockDonation(ctx, q, id); err != nil {
			return err
		}
		if d.State == DonationAccepted || DonationEnded(d.State) {
			return fmt.Errorf("donation is %s: %w", d.State, ErrConflict)
		}
		d.State, d.Assignee, d.Assigned = DonationAssigned, device, at.UTC()
		_, err = q.exec(ctx, `UPDATE labelling_donations SET state = ?, assignee = ?, assigned_ns = ? WHERE id = ?`,
			d.State, device, encTime(at), id)
		return err
	})
	return d, lbErr("assign donation", err)
}

// SetDonationState moves the donation from one state to another.
func (l labelling) SetDonationState(ctx context.Context, id, from, to string) error {
	return lbErr("set donation state", l.write(ctx, func(q lbDB) error {
		n, err := q.exec(ctx, `UPDATE labelling_donations SET state = ? WHERE id = ? AND state = ?`, to, id, from)
		if err == nil && n == 0 {
			if _, err := lockDonation(ctx, q, id); err != nil {
				return err
			}
			return fmt.Errorf("donation is not %s: %w", from, ErrConflict)
		}
		return err
	}))
}

// PutAnnotation stores the donation's next annotation.
func (l labelling) PutAnnotation(ctx context.Context, a Annotation) error {
	return lbErr("put annotation", l.write(ctx, func(q lbDB) error {
		d, err := lockDonation(ctx, q, a.DonationID)
		if err != nil {
			return err
		}
		switch {
		case d.State != DonationAssigned && d.State != DonationAnnotated && d.State != DonationInReview:
			return fmt.Errorf("donation is %s: %w", d.State, ErrConflict)
		case d.Assignee != a.Device:
			return fmt.Errorf("device is not the donation's annotator: %w", ErrConflict)
		case a.Version != d.Annotation+1:
			return fmt.Errorf("annotation version %d, want %d: %w", a.Version, d.Annotation+1, ErrConflict)
		}
		if _, err := q.exec(ctx, `INSERT INTO labelling_annotations (donation_id, version, device, blob_key, size, created_ns) VALUES (?, ?, ?, ?, ?, ?)`,
			a.DonationID, int64(a.Version), a.Device, a.Key, a.Size, encTime(a.Created)); err != nil {
			return err
		}
		_, err = q.exec(ctx, `UPDATE labelling_donations SET state = ?, annotation = ? WHERE id = ?`, DonationAnnotated, int64(a.Version), a.DonationID)
		return err
	}))
}

// Annotations returns the donation's annotations, oldest first.
func (l labelling) Annotations(ctx context.Context, donationID string) ([]Annotation, error) {
	out := []Annotation{}
	err := l.read().each(ctx, `SELECT donation_id, version, device, blob_key, size, created_ns FROM labelling_annotations
WHERE donation_id = ? ORDER BY version`, []any{donationID}, func(r rowScanner) error {
		var a Annotation
		var v, created int64
		err := r.Scan(&a.DonationID, &v, &a.Device, &a.Key, &a.Size, &created)
		a.Version, a.Created = int(v), decTime(created)
		out = append(out, a)
		return err
	})
	return out, lbErr("annotations", err)
}

// ReviewDonation records a review decision.
func (l labelling) ReviewDonation(ctx context.Context, id string, version int, reviewer string, accept bool) (Donation, error) {
	var d Donation
	err := l.write(ctx, func(q lbDB) error {
		var err error
		if d, err = lockDonation(ctx, q, id); err != nil {
			return err
		}
		if (d.State != DonationAnnotated && d.State != DonationInReview) || version != d.Annotation {
			return fmt.Errorf("donation is %s with annotation %d: %w", d.State, d.Annotation, ErrConflict)
		}
		d.Reviewer, d.State = reviewer, DonationAssigned
		if accept {
			d.State, d.Accepted = DonationAccepted, version
		}
		_, err = q.exec(ctx, `UPDATE labelling_donations SET state = ?, accepted = ?, reviewer = ? WHERE id = ?`,
			d.State, int64(d.Accepted), reviewer, id)
		return err
	})
	return d, lbErr("review donation", err)
}

// EndDonation revokes or expires the donation.
func (l labelling) EndDonation(ctx context.Context, id, state string, at time.Time) (Donation, []string, error) {
	if !DonationEnded(state) {
		return Donation{}, nil, fmt.Errorf("store: end donation: state %q: %w", state, ErrConflict)
	}
	var d Donation
	var keys []string
	err := l.write(ctx, func(q lbDB) error {
		var err error
		if d, err = lockDonation(ctx, q, id); err != nil {
			return err
		}
		keys = []string{d.ObjectKey}
		if DonationEnded(d.State) {
			return nil
		}
		if err := q.each(ctx, `SELECT blob_key FROM labelling_annotations WHERE donation_id = ?`, []any{id}, func(r rowScanner) error {
			var k string
			err := r.Scan(&k)
			keys = append(keys, k)
			return err
		}); err != nil {
			return err
		}
		if _, err := q.exec(ctx, `DELETE FROM labelling_annotations WHERE donation_id = ?`, id); err != nil {
			return err
		}
		d.State, d.Ended, d.Consent, d.ObjectSHA256 = state, at.UTC(), "", [32]byte{}
		if _, err := q.exec(ctx, `UPDATE labelling_donations SET state = ?, ended_ns = ?, consent = '', object_sha256 = ? WHERE id = ?`,
			state, encTime(at), d.ObjectSHA256[:], id); err != nil {
			return err
		}
		if _, err := q.exec(ctx, `INSERT INTO labelling_marks (workspace_id, target, donation_id, reason, marked_ns)
SELECT workspace_id, 'dataset:' || CAST(version AS TEXT), donation_id, CAST(? AS TEXT), CAST(? AS BIGINT) FROM labelling_items WHERE donation_id = ?`, state, encTime(at), id); err != nil {
			return err
		}
		_, err = q.exec(ctx, `INSERT INTO labelling_marks (workspace_id, target, donation_id, reason, marked_ns)
SELECT e.workspace_id, 'evaluation:' || e.id, i.donation_id, CAST(? AS TEXT), CAST(? AS BIGINT) FROM labelling_evaluations e
JOIN labelling_items i ON i.workspace_id = e.workspace_id AND i.version = e.dataset WHERE i.donation_id = ?`, state, encTime(at), id)
		return err
	})
	return d, keys, lbErr("end donation", err)
}

// DueDonations returns donations whose consent has run out.
func (l labelling) DueDonations(ctx context.Context, now time.Time, limit int) ([]Donation, error) {
	out, err := donationsWhere(ctx, l.read(), `expires_ns <= ? AND state NOT IN (?, ?) ORDER BY expires_ns, id LIMIT ?`,
		[]any{encTime(now), DonationRevoked, DonationExpired, int64(limit)})
	return out, lbErr("due donations", err)
}

func marks(ctx context.Context, q lbDB, ws, target string) ([]Mark, error) {
	out := []Mark{}
	err := q.each(ctx, `SELECT donation_id, reason, marked_ns FROM labelling_marks WHERE workspace_id = ? AND target = ? ORDER BY donation_id`,
		[]any{ws, target}, func(r rowScanner) error {
			var m Mark
			var at int64
			err := r.Scan(&m.DonationID, &m.Reason, &at)
			m.Time = decTime(at)
			out = append(out, m)
			return err
		})
	return out, err
}

func datasetVersion(ctx context.Context, q lbDB, ws string, version int) (DatasetVersion, error) {
	v := DatasetVersion{WorkspaceID: ws, Items: []DatasetItem{}}
	var n, created int64
	if err := q.row(ctx, `SELECT version, creator, created_ns FROM labelling_datasets WHERE workspace_id = ? AND version = ?`, ws, int64(version)).
		Scan(&n, &v.Creator, &created); err != nil {
		return v, err
	}
	v.Version, v.Created = int(n), decTime(created)
	err := q.each(ctx, `SELECT donation_id, annotation, annotator, reviewer FROM labelling_items WHERE workspace_id = ? AND version = ? ORDER BY donation_id`,
		[]any{ws, int64(version)}, func(r rowScanner) error {
			var it DatasetItem
			var a int64
			err := r.Scan(&it.DonationID, &a, &it.Annotator, &it.Reviewer)
			it.Annotation = int(a)
			v.Items = append(v.Items, it)
			return err
		})
	if err != nil {
		return v, err
	}
	v.Marks, err = marks(ctx, q, ws, "dataset:"+strconv.Itoa(version))
	return v, err
}

// CreateDatasetVersion makes the next dataset version.
func (l labelling) CreateDatasetVersion(ctx context.Context, ws, creator string, at time.Time) (DatasetVersion, error) {
	var v DatasetVersion
	err := l.write(ctx, func(q lbDB) error {
		var id string
		if err := q.row(ctx, `SELECT id FROM labelling_workspaces WHERE id = ?`+q.forUpdate(), ws).Scan(&id); err != nil {
			return err
		}
		var last int64
		if err := q.row(ctx, `SELECT COALESCE(MAX(version), 0) FROM labelling_datasets WHERE workspace_id = ?`, ws).Scan(&last); err != nil {
			return err
		}
		next := last + 1
		if _, err := q.exec(ctx, `INSERT INTO labelling_datasets (workspace_id, version, creator, created_ns) VALUES (?, ?, ?, ?)`,
			ws, next, creator, encTime(at)); err != nil {
			return err
		}
		if _, err := q.exec(ctx, `INSERT INTO labelling_items (workspace_id, version, donation_id, annotation, annotator, reviewer)
SELECT d.workspace_id, CAST(? AS BIGINT), d.id, d.accepted, a.device, d.reviewer FROM labelling_donations d
JOIN labelling_annotations a ON a.donation_id = d.id AND a.version = d.accepted
WHERE d.workspace_id = ? AND d.state = ?`, next, ws, DonationAccepted); err != nil {
			return err
		}
		var err error
		v, err = datasetVersion(ctx, q, ws, int(next))
		return err
	})
	return v, lbErr("create dataset version", err)
}

// DatasetVersion returns one dataset version with its items and marks.
func (l labelling) DatasetVersion(ctx context.Context, ws string, version int) (DatasetVersion, error) {
	v, err := datasetVersion(ctx, l.read(), ws, version)
	return v, lbErr("dataset version", err)
}

// DatasetVersions lists the workspace's dataset versions, oldest first.
func (l labelling) DatasetVersions(ctx context.Context, ws string) ([]DatasetVersion, error) {
	var ns []int
	q := l.read()
	err := q.each(ctx, `SELECT version FROM labelling_datasets WHERE workspace_id = ? ORDER BY version`, []any{ws}, func(r rowScanner) error {
		var n int64
		err := r.Scan(&n)
		ns = append(ns, int(n))
		return err
	})
	out := []DatasetVersion{}
	for _, n := range ns {
		if err != nil {
			break
		}
		var v DatasetVersion
		v, err = datasetVersion(ctx, q, ws, n)
		out = append(out, v)
	}
	return out, lbErr("dataset versions", err)
}

// PutEvaluation stores an evaluation of a dataset version.
func (l labelling) PutEvaluation(ctx context.Context, e Evaluation) error {
	return lbErr("put evaluation", l.write(ctx, func(q lbDB) error {
		var n int64
		if err := q.row(ctx, `SELECT version FROM labelling_datasets WHERE workspace_id = ? AND version = ?`, e.WorkspaceID, int64(e.Dataset)).Scan(&n); err != nil {
			return err
		}
		if _, err := q.exec(ctx, `INSERT INTO labelling_evaluations (workspace_id, id, name, dataset, device, sealed, created_ns) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			e.WorkspaceID, e.ID, e.Name, int64(e.Dataset), e.Device, e.Sealed, encTime(e.Created)); err != nil {
			return err
		}
		// An evaluation of a version already marked carries its marks.
		_, err := q.exec(ctx, `INSERT INTO labelling_marks (workspace_id, target, donation_id, reason, marked_ns)
SELECT workspace_id, CAST(? AS TEXT), donation_id, reason, marked_ns FROM labelling_marks WHERE workspace_id = ? AND target = ?`,
			"evaluation:"+e.ID, e.WorkspaceID, "dataset:"+strconv.Itoa(e.Dataset))
		return err
	}))
}

// Evaluations lists the workspace's evaluations, oldest first.
func (l labelling) Evaluations(ctx context.Context, ws string) ([]Evaluation, error) {
	q := l.read()
	out := []Evaluation{}
	err := q.each(ctx, `SELECT workspace_id, id, name, dataset, device, sealed, created_ns FROM labelling_evaluations
WHERE workspace_id = ? ORDER BY created_ns, id`, []any{ws}, func(r rowScanner) error {
		var e Evaluation
		var ds, created int64
		err := r.Scan(&e.WorkspaceID, &e.ID, &e.Name, &ds, &e.Device, &e.Sealed, &created)
		e.Dataset, e.Created = int(ds), decTime(created)
		out = append(out, e)
		return err
	})
	for i := range out {
		if err != nil {
			break
		}
		out[i].Marks, err = marks(ctx, q, ws, "evaluation:"+out[i].ID)
	}
	return out, lbErr("evaluations", err)
}
