package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestBench(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--n", "1"}, "--n item \"1\""},
		{[]string{"--n", "10,x"}, "--n item \"x\""},
		{[]string{"--transport", "tcp"}, "--transport \"tcp\""},
		{[]string{"--runs", "0"}, "--runs 0"},
		{[]string{"--profile", "lna"}, "--profile \"lna\""},
		{[]string{"--time-scale", "5"}, "--time-scale 5; want 1 to 1000, with --protocol"},
		{[]string{"--protocol", "--time-scale", "0.5"}, "--time-scale 0.5"},
		{[]string{"--protocol", "--faults"}, "--faults needs the topologies"},
		{[]string{"--compression", "yes"}, "--compression \"yes\"; want on or off"},
		{[]string{"--repeat-filter", "1"}, "--repeat-filter \"1\"; want on or off"},
		{[]string{"--cpuprofile", "/nonexistent/dir/cpu.out"}, "--cpuprofile"},
		{[]string{"--memprofile", "/nonexistent/dir/mem.out"}, "--memprofile"},
		{[]string{"--heapprofile", "/nonexistent/dir/heap.out"}, "--heapprofile"},
		{[]string{"--retransmit-mult", "-1"}, "--retransmit-mult, --gossip-nodes, --suspicion-mult and --handoff-queue-depth must not be negative"},
		{[]string{"--probe-timeout", "-1s"}, "--probe-timeout must not be negative"},
	} {
		code, _, errOut := runCLI(t, 30*time.Second, append([]string{"bench"}, c.args...)...)
		if code != exitUsage || !strings.Contains(errOut, c.want) {
			t.Errorf("bench %v: exit %d, stderr %q; want %d and %q", c.args, code, errOut, exitUsage, c.want)
		}
	}
	svg := filepath.Join(t.TempDir(), "plot.svg")
	prof := filepath.Join(t.TempDir(), "cpu.out")
	memProf := filepath.Join(t.TempDir(), "mem.out")
	heapProf := filepath.Join(t.TempDir(), "heap.out")
	code, out, errOut := runCLI(t, 60*time.Second, "bench", "--n", "3,4", "--runs", "1", "--profile", "local", "--json", "--svg", svg,
		"--compression", "on", "--repeat-filter", "off", "--cpuprofile", prof, "--memprofile", memProf, "--heapprofile", heapProf, "--retransmit-mult", "3", "--gossip-interval", "50ms", "--gossip-nodes", "2",
		"--probe-interval", "500ms", "--probe-timeout", "100ms", "--suspicion-mult", "5")
	if code != exitOK {
		t.Fatalf("bench: exit %d; stderr:\n%s", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 {
		t.Fatalf("want one JSON line per N, got:\n%s", out)
	}
	for i, l := range lines {
		var row benchRow
		if err := json.Unmarshal([]byte(l), &row); err != nil {
			t.Fatalf("line %d: %v: %s", i, err, l)
		}
		if row.N != 3+i || len(row.Converge) != 3 || row.Converge[0] <= 0 || len(row.Failures) != 0 {
			t.Errorf("row %d = %+v", i, row)
		}
	}
	if !strings.Contains(errOut, "load average at start") {
		t.Errorf("stderr lacks the load average:\n%s", errOut)
	}
	if b, err := os.ReadFile(svg); err != nil || !strings.HasPrefix(string(b), "<svg") {
		t.Errorf("plot: %v, %.40q", err, b)
	}
	if st, err := os.Stat(prof); err != nil || st.Size() == 0 {
		t.Errorf("CPU profile: %v (want a non-empty file)", err)
	}
	if st, err := os.Stat(memProf); err != nil || st.Size() == 0 {
		t.Errorf("allocation profile: %v (want a non-empty file)", err)
	}
	if b, err := os.ReadFile(heapProf); err != nil || len(b) < 2 || b[0] != 0x1f || b[1] != 0x8b {
		t.Errorf("heap profile: %v, %.8q (want a gzipped profile)", err, b)
	}
}
