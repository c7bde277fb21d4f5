// Package redact blurs the faces and heads in a video clip, irreversibly,
// before anyone outside the household sees a frame of it: a donation to
// the labelling workspace (G7), or a clip a household exports and hands
// on (`vigil redact IN -o OUT`).
//
// It owns one operation, [Clip]: ffprobe reads the input's size, frame
// rate and streams (bounded: at most MaxSide on a side, detect.MaxPixels
// in all, MaxFPS frames a second); ffmpeg decodes it to RGB frames at its
// own size and rate (detect/frames); every frame goes through
//
//   - the face detector (detect/faces, pigo) at a low threshold
//     (Options.FaceScore), and
//   - the person detector it is given (the hub's NanoDet): the head
//     region of every person box (the top of the box, as tall as 0.8 of
//     its width and at least a quarter of its height, across its whole
//     width) is blurred whether or not a face was found in it;
//   - with Options.Plates, licence-plate-like regions: the lower part of
//     every car, truck, bus and motorcycle box (see plateRegion), where
//     front and rear plates sit. It is a heuristic on the detector's
//     vehicles, not a plate reader: a vehicle the detector misses keeps
//     its plate;
//
// every box is grown by Options.Margin, and applied to the frames within
// Options.Hold before and after the one it was found in (a miss in a
// frame or two leaks no face; the frames in between are held in a bounded
// ring), then destroyed by faces.Blur (at most 4x4 cells per box, each
// cell's colour dithered with fresh noise and quantised to 16 levels, so
// deblurring has nothing to recover), and fresh grain is added over it
// (see grain). ffmpeg encodes the result as H.264
// (yuv420p) in an MP4 with faststart, with no metadata or chapters of the
// input; audio is dropped unless Options.KeepAudio. The output is written
// to a temporary file next to it and renamed into place only when the
// whole clip is done: a failed or cancelled run leaves no partial clip.
//
// It errs on the side of blurring: a false face or a person's whole top
// is blurred rather than a face kept. What it cannot promise: a face
// neither detector finds in any frame within Hold (a face in profile far
// from any person box, a tiny face under 16 pixels) is not blurred.
//
// Both detectors run on every frame at its full size, at once (two
// goroutines), while the frame hold frames earlier is blurred and written:
// BenchmarkRedact does Megamind.avi (720x528) at about 5 frames a second
// on an idle 2-core machine (2.5 before the blurring overlapped the
// search and its mosaic and grain were made cheaper).
//
// It never logs, never writes a frame anywhere but the encoder's pipe,
// and never reports a box's position or content: the Report holds counts
// only. Memory is bounded by the ring of held frames, whatever the clip's
// length.
package redact

import (
	"cmp"
	"context"
	crand "crypto/rand"
	"errors"
	"fmt"
	"image"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"vigil/internal/detect"
	"vigil/internal/detect/faces"
	"vigil/internal/detect/frames"
	"vigil/internal/proctail"
)

// Errors Clip returns, checked with errors.Is.
var (
	// ErrNotVideo: the input is not a video ffmpeg can read.
	ErrNotVideo = errors.New("not a video ffmpeg can read")
	// ErrTooLarge: the video's frames are larger than Clip takes.
	ErrTooLarge = errors.New("video frames too large")
	// ErrExists: the output exists and Options.Overwrite is false.
	ErrExists = errors.New("output exists")
	// ErrNoPersons: Options.Persons is nil.
	ErrNoPersons = errors.New("no person detector")
)

// Defaults of the Options fields left zero.
const (
	DefaultFaceScore = 0.1
	DefaultMargin    = 0.3
	DefaultHold      = 500 * time.Millisecond
)

// PersonScore is the threshold at which the person detector should be
// run for redaction (nanodet.Options.MinScore): lower than the hub's
// alerts use, since a false person costs only a blurred patch.
const PersonScore = 0.25

// maxHoldBytes bounds the ring of held frames.
const maxHoldBytes = 256 << 20

// vehicle reports whether a label's boxes get a plate region.
func vehicle(label string) bool {
	switch label {
	case "car", "truck", "bus", "motorcycle":
		return true
	}
	return false
}

// Options say what to blur and how to write the clip.
type Options struct {
	// Persons finds the people whose heads are blurred (and, with Plates,
	// the vehicles): the hub's NanoDet. Required. Clip does not close it.
	Persons detect.Detector
	// FaceScore is the lowest face score (faces.Options.MinScore) blurred
	// [DefaultFaceScore]; lower blurs more.
	FaceScore float64
	// Margin grows every box, face, head or plate, by this fraction of its
	// width and height about its centre [DefaultMargin], before
	// faces.Blur grows it by faces.Grow.
	Margin float64
	// Hold applies every box to the frames within Hold before and after
	// the one it was found in [DefaultHold]; negative means only its own
	// frame. It is capped so the held frames fit in 256 MiB.
	Hold time.Duration
	// Plates also blurs licence-plate-like regions of vehicles.
	Plates bool
	// KeepAudio keeps the clip's first audio stream (re-encoded to AAC);
	// without it the output has no sound.
	KeepAudio bool
	// Overwrite replaces an existing output; without it Clip returns
	// ErrExists before any work.
	Overwrite bool
	// Progress, when set, is called after every frame written, on Clip's
	// goroutine.
	Progress func(Progress)
	// FFmpeg is the ffmpeg binary ("" is "ffmpeg" in PATH); ffprobe is
	// looked up next to it.
	FFmpeg string
}

// Progress is how far Clip is.
type Progress struct {
	// Frames written so far.
	Frames int
	// Total is the frames expected (ffprobe's count or duration times
	// rate), 0 when unknown. Frames may end above or below it.
	Total int
}

// Report says what Clip did, in counts only.
type Report struct {
	Width, Height int
	FPS           float64
	// Frames is the number of frames written.
	Frames int
	// FaceFrames is the number of frames in which the face detector found
	// a face; BlurredFrames those in which anything was blurred (held
	// boxes included).
	FaceFrames, BlurredFrames int
	// FaceBoxes, HeadBoxes and PlateBoxes count the boxes found: faces,
	// the head regions of person boxes, plate regions.
	FaceBoxes, HeadBoxes, PlateBoxes int
	// Audio reports whether the output has sound.
	Audio bool
}

// Clip redacts the video file in into the MP4 file out (see the package
// doc). A bad input is ErrNotVideo or ErrTooLarge; an existing out without
// Overwrite is ErrExists. On any error out is left as it was.
func Clip(ctx context.Context, in, out string, o Options) (Report, error) {
	if o.Persons == nil {
		return Report{}, ErrNoPersons
	}
	if o.FaceScore == 0 {
		o.FaceScore = DefaultFaceScore
	}
	if o.Margin == 0 {
		o.Margin = DefaultMargin
	}
	if o.Hold == 0 {
		o.Hold = DefaultHold
	}
	if !(o.FaceScore > 0 && o.FaceScore < 1) || !(o.Margin >= 0 && o.Margin <= 4) {
		return Report{}, fmt.Errorf("redact: face score %v or margin %v out of range", o.FaceScore, o.Margin)
	}
	if o.FFmpeg == "" {
		o.FFmpeg = "ffmpeg"
	}
	ffmpeg, err := exec.LookPath(o.FFmpeg)
	if err != nil {
		return Report{}, fmt.Errorf("redact: %w (hint: install ffmpeg, e.g. apt-get install ffmpeg)", err)
	}
	ffprobe := "ffprobe"
	if strings.ContainsRune(o.FFmpeg, filepath.Separator) {
		ffprobe = filepath.Join(filepath.Dir(ffmpeg), "ffprobe")
	}
	if st, err := os.Stat(in); err != nil {
		return Report{}, fmt.Errorf("redact: %w", err)
	} else if !st.Mode().IsRegular() {
		return Report{}, fmt.Errorf("redact: %s: %w: not a regular file", in, ErrNotVideo)
	}
	if same(in, out) {
		return Report{}, fmt.Errorf("redact: the output %s is the input", out)
	}
	if !o.Overwrite {
		if _, err := os.Lstat(out); err == nil {
			return Report{}, fmt.Errorf("redact: %s: %w", out, ErrExists)
		}
	}
	ci, err := probe(ctx, ffprobe, in)
	if err != nil {
		return Report{}, fmt.Errorf("redact: %s: %w", in, err)
	}
	fd, err := faces.New(faces.Options{MinScore: o.FaceScore, MinSize: 16})
	if err != nil {
		return Report{}, fmt.Errorf("redact: %w", err)
	}

	tmp, err := os.CreateTemp(filepath.Dir(out), ".redact-*.mp4")
	if err != nil {
		return Report{}, fmt.Errorf("redact: %w", err)
	}
	tmpName := tmp.Name()
	tmp.Close()
	done := false
	defer func() {
		if !done {
			os.Remove(tmpName)
		}
	}()

	audio := o.KeepAudio && ci.Audio
	enc, err := startEncoder(ctx, ffmpeg, in, tmpName, ci, audio)
	if err != nil {
		return Report{}, fmt.Errorf("redact: %w", err)
	}
	rep := Report{Width: ci.Width, Height: ci.Height, FPS: ci.FPS, Audio: audio}
	var seed [32]byte
	crand.Read(seed[:]) // never fails (crypto/rand)
	r := &run{o: o, fd: fd, ci: ci, enc: enc, rep: &rep, noise: rand.NewChaCha8(seed)}
	r.hold = holdFrames(o.Hold, ci)
	runErr := r.decode(ctx, in)
	encErr := enc.finish(runErr != nil)
	if runErr != nil {
		return Report{}, fmt.Errorf("redact: %w", runErr)
	}
	if encErr != nil {
		return Report{}, fmt.Errorf("redact: encoding: %w", encErr)
	}
	if rep.Frames == 0 {
		return Report{}, fmt.Errorf("redact: %s: %w: no frame decoded", in, ErrNotVideo)
	}
	if !o.Overwrite {
		if _, err := os.Lstat(out); err == nil {
			return Report{}, fmt.Errorf("redact: %s: %w", out, ErrExists)
		}
	}
	if err := os.Chmod(tmpName, 0o644); err != nil {
		return Report{}, fmt.Errorf("redact: %w", err)
	}
	if err := os.Rename(tmpName, out); err != nil {
		return Report{}, fmt.Errorf("redact: %w", err)
	}
	done = true
	return rep, nil
}

// same reports whether a and b name the same file (or the same path).
func same(a, b string) bool {
	if filepath.Clean(a) == filepath.Clean(b) {
		return true
	}
	sa, err1 := os.Stat(a)
	sb, err2 := os.Stat(b)
	return err1 == nil && err2 == nil && os.SameFile(sa, sb)
}

// holdFrames is Hold in frames, capped so the ring fits maxHoldBytes.
func holdFrames(hold time.Duration, ci clipInfo) int {
	if hold < 0 {
		return 0
	}
	k := int(math.Ceil(hold.Seconds() * ci.FPS))
	return max(0, min(k, maxHoldBytes/(ci.Width*ci.Height*3)-2))
}

// fileArg keeps a path that starts with "-" from being read as an option.
func fileArg(p string) string {
	if strings.HasPrefix(p, "-") {
		return "file:" + p
	}
	return p
}

// probe asks ffprobe what in holds.
func probe(ctx context.Context, ffprobe, in string) (clipInfo, error) {
	pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(pctx, ffprobe, "-v", "error",
		"-show_entries", probeEntries,
		"-of", "json", fileArg(in))
	stdout, stderr := proctail.New(1<<20), proctail.New(4096)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return clipInfo{}, ctx.Err()
		}
		if errors.Is(err, exec.ErrNotFound) {
			return clipInfo{}, fmt.Errorf("%w (hint: install ffmpeg, e.g. apt-get install ffmpeg)", err)
		}
		return clipInfo{}, fmt.Errorf("%w%s", ErrNotVideo, lastLine(stderr))
	}
	return parseProbe([]byte(stdout.String()), detect.MaxPixels)
}

// run is one Clip's decoding and blurring.
type run struct {
	o    Options
	fd   *faces.Detector
	ci   clipInfo
	enc  *encoder
	rep  *Report
	hold int

	// ring holds the last hold+2 frames (one being searched, hold after
	// the one being blurred, and that one); boxes the regions found in the
	// last 2*hold+1 frames, by frame index modulo its length.
	ring  []*detect.RGB
	boxes [][]detect.Box
	n     int // frames decoded

	noise *rand.ChaCha8 // grain's source, seeded afresh for each clip
}

// decode reads every frame, finds its regions and writes the frame hold
// frames behind it.
func (r *run) decode(ctx context.Context, in string) error {
	// Every frame, in decode order, at the rate the encoder is told: a
	// variable-rate clip keeps its frames and its length, not their spacing.
	fr, err := frames.File(in, r.ci.Width, r.ci.Height, 0)
	if err != nil {
		return err
	}
	r.ring = make([]*detect.RGB, r.hold+2)
	r.boxes = make([][]detect.Box, 2*r.hold+1)
	err = fr.Run(ctx, func(f *frames.Frame) error {
		return r.frame(ctx, f.Img)
	})
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return err
	}
	// The last frames have no frames after them.
	for i := max(0, r.n-r.hold-1); i < r.n; i++ {
		if err := r.emit(i); err != nil {
			return err
		}
	}
	return nil
}

// frame takes one decoded frame (img is reused by the decoder): the
// regions of frame j are searched while frame j-hold-1, whose regions
// around it are all known, is blurred and written, the two on their own
// cores. Blurring and progress stay on Clip's goroutine.
func (r *run) frame(ctx context.Context, img *detect.RGB) error {
	j := r.n
	slot := r.ring[j%len(r.ring)]
	if slot == nil {
		var err error
		if slot, err = detect.NewRGB(img.W, img.H); err != nil {
			return err
		}
		r.ring[j%len(r.ring)] = slot
	}
	copy(slot.Pix, img.Pix)
	var (
		found  regionsFound
		search = make(chan error, 1)
	)
	go func() { search <- r.regions(ctx, slot, &found) }()
	var emitErr error
	if i := j - r.hold - 1; i >= 0 {
		emitErr = r.emit(i)
	}
	if err := cmp.Or(<-search, emitErr); err != nil {
		return err
	}
	r.boxes[j%len(r.boxes)] = found.boxes
	r.rep.FaceFrames += min(found.faces, 1)
	r.rep.FaceBoxes += found.faces
	r.rep.HeadBoxes += found.heads
	r.rep.PlateBoxes += found.plates
	r.n++
	return nil
}

// emit blurs frame i with every box found within hold frames of it and
// writes it to the encoder.
func (r *run) emit(i int) error {
	var all []detect.Box
	for k := max(0, i-r.hold); k <= min(r.n-1, i+r.hold); k++ {
		all = append(all, r.boxes[k%len(r.boxes)]...)
	}
	img := r.ring[i%len(r.ring)]
	if len(all) > 0 {
		faces.Blur(img, all)
		for _, b := range all {
			grain(img, b, r.noise)
		}
		r.rep.BlurredFrames++
	}
	if err := r.enc.write(img.Pix); err != nil {
		return err
	}
	r.rep.Frames++
	if r.o.Progress != nil {
		r.o.Progress(Progress{Frames: r.rep.Frames, Total: r.ci.Frames})
	}
	return nil
}

// regionsFound is what regions found in one frame.
type regionsFound struct {
	boxes                []detect.Box // grown, to blur
	faces, heads, plates int
}

// regions runs both detectors on img (at once: they are independent) and
// puts the grown boxes to blur, and their counts, in found.
func (r *run) regions(ctx context.Context, img *detect.RGB, found *regionsFound) error {
	var (
		wg      sync.WaitGroup
		fs      []detect.Detection
		fErr    error
		persons []detect.Detection
		pErr    error
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		fs, fErr = r.fd.Detect(ctx, img)
	}()
	persons, pErr = r.o.Persons.Detect(ctx, img)
	wg.Wait()
	if err := errors.Join(fErr, pErr); err != nil {
		return err
	}
	for _, f := range fs {
		found.boxes = append(found.boxes, grow(f.Box, r.o.Margin))
	}
	found.faces = len(fs)
	for _, p := range persons {
		switch {
		case p.Label == "person":
			found.boxes = append(found.boxes, grow(headRegion(p.Box), r.o.Margin))
			found.heads++
		case r.o.Plates && vehicle(p.Label):
			found.boxes = append(found.boxes, grow(plateRegion(p.Box), r.o.Margin))
			found.plates++
		}
	}
	return nil
}

// Grain is the amplitude of the noise added to every blurred pixel: each
// channel moves by a uniform amount in [-Grain, Grain].
const Grain = 12

// grain adds fresh noise from src to the pixels faces.Blur replaced for
// box b. The mosaic leaves smooth blobs of colour, and a detector that
// normalises each window's contrast (as Haar cascades do) can read a face
// into a blob of a few levels; grain of a few levels drowns such faint
// patterns while a face's own contrast would stand far above it.
func grain(img *detect.RGB, b detect.Box, src *rand.ChaCha8) {
	if !(b.W > 0 && b.H > 0) {
		return
	}
	g := detect.Box{X: b.X - b.W*faces.Grow/2, Y: b.Y - b.H*faces.Grow/2, W: b.W * (1 + faces.Grow), H: b.H * (1 + faces.Grow)}
	r := g.Rect().Intersect(image.Rect(0, 0, img.W, img.H))
	// Each random byte picks a move in [-Grain, Grain] (its value modulo
	// 2*Grain+1), and a pixel moved past 0 or 255 stops there: both are
	// looked up.
	var move [256]int16
	for i := range move {
		move[i] = int16(i%(2*Grain+1) - Grain)
	}
	var clamped [256 + 2*Grain]byte
	for i := range clamped {
		clamped[i] = byte(min(255, max(0, i-Grain)))
	}
	for y := r.Min.Y; y < r.Max.Y; y++ {
		row := img.Pix[(y*img.W+r.Min.X)*3 : (y*img.W+r.Max.X)*3]
		for len(row) > 0 {
			bits := src.Uint64()
			n := min(8, len(row))
			for i := range row[:n] {
				row[i] = clamped[int(row[i])+Grain+int(move[byte(bits)])]
				bits >>= 8
			}
			row = row[n:]
		}
	}
}

// headRegion is where a person's head is in the person's box: the top,
// across the whole width (arms and a turned head included), as tall as
// 0.8 of the width (a standing person's box is about 0.4 as wide as
// tall, so this is the head and shoulders) and at least a quarter of the
// height (a box cut by the frame's edge or a seated person).
func headRegion(p detect.Box) detect.Box {
	h := min(p.H, max(0.8*p.W, 0.25*p.H))
	return detect.Box{X: p.X, Y: p.Y, W: p.W, H: h}
}

// plateRegion is where a vehicle's plate can be in its box: the lower 45%
// (front and rear plates sit low on the body, seen from either end or at
// an angle), across the middle 90% of the width.
func plateRegion(v detect.Box) detect.Box {
	return detect.Box{X: v.X + 0.05*v.W, Y: v.Y + 0.55*v.H, W: 0.9 * v.W, H: 0.45 * v.H}
}

// grow enlarges b by m of its width and height about its centre.
func grow(b detect.Box, m float64) detect.Box {
	return detect.Box{X: b.X - b.W*m/2, Y: b.Y - b.H*m/2, W: b.W * (1 + m), H: b.H * (1 + m)}
}

// encoder is the ffmpeg that writes the redacted clip.
type encoder struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stderr *proctail.Buffer
}

// startEncoder starts ffmpeg reading raw RGB frames of ci's size at its
// rate from a pipe, and, with audio, the first audio stream of in.
func startEncoder(ctx context.Context, ffmpeg, in, out string, ci clipInfo, audio bool) (*encoder, error) {
	a := []string{"-hide_banner", "-nostats", "-loglevel", "error",
		"-f", "rawvideo", "-pix_fmt", "rgb24", "-video_size", fmt.Sprintf("%dx%d", ci.Width, ci.Height),
		"-framerate", ci.Rate, "-i", "pipe:0"}
	if audio {
		a = append(a, "-i", fileArg(in), "-map", "0:v:0", "-map", "1:a:0", "-c:a", "aac", "-b:a", "128k", "-shortest")
	} else {
		a = append(a, "-map", "0:v:0", "-an")
	}
	a = append(a, "-map_metadata", "-1", "-map_chapters", "-1", "-sn", "-dn",
		"-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2",
		"-c:v", "libx264", "-preset", "veryfast", "-crf", "23", "-pix_fmt", "yuv420p",
		"-movflags", "+faststart", "-f", "mp4", "-y", fileArg(out))
	cmd := exec.CommandContext(ctx, ffmpeg, a...)
	cmd.WaitDelay = 5 * time.Second
	e := &encoder{cmd: cmd, stderr: proctail.New(4096)}
	cmd.Stderr = e.stderr
	var err error
	if e.stdin, err = cmd.StdinPipe(); err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting ffmpeg: %w", err)
	}
	return e, nil
}

// write sends one frame.
func (e *encoder) write(pix []byte) error {
	if _, err := e.stdin.Write(pix); err != nil {
		return fmt.Errorf("encoder: %w%s", err, lastLine(e.stderr))
	}
	return nil
}

// finish ends the input and waits for ffmpeg; with abort it kills it.
func (e *encoder) finish(abort bool) error {
	if abort {
		_ = e.cmd.Process.Kill()
	}
	e.stdin.Close()
	err := e.cmd.Wait()
	if abort {
		return nil
	}
	if err != nil {
		return fmt.Errorf("ffmpeg: %w%s", err, lastLine(e.stderr))
	}
	return nil
}

// lastLine is ffmpeg's last message as the end of an error: ": " and the
// line, or nothing.
func lastLine(t *proctail.Buffer) string {
	if s := t.LastLine(); s != "" {
		return ": " + s
	}
	return ""
}
