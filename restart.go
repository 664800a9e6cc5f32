package libcluster

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"time"
)

// This file is a Topology's strategy restart loop; the Supervisor, which
// runs many topologies, is in supervisor.go.

// superviseStrategy runs the topology's strategy until ctx ends, restarting
// it with back-off when it returns an error or panics. A strategy that
// returns nil before ctx ends has finished its work (a one-shot source) and
// is not restarted.
func (t *Topology) superviseStrategy(ctx context.Context, r *reconciler) {
	pol := t.Policy.withDefaults()
	failures := 0
	for {
		start := time.Now()
		err := runRecovered(ctx, t.Strategy, r)
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			r.log.Debug("strategy finished")
			return
		}
		if time.Since(start) > pol.Restart.Max { // it ran well for a while: start the back-off over
			failures = 0
		}
		failures++
		select { // the loop records it and emits the event
		case r.failures <- strategyFailure{err: err, attempt: failures}:
		case <-ctx.Done():
			return
		}
		wait := time.NewTimer(pol.Restart.Delay(failures))
		select {
		case <-ctx.Done():
			wait.Stop()
			return
		case <-wait.C:
		}
	}
}

// PanicError is the error a strategy's recovered panic becomes.
type PanicError struct {
	Value any    // what was passed to panic
	Stack []byte // the goroutine's stack at the panic
}

func (e *PanicError) Error() string { return fmt.Sprintf("strategy panicked: %v", e.Value) }

func runRecovered(ctx context.Context, s Strategy, r Reporter) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = &PanicError{Value: p, Stack: debug.Stack()}
		}
	}()
	err = s.Run(ctx, r)
	if err != nil && errors.Is(err, ctx.Err()) {
		return nil
	}
	return err
}
