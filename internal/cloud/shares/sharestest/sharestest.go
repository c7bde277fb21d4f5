package sharestest

import (
	"errors"
	"testing"
	"time"

	"vigil/internal/cloud/shares"
	"vigil/internal/cloud/store"
	"vigil/internal/cloud/store/storetest"
)

// Store is what the suite needs: the shares domain's Store, and the
// storetest.Fixtures that make the households, sharers and guests.
type Store interface {
	shares.Store
	storetest.Fixtures
}

// Run runs the suite. newStore returns a new, empty store for each subtest and
// closes it when the subtest ends (t.Cleanup). Subtests do not run in
// parallel.
func Run(t *testing.T, newStore func(t *testing.T) Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s Store)
	}{
		{"Shares", testShares},
		{"Clips", testClips},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, newStore(t)) })
	}
}

func share(id, hh, creator, kind string, created time.Duration) store.Share {
	sh := store.Share{ID: id, HouseholdID: hh, Creator: creator, Camera: "front", From: storetest.At(time.Hour), To: storetest.At(time.Hour + 10*time.Minute),
		Expires: storetest.At(48 * time.Hour), Kind: kind, Manifest: []byte("manifest of " + id), Created: storetest.At(created)}
	if kind == store.ShareLink {
		sh.TokenHash = storetest.Hash("token of " + id)
	}
	return sh
}

func testShares(t *testing.T, s Store) {
	ctx := t.Context()
	storetest.MkHousehold(t, s, "hh-1", "alice")
	storetest.MkHousehold(t, s, "hh-2", "bob")
	storetest.MkAccount(t, s, "guest")

	link := share("s-link", "hh-1", "alice", store.ShareLink, time.Minute)
	link.From = link.From.In(storetest.Elsewhere)
	storetest.OK(t, s.CreateShare(ctx, link), "CreateShare link")
	acct := share("s-acct", "hh-1", "alice", store.ShareAccount, 2*time.Minute)
	acct.Guest = "guest"
	storetest.OK(t, s.CreateShare(ctx, acct), "CreateShare account")
	other := share("s-other", "hh-2", "bob", store.ShareAccount, 3*time.Minute)
	other.Guest = "guest"
	storetest.OK(t, s.CreateShare(ctx, other), "CreateShare in another household")

	if err := s.CreateShare(ctx, share("s-link", "hh-2", "bob", store.ShareLink, 0)); !errors.Is(err, store.ErrExists) {
		t.Errorf("taken share ID: %v, want ErrExists", err)
	}
	for what, sh := range map[string]store.Share{
		"unknown household": share("s-x1", "hh-none", "alice", store.ShareLink, 0),
		"unknown creator":   share("s-x2", "hh-1", "nobody", store.ShareLink, 0),
	} {
		if err := s.CreateShare(ctx, sh); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("share with an %s: %v, want ErrNotFound", what, err)
		}
	}
	bad := share("s-x3", "hh-1", "alice", store.ShareAccount, 0)
	bad.Guest = "nobody"
	if err := s.CreateShare(ctx, bad); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("share with an unknown guest: %v, want ErrNotFound", err)
	}

	got, err := s.Share(ctx, "s-link")
	storetest.OK(t, err, "Share")
	link.From = link.From.UTC()
	storetest.Same(t, "link share", got, link)
	got, err = s.Share(ctx, "s-acct")
	storetest.OK(t, err, "Share")
	storetest.Same(t, "account share", got, acct)
	if _, err := s.Share(ctx, "s-none"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("missing share: %v, want ErrNotFound", err)
	}

	// Listings: newest first, without manifests, one household's only.
	ids := func(shs []store.Share, err error) []string {
		t.Helper()
		storetest.OK(t, err, "list shares")
		out := []string{}
		for _, sh := range shs {
			if sh.Manifest != nil {
				t.Errorf("listing of %s carries the manifest", sh.ID)
			}
			out = append(out, sh.ID)
		}
		return out
	}
	storetest.Same(t, "Shares hh-1", ids(s.Shares(ctx, "hh-1")), []string{"s-acct", "s-link"})
	storetest.Same(t, "Shares hh-2", ids(s.Shares(ctx, "hh-2")), []string{"s-other"})
	storetest.Same(t, "Shares unknown", ids(s.Shares(ctx, "hh-none")), []string{})
	storetest.Same(t, "SharesWith guest", ids(s.SharesWith(ctx, "guest")), []string{"s-other", "s-acct"})
	storetest.Same(t, "SharesWith alice", ids(s.SharesWith(ctx, "alice")), []string{})
	lst, _ := s.Shares(ctx, "hh-1")
	if len(lst) == 2 && (lst[1].TokenHash != link.TokenHash || !lst[1].To.Equal(link.To) || lst[0].Guest != "guest") {
		t.Errorf("listed shares lost fields: %+v", lst)
	}

	// Revocation: only within the household; the first time is kept.
	if err := s.RevokeShare(ctx, "hh-2", "s-link", storetest.At(3*time.Hour)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("revoking another household's share: %v, want ErrNotFound", err)
	}
	if got, _ := s.Share(ctx, "s-link"); !got.Revoked.IsZero() {
		t.Errorf("share revoked by another household: %v", got.Revoked)
	}
	storetest.OK(t, s.RevokeShare(ctx, "hh-1", "s-link", storetest.At(3*time.Hour)), "RevokeShare")
	storetest.OK(t, s.RevokeShare(ctx, "hh-1", "s-link", storetest.At(4*time.Hour)), "RevokeShare again")
	if got, _ := s.Share(ctx, "s-link"); !got.Revoked.Equal(storetest.At(3 * time.Hour)) {
		t.Errorf("revoked at %v, want %v", got.Revoked, storetest.At(3*time.Hour))
	}
	if err := s.RevokeShare(ctx, "hh-1", "s-none", storetest.At(3*time.Hour)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("revoking a missing share: %v, want ErrNotFound", err)
	}
	// Revoked shares are still listed.
	storetest.Same(t, "Shares hh-1 after revoke", ids(s.Shares(ctx, "hh-1")), []string{"s-acct", "s-link"})
}

// testClips: a redacted share's clip is recorded and cleared; revoked and
// expired shares with a stored clip are due, oldest expiry first, until
// the clip is cleared.
func testClips(t *testing.T, s Store) {
	ctx := t.Context()
	storetest.MkHousehold(t, s, "hh-1", "alice")
	plain := share("s-plain", "hh-1", "alice", store.ShareLink, time.Minute)
	storetest.OK(t, s.CreateShare(ctx, plain), "CreateShare")
	mk := func(id string, expires time.Duration) store.Share {
		sh := share(id, "hh-1", "alice", store.ShareLink, time.Minute)
		sh.Redacted, sh.Expires = true, storetest.At(expires)
		storetest.OK(t, s.CreateShare(ctx, sh), "CreateShare redacted")
		return sh
	}
	soon, later, never := mk("s-soon", 2*time.Hour), mk("s-later", 3*time.Hour), mk("s-never", 30*time.Hour)
	got, err := s.Share(ctx, "s-soon")
	storetest.OK(t, err, "Share")
	storetest.Same(t, "redacted share", got, soon)

	if err := s.SetShareClip(ctx, "s-plain", storetest.At(time.Hour)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a clip for a share that is not redacted: %v, want ErrNotFound", err)
	}
	if err := s.SetShareClip(ctx, "s-none", storetest.At(time.Hour)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a clip for a missing share: %v, want ErrNotFound", err)
	}
	for _, sh := range []store.Share{soon, later, never} {
		storetest.OK(t, s.SetShareClip(ctx, sh.ID, storetest.At(time.Hour+time.Second)), "SetShareClip")
	}
	got, _ = s.Share(ctx, "s-later")
	if !got.Clip.Equal(storetest.At(time.Hour + time.Second)) {
		t.Errorf("clip stored at %v, want %v", got.Clip, storetest.At(time.Hour+time.Second))
	}
	due := func(now time.Duration, limit int) []string {
		t.Helper()
		shs, err := s.DueShareClips(ctx, storetest.At(now), limit)
		storetest.OK(t, err, "DueShareClips")
		out := []string{}
		for _, sh := range shs {
			if sh.Manifest != nil || !sh.Redacted || sh.Clip.IsZero() {
				t.Errorf("due share %+v", sh)
			}
			out = append(out, sh.ID)
		}
		return out
	}
	storetest.Same(t, "due before any expiry", due(time.Hour, 10), []string{})
	storetest.Same(t, "due at the first expiry", due(2*time.Hour, 10), []string{"s-soon"})
	storetest.Same(t, "due after both", due(4*time.Hour, 10), []string{"s-soon", "s-later"})
	storetest.Same(t, "due, limited", due(4*time.Hour, 1), []string{"s-soon"})
	storetest.OK(t, s.RevokeShare(ctx, "hh-1", "s-never", storetest.At(time.Hour)), "RevokeShare")
	storetest.Same(t, "a revoked share is due", due(time.Hour, 10), []string{"s-never"})
	storetest.OK(t, s.SetShareClip(ctx, "s-soon", time.Time{}), "SetShareClip erased")
	storetest.OK(t, s.SetShareClip(ctx, "s-never", time.Time{}), "SetShareClip erased")
	storetest.Same(t, "due after erasing", due(4*time.Hour, 10), []string{"s-later"})
	if got, _ := s.Share(ctx, "s-soon"); !got.Clip.IsZero() {
		t.Errorf("an erased clip is still recorded at %v", got.Clip)
	}
}
