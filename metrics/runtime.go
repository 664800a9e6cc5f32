package metrics

import (
	"runtime"
	rtmetrics "runtime/metrics"
)

// runtimeMetric is one figure read from runtime/metrics, under the name and
// help text Prometheus' Go client gives it.
type runtimeMetric struct {
	name, help string
	typ        Type
	sources    []string // runtime/metrics names, summed
}

var runtimeMetrics = []runtimeMetric{
	{"go_memstats_alloc_bytes", "Number of bytes allocated in heap and currently in use. Equals to /memory/classes/heap/objects:bytes.", Gauge, []string{"/memory/classes/heap/objects:bytes"}},
	{"go_memstats_alloc_bytes_total", "Total number of bytes allocated in heap until now, even if released already. Equals to /gc/heap/allocs:bytes.", Counter, []string{"/gc/heap/allocs:bytes"}},
	{"go_memstats_heap_alloc_bytes", "Number of heap bytes allocated and currently in use, same as go_memstats_alloc_bytes. Equals to /memory/classes/heap/objects:bytes.", Gauge, []string{"/memory/classes/heap/objects:bytes"}},
	{"go_memstats_heap_inuse_bytes", "Number of heap bytes that are in use. Equals to /memory/classes/heap/objects:bytes + /memory/classes/heap/unused:bytes", Gauge, []string{"/memory/classes/heap/objects:bytes", "/memory/classes/heap/unused:bytes"}},
	{"go_memstats_heap_objects", "Number of currently allocated objects. Equals to /gc/heap/objects:objects.", Gauge, []string{"/gc/heap/objects:objects"}},
	{"go_memstats_next_gc_bytes", "Number of heap bytes when next garbage collection will take place. Equals to /gc/heap/goal:bytes.", Gauge, []string{"/gc/heap/goal:bytes"}},
	{"go_memstats_sys_bytes", "Number of bytes obtained from system. Equals to /memory/classes/total:byte.", Gauge, []string{"/memory/classes/total:bytes"}},
	{"go_gc_gogc_percent", "Heap size target percentage configured by the user, otherwise 100. This value is set by the GOGC environment variable, and the runtime/debug.SetGCPercent function. Sourced from /gc/gogc:percent.", Gauge, []string{"/gc/gogc:percent"}},
	{"go_gc_gomemlimit_bytes", "Go runtime memory limit configured by the user, otherwise math.MaxInt64. This value is set by the GOMEMLIMIT environment variable, and the runtime/debug.SetMemoryLimit function. Sourced from /gc/gomemlimit:bytes.", Gauge, []string{"/gc/gomemlimit:bytes"}},
	{"go_sched_gomaxprocs_threads", "The current runtime.GOMAXPROCS setting, or the number of operating system threads that can execute user-level Go code simultaneously. Sourced from /sched/gomaxprocs:threads.", Gauge, []string{"/sched/gomaxprocs:threads"}},
}

// runtimeFamilies reads the Go runtime's figures. One this Go release does
// not provide is left out.
func runtimeFamilies() []Family {
	var samples []rtmetrics.Sample
	for _, rm := range runtimeMetrics {
		for _, src := range rm.sources {
			samples = append(samples, rtmetrics.Sample{Name: src})
		}
	}
	rtmetrics.Read(samples)
	threads, _ := runtime.ThreadCreateProfile(nil)
	info := Family{Name: "go_info", Help: "Information about the Go environment.", Type: Gauge, LabelNames: []string{"version"}}
	info.add(1, runtime.Version())
	out := []Family{
		single("go_goroutines", "Number of goroutines that currently exist.", Gauge, float64(runtime.NumGoroutine())),
		single("go_threads", "Number of OS threads created.", Gauge, float64(threads)),
		info,
	}
	i := 0
	for _, rm := range runtimeMetrics {
		sum, ok := 0.0, true
		for _, s := range samples[i : i+len(rm.sources)] {
			switch s.Value.Kind() {
			case rtmetrics.KindUint64:
				sum += float64(s.Value.Uint64())
			case rtmetrics.KindFloat64:
				sum += s.Value.Float64()
			default: // not supported by this Go release
				ok = false
			}
		}
		i += len(rm.sources)
		if ok {
			out = append(out, single(rm.name, rm.help, rm.typ, sum))
		}
	}
	return out
}
