package store_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"vigil/internal/cloud/store"
	"vigil/internal/history"
	"vigil/internal/history/historytest"
)

func TestSQLiteHistory(t *testing.T) {
	historytest.RunStore(t, func(t *testing.T) history.Store {
		st, err := store.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "cloud.db"), store.SQLiteOptions{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st.History()
	})
}

// TestSQLiteLastIndexUsesIndex: the publisher asks for the last log index
// on every pass; the answer comes from the log index's index, not from a
// scan of every entry the history ever held (a scan grows with each access
// recorded: 100 ms at 200,000 entries).
func TestSQLiteLastIndexUsesIndex(t *testing.T) {
	st, err := store.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "cloud.db"), store.SQLiteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	plan, err := store.LastIndexPlan(context.Background(), st)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(plan, "history_log_index") {
		t.Errorf("LastIndex does not use the history_log_index index; its plan:\n%s", plan)
	}
}
