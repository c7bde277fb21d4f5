package cli

import (
	"fmt"
	"strconv"
	"strings"

	"vigil/internal/history"
)

// The transparency log a build of vigil trusts by default. A deployment
// sets these when it builds the binaries it hands out (make build
// LOG_KEY=... LOG_WITNESSES=... LOG_QUORUM=..., which passes
// -ldflags "-X vigil/internal/cli.defaultLogKey=..."): devices then pin
// that log instead of trusting the one the cloud names on first use, and
// refuse a cloud that names another. They are set at link time and never
// written at run time.
var (
	defaultLogKey       string // the log's note verifier key
	defaultLogWitnesses string // witness cosignature keys, comma-separated
	defaultLogQuorum    string // how many of them must cosign (default: all)
)

// builtinLogPolicy returns the log policy built into this binary, if any.
func builtinLogPolicy() (history.LogPolicy, bool, error) {
	if defaultLogKey == "" {
		return history.LogPolicy{}, false, nil
	}
	witnesses := []string{}
	for _, w := range strings.Split(defaultLogWitnesses, ",") {
		if w = strings.TrimSpace(w); w != "" {
			witnesses = append(witnesses, w)
		}
	}
	quorum := -1
	if defaultLogQuorum != "" {
		q, err := strconv.Atoi(defaultLogQuorum)
		if err != nil || q < 0 {
			return history.LogPolicy{}, false, fmt.Errorf("this binary's log quorum %q is not a number >= 0", defaultLogQuorum)
		}
		quorum = q
	}
	p, err := logPolicy(defaultLogKey, witnesses, quorum)
	if err != nil {
		return p, false, fmt.Errorf("this binary's built-in transparency log: %w", err)
	}
	return p, true, nil
}

// logPolicy is the policy of the log whose note verifier key is key, with
// the witnesses' cosignature keys of which quorum (-1: all) must cosign;
// an error when it could not verify a checkpoint.
func logPolicy(key string, witnesses []string, quorum int) (history.LogPolicy, error) {
	p := history.LogPolicy{Key: key, Witnesses: witnesses, Quorum: quorum}
	p.Origin, _, _ = strings.Cut(key, "+")
	if quorum < 0 {
		p.Quorum = len(witnesses)
	}
	_, err := p.Policy()
	return p, err
}
