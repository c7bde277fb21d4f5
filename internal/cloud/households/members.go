package households

import (
	"context"
	"errors"

	"vigil/internal/cloud/accounts"
	"vigil/internal/cloud/store"
	"vigil/internal/history"
)

// Account membership: which accounts may see a household's objects and
// chain. It is access to ciphertext only: opening footage needs a device
// the chain's admins added. Membership changes only by a checked signed
// action (CheckAction); a join request's approval adds one too
// (ApproveJoin).

// maxID bounds a household ID a caller names.
const maxID = 128

// Membership returns household hh and the account's membership of it. Not
// a member and no such household are the same NotFound: a household's
// existence is not told to those outside it.
func (s *Service) Membership(ctx context.Context, hh, accountID string) (store.Household, store.Member, error) {
	if hh == "" || len(hh) > maxID {
		return store.Household{}, store.Member{}, errorf(NotFound, "not found")
	}
	m, err := s.st.Member(ctx, hh, accountID)
	if errors.Is(err, store.ErrNotFound) {
		return store.Household{}, store.Member{}, errorf(NotFound, "not found")
	} else if err != nil {
		return store.Household{}, store.Member{}, err
	}
	h, err := s.st.Household(ctx, hh)
	if errors.Is(err, store.ErrNotFound) {
		return store.Household{}, store.Member{}, errorf(NotFound, "not found")
	} else if err != nil {
		return store.Household{}, store.Member{}, err
	}
	return h, m, nil
}

// ForAccount returns the households the account is a member of.
func (s *Service) ForAccount(ctx context.Context, accountID string) ([]store.Household, error) {
	return s.st.Households(ctx, accountID)
}

// MemberInfo is a member as the household's members see it.
type MemberInfo struct {
	store.Member
	Email string // "" for an account that is gone
}

// Members returns household hh's members with their accounts' e-mail
// addresses.
func (s *Service) Members(ctx context.Context, hh string) ([]MemberInfo, error) {
	ms, err := s.st.Members(ctx, hh)
	if err != nil {
		return nil, err
	}
	out := []MemberInfo{}
	for _, m := range ms {
		email := ""
		if a, err := s.st.Account(ctx, m.AccountID); err == nil {
			email = a.Email
		} else if !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
		out = append(out, MemberInfo{Member: m, Email: email})
	}
	return out, nil
}

// AddMember makes the account a checked member.add action a names a
// member of household h with its role. record is called with the account's
// ID before it becomes a member: an error from it changes nothing.
func (s *Service) AddMember(ctx context.Context, h store.Household, a history.Action, sa history.Signed, record func(object string) error) (store.Member, error) {
	p, err := a.MemberAdd()
	if err != nil {
		return store.Member{}, errorf(Invalid, "%s", actionMessage(err))
	}
	email, err := accounts.NormalizeEmail(p.Email)
	if err != nil {
		return store.Member{}, err
	}
	if email != p.Email {
		return store.Member{}, errorf(Invalid, "email: sign the address as %q (trimmed, lower case)", email)
	}
	acct, err := s.st.AccountByEmail(ctx, email)
	if errors.Is(err, store.ErrNotFound) {
		return store.Member{}, errorf(Missing, "no account has this e-mail address (hint: they sign up first with 'vigil signup')")
	}
	if err != nil {
		return store.Member{}, err
	}
	if err := record(acct.ID); err != nil {
		return store.Member{}, err
	}
	m := store.Member{HouseholdID: h.ID, AccountID: acct.ID, Role: p.Role, Created: s.now().UTC()}
	if err := s.st.PutMember(ctx, m); err != nil {
		return store.Member{}, err
	}
	s.log.Info("member added", "household", h.ID, "account", acct.ID, "role", p.Role, "device", sa.Device)
	return m, nil
}

// RemoveMember takes account id out of household h, as a checked
// member.remove action a says (its devices stay in the chain until an
// admin device removes them); by is the admin account asking. The last
// admin stays. record is called with the ID before the account is removed:
// an error from it changes nothing.
func (s *Service) RemoveMember(ctx context.Context, h store.Household, id, by string, a history.Action, sa history.Signed, record func(object string) error) error {
	p, err := a.MemberRemove()
	if err != nil {
		return errorf(Invalid, "%s", actionMessage(err))
	}
	if p.Account != id {
		return errorf(Invalid, "the signed action removes account %s, not %s", p.Account, id)
	}
	ms, err := s.st.Members(ctx, h.ID)
	if err != nil {
		return err
	}
	found := false
	for _, m := range ms {
		if m.AccountID != id {
			continue
		}
		found = true
		if m.Role == store.RoleAdmin && !moreAdmins(ms, id) {
			return errorf(Conflict, "this is the household's only admin account; make another account admin first")
		}
	}
	if !found {
		return errorf(NotFound, "not found")
	}
	if err := record(id); err != nil {
		return err
	}
	if err := s.st.DeleteMember(ctx, h.ID, id); errors.Is(err, store.ErrNotFound) {
		return errorf(NotFound, "not found")
	} else if err != nil {
		return err
	}
	s.log.Info("member removed", "household", h.ID, "account", id, "by", by, "device", sa.Device)
	return nil
}

func moreAdmins(ms []store.Member, except string) bool {
	for _, m := range ms {
		if m.AccountID != except && m.Role == store.RoleAdmin {
			return true
		}
	}
	return false
}
