package rancher_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/libcluster-go/libcluster/strategy"
	"github.com/libcluster-go/libcluster/strategy/rancher"
)

// Example runs one discovery round against a stand-in for the metadata
// service. In a Rancher container, leave metadata_url at its default.
func Example() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"name":"app","containers":[
			{"name":"app_1","primary_ip":"10.42.0.1","ips":["10.42.0.1"]},
			{"name":"app_2","primary_ip":"10.42.0.2","ips":["10.42.0.2"]},
			{"name":"app_3","ips":[]}]}`)
	}))
	defer srv.Close()

	s, err := rancher.New(rancher.Config{
		NodeBasename: "app",
		MetadataURL:  srv.URL + "/latest/self/service",
	}, strategy.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	u, err := s.Discover(context.Background())
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(u.Nodes())
	for _, d := range u.Explain().Dropped {
		fmt.Println("dropped", d.Candidate)
	}
	// Output:
	// [app@10.42.0.1 app@10.42.0.2]
	// dropped app_3
}
