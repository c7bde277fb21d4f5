package labellingtest

import (
	"errors"
	"slices"
	"testing"
	"time"

	"vigil/internal/cloud/labelling"
	"vigil/internal/cloud/store"
	"vigil/internal/cloud/store/storetest"
)

// Store is what the suite needs: the labelling domain's Store, and the
// storetest.Fixtures that make donor households.
type Store interface {
	labelling.Store
	storetest.Fixtures
}

// Run runs the suite. newStore returns a new, empty store for each subtest
// and closes it when the subtest ends (t.Cleanup). Subtests do not run in
// parallel.
func Run(t *testing.T, newStore func(t *testing.T) Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s Store)
	}{
		{"Workspaces", testWorkspaces},
		{"DonationLife", testDonationLife},
		{"EndDonation", testEndDonation},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, newStore(t)) })
	}
}

func mkWorkspace(t *testing.T, s Store, id string) store.Workspace {
	t.Helper()
	w := store.Workspace{ID: id, Name: "Labelling " + id, GenesisHash: storetest.Sum(id + "/0"), CreatedBy: "s-admin", Created: storetest.At(time.Minute)}
	storetest.OK(t, s.CreateWorkspace(t.Context(), w, storetest.Link(id, 0, id+"/0")), "CreateWorkspace "+id)
	return w
}

func donation(id, ws, hh string, created time.Duration) store.Donation {
	return store.Donation{ID: id, WorkspaceID: ws, HouseholdID: hh, Device: "d-donor-" + hh, Consent: "consent of " + id,
		ObjectKey: "labelling/" + ws + "/" + id + "/clip", ObjectSize: 1234, ObjectSHA256: storetest.Hash("clip " + id),
		Purpose: "improve-person-detection", State: store.DonationOpen, Expires: storetest.At(365 * 24 * time.Hour), Created: storetest.At(created)}
}

func testWorkspaces(t *testing.T, s Store) {
	ctx := t.Context()
	w := mkWorkspace(t, s, "w-1")
	mkWorkspace(t, s, "w-2")
	if err := s.CreateWorkspace(ctx, w, storetest.Link("w-1", 0, "again")); !errors.Is(err, store.ErrExists) {
		t.Errorf("taken workspace ID: %v, want ErrExists", err)
	}
	got, err := s.Workspace(ctx, "w-1")
	storetest.OK(t, err, "Workspace")
	storetest.Same(t, "workspace", got, w)
	if _, err := s.Workspace(ctx, "w-none"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown workspace: %v, want ErrNotFound", err)
	}
	all, err := s.Workspaces(ctx)
	storetest.OK(t, err, "Workspaces")
	if len(all) != 2 || all[0].ID != "w-1" {
		t.Errorf("workspaces: %+v", all)
	}
	storetest.OK(t, s.AppendWorkspaceLink(ctx, storetest.Link("w-1", 1, "w-1/1")), "AppendWorkspaceLink 1")
	for _, seq := range []int64{1, 3, 0} {
		if err := s.AppendWorkspaceLink(ctx, storetest.Link("w-1", seq, "out of turn")); !errors.Is(err, store.ErrConflict) && !errors.Is(err, store.ErrExists) {
			t.Errorf("link %d out of turn: %v, want ErrConflict", seq, err)
		}
	}
	if err := s.AppendWorkspaceLink(ctx, storetest.Link("w-none", 0, "x")); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("link of an unknown workspace: %v, want ErrNotFound", err)
	}
	links, err := s.WorkspaceLinks(ctx, "w-1", 1)
	storetest.OK(t, err, "WorkspaceLinks")
	if len(links) != 1 || links[0].Seq != 1 || string(links[0].Data) != "w-1/1" || links[0].HouseholdID != "w-1" {
		t.Errorf("links from 1: %+v", links)
	}
	if links, _ := s.WorkspaceLinks(ctx, "w-2", 0); len(links) != 1 {
		t.Errorf("w-2 has %d links, want its genesis", len(links))
	}
}

func testDonationLife(t *testing.T, s Store) {
	ctx := t.Context()
	storetest.MkHousehold(t, s, "hh-1", "alice")
	storetest.MkHousehold(t, s, "hh-2", "bob")
	mkWorkspace(t, s, "w-1")
	mkWorkspace(t, s, "w-2")
	d1 := donation("don-1", "w-1", "hh-1", time.Hour)
	storetest.OK(t, s.CreateDonation(ctx, d1), "CreateDonation")
	storetest.OK(t, s.CreateDonation(ctx, donation("don-2", "w-1", "hh-2", 2*time.Hour)), "CreateDonation 2")
	storetest.OK(t, s.CreateDonation(ctx, donation("don-3", "w-2", "hh-1", 3*time.Hour)), "CreateDonation 3")
	if err := s.CreateDonation(ctx, donation("don-1", "w-2", "hh-2", 0)); !errors.Is(err, store.ErrExists) {
		t.Errorf("taken donation ID: %v, want ErrExists", err)
	}
	for what, d := range map[string]store.Donation{
		"unknown workspace": donation("don-x", "w-none", "hh-1", 0),
		"unknown household": donation("don-y", "w-1", "hh-none", 0),
	} {
		if err := s.CreateDonation(ctx, d); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("donation with an %s: %v, want ErrNotFound", what, err)
		}
	}
	got, err := s.Donation(ctx, "don-1")
	storetest.OK(t, err, "Donation")
	storetest.Same(t, "donation", got, d1)

	ids := func(f store.DonationFilter) []string {
		ds, err := s.Donations(ctx, f)
		storetest.OK(t, err, "Donations")
		var out []string
		for _, d := range ds {
			out = append(out, d.ID)
		}
		return out
	}
	for _, tc := range []struct {
		f    store.DonationFilter
		want []string
	}{
		{store.DonationFilter{WorkspaceID: "w-1"}, []string{"don-2", "don-1"}},
		{store.DonationFilter{HouseholdID: "hh-1"}, []string{"don-3", "don-1"}},
		{store.DonationFilter{WorkspaceID: "w-1", Assignee: "d-ann"}, nil},
	} {
		if got := ids(tc.f); !slices.Equal(got, tc.want) {
			t.Errorf("Donations(%+v) = %v, want %v", tc.f, got, tc.want)
		}
	}

	// Annotating before assignment is a conflict.
	ann := func(v int, dev string) store.Annotation {
		return store.Annotation{DonationID: "don-1", Version: v, Device: dev, Key: "labelling/w-1/don-1/annotation-" + string(rune('0'+v)), Size: 10, Created: storetest.At(time.Duration(v) * time.Hour)}
	}
	if err := s.PutAnnotation(ctx, ann(1, "d-ann")); !errors.Is(err, store.ErrConflict) {
		t.Errorf("annotation before assignment: %v, want ErrConflict", err)
	}
	d, err := s.AssignDonation(ctx, "don-1", "d-ann", storetest.At(4*time.Hour))
	storetest.OK(t, err, "AssignDonation")
	if d.State != store.DonationAssigned || d.Assignee != "d-ann" || !d.Assigned.Equal(storetest.At(4*time.Hour)) {
		t.Errorf("assigned donation: %+v", d)
	}
	if got := ids(store.DonationFilter{WorkspaceID: "w-1", Assignee: "d-ann"}); !slices.Equal(got, []string{"don-1"}) {
		t.Errorf("assigned to d-ann: %v", got)
	}
	if _, err := s.AssignDonation(ctx, "don-none", "d-ann", storetest.At(0)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("assigning an unknown donation: %v, want ErrNotFound", err)
	}
	if err := s.PutAnnotation(ctx, ann(1, "d-other")); !errors.Is(err, store.ErrConflict) {
		t.Errorf("annotation by another device: %v, want ErrConflict", err)
	}
	if err := s.PutAnnotation(ctx, ann(2, "d-ann")); !errors.Is(err, store.ErrConflict) {
		t.Errorf("annotation version 2 first: %v, want ErrConflict", err)
	}
	if _, err := s.ReviewDonation(ctx, "don-1", 1, "d-lead", true); !errors.Is(err, store.ErrConflict) {
		t.Errorf("review before annotation: %v, want ErrConflict", err)
	}
	storetest.OK(t, s.PutAnnotation(ctx, ann(1, "d-ann")), "PutAnnotation 1")
	storetest.OK(t, s.SetDonationState(ctx, "don-1", store.DonationAnnotated, store.DonationInReview), "SetDonationState")
	if err := s.SetDonationState(ctx, "don-1", store.DonationAnnotated, store.DonationInReview); !errors.Is(err, store.ErrConflict) {
		t.Errorf("state change from a state it is not in: %v, want ErrConflict", err)
	}
	d, err = s.ReviewDonation(ctx, "don-1", 1, "d-lead", false)
	storetest.OK(t, err, "ReviewDonation reject")
	if d.State != store.DonationAssigned || d.Accepted != 0 || d.Reviewer != "d-lead" {
		t.Errorf("rejected: %+v", d)
	}
	storetest.OK(t, s.PutAnnotation(ctx, ann(2, "d-ann")), "PutAnnotation 2")
	if _, err := s.ReviewDonation(ctx, "don-1", 1, "d-lead", true); !errors.Is(err, store.ErrConflict) {
		t.Errorf("accepting an old version: %v, want ErrConflict", err)
	}
	d, err = s.ReviewDonation(ctx, "don-1", 2, "d-lead", true)
	storetest.OK(t, err, "ReviewDonation accept")
	if d.State != store.DonationAccepted || d.Accepted != 2 || d.Annotation != 2 {
		t.Errorf("accepted: %+v", d)
	}
	if _, err := s.AssignDonation(ctx, "don-1", "d-other", storetest.At(5*time.Hour)); !errors.Is(err, store.ErrConflict) {
		t.Errorf("assigning an accepted donation: %v, want ErrConflict", err)
	}
	as, err := s.Annotations(ctx, "don-1")
	storetest.OK(t, err, "Annotations")
	if len(as) != 2 || as[0].Version != 1 || as[1].Version != 2 || as[1].Key != ann(2, "").Key {
		t.Errorf("annotations: %+v", as)
	}

	v1, err := s.CreateDatasetVersion(ctx, "w-1", "d-lead", storetest.At(6*time.Hour))
	storetest.OK(t, err, "CreateDatasetVersion")
	want := []store.DatasetItem{{DonationID: "don-1", Annotation: 2, Annotator: "d-ann", Reviewer: "d-lead"}}
	if v1.Version != 1 || !slices.Equal(v1.Items, want) || len(v1.Marks) != 0 || v1.Creator != "d-lead" {
		t.Errorf("dataset version 1: %+v", v1)
	}
	v2, err := s.CreateDatasetVersion(ctx, "w-1", "d-lead", storetest.At(7*time.Hour))
	storetest.OK(t, err, "CreateDatasetVersion 2")
	if v2.Version != 2 || len(v2.Items) != 1 {
		t.Errorf("dataset version 2: %+v", v2)
	}
	if v, _ := s.CreateDatasetVersion(ctx, "w-2", "d-lead", storetest.At(7*time.Hour)); v.Version != 1 || len(v.Items) != 0 {
		t.Errorf("w-2's first dataset version: %+v (versions count per workspace; only accepted donations)", v)
	}
	if _, err := s.CreateDatasetVersion(ctx, "w-none", "d-lead", storetest.At(0)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("dataset of an unknown workspace: %v, want ErrNotFound", err)
	}
	got1, err := s.DatasetVersion(ctx, "w-1", 1)
	storetest.OK(t, err, "DatasetVersion")
	storetest.Same(t, "dataset version 1", got1, v1)
	if _, err := s.DatasetVersion(ctx, "w-1", 9); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown dataset version: %v, want ErrNotFound", err)
	}
	e := store.Evaluation{WorkspaceID: "w-1", ID: "ev-1", Name: "nanodet", Dataset: 1, Device: "d-lead", Sealed: []byte("sealed scores"), Created: storetest.At(8 * time.Hour)}
	storetest.OK(t, s.PutEvaluation(ctx, e), "PutEvaluation")
	if err := s.PutEvaluation(ctx, e); !errors.Is(err, store.ErrExists) {
		t.Errorf("taken evaluation ID: %v, want ErrExists", err)
	}
	e9 := e
	e9.ID, e9.Dataset = "ev-9", 9
	if err := s.PutEvaluation(ctx, e9); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("evaluation of an unknown dataset version: %v, want ErrNotFound", err)
	}
	evs, err := s.Evaluations(ctx, "w-1")
	storetest.OK(t, err, "Evaluations")
	e.Marks = []store.Mark{}
	if len(evs) != 1 {
		t.Fatalf("evaluations: %+v", evs)
	}
	storetest.Same(t, "evaluation", evs[0], e)
}

func testEndDonation(t *testing.T, s Store) {
	ctx := t.Context()
	storetest.MkHousehold(t, s, "hh-1", "alice")
	mkWorkspace(t, s, "w-1")
	for i, id := range []string{"don-1", "don-2"} {
		storetest.OK(t, s.CreateDonation(ctx, donation(id, "w-1", "hh-1", time.Duration(i)*time.Hour)), "CreateDonation")
		_, err := s.AssignDonation(ctx, id, "d-ann", storetest.At(time.Hour))
		storetest.OK(t, err, "AssignDonation")
		storetest.OK(t, s.PutAnnotation(ctx, store.Annotation{DonationID: id, Version: 1, Device: "d-ann", Key: "labelling/w-1/" + id + "/annotation-1", Created: storetest.At(time.Hour)}), "PutAnnotation")
		_, err = s.ReviewDonation(ctx, id, 1, "d-lead", true)
		storetest.OK(t, err, "ReviewDonation")
	}
	v1, err := s.CreateDatasetVersion(ctx, "w-1", "d-lead", storetest.At(2*time.Hour))
	storetest.OK(t, err, "CreateDatasetVersion")
	storetest.OK(t, s.PutEvaluation(ctx, store.Evaluation{WorkspaceID: "w-1", ID: "ev-1", Name: "n", Dataset: 1, Device: "d-lead", Sealed: []byte("s"), Created: storetest.At(3 * time.Hour)}), "PutEvaluation")

	if _, _, err := s.EndDonation(ctx, "don-1", store.DonationAccepted, storetest.At(0)); err == nil {
		t.Error("EndDonation to a state that is not an end: no error")
	}
	at := storetest.At(4 * time.Hour)
	d, keys, err := s.EndDonation(ctx, "don-1", store.DonationRevoked, at)
	storetest.OK(t, err, "EndDonation")
	slices.Sort(keys)
	if want := []string{"labelling/w-1/don-1/annotation-1", "labelling/w-1/don-1/clip"}; !slices.Equal(keys, want) {
		t.Errorf("keys to delete: %v, want %v", keys, want)
	}
	if d.State != store.DonationRevoked || d.Consent != "" || d.ObjectSHA256 != [32]byte{} || !d.Ended.Equal(at) {
		t.Errorf("revoked donation: %+v", d)
	}
	if got, _ := s.Donation(ctx, "don-1"); got.Consent != "" || got.State != store.DonationRevoked {
		t.Errorf("stored revoked donation: %+v", got)
	}
	if as, _ := s.Annotations(ctx, "don-1"); len(as) != 0 {
		t.Errorf("annotations after revocation: %+v", as)
	}
	// Again: no change, and the clip's key for a retry of its deletion.
	if d2, keys, err := s.EndDonation(ctx, "don-1", store.DonationExpired, storetest.At(5*time.Hour)); err != nil || d2.State != store.DonationRevoked || !slices.Equal(keys, []string{"labelling/w-1/don-1/clip"}) {
		t.Errorf("ending again: %+v %v %v", d2, keys, err)
	}
	for _, call := range []func() error{
		func() error { _, err := s.AssignDonation(ctx, "don-1", "d-ann", at); return err },
		func() error {
			return s.PutAnnotation(ctx, store.Annotation{DonationID: "don-1", Version: 2, Device: "d-ann", Key: "k", Created: at})
		},
		func() error { _, err := s.ReviewDonation(ctx, "don-1", 1, "d-lead", true); return err },
	} {
		if err := call(); !errors.Is(err, store.ErrConflict) {
			t.Errorf("change to a revoked donation: %v, want ErrConflict", err)
		}
	}

	got1, err := s.DatasetVersion(ctx, "w-1", 1)
	storetest.OK(t, err, "DatasetVersion")
	if !slices.Equal(got1.Items, v1.Items) || len(got1.Items) != 2 {
		t.Errorf("dataset version 1's items changed: %+v, were %+v", got1.Items, v1.Items)
	}
	wantMark := []store.Mark{{DonationID: "don-1", Reason: store.DonationRevoked, Time: at}}
	storetest.Same(t, "dataset version 1's marks", got1.Marks, wantMark)
	evs, _ := s.Evaluations(ctx, "w-1")
	if len(evs) != 1 {
		t.Fatalf("evaluations: %+v", evs)
	}
	storetest.Same(t, "evaluation's marks", evs[0].Marks, wantMark)
	v2, err := s.CreateDatasetVersion(ctx, "w-1", "d-lead", storetest.At(6*time.Hour))
	storetest.OK(t, err, "CreateDatasetVersion 2")
	if len(v2.Items) != 1 || v2.Items[0].DonationID != "don-2" || len(v2.Marks) != 0 {
		t.Errorf("dataset version 2 after revocation: %+v", v2)
	}
	// An evaluation of version 1 made after the revocation carries its mark.
	storetest.OK(t, s.PutEvaluation(ctx, store.Evaluation{WorkspaceID: "w-1", ID: "ev-2", Name: "n", Dataset: 1, Device: "d-lead", Sealed: []byte("s"), Created: storetest.At(7 * time.Hour)}), "PutEvaluation 2")
	evs, _ = s.Evaluations(ctx, "w-1")
	if len(evs) != 2 || len(evs[1].Marks) != 1 {
		t.Errorf("late evaluation's marks: %+v", evs)
	}

	// Expiry: due donations are those not ended whose expiry has passed.
	due, err := s.DueDonations(ctx, storetest.At(365*24*time.Hour), 10)
	storetest.OK(t, err, "DueDonations")
	if len(due) != 1 || due[0].ID != "don-2" {
		t.Errorf("due donations: %+v", due)
	}
	if due, _ := s.DueDonations(ctx, storetest.At(365*24*time.Hour-time.Nanosecond), 10); len(due) != 0 {
		t.Errorf("due before expiry: %+v", due)
	}
}
