// Package rancher is the Rancher 1.x metadata strategy, libcluster's
// Cluster.Strategy.Rancher: it polls the metadata service for the
// containers of this container's own service and reports
// node_basename@<container IP> for each of them as the complete set.
//
// Build it from a [Config] with [New], or from libcluster's config keys
// with [ConfigFromParams]. Config keys:
//
//	node_basename     required; the part before '@' of every node name
//	metadata_url      default http://rancher-metadata/latest/self/service
//	polling_interval  default 5s (integer ms or Go duration)
//	timeout           bound on one HTTP request, default 5s
//
// Unlike libcluster, an HTTP or JSON error keeps the last good set (it is
// reported as a discovery error) instead of disconnecting every node, a
// request cannot hang, and a container without an IP address is dropped
// with a reason instead of crashing the strategy.
package rancher

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/libcluster-go/libcluster"
	"github.com/libcluster-go/libcluster/strategy"
)

// Defaults of the config keys.
const (
	DefaultMetadataURL = "http://rancher-metadata/latest/self/service"
	DefaultTimeout     = 5 * time.Second
	// MaxBodyBytes bounds the metadata response that is read and decoded.
	MaxBodyBytes = 4 << 20
)

func init() {
	strategy.Register(strategy.Info{
		Name:    "rancher",
		Aliases: []string{"Cluster.Strategy.Rancher"},
		Summary: "containers of this service from the Rancher 1.x metadata API",
		New:     strategy.Use(ConfigFromParams, New),
	})
}

// Config says what to poll. Start from [DefaultConfig]; a zero
// MetadataURL, PollingInterval or Timeout takes its default.
type Config struct {
	// NodeBasename is the part before '@' of every node name. Key
	// "node_basename". Required.
	NodeBasename string
	// MetadataURL is the service document to GET. Key "metadata_url".
	// Default DefaultMetadataURL.
	MetadataURL string
	// PollingInterval is the time between the end of one poll and the
	// start of the next. Key "polling_interval". Default
	// strategy.DefaultPollingInterval (5s).
	PollingInterval time.Duration
	// Timeout bounds one request, body included. Key "timeout". Default
	// DefaultTimeout (5s).
	Timeout time.Duration
}

// DefaultConfig returns the defaults; NodeBasename is left to set.
func DefaultConfig() Config {
	return Config{MetadataURL: DefaultMetadataURL, PollingInterval: strategy.DefaultPollingInterval, Timeout: DefaultTimeout}
}

// withDefaults fills the zero fields that have a default.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.MetadataURL == "" {
		c.MetadataURL = d.MetadataURL
	}
	if c.PollingInterval == 0 {
		c.PollingInterval = d.PollingInterval
	}
	if c.Timeout == 0 {
		c.Timeout = d.Timeout
	}
	return c
}

// Validate reports every invalid field, by its config key; zero fields
// that have a default are valid.
func (c Config) Validate() error {
	c = c.withDefaults()
	var ps strategy.Problems
	switch {
	case c.NodeBasename == "":
		ps.Add("node_basename", "required; set it, e.g. node_basename: app")
	default:
		if _, err := libcluster.ParseNode(c.NodeBasename + "@host"); err != nil {
			ps.Add("node_basename", "%q cannot start a node name: use letters, digits, '_', '-' or '.', e.g. app", c.NodeBasename)
		}
	}
	if err := checkURL(c.MetadataURL); err != nil {
		ps.Add("metadata_url", "%v", err)
	}
	ps.NotNegative("polling_interval", c.PollingInterval, "5s")
	ps.NotNegative("timeout", c.Timeout, "5s")
	return ps.Err()
}

// ConfigFromParams decodes libcluster's config keys into a Config and
// validates it, naming every invalid or missing key.
func ConfigFromParams(p *strategy.Params) (Config, error) {
	d := DefaultConfig()
	c := Config{
		NodeBasename:    p.RequiredString("node_basename", "app"),
		MetadataURL:     p.String("metadata_url", d.MetadataURL),
		PollingInterval: p.PositiveDuration("polling_interval", d.PollingInterval),
		Timeout:         p.PositiveDuration("timeout", d.Timeout),
	}
	return strategy.Checked(p, c)
}

func checkURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("want an http:// or https:// URL such as %s, got %q", DefaultMetadataURL, raw)
	}
	return nil
}

// Strategy polls the Rancher metadata service. Build it with [New].
type Strategy struct {
	cfg    Config       // defaults filled in
	client *http.Client // a client without proxies from the environment
}

// New builds the strategy from cfg; it fails when cfg is invalid. It uses
// nothing from opts: failures are reported as error updates. Requests go
// without proxies from the environment: the metadata service is always
// local to Rancher.
func New(cfg Config, opts strategy.Options) (*Strategy, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Strategy{cfg: cfg, client: defaultClient}, nil
}

var defaultClient = &http.Client{Transport: &http.Transport{
	Proxy:               nil,
	MaxIdleConnsPerHost: 1,
	IdleConnTimeout:     time.Minute,
}}

// Run polls until ctx ends. Each good answer is reported as the complete
// set; each failed poll as an error update, which keeps the last good set.
func (s *Strategy) Run(ctx context.Context, r libcluster.Reporter) error {
	p := strategy.Poller{
		Interval: s.cfg.PollingInterval,
		Discover: s.Discover,
		Source:   "Rancher metadata GET " + s.cfg.MetadataURL,
	}
	return p.Run(ctx, r)
}

// service is the part of the metadata service document that is used.
type service struct {
	Name       string       `json:"name"`
	Containers *[]container `json:"containers"`
}

type container struct {
	Name      string   `json:"name"`
	PrimaryIP string   `json:"primary_ip"`
	IPs       []string `json:"ips"`
}

// Discover runs one poll: it fetches the service document and turns each
// container's first IP address into a node name.
func (s *Strategy) Discover(ctx context.Context) (libcluster.Update, error) {
	u := s.cfg.MetadataURL
	body, err := s.fetch(ctx, u)
	if err != nil {
		return libcluster.Update{}, err
	}
	nodes, dropped, err := parseService(body, s.cfg.NodeBasename)
	if err != nil {
		return libcluster.Update{}, fmt.Errorf("rancher: metadata from %s: %w", u, err)
	}
	return libcluster.Seen(nodes).WithDropped(dropped).WithSource("Rancher metadata GET " + u), nil
}

func (s *Strategy) fetch(ctx context.Context, u string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("rancher: bad metadata_url %q: %w", u, err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("rancher: request to the metadata service failed (is this container managed by Rancher 1.x, and is metadata_url right?): %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxBodyBytes+1))
	if err != nil {
		return nil, fmt.Errorf("rancher: reading the metadata response from %s: %w", u, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("rancher: metadata service at %s answered %s: %s", u, resp.Status, snippet(body))
	}
	if len(body) > MaxBodyBytes {
		return nil, fmt.Errorf("rancher: metadata response from %s is larger than %d bytes; point metadata_url at the self/service document", u, MaxBodyBytes)
	}
	return body, nil
}

// snippet returns the start of an error body, printable and short.
func snippet(b []byte) string {
	const max = 200
	s := strings.ToValidUTF8(string(bytes.TrimSpace(b)), "?")
	if len(s) > max {
		s = s[:max] + "..."
	}
	if s == "" {
		return "(empty body)"
	}
	return fmt.Sprintf("%q", s)
}

// parseService decodes a service document and builds the node names.
func parseService(body []byte, basename string) ([]libcluster.Node, []libcluster.Dropped, error) {
	var svc service
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&svc); err != nil {
		return nil, nil, fmt.Errorf("invalid JSON (want the service object with a containers list): %w", err)
	}
	if dec.More() {
		return nil, nil, errors.New("trailing data after the JSON object")
	}
	if svc.Containers == nil {
		return nil, nil, errors.New("no containers list in the answer; metadata_url must name a service document such as .../latest/self/service")
	}
	var addrs []netip.Addr
	var dropped []libcluster.Dropped
	for i, c := range *svc.Containers {
		label := c.Name
		if label == "" {
			label = fmt.Sprintf("container #%d", i+1)
		}
		ipText, from := "", ""
		switch {
		case len(c.IPs) > 0:
			ipText, from = c.IPs[0], "ips[0]"
		case c.PrimaryIP != "":
			ipText, from = c.PrimaryIP, "primary_ip"
		default:
			dropped = append(dropped, libcluster.Dropped{Candidate: label, Reason: "container has no IP address (ips is empty and primary_ip is unset); it may still be starting"})
			continue
		}
		a, err := netip.ParseAddr(strings.TrimSpace(ipText))
		if err != nil {
			dropped = append(dropped, libcluster.Dropped{Candidate: label, Reason: fmt.Sprintf("%s %q is not an IP address", from, ipText)})
			continue
		}
		addrs = append(addrs, a)
	}
	nodes, bad := strategy.NodesFromAddrs(basename, addrs)
	return nodes, append(dropped, bad...), nil
}
