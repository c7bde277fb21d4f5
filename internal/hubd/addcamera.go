package hubd

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"io/fs"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"vigil/internal/config"
	"vigil/internal/live"
	"vigil/internal/onvif"
	"vigil/internal/proctail"
)

// Cameras added from the web app: an admin's page asks the hub, over the
// cameras channel of a live session (package live), what it discovered
// (WS-Discovery, plus the addresses probed by hand), probes a camera with
// its ONVIF account (profiles, a snapshot) and adds it with the main stream
// to record and a sub stream, and removes it again (its recordings stay).
// The camera's address, user name, password and
// stream URIs stay on the hub: they are kept in the data directory
// (cameras/<name>.json, mode 0600), never logged, never sent to the cloud
// (the cloud learns the camera's name, as it does for configured cameras).
// An added camera is recorded at once, and again after a restart, and
// detects with the hub's defaults on its sub stream (detection.go).
//
// docs/FORMAT.md, "Camera management channel", has the messages.

// addedDir holds one file per camera added from the web app.
const addedDir = "cameras"

// Camera management operations.
const (
	CamerasDiscover = "discover" // what discovery found, and the addresses probed
	CamerasProbe    = "probe"    // a camera's profiles and a snapshot, with its account
	CamerasAdd      = "add"      // record a camera from now on
	CamerasRemove   = "remove"   // stop recording a camera added from the web app
)

// Bounds of camera management.
const (
	discoverWait   = 2 * time.Second // how long discovery collects answers
	maxFound       = 64              // devices remembered as discovered
	maxField       = 256             // bytes of an address, user name or password
	maxSnapshotOut = 48 << 10        // bytes of the JPEG a probe returns
	maxSnapshotPix = 4096 * 4096     // pixels of a snapshot the hub decodes (4K fits)
)

// addedFile is a camera added from the web app, as kept on the hub.
type addedFile struct {
	V        int          `json:"v"`
	Name     string       `json:"name"`
	Device   string       `json:"device"` // the ONVIF device service URL
	Username string       `json:"username,omitempty"`
	Password string       `json:"password,omitempty"`
	Main     streamChoice `json:"main"`
	Sub      streamChoice `json:"sub,omitzero"`
	By       string       `json:"by"` // the admin device that added it
	At       time.Time    `json:"at"`
}

type streamChoice struct {
	Profile string `json:"profile"`
	URI     string `json:"uri"` // as the device gave it, without credentials
}

// foundCamera is a device discovery found or an admin probed.
type foundCamera struct {
	Address  string `json:"address"` // the device service URL
	Name     string `json:"name,omitempty"`
	Hardware string `json:"hardware,omitempty"`
	Endpoint string `json:"endpoint,omitempty"`
	Camera   string `json:"camera,omitempty"` // the hub's camera on this device, if one was added
	seen     time.Time
}

// addedCameras is the hub's state of camera management.
type addedCameras struct {
	write sync.Mutex // one add at a time
	mu    sync.Mutex
	cams  []addedFile
	found map[string]foundCamera // by address
}

// loadAddedCameras reads the cameras the web app added. A file the hub
// cannot use (a name the config file now has, a damaged file) is reported
// and skipped; it stays until removed by hand.
func (h *Hub) loadAddedCameras() {
	dir := filepath.Join(h.cfg.Data, addedDir)
	ents, err := os.ReadDir(dir)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			h.log.Warn("cameras added from the web app not read", "dir", dir, "err", err)
		}
		return
	}
	var cams []addedFile
	for _, e := range ents {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		p := filepath.Join(dir, e.Name())
		b, err := os.ReadFile(p)
		var f addedFile
		if err == nil {
			err = json.Unmarshal(b, &f)
		}
		if err == nil && f.Name+".json" != e.Name() {
			err = fmt.Errorf("the file is for camera %q", f.Name)
		}
		if err == nil {
			err = h.checkNewName(f.Name, cams)
		}
		if err == nil {
			_, err = f.camera()
		}
		if err != nil {
			h.log.Warn("a camera added from the web app is not recorded", "file", p, "err", err)
			continue
		}
		cams = append(cams, f)
		h.log.Info("camera added from the web app", "camera", f.Name, "by", f.By, "at", f.At)
	}
	h.added.mu.Lock()
	h.added.cams = cams
	h.added.mu.Unlock()
}

// camera is the config entry the hub records f with. It detects with the
// hub's defaults (config.Detect's) on the sub stream, or on the main stream
// when there is none (or, for a file from before sub streams were checked,
// when the sub stream's URI is not one the hub can decode).
func (f addedFile) camera() (config.Camera, error) {
	main, err := f.streamURL(f.Main.URI)
	if err != nil {
		return config.Camera{}, errors.New("the main stream is not an rtsp:// URL without credentials")
	}
	d := &config.Detect{}
	if f.Sub.URI != "" {
		if sub, err := f.streamURL(f.Sub.URI); err == nil {
			d.URL = sub
		}
	}
	return config.Camera{Name: f.Name, URL: main, Transport: config.DefaultTransport, Detect: d}, nil
}

// streamURL is the URL the hub reads the stream uri of f's camera at: an
// rtsp:// or rtsps:// URL without credentials, given f's account.
func (f addedFile) streamURL(uri string) (string, error) {
	u, err := url.Parse(uri)
	if err != nil || (u.Scheme != "rtsp" && u.Scheme != "rtsps") || u.Hostname() == "" || u.User != nil || strings.Contains(uri, "#") {
		return "", errors.New("not an rtsp:// URL without credentials")
	}
	if f.Username != "" {
		u.User = url.UserPassword(f.Username, f.Password)
	}
	return u.String(), nil
}

// allCameras are the config file's cameras, then those added from the web
// app.
func (h *Hub) allCameras() []config.Camera {
	out := slices.Clone(h.cfg.Cameras)
	h.added.mu.Lock()
	defer h.added.mu.Unlock()
	for _, f := range h.added.cams {
		if c, err := f.camera(); err == nil {
			out = append(out, c)
		}
	}
	return out
}

var addedNameRE = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// checkNewName says why name cannot be a new camera's (with others added
// before it), or nil.
func (h *Hub) checkNewName(name string, others []addedFile) error {
	if !addedNameRE.MatchString(name) || name == "." || name == ".." {
		return fmt.Errorf("%q is not a valid camera name: use 1 to 64 letters, digits, '.', '_' or '-'", name)
	}
	lower := strings.ToLower(name)
	if lower == "events" || lower == "snapshots" {
		return fmt.Errorf("%q is reserved for sealed events; choose another camera name", name)
	}
	for _, c := range h.cfg.Cameras {
		if strings.EqualFold(c.Name, name) {
			return fmt.Errorf("the hub already has a camera %q (in its config file); choose another name", c.Name)
		}
	}
	for _, f := range others {
		if strings.EqualFold(f.Name, name) {
			return fmt.Errorf("the hub already has a camera %q; choose another name", f.Name)
		}
	}
	return nil
}

// handleCameras answers a camera management request from an admin device
// (the live package checked its role).
func (h *Hub) handleCameras(ctx context.Context, req live.CamerasRequest) (any, error) {
	switch req.Op {
	case CamerasDiscover:
		return h.discoverCameras(ctx), nil
	case CamerasProbe:
		var b probeBody
		if err := decodeBody(req.Body, &b); err != nil {
			return nil, err
		}
		return h.probeCamera(ctx, b)
	case CamerasAdd:
		var b addBody
		if err := decodeBody(req.Body, &b); err != nil {
			return nil, err
		}
		return h.addCamera(ctx, b, req.Device)
	case CamerasRemove:
		var b removeBody
		if err := decodeBody(req.Body, &b); err != nil {
			return nil, err
		}
		return h.removeCamera(b, req)
	}
	return nil, fmt.Errorf("unknown op %q: use %s, %s, %s or %s", req.Op, CamerasDiscover, CamerasProbe, CamerasAdd, CamerasRemove)
}

func decodeBody(raw json.RawMessage, v any) error {
	if len(raw) == 0 {
		return errors.New("the request has no body")
	}
	d := json.NewDecoder(bytes.NewReader(raw))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return fmt.Errorf("the request's body is not what the hub expects: %v", err)
	}
	return nil
}

// discoverReply lists the cameras the page may add.
type discoverReply struct {
	Cameras []foundCamera `json:"cameras"`
}

// discoverCameras sends a WS-Discovery probe to the multicast group and to
// each of the config file's discovery_targets, and lists what answered now or before
// (and the addresses probed by hand), newest first.
func (h *Hub) discoverCameras(ctx context.Context) discoverReply {
	targets := append([]string{""}, h.cfg.DiscoveryTargets...)
	var wg sync.WaitGroup
	results := make([][]onvif.ProbeMatch, len(targets))
	for i, t := range targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			o := onvif.DiscoverOptions{Target: t, Timeout: discoverWait, MaxMatches: maxFound}
			if ap, err := netip.ParseAddrPort(t); err == nil && ap.Addr().IsLoopback() {
				o.Listen = net.JoinHostPort(ap.Addr().String(), "0")
			}
			ms, err := onvif.Discover(ctx, o)
			if err != nil {
				h.log.Debug("camera discovery", "target", t, "err", proctail.Describe(err))
			}
			results[i] = ms
		}()
	}
	wg.Wait()
	now := h.opts.Now()
	for _, ms := range results {
		for _, m := range ms {
			if len(m.XAddrs) == 0 {
				continue
			}
			h.noteFound(foundCamera{Address: m.XAddrs[0], Name: m.Name, Hardware: m.Hardware, Endpoint: m.Endpoint, seen: now})
		}
	}
	h.added.mu.Lock()
	defer h.added.mu.Unlock()
	out := discoverReply{Cameras: []foundCamera{}}
	for _, f := range h.added.found {
		f.Camera = ""
		for _, a := range h.added.cams {
			if a.Device == f.Address {
				f.Camera = a.Name
			}
		}
		out.Cameras = append(out.Cameras, f)
	}
	slices.SortFunc(out.Cameras, func(a, b foundCamera) int {
		if c := b.seen.Compare(a.seen); c != 0 {
			return c
		}
		return strings.Compare(a.Address, b.Address)
	})
	return out
}

// noteFound remembers a device, forgetting the one seen longest ago when
// maxFound are remembered.
func (h *Hub) noteFound(f foundCamera) {
	if len(f.Address) > maxField || len(f.Name) > maxField || len(f.Hardware) > maxField || len(f.Endpoint) > maxField {
		return
	}
	h.added.mu.Lock()
	defer h.added.mu.Unlock()
	if h.added.found == nil {
		h.added.found = map[string]foundCamera{}
	}
	if old, ok := h.added.found[f.Address]; ok {
		if f.Name == "" {
			f.Name = old.Name
		}
		if f.Hardware == "" {
			f.Hardware = old.Hardware
		}
		if f.Endpoint == "" {
			f.Endpoint = old.Endpoint
		}
	} else if len(h.added.found) >= maxFound {
		var oldest string
		for a, o := range h.added.found {
			if oldest == "" || o.seen.Before(h.added.found[oldest].seen) {
				oldest = a
			}
		}
		delete(h.added.found, oldest)
	}
	h.added.found[f.Address] = f
}

// probeBody is a probe's request: the camera and its ONVIF account.
type probeBody struct {
	Address  string `json:"address"`
	Username string `json:"username"`
	Password string `json:"password"`
}

// probeReply is what the page shows of a camera.
type probeReply struct {
	Address      string          `json:"address"`
	Manufacturer string          `json:"manufacturer"`
	Model        string          `json:"model"`
	Profiles     []probedProfile `json:"profiles"`
	// Snapshot is a JPEG of the camera's first H.264 profile (at most
	// maxSnapshotOut bytes), or empty with SnapshotError saying why.
	Snapshot      []byte `json:"snapshot,omitempty"`
	SnapshotError string `json:"snapshot_error,omitempty"`
}

type probedProfile struct {
	Token    string `json:"token"`
	Name     string `json:"name"`
	Encoding string `json:"encoding,omitempty"` // of the video; "" without video
	Width    int    `json:"width,omitempty"`
	Height   int    `json:"height,omitempty"`
	FPS      int    `json:"fps,omitempty"`
	Audio    string `json:"audio,omitempty"`
	Stream   string `json:"stream"` // the RTSP URI, without credentials
	Record   bool   `json:"record"` // the hub can record and show it live (H.264)
	uri      string
}

// deviceAddress makes an ONVIF device service URL of what the admin typed
// or discovery gave: a URL, or HOST[:PORT].
func deviceAddress(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" || len(s) > maxField {
		return "", errors.New("give the camera's address (e.g. 192.168.1.20 or http://192.168.1.20" + onvif.DevicePath + ")")
	}
	if !strings.Contains(s, "://") {
		s = "http://" + s
	}
	u, err := url.Parse(s)
	if err != nil || u.Hostname() == "" || (u.Scheme != "http" && u.Scheme != "https") || u.User != nil || strings.Contains(s, "#") {
		return "", errors.New("the camera's address is not HOST, HOST:PORT or an http:// URL without a user name")
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = onvif.DevicePath
	}
	return u.String(), nil
}

// cameraError says what went wrong talking to a camera, and what to do.
// It never carries the password (errors from package onvif do not).
func cameraError(err error) error {
	var ne net.Error
	var oe *net.OpError
	switch {
	case errors.Is(err, onvif.ErrNotAuthorized):
		return errors.New("the camera refused the user name or password; check them: it is the camera's ONVIF account, which on many cameras is set up apart from its web login")
	case errors.As(err, &oe) && oe.Op == "dial", errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return fmt.Errorf("the hub could not reach the camera (%s); check the address and that the camera is on the hub's network", proctail.Describe(err))
	}
	return fmt.Errorf("the camera does not answer as an ONVIF device (%s); check the address and that ONVIF is turned on in the camera's settings", proctail.Describe(err))
}

// connect checks the account and lists the camera's profiles with their
// stream URIs.
func (h *Hub) connectCamera(ctx context.Context, b probeBody) (*onvif.Client, onvif.DeviceInfo, []probedProfile, error) {
	xaddr, err := deviceAddress(b.Address)
	if err != nil {
		return nil, onvif.DeviceInfo{}, nil, err
	}
	if len(b.Username) > maxField || len(b.Password) > maxField {
		return nil, onvif.DeviceInfo{}, nil, fmt.Errorf("a user name or password is at most %d bytes", maxField)
	}
	c, err := onvif.NewClient(onvif.ClientOptions{XAddr: xaddr, Username: b.Username, Password: b.Password, Now: h.opts.Now})
	if err != nil {
		return nil, onvif.DeviceInfo{}, nil, err
	}
	fail := func(err error) (*onvif.Client, onvif.DeviceInfo, []probedProfile, error) {
		c.Close()
		return nil, onvif.DeviceInfo{}, nil, cameraError(err)
	}
	if err := c.Connect(ctx); err != nil {
		return fail(err)
	}
	info, err := c.DeviceInformation(ctx)
	if err != nil {
		return fail(err)
	}
	ps, err := c.Profiles(ctx)
	if err != nil {
		return fail(err)
	}
	if len(ps) == 0 {
		c.Close()
		return nil, onvif.DeviceInfo{}, nil, errors.New("the camera has no media profiles: set up a video stream in its settings first")
	}
	var out []probedProfile
	for _, p := range ps {
		uri, err := c.StreamURI(ctx, p.Token)
		if err != nil {
			return fail(fmt.Errorf("stream URI of profile %q: %w", p.Name, err))
		}
		pp := probedProfile{Token: p.Token, Name: p.Name, uri: uri, Stream: uri}
		if v := p.Video; v != nil {
			pp.Encoding, pp.Width, pp.Height, pp.FPS = v.Encoding, v.Width, v.Height, v.FrameRate
			pp.Record = v.Encoding == "H264"
		}
		if a := p.Audio; a != nil {
			pp.Audio = a.Encoding
		}
		out = append(out, pp)
	}
	h.noteFound(foundCamera{Address: xaddr, Name: strings.TrimSpace(info.Manufacturer + " " + info.Model), Hardware: info.HardwareID, seen: h.opts.Now()})
	return c, info, out, nil
}

// errNoH264 is a camera with nothing the hub can record.
var errNoH264 = errors.New("the camera has no H.264 profile: the hub records and shows H.264; set a stream to H.264 in the camera's settings")

func (h *Hub) probeCamera(ctx context.Context, b probeBody) (probeReply, error) {
	c, info, ps, err := h.connectCamera(ctx, b)
	if err != nil {
		return probeReply{}, err
	}
	defer c.Close()
	i := slices.IndexFunc(ps, func(p probedProfile) bool { return p.Record })
	if i < 0 {
		return probeReply{}, errNoH264
	}
	r := probeReply{Manufacturer: info.Manufacturer, Model: info.Model, Profiles: ps}
	r.Address, _ = deviceAddress(b.Address)
	snap, err := c.Snapshot(ctx, ps[i].Token)
	if err == nil {
		r.Snapshot, err = fitSnapshot(snap.Data)
	}
	if err != nil {
		r.SnapshotError = "no snapshot: " + cameraError(err).Error()
		if errors.Is(err, errNotJPEG) {
			r.SnapshotError = "no snapshot: " + err.Error()
		}
	}
	return r, nil
}

var errNotJPEG = errors.New("the camera's snapshot is not a JPEG the hub can read")

// fitSnapshot returns a JPEG of at most maxSnapshotOut bytes: the camera's
// own, or that scaled down.
func fitSnapshot(b []byte) ([]byte, error) {
	cfg, err := jpeg.DecodeConfig(bytes.NewReader(b))
	if err != nil || cfg.Width <= 0 || cfg.Height <= 0 || cfg.Width*cfg.Height > maxSnapshotPix {
		return nil, errNotJPEG
	}
	if len(b) <= maxSnapshotOut {
		return b, nil
	}
	img, err := jpeg.Decode(bytes.NewReader(b))
	if err != nil {
		return nil, errNotJPEG
	}
	for _, w := range []int{640, 320, 160} {
		out := scaleTo(img, w)
		var buf bytes.Buffer
		if err := jpeg.Encode(&buf, out, &jpeg.Options{Quality: 70}); err != nil {
			return nil, err
		}
		if buf.Len() <= maxSnapshotOut {
			return buf.Bytes(), nil
		}
	}
	return nil, errors.New("the camera's snapshot is too large to show")
}

// scaleTo scales img to width w (nearest neighbour), keeping its aspect.
func scaleTo(img image.Image, w int) image.Image {
	b := img.Bounds()
	if b.Dx() <= w {
		w = b.Dx()
	}
	hgt := max(1, b.Dy()*w/b.Dx())
	out := image.NewRGBA(image.Rect(0, 0, w, hgt))
	for y := range hgt {
		sy := b.Min.Y + y*b.Dy()/hgt
		for x := range w {
			out.Set(x, y, img.At(b.Min.X+x*b.Dx()/w, sy))
		}
	}
	return out
}

// addBody is an add's request.
type addBody struct {
	Name     string `json:"name"`
	Address  string `json:"address"`
	Username string `json:"username"`
	Password string `json:"password"`
	Main     string `json:"main"`          // the profile token to record
	Sub      string `json:"sub,omitempty"` // another profile token, or none
}

// addReply names the camera added.
type addReply struct {
	Camera string `json:"camera"`
}

// addCamera checks the camera with its account, keeps it in the data
// directory and starts recording it.
func (h *Hub) addCamera(ctx context.Context, b addBody, by string) (addReply, error) {
	h.added.write.Lock()
	defer h.added.write.Unlock()
	h.added.mu.Lock()
	others := slices.Clone(h.added.cams)
	h.added.mu.Unlock()
	if err := h.checkNewName(b.Name, others); err != nil {
		return addReply{}, err
	}
	c, _, ps, err := h.connectCamera(ctx, probeBody{Address: b.Address, Username: b.Username, Password: b.Password})
	if err != nil {
		return addReply{}, err
	}
	c.Close()
	if !slices.ContainsFunc(ps, func(p probedProfile) bool { return p.Record }) {
		return addReply{}, errNoH264
	}
	pick := func(tok string) (probedProfile, bool) {
		i := slices.IndexFunc(ps, func(p probedProfile) bool { return p.Token == tok })
		if i < 0 {
			return probedProfile{}, false
		}
		return ps[i], true
	}
	main, ok := pick(b.Main)
	if !ok {
		return addReply{}, fmt.Errorf("the camera has no profile %q; probe it again and choose a main stream", b.Main)
	}
	if !main.Record {
		return addReply{}, fmt.Errorf("the main stream (profile %q) is %s, not H.264: choose an H.264 profile", main.Name, cmp.Or(main.Encoding, "not video"))
	}
	xaddr, _ := deviceAddress(b.Address)
	f := addedFile{V: 1, Name: b.Name, Device: xaddr, Username: b.Username, Password: b.Password,
		Main: streamChoice{Profile: main.Token, URI: main.uri}, By: by, At: h.opts.Now().UTC()}
	if b.Sub != "" && b.Sub != b.Main {
		sub, ok := pick(b.Sub)
		if !ok || sub.Encoding == "" {
			return addReply{}, fmt.Errorf("the camera has no video profile %q for the sub stream; probe it again", b.Sub)
		}
		f.Sub = streamChoice{Profile: sub.Token, URI: sub.uri}
		if _, err := f.streamURL(sub.uri); err != nil {
			return addReply{}, fmt.Errorf("the camera gave a sub stream URI the hub cannot decode (%v): choose no sub stream", err)
		}
	}
	cam, err := f.camera()
	if err != nil {
		return addReply{}, fmt.Errorf("the camera gave a stream URI the hub cannot record: %v", err)
	}
	raw, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return addReply{}, err
	}
	dir := filepath.Join(h.cfg.Data, addedDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return addReply{}, fmt.Errorf("the hub could not store the camera: %w", err)
	}
	path := filepath.Join(dir, f.Name+".json")
	if err := writeFileAtomic(path, raw); err != nil {
		return addReply{}, fmt.Errorf("the hub could not store the camera: %w", err)
	}
	if err := h.startCamera(cam); err != nil {
		os.Remove(path)
		return addReply{}, fmt.Errorf("the hub could not start recording the camera: %w", err)
	}
	// Detection that cannot start leaves the camera recorded.
	if err := h.startCameraDetection(cam); err != nil {
		h.log.Warn("camera added from the web app records without detection", "camera", f.Name, "err", err)
	}
	h.added.mu.Lock()
	h.added.cams = append(h.added.cams, f)
	h.added.mu.Unlock()
	if h.live != nil {
		h.live.CamerasChanged()
	}
	h.log.Info("camera added from the web app; recording", "camera", f.Name, "by", by)
	return addReply{Camera: f.Name}, nil
}

// removeBody is a remove's request.
type removeBody struct {
	Name string `json:"name"`
}

// removeCamera stops recording a camera added from the web app and forgets
// it (its account with it); its recordings stay until retention removes
// them. Live sessions watching it end.
func (h *Hub) removeCamera(b removeBody, req live.CamerasRequest) (addReply, error) {
	h.added.write.Lock()
	defer h.added.write.Unlock()
	h.added.mu.Lock()
	i := slices.IndexFunc(h.added.cams, func(f addedFile) bool { return f.Name == b.Name })
	h.added.mu.Unlock()
	if i < 0 {
		if _, ok := h.camera(b.Name); ok {
			return addReply{}, fmt.Errorf("camera %q is in the hub's config file: remove it there", b.Name)
		}
		return addReply{}, fmt.Errorf("the hub has no camera %q added from the web app", b.Name)
	}
	if err := os.Remove(filepath.Join(h.cfg.Data, addedDir, b.Name+".json")); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return addReply{}, fmt.Errorf("the hub could not remove the camera: %w", err)
	}
	h.added.mu.Lock()
	h.added.cams = slices.DeleteFunc(h.added.cams, func(f addedFile) bool { return f.Name == b.Name })
	h.added.mu.Unlock()
	h.stopCameraDetection(b.Name)
	h.stopCamera(b.Name)
	if h.live != nil {
		h.live.EndCamera(b.Name, req.Session)
		h.live.CamerasChanged()
	}
	h.log.Info("camera removed from the web app; its recordings stay", "camera", b.Name, "by", req.Device)
	return addReply{Camera: b.Name}, nil
}
