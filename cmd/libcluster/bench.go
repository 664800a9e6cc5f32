package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/libcluster-go/libcluster/internal/scale"
	"github.com/libcluster-go/libcluster/memberlist"
)

// benchRow is one N of `libcluster bench --json`.
type benchRow struct {
	Connector string         `json:"connector"`
	Transport string         `json:"transport"`
	Shared    bool           `json:"shared_port,omitempty"`
	Protocol  bool           `json:"protocol,omitempty"`
	TimeScale float64        `json:"time_scale,omitempty"` // times are divided by it
	N         int            `json:"n"`
	Runs      int            `json:"runs"`
	Converge  []float64      `json:"converge_s"` // min, median, max; empty when no run converged
	Detect    []float64      `json:"detect_s,omitempty"`
	Heal      []float64      `json:"heal_s,omitempty"`
	Failures  []string       `json:"failures,omitempty"`
	Warnings  map[string]int `json:"warnings,omitempty"`
}

func cmdBench(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("bench", "[--transport loopback|sim] [--shared-port] [--protocol [--time-scale K]] [--n 50,100] [--runs 3] [--faults] [--svg plot.svg] [--cpuprofile cpu.out] [--memprofile mem.out] [--heapprofile heap.out]", stderr)
	transport := fs.String("transport", scale.TransportLoopback, "memberlist members in this process over loopback UDP/TCP (loopback) or memberlist's in-memory network (sim)")
	sizes := fs.String("n", "50", "comma-separated member counts, each 2 to 10000")
	runs := fs.Int("runs", 3, "runs per member count; min/median/max are over these")
	shared := fs.Bool("shared-port", false, "put all members on 127.0.0.1, so every name maps to the first member (a seed); default: each member on its own loopback address that its name maps to")
	protocol := fs.Bool("protocol", false, "measure memberlist's protocol alone: no topologies; each member joins one random member started before it")
	timeScale := fs.Float64("time-scale", 0, "with --protocol: stretch every memberlist interval and timeout by this factor (1 to 1000) and report times divided by it, for simulations too large to run at real speed")
	faults := fs.Bool("faults", false, "after converging, kill a tenth of the members, time the detection, restart them and time the healing (loopback only)")
	profile := fs.String("profile", "lan", "memberlist timing profile: lan, wan or local")
	pushPull := fs.Duration("push-pull-interval", 0, "memberlist PushPullInterval; 0: the profile's")
	handoff := fs.Int("handoff-queue-depth", 0, "memberlist HandoffQueueDepth (gossip messages waiting for the handler); 0: memberlist's 1024")
	retransmit := fs.Int("retransmit-mult", 0, "memberlist RetransmitMult (an update is gossiped this many times log10(N+1)); 0: the profile's")
	gossipInterval := fs.Duration("gossip-interval", 0, "memberlist GossipInterval; 0: the profile's")
	gossipNodes := fs.Int("gossip-nodes", 0, "memberlist GossipNodes (members each gossip round reaches); 0: the profile's")
	probeInterval := fs.Duration("probe-interval", 0, "memberlist ProbeInterval; 0: the profile's")
	probeTimeout := fs.Duration("probe-timeout", 0, "memberlist ProbeTimeout; 0: the profile's")
	suspicion := fs.Int("suspicion-mult", 0, "memberlist SuspicionMult; 0: the profile's")
	compression := fs.String("compression", "", "memberlist Compression: on or off; default: the profile's (off for lan and local, on for wan)")
	repeats := fs.String("repeat-filter", "", "memberlist RepeatFilter (drop repeated alive messages before memberlist decodes them): on or off; default on")
	timeout := fs.Duration("timeout", 2*time.Minute, "give up a phase after this long")
	svg := fs.String("svg", "", "write an SVG plot of convergence time against N to this file")
	asJSON := fs.Bool("json", false, "print one JSON object per N instead of the table")
	verbose := fs.Bool("v", false, "print who is still short every second to stderr")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the whole run to this file (read it with go tool pprof)")
	memProfile := fs.String("memprofile", "", "write a profile of the whole run's allocations to this file at the end (go tool pprof -sample_index=alloc_space)")
	heapProfile := fs.String("heapprofile", "", "write a profile of the memory in use to this file when the first run's converge phase ends, while its members still run (go tool pprof -sample_index=inuse_space)")
	if code, done := parseFlags(fs, args, stdout); done {
		return code
	}
	var ns []int
	for _, f := range strings.Split(*sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 2 || n > 10000 {
			fmt.Fprintf(stderr, "libcluster bench: --n item %q is not a member count from 2 to 10000\n", f)
			return exitUsage
		}
		ns = append(ns, n)
	}
	switch {
	case *transport != scale.TransportLoopback && *transport != scale.TransportSim:
		fmt.Fprintf(stderr, "libcluster bench: --transport %q; want %s or %s\n", *transport, scale.TransportLoopback, scale.TransportSim)
		return exitUsage
	case *timeScale != 0 && (*timeScale < 1 || *timeScale > 1000 || !*protocol):
		fmt.Fprintf(stderr, "libcluster bench: --time-scale %v; want 1 to 1000, with --protocol\n", *timeScale)
		return exitUsage
	case *faults && *protocol:
		fmt.Fprintln(stderr, "libcluster bench: --faults needs the topologies; drop --protocol or --faults")
		return exitUsage
	case *compression != "" && *compression != "on" && *compression != "off":
		fmt.Fprintf(stderr, "libcluster bench: --compression %q; want on or off\n", *compression)
		return exitUsage
	case *repeats != "" && *repeats != "on" && *repeats != "off":
		fmt.Fprintf(stderr, "libcluster bench: --repeat-filter %q; want on or off\n", *repeats)
		return exitUsage
	case *runs < 1:
		fmt.Fprintf(stderr, "libcluster bench: --runs %d; want at least 1\n", *runs)
		return exitUsage
	case *timeout <= 0:
		fmt.Fprintln(stderr, "libcluster bench: --timeout must be positive, e.g. 2m")
		return exitUsage
	case *retransmit < 0 || *gossipNodes < 0 || *suspicion < 0 || *handoff < 0:
		fmt.Fprintln(stderr, "libcluster bench: --retransmit-mult, --gossip-nodes, --suspicion-mult and --handoff-queue-depth must not be negative; 0 keeps the profile's value")
		return exitUsage
	case *pushPull < 0 || *gossipInterval < 0 || *probeInterval < 0 || *probeTimeout < 0:
		fmt.Fprintln(stderr, "libcluster bench: --push-pull-interval, --gossip-interval, --probe-interval and --probe-timeout must not be negative; 0 keeps the profile's value")
		return exitUsage
	case !slices.Contains([]string{"lan", "wan", "local"}, *profile):
		fmt.Fprintf(stderr, "libcluster bench: --profile %q; want lan, wan or local\n", *profile)
		return exitUsage
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			fmt.Fprintln(stderr, "libcluster bench: --cpuprofile:", err)
			return exitUsage
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			fmt.Fprintln(stderr, "libcluster bench: --cpuprofile:", err)
			return exitFailure
		}
		defer func() {
			pprof.StopCPUProfile()
			f.Close()
		}()
	}
	if *memProfile != "" {
		f, err := os.Create(*memProfile)
		if err != nil {
			fmt.Fprintln(stderr, "libcluster bench: --memprofile:", err)
			return exitUsage
		}
		defer func() {
			if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
				fmt.Fprintln(stderr, "libcluster bench: --memprofile:", err)
			}
			f.Close()
		}()
	}
	var heapOnce func() // writes the heap profile once; nil without --heapprofile
	if *heapProfile != "" {
		f, err := os.Create(*heapProfile)
		if err != nil {
			fmt.Fprintln(stderr, "libcluster bench: --heapprofile:", err)
			return exitUsage
		}
		defer f.Close()
		heapOnce = sync.OnceFunc(func() {
			runtime.GC() // the profile shows the heap as of the last collection
			if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
				fmt.Fprintln(stderr, "libcluster bench: --heapprofile:", err)
			}
		})
	}
	tuning := memberlist.Tuning{PushPullInterval: *pushPull, HandoffQueueDepth: *handoff, RetransmitMult: *retransmit,
		GossipInterval: *gossipInterval, GossipNodes: *gossipNodes, ProbeInterval: *probeInterval, ProbeTimeout: *probeTimeout,
		SuspicionMult: *suspicion}
	if *compression != "" {
		tuning.Compression = new(*compression == "on")
	}
	if *repeats != "" {
		tuning.RepeatFilter = new(*repeats == "on")
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	fmt.Fprintf(stderr, "# %s, GOMAXPROCS %d, load average at start: %s\n", runtime.Version(), runtime.GOMAXPROCS(0), loadAvg())
	if !*asJSON {
		fmt.Fprintf(stdout, "| N | runs | converge min / median / max (ok/runs) | detect | heal |\n|---|---|---|---|---|\n")
	}
	label := "memberlist " + *transport
	if *protocol {
		label += " protocol"
		if *timeScale > 1 {
			label += fmt.Sprintf(" (time ×%g)", *timeScale)
		}
	}
	if *shared {
		label += " shared port"
	}
	series := scale.Series{Label: label}
	for _, n := range ns {
		var rs []scale.Result
		row := benchRow{Connector: "memberlist", Transport: *transport, Shared: *shared, Protocol: *protocol, TimeScale: *timeScale, N: n, Runs: *runs, Warnings: map[string]int{}}
		for r := range *runs {
			res := scale.RunMemberlist(ctx, scale.MemberlistOptions{
				N: n, Transport: *transport, Profile: memberlist.Profile(*profile), Timeout: *timeout, Faults: *faults, SharedPort: *shared,
				Protocol: *protocol, TimeScale: *timeScale,
				Tuning: tuning, Converged: heapOnce,
				Progress: func(phase string, waited time.Duration, short string) {
					if *verbose {
						fmt.Fprintf(stderr, "#   %s %v: %s\n", phase, waited.Round(time.Second), short)
					}
				},
			})
			rs = append(rs, res)
			fmt.Fprintf(stderr, "# N=%d run %d/%d: converge %v (%d down events meanwhile) detect %v heal %v load %s", n, r+1, *runs,
				res.Converge.Round(time.Millisecond), res.ConvergeDowns, res.Detect.Round(time.Millisecond), res.Heal.Round(time.Millisecond), loadAvg())
			if res.Err != nil {
				fmt.Fprintf(stderr, " error: %v", res.Err)
				row.Failures = append(row.Failures, res.Err.Error())
			}
			fmt.Fprintln(stderr)
			for k, v := range res.Warnings {
				row.Warnings[k] += v
			}
			if ctx.Err() != nil {
				return exitFailure
			}
		}
		conv := scale.Summarise(rs, func(r scale.Result) time.Duration { return r.Converge })
		det := scale.Summarise(rs, func(r scale.Result) time.Duration { return r.Detect })
		heal := scale.Summarise(rs, func(r scale.Result) time.Duration { return r.Heal })
		series.Points = append(series.Points, scale.Point{N: n, Stats: conv})
		row.Converge, row.Detect, row.Heal = triple(conv), triple(det), triple(heal)
		type kv struct {
			k string
			v int
		}
		var top []kv
		for k, v := range row.Warnings {
			top = append(top, kv{k, v})
		}
		slices.SortFunc(top, func(a, b kv) int { return b.v - a.v })
		for _, w := range top[:min(len(top), 8)] {
			fmt.Fprintf(stderr, "# N=%d warnings: %d× %q\n", n, w.v, w.k)
		}
		if *asJSON {
			b, _ := json.Marshal(row)
			fmt.Fprintln(stdout, string(b))
		} else {
			d, h := "—", "—"
			if *faults {
				d, h = det.String(), heal.String()
			}
			fmt.Fprintf(stdout, "| %d | %d | %s | %s | %s |\n", n, *runs, conv, d, h)
		}
	}
	fmt.Fprintf(stderr, "# load average at end: %s\n", loadAvg())
	if *svg != "" {
		f, err := os.Create(*svg)
		if err == nil {
			err = scale.PlotSVG(f, "memberlist convergence (median, min–max) vs members", []scale.Series{series})
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}
		if err != nil {
			fmt.Fprintln(stderr, "libcluster bench: write the plot:", err)
			return exitFailure
		}
	}
	return exitOK
}

func triple(s scale.Stats) []float64 {
	if s.OK == 0 {
		return nil
	}
	return []float64{s.Min.Seconds(), s.Median.Seconds(), s.Max.Seconds()}
}

// loadAvg returns the first three fields of /proc/loadavg, or "unknown".
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}
