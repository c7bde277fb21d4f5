package auth

import (
	"errors"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"
)

// testParams keeps the package tests fast; DefaultArgon2 is exercised once.
var testParams = Argon2Params{Memory: 1024, Time: 1, Threads: 1}

var phcRE = regexp.MustCompile(`^\$argon2id\$v=19\$m=1024,t=1,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`)

func TestHashPasswordRoundTrip(t *testing.T) {
	for _, pw := range []string{"correct horse battery", "pässwörd-ünïcødé", strings.Repeat("x", MaxPasswordLen)} {
		h, err := HashPassword(pw, testParams)
		if err != nil {
			t.Fatalf("HashPassword: %v", err)
		}
		if !phcRE.MatchString(h) {
			t.Fatalf("hash %q is not the expected PHC form", h)
		}
		if ok, err := CheckPassword(h, pw); !ok || err != nil {
			t.Errorf("CheckPassword(right password) = %v, %v; want true, nil", ok, err)
		}
		for _, wrong := range []string{pw + "x", pw[:len(pw)-1], strings.ToUpper(pw), ""} {
			if ok, err := CheckPassword(h, wrong); ok || err != nil {
				t.Errorf("CheckPassword(wrong password) = %v, %v; want false, nil", ok, err)
			}
		}
	}
}

func TestHashPasswordSalted(t *testing.T) {
	a, err := HashPassword("same password", testParams)
	if err != nil {
		t.Fatal(err)
	}
	b, err := HashPassword("same password", testParams)
	if err != nil {
		t.Fatal(err)
	}
	if a == b {
		t.Fatal("two hashes of one password are equal: salt is not random")
	}
}

func TestHashPasswordLength(t *testing.T) {
	tests := []struct {
		name string
		pw   string
		want error
	}{
		{"empty", "", ErrWeakPassword},
		{"9 chars", "123456789", ErrWeakPassword},
		{"10 chars", "1234567890", nil},
		{"9 runes in 27 bytes", strings.Repeat("€", 9), ErrWeakPassword},
		{"10 runes", strings.Repeat("€", 10), nil},
		{"max bytes", strings.Repeat("a", MaxPasswordLen), nil},
		{"max+1 bytes", strings.Repeat("a", MaxPasswordLen+1), ErrPasswordTooLong},
		{"1 MB", strings.Repeat("a", 1<<20), ErrPasswordTooLong},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := HashPassword(tt.pw, testParams)
			if !errors.Is(err, tt.want) {
				t.Fatalf("HashPassword error = %v, want %v", err, tt.want)
			}
			if err != nil {
				if h != "" {
					t.Errorf("hash %q returned with error", h)
				}
				if strings.Contains(err.Error(), tt.pw) && tt.pw != "" {
					t.Errorf("error %q contains the password", err)
				}
			}
		})
	}
}

func TestHashPasswordInvalidParams(t *testing.T) {
	for _, p := range []Argon2Params{
		{},
		{Memory: 1024, Time: 0, Threads: 1},
		{Memory: 1024, Time: 1, Threads: 0},
		{Memory: 7, Time: 1, Threads: 1},
		{Memory: 31, Time: 1, Threads: 4},
		{Memory: MaxArgon2Memory + 1, Time: 1, Threads: 1},
		{Memory: 1024, Time: MaxArgon2Time + 1, Threads: 1},
		{Memory: 1024, Time: 1, Threads: MaxArgon2Threads + 1},
	} {
		if _, err := HashPassword("long enough password", p); !errors.Is(err, ErrInvalidParams) {
			t.Errorf("HashPassword with %+v: error %v, want ErrInvalidParams", p, err)
		}
	}
}

// validPHC is a well-formed hash (of nothing in particular) with testParams.
const validPHC = "$argon2id$v=19$m=1024,t=1,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"

var malformedPHC = []string{
	"",
	"plaintext",
	"$",
	"$argon2id",
	"$argon2i$v=19$m=1024,t=1,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
	"$ARGON2ID$v=19$m=1024,t=1,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
	"$argon2id$v=16$m=1024,t=1,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
	"$argon2id$m=1024,t=1,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
	"$argon2id$v=19$t=1,m=1024,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
	"$argon2id$v=19$m=1024,t=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
	"$argon2id$v=19$m=1024,t=1,p=1,k=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
	"$argon2id$v=19$m=01024,t=1,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
	"$argon2id$v=19$m=+1024,t=1,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
	"$argon2id$v=19$m=-1,t=1,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
	"$argon2id$v=19$m=,t=1,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
	"$argon2id$v=19$m= 1024,t=1,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
	"$argon2id$v=19$m=4294967296,t=1,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
	"$argon2id$v=19$m=1024,t=0,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
	"$argon2id$v=19$m=1024,t=1,p=0$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
	"$argon2id$v=19$m=1024,t=1,p=1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
	"$argon2id$v=19$m=1024,t=1,p=1$AAAAAAAAAAAAAAAAAAAAAB$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", // non-zero padding bits
	"$argon2id$v=19$m=1024,t=1,p=1$AAAAAAAAAAAAAAAAAAAA-_$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", // base64url, not std
	"$argon2id$v=19$m=1024,t=1,p=1$AAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",                // salt < 8 bytes
	"$argon2id$v=19$m=1024,t=1,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAA",                        // hash < 16 bytes
	"$argon2id$v=19$m=1024,t=1,p=1$$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
	"$argon2id$v=19$m=1024,t=1,p=1$AAAAAAAAAAAAAAAAAAAAAA$",
	"$argon2id$v=19$m=1024,t=1,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA$",
	"x$argon2id$v=19$m=1024,t=1,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
	validPHC + "\n",
	"$argon2id$v=19$m=1024,t=1,p=1$AAAAAAAAAAAAAAAAAAAAAA$" + strings.Repeat("A", 300),
}

func TestCheckPasswordMalformed(t *testing.T) {
	if _, err := parsePHC(validPHC); err != nil {
		t.Fatalf("validPHC does not parse: %v", err)
	}
	for _, s := range malformedPHC {
		ok, err := CheckPassword(s, "any password at all")
		if ok || !errors.Is(err, ErrMalformedHash) {
			t.Errorf("CheckPassword(%q) = %v, %v; want false, ErrMalformedHash", s, ok, err)
		}
		if !NeedsRehash(s, testParams) {
			t.Errorf("NeedsRehash(%q) = false for a malformed hash", s)
		}
	}
}

// A stored row with enormous parameters must be refused before Argon2
// allocates anything: otherwise one hostile or corrupt row is a
// denial of service (m=4000000000 KiB is about 4 TB).
func TestCheckPasswordHostileParams(t *testing.T) {
	for _, s := range []string{
		"$argon2id$v=19$m=4000000000,t=1,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"$argon2id$v=19$m=262145,t=1,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"$argon2id$v=19$m=1024,t=4000000000,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"$argon2id$v=19$m=1024,t=11,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"$argon2id$v=19$m=1024,t=1,p=255$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"$argon2id$v=19$m=1024,t=1,p=4000000000$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"$argon2id$v=19$m=1024,t=1,p=1$AAAAAAAAAAAAAAAAAAAAAA$" + strings.Repeat("A", 1<<20), // a 1 MB "hash"
	} {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		start := time.Now()
		ok, err := CheckPassword(s, "any password at all")
		elapsed := time.Since(start)
		runtime.ReadMemStats(&after)
		short := s[:min(len(s), 60)]
		if ok || !errors.Is(err, ErrMalformedHash) {
			t.Errorf("CheckPassword(%q...) = %v, %v; want false, ErrMalformedHash", short, ok, err)
		}
		if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 64<<10 {
			t.Errorf("CheckPassword(%q...) allocated %d bytes before refusing", short, alloc)
		}
		if elapsed > 100*time.Millisecond {
			t.Errorf("CheckPassword(%q...) took %v before refusing", short, elapsed)
		}
	}
}

func TestCheckPasswordTooLong(t *testing.T) {
	pw := strings.Repeat("a", MaxPasswordLen)
	h, err := HashPassword(pw, testParams)
	if err != nil {
		t.Fatal(err)
	}
	// Argon2 would happily hash a longer string with the same prefix; it is
	// refused on length, and is not an error of the stored hash.
	if ok, err := CheckPassword(h, pw+"a"); ok || err != nil {
		t.Errorf("CheckPassword(too long) = %v, %v; want false, nil", ok, err)
	}
}

func TestNeedsRehash(t *testing.T) {
	h, err := HashPassword("long enough password", testParams)
	if err != nil {
		t.Fatal(err)
	}
	if NeedsRehash(h, testParams) {
		t.Error("NeedsRehash = true for a hash made with the same params")
	}
	for _, p := range []Argon2Params{
		{Memory: 2048, Time: 1, Threads: 1},
		{Memory: 1024, Time: 2, Threads: 1},
		{Memory: 1024, Time: 1, Threads: 2},
		{Memory: 512, Time: 1, Threads: 1},
		DefaultArgon2,
	} {
		if !NeedsRehash(h, p) {
			t.Errorf("NeedsRehash(hash with %+v, %+v) = false", testParams, p)
		}
	}
	// Same cost, but an 8-byte salt and 16-byte key (an older or foreign
	// writer): valid, checkable, but not what we produce now.
	old := "$argon2id$v=19$m=1024,t=1,p=1$AAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA"
	if _, err := parsePHC(old); err != nil {
		t.Fatalf("parse %q: %v", old, err)
	}
	if !NeedsRehash(old, testParams) {
		t.Error("NeedsRehash = false for a hash with a short salt and key")
	}
}

// CheckDummyWith only hides timing if its hash is well formed: a malformed one
// would return before Argon2 runs, faster than any real check.
func TestCheckDummyHashIsWellFormed(t *testing.T) {
	for _, p := range []Argon2Params{DefaultArgon2, testParams, {}} {
		h := dummyHash(p)
		got, err := parsePHC(h)
		if err != nil {
			t.Fatalf("dummyHash(%+v) = %q does not parse: %v", p, h, err)
		}
		want := p
		if p.Validate() != nil {
			want = DefaultArgon2
		}
		if got.params != want {
			t.Errorf("dummyHash(%+v) has params %+v, want %+v", p, got.params, want)
		}
		if NeedsRehash(h, want) {
			t.Errorf("dummyHash(%+v) differs in shape from HashPassword's output", p)
		}
	}
	// Full-cost dummies are left to TestDefaultArgon2's budget; the cheap
	// one shows the dummy never matches.
	if ok, err := CheckPassword(dummyHash(testParams), "long enough password"); ok || err != nil {
		t.Errorf("CheckPassword(dummy) = %v, %v; want false, nil", ok, err)
	}
	CheckDummyWith("long enough password", testParams)
}

// The one test at full cost: a DefaultArgon2 round trip.
func TestDefaultArgon2(t *testing.T) {
	if err := DefaultArgon2.Validate(); err != nil {
		t.Fatal(err)
	}
	h, err := HashPassword("correct horse battery staple", DefaultArgon2)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=65536,t=2,p=2$") {
		t.Errorf("hash %q does not carry DefaultArgon2", h)
	}
	if ok, err := CheckPassword(h, "correct horse battery staple"); !ok || err != nil {
		t.Errorf("CheckPassword = %v, %v; want true, nil", ok, err)
	}
	if NeedsRehash(h, DefaultArgon2) {
		t.Error("NeedsRehash(DefaultArgon2 hash, DefaultArgon2) = true")
	}
}

func FuzzParsePHC(f *testing.F) {
	f.Add(validPHC)
	f.Add(dummyHash(DefaultArgon2))
	for _, s := range malformedPHC {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		h, err := parsePHC(s)
		if err != nil {
			if !errors.Is(err, ErrMalformedHash) {
				t.Fatalf("parsePHC error %v does not wrap ErrMalformedHash", err)
			}
			return
		}
		if err := h.params.Validate(); err != nil {
			t.Fatalf("parsePHC accepted out-of-range params: %v", err)
		}
		if len(h.salt) < minSaltLen || len(h.salt) > maxSaltLen || len(h.key) < minKeyLen || len(h.key) > maxKeyLen {
			t.Fatalf("parsePHC accepted salt %d / key %d bytes", len(h.salt), len(h.key))
		}
		// Only the canonical form is accepted: what we parse is what we write.
		if got := h.String(); got != s {
			t.Fatalf("parse then format: %q, want %q", got, s)
		}
	})
}

func BenchmarkHashPasswordDefault(b *testing.B) {
	for b.Loop() {
		if _, err := HashPassword("correct horse battery staple", DefaultArgon2); err != nil {
			b.Fatal(err)
		}
	}
}
