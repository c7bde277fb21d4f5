package blob

import (
	"slices"
	"strings"
)

// entryState is where an entry is in its life.
type entryState uint8

const (
	// stateLive: the object is stored and durable.
	stateLive entryState = iota
	// statePending: a Put is storing it; it is not visible yet.
	statePending
	// stateDeleting: a Delete is removing it; it is visible until then.
	stateDeleting
)

// entry is where one object is stored.
type entry struct {
	// pack holds the object's record at off; nil means the object is a
	// file under objects/.
	pack *pack
	off  int64
	size int64
	// done is closed when a pending or deleting state ends; whoever waits
	// for it looks the key up again.
	done  chan struct{}
	state entryState
}

// visible reports whether the entry is an object that Open, Stat and List
// see.
func (e *entry) visible() bool { return e.state != statePending }

// index maps every key to its entry: a trie by key segment, so that List
// walks only the keys under a prefix, in the way the directory tree of
// objects/ is walked.
type index struct {
	root node
	n    int
}

type node struct {
	kids map[string]*node
	e    *entry
}

func (ix *index) get(key string) *entry {
	n := &ix.root
	for {
		seg, rest, more := strings.Cut(key, "/")
		n = n.kids[seg]
		if n == nil {
			return nil
		}
		if !more {
			return n.e
		}
		key = rest
	}
}

// set makes e the entry of key.
func (ix *index) set(key string, e *entry) {
	n := &ix.root
	for {
		seg, rest, more := strings.Cut(key, "/")
		k := n.kids[seg]
		if k == nil {
			if n.kids == nil {
				n.kids = map[string]*node{}
			}
			k = &node{}
			n.kids[seg] = k
		}
		n = k
		if !more {
			break
		}
		key = rest
	}
	if n.e == nil {
		ix.n++
	}
	n.e = e
}

// remove drops key's entry and the nodes it leaves empty.
func (ix *index) remove(key string) {
	if removeFrom(&ix.root, key) {
		ix.n--
	}
}

func removeFrom(n *node, key string) bool {
	seg, rest, more := strings.Cut(key, "/")
	k := n.kids[seg]
	if k == nil {
		return false
	}
	var removed bool
	if more {
		removed = removeFrom(k, rest)
	} else if k.e != nil {
		k.e = nil
		removed = true
	}
	if k.e == nil && len(k.kids) == 0 {
		delete(n.kids, seg)
	}
	return removed
}

// list returns the keys with the given prefix whose entries are visible,
// sorted.
func (ix *index) list(prefix string) []string {
	n := &ix.root
	acc, part := "", prefix
	if i := strings.LastIndexByte(prefix, '/'); i >= 0 {
		acc, part = prefix[:i+1], prefix[i+1:]
		for seg := range strings.SplitSeq(prefix[:i], "/") {
			if n = n.kids[seg]; n == nil {
				return nil // also for an empty segment: no key has one
			}
		}
	}
	var keys []string
	for name, k := range n.kids {
		if strings.HasPrefix(name, part) {
			collect(k, acc+name, &keys)
		}
	}
	slices.Sort(keys)
	return keys
}

func collect(n *node, key string, keys *[]string) {
	if n.e != nil && n.e.visible() {
		*keys = append(*keys, key)
	}
	for name, k := range n.kids {
		collect(k, key+"/"+name, keys)
	}
}
