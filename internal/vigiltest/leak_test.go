package vigiltest

import (
	"bytes"
	"crypto/ed25519"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"vigil/internal/envelope"
)

// TestLeakScanFindsRealMedia: every kind of media the system handles, made
// by ffmpeg or Go's encoder, is found in the clear, also in the middle of
// other bytes; sealed, it is not.
func TestLeakScanFindsRealMedia(t *testing.T) {
	ff := RequireTool(t, "ffmpeg", "ffmpeg")
	dir := t.TempDir()
	make1 := func(name string, args ...string) []byte {
		out := filepath.Join(dir, name)
		cmd := exec.Command(ff, append(append([]string{"-hide_banner", "-loglevel", "error",
			"-f", "lavfi", "-i", "testsrc=size=320x240:rate=10", "-t", "1", "-pix_fmt", "yuv420p"}, args...), out)...)
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("ffmpeg %s: %v\n%s", name, err, b)
		}
		return readFile(t, out)
	}
	var goJPEG bytes.Buffer
	img := image.NewRGBA(image.Rect(0, 0, 64, 48))
	for i := range img.Pix {
		img.Pix[i] = byte(i * 7)
	}
	img.Set(3, 3, color.White)
	if err := jpeg.Encode(&goJPEG, img, &jpeg.Options{Quality: 80}); err != nil {
		t.Fatal(err)
	}
	media := []struct {
		name string
		b    []byte
		want string
	}{
		{"fragmented MP4", make1("f.mp4", "-c:v", "libx264", "-movflags", "frag_keyframe+empty_moov+default_base_moof"), "MP4 movie fragment"},
		{"progressive MP4", make1("p.mp4", "-c:v", "libx264", "-movflags", "+faststart"), "MP4 movie box"},
		{"MP4 with avcC", make1("a.mp4", "-c:v", "libx264"), "MP4 avcC record"},
		{"MP4 file type", make1("t.mp4", "-c:v", "libx264"), "MP4 file-type box"},
		{"H.264 Annex B", make1("e.h264", "-c:v", "libx264", "-profile:v", "main"), "H.264 SPS"},
		{"H.264 baseline", make1("b.h264", "-c:v", "libx264", "-profile:v", "baseline"), "H.264 SPS"},
		{"H.265 Annex B", make1("e.hevc", "-c:v", "libx265", "-x265-params", "log-level=error"), "H.265 VPS"},
		{"HEVC MP4", make1("h.mp4", "-c:v", "libx265", "-tag:v", "hvc1", "-x265-params", "log-level=error"), "MP4 hvcC record"},
		{"ffmpeg JPEG", make1("j.jpg", "-frames:v", "1"), "JPEG image"},
		{"Go JPEG", goJPEG.Bytes(), "JPEG image"},
	}
	signer := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, 32))
	id, err := envelope.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range media {
		var s LeakScan
		embedded := append(append(bytes.Repeat([]byte("x"), 1001), m.b...), 0, 1, 2)
		for _, b := range [][]byte{m.b, embedded} {
			found := strings.Join(s.Check(m.name, b), "\n")
			if !strings.Contains(found, m.want) {
				t.Errorf("%s (%d bytes): %s not found; found:\n%s", m.name, len(b), m.want, found)
			}
		}
		sealed, err := envelope.Seal(envelope.Header{Kind: envelope.KindSegment, Stream: "front", Epoch: 1, Start: time.Unix(1e9, 0)},
			time.Unix(1e9+1, 0), signer, m.b, id.Recipient())
		if err != nil {
			t.Fatal(err)
		}
		if found := s.Check(m.name+" sealed", sealed); len(found) > 0 {
			t.Errorf("sealed %s: %v", m.name, found)
		}
		if n := s.Plaintext(m.name, m.b); n == 0 {
			t.Errorf("%s: no plaintext sample taken", m.name)
		}
		if found := s.Check(m.name+" sealed", sealed); len(found) > 0 {
			t.Errorf("sealed %s, plaintext known: %v", m.name, found)
		}
		if found := s.Check(m.name+" copied", append([]byte("prefix"), m.b...)); len(found) == 0 {
			t.Errorf("%s: known plaintext not found in a copy", m.name)
		}
	}
}

// TestLeakScanIgnoresChance: 32 MiB of random bytes and thousands of sealed
// objects whose public header puts epoch 1 right before a random salt match
// no signature. Four-byte signatures failed both (about one object in 85
// had "00 00 01 67|68|65" across its epoch and salt).
func TestLeakScanIgnoresChance(t *testing.T) {
	var s LeakScan
	s.Secret("test secret", []byte("secret-key-material-0123456789"))
	rnd := rand.New(rand.NewChaCha8([32]byte{1, 2, 3}))
	random := make([]byte, 32<<20)
	for i := 0; i+8 <= len(random); i += 8 {
		v := rnd.Uint64()
		for k := range 8 {
			random[i+k] = byte(v >> (8 * k))
		}
	}
	if found := s.Check("random", random); len(found) > 0 {
		t.Errorf("random bytes: %v", found)
	}

	signer := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{9}, 32))
	id, err := envelope.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	startCodeAfterEpoch := 0
	for i := range 3000 {
		sealed, err := envelope.Seal(envelope.Header{Kind: envelope.KindSegment, Stream: "front", Epoch: 1, Sequence: uint64(i), Start: time.Unix(1e9, 0)},
			time.Unix(1e9+1, 0), signer, random[i*100:i*100+300], id.Recipient())
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(sealed, []byte{0, 0, 1}) {
			startCodeAfterEpoch++
		}
		if found := s.Check("sealed", sealed); len(found) > 0 {
			t.Fatalf("sealed object %d: %v", i, found)
		}
	}
	if startCodeAfterEpoch < 2000 {
		t.Fatalf("only %d of 3000 objects hold 00 00 01; the header layout changed and this test no longer covers it", startCodeAfterEpoch)
	}

	if found := s.Check("log", []byte("...secret-key-material-0123456789...")); len(found) != 1 {
		t.Errorf("secret: %v", found)
	}
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestLeakScanPublic: bytes registered as public (a log entry's tag, epoch
// and ephemeral key, where a big-endian 1 before a random key once made an
// SPS by chance) are left out of the media signatures wherever they occur,
// and only there; secrets in them are still found.
func TestLeakScanPublic(t *testing.T) {
	sps := []byte{0, 0, 0, 1, 0x67, 0x64, 0x00, 0x1f} // epoch 1, then a key that looks like an SPS
	entry := append(append(append([]byte{1, 2}, bytes.Repeat([]byte{0xa5}, 32)...), sps...), bytes.Repeat([]byte{0x5a}, 30)...)
	file := append(append([]byte("page header "), entry...), " more"...)

	var s LeakScan
	if found := s.Check("file", file); len(found) != 1 {
		t.Fatalf("before Public: %v, want the chance SPS found", found)
	}
	s.Public(entry)
	if found := s.Check("file", file); len(found) != 0 {
		t.Errorf("the entry public: %v, want nothing", found)
	}
	if found := s.Check("elsewhere", append([]byte("x"), sps...)); len(found) != 1 {
		t.Errorf("the same bytes outside the entry: %v, want the SPS found", found)
	}
	s.Secret("key", entry[2:34])
	if found := s.Check("file", file); len(found) != 1 {
		t.Errorf("a secret inside public bytes: %v, want it found", found)
	}
	if !bytes.Equal(file[12:12+len(entry)], entry) {
		t.Error("Check changed the bytes it was given")
	}
}

// TestLeakScanPack: sealed objects one after another in a file (a blob
// pack, with record framing between them) have their headers left out of
// the media signatures as a lone object's is: an epoch of 1 followed by a
// salt that happens to read as an SPS's type, profile and level (once in
// about 15,000 objects) is not media. The same bytes between the objects
// are.
func TestLeakScanPack(t *testing.T) {
	signer := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{9}, 32))
	id, err := envelope.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	spsSalt := []byte{0x67, 0x64, 0x00, 0x1f}
	pack := []byte("pack-header-24-bytes....")
	for i := range 3 {
		const stream = "front"
		sealed, err := envelope.Seal(envelope.Header{Kind: envelope.KindSegment, Stream: stream, Epoch: 1, Sequence: uint64(i), Start: time.Unix(1e9, 0)},
			time.Unix(1e9+1, 0), signer, bytes.Repeat([]byte{byte(i)}, 5000), id.Recipient())
		if err != nil {
			t.Fatal(err)
		}
		salt := 35 + len(stream) // FORMAT.md: epoch at 31+L, salt at 35+L
		if !bytes.Equal(sealed[salt-4:salt], []byte{0, 0, 0, 1}) {
			t.Fatalf("epoch bytes %x: the header layout changed", sealed[salt-4:salt])
		}
		copy(sealed[salt:], spsSalt)
		pack = append(pack, fmt.Sprintf("record %d key segments/front/%d ", i, i)...)
		pack = append(pack, sealed...)
	}
	var s LeakScan
	if found := s.Check("pack", pack); len(found) != 0 {
		t.Errorf("three objects whose salts read as an SPS after the epoch: %v, want nothing", found)
	}
	if found := s.Check("object", pack[bytes.Index(pack, []byte("vigil.so")):]); len(found) != 0 {
		t.Errorf("the same from the first object on: %v, want nothing", found)
	}
	framed := append(bytes.Clone(pack), append([]byte{0, 0, 0, 1}, spsSalt...)...)
	if found := s.Check("pack", framed); len(found) != 1 || !strings.Contains(found[0], "H.264 SPS") {
		t.Errorf("an SPS after the last object: %v, want it found", found)
	}
	broken := bytes.Clone(pack)
	at := bytes.LastIndex(broken, []byte("vigil.so"))
	broken[at+8] = 0x7f // an unknown format version: not an object, so not masked
	if found := s.Check("pack", broken); len(found) != 1 || !strings.Contains(found[0], "H.264 SPS") {
		t.Errorf("an object that does not parse: %v, want its chance SPS found", found)
	}
}
