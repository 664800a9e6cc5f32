// Package strategy holds what every discovery strategy shares: the
// registry that maps config names to constructors, typed access to a
// strategy's config keys ([Params]), the polling loop ([Poller]) and helpers
// that turn discovered candidates into node names.
//
// Each strategy lives in its own subpackage (strategy/dnspoll,
// strategy/gossip, ...) with the same shape, Prometheus' SDConfig and
// NewDiscoverer: a plain, comparable Config with its defaults and
// Validate, ConfigFromParams decoding libcluster's keys into it, and
// New(cfg, [Options]) building the running strategy. Each registers itself
// from init; strategy/install blank-imports them all, the way Prometheus'
// discovery/install does, so only a program that wants every strategy
// (the libcluster command) compiles every client library.
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

// Options is what the runtime gives a strategy's New, as opposed to its
// Config, which says what to discover and comes from the user.
type Options struct {
	// Topology is the name of the topology the strategy runs in, for logs.
	Topology string
	// Self is this node's name, for leaving it out of what is discovered
	// and for strategies that take their own host from it.
	Self libcluster.Node
	// Logger receives the strategy's logs; nil means slog.Default(). The
	// config package passes one that already carries topology=<name>.
	Logger *slog.Logger
}

// Log returns o.Logger, or slog.Default() when it is nil.
func (o Options) Log() *slog.Logger {
	if o.Logger == nil {
		return slog.Default()
	}
	return o.Logger
}

// Args is what a registered [Factory] gets: what the runtime provides
// (see [Args.Options]) and the strategy's config keys.
type Args struct {
	Topology string          // the topology's name
	Self     libcluster.Node // this node's name (for self filtering, own host)
	Params   *Params         // the strategy's config keys; never nil in a Factory
	Logger   *slog.Logger    // never nil in a Factory; already carries topology=<name>
}

// Options returns the runtime part of a, for a strategy's New.
func (a Args) Options() Options {
	return Options{Topology: a.Topology, Self: a.Self, Logger: a.Logger}
}

// Factory builds a strategy from its config keys. It reads every key
// through a.Params and returns a.Params.Err() (or its own error) when the
// config is invalid, before any socket is opened. [Use] builds one from a
// package's ConfigFromParams and New.
type Factory func(a Args) (libcluster.Strategy, error)

// Use returns the [Factory] of a strategy package that has the common
// shape: decode turns the config keys into the package's Config (its
// ConfigFromParams, which also validates), and build is its New.
func Use[C any, S libcluster.Strategy](decode func(*Params) (C, error), build func(C, Options) (S, error)) Factory {
	return func(a Args) (libcluster.Strategy, error) {
		cfg, err := decode(a.Params)
		if err != nil {
			return nil, err
		}
		s, err := build(cfg, a.Options())
		if err != nil {
			return nil, err
		}
		return s, nil
	}
}

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
