package tlog_test

import (
	"bytes"
	"testing"

	"filippo.io/torchwood"
	sumtlog "golang.org/x/mod/sumdb/tlog"

	"vigil/internal/tlog"
)

// The paths and bundles agree with torchwood, the reference used by the
// C2SP logs and witnesses.
func TestPathsMatchTorchwood(t *testing.T) {
	for _, L := range []int{-1, 0, 1, 2, 5} {
		for _, n := range []int64{0, 1, 999, 1000, 1234, 999999, 1000000, 123456789012} {
			for _, w := range []int{1, 7, 255, 256} {
				tile := sumtlog.Tile{H: 8, L: L, N: n, W: w}
				p := tlog.TilePath(tile)
				if want := torchwood.TilePath(tile); p != want {
					t.Fatalf("TilePath(%+v) = %q, torchwood %q", tile, p, want)
				}
				back, err := tlog.ParseTilePath(p)
				if err != nil || back != tile {
					t.Fatalf("ParseTilePath(%q) = %+v, %v", p, back, err)
				}
			}
		}
	}
	var bundle []byte
	var want [][]byte
	for i := range 5 {
		e := bytes.Repeat([]byte{byte(i)}, i*100+1)
		want = append(want, e)
		var err error
		if bundle, err = torchwood.AppendTileEntry(bundle, e); err != nil {
			t.Fatal(err)
		}
	}
	got, err := tlog.ParseEntryBundle(bundle, 5)
	if err != nil {
		t.Fatal(err)
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("entry %d differs", i)
		}
	}
}
