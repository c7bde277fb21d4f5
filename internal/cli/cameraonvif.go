package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"regexp"
	"strings"
	"time"

	"vigil/internal/onvif"
)

// onvifPasswordEnv is where 'vigil camera probe' looks for the camera's
// password when --password-file is not given.
const onvifPasswordEnv = "VIGIL_ONVIF_PASSWORD"

// cameraSubs is the table of vigil camera's subcommands; without one,
// vigil camera serves a software camera.
func cameraSubs() []subcommand {
	return []subcommand{{"discover", runCameraDiscover, nil}, {"probe", runCameraProbe, nil}}
}

func runCameraDiscover(e env, args []string) error {
	fs := newFlags(e, "camera discover", "[--timeout 3s] [--target HOST:PORT]")
	timeout := fs.Duration("timeout", 3*time.Second, "how long to wait for answers")
	target := fs.String("target", "", "send the probe to this UDP HOST:PORT only (default: the WS-Discovery multicast group "+onvif.DiscoveryAddr+")")
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	if *timeout <= 0 {
		return fmt.Errorf("%w: --timeout must be positive", ErrUsage)
	}
	o := onvif.DiscoverOptions{Target: *target, Timeout: *timeout}
	if *target != "" {
		host, _, err := net.SplitHostPort(*target)
		if err != nil {
			return fmt.Errorf("%w: --target %q is not HOST:PORT (WS-Discovery answers on port 3702)", ErrUsage, *target)
		}
		if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
			o.Listen = net.JoinHostPort(host, "0")
		}
	}
	matches, err := onvif.Discover(e.ctx, o)
	if err != nil {
		return err
	}
	if len(matches) == 0 {
		return fmt.Errorf("no ONVIF camera answered within %s; check that the camera is on this network and that ONVIF "+
			"(and discovery) is turned on in its settings, or probe its address directly: vigil camera probe http://ADDRESS%s --user USER",
			*timeout, onvif.DevicePath)
	}
	for _, m := range matches {
		name := m.Name
		if name == "" {
			name = "(no name)"
		}
		fmt.Fprintf(e.stdout, "%s\n", name)
		if m.Hardware != "" {
			fmt.Fprintf(e.stdout, "  hardware: %s\n", m.Hardware)
		}
		for _, x := range m.XAddrs {
			fmt.Fprintf(e.stdout, "  address:  %s\n", x)
		}
		if m.Endpoint != "" {
			fmt.Fprintf(e.stdout, "  endpoint: %s\n", m.Endpoint)
		}
	}
	fmt.Fprintf(e.stdout, "\nnext: vigil camera probe ADDRESS --user USER (the password from --password-file or $%s)\n", onvifPasswordEnv)
	return nil
}

// probedProfile is one media profile with its stream URI.
type probedProfile struct {
	onvif.Profile
	Stream string
}

func runCameraProbe(e env, args []string) error {
	fs := newFlags(e, "camera probe", "URL --user USER [--password-file FILE] [--snapshot FILE] [--yaml [--name NAME] [--with-credentials]]\n\n"+
		"URL is the camera's ONVIF device service as 'vigil camera discover' prints it, or its address\n"+
		"(HOST or HOST:PORT, taken as http://HOST"+onvif.DevicePath+"). The password is read from\n"+
		"--password-file, $"+onvifPasswordEnv+" or one line of standard input, never from a flag.")
	user := fs.String("user", "", "the camera's ONVIF user name (none: ask without credentials)")
	pwFile := fs.String("password-file", "", "read the password from this file")
	snapshot := fs.String("snapshot", "", "save the first profile's snapshot (a JPEG) to this file")
	asYAML := fs.Bool("yaml", false, "print a cameras: entry for the hub's config (main stream as url, the smallest as detect.url)")
	name := fs.String("name", "", "the camera's name in the --yaml entry (default: from the device's model)")
	withCreds := fs.Bool("with-credentials", false, "write the user name and password into the --yaml entry's URLs (the config file then holds a secret)")
	if err := parseArgs(fs, args, 1); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("%w: give the camera's URL, e.g. vigil camera probe http://192.168.1.20%s --user admin", ErrUsage, onvif.DevicePath)
	}
	if *withCreds && !*asYAML {
		return fmt.Errorf("%w: --with-credentials needs --yaml", ErrUsage)
	}
	if *name != "" && !cameraNameOK(*name) {
		return fmt.Errorf("%w: --name %q: use 1 to 64 of A-Z a-z 0-9 . _ -", ErrUsage, *name)
	}
	xaddr, err := deviceServiceURL(fs.Arg(0))
	if err != nil {
		return fmt.Errorf("%w: %v", ErrUsage, err)
	}
	var password string
	if *user != "" {
		if password, err = readONVIFPassword(e, *pwFile); err != nil {
			return err
		}
	} else if *pwFile != "" {
		return fmt.Errorf("%w: --password-file needs --user", ErrUsage)
	}
	c, err := onvif.NewClient(onvif.ClientOptions{XAddr: xaddr, Username: *user, Password: password})
	if err != nil {
		return fmt.Errorf("%s: %v", xaddr, err)
	}
	defer c.Close()
	ctx := e.ctx
	if err := c.Connect(ctx); err != nil {
		if *user == "" && errors.Is(err, onvif.ErrNotAuthorized) {
			return fmt.Errorf("the camera asks for a user name and password: give --user and the password (--password-file or $%s)", onvifPasswordEnv)
		}
		return probeError(xaddr, err)
	}
	info, err := c.DeviceInformation(ctx)
	if err != nil {
		return probeError(xaddr, err)
	}
	profiles, err := c.Profiles(ctx)
	if err != nil {
		return probeError(xaddr, err)
	}
	if len(profiles) == 0 {
		return fmt.Errorf("%s has no media profiles: set up a video stream in the camera's settings first", xaddr)
	}
	var probed []probedProfile
	for _, p := range profiles {
		uri, err := c.StreamURI(ctx, p.Token)
		if err != nil {
			return probeError(xaddr, fmt.Errorf("stream URI of profile %q: %w", p.Name, err))
		}
		probed = append(probed, probedProfile{Profile: p, Stream: uri})
	}
	snapURI, snapErr := c.SnapshotURI(ctx, profiles[0].Token)

	out := e.stdout
	if *asYAML {
		// The YAML alone goes to stdout, to paste or append; the rest to
		// stderr.
		out = e.stderr
	}
	fmt.Fprintf(out, "device:   %s %s\n", info.Manufacturer, info.Model)
	fmt.Fprintf(out, "firmware: %s\nserial:   %s\nhardware: %s\n", info.FirmwareVersion, info.SerialNumber, info.HardwareID)
	for _, p := range probed {
		fmt.Fprintf(out, "profile %s (token %s)\n", p.Name, p.Token)
		if v := p.Video; v != nil {
			fmt.Fprintf(out, "  video:  %s %dx%d %d fps", v.Encoding, v.Width, v.Height, v.FrameRate)
			if v.Bitrate > 0 {
				fmt.Fprintf(out, " %d kbit/s", v.Bitrate)
			}
			fmt.Fprintln(out)
		} else {
			fmt.Fprintln(out, "  video:  none")
		}
		if a := p.Audio; a != nil {
			fmt.Fprintf(out, "  audio:  %s %d kHz", a.Encoding, a.SampleRate)
			if a.Bitrate > 0 {
				fmt.Fprintf(out, " %d kbit/s", a.Bitrate)
			}
			fmt.Fprintln(out)
		} else {
			fmt.Fprintln(out, "  audio:  none")
		}
		if p.AudioOutput {
			fmt.Fprintln(out, "  talk:   audio back channel")
		}
		fmt.Fprintf(out, "  stream: %s\n", p.Stream)
	}
	if snapErr == nil {
		fmt.Fprintf(out, "snapshot: %s\n", snapURI)
	} else {
		fmt.Fprintf(out, "snapshot: none (%v)\n", snapErr)
	}
	if *snapshot != "" {
		if snapErr != nil {
			return fmt.Errorf("the camera gives no snapshot URI: %v", snapErr)
		}
		snap, err := c.FetchSnapshot(ctx, snapURI)
		if err != nil {
			return probeError(snapURI, fmt.Errorf("snapshot: %w", err))
		}
		if !bytes.HasPrefix(snap.Data, []byte{0xff, 0xd8}) {
			return fmt.Errorf("the camera's snapshot is not a JPEG (%s, %d bytes)", snap.ContentType, len(snap.Data))
		}
		if err := os.WriteFile(*snapshot, snap.Data, 0o600); err != nil {
			return err
		}
		fmt.Fprintf(out, "saved the snapshot to %s (%d bytes)\n", *snapshot, len(snap.Data))
	}
	if *asYAML {
		n := *name
		if n == "" {
			n = cameraNameFrom(info.Model)
		}
		var creds *url.Userinfo
		if *withCreds {
			creds = url.UserPassword(*user, password)
		}
		s, err := cameraYAML(n, probed, *user != "", creds)
		if err != nil {
			return err
		}
		fmt.Fprint(e.stdout, s)
	}
	return nil
}

// deviceServiceURL makes an ONVIF device service URL of what the user
// typed: a URL as discovery prints it, or HOST[:PORT].
func deviceServiceURL(s string) (string, error) {
	if !strings.Contains(s, "://") {
		s = "http://" + s
	}
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return "", fmt.Errorf("%q is not a camera address (e.g. http://192.168.1.20%s or 192.168.1.20)", s, onvif.DevicePath)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", fmt.Errorf("%q: the ONVIF device service is an http:// or https:// URL, not %s://", s, u.Scheme)
	}
	if u.User != nil {
		return "", errors.New("put no user name or password in the URL: use --user and --password-file or $" + onvifPasswordEnv)
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = onvif.DevicePath
	}
	return u.String(), nil
}

// readONVIFPassword takes the camera's password from --password-file,
// $VIGIL_ONVIF_PASSWORD or one line of standard input (without a prompt
// when standard input is not a terminal).
func readONVIFPassword(e env, file string) (string, error) {
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return "", err
		}
		return strings.TrimRight(string(b), "\r\n"), nil
	}
	if pw := os.Getenv(onvifPasswordEnv); pw != "" {
		return pw, nil
	}
	if isTerminal(os.Stdin) {
		fmt.Fprint(e.stderr, "camera password: ")
	}
	line, err := bufio.NewReader(os.Stdin).ReadString('\n')
	if err != nil && line == "" {
		return "", fmt.Errorf("no password given (use --password-file FILE, $%s or one line on standard input)", onvifPasswordEnv)
	}
	return strings.TrimRight(line, "\r\n"), nil
}

// probeError names what went wrong talking to the device at where, and
// what to do about it.
func probeError(where string, err error) error {
	var ne net.Error
	var oe *net.OpError
	switch {
	case errors.Is(err, context.Canceled):
		return err
	case errors.Is(err, onvif.ErrNotAuthorized):
		return fmt.Errorf("the camera refused the user name or password (%v); check --user and the password: "+
			"it is the camera's ONVIF account, which on many cameras is set up apart from its web login", err)
	case errors.As(err, &oe) && oe.Op == "dial", errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return fmt.Errorf("could not reach %s (%v); check the address and port, and that this machine is on the camera's network", where, err)
	}
	return fmt.Errorf("%s does not answer as an ONVIF device (%v); check the URL (usually http://ADDRESS%s, as 'vigil camera discover' prints it) "+
		"and that ONVIF is turned on in the camera's settings", where, err, onvif.DevicePath)
}

var cameraNameChars = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

func cameraNameOK(s string) bool {
	return len(s) >= 1 && len(s) <= 64 && s != "." && s != ".." && !cameraNameChars.MatchString(s)
}

// cameraNameFrom makes a config camera name of a device's model.
func cameraNameFrom(model string) string {
	n := strings.Trim(cameraNameChars.ReplaceAllString(strings.ToLower(model), "-"), "-.")
	if len(n) > 64 {
		n = n[:64]
	}
	if !cameraNameOK(n) {
		return "camera"
	}
	return n
}

// cameraYAML is a cameras: entry for the hub's config: the profile with
// the most pixels (the first of equals) is recorded, and of the other
// streams the one with the fewest pixels (the first of equals) is decoded
// for detection. With creds the URLs carry them; when
// the camera has an account but creds is nil, the URLs carry a
// placeholder and a comment says where the account goes.
func cameraYAML(name string, ps []probedProfile, account bool, creds *url.Userinfo) (string, error) {
	pixels := func(p probedProfile) int {
		if p.Video == nil {
			return 0
		}
		return p.Video.Width * p.Video.Height
	}
	main := ps[0]
	for _, p := range ps[1:] {
		if pixels(p) > pixels(main) {
			main = p
		}
	}
	sub := main
	for _, p := range ps {
		if p.Token == main.Token || p.Video == nil || p.Stream == main.Stream {
			continue
		}
		if sub.Token == main.Token || pixels(p) < pixels(sub) {
			sub = p
		}
	}
	placeholder := account && creds == nil
	withUser := func(raw string) (string, error) {
		u, err := url.Parse(raw)
		if err != nil {
			return "", fmt.Errorf("the camera gave a stream URI that is not a URL: %v", err)
		}
		switch {
		case creds != nil:
			u.User = creds
		case placeholder:
			u.User = url.UserPassword("USER", "PASSWORD")
		}
		b, _ := json.Marshal(u.String()) // a JSON string is a YAML double-quoted scalar
		return string(b), nil
	}
	mainURL, err := withUser(main.Stream)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "cameras:\n")
	if placeholder {
		fmt.Fprintf(&b, "  # Replace USER and PASSWORD in the URLs below with the camera's account\n"+
			"  # (or run 'vigil camera probe ... --yaml --with-credentials'), or remove\n"+
			"  # USER:PASSWORD@ if its streams need none. With a password this file holds\n"+
			"  # a secret: keep it readable by the hub alone.\n")
	} else if creds != nil {
		fmt.Fprintf(&b, "  # The URLs below hold the camera's password: keep this file readable by the hub alone.\n")
	}
	fmt.Fprintf(&b, "  - name: %s\n", name)
	fmt.Fprintf(&b, "    url: %s # profile %s\n", mainURL, yamlComment(main.Name))
	if sub.Token != main.Token {
		subURL, err := withUser(sub.Stream)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(&b, "    detect:\n      url: %s # profile %s, decoded for detection\n", subURL, yamlComment(sub.Name))
	}
	return b.String(), nil
}

// yamlComment keeps s on one comment line.
func yamlComment(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' {
			return ' '
		}
		return r
	}, s)
}
