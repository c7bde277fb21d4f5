package bench

import (
	"context"
	"time"

	"vigil/internal/detect"
)

// cpuDetector counts the CPU time its detector spends (onThreadCPU); the
// pipeline calls it from one goroutine.
type cpuDetector struct {
	detect.Detector
	cpu  time.Duration
	runs int64
}

func (d *cpuDetector) Detect(ctx context.Context, img *detect.RGB) ([]detect.Detection, error) {
	var ds []detect.Detection
	var err error
	d.cpu += onThreadCPU(func() { ds, err = d.Detector.Detect(ctx, img) })
	d.runs++
	return ds, err
}
