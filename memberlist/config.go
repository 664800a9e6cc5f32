package memberlist

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync/atomic"
	"time"

	ml "github.com/hashicorp/memberlist"

	"github.com/libcluster-go/libcluster"
)

// DefaultPort is the port memberlist uses by default, for both UDP and TCP.
const DefaultPort = 7946

// DefaultLeaveTimeout is how long [Node.Close] waits for the leave to be
// gossiped before it shuts the node down.
const DefaultLeaveTimeout = 5 * time.Second

// Profile selects memberlist's timing preset: how often members probe each
// other, how long they wait for answers and how fast gossip spreads.
type Profile string

// The profiles, after memberlist's DefaultLANConfig, DefaultWANConfig and
// DefaultLocalConfig.
const (
	// ProfileLAN suits a data centre network: probe every second, 500 ms
	// probe timeout, gossip every 200 ms, no compression (see
	// Tuning.Compression). The default.
	ProfileLAN Profile = "lan"
	// ProfileWAN suits links with high latency: probe every 5 s, 3 s probe
	// timeout, gossip every 500 ms, compressed.
	ProfileWAN Profile = "wan"
	// ProfileLocal suits one machine (loopback), for tests and demos:
	// memberlist's DefaultLocalConfig (1 s TCP timeout, 200 ms probe
	// timeout, gossip every 100 ms) but with the LAN preset's gossip
	// retransmission (RetransmitMult 4 instead of 2). With 2, a burst of
	// joins outran gossip and waited for the periodic state exchange: 50
	// nodes joining one seed at once took about 40 s to converge on
	// loopback, against under 1 s in most runs with 4. No compression,
	// as for lan.
	ProfileLocal Profile = "local"
)

// Config configures a [Node]. Build it with [DefaultConfig] and change what
// you need. In a Config built by hand, zero fields take the defaults named
// on them, except BindPort, where 0 means any free port.
type Config struct {
	// Name is this node's name, basename@host. It is also its memberlist
	// member name, and every peer must reach it under this name.
	Name libcluster.Node
	// BindAddr is the IP address to listen on for UDP and TCP. Default
	// "0.0.0.0", or "::" when Name's host is an IPv6 address. It must be
	// an IP address, not a host name.
	BindAddr string
	// BindPort is the UDP and TCP port to listen on. DefaultConfig sets
	// DefaultPort (7946); 0 means any free port.
	BindPort int
	// AdvertiseAddr is the address peers are told to use for this node.
	// Default: Name's host when it is an IP address; otherwise, when
	// BindAddr is a wildcard, the first address Name's host resolves to;
	// otherwise memberlist's own choice (the bound address, or a private
	// address of the machine).
	AdvertiseAddr string
	// AdvertisePort is the port peers are told to use; default the bound
	// port.
	AdvertisePort int
	// PeerPort is the port dialled to join a node that has not been seen
	// yet, at the host of its name. Default BindPort, or the port this
	// node bound when BindPort is 0: the fleet is expected to use one port
	// throughout.
	PeerPort int
	// SecretKey, when set, encrypts and authenticates all gossip with
	// AES-GCM. It must be 16, 24 or 32 bytes (AES-128, -192 or -256) and
	// the same on every member; nodes with different keys never merge.
	SecretKey []byte
	// Profile is the timing preset; default ProfileLAN.
	Profile Profile
	// LeaveTimeout bounds the graceful leave in Close; default
	// DefaultLeaveTimeout.
	LeaveTimeout time.Duration
	// Logger receives memberlist's log lines at matching levels, and this
	// package's diagnostics; nil means slog.Default().
	Logger *slog.Logger
	// Tuning sets memberlist's common timing and gossip settings over the
	// profile's (zero fields keep the profile's values).
	Tuning Tuning
	// Tune, if set, is called with the memberlist configuration after
	// every field above has been applied, to change anything else
	// (probe timings, Label, CIDRsAllowed, DeadNodeReclaimTime, a
	// Keyring, ...). It must not set Name, Delegate, Events or Alive: they
	// are set again afterwards, as this package needs them.
	Tune func(*ml.Config)
}

// DefaultConfig returns a Config for the named node with sane defaults for
// a LAN: port 7946, the LAN timing profile and a 5 s leave timeout.
func DefaultConfig(name libcluster.Node) Config {
	return Config{
		Name:         name,
		BindPort:     DefaultPort,
		Profile:      ProfileLAN,
		LeaveTimeout: DefaultLeaveTimeout,
	}
}

// settings is a validated Config with every default filled in.
type settings struct {
	self         libcluster.Node
	bindAddr     netip.Addr
	bindPort     int
	advertise    string
	advPort      int
	peerPort     int
	key          []byte
	profile      Profile
	leaveTimeout time.Duration
	log          *slog.Logger
	tuning       Tuning
	tune         func(*ml.Config)
	keepRepeats  bool // Tuning.RepeatFilter is false
}

func validPort(p int) bool { return p >= 0 && p <= 65535 }

// check validates cfg and fills in defaults. It may resolve Name's host to
// pick an advertise address, bounded by ctx.
func check(ctx context.Context, cfg Config) (settings, error) {
	var s settings
	self, err := libcluster.ParseNode(string(cfg.Name))
	if err != nil {
		return s, fmt.Errorf("memberlist: Config.Name: %w", err)
	}
	s.self = self
	hostAddr, hostIsIP := self.Addr()

	switch {
	case cfg.BindAddr != "":
		a, err := netip.ParseAddr(cfg.BindAddr)
		if err != nil || a.Zone() != "" {
			return s, fmt.Errorf("memberlist: Config.BindAddr %q is not an IP address; use an address of this machine such as 0.0.0.0, :: or 10.0.0.5 (not a host name or host:port)", cfg.BindAddr)
		}
		s.bindAddr = a.Unmap()
	case hostIsIP && hostAddr.Is6() && !hostAddr.Is4In6():
		s.bindAddr = netip.IPv6Unspecified()
	default:
		s.bindAddr = netip.IPv4Unspecified()
	}

	for _, p := range []struct {
		name string
		v    int
	}{{"BindPort", cfg.BindPort}, {"AdvertisePort", cfg.AdvertisePort}, {"PeerPort", cfg.PeerPort}} {
		if !validPort(p.v) {
			return s, fmt.Errorf("memberlist: Config.%s %d is out of range; use 1-65535 (or 0 for the default)", p.name, p.v)
		}
	}
	s.bindPort, s.advPort, s.peerPort = cfg.BindPort, cfg.AdvertisePort, cfg.PeerPort
	if s.peerPort == 0 {
		s.peerPort = cfg.BindPort // 0: filled in with the bound port after start
	}

	switch {
	case cfg.AdvertiseAddr != "":
		a, err := netip.ParseAddr(cfg.AdvertiseAddr)
		if err != nil || a.Zone() != "" {
			return s, fmt.Errorf("memberlist: Config.AdvertiseAddr %q is not an IP address; give the address peers reach this node at, e.g. 10.0.0.5", cfg.AdvertiseAddr)
		}
		if a.IsUnspecified() {
			return s, fmt.Errorf("memberlist: Config.AdvertiseAddr %q is a wildcard; give the address peers reach this node at", cfg.AdvertiseAddr)
		}
		s.advertise = a.Unmap().String()
	case hostIsIP:
		s.advertise = hostAddr.Unmap().String()
	case s.bindAddr.IsUnspecified():
		rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		addrs, err := net.DefaultResolver.LookupNetIP(rctx, "ip", self.Host())
		cancel()
		if err == nil && len(addrs) > 0 {
			s.advertise = addrs[0].Unmap().String()
		} else if s.bindAddr.Is6() {
			return s, fmt.Errorf("memberlist: cannot pick an address to advertise: host %q of Config.Name does not resolve (%v) and BindAddr is ::; set Config.AdvertiseAddr", self.Host(), err)
		}
	}

	switch n := len(cfg.SecretKey); n {
	case 0:
	case 16, 24, 32:
		s.key = append([]byte(nil), cfg.SecretKey...)
	default:
		return s, fmt.Errorf("memberlist: Config.SecretKey is %d bytes; it must be 16, 24 or 32 bytes (AES-128, AES-192 or AES-256), e.g. 32 random bytes from `head -c32 /dev/urandom | base64`, decoded", n)
	}

	switch cfg.Profile {
	case "":
		s.profile = ProfileLAN
	case ProfileLAN, ProfileWAN, ProfileLocal:
		s.profile = cfg.Profile
	default:
		return s, fmt.Errorf("memberlist: Config.Profile %q is unknown; use %q, %q or %q", cfg.Profile, ProfileLAN, ProfileWAN, ProfileLocal)
	}

	switch {
	case cfg.LeaveTimeout < 0:
		return s, errors.New("memberlist: Config.LeaveTimeout is negative; use a positive duration or 0 for the default")
	case cfg.LeaveTimeout == 0:
		s.leaveTimeout = DefaultLeaveTimeout
	default:
		s.leaveTimeout = cfg.LeaveTimeout
	}

	s.log = cfg.Logger
	if s.log == nil {
		s.log = slog.Default()
	}
	if err := cfg.Tuning.check(); err != nil {
		return s, err
	}
	s.tuning = cfg.Tuning
	s.tune = cfg.Tune
	s.keepRepeats = cfg.Tuning.RepeatFilter != nil && !*cfg.Tuning.RepeatFilter
	return s, nil
}

// base returns memberlist's preset for the profile.
func (s *settings) base() *ml.Config {
	switch s.profile {
	case ProfileWAN:
		return ml.DefaultWANConfig()
	case ProfileLocal:
		c := ml.DefaultLocalConfig()
		c.RetransmitMult = ml.DefaultLANConfig().RetransmitMult
		c.EnableCompression = false // see Tuning.Compression
		return c
	}
	c := ml.DefaultLANConfig()
	c.EnableCompression = false
	return c
}

// mlConfig builds the memberlist configuration; d serves as every delegate.
func (s *settings) mlConfig(d *delegate, closing *atomic.Bool) *ml.Config {
	c := s.base()
	c.Name = string(s.self)
	c.BindAddr = s.bindAddr.String()
	c.BindPort = s.bindPort
	c.AdvertiseAddr = s.advertise
	c.AdvertisePort = s.advPort
	if c.AdvertisePort == 0 {
		c.AdvertisePort = s.bindPort // memberlist replaces it when BindPort is 0
	}
	c.SecretKey = s.key
	c.Logger = newLogLogger(s.log, closing)
	c.LogOutput = nil
	s.tuning.Apply(c)
	if s.tune != nil {
		s.tune(c)
	}
	c.Name = string(s.self)
	c.Delegate = d
	c.Events = d
	c.Alive = d
	return c
}
