package watch

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/mysql-mmm/mmm/internal/command"
	"github.com/mysql-mmm/mmm/internal/topology"
)

// Builtin check names (MMM's).
const (
	CheckPing       = "ping"
	CheckMySQL      = "mysql"
	CheckRepThreads = "rep_threads"
	CheckRepBacklog = "rep_backlog"
)

// DefaultMaxBacklog is rep_backlog's limit in seconds when the file sets none.
const DefaultMaxBacklog = 60

// DefaultCheckTimeout bounds one check when the file sets none.
const DefaultCheckTimeout = 2 * time.Second

// Result is one run of one check on one host.
type Result struct {
	OK      bool
	Detail  string // "OK: ..." / "ERROR: ..." as mmm_control checks prints
	Latency time.Duration
	At      time.Time
}

// CheckStatus is what the tracker knows of one check of one host.
type CheckStatus struct {
	Host, Check string
	Last        Result
	// FailingSince is when the check started failing without a success in
	// between; zero while it passes.
	FailingSince time.Time
	// Failed is true once it has failed continuously for the trap period:
	// only then does it count (a single lost packet is not a dead host).
	Failed bool
}

// Tracker remembers check results and applies the trap period.
type Tracker struct {
	checks map[string]*topology.Check // by name
	status map[string]map[string]*CheckStatus
}

// NewTracker takes the cluster's checks, filling zero periods and timeouts
// from the monitor block.
func NewTracker(c *topology.Cluster) *Tracker {
	t := &Tracker{checks: map[string]*topology.Check{}, status: map[string]map[string]*CheckStatus{}}
	for _, name := range []string{CheckPing, CheckMySQL, CheckRepThreads, CheckRepBacklog} {
		t.checks[name] = &topology.Check{Name: name}
	}
	for _, ch := range c.Checks {
		cp := *ch
		t.checks[ch.Name] = &cp
	}
	for _, ch := range t.checks {
		if ch.Period <= 0 {
			ch.Period = c.Monitor.CheckPeriod
		}
		if ch.Period <= 0 {
			ch.Period = time.Second
		}
		if ch.TrapPeriod <= 0 {
			ch.TrapPeriod = c.Monitor.TrapPeriod
		}
		if ch.Timeout <= 0 {
			ch.Timeout = DefaultCheckTimeout
		}
		if ch.Name == CheckRepBacklog && ch.MaxBacklog <= 0 {
			ch.MaxBacklog = DefaultMaxBacklog
		}
	}
	return t
}

// Check returns the configuration of a check, or nil.
func (t *Tracker) Check(name string) *topology.Check { return t.checks[name] }

// Checks returns the names of every check, builtins first.
func (t *Tracker) Checks() []string {
	out := []string{CheckPing, CheckMySQL, CheckRepThreads, CheckRepBacklog}
	var custom []string
	for name := range t.checks {
		if !builtin(name) {
			custom = append(custom, name)
		}
	}
	sortStrings(custom)
	return append(out, custom...)
}

func builtin(name string) bool {
	switch name {
	case CheckPing, CheckMySQL, CheckRepThreads, CheckRepBacklog:
		return true
	}
	return false
}

// Due reports whether check should run on host at now (its period elapsed).
func (t *Tracker) Due(host, check string, now time.Time) bool {
	st := t.status[host][check]
	ch := t.checks[check]
	return st == nil || ch == nil || now.Sub(st.Last.At) >= ch.Period
}

// Record stores a result and returns the check's status after it.
func (t *Tracker) Record(host, check string, r Result) *CheckStatus {
	if t.status[host] == nil {
		t.status[host] = map[string]*CheckStatus{}
	}
	st := t.status[host][check]
	if st == nil {
		st = &CheckStatus{Host: host, Check: check}
		t.status[host][check] = st
	}
	st.Last = r
	if r.OK {
		st.FailingSince = time.Time{}
		st.Failed = false
		return st
	}
	if st.FailingSince.IsZero() {
		st.FailingSince = r.At
	}
	trap := time.Duration(0)
	if ch := t.checks[check]; ch != nil {
		trap = ch.TrapPeriod
	}
	st.Failed = r.At.Sub(st.FailingSince) >= trap
	return st
}

// Reset forgets check's failing streak on every host: its results from
// before were about a world that changed (replication checks after a
// failover repointed every replica), so a new streak must build up.
func (t *Tracker) Reset(check string) {
	for _, m := range t.status {
		if st := m[check]; st != nil {
			st.FailingSince, st.Failed = time.Time{}, false
			st.Last.OK = true
		}
	}
}

// Status returns the status of host's check (nil before its first run).
func (t *Tracker) Status(host, check string) *CheckStatus { return t.status[host][check] }

// OK reports whether the check counts as passing: never run, passing, or
// failing for less than its trap period.
func (t *Tracker) OK(host, check string) bool {
	st := t.Status(host, check)
	return st == nil || !st.Failed
}

// --- evaluating what the checks saw (pure) ---------------------------------

// erTooManyConnections is MySQL's "Too many connections": the server is up
// and answering, only full, so the mysql check passes.
const erTooManyConnections = 1040

// EvalMySQL turns the error of the mysql check's query into a verdict.
func EvalMySQL(err error) (bool, string) {
	if err == nil {
		return true, "OK"
	}
	var me *mysql.MySQLError
	if errors.As(err, &me) && me.Number == erTooManyConnections {
		return true, "OK: too many connections (the server is alive)"
	}
	return false, "ERROR: " + err.Error()
}

// EvalRepThreads: both replication threads run. A host with no replication
// channel (a writer of a single-master cluster) passes.
func EvalRepThreads(lh *topology.LiveHost) (bool, string) {
	if lh == nil || !lh.Reachable {
		return false, "ERROR: host not inspected"
	}
	rs := lh.Replica
	if rs == nil {
		return true, "OK: no replication channel"
	}
	if rs.Running() {
		return true, "OK"
	}
	detail := fmt.Sprintf("ERROR: Replication is broken (IO %s, SQL %s)", orNo(rs.IORunning), orNo(rs.SQLRunning))
	if rs.LastSQLErrno != 0 {
		detail += fmt.Sprintf("; SQL error %d: %s", rs.LastSQLErrno, rs.LastSQLError)
	}
	if rs.LastIOErrno != 0 {
		detail += fmt.Sprintf("; IO error %d: %s", rs.LastIOErrno, rs.LastIOError)
	}
	return false, detail
}

// EvalRepBacklog: Seconds_Behind_Master within max. NULL (threads stopped)
// passes, as in MMM: a stopped replica is rep_threads' business.
func EvalRepBacklog(lh *topology.LiveHost, max int) (bool, string) {
	if lh == nil || !lh.Reachable {
		return false, "ERROR: host not inspected"
	}
	if lh.Replica == nil || lh.Replica.SecondsBehind == nil {
		return true, "OK: Backlog is null"
	}
	behind := *lh.Replica.SecondsBehind
	if behind > int64(max) {
		return false, fmt.Sprintf("ERROR: Backlog is %d seconds (max %d)", behind, max)
	}
	return true, "OK: Backlog is " + strconv.FormatInt(behind, 10)
}

func orNo(s string) string {
	if s == "" {
		return "No"
	}
	return s
}

// --- running checks (I/O) --------------------------------------------------

// Custom runs a custom check's command with the host's name and address as
// arguments appended and MMM_HOST/MMM_ADDRESS in the environment; exit 0 passes.
// It runs through internal/command: a minimal environment (never the watch's
// secrets), its own process group killed whole at the timeout.
func Custom(ctx context.Context, ch *topology.Check, h *topology.Host) Result {
	t0 := time.Now()
	if len(ch.Command) == 0 {
		return Result{At: t0, Detail: "ERROR: no command"}
	}
	argv := append(append([]string{}, ch.Command...), h.Name, h.Address)
	res := command.Run(ctx, command.Spec{
		Argv:    argv,
		Env:     []string{"MMM_HOST=" + h.Name, "MMM_ADDRESS=" + h.Address},
		Timeout: ch.Timeout,
	})
	r := Result{At: t0, Latency: time.Since(t0)}
	switch {
	case errors.Is(res.Err, command.ErrTimeout):
		r.Detail = fmt.Sprintf("ERROR: no answer within %s", ch.Timeout)
	case res.Err != nil:
		r.Detail = "ERROR: " + res.Err.Error()
	default:
		r.OK, r.Detail = true, "OK: "+firstLine([]byte(res.Output))
	}
	return r
}

func firstLine(b []byte) string {
	for i, c := range b {
		if c == '\n' {
			return string(b[:i])
		}
	}
	if len(b) > 200 {
		b = b[:200]
	}
	return string(b)
}
