package camera

import (
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
	"github.com/pion/rtp"

	"vigil/internal/segment"
	"vigil/internal/vigiltest"
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

// FuzzAACRTPToSegments runs hostile AAC RTP packets (bad AU headers, AU
// sizes that overrun the packet, fragments that never end, huge payloads)
// through the depacketizer the ingest uses and into a segmenter that
// records them with real video: nothing may panic, and no access unit the
// decoder hands on is larger than the packets it came in.
func FuzzAACRTPToSegments(f *testing.F) {
	m := vigiltest.MakeMedia(f, vigiltest.MediaOptions{Seconds: 1})
	var key [][]byte
	for _, au := range m.Video {
		for _, n := range au.NALUs {
			if len(n) > 0 && n[0]&0x1f == 5 {
				key = au.NALUs
			}
		}
		if key != nil {
			break
		}
	}
	pkt := func(seq uint16, ts uint32, marker bool, payload ...byte) []byte {
		b, _ := (&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 97, SequenceNumber: seq, Timestamp: ts, Marker: marker}, Payload: payload}).Marshal()
		return b
	}
	// One AU header (13-bit size 4, 3-bit index 0), then the AU.
	f.Add(pkt(1, 0, true, 0x00, 0x10, 0x00, 0x20, 1, 2, 3, 4))
	// An AU header claiming more than the packet holds.
	f.Add(pkt(1, 0, true, 0x00, 0x10, 0xff, 0xf8, 1, 2, 3, 4))
	// A fragment that never ends.
	f.Add(append(pkt(1, 0, false, 0x00, 0x10, 0x40, 0x00, 9, 9), pkt(2, 0, false, 0x00, 0x10, 0x40, 0x00, 9, 9)...))
	f.Fuzz(func(t *testing.T, stream []byte) {
		cfg := &mpeg4audio.AudioSpecificConfig{Type: mpeg4audio.ObjectTypeAACLC, SampleRate: 16000, ChannelConfig: 1}
		dec, err := (&format.MPEG4Audio{PayloadTyp: 97, Config: cfg, SizeLength: 13, IndexLength: 3, IndexDeltaLength: 3}).CreateDecoder()
		if err != nil {
			t.Fatal(err)
		}
		seg, err := segment.New(segment.Config{Duration: time.Second, Codec: segment.CodecH264, SPS: m.SPS, PPS: m.PPS,
			Audio: &fmp4.CodecMPEG4Audio{Config: *cfg}, AudioClockRate: 16000, OnSegment: func(segment.Segment) error { return nil }})
		if err != nil {
			t.Fatal(err)
		}
		if err := seg.WriteVideo(0, key); err != nil {
			t.Fatal(err)
		}
		seen := 0
		for i := 0; len(stream) > 0 && i < 64; i++ {
			n := min(len(stream), 1+int(stream[0])*8)
			var p rtp.Packet
			if p.Unmarshal(stream[:n]) == nil {
				seen += len(p.Payload)
				if aus, err := dec.Decode(&p); err == nil {
					for _, au := range aus {
						if len(au) > seen {
							t.Fatalf("an access unit of %d bytes from %d bytes of payload", len(au), seen)
						}
					}
					_ = seg.WriteAudio(int64(p.Timestamp), aus)
				}
			}
			stream = stream[n:]
		}
		_ = seg.Flush()
	})
}
