package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"vigil/internal/envelope"
	"vigil/internal/keydir"
)

func runKeys(e env) error {
	return runSubcommand(e, "keys", "new -o FILE | public FILE\n\nMakes a household identity file, or prints the public recipient of one.",
		keysSubs())
}

// keysSubs is the table of vigil keys's subcommands; its help lists them from it.
func keysSubs() []subcommand {
	return []subcommand{{"new", keysNew, nil}, {"public", keysPublic, nil}}
}

func keysNew(e env, rest []string) error {
	{
		fs := newFlags(e, "keys new", "-o FILE")
		out := fs.String("o", "", "file to write the household identity to (mode 0600)")
		if err := parse(fs, rest, 0); err != nil {
			return err
		}
		if *out == "" {
			return fmt.Errorf("%w: -o FILE is required", ErrUsage)
		}
		id, err := envelope.GenerateX25519Identity()
		if err != nil {
			return err
		}
		text := fmt.Sprintf("# Vigil household identity. Keep it secret: it opens every recording.\n# recipient: %s\n%s\n",
			id.Recipient(), id)
		if err := keydir.WriteSecretFile(*out, []byte(text)); err != nil {
			return err
		}
		fmt.Fprintln(e.stdout, id.Recipient())
		return nil
	}
}

func keysPublic(e env, rest []string) error {
	{
		fs := newFlags(e, "keys public", "FILE")
		if err := parse(fs, rest, 1); err != nil {
			return err
		}
		if fs.NArg() != 1 {
			return fmt.Errorf("%w: keys public needs the identity FILE", ErrUsage)
		}
		ids, err := readIdentities(fs.Arg(0))
		if err != nil {
			return err
		}
		for _, id := range ids {
			if x, ok := id.(*envelope.X25519Identity); ok {
				fmt.Fprintln(e.stdout, x.Recipient())
			}
		}
		return nil
	}
}

// readIdentities reads an identity file; "-" reads standard input.
func readIdentities(path string) ([]envelope.Identity, error) {
	var r io.Reader
	if path == "-" {
		r = os.Stdin
	} else {
		f, err := os.Open(path)
		if err != nil {
			return nil, fmt.Errorf("identity file: %w", err)
		}
		defer f.Close()
		r = f
	}
	ids, err := envelope.ParseIdentities(r)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(ids) == 0 {
		return nil, errors.New(path + ": no identity in the file (hint: make one with 'vigil keys new -o FILE')")
	}
	return ids, nil
}

var _ = strings.TrimSpace
