package cli

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
)

// TestScripts runs the scripts in testdata/script with testscript
// (github.com/rogpeppe/go-internal): each is a txtar archive whose comment
// is the script and whose files are written to $WORK first. Besides
// testscript's own commands (stdout, stderr, exists, chmod, cmp, ...):
//
//	[!] vigil ARGS...   run the command in-process (Run); it must exit 0,
//	                    or, with !, other than 0
//	status N            the last vigil exited with N
//	expand FILE...      replace $VARS in the files with their values
//
// $CLOSED is a loopback host:port nothing listens on, $SILENT one that
// accepts connections and never answers, $CLOSEDPORT and $SILENTPORT
// their ports.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:                 filepath.Join("testdata", "script"),
		RequireUniqueNames:  true,
		RequireExplicitExec: true,
		Setup: func(e *testscript.Env) error {
			closed := closedAddr(t)
			_, port, _ := net.SplitHostPort(closed)
			silent, stop := silentAddr()
			e.Defer(stop)
			_, silentPort, _ := net.SplitHostPort(silent)
			e.Setenv("CLOSED", closed)
			e.Setenv("CLOSEDPORT", port)
			e.Setenv("SILENT", silent)
			e.Setenv("SILENTPORT", silentPort)
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"vigil":  scriptVigil,
			"status": scriptStatus,
			"expand": scriptExpand,
		},
	})
}

// scriptVigil runs the vigil command in-process in the script's working
// directory: relative paths after --config are made absolute first, since
// the test process's working directory is shared by every script running
// in parallel.
func scriptVigil(ts *testscript.TestScript, neg bool, args []string) {
	for i := 1; i < len(args); i++ {
		if (args[i-1] == "--config" || args[i-1] == "-config") && !filepath.IsAbs(args[i]) {
			args[i] = ts.MkAbs(args[i])
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	code := Run(ctx, args, ts.Stdout(), ts.Stderr())
	ts.Setenv("VIGIL_STATUS", strconv.Itoa(code))
	switch {
	case code != 0 && !neg:
		ts.Fatalf("vigil exited with %d", code)
	case code == 0 && neg:
		ts.Fatalf("vigil exited with 0, want a failure")
	}
}

func scriptStatus(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: status N")
	}
	if got := ts.Getenv("VIGIL_STATUS"); got != args[0] {
		ts.Fatalf("the last vigil exited with %s, want %s", got, args[0])
	}
}

func scriptExpand(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) == 0 {
		ts.Fatalf("usage: expand FILE...")
	}
	for _, f := range args {
		p := ts.MkAbs(f)
		b, err := os.ReadFile(p)
		ts.Check(err)
		ts.Check(os.WriteFile(p, []byte(os.Expand(string(b), func(k string) string {
			if v := ts.Getenv(k); v != "" {
				return v
			}
			return "$" + k
		})), 0o600))
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
// packets), and the function that closes it and waits.
func silentAddr() (string, func()) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
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
	return ln.Addr().String(), func() {
		ln.Close()
		wg.Wait()
	}
}

var _ = strings.TrimSpace
