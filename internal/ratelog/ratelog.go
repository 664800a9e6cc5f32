// Package ratelog turns floods of events into a bounded number of log
// lines: the first event of a quiet period is logged at once, and after that
// at most one summary line per interval says how many events happened and
// from which sources.
package ratelog

import (
	"slices"
	"sync"
	"time"
)

// maxSources is how many distinct sources a summary names.
const maxSources = 8

// Limiter counts events and says when to log. The zero value logs at most
// once a minute. It is safe for concurrent use.
type Limiter struct {
	// Every is the least time between two lines; 0 means one minute.
	Every time.Duration

	mu      sync.Mutex
	last    time.Time
	count   int
	sources []string
	more    int
}

// Summary describes the events one log line covers.
type Summary struct {
	// Count is the number of events, the one just noted included.
	Count int
	// Sources are up to 8 distinct sources of those events, in order of
	// first appearance.
	Sources []string
	// MoreSources counts the events whose sources were not listed because
	// the list was full.
	MoreSources int
}

// Note records one event from source ("" when there is none) and reports
// whether to log a line now, with what it covers. Events noted while no
// line is due are carried into the next summary.
func (l *Limiter) Note(source string) (bool, Summary) {
	return l.NoteAt(time.Now(), source)
}

// NoteAt is Note at the given time, for tests.
func (l *Limiter) NoteAt(now time.Time, source string) (bool, Summary) {
	every := l.Every
	if every <= 0 {
		every = time.Minute
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.count++
	if source != "" && !slices.Contains(l.sources, source) {
		if len(l.sources) < maxSources {
			l.sources = append(l.sources, source)
		} else {
			l.more++
		}
	}
	if !l.last.IsZero() && now.Sub(l.last) < every {
		return false, Summary{}
	}
	s := Summary{Count: l.count, Sources: l.sources, MoreSources: l.more}
	l.last, l.count, l.sources, l.more = now, 0, nil, 0
	return true, s
}
