package live

import (
	"time"

	"vigil/internal/audioenc"
)

// opusRate is the Opus RTP clock.
const opusRate = audioenc.Rate

// duration returns how long an audio packet plays.
func (a audioPacket) duration() time.Duration {
	if a.codec == "opus" {
		n, _ := audioenc.Samples(a.payload)
		return time.Duration(n) * time.Second / opusRate
	}
	return time.Duration(len(a.payload)) * time.Second / audioRate
}
