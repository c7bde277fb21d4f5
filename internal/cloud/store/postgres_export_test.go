package store

import (
	"context"
	"log/slog"

	"github.com/jackc/pgx/v5/pgxpool"
)

// PostgresSchemaVersion is the schema version this code writes (for tests).
var PostgresSchemaVersion = postgresSchemaVersion

// MigratePostgres runs the given migration steps on the schema dsn names.
func MigratePostgres(ctx context.Context, dsn string, steps []string) error {
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		return err
	}
	defer pool.Close()
	return migratePostgres(ctx, pool, steps, slog.New(slog.DiscardHandler), 0)
}
