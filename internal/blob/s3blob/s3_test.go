package s3blob_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/iotest"
	"time"

	"github.com/minio/minio-go/v7"

	"vigil/internal/blob"
	"vigil/internal/blob/blobtest"
	"vigil/internal/blob/s3blob"
	"vigil/internal/s3test"
	"vigil/internal/vigiltest"
)

// config is a store in a fresh prefix of srv's bucket.
func config(t *testing.T, srv *s3test.Server) s3blob.Config {
	return s3blob.Config{
		Endpoint:  srv.Endpoint,
		Secure:    srv.Secure,
		Region:    srv.Region,
		Bucket:    srv.Bucket,
		AccessKey: srv.AccessKey,
		SecretKey: srv.SecretKey,
		Prefix:    srv.Prefix(t),
		PartSize:  s3blob.MinPartSize,
		Logger:    vigiltest.Logger(t),
	}
}

func open(t *testing.T, cfg s3blob.Config) *s3blob.Store {
	t.Helper()
	s, err := s3blob.Open(t.Context(), cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestConformance runs the blob suite against a real S3 server, with the
// smallest part size so that its 8 MiB object goes up in parts.
func TestConformance(t *testing.T) {
	srv := s3test.Start(t)
	blobtest.Run(t, func(t *testing.T) blob.Store { return open(t, config(t, srv)) })
}

func data(seed uint64, n int) []byte {
	b := make([]byte, n)
	rand.NewChaCha8([32]byte{0: byte(seed), 31: 's'}).Read(b)
	return b
}

func put(t *testing.T, s blob.Store, key string, b []byte) blob.Info {
	t.Helper()
	info, created, err := s.Put(t.Context(), key, struct{ io.Reader }{bytes.NewReader(b)}, int64(len(b)))
	if err != nil || !created {
		t.Fatalf("Put(%q, %d bytes): created=%v, %v", key, len(b), created, err)
	}
	return info
}

// names lists the object names under prefix in the bucket, and the
// multipart uploads not finished there.
func names(t *testing.T, srv *s3test.Server, bucket, prefix string) (objects, uploads []string) {
	t.Helper()
	c := srv.Client()
	for o := range c.ListObjectsIter(t.Context(), bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
		if o.Err != nil {
			t.Fatalf("listing %s/%s: %v", bucket, prefix, o.Err)
		}
		objects = append(objects, o.Key)
	}
	for u := range c.ListIncompleteUploads(t.Context(), bucket, prefix, true) {
		if u.Err != nil {
			t.Fatalf("listing uploads in %s/%s: %v", bucket, prefix, u.Err)
		}
		uploads = append(uploads, u.Key)
	}
	return objects, uploads
}

// TestMultipart: an object above the part size goes up in parts and reads
// back whole and by ranges across the part boundaries; retries and
// conflicts behave as for a small one.
func TestMultipart(t *testing.T) {
	srv := s3test.Start(t)
	cfg := config(t, srv)
	s := open(t, cfg)
	const part = s3blob.MinPartSize
	const size = 2*part + 12345
	b := data(1, size)
	info := put(t, s, "big/one", b)
	if want := (blob.Info{Key: "big/one", Size: size, SHA256: sha256.Sum256(b)}); info != want {
		t.Fatalf("Put = %+v, want %+v", info, want)
	}
	if st, err := s.Stat(t.Context(), "big/one"); err != nil || st != info {
		t.Fatalf("Stat = %+v, %v; want %+v", st, err, info)
	}

	o, err := s.Open(t.Context(), "big/one")
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	for _, off := range []int64{0, part - 1, part, part + 1, 2*part - 100, 2 * part, size - 1} {
		p := make([]byte, 300)
		n, err := o.ReadAt(p, off)
		end := min(off+300, size)
		if n != int(end-off) || !bytes.Equal(p[:n], b[off:end]) || (end == size && off+300 > size && err != io.EOF) {
			t.Errorf("ReadAt(300, %d) = %d, %v (match %v)", off, n, err, bytes.Equal(p[:n], b[off:end]))
		}
	}
	if _, err := o.Seek(part-10, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	rest, err := io.ReadAll(o)
	if err != nil || !bytes.Equal(rest, b[part-10:]) {
		t.Errorf("Read from %d to the end: %d bytes, %v (match %v)", part-10, len(rest), err, bytes.Equal(rest, b[part-10:]))
	}

	// A retry with the same bytes; other bytes of the same size.
	if info2, created, err := s.Put(t.Context(), "big/one", bytes.NewReader(b), size); err != nil || created || info2 != info {
		t.Errorf("second Put of the same bytes: %+v, created=%v, %v; want %+v, false, nil", info2, created, err, info)
	}
	other := bytes.Clone(b)
	other[part+7] ^= 1
	if _, _, err := s.Put(t.Context(), "big/one", bytes.NewReader(other), size); !errors.Is(err, blob.ErrConflict) {
		t.Errorf("Put of other bytes: %v, want ErrConflict", err)
	}

	objects, uploads := names(t, srv, cfg.Bucket, cfg.Prefix+"/")
	if !slices.Equal(objects, []string{cfg.Prefix + "/big/one@"}) || len(uploads) != 0 {
		t.Errorf("bucket holds %q and unfinished uploads %q; want only the object", objects, uploads)
	}
}

// TestMultipartFailure: an upload in parts whose reader fails, is short or
// long, or whose context ends, leaves no object and no unfinished upload.
func TestMultipartFailure(t *testing.T) {
	srv := s3test.Start(t)
	cfg := config(t, srv)
	s := open(t, cfg)
	const size = 3*s3blob.MinPartSize - 1000
	b := data(2, size)
	boom := errors.New("boom")
	cases := map[string]func(cancel context.CancelFunc) io.Reader{
		"fails in the second part": func(context.CancelFunc) io.Reader {
			return io.MultiReader(bytes.NewReader(b[:s3blob.MinPartSize+100]), iotest.ErrReader(boom))
		},
		"fails at the very end": func(context.CancelFunc) io.Reader {
			return io.MultiReader(bytes.NewReader(b), iotest.ErrReader(boom))
		},
		"short by one": func(context.CancelFunc) io.Reader { return bytes.NewReader(b[:size-1]) },
		"long by one": func(context.CancelFunc) io.Reader {
			return io.MultiReader(bytes.NewReader(b), strings.NewReader("x"))
		},
		"cancelled in the second part": func(cancel context.CancelFunc) io.Reader {
			return io.MultiReader(bytes.NewReader(b[:s3blob.MinPartSize+100]), readFunc(func([]byte) (int, error) {
				cancel()
				return 0, nil
			}), bytes.NewReader(b[s3blob.MinPartSize+100:]))
		},
	}
	for name, r := range cases {
		ctx, cancel := context.WithCancel(t.Context())
		_, created, err := s.Put(ctx, "k", r(cancel), size)
		cancel()
		if err == nil {
			t.Errorf("Put with a reader that %s: no error (created=%v)", name, created)
		}
		if _, err := s.Stat(t.Context(), "k"); !errors.Is(err, blob.ErrNotFound) {
			t.Errorf("after a Put with a reader that %s: Stat: %v, want ErrNotFound", name, err)
		}
		if objects, uploads := names(t, srv, cfg.Bucket, cfg.Prefix+"/"); len(objects)+len(uploads) != 0 {
			t.Errorf("after a Put with a reader that %s: bucket holds %q and unfinished uploads %q", name, objects, uploads)
		}
	}
}

type readFunc func([]byte) (int, error)

func (f readFunc) Read(p []byte) (int, error) { return f(p) }

// TestMultipartRace: Puts in parts of one key at once, with different
// bytes, make exactly one winner and ErrConflict for the others; with the
// same bytes, one created and the others created=false.
func TestMultipartRace(t *testing.T) {
	srv := s3test.Start(t)
	s := open(t, config(t, srv))
	const racers = 3
	const size = s3blob.MinPartSize + 4096
	race := func(key string, body func(g int) []byte) (created []int, conflicts int) {
		var (
			wg    sync.WaitGroup
			mu    sync.Mutex
			start = make(chan struct{})
		)
		for g := range racers {
			wg.Go(func() {
				b := body(g)
				<-start
				_, c, err := s.Put(t.Context(), key, bytes.NewReader(b), int64(len(b)))
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil && c:
					created = append(created, g)
				case errors.Is(err, blob.ErrConflict):
					conflicts++
				case err != nil:
					t.Errorf("%s: racer %d: %v", key, g, err)
				}
			})
		}
		close(start)
		wg.Wait()
		return created, conflicts
	}

	created, conflicts := race("different", func(g int) []byte { return data(uint64(10+g), size) })
	if len(created) != 1 || conflicts != racers-1 {
		t.Fatalf("different bytes: created by %v, %d conflicts; want one creator and %d conflicts", created, conflicts, racers-1)
	}
	want := data(uint64(10+created[0]), size)
	if st, err := s.Stat(t.Context(), "different"); err != nil || st.SHA256 != sha256.Sum256(want) {
		t.Errorf("the stored object is not the winner's: %+v, %v", st, err)
	}

	same := data(20, size)
	created, conflicts = race("same", func(int) []byte { return same })
	if len(created) != 1 || conflicts != 0 {
		t.Errorf("same bytes: created by %v, %d conflicts; want one creator and no conflict", created, conflicts)
	}
}

// TestServerDown: with the server stopped, every call fails soon and names
// the endpoint; with it frozen (accepting connections, answering nothing),
// calls end with their context's deadline. The error never holds the
// secret key. It needs a server it can stop and freeze, so it starts a
// private versitygw even when VIGIL_TEST_S3 names one.
func TestServerDown(t *testing.T) {
	srv := s3test.StartPrivate(t)
	cfg := config(t, srv)
	s := open(t, cfg)
	b := data(3, 1000)
	put(t, s, "kept", b)

	calls := map[string]func(ctx context.Context) error{
		"Put": func(ctx context.Context) error {
			_, _, err := s.Put(ctx, "new", bytes.NewReader(b), int64(len(b)))
			return err
		},
		"Put in parts": func(ctx context.Context) error {
			big := data(4, s3blob.MinPartSize+1)
			_, _, err := s.Put(ctx, "new", bytes.NewReader(big), int64(len(big)))
			return err
		},
		"Stat": func(ctx context.Context) error { _, err := s.Stat(ctx, "kept"); return err },
		"Open": func(ctx context.Context) error {
			o, err := s.Open(ctx, "kept")
			if err == nil {
				o.Close()
			}
			return err
		},
		"List": func(ctx context.Context) error { _, err := s.List(ctx, ""); return err },
		// Not "kept": a frozen server still executes, once resumed, a
		// request the kernel took in for it.
		"Delete": func(ctx context.Context) error { return s.Delete(ctx, "gone") },
	}
	// The calls run at once: each takes its time (retries, or the
	// deadline) and they are independent.
	check := func(state string, wantDeadline bool, timeout time.Duration) {
		var wg sync.WaitGroup
		for name, call := range calls {
			wg.Go(func() {
				ctx, cancel := context.WithTimeout(t.Context(), timeout)
				defer cancel()
				err := call(ctx)
				switch {
				case err == nil:
					t.Errorf("server %s: %s: no error", state, name)
				case strings.Contains(err.Error(), cfg.SecretKey):
					t.Errorf("server %s: %s: the error holds the secret key", state, name)
				case wantDeadline && !errors.Is(err, context.DeadlineExceeded):
					t.Errorf("server %s: %s: %v; want the context's deadline", state, name, err)
				case !wantDeadline && !strings.Contains(err.Error(), srv.Endpoint):
					t.Errorf("server %s: %s: %v; want an error naming %s", state, name, err, srv.Endpoint)
				default:
					t.Logf("server %s: %s: %v", state, name, err)
				}
			})
		}
		wg.Wait()
	}

	// An Object opened before the server froze fails its reads too.
	o, err := s.Open(t.Context(), "kept")
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	srv.Pause(t)
	check("frozen", true, 500*time.Millisecond)
	srv.Resume(t)
	if _, err := o.ReadAt(make([]byte, 10), 5); err != nil {
		t.Errorf("ReadAt after the server resumed: %v", err)
	}
	srv.Stop()
	calls["ReadAt"] = func(context.Context) error { _, err := o.ReadAt(make([]byte, 10), 5); return err }
	calls["Open a store"] = func(ctx context.Context) error {
		s, err := s3blob.Open(ctx, cfg)
		if err == nil {
			s.Close()
		}
		return err
	}
	check("stopped", false, 20*time.Second)
}

// TestStreams: Put sends an object as it reads it, in one PUT or in
// parts, without holding it (or a part of it) in memory.
func TestStreams(t *testing.T) {
	srv := s3test.Start(t)
	for _, c := range []struct {
		name       string
		part, size int64
	}{
		{"in parts", s3blob.MinPartSize, 6 * s3blob.MinPartSize},
		{"in one PUT", s3blob.DefaultPartSize, s3blob.DefaultPartSize - 1},
	} {
		cfg := config(t, srv)
		cfg.PartSize = c.part
		s := open(t, cfg)
		h := sha256.New()
		src := io.TeeReader(io.LimitReader(rand.NewChaCha8([32]byte{'m'}), c.size), h)
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		info, created, err := s.Put(t.Context(), "big", src, c.size)
		runtime.ReadMemStats(&after)
		if err != nil || !created || info.SHA256 != [32]byte(h.Sum(nil)) {
			t.Fatalf("%s: Put of %d bytes: %+v, created=%v, %v", c.name, c.size, info, created, err)
		}
		// Everything allocated during the Put, garbage included: holding the
		// object, or each part in turn, would make it at least the size.
		if alloc := after.TotalAlloc - before.TotalAlloc; alloc > uint64(c.size/2) {
			t.Errorf("%s: Put of %d bytes allocated %d bytes; it holds the object in memory", c.name, c.size, alloc)
		} else {
			t.Logf("%s: Put of %d bytes allocated %d bytes", c.name, c.size, alloc)
		}
		if st, err := s.Stat(t.Context(), "big"); err != nil || st != info {
			t.Errorf("%s: Stat = %+v, %v; want %+v", c.name, st, err, info)
		}
	}
}

// TestOpenErrors: Open says what is wrong with a configuration or a
// bucket, naming the endpoint and bucket and never the secret.
func TestOpenErrors(t *testing.T) {
	srv := s3test.Start(t)
	good := config(t, srv)
	cases := []struct {
		name string
		edit func(*s3blob.Config)
		want []string
	}{
		{"no bucket", func(c *s3blob.Config) { c.Bucket = "vigil-no-such-bucket" }, []string{"vigil-no-such-bucket", "does not exist", srv.Endpoint}},
		{"wrong secret", func(c *s3blob.Config) { c.SecretKey = "wrong-" + c.SecretKey }, []string{"credentials", srv.Endpoint}},
		{"wrong access key", func(c *s3blob.Config) { c.AccessKey = "nobody" }, []string{"credentials", srv.Endpoint}},
		{"no endpoint", func(c *s3blob.Config) { c.Endpoint = "" }, []string{"endpoint: required"}},
		{"endpoint with scheme", func(c *s3blob.Config) { c.Endpoint = "http://" + c.Endpoint }, []string{"without a scheme"}},
		{"small parts", func(c *s3blob.Config) { c.PartSize = 1 << 20 }, []string{"part_size 1048576"}},
		{"huge objects", func(c *s3blob.Config) { c.MaxObjectSize = 1 << 50 }, []string{"max_object_size"}},
		{"bad prefix", func(c *s3blob.Config) { c.Prefix = "a//b" }, []string{`prefix "a//b"`}},
	}
	for _, c := range cases {
		cfg := good
		c.edit(&cfg)
		s, err := s3blob.Open(t.Context(), cfg)
		if err == nil {
			s.Close()
			t.Errorf("%s: Open succeeded", c.name)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: Open: %v; want it to say %q", c.name, err, w)
			}
		}
		if strings.Contains(err.Error(), good.SecretKey) || strings.Contains(err.Error(), cfg.SecretKey) {
			t.Errorf("%s: Open: the error holds the secret key", c.name)
		}
	}
}

// TestLayout: object names follow the documented layout (key, '@', long
// segments in pieces), with or without a prefix, and List ignores what
// is not an object's name.
func TestLayout(t *testing.T) {
	srv := s3test.Start(t)
	long := strings.Repeat("x", 450)
	keys := map[string]string{
		"a":                 "a@",
		"a/b":               "a/b@",
		"Cam/Front/0001":    "Cam/Front/0001@",
		"x/.../y":           "x/.../y@",
		long:                strings.Repeat("x", 200) + "+/" + strings.Repeat("x", 200) + "+/" + strings.Repeat("x", 50) + "@",
		"p/" + long[:201]:   "p/" + strings.Repeat("x", 198) + "+/xxx@",
		"q/" + long + "/z":  "q/" + strings.Repeat("x", 200) + "+/" + strings.Repeat("x", 200) + "+/" + strings.Repeat("x", 50) + "/z@",
		"q/" + long + "/zz": "q/" + strings.Repeat("x", 200) + "+/" + strings.Repeat("x", 200) + "+/" + strings.Repeat("x", 50) + "/zz@",
	}
	for _, prefix := range []string{"", "some/prefix"} {
		cfg := config(t, srv)
		cfg.Bucket = srv.NewBucket(t)
		cfg.Prefix = prefix
		root := ""
		if prefix != "" {
			root = prefix + "/"
		}
		s := open(t, cfg)
		var want []string
		for key, name := range keys {
			put(t, s, key, []byte(key))
			want = append(want, root+name)
		}
		// Names that are no object's: List must not report them.
		strays := []string{root + "noat", root + "stray@@", root + "x+/y@", root + "A/b+@", root + "x/+/y@", root + "e/@", root + ".vigil-probe-0123"}
		if root != "" {
			strays = append(strays, "other/a@")
		}
		for _, name := range strays {
			if _, err := srv.Client().PutObject(t.Context(), cfg.Bucket, name, strings.NewReader("?"), 1, minio.PutObjectOptions{}); err != nil {
				t.Fatalf("writing %s: %v", name, err)
			}
			if strings.HasPrefix(name, root) {
				want = append(want, name)
			}
		}
		objects, _ := names(t, srv, cfg.Bucket, root)
		slices.Sort(want)
		if !slices.Equal(objects, want) {
			t.Errorf("prefix %q: bucket holds\n%q\nwant\n%q", prefix, objects, want)
		}
		wantKeys := slices.Sorted(func(yield func(string) bool) {
			for k := range keys {
				if !yield(k) {
					return
				}
			}
		})
		got, err := s.List(t.Context(), "")
		if err != nil || !slices.Equal(got, wantKeys) {
			t.Errorf("prefix %q: List = %q, %v\nwant %q", prefix, got, err, wantKeys)
		}
		for _, p := range []string{"q/" + long[:199], "q/" + long[:300], "q/" + long + "/", "q/" + long + "/zz", "p/" + long[:199], "p/" + long[:201]} {
			var w []string
			for _, k := range wantKeys {
				if strings.HasPrefix(k, p) {
					w = append(w, k)
				}
			}
			if got, err := s.List(t.Context(), p); err != nil || !slices.Equal(got, w) {
				t.Errorf("prefix %q: List(%d-byte prefix) = %d keys, %v; want %d", prefix, len(p), len(got), err, len(w))
			}
		}
	}
}

// TestListPages: a listing longer than a page (S3 gives at most 1000
// names at a time) comes back whole and sorted.
func TestListPages(t *testing.T) {
	srv := s3test.Start(t)
	s := open(t, config(t, srv))
	const n = 1010
	var want []string
	for i := range n {
		want = append(want, fmt.Sprintf("h/%d/seg-%06d", i%3, i))
	}
	var wg sync.WaitGroup
	keys := make(chan string)
	for range 8 {
		wg.Go(func() {
			for key := range keys {
				if _, _, err := s.Put(t.Context(), key, strings.NewReader(key), int64(len(key))); err != nil {
					t.Errorf("Put(%q): %v", key, err)
				}
			}
		})
	}
	for _, key := range want {
		keys <- key
	}
	close(keys)
	wg.Wait()
	slices.Sort(want)
	if got, err := s.List(t.Context(), ""); err != nil || !slices.Equal(got, want) {
		t.Errorf("List(\"\") = %d keys, %v; want %d, sorted", len(got), err, len(want))
	}
	want1 := slices.DeleteFunc(slices.Clone(want), func(k string) bool { return !strings.HasPrefix(k, "h/1/") })
	if got, err := s.List(t.Context(), "h/1/"); err != nil || !slices.Equal(got, want1) {
		t.Errorf("List(\"h/1/\") = %d keys, %v; want %d, sorted", len(got), err, len(want1))
	}
}

// TestHashedWrongSum: a single PUT carries the caller's SHA-256 as the
// object's checksum, which the server verifies: a sum that is not the
// bytes' fails the Put and stores nothing.
func TestHashedWrongSum(t *testing.T) {
	srv := s3test.Start(t)
	s := open(t, config(t, srv))
	b := data(40, 50_000)
	wrong := sha256.Sum256(append(bytes.Clone(b), 0))
	if _, _, err := s.Put(t.Context(), "k", blob.Hashed{R: bytes.NewReader(b), SHA256: wrong}, int64(len(b))); err == nil {
		t.Fatal("Put with a SHA-256 that is not the bytes': no error")
	}
	if _, err := s.Stat(t.Context(), "k"); !errors.Is(err, blob.ErrNotFound) {
		t.Errorf("Stat after the refused Put: %v, want ErrNotFound", err)
	}
	info, created, err := s.Put(t.Context(), "k", blob.Hashed{R: bytes.NewReader(b), SHA256: sha256.Sum256(b)}, int64(len(b)))
	if err != nil || !created || info.SHA256 != sha256.Sum256(b) {
		t.Errorf("Put with the right SHA-256 after: %+v created=%v, %v", info, created, err)
	}
}

// resetProxy stands between the store and srv and, while drop is set,
// answers every PUT by reading a little of its body and resetting the
// connection: what a server that refuses a conditional PUT from its
// headers, and closes without reading the body, looks like to a client
// still sending it. A real server does this only when the refusal wins a
// race with the upload (seen in the conformance suite's concurrent Puts),
// so the proxy makes it happen every time.
func resetProxy(t *testing.T, srv *s3test.Server, drop *atomic.Bool) string {
	t.Helper()
	if srv.Secure {
		t.Fatal("resetProxy speaks plain HTTP to the server; use s3test.StartPrivate")
	}
	target := &url.URL{Scheme: "http", Host: srv.Endpoint}
	rp := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		r.SetURL(target)
		r.Out.Host = r.In.Host // the client signed the proxy's host
	}}
	ps := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPut || !drop.Load() {
			rp.ServeHTTP(w, r)
			return
		}
		io.CopyN(io.Discard, r.Body, 1024)
		conn, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Errorf("hijacking a PUT: %v", err)
			return
		}
		conn.(*net.TCPConn).SetLinger(0) // a reset, not an orderly close
		conn.Close()
	}))
	t.Cleanup(ps.Close)
	return strings.TrimPrefix(ps.URL, "http://")
}

// TestRefusedMidBody: a Put whose connection the server resets while the
// body is still going up is judged by what is then stored: another
// writer's bytes are a conflict, the same bytes a retry, and nothing at
// all a failed transfer the caller must hear of.
func TestRefusedMidBody(t *testing.T) {
	srv := s3test.StartPrivate(t)
	var drop atomic.Bool
	cfg := config(t, srv)
	cfg.Endpoint = resetProxy(t, srv, &drop)
	s := open(t, cfg)
	b := data(50, 256<<10)
	other := data(51, 256<<10)
	put(t, s, "taken", b)

	drop.Store(true)
	if _, created, err := s.Put(t.Context(), "taken", bytes.NewReader(other), int64(len(other))); !errors.Is(err, blob.ErrConflict) || created {
		t.Errorf("other bytes, reset mid-body: created=%v, %v; want ErrConflict", created, err)
	}
	info, created, err := s.Put(t.Context(), "taken", bytes.NewReader(b), int64(len(b)))
	if err != nil || created || info.SHA256 != sha256.Sum256(b) || info.Size != int64(len(b)) {
		t.Errorf("the same bytes, reset mid-body: %+v created=%v, %v; want the stored object, not created", info, created, err)
	}
	_, created, err = s.Put(t.Context(), "free", bytes.NewReader(b), int64(len(b)))
	switch {
	case err == nil || created:
		t.Errorf("a new object, reset mid-body: created=%v, %v; want an error", created, err)
	case errors.Is(err, blob.ErrConflict):
		t.Errorf("a new object, reset mid-body: %v; a failed transfer is not a conflict", err)
	case !strings.Contains(err.Error(), cfg.Endpoint):
		t.Errorf("a new object, reset mid-body: %v; want an error naming %s", err, cfg.Endpoint)
	}
	drop.Store(false)
	if _, err := s.Stat(t.Context(), "free"); !errors.Is(err, blob.ErrNotFound) {
		t.Errorf("Stat of the object whose Put was reset: %v, want ErrNotFound", err)
	}
	o, err := s.Open(t.Context(), "taken")
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	if got, err := io.ReadAll(o); err != nil || !bytes.Equal(got, b) {
		t.Errorf("reading the object back: %d bytes, %v; want its first bytes unchanged", len(got), err)
	}
}
