package cloudtest

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
)

// backend answers with its name and the body it got, and echoes bytes on
// a connection upgraded to "echo".
func backend(t *testing.T, name string) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") == "echo" {
			conn, brw, err := http.NewResponseController(w).Hijack()
			if err != nil {
				t.Error(err)
				return
			}
			defer conn.Close()
			fmt.Fprintf(brw, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
			brw.Flush()
			line, _ := brw.ReadString('\n')
			fmt.Fprintf(brw, "%s says %s", name, line)
			brw.Flush()
			return
		}
		b, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s %s %s", name, r.Host, b)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestProxy: requests go round robin to the live backends with their
// bodies and the client's Host; a backend that is gone (its port closed)
// is passed over, a POST included; a connection upgrade passes both ways.
func TestProxy(t *testing.T) {
	a, b, c := backend(t, "a"), backend(t, "b"), backend(t, "c")
	var mu sync.Mutex
	urls := []string{a.URL, b.URL, c.URL}
	p := NewProxy(t, func() []string { mu.Lock(); defer mu.Unlock(); return urls })

	post := func() string {
		t.Helper()
		resp, err := http.Post(p.URL+"/x", "text/plain", strings.NewReader("body"))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		got, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %s", resp.Status, got)
		}
		return string(got)
	}
	host := strings.TrimPrefix(p.URL, "http://")
	seen := map[string]int{}
	for range 6 {
		got := post()
		name, rest, _ := strings.Cut(got, " ")
		if rest != host+" body" {
			t.Errorf("backend got %q, want Host %s and the body", rest, host)
		}
		seen[name]++
	}
	if seen["a"] != 2 || seen["b"] != 2 || seen["c"] != 2 {
		t.Errorf("not round robin: %v", seen)
	}

	// b dies without the proxy being told: its requests go to the others.
	// (Its kept-alive connections go with it; the proxy learns that b is
	// gone from the refused connections, what this checks.)
	b.Close()
	p.tr.CloseIdleConnections()
	seen = map[string]int{}
	for range 6 {
		name, _, _ := strings.Cut(post(), " ")
		seen[name]++
	}
	if seen["b"] != 0 || seen["a"]+seen["c"] != 6 {
		t.Errorf("with b gone: %v", seen)
	}
	// Told, it leaves b out.
	mu.Lock()
	urls = []string{a.URL, c.URL}
	mu.Unlock()
	if got := post(); !strings.HasPrefix(got, "a ") && !strings.HasPrefix(got, "c ") {
		t.Errorf("got %q", got)
	}

	// An upgraded connection.
	conn, err := net.Dial("tcp", host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET /ws HTTP/1.1\r\nHost: %s\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n", host)
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: %s", resp.Status)
	}
	fmt.Fprintf(conn, "hello\n")
	line, err := br.ReadString('\n')
	if err != nil || !strings.HasSuffix(line, "says hello\n") {
		t.Errorf("through the upgraded connection: %q, %v", line, err)
	}

	// None left: 502.
	mu.Lock()
	urls = nil
	mu.Unlock()
	r, err := http.Get(p.URL + "/x")
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != http.StatusBadGateway {
		t.Errorf("no backend: %s, want 502", r.Status)
	}
}

// TestProxyPrefer: a request the test steers goes to the backend it
// names, while it is live (to the next in turn once it is not); the
// others go round robin; Upgrades says where each upgrade landed.
func TestProxyPrefer(t *testing.T) {
	a, b := backend(t, "a"), backend(t, "b")
	var mu sync.Mutex
	urls := []string{a.URL, b.URL}
	p := NewProxy(t, func() []string { mu.Lock(); defer mu.Unlock(); return slices.Clone(urls) })
	p.Prefer(func(r *http.Request) string {
		if r.URL.Path == "/to-b" {
			return b.URL
		}
		return ""
	})
	get := func(path string) string {
		t.Helper()
		resp, err := http.Get(p.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		got, _ := io.ReadAll(resp.Body)
		name, _, _ := strings.Cut(string(got), " ")
		return name
	}
	for range 4 {
		if got := get("/to-b"); got != "b" {
			t.Errorf("steered to b: answered by %s", got)
		}
	}
	seen := map[string]int{}
	for range 4 {
		seen[get("/x")]++
	}
	if seen["a"] != 2 || seen["b"] != 2 {
		t.Errorf("not steered: %v, want round robin", seen)
	}
	mu.Lock()
	urls = []string{a.URL}
	mu.Unlock()
	if got := get("/to-b"); got != "a" {
		t.Errorf("steered to b, which is not live: answered by %s", got)
	}

	host := strings.TrimPrefix(p.URL, "http://")
	conn, err := net.Dial("tcp", host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET /ws HTTP/1.1\r\nHost: %s\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n", host)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: %v %v", resp, err)
	}
	up := p.Upgrades()
	if len(up) != 1 || up[0].Path != "/ws" || up[0].Backend != a.URL {
		t.Errorf("upgrades: %v, want /ws on %s", up, a.URL)
	}
}
