//go:build !linux

package agent

import "time"

// bootClock is Go's monotonic clock where CLOCK_BOOTTIME does not exist.
func bootClock() time.Duration { return monoClock() }
