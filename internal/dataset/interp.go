package dataset

import (
	"slices"

	"vigil/internal/detect"
)

// Box is a track's box at one frame.
type Box struct {
	Track int
	Label string
	detect.Box
	// Keyframe is true when an annotator set the box at this frame, false
	// when it is interpolated or held.
	Keyframe bool
	// Occluded is the occluded flag of the keyframe at or before the frame.
	Occluded bool
}

// Boxes returns every track's box at frame, in track order. Between two
// keyframes of a track a box moves linearly: at frame f between keyframe
// frames f0 < f1, each of x, y, w, h is v0 + (v1-v0)*(f-f0)/(f1-f0). After
// a track's last keyframe its box stays where it was until the clip ends;
// a track has no box before its first keyframe, nor from an outside
// keyframe until its next keyframe. An interpolated box is never moved
// towards an outside keyframe: it stays where the last box was.
// Boxes assumes a was checked (ParseAnnotation, Check); a frame outside the
// clip has no boxes.
func (a *Annotation) Boxes(frame int) []Box {
	if frame < 0 || frame >= a.Frames {
		return nil
	}
	var out []Box
	for _, t := range a.Tracks {
		if b, ok := t.boxAt(frame); ok {
			b.Label = t.Label
			out = append(out, b)
		}
	}
	return out
}

func (t *Track) boxAt(frame int) (Box, bool) {
	// The last keyframe at or before frame.
	lo, hi := 0, len(t.Keyframes)
	for lo < hi {
		m := (lo + hi) / 2
		if t.Keyframes[m].Frame <= frame {
			lo = m + 1
		} else {
			hi = m
		}
	}
	i := lo - 1
	if i < 0 {
		return Box{}, false
	}
	k0 := t.Keyframes[i]
	if k0.Outside || k0.Box == nil {
		return Box{}, false
	}
	b0 := *k0.Box
	b := Box{Track: t.ID, Occluded: k0.Occluded, Keyframe: k0.Frame == frame}
	b.Box = detect.Box{X: b0[0], Y: b0[1], W: b0[2], H: b0[3]}
	if b.Keyframe || i+1 == len(t.Keyframes) {
		return b, true
	}
	k1 := t.Keyframes[i+1]
	if k1.Outside || k1.Box == nil {
		return b, true
	}
	b1 := *k1.Box
	f := float64(frame-k0.Frame) / float64(k1.Frame-k0.Frame)
	lerp := func(v0, v1 float64) float64 { return v0 + (v1-v0)*f }
	b.Box = detect.Box{X: lerp(b0[0], b1[0]), Y: lerp(b0[1], b1[1]), W: lerp(b0[2], b1[2]), H: lerp(b0[3], b1[3])}
	return b, true
}

// keyframeFrames returns the frames at which some track has a box set by
// an annotator (not outside), ascending.
func (a *Annotation) keyframeFrames() []int {
	seen := map[int]bool{}
	for _, t := range a.Tracks {
		for _, k := range t.Keyframes {
			if !k.Outside {
				seen[k.Frame] = true
			}
		}
	}
	out := make([]int, 0, len(seen))
	for f := range seen {
		out = append(out, f)
	}
	slices.Sort(out)
	return out
}
