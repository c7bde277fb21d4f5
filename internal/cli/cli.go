// Package cli implements the vigil command's subcommands. Each subcommand
// parses its flags, builds the components it needs and returns an error; only
// main turns an error into an exit code. Nothing here prints keys other than a
// public recipient string, and camera URLs are shown with passwords hidden.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"strings"
)

// ErrUsage marks a command-line mistake; main exits with status 2 for it.
var ErrUsage = errors.New("usage")

// env is what every subcommand gets: its arguments, its input (what a
// question reads its answer from) and its output streams.
type env struct {
	ctx    context.Context
	args   []string
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
}

type command struct {
	summary string
	run     func(env) error
}

func commands() map[string]command {
	return map[string]command{
		"camera":     {"serve a video file as a looping live RTSP stream; find and query ONVIF cameras to add (camera discover|probe)", runCamera},
		"hub":        {"record cameras into sealed segments (vigil hub --config FILE); write a first configuration (vigil hub init); pair (vigil hub pair)", runHub},
		"keys":       {"make and show household keys (keys new -o FILE, keys public FILE)", runKeys},
		"recordings": {"list and export recordings (recordings list|export)", runRecordings},
		"redact":     {"blur the faces and heads in a video clip, irreversibly (redact IN -o OUT [--keep-audio] [--plates])", runRedact},
		"bench":      {"measure the hub, the cloud, the web app and detection (bench record|cloud|web|detect)", runBench},
		"demo":       {"run a cloud, a hub and a software camera on embedded defaults; prints a sign-in link", runDemo},
		"cloud":      {"run the cloud service (vigil cloud --config FILE); manage staff (vigil cloud staff add|list|disable) and labelling workspaces (vigil cloud workspace add|list)", runCloud},
		"signup":     {"create a cloud account (signup --cloud URL --email ADDRESS)", runSignup},
		"login":      {"sign this device in to a cloud (login --cloud URL --email ADDRESS --totp CODE)", runLogin},
		"household":  {"create a household, list them, pair a hub, add a device, join, invite (household create|list|pair-hub|add-device|join|invite)", runHousehold},
		"device":     {"show this device's public identity for an admin to add (device id)", runDevice},
		"audit":      {"check the household's history and the transparency log from this device (audit [--household ID])", runAudit},
		"witness":    {"run an independent witness that cosigns consistent log checkpoints (witness --data DIR --log VKEY; witness key)", runWitness},
		"release":    {"sign web app releases (release key -o FILE; release sign --key FILE --dist DIR -o release.vrel; release show FILE)", runRelease},
		"workspace":  {"the labelling workspace from a lead's or annotator's device (workspace create|join|list|add-device|assign|donations|review|dataset)", runWorkspace},
		"donation":   {"a member's donations to labelling workspaces: give a clip, redacted on this computer; list them; revoke one (donation give|list|revoke)", runDonation},
		"dataset":    {"export a labelling workspace's dataset version as COCO and YOLO, and mark it (dataset export|mark)", runDataset},
		"verify":     {"check a site's web app against its logged releases (verify web URL --release-key KEY); configure the verifier extension (verify extension)", runVerify},
	}
}

// Run runs the vigil command with args (without the program name) and
// returns the exit code.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return run(ctx, args, os.Stdin, stdout, stderr)
}

// run is Run reading answers from stdin.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	cmd, ok := commands()[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "vigil: unknown command %q\n\n", args[0])
		usage(stderr)
		return 2
	}
	err := cmd.run(env{ctx: ctx, args: args[1:], stdin: stdin, stdout: stdout, stderr: stderr})
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, ErrUsage):
		fmt.Fprintf(stderr, "vigil %s: %v\n", args[0], err)
		return 2
	case errors.Is(err, context.Canceled):
		return 0
	default:
		fmt.Fprintf(stderr, "vigil %s: %v\n", args[0], err)
		return 1
	}
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "vigil: end-to-end encrypted home security cameras")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Usage: vigil <command> [flags]")
	fmt.Fprintln(w)
	cmds := commands()
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-11s %s\n", n, cmds[n].summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Run 'vigil <command> -h' for the flags of a command.")
}

// newFlags returns a FlagSet that reports errors instead of exiting.
func newFlags(e env, name, synopsis string) *flag.FlagSet {
	fs := flag.NewFlagSet("vigil "+name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		fmt.Fprintf(e.stderr, "Usage: vigil %s %s\n\n", name, synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// parse parses flags and rejects stray positional arguments beyond max.
func parse(fs *flag.FlagSet, args []string, maxArgs int) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %v", ErrUsage, err)
	}
	if fs.NArg() > maxArgs {
		return fmt.Errorf("%w: unexpected argument %q", ErrUsage, fs.Arg(maxArgs))
	}
	return nil
}

// subcommand is one subcommand of a command that has several.
type subcommand struct {
	name string
	run  func(e env, args []string) error
}

// runSubcommand runs the subcommand of 'vigil name' that e.args starts
// with. Without one, or with -h, it prints the command's synopsis.
func runSubcommand(e env, name, synopsis string, subs []subcommand) error {
	names := make([]string, len(subs))
	for i, sub := range subs {
		names[i] = sub.name
	}
	list := "vigil " + name + " " + strings.Join(names, "|")
	if len(e.args) == 0 {
		fmt.Fprintf(e.stderr, "Usage: vigil %s %s\n", name, synopsis)
		return fmt.Errorf("%w: %s", ErrUsage, list)
	}
	switch e.args[0] {
	case "-h", "--help", "help":
		fmt.Fprintf(e.stderr, "Usage: vigil %s %s\n", name, synopsis)
		return nil
	}
	for _, sub := range subs {
		if sub.name == e.args[0] {
			return sub.run(e, e.args[1:])
		}
	}
	return fmt.Errorf("%w: unknown subcommand %q (%s)", ErrUsage, e.args[0], list)
}

// parseArgs is parse for flags that may stand before, between or after
// the positional arguments (vigil release show FILE --release-key K,
// vigil household invite EMAIL --role admin).
func parseArgs(fs *flag.FlagSet, args []string, maxArgs int) error {
	var pos []string
	for {
		if err := parse(fs, args, len(args)); err != nil {
			return err
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
	return parse(fs, append([]string{"--"}, pos...), maxArgs)
}

// stringList is a repeatable string flag.
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

// newLogger writes human-readable logs to w at the given level.
func newLogger(w io.Writer, level slog.Level) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}

// isTerminal reports whether f looks like an interactive terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
