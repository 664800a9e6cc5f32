package erlanghosts_test

import (
	"fmt"
	"time"

	"github.com/libcluster-go/libcluster/strategy"
	"github.com/libcluster-go/libcluster/strategy/erlanghosts"
)

// ExampleParseHostsFile reads the contents of a .hosts.erlang file.
func ExampleParseHostsFile() {
	hosts, err := erlanghosts.ParseHostsFile([]byte(`% the cluster
'app1.example.com'.
'10.0.0.7'.
localhost.
`))
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, h := range hosts {
		fmt.Printf("line %d: %s\n", h.Line, h.Name)
	}

	_, err = erlanghosts.ParseHostsFile([]byte("app1.example.com.\n"))
	fmt.Println(err)
	// Output:
	// line 2: app1.example.com
	// line 3: 10.0.0.7
	// line 4: localhost
	// line 1, column 5: a host name with dots or dashes must be quoted, e.g. 'app1.example.com'
}

// ExampleNew builds the strategy from a struct literal: the hosts of
// /etc/cluster/hosts.erlang, asked every 10 seconds, with nodes that leave
// a host's EPMD removed.
func ExampleNew() {
	cfg := erlanghosts.DefaultConfig()
	cfg.Path = "/etc/cluster/hosts.erlang"
	cfg.PollingInterval = 10 * time.Second
	cfg.RemoveUnregistered = true
	s, err := erlanghosts.New(cfg, strategy.Options{Self: "app@host1.example.com"})
	if err != nil {
		fmt.Println(err)
		return
	}
	_ = s // run it in a libcluster.Topology
}
