package cli

import (
	"fmt"
	"os/signal"
	"syscall"

	"vigil/internal/config"
	"vigil/internal/hubd"
	"vigil/internal/pairing"
)

// hubSubs are the subcommands of vigil hub (without one it records).
func hubSubs() []subcommand {
	return []subcommand{{name: "init", run: runHubInit}, {name: "pair", run: runHubPair}}
}

func runHub(e env) error {
	if ok, err := dispatchSubcommand(&e, hubSubs()); ok {
		return err
	}
	fs := newFlags(e, "hub", "--config FILE\n       vigil hub init [--config FILE] [--camera NAME=URL ...] [--cloud URL] ...\n       vigil hub pair --config FILE [--name NAME]\n\n"+
		subcommandList("hub", hubSubs())+"\n\n"+
		"Records the cameras of FILE. 'init' writes a first configuration (asking, or\n"+
		"from flags) and pairs the hub; 'pair' pairs a configured hub with a household.")
	path := fs.String("config", "", "hub configuration file (YAML; see docs/CONFIG.md)")
	if err := parse(fs, e.args, 0); err != nil {
		return err
	}
	if *path == "" {
		return fmt.Errorf("%w: --config is required (see docs/CONFIG.md for the format)", ErrUsage)
	}
	cfg, err := loadHubConfig(*path)
	if err != nil {
		return err
	}
	log := newLogger(e.stderr, cfg.Level())
	h, err := hubd.New(cfg, hubd.Options{Logger: log})
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(e.ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := h.Start(ctx); err != nil {
		return err
	}
	<-ctx.Done()
	log.Info("stopping: closing open segments")
	return h.Close()
}

// runHubPair shows a pairing code and waits for a household member to enter
// it ('vigil household pair-hub CODE').
func runHubPair(e env, args []string) error {
	fs := newFlags(e, "hub pair", "--config FILE [--name NAME]")
	path := fs.String("config", "", "hub configuration file; its cloud.url is the cloud to pair through")
	name := fs.String("name", "hub", "how the hub appears in the household")
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	if *path == "" {
		return fmt.Errorf("%w: --config is required", ErrUsage)
	}
	cfg, err := loadHubConfig(*path)
	if err != nil {
		return err
	}
	if cfg.Cloud == nil {
		return fmt.Errorf("%s has no cloud section: add cloud: {url: https://...} to pair the hub", *path)
	}
	return pairHub(e, *path, cfg, *name)
}

// pairHub pairs the hub of cfg (read from path), printing the code.
func pairHub(e env, path string, cfg *config.Hub, name string) error {
	ctx, stop := signal.NotifyContext(e.ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	p, err := hubd.Pair(ctx, cfg.Data, hubd.PairOptions{Cloud: cfg.Cloud.URL, Name: name, Log: hubd.ConfigLog(cfg), ShowCode: func(code string) {
		fmt.Fprintf(e.stdout, "pairing code: %s\n", code)
		fmt.Fprintf(e.stdout, "on a household admin's device run:  vigil household pair-hub %s\n", code)
		fmt.Fprintf(e.stdout, "(the code expires in %s)\n", pairing.CodeLifetime)
	}})
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "paired with household %s; 'vigil hub --config %s' now seals to its key and uploads to %s\n", p.HouseholdID, path, cfg.Cloud.URL)
	return nil
}

// loadHubConfig loads the hub's config; a paired hub without a log section
// trusts the transparency log built into this binary, if it has one
// (logdefaults.go), rather than the one the cloud names.
func loadHubConfig(path string) (*config.Hub, error) {
	cfg, err := config.Load(path)
	if err != nil {
		return nil, err
	}
	if cfg.Log == nil && cfg.Cloud != nil {
		p, ok, err := builtinLogPolicy()
		if err != nil {
			return nil, err
		}
		if ok {
			cfg.Log = &config.Log{Key: p.Key, Witnesses: p.Witnesses, Quorum: p.Quorum}
		}
	}
	return cfg, nil
}
