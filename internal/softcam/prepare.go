package softcam

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// recipeVersion is part of the cache key: change it whenever the ffmpeg
// arguments below change, so that clips prepared the old way are not reused.
const recipeVersion = "softcam-v1"

// Transcoding parameters: a realistic 1–2 Mbps camera stream.
const (
	targetBitrate = "1500k"
	maxBitrate    = "1500k"
	bufSize       = "3000k"
	gopSeconds    = 2
)

// prepare returns the path of the prepared MPEG-TS clip for cfg.File,
// running ffmpeg if it is not in the cache yet. runs is the number of ffmpeg
// invocations made (0 on a cache hit).
func prepare(cfg Config, log *slog.Logger) (file string, runs int, err error) {
	abs, err := filepath.Abs(cfg.File)
	if err != nil {
		return "", 0, fmt.Errorf("softcam: input %s: %w", cfg.File, err)
	}
	fi, err := os.Stat(abs)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			msg := fmt.Sprintf("softcam: input video %s does not exist", abs)
			if abs == DefaultFile {
				msg += "\nhint: apt-get install opencv-doc"
			}
			return "", 0, errors.New(msg)
		}
		return "", 0, fmt.Errorf("softcam: input video: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return "", 0, fmt.Errorf("softcam: input video %s is not a regular file", abs)
	}

	out := filepath.Join(cfg.CacheDir, cacheName(abs, fi))
	if _, err := os.Stat(out); err == nil {
		log.Info("softcam: using prepared clip from cache", "input", abs, "file", out)
		return out, 0, nil
	}

	ffmpeg, err := exec.LookPath(cfg.FFmpeg)
	if err != nil {
		return "", 0, fmt.Errorf("softcam: ffmpeg %q not found: %w\nhint: apt-get install ffmpeg", cfg.FFmpeg, err)
	}
	ffprobe, err := exec.LookPath(ffprobeFor(cfg.FFmpeg))
	if err != nil {
		return "", 0, fmt.Errorf("softcam: ffprobe not found next to ffmpeg %q: %w\nhint: apt-get install ffmpeg", cfg.FFmpeg, err)
	}

	pr, err := probe(ffprobe, abs)
	if err != nil {
		return "", 0, err
	}
	if err := os.MkdirAll(cfg.CacheDir, 0o755); err != nil {
		return "", 0, fmt.Errorf("softcam: cache directory: %w", err)
	}

	args := ffmpegArgs(abs, pr)
	mode := "transcode"
	if pr.codec == "h264" {
		mode = "copy"
	}
	log.Info("softcam: preparing clip", "input", abs, "codec", pr.codec, "mode", mode,
		"fps", pr.fps, "duration", pr.duration.Round(100*time.Millisecond), "file", out)

	tmp, err := os.CreateTemp(cfg.CacheDir, ".prepare-*.ts.tmp")
	if err != nil {
		return "", 0, fmt.Errorf("softcam: cache directory: %w", err)
	}
	tmpName := tmp.Name()
	tmp.Close()
	defer os.Remove(tmpName) // no-op after the rename

	t0 := time.Now()
	if err := runFFmpeg(ffmpeg, append(args, tmpName), pr.duration, log); err != nil {
		return "", 1, fmt.Errorf("softcam: preparing %s with ffmpeg: %w", abs, err)
	}
	if err := syncFile(tmpName); err != nil {
		return "", 1, fmt.Errorf("softcam: preparing %s: %w", abs, err)
	}
	if err := os.Rename(tmpName, out); err != nil {
		return "", 1, fmt.Errorf("softcam: preparing %s: %w", abs, err)
	}
	log.Info("softcam: clip prepared", "input", abs, "mode", mode, "file", out,
		"took", time.Since(t0).Round(time.Millisecond))
	return out, 1, nil
}

// cacheName is the cache file name for an input: readable prefix plus a
// hash of everything that determines the output.
func cacheName(abs string, fi fs.FileInfo) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%d\x00%d", recipeVersion, abs, fi.Size(), fi.ModTime().UnixNano())
	base := strings.TrimSuffix(filepath.Base(abs), filepath.Ext(abs))
	base = strings.Map(func(r rune) rune {
		if r == '-' || r == '_' || r == '.' || ('a' <= r && r <= 'z') || ('A' <= r && r <= 'Z') || ('0' <= r && r <= '9') {
			return r
		}
		return '_'
	}, base)
	if len(base) > 40 {
		base = base[:40]
	}
	return base + "-" + hex.EncodeToString(h.Sum(nil))[:16] + ".ts"
}

// ffprobeFor returns the ffprobe that belongs to the given ffmpeg: same
// directory and suffix when ffmpeg is a path, "ffprobe" otherwise.
func ffprobeFor(ffmpeg string) string {
	dir, base := filepath.Split(ffmpeg)
	if rest, ok := strings.CutPrefix(base, "ffmpeg"); ok {
		return dir + "ffprobe" + rest
	}
	return "ffprobe"
}

type probeResult struct {
	codec    string
	fps      float64
	duration time.Duration
}

// probe reads the codec, frame rate and duration of the first video stream.
func probe(ffprobe, file string) (probeResult, error) {
	cmd := exec.Command(ffprobe, "-v", "error", "-select_streams", "v:0",
		"-show_entries", "stream=codec_name,r_frame_rate,avg_frame_rate:format=duration",
		"-of", "json", file)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	outb, err := cmd.Output()
	if err != nil {
		return probeResult{}, fmt.Errorf("softcam: ffprobe %s: %w: %s", file, err, strings.TrimSpace(stderr.String()))
	}
	var res struct {
		Streams []struct {
			CodecName    string `json:"codec_name"`
			RFrameRate   string `json:"r_frame_rate"`
			AvgFrameRate string `json:"avg_frame_rate"`
		} `json:"streams"`
		Format struct {
			Duration string `json:"duration"`
		} `json:"format"`
	}
	if err := json.Unmarshal(outb, &res); err != nil {
		return probeResult{}, fmt.Errorf("softcam: ffprobe %s: %w", file, err)
	}
	if len(res.Streams) == 0 {
		return probeResult{}, fmt.Errorf("softcam: %s has no video stream", file)
	}
	st := res.Streams[0]
	pr := probeResult{codec: st.CodecName, fps: parseRate(st.RFrameRate)}
	if pr.fps <= 0 || pr.fps > 240 {
		pr.fps = parseRate(st.AvgFrameRate)
	}
	if pr.fps <= 0 || pr.fps > 240 {
		return probeResult{}, fmt.Errorf("softcam: %s: cannot tell the frame rate (r_frame_rate %q, avg_frame_rate %q)",
			file, st.RFrameRate, st.AvgFrameRate)
	}
	if d, err := strconv.ParseFloat(res.Format.Duration, 64); err == nil && d > 0 {
		pr.duration = time.Duration(d * float64(time.Second))
	}
	return pr, nil
}

// parseRate parses an ffprobe rational like "30000/1001"; 0 if invalid.
func parseRate(s string) float64 {
	num, den, ok := strings.Cut(s, "/")
	if !ok {
		den = "1"
	}
	n, err1 := strconv.ParseFloat(num, 64)
	d, err2 := strconv.ParseFloat(den, 64)
	if err1 != nil || err2 != nil || d == 0 || math.IsNaN(n/d) {
		return 0
	}
	return n / d
}

// ffmpegArgs are the arguments up to, not including, the output file.
func ffmpegArgs(in string, pr probeResult) []string {
	args := []string{
		"-hide_banner", "-nostdin", "-nostats", "-loglevel", "error",
		"-progress", "pipe:1", "-y",
		"-i", in,
		"-map", "0:v:0", "-an", "-sn", "-dn",
	}
	if pr.codec == "h264" {
		args = append(args, "-c:v", "copy", "-bsf:v", "h264_mp4toannexb")
	} else {
		gop := strconv.Itoa(max(1, int(math.Round(gopSeconds*pr.fps))))
		args = append(args,
			// superfast: about half the CPU of veryfast for a small
			// quality loss at this bitrate, closer to what a camera's
			// hardware encoder does anyway.
			"-c:v", "libx264", "-preset", "superfast",
			"-profile:v", "main", "-pix_fmt", "yuv420p",
			"-b:v", targetBitrate, "-maxrate", maxBitrate, "-bufsize", bufSize,
			"-g", gop, "-keyint_min", gop, "-sc_threshold", "0", "-bf", "0",
		)
	}
	return append(args, "-f", "mpegts")
}

// runFFmpeg runs ffmpeg, logging its -progress output every few seconds and
// returning the tail of its stderr on failure.
func runFFmpeg(ffmpeg string, args []string, total time.Duration, log *slog.Logger) error {
	cmd := exec.Command(ffmpeg, args...)
	stderr := &tailBuffer{max: 4096}
	cmd.Stderr = stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}

	logProgress(stdout, total, log) // returns at EOF, when ffmpeg exits
	if err := cmd.Wait(); err != nil {
		if tail := strings.TrimSpace(stderr.String()); tail != "" {
			return fmt.Errorf("%w: %s", err, tail)
		}
		return err
	}
	return nil
}

// logProgress parses ffmpeg's "-progress" key=value blocks.
func logProgress(r io.Reader, total time.Duration, log *slog.Logger) {
	sc := bufio.NewScanner(r)
	var frame string
	var outTime time.Duration
	last := time.Now()
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), "=")
		if !ok {
			continue
		}
		switch k {
		case "frame":
			frame = v
		case "out_time_us":
			if us, err := strconv.ParseInt(v, 10, 64); err == nil {
				outTime = time.Duration(us) * time.Microsecond
			}
		case "progress":
			if v == "end" || time.Since(last) < 2*time.Second {
				continue
			}
			last = time.Now()
			attrs := []any{"frame", frame, "media_time", outTime.Round(100 * time.Millisecond)}
			if total > 0 {
				attrs = append(attrs, "percent", min(100, int(100*outTime/total)))
			}
			log.Info("softcam: ffmpeg progress", attrs...)
		}
	}
	_, _ = io.Copy(io.Discard, r)
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > t.max {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-t.max:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}

// syncFile flushes a file to stable storage so that a crash after the
// rename cannot leave a truncated clip under the final name.
func syncFile(name string) error {
	f, err := os.OpenFile(name, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
