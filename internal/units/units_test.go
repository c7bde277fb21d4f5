package units

import (
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// byteSizeTests double as seeds for FuzzByteSize.
var byteSizeTests = []struct {
	in      string
	want    ByteSize
	wantErr string // substring of the error; "" means valid
}{
	{"0", 0, ""},
	{"4096", 4096, ""},
	{"512B", 512, ""},
	{"100k", 100_000, ""},
	{"100K", 100_000, ""},
	{"500MB", 500_000_000, ""},
	{"20GB", 20_000_000_000, ""},
	{"20 GB", 20_000_000_000, ""},
	{"  20gb  ", 20_000_000_000, ""},
	{"5Gb", 5_000_000_000, ""},
	{"2TB", 2_000_000_000_000, ""},
	{"1KiB", 1024, ""},
	{"1.5GiB", 1536 << 20, ""},
	{"1.5gib", 1536 << 20, ""},
	{"2MiB", 2 << 20, ""},
	{"1TiB", 1 << 40, ""},
	{"0.5KB", 500, ""},
	{".5KB", 500, ""},
	{"1.25MB", 1_250_000, ""},
	{"8388607TiB", 8388607 << 40, ""},
	{"20 GBB", 0, `"20 GBB": unknown unit "GBB" (use e.g. 500MB, 20GB)`},
	{"20XB", 0, `unknown unit "XB"`},
	{"12 bytes", 0, `unknown unit "bytes"`},
	{"", 0, "empty size"},
	{"GB", 0, "not a size"},
	{"-5GB", 0, "cannot be negative"},
	{"1.2.3GB", 0, "not a size"},
	{"1.GB", 0, "not a size"},
	{".", 0, "not a size"},
	{"1.0001KB", 0, "not a whole number of bytes"},
	{"0.5B", 0, "not a whole number of bytes"},
	{"8388608TiB", 0, "too large"},
	{"99999999999999999999", 0, "too large"},
	{"1e9", 0, `unknown unit "e9"`},
	{"0x10", 0, `unknown unit "x10"`},
}

func TestParseByteSize(t *testing.T) {
	for _, tt := range byteSizeTests {
		got, err := ParseByteSize(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseByteSize(%q) = %d, %v; want error containing %q", tt.in, got, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseByteSize(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
		}
	}
}

func TestByteSizeString(t *testing.T) {
	for _, tt := range []struct {
		in   ByteSize
		want string
	}{
		{0, "0"},
		{1, "1B"},
		{999, "999B"},
		{1000, "1KB"},
		{1024, "1KiB"},
		{1500, "1.5KB"},
		{20_000_000_000, "20GB"},
		{1536 << 20, "1.5GiB"},
		{5 << 30, "5GiB"},
		{1_234_567, "1234567B"},
		{1_234_000, "1234KB"},
		{1001, "1.001KB"},
		{-3, "-3B"},
	} {
		if got := tt.in.String(); got != tt.want {
			t.Errorf("ByteSize(%d).String() = %q, want %q", int64(tt.in), got, tt.want)
		}
	}
}

func TestByteSizeYAML(t *testing.T) {
	var v struct {
		A ByteSize `yaml:"a"`
		B ByteSize `yaml:"b"`
		C ByteSize `yaml:"c"`
	}
	if err := yaml.Unmarshal([]byte("a: 1048576\nb: 1.5GiB\nc: 0x400\n"), &v); err != nil {
		t.Fatal(err)
	}
	if v.A != 1<<20 || v.B != 1536<<20 || v.C != 1024 {
		t.Errorf("got %+v", v)
	}
	for _, bad := range []string{"a: -1\n", "a: [1]\n", "a: 1.5\n", "a: 3GBB\n"} {
		if err := yaml.Unmarshal([]byte(bad), &v); err == nil {
			t.Errorf("Unmarshal(%q) succeeded", bad)
		}
	}
	out, err := yaml.Marshal(struct {
		A ByteSize `yaml:"a"`
	}{20_000_000_000})
	if err != nil || string(out) != "a: 20GB\n" {
		t.Errorf("Marshal = %q, %v", out, err)
	}
}

func FuzzByteSize(f *testing.F) {
	for _, tt := range byteSizeTests {
		f.Add(tt.in)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseByteSize(s)
		if err != nil {
			return
		}
		if v < 0 {
			t.Fatalf("ParseByteSize(%q) = %d, negative", s, int64(v))
		}
		r := v.String()
		v2, err := ParseByteSize(r)
		if err != nil || v2 != v {
			t.Fatalf("ParseByteSize(%q) = %d; String() = %q parses to %d, %v", s, int64(v), r, int64(v2), err)
		}
	})
}

// durationTests double as seeds for FuzzDuration.
var durationTests = []struct {
	in      string
	want    Duration
	wantErr string
}{
	{"0", 0, ""},
	{"4s", Duration(4 * time.Second), ""},
	{"500ms", Duration(500 * time.Millisecond), ""},
	{"90m", Duration(90 * time.Minute), ""},
	{"720h", Duration(720 * time.Hour), ""},
	{"1h30m", Duration(90 * time.Minute), ""},
	{"30d", Duration(720 * time.Hour), ""},
	{"1d12h", Duration(36 * time.Hour), ""},
	{"1.5d", Duration(36 * time.Hour), ""},
	{".5d", Duration(12 * time.Hour), ""},
	{"-2d", Duration(-48 * time.Hour), ""},
	{"2h1d", Duration(26 * time.Hour), ""},
	{" 7d ", Duration(168 * time.Hour), ""},
	{"1.5µs", Duration(1500 * time.Nanosecond), ""},
	{"4", 0, "missing unit"},
	{"", 0, "not a duration"},
	{"d", 0, "not a duration"},
	{"1dd", 0, "not a duration"},
	{"1hd", 0, "not a duration"},
	{"4x", 0, `"4x": not a duration (use e.g. 4s, 90m, 720h, 30d)`},
	{"1.2.3d", 0, "not a duration"},
	{"9999999999d", 0, "not a duration"},
	{"four seconds", 0, "not a duration"},
}

func TestParseDuration(t *testing.T) {
	for _, tt := range durationTests {
		got, err := ParseDuration(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseDuration(%q) = %v, %v; want error containing %q", tt.in, got, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}

func TestDurationString(t *testing.T) {
	for _, tt := range []struct {
		in   Duration
		want string
	}{
		{0, "0s"},
		{Duration(4 * time.Second), "4s"},
		{Duration(720 * time.Hour), "30d"},
		{Duration(-48 * time.Hour), "-2d"},
		{Duration(36 * time.Hour), "36h0m0s"},
	} {
		if got := tt.in.String(); got != tt.want {
			t.Errorf("Duration(%d).String() = %q, want %q", int64(tt.in), got, tt.want)
		}
	}
}

func FuzzDuration(f *testing.F) {
	for _, tt := range durationTests {
		f.Add(tt.in)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseDuration(s)
		if err != nil {
			return
		}
		r := v.String()
		v2, err := ParseDuration(r)
		if err != nil || v2 != v {
			t.Fatalf("ParseDuration(%q) = %d; String() = %q parses to %d, %v", s, int64(v), r, int64(v2), err)
		}
	})
}

func TestIsLoopbackHost(t *testing.T) {
	for host, want := range map[string]bool{
		"localhost": true, "127.0.0.1": true, "127.8.9.10": true, "::1": true,
		"0.0.0.0": false, "::": false, "192.168.1.2": false, "example.com": false,
		"localhost.example.com": false, "": false, "[::1]": false,
	} {
		if got := IsLoopbackHost(host); got != want {
			t.Errorf("IsLoopbackHost(%q) = %v, want %v", host, got, want)
		}
	}
}
