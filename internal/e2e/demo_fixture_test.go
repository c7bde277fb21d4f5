package e2e

import (
	"context"
	"testing"

	"vigil/internal/cli"
	"vigil/internal/vigiltest"
)

// startDemo starts 'vigil demo' for a browser test: on a free loopback
// port, the tests' quick Argon2 parameters, logging to t, in a temporary
// directory unless o.Data names one; it is closed when the test ends. It
// returns the demo and a sign-in link for its household.
func startDemo(t *testing.T, o cli.DemoOptions) (*cli.Demo, string) {
	t.Helper()
	ctx := context.Background()
	if o.Data == "" {
		o.Data = t.TempDir()
	}
	o.Listen, o.Argon2, o.Logger = "127.0.0.1:0", testArgon, vigiltest.Logger(t)
	d, err := cli.StartDemo(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	link, err := d.SignInURL(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return d, link
}
