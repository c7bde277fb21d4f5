// Package webpush is the Web Push protocol: RFC 8291 message encryption
// with the aes128gcm content coding (RFC 8188), VAPID application-server
// authentication (RFC 8292, an ES256 JWT), and a [Sender] that posts to a
// browser's push subscription.
//
// The cloud forwards a hub's sealed events and join requests to the
// household's subscriptions with a Sender. It imports nothing of the hub,
// package notify included, and knows nothing of events.
//
// An event's payload is already sealed to the household as an event record
// (package eventrec, by the hub) before it gets here: the RFC 8291 layer keeps
// the push service from reading it in transit, and the envelope keeps
// anyone but the household, the cloud that holds subscriptions included,
// from reading it at all. The package itself encrypts whatever it is given.
//
// An endpoint is a URL a user supplied, so a Sender connects only to public
// internet addresses by default (NewClient, internal/netguard): every
// address the endpoint's name resolves to is checked when the connection
// is made, so an endpoint cannot make the cloud or the hub post to their
// own loopback, private networks or a cloud metadata service, however the
// name resolved when the endpoint was checked.
//
// Apart from netguard the package uses only the standard library. It never
// logs payloads, keys or subscription secrets; an endpoint URL is a
// capability, so errors name only its host.
package webpush

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
)

// Sizes of the aes128gcm coding as Web Push uses it.
const (
	// RecordSize is the record size Web Push messages use: one record, at
	// most 4096 bytes of body (RFC 8291 section 4).
	RecordSize = 4096
	saltSize   = 16
	keySize    = 65 // uncompressed P-256 point
	headerSize = saltSize + 4 + 1 + keySize
	tagSize    = 16
	// MaxPlaintext is the longest payload that fits one record.
	MaxPlaintext = RecordSize - headerSize - tagSize - 1
	authSize     = 16
)

// ErrDecrypt is returned when a message cannot be decrypted: wrong keys,
// tampered ciphertext or a malformed header.
var ErrDecrypt = errors.New("webpush: cannot decrypt message")

// Encrypt encrypts plaintext for the user agent whose public key (p256dh,
// an uncompressed P-256 point) and authentication secret (16 bytes) are
// given, with a fresh salt and sender key.
func Encrypt(plaintext, uaPublic, authSecret []byte) ([]byte, error) {
	salt := make([]byte, saltSize)
	if _, err := rand.Read(salt); err != nil {
		return nil, err
	}
	as, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	return EncryptWith(plaintext, uaPublic, authSecret, salt, as)
}

// EncryptWith is [Encrypt] with a given salt and application-server key
// pair. Reusing either across messages breaks the encryption; it exists for
// test vectors.
func EncryptWith(plaintext, uaPublic, authSecret, salt []byte, as *ecdh.PrivateKey) ([]byte, error) {
	if len(plaintext) > MaxPlaintext {
		return nil, fmt.Errorf("webpush: payload is %d bytes, more than %d", len(plaintext), MaxPlaintext)
	}
	if len(salt) != saltSize {
		return nil, errors.New("webpush: salt must be 16 bytes")
	}
	if len(authSecret) != authSize {
		return nil, errors.New("webpush: subscription auth secret must be 16 bytes")
	}
	if as == nil || as.Curve() != ecdh.P256() {
		return nil, errors.New("webpush: sender key must be a P-256 key")
	}
	ua, err := ecdh.P256().NewPublicKey(uaPublic)
	if err != nil {
		return nil, errors.New("webpush: subscription p256dh is not a P-256 public key")
	}
	aead, nonce, err := deriveKeys(as, ua, ua.Bytes(), as.PublicKey().Bytes(), authSecret, salt)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, headerSize+len(plaintext)+1+tagSize)
	out = append(out, salt...)
	out = binary.BigEndian.AppendUint32(out, RecordSize)
	out = append(out, keySize)
	out = append(out, as.PublicKey().Bytes()...)
	rec := append(append(make([]byte, 0, len(plaintext)+1+tagSize), plaintext...), 2) // 2: last record, no padding
	return aead.Seal(out, nonce, rec, nil), nil
}

// Decrypt decrypts a message for the user agent with private key ua and
// authentication secret authSecret. It accepts a single record, as Web Push
// sends, with the sender's key in the header.
func Decrypt(body []byte, ua *ecdh.PrivateKey, authSecret []byte) ([]byte, error) {
	if len(body) < headerSize+tagSize+1 || len(body) > RecordSize {
		return nil, fmt.Errorf("%w: body length %d out of range", ErrDecrypt, len(body))
	}
	if ua == nil || ua.Curve() != ecdh.P256() || len(authSecret) != authSize {
		return nil, fmt.Errorf("%w: bad subscription keys", ErrDecrypt)
	}
	salt := body[:saltSize]
	rs := binary.BigEndian.Uint32(body[saltSize:])
	idlen := int(body[saltSize+4])
	if idlen != keySize {
		return nil, fmt.Errorf("%w: key id is %d bytes, want %d", ErrDecrypt, idlen, keySize)
	}
	ct := body[headerSize:]
	if rs < tagSize+2 || uint32(len(ct)) > rs {
		return nil, fmt.Errorf("%w: record size %d does not fit the %d-byte record", ErrDecrypt, rs, len(ct))
	}
	as, err := ecdh.P256().NewPublicKey(body[saltSize+5 : headerSize])
	if err != nil {
		return nil, fmt.Errorf("%w: sender key is not a P-256 point", ErrDecrypt)
	}
	aead, nonce, err := deriveKeys(ua, as, ua.PublicKey().Bytes(), as.Bytes(), authSecret, salt)
	if err != nil {
		return nil, err
	}
	rec, err := aead.Open(nil, nonce, ct, nil)
	if err != nil {
		return nil, ErrDecrypt
	}
	// Strip padding: zeros after the delimiter, which must be 2 (last record).
	i := len(rec) - 1
	for i >= 0 && rec[i] == 0 {
		i--
	}
	if i < 0 || rec[i] != 2 {
		return nil, fmt.Errorf("%w: bad record delimiter", ErrDecrypt)
	}
	return rec[:i], nil
}

// deriveKeys implements RFC 8291 section 3.4 and RFC 8188 section 2.2.
func deriveKeys(priv *ecdh.PrivateKey, peer *ecdh.PublicKey, uaPub, asPub, authSecret, salt []byte) (cipher.AEAD, []byte, error) {
	ecdhSecret, err := priv.ECDH(peer)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: key agreement failed", ErrDecrypt)
	}
	info := make([]byte, 0, 14+2*keySize)
	info = append(info, "WebPush: info\x00"...)
	info = append(info, uaPub...)
	info = append(info, asPub...)
	prkKey, err := hkdf.Extract(sha256.New, ecdhSecret, authSecret)
	if err != nil {
		return nil, nil, err
	}
	ikm, err := hkdf.Expand(sha256.New, prkKey, string(info), 32)
	if err != nil {
		return nil, nil, err
	}
	prk, err := hkdf.Extract(sha256.New, ikm, salt)
	if err != nil {
		return nil, nil, err
	}
	cek, err := hkdf.Expand(sha256.New, prk, "Content-Encoding: aes128gcm\x00", 16)
	if err != nil {
		return nil, nil, err
	}
	nonce, err := hkdf.Expand(sha256.New, prk, "Content-Encoding: nonce\x00", 12)
	if err != nil {
		return nil, nil, err
	}
	block, err := aes.NewCipher(cek)
	if err != nil {
		return nil, nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, nil, err
	}
	return aead, nonce, nil // record 0: the nonce is used as derived
}
