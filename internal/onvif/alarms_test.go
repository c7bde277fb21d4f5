package onvif

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestAlarmsFromSample: a camera's motion and tamper properties, as real
// cameras send them (CellMotionDetector, MotionAlarm, TamperDetector,
// GlobalSceneChange): only a change to true of a property not already
// true is news; the state a subscription starts with is not.
func TestAlarmsFromSample(t *testing.T) {
	evs, _, err := parsePullMessages(sample(t, "pullmessages_alarms.xml"), 200)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		kind           Kind
		active, rising bool
	}{
		{KindMotion, true, false},  // Initialized true: the state, not a change
		{KindTamper, false, false}, // GlobalSceneChange Initialized false
		{KindMotion, false, false}, // IsMotion false
		{KindMotion, true, true},   // MotionAlarm State true, a new property
		{KindMotion, true, true},   // IsMotion back to true
		{KindMotion, true, false},  // MotionAlarm true again: no change
		{KindTamper, true, true},   // IsTamper true
		{KindTamper, true, true},   // GlobalSceneChange/ImagingService true
	}
	if len(evs) != len(want) {
		t.Fatalf("%d events, want %d", len(evs), len(want))
	}
	var st AlarmStates
	for i, w := range want {
		a, ok := evs[i].Alarm()
		if !ok || a.Kind != w.kind || a.Active != w.active {
			t.Errorf("event %d (%s): alarm %+v ok=%v, want kind %s active %v", i, evs[i].Topic, a, ok, w.kind, w.active)
		}
		if r := st.Rising(a); r != w.rising {
			t.Errorf("event %d (%s): rising %v, want %v", i, evs[i].Topic, r, w.rising)
		}
	}
}

// TestAlarmEdgeCases: what Alarm refuses or reads in a particular way, and
// AlarmStates' bounds.
func TestAlarmEdgeCases(t *testing.T) {
	ev := func(topic, op string, data ...Item) Event { return Event{Topic: topic, Operation: op, Data: data} }
	for name, c := range map[string]struct {
		e      Event
		ok     bool
		active bool
	}{
		"a press is no alarm":       {ev("Device/Trigger/DigitalInput", "Changed", Item{"LogicalState", "true"}), false, false},
		"no state item":             {ev("VideoSource/MotionAlarm", "Changed", Item{"Level", "90"}), false, false},
		"no data at all":            {ev("RuleEngine/TamperDetector/Tamper", "Changed"), false, false},
		"unknown operation":         {ev("VideoSource/MotionAlarm", "Exploded", Item{"State", "true"}), false, false},
		"motion's own item first":   {ev("RuleEngine/CellMotionDetector/Motion", "Changed", Item{"State", "true"}, Item{"IsMotion", "false"}), true, false},
		"tamper's State":            {ev("VideoSource/ImageTooDark/ImagingService", "Changed", Item{"State", " TRUE "}), true, true},
		"a value that is not true":  {ev("VideoSource/MotionAlarm", "Changed", Item{"State", strings.Repeat("t", 10000)}), true, false},
		"deleted reads as inactive": {ev("VideoSource/MotionAlarm", "Deleted"), true, false},
		"IsMotion for tamper":       {ev("RuleEngine/TamperDetector/Tamper", "Changed", Item{"IsMotion", "true"}), false, false},
	} {
		a, ok := c.e.Alarm()
		if ok != c.ok || a.Active != c.active {
			t.Errorf("%s: %+v ok=%v, want ok=%v active=%v", name, a, ok, c.ok, c.active)
		}
	}

	// Stateless events: each active one is news.
	var st AlarmStates
	a, _ := ev("VideoSource/MotionAlarm", "", Item{"State", "true"}).Alarm()
	if !a.Stateless || !st.Rising(a) || !st.Rising(a) {
		t.Errorf("stateless active alarm %+v not news each time", a)
	}

	// Keys are bounded however long the source items are.
	long := Event{Topic: "VideoSource/MotionAlarm", Operation: "Changed", Data: []Item{{"State", "true"}}}
	for range 100 {
		long.Source = append(long.Source, Item{strings.Repeat("n", 1000), strings.Repeat("v", 1000)})
	}
	if a, ok := long.Alarm(); !ok || len(a.Key) > maxAlarmKey {
		t.Errorf("key of %d bytes", len(a.Key))
	}

	// A camera inventing properties: the states followed stay bounded.
	st = AlarmStates{}
	for i := range 10 * maxAlarmStates {
		e := Event{Topic: "VideoSource/MotionAlarm", Operation: "Changed", Source: []Item{{"Source", fmt.Sprint(i)}}, Data: []Item{{"State", "true"}}}
		a, _ := e.Alarm()
		st.Rising(a)
		if len(st.m) > maxAlarmStates {
			t.Fatalf("%d states followed", len(st.m))
		}
	}
}

// TestServerInitialStates: a device's properties start each subscription,
// as Initialized messages, before anything published.
func TestServerInitialStates(t *testing.T) {
	d := testDevice(0)
	d.States = func() []Event {
		return []Event{{Topic: "VideoSource/MotionAlarm", Operation: "Changed", Source: []Item{{"Source", "vs"}}, Data: []Item{{"State", "true"}}}}
	}
	srv, xaddr := startDevice(t, d)
	c := newTestClient(t, xaddr, testUser, testPass)
	ctx := context.Background()
	sub, err := c.Subscribe(ctx, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	srv.Publish(Event{Topic: "VideoSource/MotionAlarm", Operation: "Changed", Source: []Item{{"Source", "vs"}}, Data: []Item{{"State", "false"}}})
	evs, err := sub.Pull(ctx, 5*time.Second, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 2 || evs[0].Operation != "Initialized" || evs[0].Time.IsZero() || evs[1].Operation != "Changed" {
		t.Fatalf("pulled %+v", evs)
	}
	var st AlarmStates
	for _, e := range evs {
		if a, ok := e.Alarm(); !ok || st.Rising(a) {
			t.Errorf("%+v: ok=%v, or news", e, ok)
		}
	}
}
