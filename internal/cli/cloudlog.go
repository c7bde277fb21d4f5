package cli

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/mod/sumdb/note"

	"vigil/internal/blob"
	"vigil/internal/cloud"
	"vigil/internal/keydir"
	"vigil/internal/tlog"
	"vigil/internal/witness"
)

// The cloud's transparency log: its signing key in a file (made on the
// first start), its tiles and checkpoints in the blob store, and the
// witnesses it asks to cosign.

// logSetup is what serveCloud hands the cloud about its log.
type logSetup struct {
	log       *tlog.Log
	storage   tlog.Storage
	vkey      string
	witnesses []string // cosignature keys
	// open opens the log afresh from its storage (a replica that takes
	// over the log's sequencing; cloud.Options.OpenLog).
	open func(ctx context.Context) (*tlog.Log, error)
}

// openCloudLog opens (or starts) the cloud's log.
func openCloudLog(ctx context.Context, cfg *cloud.Config, public string, blobs blob.Store, log *slog.Logger) (*logSetup, error) {
	keyFile := cfg.LogKey
	if keyFile == "" {
		keyFile = filepath.Join(cfg.Data, "tlog.key")
	}
	skey, err := loadOrCreateLogKey(keyFile, cfg.LogOrigin, public, log)
	if err != nil {
		return nil, err
	}
	signer, err := note.NewSigner(skey)
	if err != nil {
		return nil, fmt.Errorf("%s: not a log signing key: %w", keyFile, err)
	}
	if cfg.LogOrigin != "" && cfg.LogOrigin != signer.Name() {
		return nil, fmt.Errorf("log_origin is %q but the log key %s is for %q: a log's name never changes (hint: remove log_origin, or start a new log with a new key file)", cfg.LogOrigin, keyFile, signer.Name())
	}
	vkey, err := tlog.VerifierKey(skey)
	if err != nil {
		return nil, err
	}
	ls := &logSetup{storage: tlog.NewBlobStorage(blobs, "tlog"), vkey: vkey}
	var ws []tlog.Witness
	for _, w := range cfg.Witnesses {
		v, err := tlog.NewCosignatureVerifier(w.Key)
		if err != nil {
			return nil, err
		}
		ws = append(ws, &witness.Client{URL: strings.TrimRight(w.URL, "/"), Verifier: v})
		ls.witnesses = append(ls.witnesses, w.Key)
	}
	ls.open = func(ctx context.Context) (*tlog.Log, error) {
		return tlog.Open(ctx, tlog.Config{Origin: signer.Name(), Signer: signer, Storage: ls.storage, Witnesses: ws,
			Logger: log.With("component", "tlog")})
	}
	if ls.log, err = ls.open(ctx); err != nil {
		return nil, fmt.Errorf("opening the transparency log: %w", err)
	}
	log.Info("transparency log", "origin", signer.Name(), "size", ls.log.Size(), "key", vkey, "witnesses", len(ws), "quorum", cfg.Quorum())
	return ls, nil
}

// loadOrCreateLogKey reads the log's signing key, or makes one named
// origin (default: the public URL's host and /tlog) when the file does not
// exist. The key never leaves the file; only its verifier key is printed.
func loadOrCreateLogKey(path, origin, public string, log *slog.Logger) (string, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		if err := keydir.CheckPrivate(path); err != nil {
			log.Warn("the log's signing key is readable by others", "file", path, "err", err)
		}
		return strings.TrimSpace(string(b)), nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", err
	}
	if origin == "" {
		origin = cloud.DefaultLogOrigin(public)
	}
	skey, vkey, err := tlog.GenerateKey(origin)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", err
	}
	if err := keydir.WriteSecretFile(path, []byte(skey+"\n")); err != nil {
		return "", err
	}
	log.Info("made the transparency log's signing key", "file", path, "origin", origin, "key", vkey)
	return skey, nil
}
