package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/libcluster-go/libcluster"
	"github.com/libcluster-go/libcluster/httpapi"
)

// A node's web view: the event log observes every topology, the discovery
// log wraps each one before it starts, and the handler serves the page at
// / beside /members, /healthz, /readyz and /metrics.
func ExampleWeb() {
	conn := &libcluster.ConnectorFuncs{SelfNode: "app@10.0.0.5"}
	events := httpapi.NewEventLog(0)
	discovery := &httpapi.DiscoveryLog{}
	top := &libcluster.Topology{
		Name:      "static",
		Connector: conn,
		Strategy: libcluster.StrategyFunc(func(ctx context.Context, r libcluster.Reporter) error {
			r.Report(libcluster.Seen([]libcluster.Node{"app@10.0.0.6"}).WithSource("static hosts list"))
			return nil
		}),
		Observers: []libcluster.Observer{events.Observe},
	}
	discovery.Wrap(top)
	sup := libcluster.NewSupervisor(top)
	// sup.Start(ctx) would run the topology; here the strategy runs once
	// by hand, reporting to nowhere.
	top.Strategy.Run(context.Background(), nowhere{})

	srv := httptest.NewServer(httpapi.Handler(httpapi.Source{
		Connector: conn,
		Status:    sup.Status,
		Web:       &httpapi.Web{Events: events, Discovery: discovery, Redact: []string{"the-cookie"}},
	}))
	defer srv.Close()

	resp, err := http.Get(srv.URL + "/api/view")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	var v httpapi.View
	json.NewDecoder(resp.Body).Decode(&v)
	fmt.Println(v.Self, v.Topologies[0].Name, v.Topologies[0].Discovery.Source, v.Topologies[0].Discovery.Kept)
	// Output: app@10.0.0.5 static static hosts list [app@10.0.0.6]
}

type nowhere struct{}

func (nowhere) Report(libcluster.Update) {}
