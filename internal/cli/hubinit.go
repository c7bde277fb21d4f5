package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"go.yaml.in/yaml/v3"

	"vigil/internal/config"
	"vigil/internal/envelope"
	"vigil/internal/onvif"
)

const hubInitSynopsis = `[--config FILE] [--data DIR] [--camera NAME=URL ...] [--cloud URL]
       [--recipient vigr1... ...] [--name NAME] [--discover 3s] [--discover-target HOST:PORT]
       [--non-interactive] [--no-pair] [--force]

Writes a first hub configuration and pairs the hub with a household. Without
--non-interactive it asks for what the flags did not give (reading answers
from standard input), after listing the ONVIF cameras that answer discovery
('vigil camera probe ADDRESS --yaml' then prints a camera's RTSP URL). The
file is written with mode 0640 and never over an existing one (unless
--force); run as root, it takes its directory's group (vigil in the package's
/etc/vigil) and the data directory made under a directory of another owner
takes that owner (vigil in /var/lib/vigil), so the vigil-hub service can use
both. With a cloud URL it then shows a pairing code to enter on a household
admin's device ('vigil household pair-hub CODE'); --no-pair leaves that to
'vigil hub pair'.`

// hubInitFile is the configuration 'vigil hub init' writes: the keys of
// config.Hub it asks for, in the same names.
type hubInitFile struct {
	Data       string          `yaml:"data"`
	Recipients []string        `yaml:"recipients,omitempty"`
	Cameras    []hubInitCamera `yaml:"cameras"`
	Cloud      *hubInitCloud   `yaml:"cloud,omitempty"`
}

type hubInitCamera struct {
	Name string `yaml:"name"`
	URL  string `yaml:"url"`
}

type hubInitCloud struct {
	URL string `yaml:"url"`
}

func runHubInit(e env, args []string) error {
	fset := newFlags(e, "hub init", hubInitSynopsis)
	path := fset.String("config", "/etc/vigil/hub.yaml", "where to write the configuration")
	data := fset.String("data", "/var/lib/vigil/hub", "the hub's data directory (recordings, index, keys)")
	var cameras, recipients stringList
	fset.Var(&cameras, "camera", "a camera as NAME=rtsp://[user:password@]host/path (repeatable)")
	cloudURL := fset.String("cloud", "", "the household's cloud (https://...); empty keeps footage on the hub")
	fset.Var(&recipients, "recipient", "a household recipient (vigr1...) to seal to without a cloud (repeatable)")
	name := fset.String("name", defaultHubName(), "how the hub appears in the household when paired")
	discover := fset.Duration("discover", 3*time.Second, "how long to wait for ONVIF cameras to answer discovery before asking (0: no discovery)")
	discoverTarget := fset.String("discover-target", "", "send the discovery probe to this UDP HOST:PORT only (default: the WS-Discovery multicast group "+onvif.DiscoveryAddr+")")
	nonInteractive := fset.Bool("non-interactive", false, "ask nothing: fail when the flags do not make a valid configuration")
	noPair := fset.Bool("no-pair", false, "write the configuration only; pair later with 'vigil hub pair'")
	force := fset.Bool("force", false, "replace an existing configuration file")
	if err := parse(fset, args, 0); err != nil {
		return err
	}
	if *discover < 0 {
		return fmt.Errorf("%w: --discover must not be negative", ErrUsage)
	}
	f := hubInitFile{Data: *data, Recipients: recipients}
	for _, c := range cameras {
		n, u, ok := strings.Cut(c, "=")
		if !ok || n == "" || u == "" {
			return fmt.Errorf("%w: --camera wants NAME=URL, e.g. --camera front=rtsp://192.168.1.20/stream1", ErrUsage)
		}
		f.Cameras = append(f.Cameras, hubInitCamera{Name: n, URL: u})
	}
	if *cloudURL != "" {
		f.Cloud = &hubInitCloud{URL: *cloudURL}
	}
	if !*force {
		if _, err := os.Lstat(*path); err == nil {
			return fmt.Errorf("%s exists: edit it, or run 'vigil hub init --force' to replace it", *path)
		}
	}
	if !*nonInteractive {
		o := onvif.DiscoverOptions{Target: *discoverTarget, Timeout: *discover}
		if *discoverTarget != "" {
			host, _, err := net.SplitHostPort(*discoverTarget)
			if err != nil {
				return fmt.Errorf("%w: --discover-target %q is not HOST:PORT", ErrUsage, *discoverTarget)
			}
			if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
				o.Listen = net.JoinHostPort(host, "0")
			}
		}
		if err := askHubInit(e, &f, o); err != nil {
			return err
		}
	}
	out, err := yaml.Marshal(f)
	if err != nil {
		return err
	}
	out = append([]byte("# Written by 'vigil hub init'; every key is described in docs/CONFIG.md.\n"), out...)
	abs, err := filepath.Abs(*path)
	if err != nil {
		return err
	}
	cfg, err := config.Parse(out, filepath.Dir(abs))
	if err != nil {
		return fmt.Errorf("the configuration would not load (nothing written):\n%w", err)
	}
	if err := cfg.Validate(func(r string) error { _, err := envelope.ParseX25519Recipient(r); return err }); err != nil {
		return fmt.Errorf("the configuration would not load (nothing written):\n%w", err)
	}
	if err := writeHubInit(*path, out, *force); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "wrote %s (%d camera(s), data in %s)\n", *path, len(cfg.Cameras), cfg.Data)
	created := !exists(cfg.Data)
	if !created {
		fmt.Fprintf(e.stdout, "%s exists: it keeps its owner\n", cfg.Data)
	} else if err := adoptOwner(cfg.Data); err != nil {
		return err
	}
	if cfg.Cloud == nil {
		fmt.Fprintf(e.stdout, "start the hub: vigil hub --config %s (packaged: systemctl enable --now vigil-hub)\n", *path)
		return nil
	}
	if *noPair {
		fmt.Fprintf(e.stdout, "pair it with: vigil hub pair --config %s\n", *path)
		return nil
	}
	cfg, err = loadHubConfig(*path)
	if err != nil {
		return err
	}
	perr := pairHub(e, *path, cfg, *name)
	if created {
		// The pairing made the data directory and the hub's keys in it:
		// they go to the owner of the directory it was made in.
		if err := adoptOwner(cfg.Data); err != nil && perr == nil {
			perr = err
		}
	}
	if perr != nil {
		return fmt.Errorf("%w (the configuration is written; pair again with 'vigil hub pair --config %s')", perr, *path)
	}
	fmt.Fprintf(e.stdout, "start the hub: vigil hub --config %s (packaged: systemctl enable --now vigil-hub)\n", *path)
	return nil
}

// askHubInit asks for what the flags left open.
func askHubInit(e env, f *hubInitFile, discover onvif.DiscoverOptions) error {
	in := bufio.NewReader(e.stdin)
	ask := func(q, def string) (string, error) {
		if def != "" {
			fmt.Fprintf(e.stdout, "%s [%s]: ", q, def)
		} else {
			fmt.Fprintf(e.stdout, "%s: ", q)
		}
		line, err := in.ReadString('\n')
		if err != nil && (err != io.EOF || line == "") {
			if err == io.EOF {
				return "", fmt.Errorf("no answer to %q (use --non-interactive with flags to run without asking)", q)
			}
			return "", err
		}
		line = strings.TrimSpace(line)
		if line == "" {
			return def, nil
		}
		return line, nil
	}
	var err error
	if f.Data, err = ask("data directory", f.Data); err != nil {
		return err
	}
	if len(f.Cameras) == 0 {
		if discover.Timeout > 0 {
			listDiscovered(e, discover)
		}
		for {
			n, err := ask("camera name (empty when done)", "")
			if err != nil {
				return err
			}
			if n == "" {
				break
			}
			u, err := ask("  its RTSP URL (rtsp://user:password@host/path)", "")
			if err != nil {
				return err
			}
			f.Cameras = append(f.Cameras, hubInitCamera{Name: n, URL: u})
		}
	}
	if f.Cloud == nil && len(f.Recipients) == 0 {
		u, err := ask("cloud URL (https://..., empty for none)", "")
		if err != nil {
			return err
		}
		if u != "" {
			f.Cloud = &hubInitCloud{URL: u}
		} else {
			r, err := ask("household recipient (vigr1..., from 'vigil keys')", "")
			if err != nil {
				return err
			}
			if r != "" {
				f.Recipients = []string{r}
			}
		}
	}
	return nil
}

// listDiscovered prints the ONVIF cameras that answer a multicast probe;
// their names and addresses are what they claim, printed escaped.
func listDiscovered(e env, o onvif.DiscoverOptions) {
	ctx, cancel := context.WithTimeout(e.ctx, o.Timeout+time.Second)
	defer cancel()
	fmt.Fprintf(e.stdout, "looking for ONVIF cameras for %s...\n", o.Timeout)
	matches, err := onvif.Discover(ctx, o)
	if err != nil || len(matches) == 0 {
		fmt.Fprintln(e.stdout, "no ONVIF camera answered; give each camera's RTSP URL (its settings or manual name it)")
		return
	}
	for _, m := range matches {
		fmt.Fprintf(e.stdout, "  %q", m.Name)
		for _, x := range m.XAddrs {
			fmt.Fprintf(e.stdout, "  %q", x)
		}
		fmt.Fprintln(e.stdout)
	}
	fmt.Fprintln(e.stdout, "'vigil camera probe ADDRESS --user USER --yaml' prints a camera's RTSP URL")
}

// writeHubInit writes the configuration with mode 0640, never over an
// existing file unless force. Run as root, the file takes the group of its
// directory.
func writeHubInit(path string, data []byte, force bool) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, ".hub-init-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o640); err != nil {
		tmp.Close()
		return err
	}
	if os.Geteuid() == 0 {
		if st, err := os.Stat(dir); err == nil {
			if sys, ok := st.Sys().(*syscall.Stat_t); ok && sys.Gid != 0 {
				if err := tmp.Chown(0, int(sys.Gid)); err != nil {
					tmp.Close()
					return err
				}
			}
		}
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if force {
		return os.Rename(tmp.Name(), path)
	}
	// A link fails where the name exists: no file is ever replaced.
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%s exists: edit it, or run 'vigil hub init --force' to replace it", path)
		}
		return err
	}
	return nil
}

// adoptOwner, run as root, makes dir (when missing) and gives it and
// everything in it to the owner of the directory it is in, if that is not
// root: the hub's data directory under the package's /var/lib/vigil belongs
// to the vigil user the service runs as. Otherwise it does nothing.
func adoptOwner(dir string) error {
	if os.Geteuid() != 0 {
		return nil
	}
	parent := filepath.Dir(filepath.Clean(dir))
	st, err := os.Stat(parent)
	if err != nil {
		return nil // made by the hub itself when it starts
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok || sys.Uid == 0 {
		return nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, int(sys.Uid), int(sys.Gid))
	})
}

func exists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}

func defaultHubName() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "hub"
	}
	return h
}
