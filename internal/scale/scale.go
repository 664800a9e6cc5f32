// Package scale is the scale harness behind `libcluster bench`: it starts
// many cluster members, in one process over real loopback sockets or over
// memberlist's in-memory transport, and measures how long the cluster takes
// to converge, to notice lost members and to heal. Figures are wall-clock
// times on whatever machine runs it; they belong in a harness, not in tests.
package scale

import (
	"context"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"
)

// Result is one run's figures. A phase that was not run or did not finish
// is zero; Err says why a run stopped early.
type Result struct {
	N        int
	Converge time.Duration // last member started → every member lists all others
	Detect   time.Duration // a tenth killed → every survivor lists only survivors
	Heal     time.Duration // the killed restarted → every member lists all others
	// ConvergeDowns counts the down events all members saw until they
	// converged: members wrongly found failed under load, then refuted.
	ConvergeDowns int64
	Warnings      map[string]int
	Err           error
}

// Stats summarises one phase over several runs.
type Stats struct {
	Runs, OK         int
	Min, Median, Max time.Duration
}

// Summarise computes min/median/max of the non-zero durations f picks from
// rs; runs whose phase did not finish count in Runs but not in OK.
func Summarise(rs []Result, f func(Result) time.Duration) Stats {
	s := Stats{Runs: len(rs)}
	var v []time.Duration
	for _, r := range rs {
		if d := f(r); d > 0 {
			v = append(v, d)
		}
	}
	s.OK = len(v)
	if len(v) == 0 {
		return s
	}
	slices.Sort(v)
	s.Min, s.Max = v[0], v[len(v)-1]
	if len(v)%2 == 1 {
		s.Median = v[len(v)/2]
	} else {
		s.Median = (v[len(v)/2-1] + v[len(v)/2]) / 2
	}
	return s
}

// String formats s as "min / median / max (ok/runs)" in seconds.
func (s Stats) String() string {
	if s.OK == 0 {
		return fmt.Sprintf("— (0/%d)", s.Runs)
	}
	return fmt.Sprintf("%.2f / %.2f / %.2f s (%d/%d)", s.Min.Seconds(), s.Median.Seconds(), s.Max.Seconds(), s.OK, s.Runs)
}

// waitAll polls count(i) for every member i in 0..n-1 until each equals
// want(i), every 20 ms, until ctx ends. A member already seen at its target
// is checked again in a final pass, so that a member that fell back counts.
// On failure it returns a summary of the members that were short.
func waitAll(ctx context.Context, n int, count func(i int) int, want func(i int) int) error {
	next := 0
	for {
		for next < n && count(next) == want(next) {
			next++
		}
		if next == n {
			short := 0
			for i := range n {
				if count(i) != want(i) {
					short++
				}
			}
			if short == 0 {
				return nil
			}
			next = 0
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w; %s", context.Cause(ctx), shortfall(n, count, want))
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// shortfall describes which members have not reached their target, e.g.
// "3 of 50 short: 48/49 (2), 47/49 (1)".
func shortfall(n int, count, want func(int) int) string {
	hist := map[string]int{}
	short := 0
	for i := range n {
		c, w := count(i), want(i)
		if c != w {
			short++
			hist[fmt.Sprintf("%d/%d", c, w)]++
		}
	}
	var parts []string
	for k, v := range hist {
		parts = append(parts, fmt.Sprintf("%s (%d)", k, v))
	}
	slices.Sort(parts)
	if len(parts) > 6 {
		parts = append(parts[:6], "...")
	}
	return fmt.Sprintf("%d of %d members short: %s", short, n, strings.Join(parts, ", "))
}

// memberName matches the harness's member names in log messages, so that
// counts add up across members.
var memberName = regexp.MustCompile(`m[0-9]+@`)

// warnCounter is a slog handler that counts warnings and errors by
// message, with the variable tail of the message cut off.
type warnCounter struct {
	mu     *sync.Mutex
	counts map[string]int
}

func newWarnCounter() *warnCounter {
	return &warnCounter{mu: &sync.Mutex{}, counts: map[string]int{}}
}

func (w *warnCounter) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }

func (w *warnCounter) Handle(_ context.Context, r slog.Record) error {
	msg := r.Message
	if i := strings.IndexAny(msg, ":("); i > 0 {
		msg = msg[:i]
	}
	msg = memberName.ReplaceAllString(msg, "m*@")
	if len(msg) > 80 {
		msg = msg[:80]
	}
	w.mu.Lock()
	w.counts[msg]++
	w.mu.Unlock()
	return nil
}

func (w *warnCounter) WithAttrs([]slog.Attr) slog.Handler { return w }
func (w *warnCounter) WithGroup(string) slog.Handler      { return w }

func (w *warnCounter) snapshot() map[string]int {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make(map[string]int, len(w.counts))
	for k, v := range w.counts {
		out[k] = v
	}
	return out
}
