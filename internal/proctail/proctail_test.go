package proctail

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"
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

// TestPrintable: whatever a peer sends, the text is printable ASCII of at
// most max bytes, kept as is when it is already short and clean, and a cut
// says so.
func TestPrintable(t *testing.T) {
	for _, c := range []struct {
		in   string
		max  int
		want string
	}{
		{"", 10, ""},
		{"connection refused", 160, "connection refused"},
		{"invalid URL (\xb3ǔyW\x00\x1b[2J)", 160, "invalid URL (??yW??[2J)"},
		{"abcdefghij", 10, "abcdefghij"},
		{"abcdefghijk", 10, "abcdefg..."},
		{"abcdef", 2, "ab"},
		{"ǔǔǔǔ", 3, "???"},
		{"x", 0, ""},
	} {
		if got := Printable(c.in, c.max); got != c.want {
			t.Errorf("Printable(%q, %d) = %q, want %q", c.in, c.max, got, c.want)
		}
	}
}

// TestDescribe: a 2 KB hostile error becomes a short printable line.
func TestDescribe(t *testing.T) {
	long := errors.New("describe: invalid URL (" + strings.Repeat("\xb3\xc7\x94yW\x1b", 400) + ")")
	d := Describe(long)
	if len(d) > MaxDescription || strings.ContainsAny(d, "\x1b\xb3") || !strings.HasPrefix(d, "describe: invalid URL (??yW?") {
		t.Errorf("Describe of a 2 KB hostile error = %q (%d bytes)", d, len(d))
	}
	if Describe(nil) != "" {
		t.Errorf("Describe(nil) = %q", Describe(nil))
	}
}

func FuzzPrintable(f *testing.F) {
	f.Add("describe: invalid URL (\xb3\xc7\x94yW", 160)
	f.Add("", 0)
	f.Fuzz(func(t *testing.T, s string, n int) {
		n %= 4096
		got := Printable(s, n)
		if len(got) > max(n, 0) {
			t.Fatalf("Printable(%q, %d) is %d bytes", s, n, len(got))
		}
		for i := range len(got) {
			if got[i] < 0x20 || got[i] > 0x7e {
				t.Fatalf("Printable(%q, %d) = %q holds byte %#x", s, n, got, got[i])
			}
		}
		if n > 0 && len(got) < n && len(got) != utf8.RuneCountInString(s) {
			t.Fatalf("Printable(%q, %d) = %q cut a text that fitted", s, n, got)
		}
	})
}
