// Package erlanghosts is libcluster's Cluster.Strategy.ErlangHosts: it
// reads the hosts listed in a .hosts.erlang file, asks the EPMD on each of
// them which nodes run there, and reports <name>@<host> for every one,
// with the host exactly as written in the file.
//
// Build it from a [Config] with [New], or from libcluster's config keys
// with [ConfigFromParams]. Config keys:
//
//	path                 default: search ./.hosts.erlang, then $HOME/.hosts.erlang
//	polling_interval     default 5s; the file is re-read and the hosts re-asked each round
//	timeout              libcluster's key: integer ms sets polling_interval; "infinity": one round
//	connect_timeout      bound on one host's EPMD query, default 2s
//	epmd_port            default ERL_EPMD_PORT, else 4369
//	remove_unregistered  default false: a node is never removed (libcluster)
package erlanghosts

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/libcluster-go/libcluster"
	"github.com/libcluster-go/libcluster/erldist/epmd"
	"github.com/libcluster-go/libcluster/strategy"
)

// FileName is the name of the hosts file searched for.
const FileName = ".hosts.erlang"

// DefaultConnectTimeout bounds one host's EPMD query.
const DefaultConnectTimeout = 2 * time.Second

func init() {
	strategy.Register(strategy.Info{
		Name:    "erlanghosts",
		Aliases: []string{"Cluster.Strategy.ErlangHosts", "erlang_hosts"},
		Summary: "nodes on the hosts of a .hosts.erlang file, from each host's EPMD",
		New:     strategy.Use(ConfigFromParams, New),
	})
}

// Config says which hosts file to read, how to ask each host's EPMD and
// how often. Start from [DefaultConfig]; in a struct literal a zero field
// means what its comment says.
type Config struct {
	// Path is the hosts file. Key "path". Default "": search
	// ./.hosts.erlang, then $HOME/.hosts.erlang, as erl does.
	Path string
	// EPMDPort is the EPMD port on every host. Key "epmd_port". Default
	// epmd.Port() (ERL_EPMD_PORT, else 4369); 0 means the same.
	EPMDPort int
	// ConnectTimeout bounds each host's query. Hosts are asked in
	// parallel, so one that does not answer delays a round by at most
	// this much. Key "connect_timeout". Default DefaultConnectTimeout
	// (2s); 0 means the same.
	ConnectTimeout time.Duration
	// PollingInterval is the time between rounds; each round re-reads the
	// file. Key "polling_interval" (libcluster's "timeout" in integer ms
	// sets it too). Default strategy.DefaultPollingInterval (5s). 0 means
	// a single successful round, like libcluster's timeout: infinity.
	PollingInterval time.Duration
	// RemoveUnregistered makes each round a complete set: a node that a
	// host no longer lists leaves the desired set. Nodes of a host that
	// does not answer are kept from its last answer. When false, the
	// default, nodes are only added, as libcluster never disconnects. Key
	// "remove_unregistered".
	RemoveUnregistered bool
}

// DefaultConfig returns the defaults with every field spelled out.
func DefaultConfig() Config {
	return Config{
		EPMDPort:        epmd.Port(),
		ConnectTimeout:  DefaultConnectTimeout,
		PollingInterval: strategy.DefaultPollingInterval,
	}
}

// Validate reports every invalid field.
func (c Config) Validate() error {
	var ps strategy.Problems
	ps.Port("epmd_port", c.EPMDPort)
	ps.NotNegative("connect_timeout", c.ConnectTimeout, "2s")
	ps.NotNegative("polling_interval", c.PollingInterval, "5s")
	return ps.Err()
}

// ConfigFromParams decodes libcluster's config keys into a Config.
func ConfigFromParams(p *strategy.Params) (Config, error) {
	d := DefaultConfig()
	c := Config{
		Path:               p.String("path", d.Path),
		EPMDPort:           p.IntRange("epmd_port", d.EPMDPort, 1, 65535),
		ConnectTimeout:     p.PositiveDuration("connect_timeout", d.ConnectTimeout),
		RemoveUnregistered: p.Bool("remove_unregistered", d.RemoveUnregistered),
	}
	hasTimeout := p.Has("timeout")
	timeout := p.Duration("timeout", 0)
	if p.Has("polling_interval") {
		c.PollingInterval = p.PositiveDuration("polling_interval", d.PollingInterval)
		if hasTimeout {
			p.Fail("timeout", "set together with polling_interval, which it stands for; keep only polling_interval")
		}
	} else if hasTimeout {
		c.PollingInterval = timeout // 0 ("infinity"): one round
	} else {
		c.PollingInterval = d.PollingInterval
	}
	return strategy.Checked(p, c)
}

// Strategy reads a .hosts.erlang file and asks each host's EPMD for its
// nodes.
type Strategy struct {
	cfg  Config
	self libcluster.Node

	mu     sync.Mutex
	byHost map[string][]libcluster.Node // last answer per host, for RemoveUnregistered
}

// New builds the strategy from cfg; opts.Self, this node, is left out of
// the answers. It fails when cfg is invalid.
func New(cfg Config, opts strategy.Options) (*Strategy, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.EPMDPort == 0 {
		cfg.EPMDPort = epmd.Port()
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = DefaultConnectTimeout
	}
	return &Strategy{cfg: cfg, self: opts.Self}, nil
}

// searchPaths returns where the hosts file is looked for.
func (s *Strategy) searchPaths() []string {
	if s.cfg.Path != "" {
		return []string{s.cfg.Path}
	}
	paths := []string{FileName}
	if home, err := os.UserHomeDir(); err == nil && home != "" {
		paths = append(paths, filepath.Join(home, FileName))
	}
	return paths
}

// readFile finds and reads the hosts file.
func (s *Strategy) readFile() (string, []byte, error) {
	paths := s.searchPaths()
	for _, path := range paths {
		f, err := os.Open(path)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return path, nil, fmt.Errorf("erlanghosts: cannot open %s: %w", path, err)
		}
		data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
		f.Close()
		if err != nil {
			return path, nil, fmt.Errorf("erlanghosts: reading %s: %w", path, err)
		}
		return path, data, nil
	}
	shown := make([]string, len(paths))
	for i, p := range paths {
		if abs, err := filepath.Abs(p); err == nil {
			p = abs
		}
		shown[i] = p
	}
	return "", nil, fmt.Errorf("erlanghosts: no %s found (looked in %s); create one with one quoted host per line, e.g. 'host1.example.com'. — or set path", FileName, strings.Join(shown, ", "))
}

// hostResult is one host's EPMD answer.
type hostResult struct {
	names []epmd.NameEntry
	err   error
}

// Discover runs one round: it reads the file, asks every host's EPMD in
// parallel, and returns the nodes found. Hosts that did not answer are
// listed as dropped. It fails when the file is missing or malformed, or
// when no host answered.
func (s *Strategy) Discover(ctx context.Context) (libcluster.Update, error) {
	path, data, err := s.readFile()
	if err != nil {
		return libcluster.Update{}, err
	}
	entries, err := ParseHostsFile(data)
	if err != nil {
		return libcluster.Update{}, fmt.Errorf("erlanghosts: %s: %w", path, err)
	}
	var dropped []libcluster.Dropped
	var hosts []string
	for _, h := range entries {
		if _, err := libcluster.ParseNode("x@" + h.Name); err != nil {
			dropped = append(dropped, libcluster.Dropped{Candidate: h.Name, Reason: fmt.Sprintf("%s line %d: not a host name or address usable in a node name", path, h.Line)})
			continue
		}
		if !slices.Contains(hosts, h.Name) {
			hosts = append(hosts, strings.Clone(h.Name)) // not a view of the whole file
		}
	}
	port := s.cfg.EPMDPort
	src := fmt.Sprintf("%s (%d hosts), EPMD port %d", path, len(hosts), port)
	if len(hosts) == 0 {
		return libcluster.Update{}, fmt.Errorf("erlanghosts: %s lists no usable host; add lines such as 'host1.example.com'. (each entry ends with a dot)", path)
	}

	results := s.queryAll(ctx, hosts, port)
	if ctx.Err() != nil {
		return libcluster.Update{}, ctx.Err()
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.byHost == nil {
		s.byHost = map[string][]libcluster.Node{}
	}
	for h := range s.byHost {
		if !slices.Contains(hosts, h) {
			delete(s.byHost, h) // no longer in the file
		}
	}
	var nodes []libcluster.Node
	var failures []string
	for i, h := range hosts {
		res := results[i]
		if res.err != nil {
			dropped = append(dropped, libcluster.Dropped{Candidate: h, Reason: "EPMD did not answer: " + res.err.Error()})
			failures = append(failures, res.err.Error())
			nodes = append(nodes, s.byHost[h]...) // keep its last answer
			continue
		}
		cands := make([]string, 0, len(res.names))
		for _, n := range res.names {
			c := n.Name + "@" + h
			if libcluster.Node(c) == s.self {
				dropped = append(dropped, libcluster.Dropped{Candidate: c, Reason: "this node"})
				continue
			}
			cands = append(cands, c)
		}
		found, bad := strategy.NodesFromNames(cands)
		dropped = append(dropped, bad...)
		s.byHost[h] = found
		nodes = append(nodes, found...)
	}
	if len(failures) == len(hosts) {
		return libcluster.Update{}, fmt.Errorf("erlanghosts: no host in %s answered on EPMD port %d (check that the hosts run epmd and that the port is open): %s", path, port, strings.Join(failures, "; "))
	}
	nodes, _ = strategy.NodesFromNames(nodeStrings(nodes)) // dedupe
	return libcluster.Seen(nodes).WithDropped(dropped).WithSource(src), nil
}

func nodeStrings(ns []libcluster.Node) []string {
	out := make([]string, len(ns))
	for i, n := range ns {
		out[i] = string(n)
	}
	return out
}

// queryAll asks every host's EPMD at once; each query is bounded by the
// connect timeout.
func (s *Strategy) queryAll(ctx context.Context, hosts []string, port int) []hostResult {
	timeout := s.cfg.ConnectTimeout
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	results := make([]hostResult, len(hosts))
	var wg sync.WaitGroup
	for i, h := range hosts {
		wg.Go(func() {
			c := &epmd.Client{Host: h, Port: port, Timeout: timeout}
			names, err := c.Names(ctx)
			results[i] = hostResult{names: names, err: err}
		})
	}
	wg.Wait()
	return results
}

// Run queries at once and then every polling interval until ctx ends;
// failed rounds are reported as error updates. With polling interval 0 it
// stops querying after the first successful round (retrying a failed one
// every strategy.DefaultPollingInterval) and waits for ctx.
func (s *Strategy) Run(ctx context.Context, r libcluster.Reporter) error {
	if !s.cfg.RemoveUnregistered {
		r = strategy.SeenOnly(r)
	}
	src := "EPMD NAMES on the hosts of " + FileName + " (port " + strconv.Itoa(s.cfg.EPMDPort) + ")"
	if s.cfg.PollingInterval > 0 {
		p := strategy.Poller{Interval: s.cfg.PollingInterval, Discover: s.Discover, Source: src}
		return p.Run(ctx, r)
	}
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		u, err := s.Discover(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			r.Report(libcluster.Failed(err).WithSource(src))
			t.Reset(strategy.DefaultPollingInterval)
			continue
		}
		r.Report(strategy.AsComplete(u))
		<-ctx.Done()
		return nil
	}
}
