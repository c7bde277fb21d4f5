package hubd

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"time"

	"vigil/internal/doorbell"
	"vigil/internal/onvif"
	"vigil/internal/proctail"
)

// ONVIF doorbells: a doorbell.Source reading a camera's presses from its
// own event service. It lives here rather than in package doorbell, which
// imports no Vigil package (deptest): the adapter is the hub's, between
// the ONVIF client and the Bell.
//
// One source per camera: it connects (the device's clock and services),
// creates a PullPoint subscription, pulls in a loop and renews the
// subscription halfway to its end. Each DigitalInput event that changes
// to active (or is stateless and active) is a press; the state a
// subscription starts with ("Initialized") is not, nor are motion, tamper
// or other events; a change to true of the camera's own motion or tamper
// detection goes to alarm (onvifalarm.go). On any error it unsubscribes when it can, waits
// (doubling from minBackoff to maxBackoff, back to minBackoff once a pull
// succeeds) and starts over: a camera that goes away never stops the hub
// and never makes it spin. It logs a problem when it starts or changes and
// when it ends, not at each retry (a change is from working to failing,
// or between kinds of failure: refused credentials, unreachable, a bad
// reply). It never logs the password (the onvif
// client puts none in its errors).

// ONVIF press source defaults.
const (
	onvifSubscription = time.Minute      // a subscription's asked-for length
	onvifPullWait     = 10 * time.Second // a PullMessages call's wait
	onvifMinBackoff   = time.Second
	onvifMaxBackoff   = 30 * time.Second
)

// onvifSource reads one doorbell camera's presses from its ONVIF events.
type onvifSource struct {
	camera             string
	url                string
	username, password string
	http               *http.Client // nil means onvif.LANHTTPClient()
	now                func() time.Time
	log                *slog.Logger
	// subscription, pullWait, minBackoff, maxBackoff: 0 means the defaults.
	subscription, pullWait, minBackoff, maxBackoff time.Duration
	subscribed                                     func(camera string) // nil, or called after each subscription
	// alarm, when set, is called with each change to true of the camera's
	// own motion or tamper detection (onvifalarm.go).
	alarm func(k onvif.Kind, t time.Time)
}

// Run implements doorbell.Source.
func (s *onvifSource) Run(ctx context.Context, press func(doorbell.Press)) error {
	c, err := onvif.NewClient(onvif.ClientOptions{XAddr: s.url, Username: s.username, Password: s.password, HTTP: s.http})
	if err != nil {
		return err // a bad URL: config refuses it before this
	}
	defer c.Close()
	minB, maxB := s.minBackoff, s.maxBackoff
	if minB <= 0 {
		minB = onvifMinBackoff
	}
	if maxB < minB {
		maxB = max(onvifMaxBackoff, minB)
	}
	now := s.now
	if now == nil {
		now = time.Now
	}
	log := s.log.With("camera", s.camera, "source", "onvif")
	backoff := minB
	failing := ""
	for {
		pulled, err := s.session(ctx, c, func(p doorbell.Press) { p.Time = now(); press(p) }, log)
		if ctx.Err() != nil {
			return nil
		}
		if pulled {
			// It worked in between: start the backoff over, and a
			// failure now is news.
			backoff, failing = minB, ""
		}
		if class := onvifErrClass(err); class != failing {
			if class == "credentials" {
				log.Error("doorbell camera refused the ONVIF username and password: check cameras[].doorbell.onvif; retrying", "err", proctail.Describe(err), "retry_in", backoff)
			} else {
				log.Warn("doorbell camera's ONVIF events unavailable; retrying", "err", proctail.Describe(err), "retry_in", backoff)
			}
			failing = class
		} else {
			log.Debug("doorbell camera's ONVIF events still unavailable", "err", proctail.Describe(err), "retry_in", backoff)
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		backoff = min(2*backoff, maxB)
	}
}

// session connects, subscribes and pulls until an error or ctx's end; it
// reports whether a pull succeeded, and always returns an error unless ctx
// ended. It unsubscribes before it returns.
func (s *onvifSource) session(ctx context.Context, c *onvif.Client, press func(doorbell.Press), log *slog.Logger) (pulled bool, err error) {
	if err := c.Connect(ctx); err != nil {
		return false, err
	}
	length := s.subscription
	if length <= 0 {
		length = onvifSubscription
	}
	wait := s.pullWait
	if wait <= 0 {
		wait = onvifPullWait
	}
	sub, err := c.Subscribe(ctx, length)
	if err != nil {
		return false, err
	}
	defer func() {
		// On ctx's end too: the camera's subscriptions are few.
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 3*time.Second)
		defer cancel()
		if uerr := sub.Unsubscribe(uctx); uerr != nil {
			log.Debug("ONVIF unsubscribe failed", "err", proctail.Describe(uerr))
		}
	}()
	// Renewals are timed on the hub's clock, halfway to the end the device
	// states (its clock may be off: ClockOffset), or to the end asked for.
	renewAt := time.Now().Add(renewIn(time.Now().Add(c.ClockOffset()), sub.Termination, length))
	if s.subscribed != nil {
		s.subscribed(s.camera)
	}
	// The camera's alarms, as this subscription reports them (it starts
	// with their states again).
	var alarms onvif.AlarmStates
	for {
		if !time.Now().Before(renewAt) {
			if _, err := sub.Renew(ctx, length); err != nil {
				return pulled, err
			}
			renewAt = time.Now().Add(renewIn(time.Now().Add(c.ClockOffset()), sub.Termination, length))
		}
		w := min(wait, max(time.Until(renewAt), time.Second))
		events, err := sub.Pull(ctx, w, 64)
		if err != nil {
			return pulled, err
		}
		if !pulled {
			pulled = true
			log.Info("doorbell camera's ONVIF events subscribed")
		}
		for _, e := range events {
			if s.isPress(e, log) {
				press(doorbell.Press{Camera: s.camera, Source: "onvif"})
			} else if a, ok := e.Alarm(); ok && alarms.Rising(a) && s.alarm != nil {
				s.alarm(a.Kind, s.clock())
			}
		}
	}
}

func (s *onvifSource) clock() time.Time {
	if s.now != nil {
		return s.now()
	}
	return time.Now()
}

// isPress reports whether e is a press of the doorbell's button.
func (s *onvifSource) isPress(e onvif.Event, log *slog.Logger) bool {
	active, ok := e.Active()
	switch k := e.Kind(); {
	case k != onvif.KindDigitalInput:
		log.Debug("ONVIF event is no press", "kind", k.String(), "active", active)
		return false
	case e.Operation == "Initialized" || e.Operation == "Deleted":
		return false // the input's state when subscribing, or its removal
	default:
		return ok && active
	}
}

// onvifErrClass is the kind of problem err is, for logging it once per
// change: the credentials refused, the camera unreachable (no connection,
// a timeout), or anything else it answered (a fault, a bad reply).
func onvifErrClass(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, onvif.ErrNotAuthorized):
		return "credentials"
	case errors.As(err, &ne):
		return "unreachable"
	}
	return "reply"
}

// renewIn is how long after deviceNow a subscription ending at term (the
// device's clock; zero when it did not say) and asked to last asked is
// renewed: halfway to the nearer end, and not sooner than in a second.
func renewIn(deviceNow, term time.Time, asked time.Duration) time.Duration {
	d := asked / 2
	if !term.IsZero() {
		d = min(d, term.Sub(deviceNow)/2)
	}
	return max(d, time.Second)
}
