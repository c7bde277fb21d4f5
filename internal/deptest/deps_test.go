package deptest

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// Package sets the rules below name. A pattern is an import path, or a path
// ending in "/..." for that package and every package under it.
var (
	// server is the cloud service: it holds ciphertext, chains and accounts,
	// never a device's keys, cameras or plaintext.
	server = []string{"vigil/internal/cloud/..."}

	// device is code that runs on a hub or a member's device, by its package
	// doc: ingest and recording (camera, recorder, segment, segstore, upload,
	// recordings, softcam), the ONVIF protocol with cameras on the LAN
	// (onvif), doorbell press sources (doorbell), detection and
	// notification sinks (detect, notify and its LAN sinks), the hub's
	// configuration (config), live view on the hub (live), the ffmpeg that
	// encodes a camera's audio to Opus (audioenc), redaction of a clip
	// before it leaves the household (redact), the hub-pairing
	// protocol whose two ends are the hub and the member (pairing: the
	// cloud only relays it), the member's side of the cloud (member,
	// and client, the cloud's Go client), and the labelling workspace's
	// annotations and datasets (dataset: plaintext boxes and frames of
	// donated clips, opened, exported and scored only on the devices of the
	// workspace; the cloud keeps the payloads sealed and never parses them). Shared by both sides, so in
	// neither set: the formats and
	// proofs the cloud checks without keys (envelope, keydir, history, tlog,
	// eventrec, devauth, release, share), the API's shapes (cloudapi) and
	// the Web Push protocol, notify/webpush (its Sender is the cloud's), and
	// the strict decoder of both config files (yamlconf). keydir also holds the
	// private-key files of a device; they are not a package of their own,
	// so the rule cannot tell them from the chain the cloud verifies.
	device = []string{
		"vigil/internal/hubd", "vigil/internal/hubwatch", "vigil/internal/camera", "vigil/internal/recorder", "vigil/internal/segment", "vigil/internal/segstore",
		"vigil/internal/upload", "vigil/internal/recordings", "vigil/internal/softcam", "vigil/internal/live",
		"vigil/internal/detect/...", "vigil/internal/notify", "vigil/internal/notify/mqtt", "vigil/internal/notify/webhook",
		"vigil/internal/config", "vigil/internal/pairing", "vigil/internal/member",
		"vigil/internal/client", "vigil/internal/onvif", "vigil/internal/doorbell", "vigil/internal/audioenc",
		"vigil/internal/dataset/...", "vigil/internal/redact",
	}

	// testOnly are helpers for tests: they start servers, hold fixtures and
	// fail tests; a binary never carries them.
	testOnly = append([]string{
		"vigil/internal/vigiltest", "vigil/internal/pgtest", "vigil/internal/s3test", "vigil/internal/browsertest",
		"vigil/internal/e2e", "vigil/internal/deptest",
		"vigil/internal/blob/blobtest", "vigil/internal/tlog/tlogtest",
		"vigil/internal/history/historytest", "vigil/internal/detect/detecttest",
		"vigil/internal/natstest", "vigil/internal/cloud/bus/bustest",
		// liveviewtest: what the live view's tests forge and check, at the
		// service and through the cloud.
		"vigil/internal/cloud/liveview/liveviewtest",
		// cloudtest runs the cloud as deployed (vigil cloud processes on
		// PostgreSQL and S3 behind a proxy) for tests on both configurations.
		"vigil/internal/cloudtest",
		// webauthntest is a software passkey for the passkey tests.
		"vigil/internal/webauthntest",
		// dnstest answers DNS from a test's table (rebinding tests).
		"vigil/internal/netguard/dnstest",
		// datasettest makes a donated clip and its annotation of real footage.
		"vigil/internal/dataset/datasettest",
		// onnxtest builds ONNX models with a known output.
		"vigil/internal/detect/cvdet/onnxtest",
		// facestest counts the frames with a face in a test's clip.
		"vigil/internal/detect/faces/facestest",
		// yamlconftest lists a configuration's keys for its docs' tests.
		"vigil/internal/yamlconf/yamlconftest",
	}, storeSuites...)

	// storeSuites are the conformance suites of the cloud's storage: each
	// domain's of its own Store interface, and storetest's of the rest of
	// store.Store with the helpers they share.
	storeSuites = []string{
		"vigil/internal/cloud/store/storetest", "vigil/internal/cloud/accounts/accountstest",
		"vigil/internal/cloud/households/householdstest", "vigil/internal/cloud/objects/objectstest",
		"vigil/internal/cloud/events/eventstest", "vigil/internal/cloud/shares/sharestest",
		"vigil/internal/cloud/retention/retentiontest", "vigil/internal/cloud/passkeys/passkeystest",
		"vigil/internal/cloud/staff/stafftest", "vigil/internal/cloud/hubhealth/hubhealthtest",
		"vigil/internal/cloud/labelling/labellingtest",
	}

	// keysAndProofs are pure computation over bytes (formats, keys, chains,
	// logs, the API's shapes): testable without a network, and a reviewer
	// of the crypto need not read networking code.
	keysAndProofs = []string{
		"vigil/internal/envelope", "vigil/internal/keydir", "vigil/internal/pairing", "vigil/internal/history",
		"vigil/internal/tlog", "vigil/internal/eventrec", "vigil/internal/share", "vigil/internal/cloudapi",
		"vigil/internal/fsutil", "vigil/internal/blob", "vigil/internal/cloud/auth",
		// consent: the donor's signed consent and revocation records,
		// checked against a household's verified chain.
		"vigil/internal/consent",
	}

	// storageAndMedia touch disks, databases and media, never HTTP.
	// Retention (cloud/retention) deletes through the index and the blob
	// store and runs apart from any request: it is here so that it never
	// grows back into an HTTP handler.
	storageAndMedia = []string{
		"vigil/internal/segment", "vigil/internal/segstore", "vigil/internal/recordings", "vigil/internal/config",
		"vigil/internal/cloud/store", "vigil/internal/release", "vigil/internal/cloud/retention",
	}
)

// A rule forbids every package matching from (but not except) to import,
// directly or through others, a package matching to.
type rule struct {
	from, except, to []string
	why              string
}

var rules = []rule{
	{
		from: []string{"vigil/..."}, except: []string{"vigil/cmd/vigil-deb", "vigil/internal/debpkg"},
		to:  []string{"vigil/internal/debpkg", "github.com/goreleaser/nfpm/v2/..."},
		why: "the package builder (debpkg, with nfpm and its git and archive libraries) runs at build time only: none of it is linked into the vigil binary",
	},
	{
		from: []string{"vigil/..."}, except: []string{"vigil/cmd/...", "vigil/internal/cli"},
		to:  []string{"vigil/internal/cli"},
		why: "cli is the outermost layer (cmd -> cli -> hubd -> domain): nothing but the command imports it",
	},
	{
		from: []string{"vigil/..."}, except: []string{"vigil/cmd/...", "vigil/internal/cli", "vigil/internal/bench"},
		to:  []string{"vigil/internal/bench"},
		why: "bench is a measuring tool behind 'vigil bench': it makes throwaway households and keys and starts child processes, so nothing but the command may reach it",
	},
	{
		from: []string{"vigil/..."}, except: []string{"vigil/cmd/...", "vigil/internal/cli", "vigil/internal/hubd", "vigil/internal/bench"},
		to:  []string{"vigil/internal/hubd"},
		why: "hubd wires the hub from its configuration: domain packages are wired, they do not wire",
	},
	{
		from: []string{"vigil/internal/recorder"}, to: []string{"vigil/internal/hubd"},
		why: "the recorder is wired by hubd, never the reverse: a frame goes camera -> recorder (segment, seal, store, " +
			"upload) and never back through the wiring package, which only constructs the recorder and reads its counters",
	},
	{
		from: []string{"vigil/internal/recorder"},
		to:   []string{"vigil/internal/cloud/...", "vigil/internal/client", "vigil/internal/cloudapi"},
		why: "a frame's path on the hub ends at the uploader it is given (an interface): the recorder never reaches the cloud, " +
			"neither its server nor its client or API shapes, so nothing it holds leaves the hub but sealed, through the uploader",
	},
	{
		from: []string{"vigil/internal/recorder"}, to: []string{"vigil/internal/cli", "vigil/internal/config"},
		why: "the recorder takes its settings as values (recorder.Config): it knows neither the command line (cli) nor the " +
			"configuration file's shape (config), which hubd maps onto it",
	},
	{
		from: []string{"vigil/..."},
		except: []string{"vigil/cmd/...", "vigil/internal/cli", "vigil/internal/bench", "vigil/internal/hubd",
			"vigil/internal/recorder"},
		to: []string{"vigil/internal/recorder"},
		why: "hubd is what starts a camera's recording (and the hub is reached only through hubd): one recorder per camera, " +
			"under the hub's lifecycle; another caller would record a camera twice against the same store sequence",
	},
	{
		from: server, to: device,
		why: "server code never runs device code: the cloud holds no device's keys and speaks no device's protocol (the pairing relay passes messages it cannot read)",
	},
	{
		from: device, to: server,
		why: "devices reach the cloud through its HTTP API (client, cloudapi), never by linking the server",
	},
	{
		from: []string{"vigil/internal/doorbell"}, to: []string{"vigil/..."},
		why: "doorbell only turns presses into rings: it seals nothing, notifies no one and reaches no cloud (hubd does that with a ring), so it imports no Vigil package",
	},
	{
		from: []string{"vigil/internal/notify/webpush"}, to: device,
		why: "notify/webpush is the cloud's Web Push protocol: a hub's events reach it only sealed, through the cloud, so it links no device code",
	},
	{
		from: []string{"vigil/internal/cloudapi"}, to: []string{"vigil/..."},
		why: "cloudapi is the API's JSON shapes only: server and client both import it, so it imports neither",
	},
	{
		from: keysAndProofs, to: []string{"net"},
		why: "formats, keys and proofs stay pure: no network stack; the callers move the bytes",
	},
	{
		from: []string{"vigil/internal/dataset/..."}, to: []string{"net", "vigil/internal/client", "vigil/internal/hubd", "vigil/internal/keydir", "vigil/internal/envelope"},
		why: "datasets are files on a workspace device: the payloads they are built from arrive already opened, so the dataset code " +
			"holds no keys, opens no envelope, reaches no cloud and no hub, and has no network stack at all",
	},
	{
		from: storageAndMedia, to: []string{"net/http"},
		why: "storage, media and configuration stay off the HTTP stack; the callers serve them",
	},
	{
		from: []string{"vigil/internal/redact"},
		to:   []string{"net", "net/http", "vigil/internal/client", "vigil/internal/upload", "vigil/internal/member", "vigil/internal/cloud/..."},
		why:  "redaction reads a file and writes a file on a household device: an unredacted frame has no path out of it; sending the redacted clip is its caller's job",
	},
	{
		from: []string{"vigil/internal/cloud/leader"},
		to:   []string{"net/http", "vigil/internal/cloud", "vigil/internal/cloud/store", "vigil/internal/blob/...", "vigil/internal/history"},
		why: "the cluster-wide scheduler knows its jobs only as functions: it holds locks on its own connections and never serves, " +
			"reads the stores or knows what a job does, so any domain's job runs under it without an import cycle",
	},
	{
		from: []string{"vigil/internal/cloud/bus"}, to: []string{"net/http", "vigil/internal/envelope", "vigil/internal/keydir", "vigil/internal/cloud/store"},
		why: "the bus carries routing metadata and bytes it never opens: no HTTP stack, no keys, no formats to open them with, no store",
	},
	{
		from: []string{"vigil/internal/cloud/bus/natsbus"}, to: []string{"vigil/internal/envelope", "vigil/internal/keydir", "vigil/internal/cloud/store", "vigil/internal/cloud"},
		why: "the NATS bus carries bytes between replicas: it never opens them and never reaches into the server it serves (the NATS client links an HTTP stack for its WebSocket transport; the package speaks NATS only)",
	},
	{
		from: []string{"vigil/internal/cloud/accounts"},
		to:   []string{"net/http", "vigil/internal/cloud", "vigil/internal/cloudapi", "vigil/internal/cloud/bus/..."},
		why: "the accounts domain decides who a caller is and takes and returns values: the HTTP layer (the cloud package) parses " +
			"requests, sets cookies and maps its errors to statuses, so accounts imports neither it, nor the HTTP stack, nor the API's " +
			"JSON shapes, nor the bus (its shared state is in its Store)",
	},
	{
		from: []string{"vigil/internal/cloud/labelling"},
		to:   []string{"net/http", "vigil/internal/cloud", "vigil/internal/cloudapi", "vigil/internal/share"},
		why: "the labelling domain decides who may see which donated clip and takes and returns values: the HTTP layer (the cloud " +
			"package) authenticates, streams and maps its errors to statuses, so it imports neither that layer, nor the HTTP stack, nor " +
			"the API's JSON shapes; and it never opens what it guards: clips and annotations are opaque sealed bytes to it, so it has " +
			"no use for the format that opens a share (share); keydir, which it needs to verify chains, brings envelope for epoch keys it never holds",
	},
	{
		from: []string{"vigil/internal/cloud/shares"}, to: []string{"net/http", "vigil/internal/cloud", "vigil/internal/share"},
		why: "sharing is a domain of the cloud below its API: it never serves (the HTTP layer, internal/cloud, maps routes and errors to it, so it " +
			"cannot import that layer back) and never opens what it guards: a manifest is opaque bytes to it, so it has no use for the format " +
			"that opens one (share)",
	},
	{
		from: []string{"vigil/internal/cloud/objects"},
		to:   []string{"net/http", "vigil/internal/cloud", "vigil/internal/cloudapi", "vigil/internal/cloud/bus/..."},
		why: "the objects domain accepts, indexes and opens sealed objects and takes and returns values: the HTTP layer (the cloud " +
			"package) reads and authenticates bodies, parses queries, streams what Open returns and maps its errors to statuses, " +
			"and events and retention reach it as callbacks, so objects imports neither the cloud package, nor the HTTP stack, nor " +
			"the API's JSON shapes, nor the bus",
	},
	{
		from: []string{"vigil/internal/cloud/events"},
		to:   []string{"net/http", "vigil/internal/cloud", "vigil/internal/cloudapi", "vigil/internal/cloud/bus/...", "vigil/internal/notify/webpush"},
		why: "the events domain lists event objects and keeps and fans out to Web Push subscriptions, taking and returning values: the " +
			"HTTP layer (the cloud package) parses requests, maps its errors to statuses, runs the live stream, the bus notices and the " +
			"push queue, and adapts notify/webpush's Sender (which posts HTTP requests) to the Sender interface the domain is given, so " +
			"events imports neither the cloud package, nor the HTTP stack, nor the API's JSON shapes, nor the bus, nor notify/webpush",
	},
	{
		from: []string{"vigil/internal/cloud/households"},
		to:   []string{"net/http", "vigil/internal/cloud", "vigil/internal/cloudapi", "vigil/internal/cloud/bus/..."},
		why: "the households domain decides which chain links, members and pairing messages are accepted and takes and returns " +
			"values: the HTTP layer (the cloud package) parses requests, authenticates callers and maps its errors to statuses, " +
			"so households imports neither it, nor the HTTP stack, nor the API's JSON shapes, nor the bus (replicas meet in its Store)",
	},
	{
		from: storeSuites,
		to:   []string{"net/http", "vigil/internal/cloud", "vigil/internal/cloudapi", "vigil/internal/cloud/bus/..."},
		why: "a store's conformance suite calls the storage interface it is given and nothing else: it never serves and never " +
			"goes through the HTTP layer, the API's shapes or the bus, so a store passes or fails it on its own behaviour",
	},
	{
		from: []string{"vigil/internal/cloud/passkeys"},
		to:   []string{"net/http", "vigil/internal/cloud", "vigil/internal/cloudapi", "vigil/internal/cloud/bus/...", "vigil/internal/cloud/accounts"},
		why: "the passkeys domain checks WebAuthn answers and keeps passkeys and ceremonies, taking and returning values: the HTTP " +
			"layer (the cloud package) reads bodies, applies the per-address limits, maps its errors to statuses and has the " +
			"accounts domain issue the session a passkey proved, so passkeys imports neither the cloud package, nor the HTTP " +
			"stack (but through go-webauthn: see exceptions), nor the API's JSON shapes, nor the bus, nor accounts (it never " +
			"issues a session)",
	},
	{
		from: []string{"vigil/internal/cloud/staff"},
		to: append([]string{"net/http", "vigil/internal/cloud", "vigil/internal/cloudapi", "vigil/internal/cloud/bus/...",
			"vigil/internal/share", "vigil/internal/eventrec", "vigil/internal/blob/s3blob",
			"vigil/internal/cloud/accounts", "vigil/internal/cloud/households", "vigil/internal/cloud/objects",
			"vigil/internal/cloud/shares", "vigil/internal/cloud/events", "vigil/internal/cloud/liveview",
			"vigil/internal/cloud/passkeys"}, device...),
		why: "the staff domain keeps who is staff, their sessions and the households' support codes, and never reaches a " +
			"household's content: it imports neither the HTTP layer nor the HTTP stack (the cloud package serves the staff " +
			"routes and maps errors), nor the content domains (objects, shares, events, live view), nor the formats that carry " +
			"sealed content (share, eventrec), nor accounts or passkeys " +
			"(a staff identity is not an account: a customer's session never becomes a staff one, nor the reverse). It links envelope, keydir and blob only " +
			"through the store's types (history's signed actions); its own imports never name them (staff's TestOwnImports)",
	},
	{
		from: []string{"vigil/internal/cloud/hubhealth"},
		to: append([]string{"net/http", "vigil/internal/cloud", "vigil/internal/cloudapi", "vigil/internal/cloud/bus/...",
			"vigil/internal/share", "vigil/internal/eventrec", "vigil/internal/blob/s3blob",
			"vigil/internal/cloud/accounts", "vigil/internal/cloud/households", "vigil/internal/cloud/objects",
			"vigil/internal/cloud/shares", "vigil/internal/cloud/events", "vigil/internal/cloud/liveview",
			"vigil/internal/cloud/passkeys", "vigil/internal/cloud/staff"}, device...),
		why: "the hub health domain checks and keeps hubs' health reports, metadata only: it imports neither the HTTP layer " +
			"nor the HTTP stack (the cloud package decodes reports, names the hub from its signature and maps errors), nor " +
			"the API's shapes, nor any content domain or format that carries sealed content, nor the staff domain (who may " +
			"read a report is the lockbox's, in the HTTP layer), nor device code",
	},
	{
		from: []string{"vigil/internal/buildinfo"}, to: []string{"vigil/..."},
		why: "buildinfo names the running build for hub and cloud alike, so it imports nothing of ours",
	},
	{
		from: []string{"vigil/internal/cloud/liveview"},
		to: append([]string{"net/http", "github.com/gorilla/websocket", "vigil/internal/cloud", "vigil/internal/cloud/store",
			"vigil/internal/envelope", "vigil/internal/keydir"}, device...),
		why: "the live-view domain pairs viewers with hubs across replicas and passes bytes it never opens: the HTTP layer (the " +
			"cloud package) authenticates the member or the hub, checks the origin, upgrades to a WebSocket and hands it a Conn, " +
			"so liveview imports neither that layer, nor the HTTP stack, nor the WebSocket library; it asks whether a hub is still " +
			"in its chain through the Hubs interface it is given, not the store; it has no keys or formats to open the signed " +
			"fingerprints with (the devices check them, G8); and the hub's end of live view (live) is device code",
	},
	{
		from: []string{"vigil/internal/onvif"},
		to:   []string{"vigil/internal/cloud/...", "vigil/internal/client", "vigil/internal/cloudapi", "vigil/internal/envelope", "vigil/internal/keydir"},
		why: "onvif is the ONVIF protocol on the household's network only: it never reaches the cloud (neither its server, nor " +
			"its client or API shapes), and it neither seals nor holds keys: what it learns from a camera (credentials, " +
			"snapshots, events) is handed to its caller, which seals what leaves the hub",
	},
	{
		from: []string{"vigil/internal/netguard"}, to: []string{"net/http", "vigil/..."},
		why: "netguard is the address policy of connections to places users name, and the dialer that enforces it: the hub's " +
			"configuration (no HTTP stack) classifies addresses with it, so it stays off the HTTP stack (callers build their " +
			"transports on its dialer) and imports nothing of ours, so that any package, cloud or device, can use it",
	},
	{
		from: []string{"vigil/..."}, except: testOnly, to: testOnly,
		why: "test helpers start servers and hold fixtures: only tests import them",
	},
}

// An exception allows what a rule forbids, for a reason and until the code
// changes: an exception that no longer allows anything fails the test, so
// it is removed as soon as it is not needed. An indirect exception allows
// the import only through other packages: from importing to itself is
// still a violation.
type exception struct {
	from, to []string
	indirect bool
	why      string
}

var exceptions = []exception{
	{
		from: []string{"vigil/internal/cloud/passkeys"}, to: []string{"net/http"}, indirect: true,
		why: "go-webauthn's protocol package, which parses and verifies the browser's answers (the package's whole job), " +
			"imports net/http (parsers of an *http.Request, a related-origins handler, the attestation metadata and " +
			"revocation fetchers); passkeys never serves or fetches, and never imports net/http itself",
	},
	{
		from: []string{"vigil/internal/cloud/passkeys/passkeystest"}, to: []string{"net/http"}, indirect: true,
		why: "the suite names its interface, passkeys.Store, so it links the passkeys package and with it go-webauthn's " +
			"net/http (see the exception above); the suite itself calls only the Store it is given and never imports net/http",
	},
}

type pkg struct {
	ImportPath string
	Imports    []string
	Deps       []string
}

// match reports whether path matches one of the patterns.
func match(patterns []string, path string) bool {
	for _, p := range patterns {
		if base, ok := strings.CutSuffix(p, "/..."); ok {
			if path == base || strings.HasPrefix(path, base+"/") {
				return true
			}
		} else if path == p {
			return true
		}
	}
	return false
}

// TestImportRules fails on every import a rule forbids and no exception
// allows, naming the edge, a path of imports that makes it and the rule's
// reason. Only non-test code counts: a test may play the other side (a
// cloud test drives a device's client).
func TestImportRules(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-json=ImportPath,Imports,Deps", "vigil/...").Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("go list: %v\n%s", err, ee.Stderr)
		}
		t.Fatalf("go list: %v", err)
	}
	all := map[string]pkg{}
	var ours []string
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p pkg
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		all[p.ImportPath] = p
		if match([]string{"vigil/..."}, p.ImportPath) {
			ours = append(ours, p.ImportPath)
		}
	}
	if len(ours) < 40 {
		t.Fatalf("go list found only %d packages of the module", len(ours))
	}
	// Deps must be the transitive imports, or every check below is vacuous.
	if hubd := all["vigil/internal/hubd"].Deps; !slices.Contains(hubd, "vigil/internal/envelope") || !slices.Contains(hubd, "crypto/hpke") {
		t.Fatal("go list gave no transitive imports for hubd")
	}
	// A pattern that matches nothing is a typo that disables its rule.
	for _, set := range [][]string{server, device, testOnly, storeSuites, keysAndProofs, storageAndMedia} {
		for _, p := range set {
			if !slices.ContainsFunc(ours, func(q string) bool { return match([]string{p}, q) }) {
				t.Errorf("pattern %s matches no package", p)
			}
		}
	}

	errs, unused := check(all, ours, rules, exceptions)
	for _, e := range errs {
		t.Error(e)
	}
	for _, x := range unused {
		t.Errorf("the exception for %v -> %v allows nothing any more: remove it (%s)", x.from, x.to, x.why)
	}
}

// check returns a message for every import of the packages ours that a
// rule forbids and no exception allows, and the exceptions that allowed
// nothing.
func check(all map[string]pkg, ours []string, rules []rule, exceptions []exception) (errs []string, unused []exception) {
	used := make([]bool, len(exceptions))
	for _, r := range rules {
		for _, from := range ours {
			if !match(r.from, from) || match(r.except, from) {
				continue
			}
			for _, to := range all[from].Deps {
				if !match(r.to, to) {
					continue
				}
				allowed := false
				for i, x := range exceptions {
					if match(x.from, from) && match(x.to, to) && !(x.indirect && slices.Contains(all[from].Imports, to)) {
						used[i], allowed = true, true
					}
				}
				if !allowed {
					errs = append(errs, fmt.Sprintf("%s imports %s (%s): %s", from, to, strings.Join(importPath(all, from, to), " -> "), r.why))
				}
			}
		}
	}
	for i, x := range exceptions {
		if !used[i] {
			unused = append(unused, x)
		}
	}
	return errs, unused
}

// importPath returns a shortest chain of direct imports from one package to
// another it depends on.
func importPath(all map[string]pkg, from, to string) []string {
	prev := map[string]string{from: ""}
	queue := []string{from}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		if p == to {
			var path []string
			for ; p != ""; p = prev[p] {
				path = append(path, p)
			}
			slices.Reverse(path)
			return path
		}
		for _, q := range all[p].Imports {
			if _, seen := prev[q]; !seen {
				prev[q] = p
				queue = append(queue, q)
			}
		}
	}
	return []string{from, "?", to}
}

// TestRulesCatchAnEdge checks the checker on a made-up graph: a forbidden
// import through another package is reported with its path and reason, an
// exception allows it, and an exception that allows nothing is reported.
func TestRulesCatchAnEdge(t *testing.T) {
	all := map[string]pkg{
		"vigil/internal/cloud":    {Imports: []string{"vigil/internal/x"}, Deps: []string{"vigil/internal/member", "vigil/internal/x"}},
		"vigil/internal/x":        {Imports: []string{"vigil/internal/member"}, Deps: []string{"vigil/internal/member"}},
		"vigil/internal/cloudapi": {},
		"vigil/internal/member":   {},
	}
	ours := []string{"vigil/internal/cloud", "vigil/internal/x", "vigil/internal/cloudapi", "vigil/internal/member"}
	r := rule{from: server, to: device, why: "the reason"}
	errs, _ := check(all, ours, []rule{r}, nil)
	want := "vigil/internal/cloud imports vigil/internal/member (vigil/internal/cloud -> vigil/internal/x -> vigil/internal/member): the reason"
	if len(errs) != 1 || errs[0] != want {
		t.Errorf("violations %q, want [%q]", errs, want)
	}
	allow := exception{from: []string{"vigil/internal/cloud"}, to: []string{"vigil/internal/member"}}
	stale := exception{from: []string{"vigil/internal/cloudapi"}, to: []string{"vigil/internal/member"}}
	errs, unused := check(all, ours, []rule{r}, []exception{allow, stale})
	if len(errs) != 0 || len(unused) != 1 || unused[0].from[0] != "vigil/internal/cloudapi" {
		t.Errorf("with exceptions: violations %q, unused %v; want none and the cloudapi one", errs, unused)
	}
	through := exception{from: []string{"vigil/internal/cloud"}, to: []string{"vigil/internal/member"}, indirect: true}
	if errs, unused := check(all, ours, []rule{r}, []exception{through}); len(errs) != 0 || len(unused) != 0 {
		t.Errorf("an indirect exception for an import through another package: violations %q, unused %v; want none", errs, unused)
	}
	direct := map[string]pkg{}
	for k, v := range all {
		direct[k] = v
	}
	direct["vigil/internal/cloud"] = pkg{Imports: []string{"vigil/internal/member"}, Deps: []string{"vigil/internal/member"}}
	if errs, unused := check(direct, ours, []rule{r}, []exception{through}); len(errs) != 1 || len(unused) != 1 {
		t.Errorf("an indirect exception for a direct import: violations %q, unused %v; want the import and the exception", errs, unused)
	}
	if match(server, "vigil/internal/cloudapi") || !match(server, "vigil/internal/cloud/store") {
		t.Error("vigil/internal/cloud/... must match cloud/store, not cloudapi")
	}
}
