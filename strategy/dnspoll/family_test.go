package dnspoll_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"github.com/libcluster-go/libcluster"
	"github.com/libcluster-go/libcluster/internal/testkit/clustertest"
	"github.com/libcluster-go/libcluster/internal/testkit/dnstest"
)

// A real dnsmasq with --no-resolv answers A for a hosts-file name and
// REFUSED for its AAAA. With ip_family both (the default) the cluster must
// form from the A answer, and the AAAA failure is one event, not one per
// poll.
func TestFormsWhenDnsmasqRefusesAAAA(t *testing.T) {
	dm := dnstest.StartDnsmasq(t, map[string][]string{"app.test": {"127.0.0.11", "127.0.0.12"}})
	s := build(t, map[string]any{"query": "app.test", "node_basename": "app", "polling_interval": 100, "resolver": dm.Addr(), "timeout": "1s"})
	conn, evs, _ := runTopology(t, s, libcluster.PruneImmediate)
	want := clustertest.Nodes("app@127.0.0.11", "app@127.0.0.12")
	clustertest.Eventually(t, "cluster formed from the A answer", func() bool { return slices.Equal(conn.Nodes(), want) })
	polls := dm.Queries("app.test", "AAAA")
	clustertest.Eventually(t, "3 more polls", func() bool { return dm.Queries("app.test", "AAAA") >= polls+3 })
	errs := evs.Of(libcluster.EventDiscoveryError)
	if len(errs) != 1 {
		t.Fatalf("%d discovery errors over %d polls; want the AAAA failure once", len(errs), dm.Queries("app.test", "AAAA"))
	}
	for _, part := range []string{"AAAA", "REFUSED", "app.test"} {
		if !strings.Contains(errs[0].Err.Error(), part) {
			t.Errorf("error %q does not say %q", errs[0].Err, part)
		}
	}
	if len(conn.Disconnects()) != 0 {
		t.Errorf("disconnects: %v", conn.Disconnects())
	}
}

// A family that fails keeps its own last good set (so its live nodes are
// not pruned) while the other family's answers are used.
func TestFailingFamilyKeepsItsLastGoodSet(t *testing.T) {
	srv := dnstest.New(t)
	srv.SetA("app.test", "127.0.0.1")
	srv.SetAAAA("app.test", "::1")
	s := build(t, map[string]any{"query": "app.test", "node_basename": "app", "polling_interval": 100, "resolver": srv.Addr(), "timeout": "1s"})
	conn, evs, _ := runTopology(t, s, libcluster.PruneImmediate)
	clustertest.Eventually(t, "both families", func() bool { return slices.Equal(conn.Nodes(), clustertest.Nodes("app@127.0.0.1", "app@::1")) })

	srv.SetTypeRcode("app.test", dns.TypeAAAA, dns.RcodeServerFailure)
	srv.SetA("app.test", "127.0.0.1", "127.0.0.2") // A still changes and is followed
	clustertest.Eventually(t, "A change followed", func() bool {
		return slices.Equal(conn.Nodes(), clustertest.Nodes("app@127.0.0.1", "app@127.0.0.2", "app@::1"))
	})
	q := srv.Queries("app.test", dns.TypeAAAA)
	clustertest.Eventually(t, "3 more polls", func() bool { return srv.Queries("app.test", dns.TypeAAAA) >= q+3 })
	if got := conn.Nodes(); !slices.Contains(got, "app@::1") || len(conn.Disconnects()) != 0 {
		t.Fatalf("AAAA failing: connected %v, disconnects %v; the AAAA node must be kept", got, conn.Disconnects())
	}
	if n := len(evs.Of(libcluster.EventDiscoveryError)); n != 1 {
		t.Fatalf("%d discovery errors; want 1 for the change", n)
	}
	// AAAA answers again: its new answer applies.
	srv.SetTypeRcode("app.test", dns.TypeAAAA, dns.RcodeSuccess)
	srv.SetAAAA("app.test")
	clustertest.Eventually(t, "AAAA node pruned once AAAA answers without it", func() bool {
		return slices.Equal(conn.Nodes(), clustertest.Nodes("app@127.0.0.1", "app@127.0.0.2"))
	})
	// Both fail: the round fails and the topology keeps everything.
	srv.SetSERVFAIL("app.test")
	clustertest.Eventually(t, "a failed round", func() bool { return len(evs.Of(libcluster.EventDiscoveryError)) >= 2 })
	if got := conn.Nodes(); len(got) != 2 {
		t.Fatalf("after a failed round: %v", got)
	}
}
