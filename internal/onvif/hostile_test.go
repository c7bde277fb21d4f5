package onvif

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"vigil/internal/netguard"
)

const profilesOpen = `<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope" xmlns:trt="http://www.onvif.org/ver10/media/wsdl" xmlns:tt="http://www.onvif.org/ver10/schema"><env:Body>`

// TestHostileXML: documents no ONVIF peer sends are refused before they
// are decoded, with an error naming the operation.
func TestHostileXML(t *testing.T) {
	deep := profilesOpen + `<trt:GetProfilesResponse>` + strings.Repeat("<a>", 200000) + strings.Repeat("</a>", 200000) + `</trt:GetProfilesResponse></env:Body></env:Envelope>`
	deepUnclosed := profilesOpen + strings.Repeat("<a>", 500000)
	for name, doc := range map[string]struct {
		data string
		want error
	}{
		"billion laughs":   {string(sample(t, "billion_laughs.xml")), ErrHostileXML},
		"external entity":  {`<?xml version="1.0"?><!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>` + profilesOpen + `<trt:GetProfilesResponse><trt:Profiles token="a"><tt:Name>&xxe;</tt:Name></trt:Profiles></trt:GetProfilesResponse></env:Body></env:Envelope>`, ErrHostileXML},
		"deep nesting":     {deep, ErrHostileXML},
		"deep unclosed":    {deepUnclosed, ErrHostileXML},
		"processing instr": {`<?xml-stylesheet href="x"?>` + profilesOpen + `</env:Body></env:Envelope>`, ErrHostileXML},
		"wrong namespace":  {string(sample(t, "wrongns_profiles.xml")), ErrUnexpectedReply},
		"soap 1.1":         {string(sample(t, "soap11_profiles.xml")), ErrUnexpectedReply},
		"not soap":         {`<html><body>login</body></html>`, ErrUnexpectedReply},
		"empty body":       {profilesOpen + `</env:Body></env:Envelope>`, ErrUnexpectedReply},
		"no body":          {`<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope"></env:Envelope>`, ErrUnexpectedReply},
		"undefined entity": {profilesOpen + `<trt:GetProfilesResponse><trt:Profiles token="a"><tt:Name>&lol;</tt:Name></trt:Profiles></trt:GetProfilesResponse></env:Body></env:Envelope>`, nil},
		"truncated":        {profilesOpen + `<trt:GetProfilesResponse><trt:Profiles token="a">`, nil},
		"two roots":        {profilesOpen + `</env:Body></env:Envelope><x/>`, nil},
		"latin-1":          {`<?xml version="1.0" encoding="ISO-8859-1"?>` + profilesOpen + `</env:Body></env:Envelope>`, nil},
		"bad int":          {profilesOpen + `<trt:GetProfilesResponse><trt:Profiles token="a"><tt:VideoEncoderConfiguration><tt:Resolution><tt:Width>1e999</tt:Width></tt:Resolution></tt:VideoEncoderConfiguration></trt:Profiles></trt:GetProfilesResponse></env:Body></env:Envelope>`, nil},
		"profile no token": {profilesOpen + `<trt:GetProfilesResponse><trt:Profiles><tt:Name>x</tt:Name></trt:Profiles></trt:GetProfilesResponse></env:Body></env:Envelope>`, nil},
		"empty":            {``, nil},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := parseProfiles([]byte(doc.data), 200)
			if err == nil {
				t.Fatal("accepted")
			}
			if doc.want != nil && !errors.Is(err, doc.want) {
				t.Errorf("error %v, want %v", err, doc.want)
			}
			if !strings.HasPrefix(err.Error(), "onvif: GetProfiles: ") {
				t.Errorf("error does not name the operation: %v", err)
			}
			if len(err.Error()) > 400 {
				t.Errorf("error is %d bytes long", len(err.Error()))
			}
		})
	}
}

// TestNestingLimit: a reply nested as deep as the limit allows decodes;
// one level more is refused.
func TestNestingLimit(t *testing.T) {
	doc := func(extra int) []byte {
		return []byte(profilesOpen + `<trt:GetProfilesResponse><trt:Profiles token="a">` + strings.Repeat("<x>", extra) + strings.Repeat("</x>", extra) +
			`</trt:Profiles></trt:GetProfilesResponse></env:Body></env:Envelope>`)
	}
	if _, err := parseProfiles(doc(maxDepth-4), 200); err != nil {
		t.Errorf("at the limit: %v", err)
	}
	if _, err := parseProfiles(doc(maxDepth-3), 200); !errors.Is(err, ErrHostileXML) {
		t.Errorf("past the limit: %v", err)
	}
}

// TestHostileReplies runs the client against devices that answer badly
// over HTTP.
func TestHostileReplies(t *testing.T) {
	ctx := context.Background()
	serve := func(t *testing.T, h http.HandlerFunc) string {
		hs := httptest.NewServer(h)
		t.Cleanup(hs.Close)
		return hs.URL + "/onvif/device_service"
	}

	t.Run("huge reply", func(t *testing.T) {
		var wrote atomic.Int64
		xaddr := serve(t, func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte(profilesOpen))
			chunk := []byte(strings.Repeat(" ", 64<<10))
			for range 1024 { // 64 MiB unless the client stops reading
				if _, err := w.Write(chunk); err != nil {
					return
				}
				wrote.Add(int64(len(chunk)))
			}
		})
		c := newTestClient(t, xaddr, "", "")
		_, err := c.SystemDateAndTime(ctx)
		if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "GetSystemDateAndTime") {
			t.Fatalf("huge reply: %v", err)
		}
	})

	t.Run("huge snapshot", func(t *testing.T) {
		xaddr := serve(t, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "image/jpeg")
			w.Write(make([]byte, 4096))
		})
		c, err := NewClient(ClientOptions{XAddr: xaddr, MaxSnapshot: 1000})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.FetchSnapshot(ctx, xaddr); !errors.Is(err, ErrTooLarge) {
			t.Fatalf("huge snapshot: %v", err)
		}
	})

	t.Run("snapshot not an image", func(t *testing.T) {
		xaddr := serve(t, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			w.Write([]byte("<html>"))
		})
		if _, err := newTestClient(t, xaddr, "", "").FetchSnapshot(ctx, xaddr); err == nil || !strings.Contains(err.Error(), "not an image") {
			t.Fatalf("html snapshot: %v", err)
		}
	})

	t.Run("snapshot labelled loosely", func(t *testing.T) {
		xaddr := serve(t, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/octet-stream")
			w.Write([]byte("\xff\xd8\xff\xe0\x00\x10JFIF\x00"))
		})
		snap, err := newTestClient(t, xaddr, "", "").FetchSnapshot(ctx, xaddr)
		if err != nil || snap.ContentType != "image/jpeg" {
			t.Fatalf("a JPEG labelled application/octet-stream: %v %q", err, snap.ContentType)
		}
	})

	t.Run("redirect not followed", func(t *testing.T) {
		var hits atomic.Int64
		other := serve(t, func(w http.ResponseWriter, r *http.Request) { hits.Add(1) })
		xaddr := serve(t, func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, other, http.StatusTemporaryRedirect) })
		c := newTestClient(t, xaddr, "", "")
		if _, err := c.SystemDateAndTime(ctx); err == nil || !strings.Contains(err.Error(), "redirect") {
			t.Errorf("SOAP redirect: %v", err)
		}
		if _, err := c.FetchSnapshot(ctx, xaddr); err == nil || !strings.Contains(err.Error(), "redirect") {
			t.Errorf("snapshot redirect: %v", err)
		}
		if hits.Load() != 0 {
			t.Error("the redirect was followed")
		}
	})

	t.Run("service on another host", func(t *testing.T) {
		// The device lists its media service at a public address. By
		// default the client asks the device itself (same port and path);
		// trusting the device's hosts, it refuses to dial off the LAN.
		dev, base := newCanned(t, map[string]string{
			"GetSystemDateAndTime": "getsystemdateandtime.xml",
			"GetProfiles":          "getprofiles.xml",
		})
		port := base[strings.LastIndexByte(base, ':')+1:]
		dev.replies["GetServices"] = `<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope" xmlns:tds="http://www.onvif.org/ver10/device/wsdl"><env:Body><tds:GetServicesResponse>` +
			`<tds:Service><tds:Namespace>http://www.onvif.org/ver10/media/wsdl</tds:Namespace><tds:XAddr>http://203.0.113.9:` + port + `/onvif/media</tds:XAddr></tds:Service>` +
			`</tds:GetServicesResponse></env:Body></env:Envelope>`
		c := newTestClient(t, base+"/onvif/device_service", "admin", "pw")
		if ps, err := c.Profiles(ctx); err != nil || len(ps) != 2 {
			t.Fatalf("media service named by another host: %v", err)
		}
		trusting, err := NewClient(ClientOptions{XAddr: base + "/onvif/device_service", TrustServiceHosts: true})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := trusting.Profiles(ctx); !errors.Is(err, netguard.ErrRefused) {
			t.Fatalf("media service on a public address: %v", err)
		}
	})

	t.Run("device off the LAN", func(t *testing.T) {
		c := newTestClient(t, "http://203.0.113.9/onvif/device_service", "admin", "pw")
		if err := c.Connect(ctx); !errors.Is(err, netguard.ErrRefused) {
			t.Fatalf("device on a public address: %v", err)
		}
	})

	t.Run("service URL with credentials", func(t *testing.T) {
		_, base := newCanned(t, map[string]string{
			"GetSystemDateAndTime": "getsystemdateandtime.xml",
			"GetServices": `<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope" xmlns:tds="http://www.onvif.org/ver10/device/wsdl"><env:Body><tds:GetServicesResponse>` +
				`<tds:Service><tds:Namespace>http://www.onvif.org/ver10/media/wsdl</tds:Namespace><tds:XAddr>file:///etc/passwd</tds:XAddr></tds:Service>` +
				`</tds:GetServicesResponse></env:Body></env:Envelope>`,
		})
		c := newTestClient(t, base+"/onvif/device_service", "admin", "pw")
		if err := c.Connect(ctx); err == nil || !strings.Contains(err.Error(), "bad URL") {
			t.Fatalf("media service at file://: %v", err)
		}
	})

	t.Run("fault with HTTP 500", func(t *testing.T) {
		dev, base := newCanned(t, map[string]string{"GetSystemDateAndTime": "fault_notauthorized.xml"})
		dev.status["GetSystemDateAndTime"] = 500
		_, err := newTestClient(t, base+"/onvif/device_service", "", "").SystemDateAndTime(ctx)
		var fe *FaultError
		if !errors.As(err, &fe) || fe.Op != "GetSystemDateAndTime" || fe.HTTPStatus != 500 {
			t.Fatalf("fault: %v", err)
		}
	})

	t.Run("401 without a fault", func(t *testing.T) {
		xaddr := serve(t, func(w http.ResponseWriter, r *http.Request) { http.Error(w, "no", http.StatusUnauthorized) })
		_, err := newTestClient(t, xaddr, "admin", "pw").DeviceInformation(ctx)
		if !errors.Is(err, ErrNotAuthorized) || !strings.Contains(err.Error(), "GetDeviceInformation") {
			t.Fatalf("401: %v", err)
		}
	})

	t.Run("too many events", func(t *testing.T) {
		msg := `<wsnt:NotificationMessage><wsnt:Topic>tns1:Device/Trigger/DigitalInput</wsnt:Topic></wsnt:NotificationMessage>`
		reply := `<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope" xmlns:tev="http://www.onvif.org/ver10/events/wsdl" xmlns:wsnt="http://docs.oasis-open.org/wsn/b-2"><env:Body><tev:PullMessagesResponse>` +
			strings.Repeat(msg, 3) + `</tev:PullMessagesResponse></env:Body></env:Envelope>`
		_, base := newCanned(t, map[string]string{"PullMessages": reply})
		s := &Subscription{c: newTestClient(t, base+"/onvif/device_service", "", ""), Address: base + "/sub"}
		if _, err := s.Pull(ctx, 0, 2); !errors.Is(err, ErrUnexpectedReply) {
			t.Fatalf("3 events for a limit of 2: %v", err)
		}
	})
}

// TestServerRefusesHostileRequests: the device side reads requests with
// the same guards.
func TestServerRefusesHostileRequests(t *testing.T) {
	_, xaddr := startDevice(t, testDevice(0))
	for name, body := range map[string]string{
		"billion laughs":   string(sample(t, "billion_laughs.xml")),
		"deep":             `<s:Envelope xmlns:s="` + nsSOAP + `"><s:Body>` + strings.Repeat("<a>", 100000),
		"huge":             `<s:Envelope xmlns:s="` + nsSOAP + `"><s:Body>` + strings.Repeat(" ", DefaultMaxReply+1),
		"unknown op":       string(envelope("", `<tds:Reboot/>`)),
		"wrong ns":         `<s:Envelope xmlns:s="` + nsSOAP + `"><s:Body><GetDeviceInformation xmlns="urn:other"/></s:Body></s:Envelope>`,
		"sub op on device": string(envelope("", `<tev:PullMessages><tev:Timeout>PT1S</tev:Timeout><tev:MessageLimit>1</tev:MessageLimit></tev:PullMessages>`)),
	} {
		status, reply := postRaw(t, xaddr, []byte(body))
		if status == http.StatusOK {
			t.Errorf("%s: HTTP 200", name)
			continue
		}
		if _, err := parseProfiles(reply, status); err == nil {
			t.Errorf("%s: no fault", name)
		} else if fe := (*FaultError)(nil); !errors.As(err, &fe) {
			t.Errorf("%s: the answer is not a SOAP fault: %v", name, err)
		}
	}
}

// TestHostileFaultIsShort: a fault with huge codes and deeply nested
// subcodes makes a short error.
func TestHostileFaultIsShort(t *testing.T) {
	big := strings.Repeat("ter:X", 10000)
	sub := strings.Repeat(`<env:Subcode><env:Value>`+big+`</env:Value>`, 50) + strings.Repeat(`</env:Subcode>`, 50)
	doc := `<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope"><env:Body><env:Fault><env:Code><env:Value>` + big + `</env:Value>` + sub +
		`</env:Code><env:Reason><env:Text>` + big + `</env:Text></env:Reason></env:Fault></env:Body></env:Envelope>`
	err := decodeResponse([]byte(doc), "GetProfiles", nsTRT, "GetProfilesResponse", 500, nil)
	var fe *FaultError
	if !errors.As(err, &fe) {
		t.Fatalf("not a fault: %v", err)
	}
	if len(err.Error()) > 700 || len(fe.Subcodes) > 4 {
		t.Errorf("error of %d bytes, %d subcodes", len(err.Error()), len(fe.Subcodes))
	}
}
