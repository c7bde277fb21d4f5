package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// commandPath is one command or subcommand of vigil and, when it is a
// group, the names of its subcommands.
type commandPath struct {
	args []string
	subs []string
}

// allCommands walks the command table and every subcommand table under it.
func allCommands() []commandPath {
	var out []commandPath
	var walk func(args []string, subs func() []subcommand)
	walk = func(args []string, subs func() []subcommand) {
		p := commandPath{args: args}
		if subs != nil {
			for _, s := range subs() {
				p.subs = append(p.subs, s.name)
			}
		}
		out = append(out, p)
		if subs == nil {
			return
		}
		for _, s := range subs() {
			walk(append(append([]string(nil), args...), s.name), s.subs)
		}
	}
	for name, c := range commands() {
		walk([]string{name}, c.subs)
	}
	return out
}

// TestHelpListsEverySubcommand runs every command and subcommand of the
// table with -h and --help (and each group with help): each exits 0,
// prints its usage, and a group's usage names each of its subcommands.
func TestHelpListsEverySubcommand(t *testing.T) {
	paths := allCommands()
	if len(paths) < 60 {
		t.Fatalf("walked %d commands, want the whole table", len(paths))
	}
	for _, p := range paths {
		name := strings.Join(p.args, " ")
		flags := []string{"-h", "--help"}
		if p.subs != nil {
			flags = append(flags, "help")
		}
		for _, h := range flags {
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), append(append([]string(nil), p.args...), h), strings.NewReader(""), &stdout, &stderr)
			if code != 0 {
				t.Errorf("vigil %s %s exited with %d: %s", name, h, code, stderr.String())
				continue
			}
			if !strings.Contains(stderr.String(), "Usage: vigil "+name) {
				t.Errorf("vigil %s %s does not print its usage:\n%s", name, h, stderr.String())
			}
			for _, sub := range p.subs {
				re := regexp.MustCompile(`vigil ` + regexp.QuoteMeta(name) + ` ([a-z-]+\|)*` + regexp.QuoteMeta(sub) + `(\||\s)`)
				if !re.MatchString(stderr.String()) {
					t.Errorf("vigil %s %s does not list its subcommand %s:\n%s", name, h, sub, stderr.String())
				}
			}
		}
	}
}

// TestTopHelpListsEveryCommand checks that vigil's own help names every
// command and every top-level command's subcommands.
func TestTopHelpListsEveryCommand(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"--help"}, strings.NewReader(""), &stdout, &stderr); code != 0 {
		t.Fatalf("vigil --help exited with %d", code)
	}
	for _, p := range allCommands() {
		if len(p.args) != 1 {
			continue
		}
		if !regexp.MustCompile(`(?m)^  ` + p.args[0] + ` `).MatchString(stderr.String()) {
			t.Errorf("vigil --help does not list %s:\n%s", p.args[0], stderr.String())
		}
		for _, sub := range p.subs {
			re := regexp.MustCompile(`vigil ` + p.args[0] + ` ([a-z-]+\|)*` + regexp.QuoteMeta(sub) + `(\||\s)`)
			if !re.MatchString(stderr.String()) {
				t.Errorf("vigil --help does not list vigil %s %s", p.args[0], sub)
			}
		}
	}
}

// TestHelpScriptWalksEveryCommand checks that testdata/script/help.txtar
// runs every command of the table with -h and with --help, so that a new
// subcommand is walked by the script too.
func TestHelpScriptWalksEveryCommand(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "script", "help.txtar"))
	if err != nil {
		t.Fatal(err)
	}
	lines := map[string]bool{}
	for _, l := range strings.Split(string(b), "\n") {
		lines[strings.TrimSpace(l)] = true
	}
	for _, p := range allCommands() {
		for _, h := range []string{"-h", "--help"} {
			if l := "vigil " + strings.Join(p.args, " ") + " " + h; !lines[l] {
				t.Errorf("help.txtar does not run %q", l)
			}
		}
	}
}
