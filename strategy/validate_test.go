package strategy_test

import (
	"strings"
	"testing"
	"time"

	"github.com/libcluster-go/libcluster"
	"github.com/libcluster-go/libcluster/strategy"
)

func TestProblems(t *testing.T) {
	var ps strategy.Problems
	ps.Port("p", 0)
	ps.Port("p", 65535)
	ps.NotNegative("d", 0, "5s")
	if err := ps.Err(); err != nil {
		t.Fatalf("valid values: %v", err)
	}
	ps.Port("epmd_port", 70000)
	ps.NotNegative("polling_interval", -time.Second, "5s")
	err := ps.Err()
	for _, want := range []string{`config key "epmd_port": 70000 is out of range`, `config key "polling_interval": -1s is negative; give a positive duration such as 5s`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("err = %v, want it to contain %s", err, want)
		}
	}
}

func TestAsSeenAsComplete(t *testing.T) {
	ns := []libcluster.Node{"a@h"}
	c := libcluster.Complete(ns).WithSource("s")
	if u := strategy.AsSeen(c); u.Kind() != libcluster.KindSeen || len(u.Nodes()) != 1 || u.Explain().Source != "s" {
		t.Errorf("AsSeen(complete) = %+v", u)
	}
	if u := strategy.AsComplete(libcluster.Seen(ns)); u.Kind() != libcluster.KindComplete || len(u.Nodes()) != 1 {
		t.Errorf("AsComplete(seen) = %+v", u)
	}
	f := libcluster.Failed(nil)
	if strategy.AsSeen(f).Kind() != libcluster.KindFailed || strategy.AsComplete(f).Kind() != libcluster.KindFailed {
		t.Error("a failed update changed kind")
	}
}
