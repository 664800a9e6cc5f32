package strategy

import (
	"context"
	"log/slog"
	"time"

	"github.com/libcluster-go/libcluster"
)

// Sessions runs session again and again until ctx ends, for strategies
// that hold a connection to their source (etcd, PostgreSQL): each error
// that ends a session is reported as an error update (the topology keeps
// the last good set and emits a discovery-error event) and logged, and
// the next session starts after a back-off that doubles from initial up
// to 30 s, and starts again from initial after a session that lasted a
// minute. It returns nil when ctx ends.
func Sessions(ctx context.Context, r libcluster.Reporter, log *slog.Logger, source string, initial time.Duration,
	session func(context.Context) error) error {
	backoff := initial
	for {
		started := time.Now()
		err := session(ctx)
		if ctx.Err() != nil {
			return nil
		}
		r.Report(libcluster.Failed(err).WithSource(source))
		log.Warn("discovery failed; retrying", "err", err, "in", backoff)
		if time.Since(started) > time.Minute {
			backoff = initial
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		backoff = min(2*backoff, 30*time.Second)
	}
}
