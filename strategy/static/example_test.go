package static_test

import (
	"context"
	"fmt"

	"github.com/libcluster-go/libcluster/strategy"
	"github.com/libcluster-go/libcluster/strategy/static"
)

func ExampleFromParams() {
	s, err := static.FromParams(strategy.NewParams(map[string]any{
		"hosts": []any{"app@10.0.0.1", "app@10.0.0.2"},
	}))
	if err != nil {
		fmt.Println(err)
		return
	}
	u, _ := s.Discover(context.Background())
	fmt.Println(u.Nodes())
	// Output: [app@10.0.0.1 app@10.0.0.2]
}
