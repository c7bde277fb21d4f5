// Package buildinfo names the build of the running program: the module
// version Go recorded, and the version control revision when the build
// recorded one. Hubs send it in their health reports; the cloud shows it,
// and its own, to staff.
//
// It owns nothing but that string. It must never return anything but a
// short, printable name of the build (no path, host or user: build paths
// and settings are not part of it), and imports nothing of vigil's.
package buildinfo

import (
	"runtime/debug"
	"strings"
)

// MaxLen is the longest Version returns.
const MaxLen = 64

// Version is the running program's build: the main module's version
// ("(devel)" for a build from a checkout), then the first 12 hex digits of
// the revision and "+dirty" for a modified tree when the build recorded
// them; "unknown" without build information. It holds letters, digits and
// ".-+_()" only, at most MaxLen bytes.
func Version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	return fromInfo(bi)
}

func fromInfo(bi *debug.BuildInfo) string {
	v := bi.Main.Version
	if v == "" {
		v = "(devel)"
	}
	var rev string
	dirty := false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	// A module version already names its revision (pseudo-versions) or
	// its tag; a checkout's build gets the revision added.
	if v == "(devel)" && rev != "" {
		v += "-" + rev[:min(12, len(rev))]
		if dirty {
			v += "+dirty"
		}
	}
	return clean(v)
}

// clean keeps letters, digits and ".-+_()", replacing anything else by
// '_', and caps the length.
func clean(v string) string {
	v = strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', strings.ContainsRune(".-+_()", r):
			return r
		}
		return '_'
	}, v)
	if len(v) > MaxLen {
		v = v[:MaxLen]
	}
	if v == "" {
		return "unknown"
	}
	return v
}
