package kubernetesdnssrv_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/libcluster-go/libcluster"
	"github.com/libcluster-go/libcluster/internal/testkit/clustertest"
	"github.com/libcluster-go/libcluster/internal/testkit/dnstest"
	"github.com/libcluster-go/libcluster/strategy"
	"github.com/libcluster-go/libcluster/strategy/kubernetesdnssrv"
)

const (
	qname    = "myapp.ns.svc.cluster.local."
	interval = 200 * time.Millisecond
)

func build(t testing.TB, cfg map[string]any) *kubernetesdnssrv.Strategy {
	t.Helper()
	s, err := strategy.Use(kubernetesdnssrv.ConfigFromParams, kubernetesdnssrv.New)(strategy.Args{Params: strategy.NewParams(cfg)})
	if err != nil {
		t.Fatalf("config %v: %v", cfg, err)
	}
	return s.(*kubernetesdnssrv.Strategy)
}

func pods(n int) []dnstest.SRV {
	var out []dnstest.SRV
	for i := range n {
		out = append(out, dnstest.SRV{Target: fmt.Sprintf("myapp-%d.myapp.ns.svc.cluster.local.", i), Port: 4369, Weight: 33, Priority: 10})
	}
	return out
}

func TestSRVTargetsMakeHostnameNodes(t *testing.T) {
	srv := dnstest.New(t)
	srv.SetSRV(qname, pods(3)...)
	s := build(t, map[string]any{"service": "myapp", "namespace": "ns", "application_name": "myapp", "resolver": srv.Addr(), "polling_interval": 200})
	want := []libcluster.Node{
		"myapp@myapp-0.myapp.ns.svc.cluster.local",
		"myapp@myapp-1.myapp.ns.svc.cluster.local",
		"myapp@myapp-2.myapp.ns.svc.cluster.local",
	}
	u, err := s.Discover(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(u.Nodes(), want) || u.Kind() != libcluster.KindComplete || !strings.HasPrefix(u.Explain().Source, "DNS SRV "+qname) {
		t.Fatalf("update %+v; want nodes %v", u, want)
	}

	conn := clustertest.NewConnector("myapp@myapp-9.myapp.ns.svc.cluster.local")
	topo := &libcluster.Topology{Name: "srv", Strategy: s, Connector: conn, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- topo.Run(ctx) }()
	defer func() { cancel(); <-done }()
	clustertest.Eventually(t, "3 pods connected", func() bool { return slices.Equal(conn.Nodes(), want) })
	srv.SetSRV(qname, pods(2)...) // scaled down
	clustertest.Eventually(t, "myapp-2 pruned", func() bool { return slices.Equal(conn.Nodes(), want[:2]) })
}

func TestBadTargetsAreDropped(t *testing.T) {
	srv := dnstest.New(t)
	srv.SetSRV(qname, dnstest.SRV{Target: "."}, dnstest.SRV{Target: "myapp-0.myapp.ns.svc.cluster.local"},
		dnstest.SRV{Target: strings.Repeat("a", 63) + "." + strings.Repeat("b", 63) + "." + strings.Repeat("c", 63) + "." + strings.Repeat("d", 61)})
	s := build(t, map[string]any{"service": "myapp", "namespace": "ns", "application_name": "myapp", "resolver": srv.Addr()})
	u, err := s.Discover(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(u.Nodes(), []libcluster.Node{"myapp@myapp-0.myapp.ns.svc.cluster.local"}) {
		t.Fatalf("nodes %v", u.Nodes())
	}
	if len(u.Explain().Dropped) != 2 || !strings.Contains(u.Explain().Dropped[0].Reason, "not available") || !strings.Contains(u.Explain().Dropped[1].Reason, "255") {
		t.Fatalf("dropped %+v; want the '.' target and the too-long name, with reasons", u.Explain().Dropped)
	}
}

func TestClusterDomain(t *testing.T) {
	srv := dnstest.New(t)
	srv.SetSRV("myapp.ns.svc.k8s.example.", dnstest.SRV{Target: "myapp-0.myapp.ns.svc.k8s.example."})
	// From the config key, made absolute.
	s := build(t, map[string]any{"service": "myapp", "namespace": "ns", "application_name": "myapp", "resolver": srv.Addr(), "cluster_domain": "k8s.example"})
	if s.QueryName() != "myapp.ns.svc.k8s.example." {
		t.Fatalf("query name %q", s.QueryName())
	}
	u, err := s.Discover(context.Background())
	if err != nil || !slices.Equal(u.Nodes(), []libcluster.Node{"myapp@myapp-0.myapp.ns.svc.k8s.example"}) {
		t.Fatalf("%v %v", u.Nodes(), err)
	}
	// From the environment.
	t.Setenv("CLUSTER_DOMAIN", "env.example.")
	s = build(t, map[string]any{"service": "myapp", "namespace": "ns", "application_name": "myapp"})
	if s.QueryName() != "myapp.ns.svc.env.example." {
		t.Fatalf("query name %q from CLUSTER_DOMAIN", s.QueryName())
	}
	// The key wins over the environment.
	s = build(t, map[string]any{"service": "myapp", "namespace": "ns", "application_name": "myapp", "cluster_domain": "key.example."})
	if s.QueryName() != "myapp.ns.svc.key.example." {
		t.Fatalf("query name %q; the key should win", s.QueryName())
	}
	// Default.
	t.Setenv("CLUSTER_DOMAIN", "")
	s = build(t, map[string]any{"service": "myapp", "namespace": "ns", "application_name": "myapp"})
	if s.QueryName() != qname {
		t.Fatalf("default query name %q", s.QueryName())
	}
	t.Setenv("CLUSTER_DOMAIN", "bad domain")
	if _, err := kubernetesdnssrv.ConfigFromParams(strategy.NewParams(map[string]any{"service": "myapp", "namespace": "ns", "application_name": "myapp"})); err == nil || !strings.Contains(err.Error(), "CLUSTER_DOMAIN") {
		t.Fatalf("bad CLUSTER_DOMAIN: %v", err)
	}
}

func TestOutageAndPollRate(t *testing.T) {
	srv := dnstest.New(t)
	srv.SetSRV(qname, pods(3)...)
	s := build(t, map[string]any{"service": "myapp", "namespace": "ns", "application_name": "myapp", "resolver": srv.Addr(), "polling_interval": "200ms", "timeout": "1s"})
	rep := &clustertest.Recorder{}
	count := rep.Count
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx, rep) }()
	clustertest.Eventually(t, "8 polls", func() bool { return count(false) >= 8 })

	// Once per interval (libcluster polls twice).
	log := srv.QueryLog(qname, dns.TypeSRV)
	span := log[len(log)-1].Time.Sub(log[0].Time)
	if max := int(span/interval) + 2; len(log) > max {
		t.Errorf("%d polls in %v; at most %d at one per %v", len(log), span, max, interval)
	}
	for i := 1; i < len(log); i++ {
		if gap := log[i].Time.Sub(log[i-1].Time); gap < interval/2 {
			t.Errorf("polls %d and %d only %v apart; want about %v", i, i+1, gap, interval)
		}
	}

	srv.Stop()
	clustertest.Eventually(t, "3 errors", func() bool { return count(true) >= 3 })
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	good := count(false)
	clustertest.Eventually(t, "recovery", func() bool { return count(false) > good })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for _, u := range rep.Updates() {
		if u.Err() != nil && (!strings.Contains(u.Err().Error(), "DNS SRV "+qname) || u.Kind() == libcluster.KindComplete || len(u.Nodes()) > 0) {
			t.Errorf("error update %+v", u)
		}
		if u.Err() == nil && len(u.Nodes()) != 3 {
			t.Errorf("good update with %d nodes", len(u.Nodes()))
		}
	}
}

func TestConfigErrorsNameTheKey(t *testing.T) {
	ok := map[string]any{"service": "myapp", "namespace": "ns", "application_name": "myapp"}
	with := func(k string, v any) map[string]any {
		m := map[string]any{}
		for k, v := range ok {
			m[k] = v
		}
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
		return m
	}
	cases := []struct {
		cfg map[string]any
		key string
	}{
		{with("namespace", nil), `"namespace"`}, // libcluster crashes here
		{with("service", nil), `"service"`},
		{with("application_name", nil), `"application_name"`},
		{with("service", "myapp.ns"), `"service"`},
		{with("namespace", "my_ns"), `"namespace"`},
		{with("cluster_domain", "a..b"), `"cluster_domain"`},
		{with("polling_interval", -5), `"polling_interval"`},
		{with("timeout", "0s"), `"timeout"`},
		{with("resolver", "[::1]:0"), `"resolver"`},
	}
	for _, c := range cases {
		_, err := kubernetesdnssrv.ConfigFromParams(strategy.NewParams(c.cfg))
		if err == nil || !strings.Contains(err.Error(), c.key) {
			t.Errorf("%v: error %v; want one naming %s", c.cfg, err, c.key)
		}
	}
}

func TestRegistered(t *testing.T) {
	for _, name := range []string{"kubernetes_dnssrv", "Cluster.Strategy.Kubernetes.DNSSRV", "kubernetes.dnssrv"} {
		info, ok := strategy.Lookup(name)
		if !ok || info.Name != "kubernetes_dnssrv" {
			t.Fatalf("Lookup(%q) = %q, %v", name, info.Name, ok)
		}
	}
	info, _ := strategy.Lookup("kubernetes_dnssrv")
	st, err := info.Build(strategy.Args{Params: strategy.NewParams(map[string]any{"service": "myapp", "namespace": "ns", "application_name": "myapp"}),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := st.(strategy.Discoverer); !ok {
		t.Fatal("not a strategy.Discoverer")
	}
}

// Example looks up a StatefulSet's SRV records once, as the explain
// command does.
func Example() {
	srv, err := dnstest.Start() // a DNS server on loopback, standing in for the cluster's
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Stop()
	srv.SetSRV("myapp.default.svc.cluster.local",
		dnstest.SRV{Target: "myapp-0.myapp.default.svc.cluster.local", Port: 4369},
		dnstest.SRV{Target: "myapp-1.myapp.default.svc.cluster.local", Port: 4369})

	s, err := kubernetesdnssrv.New(kubernetesdnssrv.Config{
		Service:       "myapp",
		Namespace:     "default",
		AppName:       "myapp",
		ClusterDomain: "cluster.local.",
		Resolver:      []string{srv.Addr()},
	}, strategy.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	u, err := s.Discover(context.Background())
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, n := range u.Nodes() {
		fmt.Println(n)
	}
	// Output:
	// myapp@myapp-0.myapp.default.svc.cluster.local
	// myapp@myapp-1.myapp.default.svc.cluster.local
}

// BenchmarkDiscover is one SRV poll over UDP on loopback for a 50-pod
// StatefulSet (the answer exceeds 512 bytes; EDNS0 keeps it on UDP).
func BenchmarkDiscover(b *testing.B) {
	srv := dnstest.New(b)
	srv.SetSRV(qname, pods(50)...)
	s := build(b, map[string]any{"service": "myapp", "namespace": "ns", "application_name": "myapp", "resolver": srv.Addr()})
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		u, err := s.Discover(ctx)
		if err != nil || len(u.Nodes()) != 50 {
			b.Fatalf("%d nodes, %v", len(u.Nodes()), err)
		}
	}
}
