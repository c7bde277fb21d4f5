// Package proctail keeps the last bytes a child process writes to one of
// its streams (ffmpeg's stderr, a probe's stdout), so that the error of a
// process that failed can say why in its own words.
//
// It owns Buffer, an io.Writer safe for concurrent use that holds at most
// its last Max bytes, and LastLine, the last non-empty line of them made
// safe for a log line or an error shown to a person. Printable is that
// filter on its own, with a length cap, for any text a peer sent on its way
// to a log line, and Describe applies it to an error: the hub logs a
// camera's, an ONVIF device's or another peer's error only through it.
//
// What it must never do: grow past Max whatever is written, or hand out a
// line with control or non-ASCII bytes (a camera's stream or a member's
// clip is hostile and its metadata ends up in ffmpeg's messages).
package proctail

import (
	"strings"
	"sync"
)

// Buffer keeps the last Max bytes written to it.
type Buffer struct {
	Max int

	mu sync.Mutex
	b  []byte
}

// New returns a Buffer that keeps the last max bytes.
func New(max int) *Buffer { return &Buffer{Max: max} }

// Write keeps the end of p; it never fails.
func (t *Buffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := len(p)
	if len(p) > t.Max {
		p = p[len(p)-t.Max:]
	}
	t.b = append(t.b, p...)
	if over := len(t.b) - t.Max; over > 0 {
		t.b = append(t.b[:0], t.b[over:]...)
	}
	return n, nil
}

// String returns the bytes kept.
func (t *Buffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}

// LastLine returns the last non-empty line kept, trimmed, with every byte
// outside printable ASCII replaced by '?'; "" when nothing was written.
func (t *Buffer) LastLine() string {
	s := strings.TrimSpace(t.String())
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = strings.TrimSpace(s[i+1:])
	}
	return Printable(s, len(s))
}

// MaxDescription bounds Describe's text in bytes.
const MaxDescription = 160

// Describe returns err's text fit for a log line: printable ASCII only and
// at most MaxDescription bytes; "" for nil. An error from a camera or any
// other peer may embed the bytes it sent (a garbage RTSP answer ends up in
// "invalid URL (...)"): only this description of it is logged.
func Describe(err error) string {
	if err == nil {
		return ""
	}
	return Printable(err.Error(), MaxDescription)
}

// Printable returns s with every rune outside printable ASCII (controls,
// non-ASCII, invalid UTF-8) replaced by '?', cut to at most max bytes: a
// cut text ends in "..." within those max bytes. It reads no more of s
// than it returns, so a huge s costs no more than a short one.
func Printable(s string, max int) string {
	if max <= 0 {
		return ""
	}
	var b strings.Builder
	b.Grow(min(len(s), max))
	for _, r := range s {
		if b.Len() == max {
			// One more rune than fits: cut, leaving room for the mark.
			const mark = "..."
			out := b.String()
			if max <= len(mark) {
				return out[:max]
			}
			return out[:max-len(mark)] + mark
		}
		if r < 0x20 || r > 0x7e {
			r = '?'
		}
		b.WriteByte(byte(r))
	}
	return b.String()
}
