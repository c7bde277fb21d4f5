package hubd

import (
	"context"
	"os"
	"testing"
	"time"

	"vigil/internal/segstore"
	"vigil/internal/softcam"
	"vigil/internal/vigiltest"
)

// TestRecordsDoorbell: a camera that serves audio with its video, and
// offers an ONVIF back channel, is recorded like any other, with its
// sound: AAC as it comes, PCMU as Opus (encoded on the hub). The export
// and the web app's download of each carry the sound, decoding to the
// doorbell's tone.
func TestRecordsDoorbell(t *testing.T) {
	t.Parallel()
	vigiltest.RequireTool(t, "ffmpeg", "ffmpeg")
	if _, err := os.Stat(softcam.DefaultFile); err != nil {
		t.Fatalf("test footage missing: %v (install it with: apt-get install opencv-doc, or run 'make test')", err)
	}
	id, rcpt := household(t)
	cams := map[string]string{}
	for _, codec := range []string{softcam.AudioPCMU, softcam.AudioAAC} {
		cam := vigiltest.StartSoftcam(t, softcam.Config{Listen: "127.0.0.1:0", Paths: []string{codec},
			Audio: codec, BackChannel: true, Control: "127.0.0.1:0",
			Logger: vigiltest.Logger(t).With("component", "softcam-"+codec)})
		cams[codec] = cam.URL(codec)
	}
	cfg := hubConfig(t, rcpt, cams, 2*time.Second)
	h := startHub(t, cfg, Options{})
	for codec := range cams {
		waitFor(t, codec+" segments", 40*time.Second, func() bool { return statsOf(h, codec).Segments >= 2 })
	}
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}

	store, err := segstore.OpenReadOnly(context.Background(), cfg.Data, segstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	for codec := range cams {
		st := statsOf(h, codec)
		t.Logf("%s: %+v", codec, st)
		if st.StoreErrors != 0 || st.FramesRecorded == 0 {
			t.Errorf("%s: %d store errors, %d frames recorded", codec, st.StoreErrors, st.FramesRecorded)
		}
		if codec == softcam.AudioAAC && st.Ingest.AudioFrames == 0 {
			t.Errorf("%s: no audio frames ingested", codec)
		}
		segs, err := store.List(context.Background(), segstore.Filter{Camera: codec})
		if err != nil {
			t.Fatal(err)
		}
		if len(segs) < 2 {
			t.Fatalf("%s: %d segments", codec, len(segs))
		}
		for _, s := range segs {
			if s.Codec == "" || s.Frames == 0 {
				t.Errorf("%s: segment %d: codec %q, %d frames", codec, s.Seq, s.Codec, s.Frames)
			}
			if want := map[string]string{softcam.AudioAAC: "AAC", softcam.AudioPCMU: "Opus"}[codec]; s.AudioCodec != want {
				t.Errorf("%s: segment %d: audio codec %q, want %q", codec, s.Seq, s.AudioCodec, want)
			}
		}
		want := map[string]string{softcam.AudioAAC: "aac", softcam.AudioPCMU: "opus"}[codec]
		checkExportedTone(t, cfg.Data, id, codec, want)
		checkDownloadedTone(t, cfg.Data, id, codec, want)
	}
}
