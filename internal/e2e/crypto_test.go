package e2e

import (
	"bytes"
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/hpke"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"vigil/internal/browsertest"
	"vigil/internal/envelope"
	"vigil/internal/history"
	"vigil/internal/keydir"
	"vigil/internal/member"
	"vigil/internal/pairing"
)

// envelopeVector is one entry of internal/envelope/testdata/vectors.json.
type envelopeVector struct {
	Name           string            `json:"name"`
	Identities     []string          `json:"identities"`
	Recipients     []string          `json:"recipients,omitempty"`
	TrustedSigners []string          `json:"trusted_signers"`
	Sealed         string            `json:"sealed"`
	Error          string            `json:"error,omitempty"`
	Plaintext      string            `json:"plaintext,omitempty"`
	Header         map[string]any    `json:"header,omitempty"`
	Footer         map[string]string `json:"footer,omitempty"`
	Intermediate   map[string]any    `json:"intermediate,omitempty"`
}

func loadEnvelopeVectors(t *testing.T) []envelopeVector {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "envelope", "testdata", "vectors.json"))
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Vectors []envelopeVector `json:"vectors"`
	}
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	if len(f.Vectors) < 19 {
		t.Fatalf("only %d envelope vectors", len(f.Vectors))
	}
	return f.Vectors
}

// writeInput writes the JSON input of a browser script to a temp file.
func writeInput(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "input.json")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

var sentinelCode = map[string]string{
	"ErrCorrupt":            "corrupt",
	"ErrUnsupportedVersion": "unsupported-version",
	"ErrUntrustedSigner":    "untrusted-signer",
	"ErrIncorrectIdentity":  "incorrect-identity",
	"ErrBadSignature":       "bad-signature",
}

// malleateS returns a copy of a sealed object whose footer signature has
// S + L in place of S: the same point equation holds, so a verifier that
// does not reject S >= L (as Go does) would accept it.
func malleateS(t *testing.T, sealed []byte) []byte {
	t.Helper()
	l, _ := new(big.Int).SetString("7237005577332262213973186563042994240857116359379907606001950938285454250989", 10)
	out := bytes.Clone(sealed)
	sig := out[len(out)-32:]
	le := func(b []byte) []byte {
		r := bytes.Clone(b)
		for i, j := 0, len(r)-1; i < j; i, j = i+1, j-1 {
			r[i], r[j] = r[j], r[i]
		}
		return r
	}
	s := new(big.Int).SetBytes(le(sig))
	s.Add(s, l)
	be := s.FillBytes(make([]byte, 32))
	copy(sig, le(be))
	return out
}

// TestBrowserCrypto: the browser's WebCrypto implementation of the sealed
// object format opens every shared vector exactly as Go does (plaintext,
// header and footer fields; the right error and no plaintext for every
// negative vector), its HPKE and stanzas interoperate with Go's in both
// directions, its device keys are non-extractable, stable across a reload
// and match Go's device ID and "vigdev1:" encoding, and what it seals with
// that device key Go opens and verifies (checkBrowserSeal).
func TestBrowserCrypto(t *testing.T) {
	vectors := loadEnvelopeVectors(t)

	// An extra negative vector: a signature with S >= L.
	for _, v := range vectors {
		if v.Name != "multi-chunk" {
			continue
		}
		sealed, _ := hex.DecodeString(v.Sealed)
		m := malleateS(t, sealed)
		ids := make([]envelope.Identity, 0)
		for _, s := range v.Identities {
			id, err := envelope.ParseX25519Identity(s)
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, id)
		}
		var trusted envelope.TrustedKeys
		for _, s := range v.TrustedSigners {
			k, _ := hex.DecodeString(s)
			trusted = append(trusted, k)
		}
		if _, _, _, err := envelope.Open(m, trusted, ids...); err == nil || !strings.Contains(err.Error(), envelope.ErrBadSignature.Error()) {
			t.Fatalf("Go accepts S >= L or fails otherwise: %v", err)
		}
		nv := v
		nv.Name, nv.Error, nv.Sealed = "signature-s-plus-l", "ErrBadSignature", hex.EncodeToString(m)
		nv.Recipients, nv.Plaintext, nv.Header, nv.Footer, nv.Intermediate = nil, "", nil, nil, nil
		vectors = append(vectors, nv)
	}

	goID, err := envelope.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	browserID, err := envelope.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	fileKey := make([]byte, 32)
	rand.Read(fileKey)
	fileKey2 := make([]byte, 32)
	rand.Read(fileKey2)
	goStanza, err := browserID.Recipient().Wrap(fileKey2)
	if err != nil {
		t.Fatal(err)
	}
	info, aad, pt := []byte("vigil/test/info"), []byte("some aad"), []byte("a message sealed with HPKE, longer than one AES block")
	bpub, _ := ecdh.X25519().NewPublicKey(browserID.Recipient().Bytes())
	bpk, _ := hpke.NewDHKEMPublicKey(bpub)
	enc, sender, err := hpke.NewSender(bpk, hpke.HKDFSHA256(), hpke.AES256GCM(), info)
	if err != nil {
		t.Fatal(err)
	}
	goCT, err := sender.Seal(aad, pt)
	if err != nil {
		t.Fatal(err)
	}
	message := []byte("a message signed by the browser's device key")
	actionsRaw, err := os.ReadFile(filepath.Join("..", "history", "testdata", "actions.json"))
	if err != nil {
		t.Fatal(err)
	}

	sealIn, sealJSON := newSealInput(t)
	in := map[string]any{
		"seal":    sealJSON,
		"actions": json.RawMessage(actionsRaw),
		"vectors": vectors,
		"interop": map[string]string{
			"goRecipient": goID.Recipient().String(), "fileKey": hex.EncodeToString(fileKey),
			"info": hex.EncodeToString(info), "aad": hex.EncodeToString(aad), "plaintext": hex.EncodeToString(pt),
			"browserIdentity": browserID.String(),
			"goStanza":        hex.EncodeToString(append(append(append([]byte{goStanza.Type}, goStanza.Hint[:]...), goStanza.Enc...), goStanza.Body...)),
			"goHpke":          hex.EncodeToString(append(bytes.Clone(enc), goCT...)),
		},
		"message": hex.EncodeToString(message),
	}
	type vecResult struct {
		Name         string            `json:"name"`
		Identity     int               `json:"identity"`
		Error        string            `json:"error"`
		Plaintext    *string           `json:"plaintext"`
		Recipient    string            `json:"recipient"`
		Parsed       string            `json:"recipientParsed"`
		Header       map[string]any    `json:"header"`
		Footer       map[string]string `json:"footer"`
		FileKey      string            `json:"fileKey"`
		Chunks       float64           `json:"chunks"`
		RandomAccess string            `json:"randomAccess"`
	}
	type device struct {
		Missing       bool   `json:"missing"`
		ID            string `json:"id"`
		IDFromPub     string `json:"idFromPub"`
		DeviceString  string `json:"deviceString"`
		ParsedID      string `json:"parsedId"`
		SignPub       string `json:"signPub"`
		BoxPub        string `json:"boxPub"`
		BoxPubDerived string `json:"boxPubDerived"`
		Extractable   bool   `json:"extractable"`
		Sig           string `json:"sig"`
		ExportError   string `json:"exportError"`
		SignExtract   bool   `json:"signExtractable"`
		SignExport    string `json:"signExportError"`
		StanzaToSelf  string `json:"stanzaToSelf"`
	}
	var res struct {
		Vectors []vecResult `json:"vectors"`
		Interop struct {
			Stanza           string `json:"stanza"`
			HPKE             string `json:"hpke"`
			Unwrapped        string `json:"unwrapped"`
			Opened           string `json:"opened"`
			BrowserRecipient string `json:"browserRecipient"`
			TamperedError    string `json:"tamperedError"`
			LowOrder         string `json:"lowOrder"`
			Scalar           []bool `json:"scalar"`
		} `json:"interop"`
		Device struct {
			Before, Created, Reloaded, OtherPage, FreshProfile device
		} `json:"device"`
		Actions browserActions `json:"actions"`
		Seal    browserSeal    `json:"seal"`
	}
	browsertest.Run(t, 3*time.Minute, "crypto.mjs", map[string]string{"INPUT": writeInput(t, in)}, &res)
	checkBrowserActions(t, actionsRaw, res.Actions)
	checkBrowserSeal(t, sealIn, res.Device.Created.SignPub, res.Seal)

	// Vectors.
	if len(res.Vectors) < len(vectors) {
		t.Fatalf("%d results for %d vectors", len(res.Vectors), len(vectors))
	}
	got := map[string][]vecResult{}
	for _, r := range res.Vectors {
		got[r.Name] = append(got[r.Name], r)
	}
	for _, v := range vectors {
		rs := got[v.Name]
		if v.Error != "" {
			if len(rs) != 1 {
				t.Errorf("%s: %d results", v.Name, len(rs))
				continue
			}
			if want := sentinelCode[v.Error]; rs[0].Error != want || rs[0].Plaintext != nil {
				t.Errorf("%s: browser error %q (plaintext %v), want %q and no plaintext", v.Name, rs[0].Error, rs[0].Plaintext != nil, want)
			}
			continue
		}
		if len(rs) != len(v.Identities) {
			t.Errorf("%s: %d results for %d identities", v.Name, len(rs), len(v.Identities))
			continue
		}
		for i, r := range rs {
			if r.Error != "" || r.Plaintext == nil {
				t.Errorf("%s identity %d: browser error %q", v.Name, i, r.Error)
				continue
			}
			if *r.Plaintext != v.Plaintext || r.RandomAccess != v.Plaintext {
				t.Errorf("%s identity %d: plaintext differs (random access equal: %v)", v.Name, i, r.RandomAccess == v.Plaintext)
			}
			if r.Recipient != v.Recipients[i] || r.Parsed != hex.EncodeToString(mustRecipient(t, v.Recipients[i]).Bytes()) {
				t.Errorf("%s identity %d: recipient string %q, want %q", v.Name, i, r.Recipient, v.Recipients[i])
			}
			for k, want := range v.Header {
				if gv, _ := json.Marshal(r.Header[k]); string(gv) != string(mustJSON(want)) {
					t.Errorf("%s header %s: browser %s, want %s", v.Name, k, gv, mustJSON(want))
				}
			}
			for k, want := range v.Footer {
				if r.Footer[k] != want {
					t.Errorf("%s footer %s: browser %s, want %s", v.Name, k, r.Footer[k], want)
				}
			}
			if r.FileKey != v.Intermediate["file_key"] || r.Chunks != v.Intermediate["chunks"] {
				t.Errorf("%s: file key or chunk count (%v, want %v) differ", v.Name, r.Chunks, v.Intermediate["chunks"])
			}
		}
	}

	// Interop: what the browser made, Go opens.
	io := res.Interop
	st, _ := hex.DecodeString(io.Stanza)
	if len(st) != 85 {
		t.Fatalf("browser stanza is %d bytes", len(st))
	}
	s := &envelope.Stanza{Type: st[0], Enc: st[5:37], Body: st[37:]}
	copy(s.Hint[:], st[1:5])
	if k, err := goID.Unwrap([]*envelope.Stanza{s}); err != nil || !bytes.Equal(k, fileKey) {
		t.Errorf("Go cannot unwrap the browser's stanza: %v", err)
	}
	hb, _ := hex.DecodeString(io.HPKE)
	gpriv, _ := ecdh.X25519().NewPrivateKey(goID.Bytes())
	gsk, _ := hpke.NewDHKEMPrivateKey(gpriv)
	if len(hb) < 32 {
		t.Fatalf("browser HPKE output is %d bytes", len(hb))
	}
	rcpt, err := hpke.NewRecipient(hb[:32], gsk, hpke.HKDFSHA256(), hpke.AES256GCM(), info)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := rcpt.Open(aad, hb[32:]); err != nil || !bytes.Equal(got, pt) {
		t.Errorf("Go cannot open the browser's HPKE ciphertext: %v", err)
	}
	if io.Unwrapped != hex.EncodeToString(fileKey2) || io.Opened != hex.EncodeToString(pt) {
		t.Error("the browser did not open Go's stanza or HPKE ciphertext to the right bytes")
	}
	if io.BrowserRecipient != browserID.Recipient().String() {
		t.Errorf("browser recipient %q, want %q", io.BrowserRecipient, browserID.Recipient().String())
	}
	if io.TamperedError == "" || io.LowOrder == "" {
		t.Errorf("tampered HPKE ciphertext (%q) or a low-order recipient (%q) was accepted", io.TamperedError, io.LowOrder)
	}

	if fmt.Sprint(io.Scalar) != "[true false false true]" {
		t.Errorf("S < L check for L-1, L, 2^256-1, 0: %v, want [true false false true]", io.Scalar)
	}

	// Device keys.
	d := res.Device
	if !d.Before.Missing || !d.FreshProfile.Missing {
		t.Errorf("device keys exist before creation (%v) or in a fresh profile (%v)", !d.Before.Missing, !d.FreshProfile.Missing)
	}
	c := d.Created
	if c.Missing || c.Extractable || strings.Contains(c.ExportError, "exported") || c.ExportError == "" {
		t.Errorf("device box key: extractable %v, export %q", c.Extractable, c.ExportError)
	}
	if c.SignExtract || c.SignExport == "" || strings.Contains(c.SignExport, "exported") {
		t.Errorf("device signing key: extractable %v, export %q", c.SignExtract, c.SignExport)
	}
	for name, o := range map[string]device{"reloaded": d.Reloaded, "other page": d.OtherPage} {
		if o.ID != c.ID || o.DeviceString != c.DeviceString || o.Extractable {
			t.Errorf("%s: device %q, want %q", name, o.ID, c.ID)
		}
	}
	dk, err := keydir.ParseDevice(c.DeviceString, keydir.RoleMember, "Browser")
	if err != nil {
		t.Fatal(err)
	}
	if dk.ID != c.ID || c.IDFromPub != c.ID || c.ParsedID != c.ID || hex.EncodeToString(dk.SignPub) != c.SignPub ||
		hex.EncodeToString(dk.BoxPub) != c.BoxPub || c.BoxPubDerived != c.BoxPub || keydir.DeviceID(dk.SignPub) != c.ID {
		t.Errorf("device identity: browser id %s, Go %s", c.ID, dk.ID)
	}
	sig, _ := hex.DecodeString(c.Sig)
	if !ed25519.Verify(dk.SignPub, message, sig) {
		t.Error("Go does not verify the browser device key's signature")
	}
	sig2, _ := hex.DecodeString(d.Reloaded.Sig)
	if !ed25519.Verify(dk.SignPub, message, sig2) {
		t.Error("Go does not verify the reloaded device key's signature")
	}
	ss, _ := hex.DecodeString(c.StanzaToSelf)
	if len(ss) != 85 || !bytes.Equal(ss[1:5], hintOf(dk.BoxPub)) {
		t.Error("stanza to the device's own key has the wrong hint")
	}
}

// browserActions is what web/test-src/crypto.ts reports of the signed
// household action vectors.
type browserActions struct {
	Valid []struct {
		Name, Body, BodyFromDates, Error string
		Signed                           history.Signed
		Verified                         *struct{ Action, Time string }
	} `json:"valid"`
	Invalid map[string]string `json:"invalid"`
	Refused map[string]string `json:"refused"`
	Fresh   history.Signed    `json:"fresh"`
	IDs     []string          `json:"ids"`
	// InviteKey (hex) and InviteID of the secret 0..31.
	InviteKey string `json:"inviteKey"`
	InviteID  string `json:"inviteId"`
	// StaffRecords is what the history page makes of each staff record
	// vector, by name: the request it reads from the object (null for a
	// look-up's or a ticket's) and the sentence it says.
	StaffRecords map[string]struct {
		Parsed *struct {
			Prefix string `json:"prefix"`
			Req    struct {
				ID, Staff, Reason string
				Scopes            []string
				DurationMs        *float64 `json:"durationMs"`
			} `json:"req"`
		} `json:"parsed"`
		Sentence string `json:"sentence"`
	} `json:"staffRecords"`
}

// checkBrowserActions: the browser encodes every valid action of
// internal/history/testdata/actions.json to the same bytes as Go, signs it
// to the same signature and verifies it; it refuses every invalid one with
// Go's reason; it refuses to sign what the format forbids; and what it
// signs afresh verifies in Go.
func checkBrowserActions(t *testing.T, raw []byte, got browserActions) {
	t.Helper()
	var v struct {
		Household   string   `json:"household"`
		GenesisHash string   `json:"genesis_hash"`
		Links       []string `json:"links"`
		Now         time.Time
		Valid       []struct {
			Name, Body string
			Signed     history.Signed
		}
		Invalid      []struct{ Name, Error string }
		StaffRecords []struct {
			Name, Action, Object, Scope, Sentence string
			Request                               *struct {
				ID, Staff, Reason string
				Scopes            []string
				Seconds           int64
			}
		} `json:"staff_records"`
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	if len(got.Valid) != len(v.Valid) || len(got.Invalid) != len(v.Invalid) {
		t.Fatalf("browser checked %d valid and %d invalid actions of %d and %d", len(got.Valid), len(got.Invalid), len(v.Valid), len(v.Invalid))
	}
	for i, want := range v.Valid {
		g := got.Valid[i]
		if g.Error != "" || g.Verified == nil {
			t.Errorf("action %q: browser error %q", want.Name, g.Error)
			continue
		}
		if g.Body != want.Body || g.BodyFromDates != want.Body {
			t.Errorf("action %q: browser body\n%s\n(from dates %s), want\n%s", want.Name, g.Body, g.BodyFromDates, want.Body)
		}
		if g.Signed.Device != want.Signed.Device || !bytes.Equal(g.Signed.Body, want.Signed.Body) || !bytes.Equal(g.Signed.Sig, want.Signed.Sig) {
			t.Errorf("action %q: the browser's signature differs from Go's", want.Name)
		}
	}
	for _, want := range v.Invalid {
		if got.Invalid[want.Name] != want.Error {
			t.Errorf("invalid action %q: browser %q, want %q", want.Name, got.Invalid[want.Name], want.Error)
		}
	}
	if len(v.StaffRecords) < 13 || len(got.StaffRecords) != len(v.StaffRecords) {
		t.Errorf("browser read %d staff records of %d", len(got.StaffRecords), len(v.StaffRecords))
	}
	for _, want := range v.StaffRecords {
		gr, ok := got.StaffRecords[want.Name]
		g := gr.Parsed
		if ok && gr.Sentence != want.Sentence {
			t.Errorf("staff record %q: the history page says\n%s\nwant\n%s", want.Name, gr.Sentence, want.Sentence)
		}
		switch {
		case !ok:
			t.Errorf("staff record %q: not read by the browser", want.Name)
		case want.Request == nil:
			if g != nil {
				t.Errorf("staff record %q: the browser reads a request from %q", want.Name, want.Object)
			}
		case g == nil:
			t.Errorf("staff record %q: the browser reads no request from %q", want.Name, want.Object)
		default:
			prefix := ""
			if want.Action == "staff.read" {
				prefix = want.Scope + " under "
			}
			r := g.Req
			if g.Prefix != prefix || r.ID != want.Request.ID || r.Staff != want.Request.Staff || r.Reason != want.Request.Reason ||
				!slices.Equal(r.Scopes, want.Request.Scopes) || r.DurationMs == nil || *r.DurationMs != float64(want.Request.Seconds*1000) {
				t.Errorf("staff record %q: the browser reads %q as %+v (prefix %q), want %+v", want.Name, want.Object, r, g.Prefix, *want.Request)
			}
		}
	}
	for name, code := range got.Refused {
		if code != "malformed" {
			t.Errorf("browser signing %s: %q, want malformed", name, code)
		}
	}
	if len(got.Refused) != 4 {
		t.Errorf("browser refusals: %v", got.Refused)
	}
	st, err := keydir.Verify(unhexAll(t, v.Links), mustHex(t, v.GenesisHash))
	if err != nil {
		t.Fatal(err)
	}
	a, err := history.VerifyAction(got.Fresh, st, v.Household, v.Now, history.ActionSkew)
	if err != nil {
		t.Fatalf("Go refuses the browser's fresh action: %v", err)
	}
	if p, err := a.Invite(); err != nil || !p.Expires.Equal(v.Now.Add(time.Hour)) || p.Role != "member" {
		t.Errorf("browser's invite action: %+v %v", p, err)
	}
	if len(got.IDs) != 2 || got.IDs[0] == got.IDs[1] {
		t.Errorf("browser invite IDs %q: two different ones expected", got.IDs)
	}
	for _, id := range got.IDs {
		if _, err := history.NewAction(v.Household, history.InviteDeleteParams{Invite: id}, v.Now); err != nil {
			t.Errorf("browser invite ID %q: %v", id, err)
		}
	}
	secret := make([]byte, 32)
	for i := range secret {
		secret[i] = byte(i)
	}
	if got.InviteKey != hex.EncodeToString(member.InviteKey(secret)) || got.InviteID != member.InviteID(secret) {
		t.Errorf("the browser's invite key and ID of the secret 0..31: %s %s; Go's %x %s", got.InviteKey, got.InviteID, member.InviteKey(secret), member.InviteID(secret))
	}
}

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func hintOf(pub []byte) []byte {
	r, err := envelope.NewX25519Recipient(pub)
	if err != nil {
		return nil
	}
	st, err := r.Wrap(make([]byte, 32))
	if err != nil {
		return nil
	}
	return st.Hint[:]
}

func mustRecipient(t *testing.T, s string) *envelope.X25519Recipient {
	r, err := envelope.ParseX25519Recipient(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

// chainSummary is what the browser reports of a verified chain state.
type chainSummary struct {
	HouseholdID    string            `json:"household_id"`
	Name           string            `json:"name"`
	Seq            int64             `json:"seq"`
	Head           string            `json:"head"`
	Epoch          int               `json:"epoch"`
	Devices        map[string]string `json:"devices"`
	EpochPublic    []string          `json:"epoch_public_keys"`
	HubSigningKeys []string          `json:"hub_signing_keys"`
	Genesis        string            `json:"genesis"`
}

// checkSummary compares the browser's view of a state with Go's.
func checkSummary(t *testing.T, what string, got chainSummary, st *keydir.State) {
	t.Helper()
	roles := map[string]string{}
	for id, d := range st.Devices {
		roles[id] = d.Role
	}
	var pubs, hubs []string
	for n := 1; n <= st.Epoch; n++ {
		r, err := st.EpochRecipientFor(n)
		if err != nil {
			t.Fatal(err)
		}
		pubs = append(pubs, hex.EncodeToString(r.Bytes()))
	}
	for _, k := range st.TrustedHubs() {
		hubs = append(hubs, hex.EncodeToString(k))
	}
	if got.HouseholdID != st.HouseholdID || got.Name != st.Name || got.Seq != st.Seq || got.Head != hex.EncodeToString(st.Head) ||
		got.Epoch != st.Epoch || got.Genesis != hex.EncodeToString(st.GenesisHash) || fmt.Sprint(got.Devices) != fmt.Sprint(roles) ||
		fmt.Sprint(got.EpochPublic) != fmt.Sprint(pubs) || fmt.Sprint(got.HubSigningKeys) != fmt.Sprint(hubs) {
		t.Errorf("%s: browser state %+v\nGo state %s %q seq %d head %x epoch %d devices %v epochs %v hubs %v", what, got, st.HouseholdID, st.Name, st.Seq, st.Head, st.Epoch, roles, pubs, hubs)
	}
}

func unhexAll(t *testing.T, ss []string) [][]byte {
	t.Helper()
	var out [][]byte
	for _, s := range ss {
		out = append(out, mustHex(t, s))
	}
	return out
}

// TestBrowserChain: the browser verifies Go-built household chains exactly
// as keydir does (the vector chain and every invalid variant, prefixes, a
// wrong pin), opens footage with each device's epoch keys and the recovery
// phrase, parses recovery phrases with Go's checksum and messages; and the
// chains its builders make (extending the Go chain, and a new household)
// verify with keydir.Verify, with epoch keys that Go device keys and the
// recovery phrase unwrap.
func TestBrowserChain(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "keydir", "testdata", "chain_vectors.json"))
	if err != nil {
		t.Fatal(err)
	}
	var vectors map[string]any
	var v struct {
		GenesisHash    string            `json:"genesis_hash"`
		RecoveryPhrase string            `json:"recovery_phrase"`
		DeviceKeys     map[string]string `json:"device_keys"`
		Links          []string          `json:"links"`
		Final          chainSummary      `json:"final"`
		Invalid        []struct {
			Name  string   `json:"name"`
			Links []string `json:"links"`
			Error string   `json:"error"`
		} `json:"invalid"`
	}
	if err := json.Unmarshal(raw, &vectors); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	pin, _ := hex.DecodeString(v.GenesisHash)
	links := unhexAll(t, v.Links)
	goState, err := keydir.Verify(links, pin)
	if err != nil {
		t.Fatal(err)
	}

	p := v.RecoveryPhrase
	typo := []byte(p)
	typo[6] = map[bool]byte{true: 'A', false: 'B'}[typo[6] != 'A']
	phrases := []string{
		p, strings.ToLower(strings.ReplaceAll(p, "-", " ")), strings.ReplaceAll(strings.ReplaceAll(p, "1", "l"), "0", "O"),
		string(typo), p[:len(p)-1], p + "7", strings.Replace(p, p[:1], "U", 1), "", "----",
	}
	frank, err := keydir.NewDeviceKeys()
	if err != nil {
		t.Fatal(err)
	}
	fpub := frank.Public(keydir.RoleMember, "Frank")
	hub2Pub, hub2, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	in := map[string]any{
		"vectors": vectors, "phrases": phrases, "hub2": hex.EncodeToString(hub2Pub),
		"frank": map[string]string{"signPub": hex.EncodeToString(fpub.SignPub), "boxPub": hex.EncodeToString(fpub.BoxPub)},
	}
	type summaryHH struct {
		Links      []string     `json:"links"`
		Phrase     string       `json:"phrase"`
		Final      chainSummary `json:"final"`
		Reverified chainSummary `json:"reverified"`
	}
	var res struct {
		Vectors struct {
			Final    chainSummary      `json:"final"`
			Open     map[string]any    `json:"open"`
			Invalid  map[string]string `json:"invalid"`
			Prefix   chainSummary      `json:"prefix"`
			WrongPin string            `json:"wrongPin"`
			Phrases  map[string]string `json:"phrases"`
			New      string            `json:"newPhrase"`
			Infos    []struct {
				HouseholdID string `json:"householdId"`
				Seq         int64  `json:"seq"`
				Hash        string `json:"hash"`
				Time        int64  `json:"time"`
				Signer      string `json:"signer"`
				Op          string `json:"op"`
				Device      string `json:"device"`
				Role        string `json:"role"`
				Epoch       int    `json:"epoch"`
			} `json:"infos"`
		} `json:"vectors"`
		Builders struct {
			Me struct {
				ID      string `json:"id"`
				SignPub string `json:"signPub"`
				BoxPub  string `json:"boxPub"`
			} `json:"me"`
			Refused   map[string]string `json:"refused"`
			MeOpens   []string          `json:"meOpens"`
			MeEpochs  int               `json:"meEpochs"`
			Links     []string          `json:"links"`
			Final     chainSummary      `json:"final"`
			Household summaryHH         `json:"household"`
		} `json:"builders"`
	}
	browsertest.Run(t, 3*time.Minute, "crypto-chain.mjs", map[string]string{"INPUT": writeInput(t, in)}, &res)

	// Verifying Go's chains.
	rv := res.Vectors
	checkSummary(t, "vector chain", rv.Final, goState)
	wantOpen := "[epoch 1 footage epoch 4 footage]"
	for _, name := range []string{"alice", "bob", "dave", "alice-boxkey", "recovery"} {
		if fmt.Sprint(rv.Open[name]) != wantOpen {
			t.Errorf("%s opens %v, want %s", name, rv.Open[name], wantOpen)
		}
	}
	for _, name := range []string{"carol", "erin", "hub"} {
		if s, _ := rv.Open[name].(string); !strings.HasPrefix(s, "not-member: ") {
			t.Errorf("%s (not a member) got %v", name, rv.Open[name])
		}
	}
	for _, c := range v.Invalid {
		if got := rv.Invalid[c.Name]; !strings.Contains(got, c.Error) {
			t.Errorf("invalid chain %q: browser %q, want it to contain %q", c.Name, got, c.Error)
		}
	}
	prefix, err := keydir.Verify(links[:4], pin)
	if err != nil {
		t.Fatal(err)
	}
	checkSummary(t, "prefix", rv.Prefix, prefix)
	if !strings.HasPrefix(rv.WrongPin, "genesis-mismatch: chain link 0: chain does not start at the pinned genesis") {
		t.Errorf("wrong pin: %q", rv.WrongPin)
	}
	for _, ph := range phrases {
		want := ""
		id, err := keydir.ParseRecoveryPhrase(ph)
		if err != nil {
			want = "error: " + strings.TrimPrefix(err.Error(), "keydir: ")
		} else {
			want = hex.EncodeToString(id.Recipient().Bytes())
		}
		if rv.Phrases[ph] != want {
			t.Errorf("recovery phrase %q: browser %q, Go %q", ph, rv.Phrases[ph], want)
		}
	}
	if _, err := keydir.ParseRecoveryPhrase(rv.New); err != nil || len(rv.New) != 39 {
		t.Errorf("browser-made recovery phrase does not parse in Go: %v", err)
	}
	if len(rv.Infos) != len(links) {
		t.Fatalf("%d link infos", len(rv.Infos))
	}
	for i, l := range links {
		gi, err := keydir.ParseLink(l)
		if err != nil {
			t.Fatal(err)
		}
		bi := rv.Infos[i]
		if bi.HouseholdID != gi.HouseholdID || bi.Seq != gi.Seq || bi.Hash != hex.EncodeToString(gi.Hash) || bi.Time != gi.Time.UnixMilli() ||
			bi.Signer != gi.Signer || bi.Op != gi.Op || bi.Device != gi.Device || bi.Role != gi.Role || bi.Epoch != gi.Epoch {
			t.Errorf("link %d info: browser %+v, Go %+v", i, bi, gi)
		}
	}

	// Go verifying the browser's links.
	rb := res.Builders
	for name, wantCode := range map[string]string{"member adds": "unauthorized", "not yet a member adds": "unauthorized", "bad name": "invalid", "duplicate device": "invalid", "removed adds": "unauthorized"} {
		if !strings.HasPrefix(rb.Refused[name], wantCode+": ") {
			t.Errorf("builder %q: %q, want a %s refusal", name, rb.Refused[name], wantCode)
		}
	}
	if fmt.Sprint(rb.MeOpens) != wantOpen || rb.MeEpochs != 6 {
		t.Errorf("the browser device, once added, opens %v and has %d epoch keys", rb.MeOpens, rb.MeEpochs)
	}
	ext := append(slices.Clone(links), unhexAll(t, rb.Links)...)
	st, err := keydir.Verify(ext, pin)
	if err != nil {
		t.Fatalf("keydir.Verify rejects the chain the browser extended: %v", err)
	}
	checkSummary(t, "extended chain", rb.Final, st)
	meSign, _ := hex.DecodeString(rb.Me.SignPub)
	if d, ok := st.Devices[keydir.DeviceID(meSign)]; !ok || d.Role != keydir.RoleAdmin || d.ID != rb.Me.ID || hex.EncodeToString(d.BoxPub) != rb.Me.BoxPub {
		t.Errorf("browser device in the Go state: %+v", d)
	}
	if st.Epoch != 6 || len(st.Hubs()) != 2 || len(st.Devices) != 6 {
		t.Errorf("extended chain: epoch %d, %d hubs, %d devices", st.Epoch, len(st.Hubs()), len(st.Devices))
	}
	ids, err := st.EpochIdentities(frank)
	if err != nil || len(ids) != 6 {
		t.Fatalf("Frank's keys do not unwrap the epoch keys the browser wrapped: %v", err)
	}
	if rids, err := st.RecoveryIdentities(v.RecoveryPhrase); err != nil || len(rids) != 6 {
		t.Errorf("recovery phrase on the extended chain: %v", err)
	}
	seg, err := envelope.Seal(envelope.Header{Kind: envelope.KindSegment, Stream: "garage", Start: time.Now(), Epoch: uint32(st.Epoch)},
		time.Now(), hub2, []byte("epoch 6 footage"), st.EpochRecipient())
	if err != nil {
		t.Fatal(err)
	}
	if _, _, pt, err := envelope.Open(seg, st.TrustedHubs(), ids...); err != nil || string(pt) != "epoch 6 footage" {
		t.Errorf("Frank cannot open footage of the browser-made epoch: %v", err)
	}

	hh := rb.Household
	hlinks := unhexAll(t, hh.Links)
	if len(hlinks) != 4 {
		t.Fatalf("%d links in the browser's household", len(hlinks))
	}
	st2, err := keydir.Verify(hlinks, keydir.GenesisHash(hlinks[0]))
	if err != nil {
		t.Fatalf("keydir.Verify rejects the browser's household: %v", err)
	}
	checkSummary(t, "browser household", hh.Final, st2)
	checkSummary(t, "browser household reverified", hh.Reverified, st2)
	if st2.Name != "Browser house" || st2.Epoch != 2 || len(st2.Devices) != 3 {
		t.Errorf("browser household %q epoch %d devices %d", st2.Name, st2.Epoch, len(st2.Devices))
	}
	if ids, err := st2.RecoveryIdentities(hh.Phrase); err != nil || len(ids) != 2 {
		t.Errorf("the browser's recovery phrase does not recover the epoch keys in Go: %v", err)
	}
	if ids, err := st2.EpochIdentities(frank); err != nil || len(ids) != 2 {
		t.Errorf("Frank cannot unwrap the browser household's epoch keys: %v", err)
	}
}

// TestBrowserHousehold: household.ts verifies the chain the cloud serves
// from the pinned genesis (pinning the cloud's on first use), refuses a
// changed pin, a rolled-back chain and another household's chain, and once
// an admin adds this browser's device it holds the epoch keys, opens
// footage and appends links (checked here with keydir), across a reload.
func TestBrowserHousehold(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "keydir", "testdata", "chain_vectors.json"))
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		GenesisHash string            `json:"genesis_hash"`
		DeviceKeys  map[string]string `json:"device_keys"`
		Links       []string          `json:"links"`
		Final       struct {
			HouseholdID    string   `json:"household_id"`
			Head           string   `json:"head"`
			SegmentEpochN  string   `json:"segment_epoch_n"`
			HubSigningKeys []string `json:"hub_signing_keys"`
		} `json:"final"`
		Invalid []struct {
			Name  string   `json:"name"`
			Links []string `json:"links"`
		} `json:"invalid"`
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	var other []string
	for _, c := range v.Invalid {
		if c.Name == "another genesis" {
			other = c.Links
		}
	}
	in := map[string]any{
		"hh": v.Final.HouseholdID, "genesisHash": v.GenesisHash, "links": v.Links, "otherGenesis": other,
		"adminKeys": v.DeviceKeys["alice"], "segment": v.Final.SegmentEpochN,
	}
	type summary struct {
		HH      string `json:"hh"`
		Role    string `json:"role"`
		Pinned  bool   `json:"pinned"`
		Seq     int64  `json:"seq"`
		Head    string `json:"head"`
		Keys    *string
		Me      *struct{ ID, Role, Name string } `json:"me"`
		IDs     int                              `json:"identities"`
		Trusted []string                         `json:"trustedHubs"`
	}
	type opened struct {
		OK    *summary `json:"ok"`
		Pin   string   `json:"pin"`
		Error string   `json:"error"`
	}
	var res struct {
		First, Rollback, OtherHousehold, Reloaded, DroppedLink opened
		Repin, SamePin                                         string
		Enrol                                                  struct {
			Link       string  `json:"link"`
			After      summary `json:"after"`
			CachedSame bool    `json:"cachedSame"`
			Plaintext  string  `json:"plaintext"`
			Me         string  `json:"me"`
		}
		Posted []struct {
			Link string `json:"link"`
		}
	}
	logSrv := httptest.NewServer(newStandInLog(t))
	defer logSrv.Close()
	browsertest.Run(t, 2*time.Minute, "crypto-household.mjs", map[string]string{"INPUT": writeInput(t, in), "LOG_URL": logSrv.URL}, &res)

	f := res.First
	if f.OK == nil || f.OK.Pinned || f.Pin != v.GenesisHash || f.OK.Me != nil || f.OK.IDs != 0 || f.OK.Seq != 10 || f.OK.Head != v.Final.Head ||
		fmt.Sprint(f.OK.Trusted) != fmt.Sprint(v.Final.HubSigningKeys) || f.OK.Role != "admin" {
		t.Errorf("first open (no pin, no device): %+v %q %q", f.OK, f.Pin, f.Error)
	}
	if !strings.Contains(res.Repin, "another genesis") || res.SamePin != "pinned" {
		t.Errorf("re-pinning: other hash %q, same hash %q", res.Repin, res.SamePin)
	}
	if !strings.HasPrefix(res.Rollback.Error, "RollbackError: ") {
		t.Errorf("a shorter chain: %+v", res.Rollback)
	}
	if !strings.Contains(res.OtherHousehold.Error, "chain does not start at the pinned genesis") {
		t.Errorf("another household's chain: %+v", res.OtherHousehold)
	}
	e := res.Enrol
	if len(res.Posted) != 1 || res.Posted[0].Link != e.Link {
		t.Fatalf("posted links %+v", res.Posted)
	}
	pin, _ := hex.DecodeString(v.GenesisHash)
	st, err := keydir.Verify(unhexAll(t, append(slices.Clone(v.Links), e.Link)), pin)
	if err != nil {
		t.Fatalf("keydir rejects the appended link: %v", err)
	}
	if d, ok := st.Devices[e.Me]; !ok || d.Role != keydir.RoleMember || d.Name != "This browser" {
		t.Errorf("the browser device in Go's state: %+v", d)
	}
	if e.After.Me == nil || e.After.Me.ID != e.Me || e.After.IDs != 4 || e.After.Seq != 11 || !e.CachedSame || e.Plaintext != "epoch 4 footage" {
		t.Errorf("after enrolment: %+v cached %v plaintext %q", e.After, e.CachedSame, e.Plaintext)
	}
	r := res.Reloaded
	if r.OK == nil || !r.OK.Pinned || r.OK.Me == nil || r.OK.Me.ID != e.Me || r.OK.IDs != 4 || r.OK.Seq != 11 {
		t.Errorf("after a reload: %+v %q", r.OK, r.Error)
	}
	if !strings.HasPrefix(res.DroppedLink.Error, "RollbackError: ") {
		t.Errorf("the cloud dropping the newest link: %+v", res.DroppedLink)
	}
}

// fakeRelay is a stand-in for the cloud's household and pairing routes
// (docs/API.md shapes) for TestBrowserPairing: real keydir verification of
// appended links, and a real pairing.Hub answering each pairing.
type fakeRelay struct {
	log      *standInLog // GET /v1/log, /tlog/, and the chain's log indexes
	mu       sync.Mutex
	hh       string
	genesis  []byte
	links    [][]byte
	st       *keydir.State
	pairings map[string]*fakePairing
}

type fakePairing struct {
	hub    *pairing.Hub
	msgs   [][]byte
	tamper int // 1: the relay alters message 1; 3: message 3
	offer  *pairing.HouseholdOffer
}

func (f *fakeRelay) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/v1/log" || strings.HasPrefix(r.URL.Path, "/tlog/") {
		f.log.ServeHTTP(w, r)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	reply := func(status int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(v)
	}
	hhPath := "/v1/households/" + f.hh
	switch {
	case r.Method == "GET" && r.URL.Path == hhPath:
		reply(200, map[string]any{"household_id": f.hh, "name": f.st.Name, "genesis_hash": hex.EncodeToString(f.genesis), "role": "admin"})
	case r.Method == "GET" && r.URL.Path == hhPath+"/chain":
		reply(200, map[string]any{"household_id": f.hh, "genesis_hash": hex.EncodeToString(f.genesis), "from": 0, "links": f.links, "log_index": f.log.indexes(f.links)})
	case r.Method == "POST" && r.URL.Path == hhPath+"/chain":
		var body struct {
			Link []byte `json:"link"`
		}
		json.NewDecoder(r.Body).Decode(&body)
		next := f.st.Clone()
		if err := next.Apply(body.Link); err != nil {
			reply(422, map[string]string{"error": err.Error()})
			return
		}
		f.st, f.links = next, append(f.links, body.Link)
		reply(201, map[string]any{"seq": next.Seq})
	case strings.HasPrefix(r.URL.Path, "/v1/pairings/"):
		rest := strings.TrimPrefix(r.URL.Path, "/v1/pairings/")
		id, sub, _ := strings.Cut(rest, "/")
		p := f.pairings[id]
		if p == nil {
			reply(404, map[string]string{"error": "no such pairing"})
			return
		}
		if r.Method == "GET" && sub == "" {
			msgs := slices.Clone(p.msgs)
			if p.tamper == 1 {
				msgs[0] = bytes.Clone(msgs[0])
				msgs[0][40] ^= 1
			}
			if p.tamper == 3 && len(msgs) == 3 {
				msgs[2] = bytes.Clone(msgs[2])
				msgs[2][5] ^= 1
			}
			reply(200, map[string]any{"household_id": f.hh, "msgs": msgs})
			return
		}
		var body struct {
			Step        int    `json:"step"`
			Msg         []byte `json:"msg"`
			HouseholdID string `json:"household_id"`
		}
		json.NewDecoder(r.Body).Decode(&body)
		if r.Method != "POST" || sub != "messages" || body.Step != 1 || len(p.msgs) != 1 || body.HouseholdID != f.hh {
			reply(409, map[string]string{"error": "out of order"})
			return
		}
		p.msgs = append(p.msgs, body.Msg)
		offer, msg3, err := p.hub.Receive(body.Msg)
		if err != nil {
			reply(201, map[string]any{})
			return
		}
		p.offer = &offer
		p.msgs = append(p.msgs, msg3)
		reply(201, map[string]any{})
	default:
		reply(404, map[string]string{"error": "not found"})
	}
}

// TestBrowserPairing: the browser pairs a hub exactly as Go
// member.PairHub — codes parse to Go's rendezvous IDs, the real Go hub
// accepts the browser's offer (household, pinned genesis, epoch key) and
// the browser adds the hub to the chain (verified with keydir) only after
// the hub's confirmation; a relay that alters message 1 or 3, an unknown or
// used code, or a browser that is not an admin change nothing.
func TestBrowserPairing(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "keydir", "testdata", "chain_vectors.json"))
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		GenesisHash string            `json:"genesis_hash"`
		DeviceKeys  map[string]string `json:"device_keys"`
		Links       []string          `json:"links"`
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	pin, _ := hex.DecodeString(v.GenesisHash)
	links := unhexAll(t, v.Links)
	st, err := keydir.Verify(links, pin)
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeRelay{log: newStandInLog(t), hh: st.HouseholdID, genesis: pin, links: links, st: st, pairings: map[string]*fakePairing{}}
	newHub := func(tamper int) (pairing.Code, ed25519.PublicKey) {
		code, err := pairing.NewCode()
		if err != nil {
			t.Fatal(err)
		}
		pub, _, _ := ed25519.GenerateKey(rand.Reader)
		hub, msg1, err := pairing.NewHub(code, pub, "Garage hub")
		if err != nil {
			t.Fatal(err)
		}
		f.pairings[code.RendezvousID()] = &fakePairing{hub: hub, msgs: [][]byte{msg1}, tamper: tamper}
		return code, pub
	}
	good, goodPub := newHub(0)
	t1, _ := newHub(1)
	t3, _ := newHub(3)
	unknown, _ := pairing.NewCode()
	srv := httptest.NewServer(f)
	defer srv.Close()

	gs := good.String()
	variants := []string{gs, strings.ToLower(strings.ReplaceAll(gs, "-", " ")), strings.ReplaceAll(gs, "-", "\u2013"), gs[:5] + "U" + gs[6:], gs[:len(gs)-1], ""}
	typo := []byte(gs)
	typo[3] = map[bool]byte{true: '2', false: '3'}[typo[3] != '2']
	variants = append(variants, string(typo))
	in := map[string]any{
		"hh": st.HouseholdID, "adminKeys": v.DeviceKeys["alice"], "variants": variants,
		"codes": map[string]string{"good": strings.ToLower(gs), "tamper1": t1.String(), "tamper3": t3.String(), "unknown": unknown.String()},
	}
	var res struct {
		Rendezvous  map[string]string `json:"rendezvous"`
		BeforeAdmin string            `json:"beforeAdmin"`
		Tamper1     string            `json:"tamper1"`
		Tamper3     string            `json:"tamper3"`
		Unknown     string            `json:"unknown"`
		Again       string            `json:"again"`
		Me          string            `json:"me"`
		Good        struct {
			Hub  string   `json:"hub"`
			Name string   `json:"name"`
			Seq  int64    `json:"seq"`
			Hubs []string `json:"hubs"`
		} `json:"good"`
	}
	browsertest.Run(t, 2*time.Minute, "crypto-pairing.mjs", map[string]string{"INPUT": writeInput(t, in), "API_URL": srv.URL}, &res)

	for _, s := range variants {
		want := "invalid"
		if c, err := pairing.ParseCode(s); err == nil {
			want = c.RendezvousID()
		}
		got := res.Rendezvous[s]
		if want == "invalid" && !strings.HasPrefix(got, "PairingError: invalid pairing code") || want != "invalid" && got != want {
			t.Errorf("code %q: browser %q, Go %q", s, got, want)
		}
	}
	if !strings.Contains(res.BeforeAdmin, "only an admin device") {
		t.Errorf("a browser that is not an admin device: %q", res.BeforeAdmin)
	}
	for name, got := range map[string]string{"tamper1": res.Tamper1, "tamper3": res.Tamper3} {
		if !strings.HasPrefix(got, "PairingError: pairing failed") {
			t.Errorf("relay altering a message (%s): %q", name, got)
		}
	}
	if !strings.Contains(res.Unknown, "no hub is waiting") || !strings.Contains(res.Again, "already used") {
		t.Errorf("unknown code %q, used code %q", res.Unknown, res.Again)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.links) != len(links)+2 {
		t.Fatalf("%d links after pairing, want %d (enrolment and one hub)", len(f.links), len(links)+2)
	}
	final, err := keydir.Verify(f.links, pin)
	if err != nil {
		t.Fatal(err)
	}
	hub, ok := final.Devices[keydir.DeviceID(goodPub)]
	if !ok || hub.Role != keydir.RoleHub || hub.Name != "Garage hub" || res.Good.Hub != hex.EncodeToString(goodPub) || res.Good.Seq != final.Seq {
		t.Errorf("paired hub in the chain: %+v; browser says %+v", hub, res.Good)
	}
	if d := final.Devices[res.Me]; d.Role != keydir.RoleAdmin {
		t.Errorf("browser device role %q", d.Role)
	}
	o := f.pairings[good.RendezvousID()].offer
	if o == nil || o.HouseholdID != st.HouseholdID || !bytes.Equal(o.GenesisHash, pin) || o.EpochRecipient != final.EpochRecipient().String() {
		t.Errorf("the hub received offer %+v", o)
	}
	if f.pairings[t1.RendezvousID()].offer != nil || f.pairings[t3.RendezvousID()].offer == nil {
		t.Error("an altered hello must stop the browser before it offers; an altered confirmation only after")
	}
}
