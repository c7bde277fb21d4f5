package witness

import (
	"context"
	"fmt"
	"testing"

	"golang.org/x/mod/sumdb/note"

	vtlog "vigil/internal/tlog"
	"vigil/internal/vigiltest"
)

// TestWitnessesCosignTheLog runs Vigil's log sequencer with two real
// witnesses over HTTP: every checkpoint it publishes satisfies a 2-of-2
// policy, also after the witnesses and then the log restart.
func TestWitnessesCosignTheLog(t *testing.T) {
	ctx := context.Background()
	const origin = "vigil.test/tlog"
	skey, vkey, err := vtlog.GenerateKey(origin)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	logs := map[string]string{origin: vkey}
	dirs := []string{t.TempDir(), t.TempDir()}
	names := []string{"witness.test/w1", "witness.test/w2"}
	startAll := func() []*testWitness {
		return []*testWitness{
			startNamedWitness(t, dirs[0], names[0], logs),
			startNamedWitness(t, dirs[1], names[1], logs),
		}
	}
	ws := startAll()
	policy, err := vtlog.NewPolicy(vkey, []string{ws[0].VerifierKey(), ws[1].VerifierKey()}, 2)
	if err != nil {
		t.Fatal(err)
	}
	storage := vtlog.NewMemoryStorage()
	openLog := func(ws []*testWitness) *vtlog.Log {
		var clients []vtlog.Witness
		for _, w := range ws {
			clients = append(clients, clientFor(t, w.url, w.VerifierKey()))
		}
		l, err := vtlog.Open(ctx, vtlog.Config{Origin: origin, Signer: signer, Storage: storage,
			Witnesses: clients, Logger: vigiltest.Logger(t)})
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	log := openLog(ws)
	appendAndCheck := func(log *vtlog.Log, batch int) {
		t.Helper()
		entries := make([][]byte, batch)
		for i := range entries {
			entries[i] = fmt.Appendf(nil, "entry %d/%d", log.Size(), i)
		}
		if _, err := log.Append(ctx, entries); err != nil {
			t.Fatal(err)
		}
		cp, err := policy.Verify(log.Checkpoint())
		if err != nil {
			t.Fatalf("checkpoint of size %d: %v", log.Size(), err)
		}
		for _, w := range ws {
			ls := w.logs[origin]
			ls.mu.Lock()
			n := ls.held.checkpoint.N
			ls.mu.Unlock()
			if n != cp.N {
				t.Fatalf("witness %s holds size %d, the log published %d", w.signer.Name(), n, cp.N)
			}
		}
	}
	for _, batch := range []int{1, 7, 300, 2} {
		appendAndCheck(log, batch)
	}
	// The witnesses restart; the log goes on.
	for _, w := range ws {
		w.stop()
	}
	ws = startAll()
	log.Close()
	log = openLog(ws)
	appendAndCheck(log, 40)
	// The log restarts: it no longer knows what the witnesses hold, and
	// learns it from their 409 answers.
	log.Close()
	log = openLog(ws)
	appendAndCheck(log, 5)
	log.Close()
}
