package liveview

import (
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"time"

	"github.com/pion/logging"
	"github.com/pion/turn/v5"
)

// ICEServer is one entry of RTCConfiguration.iceServers.
type ICEServer struct {
	URLs       []string `json:"urls"`
	Username   string   `json:"username,omitempty"`
	Credential string   `json:"credential,omitempty"`
}

// TURNConfig configures the TURN relay run inside the cloud process.
type TURNConfig struct {
	// Listen is the UDP address, e.g. 0.0.0.0:3478.
	Listen string
	// PublicIP is the address clients reach the relay at (and the relayed
	// addresses given out); empty means Listen's host, which must then be
	// a specific address.
	PublicIP string
	// Realm defaults to "vigil".
	Realm  string
	Logger *slog.Logger
}

// TURN is a TURN relay (pion/turn) with time-limited HMAC credentials
// (the TURN REST scheme): the cloud hands them to members and hubs, and
// the relay accepts them until they expire.
type TURN struct {
	srv    *turn.Server
	secret string
	url    string
	addr   net.Addr
}

// StartTURN starts the relay.
func StartTURN(cfg TURNConfig) (*TURN, error) {
	host, _, err := net.SplitHostPort(cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("turn_listen: %q is not host:port", cfg.Listen)
	}
	pub := cfg.PublicIP
	if pub == "" {
		pub = host
	}
	ip := net.ParseIP(pub)
	if ip == nil || ip.IsUnspecified() {
		return nil, fmt.Errorf("turn_public_ip: %q is not a specific IP address the relay is reached at", pub)
	}
	if cfg.Realm == "" {
		cfg.Realm = "vigil"
	}
	pc, err := net.ListenPacket("udp4", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("turn_listen: %w", err)
	}
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		pc.Close()
		return nil, err
	}
	lf := logging.NewDefaultLoggerFactory()
	lf.Writer = io.Discard
	loopbackOK := ip.IsLoopback()
	t := &TURN{secret: fmt.Sprintf("%x", secret), addr: pc.LocalAddr()}
	_, port, _ := net.SplitHostPort(pc.LocalAddr().String())
	t.url = "turn:" + net.JoinHostPort(ip.String(), port) + "?transport=udp"
	t.srv, err = turn.NewServer(turn.ServerConfig{
		Realm:         cfg.Realm,
		LoggerFactory: lf,
		AuthHandler:   turn.LongTermTURNRESTAuthHandler(t.secret, lf.NewLogger("turn")),
		PacketConnConfigs: []turn.PacketConnConfig{{
			PacketConn:            pc,
			RelayAddressGenerator: &turn.RelayAddressGeneratorStatic{RelayAddress: ip, Address: host},
			// The relay must not become a way into the cloud's own
			// machine or networks (turnpeer.go).
			PermissionHandler: func(_ net.Addr, peer net.IP) bool {
				own := hostAddrs()
				if a, ok := netip.AddrFromSlice(ip); ok {
					own = append(own, a)
				}
				return turnPeerAllowed(peer, loopbackOK, own)
			},
		}},
	})
	if err != nil {
		pc.Close()
		return nil, err
	}
	return t, nil
}

// Credentials returns an ICE server entry with credentials for user valid
// for ttl.
func (t *TURN) Credentials(user string, ttl time.Duration) (ICEServer, error) {
	u, p, err := turn.GenerateLongTermTURNRESTCredentials(t.secret, user, ttl)
	if err != nil {
		return ICEServer{}, err
	}
	return ICEServer{URLs: []string{t.url}, Username: u, Credential: p}, nil
}

// Addr is the relay's UDP address.
func (t *TURN) Addr() net.Addr { return t.addr }

// Allocations is the number of relay allocations in use.
func (t *TURN) Allocations() int { return t.srv.AllocationCount() }

// Close stops the relay.
func (t *TURN) Close() error { return t.srv.Close() }
