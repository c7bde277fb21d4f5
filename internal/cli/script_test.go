package cli

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestScripts runs the scripts in testdata/script: each is a txtar archive
// whose comment is the script and whose files are written to a fresh
// directory ($WORK, the script's working directory; files 0600) first.
// The script's commands, one a line ('#' starts a comment):
//
//	vigil ARGS...       run the command in-process (Run); arguments split
//	                    at spaces, 'single quotes' keep one together
//	                    (two in a row inside them make one)
//	status N            the last vigil exited with N; a vigil that exits
//	                    other than 0 must be followed by a status
//	[!] stdout REGEXP   the last vigil's stdout matches (or not); (?m)
//	[!] stderr REGEXP   likewise for stderr
//	[!] exists FILE     the file exists (or not)
//	chmod MODE FILE     set a file's mode (octal)
//
// $WORK, $CLOSED (a loopback host:port nothing listens on), $SILENT (one
// that accepts connections and never answers), and $CLOSEDPORT and
// $SILENTPORT (their ports) are expanded in arguments and in the files.
func TestScripts(t *testing.T) {
	scripts, err := filepath.Glob(filepath.Join("testdata", "script", "*.txtar"))
	if err != nil || len(scripts) == 0 {
		t.Fatalf("no scripts in testdata/script (%v)", err)
	}
	for _, file := range scripts {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".txtar"), func(t *testing.T) {
			t.Parallel()
			runScript(t, file)
		})
	}
}

// closedAddr returns a loopback host:port that nothing listens on (it
// did a moment ago: another program could take it, but connecting to
// it is all a script does).
func closedAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// silentAddr returns a loopback host:port that accepts connections and
// never answers (a server that hangs, or a firewall that swallows
// packets), until the test ends.
func silentAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() {
		ln.Close()
		<-done
	})
	go func() {
		defer close(done)
		var conns []net.Conn
		for {
			c, err := ln.Accept()
			if err != nil {
				break
			}
			conns = append(conns, c)
		}
		for _, c := range conns {
			c.Close()
		}
	}()
	return ln.Addr().String()
}

func runScript(t *testing.T, file string) {
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	script, files := parseTxtar(string(b))
	work := t.TempDir()
	closed := closedAddr(t)
	_, port, _ := net.SplitHostPort(closed)
	silent := silentAddr(t)
	_, silentPort, _ := net.SplitHostPort(silent)
	vars := map[string]string{"WORK": work, "CLOSED": closed, "CLOSEDPORT": port, "SILENT": silent, "SILENTPORT": silentPort}
	expand := func(s string) string {
		return os.Expand(s, func(k string) string {
			if v, ok := vars[k]; ok {
				return v
			}
			return "$" + k
		})
	}
	for name, content := range files {
		p := filepath.Join(work, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(expand(content)), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	var stdout, stderr string
	code, checked := 0, true
	for i, line := range strings.Split(script, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		at := fmt.Sprintf("%s:%d: %s", filepath.Base(file), i+1, line)
		neg := false
		if rest, ok := strings.CutPrefix(line, "! "); ok {
			neg, line = true, rest
		}
		args := splitArgs(t, at, line)
		for j := range args {
			args[j] = expand(args[j])
		}
		if args[0] != "status" && !checked {
			t.Fatalf("%s: the vigil before exited with %d and no status line checks it\nstdout:\n%s\nstderr:\n%s", at, code, stdout, stderr)
		}
		switch cmd := args[0]; {
		case cmd == "vigil" && !neg:
			var o, e bytes.Buffer
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			code = runIn(ctx, work, args[1:], &o, &e)
			cancel()
			stdout, stderr = o.String(), e.String()
			checked = code == 0
		case cmd == "status" && !neg && len(args) == 2:
			want, err := strconv.Atoi(args[1])
			if err != nil {
				t.Fatalf("%s: %v", at, err)
			}
			if code != want {
				t.Fatalf("%s: exit status %d\nstdout:\n%s\nstderr:\n%s", at, code, stdout, stderr)
			}
			checked = true
		case (cmd == "stdout" || cmd == "stderr") && len(args) == 2:
			text := stdout
			if cmd == "stderr" {
				text = stderr
			}
			re, err := regexp.Compile("(?m)" + args[1])
			if err != nil {
				t.Fatalf("%s: %v", at, err)
			}
			if re.MatchString(text) == neg {
				t.Fatalf("%s: failed on %s:\n%s", at, cmd, text)
			}
		case cmd == "exists" && len(args) == 2:
			_, err := os.Stat(filepath.Join(work, args[1]))
			if (err == nil) == neg {
				t.Fatalf("%s: %v", at, err)
			}
		case cmd == "chmod" && !neg && len(args) == 3:
			mode, err := strconv.ParseUint(args[1], 8, 32)
			if err != nil {
				t.Fatalf("%s: %v", at, err)
			}
			if err := os.Chmod(filepath.Join(work, args[2]), os.FileMode(mode)); err != nil {
				t.Fatalf("%s: %v", at, err)
			}
		default:
			t.Fatalf("%s: not a command this runner knows", at)
		}
	}
	if !checked {
		t.Fatalf("%s: the last vigil exited with %d and no status line checks it\nstderr:\n%s", file, code, stderr)
	}
}

// runIn runs the vigil command with args in dir: relative paths in the
// arguments are made absolute first, since the test process's working
// directory is shared by every test running in parallel.
func runIn(ctx context.Context, dir string, args []string, stdout, stderr *bytes.Buffer) int {
	abs := make([]string, len(args))
	for i, a := range args {
		abs[i] = a
		if i > 0 && (args[i-1] == "--config" || args[i-1] == "-config") && !filepath.IsAbs(a) {
			abs[i] = filepath.Join(dir, a)
		}
	}
	return Run(ctx, abs, stdout, stderr)
}

// splitArgs splits a script line at spaces; 'single quotes' keep spaces,
// and two quotes in a row inside them make one.
func splitArgs(t *testing.T, at, line string) []string {
	var args []string
	var cur strings.Builder
	inArg, quoted := false, false
	rs := []rune(line)
	for i := 0; i < len(rs); i++ {
		r := rs[i]
		switch {
		case r == '\'' && quoted && i+1 < len(rs) && rs[i+1] == '\'':
			cur.WriteRune(r)
			i++
		case r == '\'':
			quoted, inArg = !quoted, true
		case r == ' ' && !quoted:
			if inArg {
				args = append(args, cur.String())
				cur.Reset()
				inArg = false
			}
		default:
			cur.WriteRune(r)
			inArg = true
		}
	}
	if quoted {
		t.Fatalf("%s: unterminated quote", at)
	}
	if inArg {
		args = append(args, cur.String())
	}
	return args
}

// parseTxtar splits a txtar archive into its comment and its files.
func parseTxtar(s string) (comment string, files map[string]string) {
	files = map[string]string{}
	name := ""
	var cur strings.Builder
	flush := func() {
		if name == "" {
			comment = cur.String()
		} else {
			files[name] = cur.String()
		}
		cur.Reset()
	}
	for _, line := range strings.SplitAfter(s, "\n") {
		if l := strings.TrimRight(line, "\n"); strings.HasPrefix(l, "-- ") && strings.HasSuffix(l, " --") && len(l) > 6 {
			flush()
			name = strings.TrimSpace(l[3 : len(l)-3])
			continue
		}
		cur.WriteString(line)
	}
	flush()
	return comment, files
}
