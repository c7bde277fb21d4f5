package hubd

import (
	"context"
	"crypto/rand"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/pion/rtp"

	"vigil/internal/envelope"
	"vigil/internal/keydir"
	"vigil/internal/recordings"
	"vigil/internal/segstore"
	"vigil/internal/vigiltest"
)

func listSegs(t *testing.T, h *Hub, cam string) []segstore.Segment {
	t.Helper()
	segs, err := h.Store().List(context.Background(), segstore.Filter{Camera: cam})
	if err != nil {
		t.Fatal(err)
	}
	return segs
}

// TestCameraOutage: one camera is away for 10 s. The hub reconnects within
// 5 s of its return and records the gap; the other camera keeps recording
// without a hole.
func TestCameraOutage(t *testing.T) {
	t.Parallel()
	_, rcpt := household(t)
	front := startCamera(t, "127.0.0.1:0", "cam")
	back := startCamera(t, "127.0.0.1:0", "cam")
	frontAddr := front.Addr()
	cfg := hubConfig(t, rcpt, map[string]string{"front": front.URL("cam"), "back": back.URL("cam")}, 2*time.Second)
	h := startHub(t, cfg, Options{})
	defer h.Close()

	waitFor(t, "both cameras to record", 20*time.Second, func() bool {
		return len(listSegs(t, h, "front")) >= 2 && len(listSegs(t, h, "back")) >= 2
	})
	front.Close()
	down := time.Now()
	waitFor(t, "the hub to notice the outage", 10*time.Second, func() bool { return !statsOf(h, "front").Ingest.Connected })
	backBefore := statsOf(h, "back").FramesRecorded
	time.Sleep(10*time.Second - time.Since(down))

	back2 := time.Now() // before the camera starts: starting it loads the clip
	startCamera(t, frontAddr, "cam")
	waitFor(t, "the hub to reconnect", 5*time.Second, func() bool { return statsOf(h, "front").Ingest.Connects >= 2 })
	reconnect := time.Since(back2)
	t.Logf("reconnected %s after the camera came back", reconnect)

	waitFor(t, "a gap to be recorded", 15*time.Second, func() bool {
		gaps, _ := h.Store().Gaps(context.Background(), segstore.Filter{Camera: "front"})
		return len(gaps) == 1
	})
	gaps, _ := h.Store().Gaps(context.Background(), segstore.Filter{Camera: "front"})
	g := gaps[0]
	if l := g.End.Sub(g.Start); l < 9*time.Second || l > 17*time.Second {
		t.Errorf("gap of %s, want about 10 s (+ reconnect and first keyframe)", l)
	}
	t.Logf("gap %s .. %s (%s): %s", g.Start.Format(time.RFC3339Nano), g.End.Format(time.RFC3339Nano), g.End.Sub(g.Start), g.Reason)

	// The other camera: no gap, frames kept coming during the outage.
	if gs, _ := h.Store().Gaps(context.Background(), segstore.Filter{Camera: "back"}); len(gs) != 0 {
		t.Errorf("back camera has gaps: %+v", gs)
	}
	if got := statsOf(h, "back").FramesRecorded; got <= backBefore {
		t.Errorf("back camera recorded nothing during the outage (%d -> %d)", backBefore, got)
	}
	segs := listSegs(t, h, "back")
	for i := 1; i < len(segs); i++ {
		if hole := segs[i].Start.Sub(segs[i-1].End); hole > 200*time.Millisecond {
			t.Errorf("back camera: %s hole before segment %d", hole, segs[i].Seq)
		}
	}
	if s := statsOf(h, "back"); s.Ingest.Connects != 1 {
		t.Errorf("back camera reconnected %d times", s.Ingest.Connects)
	}
}

// TestRetentionBySize: with a small max_bytes the oldest segments go,
// recording continues, and the store stays within max_bytes plus one segment.
func TestRetentionBySize(t *testing.T) {
	t.Parallel()
	_, rcpt := household(t)
	cam := startCamera(t, "127.0.0.1:0", "cam")
	cfg := hubConfig(t, rcpt, map[string]string{"front": cam.URL("cam")}, time.Second)
	const maxBytes = 1_500_000
	cfg.Retention.MaxBytes = maxBytes
	h := startHub(t, cfg, Options{})
	defer h.Close()

	var biggest int64
	deadline := time.Now().Add(40 * time.Second)
	for {
		segs := listSegs(t, h, "front")
		var total int64
		for _, s := range segs {
			total += s.Bytes
			biggest = max(biggest, s.Bytes)
		}
		if total > maxBytes+biggest {
			t.Fatalf("store holds %d bytes, over %d + one segment (%d)", total, maxBytes, biggest)
		}
		if len(segs) > 0 && segs[0].Seq > 3 && time.Since(segs[len(segs)-1].End) < 3*time.Second {
			t.Logf("oldest kept seq %d, newest %d, %d bytes in %d segments", segs[0].Seq, segs[len(segs)-1].Seq, total, len(segs))
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("retention did not evict: %d segments, oldest seq %v", len(segs), segs)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if total, _ := h.Store().Usage(); total > maxBytes+biggest {
		t.Errorf("usage %d over the limit", total)
	}
}

// TestDiskFullKeepsRecording: a simulated ENOSPC on every third write makes
// the store evict the oldest segment and retry; recording never stops.
func TestDiskFullKeepsRecording(t *testing.T) {
	t.Parallel()
	_, rcpt := household(t)
	cam := startCamera(t, "127.0.0.1:0", "cam")
	cfg := hubConfig(t, rcpt, map[string]string{"front": cam.URL("cam")}, time.Second)
	var mu sync.Mutex
	writes, full := 0, 0
	hooks := segstore.FaultHooks{WriteFile: func(f *os.File, data []byte) error {
		mu.Lock()
		writes++
		fail := writes > 4 && writes%3 == 0
		if fail {
			full++
		}
		mu.Unlock()
		if fail {
			f.Write(data[:len(data)/2]) // a partial write, as a full disk leaves
			return &os.PathError{Op: "write", Path: f.Name(), Err: syscall.ENOSPC}
		}
		_, err := f.Write(data)
		return err
	}}
	h := startHub(t, cfg, Options{StoreHooks: hooks})
	defer h.Close()
	waitFor(t, "recording through a full disk", 40*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return full >= 3 && statsOf(h, "front").Segments >= 8
	})
	st := statsOf(h, "front")
	if st.StoreErrors != 0 {
		t.Errorf("%d segments failed to store despite eviction", st.StoreErrors)
	}
	segs := listSegs(t, h, "front")
	if len(segs) == 0 || time.Since(segs[len(segs)-1].End) > 3*time.Second {
		t.Errorf("recording stopped: %d segments", len(segs))
	}
	if segs[0].Seq == 0 {
		t.Errorf("the oldest segment was not evicted to make room")
	}
	t.Logf("%d simulated ENOSPC, %d segments stored, oldest kept seq %d", full, st.Segments, segs[0].Seq)
}

// TestStoreFailureIsAGap: segments the store fails to write (an I/O error,
// not a full disk) are lost, recording goes on, and the hole they leave is
// recorded as a gap that says why.
func TestStoreFailureIsAGap(t *testing.T) {
	t.Parallel()
	_, rcpt := household(t)
	cam := startCamera(t, "127.0.0.1:0", "cam")
	cfg := hubConfig(t, rcpt, map[string]string{"front": cam.URL("cam")}, time.Second)
	var mu sync.Mutex
	writes := 0
	hooks := segstore.FaultHooks{WriteFile: func(f *os.File, data []byte) error {
		mu.Lock()
		writes++
		fail := writes == 3 || writes == 4
		mu.Unlock()
		if fail {
			return &os.PathError{Op: "write", Path: f.Name(), Err: syscall.EIO}
		}
		_, err := f.Write(data)
		return err
	}}
	h := startHub(t, cfg, Options{StoreHooks: hooks})
	defer h.Close()
	waitFor(t, "recording after the failures", 30*time.Second, func() bool {
		return statsOf(h, "front").Segments >= 5
	})
	if st := statsOf(h, "front"); st.StoreErrors != 2 {
		t.Errorf("%d store errors, want 2", st.StoreErrors)
	}
	gaps, err := h.Store().Gaps(context.Background(), segstore.Filter{Camera: "front"})
	if err != nil {
		t.Fatal(err)
	}
	if len(gaps) != 1 || gaps[0].Reason != "storage error" {
		t.Fatalf("gaps %+v, want one for the storage error", gaps)
	}
	if l := gaps[0].End.Sub(gaps[0].Start); l < 1500*time.Millisecond || l > 8*time.Second {
		t.Errorf("gap of %v for two lost segments (1 s or the next keyframe)", l)
	}
	segs := listSegs(t, h, "front")
	if !segs[1].End.Equal(gaps[0].Start) || !segs[2].Start.Equal(gaps[0].End) {
		t.Errorf("gap %v..%v does not sit between the stored segments %v and %v",
			gaps[0].Start, gaps[0].End, segs[1].End, segs[2].Start)
	}
}

// TestHostileSources: an RTSP server that answers garbage and one that
// streams malformed RTP/H.264 get an error for their camera and no crash;
// the good camera keeps recording.
func TestHostileSources(t *testing.T) {
	t.Parallel()
	_, rcpt := household(t)
	good := startCamera(t, "127.0.0.1:0", "cam")

	garbage, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer garbage.Close()
	go func() {
		for {
			c, err := garbage.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				buf := make([]byte, 4096)
				c.SetDeadline(time.Now().Add(2 * time.Second))
				c.Read(buf)
				junk := make([]byte, 2048)
				rand.Read(junk)
				c.Write([]byte("RTSP/1.0 200 OK\r\nCSeq: 1\r\nContent-Length: 99999999\r\n\r\n"))
				c.Write(junk)
			}()
		}
	}()

	bad := startMalformedRTP(t)

	cfg := hubConfig(t, rcpt, map[string]string{
		"good":    good.URL("cam"),
		"garbage": "rtsp://" + garbage.Addr().String() + "/cam",
		"badrtp":  bad,
	}, time.Second)
	h := startHub(t, cfg, Options{})
	defer h.Close()
	waitFor(t, "the good camera to store 4 segments", 30*time.Second, func() bool { return statsOf(h, "good").Segments >= 4 })
	if s := statsOf(h, "good"); s.Ingest.Connects != 1 || s.FramesDropped != s.WaitingKey {
		t.Errorf("good camera disturbed by hostile ones: %+v", s)
	}
	if s := statsOf(h, "garbage"); s.Segments != 0 || s.Ingest.Connects != 0 {
		t.Errorf("garbage server: %+v", s)
	}
	bs := statsOf(h, "badrtp")
	if bs.Ingest.Connects == 0 || bs.Ingest.Packets == 0 {
		t.Errorf("malformed RTP server was not read: %+v", bs.Ingest)
	}
	if bs.FramesDropped == 0 && bs.Ingest.DecodeErrors == 0 {
		t.Errorf("no malformed input was detected: %+v", bs)
	}
	t.Logf("badrtp: %d packets, %d decode errors, %d frames in, %d dropped", bs.Ingest.Packets, bs.Ingest.DecodeErrors, bs.FramesIn, bs.FramesDropped)
}

// startMalformedRTP serves an H.264 track whose RTP payloads are random bytes
// with valid-looking NAL headers and fragmentation units.
func startMalformedRTP(t *testing.T) string {
	t.Helper()
	h := &rtpHandler{}
	srv := &gortsplib.Server{Handler: h, RTSPAddress: "127.0.0.1:0"}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	media := &description.Media{Type: description.MediaTypeVideo, Formats: []format.Format{&format.H264{
		PayloadTyp: 96, PacketizationMode: 1,
		SPS: []byte{0x67, 0x42, 0xc0, 0x1f, 0xda, 0x01, 0x40, 0x16, 0xe8, 0x06, 0xd0, 0xa1, 0x35},
		PPS: []byte{0x68, 0xce, 0x06, 0xe2},
	}}}
	h.stream = &gortsplib.ServerStream{Server: srv, Desc: &description.Session{Medias: []*description.Media{media}}}
	if err := h.stream.Initialize(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		var seq uint16
		var ts uint32
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			payload := make([]byte, 1+int(seq%1200))
			rand.Read(payload)
			// Bias toward the interesting NAL types: IDR, SPS, PPS, STAP-A, FU-A.
			payload[0] = []byte{0x65, 0x67, 0x68, 0x78, 0x7c, 0x41, 0x00}[seq%7]
			seq++
			if seq%3 == 0 {
				ts += 9000
			}
			h.stream.WritePacketRTP(media, &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96,
				SequenceNumber: seq, Timestamp: ts, Marker: seq%3 == 0, SSRC: 1234}, Payload: payload})
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		h.stream.Close()
		srv.Close()
	})
	return "rtsp://" + srv.NetListener().Addr().String() + "/cam"
}

type rtpHandler struct{ stream *gortsplib.ServerStream }

func (h *rtpHandler) OnDescribe(*gortsplib.ServerHandlerOnDescribeCtx) (*base.Response, *gortsplib.ServerStream, error) {
	return &base.Response{StatusCode: base.StatusOK}, h.stream, nil
}

func (h *rtpHandler) OnSetup(*gortsplib.ServerHandlerOnSetupCtx) (*base.Response, *gortsplib.ServerStream, error) {
	return &base.Response{StatusCode: base.StatusOK}, h.stream, nil
}

func (h *rtpHandler) OnPlay(*gortsplib.ServerHandlerOnPlayCtx) (*base.Response, error) {
	return &base.Response{StatusCode: base.StatusOK}, nil
}

// TestRecordH265AudioOverUDP: ffmpeg publishes H.265 with AAC audio to an
// RTSP server; the hub reads it over UDP and records both tracks; the export
// plays with both.
func TestRecordH265AudioOverUDP(t *testing.T) {
	t.Parallel()
	id, rcpt := household(t)
	relay := vigiltest.StartRelay(t)
	vigiltest.Publish(t, relay.URL("live"), 60*time.Second, true, true)
	waitFor(t, "ffmpeg to publish", 15*time.Second, relay.Publishing)

	cfg := hubConfig(t, rcpt, map[string]string{"cam": relay.URL("live")}, 2*time.Second)
	cfg.Cameras[0].Transport = "udp"
	h := startHub(t, cfg, Options{})
	waitFor(t, "4 segments", 30*time.Second, func() bool { return statsOf(h, "cam").Segments >= 4 })
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	st := statsOf(h, "cam")
	if st.Ingest.AudioFrames == 0 {
		t.Fatalf("no audio received: %+v", st.Ingest)
	}
	segs := listSegsReadOnly(t, cfg.Data, "cam")
	if segs[0].Codec != "H265" || segs[0].AudioCodec != "AAC" {
		t.Fatalf("recorded codecs %q/%q, want H265/AAC", segs[0].Codec, segs[0].AudioCodec)
	}
	hubKey, _ := keydir.ReadSignerPublic(cfg.Data)
	store, err := segstore.OpenReadOnly(context.Background(), cfg.Data, segstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	out := filepath.Join(t.TempDir(), "clip.mp4")
	if _, err := recordings.ExportFile(context.Background(), store, out, recordings.ExportOptions{
		Camera: "cam", Identities: []envelope.Identity{id}, Trust: envelope.TrustedKeys{hubKey},
	}); err != nil {
		t.Fatal(err)
	}
	v := vigiltest.FFprobe(t, out, "v:0")
	a := vigiltest.FFprobe(t, out, "a:0")
	t.Logf("video %v; audio %v", v, a)
	if v["codec_name"] != "hevc" || a["codec_name"] != "aac" {
		t.Errorf("export has video %q and audio %q, want hevc and aac", v["codec_name"], a["codec_name"])
	}
	if v["nb_read_frames"] != strconv.FormatUint(st.FramesRecorded, 10) {
		t.Errorf("export has %s frames, the hub recorded %d", v["nb_read_frames"], st.FramesRecorded)
	}
	vd, _ := strconv.ParseFloat(v["duration"], 64)
	ad, _ := strconv.ParseFloat(a["duration"], 64)
	if ad < vd-1 || ad > vd+1 {
		t.Errorf("audio %.2f s against video %.2f s", ad, vd)
	}
	scanG9(t, cfg.Data, id, out)
}

func listSegsReadOnly(t *testing.T, data, cam string) []segstore.Segment {
	t.Helper()
	st, err := segstore.OpenReadOnly(context.Background(), data, segstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	segs, err := st.List(context.Background(), segstore.Filter{Camera: cam})
	if err != nil || len(segs) == 0 {
		t.Fatalf("list: %v, %d segments", err, len(segs))
	}
	return segs
}
