package gossip

import (
	"strings"
	"testing"
	"time"

	"github.com/libcluster-go/libcluster/strategy"
)

func TestRegistered(t *testing.T) {
	for _, name := range []string{"gossip", "Cluster.Strategy.Gossip", "Elixir.Cluster.Strategy.Gossip"} {
		if info, ok := strategy.Lookup(name); !ok || info.Name != "gossip" {
			t.Errorf("Lookup(%q) = %+v, %v", name, info, ok)
		}
	}
}

func TestFromParamsDefaults(t *testing.T) {
	s, err := ConfigFromParams(strategy.NewParams(nil))
	if err != nil {
		t.Fatal(err)
	}
	c, err := s.settings("", nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.port != 45892 || c.group.String() != "233.252.1.32" || c.ifAddr.String() != "0.0.0.0" || c.ttl != 1 ||
		c.broadcast || c.security != SecurityPlain || c.interval != 5*time.Second || c.replayWindow != 30*time.Second || c.mcIf != "" {
		t.Fatalf("defaults: %+v", c)
	}
	s, err = ConfigFromParams(strategy.NewParams(map[string]any{"secret": "pw"}))
	if err != nil || s.Security != "" {
		t.Fatal(err)
	}
	if c, _ := s.settings("", nil); c.security != SecurityCBC {
		t.Fatalf("secret alone: security %s, want cbc", c.security)
	}
}

func TestFromParamsErrors(t *testing.T) {
	for _, tc := range []struct {
		cfg  map[string]any
		want string
	}{
		{map[string]any{"multicast_addr": "233.252.1"}, "not an IPv4 or IPv6 address"},
		{map[string]any{"if_addr": "::", "multicast_addr": "233.252.1.32"}, "different IP families"},
		{map[string]any{"multicast_addr": "ff02::1:32"}, "needs multicast_if"},
		{map[string]any{"multicast_addr": "10.0.0.255"}, "set broadcast_only"},
		{map[string]any{"port": 70000}, "port"},
		{map[string]any{"security": "aead"}, "needs a secret"},
		{map[string]any{"security": "xor", "secret": "x"}, "want one of cbc, aead"},
		{map[string]any{"secret": ""}, "empty"},
		{map[string]any{"multicast_ttl": 0}, "0 keeps heartbeats on this host"},
		{map[string]any{"multicst_if": "lo"}, `did you mean "multicast_if"`},
		{map[string]any{"multicast_if": "not an interface"}, "neither an IP address nor an interface name"},
		{map[string]any{"interval": "soon"}, "invalid duration"},
	} {
		_, err := ConfigFromParams(strategy.NewParams(tc.cfg))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: got %v, want error containing %q", tc.cfg, err, tc.want)
		}
	}
	if _, err := ConfigFromParams(strategy.NewParams(map[string]any{"multicast_addr": "ff02::1:32", "multicast_if": "eth0", "secret": "x", "security": "aead", "cluster": "prod"})); err != nil {
		t.Errorf("valid IPv6 aead config: %v", err)
	}
}
