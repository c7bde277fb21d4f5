package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"vigil/internal/cloudtest"
	"vigil/internal/pgtest"
)

// envOutage names the environment variable that sets how long each backing
// service stays down in TestScaledBackendOutage (a Go duration).
const envOutage = "VIGIL_TEST_OUTAGE"

// outageFor is how long each backing service stays down: 15 s unless
// $VIGIL_TEST_OUTAGE says otherwise (the 30 s doubles the test's
// time for no other path through the code: the hub retries every second
// either way).
func outageFor(t *testing.T) time.Duration {
	d := 15 * time.Second
	if s := os.Getenv(envOutage); s != "" {
		var err error
		if d, err = time.ParseDuration(s); err != nil || d <= 0 {
			t.Fatalf("%s=%q: want a duration such as 30s", envOutage, s)
		}
	}
	return d
}

// TestScaledBackendOutage: a scaled cloud (3 replicas on a private
// PostgreSQL server, S3 and a private NATS server) while a hub uploads a
// segment a second: PostgreSQL is stopped (a fast shutdown, every session
// cut) for a while and started again, then NATS. While a service is down
// the cloud answers 503 (with Retry-After) where it needs it, never 500 or
// any other failure, and no replica dies; once it is back the hub's queue
// drains by itself, and every segment the hub recorded reaches the cloud
// exactly once, byte for byte.
func TestScaledBackendOutage(t *testing.T) {
	down := outageFor(t)
	pg := pgtest.Private(t)
	c := cloudtest.Start(t, cloudtest.Scaled{Replicas: 3, Postgres: pg})
	if c.NATSServer == nil {
		t.Fatal("the scaled cloud has no private NATS server to stop")
	}
	hh := newHousehold(t, &cloudEnv{url: c.URL}, householdOptions{SegmentDuration: time.Second})
	n := len(hh.waitSegments(t, hh.Camera, 2, 2*time.Minute))

	outage := func(name string, stop, start func()) {
		from := len(c.Proxy.Faults())
		served := c.Proxy.Served()
		stop()
		// A member lists the footage every half second while the service
		// is down: each answer comes within 5 s (no hang), 200 or 503.
		probes := map[int]int{}
		var slowest time.Duration
		for end := time.Now().Add(down); time.Now().Before(end); time.Sleep(500 * time.Millisecond) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			t0 := time.Now()
			status, body, err := hh.Owner.API.Raw(ctx, "GET", "/v1/households/"+hh.ID+"/objects", nil)
			cancel()
			slowest = max(slowest, time.Since(t0))
			if err != nil {
				t.Errorf("%s down: listing: %v (after %v)", name, err, time.Since(t0).Round(time.Millisecond))
				continue
			}
			probes[status]++
			if status != http.StatusOK && status != http.StatusServiceUnavailable {
				t.Errorf("%s down: listing: %d %s", name, status, body)
			}
		}
		start()
		back := time.Now()
		// Moving again: two more segments than the cloud held at the
		// restart (those queued on the hub come at once, or the next ones
		// recorded); whether every segment arrived is checked at the end.
		held := len(hh.waitSegments(t, hh.Camera, 0, time.Minute))
		n = len(hh.waitSegments(t, hh.Camera, held+2, 2*time.Minute))
		caught := time.Since(back)
		counts := map[int]int{}
		var other []string
		for _, a := range c.Proxy.Faults()[from:] {
			counts[a.Status]++
			if a.Status != http.StatusServiceUnavailable && len(other) < 10 {
				other = append(other, a.String())
			}
		}
		var st []string
		for code, k := range counts {
			st = append(st, fmt.Sprintf("%d x %d", k, code))
		}
		sort.Strings(st)
		t.Logf("%s down %v: a member's listings answered %v (slowest %v); %d requests in all, refused or failed: [%s]; after the restart the cloud held %d segments, %d more %v later",
			name, down, probes, slowest.Round(time.Millisecond), c.Proxy.Served()-served, strings.Join(st, ", "), held, n-held, caught.Round(100*time.Millisecond))
		if counts[http.StatusInternalServerError] > 0 {
			t.Errorf("%s down: %d answers 500", name, counts[http.StatusInternalServerError])
		}
		if len(other) > 0 {
			t.Errorf("%s down: answers other than 503: %s", name, strings.Join(other, "; "))
		}
		for _, r := range c.Replicas {
			if !r.Running() {
				t.Errorf("replica %d died with %s down", r.Index, name)
			}
		}
	}
	outage("PostgreSQL", func() { pg.Stop(t) }, func() { pg.Restart(t) })
	outage("NATS", c.NATSServer.Stop, c.NATSServer.Restart)
	if len(c.Proxy.Faults()) >= 1000 {
		t.Log("the proxy kept only the first 1000 faults")
	}

	if err := hh.Hub.Close(); err != nil {
		t.Fatal(err)
	}
	checkCloudHasHubSegments(t, hh)
}
