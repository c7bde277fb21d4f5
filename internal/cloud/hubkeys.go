package cloud

import (
	"context"
	"sync"
	"time"

	"vigil/internal/cloud/store"
	"vigil/internal/keydir"
)

// Hub keys are looked up for every device-signed request, three times per
// upload (the header precheck, the signature check and the handler), so
// they are cached: hub device ID -> its household and key, with the
// verified chain state they were read from.
//
// A cached key is used only while (a) the household's chain state in this
// process is still the one the key came from — every chain change this
// process makes or loads replaces that state, so removing a hub or
// changing its role takes effect at its next request — and (b) it is
// younger than hubKeyTTL, which bounds how long a change of the store's
// device rows made elsewhere goes unseen. The chain state itself is the
// one this process verified (households.go keeps it): another replica's
// chain change reaches it through InvalidateHousehold (a message bus),
// which drops both.
const (
	hubKeyTTL = 10 * time.Second
	// maxHubKeys bounds the cache; past it an arbitrary entry goes.
	maxHubKeys = 200_000
)

type hubKeys struct {
	mu sync.Mutex
	m  map[string]hubKey
}

type hubKey struct {
	h       store.Household
	dk      keydir.DeviceKey
	st      *keydir.State // the chain state dk is in
	expires time.Time
}

// cachedHub is hubDevice (households.go) through the cache.
func (s *Server) cachedHub(ctx context.Context, id string) (store.Household, keydir.DeviceKey, error) {
	now := s.now()
	s.hubs.mu.Lock()
	e, ok := s.hubs.m[id]
	s.hubs.mu.Unlock()
	if ok && now.Before(e.expires) && s.chainState(e.h.ID) == e.st {
		return e.h, e.dk, nil
	}
	d, err := s.st.Device(ctx, id)
	if err == nil {
		e.h, err = s.st.Household(ctx, d.HouseholdID)
	}
	if err == nil {
		e.st, err = s.state(ctx, e.h)
	}
	if err == nil {
		var ok bool
		e.dk, ok = e.st.Devices[id]
		if !ok || e.dk.Role != keydir.RoleHub {
			err = store.ErrNotFound
		}
	}
	if err != nil {
		s.InvalidateDevice(id)
		return store.Household{}, keydir.DeviceKey{}, err
	}
	e.expires = now.Add(hubKeyTTL)
	s.hubs.mu.Lock()
	if s.hubs.m == nil {
		s.hubs.m = map[string]hubKey{}
	}
	if len(s.hubs.m) >= maxHubKeys {
		for k := range s.hubs.m {
			delete(s.hubs.m, k)
			break
		}
	}
	s.hubs.m[id] = e
	s.hubs.mu.Unlock()
	return e.h, e.dk, nil
}

// chainState returns the household's chain state this process holds, nil
// when it holds none.
func (s *Server) chainState(householdID string) *keydir.State {
	s.statesMu.Lock()
	defer s.statesMu.Unlock()
	return s.states[householdID]
}

// InvalidateDevice forgets what this Server cached of a device's key: its
// next request reads the store again.
func (s *Server) InvalidateDevice(deviceID string) {
	s.hubs.mu.Lock()
	delete(s.hubs.m, deviceID)
	s.hubs.mu.Unlock()
}

// InvalidateHousehold forgets the household's chain state and its hubs'
// cached keys, for when its chain changed in another process: the next
// request of one of its hubs reads and verifies the chain from the store.
func (s *Server) InvalidateHousehold(householdID string) {
	s.statesMu.Lock()
	delete(s.states, householdID)
	s.statesMu.Unlock()
	s.hubs.mu.Lock()
	for id, e := range s.hubs.m {
		if e.h.ID == householdID {
			delete(s.hubs.m, id)
		}
	}
	s.hubs.mu.Unlock()
}
