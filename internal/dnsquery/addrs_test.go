package dnsquery_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"github.com/libcluster-go/libcluster"
	"github.com/libcluster-go/libcluster/internal/dnsquery"
	"github.com/libcluster-go/libcluster/internal/testkit/dnstest"
	"github.com/libcluster-go/libcluster/strategy"
)

func TestFamilyTypes(t *testing.T) {
	for _, c := range []struct {
		family, def string
		want        []uint16
	}{
		{"ipv4", "both", []uint16{dns.TypeA}},
		{"ipv6", "ipv4", []uint16{dns.TypeAAAA}},
		{"both", "ipv4", []uint16{dns.TypeA, dns.TypeAAAA}},
		{"", "ipv4", []uint16{dns.TypeA}},
		{"", "both", []uint16{dns.TypeA, dns.TypeAAAA}},
		{"bogus", "ipv6", []uint16{dns.TypeAAAA}},
	} {
		if got := dnsquery.FamilyTypes(c.family, c.def); !slices.Equal(got, c.want) {
			t.Errorf("FamilyTypes(%q, %q) = %v, want %v", c.family, c.def, got, c.want)
		}
	}
	if got := dnsquery.AddrsSource("app.test", []uint16{dns.TypeA, dns.TypeAAAA}); got != "DNS A+AAAA app.test" {
		t.Errorf("AddrsSource = %q", got)
	}
}

func TestDiscoverAddrs(t *testing.T) {
	srv := dnstest.New(t)
	srv.SetA("app.test", "127.0.0.2", "127.0.0.1")
	srv.SetAAAA("app.test", "::1")
	r := &dnsquery.Resolver{Servers: []string{srv.Addr()}}
	var p dnsquery.AddrPoll
	u, warn, err := p.Discover(context.Background(), r, "app.test", "app", []uint16{dns.TypeA, dns.TypeAAAA})
	if err != nil || warn != nil {
		t.Fatal(err, warn)
	}
	want := []libcluster.Node{"app@127.0.0.1", "app@127.0.0.2", "app@::1"}
	if got := slices.Sorted(slices.Values(u.Nodes())); !slices.Equal(got, want) || u.Kind() != libcluster.KindComplete || u.Explain().Source != "DNS A+AAAA app.test via "+srv.Addr() {
		t.Fatalf("update %+v; want nodes %v, complete, source naming the server", u, want)
	}
	if _, _, err := new(dnsquery.AddrPoll).Discover(context.Background(), r, "missing.test", "app", []uint16{dns.TypeA}); err == nil || !strings.HasPrefix(err.Error(), "DNS A missing.test: ") {
		t.Fatalf("lookup of a missing name: %v; want an error naming the lookup", err)
	}
}

func TestCheckParams(t *testing.T) {
	p := strategy.NewParams(map[string]any{})
	dnsquery.CheckNameParam(p, "query", "")
	dnsquery.CheckBasenameParam(p, "node_basename", "")
	if err := p.Err(); err != nil {
		t.Fatalf("empty values (left to RequiredString) reported: %v", err)
	}
	dnsquery.CheckNameParam(p, "query", "bad name")
	dnsquery.CheckBasenameParam(p, "node_basename", "a@b")
	err := p.Err()
	if err == nil || !strings.Contains(err.Error(), "query") || !strings.Contains(err.Error(), "node_basename") {
		t.Fatalf("error %v; want both keys named", err)
	}
}
