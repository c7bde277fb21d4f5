package hubd

import (
	"os"
	"strings"
	"testing"

	"vigil/internal/config"
)

// TestMQTTClientID: the hub's client ID at the broker is the configured
// one, or "vigil-hub-" and the host's name (kept to characters brokers
// take), so two hubs on one broker do not take each other's session.
func TestMQTTClientID(t *testing.T) {
	if got := mqttClientID(&config.MQTT{ClientID: "garage-hub"}); got != "garage-hub" {
		t.Errorf("configured: %q", got)
	}
	got := mqttClientID(&config.MQTT{})
	host, _ := os.Hostname()
	if !strings.HasPrefix(got, "vigil-hub") || len(got) > len("vigil-hub-")+40 ||
		strings.ContainsFunc(got, func(r rune) bool { return r <= ' ' || r > '~' }) {
		t.Errorf("default %q", got)
	}
	if host != "" && got == "vigil-hub" {
		t.Errorf("default %q does not name the host %q", got, host)
	}
}
