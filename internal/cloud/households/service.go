package households

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"vigil/internal/cloud/chaincache"
	"vigil/internal/cloud/store"
	"vigil/internal/keydir"
)

// Store is the storage the households domain needs: households, their
// chains, the devices the chains name, the pairing relay's messages and
// the nonces of signed household actions, invites and their join
// requests, members and retention settings.
// The cloud's SQLite and PostgreSQL stores satisfy it.
type Store interface {
	// CreateHousehold stores a household with its first admin and its
	// genesis link; store.ErrExists for a taken ID.
	CreateHousehold(ctx context.Context, h store.Household, admin store.Member, genesis store.Link) error
	Household(ctx context.Context, id string) (store.Household, error)
	// Households returns the households an account is a member of.
	Households(ctx context.Context, accountID string) ([]store.Household, error)
	Links(ctx context.Context, householdID string, from int64) ([]store.Link, error)
	// AppendLink adds l if it is the link after the stored head;
	// store.ErrConflict otherwise.
	AppendLink(ctx context.Context, l store.Link) error

	PutDevice(ctx context.Context, d store.Device) error
	Device(ctx context.Context, id string) (store.Device, error)

	CreatePairing(ctx context.Context, p store.Pairing) error // store.ErrExists for a taken ID
	Pairing(ctx context.Context, id string) (store.Pairing, error)
	AppendPairingMsg(ctx context.Context, id string, step int, msg []byte, householdID string) error

	// Update changes an EphemeralStore entry atomically across replicas
	// (store.EphemeralStore): the nonces of signed actions.
	Update(ctx context.Context, key string, now time.Time, fn func(cur []byte) (next []byte, expires time.Time, err error)) error
	// Get, PutIfAbsent and Delete are the EphemeralStore's, for invites.
	Get(ctx context.Context, key string, now time.Time) ([]byte, error)
	PutIfAbsent(ctx context.Context, key string, value []byte, now, expires time.Time) (stored bool, err error)
	Delete(ctx context.Context, key string) error

	// Member and PutMember, for the account whose device a join request
	// adds.
	Member(ctx context.Context, householdID, accountID string) (store.Member, error)
	PutMember(ctx context.Context, m store.Member) error
	// Members, DeleteMember, Account and AccountByEmail, for members'
	// management.
	Members(ctx context.Context, householdID string) ([]store.Member, error)
	DeleteMember(ctx context.Context, householdID, accountID string) error
	Account(ctx context.Context, id string) (store.Account, error)
	AccountByEmail(ctx context.Context, email string) (store.Account, error)

	// UploadedSince, SetRetention and Retention, for retention settings.
	UploadedSince(ctx context.Context, householdID string, since time.Time) (int64, error)
	SetRetention(ctx context.Context, householdID string, r store.Retention) error
	Retention(ctx context.Context, householdID string) (store.Retention, error) // store.ErrNotFound for no household
}

// ChainRecheck is how long a cached chain state is used, by State, before
// the store is asked again whether another replica appended a link.
// Decisions that change the household (a link appended, a signed action
// checked) use FreshState, which asks every time.
const ChainRecheck = chaincache.Recheck

// DefaultPairingTTL is how long a pairing waits for its answers.
const DefaultPairingTTL = 10 * time.Minute

// Config configures a Service.
type Config struct {
	Store Store
	// OnHead, when set, is told of each new chain head that Create and
	// Append store (the cloud queues it for its transparency log), while
	// no other append to the household can run, so heads arrive in order.
	OnHead     func(ctx context.Context, h store.Household, st *keydir.State)
	PairingTTL time.Duration // 0 means DefaultPairingTTL
	// OnJoinRequest, when set, is told of the household of each new join
	// request (the cloud pushes a notice to its admins); it must not block.
	OnJoinRequest func(householdID string)
	// OnSettings, when set, is told of the household whose retention
	// settings changed (the cloud applies them soon); it must not block.
	OnSettings func(householdID string)
	Logger     *slog.Logger
	Now        func() time.Time
}

// Service is the households domain. It is safe for concurrent use. It
// caches each household's verified chain state; appends through one
// Service are serialised, and the store refuses an append that raced one
// through another Service over the same store.
type Service struct {
	st            Store
	onHead        func(ctx context.Context, h store.Household, st *keydir.State)
	pairingTTL    time.Duration
	onJoinRequest func(householdID string)
	onSettings    func(householdID string)
	log           *slog.Logger
	now           func() time.Time

	mu     sync.Mutex        // serialises appends
	chains *chaincache.Cache // household ID -> verified chain state
}

// New returns a Service over c.Store.
func New(c Config) (*Service, error) {
	if c.Store == nil {
		return nil, errors.New("households: a store is required")
	}
	if c.PairingTTL < 0 {
		return nil, fmt.Errorf("households: pairing TTL %v: want 0 (the default, %v) or more", c.PairingTTL, DefaultPairingTTL)
	}
	if c.PairingTTL == 0 {
		c.PairingTTL = DefaultPairingTTL
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.OnHead == nil {
		c.OnHead = func(context.Context, store.Household, *keydir.State) {}
	}
	if c.OnJoinRequest == nil {
		c.OnJoinRequest = func(string) {}
	}
	if c.OnSettings == nil {
		c.OnSettings = func(string) {}
	}
	s := &Service{st: c.Store, onHead: c.OnHead, pairingTTL: c.PairingTTL, onJoinRequest: c.OnJoinRequest, onSettings: c.OnSettings, log: c.Logger, now: c.Now}
	s.chains = chaincache.New("household", func(ctx context.Context, id string, from int64) ([][]byte, error) {
		links, err := s.st.Links(ctx, id, from)
		return store.LinkData(links), err
	}, c.Now)
	return s, nil
}

// Create stores the household a genesis link makes, with accountID as its
// first admin member. The genesis link is checked like any client would
// check it, but the household's authority is the link itself, not the
// stored row.
func (s *Service) Create(ctx context.Context, accountID string, genesis []byte) (store.Household, *keydir.State, error) {
	gh := keydir.GenesisHash(genesis)
	st, err := keydir.Verify([][]byte{genesis}, gh)
	if err != nil {
		return store.Household{}, nil, errorf(Refused, "genesis link refused: %v", err)
	}
	now := s.now().UTC()
	h := store.Household{ID: st.HouseholdID, Name: st.Name, GenesisHash: gh, Created: now}
	m := store.Member{HouseholdID: h.ID, AccountID: accountID, Role: store.RoleAdmin, Created: now}
	l := store.Link{HouseholdID: h.ID, Seq: 0, Hash: st.Head, Data: genesis, Created: now}
	if err := s.st.CreateHousehold(ctx, h, m, l); errors.Is(err, store.ErrExists) {
		return store.Household{}, nil, errorf(Conflict, "a household with this ID exists")
	} else if err != nil {
		return store.Household{}, nil, err
	}
	if err := s.syncDevices(ctx, st); err != nil {
		return store.Household{}, nil, err
	}
	s.mu.Lock()
	s.chains.Put(h.ID, st)
	s.onHead(ctx, h, st)
	s.mu.Unlock()
	s.log.Info("household created", "household", h.ID, "account", accountID)
	return h, st, nil
}

// Append adds a link signed by an admin device to h's chain if it verifies
// onto the chain the store holds now, and returns the chain's state after
// it.
func (s *Service) Append(ctx context.Context, h store.Household, link []byte) (*keydir.State, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	next, err := s.appendLocked(ctx, h, link, nil)
	if err != nil {
		return nil, err
	}
	s.onHead(ctx, h, next)
	s.log.Info("chain link appended", "household", h.ID, "seq", next.Seq)
	return next, nil
}

// AppendAdding appends link as Append does, if the device deviceID is in
// the chain after it and was not before (a join request's approval). Its
// head is not passed to OnHead.
func (s *Service) AppendAdding(ctx context.Context, h store.Household, link []byte, deviceID string) (*keydir.State, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.appendLocked(ctx, h, link, func(st, next *keydir.State) error {
		if next == nil {
			if _, ok := st.Devices[deviceID]; ok {
				return errorf(Conflict, "device %s is in the chain already", deviceID)
			}
			return nil
		}
		if _, ok := next.Devices[deviceID]; !ok {
			return errorf(Refused, "link refused: it does not add the requesting device %s", deviceID)
		}
		return nil
	})
}

// appendLocked verifies link onto h's fresh state and stores it (mu held).
// check, when set, is called with the state before the link (next nil) and
// again with the state after it.
func (s *Service) appendLocked(ctx context.Context, h store.Household, link []byte, check func(st, next *keydir.State) error) (*keydir.State, error) {
	st, err := s.chains.State(ctx, h.ID, h.GenesisHash, true)
	if err != nil {
		return nil, err
	}
	if check != nil {
		if err := check(st, nil); err != nil {
			return nil, err
		}
	}
	next := st.Clone()
	if err := next.Apply(link); err != nil {
		return nil, errorf(Refused, "link refused: %v", err)
	}
	if check != nil {
		if err := check(st, next); err != nil {
			return nil, err
		}
	}
	l := store.Link{HouseholdID: h.ID, Seq: next.Seq, Hash: next.Head, Data: link, Created: s.now().UTC()}
	if err := s.st.AppendLink(ctx, l); errors.Is(err, store.ErrConflict) {
		s.chains.Drop(h.ID)
		return nil, errorf(Conflict, "the chain moved on (link %d exists); fetch it and sign again", next.Seq)
	} else if err != nil {
		return nil, err
	}
	s.chains.Put(h.ID, next)
	if err := s.syncDevices(ctx, next); err != nil {
		return nil, err
	}
	return next, nil
}

// State returns h's verified chain state, at most ChainRecheck behind the
// stored chain: for the paths that take one often (uploads, a hub's
// requests, the history's keys).
func (s *Service) State(ctx context.Context, h store.Household) (*keydir.State, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.chains.State(ctx, h.ID, h.GenesisHash, false)
}

// StateOf is State for a household known by its ID alone: a household
// whose state is cached needs no read of its row (its genesis hash is the
// verified state's own), so a caller on a busy path (a history record per
// access) adds no query but the recheck. ErrNotFound-wrapping errors as
// State when the household does not exist.
func (s *Service) StateOf(ctx context.Context, householdID string) (*keydir.State, error) {
	if st, ok := s.chains.Cached(householdID); ok {
		return s.chains.State(ctx, householdID, st.GenesisHash, false)
	}
	h, err := s.st.Household(ctx, householdID)
	if err != nil {
		return nil, err
	}
	return s.chains.State(ctx, h.ID, h.GenesisHash, false)
}

// FreshState returns h's verified chain state as the store holds it now.
func (s *Service) FreshState(ctx context.Context, h store.Household) (*keydir.State, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.chains.State(ctx, h.ID, h.GenesisHash, true)
}

// Invalidate makes the household's cached state be compared with the store
// at its next use, for when its chain changed through another replica.
func (s *Service) Invalidate(householdID string) {
	s.chains.Invalidate(householdID)
}

// syncDevices records the chain's devices so a hub's upload finds its
// household; the chain state stays the authority on whether it may.
func (s *Service) syncDevices(ctx context.Context, st *keydir.State) error {
	for _, d := range st.Devices {
		kind := "client"
		if d.Role == keydir.RoleHub {
			kind = "hub"
		}
		if err := s.st.PutDevice(ctx, store.Device{ID: d.ID, HouseholdID: st.HouseholdID, Kind: kind,
			SignPub: d.SignPub, Created: s.now().UTC()}); err != nil {
			return err
		}
	}
	return nil
}

// Chain returns h's stored links from seq from on.
func (s *Service) Chain(ctx context.Context, h store.Household, from int64) ([]store.Link, error) {
	if from < 0 {
		return nil, errorf(Invalid, "from: a link number >= 0")
	}
	return s.st.Links(ctx, h.ID, from)
}

// Hub is a device that is a hub in its household's verified chain.
type Hub struct {
	Household store.Household
	Key       keydir.DeviceKey
	// State is the verified chain state Key is in: a cache of Key is good
	// while State is still the household's (State returns it).
	State *keydir.State
}

// HubDevice returns the household of a device that is a hub in its
// household's verified chain now (State), its key and that state;
// store.ErrNotFound for any other device.
func (s *Service) HubDevice(ctx context.Context, id string) (Hub, error) {
	d, err := s.st.Device(ctx, id)
	if err != nil {
		return Hub{}, err
	}
	h, err := s.st.Household(ctx, d.HouseholdID)
	if err != nil {
		return Hub{}, err
	}
	st, err := s.State(ctx, h)
	if err != nil {
		return Hub{}, err
	}
	dk, ok := st.Devices[id]
	if !ok || dk.Role != keydir.RoleHub {
		return Hub{}, store.ErrNotFound
	}
	return Hub{Household: h, Key: dk, State: st}, nil
}
