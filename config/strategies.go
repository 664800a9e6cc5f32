package config

// The strategies a config file can name. Each registers itself from init.
import (
	_ "github.com/libcluster-go/libcluster/strategy/consul"
	_ "github.com/libcluster-go/libcluster/strategy/dnspoll"
	_ "github.com/libcluster-go/libcluster/strategy/erlanghosts"
	_ "github.com/libcluster-go/libcluster/strategy/etcd"
	_ "github.com/libcluster-go/libcluster/strategy/gossip"
	_ "github.com/libcluster-go/libcluster/strategy/kubernetes"
	_ "github.com/libcluster-go/libcluster/strategy/kubernetesdns"
	_ "github.com/libcluster-go/libcluster/strategy/kubernetesdnssrv"
	_ "github.com/libcluster-go/libcluster/strategy/localepmd"
	_ "github.com/libcluster-go/libcluster/strategy/postgres"
	_ "github.com/libcluster-go/libcluster/strategy/rancher"
	_ "github.com/libcluster-go/libcluster/strategy/static"
)
