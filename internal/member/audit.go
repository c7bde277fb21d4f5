package member

import (
	"context"
	"fmt"
	"strings"
	"time"

	"vigil/internal/client"
	"vigil/internal/history"
	"vigil/internal/keydir"
)

// CloudSource is what history.Audit reads from a cloud for one household:
// its chain with log indexes, its records and its hubs' newest state
// records. Nothing it returns is trusted; the audit verifies all of it.
type CloudSource struct {
	C         *client.Client
	Household string
}

// Chain implements history.Source.
func (s CloudSource) Chain(ctx context.Context) ([][]byte, []int64, error) {
	return s.C.ChainIndexed(ctx, s.Household, 0)
}

// Records implements history.Source.
func (s CloudSource) Records(ctx context.Context, from int64) ([]history.RecordRef, error) {
	return s.C.History(ctx, s.Household, from)
}

// maxStateObject bounds a hub state record's sealed size.
const maxStateObject = 64 << 10

// statesSince is how far back hub state records are looked for (hubs make
// one every ten minutes).
const statesSince = time.Hour

// States implements history.Source: the newest state record of each hub.
func (s CloudSource) States(ctx context.Context) ([]history.SealedState, error) {
	objs, err := s.C.Objects(ctx, s.Household, history.StateStream, time.Now().Add(-statesSince), time.Time{})
	if err != nil {
		return nil, err
	}
	newest := map[string]client.Object{}
	for _, o := range objs {
		if o.Kind != "state" {
			continue
		}
		if n, ok := newest[o.Device]; !ok || o.Seq > n.Seq {
			newest[o.Device] = o
		}
	}
	out := []history.SealedState{}
	for _, o := range newest {
		b, err := s.C.ReadObject(ctx, s.Household, o.Key, maxStateObject)
		if err != nil {
			return nil, err
		}
		out = append(out, history.SealedState{Key: o.Key, Sealed: b})
	}
	return out, nil
}

// VerifiedHistory runs a household's audit from scratch with the log the
// cloud names (CloudLog) and returns its report: every record verified and
// opened. now is the audit's clock (nil: time.Now). It is an error when the
// audit finds anything severe.
func VerifiedHistory(ctx context.Context, c *client.Client, household string, genesis []byte, keys *keydir.DeviceKeys, now func() time.Time) (*history.Report, error) {
	lc, _, err := CloudLog(ctx, c)
	if err != nil {
		return nil, err
	}
	rep, err := history.Audit(ctx, history.AuditConfig{Household: household, Genesis: genesis, Keys: keys, Log: lc,
		Source: CloudSource{C: c, Household: household}, Now: now})
	if err != nil {
		return nil, err
	}
	if !rep.OK() {
		var what []string
		for _, f := range rep.Findings {
			if f.Severe {
				what = append(what, f.What)
			}
		}
		return rep, fmt.Errorf("the household's history does not verify: %s", strings.Join(what, "; "))
	}
	return rep, nil
}
