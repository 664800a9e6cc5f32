package kubernetes

import (
	"context"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/libcluster-go/libcluster"
	"github.com/libcluster-go/libcluster/internal/testkit/kubetest"
	"github.com/libcluster-go/libcluster/strategy"
)

// recorder is a Connector that records Connect and Disconnect calls and
// never dials: the addresses in the test objects are not reachable.
type recorder struct {
	mu          sync.Mutex
	up          map[libcluster.Node]bool
	connects    []libcluster.Node
	disconnects []libcluster.Node
}

func newRecorder() *recorder { return &recorder{up: map[libcluster.Node]bool{}} }

func (r *recorder) Self() libcluster.Node { return "self@127.0.0.1" }

func (r *recorder) Connect(_ context.Context, n libcluster.Node) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.connects = append(r.connects, n)
	r.up[n] = true
	return nil
}

func (r *recorder) Disconnect(_ context.Context, n libcluster.Node) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.disconnects = append(r.disconnects, n)
	if !r.up[n] {
		return libcluster.ErrNotConnected
	}
	delete(r.up, n)
	return nil
}

func (r *recorder) Nodes() []libcluster.Node {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []libcluster.Node
	for n := range r.up {
		out = append(out, n)
	}
	return out
}

func (r *recorder) disconnected() []libcluster.Node {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.disconnects)
}

// desiredAt is one desired-set change seen by the observer.
type desiredAt struct {
	at    time.Time
	nodes string
}

// run is a topology running the strategy with a recorder, plus every
// event it emitted.
type run struct {
	topo *libcluster.Topology
	rec  *recorder

	mu      sync.Mutex
	events  []libcluster.Event
	desired []desiredAt
	changed chan struct{}
}

func startTopology(t *testing.T, s *Strategy) *run {
	t.Helper()
	r := &run{rec: newRecorder(), changed: make(chan struct{}, 1)}
	r.topo = &libcluster.Topology{
		Name:      "k8s",
		Logger:    slog.New(slog.DiscardHandler),
		Strategy:  s,
		Connector: r.rec,
		Observers: []libcluster.Observer{func(ev libcluster.Event) {
			r.mu.Lock()
			r.events = append(r.events, ev)
			if ev.Kind == libcluster.EventDesired {
				r.desired = append(r.desired, desiredAt{at: ev.Time, nodes: join(ev.Nodes)})
			}
			r.mu.Unlock()
			select {
			case r.changed <- struct{}{}:
			default:
			}
		}},
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := r.topo.Run(ctx); err != nil {
			t.Errorf("topology: %v", err)
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return r
}

// waitFor polls cond at each event (and every 100 ms) until it holds or
// the deadline passes.
func (r *run) waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-deadline.C:
			t.Fatalf("after %v: %s; desired %q, last error %v", d, what, join(r.topo.Status().Desired), r.topo.Status().LastError)
		case <-r.changed:
		case <-tick.C:
		}
	}
}

func (r *run) waitDesired(t *testing.T, want string) {
	t.Helper()
	r.waitFor(t, 30*time.Second, "desired set is not "+want, func() bool { return join(r.topo.Status().Desired) == want })
}

// desiredSince returns when the desired set first became want after t0.
func (r *run) desiredSince(t0 time.Time, want string) (time.Time, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, d := range r.desired {
		if !d.at.Before(t0) && d.nodes == want {
			return d.at, true
		}
	}
	return time.Time{}, false
}

func (r *run) errorsMatching(sub ...string) []error {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []error
	for _, ev := range r.events {
		if ev.Kind != libcluster.EventDiscoveryError || ev.Err == nil {
			continue
		}
		ok := true
		for _, s := range sub {
			ok = ok && strings.Contains(ev.Err.Error(), s)
		}
		if ok {
			out = append(out, ev.Err)
		}
	}
	return out
}

// cluster is a real API server with a namespace for one test.
type cluster struct {
	*kubetest.Cluster
	ns string
}

func newCluster(t *testing.T, namespaces ...string) *cluster {
	t.Helper()
	c := kubetest.Start(t)
	for _, ns := range namespaces {
		c.CreateNamespace(ns)
	}
	return &cluster{Cluster: c, ns: namespaces[0]}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

var readRules = []rbacv1.PolicyRule{
	{APIGroups: []string{"discovery.k8s.io"}, Resources: []string{"endpointslices"}, Verbs: []string{"get", "list", "watch"}},
	{APIGroups: []string{""}, Resources: []string{"endpoints", "pods"}, Verbs: []string{"get", "list", "watch"}},
}

// serviceAccountDir writes what the kubelet mounts into a pod: a bound
// token of namespace/name, the cluster CA and the namespace.
func (c *cluster) serviceAccountDir(t *testing.T, namespace, name string) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string][]byte{
		"token":     []byte(c.ServiceAccountToken(namespace, name, time.Hour)),
		"ca.crt":    c.CAData(),
		"namespace": []byte(namespace),
	}
	for f, b := range files {
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func bptr(b bool) *bool { return &b }

// endpoint is an EndpointSlice endpoint backed by a pod of namespace ns.
func endpoint(ns, ip, hostname string, ready, serving, terminating bool) discoveryv1.Endpoint {
	return discoveryv1.Endpoint{
		Addresses: []string{ip},
		Hostname:  &hostname,
		Conditions: discoveryv1.EndpointConditions{
			Ready: bptr(ready), Serving: bptr(serving), Terminating: bptr(terminating),
		},
		TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: ns, Name: hostname},
	}
}

func ready(ns, ip, hostname string) discoveryv1.Endpoint {
	return endpoint(ns, ip, hostname, true, true, false)
}

func (c *cluster) putSlice(t *testing.T, ns, name string, eps ...discoveryv1.Endpoint) {
	t.Helper()
	ctx := ctxT(t)
	api := c.Client().DiscoveryV1().EndpointSlices(ns)
	es := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{
			"app": "demo", discoveryv1.LabelServiceName: "demo",
		}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   eps,
	}
	old, err := api.Get(ctx, name, metav1.GetOptions{})
	if err == nil {
		es.ResourceVersion = old.ResourceVersion
		_, err = api.Update(ctx, es, metav1.UpdateOptions{})
	} else {
		_, err = api.Create(ctx, es, metav1.CreateOptions{})
	}
	if err != nil {
		t.Fatalf("put EndpointSlice %s/%s: %v", ns, name, err)
	}
}

// countingTransport counts the requests a client makes, by verb.
type countingTransport struct {
	rt      http.RoundTripper
	mu      sync.Mutex
	lists   int
	watches int
	other   int
	queries []string    // query strings of the watches
	listAt  []time.Time // when each LIST was sent
}

func (c *countingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	c.mu.Lock()
	q := req.URL.Query()
	switch {
	case q.Get("watch") == "true" || q.Get("watch") == "1":
		c.watches++
		c.queries = append(c.queries, req.URL.RawQuery)
	case req.Method == http.MethodGet:
		c.lists++
		c.listAt = append(c.listAt, time.Now())
	default:
		c.other++
	}
	c.mu.Unlock()
	return c.rt.RoundTrip(req)
}

func (c *countingTransport) counts() (lists, watches, other int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lists, c.watches, c.other
}

func init() {
	// The tests leave nothing to the environment of the machine they run on.
	for _, k := range []string{"KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT", "KUBECONFIG", "CLUSTER_DOMAIN"} {
		os.Unsetenv(k)
	}
}

// fromParams is FromParams then New, with the test process's environment.
func fromParams(p *strategy.Params) (*Strategy, error) {
	cfg, err := FromParams(p)
	if err != nil {
		return nil, err
	}
	return New(cfg, Options{})
}
