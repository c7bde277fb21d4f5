// Package metricstest scrapes a running component's /metrics for tests:
// it parses the text exposition with the Prometheus parser and lints the
// names against the Prometheus conventions. Test code only.
package metricstest

import (
	"bytes"
	"io"
	"net/http"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Scrape is one scrape of a /metrics page.
type Scrape struct {
	Families map[string]*dto.MetricFamily
	Body     []byte
}

// Get scrapes url (a /metrics URL) asking for the text format, fails the
// test on a transport error, a status other than 200, a page the parser
// refuses or a name promlint finds fault with, and returns the families.
func Get(t testing.TB, url string) Scrape {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "text/plain; version=0.0.4")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("scraping %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("scraping %s: %s: %s", url, resp.Status, body)
	}
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("parsing the scrape of %s: %v", url, err)
	}
	problems, err := promlint.New(bytes.NewReader(body)).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
	return Scrape{Families: fams, Body: body}
}

// Sum is the sum over every series of the counter, gauge or histogram
// (its count) name whose labels include want; ok is false when the family
// is missing or no series matches.
func (s Scrape) Sum(name string, want map[string]string) (sum float64, ok bool) {
	f := s.Families[name]
	if f == nil {
		return 0, false
	}
	for _, m := range f.Metric {
		if !hasLabels(m, want) {
			continue
		}
		ok = true
		switch {
		case m.Counter != nil:
			sum += m.Counter.GetValue()
		case m.Gauge != nil:
			sum += m.Gauge.GetValue()
		case m.Histogram != nil:
			sum += float64(m.Histogram.GetSampleCount())
		}
	}
	return sum, ok
}

func hasLabels(m *dto.Metric, want map[string]string) bool {
	n := 0
	for _, l := range m.Label {
		if v, ok := want[l.GetName()]; ok && v == l.GetValue() {
			n++
		}
	}
	return n == len(want)
}

// LabelValues returns every label value of every series in the scrape.
func (s Scrape) LabelValues() []string {
	var out []string
	for _, f := range s.Families {
		for _, m := range f.Metric {
			for _, l := range m.Label {
				out = append(out, l.GetValue())
			}
		}
	}
	return out
}
