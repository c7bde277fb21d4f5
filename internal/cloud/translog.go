package cloud

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"

	"vigil/internal/cloud/store"
	"vigil/internal/history"
	"vigil/internal/tlog"
	"vigil/internal/tlog/tloghttp"
)

// The transparency log and the households' verifiable history (G4, G5):
// the cloud appends every household chain head, every access record and
// household change (sealed to the household) and every web release to one
// log (internal/tlog), serves it read-only under /tlog/, and lists each
// household's entries to its members, who check them (internal/history).
//
// The log is appended to by history.Publisher, its own component: a request
// only makes its record durable in the outbox, and the publisher's goroutine
// integrates waiting entries in batches. With replicas (Options.OpenLog)
// that goroutine only ends coalescing windows, and the integration runs
// once cluster-wide: SequenceLog, on the replica that holds the lead.

// openLog sets up the log and the publisher from the options; without a
// log in the options it runs one in memory with a fresh key (tests).
func (s *Server) openLog(ctx context.Context) error {
	o := &s.opt
	if o.Log == nil && o.OpenLog == nil {
		origin := defaultLogOrigin(o.PublicURL)
		skey, vkey, err := tlog.GenerateKey(origin)
		if err != nil {
			return err
		}
		signer, err := note.NewSigner(skey)
		if err != nil {
			return err
		}
		o.LogStorage = tlog.NewMemoryStorage()
		if o.Log, err = tlog.Open(ctx, tlog.Config{Origin: origin, Signer: signer, Storage: o.LogStorage, Logger: s.log, Now: s.now}); err != nil {
			return err
		}
		o.LogKey = vkey
		s.ownLog = true
	}
	if o.LogStorage == nil || o.LogKey == "" {
		return errors.New("cloud: a log needs its storage and its verifier key")
	}
	if s.logOrigin, _, _ = strings.Cut(o.LogKey, "+"); s.logOrigin == "" {
		return errors.New("cloud: the log's verifier key has no name")
	}
	if o.LogQuorum < 0 || o.LogQuorum > len(o.LogWitnesses) {
		return fmt.Errorf("cloud: a quorum of %d out of %d witnesses", o.LogQuorum, len(o.LogWitnesses))
	}
	if o.History == nil {
		if hs, ok := o.Store.(interface{ History() history.Store }); ok {
			o.History = hs.History()
		} else {
			o.History = history.NewMemoryStore()
		}
	}
	var err error
	s.hist, err = history.NewPublisher(ctx, s.publisherConfig(o.Log))
	return err
}

func (s *Server) publisherConfig(l *tlog.Log) history.PublisherConfig {
	o := &s.opt
	return history.PublisherConfig{
		Log: l, LogStorage: o.LogStorage, Store: o.History, Household: s.householdKeys,
		OnLogged: s.onLogged, Coalesce: o.Coalesce, Logger: s.log, Now: s.now,
		Sequenced: o.OpenLog != nil,
	}
}

// SequenceLog appends the households' waiting history items (and web
// releases) to the transparency log until ctx ends: the log's sequencer,
// which runs on one replica at a time (the command runs it as a job of
// internal/cloud/leader). It opens the log afresh with Options.OpenLog,
// since another replica may have appended while this one did not lead,
// and returns nil when ctx ends. A Server without OpenLog appends by
// itself and has nothing to run here.
func (s *Server) SequenceLog(ctx context.Context) error {
	if s.opt.OpenLog == nil {
		return errors.New("cloud: SequenceLog needs Options.OpenLog (a Server without it appends to its log itself)")
	}
	l, err := s.opt.OpenLog(ctx)
	if err != nil {
		return fmt.Errorf("cloud: opening the log to sequence it: %w", err)
	}
	defer l.Close()
	s.log.Info("history: sequencing the transparency log", "size", l.Size())
	return history.Sequence(ctx, s.publisherConfig(l))
}

// DefaultLogOrigin is the log's origin when the configuration names none:
// the public URL's host and "/tlog".
func defaultLogOrigin(public string) string {
	if u, err := url.Parse(public); err == nil && u.Host != "" {
		return u.Host + "/tlog"
	}
	return "vigil.invalid/tlog"
}

// DefaultLogOrigin is defaultLogOrigin for the command that makes the key.
func DefaultLogOrigin(public string) string { return defaultLogOrigin(public) }

// householdKeys gives the publisher a household's genesis hash and current
// epoch key, from its verified chain. It runs for each record: a chain
// verified before is extended with the links stored since (looked for at
// most once a second, households.go), not verified again.
func (s *Server) householdKeys(ctx context.Context, id string) (history.Household, error) {
	// Not the cache alone: a member removed through another replica
	// starts a new epoch that this replica must seal to (StateOf rechecks
	// the stored chain as State does, without reading the household's row).
	st, err := s.households.StateOf(ctx, id)
	if err != nil {
		return history.Household{}, err
	}
	return history.Household{Genesis: st.GenesisHash, Epoch: uint32(st.Epoch), Recipient: st.EpochRecipient()}, nil
}

// onLogged runs once entries are in a published checkpoint: hubs hear of a
// new chain head only now, when they can find it in the log.
func (s *Server) onLogged(items []history.Item) {
	seen := map[string]bool{}
	for _, it := range items {
		if it.Kind == history.TypeChainHead && !seen[it.Household] {
			seen[it.Household] = true
			s.chainChanged(it.Household)
		}
	}
}

// changeActions are the actions that change a household: each is a record
// of its own, never coalesced with others.
var changeActions = map[string]bool{
	"chain.append": true, "settings.set": true, "invite.create": true, "invite.delete": true,
	"member.add": true, "member.remove": true, "share.create": true, "share.revoke": true,
	"join-requests.approve": true, "join-requests.decline": true, "push.subscribe": true, "push.unsubscribe": true,
	// Labelling (labelling_web.go): each step of a donation is a record of
	// its own; openings of a clip are reads, counted like other reads.
	"labelling.donate": true, "labelling.assign": true, "labelling.annotate": true, "labelling.review": true,
	"labelling.dataset": true, "labelling.evaluate": true, "labelling.revoke": true, "labelling.expire": true,
	"labelling.mark": true,
}

// historyRecorder is the AccessRecorder of a Server: every access becomes a
// record in the household's history.
type historyRecorder struct{ s *Server }

func (r historyRecorder) Record(ctx context.Context, a store.Access) error {
	// The record's own check refuses an actor kind it does not know.
	actor := history.Actor{Kind: a.ActorKind, ID: a.Actor}
	if actor.Kind == history.ActorAccount || actor.Kind == history.ActorGuest {
		// The device the request's session proved it holds (routes.go).
		actor.Device = sessionDevice(ctx)
	}
	ev := history.Event{Time: a.Time, Actor: actor, Action: a.Action, Object: a.Object,
		Change: changeActions[a.Action] || a.Signed != nil}
	if a.Signed != nil {
		b, err := json.Marshal(a.Signed)
		if err != nil {
			return err
		}
		ev.Signed = b
	}
	return r.s.hist.Record(ctx, a.HouseholdID, ev)
}

// logRoutes: the household's history for its members.
func (s *Server) logRoutes() []route {
	return []route{
		{method: "GET", pattern: "/v1/households/{hh}/history", auth: authMember, action: "history.read", h: s.listHistory},
		{method: "GET", pattern: "/v1/log", auth: authNone, h: s.getLogPolicy},
	}
}

// getLogPolicy tells devices which log this cloud appends to and which
// witnesses cosign it; they pin it the first time.
func (s *Server) getLogPolicy(w http.ResponseWriter, r *http.Request, c *call) error {
	ws := s.opt.LogWitnesses
	if ws == nil {
		ws = []string{}
	}
	writeJSON(w, http.StatusOK, history.LogPolicy{Origin: s.logOrigin, Key: s.opt.LogKey, Witnesses: ws, Quorum: s.opt.LogQuorum})
	return nil
}

// logHandler serves the log read-only at /tlog/.
func (s *Server) logHandler() http.Handler {
	h := tloghttp.Handler(s.opt.LogStorage, s.opt.LogKey, s.releaseIndexes)
	return http.StripPrefix("/tlog", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Public data: any origin may read it (monitors, the verifier
		// extension).
		w.Header().Set("Access-Control-Allow-Origin", "*")
		w.Header().Set("Cross-Origin-Resource-Policy", "cross-origin")
		h.ServeHTTP(w, r)
	}))
}

func (s *Server) releaseIndexes(ctx context.Context) ([]int64, error) {
	items, err := s.opt.History.Items(ctx, history.Query{Kind: history.TypeRelease})
	if err != nil {
		return nil, err
	}
	out := []int64{}
	for _, it := range items {
		if it.Index >= 0 {
			out = append(out, it.Index)
		}
	}
	return out, nil
}

const maxHistoryList = 1000

func (s *Server) listHistory(w http.ResponseWriter, r *http.Request, c *call) error {
	q := r.URL.Query()
	from, limit := int64(1), maxHistoryList
	if v := q.Get("from"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 {
			return errorf(http.StatusBadRequest, "from: a record number >= 1")
		}
		from = n
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxHistoryList {
			return errorf(http.StatusBadRequest, "limit: 1 to %d", maxHistoryList)
		}
		limit = n
	}
	items, err := s.opt.History.Items(r.Context(), history.Query{Household: c.household.ID, Kind: history.TypeRecord, From: from, Limit: limit + 1})
	if err != nil {
		return err
	}
	more := len(items) > limit
	if more {
		items = items[:limit]
	}
	out := history.HistoryPage{Records: make([]history.RecordRef, len(items)), More: more}
	for i, it := range items {
		out.Records[i] = history.RecordRef{N: it.Num, Index: it.Index, Entry: it.Entry}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// chainIndexes returns the log index of each link's head from seq from on
// (-1 while it waits), and asks the log for heads it has never been given
// (a crash between storing a link and its head, or a household older than
// the log).
func (s *Server) chainIndexes(ctx context.Context, h store.Household, from int64, links []store.Link) ([]int64, error) {
	items, err := s.opt.History.Items(ctx, history.Query{Household: h.ID, Kind: history.TypeChainHead, From: from})
	if err != nil {
		return nil, err
	}
	have := map[int64]int64{}
	for _, it := range items {
		have[it.Num] = it.Index
	}
	out := make([]int64, len(links))
	for i, l := range links {
		ix, ok := have[l.Seq]
		if !ok {
			it, err := s.hist.ChainHead(ctx, h.ID, h.GenesisHash, l.Seq, l.Hash)
			if err != nil {
				return nil, err
			}
			ix = it.Index
		}
		out[i] = ix
	}
	return out, nil
}

// PublishRelease appends a signed web release (a type-3 log entry, the
// release.vrel file) to the log, once.
func (s *Server) PublishRelease(ctx context.Context, entry []byte) error {
	_, err := s.hist.Release(ctx, entry)
	return err
}

// SyncLog returns once everything recorded so far is in the log.
func (s *Server) SyncLog(ctx context.Context) error { return s.hist.Sync(ctx) }

// LogKey is the log's note verifier key.
func (s *Server) LogKey() string { return s.opt.LogKey }

// Close stops the server's own goroutines and waits for them: it ends the
// WebSockets it serves (an HTTP server's Shutdown leaves hijacked
// connections alone), cancels Web Push deliveries in flight and closes the
// push client's idle connections, stops the
// history publisher after it has published what waits, and closes a log
// it opened itself. The HTTP server must be shut down first.
func (s *Server) Close() error {
	var err error
	s.closeOnce.Do(func() {
		if s.hubWatch != nil {
			s.hubWatch.Close() // before the workers: it starts pushes
		}
		s.work.stop()
		s.events.closeIdle()
		err = s.hist.Close()
		if s.ownLog {
			err = errors.Join(err, s.opt.Log.Close())
		}
	})
	return err
}
