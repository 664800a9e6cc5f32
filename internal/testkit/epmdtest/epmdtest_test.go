package epmdtest

import (
	"slices"
	"testing"

	"github.com/libcluster-go/libcluster/internal/testkit/erltest"
)

func TestServeAndRegister(t *testing.T) {
	port, stop := Serve(t, "127.0.0.1:0")
	r := Register(t, "127.0.0.1", port, "gonode")
	erltest.WaitNames(t, port, "gonode registered", erltest.HasAll("gonode"))
	r.Close()
	erltest.WaitNames(t, port, "gonode gone", func(ns []string) bool { return !slices.Contains(ns, "gonode") })
	stop()
	if _, err := erltest.Names(port); err == nil {
		t.Fatal("EPMD still answers after stop")
	}
}
