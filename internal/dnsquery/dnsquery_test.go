package dnsquery

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"github.com/libcluster-go/libcluster/internal/testkit/dnstest"
)

func TestCandidatesFollowSearchRules(t *testing.T) {
	c := config{search: []string{"default.svc.cluster.local", "svc.cluster.local."}, ndots: 5}
	cases := map[string][]string{
		"abs.example.":   {"abs.example."},
		"myapp-headless": {"myapp-headless.default.svc.cluster.local.", "myapp-headless.svc.cluster.local.", "myapp-headless."},
		"a.b.c.d.e.f":    {"a.b.c.d.e.f.", "a.b.c.d.e.f.default.svc.cluster.local.", "a.b.c.d.e.f.svc.cluster.local."},
	}
	for name, want := range cases {
		if got := candidates(name, c); !slices.Equal(got, want) {
			t.Errorf("candidates(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestResolvConf(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "resolv.conf")
	if err := os.WriteFile(p, []byte("search ns.svc.cluster.local svc.cluster.local\nnameserver 10.96.0.10\nnameserver fd00::10\noptions ndots:5\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := &Resolver{ResolvConf: p}
	c, _ := r.config()
	if !slices.Equal(c.servers, []string{"10.96.0.10:53", "[fd00::10]:53"}) || c.ndots != 5 || len(c.search) != 2 {
		t.Fatalf("config %+v", c)
	}
	if d := r.Describe(); !strings.Contains(d, "10.96.0.10:53") {
		t.Fatalf("describe %q", d)
	}
	r = &Resolver{ResolvConf: filepath.Join(dir, "missing")}
	if c, _ := r.config(); !slices.Equal(c.servers, []string{"127.0.0.1:53", "[::1]:53"}) {
		t.Fatalf("no resolv.conf: %v", c.servers)
	}
}

func TestParseServer(t *testing.T) {
	good := map[string]string{"10.0.0.1": "10.0.0.1:53", "10.0.0.1:5353": "10.0.0.1:5353", "::1": "[::1]:53", "[::1]:53": "[::1]:53", "[fd00::a]": "[fd00::a]:53"}
	for in, want := range good {
		if got, err := ParseServer(in); err != nil || got != want {
			t.Errorf("ParseServer(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "dns.example", "dns.example:53", "10.0.0.1:0", "10.0.0.1:99999", "fe80::1%eth0"} {
		if _, err := ParseServer(in); err == nil {
			t.Errorf("ParseServer(%q) accepted", in)
		}
	}
}

func TestLookupOutcomes(t *testing.T) {
	srv := dnstest.New(t)
	srv.SetA("a.test", "127.0.0.1")
	srv.SetA("empty.test")
	srv.SetCNAME("c1.test", "c2.test")
	srv.SetCNAME("c2.test", "a.test")
	srv.SetCNAME("loop1.test", "loop2.test")
	srv.SetCNAME("loop2.test", "loop1.test")
	srv.SetSERVFAIL("sf.test")
	r := &Resolver{Servers: []string{srv.Addr()}}
	ctx := context.Background()

	ans, err := r.Lookup(ctx, "c1.test", dns.TypeA)
	if err != nil || len(ans.Records) != 1 || ans.Name != "a.test." || !slices.Equal(ans.Aliases, []string{"c1.test", "c2.test"}) {
		t.Fatalf("CNAME chain: %+v %v", ans, err)
	}
	ans, err = r.Lookup(ctx, "empty.test", dns.TypeA)
	if err != nil || len(ans.Records) != 0 {
		t.Fatalf("NOERROR without records: %+v %v", ans, err)
	}
	if _, err := r.Lookup(ctx, "nx.test", dns.TypeA); !IsNotFound(err) {
		t.Fatalf("NXDOMAIN: %v", err)
	}
	_, err = r.Lookup(ctx, "sf.test", dns.TypeA)
	if e, ok := err.(*Error); !ok || e.Rcode != dns.RcodeServerFailure {
		t.Fatalf("SERVFAIL: %v", err)
	}
	if _, err := r.Lookup(ctx, "loop1.test", dns.TypeA); err == nil || !strings.Contains(err.Error(), "CNAME") {
		t.Fatalf("CNAME loop: %v", err)
	}

	// A dead first server: the second answers.
	dead := dnstest.New(t)
	deadAddr := dead.Addr()
	dead.Stop()
	r = &Resolver{Servers: []string{deadAddr, srv.Addr()}}
	if ans, err := r.Lookup(ctx, "a.test", dns.TypeA); err != nil || ans.Server != srv.Addr() {
		t.Fatalf("fail-over: %+v %v", ans, err)
	}
}

func BenchmarkLookupA(b *testing.B) {
	srv := dnstest.New(b)
	srv.SetA("app.test", "127.0.0.1", "127.0.0.2", "127.0.0.3")
	r := &Resolver{Servers: []string{srv.Addr()}}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.Lookup(ctx, "app.test", dns.TypeA); err != nil {
			b.Fatal(err)
		}
	}
}
