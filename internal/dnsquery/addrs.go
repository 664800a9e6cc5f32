package dnsquery

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"

	"github.com/libcluster-go/libcluster"
)

// The values of the ip_family key of the address-record strategies.
const (
	FamilyBoth = "both" // A and AAAA
	FamilyIPv4 = "ipv4" // A only
	FamilyIPv6 = "ipv6" // AAAA only
)

// FamilyTypes returns the record types an ip_family value asks for, A
// before AAAA. An empty or unknown family counts as def, the strategy's
// default family.
func FamilyTypes(family, def string) []uint16 {
	switch family {
	case FamilyBoth, FamilyIPv4, FamilyIPv6:
	default:
		family = def
	}
	switch family {
	case FamilyIPv4:
		return []uint16{dns.TypeA}
	case FamilyIPv6:
		return []uint16{dns.TypeAAAA}
	}
	return []uint16{dns.TypeA, dns.TypeAAAA}
}

// AddrsSource names an address lookup for updates and messages, e.g.
// "DNS A+AAAA app.internal".
func AddrsSource(name string, types []uint16) string {
	ts := make([]string, len(types))
	for i, t := range types {
		ts[i] = dns.TypeToString[t]
	}
	return "DNS " + strings.Join(ts, "+") + " " + name
}

// OrDefault returns r, or for nil a Resolver that asks the system's
// servers with the default timeout.
func OrDefault(r *Resolver) *Resolver {
	if r == nil {
		return &Resolver{}
	}
	return r
}

// AddrPoll is the state an address-record strategy keeps across polls:
// per record type (family), the last good answer and the failure last
// reported. The zero AddrPoll is ready; it is safe for concurrent use.
type AddrPoll struct {
	mu      sync.Mutex
	last    map[uint16][]netip.Addr // last good addresses per type
	failing map[uint16]string       // the failure last reported per type
}

// Discover runs one round of an address-record strategy: it looks up
// name's records of each of types through r (nil: OrDefault) and returns
// every address found and the source that names the lookup and its
// servers, for the caller to turn into the complete set of nodes.
//
// Families are independent, as in libcluster, which ignores a family that
// fails: a type whose lookup fails contributes its own last good addresses
// (none if it never answered), so its live nodes are not pruned, and the
// other types' answers are used. The round fails (err) only when every type
// fails. warn is non-nil when a type's failure is new or has changed since
// the last round, so a caller reports it once per change, not every poll.
func (p *AddrPoll) Discover(ctx context.Context, r *Resolver, name string, types []uint16) (addrs []netip.Addr, source string, warn, err error) {
	r = OrDefault(r)
	src := AddrsSource(name, types)
	var fails, news []string
	var errs []any
	ok := 0
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.last == nil {
		p.last, p.failing = map[uint16][]netip.Addr{}, map[uint16]string{}
	}
	for _, t := range types {
		ans, lerr := r.Lookup(ctx, name, t)
		if lerr != nil {
			if ctx.Err() != nil {
				return nil, "", nil, fmt.Errorf("%s: %w", src, lerr)
			}
			msg := lerr.Error()
			if p.failing[t] != msg {
				news = append(news, fmt.Sprintf("%s (keeping its last good set of %d addresses)", msg, len(p.last[t])))
			}
			p.failing[t] = msg
			fails = append(fails, msg)
			errs = append(errs, lerr)
			addrs = append(addrs, p.last[t]...)
			continue
		}
		ok++
		delete(p.failing, t)
		p.last[t] = Addrs(ans.Records)
		addrs = append(addrs, p.last[t]...)
	}
	if ok == 0 {
		// Every type failed: the round fails, wrapping each lookup error.
		return nil, "", nil, fmt.Errorf("%s: "+strings.Repeat("; %w", len(errs))[2:], append([]any{src}, errs...)...)
	}
	if len(news) > 0 {
		warn = fmt.Errorf("%s: %s; the other record type's answer is used", src, strings.Join(news, "; "))
	}
	source = src + " via " + r.Describe()
	if len(fails) > 0 {
		source += " (failing, last good set kept: " + strings.Join(fails, "; ") + ")"
	}
	return addrs, source, warn, nil
}

// CheckBasename checks that basename makes valid node names basename@ip.
func CheckBasename(basename string) error {
	if _, err := libcluster.ParseNode(basename + "@127.0.0.1"); err != nil {
		return fmt.Errorf("%q makes no valid node name; use letters, digits, '_', '-' or '.'", basename)
	}
	return nil
}

// Problem is an invalid config field, named by its config key, as the
// checks below report them; a strategy adds them to its validation errors.
type Problem struct{ Key, Msg string }

// AddrFields are the config fields of an address-record strategy, with
// the keys of the two that differ between strategies.
type AddrFields struct {
	NameKey, BasenameKey string
	Name, Basename       string
	Interval             time.Duration
	Family               string
	Resolver             []string
	Timeout              time.Duration
}

// Check reports every invalid field of f.
func (f AddrFields) Check() []Problem {
	var ps []Problem
	add := func(key, format string, args ...any) { ps = append(ps, Problem{key, fmt.Sprintf(format, args...)}) }
	switch {
	case strings.TrimSpace(f.Name) == "":
		add(f.NameKey, "required; set it, e.g. %s: app.internal", f.NameKey)
	case CheckName(f.Name) != nil:
		add(f.NameKey, "%v", CheckName(f.Name))
	}
	switch {
	case strings.TrimSpace(f.Basename) == "":
		add(f.BasenameKey, "required; set it, e.g. %s: app", f.BasenameKey)
	case CheckBasename(f.Basename) != nil:
		add(f.BasenameKey, "%v", CheckBasename(f.Basename))
	}
	if f.Interval <= 0 {
		add("polling_interval", "want a positive duration such as 5s or 5000 (milliseconds)")
	}
	if f.Family != FamilyBoth && f.Family != FamilyIPv4 && f.Family != FamilyIPv6 {
		add("ip_family", "%q unknown; want one of %s, %s, %s", f.Family, FamilyBoth, FamilyIPv4, FamilyIPv6)
	}
	return append(ps, CheckResolver(f.Resolver, f.Timeout)...)
}

// CheckResolver reports invalid "resolver" servers and a "timeout" that is
// not positive, the keys every DNS strategy shares.
func CheckResolver(servers []string, timeout time.Duration) []Problem {
	var ps []Problem
	for i, s := range servers {
		if _, err := ParseServer(s); err != nil {
			ps = append(ps, Problem{"resolver", fmt.Sprintf("item %d: %v", i+1, err)})
		}
	}
	if timeout <= 0 {
		ps = append(ps, Problem{"timeout", "want a positive duration such as 5s or 5000 (milliseconds)"})
	}
	return ps
}
