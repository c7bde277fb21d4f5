package softcam

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/g711"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
	"github.com/pion/rtp"
)

// smallClip is a 2 s H.264 test pattern, quick to prepare.
func smallClip(t testing.TB) string {
	t.Helper()
	needFFmpeg(t)
	return makeClip(t, "small.mp4", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=10", "-t", "2",
		"-c:v", "libx264", "-preset", "ultrafast", "-g", "10", "-bf", "0", "-pix_fmt", "yuv420p")
}

// goertzel is the power of pcm at hz (sample rate rate), normalized by
// the number of samples.
func goertzel(pcm []int16, hz float64, rate int) float64 {
	w := 2 * math.Pi * hz / float64(rate)
	coeff := 2 * math.Cos(w)
	var s1, s2 float64
	for _, x := range pcm {
		s0 := float64(x) + coeff*s1 - s2
		s2, s1 = s1, s0
	}
	p := s1*s1 + s2*s2 - coeff*s1*s2
	return p / float64(len(pcm)*len(pcm))
}

// checkTone fails unless hz clearly dominates pcm: its power is far above
// the power at a few other frequencies.
func checkTone(t *testing.T, name string, pcm []int16, hz float64, rate int) {
	t.Helper()
	if len(pcm) < rate/4 {
		t.Fatalf("%s: only %d samples", name, len(pcm))
	}
	at := goertzel(pcm, hz, rate)
	for _, other := range []float64{hz * 0.7, hz * 1.5, 1800, 250} {
		if o := goertzel(pcm, other, rate); at < 100*o {
			t.Errorf("%s: power at %.0f Hz %.3g is not far above the power at %.0f Hz %.3g", name, hz, at, other, o)
		}
	}
	if at < 1e5 {
		t.Errorf("%s: power at %.0f Hz %.3g: too quiet", name, hz, at)
	}
}

func mulawToPCM(enc []byte) []int16 {
	var lin g711.Mulaw
	lin.Unmarshal(enc)
	out := make([]int16, len(enc))
	for i := range out {
		out[i] = int16(binary.BigEndian.Uint16(lin[2*i:]))
	}
	return out
}

// audioRead is what a client got from the audio track.
type audioRead struct {
	media      *description.Media
	format     format.Format
	pcmu       []byte   // µ-law payloads, in order
	aacAUs     [][]byte // AAC access units
	tsGaps     int      // consecutive packets whose timestamps do not follow
	videoAUs   int
	backOffers int // back channel medias in the DESCRIBE answer
}

// readAudio plays url with a gortsplib client for d, reading video and
// audio; back asks for the back channel (and does not set it up).
func readAudio(t *testing.T, url string, d time.Duration, back bool) audioRead {
	t.Helper()
	u, err := base.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	tcp := gortsplib.ProtocolTCP
	c := &gortsplib.Client{Scheme: u.Scheme, Host: u.Host, Protocol: &tcp, RequestBackChannels: back}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	desc, _, err := c.Describe(u)
	if err != nil {
		t.Fatal(err)
	}
	var res audioRead
	var mu sync.Mutex
	var video *format.H264
	vm := desc.FindFormat(&video)
	if vm == nil {
		t.Fatal("no video")
	}
	for _, m := range desc.Medias {
		if m.IsBackChannel {
			res.backOffers++
			continue
		}
		if m.Type == description.MediaTypeAudio {
			res.media, res.format = m, m.Formats[0]
		}
	}
	if res.media == nil {
		t.Fatalf("no audio media in %+v", desc.Medias)
	}
	for _, m := range []*description.Media{vm, res.media} {
		if _, err := c.Setup(desc.BaseURL, m, 0, 0); err != nil {
			t.Fatal(err)
		}
	}
	vdec, _ := video.CreateDecoder()
	c.OnPacketRTP(vm, video, func(pkt *rtp.Packet) {
		if _, err := vdec.Decode(pkt); err == nil {
			mu.Lock()
			res.videoAUs++
			mu.Unlock()
		}
	})
	var next uint32
	var started bool
	switch f := res.format.(type) {
	case *format.G711:
		c.OnPacketRTP(res.media, f, func(pkt *rtp.Packet) {
			mu.Lock()
			defer mu.Unlock()
			if started && pkt.Timestamp != next {
				res.tsGaps++
			}
			started, next = true, pkt.Timestamp+uint32(len(pkt.Payload))
			res.pcmu = append(res.pcmu, pkt.Payload...)
		})
	case *format.MPEG4Audio:
		dec, err := f.CreateDecoder()
		if err != nil {
			t.Fatal(err)
		}
		c.OnPacketRTP(res.media, f, func(pkt *rtp.Packet) {
			aus, err := dec.Decode(pkt)
			if err != nil {
				return
			}
			mu.Lock()
			defer mu.Unlock()
			if started && pkt.Timestamp != next {
				res.tsGaps++
			}
			started, next = true, pkt.Timestamp+uint32(len(aus)*mpeg4audio.SamplesPerAccessUnit)
			res.aacAUs = append(res.aacAUs, aus...)
		})
	default:
		t.Fatalf("unexpected audio format %T", f)
	}
	if _, err := c.Play(nil); err != nil {
		t.Fatal(err)
	}
	time.Sleep(d)
	c.Close()
	mu.Lock()
	defer mu.Unlock()
	return res
}

// decodeAAC has ffmpeg decode AAC access units (config cfg) to 16-bit PCM.
func decodeAAC(t *testing.T, cfg *mpeg4audio.AudioSpecificConfig, aus [][]byte) []int16 {
	t.Helper()
	pkts := make(mpeg4audio.ADTSPackets, len(aus))
	for i, au := range aus {
		pkts[i] = &mpeg4audio.ADTSPacket{Type: cfg.Type, SampleRate: cfg.SampleRate, ChannelConfig: 1, ChannelCount: 1, AU: au}
	}
	adts, err := pkts.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error", "-f", "aac", "-i", "pipe:0",
		"-ac", "1", "-ar", fmt.Sprint(cfg.SampleRate), "-f", "s16le", "pipe:1")
	cmd.Stdin = bytes.NewReader(adts)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("ffmpeg decoding AAC: %v", err)
	}
	pcm := make([]int16, len(out)/2)
	for i := range pcm {
		pcm[i] = int16(binary.LittleEndian.Uint16(out[2*i:]))
	}
	return pcm
}

// TestDoorbellAudio reads the audio track of each codec with a real RTSP
// client and finds the tone in it.
func TestDoorbellAudio(t *testing.T) {
	clip := smallClip(t)
	cache := t.TempDir()
	for _, codec := range []string{AudioPCMU, AudioAAC} {
		t.Run(codec, func(t *testing.T) {
			s := startServer(t, Config{File: clip, CacheDir: cache, Audio: codec, BackChannel: true})
			r := readAudio(t, s.URL("cam"), 1500*time.Millisecond, false)
			if r.videoAUs == 0 {
				t.Error("no video next to the audio")
			}
			if r.backOffers != 0 {
				t.Errorf("back channel described to a client that did not require it")
			}
			if r.tsGaps != 0 {
				t.Errorf("%d audio packets whose timestamp does not follow the previous one", r.tsGaps)
			}
			switch codec {
			case AudioPCMU:
				f := r.format.(*format.G711)
				if !f.MULaw || f.SampleRate != 8000 || f.PayloadTyp != 0 {
					t.Errorf("format %+v, want PCMU/8000 payload type 0", f)
				}
				checkTone(t, "PCMU", mulawToPCM(r.pcmu), ToneHz, 8000)
			case AudioAAC:
				f := r.format.(*format.MPEG4Audio)
				if f.Config == nil || f.Config.SampleRate != 16000 || f.Config.Type != mpeg4audio.ObjectTypeAACLC {
					t.Fatalf("format %+v, want AAC-LC 16 kHz", f)
				}
				pcm := decodeAAC(t, f.Config, r.aacAUs)
				// Skip the decoder's start-up (priming) samples.
				checkTone(t, "AAC", pcm[min(len(pcm), 2048):], ToneHz, 16000)
			}
			if st := s.Stats(); st[0].AudioPacketsSent == 0 {
				t.Errorf("stats count no audio packets: %+v", st[0])
			}
			// Audio packets do not count as video frames.
			st := closedSession(t, s, "cam")
			if d := int(st.Frames) - r.videoAUs; d < -1 || d > 2 {
				t.Errorf("server Frames=%d, client got %d video frames", st.Frames, r.videoAUs)
			}
		})
	}
}

// TestDoorbellAudioFile serves a sound file instead of the tone.
func TestDoorbellAudioFile(t *testing.T) {
	clip := smallClip(t)
	wav := makeClip(t, "tone.wav", "-f", "lavfi", "-i", "sine=frequency=1000:sample_rate=44100", "-t", "1")
	s := startServer(t, Config{File: clip, Audio: AudioPCMU, AudioFile: wav})
	r := readAudio(t, s.URL("cam"), time.Second, false)
	checkTone(t, "file", mulawToPCM(r.pcmu), 1000, 8000)
}

// readWAV reads a 16-bit mono WAV file as written by the back channel.
func readWAV(t *testing.T, file string) []int16 {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	pcm, err := parseWAV(b)
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return pcm
}

// parseWAV checks a back channel file's header against its size.
func parseWAV(b []byte) ([]int16, error) {
	if len(b) < wavHeaderSize || string(b[:4]) != "RIFF" || string(b[8:16]) != "WAVEfmt " || string(b[36:40]) != "data" {
		return nil, fmt.Errorf("not a WAV file (%d bytes)", len(b))
	}
	if rate := binary.LittleEndian.Uint32(b[24:]); rate != 8000 {
		return nil, fmt.Errorf("sample rate %d, want 8000", rate)
	}
	n := binary.LittleEndian.Uint32(b[40:])
	if int(n) != len(b)-wavHeaderSize || binary.LittleEndian.Uint32(b[4:]) != 36+n {
		return nil, fmt.Errorf("header says %d data bytes, file has %d", n, len(b)-wavHeaderSize)
	}
	pcm := make([]int16, n/2)
	for i := range pcm {
		pcm[i] = int16(binary.LittleEndian.Uint16(b[wavHeaderSize+2*i:]))
	}
	return pcm, nil
}

// toneMulaw is d of a sine at hz as PCMU payloads of 160 samples.
func toneMulaw(t testing.TB, hz float64, packets int) [][]byte {
	pcm := Tone(hz, 8000, packets*160)
	be := make(g711.Mulaw, 2*len(pcm))
	for i, s := range pcm {
		binary.BigEndian.PutUint16(be[2*i:], uint16(s))
	}
	enc, err := be.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	out := make([][]byte, packets)
	for i := range out {
		out[i] = enc[i*160 : (i+1)*160]
	}
	return out
}

// TestBackChannel talks to the doorbell with a gortsplib client that
// requires the ONVIF back channel, and finds its tone in the WAV file; a
// second talker at the same time is not written.
func TestBackChannel(t *testing.T) {
	clip := smallClip(t)
	out := filepath.Join(t.TempDir(), "talk.wav")
	s := startServer(t, Config{File: clip, Audio: AudioPCMU, BackChannel: true, BackChannelFile: out})

	talk := func(hz float64, packets int, until func() bool) error {
		return talkBack(t, s.URL("cam"), gortsplib.ProtocolTCP, hz, packets, until)
	}

	// The first talker holds the line while a second one talks.
	release := make(chan struct{})
	first := make(chan error, 1)
	go func() {
		first <- talk(1000, 50, func() bool {
			select {
			case <-release:
				return true
			default:
				return false
			}
		})
	}()
	waitFor(t, "first talker's audio", func() bool { return s.BackChannelStats().Packets == 50 })
	// The busy talker's packets have no way to show up: give them time to.
	busyUntil := time.Now().Add(300 * time.Millisecond)
	if err := talk(600, 25, func() bool { return s.BackChannelStats().Busy == 1 && time.Now().After(busyUntil) }); err != nil {
		t.Fatal(err)
	}
	close(release)
	if err := <-first; err != nil {
		t.Fatal(err)
	}

	st := s.BackChannelStats()
	if st.Talks != 1 || st.Samples != 8000 || st.Packets != 50 {
		t.Errorf("stats %+v, want one talk of 50 packets, 8000 samples", st)
	}
	pcm := readWAV(t, out)
	if len(pcm) != 8000 {
		t.Fatalf("%d samples in the file, want 8000", len(pcm))
	}
	checkTone(t, "back channel", pcm, 1000, 8000)

	// Once the line is free, the next talker is written after the first.
	waitFor(t, "first talker gone", func() bool {
		s.back.mu.Lock()
		defer s.back.mu.Unlock()
		return s.back.owner == nil
	})
	if err := talk(600, 25, func() bool { return s.BackChannelStats().Samples == 12000 }); err != nil {
		t.Fatal(err)
	}
	pcm = readWAV(t, out)
	checkTone(t, "second talk", pcm[8000:], 600, 8000)
}

// talkBack plays url requiring the back channel, over proto, sends packets
// of a tone at hz on it, then stays until until is true.
func talkBack(t testing.TB, url string, proto gortsplib.Protocol, hz float64, packets int, until func() bool) error {
	u, _ := base.ParseURL(url)
	c := &gortsplib.Client{Scheme: u.Scheme, Host: u.Host, Protocol: &proto, RequestBackChannels: true}
	if err := c.Start(); err != nil {
		return err
	}
	defer c.Close()
	desc, _, err := c.Describe(u)
	if err != nil {
		return err
	}
	var back *description.Media
	for _, m := range desc.Medias {
		if m.IsBackChannel {
			back = m
		}
	}
	if back == nil {
		return fmt.Errorf("no back channel in %+v", desc.Medias)
	}
	if f, ok := back.Formats[0].(*format.G711); !ok || !f.MULaw || f.SampleRate != 8000 {
		return fmt.Errorf("back channel format %+v, want PCMU/8000", back.Formats[0])
	}
	if _, err := c.Setup(desc.BaseURL, back, 0, 0); err != nil {
		return err
	}
	if _, err := c.Play(nil); err != nil {
		return err
	}
	for i, p := range toneMulaw(t, hz, packets) {
		pkt := &rtp.Packet{
			Header:  rtp.Header{Version: 2, PayloadType: 0, SequenceNumber: uint16(i), Timestamp: 1000 + uint32(i*160), SSRC: 42},
			Payload: p,
		}
		if err := c.WritePacketRTP(back, pkt); err != nil {
			return err
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for !until() {
		if time.Now().After(deadline) {
			return errors.New("timed out")
		}
		time.Sleep(10 * time.Millisecond)
	}
	return nil
}

// TestBackChannelUDP talks over the UDP transport.
func TestBackChannelUDP(t *testing.T) {
	clip := smallClip(t)
	out := filepath.Join(t.TempDir(), "talk.wav")
	s := startServer(t, Config{File: clip, Audio: AudioPCMU, UDP: true, BackChannel: true, BackChannelFile: out})
	if err := talkBack(t, s.URL("cam"), gortsplib.ProtocolUDP, 1000, 50, func() bool { return s.BackChannelStats().Packets == 50 }); err != nil {
		t.Fatal(err)
	}
	checkTone(t, "back channel over UDP", readWAV(t, out), 1000, 8000)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestBackChannelHostile sends, by hand over TCP, packets of a payload
// type the back channel did not offer and undecodable ones: none reach the
// file, and a well-formed packet afterwards still does.
func TestBackChannelHostile(t *testing.T) {
	clip := smallClip(t)
	out := filepath.Join(t.TempDir(), "talk.wav")
	s := startServer(t, Config{File: clip, Audio: AudioAAC, BackChannel: true, BackChannelFile: out})
	c, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	url := s.URL("cam")
	session := ""
	request := func(req string) {
		t.Helper()
		if session != "" {
			req += "Session: " + session + "\r\n"
		}
		if _, err := io.WriteString(c, req+"\r\n"); err != nil {
			t.Fatal(err)
		}
		status, err := br.ReadString('\n')
		if err != nil || !strings.Contains(status, " 200 ") {
			t.Fatalf("%q: %q %v", strings.SplitN(req, "\r\n", 2)[0], status, err)
		}
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				t.Fatal(err)
			}
			line = strings.TrimSpace(line)
			if v, ok := strings.CutPrefix(line, "Session: "); ok {
				session, _, _ = strings.Cut(v, ";")
			}
			if line == "" {
				return
			}
		}
	}
	// trackID=2: video, audio, back channel.
	request("SETUP " + url + "/trackID=2 RTSP/1.0\r\nCSeq: 1\r\nRequire: " + BackChannelRequire + "\r\nTransport: RTP/AVP/TCP;unicast;interleaved=0-1\r\n")
	request("PLAY " + url + " RTSP/1.0\r\nCSeq: 2\r\nRequire: " + BackChannelRequire + "\r\n")
	go io.Copy(io.Discard, br) // RTCP and whatever else

	send := func(payload []byte) {
		t.Helper()
		frame := append([]byte{'$', 0, byte(len(payload) >> 8), byte(len(payload))}, payload...)
		if _, err := c.Write(frame); err != nil {
			t.Fatal(err)
		}
	}
	pkt := func(pt uint8, seq uint16, n int) []byte {
		b, _ := (&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: pt, SequenceNumber: seq, Timestamp: uint32(seq) * 160, SSRC: 7},
			Payload: bytes.Repeat([]byte{0x55}, n)}).Marshal()
		return b
	}
	send(pkt(8, 1, 160))  // PCMA: not offered
	send(pkt(97, 2, 160)) // the AAC served, not a back channel format
	send([]byte{0x80})    // too short for an RTP header
	send(pkt(0, 3, 160))  // fine
	waitFor(t, "the valid packet", func() bool { return s.BackChannelStats().Packets == 1 })
	st := s.BackChannelStats()
	if st.Samples != 160 || st.DecodeErrors < 3 {
		t.Errorf("stats %+v: want 160 samples and the 3 bad packets counted", st)
	}
	if pcm := readWAV(t, out); len(pcm) != 160 {
		t.Errorf("%d samples in the file, want 160", len(pcm))
	}
}

// TestBackChannelWrite checks how packets are placed by timestamp: gaps
// become silence up to a bound, late and duplicate packets are refused,
// and the size cap holds.
func TestBackChannelWrite(t *testing.T) {
	out := filepath.Join(t.TempDir(), "bc.wav")
	bc, err := newBackChannel(out, 8000+160*3)
	if err != nil {
		t.Fatal(err)
	}
	w := func(ts uint32, ssrc uint32, pt uint8, n int) {
		bc.writeLocked(&rtp.Packet{Header: rtp.Header{PayloadType: pt, Timestamp: ts, SSRC: ssrc}, Payload: bytes.Repeat([]byte{0x00}, n)})
	}
	w(100, 1, 0, 160)            // 160
	w(100, 1, 0, 160)            // duplicate: refused
	w(260+80, 1, 0, 160)         // 80 silence + 160 = 400
	w(340+80, 1, 0, 160)         // overlaps by 80: 80 more = 480
	w(500+5*pcmuRate, 1, 0, 160) // a long jump: no silence, 640
	w(660, 1, 8, 160)            // wrong payload type
	w(0, 2, 0, 8000)             // new SSRC, capped: 8480 - 640 = 7840 more
	w(8000, 2, 0, 160)           // full: refused
	st := bc.snapshot()
	if st.Samples != 8480 || st.Refused != 3 || st.Packets != 5 {
		t.Errorf("stats %+v, want 8480 samples, 3 refused, 5 packets", st)
	}
	if err := bc.close(); err != nil {
		t.Fatal(err)
	}
	if pcm := readWAV(t, out); len(pcm) != 8480 || pcm[200] != 0 || pcm[100] == 0 {
		t.Errorf("file: %d samples, [100]=%d [200]=%d", len(pcm), pcm[100], pcm[200])
	}
}

// FuzzBackChannel feeds arbitrary RTP packets to the back channel: it
// never panics, never writes beyond its cap, and the file's header always
// matches its size.
func FuzzBackChannel(f *testing.F) {
	seed, _ := (&rtp.Packet{Header: rtp.Header{Version: 2, Timestamp: 1}, Payload: make([]byte, 160)}).Marshal()
	f.Add(seed, seed)
	f.Add([]byte{0x80, 0x00, 0, 1, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 1, 1, 2, 3}, seed)
	f.Fuzz(func(t *testing.T, a, b []byte) {
		out := filepath.Join(t.TempDir(), "bc.wav")
		bc, err := newBackChannel(out, 4000)
		if err != nil {
			t.Fatal(err)
		}
		for _, raw := range [][]byte{a, b, a, b} {
			var pkt rtp.Packet
			if pkt.Unmarshal(raw) != nil {
				continue
			}
			bc.writeLocked(&pkt)
		}
		st := bc.snapshot()
		if err := bc.close(); err != nil {
			t.Fatal(err)
		}
		if st.Samples > 4000 {
			t.Fatalf("%d samples beyond the cap", st.Samples)
		}
		file, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		pcm, err := parseWAV(file)
		if err != nil || uint64(len(pcm)) != st.Samples {
			t.Fatalf("file holds %d samples (%v), stats say %d", len(pcm), err, st.Samples)
		}
	})
}

// TestPresses raises presses over HTTP and the API and reads them back,
// from GET /presses and a subscription.
func TestPresses(t *testing.T) {
	clip := smallClip(t)
	s := startServer(t, Config{File: clip, Control: "127.0.0.1:0"})
	sub, unsub := s.SubscribePresses()
	defer unsub()
	base := "http://" + s.ControlAddr()
	for range 2 {
		resp, err := http.Post(base+"/press", "", nil)
		if err != nil {
			t.Fatal(err)
		}
		var pr Press
		err = json.NewDecoder(resp.Body).Decode(&pr)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 || pr.Source != "http" {
			t.Fatalf("POST /press: %d %+v %v", resp.StatusCode, pr, err)
		}
	}
	s.Press("api")
	for want := uint64(1); want <= 3; want++ {
		select {
		case pr := <-sub:
			if pr.Seq != want {
				t.Errorf("subscription: press %d, want %d", pr.Seq, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("subscription got no press")
		}
	}
	resp, err := http.Get(base + "/presses")
	if err != nil {
		t.Fatal(err)
	}
	var log PressLog
	err = json.NewDecoder(resp.Body).Decode(&log)
	resp.Body.Close()
	if err != nil || log.Count != 3 || len(log.Recent) != 3 || log.Recent[2].Source != "api" {
		t.Errorf("GET /presses: %+v %v", log, err)
	}
	// A GET does not press; other paths are not found.
	for path, code := range map[string]int{"/press": 405, "/nope": 404} {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != code {
			t.Errorf("GET %s: %d, want %d", path, resp.StatusCode, code)
		}
	}
	if n := s.Presses().Count; n != 3 {
		t.Errorf("%d presses, want 3", n)
	}
	unsub()
	if _, ok := <-sub; ok {
		t.Error("subscription channel not closed")
	}
	s.Close()
	if _, err := http.Get(base + "/presses"); err == nil {
		t.Error("control endpoint still answers after Close")
	}
}

// TestAudioConfigErrors rejects what cannot work, before serving.
func TestAudioConfigErrors(t *testing.T) {
	clip := smallClip(t)
	for name, cfg := range map[string]Config{
		"codec":        {File: clip, Audio: "mp3"},
		"file without": {File: clip, AudioFile: "x.wav"},
		"missing file": {File: clip, Audio: AudioPCMU, AudioFile: filepath.Join(t.TempDir(), "none.wav")},
		"not audio":    {File: clip, Audio: AudioPCMU, AudioFile: writeFile(t, t.TempDir(), "junk.wav")},
	} {
		cfg.CacheDir = t.TempDir()
		if _, err := New(cfg); err == nil {
			t.Errorf("%s: New accepted %+v", name, cfg)
		}
	}
	s, err := New(Config{File: clip, CacheDir: t.TempDir(), Listen: "127.0.0.1:0", Control: "256.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err == nil {
		t.Error("Start accepted an unusable control address")
	}
	s.Close()
}

// TestDoorbellAVSync: audio and video are paced on one clock. Once the
// RTCP sender reports have mapped both tracks to wall-clock time, the time
// a packet of either track carries is the time it was sent, so audio and
// video played by their NTP times stay together. The bound is loose: a
// track on another clock (a second start, a loop drifting) is off by far
// more than scheduling noise.
func TestDoorbellAVSync(t *testing.T) {
	clip := smallClip(t)
	for _, codec := range []string{AudioPCMU, AudioAAC} {
		t.Run(codec, func(t *testing.T) {
			t.Parallel()
			s := startServer(t, Config{File: clip, Audio: codec, Paths: []string{"a", "b"}})
			// Path b starts its video part-way into the clip.
			c := setUpTCP(t, s.URL("b"))
			var mu sync.Mutex
			offsets := map[description.MediaType][]time.Duration{}
			done := make(chan struct{})
			var once sync.Once
			c.OnPacketRTPAny(func(m *description.Media, _ format.Format, pkt *rtp.Packet) {
				ntp, ok := c.PacketNTP(m, pkt)
				if !ok {
					return
				}
				mu.Lock()
				defer mu.Unlock()
				offsets[m.Type] = append(offsets[m.Type], time.Since(ntp))
				if len(offsets[description.MediaTypeAudio]) >= 20 && len(offsets[description.MediaTypeVideo]) >= 20 {
					once.Do(func() { close(done) })
				}
			})
			if _, err := c.Play(nil); err != nil {
				t.Fatal(err)
			}
			// gortsplib sends a reader its first sender report within 10 s.
			select {
			case <-done:
			case <-time.After(15 * time.Second):
				t.Fatal("no sender reports for both tracks")
			}
			c.Close()
			mu.Lock()
			defer mu.Unlock()
			median := func(d []time.Duration) time.Duration {
				d = append([]time.Duration(nil), d...)
				slices.Sort(d)
				return d[len(d)/2]
			}
			a, v := median(offsets[description.MediaTypeAudio]), median(offsets[description.MediaTypeVideo])
			t.Logf("%s: arrival minus NTP: audio %v, video %v", codec, a, v)
			if diff := (a - v).Abs(); diff > 250*time.Millisecond {
				t.Errorf("audio and video are %v apart", diff)
			}
		})
	}
}

// TestDoorbellSpokenSample serves a sample spoken by espeak-ng as PCMU and
// finds what a client received, byte for byte, in the sample's µ-law
// encoding: the file is served as it is, looped, not a tone.
func TestDoorbellSpokenSample(t *testing.T) {
	clip := smallClip(t)
	if _, err := exec.LookPath("espeak-ng"); err != nil {
		t.Skip("espeak-ng not installed (hint: scripts/deps.sh, or apt-get install espeak-ng)")
	}
	wav := filepath.Join(t.TempDir(), "hello.wav")
	if out, err := exec.Command("espeak-ng", "-w", wav, "Hello, it is the courier").CombinedOutput(); err != nil {
		t.Fatalf("espeak-ng: %v: %s", err, out)
	}
	s := startServer(t, Config{File: clip, Audio: AudioPCMU, AudioFile: wav})
	r := readAudio(t, s.URL("cam"), time.Second, false)

	pcm, err := decodeAudioFile("ffmpeg", wav, 8000)
	if err != nil {
		t.Fatal(err)
	}
	want, err := pcmuClip(pcm)
	if err != nil {
		t.Fatal(err)
	}
	var loop []byte
	for _, u := range want.units {
		loop = append(loop, u.pkt.Payload...)
	}
	if len(r.pcmu) < 4000 {
		t.Fatalf("received only %d samples", len(r.pcmu))
	}
	// The client joined somewhere in the loop, on a packet boundary.
	matches := func(start int) bool {
		for i, b := range r.pcmu {
			if loop[(start+i)%len(loop)] != b {
				return false
			}
		}
		return true
	}
	found := false
	for off := 0; off < len(loop) && !found; off += pcmuFrame {
		found = matches(off)
	}
	if !found {
		t.Fatalf("the %d samples received are nowhere in the spoken sample's loop of %d", len(r.pcmu), len(loop))
	}
	if at := goertzel(mulawToPCM(r.pcmu), ToneHz, 8000); at > 1e6 {
		t.Errorf("power at the tone's frequency %.3g: this looks like the tone", at)
	}
}

// TestPressSubscriberNeverBlocks: a subscriber that does not read misses
// presses past its buffer; the press itself and the log are unaffected.
func TestPressSubscriberNeverBlocks(t *testing.T) {
	s := &Server{log: testLogger(t)}
	slow, unsub := s.SubscribePresses()
	defer unsub()
	for range pressSubBuffer + maxRecentPresses {
		s.Press("api")
	}
	log := s.Presses()
	if log.Count != pressSubBuffer+maxRecentPresses || len(log.Recent) != maxRecentPresses ||
		log.Recent[maxRecentPresses-1].Seq != log.Count || log.Recent[0].Seq != pressSubBuffer+1 {
		t.Errorf("log: count %d, %d recent from %d to %d", log.Count, len(log.Recent), log.Recent[0].Seq, log.Recent[len(log.Recent)-1].Seq)
	}
	if len(slow) != pressSubBuffer || s.presses.missed != maxRecentPresses {
		t.Errorf("slow subscriber holds %d presses, missed %d", len(slow), s.presses.missed)
	}
	if pr := <-slow; pr.Seq != 1 {
		t.Errorf("first press delivered is %d, want 1", pr.Seq)
	}
}

// TestBackChannelOnsets: a sound counts as an onset only after enough
// silence; a sound that goes on, or one after a short pause, does not.
func TestBackChannelOnsets(t *testing.T) {
	bc, err := newBackChannel("", 0)
	if err != nil {
		t.Fatal(err)
	}
	ts := uint32(0)
	silence := bytes.Repeat([]byte{0xff}, 160) // µ-law zero
	tone := toneMulaw(t, 1000, 1)[0]
	send := func(p []byte, n int) {
		for range n {
			bc.writeLocked(&rtp.Packet{Header: rtp.Header{PayloadType: 0, SSRC: 1, Timestamp: ts}, Payload: p})
			ts += 160
		}
	}
	before := time.Now()
	send(tone, 5)     // no silence before it yet
	send(silence, 10) // 200 ms
	send(tone, 10)
	if st := bc.snapshot(); st.Onsets != 1 || st.LastOnset.Before(before) {
		t.Fatalf("after silence then a tone: %+v, want one onset", st)
	}
	send(silence, 5) // 100 ms: too short a pause
	send(tone, 3)
	ts += 160 * 10 // a 200 ms gap in the timestamps is silence too
	send(tone, 3)
	if st := bc.snapshot(); st.Onsets != 2 {
		t.Fatalf("a short pause, then a gap: %d onsets, want 2", st.Onsets)
	}
}
