package dnsquery_test

import (
	"context"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/libcluster-go/libcluster/internal/dnsquery"
	"github.com/libcluster-go/libcluster/internal/testkit/dnstest"
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
	addrs, source, warn, err := p.Discover(context.Background(), r, "app.test", []uint16{dns.TypeA, dns.TypeAAAA})
	if err != nil || warn != nil {
		t.Fatal(err, warn)
	}
	want := []netip.Addr{netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("127.0.0.2"), netip.MustParseAddr("::1")}
	if got := slices.SortedFunc(slices.Values(addrs), netip.Addr.Compare); !slices.Equal(got, want) || source != "DNS A+AAAA app.test via "+srv.Addr() {
		t.Fatalf("addrs %v source %q; want %v and a source naming the server", addrs, source, want)
	}
	if _, _, _, err := new(dnsquery.AddrPoll).Discover(context.Background(), r, "missing.test", []uint16{dns.TypeA}); err == nil || !strings.HasPrefix(err.Error(), "DNS A missing.test: ") {
		t.Fatalf("lookup of a missing name: %v; want an error naming the lookup", err)
	}
}

func TestCheckFields(t *testing.T) {
	f := dnsquery.AddrFields{NameKey: "query", Name: "app.test", BasenameKey: "node_basename", Basename: "app",
		Interval: time.Second, Family: dnsquery.FamilyBoth, Resolver: []string{"127.0.0.1"}, Timeout: time.Second}
	if ps := f.Check(); len(ps) != 0 {
		t.Fatalf("valid fields reported: %v", ps)
	}
	f.Name, f.Basename, f.Interval, f.Family, f.Resolver, f.Timeout = "bad name", "a@b", 0, "ipv5", []string{"dns.example"}, 0
	var keys []string
	for _, p := range f.Check() {
		keys = append(keys, p.Key)
	}
	if want := []string{"query", "node_basename", "polling_interval", "ip_family", "resolver", "timeout"}; !slices.Equal(keys, want) {
		t.Fatalf("keys %v; want %v", keys, want)
	}
	f.Name, f.Basename = "", " "
	if ps := f.Check(); ps[0].Key != "query" || !strings.Contains(ps[0].Msg, "required") || !strings.Contains(ps[1].Msg, "required") {
		t.Fatalf("empty values: %v; want both required", ps)
	}
}
