package agent

// The server's health, probed in the background: status answers report the
// last result and never wait on the server.

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
	"time"
)

// Health loop timing.
const (
	healthPeriod  = 100 * time.Millisecond // a greeting probe
	probeTimeout  = 300 * time.Millisecond // connect + greeting
	varsPeriod    = 250 * time.Millisecond // read_only and Uptime, when the greeting is ok
	varsTimeout   = 300 * time.Millisecond
	readOnlyFresh = time.Second // an older read_only is reported as unknown
	// uptimeSlack absorbs Uptime's whole seconds when comparing it with the
	// time that passed between two readings.
	uptimeSlack = 2 * time.Second
)

// ProbeServer connects to a MySQL/MariaDB server at addr ("host:port", or a
// unix socket path starting with "/") and reads its greeting within timeout.
// The state is ProbeOK (it greeted, or answered with an error packet such as
// "too many connections": the server is alive), ProbeRefused (nothing
// listens), ProbeFrozen (connected, no greeting in time: a stopped or hung
// server), ProbeTimeout (no connection in time: host or network lost) or
// ProbeError; detail is the server version or the error, for people. It
// sends nothing and logs in as nobody.
func ProbeServer(ctx context.Context, addr string, timeout time.Duration) (state, detail string) {
	network := "tcp"
	if strings.HasPrefix(addr, "/") {
		network = "unix"
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return classifyDial(ctx, err)
	}
	defer conn.Close()
	deadline, _ := ctx.Deadline()
	_ = conn.SetReadDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { _ = conn.SetReadDeadline(time.Now()) })
	defer stop()
	var hdr [4]byte
	if _, err := io.ReadFull(conn, hdr[:]); err != nil {
		return classifyRead(err)
	}
	n := int(hdr[0]) | int(hdr[1])<<8 | int(hdr[2])<<16
	if n < 1 {
		return ProbeError, "empty greeting packet"
	}
	body := make([]byte, min(n, 512))
	if _, err := io.ReadFull(conn, body); err != nil {
		return classifyRead(err)
	}
	switch body[0] {
	case 10: // protocol 10 handshake: the version string follows, NUL-terminated
		v := body[1:]
		if i := strings.IndexByte(string(v), 0); i >= 0 {
			v = v[:i]
		}
		return ProbeOK, string(v)
	case 0xff: // an error packet: the server is alive but refuses this client
		msg := ""
		code := 0
		if len(body) >= 3 {
			code = int(binary.LittleEndian.Uint16(body[1:3]))
			msg = string(body[3:])
			if strings.HasPrefix(msg, "#") && len(msg) >= 6 {
				msg = msg[6:]
			}
		}
		return ProbeOK, fmt.Sprintf("server answered error %d: %s", code, msg)
	}
	return ProbeError, fmt.Sprintf("not a MySQL greeting (first byte %#x)", body[0])
}

func classifyDial(ctx context.Context, err error) (string, string) {
	switch {
	case errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ENOENT):
		return ProbeRefused, err.Error()
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH), errors.Is(err, syscall.EHOSTDOWN):
		return ProbeTimeout, err.Error()
	case ctx.Err() != nil && errors.Is(ctx.Err(), context.DeadlineExceeded), isTimeout(err):
		return ProbeTimeout, "no connection within the timeout: " + err.Error()
	}
	return ProbeError, err.Error()
}

func classifyRead(err error) (string, string) {
	if isTimeout(err) {
		return ProbeFrozen, "connected, but no greeting within the timeout"
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) {
		return ProbeError, "connection closed before the greeting"
	}
	return ProbeError, err.Error()
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}

// healthState is the health loop's last results, under hmu.
type healthState struct {
	started   bool
	state     string
	detail    string
	at        time.Duration // when the last probe ended
	since     time.Duration // when state began
	restarts  int
	readOnly  *bool
	roErr     string
	varsAt    time.Duration // when read_only and Uptime were last read (or tried)
	roAt      time.Duration // when readOnly was last known good
	uptime    time.Duration
	uptimeAt  time.Duration
	hasUptime bool
	refused   bool // the server refused connections since the last Uptime reading
}

// fillHealth puts the cached server health into st. Called with mu held
// (takes hmu).
func (a *Agent) fillHealth(st *Status, now time.Duration) {
	a.hmu.Lock()
	defer a.hmu.Unlock()
	h := &a.health
	if !h.started {
		st.ReadOnlyError = "the agent has not probed its server yet"
		return
	}
	st.Server = &ServerHealth{State: h.state, Detail: h.detail, Age: Duration(now - h.at), Since: Duration(now - h.since), Restarts: h.restarts}
	switch {
	case h.readOnly != nil && now-h.roAt <= readOnlyFresh:
		ro := *h.readOnly
		st.ReadOnly = &ro
	case h.roErr != "":
		st.ReadOnlyError = h.roErr
	case h.state != ProbeOK:
		st.ReadOnlyError = "server " + h.state + ": " + h.detail
	default:
		st.ReadOnlyError = "read_only not read yet"
	}
}

// setCachedReadOnly records a read_only the agent itself just set.
func (a *Agent) setCachedReadOnly(ro bool) {
	a.hmu.Lock()
	defer a.hmu.Unlock()
	a.health.readOnly, a.health.roErr, a.health.roAt = &ro, "", a.now()
}

// healthLoop probes the server every healthPeriod until ctx ends, and
// checks the lease on the agent's clock (a backstop for a timer that a
// suspend of the machine delayed).
func (a *Agent) healthLoop(ctx context.Context) {
	t := time.NewTicker(healthPeriod)
	defer t.Stop()
	for {
		a.probeOnce(ctx)
		a.checkLease()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (a *Agent) checkLease() {
	a.mu.Lock()
	ls := a.lease
	due := a.mode == ModeLease && ls != nil && !ls.expired && a.now() >= ls.holdsUntil()
	a.mu.Unlock()
	if due {
		a.expire(ls)
	}
}

// probeOnce takes one probe (and, every varsPeriod while the server
// greets, read_only and Uptime) and reacts to a server restart.
func (a *Agent) probeOnce(ctx context.Context) {
	state, detail := a.db.Probe(ctx, probeTimeout)
	if ctx.Err() != nil {
		return
	}
	now := a.now()
	a.hmu.Lock()
	h := &a.health
	if !h.started || h.state != state {
		if h.started {
			a.log.Info("server state changed", "from", h.state, "to", state, "detail", detail)
		}
		h.since = now
	}
	h.started, h.state, h.detail, h.at = true, state, detail, now
	if state == ProbeRefused {
		h.refused = true
	}
	needVars := state == ProbeOK && now-h.varsAt >= varsPeriod
	if needVars {
		h.varsAt = now
	}
	a.hmu.Unlock()
	if !needVars {
		return
	}
	vctx, cancel := context.WithTimeout(ctx, varsTimeout)
	v, err := a.db.Vars(vctx)
	cancel()
	if ctx.Err() != nil {
		return
	}
	now = a.now()
	restart := false
	a.hmu.Lock()
	if err != nil {
		h.readOnly, h.roErr = nil, err.Error()
	} else {
		ro := v.ReadOnly
		h.readOnly, h.roErr, h.roAt = &ro, "", now
		if h.hasUptime {
			// Uptime grows with the wall clock: less than the last reading
			// plus the time since is a new server process.
			restart = v.Uptime < h.uptime || v.Uptime+uptimeSlack < h.uptime+(now-h.uptimeAt)
		}
		// Refused, then greeting again: a new process (a frozen one that
		// thaws keeps its Uptime and is no restart).
		restart = restart || h.refused
		h.uptime, h.uptimeAt, h.hasUptime, h.refused = v.Uptime, now, true, false
		if restart {
			h.restarts++
		}
	}
	a.hmu.Unlock()
	if restart {
		a.serverRestarted(v)
	}
}

// serverRestarted applies the belt: a new server process is set read_only
// at once (its configuration should already say so) unless the agent holds
// a valid lease with an exclusive role. No VIP step in static mode (a
// cluster run by `mmm apply` keeps its addresses) and never a SIGKILL: the
// server just came up.
func (a *Agent) serverRestarted(v ServerVars) {
	a.mu.Lock()
	writer := a.leaseValid() && a.holdsExclusive()
	if writer || !a.fenceable {
		a.mu.Unlock()
		a.log.Warn("server restarted", "uptime", v.Uptime, "read_only", v.ReadOnly, "writer_lease", writer)
		return
	}
	a.log.Warn("server restarted without a writer lease: fencing it", "uptime", v.Uptime, "read_only", v.ReadOnly)
	run := a.fenceStart(fenceOpts{why: "server restarted", dropVIPs: a.mode == ModeLease, kill: killNever})
	a.mu.Unlock()
	a.fenceFinish(run)
}

// holdsExclusive: the agent announces (holds) an exclusive VIP. Called with
// mu held.
func (a *Agent) holdsExclusive() bool {
	for _, an := range a.announcing {
		if an.exclusive {
			return true
		}
	}
	return false
}
