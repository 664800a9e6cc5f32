package dnspoll_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/libcluster-go/libcluster"
	"github.com/libcluster-go/libcluster/internal/dnsquery"
	"github.com/libcluster-go/libcluster/internal/testkit/clustertest"
	"github.com/libcluster-go/libcluster/internal/testkit/dnstest"
	"github.com/libcluster-go/libcluster/strategy"
	"github.com/libcluster-go/libcluster/strategy/dnspoll"
)

const interval = 200 * time.Millisecond

func build(t testing.TB, cfg map[string]any) *dnspoll.Strategy {
	t.Helper()
	s, err := strategy.Use(dnspoll.ConfigFromParams, dnspoll.New)(strategy.Args{Params: strategy.NewParams(cfg)})
	if err != nil {
		t.Fatalf("config %v: %v", cfg, err)
	}
	return s.(*dnspoll.Strategy)
}

// runTopology runs a topology over the strategy until the test ends.
func runTopology(t *testing.T, s libcluster.Strategy, prune libcluster.Prune) (*clustertest.Connector, *clustertest.EventLog, *libcluster.Topology) {
	t.Helper()
	conn, evs := clustertest.NewConnector("self@127.0.0.99"), &clustertest.EventLog{}
	topo := &libcluster.Topology{
		Name: "dns", Strategy: s, Connector: conn,
		Policy:    libcluster.Policy{Prune: prune, Resync: time.Hour},
		Logger:    slog.New(slog.NewTextHandler(io.Discard, nil)),
		Observers: []libcluster.Observer{evs.Observe},
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- topo.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("topology run: %v", err)
		}
	})
	return conn, evs, topo
}

func TestClusterFormsFromARecordsAndFollowsChanges(t *testing.T) {
	srv := dnstest.New(t)
	srv.SetA("app.test", "127.0.0.1", "127.0.0.2", "127.0.0.3")
	srv.SetAAAA("app.test")
	s := build(t, map[string]any{"query": "app.test", "node_basename": "app", "polling_interval": 200, "resolver": srv.Addr()})
	conn, _, _ := runTopology(t, s, libcluster.PruneImmediate)

	want := clustertest.Nodes("app@127.0.0.1", "app@127.0.0.2", "app@127.0.0.3")
	clustertest.Eventually(t, "3 nodes connected", func() bool { return slices.Equal(conn.Nodes(), want) })

	// A record removed: pruned at the next poll.
	srv.SetA("app.test", "127.0.0.1", "127.0.0.2")
	clustertest.Eventually(t, "app@127.0.0.3 disconnected", func() bool { return slices.Equal(conn.Nodes(), want[:2]) })

	// A record added: connected from the first poll after the change.
	// Counting the polls between the change and the connect, rather than
	// time, keeps this exact on a loaded machine.
	changed := time.Now()
	srv.SetA("app.test", "127.0.0.1", "127.0.0.2", "127.0.0.4")
	clustertest.Eventually(t, "app@127.0.0.4 connected", func() bool {
		return slices.Contains(conn.Nodes(), "app@127.0.0.4")
	})
	connected, _ := conn.FirstConnect("app@127.0.0.4")
	polls := 0
	for _, q := range srv.QueryLog("app.test", dns.TypeA) {
		if q.Time.After(changed) && q.Time.Before(connected) {
			polls++
		}
	}
	if polls < 1 || polls > 2 {
		t.Errorf("%d polls between the new record and its connect; want the first one (at most 2 when the machine is slow)", polls)
	}
}

func TestPruneNeverKeepsRemovedNode(t *testing.T) {
	srv := dnstest.New(t)
	srv.SetA("app.test", "127.0.0.1", "127.0.0.2")
	s := build(t, map[string]any{"query": "app.test", "node_basename": "app", "polling_interval": "200ms", "resolver": srv.Addr()})
	conn, _, topo := runTopology(t, s, libcluster.PruneNever)
	want := clustertest.Nodes("app@127.0.0.1", "app@127.0.0.2")
	clustertest.Eventually(t, "2 nodes connected", func() bool { return slices.Equal(conn.Nodes(), want) })

	srv.SetA("app.test", "127.0.0.1")
	before := srv.Queries("app.test", dns.TypeA)
	clustertest.Eventually(t, "3 more polls", func() bool { return srv.Queries("app.test", dns.TypeA) >= before+3 })
	if got := conn.Nodes(); !slices.Equal(got, want) {
		t.Fatalf("under prune never, connected %v after the record went; want %v", got, want)
	}
	if n := len(conn.Disconnects()); n != 0 {
		t.Fatalf("%d disconnects under prune never", n)
	}
	if d := topo.Status().Desired; !slices.Equal(d, want) {
		t.Fatalf("desired %v, want %v", d, want)
	}
}

func TestAAAARecordsMakeIPv6Names(t *testing.T) {
	srv := dnstest.New(t)
	srv.SetA("app6.test")
	srv.SetAAAA("app6.test", "::1", "2001:DB8:0:0:0:0:0:A")
	s := build(t, map[string]any{"query": "app6.test.", "node_basename": "app", "polling_interval": 200, "resolver": srv.Addr()})
	u, err := s.Discover(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if want := clustertest.Nodes("app@::1", "app@2001:db8::a"); !slices.Equal(u.Nodes(), want) {
		t.Fatalf("nodes %v, want %v", u.Nodes(), want)
	}
	if !strings.HasPrefix(u.Explain().Source, "DNS A+AAAA app6.test.") || u.Kind() != libcluster.KindComplete {
		t.Fatalf("source %q complete %v", u.Explain().Source, u.Kind() == libcluster.KindComplete)
	}
	conn, _, _ := runTopology(t, s, libcluster.PruneImmediate)
	clustertest.Eventually(t, "IPv6 nodes connected", func() bool { return len(conn.Nodes()) == 2 })

	// ip_family ipv4 asks A only.
	s4 := build(t, map[string]any{"query": "app6.test", "node_basename": "app", "ip_family": "ipv4", "resolver": srv.Addr()})
	aaaa := srv.Queries("app6.test", dns.TypeAAAA)
	u, err = s4.Discover(context.Background())
	if err != nil || len(u.Nodes()) != 0 {
		t.Fatalf("ipv4 only: %v %v", u.Nodes(), err)
	}
	if srv.Queries("app6.test", dns.TypeAAAA) != aaaa {
		t.Fatal("ip_family ipv4 asked for AAAA records")
	}
}

func TestOutageKeepsNodesAndReportsErrors(t *testing.T) {
	srv := dnstest.New(t)
	srv.SetA("app.test", "127.0.0.1", "127.0.0.2")
	s := build(t, map[string]any{"query": "app.test", "node_basename": "app", "polling_interval": 200, "resolver": srv.Addr(), "timeout": "1s"})
	conn, evs, topo := runTopology(t, s, libcluster.PruneImmediate)
	want := clustertest.Nodes("app@127.0.0.1", "app@127.0.0.2")
	clustertest.Eventually(t, "2 nodes connected", func() bool { return slices.Equal(conn.Nodes(), want) })

	srv.Stop()
	clustertest.Eventually(t, "3 discovery errors", func() bool { return len(evs.Of(libcluster.EventDiscoveryError)) >= 3 })
	if got := conn.Nodes(); !slices.Equal(got, want) || len(conn.Disconnects()) != 0 {
		t.Fatalf("during the outage: connected %v, %d disconnects; want %v and none", got, len(conn.Disconnects()), want)
	}
	msg := evs.Of(libcluster.EventDiscoveryError)[0].Err.Error()
	for _, part := range []string{"app.test", srv.Addr(), "DNS A+AAAA"} {
		if !strings.Contains(msg, part) {
			t.Errorf("error %q does not name %q", msg, part)
		}
	}
	if topo.Status().LastError == nil {
		t.Error("status has no LastError during the outage")
	}

	// One error event per poll, not more: the poller does not retry in a loop.
	errs0, start := len(evs.Of(libcluster.EventDiscoveryError)), time.Now()
	clustertest.Eventually(t, "3 more errors", func() bool { return len(evs.Of(libcluster.EventDiscoveryError)) >= errs0+3 })
	if n, max := len(evs.Of(libcluster.EventDiscoveryError))-errs0, int(time.Since(start)/interval)+2; n > max {
		t.Errorf("%d error events in %v; want at most one per %v poll (%d)", n, time.Since(start), interval, max)
	}

	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	srv.SetA("app.test", "127.0.0.1", "127.0.0.2", "127.0.0.3")
	clustertest.Eventually(t, "recovery", func() bool {
		return topo.Status().LastError == nil && len(conn.Nodes()) == 3
	})
}

func TestEmptyAnswerIsCompleteEmptySet(t *testing.T) {
	srv := dnstest.New(t)
	srv.SetA("app.test", "127.0.0.1")
	s := build(t, map[string]any{"query": "app.test", "node_basename": "app", "polling_interval": 200, "resolver": srv.Addr()})
	conn, evs, _ := runTopology(t, s, libcluster.PruneImmediate)
	clustertest.Eventually(t, "connected", func() bool { return len(conn.Nodes()) == 1 })
	srv.SetA("app.test") // NOERROR, no records
	clustertest.Eventually(t, "pruned", func() bool { return len(conn.Nodes()) == 0 })
	if n := len(evs.Of(libcluster.EventDiscoveryError)); n != 0 {
		t.Fatalf("%d discovery errors for an empty answer", n)
	}
}

func TestLookupErrorsNameQueryAndRcode(t *testing.T) {
	srv := dnstest.New(t)
	srv.SetNXDOMAIN("gone.test")
	srv.SetSERVFAIL("broken.test")
	for name, want := range map[string]string{"gone.test": "NXDOMAIN", "broken.test": "SERVFAIL", "never-set.test": "NXDOMAIN"} {
		s := build(t, map[string]any{"query": name, "node_basename": "app", "resolver": srv.Addr()})
		_, err := s.Discover(context.Background())
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: error %v; want one naming %s and the query", name, err, want)
		}
	}
}

func TestTruncatedAnswerRetriesOverTCP(t *testing.T) {
	srv := dnstest.New(t)
	srv.TruncateUDP(true)
	srv.SetA("big.test", "127.0.0.1", "127.0.0.2", "127.0.0.3")
	s := build(t, map[string]any{"query": "big.test", "node_basename": "app", "ip_family": "ipv4", "resolver": srv.Addr()})
	u, err := s.Discover(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(u.Nodes()) != 3 {
		t.Fatalf("nodes %v; want 3 via TCP", u.Nodes())
	}
	var tcp int
	for _, q := range srv.QueryLog("big.test", dns.TypeA) {
		if q.Net == "tcp" {
			tcp++
		}
	}
	if tcp != 1 {
		t.Fatalf("%d TCP queries; want 1 retry after the truncated UDP answer", tcp)
	}
}

func TestCNAMEAliasIsFollowed(t *testing.T) {
	srv := dnstest.New(t)
	srv.SetCNAME("alias.test", "real.test")
	srv.SetA("real.test", "127.0.0.5")
	s := build(t, map[string]any{"query": "alias.test", "node_basename": "app", "resolver": srv.Addr()})
	u, err := s.Discover(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if want := clustertest.Nodes("app@127.0.0.5"); !slices.Equal(u.Nodes(), want) {
		t.Fatalf("nodes %v, want %v", u.Nodes(), want)
	}
}

// pollGaps checks that polls came once per interval: the count fits the
// elapsed time and no two came back to back (libcluster's double polling
// sends them about 0 ms apart).
func pollGaps(t *testing.T, log []dnstest.Query, iv time.Duration) {
	t.Helper()
	if len(log) < 5 {
		t.Fatalf("only %d polls", len(log))
	}
	span := log[len(log)-1].Time.Sub(log[0].Time)
	if max := int(span/iv) + 2; len(log) > max {
		t.Errorf("%d polls in %v; at most %d expected at one per %v", len(log), span, max, iv)
	}
	for i := 1; i < len(log); i++ {
		if gap := log[i].Time.Sub(log[i-1].Time); gap < iv/2 {
			t.Errorf("polls %d and %d only %v apart; want about %v", i, i+1, gap, iv)
		}
	}
}

func TestPollsOncePerInterval(t *testing.T) {
	srv := dnstest.New(t)
	srv.SetA("app.test", "127.0.0.1")
	s := build(t, map[string]any{"query": "app.test", "node_basename": "app", "polling_interval": 200, "resolver": srv.Addr()})
	ctx, cancel := context.WithCancel(context.Background())
	rep := &clustertest.Recorder{}
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx, rep) }()
	clustertest.Eventually(t, "8 polls", func() bool { return rep.Len() >= 8 })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	log := srv.QueryLog("app.test", dns.TypeA)
	if d := len(log) - rep.Len(); d < 0 || d > 1 {
		t.Errorf("%d A queries for %d reports; want one query per poll", len(log), rep.Len())
	}
	pollGaps(t, log, interval)
}

func TestConfigErrorsNameTheKey(t *testing.T) {
	cases := []struct {
		cfg  map[string]any
		keys []string
	}{
		{map[string]any{}, []string{`"query"`, `"node_basename"`}},
		{map[string]any{"query": "app.test"}, []string{`"node_basename"`}},
		{map[string]any{"node_basename": "app"}, []string{`"query"`}},
		{map[string]any{"query": "", "node_basename": "app"}, []string{`"query"`}},
		{map[string]any{"query": "app test", "node_basename": "app"}, []string{`"query"`}},
		{map[string]any{"query": "app.test", "node_basename": "a b"}, []string{`"node_basename"`}},
		{map[string]any{"query": "app.test", "node_basename": "app", "polling_interval": "soon"}, []string{`"polling_interval"`}},
		{map[string]any{"query": "app.test", "node_basename": "app", "polling_interval": 0}, []string{`"polling_interval"`}},
		{map[string]any{"query": "app.test", "node_basename": "app", "resolver": "dns.example:53"}, []string{`"resolver"`}},
		{map[string]any{"query": "app.test", "node_basename": "app", "timeout": -1}, []string{`"timeout"`}},
		{map[string]any{"query": "app.test", "node_basename": "app", "ip_family": "ipv5"}, []string{`"ip_family"`}},
		{map[string]any{"query": "app.test", "node_basename": "app", "querry": "x"}, []string{`"querry"`, `did you mean "query"`}},
		{map[string]any{"query": "app.test", "node_basename": "app", "poll_interval": 100, "polling_interval": 200}, []string{`"poll_interval"`}},
	}
	for _, c := range cases {
		_, err := dnspoll.ConfigFromParams(strategy.NewParams(c.cfg))
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

func TestDeprecatedPollIntervalAndRegistry(t *testing.T) {
	for _, name := range []string{"dnspoll", "Cluster.Strategy.DNSPoll", "Elixir.Cluster.Strategy.DNSPoll", "dns_poll"} {
		info, ok := strategy.Lookup(name)
		if !ok || info.Name != "dnspoll" {
			t.Fatalf("Lookup(%q) = %v, %v", name, info.Name, ok)
		}
	}
	info, _ := strategy.Lookup("dnspoll")
	var buf strings.Builder
	p := strategy.NewParams(map[string]any{"query": "app.test", "node_basename": "app", "poll_interval": 1500})
	st, err := info.Build(strategy.Args{Topology: "t", Params: p, Logger: slog.New(slog.NewTextHandler(&buf, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if iv := st.(*dnspoll.Strategy).Config().Interval; iv != 1500*time.Millisecond {
		t.Fatalf("poll_interval 1500 gave interval %v", iv)
	}
	if !strings.Contains(buf.String(), "poll_interval") || !strings.Contains(buf.String(), "deprecated") {
		t.Fatalf("no deprecation warning logged: %q", buf.String())
	}
	if _, ok := st.(strategy.Discoverer); !ok {
		t.Fatal("strategy does not implement strategy.Discoverer")
	}
	// Defaults.
	d := st.(*dnspoll.Strategy)
	d2 := build(t, map[string]any{"query": "app.test", "node_basename": "app"})
	if c := d2.Config(); c.Interval != strategy.DefaultPollingInterval || c.Family != dnspoll.FamilyBoth || c.Timeout != dnsquery.DefaultTimeout || len(d.Config().Resolver) != 0 {
		t.Fatalf("defaults: %+v", c)
	}
}

func TestNoServerAnswersIsAnError(t *testing.T) {
	srv := dnstest.New(t)
	addr := srv.Addr()
	srv.Stop()
	s := build(t, map[string]any{"query": "app.test", "node_basename": "app", "resolver": addr, "timeout": "500ms"})
	_, err := s.Discover(context.Background())
	var de *dnsquery.Error
	if !errors.As(err, &de) || de.Rcode != -1 || !strings.Contains(err.Error(), addr) {
		t.Fatalf("error %v; want a no-answer error naming %s", err, addr)
	}
}

// Example polls a DNS name once, as the explain command does.
func Example() {
	srv, err := dnstest.Start() // a DNS server on loopback, standing in for yours
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Stop()
	srv.SetA("app.internal", "10.0.0.5", "10.0.0.6")
	srv.SetAAAA("app.internal", "fd00::7")

	s, err := dnspoll.New(dnspoll.Config{
		Query:    "app.internal",
		Basename: "app",
		Interval: 5 * time.Second,
		Resolver: []string{srv.Addr()}, // default: the servers of /etc/resolv.conf
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
	// Output: [app@10.0.0.5 app@10.0.0.6 app@fd00::7]
}

// BenchmarkDiscover is one poll (A + AAAA over UDP on loopback) of a name
// with 100 addresses, the answer turned into node names.
func BenchmarkDiscover(b *testing.B) {
	srv := dnstest.New(b)
	var ips []string
	for i := range 100 {
		ips = append(ips, fmt.Sprintf("10.0.%d.%d", i/250, i%250+1))
	}
	srv.SetA("app.test", ips...)
	srv.SetAAAA("app.test", "fd00::1")
	s := build(b, map[string]any{"query": "app.test", "node_basename": "app", "resolver": srv.Addr()})
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		u, err := s.Discover(ctx)
		if err != nil || len(u.Nodes()) != 101 {
			b.Fatalf("%d nodes, %v", len(u.Nodes()), err)
		}
	}
}
