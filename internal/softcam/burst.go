package softcam

import (
	"context"
	"encoding/binary"
	"errors"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/g711"
)

// Tone bursts (Config.AudioBursts): the audio track carries silence, and
// Burst puts BurstDuration of the ToneHz tone on it at once, reporting
// when its first packet left. A listener that times the tone's onset
// measures the audio path's latency from the camera on.

// BurstDuration is how long one burst of the tone lasts.
const BurstDuration = 400 * time.Millisecond

// ErrNoBursts is returned by Burst when the camera does not serve bursts
// (Config.AudioBursts), has not started or is closed.
var ErrNoBursts = errors.New("softcam: tone bursts are not served (Config.AudioBursts, after Start)")

// burstRequest asks a path's audio pacer for a burst; the pacer sends the
// time the burst's first packet was written on sent (buffered).
type burstRequest struct{ sent chan time.Time }

// silentPCM returns the bursts mode's loop: one second of silence.
func silentPCM(rate int) []int16 { return make([]int16, rate) }

// pcmuBurst encodes the burst's tone as µ-law payloads of one packet each.
func pcmuBurst() ([][]byte, error) {
	n := int(BurstDuration.Seconds() * pcmuRate)
	n = n / pcmuFrame * pcmuFrame
	pcm := Tone(ToneHz, pcmuRate, n)
	be := make(g711.Mulaw, 2*n)
	for i, s := range pcm {
		binary.BigEndian.PutUint16(be[2*i:], uint16(s))
	}
	enc, err := be.Marshal()
	if err != nil {
		return nil, err
	}
	var out [][]byte
	for off := 0; off < n; off += pcmuFrame {
		out = append(out, enc[off:off+pcmuFrame])
	}
	return out, nil
}

// Burst starts a burst of the tone on every path (restarting one under
// way) and returns when its first packet was written on the first path:
// the wall-clock time the sound left the camera. It returns ErrNoBursts
// when the camera serves none (or is closed), ErrClosed when it closes
// meanwhile.
func (s *Server) Burst(ctx context.Context) (time.Time, error) {
	s.mu.Lock()
	order, stopped := s.order, s.stopped
	ok := s.started && !s.closed && s.audio != nil && s.audio.burst != nil
	s.mu.Unlock()
	if !ok || len(order) == 0 {
		return time.Time{}, ErrNoBursts
	}
	var first *burstRequest
	for i, p := range order {
		r := &burstRequest{sent: make(chan time.Time, 1)}
		if i == 0 {
			first = r
		}
		select {
		case p.bursts <- r:
		case <-stopped:
			return time.Time{}, ErrClosed
		case <-ctx.Done():
			return time.Time{}, ctx.Err()
		}
	}
	select {
	case t := <-first.sent:
		return t, nil
	case <-stopped:
		return time.Time{}, ErrClosed
	case <-ctx.Done():
		return time.Time{}, ctx.Err()
	}
}
