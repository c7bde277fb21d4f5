// Package units holds the human units of Vigil's configuration files: sizes
// ("20GB", "1.5GiB"), durations that may count days ("30d"), and whether a
// host names this machine only. Both the hub's configuration
// (internal/config) and the cloud's (internal/cloud) use them.
//
// It holds these units and nothing else: no configuration keys, no files, no
// state. It imports nothing of Vigil.
package units

import (
	"fmt"
	"math/big"
	"net"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// ByteSize is a non-negative number of bytes.
//
// In YAML it is either an integer (a count of bytes) or a string made of a
// decimal number, an optional space and an optional unit: "500MB", "20 GB",
// "1.5GiB", "100k". Units are case-insensitive:
//
//	B                  bytes (the default when no unit is given)
//	K, KB              1000
//	M, MB              1000^2
//	G, GB              1000^3
//	T, TB              1000^4
//	KiB, MiB, GiB, TiB 1024, 1024^2, 1024^3, 1024^4
//
// A fractional number must come to a whole number of bytes.
type ByteSize int64

type byteUnit struct {
	name string
	size int64
}

// renderUnits are the units String tries, in order of preference when two
// renderings are equally short.
var renderUnits = []byteUnit{
	{"TB", 1e12}, {"TiB", 1 << 40},
	{"GB", 1e9}, {"GiB", 1 << 30},
	{"MB", 1e6}, {"MiB", 1 << 20},
	{"KB", 1e3}, {"KiB", 1 << 10},
}

// parseUnits maps lower-cased unit names to their size.
var parseUnits = map[string]int64{
	"": 1, "b": 1,
	"k": 1e3, "kb": 1e3, "kib": 1 << 10,
	"m": 1e6, "mb": 1e6, "mib": 1 << 20,
	"g": 1e9, "gb": 1e9, "gib": 1 << 30,
	"t": 1e12, "tb": 1e12, "tib": 1 << 40,
}

const byteSizeHint = "(use e.g. 500MB, 20GB)"

// ParseByteSize parses a size such as "20GB", "1.5GiB", "100k" or "4096".
// The error message quotes s and says what is wrong with it.
func ParseByteSize(s string) (ByteSize, error) {
	t := strings.TrimSpace(s)
	if t == "" {
		return 0, fmt.Errorf("%q: empty size %s", s, byteSizeHint)
	}
	if t[0] == '-' {
		return 0, fmt.Errorf("%q: a size cannot be negative", s)
	}
	i := 0
	for i < len(t) && (t[i] >= '0' && t[i] <= '9' || t[i] == '.') {
		i++
	}
	num, unit := t[:i], strings.TrimLeft(t[i:], " ")
	intPart, frac, hasDot := strings.Cut(num, ".")
	if num == "" || strings.Contains(frac, ".") || (intPart == "" && frac == "") || (hasDot && frac == "") {
		return 0, fmt.Errorf("%q: not a size %s", s, byteSizeHint)
	}
	mult, ok := parseUnits[strings.ToLower(unit)]
	if !ok {
		return 0, fmt.Errorf("%q: unknown unit %q %s", s, unit, byteSizeHint)
	}
	// Exact arithmetic: value = digits * mult / 10^len(frac).
	digits, ok := new(big.Int).SetString(intPart+frac, 10)
	if !ok {
		return 0, fmt.Errorf("%q: not a size %s", s, byteSizeHint)
	}
	digits.Mul(digits, big.NewInt(mult))
	scale := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(len(frac))), nil)
	q, r := new(big.Int).QuoRem(digits, scale, new(big.Int))
	if r.Sign() != 0 {
		return 0, fmt.Errorf("%q: not a whole number of bytes", s)
	}
	if !q.IsInt64() {
		return 0, fmt.Errorf("%q: too large (the maximum is about 9.2 million TB)", s)
	}
	return ByteSize(q.Int64()), nil
}

// String renders b in the shortest exact form with a unit and, below 1000
// of that unit, at most three decimals, such as "20GB", "1.5GiB" or "1234KB"; as bytes ("1234567B") when
// there is none; "0" for zero. ParseByteSize(b.String()) == b for
// every b >= 0.
func (b ByteSize) String() string {
	if b == 0 {
		return "0"
	}
	if b < 0 {
		return fmt.Sprintf("%dB", int64(b))
	}
	best := ""
	v := big.NewInt(int64(b))
	for _, u := range renderUnits {
		if int64(b) < u.size {
			continue
		}
		size := big.NewInt(u.size)
		// Up to three decimals keep the result readable; past that the
		// plain byte count is clearer.
		for d := 0; d <= 3; d++ {
			scaled := new(big.Int).Mul(v, new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(d)), nil))
			q, r := new(big.Int).QuoRem(scaled, size, new(big.Int))
			if r.Sign() != 0 {
				continue
			}
			s := q.String()
			if d > 0 && len(s) > d+3 {
				break // "1234.567KB" reads worse than the alternatives
			}
			if d > 0 {
				for len(s) <= d {
					s = "0" + s
				}
				s = s[:len(s)-d] + "." + s[len(s)-d:]
			}
			if s += u.name; best == "" || len(s) < len(best) {
				best = s
			}
			break
		}
	}
	if best == "" {
		best = fmt.Sprintf("%dB", int64(b))
	}
	return best
}

// UnmarshalYAML implements yaml.Unmarshaler.
func (b *ByteSize) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("expected a size such as 20GB, got %s", kindName(n))
	}
	if n.ShortTag() == "!!int" {
		var i int64
		if err := n.Decode(&i); err != nil {
			return fmt.Errorf("%q: not a size %s", n.Value, byteSizeHint)
		}
		if i < 0 {
			return fmt.Errorf("%q: a size cannot be negative", n.Value)
		}
		*b = ByteSize(i)
		return nil
	}
	v, err := ParseByteSize(n.Value)
	if err != nil {
		return err
	}
	*b = v
	return nil
}

// MarshalYAML implements yaml.Marshaler, writing the String form.
func (b ByteSize) MarshalYAML() (any, error) { return b.String(), nil }

// Duration is a time.Duration that YAML writes as a Go duration string
// ("4s", "90m", "720h") which may also use "d" for days of 24 hours
// ("30d", "1d12h", "1.5d").
type Duration time.Duration

const durationHint = "(use e.g. 4s, 90m, 720h, 30d)"

// ParseDuration parses a Go duration string that may also use the unit "d"
// (24h). The error message quotes s.
func ParseDuration(s string) (Duration, error) {
	t := strings.TrimSpace(s)
	if strings.ContainsRune(t, 'd') {
		var err error
		if t, err = daysToHours(t); err != nil {
			return 0, fmt.Errorf("%q: not a duration %s", s, durationHint)
		}
	}
	d, err := time.ParseDuration(t)
	if err != nil {
		msg := "not a duration"
		if strings.Contains(err.Error(), "missing unit") {
			msg = "missing unit"
		}
		return 0, fmt.Errorf("%q: %s %s", s, msg, durationHint)
	}
	return Duration(d), nil
}

// daysToHours rewrites every "<number>d" component of s as hours, exactly.
func daysToHours(s string) (string, error) {
	var out strings.Builder
	start := 0 // start of the current number
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9' || c == '.':
			continue
		case c == 'd':
			num := s[start:i]
			r, ok := new(big.Rat).SetString(num)
			if num == "" || !ok {
				return "", fmt.Errorf("bad day count")
			}
			r.Mul(r, big.NewRat(24, 1))
			_, frac, _ := strings.Cut(num, ".")
			out.WriteString(r.FloatString(len(frac)))
			out.WriteString("h")
		default:
			// Sign or another unit: copy through and keep scanning.
			j := i
			for j < len(s) && !(s[j] >= '0' && s[j] <= '9' || s[j] == '.') {
				if s[j] == 'd' {
					return "", fmt.Errorf("bad unit")
				}
				j++
			}
			out.WriteString(s[start:j])
			i = j - 1
		}
		start = i + 1
	}
	out.WriteString(s[start:])
	return out.String(), nil
}

// String renders d as a whole number of days ("30d") when it is one, and
// otherwise as time.Duration does ("4s", "1h30m0s"). ParseDuration(d.String())
// == d for every d.
func (d Duration) String() string {
	const day = Duration(24 * time.Hour)
	if d != 0 && d%day == 0 {
		return fmt.Sprintf("%dd", d/day)
	}
	return time.Duration(d).String()
}

// Short renders d as a file would give it: String without the zero
// units a person leaves out ("5m", not "5m0s"; "6h", not "6h0m0s").
func (d Duration) Short() string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// UnmarshalYAML implements yaml.Unmarshaler.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("expected a duration such as 4s or 30d, got %s", kindName(n))
	}
	v, err := ParseDuration(n.Value)
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// MarshalYAML implements yaml.Marshaler, writing the String form.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// kindName describes a node that is not a single value, for error messages.
func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	case yaml.DocumentNode:
		return "a document"
	}
	return "a value"
}

// IsLoopbackHost reports whether host (a name or an IP address, without a
// port) names this machine only: "localhost" or a loopback address.
func IsLoopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
