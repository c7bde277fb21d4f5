package passkeys

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"vigil/internal/cloud/store"
)

// Staff passkeys: the staff side signs in with passkeys only. They are the
// same relying party's, kept in a table of their own (StaffStore), and
// their ceremonies are marked as staff ones: an account's ceremony never
// finishes as a staff sign-in, a staff ceremony never as an account's,
// and a staff passkey's user handle is looked up among staff passkeys
// only. The caller proves who is enrolling (the staff domain's one-time
// enrolment secret) and issues the staff session the sign-in proved.

// StaffStore keeps staff passkeys (a subset of store.StaffStore).
type StaffStore interface {
	PutStaffCredential(ctx context.Context, c store.StaffCredential) error // store.ErrExists for a taken ID
	StaffCredentials(ctx context.Context, staffID string) ([]store.StaffCredential, error)
	UpdateStaffCredential(ctx context.Context, c store.StaffCredential) error
}

// staffUser is a staff identity as the WebAuthn library sees it: its user
// handle is the staff ID.
type staffUser struct {
	id, name string
	creds    []webauthn.Credential
}

func (u staffUser) WebAuthnID() []byte                         { return []byte(u.id) }
func (u staffUser) WebAuthnName() string                       { return u.name }
func (u staffUser) WebAuthnDisplayName() string                { return u.name + " (Vigil staff)" }
func (u staffUser) WebAuthnCredentials() []webauthn.Credential { return u.creds }

func (s *Service) staffStore() (StaffStore, error) {
	if s.staff == nil {
		return nil, errors.New("passkeys: no staff store configured")
	}
	return s.staff, nil
}

func (s *Service) staffUser(ctx context.Context, id, name string) (staffUser, error) {
	ss, err := s.staffStore()
	if err != nil {
		return staffUser{}, err
	}
	stored, err := ss.StaffCredentials(ctx, id)
	if err != nil {
		return staffUser{}, err
	}
	u := staffUser{id: id, name: name}
	for _, c := range stored {
		var wc webauthn.Credential
		if err := json.Unmarshal(c.Data, &wc); err != nil {
			return staffUser{}, fmt.Errorf("passkeys: a stored staff passkey of %s: %w", id, err)
		}
		u.creds = append(u.creds, wc)
	}
	return u, nil
}

// BeginStaffRegistration begins registering a passkey for staff identity
// st, whom the caller has proved (an enrolment secret).
func (s *Service) BeginStaffRegistration(ctx context.Context, st store.Staff) (Begun, error) {
	rp, err := s.relyingParty()
	if err != nil {
		return Begun{}, err
	}
	u, err := s.staffUser(ctx, st.ID, st.Name)
	if err != nil {
		return Begun{}, err
	}
	var exclude []protocol.CredentialDescriptor
	for _, cr := range u.creds {
		exclude = append(exclude, cr.Descriptor())
	}
	creation, session, err := rp.BeginRegistration(u,
		webauthn.WithExclusions(exclude),
		webauthn.WithAuthenticatorSelection(protocol.AuthenticatorSelection{
			ResidentKey: protocol.ResidentKeyRequirementRequired, UserVerification: protocol.VerificationRequired}))
	if err != nil {
		return Begun{}, err
	}
	return s.put(ctx, &ceremony{Session: *session, Register: true, Staff: true, AccountID: st.ID, StaffName: st.Name}, creation)
}

// FinishStaffRegistration checks the browser's answer to a staff
// registration and stores the passkey; it returns the staff ID it was
// registered for.
func (s *Service) FinishStaffRegistration(ctx context.Context, ceremonyID string, response []byte) (string, error) {
	cer, err := s.take(ctx, ceremonyID)
	if err != nil {
		return "", err
	}
	if cer == nil || !cer.Register || !cer.Staff {
		return "", errorf(Invalid, "no such staff passkey registration in progress (expired or already used); enrol again")
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes(response)
	if err != nil {
		return "", errorf(Invalid, "passkey registration refused: %s", reason(err))
	}
	rp, err := s.relyingParty()
	if err != nil {
		return "", err
	}
	u, err := s.staffUser(ctx, cer.AccountID, cer.StaffName)
	if err != nil {
		return "", err
	}
	cred, err := rp.CreateCredential(u, cer.Session, parsed)
	if err != nil {
		return "", errorf(Invalid, "passkey registration refused: %s", reason(err))
	}
	data, err := json.Marshal(cred)
	if err != nil {
		return "", err
	}
	now := s.now().UTC()
	if err := s.staff.PutStaffCredential(ctx, store.StaffCredential{ID: cred.ID, StaffID: cer.AccountID, Data: data, Created: now, LastUsed: now}); errors.Is(err, store.ErrExists) {
		return "", errorf(Conflict, "this passkey is already registered")
	} else if err != nil {
		return "", err
	}
	s.log.Info("staff passkey added", "staff", cer.AccountID)
	return cer.AccountID, nil
}

// BeginStaffLogin begins a staff sign-in (a discoverable credential, with
// user verification).
func (s *Service) BeginStaffLogin(ctx context.Context) (Begun, error) {
	rp, err := s.relyingParty()
	if err != nil {
		return Begun{}, err
	}
	if _, err := s.staffStore(); err != nil {
		return Begun{}, err
	}
	assertion, session, err := rp.BeginDiscoverableLogin(webauthn.WithUserVerification(protocol.VerificationRequired))
	if err != nil {
		return Begun{}, err
	}
	return s.put(ctx, &ceremony{Session: *session, Staff: true}, assertion)
}

// FinishStaffLogin checks the browser's answer to a staff sign-in and
// returns the staff ID its passkey proved (the caller checks the identity
// is not disabled and issues the session). A wrong answer, an account's
// passkey or an account's ceremony is refused.
func (s *Service) FinishStaffLogin(ctx context.Context, ceremonyID string, response []byte) (string, error) {
	cer, err := s.take(ctx, ceremonyID)
	if err != nil {
		return "", err
	}
	if cer == nil || cer.Register || !cer.Staff {
		return "", errorf(Invalid, "no such staff sign-in in progress (expired or already used); begin again")
	}
	refuse := func(reason string) error {
		return errorf(Unauthorized, "staff passkey sign-in failed: %s", reason)
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(response)
	if err != nil {
		return "", refuse(reason(err))
	}
	rp, err := s.relyingParty()
	if err != nil {
		return "", err
	}
	var (
		u         staffUser
		lookupErr error
	)
	lookup := func(rawID, userHandle []byte) (webauthn.User, error) {
		if len(userHandle) == 0 || len(userHandle) > 64 {
			return nil, errors.New("no staff member has this passkey")
		}
		var err error
		u, err = s.staffUser(ctx, string(userHandle), "")
		if err != nil {
			lookupErr = err
			return nil, errors.New("internal error")
		}
		if len(u.creds) == 0 {
			return nil, errors.New("no staff member has this passkey")
		}
		return u, nil
	}
	cred, err := rp.ValidateDiscoverableLogin(lookup, cer.Session, parsed)
	if lookupErr != nil {
		return "", lookupErr
	}
	if err != nil {
		return "", refuse(reason(err))
	}
	if cred.Authenticator.CloneWarning {
		s.log.Warn("staff passkey signature counter went backwards (a cloned authenticator?); sign-in refused", "staff", u.id)
		return "", refuse("the authenticator's signature counter went backwards, so this passkey may have been copied")
	}
	data, err := json.Marshal(cred)
	if err != nil {
		return "", err
	}
	if err := s.staff.UpdateStaffCredential(ctx, store.StaffCredential{ID: cred.ID, Data: data, LastUsed: s.now().UTC()}); err != nil {
		return "", err
	}
	return u.id, nil
}
