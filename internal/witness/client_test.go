package witness

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	vtlog "vigil/internal/tlog"
)

func clientFor(t *testing.T, url, vkey string) *Client {
	t.Helper()
	v, err := vtlog.NewCosignatureVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	return &Client{URL: url, Verifier: v, HTTP: &http.Client{}}
}

// checkLines checks that lines are exactly one valid cosignature by vkey
// over checkpoint.
func checkLines(t *testing.T, vkey string, checkpoint, lines []byte) {
	t.Helper()
	v, err := vtlog.NewCosignatureVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	text, _ := noteText(checkpoint)
	n, err := note.Open(append([]byte(text+"\n"), lines...), note.VerifierList(v))
	if err != nil || len(n.Sigs) != 1 || len(n.UnverifiedSigs) != 0 {
		t.Fatalf("lines %q: %v (%d sigs, %d unverified), want one cosignature", lines, err, len(n.Sigs), len(n.UnverifiedSigs))
	}
}

func TestClientCosignsAndFollowsSizeMismatch(t *testing.T) {
	ctx := context.Background()
	l := newTestLog(t, "vigil.test/tlog", 300)
	tw := startWitness(t, t.TempDir(), l)
	c := clientFor(t, tw.url, tw.VerifierKey())
	if c.Name() != witnessName {
		t.Fatalf("Name %q, want %q", c.Name(), witnessName)
	}

	lines, err := c.AddCheckpoint(ctx, 0, nil, l.checkpoint(100))
	if err != nil {
		t.Fatal(err)
	}
	checkLines(t, tw.VerifierKey(), l.checkpoint(100), lines)

	// A log that thinks the witness has nothing is told the size it has.
	_, err = c.AddCheckpoint(ctx, 0, nil, l.checkpoint(300))
	var sm *vtlog.SizeMismatch
	if !errors.As(err, &sm) || sm.Size != 100 {
		t.Fatalf("AddCheckpoint from 0: %v, want SizeMismatch{100}", err)
	}
	lines, err = c.AddCheckpoint(ctx, sm.Size, l.proof(sm.Size, 300), l.checkpoint(300))
	if err != nil {
		t.Fatal(err)
	}
	checkLines(t, tw.VerifierKey(), l.checkpoint(300), lines)

	// A split view is a conflict, not a size to retry from.
	fork := l.fork(200)
	fork.add(100, "forked")
	if _, err := c.AddCheckpoint(ctx, 300, nil, fork.checkpoint(300)); !errors.Is(err, ErrConflict) {
		t.Fatalf("split view: %v, want ErrConflict", err)
	}
	// Other refusals name the status.
	if _, err := c.AddCheckpoint(ctx, 300, l.proof(299, 300), l.checkpoint(300)); err == nil || !strings.Contains(err.Error(), "422") {
		t.Fatalf("bad proof: %v, want an error naming 422", err)
	}
}

func TestClientRefusesAnotherWitnessCosignature(t *testing.T) {
	l := newTestLog(t, "vigil.test/tlog", 100)
	w1 := startWitness(t, t.TempDir(), l)
	w2 := startWitness(t, t.TempDir(), l) // same name, another key
	if w1.VerifierKey() == w2.VerifierKey() {
		t.Fatal("two witnesses with one key")
	}
	// The client addresses w1's key but reaches w2.
	c := clientFor(t, w2.url, w1.VerifierKey())
	_, err := c.AddCheckpoint(context.Background(), 0, nil, l.checkpoint(100))
	if !errors.Is(err, ErrBadCosignature) {
		t.Fatalf("another witness's cosignature: %v, want ErrBadCosignature", err)
	}
}

// fakeWitness answers add-checkpoint with whatever answer returns.
func fakeWitness(t *testing.T, answer func(w http.ResponseWriter, r *http.Request)) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(answer))
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestClientChecksAnswers(t *testing.T) {
	ctx := context.Background()
	l := newTestLog(t, "vigil.test/tlog", 100)
	me, _, err := LoadOrCreateKey(t.TempDir(), witnessName)
	if err != nil {
		t.Fatal(err)
	}
	other, _, err := LoadOrCreateKey(t.TempDir(), "other.test/w")
	if err != nil {
		t.Fatal(err)
	}
	cosign := func(cp []byte, s note.Signer) string {
		text, _ := noteText(cp)
		b, err := note.Sign(&note.Note{Text: text}, s)
		if err != nil {
			t.Fatal(err)
		}
		return string(b[len(text)+1:])
	}
	cp := l.checkpoint(100)
	mine := cosign(cp, me)
	wrongCheckpoint := cosign(l.checkpoint(99), me)
	theirs := cosign(cp, other)
	plainNote := func() string { // a log-type signature under the witness's name
		skey, _, _ := note.GenerateKey(nil, witnessName)
		s, _ := note.NewSigner(skey)
		return cosign(cp, s)
	}()

	type reply struct {
		status int
		ctype  string
		body   string
	}
	cases := []struct {
		name  string
		reply reply
		check func(lines []byte, err error) error
	}{
		{"valid", reply{200, "text/plain", mine}, func(b []byte, err error) error {
			if err != nil || string(b) != mine {
				return fmt.Errorf("%q, %v", b, err)
			}
			return nil
		}},
		{"valid and an unknown witness", reply{200, "text/plain", theirs + mine}, func(b []byte, err error) error {
			if err != nil || string(b) != mine {
				return fmt.Errorf("%q, %v; want only our witness's line", b, err)
			}
			return nil
		}},
		{"only an unknown witness", reply{200, "text/plain", theirs}, wantErr(ErrBadCosignature)},
		{"over another checkpoint", reply{200, "text/plain", wrongCheckpoint}, wantErr(ErrBadCosignature)},
		{"valid and a bad one by the same key", reply{200, "text/plain", mine + wrongCheckpoint}, wantErr(ErrBadCosignature)},
		{"not a cosignature", reply{200, "text/plain", plainNote}, wantErr(ErrBadCosignature)},
		{"empty", reply{200, "text/plain", ""}, wantErr(ErrBadCosignature)},
		{"no final newline", reply{200, "text/plain", strings.TrimSuffix(mine, "\n")}, wantErr(ErrBadCosignature)},
		{"garbage", reply{200, "text/plain", "hello\n"}, wantErr(ErrBadCosignature)},
		{"huge", reply{200, "text/plain", strings.Repeat(mine, 2000)}, func(b []byte, err error) error {
			if err == nil {
				return errors.New("accepted an answer over 64 KiB")
			}
			return nil
		}},
		{"409 size", reply{409, SizeContentType + "; charset=utf-8", "42\n"}, func(b []byte, err error) error {
			var sm *vtlog.SizeMismatch
			if !errors.As(err, &sm) || sm.Size != 42 {
				return fmt.Errorf("%v, want SizeMismatch{42}", err)
			}
			return nil
		}},
		{"409 the same size", reply{409, SizeContentType, "0\n"}, wantErr(ErrConflict)},
		{"409 text", reply{409, "text/plain", "split view\n"}, wantErr(ErrConflict)},
		{"409 malformed size", reply{409, SizeContentType, "-3\n"}, func(b []byte, err error) error {
			var sm *vtlog.SizeMismatch
			if err == nil || errors.As(err, &sm) {
				return fmt.Errorf("%v, want an error that is not a SizeMismatch", err)
			}
			return nil
		}},
		{"409 size without newline", reply{409, SizeContentType, "42"}, func(b []byte, err error) error {
			var sm *vtlog.SizeMismatch
			if err == nil || errors.As(err, &sm) {
				return fmt.Errorf("%v, want an error that is not a SizeMismatch", err)
			}
			return nil
		}},
		{"500", reply{500, "text/plain", "disk full\n"}, func(b []byte, err error) error {
			if err == nil || !strings.Contains(err.Error(), "500") || !strings.Contains(err.Error(), "disk full") {
				return fmt.Errorf("%v, want the status and the witness's message", err)
			}
			return nil
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var got string
			url := fakeWitness(t, func(w http.ResponseWriter, r *http.Request) {
				if r.Method != http.MethodPost || r.URL.Path != "/add-checkpoint" {
					http.Error(w, "wrong request", 400)
					return
				}
				b := make([]byte, 4096)
				n, _ := r.Body.Read(b)
				got = string(b[:n])
				w.Header().Set("Content-Type", tc.reply.ctype)
				w.WriteHeader(tc.reply.status)
				fmt.Fprint(w, tc.reply.body)
			})
			c := clientFor(t, url+"/", me.Verifier().String())
			lines, err := c.AddCheckpoint(ctx, 0, nil, cp)
			if e := tc.check(lines, err); e != nil {
				t.Fatal(e)
			}
			if !strings.HasPrefix(got, "old 0\n\n"+l.origin+"\n") {
				t.Fatalf("request body %q", got)
			}
		})
	}
}

func wantErr(target error) func([]byte, error) error {
	return func(b []byte, err error) error {
		if !errors.Is(err, target) || b != nil {
			return fmt.Errorf("%q, %v; want %v", b, err, target)
		}
		return nil
	}
}

func TestClientRefusesBadArguments(t *testing.T) {
	l := newTestLog(t, "vigil.test/tlog", 10)
	called := false
	url := fakeWitness(t, func(w http.ResponseWriter, r *http.Request) { called = true })
	me, _, err := LoadOrCreateKey(t.TempDir(), witnessName)
	if err != nil {
		t.Fatal(err)
	}
	c := &Client{URL: url, Verifier: me.Verifier()}
	text, _ := noteText(l.checkpoint(10))
	for name, call := range map[string]func() error{
		"negative old size": func() error { _, err := c.AddCheckpoint(context.Background(), -1, nil, l.checkpoint(10)); return err },
		"64 proof hashes": func() error {
			_, err := c.AddCheckpoint(context.Background(), 5, make(tlog.TreeProof, 64), l.checkpoint(10))
			return err
		},
		"unsigned checkpoint": func() error { _, err := c.AddCheckpoint(context.Background(), 0, nil, []byte(text)); return err },
		"no verifier": func() error {
			_, err := (&Client{URL: url}).AddCheckpoint(context.Background(), 0, nil, l.checkpoint(10))
			return err
		},
	} {
		if err := call(); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if called {
		t.Fatal("the client sent a request it should have refused to make")
	}
}

// TestClientsRaceToOneHistory: several logs' worth of sequencers (here,
// goroutines) push checkpoints of one log through the client at once,
// following SizeMismatch; the witness ends on the largest, having cosigned
// only consistent ones.
func TestClientsRaceToOneHistory(t *testing.T) {
	l := newTestLog(t, "vigil.test/tlog", 500)
	tw := startWitness(t, t.TempDir(), l)
	c := clientFor(t, tw.url, tw.VerifierKey())
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := range 20 {
		wg.Go(func() {
			size := int64(25 * (i + 1))
			old := int64(0)
			for range 50 {
				lines, err := c.AddCheckpoint(context.Background(), old, l.proof(old, size), l.checkpoint(size))
				var sm *vtlog.SizeMismatch
				switch {
				case err == nil:
					if len(lines) == 0 {
						errs <- errors.New("no lines")
					}
					return
				case errors.As(err, &sm) && sm.Size > size:
					return // a larger one was cosigned first
				case errors.As(err, &sm):
					old = sm.Size
				default:
					errs <- err
					return
				}
			}
			errs <- fmt.Errorf("size %d: no answer after 50 tries", size)
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := tw.heldSize(t, l); got != 500 {
		t.Fatalf("held size %d, want 500", got)
	}
	if m, _ := filepath.Glob(filepath.Join(tw.dir, evidenceDir, "*")); len(m) != 0 {
		t.Fatalf("evidence from one consistent history: %v", m)
	}
}
