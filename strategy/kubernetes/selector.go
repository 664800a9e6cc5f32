package kubernetes

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
)

// checkSelector validates a label selector in the syntax the API server
// and kubectl -l take: comma-separated requirements, each one of key,
// !key, key=value, key==value, key!=value, key in (v1,v2), key notin (v1),
// key>N or key<N. Keys are [prefix/]name, values are label values.
func checkSelector(sel string) error {
	reqs, err := splitTop(sel)
	if err != nil {
		return err
	}
	for _, r := range reqs {
		if err := checkRequirement(strings.TrimSpace(r)); err != nil {
			return err
		}
	}
	return nil
}

// splitTop splits at the commas outside parentheses.
func splitTop(sel string) ([]string, error) {
	var out []string
	depth, start := 0, 0
	for i, ch := range sel {
		switch ch {
		case '(':
			if depth++; depth > 1 {
				return nil, errors.New("nested '('")
			}
		case ')':
			if depth--; depth < 0 {
				return nil, errors.New("')' without '('")
			}
		case ',':
			if depth == 0 {
				out = append(out, sel[start:i])
				start = i + 1
			}
		}
	}
	if depth != 0 {
		return nil, errors.New("'(' without ')'")
	}
	return append(out, sel[start:]), nil
}

var (
	selSet  = lazyRegexp(`^([^\s!=<>(),]+)\s+(in|notin)\s*\((.*)\)$`)
	selCmp  = lazyRegexp(`^([^\s!=<>(),]+)\s*(==|=|!=|<|>)\s*([^\s!=<>(),]*)$`)
	selNot  = lazyRegexp(`^!\s*([^\s!=<>(),]+)$`)
	selKey  = lazyRegexp(`^[^\s!=<>(),]+$`)
	selName = lazyRegexp(`^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$`)
)

func checkRequirement(r string) error {
	if r == "" {
		return errors.New("an empty requirement (a stray ',')")
	}
	if m := selSet.FindStringSubmatch(r); m != nil {
		if err := checkLabelKey(m[1]); err != nil {
			return err
		}
		vals := strings.Split(m[3], ",")
		if strings.TrimSpace(m[3]) == "" {
			return fmt.Errorf("%q: %s needs at least one value", r, m[2])
		}
		for _, v := range vals {
			if err := checkLabelValue(strings.TrimSpace(v)); err != nil {
				return err
			}
		}
		return nil
	}
	if m := selCmp.FindStringSubmatch(r); m != nil {
		if err := checkLabelKey(m[1]); err != nil {
			return err
		}
		if m[2] == "<" || m[2] == ">" {
			if _, err := strconv.ParseInt(m[3], 10, 64); err != nil {
				return fmt.Errorf("%q: %s needs an integer, got %q", r, m[2], m[3])
			}
			return nil
		}
		return checkLabelValue(m[3])
	}
	if m := selNot.FindStringSubmatch(r); m != nil {
		return checkLabelKey(m[1])
	}
	if selKey.MatchString(r) {
		return checkLabelKey(r)
	}
	return fmt.Errorf("%q is not a requirement", r)
}

func checkLabelKey(k string) error {
	name := k
	if prefix, n, ok := strings.Cut(k, "/"); ok {
		if len(prefix) > 253 || !dnsSubdomain.MatchString(prefix) {
			return fmt.Errorf("label key %q: prefix %q is not a DNS subdomain", k, prefix)
		}
		name = n
	}
	if len(name) > 63 || !selName.MatchString(name) {
		return fmt.Errorf("label key %q: name %q must be 1-63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit", k, name)
	}
	return nil
}

func checkLabelValue(v string) error {
	if v == "" {
		return nil
	}
	if len(v) > 63 || !selName.MatchString(v) {
		return fmt.Errorf("label value %q must be at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit", v)
	}
	return nil
}

var dnsSubdomain = lazyRegexp(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)

// lazyRE is a regular expression compiled on first use, so that linking
// the strategy costs no allocations at program start.
type lazyRE struct {
	once sync.Once
	expr string
	re   *regexp.Regexp
}

func lazyRegexp(expr string) *lazyRE { return &lazyRE{expr: expr} }

func (l *lazyRE) get() *regexp.Regexp {
	l.once.Do(func() { l.re = regexp.MustCompile(l.expr) })
	return l.re
}

// MatchString is regexp.Regexp's.
func (l *lazyRE) MatchString(s string) bool { return l.get().MatchString(s) }

// FindStringSubmatch is regexp.Regexp's.
func (l *lazyRE) FindStringSubmatch(s string) []string { return l.get().FindStringSubmatch(s) }
