// Package audioenc encodes a camera's audio to Opus with one ffmpeg
// process: the audio goes in on ffmpeg's stdin (AAC in ADTS, or G.711),
// Opus comes out as Ogg on its stdout, and this package cuts it into
// packets. It owns that process, its pipes and the parsing of its output.
//
// It must never block its caller: writes are queued and dropped when the
// queue is full, so a stalled or crashed ffmpeg never holds up a camera's
// video or recording. It never logs, and never keeps more of ffmpeg's
// messages than one bounded line, nor any audio.
package audioenc

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"sync"
	"time"

	"vigil/internal/proctail"
)

// Input formats: ffmpeg's options for the audio written to an Encoder.
var (
	// ADTS is AAC with ADTS headers, as mpeg4audio.ADTSPackets marshals it.
	ADTS = []string{"-f", "aac"}
)

// G711 is G.711 at 8 kHz mono: µ-law ("PCMU") or A-law ("PCMA").
func G711(codec string) []string {
	f := "mulaw"
	if codec == "PCMA" {
		f = "alaw"
	}
	return []string{"-f", f, "-ar", "8000", "-ac", "1"}
}

const (
	// DefaultQueue is the number of writes waiting for ffmpeg when
	// Config.Queue is 0.
	DefaultQueue = 32
	// stderrTail bounds what is kept of ffmpeg's messages.
	stderrTail = 512
	// bitrate is the Opus bit rate (speech, mono).
	bitrate = "32k"
)

// Config configures an Encoder.
type Config struct {
	// FFmpeg is the ffmpeg to run: a name in PATH or a path; "" means
	// "ffmpeg".
	FFmpeg string
	// Input is ffmpeg's options for the audio written (ADTS, G711(...)).
	Input []string
	// Queue bounds the writes waiting for ffmpeg; 0 means DefaultQueue.
	Queue int
	// Packet receives each Opus packet and its length in 48 kHz samples,
	// in order, from the Encoder's goroutine. It must not keep p.
	Packet func(p []byte, samples int)
}

// Encoder is one running ffmpeg.
type Encoder struct {
	in     chan []byte
	cancel context.CancelFunc
	done   chan struct{}
	err    error // set before done is closed
}

// ErrEnded: ffmpeg ended by itself (crashed, or stopped reading).
var ErrEnded = errors.New("audioenc: ffmpeg ended")

// Start starts ffmpeg in the background; Done says when it has ended.
func Start(cfg Config) *Encoder {
	if cfg.FFmpeg == "" {
		cfg.FFmpeg = "ffmpeg"
	}
	if cfg.Queue <= 0 {
		cfg.Queue = DefaultQueue
	}
	ctx, cancel := context.WithCancel(context.Background())
	e := &Encoder{in: make(chan []byte, cfg.Queue), cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(e.done)
		defer cancel()
		e.err = e.run(ctx, cfg)
	}()
	return e
}

// Write queues b (a copy is not made: b must not change) for ffmpeg. It
// never blocks: it reports false when b was dropped (the queue is full or
// ffmpeg has ended).
func (e *Encoder) Write(b []byte) bool {
	select {
	case <-e.done:
		return false
	default:
	}
	select {
	case e.in <- b:
		return true
	default:
		return false
	}
}

// Done is closed when ffmpeg has ended and the Encoder's goroutines have
// returned.
func (e *Encoder) Done() <-chan struct{} { return e.done }

// Err returns, once Done is closed, why ffmpeg ended: nil when Stop or
// Close ended it, else an error wrapping ErrEnded or saying what ffmpeg
// wrote that was not Ogg, with the last line ffmpeg printed.
func (e *Encoder) Err() error {
	<-e.done
	return e.err
}

// Stop kills ffmpeg without waiting.
func (e *Encoder) Stop() { e.cancel() }

// Close kills ffmpeg and waits for it.
func (e *Encoder) Close() error {
	e.cancel()
	<-e.done
	return nil
}

func (e *Encoder) run(ctx context.Context, cfg Config) error {
	args := []string{"-hide_banner", "-nostats", "-loglevel", "error", "-nostdin",
		"-fflags", "nobuffer", "-probesize", "32", "-analyzeduration", "0"}
	args = append(args, cfg.Input...)
	args = append(args, "-i", "pipe:0",
		"-vn", "-c:a", "libopus", "-b:a", bitrate, "-application", "lowdelay", "-frame_duration", "20",
		"-f", "ogg", "-page_duration", "20000", "-flush_packets", "1", "pipe:1")
	cmd := exec.CommandContext(ctx, cfg.FFmpeg, args...)
	cmd.WaitDelay = time.Second
	tail := proctail.New(stderrTail)
	cmd.Stderr = tail
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("%w: starting ffmpeg: %v", ErrEnded, err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer stdin.Close()
		for {
			select {
			case <-ctx.Done():
				return
			case b := <-e.in:
				if _, err := stdin.Write(b); err != nil {
					return
				}
			}
		}
	}()
	rerr := OggPackets(stdout, func(p []byte) {
		if IsOpusHeader(p) {
			return
		}
		if n, err := Samples(p); err == nil && cfg.Packet != nil {
			cfg.Packet(p, n)
		}
	})
	if rerr != nil {
		_ = cmd.Cancel() // a garbled stream: ffmpeg is of no more use
	}
	stopped := ctx.Err() != nil // Stop or Close ended it: its output ended
	e.cancel()                  // the writer stops, and ffmpeg is killed if it still runs
	wg.Wait()
	werr := cmd.Wait()
	switch {
	case errors.Is(rerr, errOgg):
		return fmt.Errorf("reading ffmpeg's output: %w", rerr)
	case stopped:
		return nil
	case rerr != nil:
		return fmt.Errorf("%w: reading its output: %v", ErrEnded, rerr)
	case werr != nil:
		return fmt.Errorf("%w: %v (%s)", ErrEnded, werr, tail.LastLine())
	}
	return fmt.Errorf("%w (%s)", ErrEnded, tail.LastLine())
}
