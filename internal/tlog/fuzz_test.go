package tlog_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"strconv"
	"strings"
	"testing"

	"filippo.io/torchwood"
	"golang.org/x/mod/sumdb/note"
	sumtlog "golang.org/x/mod/sumdb/tlog"

	"vigil/internal/tlog"
)

// FuzzPolicyVerify: any note is refused with an error or accepted only
// when its body is one the log signed; nothing panics.
func FuzzPolicyVerify(f *testing.F) {
	st := tlog.NewMemoryStorage()
	tl := openLog(f, st, 2)
	signed := map[string]bool{}
	add := func(msg []byte) {
		n, err := note.Open(msg, note.VerifierList(tl.policy(f, 0).Log))
		if err != nil {
			f.Fatal(err)
		}
		signed[n.Text] = true
		f.Add(msg)
	}
	add(tl.Checkpoint())
	tl.append(f, entries(0, 10))
	add(tl.Checkpoint())
	tl.append(f, entries(10, 300))
	msg := tl.Checkpoint()
	add(msg)
	body, sigs, _ := strings.Cut(string(msg), "\n\n")
	lines := strings.SplitAfter(sigs, "\n")
	f.Add([]byte(body + "\n\n" + lines[0] + lines[1] + lines[1]))
	f.Add([]byte(body + "\n\n" + lines[2] + lines[1]))
	f.Add([]byte(strings.Replace(string(msg), "310", "311", 1)))
	f.Add([]byte(body + "\n"))
	f.Add([]byte("vigil.test/tlog\n1\nAAAA\n\n— vigil.test/tlog AAAAAAA=\n"))
	p := tl.policy(f, 1)
	f.Fuzz(func(t *testing.T, msg []byte) {
		cp, err := p.Verify(msg)
		if err != nil {
			return
		}
		n, err := note.Open(msg, note.VerifierList(p.Log))
		if err != nil {
			t.Fatalf("Verify accepted a note the log key does not open: %v", err)
		}
		if !signed[n.Text] {
			t.Fatalf("Verify accepted a body the log never signed: %q", n.Text)
		}
		if cp.Origin != origin || !bytes.Equal(cp.Note, msg) || !strings.Contains(n.Text, "\n"+itoa(cp.N)+"\n") {
			t.Fatalf("Verify returned %+v for %q", cp, n.Text)
		}
	})
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// FuzzEntryBundle: parsing a bundle never panics, and what it accepts
// encodes back to exactly the bundle.
func FuzzEntryBundle(f *testing.F) {
	f.Add([]byte{0, 1, 'a'}, 1)
	f.Add([]byte{0, 1, 'a', 0, 2, 'b', 'c'}, 2)
	f.Add([]byte{0, 1, 'a', 0, 2, 'b', 'c'}, 1)
	f.Add([]byte{0, 0}, 1)
	f.Add([]byte{0xff, 0xff, 1}, 1)
	f.Add([]byte{0, 5, 'a'}, 1)
	f.Add([]byte{}, 0)
	f.Add([]byte{0, 1, 'a', 0}, 1)
	f.Fuzz(func(t *testing.T, data []byte, count int) {
		es, err := tlog.ParseEntryBundle(data, count)
		if err == nil {
			if len(es) != count {
				t.Fatalf("%d entries for count %d", len(es), count)
			}
			var again []byte
			for _, e := range es {
				if len(e) == 0 {
					t.Fatal("an empty entry was accepted")
				}
				again = binary.BigEndian.AppendUint16(again, uint16(len(e)))
				again = append(again, e...)
			}
			if !bytes.Equal(again, data) {
				t.Fatalf("accepted bundle does not encode back")
			}
		}
		if count >= 1 && count <= 256 {
			cut, err := tlog.TruncateTile(sumtlog.Tile{H: 8, L: -1, W: count}, data)
			if err == nil {
				if _, err := tlog.ParseEntryBundle(cut, count); err != nil {
					t.Fatalf("a truncated bundle does not parse: %v", err)
				}
			}
		}
	})
}

// FuzzTilePath: a path is accepted only in its canonical form.
func FuzzTilePath(f *testing.F) {
	for _, p := range []string{"tile/0/000", "tile/0/x001/234.p/5", "tile/entries/000.p/255", "tile/63/x999/x999/x999/x999/x999/x999/999",
		"tile/data/000", "tile/0/000.p/256", "tile/0/000.p/0", "tile/-1/000", "tile/0/x000/001", "tile/0/1234", "tile/entries/x-01/000"} {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, p string) {
		tile, err := tlog.ParseTilePath(p)
		// torchwood (the reference for C2SP paths) agrees on every
		// canonical path of height 8.
		if tw, twErr := torchwood.ParseTilePath(p); twErr == nil && tw.H == 8 && tw.L <= 63 && torchwood.TilePath(tw) == p {
			if err != nil || tw != tile {
				t.Fatalf("ParseTilePath(%q) = %+v, %v; torchwood: %+v", p, tile, err, tw)
			}
		}
		if err != nil {
			return
		}
		if tlog.TilePath(tile) != p {
			t.Fatalf("ParseTilePath(%q) = %+v, whose path is %q", p, tile, tlog.TilePath(tile))
		}
		if tile.H != 8 || tile.L < -1 || tile.N < 0 || tile.W < 1 || tile.W > 256 {
			t.Fatalf("ParseTilePath(%q) = %+v", p, tile)
		}
	})
}

// fuzzFetcher serves a real log with its tiles changed by the fuzzer's
// program: each 4-byte instruction (tile number, operation, position,
// value) edits one of the tiles read, in order.
type fuzzFetcher struct {
	tlog.Fetcher
	prog []byte
	n    int
}

func (f *fuzzFetcher) ReadTiles(ctx context.Context, tiles []sumtlog.Tile) ([][]byte, error) {
	data, err := f.Fetcher.ReadTiles(ctx, tiles)
	if err != nil {
		return nil, err
	}
	for i := range data {
		for j := 0; j+4 <= len(f.prog); j += 4 {
			if int(f.prog[j]) != f.n%256 {
				continue
			}
			op, pos, val := f.prog[j+1], int(f.prog[j+2])<<4, f.prog[j+3]
			d := data[i]
			switch op % 6 {
			case 0:
				if len(d) > 0 {
					d[pos%len(d)] ^= val | 1
				}
			case 1:
				d = d[:pos%(len(d)+1)]
			case 2:
				d = append(d, bytes.Repeat([]byte{val}, int(val))...)
			case 3:
				d = nil
			case 4:
				if len(d) > 0 {
					d[pos%len(d)] = val
				}
			case 5:
				d = bytes.Repeat([]byte{val}, len(d))
			}
			data[i] = d
		}
		f.n++
	}
	if len(f.prog)%4 == 1 && len(data) > 0 {
		data = data[:len(data)-1] // a short answer
	}
	return data, nil
}

// FuzzClient: a client over a fetcher that returns fuzzed tiles fails or
// gives the true answer; it never accepts a wrong one and never panics.
func FuzzClient(f *testing.F) {
	st := tlog.NewMemoryStorage()
	tl := openLog(f, st, 0)
	es := entries(0, 700)
	tl.append(f, es[:300])
	oldNote := tl.Checkpoint()
	tl.append(f, es[300:])
	p := tl.policy(f, 0)
	newCP, err := p.Verify(tl.Checkpoint())
	if err != nil {
		f.Fatal(err)
	}
	f.Add([]byte{})
	f.Add([]byte{0, 0, 0, 1})
	f.Add([]byte{0, 1, 3, 0, 1, 2, 0, 7})
	f.Add([]byte{2, 3, 0, 0})
	f.Add([]byte{1, 5, 0, 0xff, 0})
	f.Add([]byte{0, 4, 1, 2, 1, 4, 1, 2, 2, 4, 1, 2, 3, 4, 1, 2})
	f.Fuzz(func(t *testing.T, prog []byte) {
		ctx := context.Background()
		c, err := tlog.NewClient(p, &fuzzFetcher{Fetcher: tlog.StorageFetcher{Storage: st}, prog: prog}, oldNote)
		if err != nil {
			t.Fatal(err)
		}
		cp, err := c.Update(ctx)
		if err == nil && cp.Hash != newCP.Hash {
			t.Fatal("Update accepted a wrong checkpoint")
		}
		for _, i := range []int64{0, 299, 300, 699} {
			got, err := c.Entry(ctx, i)
			if err == nil && !bytes.Equal(got, es[i]) {
				t.Fatalf("Entry(%d) accepted %q", i, got)
			}
			if c.ProveEntry(ctx, i, es[(i+1)%700]) == nil {
				t.Fatalf("ProveEntry(%d) accepted another entry", i)
			}
		}
		for _, n := range []int64{1, 256, 299, 300, c.Latest().N} {
			h, err := c.TreeHash(ctx, n)
			if err == nil && h != rootOf(es[:n]) {
				t.Fatalf("TreeHash(%d) accepted a wrong root", n)
			}
		}
	})
}
