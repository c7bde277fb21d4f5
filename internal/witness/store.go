package witness

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"filippo.io/torchwood"

	"vigil/internal/fsutil"
)

// The state directory holds:
//
//	witness.key                    the witness's private key (0600)
//	logs/<origin>-<h>.checkpoint   per log, the newest checkpoint it cosigned, as the log signed it
//	evidence/<kind>-<origin>-<size>-<h>.json   what a log signed that proves it misbehaved
//
// Every file is written to a temporary file, fsynced, renamed into place and
// the directory fsynced, so a crash leaves the old file or the new one.
const (
	logsDir     = "logs"
	evidenceDir = "evidence"
)

// fileName turns an origin into a file name that keeps it readable and
// unique: its safe characters and a hash of the whole origin.
func fileName(origin string) string {
	var b strings.Builder
	for _, r := range origin {
		if b.Len() >= 80 {
			break
		}
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '-':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	sum := sha256.Sum256([]byte(origin))
	return b.String() + "-" + hex.EncodeToString(sum[:4])
}

func (w *Witness) statePath(origin string) string {
	return filepath.Join(w.dir, logsDir, fileName(origin)+".checkpoint")
}

// loadState reads the checkpoint the witness last cosigned for origin, if
// any. The file is the witness's own record, so its body is trusted as it
// is: it is not checked against today's log key, which may have been
// rotated since (a new key must not reset what the witness has seen).
func (w *Witness) loadState(origin string) (*held, error) {
	path := w.statePath(origin)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	text, ok := noteText(b)
	if !ok {
		return nil, fmt.Errorf("%s: not a signed note (hint: the witness wrote it atomically, so the file was changed by hand; restore it from a backup)", path)
	}
	c, err := torchwood.ParseCheckpoint(text)
	if err != nil {
		return nil, fmt.Errorf("%s: %w (hint: restore the file from a backup)", path, err)
	}
	if c.Origin != origin {
		return nil, fmt.Errorf("%s holds a checkpoint of %q, not %q (hint: restore the file from a backup)", path, c.Origin, origin)
	}
	return &held{checkpoint: c, note: b}, nil
}

// saveState durably records signed as the newest checkpoint cosigned for
// its origin.
func (w *Witness) saveState(origin string, signed []byte) error {
	if w.persistHook != nil {
		if err := w.persistHook(origin); err != nil {
			return err
		}
	}
	return fsutil.WriteFile(w.statePath(origin), signed, 0o644)
}

// evidence is a record of a log's misbehaviour: two checkpoints the log
// signed that cannot both be true. Notes are stored byte for byte as the log
// sent them, so anyone holding the log's key can check them.
type evidence struct {
	Kind      string    `json:"kind"` // "split-view"
	Time      time.Time `json:"time"`
	Origin    string    `json:"origin"`
	LogKey    string    `json:"log_key"`
	Size      int64     `json:"size"`
	Cosigned  string    `json:"cosigned"`  // the checkpoint the witness cosigned before
	Submitted string    `json:"submitted"` // the conflicting checkpoint it refused
}

// keepEvidence writes e under evidence/ unless the same pair of checkpoints
// is already there, and returns the file's path.
func (w *Witness) keepEvidence(e evidence) (string, error) {
	sum := sha256.Sum256([]byte(e.Kind + "\x00" + e.Cosigned + "\x00" + e.Submitted))
	name := fmt.Sprintf("%s-%s-%d-%s.json", e.Kind, fileName(e.Origin), e.Size, hex.EncodeToString(sum[:8]))
	path := filepath.Join(w.dir, evidenceDir, name)
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	b, err := json.MarshalIndent(e, "", "  ")
	if err != nil {
		return "", err
	}
	return path, fsutil.WriteFile(path, append(b, '\n'), 0o644)
}

// noteText returns the text of a signed note (up to and including the
// newline before the blank line that starts the signatures).
func noteText(signed []byte) (string, bool) {
	i := bytes.LastIndex(signed, []byte("\n\n"))
	if i < 0 {
		return "", false
	}
	return string(signed[:i+1]), true
}
