// Package httpdet is a detect.Detector that asks a detection server on the
// household's network: the DeepStack / CodeProject.AI Server object
// detection API, for a hub that has a GPU box next to it.
//
// One Detect is one request:
//
//	POST {URL}/v1/vision/detection   multipart/form-data
//	  image           the frame as a JPEG
//	  min_confidence  Config.MinScore (when set)
//	  api_key         Config.APIKey (when set)
//
// answered by
//
//	{"success": true, "predictions": [{"label": "person", "confidence": 0.91,
//	  "x_min": 10, "y_min": 20, "x_max": 110, "y_max": 220}, ...]}
//
// The package owns the request and the parsing of the answer, which it
// treats as hostile: the body is read up to MaxBody bytes, scores must be
// in [0, 1], boxes are clipped to the image and dropped when empty or not
// finite, at most MaxPredictions are kept (the highest scores), and labels
// are kept only when they are short printable strings. Errors name the
// server (its URL without credentials) and what was wrong.
//
// The frame leaves the hub only to Config.URL, which the household chose;
// redirects are not followed by the default client, so the image cannot be
// sent elsewhere, and it connects with Config.Dial (the hub's reaches only
// the household's networks unless the household allowed a remote https
// server: config's detection.detector_allow_remote). The package never logs and never writes the frame, the
// JPEG or the answer anywhere.
package httpdet

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"vigil/internal/detect"
)

// Bounds on what a server may answer.
const (
	// MaxBody is the largest response body read, in bytes.
	MaxBody = 1 << 20
	// MaxPredictions is how many predictions one answer may yield; the
	// highest scores are kept.
	MaxPredictions = 300
	// MaxLabel is the longest label accepted, in bytes.
	MaxLabel = detect.MaxLabel
)

// Path is the detection endpoint, relative to Config.URL.
const Path = "/v1/vision/detection"

// Defaults for zero Config fields.
const (
	DefaultTimeout   = 10 * time.Second
	DefaultInputSize = 640
	jpegQuality      = 85
)

// ErrResponse wraps every error about what a server answered (as opposed
// to not reaching it).
var ErrResponse = errors.New("bad detector response")

// Config configures a Detector.
type Config struct {
	// URL is the server's base URL, e.g. "http://192.168.1.20:32168";
	// Path is appended. Only http and https are accepted.
	URL string
	// APIKey, when set, is sent as the form field "api_key" (DeepStack's
	// API-KEY). It never appears in an error.
	APIKey string
	// MinScore is sent as "min_confidence" when positive and also applied
	// to the answer, in [0, 1).
	MinScore float64
	// Timeout bounds one request, on top of the caller's ctx; default
	// DefaultTimeout.
	Timeout time.Duration
	// InputSize is the square side the pipeline should crop regions to;
	// default DefaultInputSize.
	InputSize int
	// Labels is what the server's model reports; default COCO's 80 classes
	// (DeepStack's and CodeProject.AI's default model).
	Labels []string
	// Client sends the requests; default a client that follows no
	// redirects, uses no proxy from the environment and connects with
	// Dial.
	Client *http.Client
	// Dial makes the default client's connections; nil means a
	// net.Dialer's. The hub gives one that reaches only the household's
	// networks (internal/netguard).
	Dial func(ctx context.Context, network, address string) (net.Conn, error)
}

// Detector sends frames to a detection server. It is safe for concurrent
// use.
type Detector struct {
	endpoint string // full URL of the detection endpoint
	name     string // endpoint without credentials, for errors
	cfg      Config
	own      bool // the client is ours (Close closes its idle connections)
}

// New validates c and returns a Detector. It does not contact the server.
func New(c Config) (*Detector, error) {
	u, err := url.Parse(strings.TrimRight(c.URL, "/"))
	if err != nil {
		return nil, fmt.Errorf("httpdet: url: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("httpdet: url %q: want http://host[:port] or https://host[:port]", u.Redacted())
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("httpdet: url %q: no query or fragment allowed", u.Redacted())
	}
	if !(c.MinScore >= 0 && c.MinScore < 1) {
		return nil, fmt.Errorf("httpdet: min score %v: want 0 <= score < 1", c.MinScore)
	}
	if c.Timeout < 0 {
		return nil, fmt.Errorf("httpdet: timeout %v is negative", c.Timeout)
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.InputSize < 0 || c.InputSize > 4096 {
		return nil, fmt.Errorf("httpdet: input size %d: want 0 (default %d) to 4096", c.InputSize, DefaultInputSize)
	}
	if c.InputSize == 0 {
		c.InputSize = DefaultInputSize
	}
	if c.Labels == nil {
		c.Labels = detect.COCOLabels[:]
	}
	c.Labels = slices.Clone(c.Labels)
	d := &Detector{cfg: c}
	if c.Client == nil {
		dial := c.Dial
		if dial == nil {
			dial = (&net.Dialer{Timeout: c.Timeout}).DialContext
		}
		d.cfg.Client = &http.Client{
			Transport: &http.Transport{DialContext: dial, ForceAttemptHTTP2: true, TLSHandshakeTimeout: c.Timeout,
				MaxIdleConnsPerHost: 4, IdleConnTimeout: 90 * time.Second},
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
		d.own = true
	}
	u.Path += Path
	d.endpoint = u.String()
	d.name = u.Redacted()
	return d, nil
}

// InputSize implements detect.Detector.
func (d *Detector) InputSize() int { return d.cfg.InputSize }

// Labels implements detect.Detector.
func (d *Detector) Labels() []string { return slices.Clone(d.cfg.Labels) }

// Close implements detect.Detector.
func (d *Detector) Close() error {
	if d.own {
		d.cfg.Client.CloseIdleConnections()
	}
	return nil
}

// Detect implements detect.Detector: it sends img as a JPEG and returns
// the server's predictions, boxes in img's pixels.
func (d *Detector) Detect(ctx context.Context, img *detect.RGB) ([]detect.Detection, error) {
	if img == nil || img.W <= 0 || img.H <= 0 || img.W*img.H > detect.MaxPixels || len(img.Pix) != img.W*img.H*3 {
		return nil, fmt.Errorf("httpdet: %w", detect.ErrFrameSize)
	}
	body, ctype, err := d.form(img)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, d.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.endpoint, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("httpdet: %s: %w", d.name, err)
	}
	req.Header.Set("Content-Type", ctype)
	req.Header.Set("Accept", "application/json")
	resp, err := d.cfg.Client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // its message repeats the URL, credentials included
		}
		return nil, fmt.Errorf("httpdet: detector at %s: %w", d.name, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return nil, fmt.Errorf("httpdet: detector at %s answered %s: %q: %w", d.name, resp.Status, printable(msg, 200), ErrResponse)
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, MaxBody+1))
	if err != nil {
		return nil, fmt.Errorf("httpdet: detector at %s: reading the answer: %w", d.name, err)
	}
	if len(raw) > MaxBody {
		return nil, fmt.Errorf("httpdet: detector at %s answered more than %d bytes: %w", d.name, MaxBody, ErrResponse)
	}
	ds, err := parse(raw, img.W, img.H, d.cfg.MinScore)
	if err != nil {
		return nil, fmt.Errorf("httpdet: detector at %s: %w", d.name, err)
	}
	return ds, nil
}

// form encodes the multipart request body.
func (d *Detector) form(img *detect.RGB) ([]byte, string, error) {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	fw, err := mw.CreateFormFile("image", "frame.jpg")
	if err != nil {
		return nil, "", err
	}
	if err := EncodeJPEG(fw, img); err != nil {
		return nil, "", fmt.Errorf("httpdet: encoding the frame: %w", err)
	}
	if d.cfg.MinScore > 0 {
		if err := mw.WriteField("min_confidence", strconv.FormatFloat(d.cfg.MinScore, 'f', -1, 64)); err != nil {
			return nil, "", err
		}
	}
	if d.cfg.APIKey != "" {
		if err := mw.WriteField("api_key", d.cfg.APIKey); err != nil {
			return nil, "", err
		}
	}
	if err := mw.Close(); err != nil {
		return nil, "", err
	}
	return buf.Bytes(), mw.FormDataContentType(), nil
}

// EncodeJPEG writes img as the JPEG sent to the server.
func EncodeJPEG(w io.Writer, img *detect.RGB) error { return detect.EncodeJPEG(w, img, jpegQuality) }

// answer is the part of the server's JSON that is used.
type answer struct {
	Success     *bool        `json:"success"`
	Error       string       `json:"error"`
	Predictions []prediction `json:"predictions"`
}

type prediction struct {
	Label      string  `json:"label"`
	Confidence float64 `json:"confidence"`
	XMin       float64 `json:"x_min"`
	YMin       float64 `json:"y_min"`
	XMax       float64 `json:"x_max"`
	YMax       float64 `json:"y_max"`
}

// parse checks an answer for a w x h image and returns its detections with
// a score of at least minScore.
func parse(raw []byte, w, h int, minScore float64) ([]detect.Detection, error) {
	if len(raw) > MaxBody {
		return nil, fmt.Errorf("answer of %d bytes: %w", len(raw), ErrResponse)
	}
	var a answer
	if err := json.Unmarshal(raw, &a); err != nil {
		return nil, fmt.Errorf("answer is not the detection JSON (%v): %w", err, ErrResponse)
	}
	if a.Success == nil {
		return nil, fmt.Errorf("answer has no \"success\": %w", ErrResponse)
	}
	if !*a.Success {
		return nil, fmt.Errorf("detection failed: %q: %w", printable([]byte(a.Error), 200), ErrResponse)
	}
	W, H := float64(w), float64(h)
	var ds []detect.Detection
	for _, p := range a.Predictions {
		if !(p.Confidence >= minScore && p.Confidence <= 1) || !detect.ValidLabel(p.Label) {
			continue
		}
		if b, ok := detect.Corners(p.XMin, p.YMin, p.XMax, p.YMax, W, H); ok {
			ds = append(ds, detect.Detection{Label: p.Label, Score: p.Confidence, Box: b})
		}
	}
	return detect.Strongest(ds, MaxPredictions), nil
}

// printable returns up to n bytes of b for an error message, with
// anything unprintable replaced.
func printable(b []byte, n int) string {
	var sb strings.Builder
	for _, r := range string(b) {
		if sb.Len() >= n {
			sb.WriteString("...")
			break
		}
		if r == utf8.RuneError || !unicode.IsPrint(r) {
			r = '?'
		}
		sb.WriteRune(r)
	}
	return sb.String()
}
