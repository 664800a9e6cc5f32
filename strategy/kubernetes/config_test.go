package kubernetes

//lint:file-ignore SA1019 the endpoints lookup mode reads the deprecated core v1 Endpoints on purpose

import (
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/libcluster-go/libcluster"
	"github.com/libcluster-go/libcluster/strategy"
)

func env(kv ...string) func(string) string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }
}

func TestAPIServerURL(t *testing.T) {
	cases := []struct{ master, domain, want string }{
		{"", "cluster.local", "https://kubernetes.default.svc.cluster.local"},
		{"kubernetes.default.svc", "my.domain", "https://kubernetes.default.svc.my.domain"},
		{"api.cluster.local", "cluster.local", "https://api.cluster.local"},
		{"cluster.localhost.", "cluster.local", "https://cluster.localhost."},
		{"api", "cluster.local", "https://api.cluster.local"},
		{"10.0.0.1", "cluster.local", "https://10.0.0.1:443"},
		{"fd00::1", "cluster.local", "https://[fd00::1]:443"},
		{"[fd00::1]:6443", "cluster.local", "https://[fd00::1]:6443"},
		{"10.0.0.1:6443", "cluster.local", "https://10.0.0.1:6443"},
		{"api.example.com:6443", "cluster.local", "https://api.example.com:6443"},
		{"https://127.0.0.1:34567", "cluster.local", "https://127.0.0.1:34567"},
		{"https://api.example.com/", "cluster.local", "https://api.example.com"},
	}
	for _, c := range cases {
		got, err := APIServerURL(c.master, c.domain)
		if err != nil || got != c.want {
			t.Errorf("APIServerURL(%q, %q) = %q, %v; want %q", c.master, c.domain, got, err, c.want)
		}
	}
	for _, bad := range []string{"ftp://x", "https://", "bad host", "host:port", "a..b", "http//x"} {
		if got, err := APIServerURL(bad, "cluster.local"); err == nil {
			t.Errorf("APIServerURL(%q) = %q, want an error", bad, got)
		}
	}
}

func TestMasterFromServiceEnv(t *testing.T) {
	s := &Strategy{cfg: Config{}, opts: Options{Getenv: env("KUBERNETES_SERVICE_HOST", "10.96.0.1", "KUBERNETES_SERVICE_PORT", "6443")}}
	if got, _ := s.masterURL(); got != "https://10.96.0.1:6443" {
		t.Errorf("from env: %q", got)
	}
	s.opts.Getenv = env("KUBERNETES_SERVICE_HOST", "fd00::1")
	if got, _ := s.masterURL(); got != "https://[fd00::1]:443" {
		t.Errorf("IPv6 from env: %q", got)
	}
	s.cfg.Master = "api.internal."
	if got, _ := s.masterURL(); got != "https://api.internal." {
		t.Errorf("kubernetes_master wins over env: %q", got)
	}
	s = &Strategy{cfg: Config{}, opts: Options{Getenv: env("CLUSTER_DOMAIN", "corp.example.")}}
	if got, _ := s.masterURL(); got != "https://kubernetes.default.svc.corp.example" {
		t.Errorf("CLUSTER_DOMAIN: %q", got)
	}
}

func TestDomain(t *testing.T) {
	cases := []struct {
		s    Strategy
		want string
	}{
		{Strategy{cfg: Config{}, opts: Options{Getenv: env()}}, "cluster.local"},
		{Strategy{cfg: Config{ClusterName: "my_cluster"}, opts: Options{Getenv: env()}}, "my_cluster.local"},
		{Strategy{cfg: Config{ClusterName: "my_cluster"}, opts: Options{Getenv: env("CLUSTER_DOMAIN", "k8s.corp.")}}, "k8s.corp"},
		{Strategy{cfg: Config{ClusterDomain: "x.y"}, opts: Options{Getenv: env("CLUSTER_DOMAIN", "k8s.corp")}}, "x.y"},
	}
	for _, c := range cases {
		if got := c.s.Domain(); got != c.want {
			t.Errorf("%+v: Domain() = %q, want %q", c.s.cfg, got, c.want)
		}
	}
}

func TestNodeName(t *testing.T) {
	cases := []struct {
		mode, cluster, domainEnv, ip, host, ns, want string
	}{
		{ModeIP, "", "", "10.48.33.136", "", "ns", "app@10.48.33.136"},
		{ModeIP, "", "", "fd00:0::5", "", "ns", "app@fd00::5"},
		{ModeIP, "", "", "::ffff:10.0.0.1", "", "ns", "app@10.0.0.1"},
		{ModeDNS, "", "", "10.48.33.136", "", "airatel-service-localization", "app@10-48-33-136.airatel-service-localization.pod.cluster.local"},
		{ModeDNS, "my_cluster", "", "10.48.33.136", "", "ns", "app@10-48-33-136.ns.pod.my_cluster.local"},
		{ModeDNS, "my_cluster", "k8s.corp", "10.0.0.5", "", "ns", "app@10-0-0-5.ns.pod.k8s.corp"},
		{ModeDNS, "", "", "fd00::5", "", "ns", "app@fd00--5.ns.pod.cluster.local"},
		{ModeHostname, "my_cluster", "", "10.48.33.136", "my-hostname-0", "airatel-service-localization", "app@my-hostname-0.my-service.airatel-service-localization.svc.my_cluster.local"},
		{ModeHostname, "", "k8s.corp", "10.0.0.5", "app-1", "ns", "app@app-1.my-service.ns.svc.k8s.corp"},
	}
	for _, c := range cases {
		s := &Strategy{cfg: Config{NodeBasename: "app", Mode: c.mode, ClusterName: c.cluster, ServiceName: "my-service"}, opts: Options{Getenv: env("CLUSTER_DOMAIN", c.domainEnv)}}
		got, err := s.NodeName(c.ip, c.host, c.ns)
		if err != nil || string(got) != c.want {
			t.Errorf("%s %s/%s/%s: got %q, %v; want %q", c.mode, c.ip, c.host, c.ns, got, err, c.want)
		}
	}
	bad := []struct{ mode, ip, host, ns, want string }{
		{ModeIP, "not-an-ip", "", "ns", "not an IP address"},
		{ModeDNS, "10.0.0.1", "", "", "no namespace"},
		{ModeHostname, "10.0.0.1", "", "ns", "no hostname"},
	}
	for _, c := range bad {
		s := &Strategy{cfg: Config{NodeBasename: "app", Mode: c.mode, ServiceName: "svc"}, opts: Options{Getenv: env()}}
		if got, err := s.NodeName(c.ip, c.host, c.ns); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s %q: got %q, %v; want error with %q", c.mode, c.ip, got, err, c.want)
		}
	}
}

func params(m map[string]any) *strategy.Params { return strategy.NewParams(m) }

func TestFromParamsDefaults(t *testing.T) {
	s, err := fromParams(params(map[string]any{"kubernetes_node_basename": "app", "kubernetes_selector": "app=myapp"}))
	if err != nil {
		t.Fatal(err)
	}
	if s.lookup() != LookupEndpointSlices || s.mode() != ModeIP || s.readiness() != ReadinessReady || s.cfg.Poll ||
		s.interval() != strategy.DefaultPollingInterval || s.saPath() != DefaultServiceAccountPath || s.cfg.UseCachedResources {
		t.Errorf("defaults: %+v", s)
	}
	s, err = fromParams(params(map[string]any{
		"kubernetes_node_basename": "app", "kubernetes_selector": "app=myapp",
		"kubernetes_ip_lookup_mode": ":pods", "mode": ":hostname", "kubernetes_service_name": "svc",
		"readiness": "all", "watch": false, "polling_interval": 2000, "kubernetes_use_cached_resources": true,
		"kubernetes_namespace": "demo", "kubernetes_cluster_name": "c1", "kubernetes_master": "https://127.0.0.1:6443",
		"kubernetes_service_account_path": "/sa", "kubeconfig": "/k",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if s.lookup() != LookupPods || s.mode() != ModeHostname || s.readiness() != ReadinessAll || !s.cfg.Poll ||
		s.interval().Milliseconds() != 2000 || !s.cfg.UseCachedResources || s.cfg.Namespace != "demo" || s.cfg.Kubeconfig != "/k" {
		t.Errorf("atom forms and values: %+v", s)
	}
	if _, ok := strategy.Lookup("Cluster.Strategy.Kubernetes"); !ok {
		t.Error("alias Cluster.Strategy.Kubernetes not registered")
	}
	if _, ok := strategy.Lookup("kubernetes"); !ok {
		t.Error("kubernetes not registered")
	}
}

func TestFromParamsErrors(t *testing.T) {
	cases := []struct {
		m    map[string]any
		want []string
	}{
		{map[string]any{}, []string{`"kubernetes_node_basename": required`, `"kubernetes_selector": required`}},
		{map[string]any{"kubernetes_node_basename": "a b", "kubernetes_selector": "app in ("}, []string{`"kubernetes_node_basename"`, `is not a label selector`}},
		{map[string]any{"kubernetes_node_basename": "app", "kubernetes_selector": "app=x", "mode": "hostname"}, []string{`"kubernetes_service_name": required with mode: hostname`}},
		{map[string]any{"kubernetes_node_basename": "app", "kubernetes_selector": "app=x", "kubernetes_ip_lookup_mode": "services"}, []string{`"kubernetes_ip_lookup_mode": want one of endpointslices, endpoints, pods`}},
		{map[string]any{"kubernetes_node_basename": "app", "kubernetes_selector": "app=x", "readiness": "maybe"}, []string{`"readiness": want one of ready, serving, all`}},
		{map[string]any{"kubernetes_node_basename": "app", "kubernetes_selector": "app=x", "kubernetes_namespace": "Bad_NS"}, []string{`"kubernetes_namespace"`}},
		{map[string]any{"kubernetes_node_basename": "app", "kubernetes_selector": "app=x", "kubernetes_master": "ftp://x"}, []string{`"kubernetes_master"`}},
		{map[string]any{"kubernetes_node_basename": "app", "kubernetes_selector": "app=x", "polling_interval": -1}, []string{`"polling_interval"`}},
		{map[string]any{"kubernetes_node_basename": "app", "kubernetes_selector": "app=x", "kubernetes_selectr": "a"}, []string{`did you mean "kubernetes_selector"`}},
		{map[string]any{"kubernetes_node_basename": "app", "kubernetes_selector": "app=x", "watch": "sometimes"}, []string{`"watch": want true or false`}},
	}
	for _, c := range cases {
		_, err := FromParams(params(c.m))
		if err == nil {
			t.Errorf("%v: no error", c.m)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%v: error %q lacks %q", c.m, err, w)
			}
		}
	}
	s := &Strategy{cfg: Config{Mode: "weird", Readiness: "x", Lookup: "y"}, opts: Options{Getenv: env()}}
	err := s.Validate()
	for _, w := range []string{"kubernetes_node_basename", "kubernetes_selector", `want ip, dns or hostname, got "weird"`, `want ready, serving or all`, `want endpointslices, endpoints or pods`} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("Validate: %v lacks %q", err, w)
		}
	}
	s = &Strategy{cfg: Config{}, opts: Options{Getenv: env("CLUSTER_DOMAIN", "bad domain")}}
	if _, err := FromParams(params(map[string]any{"kubernetes_node_basename": "app", "kubernetes_selector": "app=x"})); err != nil {
		t.Errorf("valid config: %v", err)
	}
	if errs := s.check(); len(errs) == 0 || !strings.Contains(errs[0].Error(), "CLUSTER_DOMAIN") {
		t.Errorf("bad CLUSTER_DOMAIN: %v", errs)
	}
}

func ptr[T any](v T) *T { return &v }

// apiCandidates encodes an object of the API's own Go types as the API
// server does and decodes it as the strategy does.
func apiCandidates(t *testing.T, lookup string, obj any) []candidate {
	t.Helper()
	b, err := json.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	o, err := decodeObject(lookup, b)
	if err != nil {
		t.Fatal(err)
	}
	return o.cands
}

func TestReadinessPolicy(t *testing.T) {
	es := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: "s", Namespace: "ns"},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints: []discoveryv1.Endpoint{
			{Addresses: []string{"10.0.0.1"}}, // all conditions unset: ready
			{Addresses: []string{"10.0.0.2"}, Conditions: discoveryv1.EndpointConditions{Ready: ptr(false), Serving: ptr(true)}},
			{Addresses: []string{"10.0.0.3"}, Conditions: discoveryv1.EndpointConditions{Ready: ptr(false), Serving: ptr(true), Terminating: ptr(true)}},
			{Addresses: []string{"10.0.0.4"}, Conditions: discoveryv1.EndpointConditions{Ready: ptr(false), Serving: ptr(false)}},
			{Addresses: []string{"10.0.0.5"}, Conditions: discoveryv1.EndpointConditions{Ready: ptr(true), Serving: ptr(false)}},
		},
	}
	want := map[string]string{
		ReadinessReady:   "app@10.0.0.1 app@10.0.0.5",
		ReadinessServing: "app@10.0.0.1 app@10.0.0.2",
		ReadinessAll:     "app@10.0.0.1 app@10.0.0.2 app@10.0.0.3 app@10.0.0.4 app@10.0.0.5",
	}
	for pol, w := range want {
		s := &Strategy{cfg: Config{NodeBasename: "app", Readiness: pol}, opts: Options{Getenv: env()}}
		nodes, dropped := s.build(apiCandidates(t, LookupEndpointSlices, es))
		if got := join(nodes); got != w {
			t.Errorf("%s: %s, want %s", pol, got, w)
		}
		if len(nodes)+len(dropped) != 5 {
			t.Errorf("%s: %d kept + %d dropped, want 5 in all", pol, len(nodes), len(dropped))
		}
	}

	now := metav1.Now()
	pod := func(name, ip string, phase corev1.PodPhase, ready bool, deleting bool) *corev1.Pod {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns"}, Status: corev1.PodStatus{Phase: phase, PodIP: ip}}
		st := corev1.ConditionFalse
		if ready {
			st = corev1.ConditionTrue
		}
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: st}}
		if deleting {
			p.DeletionTimestamp = &now
		}
		return p
	}
	pods := []*corev1.Pod{
		pod("a", "10.0.1.1", corev1.PodRunning, true, false),
		pod("b", "10.0.1.2", corev1.PodRunning, false, false),
		pod("c", "10.0.1.3", corev1.PodRunning, true, true),
		pod("d", "", corev1.PodPending, false, false),
		pod("e", "10.0.1.5", corev1.PodSucceeded, true, false),
	}
	wantPods := map[string]string{
		ReadinessReady:   "app@10.0.1.1",
		ReadinessServing: "app@10.0.1.1",
		ReadinessAll:     "app@10.0.1.1 app@10.0.1.2 app@10.0.1.3 app@10.0.1.5",
	}
	for pol, w := range wantPods {
		s := &Strategy{cfg: Config{NodeBasename: "app", Readiness: pol}, opts: Options{Getenv: env()}}
		var cands []candidate
		for _, p := range pods {
			cands = append(cands, apiCandidates(t, LookupPods, p)...)
		}
		nodes, dropped := s.build(cands)
		if got := join(nodes); got != w {
			t.Errorf("pods %s: %s, want %s", pol, got, w)
		}
		if !hasDrop(dropped, "Pod ns/d (Pending, no IP yet)", "no IP address yet") {
			t.Errorf("pods %s: pending pod not dropped with a reason: %v", pol, dropped)
		}
	}

	ep := &corev1.Endpoints{
		ObjectMeta: metav1.ObjectMeta{Name: "e", Namespace: "ns"},
		Subsets: []corev1.EndpointSubset{{
			Addresses:         []corev1.EndpointAddress{{IP: "10.0.2.1", Hostname: "h-0"}},
			NotReadyAddresses: []corev1.EndpointAddress{{IP: "10.0.2.2"}},
		}},
	}
	for pol, w := range map[string]string{ReadinessReady: "app@10.0.2.1", ReadinessServing: "app@10.0.2.1", ReadinessAll: "app@10.0.2.1 app@10.0.2.2"} {
		s := &Strategy{cfg: Config{NodeBasename: "app", Readiness: pol}, opts: Options{Getenv: env()}}
		nodes, dropped := s.build(apiCandidates(t, LookupEndpoints, ep))
		if got := join(nodes); got != w {
			t.Errorf("endpoints %s: %s, want %s", pol, got, w)
		}
		if pol != ReadinessAll && !hasDrop(dropped, "Endpoints ns/e notReadyAddresses 10.0.2.2", "not ") {
			t.Errorf("endpoints %s: dropped %v", pol, dropped)
		}
	}
}

func join(ns []libcluster.Node) string {
	s := make([]string, len(ns))
	for i, n := range ns {
		s[i] = string(n)
	}
	return strings.Join(s, " ")
}

func hasDrop(ds []libcluster.Dropped, cand, reason string) bool {
	for _, d := range ds {
		if d.Candidate == cand && strings.Contains(d.Reason, reason) {
			return true
		}
	}
	return false
}

func jwt(sub string) string {
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"RS256"}`)) + "." + enc([]byte(`{"iss":"x","sub":"`+sub+`"}`)) + ".c2ln"
}

func TestTokenSubject(t *testing.T) {
	cases := map[string]string{
		jwt("system:serviceaccount:demo:reader"): "service account demo/reader",
		jwt("alice"):                             "user alice",
		"not-a-jwt":                              "",
		"a.%%%.c":                                "",
		"":                                       "",
	}
	for tok, want := range cases {
		if got := tokenSubject(tok); got != want {
			t.Errorf("tokenSubject(%q) = %q, want %q", tok, got, want)
		}
	}
}

func TestResolveErrors(t *testing.T) {
	dir := t.TempDir()
	s := &Strategy{cfg: Config{NodeBasename: "app", Selector: "app=x", ServiceAccountPath: dir}, opts: Options{Getenv: env()}}
	_, err := s.resolve()
	if err == nil || !strings.Contains(err.Error(), "no API credentials") || !strings.Contains(err.Error(), "kubeconfig") {
		t.Errorf("no credentials: %v", err)
	}
	// A token but no namespace file and no kubernetes_namespace.
	if err := os.WriteFile(filepath.Join(dir, "token"), []byte(jwt("system:serviceaccount:demo:app")), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = s.resolve()
	if err == nil || !strings.Contains(err.Error(), "kubernetes_namespace") {
		t.Errorf("no namespace: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "namespace"), []byte("demo\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := s.resolve()
	if err != nil {
		t.Fatal(err)
	}
	if c.namespace != "demo" || c.host != "https://kubernetes.default.svc.cluster.local" || c.identity() != "service account demo/app" {
		t.Errorf("in-cluster: ns %q host %q who %q", c.namespace, c.host, c.identity())
	}
	s.cfg.Kubeconfig = filepath.Join(dir, "missing")
	if _, err := s.resolve(); err == nil || !strings.Contains(err.Error(), "kubeconfig") {
		t.Errorf("missing kubeconfig: %v", err)
	}
}

func TestCheckSelector(t *testing.T) {
	good := []string{"app=myapp", "app==x", "app!=x", "app", "!app", "app in (a,b),tier!=db", "app notin ( a , b )",
		"kubernetes.io/service-name=myapp", "a=", "n>3", "n<-1", " app = x , tier "}
	for _, s := range good {
		if err := checkSelector(s); err != nil {
			t.Errorf("%q: %v", s, err)
		}
	}
	bad := []string{"app in (", "app in ()", "app=x,", "=x", "app=x y", "app=-x", "Bad_Prefix/app=x", "n>x", "app in ((a))", "a)", strings.Repeat("a", 64) + "=x"}
	for _, s := range bad {
		if err := checkSelector(s); err == nil {
			t.Errorf("%q: no error", s)
		}
	}
}

// TestConfigPlainValue: FromParams yields a comparable Config with the
// defaults filled in, and New keeps it as it is.
func TestConfigPlainValue(t *testing.T) {
	c, err := FromParams(params(map[string]any{"kubernetes_node_basename": "app", "kubernetes_selector": "app=x"}))
	if err != nil {
		t.Fatal(err)
	}
	want := Config{NodeBasename: "app", Selector: "app=x", Lookup: LookupEndpointSlices, Mode: ModeIP, Readiness: ReadinessReady,
		ClusterName: DefaultClusterName, ServiceAccountPath: DefaultServiceAccountPath, PollingInterval: strategy.DefaultPollingInterval}
	if c != want || c.WithDefaults() != want || (Config{NodeBasename: "app", Selector: "app=x"}).WithDefaults() != want {
		t.Errorf("FromParams: %+v, want %+v", c, want)
	}
	s, err := New(c, Options{Getenv: env()})
	if err != nil || s.Config() != want {
		t.Errorf("New: %v, %+v", err, s)
	}
	if _, err := New(Config{Selector: "app in ("}, Options{Getenv: env()}); err == nil || !strings.Contains(err.Error(), "kubernetes_node_basename") || !strings.Contains(err.Error(), "label selector") {
		t.Errorf("New with a bad config: %v", err)
	}
}
