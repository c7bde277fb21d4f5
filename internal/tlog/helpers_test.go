package tlog_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
	sumtlog "golang.org/x/mod/sumdb/tlog"

	"vigil/internal/tlog"
	"vigil/internal/tlog/tlogtest"
	"vigil/internal/vigiltest"
)

func bytesReader(s string) io.Reader { return strings.NewReader(s) }

const origin = "vigil.test/tlog"

// testLog is a log with its keys, storage and witnesses.
type testLog struct {
	*tlog.Log
	st        tlog.Storage
	skey      string
	vkey      string
	signer    note.Signer
	witnesses []*tlogtest.Witness
}

func newKeys(t testing.TB) (string, string, note.Signer) {
	t.Helper()
	skey, vkey, err := tlog.GenerateKey(origin)
	if err != nil {
		t.Fatal(err)
	}
	s, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	return skey, vkey, s
}

// openLog opens a log over st with nw test witnesses.
func openLog(t testing.TB, st tlog.Storage, nw int) *testLog {
	t.Helper()
	skey, vkey, s := newKeys(t)
	tl := &testLog{st: st, skey: skey, vkey: vkey, signer: s}
	for i := range nw {
		tl.witnesses = append(tl.witnesses, tlogtest.NewWitness(t, fmt.Sprintf("witness%d.test", i), vkey))
	}
	tl.reopen(t)
	return tl
}

func (tl *testLog) config(t testing.TB) tlog.Config {
	var ws []tlog.Witness
	for _, w := range tl.witnesses {
		ws = append(ws, w)
	}
	return tlog.Config{Origin: origin, Signer: tl.signer, Storage: tl.st, Witnesses: ws,
		WitnessTimeout: 10 * time.Second, Logger: vigiltest.Logger(t)}
}

func (tl *testLog) reopen(t testing.TB) {
	t.Helper()
	l, err := tlog.Open(context.Background(), tl.config(t))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { l.Close() })
	tl.Log = l
}

func (tl *testLog) policy(t testing.TB, quorum int) tlog.Policy {
	t.Helper()
	var keys []string
	for _, w := range tl.witnesses {
		keys = append(keys, w.VKey())
	}
	p, err := tlog.NewPolicy(tl.vkey, keys, quorum)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// entry is the deterministic test entry i (1 to a few hundred bytes).
func entry(i int64) []byte {
	return []byte(fmt.Sprintf("entry %d %s", i, strings.Repeat("x", int(i%300))))
}

func entries(from, n int64) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = entry(from + int64(i))
	}
	return out
}

func (tl *testLog) append(t testing.TB, es [][]byte) int64 {
	t.Helper()
	start, err := tl.Append(context.Background(), es)
	if err != nil {
		t.Fatalf("Append(%d entries): %v", len(es), err)
	}
	return start
}

// verifyAll checks with a fresh client that the log's checkpoint verifies
// and that the entries are want(i), proven included: all of them in a
// log of up to 3000, else the first and last 600 and every 97th between.
// (rootOf checks all of them at once, where the test knows them all.)
func verifyAll(t *testing.T, st tlog.Storage, p tlog.Policy, want func(int64) []byte) tlog.Checkpoint {
	t.Helper()
	return verifyFrom(t, st, p, 0, want)
}

// verifyFrom is verifyAll from entry from on.
func verifyFrom(t *testing.T, st tlog.Storage, p tlog.Policy, from int64, want func(int64) []byte) tlog.Checkpoint {
	t.Helper()
	ctx := context.Background()
	c, err := tlog.NewClient(p, tlog.StorageFetcher{Storage: st}, nil)
	if err != nil {
		t.Fatal(err)
	}
	cp, err := c.Update(ctx)
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	for i := from; i < cp.N; i++ {
		if cp.N > 3000 && i >= 600 && i < cp.N-600 && i%97 != 0 {
			continue
		}
		got, err := c.Entry(ctx, i)
		if err != nil {
			t.Fatalf("Entry(%d) of %d: %v", i, cp.N, err)
		}
		if !bytes.Equal(got, want(i)) {
			t.Fatalf("Entry(%d) = %q, want %q", i, got, want(i))
		}
	}
	return cp
}

// rootOf is the RFC 6962 root of entries, computed independently of the
// log's code (the textbook recursion).
func rootOf(entries [][]byte) sumtlog.Hash {
	if len(entries) == 0 {
		return sumtlog.Hash(sha256.Sum256(nil))
	}
	if len(entries) == 1 {
		return sumtlog.RecordHash(entries[0])
	}
	k := 1
	for k*2 < len(entries) {
		k *= 2
	}
	return sumtlog.NodeHash(rootOf(entries[:k]), rootOf(entries[k:]))
}
