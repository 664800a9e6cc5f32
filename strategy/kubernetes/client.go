package kubernetes

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// conn is a resolved connection to the API server: a plain HTTP client
// for the three resources the strategy reads. The strategy decodes only
// the few fields it uses, so it links no Kubernetes client library.
type conn struct {
	http      *http.Client
	host      string // API server URL without a trailing slash
	namespace string
	// via says where the credentials come from, for messages:
	// "service account files in /var/run/...", "kubeconfig ~/.kube/config".
	via string
	// who names the identity if known from a static token, else "".
	who string
	// tokens is the token file re-read as it rotates, or nil.
	tokens *tokenFile
}

// credentials is what a kubeconfig or the service account provides.
type credentials struct {
	host       string
	token      string
	tokenFile  string
	user, pass string
	caPEM      []byte
	certPEM    []byte
	keyPEM     []byte
	insecure   bool
	serverName string
}

// userAgent identifies the strategy in API server logs and audit records.
const userAgent = "libcluster-go/kubernetes-strategy"

// Response limits: a LIST or watch event larger than these is refused
// with an error instead of being held in memory.
const (
	maxListBytes  = 64 << 20
	maxEventBytes = 16 << 20
	maxErrorBytes = 64 << 10
	maxTokenBytes = 64 << 10
	// maxKubeconfigBytes bounds a kubeconfig file.
	maxKubeconfigBytes = 4 << 20
	// tokenMaxAge is how old the copy of the token file may get before it
	// is read again (client-go's cached file token source uses the same).
	tokenMaxAge = 50 * time.Second
)

// resolve builds the client configuration. The order is: the kubeconfig
// key; the service account (when its token exists, Master is set or
// KUBERNETES_SERVICE_HOST is set, i.e. inside a pod); $KUBECONFIG.
func (s *Strategy) resolve() (*conn, error) {
	c := &conn{}
	var cr credentials
	ns := s.cfg.Namespace
	switch {
	case s.cfg.Kubeconfig != "":
		var err error
		cr, ns, err = fromKubeconfig([]string{s.cfg.Kubeconfig}, ns)
		if err != nil {
			return nil, err
		}
		c.via = "kubeconfig " + s.cfg.Kubeconfig
	case s.inCluster():
		host, err := s.masterURL()
		if err != nil {
			return nil, fmt.Errorf("kubernetes: kubernetes_master: %v", err)
		}
		cr.host = host
		if tok := filepath.Join(s.saPath(), "token"); fileExists(tok) {
			// The token is re-read from the file as the kubelet rotates
			// it, and also at once after a 401: a token invalidated early
			// (its pod or Secret deleted, the signing key rotated) would
			// otherwise be sent until the cached copy expires.
			cr.tokenFile = tok
		}
		if ca := filepath.Join(s.saPath(), "ca.crt"); fileExists(ca) {
			b, err := readSmall(ca, maxKubeconfigBytes)
			if err != nil {
				return nil, fmt.Errorf("kubernetes: service account CA: %v", err)
			}
			cr.caPEM = b
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
		cr, ns, err = fromKubeconfig(filepath.SplitList(s.getenv("KUBECONFIG")), ns)
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
	c.who = tokenSubject(cr.token)
	rt, err := cr.transport()
	if err != nil {
		return nil, fmt.Errorf("kubernetes: client configuration from %s: %v", c.via, err)
	}
	if cr.tokenFile != "" {
		c.tokens = &tokenFile{path: cr.tokenFile}
	}
	rt = &authTransport{next: rt, cr: cr, tokens: c.tokens}
	if s.opts.WrapTransport != nil {
		rt = s.opts.WrapTransport(rt)
	}
	// Watches are long requests: a client-wide timeout would cut them.
	// LISTs carry their own deadline.
	c.http = &http.Client{Transport: rt}
	c.host, c.namespace = strings.TrimSuffix(cr.host, "/"), ns
	return c, nil
}

// transport builds the TLS transport for the credentials.
func (cr *credentials) transport() (http.RoundTripper, error) {
	u, err := url.Parse(cr.host)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("server %q is not an http(s) URL", cr.host)
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: cr.insecure, ServerName: cr.serverName}
	if len(cr.caPEM) > 0 {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(cr.caPEM) {
			return nil, errors.New("the certificate authority holds no PEM certificate")
		}
		tc.RootCAs = pool
	}
	if len(cr.certPEM) > 0 || len(cr.keyPEM) > 0 {
		cert, err := tls.X509KeyPair(cr.certPEM, cr.keyPEM)
		if err != nil {
			return nil, fmt.Errorf("client certificate and key: %v", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		TLSClientConfig:     tc,
		TLSHandshakeTimeout: 10 * time.Second,
		IdleConnTimeout:     90 * time.Second,
		MaxIdleConnsPerHost: 4,
		ForceAttemptHTTP2:   true,
	}, nil
}

// authTransport adds the credentials and the user agent to every request.
type authTransport struct {
	next   http.RoundTripper
	cr     credentials
	tokens *tokenFile
}

func (t *authTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	req.Header.Set("User-Agent", userAgent)
	switch {
	case t.tokens != nil:
		tok, err := t.tokens.get()
		if err != nil {
			return nil, err
		}
		req.Header.Set("Authorization", "Bearer "+tok)
	case t.cr.token != "":
		req.Header.Set("Authorization", "Bearer "+t.cr.token)
	case t.cr.user != "":
		req.SetBasicAuth(t.cr.user, t.cr.pass)
	}
	resp, err := t.next.RoundTrip(req)
	if err == nil && resp.StatusCode == http.StatusUnauthorized && t.tokens != nil {
		t.tokens.reset()
	}
	return resp, err
}

// tokenFile is a bearer token file re-read when its copy is tokenMaxAge
// old and after a 401. A failed re-read keeps the last good token.
type tokenFile struct {
	path string

	mu   sync.Mutex
	tok  string
	at   time.Time
	sent string // the token of the latest request, to name its account
}

func (t *tokenFile) get() (string, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.tok == "" || time.Since(t.at) >= tokenMaxAge {
		b, err := readSmall(t.path, maxTokenBytes)
		tok := strings.TrimSpace(string(b))
		switch {
		case err == nil && tok != "":
			t.tok, t.at = tok, time.Now()
		case t.tok == "" && err != nil:
			return "", fmt.Errorf("reading the bearer token: %v", err)
		case t.tok == "":
			return "", fmt.Errorf("bearer token file %s is empty", t.path)
		}
	}
	t.sent = t.tok
	return t.tok, nil
}

func (t *tokenFile) reset() {
	t.mu.Lock()
	t.at = time.Time{}
	t.mu.Unlock()
}

func (t *tokenFile) lastSent() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.sent
}

func (s *Strategy) inCluster() bool {
	return s.cfg.Master != "" || s.getenv("KUBERNETES_SERVICE_HOST") != "" ||
		fileExists(filepath.Join(s.saPath(), "token"))
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
	if c.tokens != nil {
		if who := tokenSubject(c.tokens.lastSent()); who != "" {
			return who
		}
		if b, err := readSmall(c.tokens.path, maxTokenBytes); err == nil {
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

// StatusError is an API server answer other than success: its HTTP
// status and the reason and message of its Status object.
type StatusError struct {
	Code    int    // HTTP status
	Reason  string // e.g. "Forbidden", "Expired"
	Message string
}

func (e *StatusError) Error() string {
	if e.Message != "" {
		return e.Message
	}
	return fmt.Sprintf("the server answered %d %s", e.Code, http.StatusText(e.Code))
}

// status is the part of a metav1.Status the strategy reads.
type status struct {
	Kind    string `json:"kind"`
	Code    int    `json:"code"`
	Reason  string `json:"reason"`
	Message string `json:"message"`
}

func statusError(code int, body []byte) *StatusError {
	e := &StatusError{Code: code}
	var st status
	if json.Unmarshal(body, &st) == nil && st.Kind == "Status" {
		e.Reason, e.Message = st.Reason, st.Message
		if st.Code != 0 {
			e.Code = st.Code
		}
	} else if t := strings.TrimSpace(string(body)); t != "" && len(t) < 512 {
		e.Message = fmt.Sprintf("the server answered %d %s: %s", code, http.StatusText(code), t)
	}
	return e
}

// statusCode is the HTTP status of a request error, or 0.
func statusCode(err error) int {
	var se *StatusError
	if errors.As(err, &se) {
		return se.Code
	}
	return 0
}

// isGone reports a 410: the resourceVersion asked for is too old.
func isGone(err error) bool {
	var se *StatusError
	return errors.As(err, &se) && (se.Code == http.StatusGone || se.Reason == "Expired" || se.Reason == "Gone")
}

// get sends GET path?q and returns the body of a 200 answer; any other
// status becomes a *StatusError.
func (c *conn) get(ctx context.Context, path string, q url.Values) (*http.Response, error) {
	u := c.host + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBytes))
		return nil, statusError(resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		resp.Body.Close()
		return nil, fmt.Errorf("the server answered with %q, want application/json; is %s an API server?", ct, c.host)
	}
	return resp, nil
}

// resource describes the API resource a lookup mode reads.
type resource struct {
	group, version, name string
}

func (r resource) String() string {
	if r.group == "" {
		return r.name
	}
	return r.name + "." + r.group
}

// path is the namespaced collection URL of the resource.
func (r resource) path(ns string) string {
	if r.group == "" {
		return "/api/" + r.version + "/namespaces/" + ns + "/" + r.name
	}
	return "/apis/" + r.group + "/" + r.version + "/namespaces/" + ns + "/" + r.name
}

// Rule returns the RBAC rule that allows reading the resource, in the
// flow form a Role's YAML takes.
func (r resource) Rule() string {
	return fmt.Sprintf(`rules: [{apiGroups: [%q], resources: [%q], verbs: ["get","list","watch"]}]`, r.group, r.name)
}

func (s *Strategy) resource() resource {
	switch s.lookup() {
	case LookupEndpoints:
		return resource{"", "v1", "endpoints"}
	case LookupPods:
		return resource{"", "v1", "pods"}
	}
	return resource{"discovery.k8s.io", "v1", "endpointslices"}
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
	Err       error  // the request error; a *StatusError when the server answered
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

// Unwrap returns the request error.
func (e *APIError) Unwrap() error { return e.Err }

// apiError wraps a request error with the hint for its cause.
func (s *Strategy) apiError(c *conn, verb string, err error) *APIError {
	r := s.resource()
	e := &APIError{Verb: verb, Resource: r.String(), Namespace: c.namespace, Host: c.host, Identity: c.identity(), Err: err, Status: statusCode(err)}
	switch e.Status {
	case http.StatusForbidden:
		e.Hint = fmt.Sprintf("grant %s a Role in namespace %q with %s and a RoleBinding to it (deploy/kubernetes has one per lookup mode); discovery keeps retrying and recovers once the rule exists, without a restart",
			e.Identity, c.namespace, r.Rule())
	case http.StatusUnauthorized:
		e.Hint = fmt.Sprintf("the API server does not accept the credentials from %s: the token is missing, expired or from another cluster (a projected service-account token is re-read as it rotates; check automountServiceAccountToken and the kubeconfig)", c.via)
	case http.StatusNotFound:
		e.Hint = "the API server does not serve this resource; EndpointSlices need Kubernetes 1.21 or later, use kubernetes_ip_lookup_mode: endpoints on older clusters"
	case 0:
		e.Hint = "keeping the last good set and retrying with back-off; check kubernetes_master, the network path to the API server and its CA (ca.crt)"
	default:
		e.Hint = "keeping the last good set and retrying with back-off"
	}
	return e
}
