package events

import "slices"

// Contains reports whether the point (x, y), in normalised frame
// coordinates, lies inside the polygon pts (even-odd rule; the polygon may
// be concave; its edges are closed on one side only, so two zones that
// share an edge never both hold a point on it).
func Contains(pts [][2]float64, x, y float64) bool {
	in := false
	n := len(pts)
	if n < 3 {
		return false
	}
	for i, j := 0, n-1; i < n; j, i = i, i+1 {
		xi, yi := pts[i][0], pts[i][1]
		xj, yj := pts[j][0], pts[j][1]
		if (yi > y) != (yj > y) && x < (xj-xi)*(y-yi)/(yj-yi)+xi {
			in = !in
		}
	}
	return in
}

// Contains reports whether the normalised point (x, y) is inside z's
// polygon.
func (z Zone) Contains(x, y float64) bool { return Contains(z.Points, x, y) }

// accepts reports whether z applies to objects labelled label.
func (z Zone) accepts(label string) bool {
	return len(z.Labels) == 0 || slices.Contains(z.Labels, label)
}

func (z Zone) inertia() int {
	if z.Inertia <= 0 {
		return DefaultInertia
	}
	return z.Inertia
}

// presence is one track's standing in one zone.
type presence struct {
	run     int  // consecutive updates inside
	in      bool // inside now, after inertia
	entered bool // has been in at some point
}
