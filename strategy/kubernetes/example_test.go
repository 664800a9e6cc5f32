package kubernetes_test

import (
	"fmt"

	"github.com/libcluster-go/libcluster/strategy"
	"github.com/libcluster-go/libcluster/strategy/kubernetes"
)

// Example builds the strategy from libcluster's config keys, as a config
// file gives them, and shows the node name it builds for an endpoint.
// Run(ctx, reporter) then watches the API server from inside a pod.
func Example() {
	cfg, err := kubernetes.FromParams(strategy.NewParams(map[string]any{
		"kubernetes_node_basename": "myapp",
		"kubernetes_selector":      "kubernetes.io/service-name=myapp-headless",
		"kubernetes_service_name":  "myapp-headless",
		"mode":                     ":hostname",
		"readiness":                "serving",
	}))
	if err != nil {
		fmt.Println(err)
		return
	}
	// Getenv: ignore this machine's CLUSTER_DOMAIN.
	s, err := kubernetes.New(cfg, kubernetes.Options{Getenv: func(string) string { return "" }})
	if err != nil {
		fmt.Println(err)
		return
	}
	n, err := s.NodeName("10.0.0.5", "myapp-0", "demo")
	fmt.Println(n, err)

	_, err = kubernetes.FromParams(strategy.NewParams(map[string]any{
		"kubernetes_node_basename": "myapp",
		"kubernetes_selector":      "app=myapp",
		"mode":                     "hostname",
	}))
	fmt.Println(err != nil)
	// Output:
	// myapp@myapp-0.myapp-headless.demo.svc.cluster.local <nil>
	// true
}

// ExampleAPIServerURL shows libcluster's kubernetes_master rules.
func ExampleAPIServerURL() {
	for _, m := range []string{"", "api.internal.", "10.0.0.1:6443", "https://api.example.com:6443"} {
		u, _ := kubernetes.APIServerURL(m, "cluster.local")
		fmt.Println(u)
	}
	// Output:
	// https://kubernetes.default.svc.cluster.local
	// https://api.internal.
	// https://10.0.0.1:6443
	// https://api.example.com:6443
}
