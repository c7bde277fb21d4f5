package live

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"

	"vigil/internal/camera"
	"vigil/internal/keydir"
	"vigil/internal/softcam"
	"vigil/internal/vigiltest"
)

// talkDoorbell starts a software doorbell serving "front" with PCMU audio
// and the ONVIF back channel, whose audio goes to the returned WAV file.
func talkDoorbell(t testing.TB) (*softcam.Server, string) {
	t.Helper()
	ff := vigiltest.RequireTool(t, "ffmpeg", "ffmpeg")
	dir := t.TempDir()
	clip := filepath.Join(dir, "clip.mp4")
	if b, err := exec.Command(ff, "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=10",
		"-t", "2", "-c:v", "libx264", "-preset", "ultrafast", "-g", "10", "-bf", "0", "-pix_fmt", "yuv420p", clip).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v: %s", err, b)
	}
	wav := filepath.Join(dir, "talk.wav")
	cam := vigiltest.StartSoftcam(t, softcam.Config{File: clip, CacheDir: dir, Listen: "127.0.0.1:0", Paths: []string{"front"},
		Audio: softcam.AudioPCMU, BackChannel: true, BackChannelFile: wav})
	return cam, wav
}

// softcamBackChannel opens the doorbell's back channel as the hub does.
func softcamBackChannel(cam *softcam.Server) BackChannelFunc {
	return func(ctx context.Context, c string) (BackChannel, error) {
		bc, err := camera.OpenBackChannel(ctx, camera.BackChannelConfig{URL: cam.URL(c), Transport: "tcp"})
		if errors.Is(err, camera.ErrNoBackChannel) {
			return nil, errors.Join(ErrNoSpeaker, err)
		}
		return bc, err
	}
}

// readTalkWAV reads the doorbell's back channel file (16-bit mono PCM
// after a 44-byte header) as samples.
func readTalkWAV(t *testing.T, file string) []float64 {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < 44 || string(b[:4]) != "RIFF" {
		t.Fatalf("%s is not a WAV file", file)
	}
	b = b[44:]
	out := make([]float64, len(b)/2)
	for i := range out {
		out[i] = float64(int16(binary.LittleEndian.Uint16(b[2*i:])))
	}
	return out
}

// checkTalkTone fails unless hz clearly dominates pcm.
func checkTalkTone(t *testing.T, pcm []float64, hz float64) {
	t.Helper()
	at := goertzel(pcm, hz, audioRate)
	for _, other := range []float64{440, hz * 0.7, hz * 1.5, 2500} {
		if o := goertzel(pcm, other, audioRate); at < 100*o {
			t.Errorf("power at %.0f Hz %.3g not far above %.0f Hz %.3g", hz, at, other, o)
		}
	}
	if at < 1e9 {
		t.Errorf("power at %.0f Hz %.3g: too quiet", hz, at)
	}
}

// talkWatch starts a viewer of "front" with keys that can talk.
func talkWatch(t *testing.T, hub *Hub, hh *household, keys *keydir.DeviceKeys) *Watch {
	t.Helper()
	cfg := viewer(hh, keys)
	cfg.Talk = true
	w, err := StartWatch(context.Background(), cfg, direct(hub))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	waitFrames(t, w, 3)
	return w
}

// TestTalkToDoorbell: a member's Go viewer talks through the hub to a real
// software doorbell: its 1 kHz tone, sent as PCMU on the session's audio
// track (DTLS-SRTP), reaches the doorbell's ONVIF back channel over a
// second RTSP session, opened on the request and closed when the talk
// stops; while one viewer talks a second is refused as busy, and talks
// once the first stops.
func TestTalkToDoorbell(t *testing.T) {
	cam, wav := talkDoorbell(t)
	hh := newHousehold(t)
	hub, _ := startHubWith(t, hh, func(c *HubConfig) { c.BackChannel = softcamBackChannel(cam); c.Logger = vigiltest.Logger(t) })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	a := talkWatch(t, hub, hh, hh.member)
	b := talkWatch(t, hub, hh, hh.admin)

	if err := a.Talk(ctx, true); err != nil {
		t.Fatal(err)
	}
	if hub.Talker("front") != a.Session {
		t.Errorf("talker %q, want the first viewer", hub.Talker("front"))
	}
	var te *TalkError
	if err := b.Talk(ctx, true); !errors.As(err, &te) || te.Code != TalkBusy {
		t.Fatalf("a second talker: %v, want a busy refusal", err)
	}
	t.Logf("the second talker is told: %s", te.Msg)

	tone := toneG711(t, "PCMU", 1000, audioRate) // 1 s
	speak := func(w *Watch, pcmu []byte, want uint64) {
		t.Helper()
		for off := 0; off < len(pcmu); off += 160 {
			if err := w.Speak(pcmu[off : off+160]); err != nil {
				t.Fatal(err)
			}
			time.Sleep(20 * time.Millisecond)
		}
		for cam.BackChannelStats().Packets < want {
			select {
			case <-ctx.Done():
				t.Fatalf("the doorbell received %+v, want %d packets", cam.BackChannelStats(), want)
			case <-time.After(10 * time.Millisecond):
			}
		}
	}
	speak(a, tone, 50)
	if err := a.Talk(ctx, false); err != nil {
		t.Fatal(err)
	}
	// Audio sent when not talking goes nowhere.
	for off := 0; off < 1600; off += 160 {
		if err := a.Speak(tone[off : off+160]); err != nil {
			t.Fatal(err)
		}
	}
	checkTalkTone(t, readTalkWAV(t, wav)[:audioRate], 1000)

	// The line is free: the second viewer talks (a new back channel
	// session: the first one's was torn down, or the doorbell would
	// count it busy).
	if err := b.Talk(ctx, true); err != nil {
		t.Fatal(err)
	}
	speak(b, toneG711(t, "PCMU", 600, audioRate/2), 75)
	if err := b.Talk(ctx, false); err != nil {
		t.Fatal(err)
	}
	st := cam.BackChannelStats()
	if st.Talks != 2 || st.Busy != 0 || st.Packets < 75 || st.Packets > 85 {
		t.Errorf("doorbell back channel %+v: want 2 talks, none busy, the 75 packets talked (and none sent while not talking)", st)
	}
	pcm := readTalkWAV(t, wav)
	if len(pcm) < audioRate+audioRate/2 {
		t.Fatalf("%d samples in the back channel file", len(pcm))
	}
	checkTalkTone(t, pcm[len(pcm)-audioRate/2:], 600)
	if hub.Talker("front") != "" {
		t.Errorf("talker %q after both stopped", hub.Talker("front"))
	}
}

// stalledBackChannel accepts the talk, then takes no audio: every Write
// fails as gortsplib's full write queue does.
type stalledBackChannel struct {
	writes atomic.Int64
	closed atomic.Bool
	done   chan struct{}
}

func (s *stalledBackChannel) Write([]byte) error {
	s.writes.Add(1)
	return errors.New("write queue is full")
}
func (s *stalledBackChannel) Done() <-chan struct{} { return s.done }
func (s *stalledBackChannel) Close() error          { s.closed.Store(true); return nil }

// TestTalkStalledCamera: a camera that accepts the back channel and then
// takes no audio costs the talk, not the hub: the talker is told, the
// back channel is closed, the line is free again, and the live picture
// and the hub's answers go on.
func TestTalkStalledCamera(t *testing.T) {
	hh := newHousehold(t)
	sink := &stalledBackChannel{done: make(chan struct{})}
	hub, _ := startHubWith(t, hh, func(c *HubConfig) {
		c.BackChannel = func(context.Context, string) (BackChannel, error) { return sink, nil }
		c.Logger = vigiltest.Logger(t)
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	w := talkWatch(t, hub, hh, hh.member)
	if err := w.Talk(ctx, true); err != nil {
		t.Fatal(err)
	}
	pkt := toneG711(t, "PCMU", 1000, 160)
	ended := make(chan TalkReply, 1)
	go func() {
		for {
			select {
			case r := <-w.talk.replies:
				ended <- r
				return
			case <-ctx.Done():
				return
			case <-time.After(20 * time.Millisecond):
				w.Speak(pkt)
			}
		}
	}()
	var r TalkReply
	select {
	case r = <-ended:
	case <-ctx.Done():
		t.Fatal("the talk to a stalled camera never ended")
	}
	if r.Talking || r.Code != TalkFailed {
		t.Errorf("the talker is told %+v, want a failed talk", r)
	}
	t.Logf("the talker is told: %s", r.Error)
	if !sink.closed.Load() || hub.Talker("front") != "" {
		t.Errorf("after the stall: back channel closed %v, talker %q", sink.closed.Load(), hub.Talker("front"))
	}
	f0, _ := w.Frames()
	waitFrames(t, w, f0+10)
	w2 := talkWatch(t, hub, hh, hh.admin)
	if err := w2.Talk(ctx, true); err != nil {
		t.Fatalf("the next talker: %v", err)
	}
}

// TestTalkNoSpeaker: a camera without a back channel (the doorbell serves
// none) is refused with a reason, and a hub without talk refuses too.
func TestTalkNoSpeaker(t *testing.T) {
	hh := newHousehold(t)
	hub, _ := startHubWith(t, hh, func(c *HubConfig) {
		c.BackChannel = func(context.Context, string) (BackChannel, error) {
			return nil, errors.Join(ErrNoSpeaker, camera.ErrNoBackChannel)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	w := talkWatch(t, hub, hh, hh.member)
	var te *TalkError
	if err := w.Talk(ctx, true); !errors.As(err, &te) || te.Code != TalkNoSpeaker {
		t.Errorf("talk to a camera without a speaker: %v, want no-speaker", err)
	}
	hub2, _ := startHub(t, hh)
	w2 := talkWatch(t, hub2, hh, hh.member)
	if err := w2.Talk(ctx, true); !errors.As(err, &te) || te.Code != TalkNoSpeaker {
		t.Errorf("talk on a hub without back channels: %v, want no-speaker", err)
	}
}

// BenchmarkTalkLatency reports talk mouth-to-speaker on loopback: a
// microphone packet handed to a viewer's WebRTC track to its arrival at a
// software doorbell's back channel (p50 and p95, talkLatency).
func BenchmarkTalkLatency(b *testing.B) {
	cam, _ := talkDoorbell(b)
	hh := newHousehold(b)
	tap := NewTap()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go fakeCamera(ctx, tap)
	hub := NewHub(HubConfig{Household: hh.st.HouseholdID, Key: hh.hub.Sign, Chain: func() *keydir.State { return hh.st },
		Tap: func(string) *Tap { return tap }, Net: loopback, BackChannel: softcamBackChannel(cam)})
	defer hub.Close()
	cfg := viewer(hh, hh.member)
	cfg.Talk = true
	w, err := StartWatch(ctx, cfg, direct(hub))
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	select {
	case <-w.First():
	case <-time.After(20 * time.Second):
		b.Fatal("no frame")
	}
	if err := w.Talk(ctx, true); err != nil {
		b.Fatal(err)
	}
	pkt := make([]byte, 160)
	for i := range pkt {
		pkt[i] = 0xff // µ-law silence
	}
	heard := func() uint64 { return cam.BackChannelStats().Packets }
	b.ResetTimer()
	lat, err := talkLatency(ctx, w, b.N, pkt, heard, 5*time.Second)
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	p50, p95 := percentiles(lat)
	b.ReportMetric(float64(p50.Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(p95.Microseconds())/1000, "p95-ms")
}

// percentiles returns the median and the 95th percentile of d.
func percentiles(d []time.Duration) (p50, p95 time.Duration) {
	if len(d) == 0 {
		return 0, 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2], s[min(len(s)-1, len(s)*95/100)]
}

// TestTalkPayload: what a viewer's microphone sends is taken only as
// G.711 of a sane size: PCMU as is, PCMA turned into µ-law of the same
// sound, anything else refused.
func TestTalkPayload(t *testing.T) {
	var alaw *[256]byte
	tone := toneG711(t, "PCMU", 1000, 160)
	if got, ok := talkPayload(0, tone, &alaw); !ok || string(got) != string(tone) {
		t.Errorf("PCMU: %v", ok)
	}
	a := toneG711(t, "PCMA", 1000, 800)
	got, ok := talkPayload(8, a, &alaw)
	if !ok {
		t.Fatal("PCMA refused")
	}
	x, y := decodeG711("PCMA", a), decodeG711("PCMU", got)
	for i := range x {
		if math.Abs(x[i]-y[i]) > 64+math.Abs(x[i])/16 {
			t.Fatalf("sample %d: A-law %v became µ-law %v", i, x[i], y[i])
		}
	}
	for _, c := range []struct {
		pt uint8
		p  []byte
	}{{96, tone}, {111, tone}, {0, nil}, {8, nil}, {0, make([]byte, maxAudioPayload+1)}, {127, []byte{1}}} {
		if _, ok := talkPayload(c.pt, c.p, &alaw); ok {
			t.Errorf("payload type %d of %d bytes taken", c.pt, len(c.p))
		}
	}
}

// FuzzTalkPayload: any payload type and bytes are taken or refused, never
// a crash, and what is taken is as long as what came and bounded.
func FuzzTalkPayload(f *testing.F) {
	f.Add(uint8(0), []byte{0xff, 0x7f})
	f.Add(uint8(8), []byte{0xd5})
	f.Add(uint8(96), []byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, pt uint8, p []byte) {
		var alaw *[256]byte
		out, ok := talkPayload(pt, p, &alaw)
		if ok && (len(out) != len(p) || len(out) == 0 || len(out) > maxAudioPayload || (pt != 0 && pt != 8)) {
			t.Fatalf("pt %d, %d bytes: took %d", pt, len(p), len(out))
		}
	})
}

// TestTalkChannelHostile: the talk channel takes short JSON text only: a
// malformed request gets a reason, a binary or oversized one closes the
// channel (and with it any talk), and the session and its video go on.
func TestTalkChannelHostile(t *testing.T) {
	cam, _ := talkDoorbell(t)
	hh := newHousehold(t)
	hub, _ := startHubWith(t, hh, func(c *HubConfig) { c.BackChannel = softcamBackChannel(cam); c.Logger = vigiltest.Logger(t) })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	w := talkWatch(t, hub, hh, hh.member)
	<-w.talk.open
	if err := w.talk.dc.SendText("talk please"); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-w.talk.replies:
		if r.Talking || r.Code != TalkFailed || r.Error == "" {
			t.Errorf("a malformed request: %+v, want a reason", r)
		}
	case <-ctx.Done():
		t.Fatal("no reply to a malformed request")
	}
	if err := w.Talk(ctx, true); err != nil {
		t.Fatal(err)
	}
	closed := make(chan struct{})
	w.talk.dc.OnClose(func() { close(closed) })
	if err := w.talk.dc.Send(make([]byte, maxTalkMessage+1)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-closed:
	case <-ctx.Done():
		t.Fatal("an oversized binary message did not close the talk channel")
	}
	for hub.Talker("front") != "" {
		select {
		case <-ctx.Done():
			t.Fatal("the talk outlived its channel")
		case <-time.After(10 * time.Millisecond):
		}
	}
	f, _ := w.Frames()
	waitFrames(t, w, f+10)
	if hub.Sessions() != 1 {
		t.Errorf("%d sessions, want the viewer's still", hub.Sessions())
	}
}

// TestTalkRemovedDeviceCut: a device removed from the household while it
// talks loses the camera's speaker with its session: the back channel is
// torn down and the line is free for the others.
func TestTalkRemovedDeviceCut(t *testing.T) {
	cam, _ := talkDoorbell(t)
	hh := newHousehold(t)
	var chain atomic.Pointer[keydir.State]
	chain.Store(hh.st)
	hub, _ := startHubWith(t, hh, func(c *HubConfig) {
		c.Chain = chain.Load
		c.BackChannel = softcamBackChannel(cam)
		c.Logger = vigiltest.Logger(t)
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	w := talkWatch(t, hub, hh, hh.member)
	if err := w.Talk(ctx, true); err != nil {
		t.Fatal(err)
	}
	next := hh.st.Clone()
	link, err := next.RemoveDevice(hh.admin, hh.member.ID(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := next.Apply(link); err != nil {
		t.Fatal(err)
	}
	chain.Store(next)
	if n := hub.Revoke(); n != 1 {
		t.Fatalf("Revoke ended %d sessions, want the talker's", n)
	}
	if hub.Talker("front") != "" {
		t.Error("the removed device still holds the camera's speaker")
	}
	hh.st = next
	a := talkWatch(t, hub, hh, hh.admin)
	if err := a.Talk(ctx, true); err != nil {
		t.Fatalf("the admin after the member was cut: %v", err)
	}
	if st := cam.BackChannelStats(); st.Talks != 2 || st.Busy != 0 {
		t.Errorf("doorbell back channel %+v: want the member's talk torn down before the admin's", st)
	}
}

// TestTalkManyMicrophones: an offer with three sending audio lines (a
// hostile or confused viewer) gets one microphone read: the doorbell hears
// one of the three tones, clean, never a mix or three times the packets.
func TestTalkManyMicrophones(t *testing.T) {
	cam, wav := talkDoorbell(t)
	hh := newHousehold(t)
	hub, _ := startHubWith(t, hh, func(c *HubConfig) { c.BackChannel = softcamBackChannel(cam); c.Logger = vigiltest.Logger(t) })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pc, err := loopback.api().NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
		t.Fatal(err)
	}
	hz := []float64{1000, 600, 300}
	var mics []*webrtc.TrackLocalStaticSample
	for i := range hz {
		mic, err := webrtc.NewTrackLocalStaticSample(audioCaps["PCMU"].cap, fmt.Sprintf("mic%d", i), fmt.Sprintf("stream%d", i))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := pc.AddTransceiverFromTrack(mic, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendrecv}); err != nil {
			t.Fatal(err)
		}
		mics = append(mics, mic)
	}
	dc, err := pc.CreateDataChannel(TalkLabel, nil)
	if err != nil {
		t.Fatal(err)
	}
	open, replies := make(chan struct{}), make(chan string, 4)
	dc.OnOpen(func() { close(open) })
	dc.OnMessage(func(m webrtc.DataChannelMessage) { replies <- string(m.Data) })
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	<-gathered
	sdp := pc.LocalDescription().SDP
	fp, err := SDPFingerprint(sdp)
	if err != nil {
		t.Fatal(err)
	}
	session, ts := NewSessionID(), time.Now().UnixMilli()
	ans := hub.Offer(ctx, Message{Type: "offer", Session: session, Camera: "front", Device: hh.member.ID(), TS: ts, Fingerprint: fp,
		Sig: signB64(hh.member.Sign, OfferMessage(hh.st.HouseholdID, session, "front", ts, fp)), SDP: sdp})
	if ans.Type != "answer" {
		t.Fatalf("the hub answered %+v", ans)
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: ans.SDP}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-open:
	case <-ctx.Done():
		t.Fatal("the talk channel did not open")
	}
	if err := dc.SendText(`{"talk":true}`); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-replies:
		if r != `{"talking":true}` {
			t.Fatalf("talk: %s", r)
		}
	case <-ctx.Done():
		t.Fatal("no answer to the talk request")
	}
	tones := make([][]byte, len(hz))
	for i, f := range hz {
		tones[i] = toneG711(t, "PCMU", f, audioRate)
	}
	for off := 0; off < audioRate; off += 160 {
		for i, mic := range mics {
			if err := mic.WriteSample(media.Sample{Data: tones[i][off : off+160], Duration: 20 * time.Millisecond}); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	for cam.BackChannelStats().Packets < 50 {
		select {
		case <-ctx.Done():
			t.Fatalf("the doorbell got %+v", cam.BackChannelStats())
		case <-time.After(10 * time.Millisecond):
		}
	}
	time.Sleep(300 * time.Millisecond) // room for packets that should not come
	if st := cam.BackChannelStats(); st.Packets > 55 {
		t.Errorf("the doorbell got %d packets for 50 of talk: more than one microphone was read", st.Packets)
	}
	pcm := readTalkWAV(t, wav)[:audioRate]
	best := 0
	for i := range hz {
		if goertzel(pcm, hz[i], audioRate) > goertzel(pcm, hz[best], audioRate) {
			best = i
		}
	}
	t.Logf("the microphone read: %.0f Hz", hz[best])
	checkTalkTone(t, pcm, hz[best])
	for i := range hz {
		if i != best && goertzel(pcm, hz[i], audioRate)*100 > goertzel(pcm, hz[best], audioRate) {
			t.Errorf("the %.0f Hz microphone is mixed into the %.0f Hz one", hz[i], hz[best])
		}
	}
}

// talkLatency measures talk mouth-to-speaker: the time from one
// microphone packet handed to a talking viewer's WebRTC track (w.Speak, as
// a browser's microphone hands its audio over) to that packet's arrival at
// the camera's back channel, through the session's SRTP, the hub's talk
// queue and the RTSP back channel. heard reports how many packets the
// camera's back channel has received so far (for the software doorbell,
// softcam's BackChannelStats().Packets); it is polled.
//
// w must be talking (w.Talk(ctx, true) returned nil). talkLatency sends n
// packets of pcmu (one 20 ms packet of 160 samples is typical), at most
// one every packet's duration and each only after the previous one
// arrived, and returns the n latencies in order. It fails when a packet
// does not arrive within timeout.
func talkLatency(ctx context.Context, w *Watch, n int, pcmu []byte, heard func() uint64, timeout time.Duration) ([]time.Duration, error) {
	if len(pcmu) == 0 || len(pcmu) > maxAudioPayload {
		return nil, fmt.Errorf("live: a talk packet is 1 to %d bytes", maxAudioPayload)
	}
	pace := time.Duration(len(pcmu)) * time.Second / audioRate
	out := make([]time.Duration, 0, n)
	var last time.Time
	for range n {
		if wait := pace - time.Since(last); wait > 0 {
			time.Sleep(wait)
		}
		before := heard()
		last = time.Now()
		if err := w.Speak(pcmu); err != nil {
			return out, err
		}
		deadline := last.Add(timeout)
		for heard() <= before {
			if err := ctx.Err(); err != nil {
				return out, err
			}
			if time.Now().After(deadline) {
				return out, errors.New("live: a talk packet did not reach the camera in time")
			}
			time.Sleep(200 * time.Microsecond)
		}
		out = append(out, time.Since(last))
	}
	return out, nil
}
