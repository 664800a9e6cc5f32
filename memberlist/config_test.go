package memberlist_test

import (
	"context"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	ml "github.com/hashicorp/memberlist"

	"github.com/libcluster-go/libcluster"
	"github.com/libcluster-go/libcluster/internal/testkit/testenv"
	"github.com/libcluster-go/libcluster/memberlist"
)

func TestDefaultConfig(t *testing.T) {
	cfg := memberlist.DefaultConfig("a@10.0.0.1")
	if cfg.BindPort != 7946 {
		t.Errorf("BindPort = %d, want 7946", cfg.BindPort)
	}
	if cfg.Profile != memberlist.ProfileLAN || cfg.LeaveTimeout != memberlist.DefaultLeaveTimeout {
		t.Errorf("defaults: %+v", cfg)
	}
}

// Invalid configurations fail at Start with an error naming the field and
// the fix.
func TestConfigErrors(t *testing.T) {
	base := func() memberlist.Config {
		c := memberlist.DefaultConfig("a@127.0.0.1")
		c.BindAddr = "127.0.0.1"
		c.BindPort = 0
		c.Logger = testLogger(t)
		return c
	}
	cases := []struct {
		name   string
		change func(*memberlist.Config)
		want   []string
	}{
		{"no name", func(c *memberlist.Config) { c.Name = "" }, []string{"Config.Name", "empty"}},
		{"bad name", func(c *memberlist.Config) { c.Name = "a b@host" }, []string{"Config.Name", "basename"}},
		{"key 5 bytes", func(c *memberlist.Config) { c.SecretKey = []byte("short") }, []string{"SecretKey", "5 bytes", "16, 24 or 32"}},
		{"key 33 bytes", func(c *memberlist.Config) { c.SecretKey = make([]byte, 33) }, []string{"SecretKey", "33 bytes"}},
		{"bind host name", func(c *memberlist.Config) { c.BindAddr = "localhost" }, []string{"BindAddr", "not an IP address"}},
		{"bind host:port", func(c *memberlist.Config) { c.BindAddr = "127.0.0.1:7946" }, []string{"BindAddr", "not an IP address"}},
		{"bind port range", func(c *memberlist.Config) { c.BindPort = 70000 }, []string{"BindPort", "out of range"}},
		{"peer port range", func(c *memberlist.Config) { c.PeerPort = -1 }, []string{"PeerPort", "out of range"}},
		{"advertise name", func(c *memberlist.Config) { c.AdvertiseAddr = "example.com" }, []string{"AdvertiseAddr", "not an IP address"}},
		{"advertise wildcard", func(c *memberlist.Config) { c.AdvertiseAddr = "0.0.0.0" }, []string{"AdvertiseAddr", "wildcard"}},
		{"profile", func(c *memberlist.Config) { c.Profile = "fast" }, []string{"Profile", `"fast"`, "lan"}},
		{"leave timeout", func(c *memberlist.Config) { c.LeaveTimeout = -time.Second }, []string{"LeaveTimeout", "negative"}},
		// 192.0.2.1 (TEST-NET-1) is not on this machine: binding fails, no
		// packet is sent.
		{"foreign address", func(c *memberlist.Config) { c.BindAddr = "192.0.2.1" }, []string{"start a@127.0.0.1", "192.0.2.1", "address of this machine"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := base()
			tc.change(&cfg)
			n, err := memberlist.Start(context.Background(), cfg)
			if err == nil {
				n.Close()
				t.Fatal("Start succeeded")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

// A port already taken fails Start with the address in the error.
func TestPortInUse(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	cfg := memberlist.DefaultConfig("a@127.0.0.1")
	cfg.BindAddr = "127.0.0.1"
	cfg.BindPort = port
	cfg.Logger = testLogger(t)
	n, err := memberlist.Start(context.Background(), cfg)
	if err == nil {
		n.Close()
		t.Fatal("Start on a taken port succeeded")
	}
	if !strings.Contains(err.Error(), "127.0.0.1:"+strconv.Itoa(port)) || !strings.Contains(err.Error(), "free port") {
		t.Errorf("error does not name the address and the fix: %v", err)
	}
}

// Port 0 binds a free port, advertised and used as PeerPort; the name's
// IP is advertised; Tune reaches the memberlist configuration but cannot
// replace the node name.
func TestAnyPortAndTune(t *testing.T) {
	tuned := false
	cfg := memberlist.Config{
		Name:     "a@127.0.0.1",
		BindAddr: "127.0.0.1",
		Profile:  memberlist.ProfileLocal,
		Logger:   testLogger(t),
		Tune: func(c *ml.Config) {
			tuned = c.ProbeTimeout == ml.DefaultLocalConfig().ProbeTimeout
			c.Name = "renamed"
		},
	}
	n, err := memberlist.Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	if !tuned {
		t.Error("Tune was not called with the local profile's timings")
	}
	if n.Addr().Port() == 0 || n.Addr().Port() == memberlist.DefaultPort {
		t.Errorf("Addr = %v, want a dynamic port", n.Addr())
	}
	if n.PeerPort() != int(n.Addr().Port()) {
		t.Errorf("PeerPort = %d, want the bound port %d", n.PeerPort(), n.Addr().Port())
	}
	if n.Addr().Addr().String() != "127.0.0.1" {
		t.Errorf("advertised %v, want the name's IP", n.Addr())
	}
	if got := n.Memberlist().LocalNode().Name; got != "a@127.0.0.1" {
		t.Errorf("member name %q, want the node name", got)
	}
	if n.Self() != libcluster.Node("a@127.0.0.1") {
		t.Errorf("Self = %v", n.Self())
	}
	if err := n.Close(); err != nil {
		t.Errorf("Close of a lone node: %v", err)
	}
	if err := n.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// Nodes named by IPv6 address bind, advertise and join over IPv6.
func TestIPv6(t *testing.T) {
	if l, err := net.Listen("tcp", "[::1]:0"); err != nil {
		testenv.Missing(t, "IPv6 loopback ::1 (%v)", err)
	} else {
		l.Close()
	}
	start := func(name string, peerPort int) *memberlist.Node {
		cfg := memberlist.DefaultConfig(libcluster.MustParseNode(name))
		cfg.BindAddr, cfg.BindPort, cfg.PeerPort = "::1", 0, peerPort
		cfg.Profile = memberlist.ProfileLocal
		cfg.Logger = testLogger(t)
		n, err := memberlist.Start(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(n.Kill)
		return n
	}
	a := start("a@::1", 0)
	b := start("b@::1", int(a.Addr().Port()))
	if got := a.Addr().Addr().String(); got != "::1" {
		t.Errorf("a advertises %v, want ::1", a.Addr())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := b.Connect(ctx, "a@::1"); err != nil {
		t.Fatal(err)
	}
	eventually(t, wait, "a and b see each other over IPv6", func() bool {
		return sameSet(a.Nodes(), []libcluster.Node{"b@::1"}) && sameSet(b.Nodes(), []libcluster.Node{"a@::1"})
	})
}

// Tuning overrides the profile before Tune sees the configuration, and bad
// values fail Start with the field's name.
func TestTuning(t *testing.T) {
	cfg := memberlist.DefaultConfig("tuned@127.0.0.1")
	cfg.BindAddr, cfg.BindPort = "127.0.0.1", 0
	cfg.Logger = testLogger(t)
	cfg.Tuning = memberlist.Tuning{PushPullInterval: 7 * time.Second, GossipNodes: 5, SuspicionMult: 9, ProbeInterval: 3 * time.Second, HandoffQueueDepth: 4096}
	var seen ml.Config
	cfg.Tune = func(c *ml.Config) { seen = *c }
	n, err := memberlist.Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	n.Kill()
	if seen.PushPullInterval != 7*time.Second || seen.GossipNodes != 5 || seen.SuspicionMult != 9 || seen.ProbeInterval != 3*time.Second ||
		seen.HandoffQueueDepth != 4096 || seen.ProbeTimeout != ml.DefaultLANConfig().ProbeTimeout {
		t.Errorf("Tune saw PushPull %v GossipNodes %d SuspicionMult %d ProbeInterval %v ProbeTimeout %v",
			seen.PushPullInterval, seen.GossipNodes, seen.SuspicionMult, seen.ProbeInterval, seen.ProbeTimeout)
	}
	if seen.EnableCompression {
		t.Error("lan profile: compression on, want off by default")
	}
	for _, c := range []struct {
		profile     memberlist.Profile
		compression *bool
		want        bool
	}{
		{memberlist.ProfileWAN, nil, true},
		{memberlist.ProfileLocal, nil, false},
		{memberlist.ProfileLAN, new(true), true},
		{memberlist.ProfileWAN, new(false), false},
	} {
		cfg := cfg
		cfg.Profile, cfg.Tuning = c.profile, memberlist.Tuning{Compression: c.compression}
		n, err := memberlist.Start(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		n.Kill()
		if seen.EnableCompression != c.want {
			t.Errorf("profile %s, Compression %v: EnableCompression %v, want %v", c.profile, c.compression, seen.EnableCompression, c.want)
		}
	}
	for _, c := range []struct {
		tuning memberlist.Tuning
		want   string
	}{
		{memberlist.Tuning{GossipInterval: -time.Second}, "Config.Tuning.GossipInterval is negative"},
		{memberlist.Tuning{RetransmitMult: -1}, "Config.Tuning.RetransmitMult is -1"},
		{memberlist.Tuning{HandoffQueueDepth: 1 << 20}, "Config.Tuning.HandoffQueueDepth is 1048576"},
		{memberlist.Tuning{ProbeInterval: time.Second, ProbeTimeout: 2 * time.Second}, "not shorter than ProbeInterval"},
	} {
		cfg.Tuning, cfg.Tune = c.tuning, nil
		if _, err := memberlist.Start(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Tuning %+v: Start error %v, want %q", c.tuning, err, c.want)
		}
	}
}
