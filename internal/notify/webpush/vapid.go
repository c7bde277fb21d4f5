package webpush

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/url"
	"strings"
	"time"
)

// VAPIDKey is the application server's ES256 key pair (RFC 8292). Its
// public half is the applicationServerKey the web app subscribes with.
type VAPIDKey struct {
	priv *ecdsa.PrivateKey
}

// GenerateVAPIDKey returns a new key.
func GenerateVAPIDKey() (*VAPIDKey, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	return &VAPIDKey{priv: k}, nil
}

// ParseVAPIDKey parses a private key in its usual encoding: the 32-byte
// scalar, unpadded base64url.
func ParseVAPIDKey(s string) (*VAPIDKey, error) {
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(strings.TrimSpace(s), "="))
	if err != nil {
		return nil, errors.New("webpush: VAPID private key is not base64url")
	}
	k, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), b)
	if err != nil {
		return nil, errors.New("webpush: VAPID private key is not a P-256 scalar")
	}
	return &VAPIDKey{priv: k}, nil
}

// String returns the private key's encoding (see [ParseVAPIDKey]). It is a
// secret: keep it out of logs.
func (k *VAPIDKey) String() string {
	b, err := k.priv.Bytes()
	if err != nil {
		return ""
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// PublicKey returns the public key, unpadded base64url of the uncompressed
// point: the "k" parameter of the Authorization header and the web app's
// applicationServerKey.
func (k *VAPIDKey) PublicKey() string {
	b, err := k.priv.PublicKey.Bytes()
	if err != nil {
		return ""
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// MaxVAPIDExpiry is the longest validity RFC 8292 allows a token.
const MaxVAPIDExpiry = 24 * time.Hour

// Authorization returns the Authorization header value for a push to
// endpoint: "vapid t=<JWT>, k=<public key>". The JWT's audience is the
// endpoint's origin, its expiry now+exp (at most 24 hours), its subject sub
// (a "mailto:" or "https:" contact for the push service's operator).
func (k *VAPIDKey) Authorization(endpoint, sub string, now time.Time, exp time.Duration) (string, error) {
	u, err := url.Parse(endpoint)
	if err != nil || u.Scheme != "https" && u.Scheme != "http" || u.Host == "" {
		return "", errors.New("webpush: endpoint is not an http(s) URL")
	}
	if exp <= 0 || exp > MaxVAPIDExpiry {
		exp = 12 * time.Hour
	}
	hdr := base64.RawURLEncoding.EncodeToString([]byte(`{"typ":"JWT","alg":"ES256"}`))
	claims, err := json.Marshal(struct {
		Aud string `json:"aud"`
		Exp int64  `json:"exp"`
		Sub string `json:"sub,omitempty"`
	}{u.Scheme + "://" + u.Host, now.Add(exp).Unix(), sub})
	if err != nil {
		return "", err
	}
	signing := hdr + "." + base64.RawURLEncoding.EncodeToString(claims)
	d := sha256.Sum256([]byte(signing))
	r, s, err := ecdsa.Sign(rand.Reader, k.priv, d[:])
	if err != nil {
		return "", err
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return "vapid t=" + signing + "." + base64.RawURLEncoding.EncodeToString(sig) + ", k=" + k.PublicKey(), nil
}

// Claims are the verified claims of a VAPID token.
type Claims struct {
	Aud string `json:"aud"`
	Exp int64  `json:"exp"`
	Sub string `json:"sub"`
}

// maxAuthorization bounds the header VerifyAuthorization parses.
const maxAuthorization = 2048

// VerifyAuthorization checks a "vapid t=..., k=..." header as a push service
// does: the ES256 signature under k, the audience (origin, e.g.
// "https://push.example"), and an expiry in the future and at most 24 hours
// ahead. It returns the claims and the public key k.
func VerifyAuthorization(header, origin string, now time.Time) (Claims, string, error) {
	var c Claims
	if len(header) > maxAuthorization {
		return c, "", errors.New("webpush: authorization header too long")
	}
	rest, ok := strings.CutPrefix(header, "vapid ")
	if !ok {
		return c, "", errors.New("webpush: authorization scheme is not vapid")
	}
	var tok, key string
	for p := range strings.SplitSeq(rest, ",") {
		name, val, _ := strings.Cut(strings.TrimSpace(p), "=")
		switch name {
		case "t":
			tok = val
		case "k":
			key = val
		}
	}
	if tok == "" || key == "" {
		return c, "", errors.New("webpush: authorization lacks t or k")
	}
	kb, err := base64.RawURLEncoding.DecodeString(key)
	if err != nil {
		return c, "", errors.New("webpush: k is not base64url")
	}
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), kb)
	if err != nil {
		return c, "", errors.New("webpush: k is not a P-256 public key")
	}
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return c, "", errors.New("webpush: token is not a JWS")
	}
	var h struct {
		Alg string `json:"alg"`
	}
	hb, err1 := base64.RawURLEncoding.DecodeString(parts[0])
	cb, err2 := base64.RawURLEncoding.DecodeString(parts[1])
	sig, err3 := base64.RawURLEncoding.DecodeString(parts[2])
	if err := errors.Join(err1, err2, err3); err != nil {
		return c, "", errors.New("webpush: token is not base64url")
	}
	if json.Unmarshal(hb, &h) != nil || h.Alg != "ES256" {
		return c, "", errors.New("webpush: token alg is not ES256")
	}
	if len(sig) != 64 {
		return c, "", errors.New("webpush: signature is not 64 bytes")
	}
	d := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
	if !ecdsa.Verify(pub, d[:], r, s) {
		return c, "", errors.New("webpush: bad token signature")
	}
	if err := json.Unmarshal(cb, &c); err != nil {
		return c, "", errors.New("webpush: token claims are not JSON")
	}
	if c.Aud != origin {
		return c, "", fmt.Errorf("webpush: token audience %q, want %q", c.Aud, origin)
	}
	if e := time.Unix(c.Exp, 0); !e.After(now) || e.Sub(now) > MaxVAPIDExpiry {
		return c, "", errors.New("webpush: token expired or valid for more than 24 hours")
	}
	return c, key, nil
}
