package history

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"math/big"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"vigil/internal/canonjson"
	"vigil/internal/keydir"
)

var updateActions = flag.Bool("update-actions", false, "rewrite testdata/actions.json (a new chain, new keys)")

const actionVectorsPath = "testdata/actions.json"

// actionVectors is testdata/actions.json, which web/test-src/crypto.ts
// checks too (internal/e2e TestBrowserCrypto).
type actionVectors struct {
	Comment     string            `json:"comment"`
	Household   string            `json:"household"`
	GenesisHash string            `json:"genesis_hash"`
	Links       []string          `json:"links"` // hex, from the genesis
	Now         string            `json:"now"`   // the verifier's clock
	SkewSeconds int               `json:"skew_seconds"`
	DeviceKeys  map[string]string `json:"device_keys"` // name -> key file text (test keys only)
	Devices     map[string]string `json:"devices"`     // name -> device ID
	Valid       []validAction     `json:"valid"`
	Invalid     []invalidAction   `json:"invalid"`
	// StaffRecords are the lockbox's records as the household's history
	// holds them (internal/cloud/staff.go writes them; web/src/history
	// describe.ts reads them). Only staff.approve, staff.deny and
	// staff.revoke are signed actions; the others are the staff member's
	// or the service's doing, and none is in Valid.
	StaffRecords  []staffRecord     `json:"staff_records"`
	StaffNames    map[string]string `json:"staff_names"`    // staff ID -> name, for the sentences
	AccountEmails map[string]string `json:"account_emails"` // account ID -> e-mail, for the sentences
}

// staffRecord is one staff record: its action, who did it (actor kind
// and ID), and its object, the exact text made from the request's fields
// (and the scope read), the ticket's, or the support code looked up.
type staffRecord struct {
	Name        string            `json:"name"`
	Action      string            `json:"action"`
	ActorKind   string            `json:"actor_kind"`
	Actor       string            `json:"actor,omitempty"`
	SupportCode string            `json:"support_code,omitempty"` // staff.lookup: as typed
	Scope       string            `json:"scope,omitempty"`        // staff.read: the scope read
	Request     *staffRecordOfReq `json:"request,omitempty"`
	Ticket      *staffRecordOfTkt `json:"ticket,omitempty"` // staff.ticket-*: the ticket
	Object      string            `json:"object"`
	// Sentence is what the household's history page says of the record
	// (web/src/history/describe.ts), naming the staff member and the
	// admin's account by StaffNames and AccountEmails.
	Sentence string `json:"sentence"`
}

// Who the staff record vectors' sentences name.
var (
	staffVectorNames = map[string]string{"sq4tz7kxm2nbw6rdyp3vc5ehjab": "Ada"}
	accountEmails    = map[string]string{"a0123456789abcdef0123456789abcdef": "alice@example.com"}
)

// staffRecordOfReq is the request a record names.
type staffRecordOfReq struct {
	ID      string   `json:"id"`
	Staff   string   `json:"staff"`
	Scopes  []string `json:"scopes"`
	Seconds int64    `json:"seconds"`
	Reason  string   `json:"reason"`
}

// staffRecordOfTkt is the ticket a record names.
type staffRecordOfTkt struct {
	ID      string `json:"id"`
	Subject string `json:"subject"`
}

// actionNames are every signed action: each has a valid vector.
var actionNames = []string{ActionSettingsSet, ActionInviteCreate, ActionInviteDelete, ActionMemberAdd, ActionMemberRemove,
	ActionStaffApprove, ActionStaffDeny, ActionStaffRevoke}

// staffRecordActions are the staff records (the lockbox's, and those of
// tickets, internal/cloud/staff_tickets.go): each has a staff record
// vector.
var staffRecordActions = []string{"staff.lookup", "staff.request", ActionStaffApprove, ActionStaffDeny, ActionStaffRevoke,
	"staff.read", "staff.expire", "staff.ticket-open", "staff.ticket-close", "staff.ticket-reopen", "staff.tickets"}

// validAction is an action given by its fields, the body every
// implementation must encode from them, and the signature of Signer's
// device key over it (Ed25519 is deterministic).
type validAction struct {
	Name      string          `json:"name"`
	Signer    string          `json:"signer"`
	Household string          `json:"household"`
	Action    string          `json:"action"`
	Time      string          `json:"time"`
	Nonce     string          `json:"nonce"`  // base64url
	Params    json.RawMessage `json:"params"` // as the body has them
	Body      string          `json:"body"`   // the body as UTF-8 text
	Signed    json.RawMessage `json:"signed"` // {"device","body","sig"}
}

// invalidAction is a signed action ({"device","body","sig"} as sent) that
// every verifier refuses with Error: "malformed", "household", "signer",
// "signature" or "time".
type invalidAction struct {
	Name   string `json:"name"`
	Signed string `json:"signed"`
	Error  string `json:"error"`
}

var actionErrorNames = map[string]error{
	"malformed": ErrActionMalformed,
	"household": ErrActionHousehold,
	"signer":    ErrActionSigner,
	"signature": ErrActionSignature,
	"time":      ErrActionTime,
}

func loadActionVectors(t testing.TB) (actionVectors, *keydir.State, time.Time) {
	t.Helper()
	b, err := os.ReadFile(actionVectorsPath)
	if err != nil {
		t.Fatalf("%v (hint: go test ./internal/history -run TestActionVectors -update-actions)", err)
	}
	var v actionVectors
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	for i := range v.Valid { // the file is indented
		var c bytes.Buffer
		if err := json.Compact(&c, v.Valid[i].Params); err != nil {
			t.Fatal(err)
		}
		v.Valid[i].Params = c.Bytes()
		c.Reset()
		json.Compact(&c, v.Valid[i].Signed)
		v.Valid[i].Signed = c.Bytes()
	}
	var links [][]byte
	for _, l := range v.Links {
		raw, err := hex.DecodeString(l)
		if err != nil {
			t.Fatal(err)
		}
		links = append(links, raw)
	}
	g, _ := hex.DecodeString(v.GenesisHash)
	st, err := keydir.Verify(links, g)
	if err != nil {
		t.Fatalf("the vector chain does not verify: %v", err)
	}
	now, err := time.Parse(time.RFC3339, v.Now)
	if err != nil {
		t.Fatal(err)
	}
	return v, st, now
}

func TestActionVectors(t *testing.T) {
	if *updateActions {
		writeActionVectors(t)
	}
	v, st, now := loadActionVectors(t)
	if st.HouseholdID != v.Household || v.SkewSeconds != int(ActionSkew/time.Second) {
		t.Fatalf("vector household %s (chain %s), skew %d", v.Household, st.HouseholdID, v.SkewSeconds)
	}
	keys := map[string]*keydir.DeviceKeys{}
	for name, text := range v.DeviceKeys {
		k, err := keydir.ParseDeviceKeys([]byte(text))
		if err != nil {
			t.Fatal(err)
		}
		keys[name] = k
	}
	if len(v.Valid) < 6 || len(v.Invalid) < 20 {
		t.Fatalf("only %d valid and %d invalid vectors", len(v.Valid), len(v.Invalid))
	}
	for _, name := range actionNames {
		if !slices.ContainsFunc(v.Valid, func(c validAction) bool { return c.Action == name }) {
			t.Errorf("no valid vector of %s", name)
		}
	}
	for _, name := range staffRecordActions {
		if !slices.ContainsFunc(v.StaffRecords, func(c staffRecord) bool { return c.Action == name }) {
			t.Errorf("no staff record vector of %s", name)
		}
	}
	for _, c := range v.StaffRecords {
		if c.Object == "" || c.Sentence == "" || !slices.Contains(staffRecordActions, c.Action) {
			t.Errorf("staff record vector %q: action %q, object %q, sentence %q", c.Name, c.Action, c.Object, c.Sentence)
		}
	}
	if !reflect.DeepEqual(v.StaffRecords, staffRecordVectors()) {
		t.Errorf("the staff record vectors of %s are not staffRecordVectors' (write them with -update-actions)", actionVectorsPath)
	}
	for _, c := range v.Valid {
		t.Run(c.Name, func(t *testing.T) {
			tm, err := parseActTime(c.Time, "time")
			if err != nil {
				t.Fatal(err)
			}
			nonce, _ := base64.RawURLEncoding.DecodeString(c.Nonce)
			a := Action{V: 1, Household: c.Household, Action: c.Action, Time: tm, Nonce: nonce, Params: c.Params}
			body, err := a.Encode()
			if err != nil || string(body) != c.Body {
				t.Fatalf("encodes to %s (%v), want %s", body, err, c.Body)
			}
			s, err := SignAction(keys[c.Signer], a)
			if err != nil {
				t.Fatal(err)
			}
			js, _ := json.Marshal(s)
			if string(js) != string(c.Signed) {
				t.Fatalf("signed: %s, want %s", js, c.Signed)
			}
			got, err := ParseSigned(c.Signed)
			if err != nil {
				t.Fatal(err)
			}
			back, err := VerifyAction(got, st, v.Household, now, ActionSkew)
			if err != nil {
				t.Fatalf("refused: %v", err)
			}
			if back.Action != c.Action || !back.Time.Equal(tm) || !bytes.Equal(back.Nonce, nonce) || string(back.Params) != string(c.Params) {
				t.Fatalf("verified action %+v differs from the vector", back)
			}
			p, err := decodeParams(back.Action, back.Params)
			if err != nil || p.ActionName() != c.Action {
				t.Fatalf("params %v: %v", p, err)
			}
		})
	}
	for _, c := range v.Invalid {
		t.Run(c.Name, func(t *testing.T) {
			want := actionErrorNames[c.Error]
			if want == nil {
				t.Fatalf("unknown error name %q", c.Error)
			}
			s, err := ParseSigned([]byte(c.Signed))
			if err == nil {
				_, err = VerifyAction(s, st, v.Household, now, ActionSkew)
			}
			if !errors.Is(err, want) {
				t.Fatalf("error %v, want %v", err, want)
			}
			for name, e := range actionErrorNames {
				if name != c.Error && errors.Is(err, e) {
					t.Errorf("error %v is also %s", err, name)
				}
			}
		})
	}
}

func TestSignVerifyEachAction(t *testing.T) {
	v, st, now := loadActionVectors(t)
	alice, _ := keydir.ParseDeviceKeys([]byte(v.DeviceKeys["alice"]))
	exp := now.Add(24 * time.Hour)
	cases := []Params{
		SettingsParams{QuotaBytes: 0, MaxAgeSeconds: 7 * 86400},
		SettingsParams{QuotaBytes: 5 << 30, MaxAgeSeconds: 0},
		InviteParams{Invite: strings.Repeat("a", 26), Role: "admin", Expires: exp},
		InviteDeleteParams{Invite: "abcdefghijklmnopqrstuvwxyz"},
		MemberAddParams{Email: "bob@example.com", Role: "member"},
		MemberRemoveParams{Account: "a0123456789abcdef0123456789abcdef"},
	}
	for _, p := range cases {
		a, err := NewAction(v.Household, p, now.Add(1500*time.Microsecond))
		if err != nil {
			t.Fatalf("%s: %v", p.ActionName(), err)
		}
		if !a.Time.Equal(now.Add(time.Millisecond)) {
			t.Errorf("%s: time %v not truncated to milliseconds", p.ActionName(), a.Time)
		}
		s, err := SignAction(alice, a)
		if err != nil {
			t.Fatal(err)
		}
		got, err := VerifyAction(s, st, v.Household, now, ActionSkew)
		if err != nil {
			t.Fatalf("%s: %v", p.ActionName(), err)
		}
		var back Params
		switch p.(type) {
		case SettingsParams:
			back, err = got.Settings()
		case InviteParams:
			back, err = got.Invite()
		case InviteDeleteParams:
			back, err = got.InviteDelete()
		case MemberAddParams:
			back, err = got.MemberAdd()
		case MemberRemoveParams:
			back, err = got.MemberRemove()
		}
		if err != nil {
			t.Fatal(err)
		}
		if ip, ok := back.(InviteParams); ok {
			if !ip.Expires.Equal(exp) {
				t.Errorf("expires %v, want %v", ip.Expires, exp)
			}
			ip.Expires = exp
			back = ip
		}
		if back != p {
			t.Errorf("params %+v, want %+v", back, p)
		}
		// The typed helpers refuse another action's parameters.
		if p.ActionName() != ActionSettingsSet {
			if _, err := got.Settings(); !errors.Is(err, ErrActionMalformed) {
				t.Errorf("%s read as settings: %v", p.ActionName(), err)
			}
		}
		// Two actions with the same parameters differ in their nonce.
		b, _ := NewAction(v.Household, p, now)
		if bytes.Equal(a.Nonce, b.Nonce) {
			t.Error("two actions have the same nonce")
		}
	}
	// VerifySigned does not look at the time; VerifyAction does.
	a, _ := NewAction(v.Household, SettingsParams{}, now.Add(-48*time.Hour))
	s, _ := SignAction(alice, a)
	if _, err := VerifySigned(s, st, v.Household); err != nil {
		t.Errorf("VerifySigned of an old action: %v", err)
	}
	if _, err := VerifyAction(s, st, v.Household, now, ActionSkew); !errors.Is(err, ErrActionTime) || !strings.Contains(err.Error(), "clock") {
		t.Errorf("VerifyAction of an old action: %v", err)
	}
	// Without a chain of that household nothing verifies.
	if _, err := VerifySigned(s, nil, v.Household); !errors.Is(err, ErrActionSigner) {
		t.Errorf("no chain: %v", err)
	}
}

func TestNewActionRefuses(t *testing.T) {
	now := time.Date(2026, 12, 3, 18, 0, 0, 0, time.UTC)
	hh := "h" + strings.Repeat("a", 26)
	for _, c := range []struct {
		name string
		hh   string
		p    Params
		want string
	}{
		{"negative quota", hh, SettingsParams{QuotaBytes: -1}, "quota_bytes"},
		{"quota past 2^53", hh, SettingsParams{QuotaBytes: 1 << 53}, "quota_bytes"},
		{"negative age", hh, SettingsParams{MaxAgeSeconds: -5}, "max_age_seconds"},
		{"short invite", hh, InviteParams{Invite: "abc", Role: "member", Expires: now}, "invite"},
		{"invite upper case", hh, InviteDeleteParams{Invite: strings.Repeat("A", 26)}, "invite"},
		{"owner role", hh, InviteParams{Invite: strings.Repeat("b", 26), Role: "owner", Expires: now}, "role"},
		{"expiry after 9999", hh, InviteParams{Invite: strings.Repeat("b", 26), Role: "member", Expires: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}, "expires"},
		{"expiry below a millisecond", hh, InviteParams{Invite: strings.Repeat("b", 26), Role: "member", Expires: now.Add(time.Microsecond)}, "expires"},
		{"upper-case e-mail", hh, MemberAddParams{Email: "Bob@example.com", Role: "member"}, "email"},
		{"e-mail with a space", hh, MemberAddParams{Email: "bob @example.com", Role: "member"}, "email"},
		{"no @", hh, MemberAddParams{Email: "bob.example.com", Role: "member"}, "email"},
		{"account with a slash", hh, MemberRemoveParams{Account: "a/b"}, "account"},
		{"not a household", "house", SettingsParams{}, "household"},
		{"nil params", hh, nil, "no parameters"},
	} {
		_, err := NewAction(c.hh, c.p, now)
		if !errors.Is(err, ErrActionMalformed) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error naming %q", c.name, err, c.want)
		}
	}
	k, _ := keydir.NewDeviceKeys()
	a, _ := NewAction(hh, SettingsParams{}, now)
	a.Nonce = a.Nonce[:8]
	if _, err := SignAction(k, a); !errors.Is(err, ErrActionMalformed) {
		t.Errorf("signed an action with a short nonce: %v", err)
	}
	if _, err := SignAction(nil, a); err == nil {
		t.Error("signed without keys")
	}
}

// writeActionVectors makes testdata/actions.json: a chain with an admin
// (alice), a member (bob), an admin removed again (carol) and a hub, and
// actions signed by each.
func writeActionVectors(t *testing.T) {
	now := time.Date(2026, 12, 3, 18, 0, 0, 0, time.UTC)
	mk := func() *keydir.DeviceKeys {
		k, err := keydir.NewDeviceKeys()
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	alice, bob, carol, dave := mk(), mk(), mk(), mk()
	_, hubKey, _ := ed25519.GenerateKey(nil)
	hub := &keydir.DeviceKeys{Sign: hubKey}
	genesis, _, st, err := keydir.NewHousehold("Vector Street", alice, "alice laptop", now.Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	links := [][]byte{genesis}
	apply := func(l []byte, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		if err := st.Apply(l); err != nil {
			t.Fatal(err)
		}
		links = append(links, l)
	}
	apply(st.AddDevice(alice, bob.Public(keydir.RoleMember, "bob phone"), now.Add(-50*time.Minute)))
	apply(st.AddDevice(alice, carol.Public(keydir.RoleAdmin, "carol tablet"), now.Add(-40*time.Minute)))
	apply(st.AddHub(alice, hub.Public(keydir.RoleHub, "garage hub"), now.Add(-30*time.Minute)))
	apply(st.RemoveDevice(alice, carol.ID(), now.Add(-20*time.Minute)))

	_, _, other, err := keydir.NewHousehold("Elsewhere", dave, "dave", now)
	if err != nil {
		t.Fatal(err)
	}
	hh := st.HouseholdID
	nonce := func(b byte) []byte { return bytes.Repeat([]byte{b}, ActionNonceSize) }
	build := func(household string, p Params, tm time.Time, n byte) Action {
		raw, err := encodeParams(p)
		if err != nil {
			t.Fatal(err)
		}
		return Action{V: 1, Household: household, Action: p.ActionName(), Time: tm, Nonce: nonce(n), Params: raw}
	}
	sign := func(k *keydir.DeviceKeys, a Action) Signed {
		s, err := SignAction(k, a)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	signRaw := func(k *keydir.DeviceKeys, body string) Signed {
		return Signed{Device: k.ID(), Body: []byte(body), Sig: ed25519.Sign(k.Sign, actionMessage([]byte(body)))}
	}
	v := actionVectors{
		Comment: "Signed household actions (docs/FORMAT.md). Valid: encode the fields to body, sign with the signer's key to signed.sig, verify. " +
			"Invalid: parse and verify signed at now with the chain; expect error. Regenerate: go test ./internal/history -run TestActionVectors -update-actions",
		Household: hh, GenesisHash: hex.EncodeToString(st.GenesisHash), Now: now.Format(time.RFC3339),
		SkewSeconds: int(ActionSkew / time.Second),
		DeviceKeys:  map[string]string{}, Devices: map[string]string{},
	}
	for _, l := range links {
		v.Links = append(v.Links, hex.EncodeToString(l))
	}
	named := map[string]*keydir.DeviceKeys{"alice": alice, "bob": bob, "carol": carol, "dave": dave, "hub": hub}
	for n, k := range named {
		v.DeviceKeys[n] = string(k.Marshal())
		v.Devices[n] = k.ID()
	}
	addValid := func(name, signer string, a Action) Signed {
		s := sign(named[signer], a)
		body, _ := a.Encode()
		js, _ := json.Marshal(s)
		v.Valid = append(v.Valid, validAction{Name: name, Signer: signer, Household: a.Household, Action: a.Action,
			Time: a.Time.UTC().Format(canonjson.TimeLayout), Nonce: base64.RawURLEncoding.EncodeToString(a.Nonce),
			Params: a.Params, Body: string(body), Signed: js})
		return s
	}
	settings := addValid("settings default quota, a week", "alice", build(hh, SettingsParams{QuotaBytes: 0, MaxAgeSeconds: 604800}, now.Add(-2*time.Minute+123*time.Millisecond), 1))
	addValid("settings 5 GiB, no age limit", "alice", build(hh, SettingsParams{QuotaBytes: 5 << 30}, now.Add(4*time.Minute), 2))
	addValid("invite create", "alice", build(hh, InviteParams{Invite: "k7q2xw4mzy3tn5bvr6sdpa7ce2", Role: "member", Expires: now.Add(24*time.Hour + 7*time.Millisecond)}, now, 3))
	addValid("invite delete", "alice", build(hh, InviteDeleteParams{Invite: "k7q2xw4mzy3tn5bvr6sdpa7ce2"}, now.Add(time.Second), 4))
	addValid("member add, escaping", "alice", build(hh, MemberAddParams{Email: "zoë+cams&co<x>@example.com", Role: "admin"}, now.Add(-time.Minute), 5))
	addValid("member remove", "alice", build(hh, MemberRemoveParams{Account: "a0123456789abcdef0123456789abcdef"}, now.Add(-299*time.Second), 6))
	const staffReq = "m3xq7kpz2wrtv4nsbdy5ce6gha"
	addValid("staff approve", "alice", build(hh, StaffApproveParams{Request: staffReq, Scopes: []string{"hubs", "storage", "uploads"}, Seconds: 8 * 3600}, now.Add(90*time.Second+5*time.Millisecond), 7))
	addValid("staff approve, one scope, one second", "alice", build(hh, StaffApproveParams{Request: staffReq, Scopes: []string{"cameras"}, Seconds: 1}, now.Add(-90*time.Second), 8))
	addValid("staff deny", "alice", build(hh, StaffDenyParams{Request: staffReq}, now.Add(2*time.Minute), 22))
	addValid("staff revoke", "alice", build(hh, StaffRevokeParams{Request: staffReq}, now.Add(-3*time.Minute), 23))

	body, _ := build(hh, SettingsParams{QuotaBytes: 1}, now, 9).Encode()
	bad := func(name, errName string, s Signed) {
		js, _ := json.Marshal(s)
		v.Invalid = append(v.Invalid, invalidAction{Name: name, Signed: string(js), Error: errName})
	}
	badText := func(name, errName, text string) {
		v.Invalid = append(v.Invalid, invalidAction{Name: name, Signed: text, Error: errName})
	}
	// Who signed.
	bad("member device", "signer", sign(bob, build(hh, SettingsParams{QuotaBytes: 1}, now, 10)))
	bad("removed admin device", "signer", sign(carol, build(hh, SettingsParams{QuotaBytes: 1}, now, 11)))
	bad("hub", "signer", sign(hub, build(hh, SettingsParams{QuotaBytes: 1}, now, 12)))
	bad("device of no household", "signer", sign(dave, build(hh, SettingsParams{QuotaBytes: 1}, now, 13)))
	// What was signed.
	altered := settings
	altered.Body = bytes.Replace(altered.Body, []byte(`"max_age_seconds":604800`), []byte(`"max_age_seconds":604801`), 1)
	bad("altered body", "signature", altered)
	other1 := sign(alice, build(hh, SettingsParams{QuotaBytes: 2}, now, 14))
	other1.Sig = sign(alice, build(hh, SettingsParams{QuotaBytes: 3}, now, 14)).Sig
	bad("signature of another body", "signature", other1)
	named2 := sign(alice, build(hh, SettingsParams{QuotaBytes: 4}, now, 15))
	named2.Device = bob.ID()
	bad("alice's signature named as bob's", "signer", named2)
	named3 := sign(alice, build(hh, SettingsParams{QuotaBytes: 4}, now, 15))
	named3.Sig = malleateActionSig(named3.Sig)
	bad("signature with S+L", "signature", named3)
	// Where and when.
	bad("another household", "household", sign(dave, build(other.HouseholdID, SettingsParams{QuotaBytes: 1}, now, 16)))
	bad("another household, signed by alice", "household", sign(alice, build(other.HouseholdID, SettingsParams{QuotaBytes: 1}, now, 16)))
	bad("old", "time", sign(alice, build(hh, SettingsParams{QuotaBytes: 1}, now.Add(-5*time.Minute-time.Millisecond), 17)))
	bad("from the future", "time", sign(alice, build(hh, SettingsParams{QuotaBytes: 1}, now.Add(5*time.Minute+time.Millisecond), 18)))
	// Malformed bodies, each signed by alice: only the parser refuses them.
	nb := base64.RawURLEncoding.EncodeToString(nonce(20))
	ts := now.Format(canonjson.TimeLayout)
	head := `{"v":1,"household":"` + hh + `","action":"settings.set","time":"` + ts + `","nonce":"` + nb + `"`
	for _, c := range []struct{ name, body string }{
		{"spaces", `{"v": 1,"household":"` + hh + `","action":"settings.set","time":"` + ts + `","nonce":"` + nb + `","params":{"quota_bytes":0,"max_age_seconds":0}}`},
		{"keys reordered", `{"household":"` + hh + `","v":1,"action":"settings.set","time":"` + ts + `","nonce":"` + nb + `","params":{"quota_bytes":0,"max_age_seconds":0}}`},
		{"params reordered", head + `,"params":{"max_age_seconds":0,"quota_bytes":0}}`},
		{"duplicate key", head + `,"params":{"quota_bytes":0,"quota_bytes":1,"max_age_seconds":0}}`},
		{"key in upper case", strings.Replace(head, `"household"`, `"Household"`, 1) + `,"params":{"quota_bytes":0,"max_age_seconds":0}}`},
		{"unknown field", head + `,"params":{"quota_bytes":0,"max_age_seconds":0},"by":"alice"}`},
		{"unknown param", head + `,"params":{"quota_bytes":0,"max_age_seconds":0,"force":true}}`},
		{"missing param", head + `,"params":{"quota_bytes":0}}`},
		{"no params", head + `}`},
		{"trailing data", head + `,"params":{"quota_bytes":0,"max_age_seconds":0}} {}`},
		{"version 2", strings.Replace(head, `"v":1`, `"v":2`, 1) + `,"params":{"quota_bytes":0,"max_age_seconds":0}}`},
		{"unknown action", strings.Replace(head, `settings.set`, `household.delete`, 1) + `,"params":{}}`},
		{"quota as exponent", head + `,"params":{"quota_bytes":1e3,"max_age_seconds":0}}`},
		{"quota as fraction", head + `,"params":{"quota_bytes":1.5,"max_age_seconds":0}}`},
		{"quota as string", head + `,"params":{"quota_bytes":"1","max_age_seconds":0}}`},
		{"negative quota", head + `,"params":{"quota_bytes":-1,"max_age_seconds":0}}`},
		{"time without milliseconds", strings.Replace(head, ts, now.Format(time.RFC3339), 1) + `,"params":{"quota_bytes":0,"max_age_seconds":0}}`},
		{"time with an offset", strings.Replace(head, ts, now.In(time.FixedZone("", 3600)).Format("2006-01-02T15:04:05.000-07:00"), 1) + `,"params":{"quota_bytes":0,"max_age_seconds":0}}`},
		{"short nonce", strings.Replace(head, nb, nb[:11], 1) + `,"params":{"quota_bytes":0,"max_age_seconds":0}}`},
		{"padded nonce", strings.Replace(head, nb, nb+"==", 1) + `,"params":{"quota_bytes":0,"max_age_seconds":0}}`},
		{"household not an ID", strings.Replace(head, hh, "home", 1) + `,"params":{"quota_bytes":0,"max_age_seconds":0}}`},
		{"invite ID too short", strings.Replace(head, `settings.set`, `invite.delete`, 1) + `,"params":{"invite":"abc"}}`},
		{"invite role owner", strings.Replace(head, `settings.set`, `invite.create`, 1) + `,"params":{"invite":"k7q2xw4mzy3tn5bvr6sdpa7ce2","role":"owner","expires":"` + ts + `"}}`},
		{"e-mail in upper case", strings.Replace(head, `settings.set`, `member.add`, 1) + `,"params":{"email":"Bob@example.com","role":"member"}}`},
		{"escaped e-mail", strings.Replace(head, `settings.set`, `member.add`, 1) + `,"params":{"email":"bob\u0040example.com","role":"member"}}`},
		{"staff scopes unsorted", strings.Replace(head, `settings.set`, `staff.approve`, 1) + `,"params":{"request":"m3xq7kpz2wrtv4nsbdy5ce6gha","scopes":["uploads","hubs"],"seconds":60}}`},
		{"staff scope repeated", strings.Replace(head, `settings.set`, `staff.approve`, 1) + `,"params":{"request":"m3xq7kpz2wrtv4nsbdy5ce6gha","scopes":["hubs","hubs"],"seconds":60}}`},
		{"staff no scopes", strings.Replace(head, `settings.set`, `staff.approve`, 1) + `,"params":{"request":"m3xq7kpz2wrtv4nsbdy5ce6gha","scopes":[],"seconds":60}}`},
		{"staff zero seconds", strings.Replace(head, `settings.set`, `staff.approve`, 1) + `,"params":{"request":"m3xq7kpz2wrtv4nsbdy5ce6gha","scopes":["hubs"],"seconds":0}}`},
		{"staff params reordered", strings.Replace(head, `settings.set`, `staff.approve`, 1) + `,"params":{"scopes":["hubs"],"request":"m3xq7kpz2wrtv4nsbdy5ce6gha","seconds":60}}`},
		{"staff deny with scopes", strings.Replace(head, `settings.set`, `staff.deny`, 1) + `,"params":{"request":"m3xq7kpz2wrtv4nsbdy5ce6gha","scopes":["hubs"]}}`},
		{"staff request ID in upper case", strings.Replace(head, `settings.set`, `staff.revoke`, 1) + `,"params":{"request":"M3XQ7KPZ2WRTV4NSBDY5CE6GHA"}}`},
		{"not an object", `[1]`},
	} {
		bad(c.name, "malformed", signRaw(alice, c.body))
	}
	bad("body not UTF-8", "malformed", signRaw(alice, string(append(body[:len(body)-2], 0xff, '}'))))
	// The signed envelope itself.
	good, _ := json.Marshal(sign(alice, build(hh, SettingsParams{}, now, 21)))
	var w map[string]string
	json.Unmarshal(good, &w)
	badText("envelope with an extra field", "malformed", strings.Replace(string(good), `{`, `{"household":"`+hh+`",`, 1))
	badText("signature in standard base64", "malformed", strings.Replace(string(good), w["sig"], base64.StdEncoding.EncodeToString(mustB64url(t, w["sig"])), 1))
	badText("short signature", "malformed", strings.Replace(string(good), w["sig"], w["sig"][:40], 1))
	badText("device not an ID", "malformed", strings.Replace(string(good), w["device"], "alice", 1))
	badText("no body", "malformed", `{"device":"`+w["device"]+`","sig":"`+w["sig"]+`"}`)
	v.StaffRecords, v.StaffNames, v.AccountEmails = staffRecordVectors(), staffVectorNames, accountEmails

	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(actionVectorsPath, out.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// staffRecordVectors are the lockbox's records of one request, as
// internal/cloud writes them: "request ID by staff SID (scopes for
// duration): reason", the duration as Go's time.Duration writes it; and a
// ticket's records, "ticket ID: subject", and a listing of a household's
// tickets, "support code CODE" (internal/cloud/staff_tickets.go). The
// ticket's reopening is by a staff member the page has no name for (it
// names staff from the household's lockbox requests).
func staffRecordVectors() []staffRecord {
	const admin = "a0123456789abcdef0123456789abcdef" // the admin's account
	req := &staffRecordOfReq{ID: "m3xq7kpz2wrtv4nsbdy5ce6gha", Staff: "sq4tz7kxm2nbw6rdyp3vc5ehjab", Scopes: []string{"hubs", "storage", "uploads"}, Seconds: 8 * 3600,
		Reason: "ticket 4411: hub offline since Tuesday"}
	short := &staffRecordOfReq{ID: "b4nq2rx7zkm3wt6ydpc5sehjva", Staff: "sq4tz7kxm2nbw6rdyp3vc5ehjab", Scopes: []string{"cameras"}, Seconds: 5400,
		Reason: "camera count looks wrong: “2”, not 3 (ticket 4412)"}
	obj := "request m3xq7kpz2wrtv4nsbdy5ce6gha by staff sq4tz7kxm2nbw6rdyp3vc5ehjab (hubs,storage,uploads for 8h0m0s): ticket 4411: hub offline since Tuesday"
	const scopes, why = "your hubs, your storage use and your uploads", "“ticket 4411: hub offline since Tuesday”"
	tkt := &staffRecordOfTkt{ID: "tk4wz7qm2xnb3rdyp6vc5ehjsam", Subject: "uploads failing since noon"}
	colon := &staffRecordOfTkt{ID: "tm3xq7kpz2wrtv4nsbdy5ce6gha", Subject: "garage hub: offline since the “2.4” update"}
	return []staffRecord{
		{Name: "look-up", Action: "staff.lookup", ActorKind: ActorStaff, Actor: "sq4tz7kxm2nbw6rdyp3vc5ehjab", SupportCode: "k7q2x w4mzf", Object: "support code K7Q2X-W4MZF",
			Sentence: "Ada of Vigil staff looked this household up by its support code"},
		{Name: "request", Action: "staff.request", ActorKind: ActorStaff, Actor: "sq4tz7kxm2nbw6rdyp3vc5ehjab", Request: req, Object: obj,
			Sentence: "Ada of Vigil staff asked to see " + scopes + " for 8 h: " + why},
		{Name: "request, one scope, 1h30m", Action: "staff.request", ActorKind: ActorStaff, Actor: "sq4tz7kxm2nbw6rdyp3vc5ehjab", Request: short,
			Object:   "request b4nq2rx7zkm3wt6ydpc5sehjva by staff sq4tz7kxm2nbw6rdyp3vc5ehjab (cameras for 1h30m0s): camera count looks wrong: “2”, not 3 (ticket 4412)",
			Sentence: "Ada of Vigil staff asked to see your camera count for 1 h 30 min: “camera count looks wrong: “2”, not 3 (ticket 4412)”"},
		{Name: "approve", Action: ActionStaffApprove, ActorKind: ActorAccount, Actor: admin, Request: req, Object: obj,
			Sentence: "alice@example.com let Ada of Vigil staff see " + scopes + " for 8 h: " + why},
		{Name: "deny", Action: ActionStaffDeny, ActorKind: ActorAccount, Actor: admin, Request: req, Object: obj,
			Sentence: "alice@example.com turned down Ada of Vigil staff’s request to see " + scopes + ": " + why},
		{Name: "revoke", Action: ActionStaffRevoke, ActorKind: ActorAccount, Actor: admin, Request: req, Object: obj,
			Sentence: "alice@example.com took back Ada of Vigil staff’s access to " + scopes + ": " + why},
		{Name: "read", Action: "staff.read", ActorKind: ActorStaff, Actor: "sq4tz7kxm2nbw6rdyp3vc5ehjab", Scope: "storage", Request: req, Object: "storage under " + obj,
			Sentence: "Ada of Vigil staff looked at your storage use, under the access given for " + why},
		{Name: "expiry", Action: "staff.expire", ActorKind: ActorCloud, Actor: "lockbox", Request: req, Object: obj,
			Sentence: "Ada of Vigil staff’s access to " + scopes + " ended: " + why},
		{Name: "ticket opened", Action: "staff.ticket-open", ActorKind: ActorStaff, Actor: "sq4tz7kxm2nbw6rdyp3vc5ehjab", Ticket: tkt,
			Object:   "ticket tk4wz7qm2xnb3rdyp6vc5ehjsam: uploads failing since noon",
			Sentence: "Ada of Vigil staff opened a support ticket about this household: “uploads failing since noon”"},
		{Name: "ticket opened, subject with a colon and quotes", Action: "staff.ticket-open", ActorKind: ActorStaff, Actor: "sq4tz7kxm2nbw6rdyp3vc5ehjab", Ticket: colon,
			Object:   "ticket tm3xq7kpz2wrtv4nsbdy5ce6gha: garage hub: offline since the “2.4” update",
			Sentence: "Ada of Vigil staff opened a support ticket about this household: “garage hub: offline since the “2.4” update”"},
		{Name: "ticket closed", Action: "staff.ticket-close", ActorKind: ActorStaff, Actor: "sq4tz7kxm2nbw6rdyp3vc5ehjab", Ticket: tkt,
			Object:   "ticket tk4wz7qm2xnb3rdyp6vc5ehjsam: uploads failing since noon",
			Sentence: "Ada of Vigil staff closed a support ticket about this household: “uploads failing since noon”"},
		{Name: "ticket reopened, staff not named", Action: "staff.ticket-reopen", ActorKind: ActorStaff, Actor: "sb6nr4kx2mqw7tdyp3vc5ehjzaq", Ticket: tkt,
			Object:   "ticket tk4wz7qm2xnb3rdyp6vc5ehjsam: uploads failing since noon",
			Sentence: "Vigil staff member sb6nr4kx2mqw7tdyp3vc5ehjzaq reopened a support ticket about this household: “uploads failing since noon”"},
		{Name: "tickets listed", Action: "staff.tickets", ActorKind: ActorStaff, Actor: "sq4tz7kxm2nbw6rdyp3vc5ehjab", SupportCode: "k7q2xw4mzf", Object: "support code K7Q2X-W4MZF",
			Sentence: "Ada of Vigil staff looked up Vigil staff’s tickets about this household"},
	}
}

func mustB64url(t testing.TB, s string) []byte {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// malleateActionSig adds the group order L to the signature's S: the same
// signature for a lax verifier, refused by a strict one (S < L).
func malleateActionSig(sig []byte) []byte {
	rev := func(b []byte) []byte {
		out := make([]byte, len(b))
		for i := range b {
			out[len(b)-1-i] = b[i]
		}
		return out
	}
	l, _ := new(big.Int).SetString("7237005577332262213973186563042994240857116359379907606001950938285454250989", 10)
	s := new(big.Int).SetBytes(rev(sig[32:]))
	s.Add(s, l)
	out := bytes.Clone(sig)
	copy(out[32:], rev(s.FillBytes(make([]byte, 32))))
	return out
}

// FuzzParseSignedAction feeds arbitrary bytes to ParseSigned and
// VerifyAction (with the vector chain), and arbitrary bodies to
// ParseAction: never a panic; whatever parses re-encodes to its own bytes.
func FuzzParseSignedAction(f *testing.F) {
	v, st, now := loadActionVectors(f)
	for _, c := range v.Valid {
		f.Add([]byte(c.Signed))
		f.Add([]byte(c.Body))
	}
	for _, c := range v.Invalid {
		f.Add([]byte(c.Signed))
		if s, err := ParseSigned([]byte(c.Signed)); err == nil {
			f.Add(s.Body)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if s, err := ParseSigned(b); err == nil {
			js, _ := json.Marshal(s)
			if back, err := ParseSigned(js); err != nil || !bytes.Equal(back.Body, s.Body) || !bytes.Equal(back.Sig, s.Sig) || back.Device != s.Device {
				t.Fatalf("a parsed signed action does not round-trip: %v", err)
			}
			if a, err := VerifyAction(s, st, v.Household, now, ActionSkew); err == nil {
				if body, err := a.Encode(); err != nil || !bytes.Equal(body, s.Body) {
					t.Fatal("a verified action does not re-encode to its body")
				}
			}
		}
		a, err := ParseAction(b)
		if err != nil {
			if !errors.Is(err, ErrActionMalformed) {
				t.Fatalf("ParseAction error %v does not wrap ErrActionMalformed", err)
			}
			return
		}
		body, err := a.Encode()
		if err != nil || !bytes.Equal(body, b) {
			t.Fatalf("a parsed action does not re-encode to its own bytes: %v", err)
		}
		if _, err := decodeParams(a.Action, a.Params); err != nil {
			t.Fatalf("a parsed action's params do not decode: %v", err)
		}
	})
}

// TestStaffActions: the lockbox's decisions sign, verify and read back;
// malformed ones are refused, and one is not read as another.
func TestStaffActions(t *testing.T) {
	v, st, now := loadActionVectors(t)
	alice, _ := keydir.ParseDeviceKeys([]byte(v.DeviceKeys["alice"]))
	req := strings.Repeat("r", 26)
	cases := []Params{
		StaffApproveParams{Request: req, Scopes: []string{"hubs", "uploads"}, Seconds: 8 * 3600},
		StaffDenyParams{Request: req},
		StaffRevokeParams{Request: req},
	}
	for _, p := range cases {
		a, err := NewAction(v.Household, p, now)
		if err != nil {
			t.Fatalf("%s: %v", p.ActionName(), err)
		}
		s, err := SignAction(alice, a)
		if err != nil {
			t.Fatal(err)
		}
		got, err := VerifyAction(s, st, v.Household, now, ActionSkew)
		if err != nil {
			t.Fatalf("%s: %v", p.ActionName(), err)
		}
		var back Params
		switch p.(type) {
		case StaffApproveParams:
			back, err = got.StaffApprove()
		case StaffDenyParams:
			back, err = got.StaffDeny()
		case StaffRevokeParams:
			back, err = got.StaffRevoke()
		}
		if err != nil || !reflect.DeepEqual(back, p) {
			t.Errorf("%s: read back %+v, %v", p.ActionName(), back, err)
		}
		if p.ActionName() != ActionStaffApprove {
			if _, err := got.StaffApprove(); !errors.Is(err, ErrActionMalformed) {
				t.Errorf("%s read as an approval: %v", p.ActionName(), err)
			}
		}
	}
	for name, p := range map[string]Params{
		"short request":     StaffDenyParams{Request: "abc"},
		"no scopes":         StaffApproveParams{Request: req, Seconds: 1},
		"unsorted scopes":   StaffApproveParams{Request: req, Scopes: []string{"uploads", "hubs"}, Seconds: 1},
		"repeated scope":    StaffApproveParams{Request: req, Scopes: []string{"hubs", "hubs"}, Seconds: 1},
		"upper-case scope":  StaffApproveParams{Request: req, Scopes: []string{"Hubs"}, Seconds: 1},
		"no duration":       StaffApproveParams{Request: req, Scopes: []string{"hubs"}},
		"negative duration": StaffApproveParams{Request: req, Scopes: []string{"hubs"}, Seconds: -1},
	} {
		if _, err := NewAction(v.Household, p, now); !errors.Is(err, ErrActionMalformed) {
			t.Errorf("%s: %v, want ErrActionMalformed", name, err)
		}
	}
}
