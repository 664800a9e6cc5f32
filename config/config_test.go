package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/libcluster-go/libcluster"
	"github.com/libcluster-go/libcluster/memberlist"
)

const good = `
node:
  name: app@${TEST_HOST}
  cookie: secret
  hidden: false
  listen: 127.0.0.1:0
  epmd: 127.0.0.1:4370
  tick_time: 2000
http:
  listen: 127.0.0.1:0
topologies:
  one:
    strategy: Cluster.Strategy.Epmd
    config:
      hosts: [b@127.0.0.1, c@127.0.0.1]
    policy:
      prune: after 3 misses
      connect_timeout: 750
      min_nodes: 2
      parallelism: 4
      resync: 1s
      backoff: {initial: 100ms, max: 2s}
  two:
    strategy: epmd
`

func TestParseGood(t *testing.T) {
	t.Setenv("TEST_HOST", "127.0.0.1")
	f, err := Parse([]byte(good), "good.yaml")
	if err != nil {
		t.Fatal(err)
	}
	n := f.Node
	if n.Name != "app@127.0.0.1" || n.Cookie != "secret" || n.Hidden || n.Listen != "127.0.0.1:0" || n.EPMD != "127.0.0.1:4370" || n.TickTime != 2*time.Second {
		t.Errorf("node = %+v", n)
	}
	if f.HTTP.Listen != "127.0.0.1:0" {
		t.Errorf("http = %+v", f.HTTP)
	}
	if len(f.Topologies) != 2 || f.Topologies[0].Name != "one" || f.Topologies[1].Name != "two" {
		t.Fatalf("topologies = %+v", f.Topologies)
	}
	p := f.Topologies[0].Policy
	want := libcluster.Policy{Prune: libcluster.PruneAfter(3), ConnectTimeout: 750 * time.Millisecond, MinNodes: 2,
		Parallelism: 4, Resync: time.Second, Backoff: libcluster.Backoff{Initial: 100 * time.Millisecond, Max: 2 * time.Second}}
	if p != want {
		t.Errorf("policy = %+v, want %+v", p, want)
	}
	if f.Topologies[0].Strategy.Name != "epmd" || f.Topologies[0].Line != 12 {
		t.Errorf("topology one = %+v", f.Topologies[0])
	}
	conn := &libcluster.ConnectorFuncs{SelfNode: n.Name, ListFunc: func() []libcluster.Node { return nil }}
	tops, err := f.NewTopologies(conn, nil)
	if err != nil || len(tops) != 2 || tops[0].Name != "one" || tops[0].Connector != conn {
		t.Fatalf("NewTopologies = %v, %v", tops, err)
	}
}

func TestDefaults(t *testing.T) {
	home := t.TempDir()
	if err := os.WriteFile(filepath.Join(home, ".erlang.cookie"), []byte("FROMHOME\n"), 0o400); err != nil {
		t.Fatal(err)
	}
	f, err := Parse([]byte("node: {name: a@h}\ntopologies: {t: {strategy: epmd}}\n"), "d.yaml", func(o *options) { o.home = home })
	if err != nil {
		t.Fatal(err)
	}
	n := f.Node
	if n.Cookie != "FROMHOME" || !n.Hidden || n.Listen != "" || n.EPMD != DefaultEPMD || n.TickTime != DefaultTickTime {
		t.Errorf("defaults = %+v", n)
	}
	_, err = Parse([]byte("node: {name: a@h}\ntopologies: {t: {strategy: epmd}}\n"), "d.yaml", func(o *options) { o.home = t.TempDir() })
	if err == nil || !strings.Contains(err.Error(), ".erlang.cookie does not exist") {
		t.Errorf("missing home cookie: %v", err)
	}
}

func TestOverrides(t *testing.T) {
	f, err := Parse([]byte("topologies: {t: {strategy: epmd}}\n"), "o.yaml", WithNodeName("x@127.0.0.1"), WithCookie("c"))
	if err != nil {
		t.Fatal(err)
	}
	if f.Node.Name != "x@127.0.0.1" || f.Node.Cookie != "c" {
		t.Errorf("node = %+v", f.Node)
	}
}

func TestErrors(t *testing.T) {
	t.Setenv("TEST_EMPTY", "")
	cases := []struct {
		name, yaml string
		want       []string // each must appear in the message
	}{
		{"syntax", "node: {name: a@b\n  x", []string{"f.yaml:2:", "YAML syntax error"}},
		{"empty", "", []string{"empty"}},
		{"top key", "node: {name: a@h, cookie: c}\ntopologys: {}\n", []string{"f.yaml:2: topologys: unknown key", `did you mean "topologies"`}},
		{"node key", "node:\n  name: a@h\n  cookie: c\n  tick_tme: 5s\ntopologies: {t: {strategy: epmd}}\n", []string{"f.yaml:4: node.tick_tme", `"tick_time"`, "allowed: name, cookie"}},
		{"no name", "node: {cookie: c}\ntopologies: {t: {strategy: epmd}}\n", []string{"node.name: missing"}},
		{"bad name", "node: {name: nohost, cookie: c}\ntopologies: {t: {strategy: epmd}}\n", []string{"f.yaml:1: node.name", "invalid node name"}},
		{"bad epmd", "node: {name: a@h, cookie: c, epmd: sometimes}\ntopologies: {t: {strategy: epmd}}\n", []string{"node.epmd", "auto, none"}},
		{"bad listen", "node: {name: a@h, cookie: c, listen: 127.0.0.1:99999}\ntopologies: {t: {strategy: epmd}}\n", []string{"node.listen", "invalid port"}},
		{"bad tick", "node: {name: a@h, cookie: c, tick_time: soon}\ntopologies: {t: {strategy: epmd}}\n", []string{"node.tick_time", "invalid duration"}},
		{"no topologies", "node: {name: a@h, cookie: c}\n", []string{"topologies: missing"}},
		{"unknown strategy", "node: {name: a@h, cookie: c}\ntopologies:\n  t:\n    strategy: epmdd\n", []string{"f.yaml:4: topologies.t.strategy", `unknown strategy "epmdd"`, `did you mean "epmd"`, "allowed: "}},
		{"strategy key", "node: {name: a@h, cookie: c}\ntopologies:\n  t:\n    strategy: epmd\n    config:\n      hosts: [b@h]\n      hostz: [c@h]\n", []string{"f.yaml:7: topologies.t.config.hostz", `did you mean "hosts"`}},
		{"strategy value", "node: {name: a@h, cookie: c}\ntopologies:\n  t:\n    strategy: epmd\n    config:\n      timeout: whenever\n", []string{"f.yaml:6: topologies.t.config.timeout", "invalid duration"}},
		{"policy key", "node: {name: a@h, cookie: c}\ntopologies:\n  t:\n    strategy: epmd\n    policy: {prun: never}\n", []string{"f.yaml:5: topologies.t.policy.prun", `"prune"`}},
		{"prune", "node: {name: a@h, cookie: c}\ntopologies:\n  t:\n    strategy: epmd\n    policy: {prune: sometimes}\n", []string{"policy.prune", "immediate, never"}},
		{"duration", "node: {name: a@h, cookie: c}\ntopologies:\n  t:\n    strategy: epmd\n    policy: {connect_timeout: 5 seconds}\n", []string{"policy.connect_timeout", "invalid duration"}},
		{"env", "node:\n  name: a@${TEST_UNSET_VAR_X}\n  cookie: c\ntopologies: {t: {strategy: epmd}}\n", []string{"f.yaml:2:", "TEST_UNSET_VAR_X is not set"}},
		{"cookie file", "node: {name: a@h, cookie_file: /nonexistent/cookie}\ntopologies: {t: {strategy: epmd}}\n", []string{"/nonexistent/cookie does not exist"}},
		{"dup key", "node: {name: a@h, cookie: c}\ntopologies:\n  t: {strategy: epmd}\n  t: {strategy: epmd}\n", []string{"f.yaml:4:"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse([]byte(c.yaml), "f.yaml")
			if err == nil {
				t.Fatal("no error")
			}
			var ce *Error
			if !errors.As(err, &ce) {
				t.Errorf("error is %T, want *Error", err)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestEnvDefaultAndTyping(t *testing.T) {
	t.Setenv("TEST_MIN", "3")
	f, err := Parse([]byte("node:\n  name: a@${TEST_NOPE:-127.0.0.1}\n  cookie: c\ntopologies:\n  t:\n    strategy: epmd\n    policy:\n      min_nodes: ${TEST_MIN}\n"), "e.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if f.Node.Name != "a@127.0.0.1" || f.Topologies[0].Policy.MinNodes != 3 {
		t.Errorf("got %+v", f)
	}
}

func TestLoadErrors(t *testing.T) {
	if _, err := Load(filepath.Join(t.TempDir(), "nope.yaml")); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("missing file: %v", err)
	}
	if _, err := Load(t.TempDir()); err == nil || !strings.Contains(err.Error(), "directory") {
		t.Errorf("directory: %v", err)
	}
	if _, err := Load(os.DevNull); err == nil || !strings.Contains(err.Error(), "device") {
		t.Errorf("device: %v", err)
	}
}

func TestMemberlistConnector(t *testing.T) {
	key := "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=" // bytes 0..31
	t.Setenv("TEST_ML_KEY", key)
	f, err := Parse([]byte(`node:
  name: a@127.0.0.1
  connector: memberlist
  memberlist:
    bind: 127.0.0.1:7950
    advertise: 127.0.0.2:7951
    peer_port: 7952
    secret_key: ${TEST_ML_KEY}
    profile: local
    leave_timeout: 2s
    push_pull_interval: 5s
    gossip_interval: 50ms
    gossip_nodes: 4
    probe_interval: 2s
    probe_timeout: 1s
    suspicion_mult: 6
    retransmit_mult: 5
    tcp_timeout: 3s
    dead_node_reclaim_time: 1m
    handoff_queue_depth: 4096
    compression: true
    repeat_filter: false
topologies:
  t: {strategy: epmd, config: {hosts: [b@127.0.0.1]}}
  u: {strategy: epmd, policy: {prune: immediate}}
`), "m.yaml", WithCookie("ignored"))
	if err != nil {
		t.Fatal(err)
	}
	n := f.Node
	m := n.Memberlist
	if n.Connector != ConnectorMemberlist || n.Cookie != "" || m.BindAddr != "127.0.0.1" || m.BindPort != 7950 ||
		m.AdvertiseAddr != "127.0.0.2" || m.AdvertisePort != 7951 || m.PeerPort != 7952 || len(m.SecretKey) != 32 ||
		m.SecretKey[31] != 31 || m.Profile != "local" || m.LeaveTimeout != 2*time.Second {
		t.Errorf("node = %+v", n)
	}
	if f.Topologies[0].Policy.Prune != libcluster.PruneNever {
		t.Errorf("memberlist default prune = %v, want never", f.Topologies[0].Policy.Prune)
	}
	if f.Topologies[1].Policy.Prune != libcluster.PruneImmediate {
		t.Errorf("explicit prune = %v, want immediate", f.Topologies[1].Policy.Prune)
	}
	wantTuning := memberlist.Tuning{PushPullInterval: 5 * time.Second, GossipInterval: 50 * time.Millisecond, GossipNodes: 4,
		ProbeInterval: 2 * time.Second, ProbeTimeout: time.Second, SuspicionMult: 6, RetransmitMult: 5,
		TCPTimeout: 3 * time.Second, DeadNodeReclaimTime: time.Minute, HandoffQueueDepth: 4096, Compression: new(true),
		RepeatFilter: new(false)}
	if !reflect.DeepEqual(m.Tuning, wantTuning) {
		t.Errorf("tuning = %+v, want %+v", m.Tuning, wantTuning)
	}
	c := n.MemberlistConfig(nil)
	if !reflect.DeepEqual(c.Tuning, wantTuning) {
		t.Errorf("MemberlistConfig tuning = %+v, want %+v", c.Tuning, wantTuning)
	}
	if c.Name != "a@127.0.0.1" || c.BindAddr != "127.0.0.1" || c.BindPort != 7950 || c.PeerPort != 7952 || c.Profile != "local" || len(c.SecretKey) != 32 {
		t.Errorf("MemberlistConfig = %+v", c)
	}

	// Defaults: an empty block, or none at all.
	for _, y := range []string{"node: {name: a@h, connector: memberlist}\n", "node: {name: a@h, connector: memberlist, memberlist: }\n"} {
		f, err = Parse([]byte(y+"topologies: {t: {strategy: epmd}}\n"), "d.yaml")
		if err != nil {
			t.Fatalf("%q: %v", y, err)
		}
		m = f.Node.Memberlist
		// The connector's defaults, not restated: an empty BindAddr is
		// memberlist's 0.0.0.0 (or :: for an IPv6 name).
		if m.BindAddr != "" || m.BindPort != memberlist.DefaultPort || m.Profile != string(memberlist.ProfileLAN) || m.PeerPort != 0 || m.SecretKey != nil {
			t.Errorf("%q: defaults = %+v", y, m)
		}
	}

	// dist stays the default, and its prune default stays immediate.
	f, err = Parse([]byte("node: {name: a@h, cookie: c}\ntopologies: {t: {strategy: epmd}}\n"), "d.yaml")
	if err != nil || f.Node.Connector != ConnectorDist || f.Topologies[0].Policy.Prune != libcluster.PruneImmediate {
		t.Errorf("dist default: %+v, %v", f, err)
	}
}

func TestMemberlistErrors(t *testing.T) {
	t.Setenv("TEST_SHORT_KEY", "c2hvcnQ=") // "short"
	ml := func(body string) string {
		return "node:\n  name: a@h\n  connector: memberlist\n" + body + "topologies: {t: {strategy: epmd}}\n"
	}
	cases := []struct {
		name, yaml string
		want       []string
	}{
		{"connector typo", "node:\n  name: a@h\n  cookie: c\n  connector: memberlst\ntopologies: {t: {strategy: epmd}}\n",
			[]string{"f.yaml:4: node.connector", `unknown connector "memberlst"`, `did you mean "memberlist"`, "allowed: dist, memberlist"}},
		{"block under dist", "node:\n  name: a@h\n  cookie: c\n  memberlist: {bind: 127.0.0.1:1}\ntopologies: {t: {strategy: epmd}}\n",
			[]string{"f.yaml:4: node.memberlist", "node.connector: memberlist"}},
		{"cookie under memberlist", ml("  cookie: c\n"), []string{"f.yaml:4: node.cookie", "dist connector", "remove it"}},
		{"epmd under memberlist", ml("  epmd: none\n  tick_time: 2s\n"), []string{"f.yaml:4: node.epmd", "f.yaml:5: node.tick_time"}},
		{"unknown key", ml("  memberlist:\n    bnd: 127.0.0.1:7946\n"), []string{"f.yaml:5: node.memberlist.bnd", `did you mean "bind"`, "allowed: bind, advertise"}},
		{"bind host name", ml("  memberlist:\n    bind: localhost:7946\n"), []string{"f.yaml:5: node.memberlist.bind", "not an IP address"}},
		{"bind no port", ml("  memberlist:\n    bind: 127.0.0.1\n"), []string{"f.yaml:5: node.memberlist.bind", "want IP:port"}},
		{"bind bad port", ml("  memberlist:\n    bind: 127.0.0.1:70000\n"), []string{"f.yaml:5: node.memberlist.bind", "invalid port"}},
		{"advertise wildcard", ml("  memberlist:\n    advertise: 0.0.0.0:7946\n"), []string{"f.yaml:5: node.memberlist.advertise", "wildcard"}},
		{"peer port", ml("  memberlist:\n    peer_port: 0\n"), []string{"f.yaml:5: node.memberlist.peer_port", "≥ 1"}},
		{"peer port high", ml("  memberlist:\n    peer_port: 99999\n"), []string{"f.yaml:5: node.memberlist.peer_port", "1 to 65535"}},
		{"key not base64", ml("  memberlist:\n    secret_key: not*base64!\n"), []string{"f.yaml:5: node.memberlist.secret_key", "not valid base64"}},
		{"key short", ml("  memberlist:\n    secret_key: ${TEST_SHORT_KEY}\n"), []string{"f.yaml:5: node.memberlist.secret_key", "decodes to 5 bytes", "16, 24 or 32"}},
		{"key env unset", ml("  memberlist:\n    secret_key: ${TEST_UNSET_ML_KEY}\n"), []string{"f.yaml:5:", "TEST_UNSET_ML_KEY is not set"}},
		{"profile", ml("  memberlist:\n    profile: lna\n"), []string{"f.yaml:5: node.memberlist.profile", `unknown profile "lna"`, `did you mean "lan"`}},
		{"leave timeout", ml("  memberlist:\n    leave_timeout: 0s\n"), []string{"f.yaml:5: node.memberlist.leave_timeout", "positive"}},
		{"tuning duration", ml("  memberlist:\n    push_pull_interval: 0s\n"), []string{"f.yaml:5: node.memberlist.push_pull_interval", "positive duration"}},
		{"tuning duration junk", ml("  memberlist:\n    gossip_interval: fast\n"), []string{"f.yaml:5: node.memberlist.gossip_interval"}},
		{"tuning int", ml("  memberlist:\n    gossip_nodes: 0\n"), []string{"f.yaml:5: node.memberlist.gossip_nodes", "≥ 1"}},
		{"tuning int high", ml("  memberlist:\n    suspicion_mult: 5000\n"), []string{"f.yaml:5: node.memberlist.suspicion_mult", "1 to 1000"}},
		{"handoff queue depth", ml("  memberlist:\n    handoff_queue_depth: 0\n"), []string{"f.yaml:5: node.memberlist.handoff_queue_depth", "≥ 1"}},
		{"handoff queue depth high", ml("  memberlist:\n    handoff_queue_depth: 100000\n"), []string{"f.yaml:5: node.memberlist.handoff_queue_depth", "1 to 16384"}},
		{"compression", ml("  memberlist:\n    compression: gzip\n"), []string{"f.yaml:5: node.memberlist.compression", `want true or false, got "gzip"`}},
		{"repeat filter", ml("  memberlist:\n    repeat_filter: sometimes\n"), []string{"f.yaml:5: node.memberlist.repeat_filter", `want true or false, got "sometimes"`}},
		{"probe timeout", ml("  memberlist:\n    probe_interval: 1s\n    probe_timeout: 1s\n"), []string{"f.yaml:6: node.memberlist.probe_timeout", "not shorter than probe_interval"}},
		{"tuning misspelt", ml("  memberlist:\n    push_pull_intervall: 5s\n"), []string{"f.yaml:5: node.memberlist.push_pull_intervall", `did you mean "push_pull_interval"`}},
		{"block not a mapping", ml("  memberlist: [a]\n"), []string{"f.yaml:4: node.memberlist", "want a mapping"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse([]byte(c.yaml), "f.yaml")
			if err == nil {
				t.Fatal("no error")
			}
			var ce *Error
			if !errors.As(err, &ce) {
				t.Errorf("error is %T, want *Error", err)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}
