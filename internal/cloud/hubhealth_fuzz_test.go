package cloud

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"vigil/internal/cloud/hubhealth"
	"vigil/internal/cloudapi"
)

// FuzzHubHealthReport: whatever body a hub sends, decoding and checking a
// health report never panics, and a report the cloud would keep has a
// bounded, printable version and error text that names no URL, path or
// address, and sane counts.
func FuzzHubHealthReport(f *testing.F) {
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	good := cloudapi.HubHealth{Version: "v1.2.3", Started: now.Add(-time.Hour), Sent: now, Cameras: 2, Recording: 2,
		Uploads: cloudapi.HubUploads{Pending: 3, OldestPending: now.Add(-time.Minute), Failures: 4,
			LastError: &cloudapi.HubError{Kind: "server", Status: 503, Message: "503 Service Unavailable", At: now}}}
	b, _ := json.Marshal(good)
	f.Add(b)
	f.Add([]byte(`{"version":"(devel)","started":"2026-12-04T11:00:00Z","sent":"2026-12-04T12:00:00Z","cameras":0,"recording":0,"uploads":{"pending":0,"failures":0,"rejected":0,"evicted":0,"cloud_away":false}}`))
	f.Add([]byte(`{"uploads":{"last_error":{"kind":"network","message":"dial tcp 10.0.0.1:443"}}}`))
	f.Add([]byte(`{"version":"v\u202e1"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var req cloudapi.HubHealth
		if decodeJSONBytes(body, &req) != nil {
			return
		}
		rep := hubReport(req)
		if hubhealth.Check(rep, now) != nil {
			return
		}
		if rep.Version == "" || len(rep.Version) > hubhealth.MaxVersion || strings.ContainsAny(rep.Version, "/\\@ ") {
			t.Fatalf("kept version %q", rep.Version)
		}
		if rep.ErrorKind != "" {
			m := rep.ErrorMessage
			if m == "" || len(m) > hubhealth.MaxMessage || !utf8.ValidString(m) || strings.ContainsAny(m, "/\\@\n\r\x00") || strings.Contains(m, "::") {
				t.Fatalf("kept error text %q", m)
			}
		}
		if rep.Recording > rep.Cameras || rep.Cameras > hubhealth.MaxCameras || rep.Pending < 0 || rep.Failures < 0 {
			t.Fatalf("kept counts %+v", rep)
		}
		if rep.Started.After(rep.Sent.Add(time.Minute)) || rep.Sent.Sub(now).Abs() > hubhealth.MaxClockOff {
			t.Fatalf("kept times %+v", rep)
		}
	})
}
