package localepmd

import (
	"testing"

	"github.com/libcluster-go/libcluster/erldist/epmd"
	"github.com/libcluster-go/libcluster/internal/testkit/epmdtest"
	"github.com/libcluster-go/libcluster/internal/testkit/erltest"
)

// startDebianEPMD runs the real epmd daemon on a free port and returns
// the port.
func startDebianEPMD(t *testing.T) int {
	t.Helper()
	port, _ := erltest.StartEpmd(t)
	return port
}

// startGoEPMD serves the project's EPMD on a free loopback port.
func startGoEPMD(t *testing.T) int {
	t.Helper()
	port, _ := epmdtest.Serve(t, "127.0.0.1:0")
	return port
}

// startErl runs a real erl node name@127.0.0.1 that registers with the
// EPMD on port.
func startErl(t *testing.T, port int, name string) {
	t.Helper()
	erltest.StartErl(t, erltest.ErlOptions{Name: name + "@127.0.0.1", Cookie: "localepmdtest", EPMDPort: port})
}

// registerGo registers name with the EPMD on 127.0.0.1:port, as a Go
// node does.
func registerGo(t *testing.T, port int, name string) *epmd.Registration {
	t.Helper()
	return epmdtest.Register(t, "127.0.0.1", port, name)
}

// forEachEPMD runs f as a parallel subtest against Debian's epmd and against
// the project's epmd.Server, each on its own port with three real erl nodes
// (erl_a, erl_b, erl_c) already registered or starting.
func forEachEPMD(t *testing.T, f func(t *testing.T, port int)) {
	for _, c := range []struct {
		name  string
		start func(*testing.T) int
	}{
		{"debian-epmd", startDebianEPMD},
		{"go-epmd", startGoEPMD},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			port := c.start(t)
			for _, n := range []string{"erl_a", "erl_b", "erl_c"} {
				startErl(t, port, n)
			}
			f(t, port)
		})
	}
}
