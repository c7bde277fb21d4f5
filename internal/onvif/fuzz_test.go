package onvif

import (
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// The parsers of what a device or a network peer sends, fuzzed with the
// sample replies as seeds. Run one with, e.g.,
//
//	go test -run '^$' -fuzz FuzzProfiles -fuzztime 30s -fuzzminimizetime 2s ./internal/onvif
//
// (the seeds are whole replies of several kilobytes: minimizing a new
// input found from one takes minutes at the default minimize time, and
// the fuzzer reports no progress meanwhile).
//
// Crashers found are kept in testdata/fuzz/<target> and run as tests.

func seeds(f *testing.F, names ...string) {
	for _, n := range names {
		b := sample(f, n)
		f.Add(b)
		f.Add(b[:len(b)/2])
	}
	f.Add([]byte(""))
	f.Add([]byte("<"))
	f.Add([]byte(`<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope"><env:Body/></env:Envelope>`))
}

func FuzzProbeMatch(f *testing.F) {
	seeds(f, "probematches.xml", "billion_laughs.xml", "fault_notauthorized.xml")
	f.Fuzz(func(t *testing.T, data []byte) {
		_, ms, err := parseProbeMatches(data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "onvif: ProbeMatches: ") {
				t.Errorf("error does not name the message: %v", err)
			}
			return
		}
		for _, m := range ms {
			if len(m.XAddrs) == 0 || len(m.XAddrs) > maxXAddrs || len(m.Scopes) > maxScopes {
				t.Errorf("match %+v", m)
			}
			for _, x := range m.XAddrs {
				if checkServiceURL(x) != nil {
					t.Errorf("kept XAddr %q", x)
				}
			}
		}
	})
}

func FuzzProfiles(f *testing.F) {
	seeds(f, "getprofiles.xml", "getprofiles_media2.xml", "wrongns_profiles.xml", "soap11_profiles.xml", "billion_laughs.xml", "fault_notauthorized.xml")
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, parse := range []func([]byte, int) ([]Profile, error){parseProfiles, parseProfiles2} {
			ps, err := parse(data, 200)
			if err != nil {
				if !strings.HasPrefix(err.Error(), "onvif: GetProfiles: ") {
					t.Errorf("error does not name the operation: %v", err)
				}
				continue
			}
			for _, p := range ps {
				if p.Token == "" {
					t.Error("a profile without a token")
				}
				if p.Video != nil && (p.Video.FrameRate < 0 || p.Video.FrameRate > 1000) {
					t.Errorf("frame rate %d", p.Video.FrameRate)
				}
			}
		}
	})
}

func FuzzNotifications(f *testing.F) {
	seeds(f, "pullmessages.xml", "pullmessages_alarms.xml", "createpullpointsubscription.xml", "billion_laughs.xml", "fault_notauthorized.xml")
	f.Fuzz(func(t *testing.T, data []byte) {
		var st AlarmStates
		evs, _, err := parsePullMessages(data, 200)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "onvif: PullMessages: ") {
				t.Errorf("error does not name the operation: %v", err)
			}
			return
		}
		if len(evs) > maxEvents {
			t.Errorf("%d events", len(evs))
		}
		for _, e := range evs {
			if e.Topic == "" {
				t.Error("an event without a topic")
			}
			e.Kind()
			e.Active()
			a, ok := e.Alarm()
			if !ok {
				continue
			}
			if a.Kind != KindMotion && a.Kind != KindTamper || len(a.Key) > maxAlarmKey {
				t.Errorf("alarm %+v of %+v", a, e)
			}
			if st.Rising(a) && (!a.Active || a.Initial) {
				t.Errorf("alarm %+v is news", a)
			}
			if len(st.m) > maxAlarmStates {
				t.Errorf("%d alarm states", len(st.m))
			}
		}
	})
}

func FuzzFault(f *testing.F) {
	seeds(f, "fault_notauthorized.xml", "getprofiles.xml", "billion_laughs.xml")
	f.Fuzz(func(t *testing.T, data []byte) {
		err := decodeResponse(data, "GetProfiles", nsTRT, "GetProfilesResponse", 400, nil)
		var fe *FaultError
		if errors.As(err, &fe) {
			if fe.Op != "GetProfiles" || len(fe.Error()) > 700 {
				t.Errorf("fault %+v", fe)
			}
			_ = errors.Is(err, ErrNotAuthorized)
		}
		if err != nil && !strings.HasPrefix(err.Error(), "onvif: GetProfiles: ") {
			t.Errorf("error does not name the operation: %v", err)
		}
	})
}

// FuzzEventRoundTrip: what the device side writes, the client reads back
// the same, whatever the names and values hold.
func FuzzEventRoundTrip(f *testing.F) {
	f.Add("Device/Trigger/DigitalInput", "LogicalState", "true", "InputToken", "DIGIT_INPUT_000")
	f.Add("VideoSource/MotionAlarm", "State", `<&"'>`, "Source", "\t\n")
	f.Fuzz(func(t *testing.T, topic, name, value, srcName, srcValue string) {
		for _, s := range []string{topic, name, value, srcName, srcValue} {
			if !xmlText(s) {
				return
			}
		}
		if strings.TrimSpace(topic) != topic || topic == "" || strings.ContainsAny(topic, ":") {
			return
		}
		e := Event{Topic: topic, Time: time.Date(2026, 12, 4, 17, 0, 0, 0, time.UTC), Operation: "Changed",
			Source: []Item{{srcName, srcValue}}, Data: []Item{{name, value}}}
		evs, _, err := parsePullMessages(envelope("", pullMessagesResponse(e.Time, e.Time, []Event{e})), 200)
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) != 1 {
			t.Fatalf("%d events", len(evs))
		}
		g := evs[0]
		if g.Topic != normalizeTopic(topic) || !g.Time.Equal(e.Time) || g.Operation != e.Operation ||
			len(g.Data) != 1 || g.Data[0] != e.Data[0] || len(g.Source) != 1 || g.Source[0] != e.Source[0] {
			t.Errorf("read back %+v, wrote %+v", g, e)
		}
	})
}

// xmlText reports whether s is made only of characters XML can carry.
func xmlText(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if !(r == 0x09 || r == 0x0A || r == 0x0D || r >= 0x20 && r <= 0xD7FF || r >= 0xE000 && r <= 0xFFFD || r >= 0x10000 && r <= 0x10FFFF) {
			return false
		}
	}
	return true
}
