package buildinfo

import (
	"runtime/debug"
	"strings"
	"testing"
)

// TestVersion: a checkout's build names its revision, a module's its
// version; anything but the allowed characters is replaced and the result
// is bounded.
func TestVersion(t *testing.T) {
	for _, tc := range []struct {
		bi   debug.BuildInfo
		want string
	}{
		{debug.BuildInfo{}, "(devel)"},
		{debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "0123456789abcdef0123"}, {Key: "vcs.modified", Value: "true"}}}, "(devel)-0123456789ab+dirty"},
		{debug.BuildInfo{Main: debug.Module{Version: "v1.2.3"}, Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "0123456789abcdef0123"}}}, "v1.2.3"},
		{debug.BuildInfo{Main: debug.Module{Version: "v1.0.0 /home/me http://x"}}, "v1.0.0__home_me_http___x"},
		{debug.BuildInfo{Main: debug.Module{Version: strings.Repeat("v", 100)}}, strings.Repeat("v", MaxLen)},
	} {
		if got := fromInfo(&tc.bi); got != tc.want {
			t.Errorf("fromInfo(%+v) = %q, want %q", tc.bi, got, tc.want)
		}
	}
	if v := Version(); v == "" || len(v) > MaxLen {
		t.Errorf("Version() = %q", v)
	}
}
