package live

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// TalkLatency measures talk mouth-to-speaker: the time from one
// microphone packet handed to a talking viewer's WebRTC track (w.Speak, as
// a browser's microphone hands its audio over) to that packet's arrival at
// the camera's back channel, through the session's SRTP, the hub's talk
// queue and the RTSP back channel. heard reports how many packets the
// camera's back channel has received so far (for the software doorbell,
// softcam's BackChannelStats().Packets); it is polled.
//
// w must be talking (w.Talk(ctx, true) returned nil). TalkLatency sends n
// packets of pcmu (one 20 ms packet of 160 samples is typical), at most
// one every packet's duration and each only after the previous one
// arrived, and returns the n latencies in order. It fails when a packet
// does not arrive within timeout.
func TalkLatency(ctx context.Context, w *Watch, n int, pcmu []byte, heard func() uint64, timeout time.Duration) ([]time.Duration, error) {
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
