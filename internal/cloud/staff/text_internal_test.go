package staff

import (
	"strings"
	"testing"
)

// TestTextCountsCharacters: a subject or note is bounded in characters,
// as the console's form counts them, so a subject with accents or curly
// quotes that fits the form is not refused for its bytes.
func TestTextCountsCharacters(t *testing.T) {
	for _, c := range []struct {
		v         string
		max       int
		multiline bool
		ok        bool
	}{
		{strings.Repeat("é", 120), maxSubject, false, true},
		{"\u201c" + strings.Repeat("x", 118) + "\u201d", maxSubject, false, true},
		{strings.Repeat("é", 121), maxSubject, false, false},
		{strings.Repeat("x", 121), maxSubject, false, false},
		{"  padded  ", maxSubject, false, true},
		{"", maxSubject, false, false},
		{"two\nlines", maxSubject, false, false},
		{"two\nlines", maxNote, true, true},
		{"bell\a", maxNote, true, false},
		{"bad \xff utf-8", maxNote, true, false},
	} {
		_, err := text("subject", c.v, c.max, c.multiline)
		if (err == nil) != c.ok {
			t.Errorf("text(%.20q, %d, %v): %v, want ok=%v", c.v, c.max, c.multiline, err, c.ok)
		}
	}
}
