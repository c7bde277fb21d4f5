package hubd

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"vigil/internal/client"
	"vigil/internal/history"
)

// The household's retention settings, as the cloud serves them to hubs
// (GET /v1/hub/settings): the latest settings.set action an admin device
// signed (docs/FORMAT.md, "Signed household actions"). The hub checks them
// against the chain it verified — signed by an admin device of its
// household's current chain — and refuses settings older than the newest
// it accepted (a rollback). What it refuses it reports in its state
// records; it keeps the last settings it accepted.

// RetentionFile keeps the retention settings the hub accepted last.
const RetentionFile = "retention.json"

type retentionFile struct {
	V      int            `json:"v"`
	Signed history.Signed `json:"signed"`
	Time   time.Time      `json:"time"` // the action's time
}

func (h *Hub) loadRetention() error {
	b, err := os.ReadFile(filepath.Join(h.cfg.Data, RetentionFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	var f retentionFile
	if err == nil {
		err = json.Unmarshal(b, &f)
	}
	if err != nil {
		return fmt.Errorf("%s: %w (hint: remove it; the hub then accepts the next settings an admin device signed)", filepath.Join(h.cfg.Data, RetentionFile), err)
	}
	h.retention = &f
	return nil
}

// checkRetention fetches the signed retention settings and accepts them if
// an admin device of the verified chain signed them and they are not older
// than the ones accepted before.
func (h *Hub) checkRetention(ctx context.Context) {
	s, err := h.cloud.HubSettings(ctx)
	if client.IsStatus(err, 404) {
		return
	}
	if err != nil {
		if ctx.Err() == nil {
			h.log.Debug("retention settings not fetched", "err", err)
		}
		return
	}
	h.retentionMu.Lock()
	defer h.retentionMu.Unlock()
	acc := h.retention
	kept := "none"
	if acc != nil {
		kept = fmt.Sprintf("the settings signed at %s by device %s", acc.Time.UTC().Format(time.RFC3339), acc.Signed.Device)
	}
	if s == nil {
		if acc != nil {
			h.problem(problemSettings, fmt.Sprintf("the cloud serves no retention settings, but this hub accepted %s: they were rolled back; the hub keeps them", kept))
		} else {
			h.problem(problemSettings, "")
		}
		return
	}
	hid := h.household.pinned.HouseholdID
	a, err := history.VerifySigned(*s, h.household.current(), hid)
	same := acc != nil && s.Device == acc.Signed.Device && bytes.Equal(s.Body, acc.Signed.Body) && bytes.Equal(s.Sig, acc.Signed.Sig)
	switch {
	case err != nil && same:
		h.problem(problemSettings, fmt.Sprintf("the retention settings (%s) are no longer signed by a current admin device: %v; the hub keeps them until an admin device signs them again", kept, err))
		return
	case err != nil:
		h.problem(problemSettings, fmt.Sprintf("refused the retention settings from the cloud: %v; the hub keeps %s", err, kept))
		return
	case same:
		h.problem(problemSettings, "")
		return
	case acc != nil && a.Time.Before(acc.Time):
		h.problem(problemSettings, fmt.Sprintf("refused the retention settings from the cloud: signed at %s, older than the ones this hub accepted (%s): a rollback",
			a.Time.UTC().Format(time.RFC3339), kept))
		return
	}
	p, err := a.Settings()
	if err != nil {
		h.problem(problemSettings, fmt.Sprintf("refused the retention settings from the cloud: %v", err))
		return
	}
	f := &retentionFile{V: 1, Signed: *s, Time: a.Time}
	b, err := json.MarshalIndent(f, "", "  ")
	if err == nil {
		err = writeFileAtomic(filepath.Join(h.cfg.Data, RetentionFile), append(b, '\n'))
	}
	if err != nil {
		h.log.Error("retention settings verified but not kept", "err", err)
		return
	}
	h.retention = f
	h.problem(problemSettings, "")
	h.log.Info("household retention settings verified: signed by an admin device", "quota_bytes", p.QuotaBytes,
		"max_age", (time.Duration(p.MaxAgeSeconds) * time.Second).String(), "device", s.Device, "signed", a.Time)
}
