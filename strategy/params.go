package strategy

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Params gives typed access to a strategy's config keys, as they come from
// a YAML or JSON config file (libcluster's key names). Each getter records
// the key as known; a wrong type records an error naming the key. After
// reading every key, Err reports all errors together, including unknown
// keys with the nearest known key as a suggestion.
//
// Durations accept Go strings ("5s", "1m30s"), integer milliseconds as
// libcluster uses (5000), and "infinity".
type Params struct {
	m        map[string]any
	known    map[string]bool
	errs     []error
	warnings []string
}

// ParamError is an invalid config key or value.
type ParamError struct {
	Key string // the key, e.g. "polling_interval"
	Msg string // what is wrong and what is allowed
}

func (e *ParamError) Error() string { return fmt.Sprintf("config key %q: %s", e.Key, e.Msg) }

// NewParams wraps a decoded config map. A nil map is an empty config.
func NewParams(m map[string]any) *Params {
	return &Params{m: m, known: map[string]bool{}}
}

// Fail records an error for key, for checks a strategy makes itself.
func (p *Params) Fail(key, format string, args ...any) {
	p.errs = append(p.errs, &ParamError{Key: key, Msg: fmt.Sprintf(format, args...)})
}

// Has reports whether key is set (even to an empty value) and marks it known.
func (p *Params) Has(key string) bool {
	p.known[key] = true
	_, ok := p.m[key]
	return ok
}

func (p *Params) get(key string) (any, bool) {
	p.known[key] = true
	v, ok := p.m[key]
	if ok && v == nil {
		return nil, false
	}
	return v, ok
}

// Warn records a warning (e.g. a deprecated key) for the caller to log.
func (p *Params) Warn(format string, args ...any) {
	p.warnings = append(p.warnings, fmt.Sprintf(format, args...))
}

// Warnings returns the recorded warnings.
func (p *Params) Warnings() []string { return slices.Clone(p.warnings) }

// Alias makes old an accepted spelling of key, with a deprecation warning.
// Call it before reading key.
func (p *Params) Alias(old, key string) {
	p.known[old] = true
	v, ok := p.m[old]
	if !ok {
		return
	}
	if _, both := p.m[key]; both {
		p.Fail(old, "set together with %q; keep only %q", key, key)
		return
	}
	p.Warn("config key %q is deprecated; use %q", old, key)
	if p.m == nil {
		p.m = map[string]any{}
	}
	p.m[key] = v
}

func atomText(v any) (string, bool) {
	s, ok := v.(string)
	if !ok {
		return "", false
	}
	return strings.TrimPrefix(s, ":"), true // libcluster atoms (:ip) written as strings
}

// String returns the string at key, or def when unset.
func (p *Params) String(key, def string) string {
	v, ok := p.get(key)
	if !ok {
		return def
	}
	s, ok := v.(string)
	if !ok {
		p.Fail(key, "want a string, got %s", describe(v))
		return def
	}
	return s
}

// RequiredString returns the non-empty string at key, recording an error
// when it is missing or empty.
func (p *Params) RequiredString(key, example string) string {
	v, ok := p.get(key)
	if !ok {
		p.Fail(key, "required; set it, e.g. %s: %s", key, example)
		return ""
	}
	s, ok := v.(string)
	if !ok || strings.TrimSpace(s) == "" {
		p.Fail(key, "want a non-empty string (e.g. %s), got %s", example, describe(v))
		return ""
	}
	return s
}

// Enum returns the value at key, which must be one of allowed (a leading
// ':' as in libcluster's atoms is accepted), or def when unset.
func (p *Params) Enum(key, def string, allowed ...string) string {
	v, ok := p.get(key)
	if !ok {
		return def
	}
	s, ok := atomText(v)
	if !ok || !slices.Contains(allowed, s) {
		p.Fail(key, "want one of %s, got %s", strings.Join(allowed, ", "), describe(v))
		return def
	}
	return s
}

// Int returns the integer at key, or def when unset.
func (p *Params) Int(key string, def int) int {
	v, ok := p.get(key)
	if !ok {
		return def
	}
	n, ok := asInt(v)
	if !ok {
		p.Fail(key, "want an integer, got %s", describe(v))
		return def
	}
	return n
}

// IntRange is Int with bounds checked.
func (p *Params) IntRange(key string, def, lo, hi int) int {
	n := p.Int(key, def)
	if n < lo || n > hi {
		p.Fail(key, "want an integer from %d to %d, got %d", lo, hi, n)
		return def
	}
	return n
}

// Bool returns the boolean at key, or def when unset.
func (p *Params) Bool(key string, def bool) bool {
	v, ok := p.get(key)
	if !ok {
		return def
	}
	switch b := v.(type) {
	case bool:
		return b
	case string:
		if t, err := strconv.ParseBool(b); err == nil {
			return t
		}
	}
	p.Fail(key, "want true or false, got %s", describe(v))
	return def
}

// Duration returns the duration at key, or def when unset. "infinity" (or
// ":infinity") gives 0, which callers document as "never".
func (p *Params) Duration(key string, def time.Duration) time.Duration {
	v, ok := p.get(key)
	if !ok {
		return def
	}
	d, err := ParseDuration(v)
	if err != nil {
		p.Fail(key, "%v", err)
		return def
	}
	return d
}

// PositiveDuration is Duration that also rejects zero, negative and
// infinite values.
func (p *Params) PositiveDuration(key string, def time.Duration) time.Duration {
	d := p.Duration(key, def)
	if d <= 0 {
		p.Fail(key, "want a positive duration such as 5s or 5000 (milliseconds)")
		return def
	}
	return d
}

// ParseDuration reads a config duration: a Go duration string ("5s"), a
// number of milliseconds (5000 or "5000"), or "infinity" (0).
func ParseDuration(v any) (time.Duration, error) {
	if n, ok := asInt(v); ok {
		if n < 0 {
			return 0, fmt.Errorf("negative duration %d ms; want e.g. 5s or 5000 (milliseconds)", n)
		}
		return time.Duration(n) * time.Millisecond, nil
	}
	s, ok := atomText(v)
	if !ok {
		return 0, fmt.Errorf("want a duration such as 5s or 5000 (milliseconds), got %s", describe(v))
	}
	s = strings.TrimSpace(s)
	if s == "infinity" {
		return 0, nil
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil && n >= 0 {
		return time.Duration(n) * time.Millisecond, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("invalid duration %q; want e.g. 500ms, 5s, 1m or an integer number of milliseconds", s)
	}
	return d, nil
}

// StringList returns the list of strings at key (a single string is a
// one-element list), or nil when unset.
func (p *Params) StringList(key string) []string {
	v, ok := p.get(key)
	if !ok {
		return nil
	}
	switch l := v.(type) {
	case string:
		return []string{l}
	case []string:
		return l
	case []any:
		out := make([]string, 0, len(l))
		for i, e := range l {
			s, ok := atomText(e)
			if !ok {
				p.Fail(key, "item %d: want a string, got %s", i+1, describe(e))
				continue
			}
			out = append(out, s)
		}
		return out
	}
	p.Fail(key, "want a list of strings, got %s", describe(v))
	return nil
}

// Err returns every error recorded so far, plus one per key that no getter
// asked for (an unknown key, with a suggestion), or nil.
func (p *Params) Err() error {
	errs := slices.Clone(p.errs)
	var unknown []string
	for k := range p.m {
		if !p.known[k] {
			unknown = append(unknown, k)
		}
	}
	sort.Strings(unknown)
	known := make([]string, 0, len(p.known))
	for k := range p.known {
		known = append(known, k)
	}
	sort.Strings(known)
	for _, k := range unknown {
		msg := "unknown key"
		if s := Nearest(k, known); s != "" {
			msg += fmt.Sprintf("; did you mean %q?", s)
		}
		msg += " (known keys: " + strings.Join(known, ", ") + ")"
		errs = append(errs, &ParamError{Key: k, Msg: msg})
	}
	return errors.Join(errs...)
}

// Nearest returns the candidate closest to s by edit distance, if it is
// close enough to be a likely typo, else "".
func Nearest(s string, candidates []string) string {
	best, bestD := "", math.MaxInt
	for _, c := range candidates {
		if d := editDistance(strings.ToLower(s), strings.ToLower(c)); d < bestD {
			best, bestD = c, d
		}
	}
	if bestD <= max(2, len(s)/3) {
		return best
	}
	return ""
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func asInt(v any) (int, bool) {
	switch n := v.(type) {
	case int:
		return n, true
	case int64:
		return int(n), true
	case uint64:
		if n <= math.MaxInt64 {
			return int(n), true
		}
	case float64:
		if n == math.Trunc(n) && math.Abs(n) < 1<<53 {
			return int(n), true
		}
	}
	return 0, false
}

func describe(v any) string {
	switch x := v.(type) {
	case nil:
		return "nothing"
	case string:
		return strconv.Quote(x)
	case bool, int, int64, uint64, float64:
		return fmt.Sprintf("%T %v", x, x)
	case []any:
		return "a list"
	case map[string]any:
		return "a map"
	}
	return fmt.Sprintf("a %T", v)
}
