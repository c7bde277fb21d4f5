package onvif

import "strings"

// A camera's own motion and tamper detection, read from its events. Real
// cameras send each as a property: its state when a subscription starts
// (PropertyOperation "Initialized"), then each change ("Changed"), e.g.
//
//	tns1:RuleEngine/CellMotionDetector/Motion   IsMotion=true|false
//	tns1:VideoSource/MotionAlarm                State=true|false
//	tns1:RuleEngine/TamperDetector/Tamper       IsTamper=true|false
//	tns1:VideoSource/GlobalSceneChange/...      State=true|false
//
// keyed by their source items (the video source, the rule). Only a change
// to true is news: Alarm reads one message, AlarmStates tells the rising
// edges apart.

// maxAlarmKey bounds an Alarm's Key (a hostile camera's source items may
// be long).
const maxAlarmKey = 256

// maxAlarmStates bounds the properties an AlarmStates follows.
const maxAlarmStates = 64

// Alarm is the state of a camera's motion or tamper property, read from
// one event.
type Alarm struct {
	Kind Kind // KindMotion or KindTamper
	// Key names the property: its topic and source items, at most
	// maxAlarmKey bytes.
	Key    string
	Active bool
	// Initial is the state a subscription starts with, no change.
	Initial bool
	// Stateless is an event without a PropertyOperation: each active one
	// is news.
	Stateless bool
}

// alarmItems are the data items a kind's state is carried in, in order.
var alarmItems = map[Kind][]string{
	KindMotion: {"IsMotion", "State"},
	KindTamper: {"IsTamper", "State"},
}

// Alarm reads e as a motion or tamper state. ok is false for any other
// event, one without a state item, and an unknown operation. A property's
// removal ("Deleted") reads as inactive.
func (e Event) Alarm() (a Alarm, ok bool) {
	k := e.Kind()
	items := alarmItems[k]
	if items == nil {
		return Alarm{}, false
	}
	a.Kind = k
	switch e.Operation {
	case "Initialized":
		a.Initial = true
	case "Changed":
	case "Deleted":
		a.Key = alarmKey(e)
		return a, true
	case "":
		a.Stateless = true
	default:
		return Alarm{}, false
	}
	found := false
	for _, n := range items {
		if v, has := e.DataValue(n); has {
			a.Active, found = isTrue(v), true
			break
		}
	}
	if !found {
		return Alarm{}, false
	}
	a.Key = alarmKey(e)
	return a, true
}

// isTrue reads an xs:boolean (and the forms cameras use for one).
func isTrue(v string) bool {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "true", "1", "active", "on":
		return true
	}
	return false
}

func alarmKey(e Event) string {
	var b strings.Builder
	b.WriteString(e.Topic)
	for _, it := range e.Source {
		if b.Len() >= maxAlarmKey {
			break
		}
		b.WriteString("\x00")
		b.WriteString(it.Name)
		b.WriteString("=")
		b.WriteString(it.Value)
	}
	s := b.String()
	if len(s) > maxAlarmKey {
		s = s[:maxAlarmKey]
	}
	return s
}

// AlarmStates follows one subscription's motion and tamper properties
// (start a new one with each subscription: its Initialized states come
// again). The zero value is ready; it is used by one goroutine.
type AlarmStates struct {
	m map[string]bool
}

// Rising records a and reports whether it is news: a change to active of
// a property not already active, or a stateless active event. An initial
// state never is. It follows at most maxAlarmStates properties; past
// them it forgets all it knew (a camera inventing properties gets no
// more edges than one changing them).
func (s *AlarmStates) Rising(a Alarm) bool {
	if a.Stateless {
		return a.Active
	}
	if s.m == nil {
		s.m = make(map[string]bool)
	}
	was, known := s.m[a.Key]
	if !known && len(s.m) >= maxAlarmStates {
		clear(s.m)
	}
	s.m[a.Key] = a.Active
	return a.Active && !a.Initial && !was
}
