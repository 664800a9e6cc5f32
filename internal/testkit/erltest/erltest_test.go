package erltest

import (
	"strings"
	"testing"
	"time"
)

// TestErlRegistersWithEpmd starts the stock epmd and an erl node on it,
// sees the node in a NAMES reply and in the node's own output, and checks
// that Kill removes it.
func TestErlRegistersWithEpmd(t *testing.T) {
	port, _ := StartEpmd(t, "-address", "127.0.0.1")
	if names, err := Names(port); err != nil || len(names) != 0 {
		t.Fatalf("fresh epmd: names %v, error %v; want none", names, err)
	}
	p := StartErl(t, ErlOptions{Name: "erltest@127.0.0.1", Cookie: "c", EPMDPort: port, Eval: `io:format("node=~p~n", [node()])`})
	if m := p.WaitOutput(t, 30*time.Second, `node=(\S+)`); m[1] != "'erltest@127.0.0.1'" {
		t.Fatalf("erl says it is %s", m[1])
	}
	WaitNames(t, port, "erltest registered", HasAll("erltest"))
	p.Kill()
	WaitNames(t, port, "erltest gone", func(ns []string) bool { return len(ns) == 0 })
}

func TestRunErl(t *testing.T) {
	out := RunErl(t, "", "-noshell", "-eval", `io:format("~p~n", [1+2]), halt().`)
	if strings.TrimSpace(out) != "3" {
		t.Fatalf("erl printed %q, want 3", out)
	}
}
