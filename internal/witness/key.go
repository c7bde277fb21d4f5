package witness

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"filippo.io/torchwood"

	"vigil/internal/fsutil"
)

// KeyFile is the name of the witness's private key in its state directory.
const KeyFile = "witness.key"

// algCosignatureV1 is the signed-note signature type of C2SP
// tlog-cosignature's Ed25519 cosignatures (cosignature/v1).
const algCosignatureV1 = 0x04

// keyFilePrefix starts the key line of witness.key: the same shape as a
// signed-note signer key, "PRIVATE+KEY+<name>+<hash>+<base64(0x04 ||
// Ed25519 seed)>", with the cosignature type byte.
const keyFilePrefix = "PRIVATE+KEY+"

// LoadOrCreateKey returns the witness signer kept in dir/witness.key,
// creating the key (mode 0600, never overwriting a file) when there is none.
// The file records the witness's name with the key, because the name is part
// of the witness's public identity (its vkey): name may be empty to use the
// recorded one, and a different name is refused rather than silently
// changing the identity clients pin. Creating a key needs a name.
//
// created reports whether the key was made by this call.
func LoadOrCreateKey(dir, name string) (s *torchwood.CosignatureSigner, created bool, err error) {
	path := filepath.Join(dir, KeyFile)
	b, err := os.ReadFile(path)
	if err == nil {
		s, err := parseKeyFile(b)
		if err != nil {
			return nil, false, fmt.Errorf("%s: %w (hint: restore the file from a backup; a new key is a new witness that clients do not trust yet)", path, err)
		}
		if name != "" && name != s.Name() {
			return nil, false, fmt.Errorf("%s holds the key of witness %q, not %q (hint: omit the name or pass %q; a witness keeps one name for life)", path, s.Name(), name, s.Name())
		}
		return s, false, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, false, fmt.Errorf("read witness key: %w", err)
	}
	if name == "" {
		return nil, false, fmt.Errorf("no witness key in %s yet: give the witness a name to create one (e.g. --name witness.example.org/w1)", dir)
	}
	seed := make([]byte, ed25519.SeedSize)
	if _, err := io.ReadFull(rand.Reader, seed); err != nil {
		return nil, false, err
	}
	s, err = newSigner(name, seed)
	if err != nil {
		return nil, false, err
	}
	text := fmt.Sprintf("# Vigil witness key. Keep it secret: it cosigns checkpoints.\n# vkey: %s\n%s\n",
		s.Verifier().String(), formatKeyLine(name, seed, s.KeyHash()))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, false, err
	}
	if err := fsutil.WriteNew(path, []byte(text), 0o600); err != nil {
		if errors.Is(err, fs.ErrExist) {
			// Another process created it first: use that one.
			return LoadOrCreateKey(dir, name)
		}
		return nil, false, fmt.Errorf("write witness key: %w", err)
	}
	return s, true, nil
}

func formatKeyLine(name string, seed []byte, hash uint32) string {
	return fmt.Sprintf("%s%s+%08x+%s", keyFilePrefix, name, hash,
		base64.StdEncoding.EncodeToString(append([]byte{algCosignatureV1}, seed...)))
}

// parseKeyFile reads the key line of witness.key ('#' lines are comments).
func parseKeyFile(b []byte) (*torchwood.CosignatureSigner, error) {
	var line string
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		if line != "" {
			return nil, errors.New("more than one key line")
		}
		line = l
	}
	rest, ok := strings.CutPrefix(line, keyFilePrefix)
	if !ok {
		return nil, errors.New("not a witness key (no PRIVATE+KEY+ line)")
	}
	// Names cannot contain '+'; base64 can.
	name, rest, _ := strings.Cut(rest, "+")
	hash16, key64, _ := strings.Cut(rest, "+")
	hash, err := strconv.ParseUint(hash16, 16, 32)
	key, err2 := base64.StdEncoding.DecodeString(key64)
	if err != nil || err2 != nil || len(hash16) != 8 || len(key) != 1+ed25519.SeedSize || key[0] != algCosignatureV1 {
		return nil, errors.New("malformed key line")
	}
	s, err := newSigner(name, key[1:])
	if err != nil {
		return nil, err
	}
	if s.KeyHash() != uint32(hash) {
		return nil, errors.New("the key hash does not match the key (the file is damaged)")
	}
	return s, nil
}

// newSigner is the witness's signer; it fails only on a name that cannot
// be a signed-note key name.
func newSigner(name string, seed []byte) (*torchwood.CosignatureSigner, error) {
	s, err := torchwood.NewCosignatureSigner(name, ed25519.NewKeyFromSeed(seed))
	if err != nil {
		return nil, fmt.Errorf("witness name %q is not a valid key name (%v): it must be non-empty UTF-8 without spaces or '+' (e.g. witness.example.org/w1)", name, err)
	}
	return s, nil
}
