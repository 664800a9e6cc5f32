package config_test

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/libcluster-go/libcluster/config"
	_ "github.com/libcluster-go/libcluster/strategy/install" // every strategy a file may name
)

func ExampleParse() {
	f, err := config.Parse([]byte(`
node:
  name: app@127.0.0.1
  cookie: secret
topologies:
  example:
    strategy: Cluster.Strategy.Epmd
    config:
      hosts: [b@127.0.0.1]
    policy: {prune: never, connect_timeout: 2000}
`), "cluster.yaml")
	if err != nil {
		fmt.Println(err)
		return
	}
	t := f.Topologies[0]
	fmt.Println(f.Node.Name, t.Name, t.Strategy.Name, t.Policy.Prune, t.Policy.ConnectTimeout)
	// Output: app@127.0.0.1 example epmd never 2s
}

func ExampleParse_error() {
	_, err := config.Parse([]byte(`
node:
  name: app@127.0.0.1
  cookie: secret
topologies:
  example:
    strategy: epmd
    config:
      hots: [b@127.0.0.1]
`), "cluster.yaml")
	fmt.Println(err)
	// Output: cluster.yaml:9: topologies.example.config.hots: unknown key; did you mean "hosts"? (known keys: hosts, timeout)
}

func ExampleLoad() {
	path := filepath.Join(os.TempDir(), "libcluster-example.json")
	os.WriteFile(path, []byte(`{"node": {"name": "a@127.0.0.1", "cookie": "c"},
 "topologies": {"t": {"strategy": "epmd", "config": {"hosts": ["b@127.0.0.1"]}}}}`), 0o600)
	defer os.Remove(path)
	f, err := config.Load(path, config.WithNodeName("z@127.0.0.1"))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(f.Node.Name, f.Topologies[0].Params["hosts"])
	// Output: z@127.0.0.1 [b@127.0.0.1]
}

func ExampleNode_MemberlistConfig() {
	f, err := config.Parse([]byte(`
node:
  name: app@127.0.0.1
  connector: memberlist
  memberlist:
    bind: 127.0.0.1:7946
    profile: local
topologies:
  example:
    strategy: epmd
    config:
      hosts: [b@127.0.0.1]
`), "cluster.yaml")
	if err != nil {
		fmt.Println(err)
		return
	}
	c := f.Node.MemberlistConfig(nil) // pass it to memberlist.Start
	fmt.Println(f.Node.Connector, c.Name, c.BindAddr, c.BindPort, c.Profile, f.Topologies[0].Policy.Prune)
	// Output: memberlist app@127.0.0.1 127.0.0.1 7946 local never
}
