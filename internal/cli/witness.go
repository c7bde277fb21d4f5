package cli

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os/signal"
	"syscall"
	"time"

	"golang.org/x/mod/sumdb/note"

	"vigil/internal/witness"
)

const witnessSynopsis = `--data DIR [--listen ADDR] [--name NAME] --log VKEY [--log VKEY ...]
       vigil witness key --data DIR [--name NAME]

Runs an independent witness (C2SP tlog-witness): it cosigns a log's
checkpoint only when it is a consistent successor of the one it cosigned
before. Prints its vkey, then its URL, on standard output. The key and the
state live in DIR; see docs/WITNESS.md.`

// witnessSubs is the table of vigil witness's subcommands; without one,
// vigil witness runs the witness.
func witnessSubs() []subcommand {
	return []subcommand{{"key", runWitnessKey, nil}}
}

func runWitness(e env) error {
	if ok, err := dispatchSubcommand(&e, witnessSubs()); ok {
		return err
	}
	fs := newFlags(e, "witness", witnessSynopsis+"\n\n"+subcommandList("witness", witnessSubs()))
	data := fs.String("data", "", "state directory: the witness key and what it cosigned (created if missing)")
	listen := fs.String("listen", "127.0.0.1:7380", "address to serve the witness's HTTP API on")
	name := fs.String("name", "", "the witness's key name, e.g. witness.example.org/w1 (needed when the key is created; then optional)")
	var logs stringList
	fs.Var(&logs, "log", "a log to witness: its note verifier key `VKEY` (origin+hash+base64, as the log serves at /tlog/key); repeatable")
	debug := fs.Bool("debug", false, "log every cosignature, not only refusals")
	if err := parse(fs, e.args, 0); err != nil {
		return err
	}
	if *data == "" {
		return fmt.Errorf("%w: --data DIR is required (the witness's key and state live there)", ErrUsage)
	}
	if len(logs) == 0 {
		return fmt.Errorf("%w: at least one --log VKEY is required (the log's verifier key, e.g. from its /tlog/key)", ErrUsage)
	}
	cfgLogs := make(map[string]string, len(logs))
	for _, vkey := range logs {
		v, err := note.NewVerifier(vkey)
		if err != nil {
			return fmt.Errorf("%w: --log %q is not a note verifier key (%v); it looks like origin+1234abcd+AW... (the line the log serves at /tlog/key)", ErrUsage, vkey, err)
		}
		if prev, ok := cfgLogs[v.Name()]; ok && prev != vkey {
			return fmt.Errorf("%w: two --log keys for the origin %q; give one key per log", ErrUsage, v.Name())
		}
		cfgLogs[v.Name()] = vkey
	}
	signer, created, err := witness.LoadOrCreateKey(*data, *name)
	if err != nil {
		return err
	}
	level := slog.LevelInfo
	if *debug {
		level = slog.LevelDebug
	}
	log := newLogger(e.stderr, level)
	if created {
		log.Info("created a new witness key", "file", *data+"/"+witness.KeyFile)
	}
	w, err := witness.New(witness.Config{Dir: *data, Signer: signer, Logs: cfgLogs, Logger: log})
	if err != nil {
		return err
	}
	defer w.Close()
	ctx, stop := signal.NotifyContext(e.ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("--listen %s: %w (hint: choose a free address, e.g. --listen 127.0.0.1:0)", *listen, err)
	}
	url := "http://" + ln.Addr().String()
	hs := &http.Server{Handler: w.Handler(), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 16 << 10,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	// The vkey and URL on stdout let scripts configure logs and find a
	// witness started on port 0.
	fmt.Fprintln(e.stdout, w.VerifierKey())
	fmt.Fprintln(e.stdout, url)
	log.Info("witness serving", "url", url, "vkey", w.VerifierKey(), "logs", len(cfgLogs))
	if err := serveHTTP(ctx, hs, ln, "", ""); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	log.Info("witness stopped")
	return nil
}

// runWitnessKey prints the witness's vkey, creating its key if needed.
func runWitnessKey(e env, args []string) error {
	fs := newFlags(e, "witness key", "--data DIR [--name NAME]\n\nPrints the witness's verifier key (vkey), creating the key in DIR/witness.key if\nthere is none (then --name is needed).")
	data := fs.String("data", "", "the witness's state directory")
	name := fs.String("name", "", "the witness's key name, e.g. witness.example.org/w1 (needed to create the key)")
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	if *data == "" {
		return fmt.Errorf("%w: --data DIR is required", ErrUsage)
	}
	s, _, err := witness.LoadOrCreateKey(*data, *name)
	if err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, s.Verifier().String())
	return nil
}
