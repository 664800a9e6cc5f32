package epmd

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/libcluster-go/libcluster/internal/testkit/clustertest"
	"github.com/libcluster-go/libcluster/internal/testkit/erltest"
	"github.com/libcluster-go/libcluster/internal/testkit/testenv"
)

// startErl starts `erl -name <name>@127.0.0.1` on the EPMD at epmdPort,
// which runs eval and stays up.
func startErl(t *testing.T, epmdPort int, name, eval string) *erltest.Proc {
	t.Helper()
	return erltest.StartErl(t, erltest.ErlOptions{Name: name + "@127.0.0.1", Cookie: "c", EPMDPort: epmdPort,
		Args: []string{"-kernel", "inet_dist_use_interface", "{127,0,0,1}"}, Eval: eval})
}

// startRealEpmd starts the stock epmd daemon on a free loopback port.
func startRealEpmd(t testing.TB) int {
	t.Helper()
	port, _ := erltest.StartEpmd(t, "-address", "127.0.0.1")
	return port
}

// epmdNames runs the stock `epmd -names` client against port.
func epmdNames(t *testing.T, port int) string {
	t.Helper()
	bin := erltest.Epmd(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := erltest.CommandContext(t, ctx, bin, "-port", strconv.Itoa(port), "-names").CombinedOutput()
	if err != nil {
		t.Fatalf("epmd -names: %v: %s", err, out)
	}
	return string(out)
}

func TestInteropGoClientWithRealEpmd(t *testing.T) {
	testenv.Short(t)
	port := startRealEpmd(t)
	ctx := testCtx(t)
	c := &Client{Port: port}

	startErl(t, port, "x", `io:format("UP~n")`)
	var info NodeInfo
	clustertest.EventuallyWithin(t, 30*time.Second, "erl x registered with the real epmd", func() bool {
		var err error
		info, err = c.PortPlease(ctx, "x")
		return err == nil
	})
	if info.Name != "x" || info.Port == 0 || info.HighestVersion != 6 || info.LowestVersion < 5 || info.NodeType != NodeTypeNormal {
		t.Fatalf("PortPlease(x) from real epmd = %+v", info)
	}
	names, err := c.Names(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(names) != 1 || names[0] != (NameEntry{"x", info.Port}) {
		t.Fatalf("Names from real epmd = %v, want [x at %d]", names, info.Port)
	}

	// The Go client registers with the real epmd; a duplicate is refused.
	if _, err := c.Register(ctx, NodeInfo{Name: "x", Port: 5555}); !errors.Is(err, ErrNameInUse) {
		t.Fatalf("Register(x) with real epmd = %v, want ErrNameInUse", err)
	}
	reg, err := c.Register(ctx, NodeInfo{Name: "gonode", Port: 5555})
	if err != nil {
		t.Fatal(err)
	}
	if reg.Creation() == 0 {
		t.Error("real epmd gave creation 0")
	}
	if out := epmdNames(t, port); !strings.Contains(out, "name gonode at port 5555") {
		t.Fatalf("epmd -names does not list gonode:\n%s", out)
	}
	reg.Close()
	clustertest.EventuallyWithin(t, 20*time.Second, "gonode unregistered from real epmd", func() bool {
		_, err := c.PortPlease(ctx, "gonode")
		return errors.Is(err, ErrNotRegistered)
	})
	if _, err := c.PortPlease(ctx, "nosuch"); !errors.Is(err, ErrNotRegistered) {
		t.Fatalf("PortPlease(nosuch) = %v, want ErrNotRegistered", err)
	}
}

var creationRE = regexp.MustCompile(`CREATION (\d+)`)

func TestInteropErlWithGoServer(t *testing.T) {
	testenv.Short(t)
	erltest.Erl(t)
	srv, port := startServer(t)
	ctx := testCtx(t)
	c := &Client{Port: port}
	reg, err := c.Register(ctx, NodeInfo{Name: "gonode", Port: 5555})
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()

	eval := `io:format("CREATION ~p~nNAMES ~p~n", [erlang:system_info(creation), net_adm:names("127.0.0.1")])`
	x := startErl(t, port, "x", eval)
	m := x.WaitOutput(t, 30*time.Second, `NAMES (.*)`)
	var info NodeInfo
	clustertest.EventuallyWithin(t, 30*time.Second, "x listed by the Go server", func() bool {
		for _, n := range srv.Names() {
			if n.Name == "x" {
				info = n
				return true
			}
		}
		return false
	})
	// erl lists the names in reverse order of the reply lines.
	want := fmt.Sprintf(`{ok,[{"x",%d},{"gonode",5555}]}`, info.Port)
	if got := strings.ReplaceAll(m[1], " ", ""); got != want {
		t.Fatalf("erl net_adm:names() against the Go server = %s, want %s", m[1], want)
	}
	if info.HighestVersion != 6 || info.NodeType != NodeTypeNormal || info.Protocol != ProtocolTCP {
		t.Errorf("erl registered %+v", info)
	}
	pp, err := c.PortPlease(ctx, "x")
	if err != nil || pp.Port != info.Port {
		t.Fatalf("PortPlease(x) = %+v, %v; want port %d", pp, err, info.Port)
	}
	if out := epmdNames(t, port); !strings.Contains(out, fmt.Sprintf("name x at port %d", info.Port)) ||
		!strings.Contains(out, "name gonode at port 5555") {
		t.Fatalf("epmd -names against the Go server:\n%s", out)
	}
	first := x.WaitOutput(t, 30*time.Second, creationRE.String())[1]

	// A second erl with a taken name must refuse to start.
	dup := startErl(t, port, "gonode", `io:format("STARTED~n")`)
	select {
	case <-dup.Done():
	case <-time.After(30 * time.Second):
		t.Fatalf("erl with a duplicate name did not exit; output:\n%s", dup.Output())
	}
	if strings.Contains(dup.Output(), "STARTED") || !strings.Contains(dup.Output(), "in use") {
		t.Fatalf("erl started with a name the Go node holds:\n%s", dup.Output())
	}

	// Killing x unregisters it; a restarted x gets a new creation.
	x.Kill()
	clustertest.EventuallyWithin(t, 20*time.Second, "x unregistered after kill", func() bool {
		_, err := c.PortPlease(ctx, "x")
		return errors.Is(err, ErrNotRegistered)
	})
	x2 := startErl(t, port, "x", eval)
	second := x2.WaitOutput(t, 30*time.Second, creationRE.String())[1]
	if first == second || first == "0" || second == "0" {
		t.Errorf("creations of x before and after restart: %s, %s; want distinct nonzero", first, second)
	}
}

func TestInteropKeeperTakesOverFromRealEpmd(t *testing.T) {
	testenv.Short(t)
	erltest.Epmd(t)
	erltest.Erl(t)
	port, real := erltest.StartEpmd(t, "-address", "127.0.0.1")
	c := &Client{Port: port}
	ctx := testCtx(t)
	k := startKeeper(t, "keeper", port)
	clustertest.EventuallyWithin(t, 20*time.Second, "keeper registered with the real epmd", func() bool {
		return len(k.creations()) == 1 && strings.Contains(epmdNames(t, port), "name keeper at port")
	})

	// The real epmd dies: the keeper serves EPMD itself, and a real erl
	// can register with it.
	real.Kill()
	clustertest.EventuallyWithin(t, 20*time.Second, "keeper re-registered with its own server", func() bool {
		return len(k.creations()) == 2
	})
	startErl(t, port, "y", `io:format("UP~n")`)
	clustertest.EventuallyWithin(t, 30*time.Second, "erl y registered with the keeper's server", func() bool {
		n, err := c.Names(ctx)
		return err == nil && len(n) == 2 && n[0].Name == "keeper" && n[1].Name == "y"
	})
}
