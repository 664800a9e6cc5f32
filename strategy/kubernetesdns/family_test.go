package kubernetesdns_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"github.com/libcluster-go/libcluster"
	"github.com/libcluster-go/libcluster/internal/testkit/clustertest"
	"github.com/libcluster-go/libcluster/internal/testkit/dnstest"
)

// checkFamilyFailureOnce runs the strategy with ip_family both against
// addr, where name has the A records 127.0.0.11 and 127.0.0.12 and its
// AAAA lookup fails, until polls() has seen three more polls, and checks
// that every good update holds the A nodes and that the failure was
// reported once.
func checkFamilyFailureOnce(t *testing.T, addr, name string, polls func() int) {
	t.Helper()
	s := build(t, map[string]any{"service": name, "application_name": "app", "ip_family": "both", "resolver": addr, "polling_interval": 100, "timeout": "1s"})
	rep := run(t, s)
	clustertest.Eventually(t, "a good update", func() bool { return rep.Count(false) >= 1 })
	p := polls()
	clustertest.Eventually(t, "3 more polls", func() bool { return polls() >= p+3 && rep.Count(false) >= 4 })
	want := []libcluster.Node{"app@127.0.0.11", "app@127.0.0.12"}
	for _, u := range rep.Updates() {
		if u.Err() == nil && !slices.Equal(slices.Sorted(slices.Values(u.Nodes())), want) {
			t.Errorf("update %v; want the A nodes %v", u.Nodes(), want)
		}
	}
	if n := rep.Count(true); n != 1 {
		t.Fatalf("%d error updates; want the AAAA failure once", n)
	}
	for _, u := range rep.Updates() {
		if u.Err() != nil && !strings.Contains(u.Err().Error(), "AAAA") {
			t.Errorf("error %q does not name the AAAA lookup", u.Err())
		}
	}
}

func TestBothFamiliesWithDnsmasqRefusingAAAA(t *testing.T) {
	const name = "app-headless.default.svc.cluster.local"
	dm := dnstest.StartDnsmasq(t, map[string][]string{name: {"127.0.0.11", "127.0.0.12"}})
	checkFamilyFailureOnce(t, dm.Addr(), name, func() int { return dm.Queries(name, "AAAA") })
}

func TestBothFamiliesWithAAAAServfail(t *testing.T) {
	const name = "app-headless.default.svc.cluster.local"
	srv := dnstest.New(t)
	srv.SetA(name, "127.0.0.11", "127.0.0.12")
	srv.SetTypeRcode(name, dns.TypeAAAA, dns.RcodeServerFailure)
	checkFamilyFailureOnce(t, srv.Addr(), name, func() int { return srv.Queries(name, dns.TypeAAAA) })
}
