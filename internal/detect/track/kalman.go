package track

import (
	"math"

	"vigil/internal/detect"
)

// axis is a constant-velocity Kalman filter over one coordinate of the box
// (centre x, centre y, width or height): state (p, v), covariance P. With
// diagonal process and measurement noise the 8-state filter over the whole
// box separates exactly into four of these, so each is kept on its own.
type axis struct {
	p, v          float64
	ppp, ppv, pvv float64 // symmetric covariance: Var(p), Cov(p,v), Var(v)
}

// predict advances the axis by dt seconds under white acceleration noise of
// standard deviation sa (units per s²).
func (a *axis) predict(dt, sa float64) {
	if dt <= 0 {
		return
	}
	a.p += a.v * dt
	q := sa * sa
	dt2 := dt * dt
	// P = F P Fᵀ + Q, F = [[1, dt], [0, 1]].
	ppp := a.ppp + 2*dt*a.ppv + dt2*a.pvv + q*dt2*dt2/4
	ppv := a.ppv + dt*a.pvv + q*dt2*dt/2
	pvv := a.pvv + q*dt2
	a.ppp, a.ppv, a.pvv = ppp, ppv, pvv
}

// correct folds in a measurement z of p with standard deviation sm.
func (a *axis) correct(z, sm float64) {
	s := a.ppp + sm*sm
	if s <= 0 || math.IsNaN(s) {
		return
	}
	kp, kv := a.ppp/s, a.ppv/s
	y := z - a.p
	a.p += kp * y
	a.v += kv * y
	// P = (I - K H) P.
	ppp := (1 - kp) * a.ppp
	ppv := (1 - kp) * a.ppv
	pvv := a.pvv - kv*a.ppv
	a.ppp, a.ppv, a.pvv = ppp, ppv, pvv
}

// kalman filters a box: centre x, centre y, width, height and their
// velocities. Noise scales with the box's height, as people and cars that
// look bigger are nearer and move more pixels per second.
type kalman struct {
	ax [4]axis // cx, cy, w, h
}

// Noise model, relative to the box's height: a detector's box is good to
// about 5 % of the object's height; an object accelerates by up to about
// one height per s² (a walking person turning, a car braking).
const (
	measStd  = 0.05
	accelStd = 0.5
	velStd0  = 1.0 // initial velocity uncertainty, heights per second
)

func newKalman(b detect.Box) *kalman {
	k := &kalman{}
	z := boxState(b)
	h := math.Max(b.H, 1)
	for i := range k.ax {
		sm := measStd * h
		sv := velStd0 * h
		k.ax[i] = axis{p: z[i], ppp: sm * sm, pvv: sv * sv}
	}
	return k
}

func boxState(b detect.Box) [4]float64 {
	return [4]float64{b.X + b.W/2, b.Y + b.H/2, b.W, b.H}
}

func (k *kalman) predict(dt float64) {
	sa := accelStd * math.Max(k.ax[3].p, 1)
	for i := range k.ax {
		k.ax[i].predict(dt, sa)
	}
}

func (k *kalman) correct(b detect.Box) {
	z := boxState(b)
	sm := measStd * math.Max(b.H, 1)
	for i := range k.ax {
		k.ax[i].correct(z[i], sm)
	}
}

// box is the filtered box; width and height never drop below one pixel.
func (k *kalman) box() detect.Box {
	w, h := math.Max(k.ax[2].p, 1), math.Max(k.ax[3].p, 1)
	return detect.Box{X: k.ax[0].p - w/2, Y: k.ax[1].p - h/2, W: w, H: h}
}
