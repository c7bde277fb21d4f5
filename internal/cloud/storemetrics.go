package cloud

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"vigil/internal/cloud/store"
)

// Store read groups: the label values of the store read histogram, a
// fixed set named after what is read, never after a request's arguments.
const (
	readAccount   = "account"   // accounts, passkeys, session and API tokens
	readHousehold = "household" // households, members, chain links, devices, pairings, retention
	readObject    = "object"    // the index of sealed objects, usage
	readShare     = "share"     // shares
	readPush      = "push"      // push subscriptions, the VAPID key
	readStaff     = "staff"     // staff, their tokens and passkeys, requests, tickets, support codes
	readHealth    = "health"    // hubs' health reports
	readLabelling = "labelling" // workspaces, donations, annotations, datasets
	readEphemeral = "ephemeral" // what replicas share for a short while (rate limits, ceremonies)
)

var readGroups = []string{readAccount, readHousehold, readObject, readShare, readPush, readStaff, readHealth, readLabelling, readEphemeral}

// timedStore is a store.Store (and store.HouseholdLister) that times each
// read method in its group; writes pass through (the store times its write
// transactions itself: StoreWriteObserver). Every read method of
// store.Store is listed here: TestTimedStoreReads calls each method and
// fails for a read that is not timed.
type timedStore struct {
	store.Store
	lister store.HouseholdLister
	obs    map[string]prometheus.Observer
}

// timedStore returns st timed, or st itself for nil Metrics. The server
// keeps the store it was given for what asks which store it is (the
// devices' replay memory, the staff's operations page, the history
// outbox): those look at the concrete type.
func (m *Metrics) timedStore(st store.Store, lister store.HouseholdLister) store.Store {
	if m == nil {
		return st
	}
	t := &timedStore{Store: st, lister: lister, obs: map[string]prometheus.Observer{}}
	for _, g := range readGroups {
		t.obs[g] = m.storeRead.WithLabelValues(g)
	}
	return t
}

func (t *timedStore) HouseholdIDs(ctx context.Context, after string, n int) ([]string, error) {
	defer since(t.obs[readHousehold], time.Now())
	return t.lister.HouseholdIDs(ctx, after, n)
}

func (t *timedStore) Account(ctx context.Context, id string) (store.Account, error) {
	defer since(t.obs[readAccount], time.Now())
	return t.Store.Account(ctx, id)
}

func (t *timedStore) AccountByEmail(ctx context.Context, email string) (store.Account, error) {
	defer since(t.obs[readAccount], time.Now())
	return t.Store.AccountByEmail(ctx, email)
}

func (t *timedStore) Credentials(ctx context.Context, accountID string) ([]store.Credential, error) {
	defer since(t.obs[readAccount], time.Now())
	return t.Store.Credentials(ctx, accountID)
}

func (t *timedStore) Token(ctx context.Context, hash [32]byte) (store.Token, error) {
	defer since(t.obs[readAccount], time.Now())
	return t.Store.Token(ctx, hash)
}

func (t *timedStore) Household(ctx context.Context, id string) (store.Household, error) {
	defer since(t.obs[readHousehold], time.Now())
	return t.Store.Household(ctx, id)
}

func (t *timedStore) Households(ctx context.Context, accountID string) ([]store.Household, error) {
	defer since(t.obs[readHousehold], time.Now())
	return t.Store.Households(ctx, accountID)
}

func (t *timedStore) Member(ctx context.Context, householdID, accountID string) (store.Member, error) {
	defer since(t.obs[readHousehold], time.Now())
	return t.Store.Member(ctx, householdID, accountID)
}

func (t *timedStore) Members(ctx context.Context, householdID string) ([]store.Member, error) {
	defer since(t.obs[readHousehold], time.Now())
	return t.Store.Members(ctx, householdID)
}

func (t *timedStore) Links(ctx context.Context, householdID string, fromSeq int64) ([]store.Link, error) {
	defer since(t.obs[readHousehold], time.Now())
	return t.Store.Links(ctx, householdID, fromSeq)
}

func (t *timedStore) Device(ctx context.Context, id string) (store.Device, error) {
	defer since(t.obs[readHousehold], time.Now())
	return t.Store.Device(ctx, id)
}

func (t *timedStore) Pairing(ctx context.Context, id string) (store.Pairing, error) {
	defer since(t.obs[readHousehold], time.Now())
	return t.Store.Pairing(ctx, id)
}

func (t *timedStore) Retention(ctx context.Context, householdID string) (store.Retention, error) {
	defer since(t.obs[readHousehold], time.Now())
	return t.Store.Retention(ctx, householdID)
}

func (t *timedStore) Object(ctx context.Context, householdID, key string) (store.Object, error) {
	defer since(t.obs[readObject], time.Now())
	return t.Store.Object(ctx, householdID, key)
}

func (t *timedStore) Objects(ctx context.Context, f store.ObjectFilter) ([]store.Object, error) {
	defer since(t.obs[readObject], time.Now())
	return t.Store.Objects(ctx, f)
}

func (t *timedStore) Cameras(ctx context.Context, householdID string) ([]string, error) {
	defer since(t.obs[readObject], time.Now())
	return t.Store.Cameras(ctx, householdID)
}

func (t *timedStore) Usage(ctx context.Context, householdID string) (int64, error) {
	defer since(t.obs[readObject], time.Now())
	return t.Store.Usage(ctx, householdID)
}

func (t *timedStore) UploadedSince(ctx context.Context, householdID string, from time.Time) (int64, error) {
	defer since(t.obs[readObject], time.Now())
	return t.Store.UploadedSince(ctx, householdID, from)
}

func (t *timedStore) OldestObjects(ctx context.Context, householdID string, n int) ([]store.Object, error) {
	defer since(t.obs[readObject], time.Now())
	return t.Store.OldestObjects(ctx, householdID, n)
}

func (t *timedStore) Share(ctx context.Context, id string) (store.Share, error) {
	defer since(t.obs[readShare], time.Now())
	return t.Store.Share(ctx, id)
}

func (t *timedStore) Shares(ctx context.Context, householdID string) ([]store.Share, error) {
	defer since(t.obs[readShare], time.Now())
	return t.Store.Shares(ctx, householdID)
}

func (t *timedStore) SharesWith(ctx context.Context, accountID string) ([]store.Share, error) {
	defer since(t.obs[readShare], time.Now())
	return t.Store.SharesWith(ctx, accountID)
}

func (t *timedStore) DueShareClips(ctx context.Context, now time.Time, limit int) ([]store.Share, error) {
	defer since(t.obs[readShare], time.Now())
	return t.Store.DueShareClips(ctx, now, limit)
}

func (t *timedStore) PushSubs(ctx context.Context, householdID string) ([]store.PushSub, error) {
	defer since(t.obs[readPush], time.Now())
	return t.Store.PushSubs(ctx, householdID)
}

func (t *timedStore) PushVAPIDKey(ctx context.Context) (string, error) {
	defer since(t.obs[readPush], time.Now())
	return t.Store.PushVAPIDKey(ctx)
}

func (t *timedStore) Staff(ctx context.Context, id string) (store.Staff, error) {
	defer since(t.obs[readStaff], time.Now())
	return t.Store.Staff(ctx, id)
}

func (t *timedStore) StaffList(ctx context.Context) ([]store.Staff, error) {
	defer since(t.obs[readStaff], time.Now())
	return t.Store.StaffList(ctx)
}

func (t *timedStore) StaffToken(ctx context.Context, hash [32]byte) (store.StaffToken, error) {
	defer since(t.obs[readStaff], time.Now())
	return t.Store.StaffToken(ctx, hash)
}

func (t *timedStore) StaffCredentials(ctx context.Context, staffID string) ([]store.StaffCredential, error) {
	defer since(t.obs[readStaff], time.Now())
	return t.Store.StaffCredentials(ctx, staffID)
}

func (t *timedStore) SupportCode(ctx context.Context, householdID string) (string, error) {
	defer since(t.obs[readStaff], time.Now())
	return t.Store.SupportCode(ctx, householdID)
}

func (t *timedStore) HouseholdBySupportCode(ctx context.Context, code string) (string, error) {
	defer since(t.obs[readStaff], time.Now())
	return t.Store.HouseholdBySupportCode(ctx, code)
}

func (t *timedStore) StaffRequest(ctx context.Context, householdID, id string) (store.StaffRequest, error) {
	defer since(t.obs[readStaff], time.Now())
	return t.Store.StaffRequest(ctx, householdID, id)
}

func (t *timedStore) StaffRequestByID(ctx context.Context, id string) (store.StaffRequest, error) {
	defer since(t.obs[readStaff], time.Now())
	return t.Store.StaffRequestByID(ctx, id)
}

func (t *timedStore) StaffRequests(ctx context.Context, householdID string) ([]store.StaffRequest, error) {
	defer since(t.obs[readStaff], time.Now())
	return t.Store.StaffRequests(ctx, householdID)
}

func (t *timedStore) StaffGrantsDue(ctx context.Context, now time.Time, limit int) ([]store.StaffRequest, error) {
	defer since(t.obs[readStaff], time.Now())
	return t.Store.StaffGrantsDue(ctx, now, limit)
}

func (t *timedStore) StaffTicket(ctx context.Context, id string) (store.StaffTicket, error) {
	defer since(t.obs[readStaff], time.Now())
	return t.Store.StaffTicket(ctx, id)
}

func (t *timedStore) StaffTickets(ctx context.Context, q store.TicketQuery) ([]store.StaffTicket, error) {
	defer since(t.obs[readStaff], time.Now())
	return t.Store.StaffTickets(ctx, q)
}

func (t *timedStore) StaffNotes(ctx context.Context, ticketID string) ([]store.StaffNote, error) {
	defer since(t.obs[readStaff], time.Now())
	return t.Store.StaffNotes(ctx, ticketID)
}

func (t *timedStore) StaffOpsCounts(ctx context.Context, from time.Time) (store.StaffOps, error) {
	defer since(t.obs[readStaff], time.Now())
	return t.Store.StaffOpsCounts(ctx, from)
}

func (t *timedStore) HubReports(ctx context.Context, householdID string) ([]store.HubReport, error) {
	defer since(t.obs[readHealth], time.Now())
	return t.Store.HubReports(ctx, householdID)
}

func (t *timedStore) QuietHubReports(ctx context.Context, before time.Time, limit int) ([]store.HubReport, error) {
	defer since(t.obs[readHealth], time.Now())
	return t.Store.QuietHubReports(ctx, before, limit)
}

func (t *timedStore) Workspace(ctx context.Context, id string) (store.Workspace, error) {
	defer since(t.obs[readLabelling], time.Now())
	return t.Store.Workspace(ctx, id)
}

func (t *timedStore) Workspaces(ctx context.Context) ([]store.Workspace, error) {
	defer since(t.obs[readLabelling], time.Now())
	return t.Store.Workspaces(ctx)
}

func (t *timedStore) WorkspaceLinks(ctx context.Context, workspaceID string, fromSeq int64) ([]store.Link, error) {
	defer since(t.obs[readLabelling], time.Now())
	return t.Store.WorkspaceLinks(ctx, workspaceID, fromSeq)
}

func (t *timedStore) Donation(ctx context.Context, id string) (store.Donation, error) {
	defer since(t.obs[readLabelling], time.Now())
	return t.Store.Donation(ctx, id)
}

func (t *timedStore) Donations(ctx context.Context, f store.DonationFilter) ([]store.Donation, error) {
	defer since(t.obs[readLabelling], time.Now())
	return t.Store.Donations(ctx, f)
}

func (t *timedStore) DueDonations(ctx context.Context, now time.Time, limit int) ([]store.Donation, error) {
	defer since(t.obs[readLabelling], time.Now())
	return t.Store.DueDonations(ctx, now, limit)
}

func (t *timedStore) Annotations(ctx context.Context, donationID string) ([]store.Annotation, error) {
	defer since(t.obs[readLabelling], time.Now())
	return t.Store.Annotations(ctx, donationID)
}

func (t *timedStore) Evaluations(ctx context.Context, workspaceID string) ([]store.Evaluation, error) {
	defer since(t.obs[readLabelling], time.Now())
	return t.Store.Evaluations(ctx, workspaceID)
}

func (t *timedStore) DatasetVersion(ctx context.Context, workspaceID string, version int) (store.DatasetVersion, error) {
	defer since(t.obs[readLabelling], time.Now())
	return t.Store.DatasetVersion(ctx, workspaceID, version)
}

func (t *timedStore) DatasetVersions(ctx context.Context, workspaceID string) ([]store.DatasetVersion, error) {
	defer since(t.obs[readLabelling], time.Now())
	return t.Store.DatasetVersions(ctx, workspaceID)
}

func (t *timedStore) Get(ctx context.Context, key string, now time.Time) ([]byte, error) {
	defer since(t.obs[readEphemeral], time.Now())
	return t.Store.Get(ctx, key, now)
}
