package strategy

import (
	"errors"
	"fmt"
	"time"
)

// Validator is a mechanism's Config: Validate reports every invalid field.
type Validator interface {
	Validate() error
}

// Checked ends a ConfigFromParams: it returns c when p recorded no error (a
// wrong type, an unknown key) and c.Validate passes, else the zero value
// and the error.
func Checked[C Validator](p *Params, c C) (C, error) {
	var zero C
	if err := p.Err(); err != nil {
		return zero, err
	}
	if err := c.Validate(); err != nil {
		return zero, err
	}
	return c, nil
}

// Problems collects what a Config's Validate finds, one [ParamError] per
// key. The zero value is empty and ready to use.
type Problems []error

// Add records a problem with key.
func (ps *Problems) Add(key, format string, args ...any) {
	*ps = append(*ps, &ParamError{Key: key, Msg: fmt.Sprintf(format, args...)})
}

// Port records a problem with key when port is outside 0..65535 (0 is
// left to mean a default).
func (ps *Problems) Port(key string, port int) {
	if port < 0 || port > 65535 {
		ps.Add(key, "%d is out of range; allowed 1..65535", port)
	}
}

// NotNegative records a problem with key when d is negative; example is
// a valid value for the message, e.g. "5s".
func (ps *Problems) NotNegative(key string, d time.Duration, example string) {
	if d < 0 {
		ps.Add(key, "%v is negative; give a positive duration such as %s", d, example)
	}
}

// Err joins the problems into one error, or returns nil when there is none.
func (ps Problems) Err() error { return errors.Join(ps...) }
