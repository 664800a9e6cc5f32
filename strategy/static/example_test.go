package static_test

import (
	"context"
	"fmt"

	"github.com/libcluster-go/libcluster"
	"github.com/libcluster-go/libcluster/strategy"
	"github.com/libcluster-go/libcluster/strategy/static"
)

func ExampleNew() {
	s, err := static.New(static.Config{
		Hosts: []libcluster.Node{"app@10.0.0.1", "app@10.0.0.2"},
	}, strategy.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	u, _ := s.Discover(context.Background())
	fmt.Println(u.Nodes())
	// Output: [app@10.0.0.1 app@10.0.0.2]
}

func ExampleConfigFromParams() {
	cfg, err := static.ConfigFromParams(strategy.NewParams(map[string]any{
		"hosts":   []any{"app@10.0.0.1", "app@10.0.0.2"},
		"timeout": "30s",
	}))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(cfg.Hosts, cfg.Timeout)
	// Output: [app@10.0.0.1 app@10.0.0.2] 30s
}
