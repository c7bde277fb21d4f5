package keydir

// The household membership chain (guarantee G4).
//
// A household's chain is a list of signed links. Link 0, the genesis, names
// the household, its first admin device and its recovery key, and starts
// epoch 1. Every later link adds a device, removes one, changes a device's
// role or starts a new epoch, and is valid only if it is signed by a device
// that is an admin in the state before it. Hubs and clients pin the hash of
// the genesis and replay the chain with [Verify] and [State.Apply]; the state
// they get says which devices belong to the household, which epoch key hubs
// seal to ([State.EpochRecipient]) and which hubs' segments to trust
// ([State.TrustedHubs]).
//
// The chain owns: the link format and its one canonical encoding; the rules
// of who may change what; the household epoch keys (an X25519 key pair per
// epoch, whose private half is wrapped with the envelope package's HPKE
// stanzas to every admin and member device and to the recovery key); the
// device key files; and the recovery phrase.
//
// What the chain must never do:
//   - hold a private key in a link other than HPKE-wrapped to a device's
//     or the recovery key's X25519 public key; hubs get no private key at
//     all (G9);
//   - trust the cloud: links come from the cloud, so every link is checked
//     from the pinned genesis on, and nothing in a link is believed before
//     its signature and its signer's admin role are;
//   - log, or put into an error, a private key, a recovery phrase or an
//     unwrapped epoch key.
//
// The package does no I/O for the chain (callers fetch and store links) and
// a State is not safe for concurrent use.

import (
	"bytes"
	"cmp"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"time"
	"unicode"
	"unicode/utf8"

	"vigil/internal/envelope"
)

// Limits enforced by the verifier and the builders.
const (
	// MaxDevices is the largest number of devices (of all roles) in a
	// household at one time.
	MaxDevices = 256
	// MaxEpochs is the largest number of epochs of a household.
	MaxEpochs = 4096
	// MaxNameLen is the longest household or device name, in bytes.
	MaxNameLen = 128
	// MaxLinkSize is the largest encoded link, in bytes.
	MaxLinkSize = 1 << 20
)

// Link format, version 1. All integers are big-endian.
//
//	magic      8  "vigil.hc"
//	version    1  0x01
//	household 16  random household ID
//	seq        8  uint64, < 2^63; 0 for the genesis
//	prev      32  LinkHash of link seq-1; all zero in the genesis
//	time       8  int64 Unix milliseconds (the signer's clock; informational)
//	signer    32  Ed25519 public key of the signing device
//	op         1  1 genesis, 2 add device, 3 remove device, 4 set role, 5 new epoch
//	body          depends on op, see below
//	signature 64  Ed25519 over sigContext || every byte above
//
// Bodies:
//
//	genesis:    name, device (role admin), recovery X25519 public key (32), epoch
//	add:        device, count uint16, count stanzas (epochs 1..count, in order)
//	remove:     target Ed25519 public key (32), epoch
//	set role:   target Ed25519 public key (32), role (1 byte)
//	new epoch:  epoch
//
//	name:     length uint8 (1..MaxNameLen), UTF-8 without control characters
//	          or surrounding spaces
//	device:   role uint8 (1 admin, 2 member, 3 hub), name, Ed25519 public
//	          key (32), and for admins and members an X25519 public key (32)
//	epoch:    number uint32, X25519 public key (32), recovery stanza,
//	          count uint16, count × (device Ed25519 public key (32), stanza),
//	          sorted by public key, strictly increasing
//	stanza:   type (1, always 1), hint (4), enc (32), body (48): an
//	          envelope.Stanza wrapping the 32-byte epoch private key
//
// Device IDs are not stored: verifiers derive them from the Ed25519 keys
// with [DeviceID]. Every other byte string is rejected; in particular a link
// is accepted only if it re-encodes to exactly its own bytes.
const (
	linkMagic     = "vigil.hc"
	linkVersion   = 1
	householdSize = 16
	hashSize      = sha256.Size
	linkFixedSize = len(linkMagic) + 1 + householdSize + 8 + hashSize + 8 + ed25519.PublicKeySize + 1

	sigContext  = "vigil/keydir/chain/v1/signature\x00"
	hashContext = "vigil/keydir/chain/v1/link\x00"
)

const (
	opGenesis  = 1
	opAdd      = 2
	opRemove   = 3
	opSetRole  = 4
	opNewEpoch = 5
)

var opNames = [...]string{opGenesis: "genesis", opAdd: "add-device", opRemove: "remove-device", opSetRole: "set-role", opNewEpoch: "new-epoch"}

func opName(op byte) string {
	if int(op) < len(opNames) && opNames[op] != "" {
		return opNames[op]
	}
	return fmt.Sprintf("op-%d", op)
}

var roleCodes = map[string]byte{RoleAdmin: 1, RoleMember: 2, RoleHub: 3}

func roleName(c byte) (string, bool) {
	for r, rc := range roleCodes {
		if rc == c {
			return r, true
		}
	}
	return "", false
}

// ErrMalformedLink is wrapped by errors for a link that is not a canonical
// encoding of a link: wrong magic, truncated, trailing bytes, a field out of
// range.
var ErrMalformedLink = errors.New("malformed chain link")

// ErrUnauthorized is wrapped by errors for a link whose signer is not an
// admin device of the household in the state before the link.
var ErrUnauthorized = errors.New("not signed by an admin device of the household")

// ErrBadSignature is wrapped by errors for a link whose signature does not
// verify: the link was changed after it was signed.
var ErrBadSignature = errors.New("invalid link signature")

// ErrGenesisMismatch is returned (in a [LinkError] for link 0) when a chain
// does not start at the pinned genesis: it is another household's chain, or
// a substitute made by whoever served it.
var ErrGenesisMismatch = errors.New("chain does not start at the pinned genesis")

// ErrNotMember is returned by [State.EpochIdentities] for a device that is
// not, or no longer, an admin or member device of the household.
var ErrNotMember = errors.New("not an admin or member device of the household")

// A LinkError reports a chain link that failed verification.
type LinkError struct {
	Seq int64 // the link's position in the chain
	Err error
}

func (e *LinkError) Error() string { return fmt.Sprintf("keydir: chain link %d: %v", e.Seq, e.Err) }

func (e *LinkError) Unwrap() error { return e.Err }

// LinkHash returns the hash that the next link's prev field holds:
// SHA-256("vigil/keydir/chain/v1/link\x00" || link).
func LinkHash(link []byte) []byte {
	h := sha256.New()
	h.Write([]byte(hashContext))
	h.Write(link)
	return h.Sum(nil)
}

// GenesisHash returns the [LinkHash] of link 0, the value hubs and clients
// pin for a household.
func GenesisHash(link0 []byte) []byte { return LinkHash(link0) }

// State is the verified state of a household after some prefix of its
// chain. Only [Verify], [NewHousehold] and [State.Apply] make valid states;
// treat the exported fields as read-only.
type State struct {
	HouseholdID string
	Name        string
	GenesisHash []byte               // hash of link 0: what hubs and clients pin
	Head        []byte               // hash of the last link
	Seq         int64                // seq of the last link (0 after genesis)
	Devices     map[string]DeviceKey // current devices by ID (admins, members, hubs)
	Epoch       int                  // current epoch number (1 after genesis)

	household [householdSize]byte
	recovery  []byte                   // X25519 public key of the recovery phrase
	epochs    []*epochInfo             // epochs[n-1] is epoch n
	removed   map[string]removedDevice // devices removed from the chain, by ID
}

type epochInfo struct {
	pub          []byte
	rcpt         *envelope.X25519Recipient
	seq          int64              // the link that started the epoch
	recoveryWrap wrapRef            // the epoch key wrapped to the recovery key
	wraps        map[string]wrapRef // the epoch key wrapped to each device, by device ID
}

type wrapRef struct {
	stanza *envelope.Stanza
	seq    int64 // the link that holds it
}

type removedDevice struct {
	key DeviceKey
	seq int64
}

// Clone returns a deep copy of s.
func (s *State) Clone() *State {
	c := *s
	c.GenesisHash = bytes.Clone(s.GenesisHash)
	c.Head = bytes.Clone(s.Head)
	c.recovery = bytes.Clone(s.recovery)
	c.Devices = make(map[string]DeviceKey, len(s.Devices))
	for id, d := range s.Devices {
		c.Devices[id] = d.clone()
	}
	c.removed = make(map[string]removedDevice, len(s.removed))
	for id, r := range s.removed {
		c.removed[id] = removedDevice{r.key.clone(), r.seq}
	}
	c.epochs = make([]*epochInfo, len(s.epochs))
	for i, e := range s.epochs {
		ce := *e // stanzas and the recipient are never modified: share them
		ce.wraps = make(map[string]wrapRef, len(e.wraps))
		for id, w := range e.wraps {
			ce.wraps[id] = w
		}
		c.epochs[i] = &ce
	}
	return &c
}

// EpochRecipient returns the recipient of the current epoch key: hubs seal
// every object to it, with envelope Header.Epoch set to s.Epoch.
func (s *State) EpochRecipient() *envelope.X25519Recipient {
	if len(s.epochs) == 0 {
		return nil
	}
	return s.epochs[len(s.epochs)-1].rcpt
}

// EpochRecipientFor returns the recipient of epoch n (1..s.Epoch).
func (s *State) EpochRecipientFor(n int) (*envelope.X25519Recipient, error) {
	if n < 1 || n > len(s.epochs) {
		return nil, fmt.Errorf("keydir: household %s has no epoch %d (epochs 1..%d)", s.HouseholdID, n, len(s.epochs))
	}
	return s.epochs[n-1].rcpt, nil
}

// Hubs returns the hubs of the household, sorted by ID.
func (s *State) Hubs() []DeviceKey { return s.devicesWithRole(RoleHub) }

// FormerHubs returns the hubs that were removed from the household, sorted
// by ID. Their segments from before the removal are genuine; a client may
// choose to accept them, marked as coming from a removed hub.
func (s *State) FormerHubs() []DeviceKey {
	var hubs []DeviceKey
	for _, r := range s.removed {
		if r.key.Role == RoleHub {
			hubs = append(hubs, r.key.clone())
		}
	}
	slices.SortFunc(hubs, func(a, b DeviceKey) int { return cmp.Compare(a.ID, b.ID) })
	return hubs
}

// TrustedHubs returns the signing keys of the household's current hubs:
// the producers whose sealed objects clients accept.
func (s *State) TrustedHubs() envelope.TrustedKeys {
	var keys envelope.TrustedKeys
	for _, h := range s.Hubs() {
		keys = append(keys, h.SignPub)
	}
	return keys
}

func (s *State) devicesWithRole(role string) []DeviceKey {
	var ds []DeviceKey
	for _, d := range s.Devices {
		if d.Role == role {
			ds = append(ds, d.clone())
		}
	}
	slices.SortFunc(ds, func(a, b DeviceKey) int { return cmp.Compare(a.ID, b.ID) })
	return ds
}

func (s *State) admins() int {
	n := 0
	for _, d := range s.Devices {
		if d.Role == RoleAdmin {
			n++
		}
	}
	return n
}

// holders returns the devices that must receive a new epoch key: every
// admin and member device except the one with ID except.
func (s *State) holders(except string) map[string]DeviceKey {
	m := map[string]DeviceKey{}
	for id, d := range s.Devices {
		if d.holdsEpochKeys() && id != except {
			m[id] = d
		}
	}
	return m
}

// describe names device id for an error message.
func (s *State) describe(id string) string {
	if d, ok := s.Devices[id]; ok {
		return fmt.Sprintf("%s %s (%q)", d.Role, id, d.Name)
	}
	if r, ok := s.removed[id]; ok {
		return fmt.Sprintf("%s %s (%q), removed in link %d", r.key.Role, id, r.key.Name, r.seq)
	}
	return fmt.Sprintf("%s, a key that is not a device of this household", id)
}

// EpochIdentities returns the keys of every epoch of the household, newest
// first, for [envelope.Open], unwrapped with the X25519 key of k.
//
// Only a current admin or member device gets keys: for a removed device,
// a hub or a stranger the error wraps [ErrNotMember]. (A removed device may
// still hold keys of the epochs before its removal that it unwrapped
// earlier; that is why removing a device starts a new epoch.) Every
// unwrapped key is checked against the epoch's public key.
func (s *State) EpochIdentities(k *DeviceKeys) ([]envelope.Identity, error) {
	keys, err := s.epochKeys(k)
	if err != nil {
		return nil, err
	}
	ids := make([]envelope.Identity, 0, len(keys))
	for i := len(keys) - 1; i >= 0; i-- {
		ids = append(ids, keys[i])
	}
	return ids, nil
}

// epochKeys returns the identities of epochs 1..s.Epoch, oldest first.
func (s *State) epochKeys(k *DeviceKeys) ([]*envelope.X25519Identity, error) {
	if k == nil || len(k.Sign) != ed25519.PrivateKeySize {
		return nil, errors.New("keydir: no device signing key")
	}
	id := k.ID()
	d, ok := s.Devices[id]
	switch {
	case !ok:
		if r, ok := s.removed[id]; ok {
			return nil, fmt.Errorf("keydir: %w: device %s was removed in link %d and gets no keys of later epochs", ErrNotMember, id, r.seq)
		}
		return nil, fmt.Errorf("keydir: %w: device %s is not in household %s", ErrNotMember, id, s.HouseholdID)
	case !d.holdsEpochKeys():
		return nil, fmt.Errorf("keydir: %w: device %s is a %s, and %ss never hold epoch keys", ErrNotMember, id, d.Role, d.Role)
	case k.Box == nil:
		return nil, fmt.Errorf("keydir: the keys of device %s have no X25519 identity", id)
	case !bytes.Equal(k.Box.Recipient().Bytes(), d.BoxPub):
		return nil, fmt.Errorf("keydir: the X25519 key of these device keys is not the one the chain lists for device %s", id)
	}
	keys := make([]*envelope.X25519Identity, len(s.epochs))
	for i, e := range s.epochs {
		w, ok := e.wraps[id]
		if !ok {
			return nil, fmt.Errorf("keydir: epoch %d has no key for device %s (the state is inconsistent)", i+1, id)
		}
		ident, err := e.unwrap(k.Box, w, i+1)
		if err != nil {
			return nil, err
		}
		keys[i] = ident
	}
	return keys, nil
}

func (e *epochInfo) unwrap(box *envelope.X25519Identity, w wrapRef, n int) (*envelope.X25519Identity, error) {
	key, err := box.Unwrap([]*envelope.Stanza{w.stanza})
	if err != nil {
		return nil, fmt.Errorf("keydir: the key of epoch %d wrapped in link %d does not decrypt with this key: %w", n, w.seq, err)
	}
	defer clear(key)
	id, err := envelope.NewX25519Identity(key)
	if err != nil || !bytes.Equal(id.Recipient().Bytes(), e.pub) {
		return nil, fmt.Errorf("keydir: the key of epoch %d wrapped in link %d does not match the epoch's public key (its signer wrapped a wrong key)", n, w.seq)
	}
	return id, nil
}

// Verify checks a whole chain against a pinned genesis hash and returns the
// state after its last link. links[i] must be link seq i, exactly the bytes
// that were signed and stored. An error about a link is a [LinkError]
// naming the link's seq and what is wrong with it.
//
// Any prefix of a valid chain is valid: Verify cannot tell a chain the cloud
// cut short from a chain that has not grown yet. A device that verified the
// chain up to some seq must keep (seq, head) and reject a later chain that
// is shorter or whose link at seq has another [LinkHash]; applying new links
// with [State.Apply] to the stored state does both.
func Verify(links [][]byte, genesisHash []byte) (*State, error) {
	if len(genesisHash) != hashSize {
		return nil, fmt.Errorf("keydir: pinned genesis hash is %d bytes, want %d", len(genesisHash), hashSize)
	}
	if len(links) == 0 {
		return nil, errors.New("keydir: empty chain: there is no genesis link")
	}
	if got := GenesisHash(links[0]); !bytes.Equal(got, genesisHash) {
		return nil, &LinkError{0, fmt.Errorf("%w: its hash is %x, the pinned hash is %x (hint: this is another household's chain, or was substituted by the server)", ErrGenesisMismatch, got, genesisHash)}
	}
	s, err := genesisState(links[0])
	if err != nil {
		return nil, &LinkError{0, err}
	}
	for _, l := range links[1:] {
		if err := s.Apply(l); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Apply verifies link as the next link of the chain (seq s.Seq+1, prev
// s.Head, signed by a device that is an admin in s) and applies it. On
// error, which is a [LinkError], s is unchanged.
func (s *State) Apply(link []byte) error {
	seq := s.Seq + 1
	if len(s.GenesisHash) == 0 {
		return &LinkError{seq, errors.New("the state has no genesis; start from Verify or NewHousehold")}
	}
	l, err := parseLink(link)
	if err != nil {
		return &LinkError{seq, err}
	}
	if err := s.check(l); err != nil {
		return &LinkError{seq, err}
	}
	s.commit(l, LinkHash(link))
	return nil
}

// genesisState verifies link 0 and returns the state it makes.
func genesisState(raw []byte) (*State, error) {
	l, err := parseLink(raw)
	if err != nil {
		return nil, err
	}
	if l.op != opGenesis {
		return nil, fmt.Errorf("%w: it is a %s link, not a genesis", ErrMalformedLink, opName(l.op))
	}
	if l.seq != 0 {
		return nil, fmt.Errorf("genesis has seq %d, want 0", l.seq)
	}
	if l.prev != [hashSize]byte{} {
		return nil, errors.New("genesis has a prev hash; a genesis links to nothing")
	}
	if l.device.Role != RoleAdmin {
		return nil, fmt.Errorf("the genesis device %s is a %s; the first device must be an admin", l.device.ID, l.device.Role)
	}
	if !bytes.Equal(l.signer, l.device.SignPub) {
		return nil, fmt.Errorf("%w: the genesis is signed by %s, not self-signed by its admin device %s", ErrUnauthorized, DeviceID(l.signer), l.device.ID)
	}
	if !l.verifySignature() {
		return nil, fmt.Errorf("%w by %s", ErrBadSignature, l.device.ID)
	}
	if bytes.Equal(l.recovery, l.device.BoxPub) {
		return nil, errors.New("the recovery key is the admin device's X25519 key")
	}
	s := &State{
		HouseholdID: householdID(l.household),
		Name:        l.name,
		Devices:     map[string]DeviceKey{l.device.ID: l.device},
		household:   l.household,
		recovery:    l.recovery,
		removed:     map[string]removedDevice{},
	}
	if err := s.checkEpoch(l.epoch, s.holders("")); err != nil {
		return nil, err
	}
	s.addEpoch(l.epoch, 0)
	s.GenesisHash = LinkHash(raw)
	s.Head = bytes.Clone(s.GenesisHash)
	return s, nil
}

func householdID(h [householdSize]byte) string { return "h" + idEncoding.EncodeToString(h[:]) }

// authorize checks that signer is an admin device of s.
func (s *State) authorize(signer ed25519.PublicKey) error {
	id := DeviceID(signer)
	if d, ok := s.Devices[id]; ok && d.Role == RoleAdmin && bytes.Equal(d.SignPub, signer) {
		return nil
	}
	return fmt.Errorf("%w: the signer is %s", ErrUnauthorized, s.describe(id))
}

// check validates l as the next link of s without changing s.
func (s *State) check(l *chainLink) error {
	if l.op == opGenesis {
		return fmt.Errorf("a genesis link at seq %d; a chain has one genesis, at seq 0", s.Seq+1)
	}
	if l.household != s.household {
		return fmt.Errorf("the link belongs to household %s, not %s (spliced from another chain)", householdID(l.household), s.HouseholdID)
	}
	if l.seq != s.Seq+1 {
		return fmt.Errorf("the link has seq %d, want %d (links dropped, repeated or reordered)", l.seq, s.Seq+1)
	}
	if !bytes.Equal(l.prev[:], s.Head) {
		return fmt.Errorf("prev hash does not match link %d (links dropped, reordered or from another chain)", s.Seq)
	}
	if err := s.authorize(l.signer); err != nil {
		return err
	}
	if !l.verifySignature() {
		return fmt.Errorf("%w by %s", ErrBadSignature, DeviceID(l.signer))
	}
	switch l.op {
	case opAdd:
		return s.checkAdd(l)
	case opRemove:
		id := DeviceID(l.target)
		d, ok := s.Devices[id]
		if !ok {
			return fmt.Errorf("removes %s", s.describe(id))
		}
		if d.Role == RoleAdmin && s.admins() == 1 {
			return fmt.Errorf("removes %s, the last admin; a household keeps at least one admin (promote another device first)", s.describe(id))
		}
		return s.checkEpoch(l.epoch, s.holders(id))
	case opSetRole:
		id := DeviceID(l.target)
		d, ok := s.Devices[id]
		switch {
		case !ok:
			return fmt.Errorf("changes the role of %s", s.describe(id))
		case d.Role == RoleHub:
			return fmt.Errorf("changes the role of %s; a hub cannot become an admin or member", s.describe(id))
		case l.role == RoleHub:
			return fmt.Errorf("makes %s a hub; only admins and members change roles, between admin and member", s.describe(id))
		case l.role == d.Role:
			return fmt.Errorf("sets the role of %s to %s, which it already has", s.describe(id), l.role)
		case d.Role == RoleAdmin && s.admins() == 1:
			return fmt.Errorf("demotes %s, the last admin; a household keeps at least one admin (promote another device first)", s.describe(id))
		}
		return nil
	case opNewEpoch:
		return s.checkEpoch(l.epoch, s.holders(""))
	}
	return fmt.Errorf("%w: unknown operation %d", ErrMalformedLink, l.op)
}

func (s *State) checkAdd(l *chainLink) error {
	d := l.device
	if _, ok := s.Devices[d.ID]; ok {
		return fmt.Errorf("adds device %s, which is already in the household as %s", d.ID, s.describe(d.ID))
	}
	if r, ok := s.removed[d.ID]; ok {
		return fmt.Errorf("adds device %s again after it was removed in link %d; a removed device comes back only with new keys", d.ID, r.seq)
	}
	if len(s.Devices) >= MaxDevices {
		return fmt.Errorf("adds a device to a household that already has %d devices, the most allowed", len(s.Devices))
	}
	if d.BoxPub != nil {
		for id, o := range s.Devices {
			if bytes.Equal(o.BoxPub, d.BoxPub) {
				return fmt.Errorf("adds device %s with the X25519 key of %s", d.ID, s.describe(id))
			}
		}
		for id, r := range s.removed {
			if bytes.Equal(r.key.BoxPub, d.BoxPub) {
				return fmt.Errorf("adds device %s with the X25519 key of %s", d.ID, s.describe(id))
			}
		}
		if bytes.Equal(d.BoxPub, s.recovery) {
			return fmt.Errorf("adds device %s with the household's recovery key as its X25519 key", d.ID)
		}
	}
	if !d.holdsEpochKeys() {
		if len(l.wraps) != 0 {
			return fmt.Errorf("adds hub %s with %d wrapped epoch keys; hubs never receive epoch keys", d.ID, len(l.wraps))
		}
		return nil
	}
	if len(l.wraps) != s.Epoch {
		return fmt.Errorf("adds %s %s with %d wrapped epoch keys, want one for each of the %d epochs", d.Role, d.ID, len(l.wraps), s.Epoch)
	}
	h := hint(d.BoxPub)
	for i, w := range l.wraps {
		if w.Hint != h {
			return fmt.Errorf("the key of epoch %d for the new device %s is not wrapped to its X25519 key", i+1, d.ID)
		}
	}
	return nil
}

// checkEpoch validates a new epoch record: it must be the next epoch, with
// a fresh key wrapped to the recovery key and to exactly the devices in
// holders.
func (s *State) checkEpoch(rec *epochRecord, holders map[string]DeviceKey) error {
	if rec.n != s.Epoch+1 {
		return fmt.Errorf("starts epoch %d, want %d", rec.n, s.Epoch+1)
	}
	if rec.n > MaxEpochs {
		return fmt.Errorf("starts epoch %d; a household has at most %d epochs", rec.n, MaxEpochs)
	}
	for i, e := range s.epochs {
		if bytes.Equal(e.pub, rec.pub) {
			return fmt.Errorf("epoch %d reuses the key of epoch %d", rec.n, i+1)
		}
	}
	if bytes.Equal(rec.pub, s.recovery) {
		return fmt.Errorf("epoch %d uses the recovery key as its key", rec.n)
	}
	if rec.recovery.Hint != hint(s.recovery) {
		return fmt.Errorf("the key of epoch %d is not wrapped to the household's recovery key", rec.n)
	}
	seen := map[string]bool{}
	for _, w := range rec.wraps {
		id := DeviceID(w.signPub)
		d, ok := holders[id]
		if !ok {
			why := "which must not receive it"
			if cur, found := s.Devices[id]; found && cur.Role == RoleHub {
				why = "and hubs never receive epoch keys"
			} else if found {
				why = "the device this link removes"
			}
			return fmt.Errorf("the key of epoch %d is wrapped to %s, %s", rec.n, s.describe(id), why)
		}
		if w.stanza.Hint != hint(d.BoxPub) {
			return fmt.Errorf("the key of epoch %d for %s is not wrapped to its X25519 key", rec.n, s.describe(id))
		}
		seen[id] = true
	}
	var missing []string
	for id := range holders {
		if !seen[id] {
			missing = append(missing, id)
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		return fmt.Errorf("the key of epoch %d is not wrapped to %s (every admin and member device must receive it)", rec.n, s.describe(missing[0]))
	}
	return nil
}

// commit applies a checked link.
func (s *State) commit(l *chainLink, hash []byte) {
	switch l.op {
	case opAdd:
		s.Devices[l.device.ID] = l.device
		for i, w := range l.wraps {
			s.epochs[i].wraps[l.device.ID] = wrapRef{w, l.seq}
		}
	case opRemove:
		id := DeviceID(l.target)
		s.removed[id] = removedDevice{s.Devices[id], l.seq}
		delete(s.Devices, id)
		s.addEpoch(l.epoch, l.seq)
	case opSetRole:
		id := DeviceID(l.target)
		d := s.Devices[id]
		d.Role = l.role
		s.Devices[id] = d
	case opNewEpoch:
		s.addEpoch(l.epoch, l.seq)
	}
	s.Seq = l.seq
	s.Head = hash
}

func (s *State) addEpoch(rec *epochRecord, seq int64) {
	rcpt, err := envelope.NewX25519Recipient(rec.pub)
	if err != nil {
		panic("keydir: epoch key was validated by the parser: " + err.Error())
	}
	e := &epochInfo{pub: rec.pub, rcpt: rcpt, seq: seq, recoveryWrap: wrapRef{rec.recovery, seq}, wraps: map[string]wrapRef{}}
	for _, w := range rec.wraps {
		e.wraps[DeviceID(w.signPub)] = wrapRef{w.stanza, seq}
	}
	s.epochs = append(s.epochs, e)
	s.Epoch = rec.n
}

// hint is the envelope stanza hint of an X25519 public key: the first 4
// bytes of its SHA-256.
func hint(pub []byte) [4]byte {
	h := sha256.Sum256(pub)
	return [4]byte(h[:4])
}

// LinkInfo is what a link says, before any check of who signed it.
type LinkInfo struct {
	HouseholdID string
	Seq         int64
	Prev        []byte    // nil for the genesis
	Hash        []byte    // LinkHash of the link
	Time        time.Time // the signer's clock, UTC; not checked
	Signer      string    // device ID of the signing key
	Op          string    // "genesis", "add-device", "remove-device", "set-role" or "new-epoch"
	Device      string    // device added, removed or changed (the admin for a genesis)
	Role        string    // role of the added device, or the new role
	Epoch       int       // epoch started by the link; 0 if none
}

// ParseLink decodes a link and checks its encoding and that its signature
// verifies with the signing key it names. It says nothing about whether
// that key may sign for the household: only [Verify] and [State.Apply] do,
// and nothing should be trusted on ParseLink alone. The cloud may use it to
// reject garbage and to index links.
func ParseLink(b []byte) (*LinkInfo, error) {
	l, err := parseLink(b)
	if err != nil {
		return nil, err
	}
	if !l.verifySignature() {
		return nil, fmt.Errorf("keydir: %w by %s", ErrBadSignature, DeviceID(l.signer))
	}
	info := &LinkInfo{
		HouseholdID: householdID(l.household),
		Seq:         l.seq,
		Hash:        LinkHash(b),
		Time:        time.UnixMilli(l.time).UTC(),
		Signer:      DeviceID(l.signer),
		Op:          opName(l.op),
	}
	if l.seq > 0 {
		info.Prev = bytes.Clone(l.prev[:])
	}
	switch l.op {
	case opGenesis, opAdd:
		info.Device, info.Role = l.device.ID, l.device.Role
	case opRemove, opSetRole:
		info.Device, info.Role = DeviceID(l.target), l.role
	}
	if l.epoch != nil {
		info.Epoch = l.epoch.n
	}
	return info, nil
}

// chainLink is a decoded chain link.
type chainLink struct {
	household [householdSize]byte
	seq       int64
	prev      [hashSize]byte
	time      int64 // Unix milliseconds
	signer    ed25519.PublicKey
	op        byte

	name     string             // genesis
	device   DeviceKey          // genesis, add
	recovery []byte             // genesis: recovery X25519 public key
	epoch    *epochRecord       // genesis, remove, new epoch
	wraps    []*envelope.Stanza // add: the key of epoch i+1 wrapped to the device
	target   ed25519.PublicKey  // remove, set role
	role     string             // set role

	signed []byte // the bytes the signature covers
	sig    []byte
}

type epochRecord struct {
	n        int
	pub      []byte
	recovery *envelope.Stanza
	wraps    []deviceWrap // strictly increasing by signPub
}

type deviceWrap struct {
	signPub ed25519.PublicKey
	stanza  *envelope.Stanza
}

func (l *chainLink) verifySignature() bool {
	return ed25519.Verify(l.signer, append([]byte(sigContext), l.signed...), l.sig)
}

// sign encodes l and signs it with key.
func (l *chainLink) sign(key ed25519.PrivateKey) []byte {
	b := l.appendSigned(nil)
	sig := ed25519.Sign(key, append([]byte(sigContext), b...))
	return append(b, sig...)
}

func (l *chainLink) appendSigned(b []byte) []byte {
	b = append(b, linkMagic...)
	b = append(b, linkVersion)
	b = append(b, l.household[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(l.seq))
	b = append(b, l.prev[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(l.time))
	b = append(b, l.signer...)
	b = append(b, l.op)
	switch l.op {
	case opGenesis:
		b = appendName(b, l.name)
		b = appendDevice(b, l.device)
		b = append(b, l.recovery...)
		b = l.epoch.append(b)
	case opAdd:
		b = appendDevice(b, l.device)
		b = binary.BigEndian.AppendUint16(b, uint16(len(l.wraps)))
		for _, w := range l.wraps {
			b = appendStanza(b, w)
		}
	case opRemove:
		b = append(b, l.target...)
		b = l.epoch.append(b)
	case opSetRole:
		b = append(b, l.target...)
		b = append(b, roleCodes[l.role])
	case opNewEpoch:
		b = l.epoch.append(b)
	}
	return b
}

func appendName(b []byte, s string) []byte {
	return append(append(b, byte(len(s))), s...)
}

func appendDevice(b []byte, d DeviceKey) []byte {
	b = append(b, roleCodes[d.Role])
	b = appendName(b, d.Name)
	b = append(b, d.SignPub...)
	if d.holdsEpochKeys() {
		b = append(b, d.BoxPub...)
	}
	return b
}

func appendStanza(b []byte, s *envelope.Stanza) []byte {
	b = append(b, s.Type)
	b = append(b, s.Hint[:]...)
	b = append(b, s.Enc...)
	return append(b, s.Body...)
}

func (e *epochRecord) append(b []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(e.n))
	b = append(b, e.pub...)
	b = appendStanza(b, e.recovery)
	b = binary.BigEndian.AppendUint16(b, uint16(len(e.wraps)))
	for _, w := range e.wraps {
		b = append(b, w.signPub...)
		b = appendStanza(b, w.stanza)
	}
	return b
}

// decoder reads a link. The first error sticks; later reads return zero
// values.
type decoder struct {
	b   []byte
	off int
	err error
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s", ErrMalformedLink, fmt.Sprintf(format, args...))
	}
}

func (d *decoder) take(n int, what string) []byte {
	if d.err != nil {
		return nil
	}
	if len(d.b)-d.off < n {
		d.fail("truncated: %s needs %d bytes at offset %d, %d left", what, n, d.off, len(d.b)-d.off)
		return nil
	}
	s := d.b[d.off : d.off+n : d.off+n]
	d.off += n
	return s
}

func (d *decoder) u8(what string) byte {
	if s := d.take(1, what); s != nil {
		return s[0]
	}
	return 0
}

func (d *decoder) u16(what string) int {
	if s := d.take(2, what); s != nil {
		return int(binary.BigEndian.Uint16(s))
	}
	return 0
}

func (d *decoder) u32(what string) uint32 {
	if s := d.take(4, what); s != nil {
		return binary.BigEndian.Uint32(s)
	}
	return 0
}

func (d *decoder) u64(what string) uint64 {
	if s := d.take(8, what); s != nil {
		return binary.BigEndian.Uint64(s)
	}
	return 0
}

func (d *decoder) name(what string) string {
	n := int(d.u8(what + " length"))
	s := string(d.take(n, what))
	if d.err == nil {
		if err := checkName(s); err != nil {
			d.fail("%s: %v", what, err)
		}
	}
	return s
}

// checkName validates a household or device name.
func checkName(s string) error {
	switch {
	case s == "":
		return errors.New("empty name")
	case len(s) > MaxNameLen:
		return fmt.Errorf("name is %d bytes, at most %d allowed", len(s), MaxNameLen)
	case !utf8.ValidString(s):
		return errors.New("name is not valid UTF-8")
	}
	for i, r := range s {
		if unicode.IsControl(r) || (unicode.IsSpace(r) && (i == 0 || i+utf8.RuneLen(r) == len(s))) {
			return errors.New("name has a control character or leading or trailing space")
		}
	}
	return nil
}

func (d *decoder) x25519(what string) []byte {
	k := d.take(32, what)
	if d.err == nil {
		if _, err := envelope.NewX25519Recipient(k); err != nil {
			d.fail("%s is not a valid X25519 public key", what)
		}
	}
	return k
}

func (d *decoder) device(what string) DeviceKey {
	var k DeviceKey
	code := d.u8(what + " role")
	role, ok := roleName(code)
	if d.err == nil && !ok {
		d.fail("%s has unknown role %d", what, code)
	}
	k.Role = role
	k.Name = d.name(what + " name")
	k.SignPub = ed25519.PublicKey(d.take(ed25519.PublicKeySize, what+" Ed25519 key"))
	if k.holdsEpochKeys() {
		k.BoxPub = d.x25519(what + " X25519 key")
	}
	k.ID = DeviceID(k.SignPub)
	return k
}

func (d *decoder) stanza(what string) *envelope.Stanza {
	s := &envelope.Stanza{Type: d.u8(what + " type")}
	if d.err == nil && s.Type != envelope.StanzaTypeX25519 {
		d.fail("%s has type %d, want %d", what, s.Type, envelope.StanzaTypeX25519)
	}
	copy(s.Hint[:], d.take(4, what+" hint"))
	s.Enc = d.take(32, what+" enc")
	s.Body = d.take(48, what+" body")
	return s
}

func (d *decoder) epoch() *epochRecord {
	e := &epochRecord{}
	n := d.u32("epoch number")
	if d.err == nil && (n == 0 || n > MaxEpochs) {
		d.fail("epoch number %d out of range 1..%d", n, MaxEpochs)
	}
	e.n = int(n)
	e.pub = d.x25519("epoch key")
	e.recovery = d.stanza("recovery stanza")
	count := d.u16("epoch stanza count")
	if d.err == nil && count > MaxDevices {
		d.fail("%d epoch stanzas, at most %d allowed", count, MaxDevices)
	}
	for i := 0; i < count && d.err == nil; i++ {
		w := deviceWrap{signPub: d.take(ed25519.PublicKeySize, "epoch stanza device"), stanza: d.stanza("epoch stanza")}
		if d.err == nil && i > 0 && bytes.Compare(e.wraps[i-1].signPub, w.signPub) >= 0 {
			d.fail("epoch stanzas are not sorted by device key, or repeat a device (stanza %d)", i)
		}
		e.wraps = append(e.wraps, w)
	}
	return e
}

// parseLink decodes b, checking everything that does not depend on the
// chain state, except the signature. The result does not alias b.
func parseLink(b []byte) (*chainLink, error) {
	if len(b) > MaxLinkSize {
		return nil, fmt.Errorf("%w: %d bytes, at most %d allowed", ErrMalformedLink, len(b), MaxLinkSize)
	}
	if len(b) < linkFixedSize+ed25519.SignatureSize {
		return nil, fmt.Errorf("%w: %d bytes, too short to be a link", ErrMalformedLink, len(b))
	}
	b = bytes.Clone(b)
	if string(b[:len(linkMagic)]) != linkMagic {
		return nil, fmt.Errorf("%w: bad magic (not a Vigil chain link)", ErrMalformedLink)
	}
	if v := b[len(linkMagic)]; v != linkVersion {
		return nil, fmt.Errorf("%w: unsupported link version %d (this software reads version %d; hint: update it)", ErrMalformedLink, v, linkVersion)
	}
	d := &decoder{b: b[:len(b)-ed25519.SignatureSize], off: len(linkMagic) + 1}
	l := &chainLink{sig: b[len(b)-ed25519.SignatureSize:]}
	copy(l.household[:], d.take(householdSize, "household"))
	seq := d.u64("seq")
	if seq > math.MaxInt64 {
		d.fail("seq %d out of range", seq)
	}
	l.seq = int64(seq)
	copy(l.prev[:], d.take(hashSize, "prev"))
	l.time = int64(d.u64("time"))
	l.signer = ed25519.PublicKey(d.take(ed25519.PublicKeySize, "signer"))
	l.op = d.u8("op")
	switch l.op {
	case opGenesis:
		l.name = d.name("household name")
		l.device = d.device("genesis device")
		l.recovery = d.x25519("recovery key")
		l.epoch = d.epoch()
	case opAdd:
		l.device = d.device("new device")
		n := d.u16("stanza count")
		if d.err == nil && n > MaxEpochs {
			d.fail("%d stanzas, at most %d allowed", n, MaxEpochs)
		}
		for i := 0; i < n && d.err == nil; i++ {
			l.wraps = append(l.wraps, d.stanza(fmt.Sprintf("stanza for epoch %d", i+1)))
		}
	case opRemove:
		l.target = ed25519.PublicKey(d.take(ed25519.PublicKeySize, "removed device"))
		l.epoch = d.epoch()
	case opSetRole:
		l.target = ed25519.PublicKey(d.take(ed25519.PublicKeySize, "device"))
		code := d.u8("role")
		role, ok := roleName(code)
		if d.err == nil && !ok {
			d.fail("unknown role %d", code)
		}
		l.role = role
	case opNewEpoch:
		l.epoch = d.epoch()
	default:
		if d.err == nil {
			d.fail("unknown operation %d", l.op)
		}
	}
	if d.err != nil {
		return nil, d.err
	}
	if rest := len(d.b) - d.off; rest != 0 {
		// The signature is the last 64 bytes, so extra bytes anywhere show
		// up here.
		return nil, fmt.Errorf("%w: %d unexpected bytes before the signature (trailing data, or a field of the wrong length)", ErrMalformedLink, rest)
	}
	l.signed = d.b
	if !bytes.Equal(l.appendSigned(nil), l.signed) {
		return nil, fmt.Errorf("%w: not the canonical encoding of its contents", ErrMalformedLink)
	}
	return l, nil
}

// Building links. Each builder checks that signer is an admin of s, makes
// and signs the link, and checks it as every verifier will; it returns the
// link bytes and leaves s unchanged. The caller applies the link to its
// state with [State.Apply] and uploads it.

// NewHousehold makes the genesis link of a new household: a random
// household ID, its name, the first admin device (admin, which signs the
// link) and epoch 1, whose fresh key is wrapped to the admin and to the
// recovery key. recoveryPhrase is shown to the user once and never stored.
func NewHousehold(name string, admin *DeviceKeys, adminName string, now time.Time) (genesis []byte, recoveryPhrase string, st *State, err error) {
	if err := checkName(name); err != nil {
		return nil, "", nil, fmt.Errorf("keydir: household name: %w", err)
	}
	if admin == nil || len(admin.Sign) != ed25519.PrivateKeySize {
		return nil, "", nil, errors.New("keydir: the first admin device has no signing key")
	}
	if admin.Box == nil {
		return nil, "", nil, errors.New("keydir: the first admin device has no X25519 key to receive the epoch key")
	}
	if now.IsZero() {
		return nil, "", nil, errors.New("keydir: no time given for the genesis link")
	}
	dev, err := checkDevice(admin.Public(RoleAdmin, adminName))
	if err != nil {
		return nil, "", nil, err
	}
	phrase, err := NewRecoveryPhrase()
	if err != nil {
		return nil, "", nil, err
	}
	rid, err := ParseRecoveryPhrase(phrase)
	if err != nil {
		return nil, "", nil, err
	}
	l := &chainLink{time: now.UnixMilli(), signer: dev.SignPub, op: opGenesis, name: name, device: dev, recovery: rid.Recipient().Bytes()}
	if _, err := rand.Read(l.household[:]); err != nil {
		return nil, "", nil, fmt.Errorf("keydir: household ID: %w", err)
	}
	tmp := &State{recovery: l.recovery, Devices: map[string]DeviceKey{dev.ID: dev}}
	if l.epoch, err = tmp.newEpochRecord(tmp.holders("")); err != nil {
		return nil, "", nil, err
	}
	genesis = l.sign(admin.Sign)
	st, err = genesisState(genesis)
	if err != nil {
		return nil, "", nil, fmt.Errorf("keydir: building the genesis link: %w", err)
	}
	return genesis, phrase, st, nil
}

// AddDevice makes a link adding an admin or member device, with every epoch
// key wrapped to dev.BoxPub: the new device can open all the household's
// footage, old and new. signer must be an admin holding all epoch keys.
func (s *State) AddDevice(signer *DeviceKeys, dev DeviceKey, now time.Time) ([]byte, error) {
	dev, err := checkDevice(dev)
	if err != nil {
		return nil, err
	}
	if !dev.holdsEpochKeys() {
		return nil, fmt.Errorf("keydir: AddDevice adds admins and members, not a %s; hint: use AddHub", dev.Role)
	}
	l, err := s.begin(signer, opAdd, now)
	if err != nil {
		return nil, err
	}
	keys, err := s.epochKeys(signer)
	if err != nil {
		return nil, fmt.Errorf("keydir: the signer cannot unwrap the epoch keys to pass them on: %w", err)
	}
	rcpt, err := envelope.NewX25519Recipient(dev.BoxPub)
	if err != nil {
		return nil, err
	}
	for _, k := range keys {
		priv := k.Bytes()
		st, err := rcpt.Wrap(priv)
		clear(priv)
		if err != nil {
			return nil, err
		}
		l.wraps = append(l.wraps, st)
	}
	l.device = dev
	return s.finish(l, signer)
}

// AddHub makes a link adding a hub. hub.Role must be RoleHub (or empty) and
// hub.BoxPub nil: hubs never receive epoch keys.
func (s *State) AddHub(signer *DeviceKeys, hub DeviceKey, now time.Time) ([]byte, error) {
	if hub.Role == "" {
		hub.Role = RoleHub
	}
	if hub.Role != RoleHub {
		return nil, fmt.Errorf("keydir: AddHub adds hubs, not a %s; hint: use AddDevice", hub.Role)
	}
	hub, err := checkDevice(hub)
	if err != nil {
		return nil, err
	}
	l, err := s.begin(signer, opAdd, now)
	if err != nil {
		return nil, err
	}
	l.device = hub
	return s.finish(l, signer)
}

// RemoveDevice makes a link removing device id and starting a new epoch
// whose key is wrapped to the remaining admin and member devices and to
// the recovery key. The last admin cannot be removed.
func (s *State) RemoveDevice(signer *DeviceKeys, id string, now time.Time) ([]byte, error) {
	d, ok := s.Devices[id]
	if !ok {
		return nil, fmt.Errorf("keydir: cannot remove %s", s.describe(id))
	}
	l, err := s.begin(signer, opRemove, now)
	if err != nil {
		return nil, err
	}
	l.target = d.SignPub
	if l.epoch, err = s.newEpochRecord(s.holders(id)); err != nil {
		return nil, err
	}
	return s.finish(l, signer)
}

// SetRole makes a link changing the role of device id between RoleAdmin and
// RoleMember. The last admin cannot be demoted.
func (s *State) SetRole(signer *DeviceKeys, id, role string, now time.Time) ([]byte, error) {
	d, ok := s.Devices[id]
	if !ok {
		return nil, fmt.Errorf("keydir: cannot change the role of %s", s.describe(id))
	}
	if role != RoleAdmin && role != RoleMember {
		return nil, fmt.Errorf("keydir: role %q: a device's role can change only to %s or %s", role, RoleAdmin, RoleMember)
	}
	l, err := s.begin(signer, opSetRole, now)
	if err != nil {
		return nil, err
	}
	l.target, l.role = d.SignPub, role
	return s.finish(l, signer)
}

// NewEpoch makes a link starting a new epoch, with a fresh key wrapped to
// every admin and member device and to the recovery key.
func (s *State) NewEpoch(signer *DeviceKeys, now time.Time) ([]byte, error) {
	l, err := s.begin(signer, opNewEpoch, now)
	if err != nil {
		return nil, err
	}
	if l.epoch, err = s.newEpochRecord(s.holders("")); err != nil {
		return nil, err
	}
	return s.finish(l, signer)
}

func (s *State) begin(signer *DeviceKeys, op byte, now time.Time) (*chainLink, error) {
	if len(s.GenesisHash) == 0 || len(s.Head) != hashSize {
		return nil, errors.New("keydir: the state has no genesis; start from Verify or NewHousehold")
	}
	if signer == nil || len(signer.Sign) != ed25519.PrivateKeySize {
		return nil, errors.New("keydir: no signing key")
	}
	pub := signer.signPub()
	if err := s.authorize(pub); err != nil {
		return nil, fmt.Errorf("keydir: cannot sign a %s link: %w", opName(op), err)
	}
	if now.IsZero() {
		return nil, fmt.Errorf("keydir: no time given for the %s link", opName(op))
	}
	return &chainLink{household: s.household, seq: s.Seq + 1, prev: [hashSize]byte(s.Head), time: now.UnixMilli(), signer: pub, op: op}, nil
}

// finish signs l and checks it as a verifier would.
func (s *State) finish(l *chainLink, signer *DeviceKeys) ([]byte, error) {
	raw := l.sign(signer.Sign)
	pl, err := parseLink(raw)
	if err == nil {
		err = s.check(pl)
	}
	if err != nil {
		return nil, fmt.Errorf("keydir: refusing to sign a %s link that would not verify: %w", opName(l.op), err)
	}
	return raw, nil
}

// newEpochRecord makes epoch s.Epoch+1: a fresh X25519 key, wrapped to the
// recovery key and to each device of holders.
func (s *State) newEpochRecord(holders map[string]DeviceKey) (*epochRecord, error) {
	ek, err := envelope.GenerateX25519Identity()
	if err != nil {
		return nil, err
	}
	priv := ek.Bytes()
	defer clear(priv)
	rec := &epochRecord{n: s.Epoch + 1, pub: ek.Recipient().Bytes()}
	wrap := func(pub []byte) (*envelope.Stanza, error) {
		r, err := envelope.NewX25519Recipient(pub)
		if err != nil {
			return nil, err
		}
		return r.Wrap(priv)
	}
	if rec.recovery, err = wrap(s.recovery); err != nil {
		return nil, err
	}
	// In link order, so that a deterministic random source (tests) gives
	// deterministic links.
	ds := slices.SortedFunc(maps.Values(holders), func(a, b DeviceKey) int { return bytes.Compare(a.SignPub, b.SignPub) })
	for _, d := range ds {
		st, err := wrap(d.BoxPub)
		if err != nil {
			return nil, fmt.Errorf("keydir: wrapping the epoch key to device %s: %w", d.ID, err)
		}
		rec.wraps = append(rec.wraps, deviceWrap{d.SignPub, st})
	}
	return rec, nil
}

// checkDevice validates a device entry given to a builder and returns it
// with its ID filled in and its keys copied.
func checkDevice(d DeviceKey) (DeviceKey, error) {
	d = d.clone()
	if _, ok := roleCodes[d.Role]; !ok {
		return d, fmt.Errorf("keydir: device role %q: want %s, %s or %s", d.Role, RoleAdmin, RoleMember, RoleHub)
	}
	if len(d.SignPub) != ed25519.PublicKeySize {
		return d, fmt.Errorf("keydir: device Ed25519 key is %d bytes, want %d", len(d.SignPub), ed25519.PublicKeySize)
	}
	id := DeviceID(d.SignPub)
	if d.ID != "" && d.ID != id {
		return d, fmt.Errorf("keydir: device ID %s does not match its Ed25519 key (which gives %s)", d.ID, id)
	}
	d.ID = id
	if err := checkName(d.Name); err != nil {
		return d, fmt.Errorf("keydir: device %s: %w", id, err)
	}
	if !d.holdsEpochKeys() {
		if d.BoxPub != nil {
			return d, fmt.Errorf("keydir: hub %s has an X25519 key; hubs never receive epoch keys, leave BoxPub nil", id)
		}
		return d, nil
	}
	if len(d.BoxPub) != 32 {
		return d, fmt.Errorf("keydir: %s %s: X25519 key is %d bytes, want 32", d.Role, id, len(d.BoxPub))
	}
	if _, err := envelope.NewX25519Recipient(d.BoxPub); err != nil {
		return d, fmt.Errorf("keydir: %s %s: %w", d.Role, id, err)
	}
	return d, nil
}
