package main

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/base32"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"vigil/internal/client"
	"vigil/internal/cloud/auth"
	"vigil/internal/envelope"
	"vigil/internal/keydir"
	"vigil/internal/member"
	"vigil/internal/vigiltest"
)

// startCloudProcess runs 'vigil cloud' on a free loopback port and returns
// its URL.
func startCloudProcess(t *testing.T, dir string) string {
	t.Helper()
	cfgPath := filepath.Join(dir, "cloud.yaml")
	os.WriteFile(cfgPath, []byte("listen: 127.0.0.1:0\ndata: cloud-data\n"), 0o600)
	cmd := exec.Command(vigilBin, "cloud", "--config", cfgPath)
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	})
	urlRE := regexp.MustCompile(`msg="cloud serving" url=(\S+)`)
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := urlRE.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case found <- m[1]:
				default:
				}
			}
		}
	}()
	select {
	case u := <-found:
		return u
	case <-time.After(20 * time.Second):
		t.Fatal("the cloud did not start")
	}
	return ""
}

// TestCloudEndToEnd drives the documented flow with the real binary:
// software camera -> hub -> cloud -> 'vigil recordings export --cloud' ->
// ffprobe plays it, and it is the same file as the hub's local export. Then
// the G2 insider scan: every file under the cloud's data directory and every
// column of every table holds no media, no private key and no epoch key in
// the clear.
func TestCloudEndToEnd(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cloudURL := startCloudProcess(t, dir)
	profile := filepath.Join(dir, "alice")
	pwFile := filepath.Join(dir, "pw")
	os.WriteFile(pwFile, []byte("a long enough password\n"), 0o600)

	out, stderr, err := vigil(t, "signup", "--cloud", cloudURL, "--email", "alice@example.com", "--password-file", pwFile)
	if err != nil {
		t.Fatalf("signup: %v\n%s", err, stderr)
	}
	m := regexp.MustCompile(`secret: (\S+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no TOTP secret in:\n%s", out)
	}
	secret, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(m[1])
	if err != nil {
		t.Fatal(err)
	}
	// The password alone does not sign in.
	if _, stderr, err := vigil(t, "login", "--cloud", cloudURL, "--email", "alice@example.com", "--password-file", pwFile, "--profile", profile); err == nil {
		t.Fatalf("login without --totp succeeded: %s", stderr)
	}
	if _, stderr, err := vigil(t, "login", "--cloud", cloudURL, "--email", "alice@example.com", "--password-file", pwFile,
		"--totp", auth.TOTPCode(secret, time.Now()), "--profile", profile); err != nil {
		t.Fatalf("login: %v\n%s", err, stderr)
	}
	out, stderr, err = vigil(t, "household", "create", "--name", "Home", "--device-name", "laptop", "--profile", profile)
	if err != nil {
		t.Fatalf("household create: %v\n%s", err, stderr)
	}
	phrase := strings.TrimSpace(regexp.MustCompile(`(?m)^\s{4}(\S.*)$`).FindStringSubmatch(out)[1])

	// A local household identity too, so the hub's local export can be
	// compared with the cloud's.
	idFile := filepath.Join(dir, "household.id")
	rcpt, _, err := vigil(t, "keys", "new", "-o", idFile)
	if err != nil {
		t.Fatal(err)
	}
	cam := vigiltest.StartCamera(t, "127.0.0.1:0", "cam")
	hubData := filepath.Join(dir, "hub-data")
	cfgPath := filepath.Join(dir, "hub.yaml")
	os.WriteFile(cfgPath, []byte(fmt.Sprintf("data: %s\nrecipients: [%q]\ncameras:\n  - name: front\n    url: %s\n    transport: tcp\nsegment_duration: 1s\ncloud:\n  url: %s\n",
		hubData, strings.TrimSpace(rcpt), cam.URL("cam"), cloudURL)), 0o600)

	// Pair: the hub shows a code, the member enters it.
	pairCmd := exec.Command(vigilBin, "hub", "pair", "--config", cfgPath)
	pairOut, _ := pairCmd.StdoutPipe()
	var pairErr bytes.Buffer
	pairCmd.Stderr = &pairErr
	if err := pairCmd.Start(); err != nil {
		t.Fatal(err)
	}
	codeRE := regexp.MustCompile(`pairing code: (\S+)`)
	sc := bufio.NewScanner(pairOut)
	var code string
	for sc.Scan() {
		if m := codeRE.FindStringSubmatch(sc.Text()); m != nil {
			code = m[1]
			break
		}
	}
	go io.Copy(io.Discard, pairOut)
	if code == "" {
		pairCmd.Wait()
		t.Fatalf("no pairing code shown: %s", pairErr.String())
	}
	if _, stderr, err := vigil(t, "household", "pair-hub", code, "--profile", profile); err != nil {
		t.Fatalf("pair-hub: %v\n%s", err, stderr)
	}
	if err := pairCmd.Wait(); err != nil {
		t.Fatalf("hub pair: %v\n%s", err, pairErr.String())
	}

	// Record, uploading as it goes.
	hub := exec.Command(vigilBin, "hub", "--config", cfgPath)
	var hubLog bytes.Buffer
	hub.Stderr = &hubLog
	if err := hub.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(12 * time.Second)
	hub.Process.Signal(syscall.SIGINT)
	if err := hub.Wait(); err != nil {
		t.Fatalf("hub: %v\n%s", err, hubLog.String())
	}

	// What is in the cloud (the last segment may still be queued on the hub).
	out, stderr, err = vigil(t, "recordings", "list", "--cloud", cloudURL, "--profile", profile, "--json")
	if err != nil {
		t.Fatalf("list --cloud: %v\n%s", err, stderr)
	}
	var first, last time.Time
	n := 0
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var o struct{ Start, End time.Time }
		if err := jsonUnmarshal(line, &o); err != nil {
			t.Fatalf("list line %q: %v", line, err)
		}
		if first.IsZero() || o.Start.Before(first) {
			first = o.Start
		}
		if o.End.After(last) {
			last = o.End
		}
		n++
	}
	if n < 4 {
		t.Fatalf("only %d segments reached the cloud:\n%s", n, hubLog.String())
	}
	from, to := first.Format(time.RFC3339Nano), last.Format(time.RFC3339Nano)
	cloudClip := filepath.Join(dir, "cloud.mp4")
	localClip := filepath.Join(dir, "local.mp4")
	if _, stderr, err := vigil(t, "recordings", "export", "--cloud", cloudURL, "--profile", profile, "--camera", "front",
		"--from", from, "--to", to, "-o", cloudClip); err != nil {
		t.Fatalf("export --cloud: %v\n%s", err, stderr)
	}
	if _, stderr, err := vigil(t, "recordings", "export", "--data", hubData, "--identity", idFile, "--camera", "front",
		"--from", from, "--to", to, "-o", localClip); err != nil {
		t.Fatalf("local export: %v\n%s", err, stderr)
	}
	a, _ := os.ReadFile(cloudClip)
	b, _ := os.ReadFile(localClip)
	if len(a) == 0 || !bytes.Equal(a, b) {
		t.Fatalf("the cloud export (%d bytes) differs from the hub's local export (%d bytes)", len(a), len(b))
	}
	p := vigiltest.FFprobe(t, cloudClip, "v:0")
	if p["codec_name"] != "h264" {
		t.Errorf("cloud export: %v", p)
	}
	t.Logf("%d segments via the cloud: %s, %s frames, %s s, identical to the local export", n, p["codec_name"], p["nb_read_frames"], p["duration"])

	// A second device of the same person: it shows its identity, the admin
	// device adds it to the chain, it joins with the genesis the admin reads
	// out, and it opens the footage with its own keys.
	phone := filepath.Join(dir, "phone")
	if _, stderr, err := vigil(t, "login", "--cloud", cloudURL, "--email", "alice@example.com", "--password-file", pwFile,
		"--totp", auth.TOTPCode(secret, time.Now().Add(30*time.Second)), "--profile", phone); err != nil {
		t.Fatalf("second device login: %v\n%s", err, stderr)
	}
	devID, _, err := vigil(t, "device", "id", "--profile", phone)
	if err != nil {
		t.Fatal(err)
	}
	out, _, _ = vigil(t, "household", "list", "--profile", profile)
	fields := strings.Fields(out)
	if len(fields) < 4 || fields[2] != "genesis" {
		t.Fatalf("household list: %q", out)
	}
	hhID, genesisHex := fields[0], fields[3]
	if _, stderr, err := vigil(t, "household", "join", hhID, "--genesis", genesisHex, "--profile", phone); err == nil {
		t.Fatalf("a device not in the chain joined: %s", stderr)
	}
	if _, stderr, err := vigil(t, "household", "add-device", strings.TrimSpace(devID), "--name", "phone", "--profile", profile); err != nil {
		t.Fatalf("add-device: %v\n%s", err, stderr)
	}
	if _, stderr, err := vigil(t, "household", "join", hhID, "--genesis", genesisHex, "--profile", phone); err != nil {
		t.Fatalf("join: %v\n%s", err, stderr)
	}
	phoneClip := filepath.Join(dir, "phone.mp4")
	if _, stderr, err := vigil(t, "recordings", "export", "--cloud", cloudURL, "--profile", phone, "--camera", "front",
		"--from", from, "--to", to, "-o", phoneClip); err != nil {
		t.Fatalf("export from the second device: %v\n%s", err, stderr)
	}
	if c, _ := os.ReadFile(phoneClip); !bytes.Equal(c, a) {
		t.Error("the second device's export differs")
	}

	// Another person's account joins the household's accounts: a change
	// only an admin device signs (the phone is a member device).
	if _, stderr, err := vigil(t, "signup", "--cloud", cloudURL, "--email", "bob@example.com", "--password-file", pwFile); err != nil {
		t.Fatalf("signup bob: %v\n%s", err, stderr)
	}
	if _, stderr, err := vigil(t, "household", "invite", "bob@example.com", "--profile", phone); err == nil || !strings.Contains(stderr, "only an admin device") {
		t.Errorf("a member device signed an invite: %v\n%s", err, stderr)
	}
	if out, stderr, err := vigil(t, "household", "invite", " Bob@Example.com", "--profile", profile); err != nil || !strings.Contains(out, "bob@example.com can now see") {
		t.Errorf("household invite: %v\n%s%s", err, out, stderr)
	}

	// G2 insider scan.
	keys, err := keydir.ParseDeviceKeys(mustRead(t, filepath.Join(profile, "device.key")))
	if err != nil {
		t.Fatal(err)
	}
	epochKeys := epochPrivateKeys(t, cloudURL, profile, keys)
	secrets := map[string][]byte{
		"device signing key":  keys.Sign.Seed(),
		"device box key":      keys.Box.Bytes(),
		"device key file":     bytes.TrimSpace(mustRead(t, filepath.Join(profile, "device.key"))),
		"hub signing key":     bytes.TrimSpace(mustRead(t, filepath.Join(hubData, "hub.key"))),
		"household identity":  []byte("VIGIL-IDENTITY"),
		"signing key string":  []byte("VIGIL-SIGNER"),
		"recovery phrase":     []byte(phrase),
		"recovery phrase raw": []byte(strings.ReplaceAll(phrase, "-", "")),
	}
	for i, k := range epochKeys {
		secrets[fmt.Sprintf("epoch %d private key", i)] = k
	}
	var leaks vigiltest.LeakScan
	for what, b := range secrets {
		leaks.Secret(what, b)
	}
	if leaks.Plaintext("exported footage", a) == 0 {
		t.Fatal("no sample of the exported footage to scan for")
	}
	scanCloud(t, filepath.Join(dir, "cloud-data"), &leaks)
}

func jsonUnmarshal(s string, v any) error {
	return jsonDecoder(strings.NewReader(s)).Decode(v)
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// epochPrivateKeys unwraps the household's epoch keys as the member device
// can, so the scan can look for them.
func epochPrivateKeys(t *testing.T, cloudURL, profile string, k *keydir.DeviceKeys) [][]byte {
	t.Helper()
	var sess struct{ Token string }
	if err := jsonUnmarshal(string(mustRead(t, filepath.Join(profile, "session.json"))), &sess); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(filepath.Join(profile, "households"))
	var pin struct {
		HouseholdID string `json:"household_id"`
		GenesisHash string `json:"genesis_hash"`
	}
	jsonUnmarshal(string(mustRead(t, filepath.Join(profile, "households", entries[0].Name()))), &pin)
	g, _ := hex.DecodeString(pin.GenesisHash)
	c := client.New(cloudURL)
	c.Token = sess.Token
	st, err := member.VerifiedChain(context.Background(), c, pin.HouseholdID, g)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := st.EpochIdentities(k)
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for _, id := range ids {
		if x, ok := id.(*envelope.X25519Identity); ok {
			out = append(out, x.Bytes())
		}
	}
	if len(out) == 0 {
		t.Fatal("no epoch key")
	}
	return out
}

// scanCloud reads every file under dir and every column of every table of
// its SQLite database and fails on media, known plaintext or a secret in the
// clear.
func scanCloud(t *testing.T, dir string, leaks *vigiltest.LeakScan) {
	t.Helper()
	check := func(where string, b []byte) {
		for _, f := range leaks.Check(where, b) {
			t.Error(f)
		}
	}
	var files, bytesScanned int
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		files++
		bytesScanned += len(b)
		check(path, b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "cloud.db")+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT name FROM sqlite_master WHERE type = 'table'`)
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var n string
		rows.Scan(&n)
		tables = append(tables, n)
	}
	rows.Close()
	cells := 0
	for _, table := range tables {
		rs, err := db.Query(`SELECT * FROM "` + table + `"`)
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rs.Columns()
		for rs.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rs.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			for i, v := range vals {
				var b []byte
				switch x := v.(type) {
				case []byte:
					b = x
				case string:
					b = []byte(x)
				default:
					b = []byte(fmt.Sprint(x))
				}
				cells++
				check(fmt.Sprintf("table %s column %s", table, cols[i]), b)
			}
		}
		rs.Close()
	}
	if files < 5 || cells < 20 {
		t.Fatalf("scanned only %d files and %d cells; the cloud holds nothing?", files, cells)
	}
	t.Logf("G2 scan: %d files (%d bytes) and %d cells in %d tables: no media, no footage, no private key, no epoch key in the clear", files, bytesScanned, cells, len(tables))
}

func jsonDecoder(r io.Reader) *json.Decoder { return json.NewDecoder(r) }
