package cli

import (
	"bytes"
	"context"
	"crypto/ecdh"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"vigil/internal/eventrec"
	"vigil/internal/member"
	"vigil/internal/notify/webpush"
	"vigil/internal/softcam"
)

// The front door's latency on loopback ('vigil bench door'): the demo with
// its camera as a doorbell (a real cloud, hub and software doorbell in this
// process), a Web Push service of its own on loopback, and headless
// Chromium as the household's phone.
//
//   - press to push: from the HTTP press on the doorbell's control endpoint
//     to the push service receiving the sealed payload (the ring's event
//     record, which the bench decrypts and opens as the phone would);
//   - doorbell audio to browser: from a tone burst's first packet leaving
//     the doorbell (softcam.Server.Burst) to the live page detecting the
//     tone with the Web Audio API (web/test/door-bench.mjs);
//   - talk mouth-to-speaker: from the page turning a tone burst on in its
//     microphone (a Web Audio tone generator standing in for getUserMedia;
//     the burst's first sample follows within one render buffer) through
//     the live view's talk button (PCMU in the session's SRTP), the hub's
//     talk queue and the RTSP back channel, to the packet in which the
//     doorbell hears the burst (softcam.BackChannelStats.LastOnset).

// Targets of the front door's latencies.
const (
	doorPushTarget  = time.Second
	doorAudioTarget = 400 * time.Millisecond
	doorTalkTarget  = 400 * time.Millisecond
)

// DoorLatency summarises one latency series.
type DoorLatency struct {
	N         int       `json:"n"`
	SamplesMs []float64 `json:"samples_ms,omitempty"`
	P50Ms     float64   `json:"p50_ms"`
	P95Ms     float64   `json:"p95_ms"`
	MaxMs     float64   `json:"max_ms"`
	TargetMs  float64   `json:"target_ms"`
	// Note says why the series was not measured (N is then 0).
	Note string `json:"note,omitempty"`
}

// DoorResult is what 'vigil bench door' measures.
type DoorResult struct {
	PressToPush    DoorLatency `json:"press_to_push"`
	AudioToBrowser DoorLatency `json:"audio_to_browser"`
	Talk           DoorLatency `json:"talk"`
}

func doorSummary(samples []time.Duration, target time.Duration) DoorLatency {
	l := DoorLatency{N: len(samples), TargetMs: doorMs(target)}
	if len(samples) == 0 {
		return l
	}
	s := slices.Clone(samples)
	slices.Sort(s)
	pct := func(p float64) float64 {
		i := int(math.Ceil(p/100*float64(len(s)))) - 1
		return doorMs(s[min(len(s)-1, max(0, i))])
	}
	for _, d := range samples {
		l.SamplesMs = append(l.SamplesMs, doorMs(d))
	}
	l.P50Ms, l.P95Ms, l.MaxMs = pct(50), pct(95), doorMs(s[len(s)-1])
	return l
}

func doorMs(d time.Duration) float64 { return math.Round(float64(d.Microseconds())/10) / 100 }

func benchDoor(e env, args []string) error {
	fs := newFlags(e, "bench door", "[--presses N] [--bursts N] [--talks N] [--interval D] [--web DIR] [--json]\n\n"+
		"Runs the demo with its camera as a doorbell and measures, on loopback: a press to its\n"+
		"Web Push payload delivered, the doorbell's audio to the browser, and talk from the\n"+
		"browser's microphone to the doorbell's back channel (headless Chromium).")
	presses := fs.Int("presses", 20, "presses to time (each waits for the doorbell's interval)")
	bursts := fs.Int("bursts", 20, "tone bursts to time from the doorbell to the browser")
	talks := fs.Int("talks", 20, "tone bursts to time from the browser's microphone to the doorbell (--bursts 0 --talks 0: no browser)")
	interval := fs.Duration("interval", time.Second, "the doorbell's least time between two rings")
	webDir := fs.String("web", "web", "the repository's web/ directory (the scripts and playwright-core)")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	verbose := fs.Bool("v", false, "service logs on stderr")
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	if *presses < 0 || *presses > 1000 || *bursts < 0 || *bursts > 1000 || *talks < 0 || *talks > 1000 {
		return fmt.Errorf("%w: --presses, --bursts and --talks must be between 0 and 1000", ErrUsage)
	}
	if *interval < time.Second {
		return fmt.Errorf("%w: --interval must be at least 1s (the hub's least doorbell interval)", ErrUsage)
	}
	script := filepath.Join(*webDir, "test", "door-bench.mjs")
	browser := *bursts > 0 || *talks > 0
	if browser {
		if _, err := os.Stat(script); err != nil {
			return fmt.Errorf("%s not found (hint: run from the repository root, pass --web DIR, or --bursts 0 --talks 0)", script)
		}
		if _, err := os.Stat(filepath.Join(*webDir, "node_modules", "playwright-core")); err != nil {
			return fmt.Errorf("playwright-core is not installed in %s (hint: 'make web')", *webDir)
		}
		if _, err := exec.LookPath("node"); err != nil {
			return errors.New("needs Node.js for the browser (hint: sudo apt-get install -y nodejs, or --bursts 0 --talks 0)")
		}
	}
	level := slog.LevelError
	if *verbose {
		level = slog.LevelDebug
	}
	ctx, stop := signal.NotifyContext(e.ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	tmp, err := os.MkdirTemp("", "vigil-bench-door-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	progress := e.stderr
	d, err := StartDemo(ctx, DemoOptions{Data: tmp, Listen: "127.0.0.1:0", NoDetect: true, PushLoopback: true,
		Doorbell: &DemoDoorbell{Interval: *interval, Bursts: true}, Progress: progress, Logger: newLogger(e.stderr, level)})
	if err != nil {
		return err
	}
	defer d.Close()

	var res DoorResult
	if *presses > 0 {
		samples, err := d.benchPresses(ctx, progress, *presses, *interval)
		if err != nil {
			return fmt.Errorf("press to push: %w", err)
		}
		res.PressToPush = doorSummary(samples, doorPushTarget)
	} else {
		res.PressToPush = DoorLatency{TargetMs: doorMs(doorPushTarget), Note: "--presses 0"}
	}
	res.AudioToBrowser = DoorLatency{TargetMs: doorMs(doorAudioTarget), Note: "--bursts 0"}
	res.Talk = DoorLatency{TargetMs: doorMs(doorTalkTarget), Note: "--talks 0"}
	if browser {
		audio, talk, err := d.benchBrowser(ctx, progress, script, *bursts, *talks)
		if err != nil {
			return fmt.Errorf("the browser: %w", err)
		}
		if *bursts > 0 {
			res.AudioToBrowser = doorSummary(audio, doorAudioTarget)
		}
		if *talks > 0 {
			res.Talk = doorSummary(talk, doorTalkTarget)
		}
	}

	if *asJSON {
		b, _ := json.Marshal(res)
		fmt.Fprintln(e.stdout, string(b))
		return nil
	}
	fmt.Fprintln(e.stdout, "front door on loopback (vigil demo --doorbell, own push service, headless Chromium):")
	for _, r := range []struct {
		name string
		l    DoorLatency
		unit string
	}{
		{"press to push payload delivered", res.PressToPush, "presses"},
		{"doorbell audio to browser", res.AudioToBrowser, "bursts"},
		{"talk mouth-to-speaker", res.Talk, "talks"},
	} {
		if r.l.N == 0 {
			fmt.Fprintf(e.stdout, "  %-34s not measured: %s   (target p95 <= %.0f ms)\n", r.name, r.l.Note, r.l.TargetMs)
			continue
		}
		verdict := "ok"
		if r.l.P95Ms > r.l.TargetMs {
			verdict = "OVER TARGET"
		}
		fmt.Fprintf(e.stdout, "  %-34s p50 %.0f ms, p95 %.0f ms, max %.0f ms over %d %s   (target p95 <= %.0f ms: %s)\n",
			r.name, r.l.P50Ms, r.l.P95Ms, r.l.MaxMs, r.l.N, r.unit, r.l.TargetMs, verdict)
	}
	return nil
}

// doorPush is one delivery at the bench's push service.
type doorPush struct {
	at   time.Time
	body []byte
}

// benchPresses presses the doorbell n times, one ring per interval, and
// times each press to its push's arrival.
func (d *Demo) benchPresses(ctx context.Context, progress io.Writer, n int, interval time.Duration) ([]time.Duration, error) {
	// The household's phone: a push subscription at a push service on
	// loopback.
	ua, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	authSecret := make([]byte, 16)
	rand.Read(authSecret)
	deliveries := make(chan doorPush, 64)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	hs := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
		at := time.Now()
		if err != nil {
			http.Error(w, "read", http.StatusBadRequest)
			return
		}
		select {
		case deliveries <- doorPush{at, b}:
		default:
		}
		w.WriteHeader(http.StatusCreated)
	})}
	served := make(chan struct{})
	go func() {
		defer close(served)
		hs.Serve(ln)
	}()
	defer func() {
		hs.Close()
		<-served
	}()
	if err := d.c.SubscribePush(ctx, d.HouseholdID, "http://"+ln.Addr().String()+"/push/bench", ua.PublicKey().Bytes(), authSecret); err != nil {
		return nil, fmt.Errorf("push subscription: %w", err)
	}
	h, err := d.prof.household(d.HouseholdID)
	if err != nil {
		return nil, err
	}
	genesis, _ := hex.DecodeString(h.GenesisHash)
	vs, err := member.VerifiedChain(ctx, d.c, d.HouseholdID, genesis)
	if err != nil {
		return nil, err
	}
	ids, err := vs.EpochIdentities(d.admin)
	if err != nil {
		return nil, err
	}
	// ring waits, until deadline, for the push of a ring pressed at or
	// after pressed: a push of an earlier ring (a warm-up press whose push
	// came late, the ring having waited for the camera's first frame for its
	// snapshot) is not this press's.
	ring := func(pressed, deadline time.Time) (time.Time, error) {
		for {
			select {
			case p := <-deliveries:
				plain, err := webpush.Decrypt(p.body, ua, authSecret)
				if err != nil {
					return time.Time{}, fmt.Errorf("a push the phone cannot decrypt: %w", err)
				}
				r, _, err := eventrec.Open(plain, vs.TrustedHubs(), ids...)
				if err != nil {
					return time.Time{}, fmt.Errorf("a pushed event record the household cannot open: %w", err)
				}
				if len(r.Labels) == 1 && r.Labels[0] == "ring" && !r.Start.Before(pressed) {
					return p.at, nil
				}
			case <-time.After(time.Until(deadline)):
				return time.Time{}, errDoorTimeout
			case <-ctx.Done():
				return time.Time{}, ctx.Err()
			}
		}
	}
	ctl := "http://" + d.bell.ControlAddr() + "/press"
	press := func() (time.Time, error) {
		t0 := time.Now()
		resp, err := http.Post(ctl, "", nil)
		if err != nil {
			return t0, err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return t0, fmt.Errorf("press: %s", resp.Status)
		}
		return t0, nil
	}

	// Warm up: the hub subscribes to the doorbell's events and decodes its
	// first frames (for the snapshot) after it starts; a press before that
	// rings nobody, so press until one ring arrives.
	fmt.Fprintln(progress, "  waiting for the first ring (the hub subscribing to the doorbell's events)…")
	warm := time.Now().Add(2 * time.Minute)
	for {
		t0, err := press()
		if err != nil {
			return nil, err
		}
		_, err = ring(t0, time.Now().Add(interval+3*time.Second))
		if err == nil {
			break
		}
		if !errors.Is(err, errDoorTimeout) || time.Now().After(warm) {
			return nil, fmt.Errorf("no ring within 2 minutes: %w", err)
		}
	}
	last := time.Now()
	var out []time.Duration
	for i := range n {
		// Past the interval since the last ring, so that this press rings.
		if wait := time.Until(last.Add(interval + 50*time.Millisecond)); wait > 0 {
			select {
			case <-time.After(wait):
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		t0, err := press()
		if err != nil {
			return nil, err
		}
		last = t0
		at, err := ring(t0, t0.Add(30*time.Second))
		if err != nil {
			return nil, fmt.Errorf("press %d: %w", i+1, err)
		}
		out = append(out, at.Sub(t0))
		fmt.Fprintf(progress, "  press %d/%d: push delivered after %.0f ms\n", i+1, n, doorMs(at.Sub(t0)))
	}
	return out, nil
}

var errDoorTimeout = errors.New("timed out")

// benchBrowser opens the doorbell's live view in headless Chromium through
// the demo's sign-in link, times bursts tone bursts from the doorbell to the
// page, then talks and times talks tone bursts from the page's microphone
// to the doorbell's back channel (web/test/door-bench.mjs).
func (d *Demo) benchBrowser(ctx context.Context, progress io.Writer, script string, bursts, talks int) (audio, talk []time.Duration, err error) {
	u, err := d.SignInURL(ctx)
	if err != nil {
		return nil, nil, err
	}
	absScript, err := filepath.Abs(script)
	if err != nil {
		return nil, nil, err
	}
	cmd := exec.CommandContext(ctx, "node", absScript)
	cmd.Dir = filepath.Dir(filepath.Dir(absScript))
	cmd.Env = append(os.Environ(), "DEMO_URL="+u, "CONTROL_URL=http://"+d.bell.ControlAddr(), "CAMERA=front",
		fmt.Sprintf("BURSTS=%d", bursts), fmt.Sprintf("TALKS=%d", talks), fmt.Sprintf("AUDIO_HZ=%d", softcam.ToneHz))
	if os.Getenv("CHROMIUM") == "" {
		cmd.Env = append(cmd.Env, "CHROMIUM=/usr/bin/chromium")
	}
	var stdout bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, progress
	fmt.Fprintln(progress, "  opening the doorbell's live view in headless Chromium…")
	if err := cmd.Run(); err != nil {
		return nil, nil, fmt.Errorf("door-bench.mjs: %w", err)
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	var m struct {
		LatencyMs []float64 `json:"latencyMs"`
		TalkMs    []float64 `json:"talkMs"`
	}
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &m); err != nil || len(m.LatencyMs) != bursts || len(m.TalkMs) != talks {
		return nil, nil, fmt.Errorf("door-bench.mjs printed no result: %q", lines[len(lines)-1])
	}
	ms := func(v []float64) []time.Duration {
		out := make([]time.Duration, len(v))
		for i, x := range v {
			out[i] = time.Duration(x * float64(time.Millisecond))
		}
		return out
	}
	return ms(m.LatencyMs), ms(m.TalkMs), nil
}
