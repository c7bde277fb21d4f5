package events

import (
	"slices"
	"time"
)

// Range is a stretch of recording, Start inclusive, End exclusive.
type Range struct {
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
}

// Retain returns the recording to keep around events: each event's span
// widened by pre before and post after, merged where they overlap or
// touch, sorted by start. An open event (zero End) runs until now.
func Retain(evs []Event, pre, post time.Duration, now time.Time) []Range {
	rs := make([]Range, 0, len(evs))
	for _, e := range evs {
		end := e.End
		if end.IsZero() {
			end = now
		}
		if end.Before(e.Start) {
			end = e.Start
		}
		rs = append(rs, Range{Start: e.Start.Add(-pre), End: end.Add(post)})
	}
	slices.SortFunc(rs, func(a, b Range) int { return a.Start.Compare(b.Start) })
	out := rs[:0]
	for _, r := range rs {
		if n := len(out); n > 0 && !r.Start.After(out[n-1].End) {
			if r.End.After(out[n-1].End) {
				out[n-1].End = r.End
			}
			continue
		}
		out = append(out, r)
	}
	return out
}
