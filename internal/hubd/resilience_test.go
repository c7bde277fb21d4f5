package hubd

import (
	"context"
	"path/filepath"
	"strconv"
	"testing"
	"time"

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

// TestRetentionBySize: with a small max_bytes the oldest segments go,
// recording continues, and the store stays within max_bytes plus one segment.
func TestRetentionBySize(t *testing.T) {
	t.Parallel()
	_, rcpt := household(t)
	cam := vigiltest.StartCamera(t, "127.0.0.1:0", "cam")
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
