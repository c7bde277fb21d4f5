package tlog_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"

	"filippo.io/torchwood"
	"golang.org/x/mod/sumdb/note"
	sumtlog "golang.org/x/mod/sumdb/tlog"

	"vigil/internal/tlog"
)

// buildLog makes a log signed by tl's key (a second history of the same
// log, as a misbehaving operator would) holding es, appended in batches of
// batch, and returns its storage.
func (tl *testLog) build(t *testing.T, es [][]byte, batch int) *tlog.MemoryStorage {
	t.Helper()
	st := tlog.NewMemoryStorage()
	cfg := tl.config(t)
	cfg.Storage, cfg.Witnesses = st, nil
	l, err := tlog.Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for len(es) > 0 {
		n := min(batch, len(es))
		if _, err := l.Append(context.Background(), es[:n]); err != nil {
			t.Fatal(err)
		}
		es = es[n:]
	}
	return st
}

// swapFetcher serves whichever storage it points at.
type swapFetcher struct{ st tlog.Storage }

func (f *swapFetcher) Checkpoint(ctx context.Context) ([]byte, error) {
	return f.st.Checkpoint(ctx)
}

func (f *swapFetcher) ReadTiles(ctx context.Context, tiles []sumtlog.Tile) ([][]byte, error) {
	return tlog.StorageFetcher{Storage: f.st}.ReadTiles(ctx, tiles)
}

// A log that rewrites, drops or reorders an entry it already published is
// caught by a client that verified a checkpoint covering it; an entry
// changed after the client's checkpoint fails its inclusion proof.
func TestClientDetectsRewrites(t *testing.T) {
	ctx := context.Background()
	tl := openLog(t, tlog.NewMemoryStorage(), 0)
	p := tl.policy(t, 0)
	orig := entries(0, 1000)
	honest := tl.build(t, orig[:600], 97)

	rewritten := append([][]byte{}, orig...)
	rewritten[300] = []byte("rewritten")
	dropped := append(append([][]byte{}, orig[:300]...), orig[301:]...)
	swapped := append([][]byte{}, orig[:600]...)
	swapped[10], swapped[11] = swapped[11], swapped[10]
	late := append([][]byte{}, orig...)
	late[800] = []byte("changed after the client's checkpoint")

	for _, tc := range []struct {
		name  string
		es    [][]byte
		check func(t *testing.T, c *tlog.Client, cp tlog.Checkpoint, err error)
	}{
		{"rewritten", rewritten, wantInconsistent},
		{"dropped", dropped, wantInconsistent},
		{"swapped", swapped, wantSplitView},
		{"reordered batches", orig[:600], nil}, // the same entries in other batches: the same tree
		{"late", late, func(t *testing.T, c *tlog.Client, cp tlog.Checkpoint, err error) {
			if err != nil {
				t.Fatalf("a log whose change is after the client's checkpoint is consistent: %v", err)
			}
			if err := c.ProveEntry(ctx, 800, orig[800]); !errors.Is(err, tlog.ErrNotIncluded) {
				t.Errorf("ProveEntry of the original entry 800: %v, want ErrNotIncluded", err)
			}
			if got, err := c.Entry(ctx, 800); err != nil || string(got) != string(late[800]) {
				t.Errorf("Entry(800) = %q, %v", got, err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &swapFetcher{st: honest}
			c, err := tlog.NewClient(p, f, nil)
			if err != nil {
				t.Fatal(err)
			}
			before, err := c.Update(ctx)
			if err != nil || before.N != 600 {
				t.Fatalf("Update: %+v, %v", before, err)
			}
			f.st = tl.build(t, tc.es, 256)
			cp, err := c.Update(ctx)
			if tc.check == nil {
				if err != nil || cp.Hash != before.Hash {
					t.Fatalf("the same entries in other batches: %v", err)
				}
				return
			}
			tc.check(t, c, cp, err)
			if err != nil && !bytes.Equal(c.Latest().Note, before.Note) {
				t.Errorf("a refused checkpoint replaced the verified one")
			}
		})
	}
}

func wantInconsistent(t *testing.T, c *tlog.Client, cp tlog.Checkpoint, err error) {
	t.Helper()
	var ie *tlog.InconsistentError
	if !errors.As(err, &ie) {
		t.Fatalf("Update: %v, want InconsistentError", err)
	}
	if ie.Old.N != 600 || ie.New.N <= 600 || len(ie.New.Note) == 0 {
		t.Errorf("InconsistentError carries %d → %d", ie.Old.N, ie.New.N)
	}
}

func wantSplitView(t *testing.T, c *tlog.Client, cp tlog.Checkpoint, err error) {
	t.Helper()
	var sv *tlog.SplitViewError
	if !errors.As(err, &sv) {
		t.Fatalf("Update: %v, want SplitViewError", err)
	}
	if sv.Old.N != sv.New.N || sv.Old.Hash == sv.New.Hash {
		t.Errorf("SplitViewError carries %+v and %+v", sv.Old, sv.New)
	}
	if err := tlog.Compare(sv.Old, sv.New); !errors.As(err, new(*tlog.SplitViewError)) {
		t.Errorf("Compare of the two: %v", err)
	}
}

func TestClientRefusesRollback(t *testing.T) {
	ctx := context.Background()
	tl := openLog(t, tlog.NewMemoryStorage(), 0)
	p := tl.policy(t, 0)
	short := tl.build(t, entries(0, 100), 100)
	long := tl.build(t, entries(0, 200), 100)
	f := &swapFetcher{st: long}
	c, err := tlog.NewClient(p, f, nil)
	if err != nil {
		t.Fatal(err)
	}
	want, err := c.Update(ctx)
	if err != nil {
		t.Fatal(err)
	}
	f.st = short
	got, err := c.Update(ctx)
	if !errors.Is(err, tlog.ErrOlder) || got.N != 200 || c.Latest().N != 200 {
		t.Fatalf("Update to an older checkpoint: %d, %v; latest %d", got.N, err, c.Latest().N)
	}
	// A client restarted from its saved checkpoint refuses it too.
	c2, err := tlog.NewClient(p, f, want.Note)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c2.Update(ctx); !errors.Is(err, tlog.ErrOlder) {
		t.Errorf("restarted client: %v, want ErrOlder", err)
	}
	// And the older one is still a prefix of the tree it verified.
	f.st = long
	old, _ := tlog.NewPolicy(tl.vkey, nil, 0)
	oldCP, err := old.Verify(mustCheckpoint(t, short))
	if err != nil {
		t.Fatal(err)
	}
	if h, err := c2.TreeHash(ctx, 100); err != nil || h != oldCP.Hash {
		t.Errorf("TreeHash(100) = %s, %v; the older checkpoint says %s", h, err, oldCP.Hash)
	}
	if _, err := tlog.NewClient(p, f, []byte("not a checkpoint")); err == nil {
		t.Errorf("NewClient with a malformed last checkpoint succeeded")
	}
}

func mustCheckpoint(t *testing.T, st tlog.Storage) []byte {
	t.Helper()
	cp, err := st.Checkpoint(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return cp
}

// A witness refuses to cosign a second history, so a client that
// requires its cosignature never sees the fork verified.
func TestWitnessStopsFork(t *testing.T) {
	ctx := context.Background()
	st := tlog.NewMemoryStorage()
	tl := openLog(t, st, 1)
	tl.append(t, entries(0, 300))
	forked := append(entries(0, 300), []byte("extra"))
	forked[5] = []byte("rewritten")
	fst := tlog.NewMemoryStorage()
	cfg := tl.config(t)
	cfg.Storage = fst
	l, err := tlog.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if _, err := l.Append(ctx, forked); err != nil {
		t.Fatal(err)
	}
	var qe *tlog.QuorumError
	if _, err := tl.policy(t, 1).Verify(l.Checkpoint()); !errors.As(err, &qe) {
		t.Errorf("the fork's checkpoint with the witness required: %v, want QuorumError", err)
	}
}

// splitSigs returns the body and the signature lines of a note.
func splitSigs(t *testing.T, msg []byte) (string, []string) {
	t.Helper()
	i := bytes.LastIndex(msg, []byte("\n\n"))
	if i < 0 {
		t.Fatalf("not a note: %q", msg)
	}
	return string(msg[:i+1]), strings.SplitAfter(strings.TrimSuffix(string(msg[i+2:]), "\n"), "\n")
}

func join(body string, sigs ...string) []byte {
	var b strings.Builder
	b.WriteString(body)
	b.WriteString("\n")
	for _, s := range sigs {
		b.WriteString(strings.TrimSuffix(s, "\n"))
		b.WriteString("\n")
	}
	return []byte(b.String())
}

func TestPolicyCosignatures(t *testing.T) {
	st := tlog.NewMemoryStorage()
	tl := openLog(t, st, 3)
	tl.append(t, entries(0, 10))
	msg := tl.Checkpoint()
	body, sigs := splitSigs(t, msg)
	if len(sigs) != 4 {
		t.Fatalf("checkpoint has %d signatures, want 4:\n%s", len(sigs), msg)
	}
	logSig, w0, w1, w2 := sigs[0], sigs[1], sigs[2], sigs[3]

	// A forged cosignature: witness 1's name and key hash, another key.
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	forger, err := torchwood.NewCosignatureSigner(tl.witnesses[1].Name(), priv)
	if err != nil {
		t.Fatal(err)
	}
	fsig, err := forger.Sign([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	realHash := tl.witnesses[1].Verifier().KeyHash()
	forged := fmt.Sprintf("— %s %s\n", tl.witnesses[1].Name(),
		base64.StdEncoding.EncodeToString(append([]byte{byte(realHash >> 24), byte(realHash >> 16), byte(realHash >> 8), byte(realHash)}, fsig...)))
	// A cosignature by a witness nobody listed.
	stranger, err := torchwood.NewCosignatureSigner("stranger.test", priv)
	if err != nil {
		t.Fatal(err)
	}
	strangerNote, err := note.Sign(&note.Note{Text: body}, stranger)
	if err != nil {
		t.Fatal(err)
	}
	_, strangerSigs := splitSigs(t, strangerNote)

	var qe *tlog.QuorumError
	for _, tc := range []struct {
		name   string
		msg    []byte
		quorum int
		want   error // nil, ErrBadSignature, ErrMalformed, or a *QuorumError
		have   int
	}{
		{"all", msg, 3, nil, 0},
		{"reordered", join(body, w2, logSig, w0, w1), 3, nil, 0},
		{"two of three", join(body, logSig, w0, w2), 2, nil, 0},
		{"too few", join(body, logSig, w0, w2), 3, qe, 2},
		{"none", join(body, logSig), 1, qe, 0},
		{"none needed", join(body, logSig), 0, nil, 0},
		{"forged", join(body, logSig, w0, forged, w2), 2, tlog.ErrBadSignature, 0},
		{"forged first, real later", join(body, logSig, w0, forged, w1, w2), 2, tlog.ErrBadSignature, 0},
		{"duplicate counted once", join(body, logSig, w0, w0, w0), 2, qe, 1},
		{"stranger ignored", join(body, logSig, w0, strangerSigs[0]), 1, nil, 0},
		{"stranger does not count", join(body, logSig, w0, strangerSigs[0]), 2, qe, 1},
		{"no log signature", join(body, w0, w1, w2), 0, tlog.ErrBadSignature, 0},
		{"log signature from another key", join(body, strings.Replace(logSig, logSig[len(logSig)-10:len(logSig)-5], "AAAAA", 1), w0, w1, w2), 0, tlog.ErrBadSignature, 0},
		{"no signatures", []byte(body + "\n"), 0, tlog.ErrMalformed, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cp, err := tl.policy(t, tc.quorum).Verify(tc.msg)
			switch want := tc.want.(type) {
			case nil:
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				if cp.N != 10 || cp.Origin != origin || !bytes.Equal(cp.Note, tc.msg) {
					t.Errorf("Verify = %+v", cp)
				}
			case *tlog.QuorumError:
				if !errors.As(err, &qe) || qe.Have != tc.have || qe.Need != tc.quorum {
					t.Errorf("Verify: %v, want QuorumError{%d, %d}", err, tc.have, tc.quorum)
				}
			default:
				if !errors.Is(err, want) {
					t.Errorf("Verify: %v, want %v", err, want)
				}
			}
		})
	}
}

func TestPolicyBody(t *testing.T) {
	_, vkey, s := newKeys(t)
	p, err := tlog.NewPolicy(vkey, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	root := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))
	empty := base64.StdEncoding.EncodeToString(func() []byte { h := rootOf(nil); return h[:] }())
	for _, tc := range []struct {
		body string
		ok   bool
	}{
		{origin + "\n5\n" + root + "\n", true},
		{origin + "\n0\n" + empty + "\n", true},
		{origin + "\n0\n" + root + "\n", false},            // size 0, not the empty root
		{origin + "\n5\n" + root + "\nextension\n", false}, // extension lines
		{"other.test/tlog\n5\n" + root + "\n", false},      // other origin
		{origin + "\n05\n" + root + "\n", false},           // not canonical
		{origin + "\n+5\n" + root + "\n", false},
		{origin + "\n-5\n" + root + "\n", false},
		{origin + "\n5\n" + root[:len(root)-1] + "\n", false},
		{origin + "\n5\n" + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 31)) + "\n", false},
		{origin + "\n281474976710657\n" + root + "\n", false}, // 2^48 + 1
		{origin + "\n5\n", false},
	} {
		msg, err := note.Sign(&note.Note{Text: tc.body}, s)
		if err != nil {
			t.Fatal(err)
		}
		_, err = p.Verify(msg)
		if tc.ok && err != nil {
			t.Errorf("Verify(%q): %v", tc.body, err)
		}
		if !tc.ok && !errors.Is(err, tlog.ErrMalformed) {
			t.Errorf("Verify(%q): %v, want ErrMalformed", tc.body, err)
		}
	}
}

func TestNewPolicy(t *testing.T) {
	_, vkey, _ := newKeys(t)
	_, otherLog, _ := newKeys(t)
	w := openLog(t, tlog.NewMemoryStorage(), 2).witnesses
	for _, tc := range []struct {
		log     string
		ws      []string
		quorum  int
		errPart string
	}{
		{vkey, []string{w[0].VKey(), w[1].VKey()}, 2, ""},
		{vkey, nil, 0, ""},
		{"nonsense", nil, 0, "log key"},
		{vkey, []string{w[0].VKey(), otherLog}, 1, "witness key 2"}, // an Ed25519 key is not a cosignature key
		{vkey, []string{w[0].VKey(), "x+1234+abc"}, 1, "witness key 2"},
		{vkey, []string{w[0].VKey(), w[0].VKey()}, 1, "twice"},
		{vkey, []string{w[0].VKey()}, 2, "quorum"},
		{vkey, []string{w[0].VKey()}, -1, "quorum"},
		{vkey, []string{strings.Replace(w[0].VKey(), "+", "+0", 1)[:len(w[0].VKey())]}, 0, "witness key 1"},
	} {
		_, err := tlog.NewPolicy(tc.log, tc.ws, tc.quorum)
		if tc.errPart == "" && err != nil {
			t.Errorf("NewPolicy(%v): %v", tc.ws, err)
		}
		if tc.errPart != "" && (err == nil || !strings.Contains(err.Error(), tc.errPart)) {
			t.Errorf("NewPolicy(%q, %q, %d): %v, want an error about %s", tc.log, tc.ws, tc.quorum, err, tc.errPart)
		}
	}
}

// hostileFetcher serves a real log but passes every tile through edit.
type hostileFetcher struct {
	tlog.Fetcher
	edit func(t sumtlog.Tile, data []byte) []byte
}

func (f hostileFetcher) ReadTiles(ctx context.Context, tiles []sumtlog.Tile) ([][]byte, error) {
	data, err := f.Fetcher.ReadTiles(ctx, tiles)
	if err != nil {
		return nil, err
	}
	for i := range data {
		data[i] = f.edit(tiles[i], data[i])
	}
	return data, nil
}

// Tiles that are not the log's (wrong length, flipped bytes, from another
// tree of the same log) are never accepted: Update, Entry, ProveEntry and
// TreeHash fail, or give the true answer when the tile they needed was
// untouched. Nothing panics.
func TestClientHostileTiles(t *testing.T) {
	ctx := context.Background()
	tl := openLog(t, tlog.NewMemoryStorage(), 0)
	p := tl.policy(t, 0)
	es := entries(0, 70000)
	st := tl.build(t, es, 5000)
	oldSt := tl.build(t, es[:1000], 1000)
	otherEs := entries(1, 70000)
	other := tl.build(t, otherEs, 70000)
	oldCP, err := p.Verify(mustCheckpoint(t, oldSt))
	if err != nil {
		t.Fatal(err)
	}
	newCP, err := p.Verify(mustCheckpoint(t, st))
	if err != nil {
		t.Fatal(err)
	}
	otherF := tlog.StorageFetcher{Storage: other}

	edits := map[string]func(sumtlog.Tile, []byte) []byte{
		"short":      func(_ sumtlog.Tile, d []byte) []byte { return d[:len(d)-1] },
		"long":       func(_ sumtlog.Tile, d []byte) []byte { return append(d, 0) },
		"empty":      func(sumtlog.Tile, []byte) []byte { return nil },
		"flip first": func(_ sumtlog.Tile, d []byte) []byte { d[0] ^= 1; return d },
		"flip last":  func(_ sumtlog.Tile, d []byte) []byte { d[len(d)-1] ^= 0x80; return d },
		"other tree": func(tile sumtlog.Tile, d []byte) []byte {
			o, err := otherF.ReadTiles(ctx, []sumtlog.Tile{tile})
			if err != nil {
				return d
			}
			return o[0]
		},
		"level 1 only": func(tile sumtlog.Tile, d []byte) []byte {
			if tile.L == 1 {
				d[5] ^= 1
			}
			return d
		},
		"bundles only": func(tile sumtlog.Tile, d []byte) []byte {
			if tile.L == -1 {
				d[len(d)-1] ^= 1
			}
			return d
		},
	}
	// Which edits must make every operation fail (they touch every tile
	// an operation reads); the others must fail only what they touch.
	all := map[string]bool{"short": true, "long": true, "empty": true, "flip first": true, "flip last": true, "other tree": true}
	for name, edit := range edits {
		t.Run(name, func(t *testing.T) {
			f := hostileFetcher{Fetcher: tlog.StorageFetcher{Storage: st}, edit: edit}
			c, err := tlog.NewClient(p, f, oldCP.Note)
			if err != nil {
				t.Fatal(err)
			}
			cp, err := c.Update(ctx)
			if err == nil && cp.Hash != newCP.Hash {
				t.Fatalf("Update accepted a wrong checkpoint")
			}
			if (all[name] || name == "level 1 only") != (err != nil) {
				t.Errorf("Update with %s tiles: %v", name, err)
			}
			if err != nil && c.Latest().N != oldCP.N {
				t.Fatalf("a failed Update moved the client to %d", c.Latest().N)
			}
			if err != nil {
				var ie *tlog.InconsistentError
				if errors.As(err, &ie) {
					t.Fatalf("bad tiles were taken for an inconsistent log: %v", err)
				}
				// Go on from the honest checkpoint.
				if c, err = tlog.NewClient(p, f, newCP.Note); err != nil {
					t.Fatal(err)
				}
			}
			for _, i := range []int64{0, 999, 1000, 65535, 69999} {
				got, err := c.Entry(ctx, i)
				if err == nil && !bytes.Equal(got, es[i]) {
					t.Errorf("Entry(%d) accepted %q", i, got)
				}
				// "bundles only" damages the last entry of each bundle.
				if (all[name] || name == "bundles only" && (i == 65535 || i == 69999)) && err == nil {
					t.Errorf("Entry(%d) with %s tiles succeeded", i, name)
				}
				if err := c.ProveEntry(ctx, i, otherEs[i]); err == nil {
					t.Errorf("ProveEntry(%d) accepted another entry", i)
				}
				err = c.ProveEntry(ctx, i, es[i])
				if name == "bundles only" && err != nil {
					t.Errorf("ProveEntry(%d) of the true entry with only bundles damaged: %v", i, err)
				}
				if all[name] && err == nil {
					t.Errorf("ProveEntry(%d) with %s tiles succeeded", i, name)
				}
			}
			for _, n := range []int64{1, 1000, 65536, 69999} {
				h, err := c.TreeHash(ctx, n)
				if err == nil && h != rootOf(es[:n]) {
					t.Errorf("TreeHash(%d) accepted a wrong root", n)
				}
				if all[name] && err == nil {
					t.Errorf("TreeHash(%d) with %s tiles succeeded", n, name)
				}
			}
		})
	}
}
