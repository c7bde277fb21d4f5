package yamlconf

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
)

// Error is one problem with a configuration file.
type Error struct {
	File string // file name as given to the loader; "" when decoding bytes or for a value built in code
	Line int    // 1-based line, 0 when unknown
	Key  string // key path such as "cameras[1].url"; "" for the document itself
	Msg  string // what is wrong, and what to write instead when that is known
}

// Error formats e as "file:line: key: msg", omitting the parts not known.
func (e *Error) Error() string {
	var b strings.Builder
	switch {
	case e.File != "" && e.Line > 0:
		fmt.Fprintf(&b, "%s:%d: ", e.File, e.Line)
	case e.File != "":
		fmt.Fprintf(&b, "%s: ", e.File)
	case e.Line > 0:
		fmt.Fprintf(&b, "line %d: ", e.Line)
	}
	if e.Key != "" {
		b.WriteString(e.Key)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Source remembers a decoded file's name and the line of every key path,
// so that validation after decoding can name lines too. A nil *Source (a
// value built in code) knows no file and no lines.
type Source struct {
	file  string
	lines map[string]int
}

// File is the file name given to Decode.
func (s *Source) File() string {
	if s == nil {
		return ""
	}
	return s.file
}

// Line returns the line of path, or of its closest ancestor that has one;
// 0 when none has.
func (s *Source) Line(path string) int {
	if s == nil {
		return 0
	}
	for {
		if l, ok := s.lines[path]; ok {
			return l
		}
		i := strings.LastIndexAny(path, ".[")
		if i <= 0 {
			return 0
		}
		path = path[:i]
	}
}

// Errorf returns an *Error for path with the file and the line of path.
func (s *Source) Errorf(path, format string, args ...any) *Error {
	e := &Error{Key: path, Msg: fmt.Sprintf(format, args...)}
	if s != nil {
		e.File, e.Line = s.file, s.Line(path)
	}
	return e
}

// Quote quotes a value for an error message without echoing secrets: a
// value holding one of Vigil's secret key encodings is not shown, a URL's
// password is replaced by "xxxxx" and a long value is cut.
func Quote(v string) string {
	if LooksSecret(v) {
		return "(a secret key, not shown)"
	}
	if strings.Contains(v, "://") {
		v = RedactURL(v)
	}
	if r := []rune(v); len(r) > 48 {
		v = string(r[:48]) + "…"
	}
	return fmt.Sprintf("%q", v)
}

// LooksSecret reports whether v holds one of Vigil's secret key encodings
// (an identity or a signer key).
func LooksSecret(v string) bool {
	u := strings.ToUpper(v)
	return strings.Contains(u, "VIGIL-IDENTITY-") || strings.Contains(u, "VIGIL-SIGNER-")
}

// Redacted replaces a password in RedactURL's result.
const Redacted = "xxxxx"

// RedactURL returns raw with the password of its user information
// replaced by Redacted; an unparseable value loses everything that could
// be user information.
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err == nil {
		if u.User == nil {
			return raw
		}
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), Redacted)
			return u.String()
		}
		return raw
	}
	at := strings.LastIndex(raw, "@")
	if at < 0 {
		return raw
	}
	start := 0
	if i := strings.Index(raw, "://"); i >= 0 && i < at {
		start = i + len("://")
	}
	return raw[:start] + Redacted + raw[at:]
}

// keyPrefixRE matches the key paths a validation message starts with:
// "store.dsn: ..." or "tls_cert, tls_key: ...".
var keyPrefixRE = regexp.MustCompile(`^([a-z0-9_]+(?:\[\d*\])*(?:\.[a-z0-9_]+(?:\[\d*\])*)*(?:, [a-z0-9_.\[\]]+)*): `)

// Place turns the errors joined in err, each a validation message that
// starts with the key path it is about ("store.dsn: holds a password"),
// into *Error values with the file and the line of that key (of its first
// key when it names several), so that a configuration whose validation
// writes plain messages reports lines as Decode does. A message that names
// no key gets the file alone. Place(nil) is nil.
func (s *Source) Place(err error) error {
	if err == nil {
		return nil
	}
	errs := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	out := make([]error, 0, len(errs))
	for _, e := range errs {
		msg := e.Error()
		m := keyPrefixRE.FindStringSubmatch(msg)
		if m == nil {
			out = append(out, &Error{File: s.File(), Msg: msg})
			continue
		}
		first, _, _ := strings.Cut(m[1], ", ")
		out = append(out, &Error{File: s.File(), Line: s.Line(first), Key: m[1], Msg: msg[len(m[0]):]})
	}
	return errors.Join(out...)
}
