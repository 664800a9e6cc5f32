package scale

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	ml "github.com/hashicorp/memberlist"

	"github.com/libcluster-go/libcluster"
	"github.com/libcluster-go/libcluster/memberlist"
	"github.com/libcluster-go/libcluster/strategy"
	"github.com/libcluster-go/libcluster/strategy/static"
)

// Transports MemberlistOptions.Transport can name.
const (
	// TransportLoopback runs every member over real UDP and TCP sockets
	// on loopback: each on its own loopback address (127.1.x.y) and one
	// shared port, or, with SharedPort, all on 127.0.0.1, each on its
	// own free port.
	TransportLoopback = "loopback"
	// TransportSim runs every member on an in-memory network (see
	// simNet): the protocol without sockets. Only convergence is
	// measured.
	TransportSim = "sim"
)

// MemberlistOptions configures RunMemberlist.
type MemberlistOptions struct {
	N         int                // members, at least 2
	Transport string             // TransportLoopback (default) or TransportSim
	Profile   memberlist.Profile // default lan, as `libcluster run`
	Tuning    memberlist.Tuning  // applied to every member
	Timeout   time.Duration      // per phase; default 2 minutes
	Faults    bool               // also kill a tenth of the members, then restart them
	Policy    libcluster.Policy  // the topologies' policy; zero: the CLI's defaults
	// SharedPort puts every member on one host address, so that every
	// name maps to the first member (the seed): a fleet that shares one
	// port per host behind a name, or a static list naming one seed.
	// Without it each member has an address of its own that its name
	// maps to, as nodes on separate hosts do.
	SharedPort bool
	// Protocol measures memberlist's protocol alone: no topologies; member
	// i joins one random member started before it (member 0 none), all at
	// once, as nodes given a seed list do.
	Protocol bool
	// TimeScale, if above 1, stretches every memberlist interval and
	// timeout by that factor and reports times divided by it, so that a
	// simulation too large for the machine's CPUs at real speed still
	// shows the protocol's own timing (Protocol runs only).
	TimeScale float64
	// Progress, if set, is called about once a second while a phase waits,
	// with the phase, the time it has waited and who is still short.
	Progress func(phase string, waited time.Duration, short string)
	// Converged, if set, is called when the converge phase ends, whether
	// or not it converged, while every member still runs (for a heap
	// profile of the fleet).
	Converged func()
}

// RunMemberlist runs one memberlist scenario like `libcluster run` does it:
// every member runs a topology with a static list of all N names. By
// default each name maps to its own member (an address of its own, one
// port for all); with SharedPort only the first member (the seed) listens
// on the port a name maps to, so a member reaches the others through the
// seed and gossip, and directly once it has seen them. It returns the
// figures of one run.
func RunMemberlist(ctx context.Context, o MemberlistOptions) (res Result) {
	res.N = o.N
	if o.N < 2 {
		res.Err = errors.New("scale: want at least 2 members")
		return res
	}
	if o.Timeout <= 0 {
		o.Timeout = 2 * time.Minute
	}
	if o.Profile == "" {
		o.Profile = memberlist.ProfileLAN
	}
	if o.Policy.Prune == 0 {
		o.Policy.Prune = libcluster.PruneNever
	}
	warn := newWarnCounter()
	log := slog.New(warn)
	defer func() { res.Warnings = warn.snapshot() }()

	if o.TimeScale != 0 && (o.TimeScale < 1 || o.TimeScale > 1000 || !o.Protocol) {
		res.Err = fmt.Errorf("scale: time scale %v; want 1 to 1000, with Protocol", o.TimeScale)
		return res
	}
	if o.TimeScale == 0 {
		o.TimeScale = 1
	}
	if o.N > maxMembers {
		res.Err = fmt.Errorf("scale: %d members; at most %d", o.N, maxMembers)
		return res
	}
	c := &mlCluster{o: o, log: log, names: make([]libcluster.Node, o.N), ips: make([]string, o.N),
		nodes: make([]*memberlist.Node, o.N), stops: make([]func(), o.N), dones: make([]chan struct{}, o.N),
		ports: make([]int, o.N), transports: make([]*simTransport, o.N), counts: make([]*atomic.Int64, o.N)}
	for i := range o.N {
		c.ips[i] = "127.0.0.1"
		if !o.SharedPort {
			c.ips[i] = MemberIP(i).String()
		}
		c.names[i] = libcluster.MustParseNode(fmt.Sprintf("m%d@%s", i, c.ips[i]))
	}
	switch {
	case o.Transport == TransportSim:
		_, c.transports = newSimNet(o.N, !o.SharedPort)
	case !o.SharedPort:
		p, err := FreePortOn(c.ips)
		if err != nil {
			res.Err = err
			return res
		}
		for i := range c.ports {
			c.ports[i] = p
		}
	}
	defer func() {
		if err := c.stopAll(); err != nil && res.Err == nil {
			res.Err = err
		}
	}()
	for i := range o.N {
		if err := c.start(ctx, i); err != nil {
			res.Err = err
			return res
		}
	}
	if o.Protocol {
		return c.protocol(ctx, res)
	}
	// Start the topologies last, all at once, as a fleet rollout would.
	for i := range o.N {
		if err := c.run(i); err != nil {
			res.Err = err
			return res
		}
	}
	start := time.Now()
	all := func(int) int { return o.N - 1 }
	err := c.wait(ctx, "converge", o.Timeout, all)
	if o.Converged != nil {
		o.Converged()
	}
	if err != nil {
		res.Err = fmt.Errorf("converge: %w", err)
		return res
	}
	res.Converge = time.Since(start)
	res.ConvergeDowns = c.downs.Load()
	if !o.Faults || o.Transport == TransportSim {
		return res
	}
	k := max(1, o.N/10)
	killed := o.N - k // members killed: the last k, never the seed
	start = time.Now()
	for i := killed; i < o.N; i++ {
		c.stop(i)
		c.nodes[i].Kill()
	}
	survivors := func(i int) int {
		if i >= killed {
			return 0
		}
		return killed - 1
	}
	if err := c.waitFirst(ctx, "detect", o.Timeout, killed, survivors); err != nil {
		res.Err = fmt.Errorf("detect: %w", err)
		return res
	}
	res.Detect = time.Since(start)
	start = time.Now()
	for i := killed; i < o.N; i++ {
		if err := c.start(ctx, i); err != nil {
			res.Err = fmt.Errorf("restart: %w", err)
			return res
		}
		if err := c.run(i); err != nil {
			res.Err = err
			return res
		}
	}
	if err := c.wait(ctx, "heal", o.Timeout, all); err != nil {
		res.Err = fmt.Errorf("heal: %w", err)
		return res
	}
	res.Heal = time.Since(start)
	return res
}

type mlCluster struct {
	o          MemberlistOptions
	names      []libcluster.Node
	ips        []string // member i's bind address
	log        *slog.Logger
	nodes      []*memberlist.Node
	stops      []func()
	dones      []chan struct{}
	ports      []int
	transports []*simTransport
	wg         sync.WaitGroup
	downs      atomic.Int64 // down events seen by all members
	// counts[i] is member i's live peers, counted from its up and down
	// events: what Nodes lists, without building the list. At 1,000
	// members a pass of len(Nodes()) allocated 16 MB, and on a fleet whose
	// collector was already marking, the assists made one pass take a
	// minute, far past the phase's timeout (memberlist's own NumMembers
	// waits for its node lock, which a busy member hardly frees).
	counts []*atomic.Int64
}

func (c *mlCluster) start(ctx context.Context, i int) error {
	cfg := memberlist.DefaultConfig(c.names[i])
	cfg.BindAddr = c.ips[i]
	// Shared port: 0 at first (any free port), the same port on restart;
	// else the one port picked for all.
	cfg.BindPort = c.ports[i]
	cfg.PeerPort = c.ports[0]
	cfg.Profile = c.o.Profile
	cfg.LeaveTimeout = time.Second
	cfg.Logger = c.log
	cfg.Tuning = c.o.Tuning
	t := c.transports[i]
	if t != nil {
		cfg.BindPort = 0
		cfg.PeerPort = t.net.peerPort
	}
	k := c.o.TimeScale
	cfg.Tune = func(mc *ml.Config) {
		if t != nil {
			mc.Transport = t
		}
		if k > 1 {
			for _, d := range []*time.Duration{&mc.ProbeInterval, &mc.ProbeTimeout, &mc.GossipInterval,
				&mc.GossipToTheDeadTime, &mc.PushPullInterval, &mc.TCPTimeout, &mc.DeadNodeReclaimTime} {
				*d = time.Duration(float64(*d) * k)
			}
		}
	}
	n, err := memberlist.Start(ctx, cfg)
	if err != nil {
		return err
	}
	c.nodes[i] = n
	c.ports[i] = int(n.Addr().Port())
	live := new(atomic.Int64) // up and down events alternate for each peer
	c.counts[i] = live
	n.WatchNodes(func(ev libcluster.NodeEvent) {
		if ev.Up {
			live.Add(1)
			return
		}
		live.Add(-1)
		c.downs.Add(1)
	})
	return nil
}

// protocol runs the Protocol scenario on the started members.
func (c *mlCluster) protocol(ctx context.Context, res Result) Result {
	start := time.Now()
	errs := make(chan error, c.o.N)
	var wg sync.WaitGroup
	for i := 1; i < c.o.N; i++ {
		seed := c.nodes[rand.N(i)].Addr().String()
		m := c.nodes[i].Memberlist()
		wg.Go(func() {
			if _, err := m.Join([]string{seed}); err != nil {
				errs <- fmt.Errorf("member %d: join %s: %w", i, seed, err)
			}
		})
	}
	all := func(int) int { return c.o.N - 1 }
	err := c.wait(ctx, "converge", time.Duration(float64(c.o.Timeout)*c.o.TimeScale), all)
	wall := time.Since(start)
	if c.o.Converged != nil {
		c.o.Converged()
	}
	if err == nil {
		wg.Wait() // converged: every join has returned or is about to
	}
	failed := 0
	var first error
	for len(errs) > 0 { // on failure, joins still running end when the members are killed
		if e := <-errs; first == nil {
			first = e
		}
		failed++
	}
	switch {
	case err != nil && first != nil:
		res.Err = fmt.Errorf("converge: %w (%d joins failed, first: %v)", err, failed, first)
	case err != nil:
		res.Err = fmt.Errorf("converge: %w", err)
	default:
		res.Converge = time.Duration(float64(wall) / c.o.TimeScale)
		res.ConvergeDowns = c.downs.Load()
	}
	return res
}

func (c *mlCluster) run(i int) error {
	s, err := static.New(static.Config{Hosts: c.names}, strategy.Options{})
	if err != nil {
		return err
	}
	topo := &libcluster.Topology{Name: "bench", Strategy: s, Connector: c.nodes[i], Policy: c.o.Policy, Logger: c.log}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	c.wg.Go(func() {
		defer close(done)
		_ = topo.Run(ctx)
	})
	c.stops[i] = cancel
	c.dones[i] = done
	return nil
}

// stop stops member i's topology, waiting for it at most a few seconds
// (a topology that does not stop is reported when the run ends).
func (c *mlCluster) stop(i int) {
	if c.stops[i] == nil {
		return
	}
	c.stops[i]()
	c.stops[i] = nil
	select {
	case <-c.dones[i]:
	case <-time.After(5 * time.Second):
	}
}

func (c *mlCluster) wait(ctx context.Context, phase string, timeout time.Duration, want func(int) int) error {
	return c.waitFirst(ctx, phase, timeout, len(c.nodes), want)
}

// waitFirst waits until members 0..n-1 each list want(i) others.
func (c *mlCluster) waitFirst(ctx context.Context, phase string, timeout time.Duration, n int, want func(int) int) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	count := func(i int) int { return int(c.counts[i].Load()) }
	if p := c.o.Progress; p != nil {
		start := time.Now()
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		done := make(chan struct{})
		var wg sync.WaitGroup
		// Wait for a report in progress before the caller moves on (and
		// kills members, which would then be reported with empty views).
		defer wg.Wait()
		defer close(done)
		wg.Go(func() {
			for {
				select {
				case <-done:
					return
				case <-tick.C:
					p(phase, time.Since(start), shortfall(n, count, want))
				}
			}
		})
	}
	return waitAll(ctx, n, count, want)
}

// stopAll cancels every topology, kills every member, then waits for the
// topologies, at most 30 s; it returns an error naming how many did not
// stop.
func (c *mlCluster) stopAll() error {
	for i, stop := range c.stops {
		if stop != nil {
			stop()
			c.stops[i] = nil
		}
	}
	var wg sync.WaitGroup
	for _, n := range c.nodes {
		if n != nil {
			wg.Go(n.Kill)
		}
	}
	wg.Wait()
	deadline := time.After(30 * time.Second)
	stuck := 0
	for _, d := range c.dones {
		if d == nil {
			continue
		}
		select {
		case <-d:
		case <-deadline:
			stuck++
		}
	}
	if stuck > 0 {
		return fmt.Errorf("scale: %d topologies did not stop within 30s of their cancel", stuck)
	}
	return nil
}

// maxMembers bounds a run: member addresses 127.1.0.1 to 127.1.255.250.
const maxMembers = 256 * 250

// MemberIP is member i's own loopback address, 127.1.x.y (y 1 to 250, so
// that no address ends in .0 or .255).
func MemberIP(i int) netip.Addr {
	return netip.AddrFrom4([4]byte{127, 1, byte(i / 250), byte(i%250 + 1)})
}

// FreePortOn returns a port that is free for UDP and TCP on every one of
// ips, trying a few ports the kernel picks.
func FreePortOn(ips []string) (int, error) {
	var last error
	for range 20 {
		l, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.ParseIP(ips[0])})
		if err != nil {
			return 0, fmt.Errorf("scale: no free port on %s: %w", ips[0], err)
		}
		p := l.Addr().(*net.TCPAddr).Port
		_ = l.Close()
		if last = portFree(ips, p); last == nil {
			return p, nil
		}
	}
	return 0, fmt.Errorf("scale: found no port free on all %d member addresses: %w", len(ips), last)
}

// portFree checks that port p can be bound for TCP and UDP on every one
// of ips (and leaves it free again).
func portFree(ips []string, p int) error {
	for _, ip := range ips {
		a := net.ParseIP(ip)
		t, err := net.ListenTCP("tcp", &net.TCPAddr{IP: a, Port: p})
		if err != nil {
			return err
		}
		u, err := net.ListenUDP("udp", &net.UDPAddr{IP: a, Port: p})
		_ = t.Close()
		if err != nil {
			return err
		}
		_ = u.Close()
	}
	return nil
}
