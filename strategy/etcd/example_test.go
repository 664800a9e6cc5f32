package etcd_test

import (
	"fmt"

	"github.com/libcluster-go/libcluster/strategy"
	"github.com/libcluster-go/libcluster/strategy/etcd"
)

// Example builds the strategy from libcluster-style config keys. Run it
// in a topology (it registers the node and watches the prefix) or call
// Discover for one read of the prefix.
func Example() {
	cfg, err := etcd.FromParams(strategy.NewParams(map[string]any{
		"endpoints": []any{"https://10.0.0.1:2379", "https://10.0.0.2:2379"},
		"prefix":    "/myapp/nodes/",
		"ttl":       "10s",
	}))
	if err != nil {
		fmt.Println(err)
		return
	}
	s, err := etcd.New(cfg, etcd.Options{Self: "app@10.0.0.5"})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(s.Config().Endpoints, s.Config().Prefix, s.Config().TTL)
	// Output: https://10.0.0.1:2379,https://10.0.0.2:2379 /myapp/nodes/ 10s
}
