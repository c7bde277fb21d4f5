package bench

import (
	"bytes"
	"context"
	"crypto/ecdh"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"vigil/internal/envelope"
	"vigil/internal/eventrec"
	"vigil/internal/notify/webpush"
	"vigil/internal/softcam"
)

// The front door's latency on loopback ('vigil bench door'): the demo with
// its camera as a doorbell (a real cloud, hub and software doorbell), a Web
// Push service of its own on loopback (PushPhone), and headless Chromium
// as the household's phone (DoorBrowser).
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
	DoorPushTarget  = time.Second
	DoorAudioTarget = 400 * time.Millisecond
	DoorTalkTarget  = 400 * time.Millisecond
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

// DoorSummary summarises samples against target.
func DoorSummary(samples []time.Duration, target time.Duration) DoorLatency {
	l := DoorLatency{N: len(samples), TargetMs: DoorMs(target)}
	if len(samples) == 0 {
		return l
	}
	s := slices.Clone(samples)
	slices.Sort(s)
	pct := func(p float64) float64 {
		i := int(math.Ceil(p/100*float64(len(s)))) - 1
		return DoorMs(s[min(len(s)-1, max(0, i))])
	}
	for _, d := range samples {
		l.SamplesMs = append(l.SamplesMs, DoorMs(d))
	}
	l.P50Ms, l.P95Ms, l.MaxMs = pct(50), pct(95), DoorMs(s[len(s)-1])
	return l
}

// DoorMs is d in milliseconds, to two decimals.
func DoorMs(d time.Duration) float64 { return math.Round(float64(d.Microseconds())/10) / 100 }

// errDoorTimeout is a ring that did not come in time.
var errDoorTimeout = errors.New("timed out")

// doorPush is one delivery at the phone's push service.
type doorPush struct {
	at   time.Time
	body []byte
}

// PushPhone is the household's phone for the bench: a Web Push service
// on loopback with a subscription's keys, which decrypts each push and
// opens the ring's event record as the phone would.
type PushPhone struct {
	ua         *ecdh.PrivateKey
	authSecret []byte
	deliveries chan doorPush
	srv        *http.Server
	url        string
	wg         sync.WaitGroup
}

// NewPushPhone starts the push service; Close stops it and waits.
func NewPushPhone() (*PushPhone, error) {
	ua, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	p := &PushPhone{ua: ua, authSecret: make([]byte, 16), deliveries: make(chan doorPush, 64)}
	rand.Read(p.authSecret)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p.url = "http://" + ln.Addr().String() + "/push/bench"
	p.srv = &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
		at := time.Now()
		if err != nil {
			http.Error(w, "read", http.StatusBadRequest)
			return
		}
		select {
		case p.deliveries <- doorPush{at, b}:
		default:
		}
		w.WriteHeader(http.StatusCreated)
	})}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		p.srv.Serve(ln)
	}()
	return p, nil
}

// Subscription is the endpoint and keys to subscribe the phone with.
func (p *PushPhone) Subscription() (endpoint string, p256dh, auth []byte) {
	return p.url, p.ua.PublicKey().Bytes(), p.authSecret
}

// Close stops the push service and waits for it.
func (p *PushPhone) Close() {
	p.srv.Close()
	p.wg.Wait()
}

// ring waits, until deadline, for the push of a ring pressed at or after
// pressed: a push of an earlier ring (a warm-up press whose push came
// late, the ring having waited for the camera's first frame for its
// snapshot) is not this press's.
func (p *PushPhone) ring(ctx context.Context, pressed, deadline time.Time, hubs envelope.Verifier, ids []envelope.Identity) (time.Time, error) {
	for {
		select {
		case d := <-p.deliveries:
			plain, err := webpush.Decrypt(d.body, p.ua, p.authSecret)
			if err != nil {
				return time.Time{}, fmt.Errorf("a push the phone cannot decrypt: %w", err)
			}
			r, _, err := eventrec.Open(plain, hubs, ids...)
			if err != nil {
				return time.Time{}, fmt.Errorf("a pushed event record the household cannot open: %w", err)
			}
			if len(r.Labels) == 1 && r.Labels[0] == "ring" && !r.Start.Before(pressed) {
				return d.at, nil
			}
		case <-time.After(time.Until(deadline)):
			return time.Time{}, errDoorTimeout
		case <-ctx.Done():
			return time.Time{}, ctx.Err()
		}
	}
}

// Presses presses the doorbell at control (its POST /press URL) n times,
// one ring per interval, and times each press to its push's arrival at
// the phone; hubs and ids open the rings' event records. It first presses
// until one ring arrives: the hub subscribes to the doorbell's events and
// decodes its first frames (for the snapshot) after it starts, and a press
// before that rings nobody.
func (p *PushPhone) Presses(ctx context.Context, progress io.Writer, control string, n int, interval time.Duration, hubs envelope.Verifier, ids []envelope.Identity) ([]time.Duration, error) {
	press := func() (time.Time, error) {
		t0 := time.Now()
		resp, err := http.Post(control, "", nil)
		if err != nil {
			return t0, err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return t0, fmt.Errorf("press: %s", resp.Status)
		}
		return t0, nil
	}
	fmt.Fprintln(progress, "  waiting for the first ring (the hub subscribing to the doorbell's events)…")
	warm := time.Now().Add(2 * time.Minute)
	for {
		t0, err := press()
		if err != nil {
			return nil, err
		}
		_, err = p.ring(ctx, t0, time.Now().Add(interval+3*time.Second), hubs, ids)
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
		at, err := p.ring(ctx, t0, t0.Add(30*time.Second), hubs, ids)
		if err != nil {
			return nil, fmt.Errorf("press %d: %w", i+1, err)
		}
		out = append(out, at.Sub(t0))
		fmt.Fprintf(progress, "  press %d/%d: push delivered after %.0f ms\n", i+1, n, DoorMs(at.Sub(t0)))
	}
	return out, nil
}

// DoorBrowser opens the doorbell's live view in headless Chromium through
// the sign-in link signIn, times bursts tone bursts from the doorbell
// (control: its control endpoint's host:port) to the page, then talks and
// times talks tone bursts from the page's microphone to the doorbell's
// back channel (script: web/test/door-bench.mjs).
func DoorBrowser(ctx context.Context, progress io.Writer, script, signIn, control string, bursts, talks int) (audio, talk []time.Duration, err error) {
	absScript, err := filepath.Abs(script)
	if err != nil {
		return nil, nil, err
	}
	cmd := exec.CommandContext(ctx, "node", absScript)
	cmd.Dir = filepath.Dir(filepath.Dir(absScript))
	cmd.Env = append(os.Environ(), "DEMO_URL="+signIn, "CONTROL_URL=http://"+control, "CAMERA=front",
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
