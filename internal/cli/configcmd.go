package cli

import (
	"fmt"

	"vigil/internal/cloud"
	"vigil/internal/config"
)

func runConfig(e env) error {
	return runSubcommand(e, "config", "defaults [--cloud]\n\nShows the configuration files' defaults.", configSubs())
}

// configSubs is the table of vigil config's subcommands; its help lists
// them from it.
func configSubs() []subcommand {
	return []subcommand{{"defaults", configDefaults, nil}}
}

// configDefaults prints the table of defaults the hub (or, with --cloud,
// the cloud) applies to its config file, one "key: value" a line, in the
// table's order: the same table the loaders apply and docs/CONFIG.md is
// checked against.
func configDefaults(e env, rest []string) error {
	fs := newFlags(e, "config defaults", "[--cloud]\n\nPrints every default the hub's config file gets (with --cloud, the cloud's),\none \"key: value\" a line; a default under an optional section (cameras[].detect,\ndetection, cloud, ...) applies when the file has that section. docs/CONFIG.md\ndescribes each key.")
	cloudFile := fs.Bool("cloud", false, "the cloud's config file (vigil cloud --config) instead of the hub's")
	if err := parse(fs, rest, 0); err != nil {
		return err
	}
	defs := config.Defaults()
	if *cloudFile {
		defs = cloud.ConfigDefaults()
	}
	for _, d := range defs {
		fmt.Fprintf(e.stdout, "%s: %s\n", d.Key, d.Value)
	}
	return nil
}
