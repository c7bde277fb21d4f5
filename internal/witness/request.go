package witness

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"

	"golang.org/x/mod/sumdb/tlog"
)

// request is a parsed add-checkpoint body (C2SP tlog-witness):
//
//	old <size>\n
//	<base64 hash>\n   (0 to 63 consistency proof lines)
//	\n
//	<signed checkpoint note>
type request struct {
	oldSize int64
	proof   tlog.TreeProof
	note    []byte // the signed checkpoint, as sent
	origin  string // the note's first line
}

// parseRequest parses an add-checkpoint body strictly: canonical decimal
// size, canonical base64 hashes of 32 bytes, at most MaxProofLines of them,
// every line ending in a newline. It checks no signature.
func parseRequest(body []byte) (*request, error) {
	line, rest, ok := bytes.Cut(body, []byte("\n"))
	if !ok {
		return nil, errors.New("no old size line")
	}
	s, ok := bytes.CutPrefix(line, []byte("old "))
	if !ok {
		return nil, errors.New(`the first line is not "old <size>"`)
	}
	old, err := strconv.ParseInt(string(s), 10, 64)
	if err != nil || old < 0 || strconv.FormatInt(old, 10) != string(s) {
		return nil, fmt.Errorf("old size %.40q is not a decimal number without leading zeroes", s)
	}
	req := &request{oldSize: old}
	for {
		line, rest, ok = bytes.Cut(rest, []byte("\n"))
		if !ok {
			return nil, errors.New("no empty line before the checkpoint")
		}
		if len(line) == 0 {
			break
		}
		if len(req.proof) == MaxProofLines {
			return nil, fmt.Errorf("more than %d consistency proof lines", MaxProofLines)
		}
		h, err := tlog.ParseHash(string(line))
		if err != nil || base64.StdEncoding.EncodeToString(h[:]) != string(line) {
			return nil, fmt.Errorf("proof line %d is not a base64 hash of 32 bytes", len(req.proof)+1)
		}
		req.proof = append(req.proof, h)
	}
	origin, _, ok := bytes.Cut(rest, []byte("\n"))
	if !ok || len(origin) == 0 {
		return nil, errors.New("no checkpoint after the empty line")
	}
	req.note = rest
	req.origin = string(origin)
	return req, nil
}
