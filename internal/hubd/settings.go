package hubd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"time"

	"vigil/internal/config"
	"vigil/internal/detect"
	"vigil/internal/detect/pipeline"
	"vigil/internal/live"
)

// Camera settings from the web app: the zones and masks a household admin
// draws on the zones page, and the labels and lowest score chosen there,
// reach the hub over the settings channel of a live session (package
// live), never through the cloud in the clear. They replace the config
// file's detect.mask and detect.events.zones of that camera (and its
// detect.labels and detect.min_score when set, config.AppDetect), are kept in the data directory (settings/<camera>.json) so that
// they survive a restart, and apply to a running detection at once. A
// "reset" drops them and the config file applies again.

// settingsDir holds one file per camera with settings from the web app.
const settingsDir = "settings"

type settingsFile struct {
	V      int              `json:"v"`
	Camera string           `json:"camera"`
	By     string           `json:"by"` // the admin device that sent them
	At     time.Time        `json:"at"`
	Detect config.AppDetect `json:"detect"`
}

// appSettings holds the web app's settings per camera.
type appSettings struct {
	write sync.Mutex // one put or reset at a time: file, map and pipeline agree
	mu    sync.Mutex
	cam   map[string]*config.AppDetect
}

func (h *Hub) settingsPath(camera string) string {
	return filepath.Join(h.cfg.Data, settingsDir, camera+".json")
}

func (h *Hub) camera(name string) (config.Camera, bool) {
	for _, c := range h.allCameras() {
		if c.Name == name {
			return c, true
		}
	}
	return config.Camera{}, false
}

// loadSettings reads the settings the web app left for the cameras (those
// of the config file and those added from the web app, loaded before).
// Settings that no longer fit the config file (a rule names a zone they
// lack) are reported and not used; the file stays until an admin saves or
// resets.
func (h *Hub) loadSettings() {
	h.settings.mu.Lock()
	defer h.settings.mu.Unlock()
	h.settings.cam = map[string]*config.AppDetect{}
	for _, c := range h.allCameras() {
		b, err := os.ReadFile(h.settingsPath(c.Name))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		var f settingsFile
		if err == nil {
			err = json.Unmarshal(b, &f)
		}
		if err == nil && f.Camera != c.Name {
			err = fmt.Errorf("the file is for camera %q", f.Camera)
		}
		if err == nil {
			_, err = baseDetect(c).With(f.Detect)
		}
		if err != nil {
			h.log.Warn("camera settings from the web app not used; the config file's apply (save them again from the zones page)",
				"camera", c.Name, "file", h.settingsPath(c.Name), "err", err)
			continue
		}
		a := f.Detect.Clone()
		h.settings.cam[c.Name] = &a
		h.log.Info("camera zones and masks from the web app", "camera", c.Name, "zones", len(a.Zones), "masks", len(a.Mask), "by", f.By, "at", f.At)
	}
}

// baseDetect is the config file's detection of c, or none.
func baseDetect(c config.Camera) config.Detect {
	if c.Detect == nil {
		return config.Detect{}
	}
	return *c.Detect
}

// effectiveDetect is the detection c runs with: the config file's, with
// the web app's zones and masks when it sent some.
func (h *Hub) effectiveDetect(c config.Camera) *config.Detect {
	if c.Detect == nil {
		return nil
	}
	h.settings.mu.Lock()
	app := h.settings.cam[c.Name]
	h.settings.mu.Unlock()
	if app == nil {
		return c.Detect
	}
	d, err := c.Detect.With(*app)
	if err != nil { // checked when stored; only a bug gets here
		h.log.Error("camera settings from the web app do not apply", "camera", c.Name, "err", err)
		return c.Detect
	}
	return &d
}

// CameraSettings returns what a camera's detection uses of the settings
// the web app edits (its masks, zones, labels and lowest score, defaults
// filled in) and where the masks and zones come from: "app" (the web app
// sent them) or "config".
func (h *Hub) CameraSettings(camera string) (config.AppDetect, string, error) {
	c, ok := h.camera(camera)
	if !ok {
		return config.AppDetect{}, "", fmt.Errorf("no camera %q", camera)
	}
	h.settings.mu.Lock()
	app := h.settings.cam[camera]
	h.settings.mu.Unlock()
	d, source := baseDetect(c), "config"
	if app != nil {
		merged, err := d.With(*app)
		if err != nil {
			return config.AppDetect{}, "", err
		}
		d, source = merged, "app"
	}
	a := d.AppDetect()
	if len(a.Labels) == 0 {
		a.Labels = detect.DefaultLabels()
	}
	if a.MinScore == 0 {
		a.MinScore = pipeline.DefaultMinScore
	}
	return a, source, nil
}

// handleSettings answers a settings request from an admitted device (the
// live package checked its role for put and reset).
func (h *Hub) handleSettings(ctx context.Context, req live.SettingsRequest) (live.SettingsReply, error) {
	if err := ctx.Err(); err != nil {
		return live.SettingsReply{}, err
	}
	c, ok := h.camera(req.Camera)
	if !ok {
		return live.SettingsReply{}, fmt.Errorf("the hub has no camera %q", req.Camera)
	}
	if req.Op != live.SettingsGet {
		h.settings.write.Lock()
		defer h.settings.write.Unlock()
	}
	switch req.Op {
	case live.SettingsPut:
		a, err := config.ParseAppDetect(req.Detect)
		if err != nil {
			return live.SettingsReply{}, err
		}
		if _, err := baseDetect(c).With(a); err != nil {
			return live.SettingsReply{}, fmt.Errorf("the hub cannot use these zones and masks: %s", oneLine(err))
		}
		b, err := json.MarshalIndent(settingsFile{V: 1, Camera: c.Name, By: req.Device, At: h.opts.Now().UTC(), Detect: a}, "", "  ")
		if err != nil {
			return live.SettingsReply{}, err
		}
		if err := os.MkdirAll(filepath.Join(h.cfg.Data, settingsDir), 0o700); err != nil {
			return live.SettingsReply{}, fmt.Errorf("the hub could not store the settings: %w", err)
		}
		if err := writeFileAtomic(h.settingsPath(c.Name), b); err != nil {
			return live.SettingsReply{}, fmt.Errorf("the hub could not store the settings: %w", err)
		}
		before, _, _ := h.CameraSettings(c.Name)
		h.settings.mu.Lock()
		h.settings.cam[c.Name] = &a
		h.settings.mu.Unlock()
		h.reconfigureIfChanged(c.Name, before)
		h.log.Info("camera settings from the web app applied", "camera", c.Name, "zones", len(a.Zones), "masks", len(a.Mask),
			"labels", len(a.Labels), "min_score", a.MinScore, "by", req.Device)
	case live.SettingsReset:
		if err := os.Remove(h.settingsPath(c.Name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return live.SettingsReply{}, fmt.Errorf("the hub could not remove the settings: %w", err)
		}
		before, _, _ := h.CameraSettings(c.Name)
		h.settings.mu.Lock()
		delete(h.settings.cam, c.Name)
		h.settings.mu.Unlock()
		h.reconfigureIfChanged(c.Name, before)
		h.log.Info("camera settings from the config file again", "camera", c.Name, "by", req.Device)
	}
	a, source, err := h.CameraSettings(c.Name)
	if err != nil {
		return live.SettingsReply{}, err
	}
	b, err := json.Marshal(a)
	if err != nil {
		return live.SettingsReply{}, err
	}
	return live.SettingsReply{Detect: b, Source: source, Detecting: c.Detect != nil}, nil
}

// reconfigureIfChanged makes a running camera's detection rebuild its
// pipeline with the current settings at its next frame, unless what it
// uses is what it used before: a rebuild ends the events in progress.
func (h *Hub) reconfigureIfChanged(camera string, before config.AppDetect) {
	after, _, err := h.CameraSettings(camera)
	if err == nil && reflect.DeepEqual(before, after) {
		return
	}
	ds := h.detection
	if ds == nil {
		return
	}
	ds.mu.Lock()
	cd := ds.cameras[camera]
	ds.mu.Unlock()
	if cd != nil {
		cd.gen.Add(1)
	}
}

// oneLine joins the lines of an error (errors.Join) with "; ", keeping the
// first few: a request can hold thousands of bad points.
func oneLine(err error) string {
	const most = 10
	lines := strings.Split(err.Error(), "\n")
	if len(lines) > most {
		lines = append(lines[:most], fmt.Sprintf("and %d more problems", len(lines)-most))
	}
	return strings.Join(lines, "; ")
}
