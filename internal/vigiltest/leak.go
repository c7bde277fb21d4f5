package vigiltest

import (
	"bytes"
	"fmt"

	"vigil/internal/envelope"
)

// A LeakScan looks for media and secrets in bytes that must hold only
// ciphertext and public metadata: the cloud's files and database (G2), a
// hub's disk (G9).
//
// It must find real media and never report chance: a sealed object is
// megabytes of random bytes, in which any fixed 4-byte pattern (an H.264
// start code and NAL type, "ftyp") turns up once per 4 GiB on average, and
// the public header puts the epoch's big-endian bytes right before a random
// salt, which makes "00 00 01 xx" about once per 256 objects. So the media
// signatures below each fix at least 37 bits of what real media always
// carries, the random fields of a sealed object's header and footer are not
// scanned, and known plaintext is matched as 32-byte samples (a chance
// match of one is 2^-256).
type LeakScan struct {
	needles []leakNeedle
	public  [][]byte // masked before media signatures are matched (Public)
}

type leakNeedle struct {
	what string
	b    []byte
}

// mediaSignatures are what every MP4, H.264/H.265 elementary stream or JPEG
// in the clear contains, written tightly enough that random bytes do not
// match them.
var mediaSignatures = []signature{
	// A file-type box: 32-bit size 16..64, "ftyp", a brand of four
	// letters, digits or spaces (isom, iso5, mp42, avc1, "qt  ").
	sig("MP4 file-type box", lit("\x00\x00\x00"), rng(0x10, 0x40), lit("ftyp"), brand, brand, brand, brand),
	// A movie fragment always starts with its 16-byte header box.
	sig("MP4 movie fragment", lit("moof\x00\x00\x00\x10mfhd")),
	// A movie box starts with its movie header, version 0 or 1.
	sig("MP4 movie box", lit("moov\x00\x00\x00"), oneOf(0x6c, 0x78), lit("mvhd")),
	// An AVC decoder configuration: version 1, then an H.264 profile.
	sig("MP4 avcC record", lit("avcC\x01"), h264Profile),
	// An HEVC decoder configuration: version 1, then profile space 0 and
	// a profile of 1..31.
	sig("MP4 hvcC record", lit("hvcC\x01"), rng(0x01, 0x1f)),
	// An Annex B H.264 sequence parameter set: start code, NAL type 7 with
	// a non-zero reference index, a profile, constraint flags, a level
	// between 0.9 and 6.2.
	sig("H.264 SPS", lit("\x00\x00\x01"), oneOf(0x27, 0x47, 0x67), h264Profile, anyByte, rng(0x09, 0x3e)),
	// An Annex B H.265 video parameter set: start code, NAL type 32,
	// layer 0, temporal id 1, VPS id 0 with its reserved bits set.
	sig("H.265 VPS", lit("\x00\x00\x01\x40\x01\x0c\x01\xff\xff")),
	// A JPEG's start of image and its first segment: quantisation tables
	// (Go's encoder, libjpeg without a JFIF marker), JFIF or Exif.
	sig("JPEG image", lit("\xff\xd8\xff\xdb\x00"), oneOf(0x43, 0x84), lit("\x00")),
	sig("JPEG image", lit("\xff\xd8\xff\xe0\x00\x10JFIF\x00")),
	sig("JPEG image", lit("\xff\xd8\xff\xe1"), anyByte, anyByte, lit("Exif\x00\x00")),
}

var (
	h264Profile = oneOf(0x42, 0x4d, 0x58, 0x64, 0x6e, 0x7a, 0xf4) // baseline .. high 4:4:4
	anyByte     = rng(0x00, 0xff)
	brand       = func() []byteSet {
		var s byteSet
		for _, c := range []byte("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ ") {
			s[c] = true
		}
		return []byteSet{s}
	}()
)

// A signature is a sequence of byte sets; it is found by its longest run
// of single bytes (the anchor) and then checked set by set. Go's regexp
// package matches UTF-8 text, not bytes above 0x7f, hence this.
type signature struct {
	what      string
	sets      []byteSet
	anchor    []byte
	anchorOff int
}

type byteSet [256]bool

func lit(s string) []byteSet {
	out := make([]byteSet, len(s))
	for i := range len(s) {
		out[i][s[i]] = true
	}
	return out
}

func oneOf(bs ...byte) []byteSet {
	var s byteSet
	for _, b := range bs {
		s[b] = true
	}
	return []byteSet{s}
}

func rng(lo, hi byte) []byteSet {
	var s byteSet
	for c := int(lo); c <= int(hi); c++ {
		s[c] = true
	}
	return []byteSet{s}
}

func sig(what string, parts ...[]byteSet) signature {
	g := signature{what: what}
	for _, p := range parts {
		g.sets = append(g.sets, p...)
	}
	single := func(s *byteSet) (byte, bool) {
		n, v := 0, byte(0)
		for c, ok := range s {
			if ok {
				n, v = n+1, byte(c)
			}
		}
		return v, n == 1
	}
	for i := 0; i < len(g.sets); {
		j := i
		var run []byte
		for j < len(g.sets) {
			c, ok := single(&g.sets[j])
			if !ok {
				break
			}
			run = append(run, c)
			j++
		}
		if len(run) > len(g.anchor) {
			g.anchor, g.anchorOff = run, i
		}
		i = j + 1
	}
	return g
}

// find returns the offset of the first match in b, or -1.
func (g *signature) find(b []byte) int {
	for from := 0; ; {
		i := bytes.Index(b[from:], g.anchor)
		if i < 0 {
			return -1
		}
		start := from + i - g.anchorOff
		from += i + 1
		if start < 0 || start+len(g.sets) > len(b) {
			continue
		}
		ok := true
		for k := range g.sets {
			if !g.sets[k][b[start+k]] {
				ok = false
				break
			}
		}
		if ok {
			return start
		}
	}
}

// Secret adds bytes that must appear nowhere: a private key, a token, a
// label. Secrets shorter than 8 bytes would match by chance and are
// refused.
func (s *LeakScan) Secret(what string, b []byte) {
	if len(b) < 8 {
		panic(fmt.Sprintf("vigiltest: secret %q of %d bytes is too short to scan for", what, len(b)))
	}
	s.needles = append(s.needles, leakNeedle{what, bytes.Clone(b)})
}

// Plaintext adds known plaintext (footage, a snapshot, an event record)
// whose bytes must not appear anywhere: up to 64 samples of 32 bytes,
// spread over p, each with at least 12 distinct byte values so that
// padding and runs of zeros, which ciphertext headers share, are not
// taken. It returns the number of samples taken; the caller should fail
// when that is 0.
func (s *LeakScan) Plaintext(what string, p []byte) int {
	const size, want = 32, 64
	if len(p) < size {
		return 0
	}
	step := max(1, (len(p)-size)/want)
	taken := 0
	for off := 0; off+size <= len(p) && taken < want; off += step {
		w := p[off : off+size]
		var seen [256]bool
		distinct := 0
		for _, c := range w {
			if !seen[c] {
				seen[c] = true
				distinct++
			}
		}
		if distinct < 12 {
			continue
		}
		s.needles = append(s.needles, leakNeedle{fmt.Sprintf("%s (bytes %d..%d)", what, off, off+size), bytes.Clone(w)})
		taken++
	}
	return taken
}

// Public adds bytes that are public by design and random-looking (a log
// entry's tag, epoch and encapsulated key, say): wherever they occur they
// are left out of the media signatures' match, which random bytes after a
// structured field (a big-endian 1 before an ephemeral key) meet by chance
// once in about ten thousand entries. Secrets and plaintext are still
// looked for in them. Shorter than 16 bytes is ignored: too common.
func (s *LeakScan) Public(b []byte) {
	if len(b) >= 16 {
		s.public = append(s.public, bytes.Clone(b))
	}
}

// maskPublic returns scan, or a copy with every occurrence of a public
// byte string zeroed.
func (s *LeakScan) maskPublic(scan []byte) []byte {
	copied := false
	for _, p := range s.public {
		for from := 0; ; {
			i := bytes.Index(scan[from:], p)
			if i < 0 {
				break
			}
			if !copied {
				scan, copied = bytes.Clone(scan), true
			}
			clear(scan[from+i : from+i+len(p)])
			from += i + len(p)
		}
	}
	return scan
}

// Check returns one finding per kind of leak in b, which was read from
// where. A sealed object's header and footer fields other than its stream
// name are public by design and partly random, so they are not scanned
// (see maskSealed), whether the object is a file of its own or one of many
// in a blob pack; its stream name and encrypted body are.
func (s *LeakScan) Check(where string, b []byte) []string {
	scan := s.maskPublic(maskSealed(b))
	var found []string
	for _, sig := range mediaSignatures {
		if i := sig.find(scan); i >= 0 {
			found = append(found, fmt.Sprintf("%s: %s in the clear at offset %d", where, sig.what, i))
		}
	}
	for _, n := range s.needles {
		if i := bytes.Index(b, n.b); i >= 0 {
			found = append(found, fmt.Sprintf("%s: holds the %s at offset %d", where, n.what, i))
		}
	}
	return found
}

// footerSize is the fixed size of a sealed object's footer (FORMAT.md,
// "Footer (112 bytes)").
const footerSize = 112

// sealedMagic starts every sealed object (FORMAT.md).
var sealedMagic = []byte("vigil.so")

// maskSealed returns b itself, or a copy in which every sealed object's
// header (but its stream name) is zeroed, and, when b is one object whole,
// its footer too. Objects are found wherever they start: a blob pack holds
// many one after another, each with a big-endian epoch right before its
// random salt ("00 00 00 01" then 32 random bytes, an H.264 start code
// followed by chance bytes that make an SPS once in about 15,000
// objects). Inside a pack an object's end is not known here, so its
// footer is scanned: there the random hash and signature follow two
// big-endian numbers (the length and the end time) whose own bytes would
// have to form the start code, type, profile and level, which they do only
// for objects of 64 to 128 KiB with particular low bytes, and only in some
// weeks.
func maskSealed(b []byte) []byte {
	m, copied := b, false
	for from := 0; ; {
		i := bytes.Index(b[from:], sealedMagic)
		if i < 0 {
			return m
		}
		at := from + i
		from = at + 1
		r := bytes.NewReader(b[at:])
		h, err := envelope.Inspect(r)
		if err != nil {
			continue // not a well-formed object: scan every byte
		}
		headerLen := len(b) - at - r.Len()
		if at == 0 && headerLen+footerSize > len(b) {
			return b
		}
		if !copied {
			m, copied = bytes.Clone(b), true
		}
		clear(m[at : at+headerLen])
		copy(m[at+15:], h.Stream) // FORMAT.md: the stream name is at offset 15
		if at == 0 {
			clear(m[len(m)-footerSize:])
		}
		from = at + headerLen
	}
}
