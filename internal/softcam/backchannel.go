package softcam

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"sync"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/g711"
	"github.com/pion/rtp"
)

// BackChannelRequire is the RTSP Require header value with which a client
// asks for the ONVIF audio back channel (ONVIF Streaming Specification 5.3).
const BackChannelRequire = "www.onvif.org/ver20/backchannel"

// DefaultBackChannelMax is the most audio the back channel file holds when
// Config.BackChannelMax is 0: ten minutes at 8 kHz (9.6 MB).
const DefaultBackChannelMax = 10 * 60 * pcmuRate

// maxBackChannelGap is the longest gap in RTP timestamps (lost packets,
// silence suppression) filled with silence in the file; a longer jump is
// taken as a new talk spurt and written without a gap, so that a hostile
// timestamp cannot make the file grow.
const maxBackChannelGap = pcmuRate // 1 s

// wavHeaderSize is the size of the canonical 44-byte WAV header written.
const wavHeaderSize = 44

// BackChannelStats counts what the back channel received.
type BackChannelStats struct {
	// Talks counts sessions that held the back channel (one at a time).
	Talks uint64 `json:"talks"`
	// Busy counts sessions that set up the back channel while another held
	// it; their audio is discarded.
	Busy uint64 `json:"busy"`
	// Packets counts RTP packets whose audio was written.
	Packets uint64 `json:"packets"`
	// Samples is the number of 8 kHz samples in the file (silence filling
	// gaps included).
	Samples uint64 `json:"samples"`
	// Refused counts packets not written: a payload type that was not
	// offered, late or duplicate packets, or audio beyond BackChannelMax.
	// Packets whose payload type was not offered are refused by the RTSP
	// server before they get here and also counted in DecodeErrors.
	Refused uint64 `json:"refused"`
	// DecodeErrors counts RTP and RTCP packets from clients that gortsplib
	// could not decode or did not expect (e.g. an unknown payload type).
	DecodeErrors uint64 `json:"decode_errors"`
	// Onsets counts sounds heard after silence: packets whose level
	// (RMS) is at least OnsetLevel after at least OnsetQuiet of audio
	// below QuietLevel. LastOnset is when the latest such packet arrived
	// (LastOnsetUnixMs the same in milliseconds since 1970, for scripts).
	Onsets          uint64    `json:"onsets"`
	LastOnset       time.Time `json:"last_onset"`
	LastOnsetUnixMs float64   `json:"last_onset_unix_ms"`
}

// The back channel's onset detector (BackChannelStats.Onsets): levels are
// RMS of the decoded 16-bit samples.
const (
	OnsetLevel = 1000 // about -30 dBFS
	QuietLevel = 330  // about -40 dBFS
	OnsetQuiet = 200 * time.Millisecond
)

// onsetQuietSamples is OnsetQuiet in samples.
const onsetQuietSamples = int(OnsetQuiet * pcmuRate / time.Second)

// backChannel receives the talk-back audio of one talker at a time (PCMU,
// 8 kHz) and appends it to a WAV file as 16-bit PCM. Memory use is bounded
// by one packet: every packet is written through to the file, whose header
// is kept valid after each write so that readers may open it at any time.
type backChannel struct {
	maxSamp uint64
	decode  [256]int16 // µ-law byte to linear sample

	mu      sync.Mutex
	f       *os.File // nil: audio is counted and discarded
	owner   *gortsplib.ServerSession
	synced  bool   // nextTS and ssrc are valid for the current talk
	nextTS  uint32 // RTP timestamp of the next sample expected
	ssrc    uint32
	stats   BackChannelStats
	quiet   int   // samples below QuietLevel since the last loud packet
	lastErr error // first file write error; writing stops after it
}

// newBackChannel creates the back channel; file "" discards the audio.
// An existing file is truncated.
func newBackChannel(file string, maxSamples uint64) (*backChannel, error) {
	if maxSamples == 0 {
		maxSamples = DefaultBackChannelMax
	}
	maxSamples = min(maxSamples, 1<<30) // a WAV's sizes are 32-bit
	bc := &backChannel{maxSamp: maxSamples}
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	var lin g711.Mulaw
	lin.Unmarshal(all)
	for i := range bc.decode {
		bc.decode[i] = int16(binary.BigEndian.Uint16(lin[2*i:]))
	}
	if file != "" {
		f, err := os.OpenFile(file, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
		if err != nil {
			return nil, fmt.Errorf("softcam: back channel file: %w", err)
		}
		if _, err := f.WriteAt(wavHeader(0), 0); err != nil {
			f.Close()
			return nil, fmt.Errorf("softcam: back channel file: %w", err)
		}
		bc.f = f
	}
	return bc, nil
}

// backChannelPayloadType is PCMU's static payload type, the only one the
// back channel offers.
const backChannelPayloadType = 0

// backChannelMedia is the SDP media of a path's back channel: PCMU at
// 8 kHz, sent by the client (a=sendonly from its side).
func backChannelMedia() *description.Media {
	return &description.Media{
		Type:          description.MediaTypeAudio,
		IsBackChannel: true,
		Formats:       []format.Format{&format.G711{PayloadTyp: backChannelPayloadType, MULaw: true, SampleRate: pcmuRate, ChannelCount: 1}},
	}
}

// wavHeader is a canonical WAV header for dataBytes of 16-bit mono PCM at
// 8 kHz.
func wavHeader(dataBytes uint32) []byte {
	h := make([]byte, wavHeaderSize)
	copy(h[0:], "RIFF")
	binary.LittleEndian.PutUint32(h[4:], 36+dataBytes)
	copy(h[8:], "WAVEfmt ")
	binary.LittleEndian.PutUint32(h[16:], 16)
	binary.LittleEndian.PutUint16(h[20:], 1) // PCM
	binary.LittleEndian.PutUint16(h[22:], 1) // mono
	binary.LittleEndian.PutUint32(h[24:], pcmuRate)
	binary.LittleEndian.PutUint32(h[28:], pcmuRate*2)
	binary.LittleEndian.PutUint16(h[32:], 2)
	binary.LittleEndian.PutUint16(h[34:], 16)
	copy(h[36:], "data")
	binary.LittleEndian.PutUint32(h[40:], dataBytes)
	return h
}

// acquire makes ss the talker if nobody is; it reports whether ss holds
// the back channel.
func (bc *backChannel) acquire(ss *gortsplib.ServerSession) bool {
	bc.mu.Lock()
	defer bc.mu.Unlock()
	switch bc.owner {
	case ss:
		return true
	case nil:
		bc.owner = ss
		bc.synced = false
		bc.quiet = 0
		bc.stats.Talks++
		return true
	}
	bc.stats.Busy++
	return false
}

// release ends ss's talk, if it held the back channel.
func (bc *backChannel) release(ss *gortsplib.ServerSession) {
	bc.mu.Lock()
	defer bc.mu.Unlock()
	if bc.owner == ss {
		bc.owner = nil
		bc.synced = false
	}
}

// write appends the audio of one RTP packet from ss. Packets are placed by
// their RTP timestamp: a short gap becomes silence, a late or duplicate
// packet is refused (its overlap trimmed), a long jump or a new SSRC starts
// a new spurt.
func (bc *backChannel) write(ss *gortsplib.ServerSession, pkt *rtp.Packet) {
	bc.mu.Lock()
	defer bc.mu.Unlock()
	if bc.owner != ss {
		bc.stats.Refused++
		return
	}
	bc.writeLocked(pkt)
}

func (bc *backChannel) writeLocked(pkt *rtp.Packet) {
	if pkt.PayloadType != backChannelPayloadType {
		bc.stats.Refused++
		return
	}
	payload := pkt.Payload
	if len(payload) == 0 {
		return
	}
	gap := 0
	if bc.synced && pkt.SSRC == bc.ssrc {
		d := int32(pkt.Timestamp - bc.nextTS)
		switch {
		case d < 0 && int64(-d) >= int64(len(payload)):
			bc.stats.Refused++ // entirely late or a duplicate
			return
		case d < 0:
			payload = payload[-d:] // overlaps what was written
		case d <= maxBackChannelGap:
			gap = int(d)
		}
	}
	room := bc.maxSamp - bc.stats.Samples
	if room == 0 {
		bc.stats.Refused++
		return
	}
	if uint64(gap) > room {
		gap = int(room)
	}
	room -= uint64(gap)
	if uint64(len(payload)) > room {
		payload = payload[:room]
	}
	buf := make([]byte, 2*(gap+len(payload)))
	var energy float64
	for i, b := range payload {
		v := bc.decode[b]
		energy += float64(v) * float64(v)
		binary.LittleEndian.PutUint16(buf[2*(gap+i):], uint16(v))
	}
	bc.quiet = min(bc.quiet+gap, onsetQuietSamples)
	switch rms := math.Sqrt(energy / float64(max(1, len(payload)))); {
	case len(payload) == 0:
	case rms >= OnsetLevel:
		if bc.quiet >= onsetQuietSamples {
			now := time.Now()
			bc.stats.Onsets++
			bc.stats.LastOnset = now
			bc.stats.LastOnsetUnixMs = float64(now.UnixMicro()) / 1e3
		}
		bc.quiet = 0
	case rms < QuietLevel:
		bc.quiet = min(bc.quiet+len(payload), onsetQuietSamples)
	}
	if bc.f != nil && bc.lastErr == nil {
		off := int64(wavHeaderSize) + 2*int64(bc.stats.Samples)
		if _, err := bc.f.WriteAt(buf, off); err != nil {
			bc.lastErr = err
		} else {
			size := uint32(2 * (bc.stats.Samples + uint64(gap+len(payload))))
			var b [4]byte
			binary.LittleEndian.PutUint32(b[:], 36+size)
			_, err1 := bc.f.WriteAt(b[:], 4)
			binary.LittleEndian.PutUint32(b[:], size)
			_, err2 := bc.f.WriteAt(b[:], 40)
			bc.lastErr = errors.Join(err1, err2)
		}
	}
	bc.stats.Samples += uint64(gap + len(payload))
	bc.stats.Packets++
	bc.synced = true
	bc.ssrc = pkt.SSRC
	bc.nextTS = pkt.Timestamp + uint32(len(pkt.Payload))
}

func (bc *backChannel) decodeError() {
	bc.mu.Lock()
	bc.stats.DecodeErrors++
	bc.mu.Unlock()
}

func (bc *backChannel) snapshot() BackChannelStats {
	bc.mu.Lock()
	defer bc.mu.Unlock()
	return bc.stats
}

// close flushes and closes the file; it returns the first write error.
func (bc *backChannel) close() error {
	bc.mu.Lock()
	defer bc.mu.Unlock()
	if bc.f == nil {
		return bc.lastErr
	}
	err := errors.Join(bc.lastErr, bc.f.Sync(), bc.f.Close())
	bc.f = nil
	return err
}
