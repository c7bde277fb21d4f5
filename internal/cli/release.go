package cli

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"os"
	"time"

	"vigil/internal/fsutil"
	"vigil/internal/release"
)

const releaseSynopsis = `key -o FILE
       vigil release sign --key FILE --dist DIR [--version V] [--name NAME] -o release.vrel
       vigil release show FILE [--release-key KEY ...]

Signed releases of the web app (docs/FORMAT.md, "Web release manifests").
'key' makes a release key (keep it where releases are built, never on the
cloud) and prints its public half, which verifiers pin. 'sign' lists every
file of a build (web/dist after 'npm run build') with its SHA-256 and signs
the list; give the .vrel file to the cloud (web_release in its config),
which appends it to the transparency log. 'show' prints a signed release.`

func runRelease(e env) error {
	return runSubcommand(e, "release", releaseSynopsis, releaseSubs())
}

// releaseSubs is the table of vigil release's subcommands; its help lists them from it.
func releaseSubs() []subcommand {
	return []subcommand{
		{"key", runReleaseKey, nil}, {"sign", runReleaseSign, nil}, {"show", runReleaseShow, nil}}
}

func runReleaseKey(e env, args []string) error {
	fs := newFlags(e, "release key", "-o FILE\n\nMakes a release key in FILE (0600, never overwritten) and prints its public key.")
	out := fs.String("o", "", "the new key file")
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	if *out == "" {
		return fmt.Errorf("%w: -o FILE is required (where the new release key is written)", ErrUsage)
	}
	k, err := release.GenerateKey()
	if err != nil {
		return err
	}
	if err := release.SaveKey(*out, k); err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, release.FormatPublicKey(k.Public().(ed25519.PublicKey)))
	fmt.Fprintf(e.stderr, "wrote the release key to %s; the line above is its public key: pin it in 'vigil verify web --release-key' and in the extension ('vigil verify extension --release-key')\n", *out)
	return nil
}

func runReleaseSign(e env, args []string) error {
	fs := newFlags(e, "release sign", "--key FILE --dist DIR [--version V] [--name NAME] -o release.vrel")
	keyFile := fs.String("key", "", "the release key file ('vigil release key')")
	dist := fs.String("dist", "", "the built web app: the directory the cloud serves (web/dist)")
	version := fs.String("version", "", "the release's version (default: the UTC time, YYYYMMDD.HHMMSS)")
	name := fs.String("name", release.DefaultName, "the release's name")
	out := fs.String("o", "", "where to write the signed release (.vrel)")
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	switch {
	case *keyFile == "":
		return fmt.Errorf("%w: --key FILE is required (a release key from 'vigil release key')", ErrUsage)
	case *dist == "":
		return fmt.Errorf("%w: --dist DIR is required (the built app, e.g. web/dist)", ErrUsage)
	case *out == "":
		return fmt.Errorf("%w: -o FILE is required (where the signed release is written)", ErrUsage)
	}
	key, err := release.LoadKey(*keyFile)
	if err != nil {
		return fmt.Errorf("--key %s: %w", *keyFile, err)
	}
	now := time.Now().UTC()
	if *version == "" {
		*version = now.Format("20060102.150405")
	}
	st, err := os.Stat(*dist)
	if err != nil || !st.IsDir() {
		return fmt.Errorf("--dist %s is not a directory (build the app first: 'make web')", *dist)
	}
	entry, err := release.SignDist(key, os.DirFS(*dist), *name, *version, now)
	if err != nil {
		return fmt.Errorf("--dist %s: %w", *dist, err)
	}
	if err := writeFileAtomic(*out, entry); err != nil {
		return err
	}
	s, err := release.Parse(entry)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "signed %s: %d files, %d bytes, release key %s\n", s.Manifest, len(s.Manifest.Assets), len(entry), release.FormatPublicKey(s.Key))
	fmt.Fprintf(e.stderr, "wrote %s; set web_release: %s in the cloud's config so it is appended to the transparency log\n", *out, *out)
	return nil
}

func runReleaseShow(e env, args []string) error {
	fs := newFlags(e, "release show", "FILE [--release-key KEY ...]")
	var keys stringList
	fs.Var(&keys, "release-key", "a trusted release public key `KEY` (base64); repeatable: says whether the release is signed by one")
	if err := parseArgs(fs, args, 1); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("%w: give one signed release file", ErrUsage)
	}
	b, err := os.ReadFile(fs.Arg(0))
	if err != nil {
		return err
	}
	s, err := release.Parse(b)
	if err != nil {
		return fmt.Errorf("%s: %w", fs.Arg(0), err)
	}
	m := s.Manifest
	fmt.Fprintf(e.stdout, "release  %s %s\ncreated  %s\nkey      %s (signature verified)\n", m.Name, m.Version, m.Created.Format(time.RFC3339), release.FormatPublicKey(s.Key))
	if len(keys) > 0 {
		trusted, err := parseReleaseKeys(keys)
		if err != nil {
			return err
		}
		if _, err := release.Open(b, trusted); err != nil {
			fmt.Fprintf(e.stdout, "trusted  NO: %v\n", err)
			printAssets(e, m)
			return errors.New("the release is not signed by a given --release-key")
		}
		fmt.Fprintln(e.stdout, "trusted  yes: signed by a given --release-key")
	}
	printAssets(e, m)
	return nil
}

func printAssets(e env, m release.Manifest) {
	fmt.Fprintf(e.stdout, "files    %d\n", len(m.Assets))
	for _, a := range m.Assets {
		fmt.Fprintf(e.stdout, "  %s  %s\n", a.SRI(), a.Path)
	}
}

// parseReleaseKeys reads --release-key values.
func parseReleaseKeys(keys []string) ([]ed25519.PublicKey, error) {
	var out []ed25519.PublicKey
	for _, s := range keys {
		k, err := release.ParsePublicKey(s)
		if err != nil {
			return nil, fmt.Errorf("%w: --release-key: %v", ErrUsage, err)
		}
		out = append(out, k)
	}
	return out, nil
}

// writeFileAtomic replaces path with b (0644) through a temporary file,
// so a crash never leaves half a file.
func writeFileAtomic(path string, b []byte) error { return fsutil.WriteFile(path, b, 0o644) }
