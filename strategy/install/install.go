// Package install registers every discovery strategy of this module, the
// way Prometheus' discovery/install does: import it for its side effect
// when a program should accept any strategy name in a config file.
//
//	import _ "github.com/libcluster-go/libcluster/strategy/install"
//
// A program that needs only some strategies imports those packages
// instead, and compiles only their client libraries (the kubernetes and
// etcd strategies pull in large ones).
package install

import (
	_ "github.com/libcluster-go/libcluster/strategy/consul"           // register consul
	_ "github.com/libcluster-go/libcluster/strategy/dnspoll"          // register dnspoll
	_ "github.com/libcluster-go/libcluster/strategy/erlanghosts"      // register erlanghosts
	_ "github.com/libcluster-go/libcluster/strategy/etcd"             // register etcd
	_ "github.com/libcluster-go/libcluster/strategy/gossip"           // register gossip
	_ "github.com/libcluster-go/libcluster/strategy/kubernetes"       // register kubernetes
	_ "github.com/libcluster-go/libcluster/strategy/kubernetesdns"    // register kubernetesdns
	_ "github.com/libcluster-go/libcluster/strategy/kubernetesdnssrv" // register kubernetesdnssrv
	_ "github.com/libcluster-go/libcluster/strategy/localepmd"        // register localepmd
	_ "github.com/libcluster-go/libcluster/strategy/postgres"         // register postgres
	_ "github.com/libcluster-go/libcluster/strategy/rancher"          // register rancher
	_ "github.com/libcluster-go/libcluster/strategy/static"           // register epmd (static)
)
