package softcam

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/g711"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
	"github.com/pion/rtp"
)

// Audio codecs the software camera can serve (Config.Audio).
const (
	AudioNone = ""
	AudioPCMU = "pcmu" // G.711 µ-law, 8 kHz mono, 20 ms packets, payload type 0
	AudioAAC  = "aac"  // MPEG-4 AAC-LC, 16 kHz mono (RFC 3640), payload type 97
)

// ToneHz is the frequency of the built-in tone served when Config.AudioFile
// is empty: a pure sine, so that tests can find it with a Goertzel filter.
const ToneHz = 440

// toneAmplitude is the tone's peak, about -6 dBFS.
const toneAmplitude = 16384

// toneSeconds is the tone loop's length: 440 Hz fits a whole number of
// cycles in it at 8 and 16 kHz, and 16 kHz fills whole 1024-sample AAC
// frames, so the PCMU loop is seamless.
const toneSeconds = 3.2

// maxAudioSeconds caps how much of an AudioFile is served (and held in
// memory): the loop is at most this long.
const maxAudioSeconds = 60

// Sample rates of the served audio.
const (
	pcmuRate = 8000
	aacRate  = 16000
)

// pcmuFrame is the number of samples in one PCMU packet (20 ms).
const pcmuFrame = pcmuRate / 50

// aacPayloadType is the dynamic payload type announced for AAC.
const aacPayloadType = 97

// audioUnit is one packet's worth of audio, ready to send.
type audioUnit struct {
	ts  int64 // in the audio clock, from the start of the loop
	pkt rtp.Packet
}

// audioClip is the looped audio track, read-only once built.
type audioClip struct {
	codec   string
	rate    int
	format  format.Format
	units   []audioUnit
	period  int64 // loop length in the audio clock
	samples int   // PCM samples per loop (before encoding)
	// burst is the tone burst's payloads, one per packet, in the bursts
	// mode (Config.AudioBursts); nil otherwise.
	burst [][]byte
}

// loadAudio builds the audio track for cfg: PCM from the tone or the file,
// then encoded (µ-law in Go, AAC once with ffmpeg) and packetized.
func loadAudio(cfg Config, log *slog.Logger) (*audioClip, error) {
	switch cfg.Audio {
	case AudioPCMU, AudioAAC:
	default:
		return nil, fmt.Errorf("softcam: Audio %q: want %q or %q", cfg.Audio, AudioPCMU, AudioAAC)
	}
	rate := pcmuRate
	if cfg.Audio == AudioAAC {
		rate = aacRate
	}
	var pcm []int16
	switch {
	case cfg.AudioBursts:
		if cfg.Audio != AudioPCMU || cfg.AudioFile != "" {
			return nil, errors.New("softcam: AudioBursts needs PCMU audio and no AudioFile")
		}
		pcm = silentPCM(rate)
	case cfg.AudioFile == "":
		pcm = Tone(ToneHz, rate, int(toneSeconds*float64(rate)))
	default:
		var err error
		pcm, err = decodeAudioFile(cfg.FFmpeg, cfg.AudioFile, rate)
		if err != nil {
			return nil, err
		}
	}
	t0 := time.Now()
	var ac *audioClip
	var err error
	if cfg.Audio == AudioPCMU {
		ac, err = pcmuClip(pcm)
	} else {
		ac, err = aacClip(cfg.FFmpeg, pcm)
	}
	if err != nil {
		return nil, err
	}
	src := "tone"
	switch {
	case cfg.AudioBursts:
		if ac.burst, err = pcmuBurst(); err != nil {
			return nil, err
		}
		src = "silence with tone bursts"
	case cfg.AudioFile != "":
		src = cfg.AudioFile
	}
	log.Info("softcam: audio ready", "codec", ac.codec, "source", src, "rate", ac.rate,
		"loop", time.Duration(ac.period)*time.Second/time.Duration(ac.rate), "packets", len(ac.units),
		"took", time.Since(t0).Round(time.Millisecond))
	return ac, nil
}

// Tone returns n samples of a sine of hz at rate, at about -6 dBFS.
func Tone(hz float64, rate, n int) []int16 {
	out := make([]int16, n)
	for i := range out {
		out[i] = int16(math.Round(toneAmplitude * math.Sin(2*math.Pi*hz*float64(i)/float64(rate))))
	}
	return out
}

// decodeAudioFile has ffmpeg decode file to mono 16-bit PCM at rate, at most
// maxAudioSeconds of it.
func decodeAudioFile(ffmpegName, file string, rate int) ([]int16, error) {
	fi, err := os.Stat(file)
	if err != nil {
		return nil, fmt.Errorf("softcam: audio file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("softcam: audio file %s is not a regular file", file)
	}
	ffmpeg, err := exec.LookPath(ffmpegName)
	if err != nil {
		return nil, fmt.Errorf("softcam: ffmpeg %q not found: %w\nhint: apt-get install ffmpeg", ffmpegName, err)
	}
	cmd := exec.Command(ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error",
		"-i", file, "-map", "0:a:0", "-t", fmt.Sprint(maxAudioSeconds),
		"-ac", "1", "-ar", fmt.Sprint(rate), "-f", "s16le", "pipe:1")
	stderr := &tailBuffer{max: 2048}
	cmd.Stderr = stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("softcam: decoding audio file %s with ffmpeg: %w: %s", file, err, strings.TrimSpace(stderr.String()))
	}
	pcm := make([]int16, len(out)/2)
	for i := range pcm {
		pcm[i] = int16(binary.LittleEndian.Uint16(out[2*i:]))
	}
	if len(pcm) < rate/10 {
		return nil, fmt.Errorf("softcam: audio file %s holds less than 100 ms of audio", file)
	}
	return pcm, nil
}

// pcmuClip encodes pcm (8 kHz) as µ-law in 20 ms packets. The loop is
// padded with silence to whole packets.
func pcmuClip(pcm []int16) (*audioClip, error) {
	n := (len(pcm) + pcmuFrame - 1) / pcmuFrame * pcmuFrame
	be := make(g711.Mulaw, 2*n) // big-endian 16-bit, as mediacommon wants
	for i, s := range pcm {
		binary.BigEndian.PutUint16(be[2*i:], uint16(s))
	}
	enc, err := be.Marshal()
	if err != nil {
		return nil, err
	}
	ac := &audioClip{
		codec:   AudioPCMU,
		rate:    pcmuRate,
		format:  &format.G711{PayloadTyp: 0, MULaw: true, SampleRate: pcmuRate, ChannelCount: 1},
		period:  int64(n),
		samples: len(pcm),
	}
	for off := 0; off < n; off += pcmuFrame {
		ac.units = append(ac.units, audioUnit{
			ts: int64(off),
			pkt: rtp.Packet{
				Header:  rtp.Header{Version: 2, PayloadType: 0, Marker: off == 0},
				Payload: enc[off : off+pcmuFrame],
			},
		})
	}
	return ac, nil
}

// aacClip has ffmpeg encode pcm (16 kHz) to AAC-LC once, in ADTS, and
// packetizes every access unit on its own (RFC 3640 AAC-hbr).
func aacClip(ffmpegName string, pcm []int16) (*audioClip, error) {
	ffmpeg, err := exec.LookPath(ffmpegName)
	if err != nil {
		return nil, fmt.Errorf("softcam: ffmpeg %q not found (AAC audio is encoded with it): %w\nhint: apt-get install ffmpeg", ffmpegName, err)
	}
	raw := make([]byte, 2*len(pcm))
	for i, s := range pcm {
		binary.LittleEndian.PutUint16(raw[2*i:], uint16(s))
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, ffmpeg, "-hide_banner", "-loglevel", "error",
		"-f", "s16le", "-ar", fmt.Sprint(aacRate), "-ac", "1", "-i", "pipe:0",
		"-c:a", "aac", "-b:a", "32k", "-f", "adts", "pipe:1")
	cmd.Stdin = bytes.NewReader(raw)
	stderr := &tailBuffer{max: 2048}
	cmd.Stderr = stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("softcam: encoding AAC with ffmpeg: %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	var pkts mpeg4audio.ADTSPackets
	if err := pkts.Unmarshal(out); err != nil {
		return nil, fmt.Errorf("softcam: reading ffmpeg's AAC: %w", err)
	}
	if len(pkts) == 0 {
		return nil, errors.New("softcam: ffmpeg produced no AAC")
	}
	first := pkts[0]
	f := &format.MPEG4Audio{
		PayloadTyp: aacPayloadType,
		Config: &mpeg4audio.AudioSpecificConfig{
			Type:          first.Type,
			SampleRate:    first.SampleRate,
			ChannelConfig: first.ChannelConfig,
			ChannelCount:  1,
		},
		SizeLength:       13,
		IndexLength:      3,
		IndexDeltaLength: 3,
	}
	enc, err := f.CreateEncoder()
	if err != nil {
		return nil, err
	}
	ac := &audioClip{codec: AudioAAC, rate: first.SampleRate, format: f, samples: len(pcm)}
	for i, p := range pkts {
		if p.SampleRate != first.SampleRate || p.Type != first.Type {
			return nil, errors.New("softcam: ffmpeg's AAC changes parameters mid-stream")
		}
		rtps, err := enc.Encode([][]byte{p.AU})
		if err != nil {
			return nil, fmt.Errorf("softcam: packetizing AAC: %w", err)
		}
		for _, r := range rtps {
			ac.units = append(ac.units, audioUnit{ts: int64(i) * mpeg4audio.SamplesPerAccessUnit, pkt: *r})
		}
	}
	ac.period = int64(len(pkts)) * mpeg4audio.SamplesPerAccessUnit
	return ac, nil
}

// media is the SDP media of the audio track.
// Each path gets its own copy of the format.
func (ac *audioClip) media() *description.Media {
	var f format.Format
	switch src := ac.format.(type) {
	case *format.G711:
		c := *src
		f = &c
	case *format.MPEG4Audio:
		c := *src
		cfg := *src.Config
		c.Config = &cfg
		f = &c
	}
	return &description.Media{Type: description.MediaTypeAudio, Formats: []format.Format{f}}
}

// runAudio paces the audio track of p until ctx is done, on the same clock
// as the video: a sample due at wall time T carries T as its NTP time in
// the RTCP sender reports, as the video frame shown at T does.
func (p *camPath) runAudio(ctx context.Context, start time.Time, log *slog.Logger) {
	ac := p.audio
	var seed [6]byte
	_, _ = rand.Read(seed[:])
	tsBase := binary.BigEndian.Uint32(seed[:4])
	seq := binary.BigEndian.Uint16(seed[4:])
	rate := time.Duration(ac.rate)

	timer := time.NewTimer(0)
	defer timer.Stop()
	<-timer.C

	var loopBase int64
	var skipped time.Duration
	var burst *burstRequest  // the burst whose first packet is next
	burstAt := len(ac.burst) // index of the burst's next packet
	for {
		for i := range ac.units {
			u := &ac.units[i]
			due, ok := pace(ctx, timer, start.Add(skipped+time.Duration(loopBase+u.ts)*time.Second/rate), &skipped, func(lag time.Duration) {
				log.Warn("softcam: audio pacer fell behind, skipping ahead", "path", p.name, "lag", lag)
			})
			if !ok {
				return
			}
			pkt := u.pkt
			pkt.SequenceNumber = seq
			pkt.Timestamp = tsBase + uint32(loopBase+u.ts)
			seq++
			select {
			case burst = <-p.bursts:
				burstAt = 0
			default:
			}
			if burstAt < len(ac.burst) {
				pkt.Payload = ac.burst[burstAt]
				pkt.Marker = burstAt == 0
				burstAt++
			}
			p.mu.Lock()
			_ = p.stream.WritePacketRTPWithNTP(p.audioMedia, &pkt, due)
			p.audioSent.Add(1)
			p.skipAudioLocked()
			p.mu.Unlock()
			if burst != nil {
				burst.sent <- time.Now()
				burst = nil
			}
		}
		loopBase += ac.period
	}
}

// skipAudioLocked moves every session's byte and drop counters past the
// audio packet just written, so that the video accounting (accountLocked)
// only ever sees the growth of video access units. p.mu must be held.
func (p *camPath) skipAudioLocked() {
	for ss, rec := range p.sessions {
		rec.lastSent = outboundBytes(ss)
		rec.lastDropped = rec.dropped.Load()
	}
}
