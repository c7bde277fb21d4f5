package canonjson

import (
	"strings"
	"testing"
	"time"
)

// TestCanonical: Marshal writes no spaces and no HTML escapes; Decode
// refuses unknown fields and trailing data; times round-trip only in the
// one form, at millisecond precision.
func TestCanonical(t *testing.T) {
	b, err := Marshal(struct {
		A string `json:"a"`
		B int    `json:"b"`
	}{"<&>", 1})
	if err != nil || string(b) != `{"a":"<&>","b":1}` {
		t.Errorf("Marshal = %s, %v", b, err)
	}
	var v struct {
		A string `json:"a"`
	}
	if err := Decode([]byte(`{"a":"x"}`), &v); err != nil || v.A != "x" {
		t.Errorf("Decode: %+v %v", v, err)
	}
	for _, bad := range []string{`{"a":"x","c":1}`, `{"a":"x"} {}`, `{"a":"x"}]`, `{"a":`, ``} {
		if err := Decode([]byte(bad), &v); err == nil {
			t.Errorf("Decode accepts %q", bad)
		}
	}
	tm := time.Date(2026, 12, 3, 18, 0, 0, 123e6, time.UTC)
	s, ok := FormatTime(tm.In(time.FixedZone("x", 3600)))
	if !ok || s != "2026-12-03T18:00:00.123Z" {
		t.Errorf("FormatTime = %q %v", s, ok)
	}
	if back, ok := ParseTime(s); !ok || !back.Equal(tm) {
		t.Errorf("ParseTime(%q) = %v %v", s, back, ok)
	}
	if _, ok := FormatTime(tm.Add(time.Microsecond)); ok {
		t.Error("FormatTime accepts a time finer than a millisecond")
	}
	if _, ok := FormatTime(time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)); ok {
		t.Error("FormatTime accepts the year 10000")
	}
	for _, bad := range []string{"2026-12-03T18:00:00Z", "2026-12-03T18:00:00.123+00:00", "2026-12-03T18:00:00.1234Z", strings.ToLower("2026-12-03T18:00:00.123Z")} {
		if _, ok := ParseTime(bad); ok {
			t.Errorf("ParseTime accepts %q", bad)
		}
	}
}
