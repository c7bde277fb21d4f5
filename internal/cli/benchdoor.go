package cli

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"vigil/internal/bench"
	"vigil/internal/member"
)

// benchDoor measures the front door's latencies on loopback (bench/door.go
// says what each is): it runs the demo with its camera as a doorbell, a
// push service of its own (bench.PushPhone) and headless Chromium
// (bench.DoorBrowser), and prints the figures.
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

	var res bench.DoorResult
	if *presses > 0 {
		samples, err := d.benchPresses(ctx, progress, *presses, *interval)
		if err != nil {
			return fmt.Errorf("press to push: %w", err)
		}
		res.PressToPush = bench.DoorSummary(samples, bench.DoorPushTarget)
	} else {
		res.PressToPush = bench.DoorLatency{TargetMs: bench.DoorMs(bench.DoorPushTarget), Note: "--presses 0"}
	}
	res.AudioToBrowser = bench.DoorLatency{TargetMs: bench.DoorMs(bench.DoorAudioTarget), Note: "--bursts 0"}
	res.Talk = bench.DoorLatency{TargetMs: bench.DoorMs(bench.DoorTalkTarget), Note: "--talks 0"}
	if browser {
		audio, talk, err := d.benchBrowser(ctx, progress, script, *bursts, *talks)
		if err != nil {
			return fmt.Errorf("the browser: %w", err)
		}
		if *bursts > 0 {
			res.AudioToBrowser = bench.DoorSummary(audio, bench.DoorAudioTarget)
		}
		if *talks > 0 {
			res.Talk = bench.DoorSummary(talk, bench.DoorTalkTarget)
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
		l    bench.DoorLatency
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

// benchPresses subscribes a phone (bench.PushPhone) to the demo
// household's pushes, presses the doorbell n times, one ring per interval,
// and times each press to its push's arrival.
func (d *Demo) benchPresses(ctx context.Context, progress io.Writer, n int, interval time.Duration) ([]time.Duration, error) {
	phone, err := bench.NewPushPhone()
	if err != nil {
		return nil, err
	}
	defer phone.Close()
	endpoint, p256dh, auth := phone.Subscription()
	if err := d.c.SubscribePush(ctx, d.HouseholdID, endpoint, p256dh, auth); err != nil {
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
	return phone.Presses(ctx, progress, "http://"+d.bell.ControlAddr()+"/press", n, interval, vs.TrustedHubs(), ids)
}

// benchBrowser opens the doorbell's live view in headless Chromium through
// the demo's sign-in link and times the doorbell's audio and talk
// (bench.DoorBrowser).
func (d *Demo) benchBrowser(ctx context.Context, progress io.Writer, script string, bursts, talks int) (audio, talk []time.Duration, err error) {
	u, err := d.SignInURL(ctx)
	if err != nil {
		return nil, nil, err
	}
	return bench.DoorBrowser(ctx, progress, script, u, d.bell.ControlAddr(), bursts, talks)
}
