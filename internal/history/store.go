package history

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sync"
)

// Item is an entry on its way into the log, or in it: the outbox the cloud
// keeps so that an entry is durable before the log integrates it, and the
// index that lets members find their household's entries.
type Item struct {
	ID        int64  // assigned by the store, increasing in the order items were added
	Kind      byte   // TypeChainHead, TypeRecord or TypeRelease
	Household string // the household (chain heads, records); "" for releases
	Num       int64  // the chain seq of a head, the number of a record; 0 for releases
	Entry     []byte // the log entry
	Index     int64  // the entry's index in the log, -1 while it waits
}

// Query selects items of one kind: a household's chain heads or records
// with Num >= From, or releases (Household ""), ordered by Num (releases:
// by ID), at most Limit (0: no limit).
type Query struct {
	Household string
	Kind      byte
	From      int64
	Limit     int
}

// ErrStore is wrapped by a Store for an item it refuses (a kind it does not
// keep, a record given to Add, an entry that does not match its key).
var ErrStore = errors.New("history: store refused the item")

// Store keeps the history outbox and index. Implementations are safe for
// concurrent use, durable when a method returns nil, and pass
// historytest.RunStore.
type Store interface {
	// AppendRecord adds the household's next record: build gets its number
	// (one more than the household's last record, 1 for the first) and the
	// EntryHash of the last record's entry (ZeroPrev for the first) and
	// returns the record's entry. Number and entry are stored together, in
	// one transaction, so two concurrent appends never share a number.
	AppendRecord(ctx context.Context, household string, build func(n int64, prev string) ([]byte, error)) (Item, error)
	// Add adds a chain head (Kind, Household, Num = seq) or a release
	// (Household "", Num 0) to wait for the log. One item per chain head and
	// per release entry: adding it again returns the stored item, unchanged
	// (a different entry for a stored chain head is ErrStore).
	Add(ctx context.Context, it Item) (Item, error)
	// Pending returns up to limit items that have no index yet, in the order
	// they were added.
	Pending(ctx context.Context, limit int) ([]Item, error)
	// SetIndexes gives the items ids[i] the log index first+i. Giving an
	// item an index it already has is not an error; another index is.
	SetIndexes(ctx context.Context, ids []int64, first int64) error
	// Items returns the items q selects.
	Items(ctx context.Context, q Query) ([]Item, error)
	// LastIndex returns the highest index given to any item, -1 for none.
	LastIndex(ctx context.Context) (int64, error)
}

// MemoryStore is a Store in memory, for tests and for a cloud without a
// database.
type MemoryStore struct {
	mu    sync.Mutex
	items []Item
	// Fail, when set, is called before each write with the method's name;
	// an error it returns fails the call and changes nothing.
	Fail func(op string) error
}

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore() *MemoryStore { return &MemoryStore{} }

func (m *MemoryStore) fail(op string) error {
	if m.Fail != nil {
		return m.Fail(op)
	}
	return nil
}

func (m *MemoryStore) AppendRecord(ctx context.Context, household string, build func(n int64, prev string) ([]byte, error)) (Item, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if household == "" {
		return Item{}, fmt.Errorf("%w: a record needs a household", ErrStore)
	}
	n, prev := int64(1), ZeroPrev
	for i := len(m.items) - 1; i >= 0; i-- {
		if it := m.items[i]; it.Kind == TypeRecord && it.Household == household {
			n, prev = it.Num+1, EntryHash(it.Entry)
			break
		}
	}
	e, err := build(n, prev)
	if err != nil {
		return Item{}, err
	}
	if err := m.fail("AppendRecord"); err != nil {
		return Item{}, err
	}
	it := Item{ID: int64(len(m.items)) + 1, Kind: TypeRecord, Household: household, Num: n, Entry: slices.Clone(e), Index: -1}
	m.items = append(m.items, it)
	return it, nil
}

// itemKey is what makes an item unique.
func itemKey(it Item) (string, error) {
	switch it.Kind {
	case TypeChainHead:
		if it.Household == "" || it.Num < 0 {
			return "", fmt.Errorf("%w: a chain head needs a household and a seq >= 0", ErrStore)
		}
		return fmt.Sprintf("c/%s/%d", it.Household, it.Num), nil
	case TypeRecord:
		return fmt.Sprintf("r/%s/%d", it.Household, it.Num), nil
	case TypeRelease:
		if it.Household != "" || it.Num != 0 {
			return "", fmt.Errorf("%w: a release belongs to no household", ErrStore)
		}
		h := sha256.Sum256(it.Entry)
		return "w/" + hex.EncodeToString(h[:]), nil
	}
	return "", fmt.Errorf("%w: kind %d", ErrStore, it.Kind)
}

// ItemKey is the uniqueness key of an item, for implementations: chain heads
// by household and seq, records by household and number, releases by the
// SHA-256 of their entry.
func ItemKey(it Item) (string, error) { return itemKey(it) }

func (m *MemoryStore) Add(ctx context.Context, it Item) (Item, error) {
	if it.Kind == TypeRecord {
		return Item{}, fmt.Errorf("%w: records are added with AppendRecord", ErrStore)
	}
	k, err := itemKey(it)
	if err != nil {
		return Item{}, err
	}
	if len(it.Entry) == 0 || len(it.Entry) > MaxEntrySize {
		return Item{}, fmt.Errorf("%w: an entry of %d bytes", ErrStore, len(it.Entry))
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, old := range m.items {
		if ok, _ := itemKey(old); ok == k {
			if !slices.Equal(old.Entry, it.Entry) {
				return Item{}, fmt.Errorf("%w: %s is stored with another entry", ErrStore, k)
			}
			return cloneItem(old), nil
		}
	}
	if err := m.fail("Add"); err != nil {
		return Item{}, err
	}
	it.ID, it.Index, it.Entry = int64(len(m.items))+1, -1, slices.Clone(it.Entry)
	m.items = append(m.items, it)
	return cloneItem(it), nil
}

func cloneItem(it Item) Item { it.Entry = slices.Clone(it.Entry); return it }

func (m *MemoryStore) Pending(ctx context.Context, limit int) ([]Item, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := []Item{}
	for _, it := range m.items {
		if it.Index < 0 && (limit <= 0 || len(out) < limit) {
			out = append(out, cloneItem(it))
		}
	}
	return out, nil
}

func (m *MemoryStore) SetIndexes(ctx context.Context, ids []int64, first int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i, id := range ids {
		if id < 1 || id > int64(len(m.items)) {
			return fmt.Errorf("%w: no item %d", ErrStore, id)
		}
		if ix := m.items[id-1].Index; ix >= 0 && ix != first+int64(i) {
			return fmt.Errorf("%w: item %d is at index %d already, not %d", ErrStore, id, ix, first+int64(i))
		}
	}
	if err := m.fail("SetIndexes"); err != nil {
		return err
	}
	for i, id := range ids {
		m.items[id-1].Index = first + int64(i)
	}
	return nil
}

func (m *MemoryStore) Items(ctx context.Context, q Query) ([]Item, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := []Item{}
	for _, it := range m.items {
		if it.Kind == q.Kind && it.Household == q.Household && it.Num >= q.From {
			out = append(out, cloneItem(it))
		}
	}
	if q.Kind != TypeRelease {
		slices.SortStableFunc(out, func(a, b Item) int { return cmp.Compare(a.Num, b.Num) })
	}
	if q.Limit > 0 && len(out) > q.Limit {
		out = out[:q.Limit]
	}
	return out, nil
}

func (m *MemoryStore) LastIndex(ctx context.Context) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	last := int64(-1)
	for _, it := range m.items {
		last = max(last, it.Index)
	}
	return last, nil
}
