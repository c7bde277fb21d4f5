package live

import (
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Domain-separation contexts of the two signed messages (docs/FORMAT.md,
// "Live view signalling").
const (
	offerContext  = "vigil-live-offer-v1"
	answerContext = "vigil-live-answer-v1"
)

// MaxClockSkew is how far an offer's timestamp may be from the hub's clock.
const MaxClockSkew = 2 * 60 * 1000 // milliseconds

var (
	sessionRE     = regexp.MustCompile(`^[A-Za-z0-9_-]{16,64}$`)
	cameraRE      = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)
	fingerprintRE = regexp.MustCompile(`^sha-256 [0-9A-F]{2}(:[0-9A-F]{2}){31}$`)
	sdpFPRE       = regexp.MustCompile(`(?m)^a=fingerprint:(\S+) ([0-9A-Fa-f:]+)\s*$`)
)

var b64 = base64.RawURLEncoding

// OfferMessage returns the bytes a viewer's device key signs: the context,
// then household ID, session ID, camera, timestamp (Unix milliseconds,
// decimal) and the viewer's DTLS fingerprint, each followed by a newline
// except the last.
func OfferMessage(household, session, camera string, tsMillis int64, fingerprint string) []byte {
	return []byte(offerContext + "\n" + household + "\n" + session + "\n" + camera + "\n" +
		strconv.FormatInt(tsMillis, 10) + "\n" + fingerprint)
}

// AnswerMessage returns the bytes the hub's device key signs: the context,
// household ID, session ID, camera, the viewer's fingerprint (from the
// offer it answers) and the hub's DTLS fingerprint.
func AnswerMessage(household, session, camera, viewerFP, hubFP string) []byte {
	return []byte(answerContext + "\n" + household + "\n" + session + "\n" + camera + "\n" + viewerFP + "\n" + hubFP)
}

// SDPFingerprint returns the one DTLS fingerprint of an SDP, normalised to
// "sha-256 AB:CD:..." (algorithm in lower case, hex in upper case). An SDP
// with no fingerprint, another algorithm or two different fingerprints is
// refused: the signature must cover every certificate DTLS may use.
func SDPFingerprint(sdp string) (string, error) {
	ms := sdpFPRE.FindAllStringSubmatch(sdp, -1)
	if len(ms) == 0 {
		return "", errors.New("the SDP has no DTLS fingerprint")
	}
	var fp string
	for _, m := range ms {
		f := strings.ToLower(m[1]) + " " + strings.ToUpper(m[2])
		if !fingerprintRE.MatchString(f) {
			return "", fmt.Errorf("the SDP's DTLS fingerprint is not sha-256")
		}
		if fp != "" && f != fp {
			return "", errors.New("the SDP has more than one DTLS fingerprint")
		}
		fp = f
	}
	return fp, nil
}

func checkIDs(session, camera string) error {
	if !sessionRE.MatchString(session) {
		return errors.New("session ID must be 16 to 64 of A-Z a-z 0-9 _ -")
	}
	if !cameraRE.MatchString(camera) {
		return errors.New("camera name must be 1 to 64 of A-Z a-z 0-9 . _ -")
	}
	return nil
}

func signB64(key ed25519.PrivateKey, msg []byte) string {
	return b64.EncodeToString(ed25519.Sign(key, msg))
}

func verifyB64(pub ed25519.PublicKey, msg []byte, sig string) bool {
	s, err := b64.DecodeString(sig)
	return err == nil && len(s) == ed25519.SignatureSize && len(pub) == ed25519.PublicKeySize && ed25519.Verify(pub, msg, s)
}
