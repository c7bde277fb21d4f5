package hubd

import (
	"context"
	"errors"
	"os"

	"vigil/internal/live"
	"vigil/internal/redact"
)

// redactReport is what the hub tells a member's page of a redaction
// (docs/FORMAT.md, "Redaction channel"): counts, never pixels or boxes.
type redactReport struct {
	Width         int     `json:"width"`
	Height        int     `json:"height"`
	FPS           float64 `json:"fps"`
	Frames        int     `json:"frames"`
	FaceFrames    int     `json:"face_frames"`
	BlurredFrames int     `json:"blurred_frames"`
	Faces         int     `json:"faces"`
	Heads         int     `json:"heads"`
	Plates        int     `json:"plates"`
	AudioKept     bool    `json:"audio_kept"`
}

// redactDir is where the live hub keeps a clip while it redacts it: memory
// (/dev/shm) where the system has it, so the plaintext never reaches a
// disk, and the system's temporary directory otherwise.
func redactDir() string {
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		if f, err := os.CreateTemp("/dev/shm", "vigil-probe-"); err == nil {
			f.Close()
			os.Remove(f.Name())
			return "/dev/shm"
		}
	}
	return ""
}

// redactClip redacts a clip a member's page opened and sent over its live
// session (internal/live, redact.go) with the hub's object detector for the
// heads of people (G7: nothing of a donation leaves the household before
// this). The clip and its redaction are the live hub's to remove.
func (h *Hub) redactClip(ctx context.Context, job live.RedactJob) (any, error) {
	ds := h.detection
	if ds == nil {
		return nil, errors.New("the hub's detection is not running yet; try again in a minute")
	}
	det, err := ds.objectDetector()
	if err != nil {
		h.log.Warn("redaction: no person detector", "err", err)
		return nil, errors.New("the hub cannot load its person detector, so it cannot blur heads; see the hub's log")
	}
	rep, err := redact.Clip(ctx, job.In, job.Out, redact.Options{Persons: det, KeepAudio: job.KeepAudio, Overwrite: true,
		Progress: func(p redact.Progress) {
			if job.Progress != nil {
				job.Progress(p.Frames, p.Total)
			}
		}})
	switch {
	case errors.Is(err, redact.ErrNotVideo):
		return nil, errors.New("the clip has no video the hub can read: send an MP4")
	case errors.Is(err, redact.ErrTooLarge):
		return nil, errors.New("the clip's frames are larger than the hub redacts: choose the camera's sub stream or a lower resolution")
	case ctx.Err() != nil:
		return nil, ctx.Err()
	case err != nil:
		h.log.Warn("redaction failed", "err", err)
		return nil, errors.New("the hub could not redact the clip; see the hub's log")
	}
	h.log.Info("clip redacted for a member", "device", job.Device, "frames", rep.Frames, "faces", rep.FaceBoxes, "heads", rep.HeadBoxes)
	return redactReport{Width: rep.Width, Height: rep.Height, FPS: rep.FPS, Frames: rep.Frames, FaceFrames: rep.FaceFrames,
		BlurredFrames: rep.BlurredFrames, Faces: rep.FaceBoxes, Heads: rep.HeadBoxes, Plates: rep.PlateBoxes, AudioKept: rep.Audio}, nil
}
