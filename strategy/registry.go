// Package strategy holds what every discovery strategy shares: the
// registry that maps config names to constructors, typed access to a
// strategy's config keys ([Params]), the polling loop ([Poller]) and helpers
// that turn discovered candidates into node names.
//
// Each strategy lives in its own subpackage (strategy/dnspoll,
// strategy/gossip, ...) and registers itself from init, the way
// Prometheus' discovery packages do. The config package imports them all.
package strategy

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"

	"github.com/libcluster-go/libcluster"
)

// Args is what a strategy constructor gets.
type Args struct {
	Topology string          // the topology's name
	Self     libcluster.Node // this node's name (for self filtering, own host)
	Params   *Params         // the strategy's config keys
	Logger   *slog.Logger    // never nil; already carries topology=<name>
}

// Factory builds a strategy from its config. It reads every key through
// a.Params and returns a.Params.Err() (or its own error) when the config is
// invalid, before any socket is opened.
type Factory func(a Args) (libcluster.Strategy, error)

// Info describes a registered strategy.
type Info struct {
	Name    string   // canonical name used in config files, e.g. "dnspoll"
	Aliases []string // other accepted names, e.g. "Cluster.Strategy.DNSPoll"
	Summary string   // one line for help output
	New     Factory
}

// Build runs the constructor and logs the config warnings it recorded (a
// deprecated key, say) on a.Logger, so no strategy has to.
func (i Info) Build(a Args) (libcluster.Strategy, error) {
	if a.Logger == nil {
		a.Logger = slog.Default()
	}
	if a.Params == nil {
		a.Params = NewParams(nil)
	}
	s, err := i.New(a)
	for _, w := range a.Params.Warnings() {
		a.Logger.Warn(w, "strategy", i.Name)
	}
	if err != nil {
		return nil, err
	}
	return s, nil
}

var (
	regMu sync.RWMutex
	reg   = map[string]*Info{}
	names []string
)

func normalize(name string) string {
	n := strings.ToLower(strings.TrimSpace(name))
	n = strings.TrimPrefix(n, "elixir.")
	return n
}

// Register adds a strategy under its name and aliases. It is called from a
// strategy package's init and panics when a name is taken or the Info is
// incomplete, which is a programming error.
func Register(info Info) {
	if info.Name == "" || info.New == nil {
		panic("strategy: Register needs a Name and a New function")
	}
	regMu.Lock()
	defer regMu.Unlock()
	p := &info
	for _, n := range append([]string{info.Name}, info.Aliases...) {
		k := normalize(n)
		if _, dup := reg[k]; dup {
			panic(fmt.Sprintf("strategy: name %q registered twice", n))
		}
		reg[k] = p
	}
	names = append(names, info.Name)
	slices.Sort(names)
}

// Lookup finds a strategy by name or alias, ignoring case and a leading
// "Elixir.".
func Lookup(name string) (Info, bool) {
	regMu.RLock()
	defer regMu.RUnlock()
	p, ok := reg[normalize(name)]
	if !ok {
		return Info{}, false
	}
	return *p, true
}

// Names returns the canonical names of all registered strategies, sorted.
func Names() []string {
	regMu.RLock()
	defer regMu.RUnlock()
	return slices.Clone(names)
}

// Discoverer is implemented by strategies that can run one discovery round
// on demand. The explain command uses it to show what a strategy sees
// without connecting anything.
type Discoverer interface {
	Discover(ctx context.Context) (libcluster.Update, error)
}
