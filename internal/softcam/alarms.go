package softcam

import (
	"net/http"
	"sync"

	"vigil/internal/onvif"
)

// The software doorbell's own motion and tamper detection, raised by hand
// (the control endpoint, Server.SetAlarm) for the demo and tests: each is
// an ONVIF property (RuleEngine/CellMotionDetector/Motion with IsMotion,
// RuleEngine/TamperDetector/Tamper with IsTamper), sent on every change
// and, as its state, at the start of each subscription (Initialized), as
// real cameras do.

// Alarm names.
const (
	AlarmMotion = "motion"
	AlarmTamper = "tamper"
)

// AlarmStates is the doorbell's motion and tamper state.
type AlarmStates struct {
	Motion bool `json:"motion"`
	Tamper bool `json:"tamper"`
}

// alarms is a Server's alarm state.
type alarms struct {
	mu sync.Mutex
	st AlarmStates
}

// alarmEvent is an alarm's state as its ONVIF event (Operation Changed;
// the server makes it Initialized for a new subscription).
func alarmEvent(name string, on bool) onvif.Event {
	v := "false"
	if on {
		v = "true"
	}
	src := []onvif.Item{{Name: "VideoSourceConfigurationToken", Value: "video"}, {Name: "VideoAnalyticsConfigurationToken", Value: "analytics"}}
	if name == AlarmTamper {
		return onvif.Event{Topic: "RuleEngine/TamperDetector/Tamper", Operation: "Changed",
			Source: append(src, onvif.Item{Name: "Rule", Value: "TamperDetectorRule"}), Data: []onvif.Item{{Name: "IsTamper", Value: v}}}
	}
	return onvif.Event{Topic: "RuleEngine/CellMotionDetector/Motion", Operation: "Changed",
		Source: append(src, onvif.Item{Name: "Rule", Value: "MotionDetectorRule"}), Data: []onvif.Item{{Name: "IsMotion", Value: v}}}
}

// onvifStates is the device's properties as they are, for a new
// subscription.
func (s *Server) onvifStates() []onvif.Event {
	st := s.Alarms()
	return []onvif.Event{alarmEvent(AlarmMotion, st.Motion), alarmEvent(AlarmTamper, st.Tamper)}
}

// Alarms reports the doorbell's motion and tamper state.
func (s *Server) Alarms() AlarmStates {
	s.alarms.mu.Lock()
	defer s.alarms.mu.Unlock()
	return s.alarms.st
}

// SetAlarm sets the motion (AlarmMotion) or tamper (AlarmTamper) state,
// sending the change as an ONVIF event when it is one; it reports false
// for another name. It may be called at any time after New.
func (s *Server) SetAlarm(name string, on bool) bool {
	s.alarms.mu.Lock()
	defer s.alarms.mu.Unlock()
	p := &s.alarms.st.Motion
	switch name {
	case AlarmMotion:
	case AlarmTamper:
		p = &s.alarms.st.Tamper
	default:
		return false
	}
	if *p == on {
		return true
	}
	*p = on
	// Published under alarms.mu so that subscribers see the changes in
	// order; the ONVIF server never calls back into alarms holding its
	// own lock.
	s.mu.Lock()
	d := s.onvif
	s.mu.Unlock()
	if d != nil {
		d.srv.Publish(alarmEvent(name, on))
	}
	s.log.Info("softcam: alarm", "alarm", name, "on", on)
	return true
}

// alarmRoutes serves, on the control endpoint:
//
//	POST /motion, POST /tamper   state=on or state=off sets the state; without
//	                             it, a pulse (on, then off: one event each)
//	GET  /alarms                 the AlarmStates as JSON
func (s *Server) alarmRoutes(mux *http.ServeMux) {
	for _, name := range []string{AlarmMotion, AlarmTamper} {
		mux.HandleFunc("POST /"+name, func(w http.ResponseWriter, r *http.Request) {
			switch r.URL.Query().Get("state") {
			case "on":
				s.SetAlarm(name, true)
			case "off":
				s.SetAlarm(name, false)
			case "":
				s.SetAlarm(name, false)
				s.SetAlarm(name, true)
				s.SetAlarm(name, false)
			default:
				http.Error(w, "state is on or off", http.StatusBadRequest)
				return
			}
			writeJSON(w, s.Alarms())
		})
	}
	mux.HandleFunc("GET /alarms", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, s.Alarms())
	})
}
