// Package etcd discovers nodes through etcd: every node keeps one key
// under a shared prefix, bound to a lease that it keeps alive, and watches
// the prefix. The keys under the prefix are the complete set of nodes, so a
// node that leaves (its lease is revoked) or dies (its lease expires after
// TTL) disappears from every other node's set.
//
// It is what libcluster users run as a third-party etcd strategy, with the
// rules every strategy here follows: a failed lookup keeps the last good
// set and raises a discovery error that says what to fix (the endpoints,
// the user name and password, the certificates), an etcd restart
// disconnects nobody (the lease and the keys survive it and the watch
// resumes where it stopped), and every value read from etcd is checked.
//
// Config keys (etcdctl's flag names where etcd has one):
//
//	endpoints             list of etcd client URLs (default http://127.0.0.1:2379)
//	prefix                key prefix shared by the cluster (default /libcluster/nodes/)
//	ttl                   lease time to live (default 10s; whole seconds, at least 2s)
//	user, password        etcd authentication (both or neither)
//	cacert, cert, key     TLS: CA bundle, client certificate and key (PEM files)
//	insecure_skip_tls_verify  do not verify the server certificate (false)
//	dial_timeout          bound on connecting and authenticating (default 5s)
//	command_timeout       bound on one request (default 5s)
//	name                  node name to announce (default this node's name)
//
// See README.md next to this file.
package etcd

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/libcluster-go/libcluster"
	"github.com/libcluster-go/libcluster/strategy"
)

// Defaults of the Config fields.
const (
	DefaultEndpoints      = "http://127.0.0.1:2379"
	DefaultPrefix         = "/libcluster/nodes/"
	DefaultTTL            = 10 * time.Second
	DefaultDialTimeout    = 5 * time.Second
	DefaultCommandTimeout = 5 * time.Second
	// MinTTL is the shortest lease etcd grants reliably.
	MinTTL = 2 * time.Second
	// MaxKeys bounds how many keys under the prefix are read; more is an
	// error (a prefix shared with something else, most likely).
	MaxKeys = 10000
)

func init() {
	strategy.Register(strategy.Info{
		Name:    "etcd",
		Aliases: []string{"Cluster.Strategy.Etcd"},
		Summary: "nodes that keep a leased key under a prefix in etcd (watched)",
		New: func(a strategy.Args) (libcluster.Strategy, error) {
			cfg, err := FromParams(a.Params)
			if err != nil {
				return nil, err
			}
			return New(cfg, Options{Self: a.Self, Logger: a.Logger})
		},
	})
}

// Config is the etcd strategy's configuration. The zero value of every
// field but Endpoints means its default; [Config.Validate] checks it and
// [New] fills the defaults in.
type Config struct {
	// Endpoints are the etcd client URLs, comma-separated as etcdctl's
	// --endpoints takes them (e.g. "https://10.0.0.1:2379,https://10.0.0.2:2379").
	// A host:port without a scheme means http, or https when TLS is set.
	// Default DefaultEndpoints.
	Endpoints string
	// Prefix is the key prefix that all nodes of the cluster share; each
	// node writes Prefix+<node name>. Default DefaultPrefix.
	Prefix string
	// TTL is the lease time to live: how long the key of a node that died
	// without revoking its lease stays. Whole seconds, at least MinTTL.
	// Default DefaultTTL.
	TTL time.Duration
	// Username and Password authenticate to etcd (etcdctl --user). Set
	// both or neither.
	Username, Password string
	// CACert, Cert and Key are PEM files: the CA bundle that signs the
	// server certificate, and a client certificate and key (etcdctl
	// --cacert, --cert, --key). Setting any enables TLS.
	CACert, Cert, Key string
	// InsecureSkipTLSVerify accepts any server certificate (testing only).
	InsecureSkipTLSVerify bool
	// DialTimeout bounds connecting and authenticating. Default DefaultDialTimeout.
	DialTimeout time.Duration
	// CommandTimeout bounds one request. Default DefaultCommandTimeout.
	CommandTimeout time.Duration
	// Name is the node name this node announces; default Options.Self.
	Name libcluster.Node
}

// Options carries what the runtime provides.
type Options struct {
	// Self is this node's name: it is announced unless Config.Name is set.
	Self libcluster.Node
	// Logger receives connection-state logs; default slog.Default().
	Logger *slog.Logger
}

// withDefaults returns c with every zero field set to its default.
func (c Config) withDefaults() Config {
	c.Endpoints = cmp.Or(strings.TrimSpace(c.Endpoints), DefaultEndpoints)
	c.Prefix = cmp.Or(c.Prefix, DefaultPrefix)
	c.TTL = cmp.Or(c.TTL, DefaultTTL)
	c.DialTimeout = cmp.Or(c.DialTimeout, DefaultDialTimeout)
	c.CommandTimeout = cmp.Or(c.CommandTimeout, DefaultCommandTimeout)
	return c
}

// Validate reports every invalid field in one error, naming the config key.
func (c Config) Validate() error {
	c = c.withDefaults()
	var ps strategy.Problems
	fail := ps.Add
	if _, err := c.endpoints(); err != nil {
		fail("endpoints", "%v", err)
	}
	if !strings.HasPrefix(c.Prefix, "/") || strings.ContainsAny(c.Prefix, "\x00\n") {
		fail("prefix", "want a key prefix starting with '/', such as %s, got %q", DefaultPrefix, c.Prefix)
	}
	if c.TTL < MinTTL || c.TTL%time.Second != 0 {
		fail("ttl", "want whole seconds of at least %v (etcd leases count seconds), got %v", MinTTL, c.TTL)
	}
	if (c.Username == "") != (c.Password == "") {
		fail("user", "set user and password together (etcd authenticates with both)")
	}
	if (c.Cert == "") != (c.Key == "") {
		fail("cert", "set cert and key together (a client certificate needs its key)")
	}
	if c.DialTimeout < 0 {
		fail("dial_timeout", "want a positive duration such as 5s")
	}
	if c.CommandTimeout < 0 {
		fail("command_timeout", "want a positive duration such as 5s")
	}
	if c.Name != "" {
		if _, err := libcluster.ParseNode(string(c.Name)); err != nil {
			fail("name", "%v", err)
		}
	}
	return ps.Err()
}

func (c Config) tlsEnabled() bool {
	return c.CACert != "" || c.Cert != "" || c.InsecureSkipTLSVerify
}

// endpoints splits and checks Endpoints.
func (c Config) endpoints() ([]string, error) {
	var out []string
	for _, e := range strings.Split(c.Endpoints, ",") {
		e = strings.TrimSpace(e)
		if e == "" {
			continue
		}
		if !strings.Contains(e, "://") {
			scheme := "http://"
			if c.tlsEnabled() {
				scheme = "https://"
			}
			e = scheme + e
		}
		u, err := url.Parse(e)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
			return nil, fmt.Errorf("want client URLs such as https://10.0.0.1:2379, got %q", e)
		}
		out = append(out, e)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no endpoint; want client URLs such as %s", DefaultEndpoints)
	}
	return out, nil
}

// FromParams decodes libcluster-style config keys into a Config.
func FromParams(p *strategy.Params) (Config, error) {
	p.Alias("username", "user")
	c := Config{
		Endpoints:             strings.Join(p.StringList("endpoints"), ","),
		Prefix:                p.String("prefix", ""),
		TTL:                   p.Duration("ttl", 0),
		Username:              p.String("user", ""),
		Password:              p.String("password", ""),
		CACert:                p.String("cacert", ""),
		Cert:                  p.String("cert", ""),
		Key:                   p.String("key", ""),
		InsecureSkipTLSVerify: p.Bool("insecure_skip_tls_verify", false),
		DialTimeout:           p.Duration("dial_timeout", 0),
		CommandTimeout:        p.Duration("command_timeout", 0),
		Name:                  libcluster.Node(p.String("name", "")),
	}
	if p.Has("endpoints") && strings.Trim(c.Endpoints, ", ") == "" {
		p.Fail("endpoints", "no endpoint; want client URLs such as %s, or leave the key out", DefaultEndpoints)
	}
	if p.Has("ttl") && c.TTL == 0 {
		p.Fail("ttl", "infinity is not a lease; want e.g. 10s")
	}
	return strategy.Checked(p, c)
}

// Strategy is the etcd strategy. Make it with [New].
type Strategy struct {
	cfg       Config
	endpoints []string
	name      libcluster.Node
	log       *slog.Logger
}

// New checks cfg and returns the strategy. The name announced is cfg.Name,
// else opts.Self; with neither, the strategy only watches (it reads the
// set and registers nothing), as explain needs.
func New(cfg Config, opts Options) (*Strategy, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	eps, _ := cfg.endpoints()
	return &Strategy{
		cfg:       cfg,
		endpoints: eps,
		name:      cmp.Or(cfg.Name, opts.Self),
		log:       cmp.Or(opts.Logger, slog.Default()),
	}, nil
}

// Config returns the configuration in use, defaults filled in.
func (s *Strategy) Config() Config { return s.cfg }

func (s *Strategy) source() string {
	return fmt.Sprintf("etcd %s prefix %s", strings.Join(s.endpoints, ","), s.cfg.Prefix)
}

// explain wraps an etcd error with what was tried and what to check.
func (s *Strategy) explain(what string, err error) error {
	eps := strings.Join(s.endpoints, ",")
	var hint string
	switch {
	case strings.Contains(err.Error(), "authentication failed"):
		hint = fmt.Sprintf("etcd refused user %q: check user and password", s.cfg.Username)
	case strings.Contains(err.Error(), "permission denied"):
		hint = fmt.Sprintf("user %q may not use prefix %s: grant its role readwrite on that prefix (etcdctl role grant-permission ROLE --prefix readwrite %s)", s.cfg.Username, s.cfg.Prefix, s.cfg.Prefix)
	case strings.Contains(err.Error(), "user name is empty"):
		hint = "etcd has authentication enabled: set user and password"
	case errors.Is(err, context.DeadlineExceeded) || isNetError(err):
		hint = fmt.Sprintf("no answer: check that etcd is running at endpoints %s and reachable from here", eps)
	default:
		hint = fmt.Sprintf("check endpoints %s and the TLS settings", eps)
	}
	return fmt.Errorf("etcd: %s at %s: %w (%s)", what, eps, err, hint)
}

// Discover reads the keys under the prefix once, without registering this
// node. It is what explain shows.
func (s *Strategy) Discover(ctx context.Context) (libcluster.Update, error) {
	cl, err := s.newClient()
	if err != nil {
		return libcluster.Update{}, err
	}
	defer cl.close()
	set := newNodeSet(s.cfg.Prefix)
	if _, err := s.load(ctx, cl, set); err != nil {
		return libcluster.Update{}, err
	}
	return set.update(s.source()), nil
}

// load replaces set with the keys under the prefix and returns the
// revision the answer is from.
func (s *Strategy) load(ctx context.Context, cl *client, set *nodeSet) (int64, error) {
	cctx, cancel := context.WithTimeout(ctx, s.cfg.CommandTimeout)
	defer cancel()
	kvs, rev, err := cl.rangePrefix(cctx, s.cfg.Prefix, MaxKeys+1)
	if err != nil {
		return 0, s.explain("read prefix "+s.cfg.Prefix, err)
	}
	if len(kvs) > MaxKeys {
		return 0, fmt.Errorf("etcd: more than %d keys under prefix %s: give this cluster a prefix of its own", MaxKeys, s.cfg.Prefix)
	}
	set.reset()
	for _, kv := range kvs {
		set.put(kv.Key, kv.Value)
	}
	return rev, nil
}

// Run registers this node, watches the prefix and reports the complete
// set after every change, until ctx ends; then it revokes the lease, so
// the other nodes see this one leave at once. Connection and
// authentication errors are reported as discovery errors (the last good
// set is kept) and retried with back-off.
func (s *Strategy) Run(ctx context.Context, r libcluster.Reporter) error {
	return strategy.Sessions(ctx, r, s.log, s.source(), time.Second, func(ctx context.Context) error {
		return s.session(ctx, r)
	})
}

// lease is this node's registration.
type lease struct {
	id    int64
	alive <-chan struct{} // a keep-alive answer; closed when the lease is gone
	stop  context.CancelFunc
}

// register grants a lease, writes this node's key under it and keeps it
// alive.
func (s *Strategy) register(ctx context.Context, cl *client) (*lease, error) {
	cctx, cancel := context.WithTimeout(ctx, s.cfg.CommandTimeout)
	defer cancel()
	id, err := cl.grant(cctx, int64(s.cfg.TTL/time.Second))
	if err != nil {
		return nil, s.explain("grant a lease", err)
	}
	key := s.cfg.Prefix + string(s.name)
	if err := cl.put(cctx, key, string(s.name), id); err != nil {
		return nil, s.explain("write key "+key, err)
	}
	kctx, stop := context.WithCancel(ctx)
	alive := make(chan struct{}, 1)
	go s.keepAlive(kctx, cl, id, alive)
	return &lease{id: id, alive: alive, stop: stop}, nil
}

// keepAlive renews the lease every TTL/3 until ctx ends, sending on alive
// after each answer; it closes alive when etcd says the lease is gone.
// Failed renewals are retried at the next tick.
func (s *Strategy) keepAlive(ctx context.Context, cl *client, id int64, alive chan<- struct{}) {
	t := time.NewTicker(s.cfg.TTL / 3)
	defer t.Stop()
	for {
		cctx, cancel := context.WithTimeout(ctx, s.cfg.CommandTimeout)
		ttl, err := cl.keepAlive(cctx, id)
		cancel()
		switch {
		case ctx.Err() != nil:
			return
		case err == nil && ttl <= 0:
			close(alive)
			return
		case err == nil:
			select {
			case alive <- struct{}{}:
			default:
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// revoke removes the registration; errors are only logged (the lease then
// expires after TTL).
func (s *Strategy) revoke(cl *client, l *lease) {
	l.stop()
	if l.id == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.CommandTimeout)
	defer cancel()
	if err := cl.revoke(ctx, l.id); err != nil {
		s.log.Warn("etcd: revoking the lease failed; the key expires after ttl", "err", err, "ttl", s.cfg.TTL)
	}
}

// session runs one client connection: register, load, watch. It returns
// the error that ended it (nil only when ctx ended).
func (s *Strategy) session(ctx context.Context, r libcluster.Reporter) error {
	cl, err := s.newClient()
	if err != nil {
		return err
	}
	defer cl.close()
	var l *lease
	if s.name != "" {
		if l, err = s.register(ctx, cl); err != nil {
			return err
		}
		defer func() { s.revoke(cl, l) }()
	}
	set := newNodeSet(s.cfg.Prefix)
	rev, err := s.load(ctx, cl, set)
	if err != nil {
		return err
	}
	r.Report(set.update(s.source()))

	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	wch := make(chan []watchEvent)
	werr := make(chan error, 1)
	go func() {
		// A broken stream (etcd restarted) is resumed from the next
		// revision, as the etcd client does; other ends reload.
		next := rev + 1
		for {
			err := cl.watch(wctx, s.cfg.Prefix, &next, func(evs []watchEvent) {
				select {
				case wch <- evs:
				case <-wctx.Done():
				}
			})
			if err == nil || !errors.Is(err, errStream) {
				werr <- err
				return
			}
			t := time.NewTimer(time.Second)
			select {
			case <-wctx.Done():
				t.Stop()
				werr <- nil
				return
			case <-t.C:
			}
		}
	}()

	// Keep-alive answers come every TTL/3; none for a TTL means etcd is
	// unreachable. Say so (once per outage): the set is kept meanwhile.
	lastAlive := time.Now()
	check := time.NewTicker(s.cfg.TTL / 2)
	defer check.Stop()
	var alive <-chan struct{}
	if l != nil {
		alive = l.alive
	}
	warned := false
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-werr:
			if ctx.Err() != nil {
				return nil
			}
			// Compaction, cancellation or a broken stream: reload and
			// watch again.
			return s.explain("watch prefix "+s.cfg.Prefix, err)
		case evs := <-wch:
			for _, ev := range evs {
				switch ev.Type {
				case "", "PUT":
					set.put(ev.Kv.Key, ev.Kv.Value)
				case "DELETE":
					set.delete(ev.Kv.Key)
				}
			}
			r.Report(set.update(s.source()))
		case _, ok := <-alive:
			if !ok {
				if ctx.Err() != nil {
					return nil
				}
				// The lease expired (etcd was unreachable for longer
				// than TTL) or was revoked: register again.
				s.log.Warn("etcd: lease lost; registering again", "name", s.name)
				l.stop()
				if l, err = s.register(ctx, cl); err != nil {
					l = &lease{stop: func() {}} // nothing to revoke
					return err
				}
				alive = l.alive
			}
			lastAlive = time.Now()
			if warned {
				// Report the set again: a good report clears the error.
				s.log.Info("etcd: reachable again", "endpoints", s.cfg.Endpoints)
				warned = false
				r.Report(set.update(s.source()))
			}
		case <-check.C:
			if l != nil && !warned && time.Since(lastAlive) > s.cfg.TTL {
				warned = true
				r.Report(libcluster.Failed(s.explain("keep the lease alive",
					fmt.Errorf("no keep-alive answer for %v: %w", time.Since(lastAlive).Round(time.Second), context.DeadlineExceeded))).WithSource(s.source()))
			}
		}
	}
}

// nodeSet is the keys under the prefix and the node each one names.
type nodeSet struct {
	prefix  string
	nodes   map[string]libcluster.Node
	dropped map[string]string // key -> reason
}

func newNodeSet(prefix string) *nodeSet {
	s := &nodeSet{prefix: prefix}
	s.reset()
	return s
}

func (s *nodeSet) reset() {
	s.nodes = map[string]libcluster.Node{}
	s.dropped = map[string]string{}
}

// put records a key: its value must be a node name.
func (s *nodeSet) put(k, v []byte) {
	key := string(k)
	delete(s.nodes, key)
	delete(s.dropped, key)
	if len(v) > libcluster.MaxNodeNameLen {
		s.dropped[key] = fmt.Sprintf("value of %d bytes is not a node name (at most %d)", len(v), libcluster.MaxNodeNameLen)
		return
	}
	n, err := libcluster.ParseNode(string(v))
	if err != nil {
		s.dropped[key] = fmt.Sprintf("value %q is not a node name: %v", v, err)
		return
	}
	s.nodes[key] = n
}

func (s *nodeSet) delete(k []byte) {
	delete(s.nodes, string(k))
	delete(s.dropped, string(k))
}

// update is the complete set, sorted, with the dropped keys.
func (s *nodeSet) update(source string) libcluster.Update {
	var nodes []libcluster.Node
	seen := map[libcluster.Node]bool{}
	for _, n := range s.nodes {
		if !seen[n] {
			seen[n] = true
			nodes = append(nodes, n)
		}
	}
	slices.Sort(nodes)
	var dropped []libcluster.Dropped
	for k, why := range s.dropped {
		dropped = append(dropped, libcluster.Dropped{Candidate: k, Reason: why})
	}
	slices.SortFunc(dropped, func(a, b libcluster.Dropped) int { return strings.Compare(a.Candidate, b.Candidate) })
	return libcluster.Complete(nodes).WithDropped(dropped).WithSource(source)
}

// isNetError reports an error of the connection (refused, unreachable,
// timed out) rather than an answer from etcd.
func isNetError(err error) bool {
	var ne net.Error
	var oe *net.OpError
	return errors.As(err, &ne) || errors.As(err, &oe)
}
