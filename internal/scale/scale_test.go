package scale

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestSummarise(t *testing.T) {
	rs := []Result{{Converge: 3 * time.Second}, {Converge: time.Second}, {Err: errors.New("timeout")}, {Converge: 2 * time.Second}, {Converge: 10 * time.Second}}
	s := Summarise(rs, func(r Result) time.Duration { return r.Converge })
	if s.Runs != 5 || s.OK != 4 || s.Min != time.Second || s.Median != 2500*time.Millisecond || s.Max != 10*time.Second {
		t.Fatalf("Summarise = %+v", s)
	}
	if got := s.String(); got != "1.00 / 2.50 / 10.00 s (4/5)" {
		t.Errorf("String = %q", got)
	}
	if got := Summarise(rs[2:3], func(r Result) time.Duration { return r.Converge }).String(); got != "— (0/1)" {
		t.Errorf("no finished run: %q", got)
	}
}

func TestWaitAllReportsShortfall(t *testing.T) {
	counts := []int{2, 1, 2}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	err := waitAll(ctx, 3, func(i int) int { return counts[i] }, func(int) int { return 2 })
	if err == nil || !strings.Contains(err.Error(), "1 of 3 members short: 1/2 (1)") {
		t.Fatalf("waitAll = %v", err)
	}
	if err := waitAll(context.Background(), 3, func(int) int { return 2 }, func(int) int { return 2 }); err != nil {
		t.Fatalf("waitAll on a converged set = %v", err)
	}
}

func TestPlotSVG(t *testing.T) {
	var b bytes.Buffer
	st := func(lo, med, hi float64) Stats {
		return Stats{Runs: 3, OK: 3, Min: time.Duration(lo * 1e9), Median: time.Duration(med * 1e9), Max: time.Duration(hi * 1e9)}
	}
	err := PlotSVG(&b, "a <title>", []Series{{Label: "x", Points: []Point{{N: 50, Stats: st(0.5, 1, 2)}, {N: 1000, Stats: st(5, 8, 20)}}}})
	if err != nil {
		t.Fatal(err)
	}
	d := xml.NewDecoder(&b)
	polylines := 0
	for {
		tok, err := d.Token()
		if err != nil {
			if err.Error() != "EOF" {
				t.Fatalf("not well-formed XML: %v", err)
			}
			break
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "polyline" {
			polylines++
		}
	}
	if polylines != 1 {
		t.Errorf("%d polylines, want 1", polylines)
	}
	if err := PlotSVG(&b, "", nil); err == nil {
		t.Error("PlotSVG with no points succeeded")
	}
}

// A small real run: members on loopback sockets, each on its own address
// or all on one, converge, notice a killed member and take it back; the
// in-memory network converges too, both ways.
func TestRunMemberlist(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real members")
	}
	for _, shared := range []bool{false, true} {
		r := RunMemberlist(context.Background(), MemberlistOptions{N: 4, Profile: "local", Faults: true, SharedPort: shared, Timeout: 30 * time.Second})
		if r.Err != nil || r.Converge <= 0 || r.Detect <= 0 || r.Heal <= 0 {
			t.Fatalf("loopback run (shared port %v) = %+v", shared, r)
		}
		r = RunMemberlist(context.Background(), MemberlistOptions{N: 8, Transport: TransportSim, Profile: "local", SharedPort: shared, Timeout: 30 * time.Second})
		if r.Err != nil || r.Converge <= 0 {
			t.Fatalf("sim run (shared port %v) = %+v", shared, r)
		}
	}
	if r := RunMemberlist(context.Background(), MemberlistOptions{N: 1}); r.Err == nil {
		t.Error("N=1 accepted")
	}
	// The protocol alone, with stretched timings: times come back divided.
	r := RunMemberlist(context.Background(), MemberlistOptions{N: 8, Transport: TransportSim, Profile: "local", Protocol: true, TimeScale: 2, Timeout: 30 * time.Second})
	if r.Err != nil || r.Converge <= 0 {
		t.Fatalf("protocol run = %+v", r)
	}
	for _, bad := range []MemberlistOptions{{N: 4, TimeScale: 2}, {N: 4, Protocol: true, TimeScale: 0.5}, {N: 4, Protocol: true, TimeScale: 5000}} {
		if r := RunMemberlist(context.Background(), bad); r.Err == nil || !strings.Contains(r.Err.Error(), "time scale") {
			t.Errorf("options %+v: err %v, want a time scale error", bad, r.Err)
		}
	}
}

// A packet to a member whose loop is not reading never blocks the sender:
// past the inbox it is dropped, as UDP would; a dial to a gone member fails.
func TestSimNetNeverBlocks(t *testing.T) {
	for _, own := range []bool{false, true} {
		simNetNeverBlocks(t, own)
	}
}

func simNetNeverBlocks(t *testing.T, ownAddr bool) {
	_, ts := newSimNet(2, ownAddr)
	for range simInbox + 10 {
		if _, err := ts[0].WriteTo([]byte{1}, ts[1].addr.String()); err != nil {
			t.Fatal(err)
		}
	}
	if got := ts[1].dropped.Load(); got != 10 {
		t.Errorf("dropped %d, want 10", got)
	}
	_ = ts[1].Shutdown()
	if _, err := ts[0].DialTimeout(ts[1].addr.String(), time.Second); !errors.Is(err, errSimUnreachable) {
		t.Errorf("dial to a shut-down member: %v", err)
	}
	if _, err := ts[0].DialTimeout(ts[0].addr.String(), 10*time.Millisecond); err != nil {
		t.Fatalf("dial self: %v", err)
	}
}
