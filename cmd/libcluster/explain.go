package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/libcluster-go/libcluster"
	"github.com/libcluster-go/libcluster/config"
	"github.com/libcluster-go/libcluster/httpapi"
	"github.com/libcluster-go/libcluster/strategy"
)

func cmdExplain(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("explain", "--config FILE [--name N] [--http ADDR] [--timeout 5s]", stderr)
	path := fs.String("config", "", "config file (YAML or JSON)")
	name := fs.String("name", "", "node name, overriding node.name")
	httpAddr := fs.String("http", "", "host:port of the running node's HTTP endpoint, to compare with what it has connected")
	timeout := fs.Duration("timeout", 5*time.Second, "how long each topology's discovery may take")
	log, rc, quit := parseLogged(fs, args, stdout, stderr, "error")
	if quit {
		return rc
	}
	opts := []config.Option{config.WithCookie("unused-by-explain")}
	if *name != "" {
		opts = append(opts, config.WithNodeName(*name))
	}
	f, ok := loadConfig("explain", *path, stderr, opts...)
	if !ok {
		return exitUsage
	}
	var running *httpapi.Members
	if *httpAddr != "" {
		ctx, cancel := context.WithTimeout(context.Background(), *timeout)
		m, _, err := fetchMembers(ctx, http.DefaultClient, *httpAddr)
		cancel()
		if err != nil {
			fmt.Fprintln(stderr, "libcluster explain:", err)
			return exitFailure
		}
		running = &m
	}
	code := exitOK
	for i := range f.Topologies {
		if !explainTopology(stdout, &f.Topologies[i], f.Node.Name, running, *timeout, log) {
			code = exitFailure
		}
	}
	return code
}

// discovered is what one discovery round found, merged from the updates a
// strategy reported.
type discovered struct {
	nodes    []libcluster.Node
	complete bool
	err      error // the last failure reported
	source   string
	dropped  []libcluster.Dropped
}

// take merges u into d.
func (d *discovered) take(u libcluster.Update) {
	ex := u.Explain()
	if ex.Source != "" {
		d.source = ex.Source
	}
	d.dropped = append(d.dropped, ex.Dropped...)
	switch u.Kind() {
	case libcluster.KindFailed:
		d.err = u.Err()
	case libcluster.KindComplete:
		d.nodes, d.complete = slices.Clone(u.Nodes()), true
	case libcluster.KindSeen:
		seen := make(map[libcluster.Node]bool, len(d.nodes))
		for _, n := range d.nodes {
			seen[n] = true
		}
		for _, n := range u.Nodes() {
			if !seen[n] {
				seen[n] = true
				d.nodes = append(d.nodes, n)
			}
		}
	}
}

// discover runs one discovery round of s: Discover when the strategy has
// it, else Run for at most timeout, recording what it reports.
func discover(s libcluster.Strategy, timeout time.Duration) (discovered, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if d, ok := s.(strategy.Discoverer); ok {
		u, err := d.Discover(ctx)
		var res discovered
		res.take(u)
		if err == nil && u.Err() != nil {
			err = u.Err()
		}
		return res, "one discovery round", err
	}
	rec := &recorder{done: make(chan struct{})}
	runDone := make(chan error, 1)
	go func() { runDone <- s.Run(ctx, rec) }()
	var runErr error
	select {
	case <-rec.done: // a complete set: that is the whole answer
	case <-ctx.Done():
	case runErr = <-runDone:
	}
	cancel()
	u := rec.result()
	how := fmt.Sprintf("strategy run for up to %v", timeout)
	if runErr != nil && ctx.Err() == nil {
		return u, how, fmt.Errorf("strategy stopped: %w", runErr)
	}
	if u.err != nil && len(u.nodes) == 0 {
		return u, how, u.err
	}
	return u, how, nil
}

// recorder is a Reporter that merges what a strategy reports.
type recorder struct {
	mu   sync.Mutex
	d    discovered
	done chan struct{}
	once sync.Once
}

func (r *recorder) Report(u libcluster.Update) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.d.take(u)
	if u.Kind() == libcluster.KindComplete {
		r.once.Do(func() { close(r.done) })
	}
}

func (r *recorder) result() discovered {
	r.mu.Lock()
	defer r.mu.Unlock()
	d := r.d
	d.nodes = slices.Clone(d.nodes)
	d.dropped = slices.Clone(d.dropped)
	return d
}

// explainTopology prints one topology's candidates and plan; it returns
// false when discovery failed or found no peer.
func explainTopology(w io.Writer, t *config.Topology, self libcluster.Node, running *httpapi.Members, timeout time.Duration, log *slog.Logger) bool {
	fmt.Fprintf(w, "topology %s (strategy %s)\n", t.Name, t.Strategy.Name)
	s, err := t.NewStrategy(self, log)
	if err != nil {
		fmt.Fprintf(w, "  cannot build the strategy: %v\n", err)
		return false
	}
	u, how, err := discover(s, timeout)
	source := u.source
	if source == "" {
		source = "(not named by the strategy)"
	}
	fmt.Fprintf(w, "  source: %s (%s)\n", source, how)
	if err != nil {
		fmt.Fprintf(w, "  discovery failed: %v\n", err)
		return false
	}
	fmt.Fprintln(w, "  candidates:")
	var kept []libcluster.Node
	seen := map[libcluster.Node]bool{}
	for _, n := range u.nodes {
		switch {
		case n == self:
			fmt.Fprintf(w, "    dropped  %-40s this node itself\n", n)
		case seen[n]:
			fmt.Fprintf(w, "    dropped  %-40s duplicate\n", n)
		default:
			seen[n] = true
			kept = append(kept, n)
			fmt.Fprintf(w, "    kept     %s\n", n)
		}
	}
	for _, d := range u.dropped {
		fmt.Fprintf(w, "    dropped  %-40s %s\n", d.Candidate, d.Reason)
	}
	if len(u.nodes) == 0 && len(u.dropped) == 0 {
		fmt.Fprintln(w, "    (none)")
	}
	fmt.Fprintln(w, "  plan:")
	var connected map[string]bool
	var desired []string
	if running != nil {
		connected = map[string]bool{}
		for _, n := range running.Nodes {
			connected[n] = true
		}
		desired = running.Topologies[t.Name].Desired
	}
	for _, n := range kept {
		if connected[string(n)] {
			fmt.Fprintf(w, "    already connected  %s\n", n)
		} else {
			fmt.Fprintf(w, "    connect            %s\n", n)
		}
	}
	for _, d := range desired {
		if seen[libcluster.Node(d)] {
			continue
		}
		switch {
		case !u.complete:
			fmt.Fprintf(w, "    keep               %s (this strategy only adds nodes; it never prunes)\n", d)
		case t.Policy.Prune.Misses() == 0:
			fmt.Fprintf(w, "    keep               %s (prune: never)\n", d)
		case t.Policy.Prune.Misses() == 1:
			fmt.Fprintf(w, "    would prune        %s (no longer discovered; prune: immediate)\n", d)
		default:
			fmt.Fprintf(w, "    would count a miss %s (prune: %s)\n", d, t.Policy.Prune)
		}
	}
	if len(kept) == 0 {
		fmt.Fprintln(w, "    nothing to connect: discovery found no peer")
		return false
	}
	if running == nil {
		fmt.Fprintln(w, "    (pass --http ADDR of the running node to compare with what it has connected)")
	}
	return true
}
