package debpkg

import (
	"bufio"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"vigil/internal/config"
)

// optOut is the variable that skips TestInstallDeb where it cannot run (not
// root, no dpkg); without it such a machine fails the test.
const optOut = "VIGIL_DEB_TEST"

// TestInstallDeb builds the package around a real vigil binary (built here,
// or $VIGIL_DEB_BINARY), installs it
// with dpkg on this machine, checks the files, the vigil user, owners and
// modes, verifies both units with systemd-analyze, writes a hub
// configuration with the installed 'vigil hub init', then removes (config
// and data stay) and purges (they go; the user stays) the package.
func TestInstallDeb(t *testing.T) {
	need := func(ok bool, why string) {
		if ok {
			return
		}
		if os.Getenv(optOut) == "skip" {
			t.Skipf("%s (%s=skip)", why, optOut)
		}
		t.Fatalf("%s; this test installs a package into the machine: run it as root with dpkg and systemd-analyze, or set %s=skip to skip it", why, optOut)
	}
	need(os.Geteuid() == 0, "not root")
	for _, tool := range []string{"dpkg", "dpkg-query", "systemd-analyze", "userdel", "groupdel"} {
		_, err := exec.LookPath(tool)
		need(err == nil, tool+" not found")
	}
	if out, _ := exec.Command("dpkg-query", "-W", "-f=${Status}", Name).Output(); strings.Contains(string(out), "installed") {
		t.Fatalf("a %s package is already on this machine (%s); the test will not replace it", Name, out)
	}
	for _, p := range []string{ConfigDir, DataDir, BinaryPath, HubUnitPath, CloudUnitPath, ModelsDir} {
		if _, err := os.Lstat(p); err == nil {
			t.Fatalf("%s exists although no %s package is installed; the test will not touch it", p, Name)
		}
	}
	_, err := user.Lookup("vigil")
	userBefore := err == nil
	_, err = user.LookupGroup("vigil")
	groupBefore := err == nil

	t.Cleanup(func() {
		if out, _ := exec.Command("dpkg-query", "-W", "-f=${Status}", Name).Output(); strings.Contains(string(out), "installed") || strings.Contains(string(out), "config-files") {
			if out, err := exec.Command("dpkg", "-P", Name).CombinedOutput(); err != nil {
				t.Errorf("cleanup: dpkg -P: %v\n%s", err, out)
			}
		}
		if !userBefore {
			exec.Command("userdel", "vigil").Run()
		}
		if !groupBefore {
			exec.Command("groupdel", "vigil").Run()
		}
		os.RemoveAll(ConfigDir)
		os.RemoveAll(DataDir)
	})

	bin := os.Getenv("VIGIL_DEB_BINARY")
	if bin == "" {
		bin = filepath.Join(t.TempDir(), "vigil")
		// The go first in PATH, as the other tests that build (the
		// Makefile puts the chosen Go there).
		cmd := exec.Command("go", "build", "-o", bin, "vigil/cmd/vigil")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build: %v\n%s", err, out)
		}
	}
	models, err := filepath.Abs(filepath.Join("..", "..", "models", "node_modules", "@vladmandic", "human-models", "models"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(models, "nanodet.bin")); err != nil {
		t.Fatalf("the model to package: %v (run 'make models')", err)
	}
	deb, err := Build(t.TempDir(), Options{Binary: bin, Version: "0.0.1~test", Models: models})
	if err != nil {
		t.Fatal(err)
	}
	run := func(name string, args ...string) string {
		t.Helper()
		out, err := exec.Command(name, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	run("dpkg", "-i", deb)

	u, err := user.Lookup("vigil")
	if err != nil {
		t.Fatalf("no vigil user after install: %v", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if g, err := user.LookupGroup("vigil"); err != nil || g.Gid != u.Gid {
		t.Fatalf("vigil's primary group is not the vigil group: %v %v", g, err)
	}
	if uid == 0 || uid >= 1000 {
		t.Errorf("vigil's UID %d is not a system UID", uid)
	}
	if u.HomeDir != DataDir {
		t.Errorf("vigil's home is %s, want %s", u.HomeDir, DataDir)
	}
	pw := passwdEntry(t, "/etc/passwd", "vigil")
	if shell := pw[len(pw)-1]; shell != "/usr/sbin/nologin" {
		t.Errorf("vigil's shell is %s, want /usr/sbin/nologin", shell)
	}
	if sh := passwdEntry(t, "/etc/shadow", "vigil"); !strings.HasPrefix(sh[1], "!") && !strings.HasPrefix(sh[1], "*") {
		t.Errorf("vigil has a usable password field %q", sh[1])
	}

	type want struct {
		path     string
		dir      bool
		mode     os.FileMode
		uid, gid int
	}
	wants := []want{
		{BinaryPath, false, 0o755, 0, 0},
		{HubUnitPath, false, 0o644, 0, 0},
		{CloudUnitPath, false, 0o644, 0, 0},
		{ConfigDir, true, 0o750, 0, gid},
		{HubExamplePath, false, 0o640, 0, gid},
		{CloudExample, false, 0o640, 0, gid},
		{DataDir, true, 0o750, uid, gid},
		{ModelsDir + "/nanodet.json", false, 0o644, 0, 0},
		{ModelsDir + "/nanodet.bin", false, 0o644, 0, 0},
		{ModelsDir + "/LICENSE", false, 0o644, 0, 0},
	}
	check := func(w want) {
		t.Helper()
		st, err := os.Lstat(w.path)
		if err != nil {
			t.Errorf("%s: %v", w.path, err)
			return
		}
		sys := st.Sys().(*syscall.Stat_t)
		if st.IsDir() != w.dir || st.Mode().Perm() != w.mode || int(sys.Uid) != w.uid || int(sys.Gid) != w.gid {
			t.Errorf("%s: dir %v mode %v owner %d:%d, want dir %v mode %v owner %d:%d", w.path, st.IsDir(), st.Mode().Perm(), sys.Uid, sys.Gid, w.dir, w.mode, w.uid, w.gid)
		}
	}
	for _, w := range wants {
		check(w)
	}
	conffiles := run("dpkg-query", "-W", "-f=${Conffiles}", Name)
	for _, p := range []string{HubExamplePath, CloudExample} {
		if !strings.Contains(conffiles, p) {
			t.Errorf("%s is not a conffile: %q", p, conffiles)
		}
	}
	if _, err := config.Load(HubExamplePath); err != nil {
		t.Errorf("the installed example does not load: %v", err)
	}
	for _, unit := range []string{HubUnitPath, CloudUnitPath} {
		// verify exits 0 on an unknown key or a bad value, only warning
		// with the unit's name: any word about a vigil unit fails the test
		// (words about the machine's other units do not).
		out, err := exec.Command("systemd-analyze", "verify", unit).CombinedOutput()
		if err != nil || strings.Contains(string(out), "vigil") {
			t.Errorf("systemd-analyze verify %s: %v\n%s", unit, err, out)
		}
		if b, err := os.ReadFile(unit); err == nil {
			for _, d := range []string{"User=vigil", "NoNewPrivileges=yes", "ProtectSystem=strict", "ProtectHome=yes", "PrivateTmp=yes", "ReadWritePaths=" + DataDir, "StateDirectory=vigil", "ConfigurationDirectory=vigil", "CapabilityBoundingSet=\n"} {
				if !strings.Contains(string(b), d) {
					t.Errorf("%s lacks %q", unit, d)
				}
			}
		}
	}

	if b, err := os.ReadFile(HubUnitPath); err != nil || !strings.Contains(string(b), "Environment=VIGIL_MODELS="+ModelsDir+"\n") {
		t.Errorf("the hub unit does not point VIGIL_MODELS at %s (%v)", ModelsDir, err)
	}

	// The installed binary writes the configuration the hub unit waits for,
	// readable by the service (group vigil), and the data directory under
	// /var/lib/vigil belongs to vigil.
	out := run(BinaryPath, "hub", "init", "--non-interactive", "--no-pair", "--camera", "front=rtsp://192.0.2.30/s1", "--cloud", "https://cloud.example.com")
	if !strings.Contains(out, "wrote "+HubConfigPath) {
		t.Errorf("hub init said %q", out)
	}
	check(want{HubConfigPath, false, 0o640, 0, gid})
	check(want{filepath.Join(DataDir, "hub"), true, 0o700, uid, gid})
	if _, err := config.Load(HubConfigPath); err != nil {
		t.Errorf("hub init wrote a configuration that does not load: %v", err)
	}
	if err := os.WriteFile(filepath.Join(DataDir, "hub", "marker"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}

	// Remove: the program and units go; configuration, data and user stay.
	run("dpkg", "-r", Name)
	for _, p := range []string{BinaryPath, HubUnitPath, CloudUnitPath, ModelsDir} {
		if _, err := os.Lstat(p); !os.IsNotExist(err) {
			t.Errorf("%s after dpkg -r: %v", p, err)
		}
	}
	for _, p := range []string{HubExamplePath, CloudExample, HubConfigPath, filepath.Join(DataDir, "hub", "marker")} {
		if _, err := os.Lstat(p); err != nil {
			t.Errorf("dpkg -r removed %s: %v", p, err)
		}
	}
	if st := run("dpkg-query", "-W", "-f=${Status}", Name); !strings.Contains(st, "config-files") {
		t.Errorf("status after dpkg -r: %q", st)
	}

	// Purge: configuration and data go; the system user stays (locked).
	run("dpkg", "-P", Name)
	for _, p := range []string{ConfigDir, DataDir} {
		if _, err := os.Lstat(p); !os.IsNotExist(err) {
			t.Errorf("%s after dpkg -P: %v", p, err)
		}
	}
	if out, _ := exec.Command("dpkg-query", "-W", "-f=${Status}", Name).CombinedOutput(); strings.Contains(string(out), "install") || strings.Contains(string(out), "config-files") {
		t.Errorf("status after dpkg -P: %q", out)
	}
	if _, err := user.Lookup("vigil"); err != nil {
		t.Errorf("the vigil user went on purge, documented to stay: %v", err)
	}
}

// passwdEntry returns the colon-separated fields of name's line in file.
func passwdEntry(t *testing.T, file, name string) []string {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if fields := strings.Split(s.Text(), ":"); fields[0] == name {
			return fields
		}
	}
	t.Fatalf("%s has no %s", file, name)
	return nil
}
