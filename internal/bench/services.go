package bench

import (
	"context"
	"fmt"
	"net"
	neturl "net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"go.yaml.in/yaml/v3"

	"vigil/internal/cloud"
	"vigil/internal/units"
)

// service is a backing service whose CPU the bench reports: the
// processes listening on its port, or PostgreSQL's processes serving the
// cloud's database (read at every sample, as backends come and go).
type service struct {
	name string
	why  string // why it is not measured (no pids, no pg)
	pids []int
	pg   *pgx.Conn

	// Written by the sampler goroutine alone between begin and end.
	first map[int]time.Duration // CPU of each process when first seen in the run
	last  map[int]time.Duration
	stop  chan struct{}
	done  chan struct{}
}

// backingServices finds the backing services of the configuration at path on
// this machine: PostgreSQL (store.driver postgres), the S3 server
// (blobs.driver s3) and NATS (bus.url). It checks that replicas processes
// can share the configuration.
func backingServices(ctx context.Context, path string, replicas int) ([]*service, error) {
	cfg, err := cloud.LoadConfig(path)
	if err != nil {
		return nil, err
	}
	if _, port, _ := net.SplitHostPort(cfg.Listen); replicas > 1 && port != "0" {
		return nil, fmt.Errorf("%w: --replicas %d: %s listens on %s; each replica needs a port of its own: set listen to 127.0.0.1:0", ErrUsage, replicas, path, cfg.Listen)
	}
	if replicas > 1 && (cfg.Store.Driver != cloud.StorePostgres || cfg.Blobs.Driver != cloud.BlobsS3) {
		return nil, fmt.Errorf("%w: --replicas %d: %s has store %s and blobs %s; replicas share only store.driver postgres and blobs.driver s3", ErrUsage, replicas, path, cfg.Store.Driver, cfg.Blobs.Driver)
	}
	var out []*service
	if cfg.Store.Driver == cloud.StorePostgres {
		s := &service{name: "postgres"}
		pc, err := pgx.ParseConfig(cfg.Store.ConnString())
		switch {
		case err != nil:
			s.why = "the DSN does not parse"
		case !strings.HasPrefix(pc.Host, "/") && !units.IsLoopbackHost(pc.Host):
			s.why = "not on this machine"
		default:
			cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			s.pg, err = pgx.ConnectConfig(cctx, pc)
			cancel()
			if err != nil {
				s.why = "cannot connect: " + cfg.Redact(err.Error())
			}
		}
		out = append(out, s)
	}
	if cfg.Blobs.Driver == cloud.BlobsS3 {
		out = append(out, listeningService("s3", cfg.Blobs.S3.Endpoint))
	}
	if u := busURL(path); u != "" {
		host := u
		if pu, err := neturl.Parse(u); err == nil && pu.Host != "" {
			host = pu.Host
		}
		out = append(out, listeningService("nats", host))
	}
	return out, nil
}

// busURL is the bus.url of the configuration file, if any.
func busURL(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	var doc struct {
		Bus struct {
			URL string `yaml:"url"`
		} `yaml:"bus"`
	}
	if yaml.Unmarshal(b, &doc) != nil {
		return ""
	}
	return doc.Bus.URL
}

// listeningService is the service of the processes listening on hostport,
// when that is on this machine.
func listeningService(name, hostport string) *service {
	s := &service{name: name}
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		s.why = hostport + " is not host:port"
		return s
	}
	if !units.IsLoopbackHost(host) {
		s.why = "not on this machine"
		return s
	}
	if s.pids = listeningPIDs(port); len(s.pids) == 0 {
		s.why = "no process found listening on " + hostport
	}
	return s
}

// listeningPIDs returns the processes with a TCP socket listening on port
// (from /proc/net/tcp{,6} and /proc/PID/fd; Linux, and the bench must be
// allowed to read the other processes' descriptors).
func listeningPIDs(port string) []int {
	p, err := strconv.Atoi(port)
	if err != nil {
		return nil
	}
	want := fmt.Sprintf(":%04X", p)
	inodes := map[string]bool{}
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n")[1:] {
			fl := strings.Fields(line)
			if len(fl) > 9 && fl[3] == "0A" && strings.HasSuffix(fl[1], want) { // 0A: LISTEN
				inodes["socket:["+fl[9]+"]"] = true
			}
		}
	}
	if len(inodes) == 0 {
		return nil
	}
	procs, _ := os.ReadDir("/proc")
	var pids []int
	for _, d := range procs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		fds, _ := os.ReadDir("/proc/" + d.Name() + "/fd")
		for _, fd := range fds {
			if l, err := os.Readlink("/proc/" + d.Name() + "/fd/" + fd.Name()); err == nil && inodes[l] {
				pids = append(pids, pid)
				break
			}
		}
	}
	return pids
}

// begin takes the first sample and samples every half second until end.
func (s *service) begin(ctx context.Context) {
	if s.pids == nil && s.pg == nil {
		return
	}
	s.first, s.last = map[int]time.Duration{}, map[int]time.Duration{}
	s.stop, s.done = make(chan struct{}), make(chan struct{})
	s.sample(ctx)
	go func() {
		defer close(s.done)
		tick := time.NewTicker(500 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-s.stop:
				return
			case <-tick.C:
				s.sample(ctx)
			}
		}
	}()
}

// end takes the last sample and returns the CPU the service used since
// begin.
func (s *service) end(ctx context.Context) time.Duration {
	if s.stop == nil {
		return 0
	}
	close(s.stop)
	<-s.done
	s.sample(ctx)
	var d time.Duration
	for pid, c := range s.last {
		d += c - s.first[pid]
	}
	return d
}

func (s *service) sample(ctx context.Context) {
	pids := s.pids
	if s.pg != nil {
		pids = s.pgPIDs(ctx)
	}
	for _, pid := range pids {
		c, ok := processCPUOK(pid)
		if !ok {
			continue
		}
		if _, seen := s.first[pid]; !seen {
			s.first[pid] = c
		}
		s.last[pid] = c
	}
}

// pgPIDs are PostgreSQL's processes at work for the cloud: the backends
// connected to its database (the bench's own left out) and the server's
// background processes (WAL writer, checkpointer, ...), which a dedicated
// server runs for it alone.
func (s *service) pgPIDs(ctx context.Context) []int {
	rows, err := s.pg.Query(ctx, `SELECT pid FROM pg_stat_activity
		WHERE pid <> pg_backend_pid() AND (datname = current_database() OR backend_type <> 'client backend' AND datname IS NULL)`)
	if err != nil {
		return nil
	}
	pids, _ := pgx.CollectRows(rows, pgx.RowTo[int32])
	out := make([]int, len(pids))
	for i, p := range pids {
		out[i] = int(p)
	}
	return out
}

func (s *service) close() {
	if s.pg != nil {
		s.pg.Close(context.Background())
	}
}

// processCPU returns the CPU time (user+system) a process has used.
func processCPU(pid int) time.Duration {
	d, _ := processCPUOK(pid)
	return d
}

// processCPUOK is processCPU, and whether the process was there to read.
func processCPUOK(pid int) (time.Duration, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, false
	}
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 {
		s = s[i+2:]
	}
	f := strings.Fields(s)
	if len(f) < 13 {
		return 0, false
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * time.Second / 100, true // USER_HZ is 100 on Linux
}
