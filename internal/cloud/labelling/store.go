package labelling

import (
	"context"

	"vigil/internal/cloud/store"
)

// Store is what labelling keeps and reads of the cloud's metadata.
// store.SQLite and store.Postgres satisfy it; the contract of its methods
// is store.LabellingStore's, checked on both by labellingtest.
type Store interface {
	store.LabellingStore
	// Household finds a donor household (a donation must name one).
	Household(ctx context.Context, id string) (store.Household, error)
}
