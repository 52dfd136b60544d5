// Package drill rehearses switchovers on a real cluster: it moves the writer
// to the standby and back, round after round, under a small synthetic write
// load, and measures what clients would see: the longest gap between
// acknowledged writes, the time until every replica follows the new writer,
// and acknowledged rows missing on the new writer (must be none).
//
// The load writes into a scratch schema, mmm_drill, as a scratch account,
// mmm_drill, that holds INSERT and SELECT on that schema alone: an account
// that cannot write past read_only, so a fenced old writer refuses it as it
// would refuse an application. Both are created on the writer with the
// binary log on, so they replicate like application data (the rows must
// reach the new writer for "rows lost" to mean anything), and dropped the
// same way at the end: the replicas' data holds nothing of the drill
// afterwards, only their GTID positions moved on.
package drill

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/mysql-mmm/mmm/apply"
	"github.com/mysql-mmm/mmm/internal/conn"
	"github.com/mysql-mmm/mmm/internal/flavor"
	"github.com/mysql-mmm/mmm/internal/inspect"
	"github.com/mysql-mmm/mmm/internal/topology"
	"github.com/mysql-mmm/mmm/plan"
)

// Schema and Account are the drill's scratch schema and account.
const (
	Schema  = "mmm_drill"
	Account = "mmm_drill"
	table   = Schema + ".writes"
)

// Options configure a drill.
type Options struct {
	Cluster *topology.Cluster
	// Inspect reads the live cluster as plan does.
	Inspect func(ctx context.Context) *topology.Live
	// Move makes to the writer: through the running watch's move-role, or
	// as apply does. It is never cancelled halfway: a Ctrl-C waits for it.
	Move func(ctx context.Context, to string) error
	// Via says how Move moves (for the report).
	Via string
	// Rounds: each round moves the writer to the standby and back.
	Rounds int
	// Timeouts of the drill's own connections.
	Timeouts conn.Timeouts
	// FollowTimeout bounds the wait for every replica to follow (default 60s).
	FollowTimeout time.Duration
	// Progress receives one line per phase.
	Progress func(line string)
	Logger   *slog.Logger
}

// MoveReport is one measured move.
type MoveReport struct {
	Round int    `json:"round"`
	From  string `json:"from"`
	To    string `json:"to"`
	// Took is how long the move itself ran (the move-role call or apply).
	Took Duration `json:"took"`
	// WriteBlocked is the longest gap between two acknowledged writes
	// around the move: what a client saw as the outage.
	WriteBlocked Duration `json:"write_blocked"`
	// Follow is from the move's start until every other host replicates
	// from the new writer and applied what it held after the move.
	Follow Duration `json:"replicas_follow"`
	// Writes is the number of writes acknowledged during the move window.
	Writes      int     `json:"writes"`
	RowsChecked int     `json:"rows_checked"`
	RowsLost    int     `json:"rows_lost"`
	Lost        []int64 `json:"lost,omitempty"` // the first lost ones
	// LoadError is the last error a write got during the move (what a
	// client saw while it was blocked).
	LoadError string `json:"load_error,omitempty"`
	Error     string `json:"error,omitempty"`
}

// Report is the whole drill.
type Report struct {
	Cluster     string       `json:"cluster"`
	Via         string       `json:"via"`
	Writer      string       `json:"writer"`  // at the start
	Standby     string       `json:"standby"` // the host it moved to and back from
	Target      string       `json:"target"`  // where the load connects
	Rounds      int          `json:"rounds"`
	Moves       []MoveReport `json:"moves"`
	Acked       int          `json:"writes_acknowledged"`
	RowsLost    int          `json:"rows_lost"`
	FinalWriter string       `json:"final_writer"`
	Interrupted bool         `json:"interrupted,omitempty"`
	Error       string       `json:"error,omitempty"`
}

// Duration is a time.Duration that is a number of seconds in JSON.
type Duration time.Duration

func (d Duration) MarshalJSON() ([]byte, error) {
	return []byte(fmt.Sprintf("%.3f", time.Duration(d).Seconds())), nil
}

func (d *Duration) UnmarshalJSON(b []byte) error {
	var secs float64
	if err := json.Unmarshal(b, &secs); err != nil {
		return fmt.Errorf("duration in seconds: %w", err)
	}
	*d = Duration(time.Duration(secs * float64(time.Second)))
	return nil
}

func (d Duration) String() string { return round(time.Duration(d)).String() }

func round(d time.Duration) time.Duration {
	if d >= time.Second {
		return d.Round(10 * time.Millisecond)
	}
	return d.Round(time.Millisecond)
}

// ErrUnhealthy: the drill refuses to start.
var ErrUnhealthy = errors.New("the cluster is not healthy: no drill")

// Check says why the cluster is not fit for a drill (nil: it is): every
// host reachable (and its agent), exactly one writable master, every other
// host replicating from it with both threads running and no error, and a
// plan with no changes and no errors. It returns the writer and the
// standby (the writer role's other reachable host, prefer first).
func Check(c *topology.Cluster, live *topology.Live, now time.Time) (writer, standby string, err error) {
	var why []string
	if down := apply.Unreachable(c, live); len(down) > 0 {
		why = append(why, "unreachable: "+strings.Join(down, "; "))
	}
	writer = plan.LiveWriters(c, live)
	role := c.WriterRole()
	switch {
	case role == nil:
		why = append(why, "the cluster has no writer role")
	case writer == "" || strings.Contains(writer, "+"):
		why = append(why, fmt.Sprintf("want exactly one writable master, found %q", writer))
		writer = ""
	}
	if writer != "" {
		w := c.Host(writer)
		for _, h := range c.Hosts {
			if h.Name == writer {
				continue
			}
			lh := live.Hosts[h.Name]
			if lh == nil || !lh.Reachable {
				continue
			}
			rs := lh.Replica
			switch {
			case rs == nil:
				why = append(why, h.Name+" does not replicate")
			case rs.SourceHost != w.Address && rs.SourceHost != w.Name:
				why = append(why, fmt.Sprintf("%s replicates from %s, not from the writer %s", h.Name, rs.SourceHost, writer))
			case !rs.Running() || rs.LastIOErrno != 0 || rs.LastSQLErrno != 0:
				why = append(why, fmt.Sprintf("%s's replication is not sane (IO %s, SQL %s, errors %d/%d)", h.Name, rs.IORunning, rs.SQLRunning, rs.LastIOErrno, rs.LastSQLErrno))
			}
		}
		for _, name := range append([]string{role.Prefer}, role.Hosts...) {
			if name == "" || name == writer || standby != "" {
				continue
			}
			if lh := live.Hosts[name]; lh != nil && lh.Reachable {
				standby = name
			}
		}
		if standby == "" {
			why = append(why, "the writer role has no other reachable host to move to")
		}
	}
	p := plan.Diff(c, live, plan.Options{Now: now})
	switch {
	case p.HasErrors():
		why = append(why, "the plan has errors (mmm plan shows them)")
	case p.Changes() > 0:
		why = append(why, fmt.Sprintf("the plan has %d change(s): run mmm apply first (mmm plan shows them)", p.Changes()))
	}
	if len(why) > 0 {
		return writer, standby, fmt.Errorf("%w: %s", ErrUnhealthy, strings.Join(why, "; "))
	}
	return writer, standby, nil
}

// Run runs the drill. ctx ending (Ctrl-C) stops it after the move in
// flight; the scratch schema and account are dropped in any case. The
// report is returned also with an error.
func Run(ctx context.Context, o Options) (*Report, error) {
	if o.Rounds < 1 {
		o.Rounds = 1
	}
	if o.FollowTimeout <= 0 {
		o.FollowTimeout = time.Minute
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Progress == nil {
		o.Progress = func(string) {}
	}
	c := o.Cluster
	rep := &Report{Cluster: c.Name, Via: o.Via, Rounds: o.Rounds}
	live := o.Inspect(ctx)
	writer, standby, err := Check(c, live, time.Now())
	if err != nil {
		return rep, err
	}
	rep.Writer, rep.Standby, rep.FinalWriter = writer, standby, writer

	// Cleanup runs on its own context: a Ctrl-C must not skip it.
	bg := context.WithoutCancel(ctx)
	password, err := randomPassword()
	if err != nil {
		return rep, err
	}
	if err := setUp(bg, c, writer, password, o.Timeouts); err != nil {
		tearDown(bg, c, writer, o.Timeouts, o.Logger)
		return rep, err
	}
	o.Progress(fmt.Sprintf("created %s and account %s on %s (replicated)", Schema, Account, writer))

	target := loadTarget(c)
	cur := &currentWriter{name: writer}
	rep.Target = target
	if target == "" {
		rep.Target = "the writer's own address"
	}
	ld := startLoad(c, target, cur, password, o.Timeouts)
	defer func() {
		rep.Acked = ld.stop()
		final := cur.get()
		if w := plan.LiveWriters(c, o.Inspect(bg)); w != "" {
			final = w
		}
		rep.FinalWriter = final
		tearDown(bg, c, final, o.Timeouts, o.Logger)
		o.Progress(fmt.Sprintf("dropped %s and account %s on %s", Schema, Account, final))
	}()
	if err := ld.waitAck(ctx, time.Now(), 10*time.Second); err != nil {
		return rep, fmt.Errorf("the load could not write through %s: %w", rep.Target, err)
	}

	moves := 0
	for round := 1; round <= o.Rounds; round++ {
		for _, to := range []string{standby, writer} {
			if ctx.Err() != nil {
				rep.Interrupted = true
				o.Progress("interrupted: no further move; the writer is " + cur.get())
				return rep, nil
			}
			moves++
			from := cur.get()
			o.Progress(fmt.Sprintf("round %d/%d, move %d: %s -> %s via %s (%d writes acknowledged so far)", round, o.Rounds, moves, from, to, o.Via, ld.count()))
			m := o.move(bg, ld, cur, round, from, to)
			rep.Moves = append(rep.Moves, m)
			rep.RowsLost += m.RowsLost
			o.Progress(fmt.Sprintf("round %d/%d, move %d: %s -> %s: took %s, writes blocked %s, replicas followed after %s, %d rows checked, %d lost%s",
				round, o.Rounds, moves, from, to, m.Took, m.WriteBlocked, m.Follow, m.RowsChecked, m.RowsLost, errSuffix(m.Error)))
			if m.Error != "" {
				return rep, fmt.Errorf("move %d (%s -> %s): %s", moves, from, to, m.Error)
			}
		}
	}
	if rep.RowsLost > 0 {
		return rep, fmt.Errorf("%d acknowledged rows lost", rep.RowsLost)
	}
	return rep, nil
}

func errSuffix(e string) string {
	if e == "" {
		return ""
	}
	return "; ERROR: " + e
}

// move runs one move and measures it.
func (o Options) move(ctx context.Context, ld *load, cur *currentWriter, round int, from, to string) MoveReport {
	c := o.Cluster
	m := MoveReport{Round: round, From: from, To: to}
	start := time.Now()
	err := o.Move(ctx, to)
	end := time.Now()
	m.Took = Duration(end.Sub(start))
	if err != nil {
		m.Error = err.Error()
		return m
	}
	cur.set(to)
	// Writes must flow again before anything is judged.
	if err := ld.waitAck(ctx, end, 30*time.Second); err != nil {
		m.Error = "no write acknowledged after the move: " + err.Error()
		return m
	}
	m.WriteBlocked = Duration(ld.longestGap(start, end))
	m.Writes = ld.countBetween(start, end)
	if err := ld.errSince(start); err != nil {
		m.LoadError = err.Error()
	}

	follow, err := waitFollow(ctx, c, to, o.Timeouts, o.FollowTimeout)
	m.Follow = Duration(follow.Sub(start))
	if err != nil {
		m.Error = err.Error()
		return m
	}
	checked, lost, err := checkRows(ctx, c, to, ld.ackedSoFar(), o.Timeouts)
	m.RowsChecked, m.RowsLost = checked, len(lost)
	if len(lost) > 10 {
		lost = lost[:10]
	}
	m.Lost = lost
	if err != nil {
		m.Error = err.Error()
	}
	return m
}

// loadTarget is where the load connects: the writer role's first VIP when
// agents place VIPs (what applications use), else "" (the writer itself).
func loadTarget(c *topology.Cluster) string {
	if role := c.WriterRole(); role != nil && c.Agent.Enabled && len(role.IPs) > 0 {
		return role.IPs[0]
	}
	return ""
}

type currentWriter struct {
	mu   sync.Mutex
	name string
}

func (w *currentWriter) get() string     { w.mu.Lock(); defer w.mu.Unlock(); return w.name }
func (w *currentWriter) set(name string) { w.mu.Lock(); w.name = name; w.mu.Unlock() }

func randomPassword() (string, error) {
	b := make([]byte, 18)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("drill: random password: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// setUp creates the scratch schema, table and account on the writer, with
// the binary log on (they replicate), and waits until every host has them.
func setUp(ctx context.Context, c *topology.Cluster, writer, password string, t conn.Timeouts) error {
	db, err := conn.Open(ctx, c.Host(writer), t)
	if err != nil {
		return fmt.Errorf("drill: %w", err)
	}
	defer db.Close()
	acct := flavor.Account(Account, "%")
	stmts := []string{
		"SET SESSION sql_log_bin = 1",
		"DROP USER IF EXISTS " + acct, // a drill killed before its cleanup
		"DROP DATABASE IF EXISTS " + Schema,
		"CREATE DATABASE " + Schema,
		"CREATE TABLE " + table + " (n BIGINT NOT NULL PRIMARY KEY, at DATETIME(6) NOT NULL)",
		"CREATE USER " + acct + " IDENTIFIED BY " + flavor.QuoteString(password),
		"GRANT INSERT, SELECT ON " + Schema + ".* TO " + acct,
	}
	for _, s := range stmts {
		qctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		_, err := db.ExecContext(qctx, s)
		cancel()
		if err != nil {
			if strings.Contains(s, "IDENTIFIED BY") {
				s = "CREATE USER " + acct // never the password
			}
			return fmt.Errorf("drill: on %s: %s: %w", writer, s, err)
		}
	}
	_, err = waitFollow(ctx, c, writer, t, 30*time.Second)
	return err
}

// tearDown drops the scratch account and schema on the writer, with the
// binary log on, so the replicas drop them too.
func tearDown(ctx context.Context, c *topology.Cluster, writer string, t conn.Timeouts, log *slog.Logger) {
	h := c.Host(writer)
	if h == nil {
		return
	}
	db, err := conn.Open(ctx, h, t)
	if err != nil {
		log.Error("drill: cannot drop the scratch schema and account", "host", writer, "error", err)
		return
	}
	defer db.Close()
	for _, s := range []string{"SET SESSION sql_log_bin = 1", "DROP USER IF EXISTS " + flavor.Account(Account, "%"), "DROP DATABASE IF EXISTS " + Schema} {
		qctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		_, err := db.ExecContext(qctx, s)
		cancel()
		if err != nil {
			log.Error("drill: cleanup", "host", writer, "statement", s, "error", err)
		}
	}
	if _, err := waitFollow(ctx, c, writer, t, 30*time.Second); err != nil {
		log.Warn("drill: the replicas have not applied the cleanup yet", "error", err)
	}
}

// waitFollow waits until every other reachable host replicates from writer
// (both threads running) and applied writer's position as read now. It
// returns when that happened.
func waitFollow(ctx context.Context, c *topology.Cluster, writer string, t conn.Timeouts, timeout time.Duration) (time.Time, error) {
	w := c.Host(writer)
	deadline := time.Now().Add(timeout)
	opts := inspect.Options{Timeouts: t}
	wl := inspect.InspectHost(ctx, c, w, opts)
	if !wl.Reachable {
		return time.Now(), fmt.Errorf("the writer %s is not reachable: %s", writer, wl.Error)
	}
	pos := plan.Executed(wl)
	for {
		var behind []string
		var mu sync.Mutex
		var wg sync.WaitGroup
		for _, h := range c.Hosts {
			if h.Name == writer {
				continue
			}
			wg.Go(func() {
				lh := inspect.InspectHost(ctx, c, h, opts)
				why := ""
				switch rs := lh.Replica; {
				case !lh.Reachable:
					why = "unreachable"
				case rs == nil || (rs.SourceHost != w.Address && rs.SourceHost != w.Name):
					why = "not replicating from " + writer
				case !rs.Running():
					why = fmt.Sprintf("threads IO %s SQL %s", rs.IORunning, rs.SQLRunning)
				case !plan.Executed(lh).Contains(pos):
					why = "behind " + pos.String()
				}
				if why != "" {
					mu.Lock()
					behind = append(behind, h.Name+" ("+why+")")
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		now := time.Now()
		if len(behind) == 0 {
			return now, nil
		}
		if now.After(deadline) || ctx.Err() != nil {
			sort.Strings(behind)
			return now, fmt.Errorf("not every replica follows %s within %s: %s", writer, timeout, strings.Join(behind, ", "))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// checkRows reads the table on host and returns how many acknowledged rows
// it checked and which are missing.
func checkRows(ctx context.Context, c *topology.Cluster, host string, acked []int64, t conn.Timeouts) (int, []int64, error) {
	db, err := conn.Open(ctx, c.Host(host), t)
	if err != nil {
		return 0, nil, fmt.Errorf("check rows: %w", err)
	}
	defer db.Close()
	qctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	rows, err := db.QueryContext(qctx, "SELECT n FROM "+table)
	if err != nil {
		return 0, nil, fmt.Errorf("check rows on %s: %w", host, err)
	}
	defer rows.Close()
	have := make(map[int64]bool, len(acked))
	for rows.Next() {
		var n int64
		if err := rows.Scan(&n); err != nil {
			return 0, nil, fmt.Errorf("check rows on %s: %w", host, err)
		}
		have[n] = true
	}
	if err := rows.Err(); err != nil {
		return 0, nil, fmt.Errorf("check rows on %s: %w", host, err)
	}
	var lost []int64
	for _, n := range acked {
		if !have[n] {
			lost = append(lost, n)
		}
	}
	return len(acked), lost, nil
}

// load writes one row at a time as the scratch account, and records every
// acknowledged write with the time of its acknowledgement.
type load struct {
	mu     sync.Mutex
	acked  []int64
	ackAt  []time.Time
	err    error
	errAt  time.Time
	stopCh chan struct{}
	done   chan struct{}
}

func startLoad(c *topology.Cluster, target string, cur *currentWriter, password string, t conn.Timeouts) *load {
	ld := &load{stopCh: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(ld.done)
		var db *sql.DB
		defer func() {
			if db != nil {
				db.Close()
			}
		}()
		for n := int64(1); ; {
			select {
			case <-ld.stopCh:
				return
			default:
			}
			if db == nil {
				var err error
				if db, err = openLoad(c, target, cur.get(), password); err != nil {
					ld.setErr(err)
					time.Sleep(20 * time.Millisecond)
					continue
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			_, err := db.ExecContext(ctx, "INSERT INTO "+table+" (n, at) VALUES (?, NOW(6))", n)
			cancel()
			if err != nil {
				// Not acknowledged (it may still have committed: then it is
				// a row nobody waits for). The next write asks again, on a
				// new connection: a fenced writer keeps refusing, the VIP
				// may have moved.
				ld.setErr(err)
				db.Close()
				db = nil
				n++
				time.Sleep(10 * time.Millisecond)
				continue
			}
			ld.mu.Lock()
			ld.acked = append(ld.acked, n)
			ld.ackAt = append(ld.ackAt, time.Now())
			ld.mu.Unlock()
			n++
			time.Sleep(5 * time.Millisecond)
		}
	}()
	return ld
}

// openLoad connects as the scratch account to the VIP, or to the writer's
// own address when there is no VIP.
func openLoad(c *topology.Cluster, target, writer, password string) (*sql.DB, error) {
	h := c.Host(writer)
	if h == nil {
		return nil, fmt.Errorf("no host %q", writer)
	}
	cfg := mysql.NewConfig()
	cfg.Net = "tcp"
	cfg.Addr = conn.Addr(h)
	if target != "" {
		vh := *h
		vh.Address = target
		cfg.Addr = conn.Addr(&vh)
	}
	cfg.User, cfg.Passwd = Account, password
	cfg.Timeout, cfg.ReadTimeout, cfg.WriteTimeout = 400*time.Millisecond, 2*time.Second, 2*time.Second
	cfg.AllowNativePasswords = true
	connector, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, err
	}
	db := sql.OpenDB(connector)
	db.SetMaxOpenConns(1)
	return db, nil
}

func (ld *load) setErr(err error) { ld.mu.Lock(); ld.err, ld.errAt = err, time.Now(); ld.mu.Unlock() }

// errSince is the last error a write got after t (nil: none).
func (ld *load) errSince(t time.Time) error {
	ld.mu.Lock()
	defer ld.mu.Unlock()
	if ld.errAt.Before(t) {
		return nil
	}
	return ld.err
}

func (ld *load) count() int { ld.mu.Lock(); defer ld.mu.Unlock(); return len(ld.acked) }

// stop ends the load and returns the number of acknowledged writes.
func (ld *load) stop() int {
	select {
	case <-ld.stopCh:
	default:
		close(ld.stopCh)
	}
	<-ld.done
	return ld.count()
}

func (ld *load) ackedSoFar() []int64 {
	ld.mu.Lock()
	defer ld.mu.Unlock()
	return append([]int64(nil), ld.acked...)
}

// waitAck waits for a write acknowledged after t.
func (ld *load) waitAck(ctx context.Context, t time.Time, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		ld.mu.Lock()
		ok := len(ld.ackAt) > 0 && ld.ackAt[len(ld.ackAt)-1].After(t)
		err := ld.err
		ld.mu.Unlock()
		if ok {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			if err == nil {
				err = errors.New("no write acknowledged")
			}
			return fmt.Errorf("within %s: %w", timeout, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// longestGap is the longest time between two consecutive acknowledged
// writes among those around [start, end]: from the last one before start to
// the first one after end.
func (ld *load) longestGap(start, end time.Time) time.Duration {
	ld.mu.Lock()
	defer ld.mu.Unlock()
	return longestGap(ld.ackAt, start, end)
}

func longestGap(acks []time.Time, start, end time.Time) time.Duration {
	var gap time.Duration
	for i := 1; i < len(acks); i++ {
		a, b := acks[i-1], acks[i]
		if b.Before(start) || a.After(end) {
			continue
		}
		gap = max(gap, b.Sub(a))
	}
	return gap
}

func (ld *load) countBetween(start, end time.Time) int {
	ld.mu.Lock()
	defer ld.mu.Unlock()
	n := 0
	for _, at := range ld.ackAt {
		if !at.Before(start) && !at.After(end) {
			n++
		}
	}
	return n
}
