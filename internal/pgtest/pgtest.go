// Package pgtest gives tests PostgreSQL databases of their own: a real
// server, a fresh empty database (or schema) for each test, dropped when
// the test ends, so tests run in parallel and leave nothing behind.
//
// The server is, in this order: the one the VIGIL_TEST_POSTGRES DSN names
// ("private" forces the next-but-one); the local one on 127.0.0.1:5432 if
// it lets user postgres or root in without a password (developer machines
// and CI run one); else a private server it starts itself (initdb into a
// temporary directory, postgres on a Unix socket there, no TCP), stopped
// when the test ends. When none of them works the test fails with the fix
// to apply; it never skips.
//
// It is imported only from tests. It never touches a database or schema it
// did not create, never changes the server's settings, and never reads or
// prints a password.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnvDSN names the environment variable that picks the server: a DSN
// (URL or key=value) of a user allowed to create databases, or "private"
// for a private server even when a local one runs.
const EnvDSN = "VIGIL_TEST_POSTGRES"

// localDSNs are the local server's accounts tried without a password.
func localDSNs() []string {
	return []string{
		"host=127.0.0.1 port=5432 user=postgres dbname=postgres sslmode=disable connect_timeout=3",
		"host=127.0.0.1 port=5432 user=root dbname=postgres sslmode=disable connect_timeout=3",
		"host=127.0.0.1 port=5432 user=root dbname=test sslmode=disable connect_timeout=3",
	}
}

// Server is a PostgreSQL server tests may create databases on.
type Server struct {
	admin string   // DSN of a user that may create databases
	what  string   // where it is, for messages (never a password)
	priv  *private // the process, for a server Private started
}

// String says which server this is.
func (s *Server) String() string { return s.what }

// Open returns the server for t (see the package doc). A private server is
// stopped when t ends: a test that needs many databases opens the server
// once and calls NewDB or NewSchema for each.
func Open(t testing.TB) *Server {
	t.Helper()
	switch env := os.Getenv(EnvDSN); env {
	case "private":
		return Private(t)
	case "":
	default:
		if err := ping(t.Context(), env); err != nil {
			t.Fatalf("pgtest: %s is set but its server does not answer: %v; hint: fix or unset %s", EnvDSN, err, EnvDSN)
		}
		return &Server{admin: env, what: "the server " + EnvDSN + " names"}
	}
	var errs []error
	for _, dsn := range localDSNs() {
		err := ping(t.Context(), dsn)
		if err == nil {
			return &Server{admin: dsn, what: "the local server on 127.0.0.1:5432"}
		}
		errs = append(errs, err)
	}
	t.Logf("pgtest: no local server on 127.0.0.1:5432 (%v); starting a private one", errors.Join(errs...))
	return Private(t)
}

// NewDB returns the DSN of a new, empty database on the server Open gives
// t, dropped when t ends.
func NewDB(t testing.TB) string {
	t.Helper()
	return Open(t).NewDB(t)
}

// NewDB creates an empty database (vigil_test_<random>) and returns its
// DSN; the database is dropped, with any connection still open to it,
// when t ends.
func (s *Server) NewDB(t testing.TB) string {
	t.Helper()
	name := "vigil_test_" + randomHex()
	if err := s.exec(t.Context(), s.admin, `CREATE DATABASE `+name); err != nil {
		t.Fatalf("pgtest: create database on %s: %v", s, err)
	}
	t.Cleanup(func() {
		if err := s.exec(context.Background(), s.admin, `DROP DATABASE IF EXISTS `+name+` WITH (FORCE)`); err != nil {
			t.Errorf("pgtest: drop database %s on %s: %v", name, s, err)
		}
	})
	dsn, err := withParam(s.admin, "dbname", name)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	return dsn
}

// NewSchema creates an empty schema in the database dsn names and returns
// dsn with its search_path set to it: a store opened with it sees only its
// own tables. Creating a schema takes milliseconds where creating a
// database takes most of a second, so a suite that needs a fresh store per
// subtest takes one database and a schema per subtest. The schema is
// dropped, with everything in it, when t ends.
func NewSchema(t testing.TB, dsn string) string {
	t.Helper()
	name := "vigil_test_" + randomHex()
	if err := (&Server{}).exec(t.Context(), dsn, `CREATE SCHEMA `+name); err != nil {
		t.Fatalf("pgtest: create schema: %v", err)
	}
	t.Cleanup(func() {
		if err := (&Server{}).exec(context.Background(), dsn, `DROP SCHEMA IF EXISTS `+name+` CASCADE`); err != nil {
			t.Errorf("pgtest: drop schema %s: %v", name, err)
		}
	})
	out, err := withParam(dsn, "search_path", name)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	return out
}

func randomHex() string {
	b := make([]byte, 8)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func ping(ctx context.Context, dsn string) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer c.Close(context.Background())
	return c.Ping(ctx)
}

func (s *Server) exec(ctx context.Context, dsn, sql string) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer c.Close(context.Background())
	_, err = c.Exec(ctx, sql)
	return err
}

// withParam returns dsn with the connection parameter key set to value
// (a later key=value pair wins; a URL gets it as its path or query).
func withParam(dsn, key, value string) (string, error) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return "", fmt.Errorf("%s is not a valid URL", EnvDSN)
		}
		if key == "dbname" {
			u.Path = "/" + value
		} else {
			q := u.Query()
			q.Set(key, value)
			u.RawQuery = q.Encode()
		}
		return u.String(), nil
	}
	return dsn + " " + key + "=" + value, nil
}

// Private starts a PostgreSQL server of t's own: initdb into a temporary
// directory, then postgres listening only on a Unix socket there. Running
// as root (which PostgreSQL refuses), it runs both as the postgres user,
// or nobody. The server is stopped and its directory removed when t ends.
// It fails t, naming the package to install, when PostgreSQL's programs
// are missing.
func Private(t testing.TB) *Server {
	t.Helper()
	initdb, postgres := binaries()
	if initdb == "" {
		t.Fatalf("pgtest: no PostgreSQL server reachable and no initdb/postgres programs found (PATH, /usr/lib/postgresql/*/bin); " +
			"hint: apt-get install postgresql (scripts/deps.sh does), or set " + EnvDSN + " to a server's DSN")
	}
	dir, err := os.MkdirTemp("", "vigil-pgtest-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	attr := &syscall.SysProcAttr{
		// The server must not outlive the test process, even killed.
		Pdeathsig: syscall.SIGQUIT,
	}
	runAs := ""
	if os.Geteuid() == 0 {
		uid, gid, name, err := unprivileged()
		if err != nil {
			t.Fatalf("pgtest: running as root, which PostgreSQL refuses, and %v; hint: set %s to a server's DSN", err, EnvDSN)
		}
		if err := os.Chown(dir, int(uid), int(gid)); err != nil {
			t.Fatal(err)
		}
		attr.Credential = &syscall.Credential{Uid: uid, Gid: gid}
		runAs = " as " + name
	}
	data := filepath.Join(dir, "data")
	cmd := exec.Command(initdb, "-D", data, "-U", "postgres", "--auth=trust", "--no-locale", "-E", "UTF8", "--no-sync")
	cmd.Dir, cmd.SysProcAttr = dir, attr
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("pgtest: %s%s: %v\n%s", initdb, runAs, err, out)
	}

	// The port only names the socket (.s.PGSQL.<port>) in dir: no TCP.
	port := freePort(t)
	p := &private{
		bin: postgres, runAs: runAs, dir: dir, attr: attr,
		args: []string{"-D", data, "-k", dir, "-p", strconv.Itoa(port),
			"-c", "listen_addresses=", "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"},
	}
	s := &Server{
		admin: fmt.Sprintf("host=%s port=%d user=postgres dbname=postgres sslmode=disable", dir, port),
		what:  "a private server in " + dir,
		priv:  p,
	}
	t.Cleanup(func() { p.stop() })
	if err := s.start(t.Context()); err != nil {
		t.Fatal(err)
	}
	return s
}

// private is a server process Private started.
type private struct {
	bin, runAs, dir string
	args            []string
	attr            *syscall.SysProcAttr

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan error // receives the process's exit once; nil when stopped
}

// start starts the private server's process and waits until it answers.
func (s *Server) start(ctx context.Context) error {
	p := s.priv
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.exited != nil {
		return errors.New("pgtest: the private server is running already")
	}
	var log syncBuffer
	cmd := exec.Command(p.bin, p.args...)
	cmd.Dir, cmd.SysProcAttr = p.dir, p.attr
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("pgtest: start %s%s: %v", p.bin, p.runAs, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	p.cmd, p.exited = cmd, exited
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := ping(ctx, s.admin)
		if err == nil {
			return nil
		}
		select {
		case werr := <-exited:
			exited <- werr // for stop
			return fmt.Errorf("pgtest: %s%s exited: %v\n%s", p.bin, p.runAs, werr, log.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("pgtest: %s%s does not answer: %v\n%s", p.bin, p.runAs, err, log.String())
		}
	}
}

// stop shuts the process down (fast: open sessions are ended) and waits
// for it to exit.
func (p *private) stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.exited == nil {
		return
	}
	p.cmd.Process.Signal(syscall.SIGINT) // fast shutdown
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		p.cmd.Process.Kill()
		<-p.exited
	}
	p.cmd, p.exited = nil, nil
}

// Stop shuts a private server down as an operator's fast shutdown does
// (pg_ctl stop -m fast: every session ends, no new connection is
// accepted) and returns once it has exited. Its data stay: Restart brings
// it back. It fails t for a server this package did not start.
func (s *Server) Stop(t testing.TB) {
	t.Helper()
	if s.priv == nil {
		t.Fatalf("pgtest: Stop: %s was not started by this test (use Private)", s)
	}
	s.priv.stop()
}

// Restart starts a private server that Stop stopped, on the same socket
// and data, and returns once it answers.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	if s.priv == nil {
		t.Fatalf("pgtest: Restart: %s was not started by this test (use Private)", s)
	}
	if err := s.start(t.Context()); err != nil {
		t.Fatal(err)
	}
}

// binaries finds initdb and postgres: on PATH, else in the newest
// /usr/lib/postgresql/<version>/bin (Debian's place).
func binaries() (initdb, postgres string) {
	i, err1 := exec.LookPath("initdb")
	p, err2 := exec.LookPath("postgres")
	if err1 == nil && err2 == nil {
		return i, p
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	version := func(d string) int { v, _ := strconv.Atoi(filepath.Base(filepath.Dir(d))); return v }
	slices.SortFunc(dirs, func(a, b string) int { return version(b) - version(a) })
	for _, d := range dirs {
		i, p := filepath.Join(d, "initdb"), filepath.Join(d, "postgres")
		if isExec(i) && isExec(p) {
			return i, p
		}
	}
	return "", ""
}

func isExec(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

// unprivileged returns the user to run the server as when running as root.
func unprivileged() (uid, gid uint32, name string, err error) {
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			continue
		}
		uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
		gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
		if err1 == nil && err2 == nil && uid != 0 {
			return uint32(uid), uint32(gid), name, nil
		}
	}
	return 0, 0, "", errors.New("neither a postgres nor a nobody user exists to run the server as")
}

// syncBuffer is the server's output, written by the process's copier and
// read by the test.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// freePort returns a TCP port number no one listens on now.
func freePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
