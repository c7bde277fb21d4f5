package envelope

import (
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"time"
	"unicode/utf8"
)

// Format constants. See docs/FORMAT.md for the byte layout.
const (
	// DefaultChunkSize is the plaintext chunk size used when
	// Header.ChunkSize is 0.
	DefaultChunkSize = 64 << 10
	// MinChunkSize and MaxChunkSize bound Header.ChunkSize.
	MinChunkSize = 1 << 10
	MaxChunkSize = 16 << 20
	// MaxStanzas is the largest number of recipients of one object.
	MaxStanzas = 64
	// MaxStreamLen is the longest Header.Stream, in bytes.
	MaxStreamLen = 255

	magic         = "vigil.so"
	formatVersion = 0x01

	fileKeySize = 32
	saltSize    = 32
	macSize     = 32
	tagSize     = 16
	nonceSize   = 12
	hintSize    = 4
	encSize     = 32
	wrappedSize = fileKeySize + tagSize
	stanzaSize  = 1 + hintSize + encSize + wrappedSize

	// headerFixedSize is the header size without the stream bytes and the
	// stanzas: magic+version, kind, chunk_size, stream length, sequence,
	// start, epoch, salt, signer, stanza count, MAC.
	headerFixedSize = len(magic) + 1 + 1 + 4 + 1 + 8 + 8 + 4 + saltSize + ed25519.PublicKeySize + 1 + macSize
	maxHeaderSize   = headerFixedSize + MaxStreamLen + MaxStanzas*stanzaSize

	// footerSize is payload_length, end, commitment, signature.
	footerSize = 8 + 8 + sha256.Size + ed25519.SignatureSize

	infoPayload   = "vigil/envelope/v1/payload"
	infoHeaderMAC = "vigil/envelope/v1/header"
	sigContext    = "vigil/envelope/v1/signature\x00"
)

// Kind is the kind of content a sealed object holds.
type Kind uint8

// Object kinds. Any other value is rejected by writers and readers.
const (
	KindSegment  Kind = 1 // a recorded video segment (fMP4)
	KindSnapshot Kind = 2 // a still image
	KindEvent    Kind = 3 // an event record (detections, zones, times)
	KindClip     Kind = 4 // an exported or shared clip
	KindState    Kind = 5 // a hub state record: what the hub verified (internal/history)
)

func (k Kind) valid() bool { return k >= KindSegment && k <= KindState }

// String returns the lower-case name of k, or "Kind(N)" for an unknown value.
func (k Kind) String() string {
	switch k {
	case KindSegment:
		return "segment"
	case KindSnapshot:
		return "snapshot"
	case KindEvent:
		return "event"
	case KindClip:
		return "clip"
	case KindState:
		return "state"
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// Header holds the public, authenticated metadata of a sealed object.
//
// The header is not encrypted: anyone holding the object (the cloud, for
// instance) can read it with [Inspect]. Put nothing in it that the cloud
// must not see.
type Header struct {
	Kind     Kind
	Stream   string    // e.g. a camera id; valid UTF-8, at most MaxStreamLen bytes
	Sequence uint64    // producer-assigned sequence number within Stream
	Start    time.Time // stored as int64 Unix nanoseconds (years 1678–2262); parsed in UTC
	Epoch    uint32    // household key epoch the object is sealed to

	// ChunkSize is the plaintext bytes per chunk, between MinChunkSize and
	// MaxChunkSize. 0 means DefaultChunkSize when sealing.
	ChunkSize int

	// Signer is the producer's Ed25519 public key. When sealing it is set
	// from the signing key (a non-nil value must match it); when reading it
	// is parsed from the object.
	Signer ed25519.PublicKey
}

// Footer holds the authenticated trailer of a sealed object.
type Footer struct {
	Length int64     // plaintext length in bytes
	End    time.Time // end of the covered time range; parsed in UTC
}

// Stanza is one recipient's wrapped copy of the file key.
//
// In format version 1 every stanza is of Type 1 (HPKE DHKEM(X25519),
// HKDF-SHA256, AES-256-GCM), with a 32-byte Enc and a 48-byte Body; writers
// reject stanzas of any other shape.
type Stanza struct {
	Type uint8   // 1: HPKE DHKEM(X25519)/HKDF-SHA256/AES-256-GCM
	Hint [4]byte // first 4 bytes of SHA-256 of the recipient public key
	Enc  []byte  // HPKE encapsulated key
	Body []byte  // HPKE ciphertext of the file key
}

func (s *Stanza) validShape() bool {
	return s != nil && s.Type == StanzaTypeX25519 && len(s.Enc) == encSize && len(s.Body) == wrappedSize
}

var (
	minTime = time.Unix(0, math.MinInt64)
	maxTime = time.Unix(0, math.MaxInt64)
)

func timeRepresentable(t time.Time) bool {
	return !t.Before(minTime) && !t.After(maxTime)
}

// checkHeader validates h for sealing and returns it with ChunkSize resolved.
func checkHeader(h Header) (Header, error) {
	if !h.Kind.valid() {
		return h, fmt.Errorf("envelope: invalid header kind %d (want 1..5)", h.Kind)
	}
	if h.ChunkSize == 0 {
		h.ChunkSize = DefaultChunkSize
	}
	if h.ChunkSize < MinChunkSize || h.ChunkSize > MaxChunkSize {
		return h, fmt.Errorf("envelope: invalid chunk size %d (want %d..%d, or 0 for the default)", h.ChunkSize, MinChunkSize, MaxChunkSize)
	}
	if len(h.Stream) > MaxStreamLen {
		return h, fmt.Errorf("envelope: stream name is %d bytes, longer than %d", len(h.Stream), MaxStreamLen)
	}
	if !utf8.ValidString(h.Stream) {
		return h, errors.New("envelope: stream name is not valid UTF-8")
	}
	if h.Start.IsZero() {
		return h, errors.New("envelope: header Start time is not set")
	}
	if !timeRepresentable(h.Start) {
		return h, errors.New("envelope: header Start time is outside the representable range (years 1678-2262)")
	}
	return h, nil
}

// appendHeader appends the header bytes before the MAC.
func appendHeader(b []byte, h *Header, salt []byte, stanzas []*Stanza) []byte {
	b = append(b, magic...)
	b = append(b, formatVersion, byte(h.Kind))
	b = binary.BigEndian.AppendUint32(b, uint32(h.ChunkSize))
	b = append(b, byte(len(h.Stream)))
	b = append(b, h.Stream...)
	b = binary.BigEndian.AppendUint64(b, h.Sequence)
	b = binary.BigEndian.AppendUint64(b, uint64(h.Start.UnixNano()))
	b = binary.BigEndian.AppendUint32(b, h.Epoch)
	b = append(b, salt...)
	b = append(b, h.Signer...)
	b = append(b, byte(len(stanzas)))
	for _, s := range stanzas {
		b = append(b, s.Type)
		b = append(b, s.Hint[:]...)
		b = append(b, s.Enc...)
		b = append(b, s.Body...)
	}
	return b
}

func headerSize(streamLen, stanzas int) int {
	return headerFixedSize + streamLen + stanzas*stanzaSize
}

// parsedHeader is a header as read from an object, not yet authenticated.
type parsedHeader struct {
	Header
	salt    []byte
	stanzas []*Stanza
	raw     []byte // every header byte, including the MAC
}

func (p *parsedHeader) mac() []byte { return p.raw[len(p.raw)-macSize:] }

func corruptf(format string, args ...any) error {
	return fmt.Errorf("envelope: "+format+": %w", append(args, ErrCorrupt)...)
}

// readHeader reads exactly one header from r and parses it. It does not
// check the MAC. Errors other than truncation are returned as they are.
func readHeader(r io.Reader) (*parsedHeader, error) {
	// raw never grows beyond maxHeaderSize, so the slices handed out by
	// read stay valid.
	raw := make([]byte, 0, maxHeaderSize)
	read := func(n int) ([]byte, error) {
		start := len(raw)
		raw = raw[:start+n]
		if _, err := io.ReadFull(r, raw[start:]); err != nil {
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				return nil, corruptf("truncated header")
			}
			return nil, fmt.Errorf("envelope: reading header: %w", err)
		}
		return raw[start:], nil
	}

	// magic, version, kind, chunk_size, stream length
	b, err := read(len(magic) + 1 + 1 + 4 + 1)
	if err != nil {
		return nil, err
	}
	if string(b[:len(magic)]) != magic {
		return nil, corruptf("not a Vigil sealed object (bad magic)")
	}
	if v := b[len(magic)]; v != formatVersion {
		return nil, fmt.Errorf("envelope: format version %d: %w (this reader supports version %d; hint: upgrade vigil)", v, ErrUnsupportedVersion, formatVersion)
	}
	b = b[len(magic)+1:]
	p := &parsedHeader{}
	p.Kind = Kind(b[0])
	if !p.Kind.valid() {
		return nil, corruptf("unknown object kind %d", b[0])
	}
	cs := binary.BigEndian.Uint32(b[1:5])
	if cs < MinChunkSize || cs > MaxChunkSize {
		return nil, corruptf("chunk size %d out of range", cs)
	}
	p.ChunkSize = int(cs)
	streamLen := int(b[5])

	// stream, sequence, start, epoch, salt, signer, stanza count
	b, err = read(streamLen + 8 + 8 + 4 + saltSize + ed25519.PublicKeySize + 1)
	if err != nil {
		return nil, err
	}
	if !utf8.Valid(b[:streamLen]) {
		return nil, corruptf("stream name is not valid UTF-8")
	}
	p.Stream = string(b[:streamLen])
	b = b[streamLen:]
	p.Sequence = binary.BigEndian.Uint64(b[0:8])
	p.Start = time.Unix(0, int64(binary.BigEndian.Uint64(b[8:16]))).UTC()
	p.Epoch = binary.BigEndian.Uint32(b[16:20])
	b = b[20:]
	p.salt = b[:saltSize:saltSize]
	p.Signer = ed25519.PublicKey(b[saltSize : saltSize+ed25519.PublicKeySize : saltSize+ed25519.PublicKeySize])
	n := int(b[saltSize+ed25519.PublicKeySize])
	if n < 1 || n > MaxStanzas {
		return nil, corruptf("stanza count %d out of range", n)
	}
	// stanzas, MAC
	b, err = read(n*stanzaSize + macSize)
	if err != nil {
		return nil, err
	}
	p.stanzas = make([]*Stanza, n)
	for i := range p.stanzas {
		s := b[i*stanzaSize : (i+1)*stanzaSize]
		if s[0] != StanzaTypeX25519 {
			return nil, corruptf("stanza %d has unknown type %d", i, s[0])
		}
		st := &Stanza{Type: s[0]}
		copy(st.Hint[:], s[1:1+hintSize])
		st.Enc = s[1+hintSize : 1+hintSize+encSize : 1+hintSize+encSize]
		st.Body = s[1+hintSize+encSize : stanzaSize : stanzaSize]
		p.stanzas[i] = st
	}
	p.raw = raw
	return p, nil
}

// deriveKeys returns the payload key and the header MAC key.
func deriveKeys(fileKey, salt []byte) (payloadKey, macKey []byte) {
	var err error
	payloadKey, err = hkdf.Key(sha256.New, fileKey, salt, infoPayload, 32)
	if err != nil {
		panic("envelope: hkdf: " + err.Error()) // only for invalid lengths
	}
	macKey, err = hkdf.Key(sha256.New, fileKey, salt, infoHeaderMAC, 32)
	if err != nil {
		panic("envelope: hkdf: " + err.Error())
	}
	return payloadKey, macKey
}

func headerMAC(macKey, headerNoMAC []byte) []byte {
	m := hmac.New(sha256.New, macKey)
	m.Write(headerNoMAC)
	return m.Sum(nil)
}

// chunkNonce sets n to the nonce of chunk i: an 11-byte big-endian counter
// followed by the last-chunk flag.
func chunkNonce(n *[nonceSize]byte, i uint64, last bool) {
	n[0], n[1], n[2] = 0, 0, 0
	binary.BigEndian.PutUint64(n[3:11], i)
	if last {
		n[11] = 1
	} else {
		n[11] = 0
	}
}

// signedMessage returns the message the producer signs.
func signedMessage(commitment []byte, length uint64, end int64) []byte {
	m := make([]byte, 0, len(sigContext)+sha256.Size+16)
	m = append(m, sigContext...)
	m = append(m, commitment...)
	m = binary.BigEndian.AppendUint64(m, length)
	m = binary.BigEndian.AppendUint64(m, uint64(end))
	return m
}

// rawFooter is a parsed, not yet verified footer.
type rawFooter struct {
	length     uint64
	end        int64
	commitment []byte
	sig        []byte
}

func parseFooter(b []byte) rawFooter {
	return rawFooter{
		length:     binary.BigEndian.Uint64(b[0:8]),
		end:        int64(binary.BigEndian.Uint64(b[8:16])),
		commitment: b[16:48],
		sig:        b[48:footerSize],
	}
}

// verify checks the signature over commitment (the one computed by the
// reader, or the footer's own for random access) and the footer fields.
func (f *rawFooter) verify(signer ed25519.PublicKey, commitment []byte) error {
	if !ed25519.Verify(signer, signedMessage(commitment, f.length, f.end), f.sig) {
		return fmt.Errorf("envelope: footer signature by %s does not verify: %w", SignerID(signer), ErrBadSignature)
	}
	if f.length > math.MaxInt64 {
		return corruptf("payload length %d out of range", f.length)
	}
	return nil
}

func (f *rawFooter) footer() Footer {
	return Footer{Length: int64(f.length), End: time.Unix(0, f.end).UTC()}
}
