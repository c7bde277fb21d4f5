package tlogbench

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// A small run measures every figure and the proofs it times verified.
func TestRunSmall(t *testing.T) {
	r, err := Run(context.Background(), Options{Entries: 300, Appenders: 8, RealSize: 3000, SimSize: 1 << 30, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	a := r.Append
	if a.Entries != 300 || a.Batches < 1 || a.Batches > 300 || a.EntriesPerSec <= 0 || a.P99 < a.P50 || a.Max < a.P99 {
		t.Errorf("append result %+v", a)
	}
	// Proof sizes follow from the tree sizes: ceil(log2) hashes or fewer.
	if r.Real.InclusionHashes < 10 || r.Real.InclusionHashes > 12 || r.Real.InclusionBytes != 32*r.Real.InclusionHashes {
		t.Errorf("inclusion proof in a tree of 3000: %d hashes", r.Real.InclusionHashes)
	}
	if r.Simulated.InclusionHashes != 30 || !r.Simulated.Simulated {
		t.Errorf("inclusion proof in a tree of 2^30: %d hashes, want 30", r.Simulated.InclusionHashes)
	}
	if r.Simulated.ConsistencyHashes < 20 || r.Simulated.ConsistencyHashes > 60 {
		t.Errorf("consistency proof in a tree of 2^30: %d hashes", r.Simulated.ConsistencyHashes)
	}
	if r.Real.ClientTiles == 0 || r.Real.ClientTileBytes == 0 || r.Real.InclusionVerify <= 0 || r.Simulated.ConsistencyVerify <= 0 {
		t.Errorf("real result %+v", r.Real)
	}
	var b bytes.Buffer
	Print(&b, r)
	for _, want := range []string{"entries/s", "p99", "inclusion proof", "consistency proof", "1073741824"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("the table lacks %q:\n%s", want, b.String())
		}
	}
}
