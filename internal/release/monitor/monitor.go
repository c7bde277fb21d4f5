// Package monitor checks what a Vigil cloud serves to browsers against the
// web app releases in its transparency log: the log's checkpoint (and its
// consistency with the last one the monitor verified), every release entry
// proven included, the releases signed by a pinned release key, and then
// every file the site serves that holds code — the page at its root and at
// an app route, each script and stylesheet the page loads, every file of the
// release the page belongs to, its service worker.
//
// It is detection, not prevention: it sees what the site serves to it, when
// it asks. What it owns: the fetching (HTTP, browser-like request headers so
// the answer is the one a browser gets) and the report. What it must never
// do: trust a log answer before the tlog client verified it, trust a release
// not signed by a pinned key, or change anything on the site.
package monitor

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"vigil/internal/history"
	"vigil/internal/release"
	"vigil/internal/tlog"
	"vigil/internal/tlog/tloghttp"
)

// maxFile bounds a file the monitor reads from the site.
const maxFile = 32 << 20

// DeepPath is the app route the monitor asks for besides "/": the cloud
// answers every app route with index.html, and a cloud that serves other
// code on some routes only must be seen doing so.
const DeepPath = "/h/x"

// Config says what to check and how.
type Config struct {
	// Site is the origin the web app is served from, e.g.
	// "https://vigil.example".
	Site string
	// ReleaseKeys are the release keys whose releases are trusted.
	ReleaseKeys []ed25519.PublicKey
	// Policy is the log and witnesses to require. Nil: the policy the
	// cloud names at /v1/log (the report says so).
	Policy *history.LogPolicy
	// Last is the note of the last checkpoint verified (nil: none); the
	// new one must be consistent with it.
	Last []byte
	// HTTP is the client (nil: one with a 30 s timeout).
	HTTP *http.Client
	// Paths are app routes to fetch besides "/" (default: DeepPath).
	Paths []string
}

// Release is a release found in the log.
type Release struct {
	Index    int64
	Key      string // the release key, base64
	Manifest release.Manifest
}

// Skipped is a release entry the monitor did not trust, and why.
type Skipped struct {
	Index  int64
	Reason string
}

// File is one file fetched from the site and the verdict on it.
type File struct {
	URL     string          // what was fetched
	Why     string          // why it was fetched ("page", "script of /", "file of vigil-web 1 (…)")
	Status  int             // the HTTP status
	Finding release.Finding // the verdict (for a 200 answer)
	Problem string          // a failure other than the hash (a redirect, another origin, an inline script)
}

// Failed reports whether the file makes the site fail the check.
func (f File) Failed() bool {
	return f.Problem != "" || f.Status == http.StatusOK && !f.Finding.OK()
}

// Report is what the monitor checked and found.
type Report struct {
	Site         string
	PolicySource string // "pinned" or "the cloud's /v1/log"
	Policy       history.LogPolicy
	Checkpoint   tlog.Checkpoint
	Releases     []Release
	Skipped      []Skipped
	Files        []File
}

// OK reports whether every file the site serves is in a logged release.
func (r Report) OK() bool {
	if len(r.Releases) == 0 {
		return false
	}
	for _, f := range r.Files {
		if f.Failed() {
			return false
		}
	}
	return true
}

// Check verifies the log and checks the site. An error means the check
// could not be made or the log itself misbehaved (a checkpoint that does
// not verify, a rollback, a fork); a site serving code that is not logged is
// a Report whose OK is false.
func Check(ctx context.Context, cfg Config) (Report, error) {
	site, err := parseSite(cfg.Site)
	if err != nil {
		return Report{}, err
	}
	hc := cfg.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	// Never follow a redirect: a browser would load what it points to,
	// which is not the site under check. Copy the client so the caller's
	// is not changed.
	noRedirect := *hc
	noRedirect.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	hc = &noRedirect

	rep := Report{Site: site.String(), PolicySource: "pinned"}
	if cfg.Policy != nil {
		rep.Policy = *cfg.Policy
	} else {
		rep.PolicySource = "the cloud's /v1/log"
		if rep.Policy, err = fetchPolicy(ctx, hc, site); err != nil {
			return rep, err
		}
	}
	pol, err := rep.Policy.Policy()
	if err != nil {
		return rep, fmt.Errorf("the log policy: %w", err)
	}
	f := &tloghttp.Fetcher{BaseURL: site.String(), HTTP: hc}
	lc, err := tlog.NewClient(pol, f, cfg.Last)
	if err != nil {
		return rep, fmt.Errorf("the last verified checkpoint no longer verifies with this log policy: %w", err)
	}
	cp, err := lc.Update(ctx)
	switch {
	case errors.Is(err, tlog.ErrOlder):
		return rep, fmt.Errorf("the log served a checkpoint older than the one verified before: it was rolled back (%w)", err)
	case err != nil:
		return rep, fmt.Errorf("verifying the log's checkpoint: %w", err)
	}
	rep.Checkpoint = cp
	if err := findReleases(ctx, cfg.ReleaseKeys, f, lc, &rep); err != nil {
		return rep, err
	}
	logged := release.NewLogged(manifests(rep.Releases))
	paths := cfg.Paths
	if len(paths) == 0 {
		paths = []string{DeepPath}
	}
	c := checker{hc: hc, site: site, logged: logged, seen: map[string]bool{}, rep: &rep}
	c.checkSite(ctx, append([]string{"/"}, paths...))
	return rep, nil
}

func parseSite(s string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimRight(s, "/"))
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return nil, fmt.Errorf("%q is not a site's origin (want e.g. https://vigil.example)", s)
	}
	return u, nil
}

// FetchPolicy asks a cloud which log it appends to (GET /v1/log). It is
// the cloud's own word: a verifier that takes it should say so, and pin it.
func FetchPolicy(ctx context.Context, hc *http.Client, site string) (history.LogPolicy, error) {
	u, err := parseSite(site)
	if err != nil {
		return history.LogPolicy{}, err
	}
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	return fetchPolicy(ctx, hc, u)
}

func fetchPolicy(ctx context.Context, hc *http.Client, site *url.URL) (history.LogPolicy, error) {
	var p history.LogPolicy
	req, err := http.NewRequestWithContext(ctx, "GET", site.String()+"/v1/log", nil)
	if err != nil {
		return p, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return p, fmt.Errorf("asking the cloud for its log policy: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return p, fmt.Errorf("asking the cloud for its log policy: GET /v1/log: %s", resp.Status)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&p); err != nil {
		return p, fmt.Errorf("the cloud's log policy (GET /v1/log): %w", err)
	}
	return p, nil
}

// findReleases proves every release entry the log lists and keeps those
// signed by a trusted key.
func findReleases(ctx context.Context, keys []ed25519.PublicKey, f *tloghttp.Fetcher, lc *tlog.Client, rep *Report) error {
	idx, err := f.Releases(ctx)
	if err != nil {
		return fmt.Errorf("listing the log's releases: %w", err)
	}
	sort.Slice(idx, func(i, j int) bool { return idx[i] < idx[j] })
	for i, ix := range idx {
		if i > 0 && idx[i-1] == ix {
			continue
		}
		if ix < 0 || ix >= rep.Checkpoint.N {
			rep.Skipped = append(rep.Skipped, Skipped{ix, fmt.Sprintf("not in the verified checkpoint of %d entries yet", rep.Checkpoint.N)})
			continue
		}
		entry, err := lc.Entry(ctx, ix)
		if err != nil {
			return fmt.Errorf("reading release entry %d from the log: %w", ix, err)
		}
		s, err := release.Parse(entry)
		if err != nil {
			rep.Skipped = append(rep.Skipped, Skipped{ix, err.Error()})
			continue
		}
		trusted := false
		for _, k := range keys {
			trusted = trusted || s.Key.Equal(k)
		}
		if !trusted {
			rep.Skipped = append(rep.Skipped, Skipped{ix, "signed by " + release.FormatPublicKey(s.Key) + ", not a trusted release key"})
			continue
		}
		rep.Releases = append(rep.Releases, Release{Index: ix, Key: release.FormatPublicKey(s.Key), Manifest: s.Manifest})
	}
	return nil
}

func manifests(rs []Release) []release.Manifest {
	out := make([]release.Manifest, len(rs))
	for i, r := range rs {
		out[i] = r.Manifest
	}
	return out
}

// checker fetches the site's files and records the verdicts.
type checker struct {
	hc     *http.Client
	site   *url.URL
	logged *release.Logged
	seen   map[string]bool
	rep    *Report
}

// dest is the kind of request a browser makes for a file; its headers are
// sent so the site answers the monitor as it answers a browser.
type dest string

const (
	destDocument dest = "document"
	destScript   dest = "script"
	destStyle    dest = "style"
	destWorker   dest = "serviceworker"
	destOther    dest = "empty"
)

func (c *checker) checkSite(ctx context.Context, pages []string) {
	var releases []*release.Manifest
	for _, p := range pages {
		f, body := c.fetch(ctx, p, destDocument, "page")
		if body == nil {
			continue
		}
		if f.Finding.Manifest != nil {
			releases = append(releases, f.Finding.Manifest)
		}
		refs, err := release.References(body)
		if err != nil {
			c.problem(p, "page", err.Error())
			continue
		}
		for _, r := range refs {
			if !r.Code() {
				continue
			}
			why := r.Tag + " of " + p
			if r.Tag == "link" {
				why = r.Rel + " of " + p
			}
			if r.URL == "" {
				c.problem(p, why, "the page has an inline script: no release has one")
				continue
			}
			u, err := c.site.Parse(p)
			if err == nil {
				u, err = u.Parse(r.URL)
			}
			if err != nil || u.Scheme != c.site.Scheme || u.Host != c.site.Host {
				c.problem(r.URL, why, "the page loads code from another origin, which no release does")
				continue
			}
			d := destScript
			if r.Tag == "link" && strings.Contains(r.Rel, "stylesheet") {
				d = destStyle
			}
			c.fetch(ctx, u.RequestURI(), d, why)
		}
	}
	// Every file of the releases the pages belong to: the service worker
	// and anything loaded at run time are not in the page's markup.
	for _, m := range releases {
		for _, a := range m.Assets {
			if a.Path == release.IndexPath {
				continue
			}
			d := destOther
			switch {
			case release.IsServiceWorker(a.Path):
				d = destWorker
			case release.IsScript(a.Path):
				d = destScript
			case strings.HasSuffix(a.Path, ".css"):
				d = destStyle
			}
			c.fetch(ctx, a.Path, d, "file of "+m.String())
		}
	}
}

func (c *checker) problem(u, why, p string) {
	c.rep.Files = append(c.rep.Files, File{URL: u, Why: why, Problem: p})
}

// fetch gets one path of the site (once) and checks it; it returns the
// body of a 200 answer.
func (c *checker) fetch(ctx context.Context, reqURI string, d dest, why string) (File, []byte) {
	if c.seen[reqURI] {
		return File{}, nil
	}
	c.seen[reqURI] = true
	f := File{URL: c.site.String() + reqURI, Why: why}
	req, err := http.NewRequestWithContext(ctx, "GET", f.URL, nil)
	if err != nil {
		f.Problem = err.Error()
		c.rep.Files = append(c.rep.Files, f)
		return f, nil
	}
	h := req.Header
	h.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) vigil-verify-web")
	h.Set("Sec-Fetch-Site", "same-origin")
	h.Set("Sec-Fetch-Dest", string(d))
	switch d {
	case destDocument:
		h.Set("Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8")
		h.Set("Sec-Fetch-Mode", "navigate")
		h.Set("Sec-Fetch-Site", "none")
		h.Set("Upgrade-Insecure-Requests", "1")
	case destWorker:
		h.Set("Accept", "*/*")
		h.Set("Sec-Fetch-Mode", "same-origin")
		h.Set("Service-Worker", "script")
	case destStyle:
		h.Set("Accept", "text/css,*/*;q=0.1")
		h.Set("Sec-Fetch-Mode", "cors")
	default:
		h.Set("Accept", "*/*")
		h.Set("Sec-Fetch-Mode", "cors")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		f.Problem = err.Error()
		c.rep.Files = append(c.rep.Files, f)
		return f, nil
	}
	defer resp.Body.Close()
	f.Status = resp.StatusCode
	switch {
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		f.Problem = fmt.Sprintf("answered %s, redirecting to %q: a browser would load that instead", resp.Status, resp.Header.Get("Location"))
	case resp.StatusCode != http.StatusOK:
		// Not served: no code runs from it (a page that needs it breaks).
	default:
		body, err := io.ReadAll(io.LimitReader(resp.Body, maxFile+1))
		if err == nil && len(body) > maxFile {
			err = fmt.Errorf("over %d bytes", maxFile)
		}
		if err != nil {
			f.Problem = "reading it: " + err.Error()
			break
		}
		p := release.ServedAs(req.URL.Path)
		f.Finding = c.logged.Check(p, body)
		c.rep.Files = append(c.rep.Files, f)
		return f, body
	}
	c.rep.Files = append(c.rep.Files, f)
	return f, nil
}
