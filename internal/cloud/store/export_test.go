package store

import "context"

// SQLiteSchemaVersion is the schema version this code writes (for tests).
var SQLiteSchemaVersion = sqliteSchemaVersion

// LastIndexPlan is SQLite's query plan of History().LastIndex.
func LastIndexPlan(ctx context.Context, s *SQLite) (string, error) {
	rows, err := s.r.QueryContext(ctx, "EXPLAIN QUERY PLAN "+lastIndexQuery)
	if err != nil {
		return "", err
	}
	defer rows.Close()
	var plan string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			return "", err
		}
		plan += detail + "\n"
	}
	return plan, rows.Err()
}
