package kubernetesdns_test

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
	"github.com/libcluster-go/libcluster/strategy/kubernetesdns"
)

const (
	svc      = "myapp-headless.default.svc.cluster.local"
	interval = 200 * time.Millisecond
)

func build(t testing.TB, cfg map[string]any) *kubernetesdns.Strategy {
	t.Helper()
	s, err := strategy.Use(kubernetesdns.ConfigFromParams, kubernetesdns.New)(strategy.Args{Params: strategy.NewParams(cfg)})
	if err != nil {
		t.Fatalf("config %v: %v", cfg, err)
	}
	return s.(*kubernetesdns.Strategy)
}

func run(t *testing.T, s libcluster.Strategy) *clustertest.Recorder {
	t.Helper()
	rep := &clustertest.Recorder{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx, rep) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	})
	return rep
}

func TestARecordsMakeNodesAndAAAAIsOptIn(t *testing.T) {
	srv := dnstest.New(t)
	srv.SetA(svc, "10.0.0.1", "10.0.0.2")
	srv.SetAAAA(svc, "fd00::1")
	s := build(t, map[string]any{"service": svc, "application_name": "node", "resolver": srv.Addr()})
	u, err := s.Discover(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if want := []libcluster.Node{"node@10.0.0.1", "node@10.0.0.2"}; !slices.Equal(u.Nodes(), want) || u.Kind() != libcluster.KindComplete {
		t.Fatalf("nodes %v complete %v; want %v", u.Nodes(), u.Kind() == libcluster.KindComplete, want)
	}
	if srv.Queries(svc, dns.TypeAAAA) != 0 {
		t.Fatal("default ip_family asked for AAAA; libcluster asks A only")
	}
	if !strings.HasPrefix(u.Explain().Source, "DNS A "+svc) {
		t.Fatalf("source %q", u.Explain().Source)
	}
	for fam, want := range map[string][]libcluster.Node{
		"ipv6": {"node@fd00::1"},
		"both": {"node@10.0.0.1", "node@10.0.0.2", "node@fd00::1"},
	} {
		s := build(t, map[string]any{"service": svc, "application_name": "node", "resolver": srv.Addr(), "ip_family": fam})
		u, err := s.Discover(context.Background())
		if err != nil || !slices.Equal(u.Nodes(), want) {
			t.Errorf("ip_family %s: %v %v; want %v", fam, u.Nodes(), err, want)
		}
	}
}

func TestCNAMEAliasDoesNotCrash(t *testing.T) {
	// libcluster crashes when the answer carries aliases.
	srv := dnstest.New(t)
	srv.SetCNAME("myapp.example", svc)
	srv.SetA(svc, "10.0.0.3")
	s := build(t, map[string]any{"service": "myapp.example", "application_name": "node", "resolver": srv.Addr()})
	u, err := s.Discover(context.Background())
	if err != nil || !slices.Equal(u.Nodes(), []libcluster.Node{"node@10.0.0.3"}) {
		t.Fatalf("%v %v", u.Nodes(), err)
	}
}

func TestFailuresAreErrorUpdatesNotEmptySets(t *testing.T) {
	srv := dnstest.New(t)
	srv.SetA(svc, "10.0.0.1")
	s := build(t, map[string]any{"service": svc, "application_name": "node", "resolver": srv.Addr(), "polling_interval": 200, "timeout": "1s"})
	rep := run(t, s)
	clustertest.Eventually(t, "a good poll", func() bool { return rep.Count(false) >= 1 })

	srv.SetNXDOMAIN(svc)
	clustertest.Eventually(t, "an NXDOMAIN error", func() bool { return rep.Count(true) >= 1 })
	srv.SetA(svc, "10.0.0.1")
	good := rep.Count(false)
	clustertest.Eventually(t, "recovery", func() bool { return rep.Count(false) > good })

	srv.Stop()
	errs := rep.Count(true)
	clustertest.Eventually(t, "3 outage errors", func() bool { return rep.Count(true) >= errs+3 })
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	good = rep.Count(false)
	clustertest.Eventually(t, "recovery after restart", func() bool { return rep.Count(false) > good })

	var sawNX, sawDown bool
	for _, u := range rep.Updates() {
		if u.Err() == nil {
			if u.Kind() != libcluster.KindComplete || !slices.Equal(u.Nodes(), []libcluster.Node{"node@10.0.0.1"}) {
				t.Errorf("good update %+v", u)
			}
			continue
		}
		msg := u.Err().Error()
		if !strings.Contains(msg, svc) {
			t.Errorf("error %q does not name the service", msg)
		}
		sawNX = sawNX || strings.Contains(msg, "NXDOMAIN")
		sawDown = sawDown || strings.Contains(msg, "no answer")
		if len(u.Nodes()) != 0 || u.Kind() == libcluster.KindComplete {
			t.Errorf("error update carries a set: %+v", u)
		}
	}
	if !sawNX || !sawDown {
		t.Errorf("saw NXDOMAIN %v, outage %v; want both", sawNX, sawDown)
	}
}

func TestPollsOncePerInterval(t *testing.T) {
	// libcluster runs two timer chains and polls twice per interval.
	srv := dnstest.New(t)
	srv.SetA(svc, "10.0.0.1")
	s := build(t, map[string]any{"service": svc, "application_name": "node", "resolver": srv.Addr(), "polling_interval": "200ms"})
	rep := run(t, s)
	clustertest.Eventually(t, "8 polls", func() bool { return len(rep.Updates()) >= 8 })
	log := srv.QueryLog(svc, dns.TypeA)
	if d := len(log) - len(rep.Updates()); d < 0 || d > 1 {
		t.Errorf("%d queries for %d reports; want one per poll", len(log), len(rep.Updates()))
	}
	span := log[len(log)-1].Time.Sub(log[0].Time)
	if max := int(span/interval) + 2; len(log) > max {
		t.Errorf("%d polls in %v; at most %d at one per %v", len(log), span, max, interval)
	}
	for i := 1; i < len(log); i++ {
		if gap := log[i].Time.Sub(log[i-1].Time); gap < interval/2 {
			t.Errorf("polls %d and %d only %v apart; want about %v", i, i+1, gap, interval)
		}
	}
}

func TestConfigErrorsNameTheKey(t *testing.T) {
	cases := []struct {
		cfg  map[string]any
		keys []string
	}{
		{map[string]any{}, []string{`"service"`, `"application_name"`}},
		{map[string]any{"service": svc}, []string{`"application_name"`}},
		{map[string]any{"application_name": "node"}, []string{`"service"`}},
		{map[string]any{"service": nil, "application_name": "node"}, []string{`"service"`}},
		{map[string]any{"service": "bad name", "application_name": "node"}, []string{`"service"`}},
		{map[string]any{"service": svc, "application_name": "no@de"}, []string{`"application_name"`}},
		{map[string]any{"service": svc, "application_name": "node", "polling_interval": "fast"}, []string{`"polling_interval"`}},
		{map[string]any{"service": svc, "application_name": "node", "resolver": []any{"10.0.0.10", "nowhere"}}, []string{`"resolver"`, "item 2"}},
		{map[string]any{"service": svc, "application_name": "node", "ip_family": "v6"}, []string{`"ip_family"`}},
	}
	for _, c := range cases {
		_, err := kubernetesdns.ConfigFromParams(strategy.NewParams(c.cfg))
		if err == nil {
			t.Errorf("%v: no error", c.cfg)
			continue
		}
		for _, k := range c.keys {
			if !strings.Contains(err.Error(), k) {
				t.Errorf("%v: error %q does not name %s", c.cfg, err, k)
			}
		}
	}
}

func TestRegistered(t *testing.T) {
	for _, name := range []string{"kubernetes_dns", "Cluster.Strategy.Kubernetes.DNS", "kubernetes.dns"} {
		info, ok := strategy.Lookup(name)
		if !ok || info.Name != "kubernetes_dns" {
			t.Fatalf("Lookup(%q) = %q, %v", name, info.Name, ok)
		}
	}
	info, _ := strategy.Lookup("kubernetes_dns")
	st, err := info.Build(strategy.Args{Params: strategy.NewParams(map[string]any{"service": svc, "application_name": "node"}),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	s := st.(*kubernetesdns.Strategy)
	if c := s.Config(); c.Interval != strategy.DefaultPollingInterval || c.Family != kubernetesdns.FamilyIPv4 {
		t.Fatalf("defaults %+v", s)
	}
	if _, ok := st.(strategy.Discoverer); !ok {
		t.Fatal("not a strategy.Discoverer")
	}
}

// Example looks up a headless service once, as the explain command does.
func Example() {
	srv, err := dnstest.Start() // a DNS server on loopback, standing in for the cluster's
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Stop()
	srv.SetA("myapp-headless.default.svc.cluster.local", "10.1.0.4", "10.1.0.5")

	s, err := kubernetesdns.New(kubernetesdns.Config{
		Service:  "myapp-headless.default.svc.cluster.local",
		AppName:  "myapp",
		Resolver: []string{srv.Addr()},
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
	fmt.Println(u.Nodes())
	// Output: [myapp@10.1.0.4 myapp@10.1.0.5]
}
