package httpdet

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image/jpeg"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"vigil/internal/detect"
)

// gradient is a w x h test frame.
func gradient(w, h int) *detect.RGB {
	img, err := detect.NewRGB(w, h)
	if err != nil {
		panic(err)
	}
	for y := range h {
		for x := range w {
			i := (y*w + x) * 3
			img.Pix[i], img.Pix[i+1], img.Pix[i+2] = uint8(x), uint8(y), uint8(x+y)
		}
	}
	return img
}

// server implements the detection API: it checks the request like a
// DeepStack server would and answers with the predictions it is given.
type server struct {
	apiKey string
	preds  []prediction
	// What the last request carried.
	w, h    int
	minConf string
	gotKey  string
}

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != Path {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	if err := r.ParseMultipartForm(8 << 20); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	s.gotKey = r.FormValue("api_key")
	if s.apiKey != "" && s.gotKey != s.apiKey {
		w.WriteHeader(http.StatusUnauthorized)
		json.NewEncoder(w).Encode(map[string]any{"success": false, "error": "Incorrect api key"})
		return
	}
	s.minConf = r.FormValue("min_confidence")
	f, _, err := r.FormFile("image")
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	defer f.Close()
	m, err := jpeg.Decode(f)
	if err != nil {
		http.Error(w, "image: "+err.Error(), http.StatusBadRequest)
		return
	}
	s.w, s.h = m.Bounds().Dx(), m.Bounds().Dy()
	json.NewEncoder(w).Encode(map[string]any{"success": true, "predictions": s.preds, "duration": 0})
}

func TestDetectAgainstServer(t *testing.T) {
	s := &server{apiKey: "k3y", preds: []prediction{
		{Label: "person", Confidence: 0.91, XMin: 10, YMin: 20, XMax: 110, YMax: 220},
		{Label: "dog", Confidence: 0.3, XMin: 0, YMin: 0, XMax: 5, YMax: 5},
		{Label: "car", Confidence: 0.8, XMin: -50, YMin: 100, XMax: 500, YMax: 400}, // clipped
	}}
	ts := httptest.NewServer(s)
	defer ts.Close()
	d, err := New(Config{URL: ts.URL + "/", APIKey: "k3y", MinScore: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	ds, err := d.Detect(context.Background(), gradient(320, 240))
	if err != nil {
		t.Fatal(err)
	}
	if s.w != 320 || s.h != 240 {
		t.Errorf("server decoded a %dx%d JPEG, want 320x240", s.w, s.h)
	}
	if s.minConf != "0.5" || s.gotKey != "k3y" {
		t.Errorf("form: min_confidence %q api_key %q", s.minConf, s.gotKey)
	}
	want := []detect.Detection{
		{Label: "person", Score: 0.91, Box: detect.Box{X: 10, Y: 20, W: 100, H: 200}},
		{Label: "car", Score: 0.8, Box: detect.Box{X: 0, Y: 100, W: 320, H: 140}},
	}
	if fmt.Sprint(ds) != fmt.Sprint(want) {
		t.Errorf("detections %v, want %v", ds, want)
	}
	if d.InputSize() != DefaultInputSize || len(d.Labels()) != 80 {
		t.Errorf("InputSize %d, %d labels", d.InputSize(), len(d.Labels()))
	}

	// A wrong key is the server's 401, named, and the key is not in the error.
	bad, _ := New(Config{URL: ts.URL, APIKey: "wrong-secret"})
	_, err = bad.Detect(context.Background(), gradient(64, 48))
	if err == nil || !strings.Contains(err.Error(), "401") || strings.Contains(err.Error(), "wrong-secret") {
		t.Errorf("wrong key: %v", err)
	}
}

func TestNewRefusesBadConfig(t *testing.T) {
	for _, c := range []Config{
		{URL: ""},
		{URL: "ftp://host"},
		{URL: "http://"},
		{URL: "http://host/?q=1"},
		{URL: "http://host", MinScore: 1},
		{URL: "http://host", MinScore: math.NaN()},
		{URL: "http://host", Timeout: -1},
		{URL: "http://host", InputSize: 1 << 20},
	} {
		if _, err := New(c); err == nil {
			t.Errorf("New(%+v) accepted", c)
		}
	}
}

func TestDetectRefusesBadFrame(t *testing.T) {
	d, err := New(Config{URL: "http://127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	for _, img := range []*detect.RGB{nil, {W: 2, H: 2, Pix: make([]byte, 5)}, {W: 0, H: 1}} {
		if _, err := d.Detect(context.Background(), img); !errors.Is(err, detect.ErrFrameSize) {
			t.Errorf("frame %v: %v", img, err)
		}
	}
}

// TestMisbehavingServers checks that each bad answer is an error that says
// what went wrong.
func TestMisbehavingServers(t *testing.T) {
	for _, c := range []struct {
		name    string
		handler http.HandlerFunc
		want    string
	}{
		{"500", func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "CUDA out of memory", 500)
		}, "answered 500 Internal Server Error: \"CUDA out of memory"},
		{"garbage", func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte("<html>hello</html>"))
		}, "not the detection JSON"},
		{"huge", func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte(`{"success":true,"predictions":[`))
			p := []byte(`{"label":"person","confidence":0.5,"x_min":1,"y_min":1,"x_max":2,"y_max":2},`)
			for range MaxBody/len(p) + 1 {
				w.Write(p)
			}
		}, "more than 1048576 bytes"},
		{"failure", func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte(`{"success":false,"error":"model not loaded\u0007"}`))
		}, "detection failed: \"model not loaded?\""},
		{"no success", func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte(`{"predictions":[]}`))
		}, "no \"success\""},
		{"huge number", func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte(`{"success":true,"predictions":[{"label":"person","confidence":0.5,"x_min":1e400}]}`))
		}, "not the detection JSON"},
		{"redirect", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "http://127.0.0.1:1/elsewhere", http.StatusTemporaryRedirect)
		}, "answered 307"},
	} {
		t.Run(c.name, func(t *testing.T) {
			ts := httptest.NewServer(c.handler)
			defer ts.Close()
			d, err := New(Config{URL: ts.URL})
			if err != nil {
				t.Fatal(err)
			}
			_, err = d.Detect(context.Background(), gradient(64, 48))
			if err == nil || !errors.Is(err, ErrResponse) || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), ts.URL) {
				t.Errorf("error %v, want ErrResponse naming %s and %q", err, ts.URL, c.want)
			}
		})
	}
}

func TestBoxesOutOfRange(t *testing.T) {
	s := &server{preds: []prediction{
		{Label: "person", Confidence: 0.9, XMin: 700, YMin: 10, XMax: 900, YMax: 20}, // right of the image
		{Label: "person", Confidence: 0.9, XMin: 50, YMin: 50, XMax: 40, YMax: 60},   // inverted
		{Label: "person", Confidence: 0.9, XMin: -20, YMin: -20, XMax: -1, YMax: 30}, // left of it
		{Label: "person", Confidence: 1.5, XMin: 1, YMin: 1, XMax: 20, YMax: 20},     // score > 1
		{Label: "person", Confidence: -0.1, XMin: 1, YMin: 1, XMax: 20, YMax: 20},    // negative score
		{Label: "", Confidence: 0.9, XMin: 1, YMin: 1, XMax: 20, YMax: 20},
		{Label: strings.Repeat("x", MaxLabel+1), Confidence: 0.9, XMin: 1, YMin: 1, XMax: 20, YMax: 20},
		{Label: "per\x1bson", Confidence: 0.9, XMin: 1, YMin: 1, XMax: 20, YMax: 20},
		{Label: "garden gnome", Confidence: 0.7, XMin: 1, YMin: 2, XMax: 30, YMax: 40}, // unknown but fine
	}}
	ts := httptest.NewServer(s)
	defer ts.Close()
	d, _ := New(Config{URL: ts.URL})
	ds, err := d.Detect(context.Background(), gradient(100, 80))
	if err != nil {
		t.Fatal(err)
	}
	want := []detect.Detection{{Label: "garden gnome", Score: 0.7, Box: detect.Box{X: 1, Y: 2, W: 29, H: 38}}}
	if fmt.Sprint(ds) != fmt.Sprint(want) {
		t.Errorf("detections %v, want %v", ds, want)
	}
}

func TestPredictionsCapped(t *testing.T) {
	var ps []prediction
	for i := range 2 * MaxPredictions {
		ps = append(ps, prediction{Label: "car", Confidence: float64(i) / (2 * MaxPredictions), XMin: 1, YMin: 1, XMax: 9, YMax: 9})
	}
	raw, _ := json.Marshal(answer{Success: new(bool), Predictions: ps})
	raw = bytes.Replace(raw, []byte(`"success":false`), []byte(`"success":true`), 1)
	ds, err := parse(raw, 10, 10, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(ds) != MaxPredictions {
		t.Fatalf("%d detections, want %d", len(ds), MaxPredictions)
	}
	for _, d := range ds {
		if d.Score < 0.5 {
			t.Fatalf("kept score %v, want the %d highest", d.Score, MaxPredictions)
		}
	}
}

func TestSlowServerHonoursContext(t *testing.T) {
	release := make(chan struct{})
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer ts.Close()
	defer close(release)
	d, _ := New(Config{URL: ts.URL})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if _, err := d.Detect(ctx, gradient(64, 48)); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("slow server: %v, want context.DeadlineExceeded", err)
	}
	// Config.Timeout bounds a request too.
	d, _ = New(Config{URL: ts.URL, Timeout: 100 * time.Millisecond})
	if _, err := d.Detect(context.Background(), gradient(64, 48)); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("slow server with Timeout: %v, want context.DeadlineExceeded", err)
	}
}

func TestCredentialsNotInErrors(t *testing.T) {
	d, err := New(Config{URL: "http://user:pa55word@127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = d.Detect(context.Background(), gradient(8, 8))
	if err == nil || strings.Contains(err.Error(), "pa55word") {
		t.Errorf("error %v", err)
	}
}

// FuzzParse checks that no answer makes parse panic or return a detection
// outside the image, with a bad score or label, or too many.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		`{"success":true,"predictions":[{"label":"person","confidence":0.91,"x_min":10,"y_min":20,"x_max":110,"y_max":220}]}`,
		`{"success":false,"error":"x"}`,
		`{"success":true,"predictions":[{"label":"a","confidence":1,"x_min":-1e308,"y_min":0,"x_max":1e308,"y_max":5}]}`,
		`{"success":true,"predictions":null}`,
		`[]`, `null`, ``,
	} {
		f.Add([]byte(s), 100, 80)
	}
	f.Fuzz(func(t *testing.T, raw []byte, w, h int) {
		if w <= 0 || h <= 0 || w > 1<<15 || h > 1<<15 {
			return
		}
		ds, err := parse(raw, w, h, 0.2)
		if err != nil {
			if !errors.Is(err, ErrResponse) {
				t.Fatalf("error %v is not ErrResponse", err)
			}
			return
		}
		if len(ds) > MaxPredictions {
			t.Fatalf("%d detections", len(ds))
		}
		for _, d := range ds {
			b := d.Box
			if !(b.X >= 0 && b.Y >= 0 && b.W > 0 && b.H > 0 && b.X+b.W <= float64(w) && b.Y+b.H <= float64(h)) {
				t.Fatalf("box %+v outside %dx%d", b, w, h)
			}
			if !(d.Score >= 0.2 && d.Score <= 1) || !detect.ValidLabel(d.Label) {
				t.Fatalf("detection %+v", d)
			}
		}
	})
}

func BenchmarkEncodeJPEG(b *testing.B) {
	img := gradient(640, 640)
	var buf bytes.Buffer
	for b.Loop() {
		buf.Reset()
		if err := EncodeJPEG(&buf, img); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDetect is one whole round trip (JPEG, multipart, parse) of a
// 640x640 frame to a local server that decodes the JPEG.
func BenchmarkDetect(b *testing.B) {
	ts := httptest.NewServer(&server{preds: []prediction{{Label: "person", Confidence: 0.9, XMin: 1, YMin: 1, XMax: 50, YMax: 90}}})
	defer ts.Close()
	d, err := New(Config{URL: ts.URL})
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	img := gradient(640, 640)
	ctx := context.Background()
	for b.Loop() {
		if _, err := d.Detect(ctx, img); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1e3/float64(b.N), "ms/frame")
}
