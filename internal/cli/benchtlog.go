package cli

import (
	"encoding/json"
	"fmt"
	"log/slog"

	"vigil/internal/tlog/tlogbench"
)

// benchTlog measures the transparency log (tlogbench): append throughput
// and latency, proof sizes and verification times.
func benchTlog(e env, args []string) error {
	fs := newFlags(e, "bench tlog", "[--entries N] [--appenders N] [--real N] [--json]")
	entries := fs.Int("entries", 20000, "entries to append in the throughput run")
	appenders := fs.Int("appenders", 64, "concurrent appenders (their entries are group-committed)")
	real := fs.Int64("real", 1_000_000, "entries of the real log whose proofs are measured")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	if *entries < 1 || *entries > 10_000_000 {
		return fmt.Errorf("%w: --entries must be between 1 and 10000000", ErrUsage)
	}
	if *appenders < 1 || *appenders > 10_000 {
		return fmt.Errorf("%w: --appenders must be between 1 and 10000", ErrUsage)
	}
	if *real < 2 || *real > 100_000_000 {
		return fmt.Errorf("%w: --real must be between 2 and 100000000", ErrUsage)
	}
	fmt.Fprintf(e.stderr, "appending %d entries, then building a log of %d entries for proofs…\n", *entries, *real)
	r, err := tlogbench.Run(e.ctx, tlogbench.Options{Entries: *entries, Appenders: *appenders, RealSize: *real,
		Logger: newLogger(e.stderr, slog.LevelWarn)})
	if err != nil {
		return fmt.Errorf("bench tlog: %w", err)
	}
	if *asJSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	tlogbench.Print(e.stdout, r)
	return nil
}
