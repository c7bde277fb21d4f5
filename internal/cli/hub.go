package cli

import (
	"fmt"
	"os/signal"
	"syscall"

	"vigil/internal/config"
	"vigil/internal/hubd"
)

func runHub(e env) error {
	fs := newFlags(e, "hub", "--config FILE")
	path := fs.String("config", "", "hub configuration file (YAML; see docs/CONFIG.md)")
	if err := parse(fs, e.args, 0); err != nil {
		return err
	}
	if *path == "" {
		return fmt.Errorf("%w: --config is required (see docs/CONFIG.md for the format)", ErrUsage)
	}
	cfg, err := config.Load(*path)
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
