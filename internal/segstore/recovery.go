package segstore

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// recover repairs what a crash may have left: it finishes pending garbage,
// removes segment files without a row (a Put interrupted before its row was
// inserted) and temporary files, and drops rows whose file is missing. It
// runs before the store is shared, so it takes no locks. Memory use is
// bounded by the largest camera directory, not the whole index.
func (s *Store) recover(ctx context.Context) error {
	var rec Recovery
	var err error
	if rec.GarbageFinished, err = s.finishGarbage(ctx); err != nil {
		return err
	}

	segRoot := filepath.Join(s.dir, segmentsDir)
	entries, err := os.ReadDir(segRoot)
	if err != nil {
		return fmt.Errorf("segstore: recover: %w", err)
	}
	dirs := make(map[string]bool)
	for _, e := range entries {
		if !e.IsDir() {
			// segments/ holds only camera directories.
			if strings.HasSuffix(e.Name(), tmpExt) && e.Type().IsRegular() {
				if err := os.Remove(filepath.Join(segRoot, e.Name())); err != nil {
					return fmt.Errorf("segstore: recover: %w", err)
				}
				rec.OrphansRemoved++
				continue
			}
			s.log.Warn("segstore: unexpected file in segments directory; leaving it", "path", filepath.Join(segRoot, e.Name()))
			continue
		}
		dirs[e.Name()] = true
		prefix := path.Join(segmentsDir, e.Name()) + "/"
		rows, err := s.rowPaths(ctx, `SELECT id, path FROM segments WHERE path >= ? AND path < ?`, nil,
			prefix, prefix[:len(prefix)-1]+"0") // '0' follows '/'
		if err != nil {
			return err
		}
		n, err := s.recoverDir(filepath.Join(segRoot, e.Name()), prefix, rows)
		rec.OrphansRemoved += n
		if err != nil {
			return err
		}
		// Rows left in the map have no file.
		if err := s.dropMissing(ctx, rows, &rec); err != nil {
			return err
		}
	}
	if rec.OrphansRemoved > 0 {
		if err := s.syncDir(segRoot); err != nil {
			return fmt.Errorf("segstore: recover: %w", err)
		}
	}

	// Rows whose camera directory does not exist, or whose path is not of
	// the form segments/<dir>/<file>.
	all, err := s.rowPaths(ctx, `SELECT id, path FROM segments`, func(p string) bool {
		parts := strings.Split(p, "/")
		_, perr := s.absPath(p)
		return perr != nil || len(parts) != 3 || !dirs[parts[1]]
	})
	if err != nil {
		return err
	}
	if err := s.dropMissing(ctx, all, &rec); err != nil {
		return err
	}

	s.rec = rec
	s.log.Info("segstore: recovery done", "dir", s.dir,
		"garbage_finished", rec.GarbageFinished, "orphans_removed", rec.OrphansRemoved, "missing_rows", rec.MissingRows)
	return nil
}

// rowPaths runs query (selecting id, path) and returns path -> id of the
// rows that keep accepts (all rows if keep is nil).
func (s *Store) rowPaths(ctx context.Context, query string, keep func(path string) bool, args ...any) (map[string]int64, error) {
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("segstore: recover: %w", err)
	}
	defer rows.Close()
	m := make(map[string]int64)
	for rows.Next() {
		var id int64
		var p string
		if err := rows.Scan(&id, &p); err != nil {
			return nil, fmt.Errorf("segstore: recover: %w", err)
		}
		if keep == nil || keep(p) {
			m[p] = id
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("segstore: recover: %w", err)
	}
	return m, nil
}

// recoverDir removes orphan segment files and temporary files in one camera
// directory, and deletes from rows each path it found, leaving the rows
// whose file is missing. It returns the number of files removed.
func (s *Store) recoverDir(dir, prefix string, rows map[string]int64) (int, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0, fmt.Errorf("segstore: recover: %w", err)
	}
	removed := 0
	for _, e := range entries {
		p := prefix + e.Name()
		if _, ok := rows[p]; ok && e.Type().IsRegular() {
			delete(rows, p)
			continue
		}
		name := e.Name()
		if !e.Type().IsRegular() || (!strings.HasSuffix(name, segExt) && !strings.HasSuffix(name, tmpExt)) {
			s.log.Warn("segstore: unexpected entry in camera directory; leaving it", "path", filepath.Join(dir, name))
			continue
		}
		if err := os.Remove(filepath.Join(dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return removed, fmt.Errorf("segstore: recover: remove orphan: %w", err)
		}
		s.log.Debug("segstore: removed orphan file", "path", filepath.Join(dir, name))
		removed++
	}
	if removed > 0 {
		if err := s.syncDir(dir); err != nil {
			return removed, fmt.Errorf("segstore: recover: %w", err)
		}
	}
	return removed, nil
}

// dropMissing deletes index rows whose file is missing.
func (s *Store) dropMissing(ctx context.Context, rows map[string]int64, rec *Recovery) error {
	if len(rows) == 0 {
		return nil
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("segstore: recover: %w", err)
	}
	defer tx.Rollback()
	for p, id := range rows {
		s.log.Warn("segstore: index row without file; dropping it", "id", id, "path", p)
		if _, err := noteLost(ctx, tx, id); err != nil {
			return fmt.Errorf("segstore: recover: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM segments WHERE id = ?`, id); err != nil {
			return fmt.Errorf("segstore: recover: %w", err)
		}
	}
	if err := capLost(ctx, tx); err != nil {
		return fmt.Errorf("segstore: recover: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("segstore: recover: %w", err)
	}
	rec.MissingRows += len(rows)
	return nil
}
