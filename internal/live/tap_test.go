package live

import (
	"testing"
	"time"
)

func nal(t byte, n int) []byte { return append([]byte{t}, make([]byte, n)...) }

// TestTapSlowViewerNeverBlocks: a viewer that reads nothing never stalls
// the camera; it loses frames, then resumes at a keyframe with SPS/PPS.
func TestTapSlowViewerNeverBlocks(t *testing.T) {
	tap := NewTap()
	tap.Start(nal(0x67, 8), nal(0x68, 4))
	s := tap.subscribe()
	done := make(chan struct{})
	go func() {
		for i := int64(0); i < 5000; i++ {
			typ := byte(0x41)
			if i%30 == 0 {
				typ = 0x65
			}
			tap.Video(i*3000, [][]byte{nal(typ, 100)})
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Video blocked on a viewer that does not read")
	}
	if s.dropped == 0 {
		t.Fatal("no frame was dropped for a viewer that does not read")
	}
	if len(s.ch) > cap(s.ch) {
		t.Fatal("queue over its bound")
	}
	// Drain, then the next frames: the viewer waits for a keyframe.
	for len(s.ch) > 0 {
		<-s.ch
	}
	tap.Video(5000*3000, [][]byte{nal(0x41, 100)})
	tap.Video(5001*3000, [][]byte{nal(0x65, 100)})
	f := <-s.ch
	if !f.key {
		t.Fatal("after losing frames the viewer resumed with a non-keyframe")
	}
	// The keyframe carries the parameter sets in front (Annex B).
	if f.data[4]&0x1f != 7 {
		t.Errorf("keyframe starts with NAL type %d, want 7 (SPS)", f.data[4]&0x1f)
	}
	tap.unsubscribe(s)
	if tap.Viewers() != 0 {
		t.Error("viewer still subscribed")
	}
}

// TestTapNewViewerStartsAtLastKeyframe: a new viewer's queue starts with
// the group of pictures since the last keyframe, marked as a burst.
func TestTapNewViewerStartsAtLastKeyframe(t *testing.T) {
	tap := NewTap()
	tap.Start(nal(0x67, 8), nal(0x68, 4))
	tap.Video(0, [][]byte{nal(0x41, 10)}) // before any keyframe: not kept
	tap.Video(3000, [][]byte{nal(0x65, 10)})
	tap.Video(6000, [][]byte{nal(0x41, 10)})
	s := tap.subscribe()
	if len(s.ch) != 2 {
		t.Fatalf("new viewer starts with %d frames, want 2 (keyframe and the one after)", len(s.ch))
	}
	f := <-s.ch
	if !f.key || !f.burst || f.pts != 3000 {
		t.Errorf("first frame key=%v burst=%v pts=%d", f.key, f.burst, f.pts)
	}
	tap.Stop()
	tap.Video(9000, [][]byte{nal(0x41, 10)})
	if s2 := tap.subscribe(); len(s2.ch) != 0 {
		t.Error("after the camera stopped a new viewer got frames of the old session")
	}
}
