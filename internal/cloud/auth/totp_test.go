package auth

import (
	"bytes"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"
)

// rfcSecret is the SHA-1 key of RFC 6238 Appendix B.
var rfcSecret = []byte("12345678901234567890")

// RFC 6238 Appendix B, SHA-1 rows (8 digits).
var rfc6238 = []struct {
	unix int64
	step int64
	code string
}{
	{59, 0x1, "94287082"},
	{1111111109, 0x23523EC, "07081804"},
	{1111111111, 0x23523ED, "14050471"},
	{1234567890, 0x273EF07, "89005924"},
	{2000000000, 0x3F940AA, "69279037"},
	{20000000000, 0x27BC86AA, "65353130"},
}

func TestTOTPRFC6238Vectors(t *testing.T) {
	for _, v := range rfc6238 {
		tm := time.Unix(v.unix, 0)
		if got := TOTPStep(tm); got != v.step {
			t.Errorf("TOTPStep(%d) = %#x, want %#x", v.unix, got, v.step)
		}
		if got := totp(rfcSecret, tm, 8); got != v.code {
			t.Errorf("totp(T=%d, 8 digits) = %s, want %s", v.unix, got, v.code)
		}
		// Six digits are the same number mod 10^6: the last six.
		if got := TOTPCode(rfcSecret, tm); got != v.code[2:] {
			t.Errorf("TOTPCode(T=%d) = %s, want %s", v.unix, got, v.code[2:])
		}
		if step, ok := VerifyTOTP(rfcSecret, v.code[2:], tm, 0); !ok || step != v.step {
			t.Errorf("VerifyTOTP(T=%d) = %#x, %v; want %#x, true", v.unix, step, ok, v.step)
		}
	}
}

func TestTOTPStep(t *testing.T) {
	for _, tt := range []struct {
		unix int64
		want int64
	}{{0, 0}, {29, 0}, {30, 1}, {59, 1}, {60, 2}, {-1, -1}, {-30, -1}, {-31, -2}} {
		if got := TOTPStep(time.Unix(tt.unix, 0)); got != tt.want {
			t.Errorf("TOTPStep(%d) = %d, want %d", tt.unix, got, tt.want)
		}
	}
}

func TestVerifyTOTPSkewWindow(t *testing.T) {
	now := time.Unix(1_700_000_015, 0) // mid-step
	cur := TOTPStep(now)
	codes := map[time.Duration]string{}
	for _, d := range []time.Duration{-60 * time.Second, -30 * time.Second, 0, 30 * time.Second, 60 * time.Second} {
		codes[d] = TOTPCode(rfcSecret, now.Add(d))
	}
	for d, wantStep := range map[time.Duration]int64{-30 * time.Second: cur - 1, 0: cur, 30 * time.Second: cur + 1} {
		step, ok := VerifyTOTP(rfcSecret, codes[d], now, 0)
		if !ok || step != wantStep {
			t.Errorf("code of now%+v: VerifyTOTP = %d, %v; want %d, true", d, step, ok, wantStep)
		}
	}
	for _, d := range []time.Duration{-60 * time.Second, 60 * time.Second} {
		c := codes[d]
		if c == codes[-30*time.Second] || c == codes[0] || c == codes[30*time.Second] {
			t.Fatalf("test vector collision at now%+v; pick another time", d)
		}
		if step, ok := VerifyTOTP(rfcSecret, c, now, 0); ok {
			t.Errorf("code of now%+v accepted as step %d; the window is one step each side", d, step)
		}
	}
}

func TestVerifyTOTPReplay(t *testing.T) {
	now := time.Unix(1_700_000_015, 0)
	cur := TOTPStep(now)
	code := TOTPCode(rfcSecret, now)
	step, ok := VerifyTOTP(rfcSecret, code, now, 0)
	if !ok || step != cur {
		t.Fatalf("first use: %d, %v; want %d, true", step, ok, cur)
	}
	// The same code again, a few seconds later, is a replay.
	if _, ok := VerifyTOTP(rfcSecret, code, now.Add(5*time.Second), step); ok {
		t.Error("code accepted twice")
	}
	// An older (still in-window) code is refused once a newer step was used.
	if _, ok := VerifyTOTP(rfcSecret, TOTPCode(rfcSecret, now.Add(-30*time.Second)), now, step); ok {
		t.Error("code of an earlier step accepted after a later one was used")
	}
	// The next step's code is fresh.
	next := TOTPCode(rfcSecret, now.Add(30*time.Second))
	if s, ok := VerifyTOTP(rfcSecret, next, now.Add(30*time.Second), step); !ok || s != cur+1 {
		t.Errorf("next step: %d, %v; want %d, true", s, ok, cur+1)
	}
	// A code from the future (phone clock ahead) uses up its step, so the
	// current step cannot be used afterwards either.
	if s, ok := VerifyTOTP(rfcSecret, next, now, 0); !ok || s != cur+1 {
		t.Errorf("future code: %d, %v; want %d, true", s, ok, cur+1)
	}
	if _, ok := VerifyTOTP(rfcSecret, code, now, cur+1); ok {
		t.Error("current-step code accepted after the next step was used")
	}
}

var malformedCodes = []string{
	"", "12345", "1234567", "abcdef", "12345a", " 12345", "12345 ", "123 456",
	"+12345", "-12345", "0x1234", "１２３４５６", "123456\n", "12345\x00", "١٢٣٤٥٦",
}

func TestVerifyTOTPMalformed(t *testing.T) {
	now := time.Unix(1_700_000_015, 0)
	good := TOTPCode(rfcSecret, now)
	if _, ok := VerifyTOTP(rfcSecret, good, now, 0); !ok {
		t.Fatal("good code refused")
	}
	codes := append([]string{good + "0", good[:5], " " + good, good + "\n"}, malformedCodes...)
	for _, c := range codes {
		if step, ok := VerifyTOTP(rfcSecret, c, now, 0); ok {
			t.Errorf("VerifyTOTP(%q) accepted as step %d", c, step)
		}
	}
	// A code that is right for a too-short secret is still refused.
	short := rfcSecret[:MinTOTPSecretSize-1]
	if _, ok := VerifyTOTP(short, TOTPCode(short, now), now, 0); ok {
		t.Error("code accepted for a secret shorter than MinTOTPSecretSize")
	}
	if _, ok := VerifyTOTP(nil, good, now, 0); ok {
		t.Error("code accepted for a nil secret")
	}
}

func TestNewTOTPSecret(t *testing.T) {
	a, err := NewTOTPSecret()
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewTOTPSecret()
	if err != nil {
		t.Fatal(err)
	}
	if len(a) != TOTPSecretSize || len(b) != TOTPSecretSize {
		t.Fatalf("secret lengths %d, %d; want %d", len(a), len(b), TOTPSecretSize)
	}
	if bytes.Equal(a, b) {
		t.Fatal("two secrets are equal")
	}
	now := time.Now()
	if _, ok := VerifyTOTP(a, TOTPCode(a, now), now, 0); !ok {
		t.Error("a fresh secret's own code is refused")
	}
}

func TestBase32Secret(t *testing.T) {
	if got, want := Base32Secret(rfcSecret), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"; got != want {
		t.Errorf("Base32Secret(RFC secret) = %s, want %s", got, want)
	}
	if got := Base32Secret(make([]byte, 16)); strings.Contains(got, "=") || len(got) != 26 {
		t.Errorf("Base32Secret(16 bytes) = %q; want 26 characters, no padding", got)
	}
}

func TestTOTPURI(t *testing.T) {
	raw := TOTPURI(rfcSecret, "alice smith+cam@example.com", "Vigil & Co")
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatalf("TOTPURI = %q does not parse: %v", raw, err)
	}
	if u.Scheme != "otpauth" || u.Host != "totp" {
		t.Errorf("scheme/host = %s/%s, want otpauth/totp", u.Scheme, u.Host)
	}
	if want := "/Vigil & Co:alice smith+cam@example.com"; u.Path != want {
		t.Errorf("label = %q, want %q", u.Path, want)
	}
	if strings.Contains(raw, "+") || strings.Contains(strings.SplitN(raw, "?", 2)[0], " ") {
		t.Errorf("URI %q has a '+' or a raw space: spaces must be %%20", raw)
	}
	q := u.Query()
	want := map[string]string{
		"secret": Base32Secret(rfcSecret), "issuer": "Vigil & Co",
		"algorithm": "SHA1", "digits": "6", "period": "30",
	}
	for k, v := range want {
		if q.Get(k) != v {
			t.Errorf("query %s = %q, want %q", k, q.Get(k), v)
		}
	}
	if len(q) != len(want) {
		t.Errorf("query has %d keys, want %d: %v", len(q), len(want), q)
	}

	noIssuer, err := url.Parse(TOTPURI(rfcSecret, "bob@example.com", ""))
	if err != nil {
		t.Fatal(err)
	}
	if noIssuer.Path != "/bob@example.com" || noIssuer.Query().Has("issuer") {
		t.Errorf("without issuer: %s", noIssuer)
	}
}

func ExampleTOTPURI() {
	secret := []byte("12345678901234567890") // use NewTOTPSecret
	fmt.Println(TOTPURI(secret, "alice@example.com", "Vigil"))
	// Output: otpauth://totp/Vigil:alice%40example.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Vigil&algorithm=SHA1&digits=6&period=30
}

func FuzzVerifyTOTP(f *testing.F) {
	now := time.Unix(1_700_000_015, 0)
	f.Add(TOTPCode(rfcSecret, now), int64(0))
	f.Add(TOTPCode(rfcSecret, now), TOTPStep(now))
	f.Add(TOTPCode(rfcSecret, now.Add(30*time.Second)), TOTPStep(now))
	for _, c := range malformedCodes {
		f.Add(c, int64(0))
	}
	f.Fuzz(func(t *testing.T, code string, last int64) {
		step, ok := VerifyTOTP(rfcSecret, code, now, last)
		if !ok {
			if step != 0 {
				t.Fatalf("refused, yet step %d", step)
			}
			return
		}
		cur := TOTPStep(now)
		if step < cur-1 || step > cur+1 || step <= last {
			t.Fatalf("accepted step %d outside (max(%d, last=%d), %d]", step, cur-2, last, cur+1)
		}
		if code != hotp(rfcSecret, uint64(step), TOTPDigits) {
			t.Fatalf("accepted %q, which is not the code of step %d", code, step)
		}
	})
}
