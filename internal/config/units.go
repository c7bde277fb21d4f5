package config

import (
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"

	"vigil/internal/units"
)

// ByteSize is a non-negative number of bytes, written "500MB", "1.5GiB"
// (units.ByteSize).
type ByteSize = units.ByteSize

// Duration is a time.Duration that may count days, written "4s", "30d"
// (units.Duration).
type Duration = units.Duration

// ParseByteSize parses a size such as "20GB" (units.ParseByteSize).
func ParseByteSize(s string) (ByteSize, error) { return units.ParseByteSize(s) }

// ParseDuration parses a duration such as "90m" or "30d"
// (units.ParseDuration).
func ParseDuration(s string) (Duration, error) { return units.ParseDuration(s) }

// IsLoopbackHost reports whether host names this machine only
// (units.IsLoopbackHost).
func IsLoopbackHost(host string) bool { return units.IsLoopbackHost(host) }

// kindName describes a node's kind for error messages.
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
	if n.ShortTag() == "!!str" {
		return "the string " + quoteScalar(n.Value)
	}
	return quoteScalar(n.Value)
}

// quoteScalar quotes a value for an error message without echoing secrets:
// keys are not shown, URL passwords are redacted and long values are cut.
func quoteScalar(v string) string {
	if looksSecret(v) {
		return "(a secret key, not shown)"
	}
	if strings.Contains(v, "://") {
		v = redactURL(v)
	}
	if r := []rune(v); len(r) > 48 {
		v = string(r[:48]) + "…"
	}
	return fmt.Sprintf("%q", v)
}

// looksSecret reports whether v holds one of Vigil's secret key encodings.
func looksSecret(v string) bool {
	u := strings.ToUpper(v)
	return strings.Contains(u, "VIGIL-IDENTITY-") || strings.Contains(u, "VIGIL-SIGNER-")
}
