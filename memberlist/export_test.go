package memberlist

import "time"

// SetCoolDown sets the back-off of a failed address for a test.
func SetCoolDown(base, most time.Duration) (restore func()) {
	b, m := coolBase, coolMax
	coolBase, coolMax = base, most
	return func() { coolBase, coolMax = b, m }
}
