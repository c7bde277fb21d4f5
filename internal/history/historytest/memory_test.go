package historytest

import (
	"testing"

	"vigil/internal/history"
)

func TestMemoryStore(t *testing.T) {
	RunStore(t, func(t *testing.T) history.Store { return history.NewMemoryStore() })
}
