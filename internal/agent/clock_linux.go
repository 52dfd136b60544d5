//go:build linux

package agent

import (
	"time"

	"golang.org/x/sys/unix"
)

// bootClock reads CLOCK_BOOTTIME: monotonic, and it keeps counting while the
// machine is suspended (a paused VM, a laptop lid), which CLOCK_MONOTONIC
// (Go's monotonic clock) does not. Nonce ages and lease ends are measured on
// it, so a host that wakes up after a long pause sees its lease long gone
// instead of holding it for the time it slept.
func bootClock() time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts); err != nil {
		return monoClock()
	}
	return time.Duration(ts.Nano())
}
