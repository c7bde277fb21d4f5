package pairing

import (
	"bytes"
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"vigil/internal/envelope"
	"vigil/internal/keydir"
)

var update = flag.Bool("update", false, "rewrite testdata/vectors.json")

func testHubKey(b byte) ed25519.PublicKey {
	return ed25519.NewKeyFromSeed(bytes.Repeat([]byte{b}, ed25519.SeedSize)).Public().(ed25519.PublicKey)
}

func testOffer(t testing.TB, b byte) HouseholdOffer {
	t.Helper()
	id, err := envelope.NewX25519Identity(bytes.Repeat([]byte{b}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return HouseholdOffer{
		HouseholdID:    "hh-" + strings.Repeat(string(rune('a'+b%26)), 8),
		GenesisHash:    bytes.Repeat([]byte{b ^ 0x5c}, 32),
		EpochRecipient: id.Recipient().String(),
	}
}

// transcript is one honest run's messages.
type transcript struct {
	code             Code
	offer            HouseholdOffer
	hub              *Hub
	member           *Member
	msg1, msg2, msg3 []byte
}

// start runs an honest pairing up to the message stage wanted (1, 2 or 3),
// with code and the household offer of seed b.
func start(t testing.TB, code Code, b byte, stage int) *transcript {
	t.Helper()
	tr := &transcript{code: code, offer: testOffer(t, b)}
	var err error
	tr.hub, tr.msg1, err = NewHub(code, testHubKey(b), "Front door hub")
	if err != nil {
		t.Fatal(err)
	}
	tr.member, err = NewMember(code, tr.offer)
	if err != nil {
		t.Fatal(err)
	}
	if stage < 2 {
		return tr
	}
	if _, tr.msg2, err = tr.member.Receive(tr.msg1); err != nil {
		t.Fatal(err)
	}
	if stage < 3 {
		return tr
	}
	if _, tr.msg3, err = tr.hub.Receive(tr.msg2); err != nil {
		t.Fatal(err)
	}
	return tr
}

// mustFail checks that err is a pairing failure, never success.
func mustFail(t testing.TB, err error, what string) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: pairing succeeded", what)
	}
	if !errors.Is(err, ErrAuth) && !errors.Is(err, ErrMalformed) {
		t.Fatalf("%s: error %v wraps neither ErrAuth nor ErrMalformed", what, err)
	}
}

func mustAuth(t testing.TB, err error, what string) {
	t.Helper()
	if !errors.Is(err, ErrAuth) {
		t.Fatalf("%s: got %v, want ErrAuth", what, err)
	}
}

func TestRoundTrip(t *testing.T) {
	code, err := NewCode()
	if err != nil {
		t.Fatal(err)
	}
	hubPub := testHubKey(9)
	name := strings.Repeat("é", MaxNameLen/2) // longest name, multi-byte
	offer := testOffer(t, 4)
	offer.HouseholdID = strings.Repeat("h", MaxHouseholdIDLen)

	h, msg1, err := NewHub(code, hubPub, name)
	if err != nil {
		t.Fatal(err)
	}
	m, err := NewMember(code, offer)
	if err != nil {
		t.Fatal(err)
	}
	hello, msg2, err := m.Receive(msg1)
	if err != nil {
		t.Fatal(err)
	}
	if !hello.SignPub.Equal(hubPub) || hello.Name != name {
		t.Errorf("member learned %x %q, want %x %q", hello.SignPub, hello.Name, hubPub, name)
	}
	got, msg3, err := h.Receive(msg2)
	if err != nil {
		t.Fatal(err)
	}
	if got.HouseholdID != offer.HouseholdID || !bytes.Equal(got.GenesisHash, offer.GenesisHash) || got.EpochRecipient != offer.EpochRecipient {
		t.Errorf("hub learned %+v, want %+v", got, offer)
	}
	if err := m.Confirm(msg3); err != nil {
		t.Fatal(err)
	}
	for i, msg := range [][]byte{msg1, msg2, msg3} {
		if len(msg) > MaxMessageSize {
			t.Errorf("msg%d is %d bytes, over MaxMessageSize", i+1, len(msg))
		}
	}
	t.Logf("message sizes: %d, %d, %d", len(msg1), len(msg2), len(msg3))
}

var flipMasks = []byte{0x01, 0x80, 0xff}

// TestFlipMsg1: every changed byte of msg1 makes the member fail.
func TestFlipMsg1(t *testing.T) {
	code := testCode(t, 1)
	tr := start(t, code, 1, 1)
	for i := range tr.msg1 {
		for _, mask := range flipMasks {
			msg := bytes.Clone(tr.msg1)
			msg[i] ^= mask
			m, err := NewMember(code, tr.offer)
			if err != nil {
				t.Fatal(err)
			}
			_, msg2, err := m.Receive(msg)
			mustFail(t, err, "msg1 byte "+strconv.Itoa(i))
			if msg2 != nil {
				t.Fatal("a failed Receive returned a message")
			}
			if _, _, err := m.Receive(tr.msg1); !errors.Is(err, ErrUsed) {
				t.Fatalf("member reused after a failure: %v", err)
			}
		}
	}
}

// TestFlipMsg2: every changed byte of msg2 makes the hub fail, and spends it.
func TestFlipMsg2(t *testing.T) {
	code := testCode(t, 2)
	n := len(start(t, code, 2, 2).msg2)
	for i := range n {
		for _, mask := range flipMasks {
			tr := start(t, code, 2, 2)
			msg := bytes.Clone(tr.msg2)
			msg[i] ^= mask
			offer, msg3, err := tr.hub.Receive(msg)
			mustFail(t, err, "msg2 byte "+strconv.Itoa(i))
			if msg3 != nil || offer.HouseholdID != "" || offer.GenesisHash != nil {
				t.Fatal("a failed Receive returned a result")
			}
			if _, _, err := tr.hub.Receive(tr.msg2); !errors.Is(err, ErrUsed) {
				t.Fatalf("hub reused after a failure: %v", err)
			}
		}
	}
}

// TestFlipMsg3: every changed byte of msg3 makes the member refuse to add
// the hub.
func TestFlipMsg3(t *testing.T) {
	code := testCode(t, 3)
	for i := range len(start(t, code, 3, 3).msg3) {
		for _, mask := range flipMasks {
			tr := start(t, code, 3, 3)
			msg := bytes.Clone(tr.msg3)
			msg[i] ^= mask
			mustFail(t, tr.member.Confirm(msg), "msg3 byte "+strconv.Itoa(i))
			if err := tr.member.Confirm(tr.msg3); !errors.Is(err, ErrUsed) {
				t.Fatalf("member confirmed after a failure: %v", err)
			}
		}
	}
}

// TestTruncateExtend: every prefix of each message, and each message with
// bytes appended, fails.
func TestTruncateExtend(t *testing.T) {
	code := testCode(t, 4)
	n1, n2, n3 := func() (int, int, int) {
		tr := start(t, code, 4, 3)
		return len(tr.msg1), len(tr.msg2), len(tr.msg3)
	}()
	changes := func(n int) []func([]byte) []byte {
		var fs []func([]byte) []byte
		for k := range n {
			fs = append(fs, func(b []byte) []byte { return bytes.Clone(b[:k]) })
		}
		return append(fs,
			func(b []byte) []byte { return append(bytes.Clone(b), 0) },
			func(b []byte) []byte { return append(bytes.Clone(b), b...) })
	}
	for _, change := range changes(n1) {
		tr := start(t, code, 4, 1)
		_, _, err := tr.member.Receive(change(tr.msg1))
		mustFail(t, err, "changed-length msg1")
	}
	for _, change := range changes(n2) {
		tr := start(t, code, 4, 2)
		_, _, err := tr.hub.Receive(change(tr.msg2))
		mustFail(t, err, "changed-length msg2")
	}
	for _, change := range changes(n3) {
		tr := start(t, code, 4, 3)
		mustFail(t, tr.member.Confirm(change(tr.msg3)), "changed-length msg3")
	}
}

// TestRelaySwapsOffer: a relay that answers the hub with another
// household's offer — made with its own code, or spliced into the honest
// member's message — fails.
func TestRelaySwapsOffer(t *testing.T) {
	code := testCode(t, 5)
	evilCode, _ := NewCode()
	evil := testOffer(t, 66)

	// The relay runs its own member with its own code against the hub's
	// real msg1: that member cannot even accept msg1 ...
	tr := start(t, code, 5, 1)
	em, _ := NewMember(evilCode, evil)
	_, _, err := em.Receive(tr.msg1)
	mustAuth(t, err, "relay's member on the hub's msg1")

	// ... so it makes a whole pairing of its own and feeds its msg2 to the hub.
	ev := start(t, evilCode, 66, 2)
	_, _, err = tr.hub.Receive(ev.msg2)
	mustAuth(t, err, "relay's own msg2")

	// Splicing the evil offer's fields into an honest msg2 keeps the honest
	// MAC, which no longer matches.
	tr = start(t, code, 5, 2)
	honest, err := parseMsg2(tr.msg2)
	if err != nil {
		t.Fatal(err)
	}
	forged, err := parseMsg2(ev.msg2)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []func(m *offerMsg){
		func(m *offerMsg) { m.householdID = forged.householdID },
		func(m *offerMsg) { m.genesisHash = forged.genesisHash },
		func(m *offerMsg) { m.epochPub = forged.epochPub },
		func(m *offerMsg) { m.nonce = forged.nonce },
		func(m *offerMsg) { m.mac = forged.mac },
	} {
		tr := start(t, code, 5, 2)
		m := *honest
		f(&m)
		_, _, err := tr.hub.Receive(m.marshal())
		mustAuth(t, err, "spliced msg2")
	}
}

// TestRelaySwapsHub: a relay that shows the member another hub fails, both
// with its own code and spliced into the real hub's msg1.
func TestRelaySwapsHub(t *testing.T) {
	code := testCode(t, 6)
	evilCode, _ := NewCode()
	_, evilMsg1, err := NewHub(evilCode, testHubKey(99), "Front door hub")
	if err != nil {
		t.Fatal(err)
	}
	tr := start(t, code, 6, 1)
	_, _, err = tr.member.Receive(evilMsg1)
	mustAuth(t, err, "relay's hub")

	honest, _ := parseMsg1(tr.msg1)
	m := *honest
	m.signPub = testHubKey(99)
	mb, _ := NewMember(code, tr.offer)
	_, _, err = mb.Receive(m.marshal())
	mustAuth(t, err, "spliced hub key")
}

// TestWrongCode: a code one character off is caught by the checksum; a
// code one data character off with matching check characters (a different,
// valid code) fails authentication, on whichever side sees it first.
func TestWrongCode(t *testing.T) {
	code := testCode(t, 7)
	v := symbols(code)
	typo := bytes.Clone(v)
	typo[3] ^= 1
	if _, err := ParseCode(symString(typo)); !errors.Is(err, ErrInvalidCode) {
		t.Fatalf("one-character typo parsed: %v", err)
	}
	other, err := ParseCode(withChars(typo[:dataChars]))
	if err != nil {
		t.Fatal(err)
	}
	tr := start(t, code, 7, 1)
	m, _ := NewMember(other, tr.offer)
	_, _, err = m.Receive(tr.msg1)
	mustAuth(t, err, "member with a wrong code")
	if !strings.Contains(err.Error(), "start pairing again on the hub") {
		t.Errorf("error %q does not say what to do", err)
	}

	// The hub with the wrong code, facing an honest member's msg2 for the
	// right one (the member accepted some other msg1 made with the code).
	h, _, _ := NewHub(other, testHubKey(7), "hub")
	tr = start(t, code, 7, 2)
	_, _, err = h.Receive(tr.msg2)
	mustAuth(t, err, "hub with a wrong code")
}

// TestReplay: messages of an earlier pairing with the same code fail in a
// new one, because each side's nonce is fresh.
func TestReplay(t *testing.T) {
	code := testCode(t, 8)
	old := start(t, code, 8, 3)
	if err := old.member.Confirm(old.msg3); err != nil {
		t.Fatal(err)
	}

	// Old msg2 into a new hub.
	fresh := start(t, code, 8, 1)
	_, _, err := fresh.hub.Receive(old.msg2)
	mustAuth(t, err, "replayed msg2")

	// Old msg3 into a new member that received a new msg1.
	fresh = start(t, code, 8, 2)
	mustAuth(t, fresh.member.Confirm(old.msg3), "replayed msg3")

	// Old msg1 into a new member is authentic but stale: the member's
	// answer fails at the live hub, and the old msg3 does not confirm it.
	fresh = start(t, code, 8, 1)
	_, msg2, err := fresh.member.Receive(old.msg1)
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = fresh.hub.Receive(msg2)
	mustAuth(t, err, "msg2 answering a replayed msg1")
	mustAuth(t, fresh.member.Confirm(old.msg3), "old msg3 for a replayed msg1")
}

// TestReflection: a message sent back to its sender, or in another place,
// fails.
func TestReflection(t *testing.T) {
	code := testCode(t, 9)
	tr := start(t, code, 9, 3)

	h, msg1, _ := NewHub(code, testHubKey(9), "hub")
	_, _, err := h.Receive(msg1)
	mustFail(t, err, "msg1 reflected to the hub")

	m, _ := NewMember(code, tr.offer)
	_, _, err = m.Receive(tr.msg2)
	mustFail(t, err, "msg2 as msg1")

	fresh := start(t, code, 9, 2)
	mustFail(t, fresh.member.Confirm(fresh.msg1), "msg1 as msg3")
	fresh = start(t, code, 9, 2)
	mustFail(t, fresh.member.Confirm(fresh.msg2), "msg2 as msg3")

	// msg1's tag in msg3's clothes.
	fresh = start(t, code, 9, 2)
	mac1 := fresh.msg1[len(fresh.msg1)-macSize:]
	mustAuth(t, fresh.member.Confirm(append([]byte{Version, typeHubFinish}, mac1...)), "mac1 as mac3")
	fresh = start(t, code, 9, 2)
	mac2 := fresh.msg2[len(fresh.msg2)-macSize:]
	mustAuth(t, fresh.member.Confirm(append([]byte{Version, typeHubFinish}, mac2...)), "mac2 as mac3")
}

func TestSingleUse(t *testing.T) {
	code := testCode(t, 10)
	tr := start(t, code, 10, 3)
	if _, _, err := tr.hub.Receive(tr.msg2); !errors.Is(err, ErrUsed) {
		t.Errorf("second Hub.Receive: %v, want ErrUsed", err)
	}
	if _, _, err := tr.member.Receive(tr.msg1); !errors.Is(err, ErrUsed) {
		t.Errorf("second Member.Receive: %v, want ErrUsed", err)
	}
	if err := tr.member.Confirm(tr.msg3); err != nil {
		t.Fatal(err)
	}
	if err := tr.member.Confirm(tr.msg3); !errors.Is(err, ErrUsed) {
		t.Errorf("second Confirm: %v, want ErrUsed", err)
	}
	m, _ := NewMember(code, tr.offer)
	if err := m.Confirm(tr.msg3); err == nil {
		t.Error("Confirm before Receive succeeded")
	}

	// Concurrent calls: exactly one wins.
	tr = start(t, code, 10, 2)
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins := 0
	for range 8 {
		wg.Go(func() {
			if _, _, err := tr.hub.Receive(tr.msg2); err == nil {
				mu.Lock()
				wins++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if wins != 1 {
		t.Errorf("%d concurrent Hub.Receive calls succeeded, want 1", wins)
	}
}

// TestNameLimit: every name the pairing accepts fits in the household
// chain.
func TestNameLimit(t *testing.T) {
	if MaxNameLen > keydir.MaxNameLen {
		t.Errorf("MaxNameLen = %d, but the chain takes names of at most %d bytes", MaxNameLen, keydir.MaxNameLen)
	}
}

func TestNewHubRejects(t *testing.T) {
	code := testCode(t, 11)
	for _, tt := range []struct {
		name string
		pub  ed25519.PublicKey
		hub  string
		want string
	}{
		{"short key", make([]byte, 31), "hub", "public key is 31 bytes"},
		{"no key", nil, "hub", "public key is 0 bytes"},
		{"empty name", testHubKey(1), "", "hub name is 0 bytes"},
		{"long name", testHubKey(1), strings.Repeat("x", MaxNameLen+1), "hub name is 129 bytes"},
		{"control", testHubKey(1), "hub\n", "unprintable"},
		{"bidi override", testHubKey(1), "hub\u202egnp.exe", "unprintable"},
		{"zero width", testHubKey(1), "h\u200bub", "unprintable"},
		{"bad UTF-8", testHubKey(1), "hub\xff", "not valid UTF-8"},
		{"leading space", testHubKey(1), " hub", "space"},
	} {
		_, _, err := NewHub(code, tt.pub, tt.hub)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: NewHub = %v, want error containing %q", tt.name, err, tt.want)
		}
	}
}

func TestNewMemberRejects(t *testing.T) {
	code := testCode(t, 12)
	id, _ := envelope.GenerateX25519Identity()
	for _, tt := range []struct {
		name string
		edit func(*HouseholdOffer)
		want string
	}{
		{"empty ID", func(o *HouseholdOffer) { o.HouseholdID = "" }, "household ID is 0 bytes"},
		{"long ID", func(o *HouseholdOffer) { o.HouseholdID = strings.Repeat("a", 65) }, "household ID is 65 bytes"},
		{"space in ID", func(o *HouseholdOffer) { o.HouseholdID = "my house" }, "character other than"},
		{"short hash", func(o *HouseholdOffer) { o.GenesisHash = o.GenesisHash[:31] }, "genesis hash is 31 bytes"},
		{"no recipient", func(o *HouseholdOffer) { o.EpochRecipient = "" }, "epoch recipient"},
		{"identity, not recipient", func(o *HouseholdOffer) { o.EpochRecipient = id.String() }, "epoch recipient"},
	} {
		o := testOffer(t, 12)
		tt.edit(&o)
		_, err := NewMember(code, o)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: NewMember = %v, want error containing %q", tt.name, err, tt.want)
		}
		if err != nil && strings.Contains(err.Error(), "VIGIL-IDENTITY") {
			t.Errorf("%s: error quotes a secret key: %v", tt.name, err)
		}
	}
}

// malformed returns messages that must not parse, built from an honest
// transcript: step is the message (1, 2, 3) they stand for.
func malformed(t testing.TB) []struct {
	name string
	step int
	msg  []byte
	want string
} {
	tr := start(t, testCode(t, 13), 13, 3)
	edit := func(msg []byte, f func([]byte) []byte) []byte { return f(bytes.Clone(msg)) }
	set := func(i int, v byte) func([]byte) []byte {
		return func(b []byte) []byte { b[i] = v; return b }
	}
	nameAt := 2 + 32 // offset of msg1's name length
	return []struct {
		name string
		step int
		msg  []byte
		want string
	}{
		{"msg1 empty", 1, nil, "too short"},
		{"msg1 version 2", 1, edit(tr.msg1, set(0, 2)), "version 2"},
		{"msg1 version 0", 1, edit(tr.msg1, set(0, 0)), "version 0"},
		{"msg1 type 3", 1, edit(tr.msg1, set(1, 3)), "got message type 3"},
		{"msg1 name length 0", 1, edit(tr.msg1, set(nameAt, 0)), "hub name is 0 bytes"},
		{"msg1 name length 129", 1, append(edit(tr.msg1, set(nameAt, MaxNameLen+1)), make([]byte, MaxNameLen)...), "hub name is 129 bytes"},
		{"msg1 name length past end", 1, edit(tr.msg1, set(nameAt, 60)), "cut off"},
		{"msg1 control in name", 1, edit(tr.msg1, set(nameAt+1, '\n')), "unprintable"},
		{"msg1 trailing byte", 1, append(bytes.Clone(tr.msg1), 0), "unexpected bytes"},
		{"msg1 oversize", 1, make([]byte, MaxMessageSize+1), "more than the limit"},
		{"msg2 version 9", 2, edit(tr.msg2, set(0, 9)), "version 9"},
		{"msg2 as msg1", 2, tr.msg1, "got message type 1"},
		{"msg2 bad ID char", 2, edit(tr.msg2, set(3, ' ')), "character other than"},
		{"msg2 ID length 0", 2, edit(tr.msg2, set(2, 0)), "household ID is 0 bytes"},
		{"msg2 cut", 2, tr.msg2[:len(tr.msg2)-1], "cut off"},
		{"msg2 trailing", 2, append(bytes.Clone(tr.msg2), 1, 2), "2 unexpected bytes"},
		{"msg3 version 2", 3, edit(tr.msg3, set(0, 2)), "version 2"},
		{"msg3 only header", 3, tr.msg3[:2], "cut off"},
		{"msg3 trailing", 3, append(bytes.Clone(tr.msg3), 0), "unexpected bytes"},
		{"msg3 as msg2", 3, tr.msg2, "got message type 2"},
	}
}

func parseStep(step int, msg []byte) ([]byte, error) {
	switch step {
	case 1:
		m, err := parseMsg1(msg)
		if err != nil {
			return nil, err
		}
		return m.marshal(), nil
	case 2:
		m, err := parseMsg2(msg)
		if err != nil {
			return nil, err
		}
		return m.marshal(), nil
	default:
		m, err := parseMsg3(msg)
		if err != nil {
			return nil, err
		}
		return m.marshal(), nil
	}
}

func TestMalformed(t *testing.T) {
	for _, tt := range malformed(t) {
		_, err := parseStep(tt.step, tt.msg)
		if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: got %v, want ErrMalformed containing %q", tt.name, err, tt.want)
		}
	}
}

// vectors pins the wire format and key derivation for other
// implementations (a browser member, say).
type vectors struct {
	CodeBytes      string `json:"code_bytes"`
	Code           string `json:"code"`
	RendezvousID   string `json:"rendezvous_id"`
	MACKey         string `json:"mac_key"`
	HubSeed        string `json:"hub_ed25519_seed"`
	HubName        string `json:"hub_name"`
	HubNonce       string `json:"hub_nonce"`
	HouseholdID    string `json:"household_id"`
	GenesisHash    string `json:"genesis_hash"`
	EpochRecipient string `json:"epoch_recipient"`
	MemberNonce    string `json:"member_nonce"`
	Msg1           string `json:"msg1"`
	Msg2           string `json:"msg2"`
	Msg3           string `json:"msg3"`
}

func TestVectors(t *testing.T) {
	codeBytes := []byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}
	hubSeed := bytes.Repeat([]byte{0x42}, 32)
	hubNonce := bytes.Repeat([]byte{0x11}, 32)
	memberNonce := bytes.Repeat([]byte{0x22}, 32)
	code, _ := newCode(bytes.NewReader(codeBytes))
	offer := testOffer(t, 0x33)
	hubPub := ed25519.NewKeyFromSeed(hubSeed).Public().(ed25519.PublicKey)

	h, msg1, err := newHub(code, hubPub, "Garage", bytes.NewReader(hubNonce))
	if err != nil {
		t.Fatal(err)
	}
	m, _ := NewMember(code, offer)
	if _, _, err := m.receive(msg1, bytes.NewReader([]byte{1})); err == nil {
		t.Fatal("member with a failing random source succeeded")
	}
	m, _ = NewMember(code, offer)
	_, msg2, err := m.receive(msg1, bytes.NewReader(memberNonce))
	if err != nil {
		t.Fatal(err)
	}
	_, msg3, err := h.Receive(msg2)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Confirm(msg3); err != nil {
		t.Fatal(err)
	}

	// Recompute the tags from the documented construction, independently
	// of the package's own helpers.
	k, _ := hkdf.Key(sha256.New, codeBytes, nil, "vigil/pairing/v1/mac-key", 32)
	id, _ := hkdf.Key(sha256.New, codeBytes, nil, "vigil/pairing/v1/rendezvous", 16)
	hm := func(label string, parts ...[]byte) []byte {
		mac := hmac.New(sha256.New, k)
		mac.Write([]byte(label + "\x00"))
		for _, p := range parts {
			mac.Write(p)
		}
		return mac.Sum(nil)
	}
	body1, body2 := msg1[:len(msg1)-32], msg2[:len(msg2)-32]
	if !bytes.Equal(msg1[len(msg1)-32:], hm("vigil/pairing/v1/hub-hello", body1)) ||
		!bytes.Equal(msg2[len(msg2)-32:], hm("vigil/pairing/v1/member-offer", msg1, body2)) ||
		!bytes.Equal(msg3[2:], hm("vigil/pairing/v1/hub-confirm", msg1, msg2, []byte{1, 3})) {
		t.Error("tags differ from the documented construction")
	}
	if code.RendezvousID() != hex.EncodeToString(id) {
		t.Error("rendezvous ID differs from the documented construction")
	}

	got := vectors{
		CodeBytes:      hex.EncodeToString(codeBytes),
		Code:           code.String(),
		RendezvousID:   code.RendezvousID(),
		MACKey:         hex.EncodeToString(k),
		HubSeed:        hex.EncodeToString(hubSeed),
		HubName:        "Garage",
		HubNonce:       hex.EncodeToString(hubNonce),
		HouseholdID:    offer.HouseholdID,
		GenesisHash:    hex.EncodeToString(offer.GenesisHash),
		EpochRecipient: offer.EpochRecipient,
		MemberNonce:    hex.EncodeToString(memberNonce),
		Msg1:           hex.EncodeToString(msg1),
		Msg2:           hex.EncodeToString(msg2),
		Msg3:           hex.EncodeToString(msg3),
	}
	path := filepath.Join("testdata", "vectors.json")
	if *update {
		b, _ := json.MarshalIndent(got, "", "  ")
		if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (hint: go test -run TestVectors -update)", err)
	}
	var want vectors
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Errorf("vectors changed; the wire format is frozen for version 1\ngot  %+v\nwant %+v", got, want)
	}
}

// FuzzMessages feeds arbitrary bytes to each parser and to each receiving
// side. A parser may accept only canonical encodings; a receiver may accept
// only the exact honest message.
func FuzzMessages(f *testing.F) {
	tr := start(f, testCode(f, 14), 14, 3)
	f.Add(uint8(1), tr.msg1)
	f.Add(uint8(2), tr.msg2)
	f.Add(uint8(3), tr.msg3)
	for _, tt := range malformed(f) {
		f.Add(uint8(tt.step), tt.msg)
	}
	f.Fuzz(func(t *testing.T, step uint8, msg []byte) {
		step = (step-1)%3 + 1
		if enc, err := parseStep(int(step), msg); err == nil && !bytes.Equal(enc, msg) {
			t.Fatalf("msg%d parsed but is not canonical", step)
		} else if err != nil && !errors.Is(err, ErrMalformed) {
			t.Fatalf("parse error %v does not wrap ErrMalformed", err)
		}

		// Same code, offer and hub key as tr: only the nonces differ, so
		// tr's messages are replays here.
		x := start(t, testCode(t, 14), 14, int(step))
		var err error
		var honest []byte
		switch step {
		case 1:
			// msg1 carries no freshness for the member (msg2 and msg3 do),
			// so an old msg1 may be accepted; but only ever with the real
			// hub's key and name.
			var hello HubHello
			hello, _, err = x.member.Receive(msg)
			if err == nil && (!hello.SignPub.Equal(testHubKey(14)) || hello.Name != "Front door hub") {
				t.Fatalf("member accepted a hub that did not send msg1: %x %q", hello.SignPub, hello.Name)
			}
			honest = msg
		case 2:
			_, _, err = x.hub.Receive(msg)
			honest = x.msg2
		case 3:
			err = x.member.Confirm(msg)
			honest = x.msg3
		}
		if err == nil && !bytes.Equal(msg, honest) {
			t.Fatalf("step %d accepted a forged message", step)
		}
		if err != nil && !errors.Is(err, ErrAuth) && !errors.Is(err, ErrMalformed) {
			t.Fatalf("step %d: unexpected error %v", step, err)
		}
	})
}
