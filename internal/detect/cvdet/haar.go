package cvdet

import (
	"fmt"
	"os"
)

// HaarFrontalFace is OpenCV's frontal-face Haar cascade (Viola-Jones) as
// Debian's opencv-data installs it.
const HaarFrontalFace = "/usr/share/opencv4/haarcascades/haarcascade_frontalface_default.xml"

// maxCascadeSize bounds a cascade file (OpenCV's largest is about 2 MB).
const maxCascadeSize = 32 << 20

// HaarConfig tunes a Haar cascade; zero fields take the defaults in
// brackets.
type HaarConfig struct {
	// Cascade is the cascade's XML file [HaarFrontalFace].
	Cascade string
	// ScaleFactor is the step between scanned scales [1.1], in (1, 2].
	ScaleFactor float64
	// MinNeighbors is how many overlapping windows a detection needs [3],
	// 0 to 100; fewer finds more (and more that is not there).
	MinNeighbors int
	// MinSize is the smallest object's side in pixels [20], 8 to 4096.
	MinSize int
}

func (c *HaarConfig) fill() error {
	if c.Cascade == "" {
		c.Cascade = HaarFrontalFace
	}
	if c.ScaleFactor == 0 {
		c.ScaleFactor = 1.1
	}
	if c.MinNeighbors == 0 {
		c.MinNeighbors = 3
	}
	if c.MinSize == 0 {
		c.MinSize = 20
	}
	if !(c.ScaleFactor > 1 && c.ScaleFactor <= 2) || c.MinNeighbors < 0 || c.MinNeighbors > 100 || c.MinSize < 8 || c.MinSize > 4096 {
		return fmt.Errorf("cvdet: Haar options out of range: %+v", *c)
	}
	st, err := os.Stat(c.Cascade)
	if err != nil {
		return fmt.Errorf("cvdet: Haar cascade: %w (hint: apt-get install opencv-data)", err)
	}
	if !st.Mode().IsRegular() || st.Size() > maxCascadeSize {
		return fmt.Errorf("cvdet: Haar cascade %s: not a regular file of at most %d bytes", c.Cascade, maxCascadeSize)
	}
	return nil
}
