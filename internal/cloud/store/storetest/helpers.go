package storetest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"vigil/internal/cloud/store"
)

// The helpers below are shared by this suite and the domains' suites
// (accountstest, householdstest, objectstest, eventstest, sharestest,
// retentiontest, passkeystest): clocks, assertions, races and fixtures,
// written once.

// Racers is how many goroutines race for the same write.
const Racers = 16

// Base is the suites' fixed clock for stored times (microsecond precision).
var Base = time.Date(2031, 3, 14, 15, 9, 26, 535897000, time.UTC)

// Elsewhere is a non-UTC zone: times given in it must come back in UTC.
var Elsewhere = time.FixedZone("UTC+5", 5*3600)

// At is Base plus d.
func At(d time.Duration) time.Time { return Base.Add(d) }

// Now is the wall clock truncated to microseconds (no monotonic reading),
// for expiry, which implementations check against their own clock.
func Now() time.Time { return time.Now().Truncate(time.Microsecond) }

// Hash is the SHA-256 of s, for tokens, share links and objects.
func Hash(s string) [32]byte { return sha256.Sum256([]byte(s)) }

// Sum is Hash as a slice, for genesis hashes, links and device keys.
func Sum(s string) []byte { h := Hash(s); return h[:] }

// --- assertions ---

// OK fails t at once when err is not nil.
func OK(t *testing.T, err error, what string) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// IsErr fails t unless errors.Is(err, target).
func IsErr(t *testing.T, err, target error, what string) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Errorf("%s: got error %v, want %v", what, err, target)
	}
}

// Deleted accepts either answer for deleting a missing row.
func Deleted(t *testing.T, err error, what string) {
	t.Helper()
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		t.Errorf("%s of a missing row: got %v, want nil or ErrNotFound", what, err)
	}
}

// Same compares got and want field by field. Times compare as instants and
// every non-zero time in got must be in UTC; nil and empty slices are equal.
func Same(t *testing.T, what string, got, want any) {
	t.Helper()
	if g, w := show(got, true), show(want, false); g != w {
		t.Errorf("%s:\n got %s\nwant %s", what, g, w)
	}
}

var timeType = reflect.TypeFor[time.Time]()

func show(v any, strictZone bool) string {
	var b strings.Builder
	render(&b, reflect.ValueOf(v), strictZone)
	return b.String()
}

func render(b *strings.Builder, v reflect.Value, strictZone bool) {
	switch {
	case !v.IsValid():
		b.WriteString("<nil>")
	case v.Type() == timeType:
		tm := v.Interface().(time.Time)
		if tm.IsZero() {
			b.WriteString("0")
			return
		}
		b.WriteString(tm.UTC().Format(time.RFC3339Nano))
		if strictZone && tm.Location() != time.UTC {
			fmt.Fprintf(b, "(in %s, want UTC)", tm.Location())
		}
	case v.Kind() == reflect.Struct:
		b.WriteString("{")
		for i := range v.NumField() {
			if i > 0 {
				b.WriteString(" ")
			}
			b.WriteString(v.Type().Field(i).Name + ":")
			render(b, v.Field(i), strictZone)
		}
		b.WriteString("}")
	case (v.Kind() == reflect.Slice || v.Kind() == reflect.Array) && v.Type().Elem().Kind() == reflect.Uint8:
		bs := make([]byte, v.Len())
		reflect.Copy(reflect.ValueOf(bs), v)
		b.WriteString("0x" + hex.EncodeToString(bs))
	case v.Kind() == reflect.Slice || v.Kind() == reflect.Array:
		b.WriteString("[")
		for i := range v.Len() {
			if i > 0 {
				b.WriteString(", ")
			}
			render(b, v.Index(i), strictZone)
		}
		b.WriteString("]")
	case v.Kind() == reflect.String:
		fmt.Fprintf(b, "%q", v.String())
	default:
		fmt.Fprintf(b, "%v", v.Interface())
	}
}

// Race runs fn in Racers goroutines released at once.
func Race(fn func(i int) error) []error {
	var wg sync.WaitGroup
	start := make(chan struct{})
	errs := make([]error, Racers)
	for i := range Racers {
		wg.Go(func() {
			<-start
			errs[i] = fn(i)
		})
	}
	close(start)
	wg.Wait()
	return errs
}

// OneWinner checks that exactly one error is nil and every other is
// ErrConflict, and returns the winner's index.
func OneWinner(t *testing.T, what string, errs []error) int {
	t.Helper()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Fatalf("%s: racers %d and %d both won", what, winner, i)
		case err == nil:
			winner = i
		case !errors.Is(err, store.ErrConflict):
			t.Errorf("%s: racer %d: got %v, want ErrConflict", what, i, err)
		}
	}
	if winner < 0 {
		t.Fatalf("%s: no racer won", what)
	}
	return winner
}

// --- fixtures ---

// Fixtures is what MkHousehold needs of a store: a domain's suite whose
// interface lacks some of it asks for it beside the domain's Store, to make
// the accounts and households its tests start from.
type Fixtures interface {
	CreateAccount(ctx context.Context, a store.Account) error
	Account(ctx context.Context, id string) (store.Account, error)
	CreateHousehold(ctx context.Context, h store.Household, admin store.Member, genesis store.Link) error
}

// NewAccount is an account with a password, made from its ID.
func NewAccount(id string) store.Account {
	return store.Account{
		ID:           id,
		Email:        id + "@example.com",
		PasswordHash: "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$" + id,
		Created:      At(time.Minute),
	}
}

// MkAccount stores NewAccount(id) and returns it.
func MkAccount(t *testing.T, s interface {
	CreateAccount(ctx context.Context, a store.Account) error
}, id string) store.Account {
	t.Helper()
	a := NewAccount(id)
	OK(t, s.CreateAccount(t.Context(), a), "CreateAccount "+id)
	return a
}

// MkHousehold creates household id with admin as its first admin (creating
// the account) and returns the household and its genesis link.
func MkHousehold(t *testing.T, s Fixtures, id, admin string) (store.Household, store.Link) {
	t.Helper()
	if _, err := s.Account(t.Context(), admin); errors.Is(err, store.ErrNotFound) {
		MkAccount(t, s, admin)
	}
	h := store.Household{ID: id, Name: "Home of " + admin, GenesisHash: Sum(id + "/0"), QuotaBytes: 10 << 30, Created: At(time.Hour)}
	m := store.Member{HouseholdID: id, AccountID: admin, Role: store.RoleAdmin, Created: At(time.Hour)}
	g := store.Link{HouseholdID: id, Seq: 0, Hash: Sum(id + "/0"), Data: []byte("genesis of " + id), Created: At(time.Hour)}
	OK(t, s.CreateHousehold(t.Context(), h, m, g), "CreateHousehold "+id)
	return h, g
}

// Link is the household's link seq, its hash and data made from data.
func Link(hh string, seq int64, data string) store.Link {
	return store.Link{HouseholdID: hh, Seq: seq, Hash: Sum(data), Data: []byte(data), Created: At(time.Duration(seq) * time.Minute)}
}

// Object is the household's segment of camera from start to end, under
// key hh/key.
func Object(hh, key, camera string, start, end time.Duration) store.Object {
	return store.Object{
		HouseholdID: hh,
		Key:         hh + "/" + key,
		Device:      "hub-" + hh,
		Camera:      camera,
		Kind:        "segment",
		Seq:         1<<40 + uint64(start/time.Second),
		Start:       At(start),
		End:         At(end),
		Size:        int64(1000 + len(key)),
		SHA256:      Hash(hh + "/" + key),
		Created:     At(end + time.Second),
	}
}

// Keys are the objects' keys without their household prefix.
func Keys(objs []store.Object) []string {
	out := []string{}
	for _, o := range objs {
		out = append(out, strings.TrimPrefix(o.Key, o.HouseholdID+"/"))
	}
	return out
}

// SameKeys checks that err is nil and got has exactly the keys want, in
// order.
func SameKeys(t *testing.T, what string, got []store.Object, err error, want ...string) {
	t.Helper()
	OK(t, err, what)
	if want == nil {
		want = []string{}
	}
	if k := Keys(got); !slices.Equal(k, want) {
		t.Errorf("%s: got keys %q, want %q", what, k, want)
	}
}
