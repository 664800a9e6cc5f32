// Package kubernetes is libcluster's Cluster.Strategy.Kubernetes: it asks
// the Kubernetes API for the endpoints (or pods) that match a label selector
// and reports basename@<address> for each of them as the complete set.
//
// It differs from libcluster where libcluster is weak:
//
//   - EndpointSlices (discovery.k8s.io/v1) are the default lookup mode;
//     the deprecated core v1 Endpoints and plain Pods remain available.
//   - watch: true (the default) lists once and then watches, so a change
//     reaches the topology within a second, with a handful of API requests
//     per hour instead of one every polling_interval.
//   - A readiness policy (ready, serving, all) decides which endpoints and
//     pods count; terminating ones are left out unless the policy is all.
//   - 401/403 and transport errors keep the last good set and raise a
//     discovery error that names the service account, the verb, the
//     resource and the RBAC rule to add.
//   - CLUSTER_DOMAIN is used for node names too, the API host may be a
//     URL with a port, and KUBERNETES_SERVICE_HOST/PORT or a kubeconfig
//     are used when present.
//
// See README.md next to this file for every key, the RBAC rules and the
// differences from libcluster in detail.
package kubernetes

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/libcluster-go/libcluster"
	"github.com/libcluster-go/libcluster/strategy"
)

func init() {
	strategy.Register(strategy.Info{
		Name:    "kubernetes",
		Aliases: []string{"Cluster.Strategy.Kubernetes"},
		Summary: "endpoints or pods from the Kubernetes API (EndpointSlices, watch by default)",
		New: func(a strategy.Args) (libcluster.Strategy, error) {
			cfg, err := FromParams(a.Params)
			if err != nil {
				return nil, err
			}
			return New(cfg, Options{Logger: a.Logger})
		},
	})
}

// The values of the kubernetes_ip_lookup_mode key: which resource is read.
const (
	LookupEndpointSlices = "endpointslices" // discovery.k8s.io/v1 EndpointSlices (default)
	LookupEndpoints      = "endpoints"      // core v1 Endpoints (libcluster's default; deprecated upstream)
	LookupPods           = "pods"           // core v1 Pods
)

// The values of the mode key: how a node name is built.
const (
	ModeIP       = "ip"       // basename@10.0.0.5
	ModeDNS      = "dns"      // basename@10-0-0-5.<namespace>.pod.<domain>
	ModeHostname = "hostname" // basename@<hostname>.<service>.<namespace>.svc.<domain>
)

// The values of the readiness key: which endpoints and pods count.
const (
	// ReadinessReady keeps endpoints whose ready condition is true (or
	// unset) and that are not terminating; for Endpoints, the addresses
	// list; for Pods, Running pods with condition Ready=True and no
	// deletion timestamp.
	ReadinessReady = "ready"
	// ReadinessServing keeps endpoints whose serving condition is true
	// (or unset; then ready decides) and that are not terminating. It
	// differs from ready for Services with publishNotReadyAddresses, whose
	// endpoints are always "ready" but only "serving" when the pod is.
	ReadinessServing = "serving"
	// ReadinessAll keeps every endpoint and pod that has an address,
	// ready or not, terminating or not (libcluster's pods behaviour).
	ReadinessAll = "all"
)

// Defaults of the config keys.
const (
	DefaultMaster             = "kubernetes.default.svc"
	DefaultClusterName        = "cluster"
	DefaultServiceAccountPath = "/var/run/secrets/kubernetes.io/serviceaccount"
	// DefaultRequestTimeout bounds one LIST in poll mode (libcluster's 15 s).
	DefaultRequestTimeout = 15 * time.Second
)

// Config is the Kubernetes strategy's configuration: plain values, one
// per config key. NodeBasename and Selector are required; every other
// zero field takes the default named on it ([Config.WithDefaults] fills
// them in). [Config.Validate] checks it and [New] does both.
type Config struct {
	// NodeBasename is the part before '@' of every node name.
	NodeBasename string
	// Selector is the label selector of the objects to read, e.g.
	// "app=myapp" (for EndpointSlices also "kubernetes.io/service-name=myapp").
	Selector string
	// Namespace to read; default the service account's namespace file,
	// then the kubeconfig context's namespace.
	Namespace string
	// ServiceName is the headless Service in hostname mode names.
	ServiceName string
	// Lookup is LookupEndpointSlices (default), LookupEndpoints or LookupPods.
	Lookup string
	// Mode is ModeIP (default), ModeDNS or ModeHostname.
	Mode string
	// Readiness is ReadinessReady (default), ReadinessServing or ReadinessAll.
	Readiness string
	// ClusterDomain is used in dns and hostname names and for the default
	// API host; default CLUSTER_DOMAIN from the environment, else
	// "<ClusterName>.local".
	ClusterDomain string
	// ClusterName gives the default ClusterDomain; default "cluster".
	ClusterName string
	// Master is the API host, per libcluster's rules (see [APIServerURL]).
	// Empty: https://KUBERNETES_SERVICE_HOST:KUBERNETES_SERVICE_PORT when
	// set, else kubernetes.default.svc.<ClusterDomain>.
	Master string
	// ServiceAccountPath holds token, ca.crt and namespace; default
	// DefaultServiceAccountPath.
	ServiceAccountPath string
	// Kubeconfig is a kubeconfig file to use instead of the service
	// account (for running outside the cluster).
	Kubeconfig string
	// Poll lists every PollingInterval instead of watching (config key
	// watch: false). The zero value watches.
	Poll bool
	// PollingInterval is the time between polls when Poll is set;
	// default strategy.DefaultPollingInterval.
	PollingInterval time.Duration
	// UseCachedResources adds resourceVersion=0 to polled LISTs, so the API
	// server answers from its watch cache.
	UseCachedResources bool
}

// Options carries what the runtime provides, none of it configuration.
type Options struct {
	// Logger receives connection-state logs; default slog.Default().
	Logger *slog.Logger
	// Getenv reads environment variables; default os.Getenv.
	Getenv func(string) string
	// WrapTransport, when set, wraps the HTTP transport of every API
	// request (after the credentials are added), e.g. to count or trace
	// requests.
	WrapTransport func(http.RoundTripper) http.RoundTripper
}

// Strategy discovers nodes through the Kubernetes API. Make it with [New].
type Strategy struct {
	cfg  Config
	opts Options
}

// New checks cfg, fills in its defaults and returns the strategy.
func New(cfg Config, opts Options) (*Strategy, error) {
	s := &Strategy{cfg: cfg.WithDefaults(), opts: opts}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	return s, nil
}

// Config returns the configuration in use, defaults filled in.
func (s *Strategy) Config() Config { return s.cfg }

// WithDefaults returns c with every zero field that has a fixed default
// set to it. (ClusterDomain and Master default to values that depend on
// the environment; [Strategy.Domain] and the strategy resolve them.)
func (c Config) WithDefaults() Config {
	c.Lookup = cmp.Or(c.Lookup, LookupEndpointSlices)
	c.Mode = cmp.Or(c.Mode, ModeIP)
	c.Readiness = cmp.Or(c.Readiness, ReadinessReady)
	c.ClusterName = cmp.Or(c.ClusterName, DefaultClusterName)
	c.ServiceAccountPath = cmp.Or(c.ServiceAccountPath, DefaultServiceAccountPath)
	c.PollingInterval = cmp.Or(c.PollingInterval, strategy.DefaultPollingInterval)
	return c
}

// Validate reports every invalid field in one error, naming the config
// key, with the environment of this process.
func (c Config) Validate() error {
	return (&Strategy{cfg: c}).Validate()
}

// FromParams builds the strategy from libcluster's config keys. Every key
// that is missing, has the wrong type or an invalid value is reported by
// name in one error.
func FromParams(p *strategy.Params) (Config, error) {
	s := &Strategy{cfg: Config{
		NodeBasename:       p.RequiredString("kubernetes_node_basename", "app"),
		Selector:           p.RequiredString("kubernetes_selector", "app=myapp"),
		Namespace:          p.String("kubernetes_namespace", ""),
		ServiceName:        p.String("kubernetes_service_name", ""),
		Lookup:             p.Enum("kubernetes_ip_lookup_mode", LookupEndpointSlices, LookupEndpointSlices, LookupEndpoints, LookupPods),
		Mode:               p.Enum("mode", ModeIP, ModeIP, ModeDNS, ModeHostname),
		Readiness:          p.Enum("readiness", ReadinessReady, ReadinessReady, ReadinessServing, ReadinessAll),
		ClusterName:        p.String("kubernetes_cluster_name", DefaultClusterName),
		Master:             p.String("kubernetes_master", ""),
		ServiceAccountPath: p.String("kubernetes_service_account_path", DefaultServiceAccountPath),
		Kubeconfig:         p.String("kubeconfig", ""),
		Poll:               !p.Bool("watch", true),
		PollingInterval:    p.PositiveDuration("polling_interval", strategy.DefaultPollingInterval),
		UseCachedResources: p.Bool("kubernetes_use_cached_resources", false),
	}}
	for _, e := range s.check() {
		p.Fail(e.Key, "%s", e.Msg)
	}
	if s.cfg.ServiceAccountPath == "" {
		p.Fail("kubernetes_service_account_path", "empty; leave it unset for %s", DefaultServiceAccountPath)
	}
	if err := p.Err(); err != nil {
		return Config{}, err
	}
	return s.cfg, nil
}

var (
	dnsLabel = lazyRegexp(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	dnsName  = lazyRegexp(`^[A-Za-z0-9]([-A-Za-z0-9_]*[A-Za-z0-9])?(\.[A-Za-z0-9]([-A-Za-z0-9_]*[A-Za-z0-9])?)*\.?$`)
)

// check validates the fields and returns one error per bad key. Empty
// required fields are reported by the caller (FromParams) or by Validate.
func (s *Strategy) check() []*strategy.ParamError {
	var errs []*strategy.ParamError
	fail := func(key, format string, args ...any) {
		errs = append(errs, &strategy.ParamError{Key: key, Msg: fmt.Sprintf(format, args...)})
	}
	if s.cfg.NodeBasename != "" {
		if _, err := libcluster.ParseNode(s.cfg.NodeBasename + "@127.0.0.1"); err != nil {
			fail("kubernetes_node_basename", "%q makes no valid node name; use letters, digits, '_', '-' or '.', e.g. app", s.cfg.NodeBasename)
		}
	}
	if strings.TrimSpace(s.cfg.Selector) != "" {
		if err := checkSelector(s.cfg.Selector); err != nil {
			fail("kubernetes_selector", "%q is not a label selector (%v); write it as kubectl -l takes it, e.g. app=myapp or app in (a,b),tier!=db", s.cfg.Selector, err)
		}
	}
	if s.cfg.Namespace != "" && !dnsLabel.MatchString(s.cfg.Namespace) {
		fail("kubernetes_namespace", "%q is not a namespace name; use lower-case letters, digits and '-', e.g. default", s.cfg.Namespace)
	}
	if s.mode() == ModeHostname {
		switch {
		case s.cfg.ServiceName == "":
			fail("kubernetes_service_name", "required with mode: hostname (names are <hostname>.<service>.<namespace>.svc.<domain>); set it to the headless Service of the StatefulSet, e.g. kubernetes_service_name: myapp-headless")
		case !dnsLabel.MatchString(s.cfg.ServiceName):
			fail("kubernetes_service_name", "%q is not a Service name; use lower-case letters, digits and '-'", s.cfg.ServiceName)
		}
	}
	if s.cfg.ClusterName != "" && !dnsName.MatchString(s.cfg.ClusterName) {
		fail("kubernetes_cluster_name", "%q cannot start a DNS domain; use letters, digits and '-', e.g. cluster", s.cfg.ClusterName)
	}
	if d := s.getenv("CLUSTER_DOMAIN"); d != "" && !dnsName.MatchString(d) {
		fail("kubernetes_cluster_name", "environment variable CLUSTER_DOMAIN=%q is not a DNS domain; unset it or set it to e.g. cluster.local", d)
	}
	if s.cfg.ClusterDomain != "" && !dnsName.MatchString(s.cfg.ClusterDomain) {
		fail("kubernetes_cluster_name", "cluster domain %q is not a DNS domain, e.g. cluster.local", s.cfg.ClusterDomain)
	}
	if _, err := s.masterURL(); err != nil {
		fail("kubernetes_master", "%v", err)
	}
	return errs
}

// Validate checks the configuration in use: the required fields and
// every value, with the config key names in the error.
func (s *Strategy) Validate() error {
	var errs []error
	if s.cfg.NodeBasename == "" {
		errs = append(errs, &strategy.ParamError{Key: "kubernetes_node_basename", Msg: "required; set it, e.g. kubernetes_node_basename: app"})
	}
	if strings.TrimSpace(s.cfg.Selector) == "" {
		errs = append(errs, &strategy.ParamError{Key: "kubernetes_selector", Msg: "required; set it, e.g. kubernetes_selector: app=myapp"})
	}
	for _, e := range s.check() {
		errs = append(errs, e)
	}
	switch s.lookup() {
	case LookupEndpointSlices, LookupEndpoints, LookupPods:
	default:
		errs = append(errs, &strategy.ParamError{Key: "kubernetes_ip_lookup_mode", Msg: fmt.Sprintf("want endpointslices, endpoints or pods, got %q", s.cfg.Lookup)})
	}
	switch s.mode() {
	case ModeIP, ModeDNS, ModeHostname:
	default:
		errs = append(errs, &strategy.ParamError{Key: "mode", Msg: fmt.Sprintf("want ip, dns or hostname, got %q", s.cfg.Mode)})
	}
	switch s.readiness() {
	case ReadinessReady, ReadinessServing, ReadinessAll:
	default:
		errs = append(errs, &strategy.ParamError{Key: "readiness", Msg: fmt.Sprintf("want ready, serving or all, got %q", s.cfg.Readiness)})
	}
	return errors.Join(errs...)
}

func (s *Strategy) getenv(k string) string {
	if s.opts.Getenv != nil {
		return s.opts.Getenv(k)
	}
	return os.Getenv(k)
}

func (s *Strategy) lookup() string { return cmp.Or(s.cfg.Lookup, LookupEndpointSlices) }
func (s *Strategy) mode() string   { return cmp.Or(s.cfg.Mode, ModeIP) }
func (s *Strategy) readiness() string {
	return cmp.Or(s.cfg.Readiness, ReadinessReady)
}
func (s *Strategy) saPath() string {
	return cmp.Or(s.cfg.ServiceAccountPath, DefaultServiceAccountPath)
}
func (s *Strategy) interval() time.Duration {
	if s.cfg.PollingInterval > 0 {
		return s.cfg.PollingInterval
	}
	return strategy.DefaultPollingInterval
}

// Domain returns the cluster domain used in names and in the default API
// host: ClusterDomain, else $CLUSTER_DOMAIN, else <ClusterName>.local,
// without a trailing dot.
func (s *Strategy) Domain() string {
	d := s.cfg.ClusterDomain
	if d == "" {
		d = s.getenv("CLUSTER_DOMAIN")
	}
	if d == "" {
		d = cmp.Or(s.cfg.ClusterName, DefaultClusterName) + ".local"
	}
	return strings.TrimSuffix(d, ".")
}

// masterURL applies the host rules to Master, or the in-cluster defaults
// when it is empty.
func (s *Strategy) masterURL() (string, error) {
	if s.cfg.Master == "" {
		if h, p := s.getenv("KUBERNETES_SERVICE_HOST"), s.getenv("KUBERNETES_SERVICE_PORT"); h != "" {
			if p == "" {
				p = "443"
			}
			return "https://" + net.JoinHostPort(h, p), nil
		}
	}
	return APIServerURL(s.cfg.Master, s.Domain())
}

// APIServerURL applies libcluster's kubernetes_master rules, extended so
// that an address or a port can be given:
//
//   - "" means kubernetes.default.svc;
//   - a URL (https://10.0.0.1:6443) is used as it is;
//   - an IP address or host:port is used as it is, over https;
//   - a name that ends with domain, or with a dot, is used as it is;
//   - any other name gets "." + domain appended
//     (kubernetes.default.svc → kubernetes.default.svc.cluster.local).
func APIServerURL(master, domain string) (string, error) {
	m := strings.TrimSpace(master)
	if m == "" {
		m = DefaultMaster
	}
	if strings.Contains(m, "://") {
		u, err := url.Parse(m)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return "", fmt.Errorf("%q is not an API server URL; want e.g. https://10.0.0.1:6443 or a host name such as kubernetes.default.svc", master)
		}
		return strings.TrimSuffix(m, "/"), nil
	}
	if a, err := netip.ParseAddr(strings.Trim(m, "[]")); err == nil {
		return "https://" + net.JoinHostPort(a.String(), "443"), nil
	}
	if h, p, err := net.SplitHostPort(m); err == nil {
		if _, perr := netip.ParseAddr(h); perr != nil && !dnsName.MatchString(h) {
			return "", fmt.Errorf("%q: host %q is not a DNS name or IP address", master, h)
		}
		if !regexp.MustCompile(`^[0-9]{1,5}$`).MatchString(p) {
			return "", fmt.Errorf("%q: port %q is not a number", master, p)
		}
		return "https://" + m, nil
	}
	if !dnsName.MatchString(m) {
		return "", fmt.Errorf("%q is not a host name, address or URL; want e.g. kubernetes.default.svc, 10.0.0.1:6443 or https://api.example.com", master)
	}
	switch {
	case domain != "" && strings.HasSuffix(m, domain):
	case strings.HasSuffix(m, "."):
	default:
		m += "." + domain
	}
	return "https://" + m, nil
}

// candidate is one endpoint or pod as the API shows it, before the
// readiness policy and name building.
type candidate struct {
	what        string // for explain: "EndpointSlice ns/name endpoint 10.0.0.5"
	ip          string
	hostname    string
	namespace   string
	ready       bool
	serving     bool
	terminating bool
}

// keep applies the readiness policy and returns the reason when c is left
// out.
func (s *Strategy) keep(c candidate) (bool, string) {
	switch s.readiness() {
	case ReadinessAll:
		return true, ""
	case ReadinessServing:
		switch {
		case c.terminating:
			return false, "terminating (readiness: serving; use readiness: all to keep it)"
		case !c.serving:
			return false, "not serving (readiness: serving)"
		}
	default:
		switch {
		case c.terminating:
			return false, "terminating (readiness: ready; use readiness: all to keep it)"
		case !c.ready:
			return false, "not ready (readiness: ready; use readiness: serving or all to keep it)"
		}
	}
	return true, ""
}

// NodeName builds the node name for an endpoint or pod address, following
// Mode:
//
//	ip        basename@10.0.0.5 (IPv6 compressed: basename@fd00::5)
//	dns       basename@10-0-0-5.<namespace>.pod.<domain> (IPv6 ':' → '-')
//	hostname  basename@<hostname>.<service>.<namespace>.svc.<domain>
//
// The error says why no valid name could be built.
func (s *Strategy) NodeName(ip, hostname, namespace string) (libcluster.Node, error) {
	switch s.mode() {
	case ModeIP, ModeDNS:
		a, err := netip.ParseAddr(ip)
		if err != nil {
			return "", fmt.Errorf("address %q is not an IP address", ip)
		}
		a = a.Unmap().WithZone("")
		if s.mode() == ModeIP {
			return libcluster.NodeFromAddr(s.cfg.NodeBasename, a)
		}
		if namespace == "" {
			return "", errors.New("no namespace for the pod DNS name")
		}
		dashed := strings.NewReplacer(".", "-", ":", "-").Replace(a.String())
		return libcluster.ParseNode(fmt.Sprintf("%s@%s.%s.pod.%s", s.cfg.NodeBasename, dashed, namespace, s.Domain()))
	case ModeHostname:
		if hostname == "" {
			return "", errors.New("no hostname (mode: hostname needs pods with spec.hostname, as a StatefulSet sets; use mode: ip or dns otherwise)")
		}
		if namespace == "" {
			return "", errors.New("no namespace for the service DNS name")
		}
		return libcluster.ParseNode(fmt.Sprintf("%s@%s.%s.%s.svc.%s", s.cfg.NodeBasename, hostname, s.cfg.ServiceName, namespace, s.Domain()))
	}
	return "", fmt.Errorf("unknown mode %q; want ip, dns or hostname", s.cfg.Mode)
}

// build turns candidates into the node set and the dropped list.
func (s *Strategy) build(cands []candidate) ([]libcluster.Node, []libcluster.Dropped) {
	var nodes []libcluster.Node
	var dropped []libcluster.Dropped
	seen := map[libcluster.Node]bool{}
	for _, c := range cands {
		if c.ip == "" {
			dropped = append(dropped, libcluster.Dropped{Candidate: c.what, Reason: "no IP address yet"})
			continue
		}
		if ok, why := s.keep(c); !ok {
			dropped = append(dropped, libcluster.Dropped{Candidate: c.what, Reason: why})
			continue
		}
		n, err := s.NodeName(c.ip, c.hostname, c.namespace)
		if err != nil {
			dropped = append(dropped, libcluster.Dropped{Candidate: c.what, Reason: err.Error()})
			continue
		}
		if !seen[n] {
			seen[n] = true
			nodes = append(nodes, n)
		}
	}
	return nodes, dropped
}
