// Package pairing is the hub pairing protocol: how a new hub and a member
// of a household, who share nothing but a code the member reads off the
// hub's screen, exchange what each needs through the cloud — which relays
// their messages but must not be able to pair the hub to another household,
// nor a foreign hub to this household.
//
// It owns the pairing code ([Code]), the three messages and their
// authentication. It does no I/O, keeps no state beyond one [Hub] or
// [Member] object per attempt, and commits nothing: the caller acts on the
// result only as described under "Committing" below.
//
// It must never log the code or the MAC key (only the rendezvous ID and the
// MAC tags leave the device; [Code.String] is for the hub's screen), never
// trust the relay for anything, and never return a result from a message
// whose MAC did not verify.
//
// # Outcome
//
// The hub learns the household's ID, the hash of the household chain's
// genesis link (which it then pins) and the household's current epoch
// public key as a recipient string ("vigr1…"). The member learns the hub's
// Ed25519 device public key and name, and then adds the hub to the
// household chain.
//
// # The code
//
// [NewCode] draws 80 random bits and shows them as 16 Crockford base32
// characters plus 2 check characters, in three groups of six:
// "6ZNFCV-XW6Z9G-K5TWXR". The check characters form a distance-3 code over
// GF(32), so [ParseCode] rejects every mistyping of one or two characters,
// transpositions included, before any network traffic. Two keys are derived
// from the 80 bits with HKDF-SHA256 under different labels:
//
//	rendezvous ID = hex(HKDF(code, info "vigil/pairing/v1/rendezvous", 16 bytes))
//	K             =      HKDF(code, info "vigil/pairing/v1/mac-key",    32 bytes)
//
// The cloud sees only the rendezvous ID, under which it relays the
// messages; being one-way and derived under another label it gives nothing
// usable towards K.
//
// # Messages
//
// Every message is version byte 1, a type byte, fixed-size or one-byte
// length-prefixed fields, then a 32-byte HMAC-SHA256 tag. Parsing is strict:
// an unknown version or type, a short or oversize field, a hub name that is
// not printable UTF-8, a household ID outside [A-Za-z0-9._:-], or bytes left
// over are errors wrapping [ErrMalformed]. Since the encoding is canonical,
// the MACs are computed over the exact message bytes.
//
//	msg1 hub->member:  01 01 | sign_pub[32] | len | name | hub_nonce[32] | mac1
//	msg2 member->hub:  01 02 | len | household_id | genesis_hash[32] | epoch_pub[32] | member_nonce[32] | mac2
//	msg3 hub->member:  01 03 | mac3
//
//	mac1 = HMAC-SHA256(K, "vigil/pairing/v1/hub-hello\x00"    || msg1 without mac1)
//	mac2 = HMAC-SHA256(K, "vigil/pairing/v1/member-offer\x00" || msg1 || msg2 without mac2)
//	mac3 = HMAC-SHA256(K, "vigil/pairing/v1/hub-confirm\x00"  || msg1 || msg2 || 01 03)
//
// epoch_pub is the raw 32-byte X25519 key of the recipient string. Nonces are
// 32 random bytes. Tags are compared in constant time. Any MAC failure is
// [ErrAuth]; the receiving object is then spent, so a relay gets exactly one
// online guess per code, of probability 2^-80.
//
// # Why a relay cannot pair anything else
//
// Every tag needs K, and K needs the code. Changing, swapping, reflecting or
// replaying a message breaks a tag: mac2 covers msg1 and so the hub's fresh
// nonce (an old msg2 fails in a new pairing even with the same code); mac3
// covers msg2 and so the member's fresh nonce (an old msg3 fails against a
// new member; an old msg1 passes [Member.Receive], since it is the real
// hub's, but the attempt then fails at the hub and at [Member.Confirm]);
// labels and type bytes differ per message (no tag is valid in another
// place). Dropping a message stalls the pairing until the code expires.
//
// This is not a PAKE: a relay that keeps msg1 or the rendezvous ID can test
// guesses of the code offline. With 80 bits that is about 2^80 HMACs, and a
// guess is of use only while the attempt is live, within [CodeLifetime].
// The messages are authenticated, not encrypted: they carry only public
// values the cloud holds anyway (public keys, a household ID, a chain hash).
//
// # Committing
//
// No side commits anything until the end, so there is no half-paired state:
//
//   - The member adds the hub's key to the household chain only after
//     [Member.Confirm] succeeds, that is after the hub has proved it saw the
//     member's offer unaltered.
//   - The hub must not persist anything after [Hub.Receive]: it sends msg3,
//     then fetches the household's chain, checks that its genesis link hashes
//     to the offered genesis hash, verifies the chain, and waits until its
//     own device key appears in it as a hub, in the offered household. Only
//     then does it pin the genesis hash and store the household ID; from
//     then on the verified chain, not the offer, is the authority for the
//     epoch key (a new epoch may have started meanwhile). If msg3 is
//     dropped, or the member gives up, the hub's device never appears and
//     the hub forgets everything when the code expires.
//
// # Use
//
// Hub: code, _ := NewCode(); h, msg1, _ := NewHub(code, pub, name); post msg1
// under code.RendezvousID() and show code.String(); wait for msg2;
// offer, msg3, err := h.Receive(msg2); post msg3; then commit as above.
//
// Member: code, err := ParseCode(typed); m, _ := NewMember(code, offer);
// fetch msg1 by code.RendezvousID(); hub, msg2, err := m.Receive(msg1);
// post msg2; wait for msg3; if m.Confirm(msg3) == nil, add hub to the chain.
package pairing

import (
	"bytes"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"vigil/internal/envelope"
)

// CodeLifetime is how long a pairing code may be used. The hub and the
// member abandon their [Hub] and [Member] after it, and the cloud drops the
// rendezvous; it bounds the time an offline guess of the code could be of
// use.
const CodeLifetime = 10 * time.Minute

// ErrAuth is wrapped by every error about a message whose MAC does not
// verify: the other side used another code, or the relay altered, swapped
// or replayed a message.
var ErrAuth = errors.New("pairing failed: the code does not match or a message was altered")

// ErrUsed is returned when a [Hub] or [Member] is used again after it
// received its message, whether that succeeded or failed. Every pairing
// attempt starts afresh with a new code.
var ErrUsed = errors.New("pairing: this pairing attempt is over; start pairing again on the hub")

const (
	labelHubHello   = "vigil/pairing/v1/hub-hello\x00"
	labelOffer      = "vigil/pairing/v1/member-offer\x00"
	labelHubConfirm = "vigil/pairing/v1/hub-confirm\x00"
)

// HubHello is what the member learns about the hub.
type HubHello struct {
	SignPub ed25519.PublicKey // the hub's device signing key
	Name    string            // printable UTF-8, 1 to MaxNameLen bytes
}

// HouseholdOffer is what the hub learns about the household.
type HouseholdOffer struct {
	HouseholdID    string // 1 to MaxHouseholdIDLen bytes of [A-Za-z0-9._:-]
	GenesisHash    []byte // 32-byte hash of the chain's genesis link
	EpochRecipient string // current epoch public key, "vigr1…"
}

// Hub is the hub's side of one pairing attempt. It is safe for concurrent
// use, and single-use.
type Hub struct {
	mu   sync.Mutex
	key  []byte // K; cleared once used
	msg1 []byte
}

// NewHub starts a pairing attempt with code for the hub's device key and
// name. It returns msg1, for the relay.
func NewHub(code Code, signPub ed25519.PublicKey, name string) (h *Hub, msg1 []byte, err error) {
	return newHub(code, signPub, name, rand.Reader)
}

func newHub(code Code, signPub ed25519.PublicKey, name string, rnd io.Reader) (*Hub, []byte, error) {
	if !code.ok {
		return nil, nil, errors.New("pairing: NewHub: the code is the zero Code; make one with NewCode")
	}
	if len(signPub) != ed25519.PublicKeySize {
		return nil, nil, fmt.Errorf("pairing: NewHub: hub public key is %d bytes, want %d", len(signPub), ed25519.PublicKeySize)
	}
	if err := checkName(name); err != nil {
		return nil, nil, fmt.Errorf("pairing: NewHub: %w (hint: choose a hub name of printable characters)", err)
	}
	m := &helloMsg{signPub: bytes.Clone(signPub), name: name, nonce: make([]byte, nonceSize)}
	if _, err := io.ReadFull(rnd, m.nonce); err != nil {
		return nil, nil, fmt.Errorf("pairing: NewHub: generating a nonce: %w", err)
	}
	h := &Hub{key: code.macKey()}
	m.mac = tag(h.key, labelHubHello, m.body())
	h.msg1 = m.marshal()
	return h, bytes.Clone(h.msg1), nil
}

// Receive verifies the member's msg2 and returns the household's offer and
// msg3, the hub's confirmation, for the relay. An altered msg2, or one made
// with another code or for another attempt, gives an error wrapping
// [ErrAuth]; one that does not parse, [ErrMalformed]. Either way, and after
// success, h is spent: a second call returns [ErrUsed].
//
// The caller must not persist the offer yet; see the package documentation
// ("Committing").
func (h *Hub) Receive(msg2 []byte) (offer HouseholdOffer, msg3 []byte, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.key == nil {
		return HouseholdOffer{}, nil, ErrUsed
	}
	key := h.key
	defer func() { clear(key); h.key = nil }()

	m, err := parseMsg2(msg2)
	if err != nil {
		return HouseholdOffer{}, nil, fmt.Errorf("%w (hint: start pairing again on the hub)", err)
	}
	want := tag(key, labelOffer, h.msg1, m.body())
	if !hmac.Equal(m.mac, want) {
		return HouseholdOffer{}, nil, fmt.Errorf("%w (hint: the code was mistyped or has expired, or the cloud altered a message; start pairing again on the hub)", ErrAuth)
	}
	rcpt, err := envelope.NewX25519Recipient(m.epochPub)
	if err != nil {
		// Unreachable: parseMsg2 checked it.
		return HouseholdOffer{}, nil, fmt.Errorf("%w: epoch public key: %v", ErrMalformed, err)
	}
	c := &confirmMsg{}
	c.mac = tag(key, labelHubConfirm, h.msg1, msg2, c.body())
	offer = HouseholdOffer{
		HouseholdID:    m.householdID,
		GenesisHash:    m.genesisHash,
		EpochRecipient: rcpt.String(),
	}
	return offer, c.marshal(), nil
}

// Member is the member's side of one pairing attempt. It is safe for
// concurrent use, and single-use.
type Member struct {
	mu    sync.Mutex
	key   []byte   // K; cleared once spent
	offer offerMsg // fields only; nonce and MAC set by Receive
	state memberState
	sent  []byte // msg1 || msg2, once Receive succeeded
}

type memberState int

const (
	memberNew memberState = iota
	memberSent
	memberDone
)

// NewMember starts a pairing attempt with the code the member typed, to
// offer the household described by offer. It checks the offer, so that a
// bad one fails here rather than on the hub.
func NewMember(code Code, offer HouseholdOffer) (*Member, error) {
	if !code.ok {
		return nil, errors.New("pairing: NewMember: the code is the zero Code; parse it with ParseCode")
	}
	if err := checkHouseholdID(offer.HouseholdID); err != nil {
		return nil, fmt.Errorf("pairing: NewMember: %w", err)
	}
	if len(offer.GenesisHash) != hashSize {
		return nil, fmt.Errorf("pairing: NewMember: genesis hash is %d bytes, want %d", len(offer.GenesisHash), hashSize)
	}
	rcpt, err := envelope.ParseX25519Recipient(offer.EpochRecipient)
	if err != nil {
		return nil, fmt.Errorf("pairing: NewMember: epoch recipient: %w", err)
	}
	return &Member{
		key: code.macKey(),
		offer: offerMsg{
			householdID: offer.HouseholdID,
			genesisHash: bytes.Clone(offer.GenesisHash),
			epochPub:    rcpt.Bytes(),
		},
	}, nil
}

// Receive verifies the hub's msg1 and returns what it says about the hub,
// and msg2, the household's offer, for the relay. An altered msg1, or one
// made with another code, gives an error wrapping [ErrAuth]; one that does
// not parse, [ErrMalformed]; after either, m is spent.
//
// The hub is not paired yet: the caller must not add it to the household
// chain before [Member.Confirm] succeeds.
func (m *Member) Receive(msg1 []byte) (hub HubHello, msg2 []byte, err error) {
	return m.receive(msg1, rand.Reader)
}

func (m *Member) receive(msg1 []byte, rnd io.Reader) (hub HubHello, msg2 []byte, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.state != memberNew {
		return HubHello{}, nil, ErrUsed
	}
	m.state = memberDone // until it succeeds
	defer func() {
		if err != nil {
			m.spend()
		}
	}()

	h, err := parseMsg1(msg1)
	if err != nil {
		return HubHello{}, nil, fmt.Errorf("%w (hint: check that the hub runs the same vigil version, and start pairing again on the hub)", err)
	}
	if !hmac.Equal(h.mac, tag(m.key, labelHubHello, h.body())) {
		return HubHello{}, nil, fmt.Errorf("%w (hint: check the code on the hub's screen; if it matches, start pairing again on the hub: the cloud may have altered a message)", ErrAuth)
	}
	o := m.offer
	o.nonce = make([]byte, nonceSize)
	if _, err := io.ReadFull(rnd, o.nonce); err != nil {
		return HubHello{}, nil, fmt.Errorf("pairing: generating a nonce: %w", err)
	}
	o.mac = tag(m.key, labelOffer, msg1, o.body())
	msg2 = o.marshal()
	m.sent = append(bytes.Clone(msg1), msg2...)
	m.state = memberSent
	return HubHello{SignPub: h.signPub, Name: h.name}, bytes.Clone(msg2), nil
}

// Confirm verifies the hub's msg3. Only when it returns nil may the member
// add the hub to the household chain. A msg3 that fails gives an error
// wrapping [ErrAuth] or [ErrMalformed], and the hub must not be added. m is
// spent either way.
func (m *Member) Confirm(msg3 []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.state != memberSent {
		if m.state == memberNew {
			return errors.New("pairing: Confirm called before Receive")
		}
		return ErrUsed
	}
	defer m.spend()
	c, err := parseMsg3(msg3)
	if err != nil {
		return fmt.Errorf("%w (hint: start pairing again on the hub; the hub was not added)", err)
	}
	if !hmac.Equal(c.mac, tag(m.key, labelHubConfirm, m.sent, c.body())) {
		return fmt.Errorf("%w (hint: the hub's confirmation did not match; the hub was not added: start pairing again on the hub)", ErrAuth)
	}
	return nil
}

func (m *Member) spend() {
	clear(m.key)
	m.key = nil
	m.state = memberDone
}

// tag returns HMAC-SHA256(key, label || parts...).
func tag(key []byte, label string, parts ...[]byte) []byte {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(label))
	for _, p := range parts {
		mac.Write(p)
	}
	return mac.Sum(nil)
}
