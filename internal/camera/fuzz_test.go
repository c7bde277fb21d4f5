package camera

import (
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/pion/rtp"

	"vigil/internal/segment"
)

// FuzzRTPToSegments runs hostile RTP packets through the same depacketizer
// the ingest uses and into the segmenter: nothing may panic.
func FuzzRTPToSegments(f *testing.F) {
	pkt := func(seq uint16, ts uint32, marker bool, payload ...byte) []byte {
		b, _ := (&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: seq, Timestamp: ts, Marker: marker}, Payload: payload}).Marshal()
		return b
	}
	join := func(ps ...[]byte) []byte {
		var out []byte
		for _, p := range ps {
			out = append(out, byte(len(p)>>8), byte(len(p)))
			out = append(out, p...)
		}
		return out
	}
	f.Add(join(pkt(1, 0, true, 0x67, 0x42, 0xc0, 0x1f), pkt(2, 0, true, 0x68, 0xce), pkt(3, 0, true, 0x65, 0x88, 0x84)), false)
	f.Add(join(pkt(1, 0, false, 0x7c, 0x85, 1, 2, 3), pkt(2, 0, true, 0x7c, 0x45, 4, 5)), false)
	f.Add(join(pkt(1, 0, true, 0x78, 0, 2, 0x67, 0x42, 0, 2, 0x68, 0xce)), false)
	f.Add(join(pkt(1, 0, true, 0x26, 0x01, 0xaf), pkt(2, 3000, true, 0x62, 0x01, 0x93)), true)
	f.Fuzz(func(t *testing.T, stream []byte, hevc bool) {
		codec := segment.CodecH264
		var decode func(*rtp.Packet) ([][]byte, error)
		if hevc {
			codec = segment.CodecH265
			d, err := (&format.H265{PayloadTyp: 96}).CreateDecoder()
			if err != nil {
				t.Fatal(err)
			}
			decode = d.Decode
		} else {
			d, err := (&format.H264{PayloadTyp: 96, PacketizationMode: 1}).CreateDecoder()
			if err != nil {
				t.Fatal(err)
			}
			decode = d.Decode
		}
		seg, err := segment.New(segment.Config{Duration: time.Millisecond, Codec: codec, OnSegment: func(segment.Segment) error { return nil }})
		if err != nil {
			t.Fatal(err)
		}
		for len(stream) >= 2 {
			n := int(stream[0])<<8 | int(stream[1])
			stream = stream[2:]
			if n > len(stream) {
				n = len(stream)
			}
			var p rtp.Packet
			if p.Unmarshal(stream[:n]) == nil {
				if au, err := decode(&p); err == nil {
					_ = seg.WriteVideo(int64(p.Timestamp), au)
				}
			}
			stream = stream[n:]
		}
		_ = seg.Flush()
	})
}
