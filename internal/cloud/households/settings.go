package households

import (
	"context"
	"errors"
	"time"

	"vigil/internal/cloud/store"
	"vigil/internal/history"
)

// Retention settings: a household's quota and maximum age, set only by a
// checked settings.set action, kept with it so hubs can check who set them.

const (
	// MinMaxAge is the shortest retention a household may set.
	MinMaxAge = time.Hour
	// QuotaFloorWindow: a quota may not be set below what the household's
	// hubs uploaded in this window (it would delete the last day's footage
	// at the next upload).
	QuotaFloorWindow = 24 * time.Hour
)

// SetRetention sets household h's retention as a checked settings.set
// action a says; maxQuota is the service's quota, the most a household may
// set. A quota below what the household's hubs uploaded in the last
// QuotaFloorWindow is refused: it would delete that footage at the next
// upload. record is called before the settings are stored: an error from
// it changes nothing. OnSettings is told of the household after.
func (s *Service) SetRetention(ctx context.Context, h store.Household, maxQuota int64, a history.Action, sa history.Signed, record func() error) (store.Retention, error) {
	req, err := a.Settings()
	if err != nil {
		return store.Retention{}, errorf(Invalid, "%s", actionMessage(err))
	}
	if req.QuotaBytes < 0 || req.QuotaBytes > maxQuota {
		return store.Retention{}, errorf(Invalid, "quota_bytes: 0 (the service default) up to %d", maxQuota)
	}
	age := time.Duration(req.MaxAgeSeconds) * time.Second
	if req.MaxAgeSeconds < 0 || (age > 0 && age < MinMaxAge) || req.MaxAgeSeconds > 100*365*24*3600 {
		return store.Retention{}, errorf(Invalid, "max_age_seconds: 0 (no age limit) or at least %d", int64(MinMaxAge/time.Second))
	}
	if req.QuotaBytes > 0 {
		floor, err := s.st.UploadedSince(ctx, h.ID, s.now().Add(-QuotaFloorWindow))
		if err != nil {
			return store.Retention{}, err
		}
		if req.QuotaBytes < floor {
			return store.Retention{}, errorf(Conflict, "quota_bytes %d is below the %d bytes this household's hubs uploaded in the last 24 hours, "+
				"which it would delete (hint: choose at least %d bytes, or 0 for the service default)", req.QuotaBytes, floor, floor)
		}
	}
	if err := record(); err != nil {
		return store.Retention{}, err
	}
	ret := store.Retention{QuotaBytes: req.QuotaBytes, MaxAge: age, Signed: &sa}
	if err := s.st.SetRetention(ctx, h.ID, ret); errors.Is(err, store.ErrNotFound) {
		return store.Retention{}, errorf(NotFound, "not found")
	} else if err != nil {
		return store.Retention{}, err
	}
	s.onSettings(h.ID) // apply a shorter age or quota soon
	s.log.Info("retention set", "household", h.ID, "quota_bytes", ret.QuotaBytes, "max_age", ret.MaxAge, "device", sa.Device)
	return ret, nil
}

// Settings returns household h's retention settings, with the signed
// settings.set action that set them (nil when none has): what members are
// shown and what hubs check against the chain they verified.
func (s *Service) Settings(ctx context.Context, h store.Household) (store.Retention, error) {
	ret, err := s.st.Retention(ctx, h.ID)
	if errors.Is(err, store.ErrNotFound) {
		return store.Retention{}, errorf(NotFound, "not found")
	}
	return ret, err
}

// Household returns household hh (NotFound when there is none), for
// callers that hold its ID from elsewhere than a membership: a staff
// grant names the household it was approved by.
func (s *Service) Household(ctx context.Context, hh string) (store.Household, error) {
	h, err := s.st.Household(ctx, hh)
	if errors.Is(err, store.ErrNotFound) {
		return store.Household{}, errorf(NotFound, "not found")
	}
	return h, err
}

// Uploaded returns the bytes of household hh's objects uploaded at or
// after since, among those still held.
func (s *Service) Uploaded(ctx context.Context, hh string, since time.Time) (int64, error) {
	return s.st.UploadedSince(ctx, hh, since)
}
