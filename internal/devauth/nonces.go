package devauth

import (
	"container/heap"
	"context"
	"crypto/sha256"
	"sync"
	"time"
)

// Nonces is a Verifier's replay memory: the (device, nonce) pairs of the
// requests it accepted. A server that runs as one process can keep it in
// memory ([MemoryNonces], the default); replicas of a service must share
// it, or a request accepted by one replica is accepted again by another.
type Nonces interface {
	// Record remembers the pair (deviceID, nonce) through expires (a
	// Record of the same pair at any time up to and including expires is
	// refused), or returns an error wrapping ErrReplay when the pair is
	// remembered already. Of concurrent Records of one pair at most one
	// succeeds, whichever Verifier made them. now is the Verifier's clock,
	// and expires is never before it.
	//
	// An error wrapping ErrBusy means the pair could not be remembered
	// without forgetting another one early; any other error means the
	// memory could not be consulted (its backing service is down), and
	// Verify passes it through wrapped, so the request is refused and the
	// caller can tell a failure to decide from a refusal. Record never
	// returns nil when it did not remember the pair. The nonce is not
	// secret (it travels in the request's header), but an implementation
	// must not keep nonce's slice past the call.
	Record(ctx context.Context, deviceID string, nonce []byte, now, expires time.Time) error
}

// MemoryNonces is a Nonces in this process's memory. It refuses with
// ErrBusy once it holds Max unexpired pairs, until some expire, rather than
// forget one early (which would let that request be replayed). Its zero
// value is ready; it is safe for concurrent use.
type MemoryNonces struct {
	// Max bounds how many unexpired pairs it holds; 0 means
	// DefaultMaxNonces. Set it before the first Record.
	Max int

	mu   sync.Mutex
	seen map[nonceKey]struct{}
	exp  expiryHeap
}

var _ Nonces = (*MemoryNonces)(nil)

// Record remembers (deviceID, nonce) through expires; see [Nonces].
func (m *MemoryNonces) Record(_ context.Context, deviceID string, nonce []byte, now, expires time.Time) error {
	return m.record(keyOf(deviceID, nonce), expires, now, m.Max)
}

// record remembers k through expires, or fails with ErrReplay if it is
// already remembered, or with ErrBusy if limit (0: DefaultMaxNonces)
// unexpired keys are held.
func (m *MemoryNonces) record(k nonceKey, expires, now time.Time, limit int) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.seen == nil {
		m.seen = make(map[nonceKey]struct{})
	}
	nowNs := now.UnixNano()
	for len(m.exp) > 0 && m.exp[0].at < nowNs {
		e := heap.Pop(&m.exp).(expiry)
		delete(m.seen, e.key)
	}
	if _, ok := m.seen[k]; ok {
		return ErrReplay
	}
	if limit <= 0 {
		limit = DefaultMaxNonces
	}
	if len(m.seen) >= limit {
		return ErrBusy
	}
	m.seen[k] = struct{}{}
	heap.Push(&m.exp, expiry{key: k, at: expires.UnixNano()})
	return nil
}

// nonceKey identifies a (device, nonce) pair in a MemoryNonces.
type nonceKey [16]byte

func keyOf(id string, nonce []byte) nonceKey {
	h := sha256.New()
	h.Write([]byte(id))
	h.Write([]byte{0})
	h.Write(nonce)
	var k nonceKey
	copy(k[:], h.Sum(nil))
	return k
}

type expiry struct {
	key nonceKey
	at  int64 // Unix nanoseconds after which the nonce can be forgotten
}

type expiryHeap []expiry

func (h expiryHeap) Len() int           { return len(h) }
func (h expiryHeap) Less(i, j int) bool { return h[i].at < h[j].at }
func (h expiryHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *expiryHeap) Push(x any)        { *h = append(*h, x.(expiry)) }
func (h *expiryHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}
