package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"vigil/internal/browsertest"
	"vigil/internal/cli"
	"vigil/internal/release"
	"vigil/internal/vigiltest"
	"vigil/web"
)

// TestInstallable: the web app of 'vigil demo' is installable in Chromium.
// The built app's release lists the manifest and its icons (they are files
// under /assets/, signed with the rest); the app registers its service
// worker (a release's /assets/sw-<hash>.js, which the cloud lets have the
// whole app as scope) at "/" when it starts; Chromium reports no
// installability error and parses the manifest (standalone, start_url "/",
// 192 and 512 px icons and a maskable one); and the worker shows a
// join-request push as "A device is waiting to join <household>", opening
// the settings page at the waiting devices, while other pushes still show a
// notification.
func TestInstallable(t *testing.T) {
	// The release covers the new files.
	app, err := web.App()
	if err != nil {
		t.Fatal(err)
	}
	mb, err := release.BuildManifest(app, release.DefaultName, "pwa-test", time.Now())
	if err != nil {
		t.Fatalf("the built app is not a release: %v", err)
	}
	m, err := release.ParseManifest(mb)
	if err != nil {
		t.Fatal(err)
	}
	var manifestPath, workerPath string
	icons := 0
	for _, a := range m.Assets {
		switch {
		case strings.HasSuffix(a.Path, ".webmanifest"):
			manifestPath = a.Path
		case release.IsServiceWorker(a.Path):
			workerPath = a.Path
		case strings.HasPrefix(a.Path, "/assets/icon-") && strings.HasSuffix(a.Path, ".png"):
			icons++
		}
	}
	if manifestPath == "" || workerPath == "" || icons < 3 {
		t.Fatalf("the release lists manifest %q, worker %q and %d icons; want all (assets %v)", manifestPath, workerPath, icons, m.Assets)
	}

	ctx := context.Background()
	d, err := cli.StartDemo(ctx, cli.DemoOptions{Data: t.TempDir(), Listen: "127.0.0.1:0", Argon2: testArgon, Logger: vigiltest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()

	// The cloud serves the worker with the header that allows scope "/",
	// and the manifest under the app's CSP.
	get := func(p string) *http.Response {
		t.Helper()
		res, err := http.Get(d.CloudURL + p)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res
	}
	if res := get(workerPath); res.StatusCode != http.StatusOK || res.Header.Get("Service-Worker-Allowed") != "/" {
		t.Errorf("GET %s: status %d, Service-Worker-Allowed %q; want 200 and \"/\"", workerPath, res.StatusCode, res.Header.Get("Service-Worker-Allowed"))
	}
	if res := get("/"); !strings.Contains(res.Header.Get("Content-Security-Policy"), "manifest-src 'self'") {
		t.Errorf("the app's CSP does not allow its manifest: %q", res.Header.Get("Content-Security-Policy"))
	}

	link, err := d.SignInURL(ctx)
	if err != nil {
		t.Fatal(err)
	}
	type icon struct {
		Src, Sizes, Purpose string
		Status, Width       int
		Height              int
		PNG                 bool
	}
	var res struct {
		Household string `json:"household"`
		Name      string `json:"name"`
		Origin    string `json:"origin"`
		Worker    struct {
			Scope, ScriptURL, State string
			Controlled              bool
		} `json:"worker"`
		InstallabilityErrors []struct {
			ErrorID string `json:"errorId"`
		} `json:"installabilityErrors"`
		Manifest struct {
			URL    string `json:"url"`
			Errors []struct {
				Message  string `json:"message"`
				Critical int    `json:"critical"`
			} `json:"errors"`
			Parsed struct {
				Name            string `json:"name"`
				ShortName       string `json:"short_name"`
				StartURL        string `json:"start_url"`
				Display         string `json:"display"`
				ThemeColor      string `json:"theme_color"`
				BackgroundColor string `json:"background_color"`
			} `json:"parsed"`
			Icons []icon `json:"icons"`
		} `json:"manifest"`
		Notices []struct {
			What, Title, Body, Tag, URL string
			Attempts                    int
		} `json:"notices"`
	}
	browsertest.Run(t, 3*time.Minute, "pwa.mjs", map[string]string{"DEMO_URL": link}, &res)

	if res.Household != d.HouseholdID {
		t.Errorf("the demo link opened household %q, want %q", res.Household, d.HouseholdID)
	}
	if res.Worker.Scope != res.Origin+"/" || res.Worker.State != "activated" || res.Worker.ScriptURL != res.Origin+workerPath {
		t.Errorf("service worker %+v; want the release's %s activated at scope %s/", res.Worker, workerPath, res.Origin)
	}
	if len(res.InstallabilityErrors) > 0 {
		t.Errorf("Chromium finds the app not installable: %+v", res.InstallabilityErrors)
	}
	mf := res.Manifest
	if mf.URL != res.Origin+manifestPath || len(mf.Errors) > 0 {
		t.Errorf("manifest %s (want %s), parse errors %+v", mf.URL, res.Origin+manifestPath, mf.Errors)
	}
	if p := mf.Parsed; p.Name == "" || p.ShortName == "" || p.StartURL != "/" || p.Display != "standalone" || p.ThemeColor == "" || p.BackgroundColor == "" {
		t.Errorf("manifest %+v; want names, start_url \"/\", display standalone and its colours", p)
	}
	sizes := map[string]bool{}
	for _, ic := range mf.Icons {
		if ic.Status != http.StatusOK || !ic.PNG || fmt.Sprintf("%dx%d", ic.Width, ic.Height) != ic.Sizes {
			t.Errorf("icon %+v: want a PNG of its stated size served with 200", ic)
		}
		sizes[ic.Sizes+" "+ic.Purpose] = true
	}
	for _, want := range []string{"192x192 any", "512x512 any", "512x512 maskable"} {
		if !sizes[want] {
			t.Errorf("the manifest has no %s icon: %+v", want, mf.Icons)
		}
	}

	byWhat := map[string]int{}
	for i, n := range res.Notices {
		byWhat[n.What] = i
		if n.Attempts > 1 {
			t.Logf("%s push: shown on delivery %d", n.What, n.Attempts)
		}
	}
	if len(res.Notices) != 3 {
		t.Fatalf("notifications %+v, want one per push (3)", res.Notices)
	}
	if res.Name == "" {
		t.Fatal("the household has no name to show")
	}
	join := res.Notices[byWhat["join"]]
	if join.Title != "A device is waiting to join "+res.Name || join.URL != "/h/"+d.HouseholdID+"/settings#waiting" {
		t.Errorf("join-request push shown as %+v; want the title naming %q and a click opening the waiting devices on its settings page", join, res.Name)
	}
	unknown := res.Notices[byWhat["join-unknown"]]
	if unknown.Title != "A device is waiting to join" || !strings.HasSuffix(unknown.URL, "/settings#waiting") {
		t.Errorf("join-request push of a household this browser does not hold: %+v; want the title without a name", unknown)
	}
	if other := res.Notices[byWhat["not-a-record"]]; other.Title != "New event" || other.URL != "/" {
		t.Errorf("a push that is no record this browser opens: %+v; want the generic \"New event\"", other)
	}
}
