package cli

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"

	"vigil/internal/history"
	"vigil/internal/release/monitor"
	"vigil/web/extension"
)

const verifySynopsis = `web URL --release-key KEY [--log-key VKEY [--witness VKEY ...] [--quorum K]] [--state FILE]
       vigil verify extension --origin URL [--origin URL ...] --release-key KEY [log flags] -o DIR

'web' checks what a Vigil site serves to browsers against the web app
releases in its transparency log: it verifies the log's checkpoint (and
that it extends the one in --state), proves every release entry, keeps
those signed by a --release-key, then fetches the page (at / and at an app
route), every script and stylesheet it loads and every file of its release
(the service worker among them) and checks each against the logged
releases. Exit status 1 when a file is in no logged release, naming it, the
hash served and the logged ones. Run it from cron: it detects, it does not
prevent (the browser extension prevents).

'extension' writes a configured copy of the Vigil code verifier, a
Chromium extension that lets the origins run only logged code, into DIR
(load it at chrome://extensions, Developer mode, "Load unpacked").`

func runVerify(e env) error {
	return runSubcommand(e, "verify", verifySynopsis, verifySubs())
}

// verifySubs is the table of vigil verify's subcommands; its help lists them from it.
func verifySubs() []subcommand {
	return []subcommand{{"web", runVerifyWeb, nil}, {"extension", runVerifyExtension, nil}}
}

// logFlags are the flags that pin a transparency log.
type logFlags struct {
	key       *string
	witnesses stringList
	quorum    *int
}

func addLogFlags(fs *flag.FlagSet) *logFlags {
	l := &logFlags{}
	l.key = fs.String("log-key", "", "pin the transparency log: its note verifier key `VKEY` (origin+hash+base64, as /tlog/key serves it); default: the one built into vigil, else the cloud's /v1/log")
	fs.Var(&l.witnesses, "witness", "with --log-key: a witness's cosignature verifier key `VKEY`; repeatable")
	l.quorum = fs.Int("quorum", -1, "with --log-key: how many of the witnesses must have cosigned (default: all)")
	return l
}

// policy returns the pinned policy and where it comes from, or nil when
// nothing is pinned (the cloud's own word is then the only source).
func (l *logFlags) policy() (*history.LogPolicy, string, error) {
	if *l.key == "" {
		if len(l.witnesses) > 0 || *l.quorum >= 0 {
			return nil, "", fmt.Errorf("%w: --witness and --quorum need --log-key", ErrUsage)
		}
		p, ok, err := builtinLogPolicy()
		if err != nil || !ok {
			return nil, "", err
		}
		return &p, "built into this vigil", nil
	}
	p, err := logPolicy(*l.key, append([]string{}, l.witnesses...), *l.quorum)
	if err != nil {
		return nil, "", fmt.Errorf("%w: the log flags: %v", ErrUsage, err)
	}
	return &p, "pinned by the flags", nil
}

// webState is what 'vigil verify web --state' remembers between runs.
type webState struct {
	Site       string            `json:"site"`
	Policy     history.LogPolicy `json:"policy"`
	Checkpoint string            `json:"checkpoint,omitempty"`
}

func runVerifyWeb(e env, args []string) error {
	fl := newFlags(e, "verify web", "URL --release-key KEY [--log-key VKEY [--witness VKEY ...] [--quorum K]] [--state FILE]")
	var keys stringList
	fl.Var(&keys, "release-key", "a trusted release public key `KEY` (base64, as 'vigil release key' prints it); repeatable")
	lf := addLogFlags(fl)
	stateFile := fl.String("state", "", "remember the verified checkpoint (and the log policy) in `FILE`: the next run must see a log that extends it")
	if err := parseArgs(fl, args, 1); err != nil {
		return err
	}
	if fl.NArg() != 1 {
		return fmt.Errorf("%w: give the site's URL, e.g. vigil verify web https://vigil.example --release-key KEY", ErrUsage)
	}
	if len(keys) == 0 {
		return fmt.Errorf("%w: --release-key KEY is required (the public key of the release key that signs the web app)", ErrUsage)
	}
	trusted, err := parseReleaseKeys(keys)
	if err != nil {
		return err
	}
	site := strings.TrimRight(fl.Arg(0), "/")
	pol, source, err := lf.policy()
	if err != nil {
		return err
	}
	var st webState
	if *stateFile != "" {
		b, err := os.ReadFile(*stateFile)
		switch {
		case err == nil:
			if err := json.Unmarshal(b, &st); err != nil {
				return fmt.Errorf("--state %s: %w", *stateFile, err)
			}
			if st.Site != "" && st.Site != site {
				return fmt.Errorf("--state %s is the state of %s, not of %s: use one state file per site", *stateFile, st.Site, site)
			}
		case !errors.Is(err, fs.ErrNotExist):
			return err
		}
	}
	switch {
	case pol != nil && st.Policy.Key != "" && !pol.Equal(st.Policy):
		return fmt.Errorf("the log policy %s differs from the one in --state %s (%s): refusing to mix logs (start a new state file if the change is intended)", source, *stateFile, st.Policy.Key)
	case pol == nil && st.Policy.Key != "":
		p := st.Policy
		pol, source = &p, "pinned in "+*stateFile
	}
	cfg := monitor.Config{Site: site, ReleaseKeys: trusted, Policy: pol}
	if st.Checkpoint != "" {
		cfg.Last = []byte(st.Checkpoint)
	}
	rep, err := monitor.Check(e.ctx, cfg)
	if rep.Checkpoint.Note != nil && *stateFile != "" {
		st = webState{Site: site, Policy: rep.Policy, Checkpoint: string(rep.Checkpoint.Note)}
		b, _ := json.MarshalIndent(st, "", "  ")
		if werr := writeFileAtomic(*stateFile, append(b, '\n')); werr != nil {
			return errors.Join(err, fmt.Errorf("--state %s: %w", *stateFile, werr))
		}
	}
	if err != nil {
		return err
	}
	if pol != nil {
		rep.PolicySource = source
	}
	rep.WriteText(e.stdout)
	if !rep.OK() {
		return fmt.Errorf("%s serves code that is not in a logged release:\n  %s", site, strings.Join(rep.Summary(), "\n  "))
	}
	return nil
}

// The static rules written beside the extension's configuration: until the
// extension has verified an origin's log, every page of it runs no script
// and every script request to it is blocked (fail closed). The dynamic
// rules that take over once it has are web/extension/rules.ts.
const failClosedCSP = "default-src 'none'; script-src 'none'; worker-src 'none'; style-src 'self'; img-src 'self' data:; " +
	"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

type dnrRule struct {
	ID        int            `json:"id"`
	Priority  int            `json:"priority"`
	Action    map[string]any `json:"action"`
	Condition map[string]any `json:"condition"`
}

func failClosedRules(origins []string) []dnrRule {
	var out []dnrRule
	for i, o := range origins {
		re := "^" + regexp.QuoteMeta(o) + "/"
		out = append(out,
			dnrRule{ID: 2*i + 1, Priority: 1,
				Action: map[string]any{"type": "modifyHeaders", "responseHeaders": []map[string]string{
					{"header": "content-security-policy", "operation": "set", "value": failClosedCSP}}},
				Condition: map[string]any{"regexFilter": re, "resourceTypes": []string{"main_frame", "sub_frame"}}},
			dnrRule{ID: 2*i + 2, Priority: 1, Action: map[string]any{"type": "block"},
				Condition: map[string]any{"regexFilter": re, "resourceTypes": []string{"script"}}},
		)
	}
	return out
}

// extensionConfig is the extension's config.json (web/extension/config.ts).
type extensionConfig struct {
	V           int          `json:"v"`
	Origins     []string     `json:"origins"`
	Log         extensionLog `json:"log"`
	ReleaseKeys []string     `json:"release_keys"`
}

type extensionLog struct {
	Key       string   `json:"key"`
	Witnesses []string `json:"witnesses"`
	Quorum    int      `json:"quorum"`
}

// checkOrigin reads an --origin: scheme, host and port only; plain http
// only for a loopback host (a page over http can be changed by anyone on
// the way, extension or not).
func checkOrigin(s string) (string, error) {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return "", fmt.Errorf("%w: --origin %q: want the site's origin, e.g. https://vigil.example", ErrUsage, s)
	}
	host := u.Hostname()
	switch u.Scheme {
	case "https":
	case "http":
		if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return "", fmt.Errorf("%w: --origin %q: plain http only for a loopback address (the extension guards an https site)", ErrUsage, s)
		}
	default:
		return "", fmt.Errorf("%w: --origin %q: want https://", ErrUsage, s)
	}
	return strings.ToLower(u.Scheme + "://" + u.Host), nil
}

func runVerifyExtension(e env, args []string) error {
	fl := newFlags(e, "verify extension", "--origin URL [--origin URL ...] --release-key KEY [--log-key VKEY [--witness VKEY ...] [--quorum K]] -o DIR")
	var origins, keys stringList
	fl.Var(&origins, "origin", "a Vigil site to guard, `URL` such as https://vigil.example; repeatable")
	fl.Var(&keys, "release-key", "a trusted release public key `KEY` (base64, as 'vigil release key' prints it); repeatable")
	lf := addLogFlags(fl)
	out := fl.String("o", "", "the directory to write the configured extension to (new or empty)")
	if err := parse(fl, args, 0); err != nil {
		return err
	}
	switch {
	case len(origins) == 0:
		return fmt.Errorf("%w: --origin URL is required (the Vigil site the extension guards)", ErrUsage)
	case len(keys) == 0:
		return fmt.Errorf("%w: --release-key KEY is required (the public key of the release key that signs the web app)", ErrUsage)
	case *out == "":
		return fmt.Errorf("%w: -o DIR is required (where the configured extension is written)", ErrUsage)
	}
	cfg := extensionConfig{V: 1}
	seen := map[string]bool{}
	for _, o := range origins {
		c, err := checkOrigin(o)
		if err != nil {
			return err
		}
		if !seen[c] {
			seen[c] = true
			cfg.Origins = append(cfg.Origins, c)
		}
	}
	if _, err := parseReleaseKeys(keys); err != nil {
		return err
	}
	cfg.ReleaseKeys = keys
	pol, source, err := lf.policy()
	if err != nil {
		return err
	}
	if pol == nil {
		lp, err := monitor.FetchPolicy(e.ctx, nil, cfg.Origins[0])
		if err != nil {
			return fmt.Errorf("%w (hint: pin the log with --log-key instead)", err)
		}
		pol, source = &lp, "as "+cfg.Origins[0]+" names it at /v1/log: compare the key with one published elsewhere, or pin it with --log-key"
	}
	if _, err := pol.Policy(); err != nil {
		return fmt.Errorf("the log policy (%s): %w", source, err)
	}
	cfg.Log = extensionLog{Key: pol.Key, Witnesses: append([]string{}, pol.Witnesses...), Quorum: pol.Quorum}
	files, err := extension.Files()
	if err != nil {
		return err
	}
	if err := writeExtension(*out, files, cfg); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "wrote the Vigil code verifier to %s\n", *out)
	fmt.Fprintf(e.stdout, "  guards       %s\n  log          %s (%s), %d of %d witnesses\n  release keys %s\n",
		strings.Join(cfg.Origins, ", "), cfg.Log.Key, source, cfg.Log.Quorum, len(cfg.Log.Witnesses), strings.Join(cfg.ReleaseKeys, ", "))
	fmt.Fprintln(e.stdout, "load it in Chromium at chrome://extensions (Developer mode, \"Load unpacked\", choose the directory)")
	return nil
}

// writeExtension copies the built extension into dir (new or empty) with
// its configuration: config.json, the fail-closed rules.json, and a
// manifest.json whose host permissions and content script name the origins
// only.
func writeExtension(dir string, files fs.FS, cfg extensionConfig) error {
	if ents, err := os.ReadDir(dir); err == nil && len(ents) > 0 {
		return fmt.Errorf("-o %s is not empty: choose a new directory (or remove the old copy first)", dir)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var patterns []string
	seen := map[string]bool{}
	for _, o := range cfg.Origins {
		u, _ := url.Parse(o)
		// Match patterns name the host; the origin's port is checked by
		// the rules and the scripts.
		p := u.Scheme + "://" + u.Hostname() + "/*"
		if strings.Contains(u.Hostname(), ":") {
			p = u.Scheme + "://[" + u.Hostname() + "]/*"
		}
		if !seen[p] {
			seen[p] = true
			patterns = append(patterns, p)
		}
	}
	err := fs.WalkDir(files, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == "." {
			return err
		}
		dst := filepath.Join(dir, filepath.FromSlash(p))
		if d.IsDir() {
			return os.MkdirAll(dst, 0o755)
		}
		b, err := fs.ReadFile(files, p)
		if err != nil {
			return err
		}
		switch path.Base(p) {
		case ".keep", "rules.json", "config.json":
			return nil
		case "manifest.json":
			if p != "manifest.json" {
				break
			}
			var m map[string]any
			if err := json.Unmarshal(b, &m); err != nil {
				return fmt.Errorf("the built extension's manifest.json: %w", err)
			}
			m["host_permissions"] = patterns
			cs, _ := m["content_scripts"].([]any)
			for _, c := range cs {
				if c, ok := c.(map[string]any); ok {
					c["matches"] = patterns
				}
			}
			if b, err = json.MarshalIndent(m, "", "  "); err != nil {
				return err
			}
		}
		return os.WriteFile(dst, b, 0o644)
	})
	if err != nil {
		return err
	}
	cb, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), append(cb, '\n'), 0o644); err != nil {
		return err
	}
	rb, err := json.MarshalIndent(failClosedRules(cfg.Origins), "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "rules.json"), append(rb, '\n'), 0o644)
}
