package cloud

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"time"

	"vigil/internal/cloud/store"
	"vigil/internal/cloudapi"
	"vigil/internal/keydir"
)

// createHousehold stores a household made by the caller's first admin
// device. The cloud checks the genesis link like any client would, but the
// household's authority is the link itself, not this row.
func (s *Server) createHousehold(w http.ResponseWriter, r *http.Request, c *call) error {
	var req cloudapi.CreateHousehold
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	gh := keydir.GenesisHash(req.Genesis)
	st, err := keydir.Verify([][]byte{req.Genesis}, gh)
	if err != nil {
		return errorf(http.StatusUnprocessableEntity, "genesis link refused: %v", err)
	}
	now := s.now().UTC()
	h := store.Household{ID: st.HouseholdID, Name: st.Name, GenesisHash: gh, Created: now}
	m := store.Member{HouseholdID: h.ID, AccountID: c.account.ID, Role: store.RoleAdmin, Created: now}
	l := store.Link{HouseholdID: h.ID, Seq: 0, Hash: st.Head, Data: req.Genesis, Created: now}
	if err := s.st.CreateHousehold(r.Context(), h, m, l); errors.Is(err, store.ErrExists) {
		return errorf(http.StatusConflict, "a household with this ID exists")
	} else if err != nil {
		return err
	}
	if err := s.syncDevices(r.Context(), st); err != nil {
		return err
	}
	s.statesMu.Lock()
	s.cacheStateLocked(h.ID, st)
	s.statesMu.Unlock()
	if _, err := s.hist.ChainHead(r.Context(), h.ID, h.GenesisHash, 0, st.Head); err != nil {
		// The head goes to the log when the chain is next read.
		s.log.Error("chain head not queued for the log", "household", h.ID, "seq", 0, "err", err)
	}
	s.log.Info("household created", "household", h.ID, "account", c.account.ID)
	writeJSON(w, http.StatusCreated, householdJSON(h, 0))
	return nil
}

func householdJSON(h store.Household, usage int64) cloudapi.Household {
	return cloudapi.Household{ID: h.ID, Name: h.Name, GenesisHash: hex.EncodeToString(h.GenesisHash),
		Created: h.Created, UsageBytes: usage}
}

func (s *Server) listHouseholds(w http.ResponseWriter, r *http.Request, c *call) error {
	hs, err := s.st.Households(r.Context(), c.account.ID)
	if err != nil {
		return err
	}
	out := cloudapi.Households{Households: []cloudapi.Household{}}
	for _, h := range hs {
		if err := s.access.Record(r.Context(), store.Access{Time: s.now().UTC(), HouseholdID: h.ID, Actor: c.account.ID,
			ActorKind: "account", Action: "households.list", Reason: "GET /v1/households"}); err != nil {
			return fmt.Errorf("recording access: %w", err)
		}
		out.Households = append(out.Households, householdJSON(h, 0))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) getHousehold(w http.ResponseWriter, r *http.Request, c *call) error {
	u, err := s.st.Usage(r.Context(), c.household.ID)
	if err != nil {
		return err
	}
	out := householdJSON(c.household, u)
	out.QuotaBytes = s.quota(c.household)
	out.Role = c.member.Role
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) quota(h store.Household) int64 {
	if h.QuotaBytes > 0 {
		return h.QuotaBytes
	}
	return s.opt.QuotaBytes
}

func (s *Server) getChain(w http.ResponseWriter, r *http.Request, c *call) error {
	return s.writeChain(w, r, c.household)
}

func (s *Server) writeChain(w http.ResponseWriter, r *http.Request, h store.Household) error {
	from := int64(0)
	if v := r.URL.Query().Get("from"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return errorf(http.StatusBadRequest, "from: a link number >= 0")
		}
		from = n
	}
	links, err := s.st.Links(r.Context(), h.ID, from)
	if err != nil {
		return err
	}
	idx, err := s.chainIndexes(r.Context(), h, from, links)
	if err != nil {
		return err
	}
	resp := cloudapi.Chain{HouseholdID: h.ID, GenesisHash: hex.EncodeToString(h.GenesisHash), From: from, Links: [][]byte{}, LogIndex: idx}
	for _, l := range links {
		resp.Links = append(resp.Links, l.Data)
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

// appendChain adds a link signed by an admin device. The cloud checks it
// against the chain it holds (so junk never enters), but it cannot make a
// valid link: only the household's admin devices can.
func (s *Server) appendChain(w http.ResponseWriter, r *http.Request, c *call) error {
	var req cloudapi.ChainLink
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	s.statesMu.Lock()
	defer s.statesMu.Unlock()
	st, err := s.stateLocked(r.Context(), c.household, true)
	if err != nil {
		return err
	}
	next := st.Clone()
	if err := next.Apply(req.Link); err != nil {
		return errorf(http.StatusUnprocessableEntity, "link refused: %v", err)
	}
	l := store.Link{HouseholdID: c.household.ID, Seq: next.Seq, Hash: next.Head, Data: req.Link, Created: s.now().UTC()}
	if err := s.st.AppendLink(r.Context(), l); errors.Is(err, store.ErrConflict) {
		s.dropStateLocked(c.household.ID)
		return errorf(http.StatusConflict, "the chain moved on (link %d exists); fetch it and sign again", next.Seq)
	} else if err != nil {
		return err
	}
	s.cacheStateLocked(c.household.ID, next)
	if err := s.syncDevices(r.Context(), next); err != nil {
		return err
	}
	if _, err := s.hist.ChainHead(r.Context(), c.household.ID, c.household.GenesisHash, next.Seq, next.Head); err != nil {
		// The head goes to the log when the chain is next read.
		s.log.Error("chain head not queued for the log", "household", c.household.ID, "seq", next.Seq, "err", err)
	}
	// Hubs are told once the head is in the log (onLogged, translog.go).
	s.log.Info("chain link appended", "household", c.household.ID, "seq", next.Seq)
	writeJSON(w, http.StatusCreated, map[string]any{"seq": next.Seq})
	return nil
}

// chainRecheck is how long a cached chain state is used, on the paths
// that take one (uploads, a hub's requests, the history's keys), before the
// store is asked again whether another replica appended a link. Decisions
// that change the household (a link appended, a signed action checked) ask
// every time.
const chainRecheck = time.Second

// stateLocked returns the verified chain state of h (statesMu held). A
// cached state is brought up to the stored chain first: at once when
// fresh is set, else when it was last compared chainRecheck ago or more.
// The chain only grows (the store refuses any link but head+1), so the
// links after the cached head are all that can have changed: they are
// verified onto the cached state, one query that finds none when nothing
// changed. Links that do not apply to the cached state (which only a store
// that lost links could show) make it verify the whole chain again.
func (s *Server) stateLocked(ctx context.Context, h store.Household, fresh bool) (*keydir.State, error) {
	now := s.now()
	if st, ok := s.states[h.ID]; ok {
		checked := s.checked[h.ID]
		if !fresh && !now.Before(checked) && now.Sub(checked) < chainRecheck {
			return st, nil
		}
		links, err := s.st.Links(ctx, h.ID, st.Seq+1)
		if err != nil {
			return nil, err
		}
		if len(links) == 0 {
			s.checked[h.ID] = now
			return st, nil
		}
		next, ok := st.Clone(), true
		for _, l := range links {
			if err := next.Apply(l.Data); err != nil {
				ok = false // verify the whole chain again, below
				break
			}
		}
		if ok {
			s.cacheStateLocked(h.ID, next)
			return next, nil
		}
		s.dropStateLocked(h.ID)
	}
	links, err := s.st.Links(ctx, h.ID, 0)
	if err != nil {
		return nil, err
	}
	raw := make([][]byte, len(links))
	for i, l := range links {
		raw[i] = l.Data
	}
	st, err := keydir.Verify(raw, h.GenesisHash)
	if err != nil {
		return nil, fmt.Errorf("household %s: stored chain does not verify: %w", h.ID, err)
	}
	s.cacheStateLocked(h.ID, st)
	return st, nil
}

// cacheStateLocked caches st as h's state, as the store holds it now
// (statesMu held).
func (s *Server) cacheStateLocked(id string, st *keydir.State) {
	s.states[id] = st
	s.checked[id] = s.now()
}

// dropStateLocked forgets h's cached state (statesMu held).
func (s *Server) dropStateLocked(id string) {
	delete(s.states, id)
	delete(s.checked, id)
}

// state returns h's verified chain state, as stateLocked with fresh unset:
// at most chainRecheck behind the stored chain.
func (s *Server) state(ctx context.Context, h store.Household) (*keydir.State, error) {
	s.statesMu.Lock()
	defer s.statesMu.Unlock()
	return s.stateLocked(ctx, h, false)
}

// freshState returns h's verified chain state as the store holds it now.
func (s *Server) freshState(ctx context.Context, h store.Household) (*keydir.State, error) {
	s.statesMu.Lock()
	defer s.statesMu.Unlock()
	return s.stateLocked(ctx, h, true)
}

// syncDevices records the chain's devices so a hub's upload finds its
// household; the chain state stays the authority on whether it may.
func (s *Server) syncDevices(ctx context.Context, st *keydir.State) error {
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

// hubDevice returns the household of a device that is a hub in its
// household's verified chain now.
func (s *Server) hubDevice(ctx context.Context, id string) (store.Household, keydir.DeviceKey, error) {
	d, err := s.st.Device(ctx, id)
	if err != nil {
		return store.Household{}, keydir.DeviceKey{}, err
	}
	h, err := s.st.Household(ctx, d.HouseholdID)
	if err != nil {
		return store.Household{}, keydir.DeviceKey{}, err
	}
	st, err := s.state(ctx, h)
	if err != nil {
		return store.Household{}, keydir.DeviceKey{}, err
	}
	dk, ok := st.Devices[id]
	if !ok || dk.Role != keydir.RoleHub {
		return store.Household{}, keydir.DeviceKey{}, store.ErrNotFound
	}
	return h, dk, nil
}

// hubChain serves a paired hub its household's chain.
func (s *Server) hubChain(w http.ResponseWriter, r *http.Request, c *call) error {
	h, _, err := s.hubDevice(r.Context(), c.device)
	if errors.Is(err, store.ErrNotFound) {
		return errNotFound
	}
	if err != nil {
		return err
	}
	if err := s.access.Record(r.Context(), store.Access{Time: s.now().UTC(), HouseholdID: h.ID, Actor: c.device,
		ActorKind: "hub", Action: "chain.read", Reason: "GET /v1/hub/chain"}); err != nil {
		return err
	}
	return s.writeChain(w, r, h)
}

// Pairing relay. The cloud stores and hands over opaque messages under an
// ID derived from the pairing code; the pairing package on both ends
// authenticates them, so a cloud that alters them only makes pairing fail.

var pairingIDRE = regexp.MustCompile(`^[0-9a-f]{32}$`)

func (s *Server) createPairing(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := s.limitIP(r.Context(), c); err != nil {
		return err
	}
	var req cloudapi.CreatePairing
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	if !pairingIDRE.MatchString(req.ID) {
		return errorf(http.StatusBadRequest, "id: 32 lower-case hex characters")
	}
	if len(req.Msg) == 0 || len(req.Msg) > 4096 {
		return errorf(http.StatusBadRequest, "msg: 1 to 4096 bytes")
	}
	now := s.now().UTC()
	p := store.Pairing{ID: req.ID, Msgs: [][]byte{req.Msg}, Created: now, Expires: now.Add(pairingTTL)}
	if err := s.st.CreatePairing(r.Context(), p); errors.Is(err, store.ErrExists) {
		return errorf(http.StatusConflict, "this pairing code is in use; show a new code on the hub")
	} else if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, map[string]any{"expires": p.Expires})
	return nil
}

func (s *Server) getPairing(w http.ResponseWriter, r *http.Request, c *call) error {
	id := r.PathValue("id")
	if !pairingIDRE.MatchString(id) {
		return errNotFound
	}
	p, err := s.st.Pairing(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		return errNotFound
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, cloudapi.Pairing{HouseholdID: p.HouseholdID, Msgs: p.Msgs, Expires: p.Expires})
	return nil
}

// postPairingMsg appends the member's answer (step 1: it must be signed in
// as an admin of the household it offers) or the hub's confirmation
// (step 2).
func (s *Server) postPairingMsg(w http.ResponseWriter, r *http.Request, c *call) error {
	id := r.PathValue("id")
	if !pairingIDRE.MatchString(id) {
		return errNotFound
	}
	var req cloudapi.PairingMessage
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	if len(req.Msg) == 0 || len(req.Msg) > 4096 {
		return errorf(http.StatusBadRequest, "msg: 1 to 4096 bytes")
	}
	switch req.Step {
	case 1:
		if err := s.authenticate(r, c); err != nil {
			return err
		}
		_, m, err := s.membership(r, c.account.ID, req.HouseholdID)
		if err != nil {
			return err
		}
		if m.Role != store.RoleAdmin {
			return errorf(http.StatusForbidden, "only a household admin can pair a hub")
		}
	case 2:
		if req.HouseholdID != "" {
			return errorf(http.StatusBadRequest, "household_id: only with step 1")
		}
	default:
		return errorf(http.StatusBadRequest, "step: 1 (member) or 2 (hub)")
	}
	err := s.st.AppendPairingMsg(r.Context(), id, req.Step, req.Msg, req.HouseholdID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return errNotFound
	case errors.Is(err, store.ErrConflict):
		return errorf(http.StatusConflict, "pairing step %d is not expected now (already answered, or out of order)", req.Step)
	case err != nil:
		return err
	}
	writeJSON(w, http.StatusCreated, map[string]any{"step": req.Step})
	return nil
}
