// Package historytest is the conformance suite of history.Store: every
// implementation (memory, SQLite, and any later one) must pass RunStore.
package historytest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"vigil/internal/history"
)

// RunStore runs the suite; open returns a new, empty store each call.
func RunStore(t *testing.T, open func(t *testing.T) history.Store) {
	ctx := context.Background()
	entry := func(s string) []byte {
		return append([]byte{history.EntryVersion, history.TypeChainHead}, []byte(s)...)
	}

	t.Run("RecordsNumberedAndChained", func(t *testing.T) {
		st := open(t)
		var prevEntry []byte
		for i := int64(1); i <= 5; i++ {
			for _, hh := range []string{"hA", "hB"} {
				it, err := st.AppendRecord(ctx, hh, func(n int64, prev string) ([]byte, error) {
					if n != i {
						return nil, fmt.Errorf("%s: number %d, want %d", hh, n, i)
					}
					want := history.ZeroPrev
					if n > 1 && hh == "hA" {
						want = history.EntryHash(prevEntry)
					}
					if hh == "hA" && prev != want {
						return nil, fmt.Errorf("record %d: prev %s, want %s", n, prev, want)
					}
					return []byte(fmt.Sprintf("%s-%d", hh, n)), nil
				})
				if err != nil {
					t.Fatal(err)
				}
				if it.Num != i || it.Index != -1 || it.Kind != history.TypeRecord || it.Household != hh {
					t.Fatalf("item %+v", it)
				}
				if hh == "hA" {
					prevEntry = it.Entry
				}
			}
		}
		got, err := st.Items(ctx, history.Query{Household: "hA", Kind: history.TypeRecord, From: 3})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 3 || got[0].Num != 3 || string(got[2].Entry) != "hA-5" {
			t.Fatalf("records of hA from 3: %+v", got)
		}
		if got, _ := st.Items(ctx, history.Query{Household: "hA", Kind: history.TypeRecord, Limit: 2}); len(got) != 2 || got[1].Num != 2 {
			t.Fatalf("limit 2: %+v", got)
		}
	})

	t.Run("BuildErrorStoresNothing", func(t *testing.T) {
		st := open(t)
		boom := errors.New("boom")
		if _, err := st.AppendRecord(ctx, "hA", func(int64, string) ([]byte, error) { return nil, boom }); !errors.Is(err, boom) {
			t.Fatalf("build error: %v", err)
		}
		it, err := st.AppendRecord(ctx, "hA", func(n int64, _ string) ([]byte, error) { return []byte("x"), nil })
		if err != nil || it.Num != 1 {
			t.Fatalf("after a failed build the next record is %d (%v), want 1", it.Num, err)
		}
	})

	t.Run("ConcurrentRecordsNeverShareANumber", func(t *testing.T) {
		st := open(t)
		var wg sync.WaitGroup
		nums := make(chan int64, 40)
		for range 40 {
			wg.Go(func() {
				it, err := st.AppendRecord(ctx, "hA", func(n int64, _ string) ([]byte, error) { return []byte(fmt.Sprint(n)), nil })
				if err != nil {
					t.Error(err)
					return
				}
				nums <- it.Num
			})
		}
		wg.Wait()
		close(nums)
		seen := map[int64]bool{}
		for n := range nums {
			if seen[n] {
				t.Fatalf("number %d given twice", n)
			}
			seen[n] = true
		}
		items, _ := st.Items(ctx, history.Query{Household: "hA", Kind: history.TypeRecord})
		for i, it := range items {
			if it.Num != int64(i+1) {
				t.Fatalf("records are not 1..%d without gaps: %d at %d", len(items), it.Num, i)
			}
			if i > 0 && string(it.Entry) != fmt.Sprint(it.Num) {
				t.Fatalf("record %d holds %q", it.Num, it.Entry)
			}
		}
	})

	t.Run("AddIsIdempotent", func(t *testing.T) {
		st := open(t)
		h := history.Item{Kind: history.TypeChainHead, Household: "hA", Num: 0, Entry: entry("head0")}
		a, err := st.Add(ctx, h)
		if err != nil {
			t.Fatal(err)
		}
		b, err := st.Add(ctx, h)
		if err != nil || b.ID != a.ID {
			t.Fatalf("adding the same head again: %+v, %v (first %+v)", b, err, a)
		}
		h2 := h
		h2.Entry = entry("other")
		if _, err := st.Add(ctx, h2); !errors.Is(err, history.ErrStore) {
			t.Fatalf("another entry for the same chain head: %v, want ErrStore", err)
		}
		rel := history.Item{Kind: history.TypeRelease, Entry: []byte{1, 3, 9}}
		r1, err := st.Add(ctx, rel)
		if err != nil {
			t.Fatal(err)
		}
		if r2, err := st.Add(ctx, rel); err != nil || r2.ID != r1.ID {
			t.Fatalf("the same release again: %+v, %v", r2, err)
		}
		rel2 := history.Item{Kind: history.TypeRelease, Entry: []byte{1, 3, 10}}
		if _, err := st.Add(ctx, rel2); err != nil {
			t.Fatal(err)
		}
		for name, bad := range map[string]history.Item{
			"record":            {Kind: history.TypeRecord, Household: "hA", Num: 1, Entry: []byte{1}},
			"release with hh":   {Kind: history.TypeRelease, Household: "hA", Entry: []byte{1}},
			"head without hh":   {Kind: history.TypeChainHead, Entry: []byte{1}},
			"unknown kind":      {Kind: 9, Household: "hA", Entry: []byte{1}},
			"empty entry":       {Kind: history.TypeChainHead, Household: "hA", Num: 4},
			"oversize entry":    {Kind: history.TypeChainHead, Household: "hA", Num: 5, Entry: make([]byte, history.MaxEntrySize+1)},
			"negative seq head": {Kind: history.TypeChainHead, Household: "hA", Num: -1, Entry: []byte{1}},
		} {
			if _, err := st.Add(ctx, bad); !errors.Is(err, history.ErrStore) {
				t.Errorf("%s: %v, want ErrStore", name, err)
			}
		}
		rels, _ := st.Items(ctx, history.Query{Kind: history.TypeRelease})
		if len(rels) != 2 || !bytes.Equal(rels[0].Entry, rel.Entry) {
			t.Fatalf("releases: %+v", rels)
		}
	})

	t.Run("PendingAndIndexes", func(t *testing.T) {
		st := open(t)
		if last, err := st.LastIndex(ctx); err != nil || last != -1 {
			t.Fatalf("empty store: last index %d, %v", last, err)
		}
		var ids []int64
		for i := range 6 {
			var it history.Item
			var err error
			if i%2 == 0 {
				it, err = st.AppendRecord(ctx, "hA", func(n int64, _ string) ([]byte, error) { return []byte(fmt.Sprint("r", n)), nil })
			} else {
				it, err = st.Add(ctx, history.Item{Kind: history.TypeChainHead, Household: "hA", Num: int64(i), Entry: entry(fmt.Sprint(i))})
			}
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, it.ID)
		}
		p, err := st.Pending(ctx, 4)
		if err != nil || len(p) != 4 {
			t.Fatalf("pending: %d, %v", len(p), err)
		}
		for i := range p {
			if p[i].ID != ids[i] {
				t.Fatalf("pending out of order: %d at %d, want %d", p[i].ID, i, ids[i])
			}
		}
		if err := st.SetIndexes(ctx, ids[:4], 10); err != nil {
			t.Fatal(err)
		}
		if err := st.SetIndexes(ctx, ids[:2], 10); err != nil {
			t.Fatalf("the same indexes again: %v", err)
		}
		if err := st.SetIndexes(ctx, ids[1:2], 99); !errors.Is(err, history.ErrStore) {
			t.Fatalf("another index for an indexed item: %v, want ErrStore", err)
		}
		p, _ = st.Pending(ctx, 0)
		if len(p) != 2 || p[0].ID != ids[4] {
			t.Fatalf("pending after indexing: %+v", p)
		}
		if last, _ := st.LastIndex(ctx); last != 13 {
			t.Fatalf("last index %d, want 13", last)
		}
		heads, _ := st.Items(ctx, history.Query{Household: "hA", Kind: history.TypeChainHead})
		if len(heads) != 3 || heads[0].Index != 11 || heads[2].Index != -1 {
			t.Fatalf("heads: %+v", heads)
		}
	})

	t.Run("Isolation", func(t *testing.T) {
		st := open(t)
		st.AppendRecord(ctx, "hA", func(n int64, _ string) ([]byte, error) { return []byte("a"), nil })
		st.Add(ctx, history.Item{Kind: history.TypeChainHead, Household: "hA", Num: 0, Entry: entry("a")})
		for _, k := range []byte{history.TypeRecord, history.TypeChainHead} {
			if got, err := st.Items(ctx, history.Query{Household: "hB", Kind: k}); err != nil || len(got) != 0 {
				t.Fatalf("household hB sees %+v (%v)", got, err)
			}
		}
	})
}
