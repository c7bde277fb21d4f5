// Package chaincache keeps the verified state of membership chains — a
// household's, a labelling workspace's — for the cloud domain that stores
// them, so that a request does not verify a whole chain again.
//
// What it owns: Cache, which brings a cached state up to the stored chain
// by verifying only the links after its head (the store refuses any link
// but head+1, so those are all that can have changed), at most every
// Recheck unless asked for a fresh state, and verifies the whole chain
// from its pinned genesis when nothing is cached or the stored links do
// not apply to the cached state (a store that lost links).
//
// What it must never do: return a state it did not verify from the
// genesis it was given, hand out a state a caller may change (callers
// Clone before Apply), or import net/http or the store.
package chaincache

import (
	"context"
	"fmt"
	"sync"
	"time"

	"vigil/internal/keydir"
)

// Recheck is how long a cached state is used before the store is asked
// again whether another replica appended a link. Decisions that change a
// chain (a link appended, a signed action checked) ask for a fresh state.
const Recheck = time.Second

// Links returns the stored links of chain id from seq from on, in order.
type Links func(ctx context.Context, id string, from int64) ([][]byte, error)

// Cache holds verified chain states by chain ID. It is safe for
// concurrent use; reads of the store for one Cache are serialised.
type Cache struct {
	what  string // "household", "workspace": for errors
	links Links
	now   func() time.Time

	mu      sync.Mutex
	states  map[string]*keydir.State
	checked map[string]time.Time // when each state was last compared with the store
}

// New returns a Cache over links; what names the chains in errors.
func New(what string, links Links, now func() time.Time) *Cache {
	if now == nil {
		now = time.Now
	}
	return &Cache{what: what, links: links, now: now, states: map[string]*keydir.State{}, checked: map[string]time.Time{}}
}

// State returns chain id's verified state, pinned to genesis. A cached
// state is brought up to the stored chain first: at once when fresh is
// set, else when it was last compared Recheck ago or more. The state
// returned is shared: do not change it.
func (c *Cache) State(ctx context.Context, id string, genesis []byte, fresh bool) (*keydir.State, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if st, ok := c.states[id]; ok {
		checked := c.checked[id]
		if !fresh && !now.Before(checked) && now.Sub(checked) < Recheck {
			return st, nil
		}
		links, err := c.links(ctx, id, st.Seq+1)
		if err != nil {
			return nil, err
		}
		if len(links) == 0 {
			c.checked[id] = now
			return st, nil
		}
		next, ok := st.Clone(), true
		for _, l := range links {
			if err := next.Apply(l); err != nil {
				ok = false // verify the whole chain again, below
				break
			}
		}
		if ok {
			c.putLocked(id, next)
			return next, nil
		}
		c.dropLocked(id)
	}
	links, err := c.links(ctx, id, 0)
	if err != nil {
		return nil, err
	}
	st, err := keydir.Verify(links, genesis)
	if err != nil {
		return nil, fmt.Errorf("%s %s: stored chain does not verify: %w", c.what, id, err)
	}
	c.putLocked(id, st)
	return st, nil
}

// Cached returns chain id's cached state, if any, as it was last verified.
func (c *Cache) Cached(id string) (*keydir.State, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	st, ok := c.states[id]
	return st, ok
}

// Put caches st as chain id's state, as the store holds it now (after an
// append made through the caller).
func (c *Cache) Put(id string, st *keydir.State) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.putLocked(id, st)
}

// Drop forgets chain id's state (an append lost a race: the store moved on).
func (c *Cache) Drop(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.dropLocked(id)
}

// Invalidate makes chain id's state be compared with the store at its next
// use, for when it changed through another replica.
func (c *Cache) Invalidate(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.checked, id)
}

func (c *Cache) putLocked(id string, st *keydir.State) {
	c.states[id] = st
	c.checked[id] = c.now()
}

func (c *Cache) dropLocked(id string) {
	delete(c.states, id)
	delete(c.checked, id)
}
