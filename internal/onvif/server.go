package onvif

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The paths a Server answers at.
const (
	DevicePath       = "/onvif/device_service"
	MediaPath        = "/onvif/media_service"
	EventsPath       = "/onvif/events_service"
	SubscriptionPath = "/onvif/subscription/"
	SnapshotPath     = "/onvif/snapshot"
)

// DeviceProfile is a media profile a Server describes, with where its
// stream is served.
type DeviceProfile struct {
	Profile
	// StreamURI is the profile's RTSP URI, given as is to GetStreamUri.
	StreamURI string
	// SnapshotURI is given to GetSnapshotUri when Device.Snapshot is nil.
	SnapshotURI string
}

// Device describes the ONVIF device a Server answers as.
type Device struct {
	Info     DeviceInfo
	Profiles []DeviceProfile
	// Username and Password are the one account: every operation but
	// GetSystemDateAndTime needs a UsernameToken with a PasswordDigest for
	// them, and the snapshot HTTP authentication. Empty Username: open.
	Username, Password string
	// Snapshot, when set, is served at SnapshotPath?profile=token (the URI
	// GetSnapshotUri then gives), behind HTTP digest authentication.
	Snapshot func(ctx context.Context, profile string) (Snapshot, error)
	// SnapshotBasic asks for HTTP basic instead of digest authentication
	// for the snapshot, as some cameras do.
	SnapshotBasic bool
	// AuthWindow is how far a UsernameToken's Created may be from the
	// device's clock (and how long its nonce is remembered against
	// replay); 0 means 5 minutes.
	AuthWindow time.Duration
	// Now is the device's clock; nil means time.Now.
	Now func() time.Time
	// MaxSubscriptions bounds PullPoint subscriptions alive at once (0
	// means 16); QueueLen bounds the events each holds before the oldest
	// are dropped (0 means 64).
	MaxSubscriptions, QueueLen int
	// States, when set, gives the device's properties (e.g. its motion
	// and tamper alarms) as they are: each new subscription starts with
	// them, sent with PropertyOperation "Initialized" as real devices do.
	States func() []Event
}

// Server is a minimal ONVIF device: the Device, Media (ver10) and Events
// (PullPoint) services and a snapshot, from a Device description. It is
// an http.Handler; it starts no goroutines, and Close ends the
// PullMessages calls waiting for events.
type Server struct {
	d      Device
	tokens *tokenChecker
	digest *digestServer

	closeOnce sync.Once
	closed    chan struct{}

	mu   sync.Mutex
	subs map[string]*pullPoint
}

type pullPoint struct {
	queue []Event
	term  time.Time
	wake  chan struct{} // one token when events arrive
}

// NewServer returns a server answering as d.
func NewServer(d Device) *Server {
	if d.AuthWindow <= 0 {
		d.AuthWindow = 5 * time.Minute
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.MaxSubscriptions <= 0 {
		d.MaxSubscriptions = 16
	}
	if d.QueueLen <= 0 {
		d.QueueLen = 64
	}
	return &Server{
		d:      d,
		tokens: newTokenChecker(d.Username, d.Password, d.AuthWindow),
		digest: newDigestServer("ONVIF", d.Username, d.Password),
		closed: make(chan struct{}),
		subs:   map[string]*pullPoint{},
	}
}

// Close ends waiting PullMessages calls; later ones answer at once.
func (s *Server) Close() error {
	s.closeOnce.Do(func() { close(s.closed) })
	return nil
}

// Publish queues e on every live subscription, dropping a subscription's
// oldest event when its queue is full.
func (s *Server) Publish(e Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.d.Now()
	if e.Time.IsZero() {
		e.Time = now
	}
	for id, p := range s.subs {
		if now.After(p.term) {
			delete(s.subs, id)
			continue
		}
		if len(p.queue) >= s.d.QueueLen {
			p.queue = p.queue[1:]
		}
		p.queue = append(p.queue, e)
		select {
		case p.wake <- struct{}{}:
		default:
		}
	}
}

// operationNS returns the namespace of an operation the server answers.
func operationNS(op string) (string, bool) {
	switch op {
	case "GetSystemDateAndTime", "GetDeviceInformation", "GetServices", "GetCapabilities":
		return nsTDS, true
	case "GetProfiles", "GetStreamUri", "GetSnapshotUri":
		return nsTRT, true
	case "CreatePullPointSubscription", "PullMessages":
		return nsTEV, true
	case "Renew", "Unsubscribe":
		return nsWSNT, true
	}
	return "", false
}

// unknownOpError is a request for an operation the server does not answer.
type unknownOpError struct{ name xml.Name }

func (e unknownOpError) Error() string { return "no operation " + qname(e.name) + " here" }

// requestXML holds the arguments of every operation served.
type requestXML struct {
	ProfileToken           string `xml:"ProfileToken"`
	InitialTerminationTime string `xml:"InitialTerminationTime"`
	Timeout                string `xml:"Timeout"`
	MessageLimit           string `xml:"MessageLimit"`
	TerminationTime        string `xml:"TerminationTime"`
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == SnapshotPath {
		s.serveSnapshot(w, r)
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		http.Error(w, "ONVIF services take SOAP requests by POST", http.StatusMethodNotAllowed)
		return
	}
	subID, isSub := strings.CutPrefix(r.URL.Path, SubscriptionPath)
	if !isSub && r.URL.Path != DevicePath && r.URL.Path != MediaPath && r.URL.Path != EventsPath {
		http.NotFound(w, r)
		return
	}
	data, err := readLimited(r.Body, DefaultMaxReply, "request")
	if err != nil {
		s.fault(w, http.StatusRequestEntityTooLarge, "s:Sender", "ter:InvalidArgVal", "request too large")
		return
	}
	var h envHeader
	var op string
	var req requestXML
	err = decodeEnvelope(data, &h, func(d *xml.Decoder, start xml.StartElement) error {
		op = start.Name.Local
		if ns, known := operationNS(op); !known || start.Name.Space != ns {
			return unknownOpError{start.Name}
		}
		return d.DecodeElement(&req, &start)
	})
	var unknown unknownOpError
	switch {
	case errors.As(err, &unknown):
		s.fault(w, http.StatusBadRequest, "s:Receiver", "ter:ActionNotSupported", clip(err.Error(), 200))
		return
	case err != nil:
		s.fault(w, http.StatusBadRequest, "s:Sender", "ter:WellFormed", "malformed request")
		return
	}
	if isSub != (op == "PullMessages" || op == "Renew" || op == "Unsubscribe") {
		s.fault(w, http.StatusBadRequest, "s:Receiver", "ter:ActionNotSupported", op+" is not served at this address")
		return
	}
	if op != "GetSystemDateAndTime" && s.d.Username != "" {
		if err := s.tokens.check(h.Security.UsernameToken, s.d.Now()); err != nil {
			s.fault(w, http.StatusBadRequest, "s:Sender", "ter:NotAuthorized", "Sender not authorized: "+err.Error())
			return
		}
	}
	base := "http://" + r.Host
	if r.TLS != nil {
		base = "https://" + r.Host
	}
	switch op {
	case "GetSystemDateAndTime":
		s.reply(w, s.systemDateAndTime())
	case "GetDeviceInformation":
		i := s.d.Info
		s.reply(w, `<tds:GetDeviceInformationResponse><tds:Manufacturer>`+esc(i.Manufacturer)+`</tds:Manufacturer><tds:Model>`+esc(i.Model)+
			`</tds:Model><tds:FirmwareVersion>`+esc(i.FirmwareVersion)+`</tds:FirmwareVersion><tds:SerialNumber>`+esc(i.SerialNumber)+
			`</tds:SerialNumber><tds:HardwareId>`+esc(i.HardwareID)+`</tds:HardwareId></tds:GetDeviceInformationResponse>`)
	case "GetServices":
		svc := func(ns, path string, major, minor int) string {
			return fmt.Sprintf(`<tds:Service><tds:Namespace>%s</tds:Namespace><tds:XAddr>%s</tds:XAddr><tds:Version><tt:Major>%d</tt:Major><tt:Minor>%d</tt:Minor></tds:Version></tds:Service>`,
				ns, esc(base+path), major, minor)
		}
		s.reply(w, `<tds:GetServicesResponse>`+svc(nsTDS, DevicePath, 2, 60)+svc(nsTRT, MediaPath, 2, 60)+svc(nsTEV, EventsPath, 2, 60)+`</tds:GetServicesResponse>`)
	case "GetCapabilities":
		s.reply(w, `<tds:GetCapabilitiesResponse><tds:Capabilities><tt:Device><tt:XAddr>`+esc(base+DevicePath)+`</tt:XAddr></tt:Device>`+
			`<tt:Events><tt:XAddr>`+esc(base+EventsPath)+`</tt:XAddr><tt:WSSubscriptionPolicySupport>false</tt:WSSubscriptionPolicySupport>`+
			`<tt:WSPullPointSupport>true</tt:WSPullPointSupport><tt:WSPausableSubscriptionManagerInterfaceSupport>false</tt:WSPausableSubscriptionManagerInterfaceSupport></tt:Events>`+
			`<tt:Media><tt:XAddr>`+esc(base+MediaPath)+`</tt:XAddr><tt:StreamingCapabilities><tt:RTPMulticast>false</tt:RTPMulticast><tt:RTP_TCP>true</tt:RTP_TCP><tt:RTP_RTSP_TCP>true</tt:RTP_RTSP_TCP></tt:StreamingCapabilities></tt:Media>`+
			`</tds:Capabilities></tds:GetCapabilitiesResponse>`)
	case "GetProfiles":
		var b strings.Builder
		b.WriteString(`<trt:GetProfilesResponse>`)
		for _, p := range s.d.Profiles {
			writeProfile(&b, p.Profile)
		}
		b.WriteString(`</trt:GetProfilesResponse>`)
		s.reply(w, b.String())
	case "GetStreamUri", "GetSnapshotUri":
		p, ok := s.profile(strings.TrimSpace(req.ProfileToken))
		if !ok {
			s.fault(w, http.StatusBadRequest, "s:Sender", "ter:InvalidArgVal", "no profile with that token")
			return
		}
		uri := p.StreamURI
		if op == "GetSnapshotUri" {
			uri = p.SnapshotURI
			if s.d.Snapshot != nil {
				uri = base + SnapshotPath + "?profile=" + url.QueryEscape(p.Token)
			}
		}
		if uri == "" {
			s.fault(w, http.StatusBadRequest, "s:Receiver", "ter:ActionNotSupported", "the profile has no such URI")
			return
		}
		s.reply(w, `<trt:`+op+`Response><trt:MediaUri><tt:Uri>`+esc(uri)+`</tt:Uri><tt:InvalidAfterConnect>false</tt:InvalidAfterConnect>`+
			`<tt:InvalidAfterReboot>false</tt:InvalidAfterReboot><tt:Timeout>PT0S</tt:Timeout></trt:MediaUri></trt:`+op+`Response>`)
	case "CreatePullPointSubscription":
		s.createPullPoint(w, base, req)
	case "PullMessages":
		s.pullMessages(w, r, subID, req)
	case "Renew":
		s.renew(w, subID, req)
	case "Unsubscribe":
		s.mu.Lock()
		_, ok := s.subs[subID]
		delete(s.subs, subID)
		s.mu.Unlock()
		if !ok {
			s.noSubscription(w)
			return
		}
		s.reply(w, `<wsnt:UnsubscribeResponse/>`)
	}
}

func (s *Server) profile(token string) (DeviceProfile, bool) {
	for _, p := range s.d.Profiles {
		if p.Token == token {
			return p, true
		}
	}
	return DeviceProfile{}, false
}

func (s *Server) systemDateAndTime() string {
	t := s.d.Now().UTC()
	return fmt.Sprintf(`<tds:GetSystemDateAndTimeResponse><tds:SystemDateAndTime><tt:DateTimeType>NTP</tt:DateTimeType>`+
		`<tt:DaylightSavings>false</tt:DaylightSavings><tt:TimeZone><tt:TZ>UTC0</tt:TZ></tt:TimeZone>`+
		`<tt:UTCDateTime><tt:Time><tt:Hour>%d</tt:Hour><tt:Minute>%d</tt:Minute><tt:Second>%d</tt:Second></tt:Time>`+
		`<tt:Date><tt:Year>%d</tt:Year><tt:Month>%d</tt:Month><tt:Day>%d</tt:Day></tt:Date></tt:UTCDateTime>`+
		`</tds:SystemDateAndTime></tds:GetSystemDateAndTimeResponse>`,
		t.Hour(), t.Minute(), t.Second(), t.Year(), int(t.Month()), t.Day())
}

func writeProfile(b *strings.Builder, p Profile) {
	fmt.Fprintf(b, `<trt:Profiles token="%s" fixed="true"><tt:Name>%s</tt:Name>`, esc(p.Token), esc(p.Name))
	if v := p.Video; v != nil {
		fmt.Fprintf(b, `<tt:VideoEncoderConfiguration token="%s"><tt:Name>%s</tt:Name><tt:UseCount>1</tt:UseCount><tt:Encoding>%s</tt:Encoding>`+
			`<tt:Resolution><tt:Width>%d</tt:Width><tt:Height>%d</tt:Height></tt:Resolution><tt:Quality>5</tt:Quality>`+
			`<tt:RateControl><tt:FrameRateLimit>%d</tt:FrameRateLimit><tt:EncodingInterval>1</tt:EncodingInterval><tt:BitrateLimit>%d</tt:BitrateLimit></tt:RateControl>`,
			esc(v.Token), esc(v.Name), esc(v.Encoding), v.Width, v.Height, v.FrameRate, v.Bitrate)
		if v.GovLength > 0 {
			fmt.Fprintf(b, `<tt:H264><tt:GovLength>%d</tt:GovLength><tt:H264Profile>Main</tt:H264Profile></tt:H264>`, v.GovLength)
		}
		b.WriteString(`<tt:SessionTimeout>PT60S</tt:SessionTimeout></tt:VideoEncoderConfiguration>`)
	}
	if a := p.Audio; a != nil {
		fmt.Fprintf(b, `<tt:AudioEncoderConfiguration token="%s"><tt:Name>%s</tt:Name><tt:UseCount>1</tt:UseCount><tt:Encoding>%s</tt:Encoding>`+
			`<tt:Bitrate>%d</tt:Bitrate><tt:SampleRate>%d</tt:SampleRate><tt:SessionTimeout>PT60S</tt:SessionTimeout></tt:AudioEncoderConfiguration>`,
			esc(a.Token), esc(a.Name), esc(a.Encoding), a.Bitrate, a.SampleRate)
	}
	if p.AudioOutput {
		b.WriteString(`<tt:Extension><tt:AudioOutputConfiguration token="AudioOutputConfig"><tt:Name>AudioOutput</tt:Name><tt:UseCount>1</tt:UseCount>` +
			`<tt:OutputToken>AudioOutput</tt:OutputToken><tt:OutputLevel>50</tt:OutputLevel></tt:AudioOutputConfiguration>` +
			`<tt:AudioDecoderConfiguration token="AudioDecoderConfig"><tt:Name>AudioDecoder</tt:Name><tt:UseCount>1</tt:UseCount></tt:AudioDecoderConfiguration></tt:Extension>`)
	}
	b.WriteString(`</trt:Profiles>`)
}

// terminationTime reads a requested termination: an xs:duration from now
// or an absolute xs:dateTime; empty means def. It is capped at one hour.
func terminationTime(s string, now time.Time, def time.Duration) (time.Time, error) {
	s = strings.TrimSpace(s)
	d := def
	if s != "" {
		if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
			d = t.Sub(now)
		} else if d, err = parseDuration(s); err != nil {
			return time.Time{}, err
		}
	}
	if d <= 0 {
		return time.Time{}, errors.New("termination time is in the past")
	}
	return now.Add(min(d, time.Hour)), nil
}

func (s *Server) createPullPoint(w http.ResponseWriter, base string, req requestXML) {
	now := s.d.Now()
	term, err := terminationTime(req.InitialTerminationTime, now, time.Minute)
	if err != nil {
		s.fault(w, http.StatusBadRequest, "s:Sender", "ter:InvalidArgVal", "InitialTerminationTime: "+clip(err.Error(), 100))
		return
	}
	var idb [16]byte
	rand.Read(idb[:])
	id := hex.EncodeToString(idb[:])
	var initial []Event
	if s.d.States != nil {
		for _, e := range s.d.States() {
			if len(initial) == s.d.QueueLen {
				break
			}
			e.Operation = "Initialized"
			if e.Time.IsZero() {
				e.Time = now
			}
			initial = append(initial, e)
		}
	}
	s.mu.Lock()
	if len(s.subs) >= s.d.MaxSubscriptions {
		for k, p := range s.subs {
			if now.After(p.term) {
				delete(s.subs, k)
			}
		}
	}
	full := len(s.subs) >= s.d.MaxSubscriptions
	if !full {
		s.subs[id] = &pullPoint{term: term, wake: make(chan struct{}, 1), queue: initial}
	}
	s.mu.Unlock()
	if full {
		s.fault(w, http.StatusBadRequest, "s:Receiver", "ter:Action", "too many subscriptions")
		return
	}
	s.reply(w, `<tev:CreatePullPointSubscriptionResponse><tev:SubscriptionReference><wsa:Address>`+esc(base+SubscriptionPath+id)+
		`</wsa:Address></tev:SubscriptionReference><wsnt:CurrentTime>`+xsTime(now)+`</wsnt:CurrentTime><wsnt:TerminationTime>`+xsTime(term)+
		`</wsnt:TerminationTime></tev:CreatePullPointSubscriptionResponse>`)
}

func xsTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

func (s *Server) noSubscription(w http.ResponseWriter) {
	s.fault(w, http.StatusBadRequest, "s:Sender", "ter:InvalidArgVal", "no such subscription (ResourceUnknownFault)")
}

// pullMessages answers with queued events, waiting up to the request's
// Timeout (at most 30 seconds) for one when none are queued.
func (s *Server) pullMessages(w http.ResponseWriter, r *http.Request, id string, req requestXML) {
	wait, err := parseDuration(req.Timeout)
	if err != nil {
		s.fault(w, http.StatusBadRequest, "s:Sender", "ter:InvalidArgVal", "Timeout: "+clip(err.Error(), 100))
		return
	}
	wait = min(max(wait, 0), 30*time.Second)
	limit, err := strconv.Atoi(strings.TrimSpace(req.MessageLimit))
	if err != nil || limit <= 0 {
		s.fault(w, http.StatusBadRequest, "s:Sender", "ter:InvalidArgVal", "MessageLimit is not a positive integer")
		return
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		s.mu.Lock()
		p, ok := s.subs[id]
		if ok && s.d.Now().After(p.term) {
			delete(s.subs, id)
			ok = false
		}
		if !ok {
			s.mu.Unlock()
			s.noSubscription(w)
			return
		}
		n := min(limit, len(p.queue))
		events := append([]Event(nil), p.queue[:n]...)
		p.queue = p.queue[n:]
		term, wake := p.term, p.wake
		s.mu.Unlock()
		if n > 0 {
			s.reply(w, pullMessagesResponse(s.d.Now(), term, events))
			return
		}
		select {
		case <-wake:
			continue
		case <-timer.C:
		case <-r.Context().Done():
		case <-s.closed:
		}
		s.reply(w, pullMessagesResponse(s.d.Now(), term, nil))
		return
	}
}

func pullMessagesResponse(now, term time.Time, events []Event) string {
	var b strings.Builder
	b.WriteString(`<tev:PullMessagesResponse><tev:CurrentTime>` + xsTime(now) + `</tev:CurrentTime><tev:TerminationTime>` + xsTime(term) + `</tev:TerminationTime>`)
	for _, e := range events {
		writeNotification(&b, e)
	}
	b.WriteString(`</tev:PullMessagesResponse>`)
	return b.String()
}

func writeNotification(b *strings.Builder, e Event) {
	items := func(tag string, its []Item) {
		if len(its) == 0 {
			return
		}
		b.WriteString(`<tt:` + tag + `>`)
		for _, it := range its {
			b.WriteString(`<tt:SimpleItem Name="` + esc(it.Name) + `" Value="` + esc(it.Value) + `"/>`)
		}
		b.WriteString(`</tt:` + tag + `>`)
	}
	b.WriteString(`<wsnt:NotificationMessage><wsnt:Topic Dialect="http://www.onvif.org/ver10/tev/topicExpression/ConcreteSet">tns1:` + esc(e.Topic) + `</wsnt:Topic><wsnt:Message>`)
	b.WriteString(`<tt:Message UtcTime="` + xsTime(e.Time) + `"`)
	if e.Operation != "" {
		b.WriteString(` PropertyOperation="` + esc(e.Operation) + `"`)
	}
	b.WriteString(`>`)
	items("Source", e.Source)
	items("Key", e.Key)
	items("Data", e.Data)
	b.WriteString(`</tt:Message></wsnt:Message></wsnt:NotificationMessage>`)
}

func (s *Server) renew(w http.ResponseWriter, id string, req requestXML) {
	now := s.d.Now()
	term, err := terminationTime(req.TerminationTime, now, time.Minute)
	if err != nil {
		s.fault(w, http.StatusBadRequest, "s:Sender", "ter:InvalidArgVal", "TerminationTime: "+clip(err.Error(), 100))
		return
	}
	s.mu.Lock()
	p, ok := s.subs[id]
	if ok && now.After(p.term) {
		delete(s.subs, id)
		ok = false
	}
	if ok {
		p.term = term
	}
	s.mu.Unlock()
	if !ok {
		s.noSubscription(w)
		return
	}
	s.reply(w, `<wsnt:RenewResponse><wsnt:TerminationTime>`+xsTime(term)+`</wsnt:TerminationTime><wsnt:CurrentTime>`+xsTime(now)+`</wsnt:CurrentTime></wsnt:RenewResponse>`)
}

func (s *Server) serveSnapshot(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet || s.d.Snapshot == nil {
		http.NotFound(w, r)
		return
	}
	if s.d.Username != "" {
		authz := r.Header.Get("Authorization")
		var ok bool
		if s.d.SnapshotBasic {
			u, p, has := r.BasicAuth()
			ok = has && subtle.ConstantTimeCompare([]byte(u), []byte(s.d.Username)) == 1 &&
				subtle.ConstantTimeCompare([]byte(p), []byte(s.d.Password)) == 1
		} else {
			ok = s.digest.check(authz, r.Method, r.URL.RequestURI(), s.d.Now())
		}
		if !ok {
			if s.d.SnapshotBasic {
				w.Header().Set("WWW-Authenticate", `Basic realm="ONVIF"`)
			} else {
				w.Header().Set("WWW-Authenticate", s.digest.challenge(s.d.Now()))
			}
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
	}
	p, ok := s.profile(r.URL.Query().Get("profile"))
	if !ok {
		http.NotFound(w, r)
		return
	}
	snap, err := s.d.Snapshot(r.Context(), p.Token)
	if err != nil {
		http.Error(w, "no snapshot", http.StatusServiceUnavailable)
		return
	}
	ct := snap.ContentType
	if ct == "" {
		ct = "image/jpeg"
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("Content-Length", strconv.Itoa(len(snap.Data)))
	w.Write(snap.Data)
}

func (s *Server) reply(w http.ResponseWriter, body string) {
	w.Header().Set("Content-Type", "application/soap+xml; charset=utf-8")
	w.Write(envelope("", body))
}

// fault answers with a SOAP 1.2 fault; reason never holds a request's
// credentials.
func (s *Server) fault(w http.ResponseWriter, status int, code, subcode, reason string) {
	w.Header().Set("Content-Type", "application/soap+xml; charset=utf-8")
	w.WriteHeader(status)
	w.Write(envelope("", `<s:Fault><s:Code><s:Value>`+code+`</s:Value><s:Subcode><s:Value>`+subcode+`</s:Value></s:Subcode></s:Code>`+
		`<s:Reason><s:Text xml:lang="en">`+esc(reason)+`</s:Text></s:Reason></s:Fault>`))
}
