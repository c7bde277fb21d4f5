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

// command is one of vigil's commands. subs, when set, is the table of its
// subcommands: the one its dispatch, its help and vigil's help all read,
// so none of them can leave a subcommand out.
type command struct {
	summary string
	run     func(env) error
	subs    func() []subcommand
}

func commands() map[string]command {
	return map[string]command{
		"camera":     {"serve a video file as a looping live RTSP stream; find and query ONVIF cameras to add", runCamera, cameraSubs},
		"hub":        {"record cameras into sealed segments (vigil hub --config FILE); write a first configuration; pair", runHub, hubSubs},
		"keys":       {"make and show household keys", runKeys, keysSubs},
		"config":     {"show the defaults of the hub's and the cloud's config files", runConfig, configSubs},
		"recordings": {"list and export recordings", runRecordings, recordingsSubs},
		"redact":     {"blur the faces and heads in a video clip, irreversibly (redact IN -o OUT [--keep-audio] [--plates])", runRedact, nil},
		"bench":      {"measure the hub, the cloud, the web app, detection, the transparency log and the front door", runBench, benchSubs},
		"demo":       {"run a cloud, a hub and a software camera on embedded defaults; prints a sign-in link", runDemo, nil},
		"cloud":      {"run the cloud service (vigil cloud --config FILE); manage staff and labelling workspaces", runCloud, cloudSubs},
		"signup":     {"create a cloud account (signup --cloud URL --email ADDRESS)", runSignup, nil},
		"login":      {"sign this device in to a cloud (login --cloud URL --email ADDRESS --totp CODE)", runLogin, nil},
		"household":  {"create a household, list them, pair a hub, add a device, join, invite", runHousehold, householdSubs},
		"device":     {"show this device's public identity for an admin to add", runDevice, deviceSubs},
		"audit":      {"check the household's history and the transparency log from this device (audit [--household ID])", runAudit, nil},
		"witness":    {"run an independent witness that cosigns consistent log checkpoints (witness --data DIR --log VKEY)", runWitness, witnessSubs},
		"release":    {"sign web app releases and show them", runRelease, releaseSubs},
		"workspace":  {"the labelling workspace from a lead's or annotator's device", runWorkspace, workspaceSubs},
		"donation":   {"a member's donations to labelling workspaces: give a clip, redacted on this computer; list them; revoke one", runDonation, donationSubs},
		"dataset":    {"export a labelling workspace's dataset version as COCO and YOLO, and mark it", runDataset, datasetSubs},
		"verify":     {"check a site's web app against its logged releases; configure the verifier extension", runVerify, verifySubs},
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
		if cmds[n].subs != nil {
			fmt.Fprintf(w, "  %-11s vigil %s %s\n", "", n, subcommandNames(cmds[n].subs()))
		}
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

// subcommand is one subcommand of a command that has several; subs, when
// set, is the table of its own subcommands (vigil cloud staff add).
type subcommand struct {
	name string
	run  func(e env, args []string) error
	subs func() []subcommand
}

// subcommandNames is "a|b|c" for subs.
func subcommandNames(subs []subcommand) string {
	names := make([]string, len(subs))
	for i, sub := range subs {
		names[i] = sub.name
	}
	return strings.Join(names, "|")
}

// subcommandList is the part of a command's help that names its
// subcommands, printed from the table that dispatches them.
func subcommandList(name string, subs []subcommand) string {
	return fmt.Sprintf("Subcommands: vigil %s %s\nRun 'vigil %s <subcommand> -h' for the flags of one.", name, subcommandNames(subs), name)
}

// runSubcommand runs the subcommand of 'vigil name' that e.args starts
// with. Without one, or with -h, it prints the command's synopsis.
func runSubcommand(e env, name, synopsis string, subs []subcommand) error {
	list := "vigil " + name + " " + subcommandNames(subs)
	if len(e.args) == 0 {
		fmt.Fprintf(e.stderr, "Usage: vigil %s %s\n\n%s\n", name, synopsis, subcommandList(name, subs))
		return fmt.Errorf("%w: %s", ErrUsage, list)
	}
	switch e.args[0] {
	case "-h", "--help", "help":
		fmt.Fprintf(e.stderr, "Usage: vigil %s %s\n\n%s\n", name, synopsis, subcommandList(name, subs))
		return nil
	}
	for _, sub := range subs {
		if sub.name == e.args[0] {
			return sub.run(e, e.args[1:])
		}
	}
	return fmt.Errorf("%w: unknown subcommand %q (%s)", ErrUsage, e.args[0], list)
}

// dispatchSubcommand runs the subcommand e.args starts with, for a
// command that does something of its own without one (vigil camera,
// cloud, witness); ok is false when there is none. "help" alone becomes
// --help, for the command's own flags to print its usage.
func dispatchSubcommand(e *env, subs []subcommand) (ok bool, err error) {
	if len(e.args) == 0 {
		return false, nil
	}
	if len(e.args) == 1 && e.args[0] == "help" {
		e.args = []string{"--help"}
		return false, nil
	}
	for _, sub := range subs {
		if sub.name == e.args[0] {
			return true, sub.run(*e, e.args[1:])
		}
	}
	return false, nil
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

// usageFrom makes an error that wraps another package's usage sentinel
// (bench.ErrUsage) a usage mistake here too, with its message unchanged.
func usageFrom(err, sentinel error) error {
	if err == nil || !errors.Is(err, sentinel) {
		return err
	}
	return usageError{err}
}

type usageError struct{ err error }

func (u usageError) Error() string   { return u.err.Error() }
func (u usageError) Unwrap() []error { return []error{ErrUsage, u.err} }
