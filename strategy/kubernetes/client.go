package kubernetes

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	k8s "k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/transport"
)

// conn is a resolved connection to the API server.
type conn struct {
	client    k8s.Interface
	host      string
	namespace string
	// via says where the credentials come from, for messages:
	// "service account files in /var/run/...", "kubeconfig ~/.kube/config".
	via string
	// who names the identity if known from a static token, else "".
	who string
	// tokenFile is re-read to name the service account in error hints.
	tokenFile string
	// sent holds the token of the latest request when the strategy adds
	// it from tokenFile; the file may already hold the next one.
	sent *sentToken
}

// sentToken records the bearer token of the latest request, so that an
// error names the account that made it rather than the one whose token
// the file holds by the time the error is reported.
type sentToken struct {
	mu  sync.Mutex
	tok string
}

func (s *sentToken) wrap(rt http.RoundTripper) http.RoundTripper {
	return roundTripFunc(func(req *http.Request) (*http.Response, error) {
		if tok, ok := strings.CutPrefix(req.Header.Get("Authorization"), "Bearer "); ok {
			s.mu.Lock()
			s.tok = tok
			s.mu.Unlock()
		}
		return rt.RoundTrip(req)
	})
}

func (s *sentToken) get() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tok
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }

// userAgent identifies the strategy in API server logs and audit records.
const userAgent = "libcluster-go/kubernetes-strategy"

// resolve builds the client configuration. The order is: RESTConfig; the
// kubeconfig key; the service account (when its token exists, Master is
// set or KUBERNETES_SERVICE_HOST is set, i.e. inside a pod); $KUBECONFIG.
func (s *Strategy) resolve() (*conn, error) {
	c := &conn{}
	var cfg *rest.Config
	ns := s.Namespace
	switch {
	case s.RESTConfig != nil:
		cfg = rest.CopyConfig(s.RESTConfig)
		c.via = "the given client configuration"
		c.who = tokenSubject(cfg.BearerToken)
		if cfg.BearerTokenFile != "" {
			c.tokenFile = cfg.BearerTokenFile
		}
	case s.Kubeconfig != "":
		var err error
		cfg, ns, err = s.fromKubeconfig([]string{s.Kubeconfig}, ns)
		if err != nil {
			return nil, err
		}
		c.via = "kubeconfig " + s.Kubeconfig
	case s.inCluster():
		host, err := s.masterURL()
		if err != nil {
			return nil, fmt.Errorf("kubernetes: kubernetes_master: %v", err)
		}
		cfg = &rest.Config{Host: host}
		tok := filepath.Join(s.saPath(), "token")
		if fileExists(tok) {
			// The token is re-read from the file every minute, as the
			// kubelet rotates it, and also at once after a 401: a token
			// invalidated early (its pod or Secret deleted, the signing
			// key rotated) would otherwise be sent until the cached copy
			// expires, up to 50 s of failed requests. (BearerTokenFile
			// has only the periodic re-read.)
			withToken := transport.ResettableTokenSourceWrapTransport(transport.NewCachedFileTokenSource(tok))
			c.sent = &sentToken{}
			cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper { return withToken(c.sent.wrap(rt)) }
			c.tokenFile = tok
		}
		if ca := filepath.Join(s.saPath(), "ca.crt"); fileExists(ca) {
			cfg.TLSClientConfig.CAFile = ca
		}
		c.via = "the service account files in " + s.saPath()
		if ns == "" {
			ns, err = readNamespaceFile(filepath.Join(s.saPath(), "namespace"))
			if err != nil {
				return nil, err
			}
		}
	case s.getenv("KUBECONFIG") != "":
		var err error
		cfg, ns, err = s.fromKubeconfig(filepath.SplitList(s.getenv("KUBECONFIG")), ns)
		if err != nil {
			return nil, err
		}
		c.via = "$KUBECONFIG " + s.getenv("KUBECONFIG")
	default:
		return nil, fmt.Errorf("kubernetes: no API credentials: there is no service-account token at %s and no kubeconfig; run in a pod with a service account, or set kubeconfig: <path> (or KUBECONFIG) to run outside the cluster",
			filepath.Join(s.saPath(), "token"))
	}
	if ns == "" {
		return nil, fmt.Errorf("kubernetes: no namespace: set kubernetes_namespace, or provide %s (mounted in every pod with a service account)", filepath.Join(s.saPath(), "namespace"))
	}
	if !dnsLabel.MatchString(ns) {
		return nil, fmt.Errorf("kubernetes: namespace %q (from %s) is not a namespace name; set kubernetes_namespace", ns, c.via)
	}
	if c.who == "" {
		c.who = tokenSubject(cfg.BearerToken)
	}
	// The Endpoints mode draws a deprecation warning on every request; the
	// README says so once instead of the log on every poll.
	cfg.WarningHandler = rest.NoWarnings{}
	if cfg.UserAgent == "" {
		cfg.UserAgent = userAgent
	}
	// Watches are long requests: a client-wide timeout would cut them.
	// Poll-mode LISTs carry their own deadline.
	cfg.Timeout = 0
	client, err := k8s.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("kubernetes: client configuration from %s: %v", c.via, err)
	}
	c.client, c.host, c.namespace = client, cfg.Host, ns
	return c, nil
}

func (s *Strategy) inCluster() bool {
	return s.Master != "" || s.getenv("KUBERNETES_SERVICE_HOST") != "" ||
		fileExists(filepath.Join(s.saPath(), "token"))
}

func (s *Strategy) fromKubeconfig(paths []string, ns string) (*rest.Config, string, error) {
	rules := &clientcmd.ClientConfigLoadingRules{Precedence: paths}
	if len(paths) == 1 {
		rules = &clientcmd.ClientConfigLoadingRules{ExplicitPath: paths[0]}
	}
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{})
	cfg, err := cc.ClientConfig()
	if err != nil {
		return nil, "", fmt.Errorf("kubernetes: kubeconfig %s: %v; fix the file or point kubeconfig/KUBECONFIG at a valid one", strings.Join(paths, string(filepath.ListSeparator)), err)
	}
	if ns == "" {
		ns, _, err = cc.Namespace()
		if err != nil {
			return nil, "", fmt.Errorf("kubernetes: namespace from kubeconfig: %v; set kubernetes_namespace", err)
		}
	}
	return cfg, ns, nil
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}

// readNamespaceFile reads the service account's namespace file (small).
func readNamespaceFile(p string) (string, error) {
	b, err := readSmall(p, 4096)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return "", fmt.Errorf("kubernetes: no namespace: %s does not exist; set kubernetes_namespace", p)
		}
		return "", fmt.Errorf("kubernetes: namespace file: %v; set kubernetes_namespace", err)
	}
	return strings.TrimSpace(string(b)), nil
}

func readSmall(p string, limit int64) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s is larger than %d bytes", p, limit)
	}
	return b, nil
}

// tokenSubject returns "service account ns/name" (or "user <sub>") from a
// JWT's unverified sub claim, or "" when tok is not a JWT. It only names
// the identity in messages; nothing is trusted from it.
func tokenSubject(tok string) string {
	parts := strings.Split(strings.TrimSpace(tok), ".")
	if len(parts) != 3 || len(parts[1]) > 64<<10 {
		return ""
	}
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return ""
	}
	var claims struct {
		Sub string `json:"sub"`
	}
	if json.NewDecoder(bytes.NewReader(raw)).Decode(&claims) != nil || claims.Sub == "" {
		return ""
	}
	if rest, ok := strings.CutPrefix(claims.Sub, "system:serviceaccount:"); ok {
		if ns, name, ok := strings.Cut(rest, ":"); ok {
			return fmt.Sprintf("service account %s/%s", ns, name)
		}
	}
	return "user " + claims.Sub
}

// identity names who talks to the API server, for error messages.
func (c *conn) identity() string {
	if c.sent != nil {
		if who := tokenSubject(c.sent.get()); who != "" {
			return who
		}
	}
	if c.tokenFile != "" {
		if b, err := readSmall(c.tokenFile, 64<<10); err == nil {
			if who := tokenSubject(string(b)); who != "" {
				return who
			}
		}
		return "the pod's service account"
	}
	if c.who != "" {
		return c.who
	}
	return "the user of " + c.via
}

// resource describes the API resource a lookup mode reads.
type resource struct {
	group, name string
}

func (r resource) String() string {
	if r.group == "" {
		return r.name
	}
	return r.name + "." + r.group
}

// Rule returns the RBAC rule that allows reading the resource, in the
// flow form a Role's YAML takes.
func (r resource) Rule() string {
	return fmt.Sprintf(`rules: [{apiGroups: [%q], resources: [%q], verbs: ["get","list","watch"]}]`, r.group, r.name)
}

func (s *Strategy) resource() resource {
	switch s.lookup() {
	case LookupEndpoints:
		return resource{"", "endpoints"}
	case LookupPods:
		return resource{"", "pods"}
	}
	return resource{"discovery.k8s.io", "endpointslices"}
}

// APIError is a failed request to the API server, with what was asked,
// by whom, and a hint that says how to fix it.
type APIError struct {
	Verb      string // "list" or "watch"
	Resource  string // e.g. "endpointslices.discovery.k8s.io"
	Namespace string
	Host      string // the API server URL
	Identity  string // e.g. "service account demo/app"
	Status    int    // HTTP status, 0 for transport errors
	Hint      string // what to do
	Err       error  // the client-go error
}

func (e *APIError) Error() string {
	what := fmt.Sprintf("%s %s in namespace %q", e.Verb, e.Resource, e.Namespace)
	var msg string
	switch e.Status {
	case 0:
		msg = fmt.Sprintf("kubernetes: %s at %s failed: %v", what, e.Host, e.Err)
	default:
		msg = fmt.Sprintf("kubernetes: %s as %s failed (%d): %v", what, e.Identity, e.Status, e.Err)
	}
	if e.Hint != "" {
		msg += "; " + e.Hint
	}
	return msg
}

// Unwrap returns the client-go error.
func (e *APIError) Unwrap() error { return e.Err }

// apiError wraps a request error with the hint for its cause.
func (s *Strategy) apiError(c *conn, verb string, err error) *APIError {
	r := s.resource()
	e := &APIError{Verb: verb, Resource: r.String(), Namespace: c.namespace, Host: c.host, Identity: c.identity(), Err: err}
	var st apierrors.APIStatus
	if errors.As(err, &st) {
		e.Status = int(st.Status().Code)
	}
	switch {
	case apierrors.IsForbidden(err):
		e.Hint = fmt.Sprintf("grant %s a Role in namespace %q with %s and a RoleBinding to it (deploy/kubernetes has one per lookup mode); discovery keeps retrying and recovers once the rule exists, without a restart",
			e.Identity, c.namespace, r.Rule())
	case apierrors.IsUnauthorized(err):
		e.Hint = fmt.Sprintf("the API server does not accept the credentials from %s: the token is missing, expired or from another cluster (a projected service-account token is re-read as it rotates; check automountServiceAccountToken and the kubeconfig)", c.via)
	case apierrors.IsNotFound(err):
		e.Hint = "the API server does not serve this resource; EndpointSlices need Kubernetes 1.21 or later, use kubernetes_ip_lookup_mode: endpoints on older clusters"
	case e.Status == 0:
		e.Hint = "keeping the last good set and retrying with back-off; check kubernetes_master, the network path to the API server and its CA (ca.crt)"
	default:
		e.Hint = "keeping the last good set and retrying with back-off"
	}
	return e
}
