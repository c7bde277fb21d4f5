package onvif

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
)

// XML namespaces of the messages this package reads and writes.
const (
	nsSOAP   = "http://www.w3.org/2003/05/soap-envelope"
	nsSOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
	nsTDS    = "http://www.onvif.org/ver10/device/wsdl"
	nsTRT    = "http://www.onvif.org/ver10/media/wsdl"
	nsTR2    = "http://www.onvif.org/ver20/media/wsdl"
	nsTT     = "http://www.onvif.org/ver10/schema"
	nsTEV    = "http://www.onvif.org/ver10/events/wsdl"
	nsWSNT   = "http://docs.oasis-open.org/wsn/b-2"
	nsWSA    = "http://www.w3.org/2005/08/addressing"
	nsTNS1   = "http://www.onvif.org/ver10/topics"
	nsTER    = "http://www.onvif.org/ver10/error"
	nsWSSE   = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
	nsWSU    = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"

	// WS-Discovery (2005/04, the version ONVIF uses) and its addressing.
	nsWSD     = "http://schemas.xmlsoap.org/ws/2005/04/discovery"
	nsWSADisc = "http://schemas.xmlsoap.org/ws/2004/08/addressing"
	nsDN      = "http://www.onvif.org/ver10/network/wsdl"
)

// Limits on what a peer may send.
const (
	// DefaultMaxReply bounds a SOAP message read from a peer. A profile
	// list of a many-channel recorder is tens of kilobytes.
	DefaultMaxReply = 1 << 20
	// DefaultMaxSnapshot bounds a snapshot image.
	DefaultMaxSnapshot = 8 << 20
	// maxDepth bounds element nesting; ONVIF messages nest about ten deep.
	maxDepth = 64
	// maxDatagram bounds a WS-Discovery message.
	maxDatagram = 64 << 10
)

var (
	// ErrTooLarge is returned for a reply, snapshot or datagram over its
	// limit; nothing past the limit is read.
	ErrTooLarge = errors.New("too large")
	// ErrHostileXML is returned for XML no ONVIF peer needs to send: a
	// document type declaration (and so entity declarations), a processing
	// instruction other than the XML declaration, or nesting deeper than
	// any ONVIF message.
	ErrHostileXML = errors.New("refused XML")
	// ErrNotAuthorized is returned (wrapped, often in a *FaultError) when
	// the device refuses the credentials.
	ErrNotAuthorized = errors.New("not authorized")
	// ErrUnexpectedReply is returned when a reply is well-formed SOAP but
	// not the element the operation answers with (wrong namespace or name).
	ErrUnexpectedReply = errors.New("unexpected reply")
)

// readLimited reads all of r, refusing more than max bytes.
func readLimited(r io.Reader, max int64, what string) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return nil, fmt.Errorf("onvif: %s: reading reply: %w", what, err)
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("onvif: %s: %w (more than %d bytes)", what, ErrTooLarge, max)
	}
	return b, nil
}

// checkXML walks every token of data and refuses, before anything is
// decoded, what no ONVIF message contains: a DTD (the only place entities
// are declared: encoding/xml never expands them, but a billion-laughs
// document is refused here outright rather than decoded up to its first
// undefined reference), processing instructions other than the XML
// declaration, and nesting deeper than maxDepth. It also checks that the
// document is well-formed to its end.
func checkXML(data []byte) error {
	d := xml.NewDecoder(bytes.NewReader(data))
	depth, roots := 0, 0
	for {
		tok, err := d.Token()
		if err == io.EOF {
			if roots == 0 {
				return fmt.Errorf("%w: no element", ErrHostileXML)
			}
			return nil
		}
		if err != nil {
			return fmt.Errorf("malformed XML: %w", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if depth == 0 {
				roots++
			}
			depth++
			if depth > maxDepth {
				return fmt.Errorf("%w: elements nested more than %d deep", ErrHostileXML, maxDepth)
			}
		case xml.EndElement:
			depth--
		case xml.Directive:
			return fmt.Errorf("%w: document type declaration (<!%s)", ErrHostileXML, firstWord(t))
		case xml.ProcInst:
			if t.Target != "xml" {
				return fmt.Errorf("%w: processing instruction <?%s", ErrHostileXML, t.Target)
			}
		}
	}
}

func firstWord(b []byte) string {
	s, _, _ := strings.Cut(strings.TrimSpace(string(b)), " ")
	if len(s) > 16 {
		s = s[:16]
	}
	return s
}

// envHeader is what this package reads of a SOAP header: WS-Addressing
// and WS-Security's UsernameToken. Fields match by local name.
type envHeader struct {
	Action    string `xml:"Action"`
	MessageID string `xml:"MessageID"`
	RelatesTo string `xml:"RelatesTo"`
	To        string `xml:"To"`
	Security  struct {
		UsernameToken *usernameTokenXML `xml:"UsernameToken"`
	} `xml:"Security"`
}

// decodeEnvelope checks data (checkXML), requires a SOAP 1.2 envelope,
// decodes its header into h (when h is not nil) and calls body with the
// decoder at the start of the body's first element (a zero StartElement
// when the body is empty). Namespace prefixes declared anywhere above the
// element stay in scope for body's decoding.
func decodeEnvelope(data []byte, h *envHeader, body func(d *xml.Decoder, start xml.StartElement) error) error {
	if err := checkXML(data); err != nil {
		return err
	}
	d := xml.NewDecoder(bytes.NewReader(data))
	root, err := nextStart(d)
	if err != nil {
		return err
	}
	if root.Name.Local != "Envelope" || root.Name.Space != nsSOAP {
		if root.Name.Space == nsSOAP11 {
			return fmt.Errorf("%w: a SOAP 1.1 envelope (ONVIF speaks SOAP 1.2)", ErrUnexpectedReply)
		}
		return fmt.Errorf("%w: root element is %s, not a SOAP 1.2 Envelope", ErrUnexpectedReply, qname(root.Name))
	}
	for {
		tok, err := d.Token()
		if err != nil {
			return fmt.Errorf("malformed SOAP envelope: %w", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			switch {
			case t.Name.Space == nsSOAP && t.Name.Local == "Header" && h != nil:
				if err := d.DecodeElement(h, &t); err != nil {
					return fmt.Errorf("malformed SOAP header: %w", err)
				}
			case t.Name.Space == nsSOAP && t.Name.Local == "Body":
				for {
					tok, err := d.Token()
					if err != nil {
						return fmt.Errorf("malformed SOAP body: %w", err)
					}
					switch c := tok.(type) {
					case xml.StartElement:
						return body(d, c)
					case xml.EndElement:
						return body(d, xml.StartElement{})
					}
				}
			default:
				if err := d.Skip(); err != nil {
					return fmt.Errorf("malformed SOAP envelope: %w", err)
				}
			}
		case xml.EndElement:
			return fmt.Errorf("%w: SOAP envelope has no Body", ErrUnexpectedReply)
		}
	}
}

func nextStart(d *xml.Decoder) (xml.StartElement, error) {
	for {
		tok, err := d.Token()
		if err != nil {
			return xml.StartElement{}, fmt.Errorf("malformed XML: %w", err)
		}
		if s, ok := tok.(xml.StartElement); ok {
			return s, nil
		}
	}
}

// qname writes a name as {namespace}local for errors.
func qname(n xml.Name) string {
	if n.Space == "" {
		return n.Local
	}
	return "{" + n.Space + "}" + n.Local
}

// FaultError is a SOAP fault a device answered an operation with.
type FaultError struct {
	Op         string   // the operation, e.g. "GetProfiles"
	Code       string   // e.g. "env:Sender", as written
	Subcodes   []string // e.g. ["ter:NotAuthorized"], outermost first
	Reason     string
	HTTPStatus int
}

func (e *FaultError) Error() string {
	code := strings.Join(append([]string{e.Code}, e.Subcodes...), "/")
	if e.Reason != "" {
		return fmt.Sprintf("onvif: %s: device answered with a SOAP fault %s: %s", e.Op, code, e.Reason)
	}
	return fmt.Sprintf("onvif: %s: device answered with a SOAP fault %s", e.Op, code)
}

// Is makes errors.Is(err, ErrNotAuthorized) true for a fault that refuses
// the credentials (ter:NotAuthorized, wsse:FailedAuthentication, or any
// fault sent with HTTP 401).
func (e *FaultError) Is(target error) bool {
	if target != ErrNotAuthorized {
		return false
	}
	if e.HTTPStatus == 401 {
		return true
	}
	for _, s := range e.Subcodes {
		if l := localPart(s); l == "NotAuthorized" || l == "FailedAuthentication" {
			return true
		}
	}
	return false
}

type faultCodeXML struct {
	Value   string        `xml:"Value"`
	Subcode *faultCodeXML `xml:"Subcode"`
}

type faultXML struct {
	Code   faultCodeXML `xml:"Code"`
	Reason struct {
		Text []string `xml:"Text"`
	} `xml:"Reason"`
}

// decodeFault decodes a SOAP 1.2 Fault element into a *FaultError for op.
// Codes are clipped and at most four subcodes kept, so that a hostile
// fault makes a short error.
func decodeFault(d *xml.Decoder, start xml.StartElement, op string, status int) error {
	var f faultXML
	if err := d.DecodeElement(&f, &start); err != nil {
		return fmt.Errorf("onvif: %s: malformed SOAP fault: %w", op, err)
	}
	fe := &FaultError{Op: op, Code: clip(strings.TrimSpace(f.Code.Value), 64), HTTPStatus: status}
	for s := f.Code.Subcode; s != nil && len(fe.Subcodes) < 4; s = s.Subcode {
		fe.Subcodes = append(fe.Subcodes, clip(strings.TrimSpace(s.Value), 64))
	}
	if len(f.Reason.Text) > 0 {
		fe.Reason = clip(strings.TrimSpace(f.Reason.Text[0]), 200)
	}
	return fe
}

// clip shortens s to at most n bytes for an error message, on a rune
// boundary, and replaces control characters.
func clip(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

func utf8RuneStart(b byte) bool { return b&0xC0 != 0x80 }

// localPart returns the part of a QName after its prefix.
func localPart(s string) string {
	if i := strings.LastIndexByte(s, ':'); i >= 0 {
		return s[i+1:]
	}
	return s
}

// decodeResponse decodes a SOAP reply to op whose body must be the element
// {ns}name, into out. A Fault in the body is returned as a *FaultError.
// status is the HTTP status the reply came with (0 when not over HTTP).
func decodeResponse(data []byte, op, ns, name string, status int, out any) error {
	inBody := false
	err := decodeEnvelope(data, nil, func(d *xml.Decoder, start xml.StartElement) error {
		inBody = true
		switch {
		case start.Name.Space == nsSOAP && start.Name.Local == "Fault":
			return decodeFault(d, start, op, status)
		case start.Name.Local == "":
			return fmt.Errorf("onvif: %s: %w: empty SOAP body", op, ErrUnexpectedReply)
		case start.Name.Space != ns || start.Name.Local != name:
			return fmt.Errorf("onvif: %s: %w: body is %s, want %s", op, ErrUnexpectedReply, qname(start.Name), qname(xml.Name{Space: ns, Local: name}))
		}
		if out == nil {
			return d.Skip()
		}
		if err := d.DecodeElement(out, &start); err != nil {
			return fmt.Errorf("onvif: %s: malformed %s: %w", op, name, err)
		}
		return nil
	})
	if err != nil && !inBody {
		return fmt.Errorf("onvif: %s: %w", op, err)
	}
	return err
}

// esc escapes s for XML character data and attribute values.
func esc(s string) string {
	var b strings.Builder
	if err := xml.EscapeText(&b, []byte(s)); err != nil {
		return ""
	}
	return b.String()
}

// envelopeStart opens a SOAP 1.2 envelope declaring every prefix this
// package writes.
const envelopeStart = `<?xml version="1.0" encoding="UTF-8"?>` +
	`<s:Envelope xmlns:s="` + nsSOAP + `" xmlns:tds="` + nsTDS + `" xmlns:trt="` + nsTRT +
	`" xmlns:tr2="` + nsTR2 + `" xmlns:tt="` + nsTT + `" xmlns:tev="` + nsTEV + `" xmlns:wsnt="` + nsWSNT +
	`" xmlns:wsa="` + nsWSA + `" xmlns:tns1="` + nsTNS1 + `" xmlns:ter="` + nsTER + `">`

// envelope wraps a header's and a body's XML into a SOAP 1.2 envelope.
func envelope(header, body string) []byte {
	var b strings.Builder
	b.WriteString(envelopeStart)
	if header != "" {
		b.WriteString("<s:Header>" + header + "</s:Header>")
	}
	b.WriteString("<s:Body>" + body + "</s:Body></s:Envelope>")
	return []byte(b.String())
}
