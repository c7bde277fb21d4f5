package onvif

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"vigil/internal/netguard"
)

// ClientOptions configure a Client.
type ClientOptions struct {
	// XAddr is the device service's URL, as discovery gives it, e.g.
	// http://192.168.1.20/onvif/device_service.
	XAddr string
	// Username and Password authenticate with WS-UsernameToken (and HTTP
	// digest or basic for the snapshot). Empty Username sends no token.
	Username, Password string
	// HTTP sends the requests; nil means LANHTTPClient(). A client given
	// here should follow no redirects: this package never expects one.
	HTTP *http.Client
	// CallTimeout bounds one call (a PullMessages call gets its own wait
	// on top); 0 means 10 seconds.
	CallTimeout time.Duration
	// MaxReply bounds a SOAP reply; 0 means DefaultMaxReply.
	MaxReply int64
	// MaxSnapshot bounds a snapshot; 0 means DefaultMaxSnapshot.
	MaxSnapshot int64
	// Now is the local clock; nil means time.Now.
	Now func() time.Time
	// PreferMedia2 uses the Media2 service (ver20) for profiles and URIs
	// when the device has it. Without it, Media2 is used only by devices
	// that have no Media (ver10) service.
	PreferMedia2 bool
	// TrustServiceHosts uses the service, subscription, stream and
	// snapshot URLs the device gives as they are. By default they keep
	// their scheme, port, path and query but take XAddr's host: devices
	// often name themselves by an address they are not reached at (a
	// second interface, 0.0.0.0, the address before DHCP moved them), and
	// a device must not point the client at another host.
	TrustServiceHosts bool
}

// Client talks to one ONVIF device. Its methods are safe for concurrent
// use. It holds the device's clock offset and service URLs, learned by
// Connect (or by the first call that needs them).
type Client struct {
	o       ClientOptions
	http    *http.Client
	ownHTTP bool

	mu        sync.Mutex
	connected bool
	offset    time.Duration // device clock minus local clock
	media     string
	media2    string
	events    string
}

// LANHTTPClient returns the HTTP client a Client uses by default: it dials
// only loopback, private and link-local addresses (netguard.Private,
// checked on each address dialed, so a name resolving elsewhere is refused
// too), uses no proxy and follows no redirect.
func LANHTTPClient() *http.Client {
	return &http.Client{
		Transport: &http.Transport{
			DialContext:         netguard.NewDialer(netguard.Options{Scope: netguard.Private, Timeout: 5 * time.Second}).DialContext,
			TLSHandshakeTimeout: 10 * time.Second,
			MaxIdleConnsPerHost: 2,
			IdleConnTimeout:     60 * time.Second,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// NewClient returns a client of the device at o.XAddr.
func NewClient(o ClientOptions) (*Client, error) {
	if err := checkServiceURL(o.XAddr); err != nil {
		return nil, fmt.Errorf("onvif: device address: %w", err)
	}
	if o.CallTimeout <= 0 {
		o.CallTimeout = 10 * time.Second
	}
	if o.MaxReply <= 0 {
		o.MaxReply = DefaultMaxReply
	}
	if o.MaxSnapshot <= 0 {
		o.MaxSnapshot = DefaultMaxSnapshot
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	c := &Client{o: o, http: o.HTTP}
	if c.http == nil {
		c.http = LANHTTPClient()
		c.ownHTTP = true
	}
	return c, nil
}

// Close closes the idle connections of the HTTP client the Client made
// (none when ClientOptions.HTTP was given). A call after Close works,
// on new connections.
func (c *Client) Close() error {
	if c.ownHTTP {
		c.http.CloseIdleConnections()
	}
	return nil
}

// onDevice checks a URL the device gave (an http(s) URL without user
// info, or rtsp(s) when rtsp is set) and, unless TrustServiceHosts, moves
// it to XAddr's host.
func (c *Client) onDevice(s string, rtsp bool) (string, error) {
	s = strings.TrimSpace(s)
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return "", errors.New("not a URL")
	case rtsp && u.Scheme != "rtsp" && u.Scheme != "rtsps":
		return "", fmt.Errorf("scheme %q is not rtsp", clip(u.Scheme, 16))
	case !rtsp:
		if err := checkServiceURL(s); err != nil {
			return "", err
		}
	case u.Host == "":
		return "", errors.New("no host")
	}
	if c.o.TrustServiceHosts {
		return s, nil
	}
	dev, _ := url.Parse(c.o.XAddr)
	host := dev.Hostname()
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if p := u.Port(); p != "" {
		host += ":" + p
	}
	u.Host = host
	return u.String(), nil
}

// checkServiceURL accepts an absolute http(s) URL without user info.
func checkServiceURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return errors.New("not a URL")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("scheme %q is not http or https", clip(u.Scheme, 16))
	}
	if u.Host == "" {
		return errors.New("no host")
	}
	if u.User != nil {
		return errors.New("credentials in the URL are refused")
	}
	return nil
}

// Connect reads the device's clock (GetSystemDateAndTime, which needs no
// credentials), so that UsernameTokens carry the device's time however far
// its clock is off, then finds its Media and Events service URLs
// (GetServices, or GetCapabilities on devices without it).
func (c *Client) Connect(ctx context.Context) error {
	t, err := c.SystemDateAndTime(ctx)
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.offset = t.Sub(c.o.Now())
	c.mu.Unlock()

	var media, media2, events string
	svcs, err := c.Services(ctx)
	if err == nil {
		for _, s := range svcs {
			switch s.Namespace {
			case nsTRT:
				media = s.XAddr
			case nsTR2:
				media2 = s.XAddr
			case nsTEV:
				events = s.XAddr
			}
		}
	} else if errors.Is(err, ErrNotAuthorized) {
		return err
	}
	// Devices without GetServices, or that list only some services in
	// it, give the rest in GetCapabilities.
	if err != nil || (media == "" && media2 == "") || events == "" {
		caps, cerr := c.Capabilities(ctx)
		switch {
		case cerr != nil && err != nil:
			return fmt.Errorf("%w (and GetServices: %v)", cerr, err)
		case cerr == nil:
			if media == "" && media2 == "" {
				media = caps.Media
			}
			if events == "" {
				events = caps.Events
			}
		}
	}
	for _, u := range []*string{&media, &media2, &events} {
		if *u == "" {
			continue
		}
		if *u, err = c.onDevice(*u, false); err != nil {
			return fmt.Errorf("onvif: device lists a service at a bad URL: %w", err)
		}
	}
	c.mu.Lock()
	c.media, c.media2, c.events, c.connected = media, media2, events, true
	c.mu.Unlock()
	return nil
}

// ClockOffset is how far the device's clock is ahead of the local one, as
// Connect measured it.
func (c *Client) ClockOffset() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.offset
}

func (c *Client) deviceNow() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.o.Now().Add(c.offset)
}

// connect runs Connect unless it has succeeded.
func (c *Client) connect(ctx context.Context) error {
	c.mu.Lock()
	connected := c.connected
	c.mu.Unlock()
	if connected {
		return nil
	}
	return c.Connect(ctx)
}

// service returns the URL of the media or events service, connecting
// first if needed.
func (c *Client) service(ctx context.Context, which string) (string, error) {
	if err := c.connect(ctx); err != nil {
		return "", err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	u := c.media
	if which == "events" {
		u = c.events
	}
	if u == "" {
		return "", fmt.Errorf("onvif: the device has no %s service", which)
	}
	return u, nil
}

// call posts one SOAP request to endpoint and decodes the reply into out
// (nil: only checked). op is the operation's name, for errors; ns the
// namespace of its request and reply, whose body must be {ns}opResponse;
// action the SOAP action; auth adds a UsernameToken when the client has
// credentials; extra is more header XML; wait extends the call's timeout
// (a PullMessages waiting for events).
func (c *Client) call(ctx context.Context, endpoint, ns, op, action string, auth bool, extra, body string, wait time.Duration, out any) error {
	ctx, cancel := context.WithTimeout(ctx, c.o.CallTimeout+wait)
	defer cancel()
	var hdr strings.Builder
	if auth && c.o.Username != "" {
		hdr.WriteString(usernameToken(c.o.Username, c.o.Password, c.deviceNow()))
	}
	hdr.WriteString(extra)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(envelope(hdr.String(), body)))
	if err != nil {
		return fmt.Errorf("onvif: %s: %w", op, err)
	}
	req.Header.Set("Content-Type", `application/soap+xml; charset=utf-8; action="`+action+`"`)
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("onvif: %s: %w", op, err)
	}
	defer resp.Body.Close()
	data, err := readLimited(resp.Body, c.o.MaxReply, op)
	if err != nil {
		return err
	}
	if resp.StatusCode == http.StatusOK {
		return decodeResponse(data, op, ns, op+"Response", resp.StatusCode, out)
	}
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		return fmt.Errorf("onvif: %s: device answered with a redirect (HTTP %d), which is not followed", op, resp.StatusCode)
	}
	// An error status: a SOAP fault says why; otherwise the status does.
	var fe *FaultError
	if err := decodeResponse(data, op, ns, op+"Response", resp.StatusCode, out); errors.As(err, &fe) {
		return err
	}
	if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
		if c.o.Username == "" {
			return fmt.Errorf("onvif: %s: %w (HTTP %d)", op, errNoCredentials, resp.StatusCode)
		}
		return fmt.Errorf("onvif: %s: the device refused the credentials: %w (HTTP %d)", op, ErrNotAuthorized, resp.StatusCode)
	}
	return fmt.Errorf("onvif: %s: HTTP %d", op, resp.StatusCode)
}

func (c *Client) device(ctx context.Context, op string, auth bool, body string, out any) error {
	return c.call(ctx, c.o.XAddr, nsTDS, op, nsTDS+"/"+op, auth, "", body, 0, out)
}

func (c *Client) mediaCall(ctx context.Context, op, body string, out any) error {
	u, err := c.service(ctx, "media")
	if err != nil {
		return err
	}
	return c.call(ctx, u, nsTRT, op, nsTRT+"/"+op, true, "", body, 0, out)
}

type dateTimeXML struct {
	Time struct {
		Hour   int `xml:"Hour"`
		Minute int `xml:"Minute"`
		Second int `xml:"Second"`
	} `xml:"Time"`
	Date struct {
		Year  int `xml:"Year"`
		Month int `xml:"Month"`
		Day   int `xml:"Day"`
	} `xml:"Date"`
}

// SystemDateAndTime returns the device's UTC clock (GetSystemDateAndTime,
// sent without credentials, as ONVIF allows before authentication).
func (c *Client) SystemDateAndTime(ctx context.Context) (time.Time, error) {
	var r struct {
		SDT struct {
			UTC *dateTimeXML `xml:"UTCDateTime"`
		} `xml:"SystemDateAndTime"`
	}
	if err := c.device(ctx, "GetSystemDateAndTime", false, `<tds:GetSystemDateAndTime/>`, &r); err != nil {
		return time.Time{}, err
	}
	u := r.SDT.UTC
	if u == nil {
		return time.Time{}, errors.New("onvif: GetSystemDateAndTime: the device gave no UTC time")
	}
	if u.Date.Year < 1970 || u.Date.Year > 9999 || u.Date.Month < 1 || u.Date.Month > 12 || u.Date.Day < 1 || u.Date.Day > 31 ||
		u.Time.Hour < 0 || u.Time.Hour > 23 || u.Time.Minute < 0 || u.Time.Minute > 59 || u.Time.Second < 0 || u.Time.Second > 60 {
		return time.Time{}, errors.New("onvif: GetSystemDateAndTime: the device's UTC time is out of range")
	}
	return time.Date(u.Date.Year, time.Month(u.Date.Month), u.Date.Day, u.Time.Hour, u.Time.Minute, u.Time.Second, 0, time.UTC), nil
}

// DeviceInformation returns the device's maker, model, firmware, serial
// number and hardware ID (GetDeviceInformation).
func (c *Client) DeviceInformation(ctx context.Context) (DeviceInfo, error) {
	var r struct {
		Manufacturer    string `xml:"Manufacturer"`
		Model           string `xml:"Model"`
		FirmwareVersion string `xml:"FirmwareVersion"`
		SerialNumber    string `xml:"SerialNumber"`
		HardwareID      string `xml:"HardwareId"`
	}
	if err := c.device(ctx, "GetDeviceInformation", true, `<tds:GetDeviceInformation/>`, &r); err != nil {
		return DeviceInfo{}, err
	}
	return DeviceInfo{
		Manufacturer: strings.TrimSpace(r.Manufacturer), Model: strings.TrimSpace(r.Model),
		FirmwareVersion: strings.TrimSpace(r.FirmwareVersion), SerialNumber: strings.TrimSpace(r.SerialNumber),
		HardwareID: strings.TrimSpace(r.HardwareID),
	}, nil
}

// Services lists the device's services and their URLs (GetServices).
func (c *Client) Services(ctx context.Context) ([]Service, error) {
	var r struct {
		Service []struct {
			Namespace string `xml:"Namespace"`
			XAddr     string `xml:"XAddr"`
			Version   struct {
				Major int `xml:"Major"`
				Minor int `xml:"Minor"`
			} `xml:"Version"`
		} `xml:"Service"`
	}
	err := c.device(ctx, "GetServices", true, `<tds:GetServices><tds:IncludeCapability>false</tds:IncludeCapability></tds:GetServices>`, &r)
	if err != nil {
		return nil, err
	}
	out := make([]Service, 0, len(r.Service))
	for _, s := range r.Service {
		out = append(out, Service{Namespace: strings.TrimSpace(s.Namespace), XAddr: strings.TrimSpace(s.XAddr), Major: s.Version.Major, Minor: s.Version.Minor})
	}
	return out, nil
}

// Capabilities returns the service URLs GetCapabilities lists.
func (c *Client) Capabilities(ctx context.Context) (Capabilities, error) {
	type xaddr struct {
		XAddr string `xml:"XAddr"`
	}
	var r struct {
		C struct {
			Device  xaddr `xml:"Device"`
			Media   xaddr `xml:"Media"`
			Events  xaddr `xml:"Events"`
			Imaging xaddr `xml:"Imaging"`
			PTZ     xaddr `xml:"PTZ"`
		} `xml:"Capabilities"`
	}
	if err := c.device(ctx, "GetCapabilities", true, `<tds:GetCapabilities><tds:Category>All</tds:Category></tds:GetCapabilities>`, &r); err != nil {
		return Capabilities{}, err
	}
	t := strings.TrimSpace
	return Capabilities{Device: t(r.C.Device.XAddr), Media: t(r.C.Media.XAddr), Events: t(r.C.Events.XAddr), Imaging: t(r.C.Imaging.XAddr), PTZ: t(r.C.PTZ.XAddr)}, nil
}

type profilesXML struct {
	Profiles []struct {
		Token string `xml:"token,attr"`
		Name  string `xml:"Name"`
		Video *struct {
			Token      string `xml:"token,attr"`
			Name       string `xml:"Name"`
			Encoding   string `xml:"Encoding"`
			Resolution struct {
				Width  int `xml:"Width"`
				Height int `xml:"Height"`
			} `xml:"Resolution"`
			RateControl struct {
				FrameRateLimit float64 `xml:"FrameRateLimit"` // xs:int in ver10; some devices write 25.000000
				BitrateLimit   int     `xml:"BitrateLimit"`
			} `xml:"RateControl"`
			H264 struct {
				GovLength int `xml:"GovLength"`
			} `xml:"H264"`
		} `xml:"VideoEncoderConfiguration"`
		Audio *struct {
			Token      string `xml:"token,attr"`
			Name       string `xml:"Name"`
			Encoding   string `xml:"Encoding"`
			Bitrate    int    `xml:"Bitrate"`
			SampleRate int    `xml:"SampleRate"`
		} `xml:"AudioEncoderConfiguration"`
		Extension struct {
			AudioOutput *struct{} `xml:"AudioOutputConfiguration"`
		} `xml:"Extension"`
	} `xml:"Profiles"`
}

// parseProfiles decodes a GetProfilesResponse envelope.
func parseProfiles(data []byte, status int) ([]Profile, error) {
	var r profilesXML
	if err := decodeResponse(data, "GetProfiles", nsTRT, "GetProfilesResponse", status, &r); err != nil {
		return nil, err
	}
	return r.profiles()
}

func (r *profilesXML) profiles() ([]Profile, error) {
	out := make([]Profile, 0, len(r.Profiles))
	for _, p := range r.Profiles {
		q := Profile{Token: strings.TrimSpace(p.Token), Name: strings.TrimSpace(p.Name), AudioOutput: p.Extension.AudioOutput != nil}
		if q.Token == "" {
			return nil, errors.New("onvif: GetProfiles: a profile has no token")
		}
		if v := p.Video; v != nil {
			q.Video = &VideoEncoder{
				Token: strings.TrimSpace(v.Token), Name: strings.TrimSpace(v.Name), Encoding: strings.TrimSpace(v.Encoding),
				Width: v.Resolution.Width, Height: v.Resolution.Height, FrameRate: frameRate(v.RateControl.FrameRateLimit),
				Bitrate: v.RateControl.BitrateLimit, GovLength: v.H264.GovLength,
			}
		}
		if a := p.Audio; a != nil {
			q.Audio = &AudioEncoder{Token: strings.TrimSpace(a.Token), Name: strings.TrimSpace(a.Name), Encoding: strings.TrimSpace(a.Encoding), Bitrate: a.Bitrate, SampleRate: a.SampleRate}
		}
		out = append(out, q)
	}
	return out, nil
}

// Profiles lists the device's media profiles (GetProfiles).
func (c *Client) Profiles(ctx context.Context) ([]Profile, error) {
	if u, ok, err := c.useMedia2(ctx); err != nil {
		return nil, err
	} else if ok {
		return c.profiles2(ctx, u)
	}
	var r profilesXML
	if err := c.mediaCall(ctx, "GetProfiles", `<trt:GetProfiles/>`, &r); err != nil {
		return nil, err
	}
	return r.profiles()
}

// anyXML is any element, kept with its names resolved to namespaces so
// that it can be written again anywhere (its text before its children).
type anyXML struct {
	XMLName  xml.Name
	Attrs    []xml.Attr `xml:",any,attr"`
	Text     string     `xml:",chardata"`
	Children []anyXML   `xml:",any"`
}

// withoutDeclarations drops the namespace declarations decoding kept as
// attributes: names carry their namespaces, and the encoder declares
// what it writes.
func (n anyXML) withoutDeclarations() anyXML {
	attrs := n.Attrs[:0:0]
	for _, a := range n.Attrs {
		if a.Name.Space == "xmlns" || (a.Name.Space == "" && a.Name.Local == "xmlns") {
			continue
		}
		attrs = append(attrs, a)
	}
	n.Attrs = attrs
	kids := make([]anyXML, len(n.Children))
	for i, c := range n.Children {
		kids[i] = c.withoutDeclarations()
	}
	n.Children = kids
	return n
}

// mediaURIXML is a ver10 GetStreamUri or GetSnapshotUri reply's MediaUri.
type mediaURIXML struct {
	MediaURI struct {
		URI string `xml:"Uri"`
	} `xml:"MediaUri"`
}

// StreamURI returns the RTSP URI of a profile (GetStreamUri, RTP-Unicast
// over RTSP). The URI may carry credentials: never log it whole.
func (c *Client) StreamURI(ctx context.Context, profile string) (string, error) {
	if u, ok, err := c.useMedia2(ctx); err != nil {
		return "", err
	} else if ok {
		return c.uri2(ctx, u, "GetStreamUri", profile)
	}
	var r mediaURIXML
	body := `<trt:GetStreamUri><trt:StreamSetup><tt:Stream>RTP-Unicast</tt:Stream><tt:Transport><tt:Protocol>RTSP</tt:Protocol></tt:Transport></trt:StreamSetup>` +
		`<trt:ProfileToken>` + esc(profile) + `</trt:ProfileToken></trt:GetStreamUri>`
	if err := c.mediaCall(ctx, "GetStreamUri", body, &r); err != nil {
		return "", err
	}
	s, err := c.onDevice(r.MediaURI.URI, true)
	if err != nil {
		return "", fmt.Errorf("onvif: GetStreamUri: the device gave no usable rtsp URI: %w", err)
	}
	return s, nil
}

// SnapshotURI returns the HTTP URI of a profile's snapshot (GetSnapshotUri).
func (c *Client) SnapshotURI(ctx context.Context, profile string) (string, error) {
	if u, ok, err := c.useMedia2(ctx); err != nil {
		return "", err
	} else if ok {
		return c.uri2(ctx, u, "GetSnapshotUri", profile)
	}
	var r mediaURIXML
	if err := c.mediaCall(ctx, "GetSnapshotUri", `<trt:GetSnapshotUri><trt:ProfileToken>`+esc(profile)+`</trt:ProfileToken></trt:GetSnapshotUri>`, &r); err != nil {
		return "", err
	}
	s, err := c.onDevice(r.MediaURI.URI, false)
	if err != nil {
		return "", fmt.Errorf("onvif: GetSnapshotUri: %w", err)
	}
	return s, nil
}

// Snapshot fetches a profile's snapshot from its snapshot URI, answering
// an HTTP digest or basic challenge with the client's credentials (basic
// only when the device asks for nothing else).
func (c *Client) Snapshot(ctx context.Context, profile string) (Snapshot, error) {
	u, err := c.SnapshotURI(ctx, profile)
	if err != nil {
		return Snapshot{}, err
	}
	return c.FetchSnapshot(ctx, u)
}

// FetchSnapshot fetches an image from a snapshot URI (see Snapshot).
func (c *Client) FetchSnapshot(ctx context.Context, uri string) (Snapshot, error) {
	const op = "snapshot"
	if err := checkServiceURL(uri); err != nil {
		return Snapshot{}, fmt.Errorf("onvif: %s: %w", op, err)
	}
	ctx, cancel := context.WithTimeout(ctx, c.o.CallTimeout)
	defer cancel()
	get := func(authz string) (*http.Response, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, uri, nil)
		if err != nil {
			return nil, err
		}
		if authz != "" {
			req.Header.Set("Authorization", authz)
		}
		return c.http.Do(req)
	}
	resp, err := get("")
	if err != nil {
		return Snapshot{}, fmt.Errorf("onvif: %s: %w", op, err)
	}
	if resp.StatusCode == http.StatusUnauthorized {
		authz, aerr := answerChallenge(resp.Header.Values("WWW-Authenticate"), http.MethodGet, requestURI(uri), c.o.Username, c.o.Password)
		drain(resp)
		if aerr != nil {
			return Snapshot{}, fmt.Errorf("onvif: %s: %w", op, aerr)
		}
		if c.o.Username == "" {
			return Snapshot{}, fmt.Errorf("onvif: %s: %w", op, errNoCredentials)
		}
		if resp, err = get(authz); err != nil {
			return Snapshot{}, fmt.Errorf("onvif: %s: %w", op, err)
		}
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return Snapshot{}, fmt.Errorf("onvif: %s: the device refused the credentials: %w (HTTP %d)", op, ErrNotAuthorized, resp.StatusCode)
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		return Snapshot{}, fmt.Errorf("onvif: %s: device answered with a redirect (HTTP %d), which is not followed", op, resp.StatusCode)
	case resp.StatusCode != http.StatusOK:
		return Snapshot{}, fmt.Errorf("onvif: %s: HTTP %d", op, resp.StatusCode)
	}
	data, err := readLimited(resp.Body, c.o.MaxSnapshot, op)
	if err != nil {
		return Snapshot{}, err
	}
	// Cameras label snapshots loosely (application/octet-stream, or
	// nothing): the bytes decide when the label does not say image.
	ct := resp.Header.Get("Content-Type")
	if !strings.HasPrefix(ct, "image/") {
		ct = http.DetectContentType(data)
		if !strings.HasPrefix(ct, "image/") {
			return Snapshot{}, fmt.Errorf("onvif: %s: the device sent %s, not an image", op, clip(ct, 40))
		}
	}
	return Snapshot{Data: data, ContentType: ct}, nil
}

// requestURI is the path and query of uri, as a digest response covers.
func requestURI(uri string) string {
	u, err := url.Parse(uri)
	if err != nil {
		return "/"
	}
	return u.RequestURI()
}

func drain(resp *http.Response) {
	_, _ = readLimited(resp.Body, 64<<10, "drain")
	resp.Body.Close()
}
