package cloud

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"vigil/internal/cloud/households"
	"vigil/internal/cloud/store"
	"vigil/internal/cloudapi"
	"vigil/internal/keydir"
)

// The households routes: households, their chains and the pairing relay.
// Their logic is the households domain's (internal/cloud/households); the
// handlers here parse the request, authenticate what the domain cannot,
// call it and write the answer.

// householdsError is the answer to a households domain refusal, nil for
// any other error.
func householdsError(err error) *apiError {
	var de *households.Error
	if !errors.As(err, &de) {
		return nil
	}
	if de.Kind == households.NotFound {
		return errNotFound
	}
	status := map[households.Kind]int{
		households.Invalid:         http.StatusBadRequest,
		households.Conflict:        http.StatusConflict,
		households.Refused:         http.StatusUnprocessableEntity,
		households.Unauthenticated: http.StatusUnauthorized,
		households.Forbidden:       http.StatusForbidden,
		households.TooMany:         http.StatusTooManyRequests,
		households.Missing:         http.StatusNotFound,
		households.Used:            http.StatusGone,
	}[de.Kind]
	if status == 0 {
		status = http.StatusInternalServerError
	}
	return &apiError{status: status, msg: de.Msg, retryAfter: int(de.RetryAfter / time.Second)}
}

// createHousehold stores a household made by the caller's first admin
// device (households.Service.Create).
func (s *Server) createHousehold(w http.ResponseWriter, r *http.Request, c *call) error {
	var req cloudapi.CreateHousehold
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	h, _, err := s.households.Create(r.Context(), c.account.ID, req.Genesis)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, householdJSON(h, 0))
	return nil
}

// queueHead queues a new chain head for the log (households.Config.OnHead).
func (s *Server) queueHead(ctx context.Context, h store.Household, st *keydir.State) {
	if _, err := s.hist.ChainHead(ctx, h.ID, h.GenesisHash, st.Seq, st.Head); err != nil {
		// The head goes to the log when the chain is next read.
		s.log.Error("chain head not queued for the log", "household", h.ID, "seq", st.Seq, "err", err)
	}
	// Hubs are told once the head is in the log (onLogged, translog.go).
}

func householdJSON(h store.Household, usage int64) cloudapi.Household {
	return cloudapi.Household{ID: h.ID, Name: h.Name, GenesisHash: hex.EncodeToString(h.GenesisHash),
		Created: h.Created, UsageBytes: usage}
}

func (s *Server) listHouseholds(w http.ResponseWriter, r *http.Request, c *call) error {
	hs, err := s.households.ForAccount(r.Context(), c.account.ID)
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
	u, err := s.retention.Usage(r.Context(), c.household.ID)
	if err != nil {
		return err
	}
	out := householdJSON(c.household, u)
	out.QuotaBytes = s.quota(c.household)
	out.Role = c.member.Role
	if out.SupportCode, err = s.staff.SupportCode(r.Context(), c.household.ID); err != nil {
		return err
	}
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
	links, err := s.households.Chain(r.Context(), h, from)
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

// appendChain adds a link signed by an admin device
// (households.Service.Append): the cloud checks it against the chain it
// holds, but only the household's admin devices can make a valid link.
func (s *Server) appendChain(w http.ResponseWriter, r *http.Request, c *call) error {
	var req cloudapi.ChainLink
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	next, err := s.households.Append(r.Context(), c.household, req.Link)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, map[string]any{"seq": next.Seq})
	return nil
}

// state returns h's verified chain state, at most households.ChainRecheck
// behind the stored chain.
func (s *Server) state(ctx context.Context, h store.Household) (*keydir.State, error) {
	return s.households.State(ctx, h)
}

// hubDevice returns the household of a device that is a hub in its
// household's verified chain now.
func (s *Server) hubDevice(ctx context.Context, id string) (store.Household, keydir.DeviceKey, error) {
	hd, err := s.households.HubDevice(ctx, id)
	return hd.Household, hd.Key, err
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

func (s *Server) createPairing(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := s.limitIP(r.Context(), c); err != nil {
		return err
	}
	var req cloudapi.CreatePairing
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	p, err := s.households.CreatePairing(r.Context(), req.ID, req.Msg)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, map[string]any{"expires": p.Expires})
	return nil
}

func (s *Server) getPairing(w http.ResponseWriter, r *http.Request, c *call) error {
	p, err := s.households.Pairing(r.Context(), r.PathValue("id"))
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
	if !households.ValidPairingID(id) {
		return errNotFound
	}
	var req cloudapi.PairingMessage
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	if err := households.CheckPairingMsg(req.Step, req.Msg, req.HouseholdID); err != nil {
		return err
	}
	if req.Step == 1 {
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
	}
	if err := s.households.AppendPairingMsg(r.Context(), id, req.Step, req.Msg, req.HouseholdID); err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, map[string]any{"step": req.Step})
	return nil
}
