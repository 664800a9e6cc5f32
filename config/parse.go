package config

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/libcluster-go/libcluster"
	"github.com/libcluster-go/libcluster/erldist"
	"github.com/libcluster-go/libcluster/memberlist"
	"github.com/libcluster-go/libcluster/strategy"
)

// The keys each section accepts.
var (
	topKeys  = []string{"node", "http", "topologies"}
	nodeKeys = []string{"name", "cookie", "cookie_file", "hidden", "listen", "epmd", "tick_time", "connector", "memberlist", "tls"}
	distKeys = []string{"cookie", "cookie_file", "hidden", "listen", "epmd", "tick_time", "tls"}
	mlKeys   = []string{"bind", "advertise", "peer_port", "secret_key", "profile", "leave_timeout",
		"push_pull_interval", "gossip_interval", "gossip_nodes", "probe_interval", "probe_timeout",
		"suspicion_mult", "retransmit_mult", "tcp_timeout", "dead_node_reclaim_time", "handoff_queue_depth", "compression",
		"repeat_filter"}
	httpKeys     = []string{"listen"}
	topologyKeys = []string{"strategy", "config", "policy"}
	policyKeys   = []string{"prune", "connect_timeout", "min_nodes", "parallelism", "backoff", "resync"}
	backoffKeys  = []string{"initial", "max"}
)

type doc struct {
	name string
	root *yaml.Node // the top-level mapping, nil for an empty file
}

func newDoc(data []byte, name string) (*doc, error) {
	var n yaml.Node
	if err := yaml.Unmarshal(data, &n); err != nil {
		return nil, &Error{File: name, Problems: []Problem{syntaxProblem(err)}}
	}
	d := &doc{name: name}
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		d.root = n.Content[0]
	}
	return d, nil
}

// syntaxProblem turns the YAML library's "yaml: line N: msg" into a Problem.
func syntaxProblem(err error) Problem {
	msg := err.Error()
	msg = strings.TrimPrefix(msg, "yaml: ")
	line := 0
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if num, after, ok := strings.Cut(rest, ": "); ok {
			if n, err := strconv.Atoi(num); err == nil {
				line, msg = n, after
			}
		}
	}
	return Problem{Line: line, Msg: "YAML syntax error: " + msg}
}

type parser struct {
	doc       *doc
	opts      options
	errs      Error
	connector string // node.connector, once read
}

func (p *parser) fail(n *yaml.Node, path, format string, args ...any) {
	line := 0
	if n != nil {
		line = n.Line
	}
	p.errs.Problems = append(p.errs.Problems, Problem{Path: path, Line: line, Msg: fmt.Sprintf(format, args...)})
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// entry is a key of a mapping with its value.
type entry struct {
	key, val *yaml.Node
}

// mapping checks that n is a mapping whose keys are all in allowed (any key
// when allowed is nil), and returns its entries in file order.
func (p *parser) mapping(n *yaml.Node, path string, allowed []string) ([]entry, map[string]entry) {
	byKey := map[string]entry{}
	if n == nil || isNull(n) {
		return nil, byKey
	}
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n.Kind != yaml.MappingNode {
		p.fail(n, path, "want a mapping of keys to values, got %s", kindName(n))
		return nil, byKey
	}
	var list []entry
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			p.fail(k, path, "keys must be plain strings")
			continue
		}
		kp := join(path, k.Value)
		if _, dup := byKey[k.Value]; dup {
			p.fail(k, kp, "key set twice; keep one")
			continue
		}
		if allowed != nil && !contains(allowed, k.Value) {
			msg := "unknown key"
			if s := strategy.Nearest(k.Value, allowed); s != "" {
				msg += fmt.Sprintf("; did you mean %q?", s)
			}
			p.fail(k, kp, "%s (allowed: %s)", msg, strings.Join(allowed, ", "))
			continue
		}
		e := entry{k, v}
		byKey[k.Value] = e
		list = append(list, e)
	}
	return list, byKey
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if isNull(n) {
			return "nothing"
		}
		return strconv.Quote(n.Value)
	}
	return "something else"
}

// scalar returns the expanded text of a scalar node.
func (p *parser) scalar(n *yaml.Node, path string) (string, bool) {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n.Kind != yaml.ScalarNode || isNull(n) {
		p.fail(n, path, "want a single value, got %s", kindName(n))
		return "", false
	}
	return n.Value, true
}

func (p *parser) str(e entry, path string) string {
	s, _ := p.scalar(e.val, path)
	return s
}

func (p *parser) boolean(e entry, path string) (bool, bool) {
	s, ok := p.scalar(e.val, path)
	if !ok {
		return false, false
	}
	b, err := strconv.ParseBool(s)
	if err != nil {
		p.fail(e.val, path, "want true or false, got %q", s)
		return false, false
	}
	return b, true
}

func (p *parser) integer(e entry, path string, lo int) (int, bool) {
	s, ok := p.scalar(e.val, path)
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < lo {
		p.fail(e.val, path, "want an integer ≥ %d, got %q", lo, s)
		return 0, false
	}
	return n, true
}

func (p *parser) duration(e entry, path string) (time.Duration, bool) {
	s, ok := p.scalar(e.val, path)
	if !ok {
		return 0, false
	}
	var v any = s
	if n, err := strconv.Atoi(s); err == nil {
		v = n
	}
	d, err := strategy.ParseDuration(v)
	if err != nil {
		p.fail(e.val, path, "%v", err)
		return 0, false
	}
	return d, true
}

func (p *parser) file(f *File) {
	d := p.doc
	if d.root == nil {
		p.fail(nil, "", "the file is empty; it needs at least node.name and one topology")
		return
	}
	expandEnv(d.root, p)
	_, top := p.mapping(d.root, "", topKeys)
	p.node(top["node"], &f.Node)
	if e, ok := top["http"]; ok {
		_, h := p.mapping(e.val, "http", httpKeys)
		if l, ok := h["listen"]; ok {
			f.HTTP.Listen = p.str(l, "http.listen")
			p.hostPort(l.val, "http.listen", f.HTTP.Listen, true)
		}
	}
	te, ok := top["topologies"]
	if !ok {
		p.fail(d.root, "topologies", "missing; add at least one topology, e.g. topologies: {example: {strategy: epmd, config: {hosts: [b@127.0.0.1]}}}")
		return
	}
	nerr := len(p.errs.Problems)
	list, _ := p.mapping(te.val, "topologies", nil)
	if len(list) == 0 && len(p.errs.Problems) == nerr {
		p.fail(te.key, "topologies", "empty; add at least one topology")
	}
	for _, e := range list {
		if t, ok := p.topology(e, f.Node.Name); ok {
			f.Topologies = append(f.Topologies, t)
		}
	}
}

func (p *parser) node(e entry, n *Node) {
	n.Hidden, n.EPMD, n.TickTime = true, DefaultEPMD, DefaultTickTime // Listen: erldist's default
	_, m := p.mapping(e.val, "node", nodeKeys)
	name := p.opts.name
	var nameNode *yaml.Node = e.key
	if name == "" {
		ne, ok := m["name"]
		if !ok {
			p.fail(e.key, "node.name", "missing; set it to this node's name, e.g. node: {name: app@127.0.0.1}, or pass --name")
		} else {
			name, nameNode = p.str(ne, "node.name"), ne.val
		}
	}
	if name != "" {
		nn, err := libcluster.ParseNode(name)
		if err != nil {
			p.fail(nameNode, "node.name", "%v", err)
		}
		n.Name = nn
	}
	n.Connector = ConnectorDist
	if v, ok := m["connector"]; ok {
		c, ok := p.scalar(v.val, "node.connector")
		switch {
		case !ok:
		case contains(Connectors, c):
			n.Connector = c
		default:
			msg := fmt.Sprintf("unknown connector %q", c)
			if s := strategy.Nearest(c, Connectors); s != "" {
				msg += fmt.Sprintf("; did you mean %q?", s)
			}
			p.fail(v.val, "node.connector", "%s (allowed: %s)", msg, strings.Join(Connectors, ", "))
		}
	}
	p.connector = n.Connector
	if n.Connector == ConnectorMemberlist {
		for _, k := range distKeys {
			if v, ok := m[k]; ok {
				p.fail(v.key, "node."+k, "a setting of the dist connector, which node.connector: memberlist does not use; remove it, or set node.connector: dist (memberlist keeps clusters apart with node.memberlist.secret_key)")
			}
		}
		p.memberlist(m["memberlist"], &n.Memberlist)
		return
	}
	if v, ok := m["memberlist"]; ok {
		p.fail(v.key, "node.memberlist", "set while node.connector is %s; add node.connector: memberlist, or remove this block", n.Connector)
	}
	switch {
	case p.opts.cookie != "":
		n.Cookie = p.opts.cookie
	case m["cookie"].val != nil && m["cookie_file"].val != nil:
		p.fail(m["cookie_file"].key, "node.cookie_file", "set together with node.cookie; keep only one")
	case m["cookie"].val != nil:
		n.Cookie = p.str(m["cookie"], "node.cookie")
		if n.Cookie == "" {
			p.fail(m["cookie"].val, "node.cookie", "empty; set a cookie or remove the key to use ~/.erlang.cookie")
		}
	case m["cookie_file"].val != nil:
		ce := m["cookie_file"]
		if path := p.str(ce, "node.cookie_file"); path != "" {
			n.Cookie, n.CookieFile = p.readCookie(ce.val, []string{path})
		}
	default:
		files, err := erldist.CookieFiles(p.opts.home)
		if err != nil {
			p.fail(e.key, "node.cookie", "no cookie: %v; set node.cookie or node.cookie_file, or pass --cookie", err)
			break
		}
		n.Cookie, n.CookieFile = p.readCookie(e.key, files)
	}
	if v, ok := m["hidden"]; ok {
		if b, ok := p.boolean(v, "node.hidden"); ok {
			n.Hidden = b
		}
	}
	if v, ok := m["listen"]; ok {
		n.Listen = p.str(v, "node.listen")
		p.hostPort(v.val, "node.listen", n.Listen, true)
	}
	if v, ok := m["epmd"]; ok {
		n.EPMD = p.str(v, "node.epmd")
		if n.EPMD != "auto" && n.EPMD != "none" {
			p.hostPort(v.val, "node.epmd", n.EPMD, false)
		}
	}
	if v, ok := m["tls"]; ok {
		n.TLS = p.tls(v)
	}
	if v, ok := m["tick_time"]; ok {
		if d, ok := p.duration(v, "node.tick_time"); ok {
			if d < time.Second {
				p.fail(v.val, "node.tick_time", "want at least 1s (Erlang's net_ticktime is in whole seconds), got %v", d)
			} else {
				n.TickTime = d
			}
		}
	}
}

// memberlist parses the node.memberlist block (e.val nil when absent).
func (p *parser) memberlist(e entry, ml *Memberlist) {
	const path = "node.memberlist"
	d := memberlist.DefaultConfig("")
	ml.BindAddr, ml.BindPort, ml.Profile = d.BindAddr, d.BindPort, string(d.Profile)
	var m map[string]entry
	if e.val != nil {
		_, m = p.mapping(e.val, path, mlKeys)
	}
	if v, ok := m["bind"]; ok {
		s := p.str(v, path+".bind")
		if a, port, ok := p.ipPort(v.val, path+".bind", s, "0.0.0.0:7946"); ok {
			ml.BindAddr, ml.BindPort = a, port
		}
	}
	if v, ok := m["advertise"]; ok {
		s := p.str(v, path+".advertise")
		if a, port, ok := p.ipPort(v.val, path+".advertise", s, "10.0.0.5:7946"); ok {
			if net.ParseIP(a).IsUnspecified() {
				p.fail(v.val, path+".advertise", "%s is a wildcard address; give the IP address peers reach this node at, e.g. 10.0.0.5:7946", a)
			} else {
				ml.AdvertiseAddr, ml.AdvertisePort = a, port
			}
		}
	}
	if v, ok := m["peer_port"]; ok {
		if n, ok := p.integer(v, path+".peer_port", 1); ok {
			if n > 65535 {
				p.fail(v.val, path+".peer_port", "want a port from 1 to 65535, got %d", n)
			} else {
				ml.PeerPort = n
			}
		}
	}
	if v, ok := m["secret_key"]; ok {
		ml.SecretKey = p.secretKey(v, path+".secret_key")
	}
	if v, ok := m["profile"]; ok {
		s, ok := p.scalar(v.val, path+".profile")
		profiles := []string{"lan", "wan", "local"}
		if contains(profiles, s) {
			ml.Profile = s
		} else if ok {
			msg := fmt.Sprintf("unknown profile %q", s)
			if n := strategy.Nearest(s, profiles); n != "" {
				msg += fmt.Sprintf("; did you mean %q?", n)
			}
			p.fail(v.val, path+".profile", "%s (allowed: lan for a data centre network, wan for high-latency links, local for one machine)", msg)
		}
	}
	if v, ok := m["leave_timeout"]; ok {
		if d, ok := p.duration(v, path+".leave_timeout"); ok {
			if d <= 0 {
				p.fail(v.val, path+".leave_timeout", "want a positive duration such as 5s")
			} else {
				ml.LeaveTimeout = d
			}
		}
	}
	p.memberlistTuning(m, &ml.Tuning)
}

// memberlistTuning parses memberlist's own timing and gossip keys, named
// as in memberlist's Config; absent keys keep the profile's values.
func (p *parser) memberlistTuning(m map[string]entry, t *memberlist.Tuning) {
	const path = "node.memberlist"
	durations := []struct {
		key, example string
		dst          *time.Duration
	}{
		{"push_pull_interval", "30s", &t.PushPullInterval},
		{"gossip_interval", "200ms", &t.GossipInterval},
		{"probe_interval", "1s", &t.ProbeInterval},
		{"probe_timeout", "500ms", &t.ProbeTimeout},
		{"tcp_timeout", "10s", &t.TCPTimeout},
		{"dead_node_reclaim_time", "30s", &t.DeadNodeReclaimTime},
	}
	for _, d := range durations {
		if v, ok := m[d.key]; ok {
			if x, ok := p.duration(v, path+"."+d.key); ok {
				if x <= 0 {
					p.fail(v.val, path+"."+d.key, "want a positive duration such as %s (remove the key for the profile's value)", d.example)
				} else {
					*d.dst = x
				}
			}
		}
	}
	ints := []struct {
		key string
		dst *int
	}{{"gossip_nodes", &t.GossipNodes}, {"suspicion_mult", &t.SuspicionMult}, {"retransmit_mult", &t.RetransmitMult}}
	for _, i := range ints {
		if v, ok := m[i.key]; ok {
			if x, ok := p.integer(v, path+"."+i.key, 1); ok {
				if x > 1000 {
					p.fail(v.val, path+"."+i.key, "want an integer from 1 to 1000, got %d", x)
				} else {
					*i.dst = x
				}
			}
		}
	}
	if v, ok := m["handoff_queue_depth"]; ok {
		if x, ok := p.integer(v, path+".handoff_queue_depth", 1); ok {
			if x > memberlist.MaxHandoffQueueDepth {
				p.fail(v.val, path+".handoff_queue_depth", "want an integer from 1 to %d (each queued message can hold a 64 KiB read buffer), got %d", memberlist.MaxHandoffQueueDepth, x)
			} else {
				t.HandoffQueueDepth = x
			}
		}
	}
	if v, ok := m["compression"]; ok {
		if b, ok := p.boolean(v, path+".compression"); ok {
			t.Compression = &b
		}
	}
	if v, ok := m["repeat_filter"]; ok {
		if b, ok := p.boolean(v, path+".repeat_filter"); ok {
			t.RepeatFilter = &b
		}
	}
	if t.ProbeInterval > 0 && t.ProbeTimeout > 0 && t.ProbeTimeout >= t.ProbeInterval {
		p.fail(m["probe_timeout"].val, path+".probe_timeout", "%v is not shorter than probe_interval %v; a probe must time out before the next one starts", t.ProbeTimeout, t.ProbeInterval)
	}
}

// ipPort checks an IP:port value (port 0 allowed: any free port).
func (p *parser) ipPort(n *yaml.Node, path, v, example string) (string, int, bool) {
	host, port, err := net.SplitHostPort(v)
	if err != nil {
		p.fail(n, path, "invalid address %q; want IP:port, e.g. %s", v, example)
		return "", 0, false
	}
	ip := net.ParseIP(host)
	if ip == nil || strings.Contains(host, "%") {
		p.fail(n, path, "%q is not an IP address; memberlist needs an IP address here, not a host name, e.g. %s", host, example)
		return "", 0, false
	}
	pn, err := strconv.Atoi(port)
	if err != nil || pn < 0 || pn > 65535 {
		p.fail(n, path, "invalid port %q; want a number from 0 (any free port) to 65535", port)
		return "", 0, false
	}
	return ip.String(), pn, true
}

// secretKey decodes a base64 key of 16, 24 or 32 bytes.
func (p *parser) secretKey(e entry, path string) []byte {
	s, ok := p.scalar(e.val, path)
	if !ok {
		return nil
	}
	s = strings.TrimSpace(s)
	const how = "generate one with: head -c 32 /dev/urandom | base64"
	if s == "" {
		p.fail(e.val, path, "empty; set the base64 of a 16, 24 or 32 byte key, or remove the key for no encryption (%s)", how)
		return nil
	}
	var key []byte
	var err error
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if key, err = enc.DecodeString(s); err == nil {
			break
		}
	}
	if err != nil {
		p.fail(e.val, path, "not valid base64; want the base64 of a 16, 24 or 32 byte key (%s)", how)
		return nil
	}
	switch len(key) {
	case 16, 24, 32:
		return key
	}
	p.fail(e.val, path, "decodes to %d bytes; want 16, 24 or 32 (AES-128, AES-192 or AES-256); %s", len(key), how)
	return nil
}

// readCookie reads the first of files that exists with dist's cookie
// reader, so the CLI applies exactly the checks erldist.Start and erl apply
// (owner-only permissions, a regular file, a size limit).
func (p *parser) readCookie(at *yaml.Node, files []string) (cookie, path string) {
	c, path, err := erldist.FindCookie(files)
	switch {
	case errors.Is(err, os.ErrNotExist):
		p.fail(at, "node.cookie", "no cookie: %s does not exist; set node.cookie or node.cookie_file, or pass --cookie", strings.Join(files, " or "))
	case err != nil:
		p.fail(at, "node.cookie_file", "%v", err)
	}
	return c, path
}

// hostPort checks a host:port value; zeroOK allows port 0 (any free port).
func (p *parser) hostPort(n *yaml.Node, path, v string, zeroOK bool) bool {
	allowed := "host:port, e.g. 127.0.0.1:4369"
	if path == "node.epmd" {
		allowed = "auto, none, or host:port of an EPMD, e.g. 127.0.0.1:4369"
	}
	_, port, err := net.SplitHostPort(v)
	if err != nil {
		p.fail(n, path, "invalid address %q; want %s", v, allowed)
		return false
	}
	pn, err := strconv.Atoi(port)
	lo := 1
	if zeroOK {
		lo = 0
	}
	if err != nil || pn < lo || pn > 65535 {
		p.fail(n, path, "invalid port %q; want a number from %d to 65535", port, lo)
		return false
	}
	return true
}

func (p *parser) topology(e entry, self libcluster.Node) (Topology, bool) {
	t := Topology{Name: e.key.Value, Line: e.key.Line}
	path := join("topologies", t.Name)
	if strings.TrimSpace(t.Name) == "" {
		p.fail(e.key, path, "topology name is empty")
		return t, false
	}
	_, m := p.mapping(e.val, path, topologyKeys)
	se, ok := m["strategy"]
	if !ok {
		p.fail(e.key, join(path, "strategy"), "missing; choose one of %s", strategyNames())
		return t, false
	}
	sname := p.str(se, join(path, "strategy"))
	info, ok := strategy.Lookup(sname)
	if !ok {
		msg := fmt.Sprintf("unknown strategy %q", sname)
		if s := strategy.Nearest(sname, strategy.Names()); s != "" {
			msg += fmt.Sprintf("; did you mean %q?", s)
		}
		p.fail(se.val, join(path, "strategy"), "%s (allowed: %s)", msg, strategyNames())
		return t, false
	}
	t.Strategy = info
	cpath := join(path, "config")
	nerr := len(p.errs.Problems)
	keyLines := map[string]int{}
	cfgLine := e.key.Line
	if ce, ok := m["config"]; ok {
		cfgLine = ce.key.Line
		list, _ := p.mapping(ce.val, cpath, nil)
		t.Params = map[string]any{}
		for _, kv := range list {
			var v any
			if err := kv.val.Decode(&v); err != nil {
				p.fail(kv.val, join(cpath, kv.key.Value), "%v", err)
				continue
			}
			t.Params[kv.key.Value] = v
			keyLines[kv.key.Value] = kv.key.Line
		}
	}
	cfgOK := len(p.errs.Problems) == nerr
	if !connectorPrunes(p.connector) {
		t.Policy.Prune = libcluster.PruneNever
	}
	if pe, ok := m["policy"]; ok {
		t.Policy = p.policy(pe, join(path, "policy"), t.Policy)
	}
	if !cfgOK {
		return t, false
	}
	if self == "" {
		self = "nonode@nohost"
	}
	if _, err := t.NewStrategy(self, discardLogger); err != nil {
		for _, leaf := range flatten(err) {
			var pe *strategy.ParamError
			if errors.As(leaf, &pe) {
				line, ok := keyLines[pe.Key]
				if !ok {
					line = cfgLine
				}
				p.errs.Problems = append(p.errs.Problems, Problem{Path: join(cpath, pe.Key), Line: line, Msg: pe.Msg})
				continue
			}
			p.errs.Problems = append(p.errs.Problems, Problem{Path: cpath, Line: cfgLine, Msg: leaf.Error()})
		}
		return t, false
	}
	return t, true
}

func flatten(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, flatten(e)...)
		}
		return out
	}
	return []error{err}
}

func (p *parser) policy(e entry, path string, pol libcluster.Policy) libcluster.Policy {
	_, m := p.mapping(e.val, path, policyKeys)
	if v, ok := m["prune"]; ok {
		s := p.str(v, join(path, "prune"))
		if pr, err := libcluster.ParsePrune(s); err != nil {
			p.fail(v.val, join(path, "prune"), "invalid value %q; allowed: immediate, never, \"after N misses\"", s)
		} else {
			pol.Prune = pr
		}
	}
	if v, ok := m["connect_timeout"]; ok {
		if d, ok := p.duration(v, join(path, "connect_timeout")); ok {
			if d <= 0 {
				p.fail(v.val, join(path, "connect_timeout"), "want a positive duration such as 5s")
			}
			pol.ConnectTimeout = d
		}
	}
	if v, ok := m["resync"]; ok {
		if d, ok := p.duration(v, join(path, "resync")); ok {
			if d <= 0 {
				p.fail(v.val, join(path, "resync"), "want a positive duration such as 5s")
			}
			pol.Resync = d
		}
	}
	if v, ok := m["min_nodes"]; ok {
		pol.MinNodes, _ = p.integer(v, join(path, "min_nodes"), 0)
	}
	if v, ok := m["parallelism"]; ok {
		pol.Parallelism, _ = p.integer(v, join(path, "parallelism"), 1)
	}
	if v, ok := m["backoff"]; ok {
		bp := join(path, "backoff")
		_, b := p.mapping(v.val, bp, backoffKeys)
		if x, ok := b["initial"]; ok {
			pol.Backoff.Initial, _ = p.duration(x, join(bp, "initial"))
		}
		if x, ok := b["max"]; ok {
			pol.Backoff.Max, _ = p.duration(x, join(bp, "max"))
		}
		if pol.Backoff.Initial > 0 && pol.Backoff.Max > 0 && pol.Backoff.Max < pol.Backoff.Initial {
			p.fail(v.val, bp, "max (%v) is less than initial (%v)", pol.Backoff.Max, pol.Backoff.Initial)
		}
	}
	return pol
}

// strategyNames lists the registered strategies for messages, or says how
// to register them when the program registered none.
func strategyNames() string {
	if names := strategy.Names(); len(names) > 0 {
		return strings.Join(names, ", ")
	}
	return "none: this program registers no strategy; import github.com/libcluster-go/libcluster/strategy/install or the strategy packages it needs"
}
