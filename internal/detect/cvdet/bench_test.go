//go:build opencv

package cvdet

import (
	"context"
	"testing"

	"vigil/internal/detect"
	"vigil/internal/detect/detecttest"
)

// BenchmarkHOG is one HOG scan of a real 768x576 vtest frame with the
// recall test's config (upscaled 2x; OpenCV picks its own thread count).
func BenchmarkHOG(b *testing.B) { benchHOG(b, hogTestConfig) }

// BenchmarkHOGDefault uses the default config (upscale 2, hit threshold 0).
func BenchmarkHOGDefault(b *testing.B) { benchHOG(b, HOGConfig{}) }

// BenchmarkHOGNoUpscale scans the frame as it is (finds only people
// taller than about 128 pixels).
func BenchmarkHOGNoUpscale(b *testing.B) { benchHOG(b, HOGConfig{Upscale: 1}) }

func benchHOG(b *testing.B, c HOGConfig) {
	h, err := NewHOG(c)
	if err != nil {
		b.Fatal(err)
	}
	defer h.Close()
	benchDetect(b, h)
}

// BenchmarkDNNPipeline is everything of a DNN detection but the network:
// letterbox to 640, blob, a forward pass of the constant test model and
// decoding its YOLOv5-sized output (25200 x 85). A real model's time is
// this plus its network's.
func BenchmarkDNNPipeline(b *testing.B) {
	saved := scene
	defer func() { scene = saved }()
	dims, vals := v5Output(25200, 80)
	c := DNNConfig{Model: writeFile(b, "m.onnx", constModel(b, 640, dims, vals))}
	d, err := NewDNN(c)
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	benchDetect(b, d)
}

func benchDetect(b *testing.B, d detect.Detector) {
	img := detecttest.Frame(b, "vtest.avi", 200, 768, 576)
	ctx := context.Background()
	b.ResetTimer()
	for b.Loop() {
		if _, err := d.Detect(ctx, img); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/frame")
}
