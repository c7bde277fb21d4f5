package history

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"strings"
	"testing"
	"time"

	"vigil/internal/envelope"
)

var update = flag.Bool("update", false, "rewrite testdata/vectors.json")

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func testTagKey(t testing.TB) (TagKey, []byte) {
	g := bytes.Repeat([]byte{0x42}, 32)
	tk, err := NewTagKey(g)
	if err != nil {
		t.Fatal(err)
	}
	return tk, g
}

func sampleRecord(n int64, prev string) Record {
	return Record{V: 1, N: n, Prev: prev, Time: time.Date(2026, 12, 3, 18, 0, 0, 123e6, time.UTC),
		Actor: Actor{Kind: ActorAccount, ID: "a7x3"}, Action: "object.read",
		Object: "hxyz/dabc/front/00000000000001a2", Count: 1}
}

func TestTagsAreKeyedAndDistinct(t *testing.T) {
	tk, _ := testTagKey(t)
	other, err := NewTagKey(bytes.Repeat([]byte{0x43}, 32))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[Tag]string{}
	for n := int64(0); n < 100; n++ {
		for _, c := range []struct {
			name string
			tag  Tag
		}{{"chain", tk.Chain(n)}, {"record", tk.Record(n)}, {"other household", other.Record(n)}} {
			if prev, dup := seen[c.tag]; dup {
				t.Fatalf("%s tag %d equals %s", c.name, n, prev)
			}
			seen[c.tag] = c.name
		}
	}
	if _, err := NewTagKey([]byte{1, 2, 3}); err == nil {
		t.Fatal("a short genesis hash made a tag key")
	}
}

func TestRecordSealOpen(t *testing.T) {
	tk, _ := testTagKey(t)
	epoch, err := envelope.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	stranger, _ := envelope.GenerateX25519Identity()
	r := sampleRecord(1, ZeroPrev)
	entry, err := SealRecord(tk, 3, epoch.Recipient(), r)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(entry, []byte("object.read")) || bytes.Contains(entry, []byte("front")) {
		t.Fatal("the sealed entry shows the record in the clear")
	}
	got, err := OpenRecord(entry, tk, []envelope.Identity{stranger, epoch})
	if err != nil {
		t.Fatal(err)
	}
	if got.N != 1 || got.Action != r.Action || !got.Time.Equal(r.Time) || got.Object != r.Object {
		t.Fatalf("opened %+v, sealed %+v", got, r)
	}
	if _, err := OpenRecord(entry, tk, []envelope.Identity{stranger}); !errors.Is(err, ErrNoKey) {
		t.Fatalf("a stranger's key: %v, want ErrNoKey", err)
	}
	// Every flipped byte is refused: the tag and epoch are authenticated
	// with the ciphertext.
	for i := range entry {
		bad := bytes.Clone(entry)
		bad[i] ^= 0x01
		if _, err := OpenRecord(bad, tk, []envelope.Identity{epoch}); err == nil {
			t.Fatalf("byte %d flipped and the record still opened", i)
		}
	}
	// A record sealed under another household's tags (or another number)
	// does not pass as this one.
	other, _ := NewTagKey(bytes.Repeat([]byte{7}, 32))
	if _, err := OpenRecord(entry, other, []envelope.Identity{epoch}); !errors.Is(err, ErrMalformed) {
		t.Fatalf("another household's tag key: %v, want ErrMalformed", err)
	}
}

func TestRecordChecks(t *testing.T) {
	good := sampleRecord(2, strings.Repeat("ab", 32))
	if _, err := MarshalRecord(good); err != nil {
		t.Fatal(err)
	}
	last := good.Time.Add(time.Minute)
	early := good.Time.Add(-time.Minute)
	for name, mod := range map[string]func(*Record){
		"version":         func(r *Record) { r.V = 2 },
		"number 0":        func(r *Record) { r.N = 0 },
		"prev not hex":    func(r *Record) { r.Prev = "xyz" },
		"record 1 prev":   func(r *Record) { r.N = 1 },
		"no time":         func(r *Record) { r.Time = time.Time{} },
		"actor kind":      func(r *Record) { r.Actor.Kind = "root" },
		"actor id":        func(r *Record) { r.Actor.ID = "" },
		"actor control":   func(r *Record) { r.Actor.ID = "a\nb" },
		"actor device":    func(r *Record) { r.Actor.Device = "phone" },
		"device upper":    func(r *Record) { r.Actor.Device = "dAAAAAAAAAAAAAAAAAAAAAAAAAA" },
		"device of a hub": func(r *Record) { r.Actor = Actor{Kind: ActorHub, ID: testDevice, Device: testDevice} },
		"device of link":  func(r *Record) { r.Actor = Actor{Kind: ActorLink, ID: "share:x", Device: testDevice} },
		"action":          func(r *Record) { r.Action = "Object Read" },
		"object":          func(r *Record) { r.Object = strings.Repeat("x", 513) },
		"count 0":         func(r *Record) { r.Count = 0 },
		"last count 1":    func(r *Record) { r.Last = &last },
		"last before":     func(r *Record) { r.Count, r.Last = 3, &early },
		"signed array":    func(r *Record) { r.Signed = json.RawMessage(`[1]`) },
		"signed not json": func(r *Record) { r.Signed = json.RawMessage(`{`) },
	} {
		r := good
		mod(&r)
		if _, err := MarshalRecord(r); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v, want ErrMalformed", name, err)
		}
	}
	for name, js := range map[string]string{
		"unknown field": `{"v":1,"n":1,"prev":"` + ZeroPrev + `","time":"2026-01-01T00:00:00Z","actor":{"kind":"cloud","id":"x"},"action":"a","count":1,"x":1}`,
		"trailing":      `{"v":1,"n":1,"prev":"` + ZeroPrev + `","time":"2026-01-01T00:00:00Z","actor":{"kind":"cloud","id":"x"},"action":"a","count":1} {}`,
		"too large":     `{"object":"` + strings.Repeat("x", MaxRecordSize) + `"}`,
	} {
		if _, err := ParseRecord([]byte(js)); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v, want ErrMalformed", name, err)
		}
	}
}

// testDevice is a well-formed device ID.
const testDevice = "dabcdefghijklmnopqrstuvwxyz"

// TestRecordActorDevice: an account's or a guest's record may name the
// device its session proved; the field survives a round trip, and a record
// without it (as every record before it existed) still parses the same.
func TestRecordActorDevice(t *testing.T) {
	for _, kind := range []string{ActorAccount, ActorGuest} {
		r := sampleRecord(2, strings.Repeat("ab", 32))
		r.Actor.Kind, r.Actor.Device = kind, testDevice
		b, err := MarshalRecord(r)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), `"actor":{"kind":"`+kind+`","id":"a7x3","device":"`+testDevice+`"}`) {
			t.Errorf("%s: the device is not in the actor: %s", kind, b)
		}
		got, err := ParseRecord(b)
		if err != nil || got.Actor != r.Actor {
			t.Errorf("%s: parsed %+v, %v; want %+v", kind, got.Actor, err, r.Actor)
		}
	}
	old := `{"v":1,"n":1,"prev":"` + ZeroPrev + `","time":"2026-01-01T00:00:00Z","actor":{"kind":"account","id":"a1"},"action":"object.read","count":1}`
	r, err := ParseRecord([]byte(old))
	if err != nil || r.Actor != (Actor{Kind: ActorAccount, ID: "a1"}) {
		t.Fatalf("a record without a device: %+v, %v", r.Actor, err)
	}
	if b, _ := MarshalRecord(r); string(b) != old {
		t.Errorf("a record without a device changes on a round trip:\n%s\n%s", b, old)
	}
	for name, actor := range map[string]string{
		"unknown actor field": `{"kind":"account","id":"a1","devices":"` + testDevice + `"}`,
		"device not a string": `{"kind":"account","id":"a1","device":1}`,
		"empty device":        `{"kind":"account","id":"a1","device":""}`,
	} {
		js := `{"v":1,"n":1,"prev":"` + ZeroPrev + `","time":"2026-01-01T00:00:00Z","actor":` + actor + `,"action":"object.read","count":1}`
		r, err := ParseRecord([]byte(js))
		if name == "empty device" {
			// An empty device is the same as none (omitempty writes none).
			if err != nil || r.Actor.Device != "" {
				t.Errorf("%s: %+v, %v", name, r.Actor, err)
			}
			continue
		}
		if !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v, want ErrMalformed", name, err)
		}
	}
}

func TestParseEntry(t *testing.T) {
	tk, _ := testTagKey(t)
	head := bytes.Repeat([]byte{9}, 32)
	ch, err := tk.ChainHeadEntry(5, head)
	if err != nil {
		t.Fatal(err)
	}
	e, err := ParseEntry(ch)
	if err != nil || e.ChainHead == nil || e.ChainHead.Tag != tk.Chain(5) || !bytes.Equal(e.ChainHead.Head[:], head) {
		t.Fatalf("chain head: %+v, %v", e, err)
	}
	pub, priv, _ := ed25519.GenerateKey(nil)
	rel := Release{Key: pub, Sig: ed25519.Sign(priv, []byte("m")), Manifest: []byte(`{"v":1}`)}
	e, err = ParseEntry(rel.Encode())
	if err != nil || e.Release == nil || !bytes.Equal(e.Release.Manifest, rel.Manifest) || !pub.Equal(e.Release.Key) {
		t.Fatalf("release: %+v, %v", e, err)
	}
	if _, err := ParseEntry([]byte{1, 9, 1, 2, 3}); !errors.Is(err, ErrUnknownType) {
		t.Fatalf("type 9: %v, want ErrUnknownType", err)
	}
	for name, b := range map[string][]byte{
		"empty":            nil,
		"one byte":         {1},
		"version 2":        append([]byte{2}, ch[1:]...),
		"short head":       ch[:len(ch)-1],
		"long head":        append(bytes.Clone(ch), 0),
		"short record":     append([]byte{1, 2}, make([]byte, 80)...),
		"epoch 0 record":   append([]byte{1, 2}, make([]byte, 120)...),
		"release no body":  rel.Encode()[:releaseFixed],
		"over 65535 bytes": append([]byte{1, 3}, make([]byte, MaxEntrySize)...),
	} {
		if _, err := ParseEntry(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v, want ErrMalformed", name, err)
		}
	}
}

func TestStateRecord(t *testing.T) {
	s := StateRecord{V: 1, Hub: "d" + strings.Repeat("a", 26), Time: time.Now(),
		Chain:      StateChain{Seq: 4, Head: strings.Repeat("0f", 32)},
		Checkpoint: &StateCheckpoint{Origin: "vigil.example/tlog", Size: 12, Hash: "qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqo="},
		Problems:   []Problem{{Time: time.Now(), Text: "refused the chain from the cloud: link 5 differs"}}}
	b, err := MarshalState(s)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseState(b)
	if err != nil || got.Chain != s.Chain || *got.Checkpoint != *s.Checkpoint || got.Problems[0].Text != s.Problems[0].Text {
		t.Fatalf("round trip: %+v, %v", got, err)
	}
	for name, js := range map[string]string{
		"unknown field": strings.Replace(string(b), `"v":1`, `"v":1,"x":2`, 1),
		"bad hub":       strings.Replace(string(b), s.Hub, "hub", 1),
		"bad head":      strings.Replace(string(b), s.Chain.Head, "00", 1),
		"bad hash":      strings.Replace(string(b), s.Checkpoint.Hash, "AAAA", 1),
		"version":       strings.Replace(string(b), `"v":1`, `"v":3`, 1),
	} {
		if _, err := ParseState([]byte(js)); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v, want ErrMalformed", name, err)
		}
	}
}

// vectors are shared with the web app (web/src/history), which must give
// the same tags and open the same records.
type vectors struct {
	GenesisHash string `json:"genesis_hash"`
	Tags        []struct {
		Kind string `json:"kind"`
		N    int64  `json:"n"`
		Tag  string `json:"tag"`
	} `json:"tags"`
	ChainHead struct {
		Seq   int64  `json:"seq"`
		Head  string `json:"head"`
		Entry string `json:"entry"`
	} `json:"chain_head"`
	EpochPrivate string `json:"epoch_private"`
	Records      []struct {
		Entry string `json:"entry"`
		JSON  string `json:"json"`
	} `json:"records"`
	Bad []struct {
		Name  string `json:"name"`
		Entry string `json:"entry"`
		Error string `json:"error"` // malformed | unknown-type | no-key
	} `json:"bad"`
}

func TestVectors(t *testing.T) {
	if *update {
		writeVectors(t)
	}
	b, err := os.ReadFile("testdata/vectors.json")
	if err != nil {
		t.Fatalf("%v (hint: go test ./internal/history -run TestVectors -update)", err)
	}
	var v vectors
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	tk, err := NewTagKey(mustHex(t, v.GenesisHash))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range v.Tags {
		want := tk.Record(c.N)
		if c.Kind == "chain" {
			want = tk.Chain(c.N)
		}
		if hex.EncodeToString(want[:]) != c.Tag {
			t.Errorf("%s tag %d: got %x, vector %s", c.Kind, c.N, want, c.Tag)
		}
	}
	ch, _ := tk.ChainHeadEntry(v.ChainHead.Seq, mustHex(t, v.ChainHead.Head))
	if hex.EncodeToString(ch) != v.ChainHead.Entry {
		t.Errorf("chain head entry: got %x", ch)
	}
	id, err := envelope.NewX25519Identity(mustHex(t, v.EpochPrivate))
	if err != nil {
		t.Fatal(err)
	}
	ids := []envelope.Identity{id}
	for i, rv := range v.Records {
		r, err := OpenRecord(mustHex(t, rv.Entry), tk, ids)
		if err != nil {
			t.Fatalf("record vector %d: %v", i, err)
		}
		js, _ := MarshalRecord(r)
		if string(js) != rv.JSON {
			t.Errorf("record vector %d: opened %s, vector %s", i, js, rv.JSON)
		}
	}
	for _, bv := range v.Bad {
		e := mustHex(t, bv.Entry)
		_, err := ParseEntry(e)
		if err == nil {
			_, err = OpenRecord(e, tk, ids)
		}
		want := map[string]error{"malformed": ErrMalformed, "unknown-type": ErrUnknownType, "no-key": ErrNoKey}[bv.Error]
		if want == nil || !errors.Is(err, want) {
			t.Errorf("bad vector %q: %v, want %s", bv.Name, err, bv.Error)
		}
	}
}

func writeVectors(t *testing.T) {
	tk, g := testTagKey(t)
	var v vectors
	v.GenesisHash = hex.EncodeToString(g)
	for _, k := range []string{"chain", "record"} {
		for _, n := range []int64{0, 1, 7, 1 << 40} {
			tag := tk.Record(n)
			if k == "chain" {
				tag = tk.Chain(n)
			}
			v.Tags = append(v.Tags, struct {
				Kind string `json:"kind"`
				N    int64  `json:"n"`
				Tag  string `json:"tag"`
			}{k, n, hex.EncodeToString(tag[:])})
		}
	}
	head := bytes.Repeat([]byte{0x5a}, 32)
	ch, _ := tk.ChainHeadEntry(3, head)
	v.ChainHead.Seq, v.ChainHead.Head, v.ChainHead.Entry = 3, hex.EncodeToString(head), hex.EncodeToString(ch)
	id, _ := envelope.GenerateX25519Identity()
	v.EpochPrivate = hex.EncodeToString(id.Bytes())
	last := time.Date(2026, 12, 3, 18, 9, 0, 0, time.UTC)
	r1 := sampleRecord(1, ZeroPrev)
	e1, err := SealRecord(tk, 2, id.Recipient(), r1)
	if err != nil {
		t.Fatal(err)
	}
	r2 := Record{V: 1, N: 2, Prev: EntryHash(e1), Time: r1.Time.Add(time.Second), Actor: Actor{Kind: ActorAccount, ID: "a7x3"},
		Action: "join-requests.list", Count: 41, Last: &last}
	e2, _ := SealRecord(tk, 2, id.Recipient(), r2)
	r3 := Record{V: 1, N: 3, Prev: EntryHash(e2), Time: last, Actor: Actor{Kind: ActorAccount, ID: "a7x3"},
		Action: "settings.set", Signed: json.RawMessage(`{"device":"dx","body":"e30","sig":"AA"}`), Count: 1}
	e3, _ := SealRecord(tk, 2, id.Recipient(), r3)
	for _, p := range []struct {
		r Record
		e []byte
	}{{r1, e1}, {r2, e2}, {r3, e3}} {
		js, _ := MarshalRecord(p.r)
		v.Records = append(v.Records, struct {
			Entry string `json:"entry"`
			JSON  string `json:"json"`
		}{hex.EncodeToString(p.e), string(js)})
	}
	other, _ := envelope.GenerateX25519Identity()
	eOther, _ := SealRecord(tk, 2, other.Recipient(), r1)
	flipped := bytes.Clone(e1)
	flipped[40] ^= 1
	epochFlip := bytes.Clone(e1)
	epochFlip[37] ^= 1
	add := func(name, err string, e []byte) {
		v.Bad = append(v.Bad, struct {
			Name  string `json:"name"`
			Entry string `json:"entry"`
			Error string `json:"error"`
		}{name, hex.EncodeToString(e), err})
	}
	add("sealed to another key", "no-key", eOther)
	add("enc flipped", "no-key", flipped)
	add("epoch changed", "no-key", epochFlip)
	add("truncated record", "malformed", e1[:60])
	add("version 2", "malformed", append([]byte{2}, e1[1:]...))
	add("type 7", "unknown-type", []byte{1, 7, 0, 0})
	add("chain head too long", "malformed", append(bytes.Clone(ch), 0))
	out, _ := json.MarshalIndent(v, "", "  ")
	if err := os.WriteFile("testdata/vectors.json", append(out, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
}

func FuzzParseEntry(f *testing.F) {
	tk, _ := testTagKey(f)
	ch, _ := tk.ChainHeadEntry(1, make([]byte, 32))
	id, _ := envelope.GenerateX25519Identity()
	rec, _ := SealRecord(tk, 1, id.Recipient(), sampleRecord(1, ZeroPrev))
	f.Add(ch)
	f.Add(rec)
	f.Add(Release{Key: make([]byte, 32), Sig: make([]byte, 64), Manifest: []byte("{}")}.Encode())
	f.Add([]byte{1, 9})
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := ParseEntry(b)
		if err != nil {
			return
		}
		var back []byte
		switch {
		case e.ChainHead != nil:
			back = e.ChainHead.Encode()
		case e.Record != nil:
			back = e.Record.Encode()
			if r, err := OpenRecord(b, tk, []envelope.Identity{id}); err == nil {
				if _, err := MarshalRecord(r); err != nil {
					t.Fatalf("opened a record that does not re-marshal: %v", err)
				}
			}
		case e.Release != nil:
			back = e.Release.Encode()
		default:
			t.Fatal("ParseEntry returned no entry and no error")
		}
		if !bytes.Equal(back, b) {
			t.Fatal("entry does not re-encode to its own bytes")
		}
	})
}

func FuzzParseRecordAndState(f *testing.F) {
	js, _ := MarshalRecord(sampleRecord(1, ZeroPrev))
	f.Add(js)
	withDevice := sampleRecord(1, ZeroPrev)
	withDevice.Actor.Device = testDevice
	js, _ = MarshalRecord(withDevice)
	f.Add(js)
	f.Add([]byte(`{"v":1,"hub":"daaaaaaaaaaaaaaaaaaaaaaaaaa","time":"2026-01-01T00:00:00Z","chain":{"seq":1,"head":"` + strings.Repeat("0", 64) + `"}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		if r, err := ParseRecord(b); err == nil {
			if _, err := MarshalRecord(r); err != nil {
				t.Fatalf("a parsed record does not marshal: %v", err)
			}
		}
		if s, err := ParseState(b); err == nil {
			if _, err := MarshalState(s); err != nil {
				t.Fatalf("a parsed state record does not marshal: %v", err)
			}
		}
	})
}
