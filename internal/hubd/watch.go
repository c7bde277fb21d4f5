package hubd

import (
	"context"
	"time"

	"vigil/internal/eventrec"
	"vigil/internal/hubwatch"
	"vigil/internal/notify"
)

// Health alerts. The hub watches itself (package hubwatch: its cameras,
// disk, uploads and cloud contact, from the counters it already keeps)
// and tells the household of each problem and its end through the
// channels events take: a health record sealed to the household and queued
// in the outbox (a paired hub; the cloud relays it as a Web Push, and gets
// it when it returns if it was away), and the notification sinks (MQTT,
// webhooks). The config's health key holds the thresholds.

// startWatch runs the health checks until ctx ends (in h.wg).
func (h *Hub) startWatch(ctx context.Context) {
	hc := h.cfg.Health
	w := hubwatch.New(hubwatch.Config{Hold: time.Duration(hc.Hold), Repeat: time.Duration(hc.Repeat),
		NoVideo: time.Duration(hc.NoVideo), Reconnects: hc.Reconnects, ReconnectWindow: time.Duration(hc.ReconnectWindow),
		SlowRate: hc.SlowRate, MinFree: int64(hc.MinFree), FullWithin: time.Duration(hc.FullWithin),
		RetentionWindow: time.Duration(hc.RetentionWindow), Backlog: time.Duration(hc.Backlog),
		CloudContact: time.Duration(hc.CloudContact)}, h.opts.Now, h.log.With("component", "health"))
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		w.Run(ctx, h.opts.WatchPoll, h.observe, h.deliverHealth)
	}()
}

// observe reads what the health checks look at.
func (h *Hub) observe() hubwatch.Observation {
	var o hubwatch.Observation
	for _, r := range h.recorders() {
		s := r.Stats()
		o.Cameras = append(o.Cameras, hubwatch.Camera{Name: r.Name(), Frames: s.Ingest.Frames, Disconnects: s.Ingest.Disconnects})
		o.Storage.Writes += s.Segments
		o.Storage.WriteErrors += s.StoreErrors
	}
	o.Storage.Free = hubwatch.FreeBytes(h.cfg.Data)
	f := h.store.Forced()
	o.Storage.Forced, o.Storage.ForcedAge, o.Storage.RetentionAge = f.Segments, f.LastAge, f.Limit
	if h.uploader != nil {
		u := h.uploader.Stats()
		o.Cloud = &hubwatch.Cloud{Pending: u.Pending, Away: u.CloudAway}
	}
	return o
}

// deliverHealth seals a to the household for the cloud and hands it to
// the notification sinks. It never blocks on the network.
func (h *Hub) deliverHealth(a hubwatch.Alert) {
	ds := h.detection
	if ds == nil {
		return
	}
	if h.outbox != nil {
		recips, epoch := h.sealRecipients()
		sealed, err := eventrec.Seal(a.Record(), ds.seq.Add(1), epoch, h.signer, recips...)
		if err == nil {
			err = h.outbox.Put(sealed)
		}
		if err != nil {
			h.log.Warn("health alert not queued for the cloud", "check", a.Check, "camera", a.Camera, "err", err)
		}
	}
	if ds.dispatch != nil {
		ev := notify.Event{ID: a.ID, Kind: notify.KindHealth, Camera: a.Camera, Check: a.Check, Message: a.Message,
			Flaps: a.Flaps, Alert: true, Phase: notify.PhaseStart, Start: a.Start, End: a.End}
		if a.State == hubwatch.StateResolved {
			ev.Phase = notify.PhaseEnd
		}
		ds.dispatch.Notify(context.Background(), ev)
	}
}
