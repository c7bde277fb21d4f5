package store_test

import (
	"context"
	"path/filepath"
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
