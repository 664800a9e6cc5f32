package libcluster_test

import (
	"strings"
	"testing"

	"github.com/libcluster-go/libcluster"
)

func TestParseNodeAccepts(t *testing.T) {
	for _, tc := range []struct {
		in, name, host string
		long           bool
	}{
		{"app@10.0.0.5", "app", "10.0.0.5", true},
		{"app@::1", "app", "::1", true},
		{"app@fd00::a:1", "app", "fd00::a:1", true},
		{"app@app-0.app.default.svc.cluster.local", "app", "app-0.app.default.svc.cluster.local", true},
		{"my_app-2@myhost", "my_app-2", "myhost", false},
	} {
		n, err := libcluster.ParseNode(tc.in)
		if err != nil {
			t.Errorf("ParseNode(%q): %v", tc.in, err)
			continue
		}
		if n.Name() != tc.name || n.Host() != tc.host || n.IsLong() != tc.long {
			t.Errorf("ParseNode(%q) = name %q host %q long %v", tc.in, n.Name(), n.Host(), n.IsLong())
		}
	}
}

func TestParseNodeRejects(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", "empty"},
		{"app", "no '@'"},
		{"@host", "empty basename"},
		{"app@", "empty host"},
		{"a@b@c", "more than one '@'"},
		{"my app@host", "basename has ' '"},
		{"app@ho st", "host has ' '"},
		{"app@1:2", "not an IPv6"},
		{"app@host.", "empty DNS label"},
		{"app@" + strings.Repeat("h", 300), "longer than the 255"},
		{"app@" + strings.Repeat("h", 64) + ".com", "longer than 63"},
	} {
		_, err := libcluster.ParseNode(tc.in)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseNode(%.20q) error = %v, want it to mention %q", tc.in, err, tc.want)
		}
	}
}

func TestNodeFromAddrCanonicalIPv6(t *testing.T) {
	n, err := libcluster.NodeFromAddr("node", mustAddr("2A09:8280:0001:a270:b8f5:b9f7:8891:00f3"))
	if err != nil || n != "node@2a09:8280:1:a270:b8f5:b9f7:8891:f3" {
		t.Fatalf("got %q, %v", n, err)
	}
}

func TestPrunePolicyText(t *testing.T) {
	for in, want := range map[string]string{"immediate": "immediate", "never": "never", "after 3 misses": "after 3 misses", "after:2": "after 2 misses", "after 1": "immediate"} {
		p, err := libcluster.ParsePrune(in)
		if err != nil || p.String() != want {
			t.Errorf("ParsePrune(%q) = %v, %v; want %s", in, p, err, want)
		}
	}
	if _, err := libcluster.ParsePrune("sometimes"); err == nil || !strings.Contains(err.Error(), "immediate, never") {
		t.Errorf("bad prune error = %v", err)
	}
}
