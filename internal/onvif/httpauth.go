package onvif

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"strings"
	"time"
)

// A challenge is one scheme of a WWW-Authenticate header.
type challenge struct {
	scheme string            // lower case: "digest", "basic"
	params map[string]string // lower-case keys
}

// parseChallenges reads WWW-Authenticate values: a scheme then
// comma-separated key=value or key="quoted value" pairs. Several
// challenges in one value are split where a token is followed by a space
// rather than "=".
func parseChallenges(values []string) []challenge {
	var out []challenge
	for _, v := range values {
		if len(v) > 4096 {
			continue
		}
		s := v
		var cur *challenge
		for {
			s = strings.TrimLeft(s, " \t,")
			if s == "" {
				break
			}
			i := strings.IndexAny(s, " \t=,")
			if i < 0 {
				out = append(out, challenge{scheme: strings.ToLower(s), params: map[string]string{}})
				break
			}
			tok := s[:i]
			rest := s[i:]
			if strings.HasPrefix(strings.TrimLeft(rest, " \t"), "=") && cur != nil {
				rest = strings.TrimLeft(strings.TrimLeft(rest, " \t")[1:], " \t")
				var val string
				if strings.HasPrefix(rest, `"`) {
					var b strings.Builder
					j := 1
					for ; j < len(rest) && rest[j] != '"'; j++ {
						if rest[j] == '\\' && j+1 < len(rest) {
							j++
						}
						b.WriteByte(rest[j])
					}
					val = b.String()
					if j < len(rest) {
						j++
					}
					s = rest[j:]
				} else {
					k := strings.IndexAny(rest, ", \t")
					if k < 0 {
						k = len(rest)
					}
					val, s = rest[:k], rest[k:]
				}
				cur.params[strings.ToLower(tok)] = val
				continue
			}
			out = append(out, challenge{scheme: strings.ToLower(tok), params: map[string]string{}})
			cur = &out[len(out)-1]
			s = rest
		}
	}
	return out
}

// answerChallenge returns an Authorization header value answering the
// strongest challenge offered: digest (SHA-256 before MD5, qop auth) or,
// only when no digest is offered, basic.
func answerChallenge(values []string, method, uri, username, password string) (string, error) {
	cs := parseChallenges(values)
	var basic bool
	var best *challenge
	for i, c := range cs {
		switch c.scheme {
		case "digest":
			alg := strings.ToUpper(c.params["algorithm"])
			if alg != "" && alg != "MD5" && alg != "SHA-256" {
				continue
			}
			if q := c.params["qop"]; q != "" && !hasToken(q, "auth") {
				continue
			}
			if best == nil || (alg == "SHA-256" && strings.ToUpper(best.params["algorithm"]) != "SHA-256") {
				best = &cs[i]
			}
		case "basic":
			basic = true
		}
	}
	if best != nil {
		return digestAnswer(best.params, method, uri, username, password), nil
	}
	if basic {
		return "Basic " + base64.StdEncoding.EncodeToString([]byte(username+":"+password)), nil
	}
	return "", errors.New("the device asks for an HTTP authentication scheme other than digest (MD5, SHA-256) or basic")
}

func hasToken(list, tok string) bool {
	for _, t := range strings.Split(list, ",") {
		if strings.TrimSpace(t) == tok {
			return true
		}
	}
	return false
}

func digestHash(alg string) func() hash.Hash {
	if strings.ToUpper(alg) == "SHA-256" {
		return sha256.New
	}
	return md5.New
}

func hexHash(h func() hash.Hash, parts ...string) string {
	x := h()
	x.Write([]byte(strings.Join(parts, ":")))
	return hex.EncodeToString(x.Sum(nil))
}

// digestAnswer computes an RFC 7616 digest response.
func digestAnswer(p map[string]string, method, uri, username, password string) string {
	h := digestHash(p["algorithm"])
	ha1 := hexHash(h, username, p["realm"], password)
	ha2 := hexHash(h, method, uri)
	quote := func(s string) string { return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"` }
	var b strings.Builder
	fmt.Fprintf(&b, "Digest username=%s, realm=%s, nonce=%s, uri=%s", quote(username), quote(p["realm"]), quote(p["nonce"]), quote(uri))
	if p["qop"] != "" {
		cn := make([]byte, 12)
		rand.Read(cn)
		cnonce := hex.EncodeToString(cn)
		const nc = "00000001"
		fmt.Fprintf(&b, ", qop=auth, nc=%s, cnonce=%s, response=%s", nc, quote(cnonce), quote(hexHash(h, ha1, p["nonce"], nc, cnonce, "auth", ha2)))
	} else {
		fmt.Fprintf(&b, ", response=%s", quote(hexHash(h, ha1, p["nonce"], ha2)))
	}
	if a := p["algorithm"]; a != "" {
		fmt.Fprintf(&b, ", algorithm=%s", a)
	}
	if o, ok := p["opaque"]; ok {
		fmt.Fprintf(&b, ", opaque=%s", quote(o))
	}
	return b.String()
}

// digestServer checks HTTP digest answers (MD5, qop auth) for one user.
// Its nonces are stateless: a time and an HMAC of it under a key made at
// start, valid for maxAge. It keeps no nonce counts, so an answer seen on
// the network can be replayed for the same URI until its nonce is
// maxAge old: it guards the snapshot, which is a GET.
type digestServer struct {
	realm, username, password string
	key                       [32]byte
	maxAge                    time.Duration
}

func newDigestServer(realm, username, password string) *digestServer {
	s := &digestServer{realm: realm, username: username, password: password, maxAge: 5 * time.Minute}
	rand.Read(s.key[:])
	return s
}

func (s *digestServer) nonce(now time.Time) string {
	var t [8]byte
	binary.BigEndian.PutUint64(t[:], uint64(now.UnixNano()))
	m := hmac.New(sha256.New, s.key[:])
	m.Write(t[:])
	return hex.EncodeToString(t[:]) + hex.EncodeToString(m.Sum(nil)[:16])
}

func (s *digestServer) challenge(now time.Time) string {
	return fmt.Sprintf(`Digest realm="%s", qop="auth", algorithm=MD5, nonce="%s"`, s.realm, s.nonce(now))
}

// check verifies an Authorization header for a request of method for uri
// (its path and query) at now.
func (s *digestServer) check(authz, method, uri string, now time.Time) bool {
	scheme, rest, _ := strings.Cut(authz, " ")
	if !strings.EqualFold(scheme, "Digest") {
		return false
	}
	cs := parseChallenges([]string{"x " + rest})
	if len(cs) != 1 {
		return false
	}
	p := cs[0].params
	nonce := p["nonce"]
	raw, err := hex.DecodeString(nonce)
	if err != nil || len(raw) != 24 {
		return false
	}
	m := hmac.New(sha256.New, s.key[:])
	m.Write(raw[:8])
	if !hmac.Equal(m.Sum(nil)[:16], raw[8:]) {
		return false
	}
	age := now.Sub(time.Unix(0, int64(binary.BigEndian.Uint64(raw[:8]))))
	if age < -time.Minute || age > s.maxAge {
		return false
	}
	if p["qop"] != "auth" || p["realm"] != s.realm || p["uri"] != uri || (p["algorithm"] != "" && !strings.EqualFold(p["algorithm"], "MD5")) {
		return false
	}
	h := md5.New
	want := hexHash(h, hexHash(h, s.username, s.realm, s.password), nonce, p["nc"], p["cnonce"], "auth", hexHash(h, method, p["uri"]))
	userOK := subtle.ConstantTimeCompare([]byte(p["username"]), []byte(s.username)) == 1
	return userOK && subtle.ConstantTimeCompare([]byte(p["response"]), []byte(want)) == 1
}
