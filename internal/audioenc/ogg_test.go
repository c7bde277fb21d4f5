package audioenc

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

// oggPage builds one Ogg page holding segs as lacing values and data.
func oggPage(flags byte, lacing []byte, data []byte) []byte {
	b := []byte("OggS")
	b = append(b, 0, flags)
	b = append(b, make([]byte, 20)...)
	b = append(b, byte(len(lacing)))
	b = append(b, lacing...)
	return append(b, data...)
}

// TestOggPackets: packets are cut at lacing values below 255 and joined
// across pages; bad headers, truncation and oversized packets are errors.
func TestOggPackets(t *testing.T) {
	big := bytes.Repeat([]byte{7}, 255)
	stream := append(oggPage(0, []byte{3, 2}, []byte("abcde")), oggPage(0, []byte{255}, big)...)
	stream = append(stream, oggPage(1, []byte{1}, []byte("z"))...)
	var got []string
	if err := OggPackets(bytes.NewReader(stream), func(p []byte) { got = append(got, fmt.Sprint(len(p))) }); err != nil {
		t.Fatal(err)
	}
	if s := strings.Join(got, ","); s != "3,2,256" {
		t.Errorf("packets of %s bytes, want 3,2,256", s)
	}
	huge := []byte{}
	for range MaxPacket/(255*255) + 2 {
		huge = append(huge, oggPage(1, bytes.Repeat([]byte{255}, 255), bytes.Repeat([]byte{1}, 255*255))...)
	}
	for name, b := range map[string][]byte{
		"not ogg":   []byte("hello, this is not an ogg stream at all"),
		"truncated": stream[:len(stream)-3],
		"huge":      huge,
	} {
		if err := OggPackets(bytes.NewReader(b), func([]byte) {}); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// TestOpusSamples: packet lengths from the table of contents.
func TestOpusSamples(t *testing.T) {
	for _, c := range []struct {
		p    []byte
		want int
	}{
		{[]byte{0xfc}, 960},        // CELT 20 ms, one frame
		{[]byte{0x08}, 960},        // SILK 20 ms
		{[]byte{0x19}, 2 * 2880},   // SILK 60 ms, two frames
		{[]byte{0x03, 0x03}, 1440}, // SILK 10 ms, three frames (code 3)
		{[]byte{0x1b, 0x03}, 0},    // 3 x 60 ms: too long
		{[]byte{0x03}, 0},          // code 3 without a frame count
		{[]byte{0x03, 0x00}, 0},    // no frames
		{nil, 0},
	} {
		n, err := Samples(c.p)
		if c.want == 0 && err == nil || c.want != 0 && n != c.want {
			t.Errorf("% x: %d, %v; want %d", c.p, n, err, c.want)
		}
	}
}

func FuzzOggPackets(f *testing.F) {
	f.Add(oggPage(0, []byte{3, 2}, []byte("abcde")))
	f.Add(append(oggPage(0, []byte{255}, bytes.Repeat([]byte{1}, 255)), oggPage(1, []byte{0}, nil)...))
	f.Fuzz(func(t *testing.T, b []byte) {
		_ = OggPackets(bytes.NewReader(b), func(p []byte) {
			if len(p) > MaxPacket {
				t.Fatalf("a packet of %d bytes", len(p))
			}
		})
	})
}

func FuzzOpusSamples(f *testing.F) {
	f.Add([]byte{0xfc})
	f.Add([]byte{0x03, 0x83})
	f.Fuzz(func(t *testing.T, b []byte) {
		n, err := Samples(b)
		if err == nil && (n <= 0 || n > MaxSamples) {
			t.Fatalf("% x: %d samples", b, n)
		}
	})
}
