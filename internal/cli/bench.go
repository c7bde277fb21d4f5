package cli

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"vigil/internal/bench"
	"vigil/internal/softcam"
)

func runBench(e env) error {
	return runSubcommand(e, "bench", "record | cloud | web | detect | tlog | door\n\nMeasures the hub's recording, the cloud's uploads, the web app, detection, the transparency log or the front door.",
		benchSubs())
}

// benchSubs is the table of vigil bench's subcommands; its help lists them from it.
func benchSubs() []subcommand {
	return []subcommand{{"record", benchRecord, nil}, {"cloud", benchCloud, nil}, {"web", benchWeb, nil}, {"detect", benchDetect, nil}, {"tlog", benchTlog, nil}, {"door", benchDoor, nil}}
}

func benchRecord(e env, args []string) error {
	fs := newFlags(e, "bench record", "--streams N --duration D")
	streams := fs.Int("streams", 10, "number of camera streams")
	dur := fs.Duration("duration", 30*time.Second, "how long to record")
	file := fs.String("file", "", "video for the software cameras (default "+softcam.DefaultFile+")")
	segDur := fs.Duration("segment", 4*time.Second, "segment duration")
	keep := fs.String("data", "", "hub data directory (default: a temporary directory, removed afterwards)")
	verbose := fs.Bool("v", false, "hub logs on stderr")
	memProfile := fs.String("memprofile", "", "write a heap profile of the hub at the end of recording to this file")
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	if *streams < 1 || *streams > 1000 {
		return fmt.Errorf("%w: --streams must be between 1 and 1000", ErrUsage)
	}
	if *dur < 5*time.Second {
		return fmt.Errorf("%w: --duration must be at least 5s", ErrUsage)
	}
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelInfo
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	// The cameras run in a child process so that the figures are the hub's
	// alone.
	o := bench.RecordOptions{Streams: *streams, Duration: *dur, File: *file, Segment: *segDur, Data: *keep, MemProfile: *memProfile,
		Exe: exe, Logger: newLogger(e.stderr, level), Progress: e.stderr}
	if *verbose {
		o.CameraStderr = e.stderr
	}
	r, err := bench.Record(e.ctx, o)
	if err != nil {
		return err
	}
	printRecordBench(e.stdout, r)
	return nil
}

// printRecordBench prints what 'vigil bench record' measured, a figure a
// line.
func printRecordBench(w io.Writer, r bench.RecordResult) {
	wall := r.Wall
	n := float64(r.Streams)
	fmt.Fprintf(w, "streams: %d\n", r.Streams)
	fmt.Fprintf(w, "duration_s: %.1f\n", wall.Seconds())
	fmt.Fprintf(w, "cpu_percent_of_one_core_total: %.2f\n", 100*r.CPU.Seconds()/wall.Seconds())
	fmt.Fprintf(w, "cpu_percent_of_one_core_per_stream: %.3f\n", 100*r.CPU.Seconds()/wall.Seconds()/n)
	fmt.Fprintf(w, "write_mb_per_s: %.3f\n", float64(r.SealedBytes)/1e6/wall.Seconds())
	fmt.Fprintf(w, "segments_written: %d\n", r.Segments)
	fmt.Fprintf(w, "frames_sent: %d\n", r.FramesSent)
	fmt.Fprintf(w, "frames_sent_decodable: %d\n", r.FramesDecodable)
	fmt.Fprintf(w, "frames_recorded: %d\n", r.FramesRecorded)
	fmt.Fprintf(w, "frames_before_first_keyframe: %d\n", r.WaitingKey)
	fmt.Fprintf(w, "dropped_frames: %d\n", r.Dropped())
	fmt.Fprintf(w, "peak_rss_mb: %.1f\n", float64(r.PeakRSS)/1e6)
	fmt.Fprintf(w, "rss_mb_per_stream: %.2f\n", float64(r.PeakRSS-min(r.BaseRSS, r.PeakRSS))/1e6/n)
}
