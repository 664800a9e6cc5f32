// Package consul discovers nodes from Consul's catalog: the instances of
// one service whose health checks pass (optionally with a tag, in a
// datacenter), followed with blocking queries, so a change reaches the
// topology as soon as Consul knows it, with one long-poll request open per
// node instead of a poll every few seconds.
//
// Each answer is the complete set, node_basename@<service address> (the
// node's address when the service registers none). A failed query keeps
// the last good set and raises a discovery error that says what to fix (the
// ACL rule to add, the address, the datacenter); it is retried with
// back-off.
//
// Build it from a [Config] with [New], or from libcluster's config keys
// with [ConfigFromParams]. Config keys:
//
//	service         required; the Consul service name
//	node_basename   required; the part before '@' of every node name
//	address         Consul HTTP API URL (default $CONSUL_HTTP_ADDR, else http://127.0.0.1:8500)
//	token           ACL token (default $CONSUL_HTTP_TOKEN)
//	datacenter      datacenter to ask (default the agent's)
//	tag             only instances with this tag
//	passing_only    only instances whose checks all pass (default true)
//	wait            longest a blocking query waits (default 5m, at most 10m)
//	cacert          PEM CA bundle for an https address
//
// See README.md next to this file.
package consul

import (
	"bytes"
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/libcluster-go/libcluster"
	"github.com/libcluster-go/libcluster/strategy"
)

// Defaults of the Config fields.
const (
	DefaultAddress = "http://127.0.0.1:8500"
	DefaultWait    = 5 * time.Minute
	// MaxWait is Consul's own cap on a blocking query's wait.
	MaxWait = 10 * time.Minute
	// MaxBodyBytes bounds one answer.
	MaxBodyBytes = 16 << 20
	// minInterval is the shortest time between two queries, so an index
	// that does not move cannot make a busy loop.
	minInterval = time.Second
)

func init() {
	strategy.Register(strategy.Info{
		Name:    "consul",
		Aliases: []string{"Cluster.Strategy.Consul"},
		Summary: "healthy instances of a Consul service (blocking queries)",
		New:     strategy.Use(ConfigFromParams, New),
	})
}

// Config is the Consul strategy's configuration. Service and NodeBasename
// are required; every other zero field means its default.
type Config struct {
	// Service is the Consul service whose instances are the nodes.
	Service string
	// NodeBasename is the part before '@' of every node name.
	NodeBasename string
	// Address is the Consul HTTP API, e.g. http://127.0.0.1:8500 or
	// https://consul.service:8501. Default $CONSUL_HTTP_ADDR (a bare
	// host:port means http), else DefaultAddress.
	Address string
	// Token is the ACL token, sent as X-Consul-Token; default
	// $CONSUL_HTTP_TOKEN.
	Token string
	// Datacenter to query; default the agent's own.
	Datacenter string
	// Tag keeps only instances that carry it.
	Tag string
	// IncludeUnhealthy keeps instances whose checks do not all pass
	// (config key passing_only: false). The zero value keeps passing
	// instances only.
	IncludeUnhealthy bool
	// Wait is the longest a blocking query waits for a change; default
	// DefaultWait, at most MaxWait.
	Wait time.Duration
	// CACert is a PEM file of the CA that signs an https Consul's
	// certificate; default the system roots.
	CACert string
}

// DefaultConfig returns the defaults that do not depend on the
// environment: passing instances only, blocking queries of DefaultWait.
// An empty Address and Token are taken from CONSUL_HTTP_ADDR and
// CONSUL_HTTP_TOKEN when the strategy is built.
func DefaultConfig() Config { return Config{Wait: DefaultWait} }

// withDefaults fills the zero fields that have a default.
func (c Config) withDefaults() Config {
	c.Address = cmp.Or(c.Address, os.Getenv("CONSUL_HTTP_ADDR"), DefaultAddress)
	if !strings.Contains(c.Address, "://") {
		c.Address = "http://" + c.Address
	}
	c.Address = strings.TrimRight(c.Address, "/")
	c.Token = cmp.Or(c.Token, os.Getenv("CONSUL_HTTP_TOKEN"))
	c.Wait = cmp.Or(c.Wait, DefaultConfig().Wait)
	return c
}

// Validate reports every invalid field in one error, naming the config key.
func (c Config) Validate() error {
	c = c.withDefaults()
	var ps strategy.Problems
	fail := ps.Add
	if strings.TrimSpace(c.Service) == "" || strings.ContainsAny(c.Service, "/?#% ") {
		fail("service", "want a Consul service name such as web, got %q", c.Service)
	}
	if _, err := libcluster.ParseNode(c.NodeBasename + "@host"); c.NodeBasename == "" || err != nil {
		fail("node_basename", "want the part before '@' of node names (letters, digits, '_', '-', '.'), e.g. app, got %q", c.NodeBasename)
	}
	if u, err := url.Parse(c.Address); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
		fail("address", "want the Consul HTTP API URL such as %s, got %q", DefaultAddress, c.Address)
	}
	if c.Wait < time.Second || c.Wait > MaxWait {
		fail("wait", "want a duration from 1s to %v (Consul's cap), got %v", MaxWait, c.Wait)
	}
	if strings.ContainsAny(c.Token, "\r\n") {
		fail("token", "contains a line break")
	}
	return ps.Err()
}

// ConfigFromParams decodes libcluster-style config keys into a Config and
// validates it.
func ConfigFromParams(p *strategy.Params) (Config, error) {
	c := Config{
		Service:          p.RequiredString("service", "web"),
		NodeBasename:     p.RequiredString("node_basename", "app"),
		Address:          p.String("address", ""),
		Token:            p.String("token", ""),
		Datacenter:       p.String("datacenter", ""),
		Tag:              p.String("tag", ""),
		IncludeUnhealthy: !p.Bool("passing_only", true),
		Wait:             p.Duration("wait", 0),
		CACert:           p.String("cacert", ""),
	}
	return strategy.Checked(p, c)
}

// Strategy is the Consul strategy. Make it with [New].
type Strategy struct {
	cfg    Config
	client *http.Client
	log    *slog.Logger
}

// New checks cfg and returns the strategy. opts.Logger receives retry
// logs. Requests go without proxies from the environment, trusting
// cfg.CACert for an https address.
func New(cfg Config, opts strategy.Options) (*Strategy, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	tr := &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 1, IdleConnTimeout: time.Minute}
	if cfg.CACert != "" {
		pem, err := os.ReadFile(cfg.CACert)
		if err != nil {
			return nil, &strategy.ParamError{Key: "cacert", Msg: err.Error()}
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, &strategy.ParamError{Key: "cacert", Msg: fmt.Sprintf("%s holds no PEM certificate", cfg.CACert)}
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool}
	}
	return &Strategy{cfg: cfg, client: &http.Client{Transport: tr}, log: opts.Log()}, nil
}

// Config returns the configuration in use, defaults filled in.
func (s *Strategy) Config() Config { return s.cfg }

func (s *Strategy) source() string {
	src := fmt.Sprintf("Consul %s health of service %s", s.cfg.Address, s.cfg.Service)
	if s.cfg.Tag != "" {
		src += " tag " + s.cfg.Tag
	}
	if s.cfg.Datacenter != "" {
		src += " in " + s.cfg.Datacenter
	}
	return src
}

// Discover runs one query without blocking. It is what explain shows.
func (s *Strategy) Discover(ctx context.Context) (libcluster.Update, error) {
	u, _, err := s.query(ctx, 0)
	return u, err
}

// Run follows the service with blocking queries until ctx ends, reporting
// each new answer as the complete set. Errors are reported as discovery
// errors (the last good set is kept) and retried with back-off from 1 s
// to 30 s; the first query after an error does not block.
func (s *Strategy) Run(ctx context.Context, r libcluster.Reporter) error {
	var index uint64
	backoff := time.Second
	last := time.Time{}
	for {
		if wait := minInterval - time.Since(last); wait > 0 {
			if !sleep(ctx, wait) {
				return nil
			}
		}
		last = time.Now()
		u, next, err := s.query(ctx, index)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			r.Report(libcluster.Failed(err).WithSource(s.source()))
			s.log.Warn("consul discovery failed; retrying", "err", err, "in", backoff)
			if !sleep(ctx, backoff) {
				return nil
			}
			backoff = min(2*backoff, 30*time.Second)
			index = 0
			continue
		}
		backoff = time.Second
		if next != index || index == 0 {
			r.Report(libcluster.Complete(u.Nodes()).WithDropped(u.Explain().Dropped).WithSource(u.Explain().Source))
		}
		// Consul's rules: an index that goes backwards resets the wait.
		if next < index {
			next = 0
		}
		index = next
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// entry is the part of /v1/health/service's answer that is used.
type entry struct {
	Node *struct {
		Node    string `json:"Node"`
		Address string `json:"Address"`
	} `json:"Node"`
	Service *struct {
		ID      string `json:"ID"`
		Address string `json:"Address"`
	} `json:"Service"`
}

// query asks for the service's instances; index > 0 makes it a blocking
// query. It returns the answer and Consul's index.
func (s *Strategy) query(ctx context.Context, index uint64) (libcluster.Update, uint64, error) {
	q := url.Values{}
	if !s.cfg.IncludeUnhealthy {
		q.Set("passing", "1")
	}
	if s.cfg.Tag != "" {
		q.Set("tag", s.cfg.Tag)
	}
	if s.cfg.Datacenter != "" {
		q.Set("dc", s.cfg.Datacenter)
	}
	timeout := 10 * time.Second
	if index > 0 {
		q.Set("index", strconv.FormatUint(index, 10))
		q.Set("wait", strconv.FormatInt(int64(s.cfg.Wait/time.Millisecond), 10)+"ms")
		// Consul adds up to wait/16 of jitter.
		timeout += s.cfg.Wait + s.cfg.Wait/16
	}
	rawURL := s.cfg.Address + "/v1/health/service/" + url.PathEscape(s.cfg.Service) + "?" + q.Encode()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return libcluster.Update{}, 0, fmt.Errorf("consul: bad address %q: %w", s.cfg.Address, err)
	}
	if s.cfg.Token != "" {
		req.Header.Set("X-Consul-Token", s.cfg.Token)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return libcluster.Update{}, 0, fmt.Errorf("consul: query %s failed (check address, or CONSUL_HTTP_ADDR, and that the Consul agent is running): %w", s.cfg.Address, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxBodyBytes+1))
	if err != nil {
		return libcluster.Update{}, 0, fmt.Errorf("consul: reading the answer from %s: %w", s.cfg.Address, err)
	}
	if resp.StatusCode != http.StatusOK {
		return libcluster.Update{}, 0, s.statusError(resp.StatusCode, body)
	}
	if len(body) > MaxBodyBytes {
		return libcluster.Update{}, 0, fmt.Errorf("consul: answer for service %s is larger than %d bytes", s.cfg.Service, MaxBodyBytes)
	}
	next, err := strconv.ParseUint(resp.Header.Get("X-Consul-Index"), 10, 64)
	if err != nil || next == 0 {
		next = 0 // no usable index: the next query does not block (minInterval paces it)
	}
	u, err := s.parse(body)
	if err != nil {
		return libcluster.Update{}, 0, err
	}
	return u, next, nil
}

func (s *Strategy) statusError(code int, body []byte) error {
	msg := strings.TrimSpace(strings.ToValidUTF8(string(body), "?"))
	if len(msg) > 200 {
		msg = msg[:200] + "..."
	}
	var hint string
	switch {
	case code == http.StatusForbidden && strings.Contains(msg, "ACL not found"):
		hint = "the ACL token is unknown to Consul: check token (or CONSUL_HTTP_TOKEN)"
	case code == http.StatusForbidden || code == http.StatusUnauthorized:
		hint = fmt.Sprintf("the ACL token may not read the service: give its policy service \"%s\" { policy = \"read\" } and node_prefix \"\" { policy = \"read\" }", s.cfg.Service)
	case strings.Contains(msg, "No path to datacenter"):
		hint = fmt.Sprintf("Consul knows no datacenter %q: check datacenter", s.cfg.Datacenter)
	default:
		hint = "check address and that it is a Consul agent's HTTP API"
	}
	return fmt.Errorf("consul: %s answered %d %q (%s)", s.cfg.Address, code, msg, hint)
}

// parse turns the health answer into node names.
func (s *Strategy) parse(body []byte) (libcluster.Update, error) {
	var entries []entry
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&entries); err != nil {
		return libcluster.Update{}, fmt.Errorf("consul: the answer for service %s is not the health list Consul sends: %v", s.cfg.Service, err)
	}
	var nodes []libcluster.Node
	var dropped []libcluster.Dropped
	seen := map[libcluster.Node]bool{}
	for i, e := range entries {
		label := fmt.Sprintf("instance #%d", i+1)
		if e.Service != nil && e.Service.ID != "" {
			label = "instance " + e.Service.ID
		}
		addr := ""
		if e.Service != nil {
			addr = e.Service.Address
		}
		if addr == "" && e.Node != nil {
			addr = e.Node.Address
		}
		if addr == "" {
			dropped = append(dropped, libcluster.Dropped{Candidate: label, Reason: "neither the service nor its node has an address"})
			continue
		}
		host := addr
		if a, err := netip.ParseAddr(addr); err == nil {
			host = a.Unmap().String()
		}
		n, err := libcluster.ParseNode(s.cfg.NodeBasename + "@" + host)
		if err != nil {
			dropped = append(dropped, libcluster.Dropped{Candidate: label + " " + addr, Reason: err.Error()})
			continue
		}
		if !seen[n] {
			seen[n] = true
			nodes = append(nodes, n)
		}
	}
	return libcluster.Seen(nodes).WithDropped(dropped).WithSource(s.source()), nil
}
