package store

// SQLiteSchemaVersion is the schema version this code writes (for tests).
var SQLiteSchemaVersion = sqliteSchemaVersion
