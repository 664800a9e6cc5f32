package postgres_test

import (
	"fmt"

	"github.com/libcluster-go/libcluster/strategy"
	"github.com/libcluster-go/libcluster/strategy/postgres"
)

// Example builds the strategy from libcluster_postgres's config keys. Run
// it in a topology: it LISTENs on the channel, NOTIFYs this node's name
// every heartbeat_interval and reports the peers it hears.
func Example() {
	cfg, err := postgres.ConfigFromParams(strategy.NewParams(map[string]any{
		"hostname":           "db.internal",
		"username":           "app",
		"password":           "secret",
		"database":           "app",
		"channel_name":       "cluster",
		"heartbeat_interval": 5000,
	}))
	if err != nil {
		fmt.Println(err)
		return
	}
	s, err := postgres.New(cfg, strategy.Options{Self: "app@10.0.0.5"})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(s.Config().Channel, s.Config().HeartbeatInterval, s.Config().Misses)
	// Output: cluster 5s 3
}
