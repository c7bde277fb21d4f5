package cloud_test

import (
	"net/http"
	"testing"
)

// TestUploadProbeAnswered: the hub's uploader, backed off after the cloud
// gave no answer, probes with an unsigned, empty HEAD of the upload URL and
// resumes on any answer below 500 (internal/upload). The cloud answers it
// from its own routing, without a store or a signature, and below 500.
func TestUploadProbeAnswered(t *testing.T) {
	e := newEnv(t)
	resp, err := http.Head(e.url + "/v1/objects")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode >= 500 {
		t.Errorf("HEAD /v1/objects = %d, want an answer below 500", resp.StatusCode)
	}
	t.Logf("HEAD /v1/objects = %d", resp.StatusCode)
}
