package liveview

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"regexp"
	"strconv"
	"strings"

	"vigil/internal/cloud/bus"
)

var sessionRE = regexp.MustCompile(`^[A-Za-z0-9_-]{16,64}$`)

// viewerFields are the fields of a viewer's message passed on to the hub
// (docs/FORMAT.md, "Live view signalling").
var viewerFields = []string{"type", "session", "camera", "device", "ts", "fingerprint", "sig", "sdp"}

// toHub and toViewer are the relay's messages on the bus: the signalling
// message as it goes to the other end, and the routing.
type toHub struct {
	Msg   json.RawMessage `json:"m"`
	Reply string          `json:"reply"` // the viewer's subject
}

type toViewer struct {
	Msg json.RawMessage `json:"m"`
	End bool            `json:"end,omitempty"` // the session is over
}

func hubSubject(household, device, session string) string {
	return bus.Subject(subjLive, "hub", household, device, session)
}

// errBus is what a viewer hears when its message could not go out.
func errBus(session string) map[string]string {
	return liveError(session, "unavailable", "the service cannot reach the hub right now; start the session again in a few seconds")
}

func field(m map[string]json.RawMessage, k string) string {
	var s string
	if raw, ok := m[k]; ok {
		json.Unmarshal(raw, &s)
	}
	return s
}

// parse reads a message as a JSON object; nil when it is not one.
func parse(b []byte) map[string]json.RawMessage {
	var m map[string]json.RawMessage
	if b == nil || json.Unmarshal(b, &m) != nil {
		return nil
	}
	return m
}

// ServeViewer serves a member's viewer connection of the household until
// it ends, and closes it. The caller authenticated the member and checked
// the membership. It returns nil once the connection ended,
// or an *Error when the service could not take it (the viewer was told;
// the connection is closed).
func (s *Service) ServeViewer(c Conn, household string) error {
	if !s.begin(c) {
		return errClosed()
	}
	defer s.end(c)
	var rnd [8]byte
	rand.Read(rnd[:])
	replyBase := bus.Subject(subjLive, "viewer", household, "c"+hex.EncodeToString(rnd[:]))
	sub, err := s.bus.Subscribe(replyBase+".*", func(_ string, data []byte) { s.toViewer(c, household, data) })
	if err != nil {
		s.log.Warn("live: viewer not subscribed", "household", household, "err", err)
		sendJSON(c, liveError("", "unavailable", "the service cannot reach its message bus; reconnect in a few seconds"))
		return errorf(Unavailable, err, "the viewer's connection is not on the bus")
	}
	defer sub.Stop()
	mine := map[string]bool{}
	defer func() {
		s.mu.Lock()
		var closing []*session
		var ids []string
		for id := range mine {
			if ss := s.sessions[household+"/"+id]; ss != nil && ss.viewer == c {
				delete(s.sessions, household+"/"+id)
				closing, ids = append(closing, ss), append(ids, id)
			}
		}
		s.mu.Unlock()
		for i, ss := range closing {
			b, _ := json.Marshal(map[string]string{"type": "close", "session": ids[i]})
			s.publish(hubSubject(household, ss.hubDevice, ids[i]), toHub{Msg: b, Reply: replyBase + "." + ids[i]})
		}
	}()
	for {
		raw, err := c.Read()
		if err != nil {
			return nil
		}
		m := parse(raw)
		typ, sess, cam := field(m, "type"), field(m, "session"), field(m, "camera")
		if m == nil || !sessionRE.MatchString(sess) {
			sendJSON(c, liveError(sess, "bad-message", "a JSON message with a session ID of 16 to 64 of A-Z a-z 0-9 _ - is expected"))
			continue
		}
		key := household + "/" + sess
		s.mu.Lock()
		for id := range mine { // sessions the hub ended
			if ss := s.sessions[household+"/"+id]; ss == nil || ss.viewer != c {
				delete(mine, id)
			}
		}
		ss := s.sessions[key]
		var hub hubRef
		var refuse map[string]string
		switch {
		case typ == "close" && (ss == nil || ss.viewer != c):
			s.mu.Unlock()
			continue // already over
		case typ == "offer" && ss == nil:
			var ok bool
			hub, ok = s.hubFor(household, cam)
			switch {
			case !ok:
				refuse = liveError(sess, "hub-offline", "no hub of this household with camera "+strconv.Quote(cam)+" is connected")
			case len(mine) >= MaxViewerSessions:
				refuse = liveError(sess, "busy", "too many live sessions on this connection")
			default:
				ss = &session{viewer: c, hubReplica: hub.replica, hubDevice: hub.device}
				s.sessions[key] = ss
				mine[sess] = true
			}
		case ss == nil || ss.viewer != c:
			refuse = liveError(sess, "session-gone", "no such session")
		default:
			hub = hubRef{replica: ss.hubReplica, device: ss.hubDevice}
			if typ == "close" {
				delete(s.sessions, key)
				delete(mine, sess)
			}
		}
		s.mu.Unlock()
		if refuse != nil {
			sendJSON(c, refuse)
			continue
		}
		// The hub gets the viewer's fields it knows, and ICE servers only
		// from the cloud: a viewer cannot point the hub at a relay.
		out := make(map[string]json.RawMessage, len(viewerFields)+1)
		for _, k := range viewerFields {
			if v, ok := m[k]; ok {
				out[k] = v
			}
		}
		if typ == "offer" && s.turn != nil {
			if cred, err := s.turn.Credentials("hub-"+hub.device, HubCredentialTTL); err == nil {
				b, _ := json.Marshal([]ICEServer{cred})
				out["ice_servers"] = b
			}
		}
		b, _ := json.Marshal(out)
		if err := s.publish(hubSubject(household, hub.device, sess), toHub{Msg: b, Reply: replyBase + "." + sess}); err != nil {
			s.log.Warn("live: viewer message not sent", "household", household, "err", err)
			if typ != "close" {
				s.mu.Lock()
				if s.sessions[key] == ss {
					delete(s.sessions, key)
				}
				delete(mine, sess)
				s.mu.Unlock()
				sendJSON(c, errBus(sess))
			}
		}
	}
}

// toViewer passes a hub's message that came over the bus to the viewer's
// connection c, if the session is still one of c's.
func (s *Service) toViewer(c Conn, household string, data []byte) {
	var in toViewer
	if json.Unmarshal(data, &in) != nil {
		return
	}
	m := parse(in.Msg)
	if m == nil {
		return
	}
	key := household + "/" + field(m, "session")
	s.mu.Lock()
	ss := s.sessions[key]
	ok := ss != nil && ss.viewer == c
	if ok && in.End {
		delete(s.sessions, key)
	}
	s.mu.Unlock()
	if ok {
		c.Send(in.Msg)
	}
}

// ServeHub serves a hub's connection until it ends, and closes it. The
// caller authenticated the hub (device) and found its household. A
// connection of the same hub, here or on another replica, is replaced by
// this one. It returns nil once the connection ended, or an *Error when
// the service could not take it (the connection is closed; the hub
// reconnects).
func (s *Service) ServeHub(c Conn, household, device string) error {
	if !s.begin(c) {
		return errClosed()
	}
	defer s.end(c)
	h := &hubConn{conn: c, household: household, device: device, sessions: map[string]string{}}
	sub, err := s.bus.Subscribe(bus.Subject(subjLive, "hub", household, device)+".*", func(_ string, data []byte) {
		s.fromViewer(h, data)
	})
	if err != nil {
		s.log.Warn("live: hub not subscribed; it will reconnect", "household", household, "hub", device, "err", err)
		return errorf(Unavailable, err, "the hub's connection is not on the bus")
	}
	defer sub.Stop()
	s.mu.Lock()
	if s.hubConns[household] == nil {
		s.hubConns[household] = map[*hubConn]struct{}{}
	}
	for old := range s.hubConns[household] {
		if old.device == device { // the hub reconnected
			delete(s.hubConns[household], old)
			s.start(func() { old.conn.Close(ReasonReplaced) })
		}
	}
	s.hubConns[household][h] = struct{}{}
	s.seq++
	s.announce(presence{Op: "hub", Seq: s.seq, Household: household, Device: device, Up: true})
	// Sessions here through the hub's connection to another replica are
	// over: that connection is gone or going.
	ended := s.endSessions(func(hh string, ss *session) bool {
		return hh == household && ss.hubDevice == device && ss.hubReplica != s.replica
	})
	s.mu.Unlock()
	sendEnded(ended, whyReconnected)
	s.log.Info("hub connected for live view", "household", household, "hub", device)
	defer func() {
		s.mu.Lock()
		gone := s.dropHub(h, whyDisconnected)
		s.mu.Unlock()
		s.tellViewers(gone, whyDisconnected)
	}()
	for {
		raw, err := c.Read()
		if err != nil {
			return nil
		}
		m := parse(raw)
		typ, sess := field(m, "type"), field(m, "session")
		if typ == "hello" {
			var cams []string
			json.Unmarshal(m["cameras"], &cams)
			if len(cams) > 256 {
				cams = cams[:256]
			}
			s.mu.Lock()
			h.cameras = cams
			if _, ok := s.hubConns[household][h]; ok {
				s.seq++
				s.announce(presence{Op: "hub", Seq: s.seq, Household: household, Device: device, Cameras: cams, Up: true})
			}
			s.mu.Unlock()
			continue
		}
		if m == nil {
			continue
		}
		s.mu.Lock()
		reply, ok := h.sessions[sess]
		if ok && typ == "error" {
			delete(h.sessions, sess)
		}
		s.mu.Unlock()
		if ok {
			if err := s.publish(reply, toViewer{Msg: raw, End: typ == "error"}); err != nil {
				s.log.Warn("live: hub message not sent", "household", household, "err", err)
			}
		}
	}
}

// fromViewer passes a viewer's message that came over the bus to the hub
// connection h. A session the hub connection does not know (it began
// through a connection of the hub that is gone) is answered as gone, so
// that the viewer starts again.
func (s *Service) fromViewer(h *hubConn, data []byte) {
	var in toHub
	if json.Unmarshal(data, &in) != nil || !strings.HasPrefix(in.Reply, bus.Subject(subjLive, "viewer", h.household)+".") {
		return
	}
	m := parse(in.Msg)
	if m == nil {
		return
	}
	typ, sess := field(m, "type"), field(m, "session")
	s.mu.Lock()
	reply, known := h.sessions[sess]
	forward := true
	switch {
	case typ == "offer" && !known:
		h.sessions[sess] = in.Reply
	case !known && typ == "close":
		forward = false
	case !known || reply != in.Reply:
		forward = false
		b, _ := json.Marshal(liveError(sess, "session-gone", "no such session"))
		defer s.publish(in.Reply, toViewer{Msg: b, End: true})
	case typ == "close":
		delete(h.sessions, sess)
	}
	s.mu.Unlock()
	if forward {
		h.conn.Send(in.Msg)
	}
}
