package recorder_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"net"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/pion/rtp"

	"vigil/internal/camera"
	"vigil/internal/envelope"
	"vigil/internal/recorder"
	"vigil/internal/segstore"
	"vigil/internal/vigiltest"
)

// openStore opens a store in a fresh directory, with faults injected by
// hooks; it is closed when the test ends, after the recorders.
func openStore(t *testing.T, hooks segstore.FaultHooks) *segstore.Store {
	t.Helper()
	st, err := segstore.Open(context.Background(), t.TempDir(), segstore.Options{
		Logger: vigiltest.Logger(t).With("component", "store"), FS: hooks,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// keys are a household's identity and the hub's signing key.
type keys struct {
	id     *envelope.X25519Identity
	signer ed25519.PrivateKey
}

func newKeys(t *testing.T) keys {
	t.Helper()
	id, err := envelope.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	_, signer, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return keys{id: id, signer: signer}
}

// record starts recording url as camera name into st with segments of
// segDur; the recorder is closed when the test ends (earlier if the test
// closes it).
func record(t *testing.T, st *segstore.Store, k keys, name, url string, segDur time.Duration, up recorder.Uploader) *recorder.Recorder {
	t.Helper()
	r, err := recorder.Start(context.Background(), recorder.Config{
		Camera: camera.Config{Name: name, URL: url, Transport: "tcp",
			MinBackoff: 100 * time.Millisecond, MaxBackoff: time.Second},
		SegmentDuration: segDur,
		Store:           st,
		Signer:          k.signer,
		Recipients: func() ([]envelope.Recipient, uint32) {
			return []envelope.Recipient{k.id.Recipient()}, 0
		},
		Uploader: up,
		Logger:   vigiltest.Logger(t).With("component", "recorder"),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	return r
}

func listSegs(t *testing.T, st *segstore.Store, cam string) []segstore.Segment {
	t.Helper()
	segs, err := st.List(context.Background(), segstore.Filter{Camera: cam})
	if err != nil {
		t.Fatal(err)
	}
	return segs
}

func gapsOf(t *testing.T, st *segstore.Store, cam string) []segstore.Gap {
	t.Helper()
	gaps, err := st.Gaps(context.Background(), segstore.Filter{Camera: cam})
	if err != nil {
		t.Fatal(err)
	}
	return gaps
}

func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// uploads is an Uploader that keeps what it was given.
type uploads struct {
	mu   sync.Mutex
	segs []segstore.Segment
}

func (u *uploads) Enqueue(s segstore.Segment, sealed []byte) {
	if int64(len(sealed)) != s.Bytes {
		panic(fmt.Sprintf("segment %d handed over with %d bytes, stored %d", s.Seq, len(sealed), s.Bytes))
	}
	u.mu.Lock()
	u.segs = append(u.segs, s)
	u.mu.Unlock()
}

func (u *uploads) list() []segstore.Segment {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]segstore.Segment(nil), u.segs...)
}

// TestCloseStoresOpenSegmentAndRestartIsAGap: Close seals and stores the
// segment in progress; every stored segment reaches the uploader once, in
// order, as stored and sealed to the household; a recorder started again
// on the same store goes on with the next sequence number and stores the
// hole as "hub was not recording".
func TestCloseStoresOpenSegmentAndRestartIsAGap(t *testing.T) {
	t.Parallel()
	k := newKeys(t)
	cam := vigiltest.StartCamera(t, "127.0.0.1:0", "cam")
	st := openStore(t, segstore.FaultHooks{})
	up := &uploads{}
	r := record(t, st, k, "front", cam.URL("cam"), 3*time.Second, up)
	waitFor(t, "two segments", 30*time.Second, func() bool { return r.Stats().Segments >= 2 })
	n := r.Stats().Segments
	waitFor(t, "the next segment", 15*time.Second, func() bool { return r.Stats().Segments > n })
	time.Sleep(2 * time.Second) // well into the next 3-s segment
	closing := time.Now()
	r.Close()
	segs := listSegs(t, st, "front")
	if uint64(len(segs)) != r.Stats().Segments {
		t.Fatalf("%d segments stored, the recorder counted %d", len(segs), r.Stats().Segments)
	}
	if last := segs[len(segs)-1]; last.End.Before(closing.Add(-time.Second)) {
		t.Errorf("the last stored segment ends %s before Close: the open segment was not stored", closing.Sub(last.End))
	}
	got := up.list()
	if len(got) != len(segs) {
		t.Fatalf("%d segments uploaded, %d stored", len(got), len(segs))
	}
	for i := range segs {
		if got[i].Seq != segs[i].Seq || got[i].Bytes != segs[i].Bytes {
			t.Fatalf("upload %d is seq %d (%d bytes), stored seq %d (%d bytes)", i, got[i].Seq, got[i].Bytes, segs[i].Seq, segs[i].Bytes)
		}
	}
	sealed, err := os.ReadFile(segs[0].Path)
	if err != nil {
		t.Fatal(err)
	}
	hdr, _, plain, err := envelope.Open(sealed, envelope.TrustedKeys{k.signer.Public().(ed25519.PublicKey)}, k.id)
	if err != nil {
		t.Fatalf("the stored segment does not open with the household's identity and the hub's key: %v", err)
	}
	if hdr.Stream != "front" || hdr.Sequence != segs[0].Seq || len(plain) == 0 {
		t.Errorf("sealed header %+v with %d bytes, want stream front, seq %d", hdr, len(plain), segs[0].Seq)
	}

	time.Sleep(1500 * time.Millisecond) // a hole longer than a gap's minimum
	r2 := record(t, st, k, "front", cam.URL("cam"), 3*time.Second, nil)
	waitFor(t, "a segment after the restart", 30*time.Second, func() bool { return r2.Stats().Segments >= 1 })
	r2.Close()
	after := listSegs(t, st, "front")
	if next := after[len(segs)]; next.Seq != segs[len(segs)-1].Seq+1 {
		t.Errorf("after the restart seq %d, want %d", next.Seq, segs[len(segs)-1].Seq+1)
	}
	gaps := gapsOf(t, st, "front")
	if len(gaps) != 1 || gaps[0].Reason != "hub was not recording" {
		t.Fatalf("gaps %+v, want one: hub was not recording", gaps)
	}
	if !gaps[0].Start.Equal(segs[len(segs)-1].End) || !gaps[0].End.Equal(after[len(segs)].Start) {
		t.Errorf("gap %v..%v is not the hole %v..%v", gaps[0].Start, gaps[0].End, segs[len(segs)-1].End, after[len(segs)].Start)
	}
}

// TestCameraOutage: one camera is away for 10 s. Its recorder reconnects
// within 5 s of its return and records the gap; the other camera keeps
// recording without a hole.
func TestCameraOutage(t *testing.T) {
	t.Parallel()
	k := newKeys(t)
	front := vigiltest.StartCamera(t, "127.0.0.1:0", "cam")
	back := vigiltest.StartCamera(t, "127.0.0.1:0", "cam")
	frontAddr := front.Addr()
	st := openStore(t, segstore.FaultHooks{})
	fr := record(t, st, k, "front", front.URL("cam"), 2*time.Second, nil)
	br := record(t, st, k, "back", back.URL("cam"), 2*time.Second, nil)

	waitFor(t, "both cameras to record", 20*time.Second, func() bool {
		return len(listSegs(t, st, "front")) >= 2 && len(listSegs(t, st, "back")) >= 2
	})
	front.Close()
	down := time.Now()
	waitFor(t, "the recorder to notice the outage", 10*time.Second, func() bool { return !fr.Stats().Ingest.Connected })
	backBefore := br.Stats().FramesRecorded
	time.Sleep(10*time.Second - time.Since(down))

	back2 := time.Now() // before the camera starts: starting it loads the clip
	vigiltest.StartCamera(t, frontAddr, "cam")
	waitFor(t, "the recorder to reconnect", 5*time.Second, func() bool { return fr.Stats().Ingest.Connects >= 2 })
	t.Logf("reconnected %s after the camera came back", time.Since(back2))

	waitFor(t, "a gap to be recorded", 15*time.Second, func() bool { return len(gapsOf(t, st, "front")) == 1 })
	g := gapsOf(t, st, "front")[0]
	if l := g.End.Sub(g.Start); l < 9*time.Second || l > 17*time.Second {
		t.Errorf("gap of %s, want about 10 s (+ reconnect and first keyframe)", l)
	}
	if g.Reason != "camera disconnected" {
		t.Errorf("gap reason %q, want camera disconnected", g.Reason)
	}
	if fr.Stats().Gaps != 1 {
		t.Errorf("the recorder counted %d gaps", fr.Stats().Gaps)
	}
	t.Logf("gap %s .. %s (%s): %s", g.Start.Format(time.RFC3339Nano), g.End.Format(time.RFC3339Nano), g.End.Sub(g.Start), g.Reason)

	// The other camera: no gap, frames kept coming during the outage.
	if gs := gapsOf(t, st, "back"); len(gs) != 0 {
		t.Errorf("back camera has gaps: %+v", gs)
	}
	if got := br.Stats().FramesRecorded; got <= backBefore {
		t.Errorf("back camera recorded nothing during the outage (%d -> %d)", backBefore, got)
	}
	segs := listSegs(t, st, "back")
	for i := 1; i < len(segs); i++ {
		if hole := segs[i].Start.Sub(segs[i-1].End); hole > 200*time.Millisecond {
			t.Errorf("back camera: %s hole before segment %d", hole, segs[i].Seq)
		}
	}
	if s := br.Stats(); s.Ingest.Connects != 1 {
		t.Errorf("back camera reconnected %d times", s.Ingest.Connects)
	}
}

// TestDiskFullKeepsRecording: a simulated ENOSPC on every third write makes
// the store evict the oldest segment and retry; recording never stops.
func TestDiskFullKeepsRecording(t *testing.T) {
	t.Parallel()
	k := newKeys(t)
	cam := vigiltest.StartCamera(t, "127.0.0.1:0", "cam")
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
	st := openStore(t, hooks)
	r := record(t, st, k, "front", cam.URL("cam"), time.Second, nil)
	waitFor(t, "recording through a full disk", 40*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return full >= 3 && r.Stats().Segments >= 8
	})
	s := r.Stats()
	if s.StoreErrors != 0 {
		t.Errorf("%d segments failed to store despite eviction", s.StoreErrors)
	}
	segs := listSegs(t, st, "front")
	if len(segs) == 0 || time.Since(segs[len(segs)-1].End) > 3*time.Second {
		t.Fatalf("recording stopped: %d segments", len(segs))
	}
	if segs[0].Seq == 0 {
		t.Errorf("the oldest segment was not evicted to make room")
	}
	t.Logf("%d simulated ENOSPC, %d segments stored, oldest kept seq %d", full, s.Segments, segs[0].Seq)
}

// TestStoreFailureIsAGap: segments the store fails to write (an I/O error,
// not a full disk) are lost, recording goes on, and the hole they leave is
// recorded as a gap that says why.
func TestStoreFailureIsAGap(t *testing.T) {
	t.Parallel()
	k := newKeys(t)
	cam := vigiltest.StartCamera(t, "127.0.0.1:0", "cam")
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
	st := openStore(t, hooks)
	r := record(t, st, k, "front", cam.URL("cam"), time.Second, nil)
	waitFor(t, "recording after the failures", 30*time.Second, func() bool { return r.Stats().Segments >= 5 })
	if s := r.Stats(); s.StoreErrors != 2 {
		t.Errorf("%d store errors, want 2", s.StoreErrors)
	}
	gaps := gapsOf(t, st, "front")
	if len(gaps) != 1 || gaps[0].Reason != "storage error" {
		t.Fatalf("gaps %+v, want one for the storage error", gaps)
	}
	if l := gaps[0].End.Sub(gaps[0].Start); l < 1500*time.Millisecond || l > 8*time.Second {
		t.Errorf("gap of %v for two lost segments (1 s or the next keyframe)", l)
	}
	segs := listSegs(t, st, "front")
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
	k := newKeys(t)
	good := vigiltest.StartCamera(t, "127.0.0.1:0", "cam")

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

	st := openStore(t, segstore.FaultHooks{})
	gr := record(t, st, k, "good", good.URL("cam"), time.Second, nil)
	jr := record(t, st, k, "garbage", "rtsp://"+garbage.Addr().String()+"/cam", time.Second, nil)
	br := record(t, st, k, "badrtp", bad, time.Second, nil)
	waitFor(t, "the good camera to store 4 segments", 30*time.Second, func() bool { return gr.Stats().Segments >= 4 })
	if s := gr.Stats(); s.Ingest.Connects != 1 || s.FramesDropped != s.WaitingKey {
		t.Errorf("good camera disturbed by hostile ones: %+v", s)
	}
	if s := jr.Stats(); s.Segments != 0 || s.Ingest.Connects != 0 {
		t.Errorf("garbage server: %+v", s)
	}
	bs := br.Stats()
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

// TestSlowStorageIsAGap: while the disk takes no segment, the queue fills
// and further segments are dropped without stalling the camera; once the
// disk is back the queued segments are stored and the hole the dropped ones
// leave is recorded as "storage too slow", not blamed on the camera.
func TestSlowStorageIsAGap(t *testing.T) {
	t.Parallel()
	k := newKeys(t)
	cam := vigiltest.StartCamera(t, "127.0.0.1:0", "cam")
	release := make(chan struct{})
	var mu sync.Mutex
	writes := 0
	hooks := segstore.FaultHooks{WriteFile: func(f *os.File, data []byte) error {
		mu.Lock()
		writes++
		stall := writes == 3
		mu.Unlock()
		if stall {
			<-release // the disk takes nothing until the test says so
		}
		_, err := f.Write(data)
		return err
	}}
	st := openStore(t, hooks)
	r := record(t, st, k, "front", cam.URL("cam"), time.Second, nil)
	released := false
	defer func() {
		if !released {
			close(release)
		}
	}()
	waitFor(t, "the queue to overflow", 60*time.Second, func() bool { return r.Stats().StoreErrors >= 2 })
	if s := r.Stats(); s.Ingest.Disconnects != 0 {
		t.Errorf("the camera's connection stalled while the disk did: %+v", s.Ingest)
	}
	close(release)
	released = true
	stored := r.Stats().Segments
	waitFor(t, "recording after the disk is back", 60*time.Second, func() bool {
		return r.Stats().Segments >= stored+recorder.QueueLen+3
	})
	r.Close()
	s := r.Stats()
	gaps := gapsOf(t, st, "front")
	if len(gaps) != 1 || gaps[0].Reason != "storage too slow" {
		t.Fatalf("gaps %+v, want one: storage too slow", gaps)
	}
	if s.Gaps != 1 || s.FramesDropped <= s.WaitingKey {
		t.Errorf("counters %+v: want one gap and the dropped segments' frames", s)
	}
	segs := listSegs(t, st, "front")
	i := 0
	for i < len(segs) && !segs[i].End.Equal(gaps[0].Start) {
		i++
	}
	if i+1 >= len(segs) || !segs[i+1].Start.Equal(gaps[0].End) {
		t.Errorf("gap %v..%v does not sit between two stored segments", gaps[0].Start, gaps[0].End)
	} else if segs[i+1].Seq != segs[i].Seq+1+s.StoreErrors {
		t.Errorf("segments %d and %d around the gap; %d were dropped", segs[i].Seq, segs[i+1].Seq, s.StoreErrors)
	}
	t.Logf("%d segments dropped; gap %s: %s", s.StoreErrors, gaps[0].End.Sub(gaps[0].Start), gaps[0].Reason)
}
