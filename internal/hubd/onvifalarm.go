package hubd

import (
	"context"
	"log/slog"
	"time"

	"vigil/internal/doorbell"
	"vigil/internal/eventrec"
	"vigil/internal/onvif"
)

// A camera's own motion and tamper detection, from the same ONVIF event
// subscription as its presses (onvifpress.go): each change to true of a
// motion property (tns1:RuleEngine/CellMotionDetector/Motion IsMotion,
// tns1:VideoSource/MotionAlarm State, ...) is an event labelled "motion",
// of a tamper property (tns1:RuleEngine/TamperDetector/Tamper IsTamper,
// tns1:VideoSource/GlobalSceneChange/... State, ...) one labelled
// "tamper"; the states a subscription starts with are not (onvif.Alarm,
// onvif.AlarmStates). At most one event per camera and kind per
// alarmInterval, so a camera that chatters does not flood the household.
// The event leaves the hub as a ring does: an event record sealed to the
// household (with a sealed snapshot when the camera also detects), queued
// for the cloud, which cannot read it; the recording around it is kept.
// Nothing here logs the camera's credentials.

// Labels of a camera's own alarms in their event records.
const (
	motionLabel = "motion"
	tamperLabel = "tamper"
)

// alarmInterval is the least time between two events of one camera's
// motion, or of its tamper detection.
const alarmInterval = 30 * time.Second

// alarmLabel is the label of an alarm of kind k ("" for none).
func alarmLabel(k onvif.Kind) string {
	switch k {
	case onvif.KindMotion:
		return motionLabel
	case onvif.KindTamper:
		return tamperLabel
	}
	return ""
}

// cameraAlarms rate-limits a hub's camera alarms; its keys are
// camera "\x00" label.
type cameraAlarms struct {
	bell *doorbell.Bell
	log  *slog.Logger
}

func newCameraAlarms(log *slog.Logger) *cameraAlarms {
	return &cameraAlarms{bell: doorbell.NewBell(alarmInterval), log: log}
}

// alarm handles a change to true of camera's alarm of kind k at t.
func (h *Hub) alarm(ca *cameraAlarms, camera string, k onvif.Kind, t time.Time) {
	label := alarmLabel(k)
	if label == "" {
		return
	}
	r, ok := ca.bell.Press(doorbell.Press{Camera: camera + "\x00" + label, Time: t, Source: "onvif"})
	if !ok {
		ca.log.Debug("camera alarm within the interval of the last", "camera", camera, "alarm", label)
		return
	}
	ca.log.Info("camera alarm", "camera", camera, "alarm", label)
	if err := h.store.Keep(context.Background(), camera, t.Add(-eventPadding), t.Add(eventPadding)); err != nil {
		ca.log.Warn("recording around a camera alarm not marked to keep", "err", err)
	}
	ds := h.detection
	if ds == nil || ds.outbox == nil {
		return
	}
	// A moment, as a ring is: one record, ended when it began. Tampering
	// is worth an alert; the camera's own motion is not.
	rec := eventrec.Record{ID: r.ID, Camera: camera, State: eventrec.StateEnd, Start: t, End: t,
		Labels: []string{label}, Alert: k == onvif.KindTamper, Score: 1}
	ds.mu.Lock()
	cd := ds.cameras[camera]
	ds.mu.Unlock()
	var snap []byte
	var snapAt time.Time
	if cd != nil {
		if jpg, at, ok := cd.momentJPEG(h.runCtx, t, ringSnapshotAge); ok {
			snap, snapAt = jpg, at
		}
	}
	if err := h.queueEvent(rec, snap, snapAt); err != nil {
		ca.log.Warn("camera alarm not queued for the cloud", "camera", camera, "err", err)
	}
}

// AlarmStats reports each camera's alarms by "camera/label": how many
// changes to true arrived (Presses) and how many became events (Rings).
func (h *Hub) AlarmStats() map[string]doorbell.BellStats {
	if h.alarms == nil {
		return nil
	}
	out := map[string]doorbell.BellStats{}
	for k, v := range h.alarms.bell.Stats() {
		out[replaceNUL(k)] = v
	}
	return out
}

func replaceNUL(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c == 0 {
			b[i] = '/'
		}
	}
	return string(b)
}
