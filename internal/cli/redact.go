package cli

import (
	"errors"
	"fmt"
	"os"
	"time"

	"vigil/internal/detect/nanodet"
	redaction "vigil/internal/redact"
)

func runRedact(e env) error {
	fs := newFlags(e, "redact", `IN -o OUT [--keep-audio] [--plates] [--force]

Blurs a video clip irreversibly before it leaves the household (to
neighbours, the police, a labelling workspace): every face the face
detector finds and the head of every person the person detector finds,
in each frame and in the frames around it, are reduced to a coarse,
noisy mosaic. The sound is dropped unless --keep-audio; no metadata of
IN is kept. OUT is an H.264 MP4. Check it before handing it on: a face
neither detector sees (a tiny one, a profile far from any person) is
not blurred.`)
	out := fs.String("o", "", "the redacted clip to write (MP4); required")
	keepAudio := fs.Bool("keep-audio", false, "keep the clip's sound (re-encoded to AAC); dropped by default")
	plates := fs.Bool("plates", false, "also blur licence-plate-like regions: the lower part of every car, truck, bus and motorcycle the person detector finds")
	force := fs.Bool("force", false, "replace OUT if it exists")
	models := fs.String("models", "", "directory of the person detector's model (default: the one 'make models' installs, or $VIGIL_MODELS)")
	if err := parseArgs(fs, e.args, 1); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("%w: give the clip to redact: vigil redact IN -o OUT", ErrUsage)
	}
	in := fs.Arg(0)
	if *out == "" {
		return fmt.Errorf("%w: -o OUT is required (the redacted clip to write)", ErrUsage)
	}
	if _, err := os.Stat(in); err != nil {
		return fmt.Errorf("input: %w", err)
	}
	if _, err := os.Lstat(*out); err == nil && !*force {
		return fmt.Errorf("%s exists: choose another name, or add --force to replace it", *out)
	}
	persons, err := loadPersons(*models)
	if err != nil {
		return err
	}
	defer persons.Close()

	start := time.Now()
	last := start
	progress := func(p redaction.Progress) {
		if now := time.Now(); now.Sub(last) >= time.Second {
			last = now
			printProgress(e, p, now.Sub(start))
		}
	}
	var final redaction.Progress
	rep, err := redaction.Clip(e.ctx, in, *out, redaction.Options{
		Persons:   persons,
		Plates:    *plates,
		KeepAudio: *keepAudio,
		Overwrite: *force,
		Progress: func(p redaction.Progress) {
			final = p
			progress(p)
		},
	})
	if err != nil {
		if errors.Is(err, redaction.ErrExists) {
			return fmt.Errorf("%w (add --force to replace it)", err)
		}
		if errors.Is(err, redaction.ErrNotVideo) {
			return fmt.Errorf("%w (hint: give a video file: MP4, MKV, AVI, ...)", err)
		}
		return err
	}
	final.Total = rep.Frames
	printProgress(e, final, time.Since(start))
	sound := "sound dropped"
	if rep.Audio {
		sound = "sound kept"
	}
	fmt.Fprintf(e.stdout, "%s: %d frames (%dx%d), a face found in %d, blurring in %d; %d face, %d head and %d plate boxes; %s\n",
		*out, rep.Frames, rep.Width, rep.Height, rep.FaceFrames, rep.BlurredFrames, rep.FaceBoxes, rep.HeadBoxes, rep.PlateBoxes, sound)
	return nil
}

// printProgress writes one progress line to stderr.
func printProgress(e env, p redaction.Progress, took time.Duration) {
	if p.Total > 0 {
		fmt.Fprintf(e.stderr, "redact: %d of %d frames (%d%%), %s\n", p.Frames, p.Total, min(100, 100*p.Frames/p.Total), took.Round(time.Second))
	} else {
		fmt.Fprintf(e.stderr, "redact: %d frames, %s\n", p.Frames, took.Round(time.Second))
	}
}

// loadPersons loads the person detector redaction uses from dir (""
// is the directory 'make models' installs, or $VIGIL_MODELS).
func loadPersons(dir string) (*nanodet.Model, error) {
	if dir == "" {
		dir = nanodet.DefaultDir()
	}
	persons, err := nanodet.LoadOptions(dir, nanodet.Options{MinScore: redaction.PersonScore, Threads: 1})
	if err != nil {
		return nil, fmt.Errorf("the person detector: %w (hint: run 'make models', or give its directory with --models or VIGIL_MODELS)", err)
	}
	return persons, nil
}
