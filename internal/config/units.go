package config

import (
	"vigil/internal/units"
)

// ByteSize is a non-negative number of bytes, written "500MB", "1.5GiB"
// (units.ByteSize).
type ByteSize = units.ByteSize

// Duration is a time.Duration that may count days, written "4s", "30d"
// (units.Duration).
type Duration = units.Duration

// IsLoopbackHost reports whether host names this machine only
// (units.IsLoopbackHost).
func IsLoopbackHost(host string) bool { return units.IsLoopbackHost(host) }
