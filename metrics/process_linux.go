package metrics

import (
	"bytes"
	"errors"
	"os"
	"strconv"
	"syscall"
)

// userHZ is the unit of the CPU times in /proc/self/stat (USER_HZ, 100 on
// every Linux architecture Go supports).
const userHZ = 100

// processFamilies reads the process figures from /proc/self, named as
// Prometheus' Go client names them. A figure that cannot be read is left
// out.
func processFamilies() []Family {
	var out []Family
	if st, err := readStat(); err == nil {
		out = append(out,
			single("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.", Counter, float64(st.utime+st.stime)/userHZ),
			single("process_virtual_memory_bytes", "Virtual memory size in bytes.", Gauge, float64(st.vsize)),
			single("process_resident_memory_bytes", "Resident memory size in bytes.", Gauge, float64(st.rss*uint64(os.Getpagesize()))),
		)
		if boot, err := bootTime(); err == nil {
			out = append(out, single("process_start_time_seconds", "Start time of the process since unix epoch in seconds.", Gauge, float64(boot)+float64(st.starttime)/userHZ))
		}
	}
	if n, err := openFDs(); err == nil {
		out = append(out, single("process_open_fds", "Number of open file descriptors.", Gauge, float64(n)))
	}
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err == nil {
		out = append(out, single("process_max_fds", "Maximum number of open file descriptors.", Gauge, float64(lim.Cur)))
	}
	return out
}

type procStat struct {
	utime, stime, starttime, vsize, rss uint64
}

var errFormat = errors.New("metrics: unexpected format of /proc/self/stat or /proc/stat (want the layout proc(5) describes)")

// readStat parses /proc/self/stat (proc(5)): the fields after the command
// name in parentheses start with field 3, the state.
func readStat() (procStat, error) {
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return procStat{}, err
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return procStat{}, errFormat
	}
	f := bytes.Fields(b[i+1:])
	if len(f) < 22 {
		return procStat{}, errFormat
	}
	var st procStat
	for _, x := range []struct {
		field int // as numbered in proc(5)
		dst   *uint64
	}{{14, &st.utime}, {15, &st.stime}, {22, &st.starttime}, {23, &st.vsize}, {24, &st.rss}} {
		if *x.dst, err = strconv.ParseUint(string(f[x.field-3]), 10, 64); err != nil {
			return procStat{}, err
		}
	}
	return st, nil
}

// bootTime reads the btime line of /proc/stat: the boot time in seconds
// since the epoch.
func bootTime() (uint64, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	for line := range bytes.Lines(b) {
		if rest, ok := bytes.CutPrefix(line, []byte("btime ")); ok {
			return strconv.ParseUint(string(bytes.TrimSpace(rest)), 10, 64)
		}
	}
	return 0, errFormat
}

// openFDs counts the entries of /proc/self/fd (including the one reading
// it, as Prometheus' Go client does).
func openFDs() (int, error) {
	d, err := os.Open("/proc/self/fd")
	if err != nil {
		return 0, err
	}
	defer d.Close()
	names, err := d.Readdirnames(-1)
	return len(names), err
}
