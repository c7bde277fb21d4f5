package proctail

import (
	"strings"
	"sync"
	"testing"
)

// TestBuffer: a Buffer keeps exactly its last Max bytes whatever the
// writes' sizes, concurrent writers included, and LastLine gives the last
// non-empty line with hostile bytes replaced.
func TestBuffer(t *testing.T) {
	b := New(8)
	for _, w := range []string{"abc", "defghij", "klmnopqrstuvwxyz", "1"} {
		if n, err := b.Write([]byte(w)); n != len(w) || err != nil {
			t.Fatalf("Write(%q) = %d, %v", w, n, err)
		}
	}
	if got := b.String(); got != "tuvwxyz1" {
		t.Errorf("kept %q, want the last 8 bytes %q", got, "tuvwxyz1")
	}

	var wg sync.WaitGroup
	c := New(100)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 {
				c.Write([]byte(strings.Repeat("x", 37)))
			}
		}()
	}
	wg.Wait()
	if len(c.String()) != 100 {
		t.Errorf("kept %d bytes, want 100", len(c.String()))
	}

	for in, want := range map[string]string{
		"":                    "",
		"first\nsecond\n\n  ": "second",
		"one line":            "one line",
		"a\n in.mp4: Invalid data \x1b[31m\xff\n": "in.mp4: Invalid data ?[31m?",
		"only\r\ncarriage\r\n":                    "carriage",
	} {
		d := New(4096)
		d.Write([]byte(in))
		if got := d.LastLine(); got != want {
			t.Errorf("LastLine of %q = %q, want %q", in, got, want)
		}
	}
}
