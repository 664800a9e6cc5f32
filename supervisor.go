package libcluster

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// Supervisor runs many topologies side by side. Each topology restarts its
// own strategy when it fails, so one failing topology never stops the
// others. Readiness is the conjunction of every topology's.
//
//	sup := libcluster.NewSupervisor(topoA, topoB)
//	if err := sup.Start(ctx); err != nil { ... }
//	defer sup.Stop()
type Supervisor struct {
	topologies []*Topology

	mu      sync.Mutex
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	started bool
}

// NewSupervisor returns a supervisor for the given topologies. Names must
// be unique; Start checks them.
func NewSupervisor(topologies ...*Topology) *Supervisor {
	return &Supervisor{topologies: topologies}
}

// Topologies returns the supervised topologies in start order.
func (s *Supervisor) Topologies() []*Topology { return s.topologies }

// Start validates every topology and starts them all. It returns an error,
// starting nothing, if there is no topology, a topology is misconfigured,
// names repeat, or a topology is already running (in another supervisor or
// its own Run). The topologies run until Stop is called or ctx ends; after
// Stop, Start may be called again.
func (s *Supervisor) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started {
		return errors.New("libcluster: supervisor already started; call Stop first")
	}
	if len(s.topologies) == 0 {
		return errors.New("libcluster: supervisor has no topologies; pass at least one to NewSupervisor")
	}
	names := map[string]bool{}
	for i, t := range s.topologies {
		if t == nil {
			return fmt.Errorf("libcluster: topology #%d is nil", i+1)
		}
		if err := t.validate(); err != nil {
			return err
		}
		if names[t.Name] {
			return fmt.Errorf("libcluster: two topologies are named %q; names must be unique", t.Name)
		}
		names[t.Name] = true
	}
	for i, t := range s.topologies {
		if err := t.begin(); err != nil {
			for _, u := range s.topologies[:i] {
				u.end()
			}
			return err
		}
	}
	ctx, s.cancel = context.WithCancel(ctx)
	s.started = true
	for _, t := range s.topologies {
		s.wg.Go(func() { t.run(ctx) })
	}
	return nil
}

// Stop stops every topology and waits until all their goroutines have
// ended. It is safe to call more than once, and the supervisor can be
// started again afterwards.
func (s *Supervisor) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cancel != nil {
		s.cancel()
	}
	s.wg.Wait()
	s.cancel, s.started = nil, false
}

// Ready reports whether the supervisor has topologies, every one of them
// runs, and each has met its Policy.MinNodes.
func (s *Supervisor) Ready() bool {
	if len(s.topologies) == 0 {
		return false
	}
	for _, t := range s.topologies {
		if !t.Status().Ready {
			return false
		}
	}
	return true
}

// Status returns every topology's status, in start order.
func (s *Supervisor) Status() []TopologyStatus {
	out := make([]TopologyStatus, 0, len(s.topologies))
	for _, t := range s.topologies {
		out = append(out, t.Status())
	}
	return out
}
