package liveview

import (
	"encoding/json"
	"slices"
	"time"
)

// Subjects on the bus (package bus says what may cross it):
// live.hub.H.D.S to hub D of household H, about session S;
// live.viewer.H.C.S back to viewer connection C; live.presence.
const (
	subjLive     = "live"
	subjPresence = subjLive + ".presence"
)

// dumpChunk hubs go in one presence dump message.
const dumpChunk = 1000

// presence is one announcement on live.presence: "hub" (a hub of this
// replica came, said hello or went), "beat" (still here, at seq), "sync"
// (send your hubs: Of names the replica, "" everyone), "dump" (all of this
// replica's hubs; First starts a new list).
type presence struct {
	Op        string        `json:"op"`
	Replica   string        `json:"replica"`
	Seq       uint64        `json:"seq,omitempty"`
	Household string        `json:"household,omitempty"`
	Device    string        `json:"device,omitempty"`
	Cameras   []string      `json:"cameras,omitempty"`
	Up        bool          `json:"up,omitempty"`
	Of        string        `json:"of,omitempty"`
	First     bool          `json:"first,omitempty"`
	Hubs      []presenceHub `json:"hubs,omitempty"`
	Why       string        `json:"why,omitempty"` // a hub went: why, for its viewers
}

type presenceHub struct {
	Household string   `json:"household"`
	Device    string   `json:"device"`
	Cameras   []string `json:"cameras,omitempty"`
}

// peer is what this replica knows of another one's hubs.
type peer struct {
	seq   uint64
	seen  time.Time
	asked time.Time                      // last sync asked of it
	hubs  map[string]map[string][]string // household -> hub device -> cameras
}

func (p *peer) set(household, device string, cameras []string, up bool) {
	if !up {
		delete(p.hubs[household], device)
		if len(p.hubs[household]) == 0 {
			delete(p.hubs, household)
		}
		return
	}
	if p.hubs[household] == nil {
		p.hubs[household] = map[string][]string{}
	}
	p.hubs[household][device] = cameras
}

// announce publishes a presence message (with s.mu held, so that the
// sequence numbers go out in order).
func (s *Service) announce(p presence) {
	p.Replica = s.replica
	err := s.publish(subjPresence, p)
	if err != nil && !s.failing { // once per outage; the bus logs its own state
		s.log.Warn("live: presence not announced; the other replicas catch up when the bus is back", "op", p.Op, "err", err)
	}
	s.failing = err != nil
}

// startPresence asks the other replicas for their hubs and starts the
// beat, which also forgets replicas gone silent.
func (s *Service) startPresence() {
	s.mu.Lock()
	s.announce(presence{Op: "sync"})
	s.mu.Unlock()
	ttl := 3 * s.beat
	s.start(func() {
		t := time.NewTicker(s.beat)
		defer t.Stop()
		for {
			select {
			case <-s.ctx.Done():
				return
			case <-t.C:
			}
			s.mu.Lock()
			s.announce(presence{Op: "beat", Seq: s.seq})
			var gone []string
			for name, p := range s.peers {
				if time.Since(p.seen) > ttl {
					delete(s.peers, name)
					gone = append(gone, name)
				}
			}
			ended := s.endSessions(func(_ string, ss *session) bool { return slices.Contains(gone, ss.hubReplica) })
			s.mu.Unlock()
			for _, name := range gone {
				s.log.Warn("live: a replica went silent; its hubs are forgotten", "replica", name)
			}
			sendEnded(ended, whyLost)
		}
	})
}

// presence handles another replica's announcement (on the bus's
// goroutine).
func (s *Service) presence(_ string, data []byte) {
	var p presence
	if json.Unmarshal(data, &p) != nil || p.Replica == "" {
		return
	}
	s.mu.Lock()
	if p.Replica == s.replica {
		s.mu.Unlock()
		return
	}
	if p.Op == "sync" {
		if p.Of == "" || p.Of == s.replica {
			s.dump()
		}
		s.mu.Unlock()
		return
	}
	pr := s.peers[p.Replica]
	if pr == nil {
		pr = &peer{hubs: map[string]map[string][]string{}}
		s.peers[p.Replica] = pr
	}
	pr.seen = time.Now()
	var closing []Conn
	var ended []endedSession
	why := ""
	switch p.Op {
	case "beat":
		if p.Seq != pr.seq {
			s.askSync(p.Replica, pr)
		}
	case "dump":
		if p.First {
			pr.hubs = map[string]map[string][]string{}
		}
		for _, h := range p.Hubs {
			pr.set(h.Household, h.Device, h.Cameras, true)
		}
		pr.seq = p.Seq
	case "hub":
		if p.Seq != pr.seq+1 {
			s.askSync(p.Replica, pr)
		}
		pr.seq = p.Seq
		pr.set(p.Household, p.Device, p.Cameras, p.Up)
		if p.Up {
			// The hub connected there: a connection of it here is stale,
			// and so are sessions through another replica.
			for h := range s.hubConns[p.Household] {
				if h.device == p.Device {
					closing = append(closing, h.conn)
				}
			}
			ended = s.endSessions(func(hh string, ss *session) bool {
				return hh == p.Household && ss.hubDevice == p.Device && ss.hubReplica != p.Replica
			})
			why = whyReconnected
		} else {
			ended = s.endSessions(func(hh string, ss *session) bool {
				return hh == p.Household && ss.hubDevice == p.Device && ss.hubReplica == p.Replica
			})
			why = whyDisconnected
			if p.Why == whyRemoved { // the only other reason a replica gives
				why = whyRemoved
			}
		}
	}
	s.mu.Unlock()
	for _, c := range closing {
		s.start(func() { c.Close(ReasonReplaced) })
	}
	if len(ended) > 0 { // not on the bus's goroutine: a viewer may be slow
		s.start(func() { sendEnded(ended, why) })
	}
}

// askSync asks a replica for all its hubs, at most once a beat (s.mu held).
func (s *Service) askSync(name string, p *peer) {
	if time.Since(p.asked) < s.beat {
		return
	}
	p.asked = time.Now()
	s.announce(presence{Op: "sync", Of: name})
}

// dump announces all the hubs connected here (s.mu held).
func (s *Service) dump() {
	var all []presenceHub
	for hh, set := range s.hubConns {
		for h := range set {
			all = append(all, presenceHub{Household: hh, Device: h.device, Cameras: h.cameras})
		}
	}
	for first := true; first || len(all) > 0; first = false {
		n := min(len(all), dumpChunk)
		s.announce(presence{Op: "dump", Seq: s.seq, First: first, Hubs: all[:n]})
		all = all[n:]
	}
}
