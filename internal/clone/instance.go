package clone

// # The physical method on MySQL 8: the CLONE plugin
//
// CloneInstance has the target pull a physical copy of the donor with
// CLONE INSTANCE FROM (MySQL 8.0.17 and later). The server does the work: it
// drops the target's data, copies the donor's InnoDB files, pages and redo,
// and restarts on the copy. mmm checks, starts, watches and confirms it:
//
//  1. The target is checked as for the logical method: no user schema but
//     for a partial clone of ours (the marker schema), unless Overwrite; no
//     replication running.
//  2. Both servers run MySQL versions CLONE accepts (same series and
//     platform; the same point release before 8.0.37), and the clone plugin
//     is ACTIVE on both (INSTALL PLUGIN when it is missing).
//  3. clone_valid_donor_list on the target names the donor's address:port.
//  4. The target runs CLONE INSTANCE FROM with the target's own admin
//     account: the copy brings the donor's mysql.user along, so that account
//     must exist on the donor anyway for mmm to log in to the target after
//     the copy. The donor side needs BACKUP_ADMIN, the target side
//     CLONE_ADMIN and SYSTEM_VARIABLES_ADMIN; an admin account with ALL
//     PRIVILEGES has them. The statement carries the password and is never
//     logged nor put into an error.
//  5. While it runs, performance_schema.clone_progress is read on a second
//     connection into a Progress (bytes of the copy stages, the server's
//     estimates as total) for the Reporter.
//  6. The target restarts on the copy: the CLONE session ends with a dropped
//     connection, or with error 3707 when no supervisor (systemd,
//     mysqld_safe) can restart it, in which case the operator's service
//     manager must start it. Either way mmm reconnects until RestartTimeout,
//     waits until the server has restarted since the clone began, and reads
//     performance_schema.clone_status: Completed gives the result's GTID
//     position, Failed an error with the server's message.
//
// A clone interrupted by a kill or a failure leaves the target without user
// data (the server drops it first and does not restore it), so a re-run
// finds it empty and starts over.
//
// Built from the MySQL 8.0 reference manual (clone-plugin-remote.html,
// clone-plugin-monitoring.html, the performance_schema clone tables); no
// MySQL server runs in mmm's lab (MariaDB only), so only the pure pieces are
// tested here and in package flavor. Not yet seen on a real server, to check
// first when one can run:
//   - which driver error the CLONE session ends with when the recipient
//     restarts (handled: EOF, invalid/bad connection, reset, broken pipe,
//     1053, 3707);
//   - whether a server without a supervisor stays up after 3707 or shuts
//     down (both are handled: reconnect until RestartTimeout);
//   - that the clone_status row survives the restart with a new BEGIN_TIME;
//   - the exact clone_progress stage names (FILE COPY / FILE_COPY both read);
//   - whether a client that disconnects (a killed apply) aborts the clone.

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/mysql-mmm/mmm/internal/conn"
	"github.com/mysql-mmm/mmm/internal/flavor"
	"github.com/mysql-mmm/mmm/internal/topology"
)

// InstanceOptions tune a clone with the CLONE plugin.
type InstanceOptions struct {
	// Overwrite allows cloning onto a target that holds data which is not a
	// partial clone (apply --allow-unsafe). The CLONE drops all of it.
	Overwrite bool
	Reporter  *Reporter // nil: no progress output
	Log       *slog.Logger
	// RestartTimeout bounds the wait for the target to come back on the
	// copy after the CLONE statement ends; default 10 minutes.
	RestartTimeout time.Duration
}

// MySQL error numbers of a CLONE session that ends because the server goes
// away to restart on the copy.
const (
	erServerShutdown      = 1053 // ER_SERVER_SHUTDOWN: "Server shutdown in progress"
	erRestartServerFailed = 3707 // ER_RESTART_SERVER_FAILED: no supervisor to restart it
	erAccessDenied        = 1045
)

// instancePollInterval is how often progress and the restart are checked.
const instancePollInterval = time.Second

// reconnectTimeouts keep each attempt to reach a restarting server short.
var reconnectTimeouts = conn.Timeouts{Connect: 2 * time.Second, Query: 10 * time.Second}

// CloneInstance copies donor's data to target with MySQL's CLONE plugin (see
// the comment at the top of this file). Result.GTIDPosition is the donor's
// gtid_executed at the copy; the target's gtid_executed is already that once
// it restarts, so replication configured with auto-position starts there
// with nothing more to set.
func CloneInstance(ctx context.Context, donor, target *topology.Host, opts InstanceOptions) (*Result, error) {
	if opts.RestartTimeout <= 0 {
		opts.RestartTimeout = 10 * time.Minute
	}
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	t0 := time.Now()
	ic := &instanceCloner{donorHost: donor, targetHost: target, opts: opts,
		log: opts.Log.With("donor", donor.Name, "target", target.Name, "method", "clone-plugin")}
	if donor.Name == target.Name {
		return nil, fmt.Errorf("clone %s: the donor is the target itself", target.Name)
	}
	donorDB, err := openDB(ctx, donor, 1)
	if err != nil {
		return nil, err
	}
	defer donorDB.Close()
	targetDB, err := openDB(ctx, target, 2)
	if err != nil {
		return nil, err
	}
	defer targetDB.Close()

	if err := ic.prepare(ctx, donorDB, targetDB); err != nil {
		return nil, err
	}
	prev, err := readCloneStatus(ctx, targetDB)
	if err != nil {
		return nil, ic.targetErr("read clone_status", err)
	}

	port := donor.Port
	if port == 0 {
		port = 3306
	}
	user, password := target.Admin.User, target.Admin.Password.Value()
	stmt, err := flavor.CloneInstanceStatement(user, donor.Address, port, password)
	if err != nil {
		return nil, fmt.Errorf("clone %s from %s: %w", target.Name, donor.Name, err)
	}
	// What the errors and logs name instead of the statement.
	what := fmt.Sprintf("CLONE INSTANCE FROM %s@%s:%d (donor %s)", user, donor.Address, port, donor.Name)

	res := &Result{}
	cloneStart := time.Now()
	ic.log.Info("clone: starting", "statement", what)
	runErr, err := ic.runClone(ctx, targetDB, stmt.SQL(), res)
	if err != nil {
		return nil, err
	}
	if ctx.Err() != nil {
		return nil, fmt.Errorf("clone %s: %s: %w", target.Name, what, ctx.Err())
	}
	if !restartingAfterClone(runErr) {
		return nil, statementError(target.Name, what, runErr, password)
	}
	if isMySQLError(runErr, erRestartServerFailed) {
		ic.log.Warn("clone: the copy is done but the server cannot restart itself (error 3707: no supervisor such as systemd or mysqld_safe); start it with its service manager",
			"host", target.Name, "waiting", opts.RestartTimeout)
	} else {
		ic.log.Info("clone: the CLONE session ended (the target restarts on the copy); waiting for it", "waiting", opts.RestartTimeout)
	}

	status, err := ic.waitRestart(ctx, prev, cloneStart, what)
	if err != nil {
		return res, err
	}
	// CLONE sets the recipient's gtid_executed (and gtid_purged) to the
	// donor's at the copy; nothing is left to set for replication.
	res.GTIDPosition = status.GTIDExecuted
	if res.GTIDPosition == "" {
		ic.log.Warn("clone: the donor had no GTIDs at the copy (gtid_mode OFF?); replication with auto-position needs them", "donor", donor.Name)
	}
	res.Duration = time.Since(t0)
	ic.log.Info("clone done", "bytes", res.Bytes, "gtid_position", res.GTIDPosition,
		"binlog_file", status.BinlogFile, "binlog_position", status.BinlogPosition, "duration", res.Duration.Round(time.Second))
	return res, nil
}

type instanceCloner struct {
	donorHost, targetHost *topology.Host
	opts                  InstanceOptions
	log                   *slog.Logger
}

func (ic *instanceCloner) targetErr(op string, err error) error {
	return fmt.Errorf("clone %s: %s on %s: %w", ic.targetHost.Name, op, ic.targetHost.Name, err)
}

func (ic *instanceCloner) donorErr(op string, err error) error {
	return fmt.Errorf("clone %s: %s on donor %s: %w", ic.targetHost.Name, op, ic.donorHost.Name, err)
}

// prepare checks both servers and readies the target (steps 1 to 3).
func (ic *instanceCloner) prepare(ctx context.Context, donorDB, targetDB *sql.DB) error {
	donorServer, err := readCloneServer(ctx, donorDB)
	if err != nil {
		return ic.donorErr("read version", err)
	}
	targetServer, err := readCloneServer(ctx, targetDB)
	if err != nil {
		return ic.targetErr("read version", err)
	}
	if err := flavor.CheckCloneCompatible(donorServer, targetServer); err != nil {
		return fmt.Errorf("clone %s from %s with the CLONE plugin: %w", ic.targetHost.Name, ic.donorHost.Name, err)
	}

	schemas, err := queryStrings(ctx, targetDB, "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA")
	if err != nil {
		return ic.targetErr("list schemas", err)
	}
	user, partial := userSchemas(schemas)
	if len(user) > 0 && !partial && !ic.opts.Overwrite {
		return fmt.Errorf("clone %s: %w (%s) and is not a partial clone; it is not overwritten without --allow-unsafe",
			ic.targetHost.Name, ErrTargetNotEmpty, strings.Join(user, ", "))
	}
	var replica int
	if err := targetDB.QueryRowContext(ctx, flavor.ReplicaRunningQueryMySQL).Scan(&replica); err != nil {
		return ic.targetErr("read replica state", err)
	}
	if replica > 0 {
		return fmt.Errorf("clone %s: it replicates; stop its replica before cloning onto it", ic.targetHost.Name)
	}
	switch {
	case partial:
		ic.log.Info("clone: target holds a partial clone; the CLONE replaces it", "schemas", user)
	case len(user) > 0:
		ic.log.Warn("clone: overwriting the target's data (--allow-unsafe)", "schemas", user)
	}

	if err := ic.ensurePlugin(ctx, donorDB, ic.donorHost); err != nil {
		return err
	}
	if err := ic.ensurePlugin(ctx, targetDB, ic.targetHost); err != nil {
		return err
	}

	port := ic.donorHost.Port
	if port == 0 {
		port = 3306
	}
	donorList, err := flavor.SetCloneValidDonorList(ic.donorHost.Address, port)
	if err != nil {
		return fmt.Errorf("clone %s from %s: %w", ic.targetHost.Name, ic.donorHost.Name, err)
	}
	if err := execAll(ctx, targetDB, donorList.SQL()); err != nil {
		return ic.targetErr("allow the donor", err)
	}
	return nil
}

// userSchemas lists the schemas a clone would destroy, and whether the
// marker of an unfinished clone of ours is among the schemas.
func userSchemas(schemas []string) (user []string, partial bool) {
	for _, s := range schemas {
		if s == MarkerSchema {
			partial = true
		} else if !notCopied(s) {
			user = append(user, s)
		}
	}
	return user, partial
}

func readCloneServer(ctx context.Context, db *sql.DB) (flavor.CloneServer, error) {
	var s flavor.CloneServer
	err := db.QueryRowContext(ctx, flavor.CloneServerQuery).Scan(&s.Version, &s.OS, &s.Machine)
	return s, err
}

// ensurePlugin installs the clone plugin on h when it is missing and checks
// that it is ACTIVE.
func (ic *instanceCloner) ensurePlugin(ctx context.Context, db *sql.DB, h *topology.Host) error {
	fail := func(op string, err error) error {
		return fmt.Errorf("clone %s: %s on %s: %w", ic.targetHost.Name, op, h.Name, err)
	}
	for attempt := 0; attempt < 2; attempt++ {
		var status string
		err := db.QueryRowContext(ctx, flavor.ClonePluginStatusQuery).Scan(&status)
		found := err == nil
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return fail("read the clone plugin's status", err)
		}
		install, err := flavor.ClonePluginNeedsInstall(h.Name, found, status)
		if err != nil {
			return fmt.Errorf("clone %s: %w", ic.targetHost.Name, err)
		}
		if !install {
			return nil
		}
		if attempt > 0 {
			break
		}
		ic.log.Info("clone: installing the clone plugin", "host", h.Name)
		if err := execAll(ctx, db, flavor.InstallClonePlugin().SQL()); err != nil {
			return fail("install the clone plugin", err)
		}
	}
	return fmt.Errorf("clone %s: the clone plugin is still missing on %s after INSTALL PLUGIN", ic.targetHost.Name, h.Name)
}

// runClone runs the CLONE statement on its own session and reports progress
// from a second one until the statement ends. It returns the statement's
// error, which is expected (see restartingAfterClone), apart from the error
// of opening that session (err).
func (ic *instanceCloner) runClone(ctx context.Context, targetDB *sql.DB, statement string, res *Result) (stmtErr, err error) {
	// No read deadline: the statement lasts as long as the copy; ctx bounds it.
	cfg := conn.Config(ic.targetHost, cloneTimeouts)
	cfg.ReadTimeout = 0
	connector, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, &conn.Error{Host: ic.targetHost.Name, Addr: conn.Addr(ic.targetHost), Err: err}
	}
	db := sql.OpenDB(connector)
	defer db.Close()
	db.SetMaxOpenConns(1)
	session, err := db.Conn(ctx)
	if err != nil {
		return nil, ic.targetErr("connect", err)
	}
	defer session.Close()
	// The statement's strings are quoted with backslash escapes.
	if err := execAll(ctx, session, "SET SESSION sql_mode = 'NO_ENGINE_SUBSTITUTION'"); err != nil {
		return nil, ic.targetErr("prepare session", err)
	}

	p := &Progress{start: time.Now()}
	pollCtx, stopPoll := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var stopReport func()
	wg.Add(1)
	go func() {
		defer wg.Done()
		stopReport = ic.pollProgress(pollCtx, targetDB, p)
	}()
	_, stmtErr = session.ExecContext(ctx, statement)
	stopPoll()
	wg.Wait()
	if stopReport != nil {
		stopReport()
	}
	res.Bytes = p.bytes.Load()
	return stmtErr, nil
}

// pollProgress copies clone_progress into p until ctx ends. The Reporter
// starts once the server has an estimate of the copy (BytesTotal is set once,
// before the Reporter reads it); the returned func stops it (nil when it
// never started).
func (ic *instanceCloner) pollProgress(ctx context.Context, db *sql.DB, p *Progress) (stopReport func()) {
	t := time.NewTicker(instancePollInterval)
	defer t.Stop()
	stage := ""
	for {
		select {
		case <-ctx.Done():
			return stopReport
		case <-t.C:
		}
		cp, err := readCloneProgress(ctx, db)
		if err != nil {
			// The server goes away to restart; the CLONE session notices.
			ic.log.Debug("clone: progress not readable", "err", err)
			continue
		}
		if cp.Stage != "" && cp.Stage != stage {
			stage = cp.Stage
			ic.log.Info("clone stage", "stage", stage, "bytes", cp.Done, "bytes_estimate", cp.Total)
		}
		if stopReport == nil && cp.Total > 0 {
			p.BytesTotal = cp.Total
			stopReport = ic.opts.Reporter.start(p, ic.targetHost.Name)
		}
		p.bytes.Store(cp.Done)
	}
}

func readCloneProgress(ctx context.Context, db *sql.DB) (flavor.CloneProgress, error) {
	qctx, cancel := context.WithTimeout(ctx, reconnectTimeouts.Query)
	defer cancel()
	rows, err := db.QueryContext(qctx, flavor.CloneProgressQuery)
	if err != nil {
		return flavor.CloneProgress{}, err
	}
	defer rows.Close()
	var all [][]sql.NullString
	for rows.Next() {
		r := make([]sql.NullString, 4)
		if err := rows.Scan(&r[0], &r[1], &r[2], &r[3]); err != nil {
			return flavor.CloneProgress{}, err
		}
		all = append(all, r)
	}
	if err := rows.Err(); err != nil {
		return flavor.CloneProgress{}, err
	}
	return flavor.ParseCloneProgress(all)
}

// cloneRecord is the target's clone_status row, or found=false when the
// table is empty.
type cloneRecord struct {
	found  bool
	status flavor.CloneStatus
}

// sameClone reports whether two reads show the same clone (ID and begin
// time; the ID alone may start over when the server restarts).
func (r cloneRecord) sameClone(o cloneRecord) bool {
	return r.found == o.found && r.status.ID == o.status.ID && r.status.BeginTime == o.status.BeginTime
}

type queryRower interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}

func readCloneStatus(ctx context.Context, q queryRower) (cloneRecord, error) {
	row := make([]sql.NullString, 8)
	ptrs := make([]any, len(row))
	for i := range row {
		ptrs[i] = &row[i]
	}
	err := q.QueryRowContext(ctx, flavor.CloneStatusQuery).Scan(ptrs...)
	if errors.Is(err, sql.ErrNoRows) {
		return cloneRecord{}, nil
	}
	if err != nil {
		return cloneRecord{}, err
	}
	st, err := flavor.ParseCloneStatus(row)
	if err != nil {
		return cloneRecord{}, err
	}
	return cloneRecord{found: true, status: st}, nil
}

// afterClone is one look at the target after the CLONE statement ended.
type afterClone struct {
	restarted bool // the server started after the clone began
	record    cloneRecord
}

// judgeAfterClone decides from one look whether the clone is done (nil
// error), failed (an error), or still under way (done false; waiting says
// for what). prev is clone_status before the CLONE statement.
func judgeAfterClone(host string, prev cloneRecord, a afterClone) (done bool, waiting string, err error) {
	ours := a.record.found && !a.record.sameClone(prev)
	switch {
	case !ours && a.restarted:
		return false, "", fmt.Errorf("%s restarted but shows no new clone in performance_schema.clone_status: the clone did not run; see its error log", host)
	case !ours:
		return false, "the clone to appear in clone_status", nil
	case a.record.status.State == flavor.CloneFailed:
		return false, "", a.record.status.Err(host)
	case a.record.status.State == flavor.CloneCompleted && a.restarted:
		return true, "", nil
	case a.record.status.State == flavor.CloneCompleted:
		return false, host + " to restart on the cloned data (start it with its service manager if it does not restart by itself)", nil
	case a.restarted:
		return false, fmt.Sprintf("the clone to finish recovery (state %q)", a.record.status.State), nil
	}
	return false, fmt.Sprintf("%s to restart (clone state %q; start it with its service manager if it stopped)", host, a.record.status.State), nil
}

// waitRestart reconnects to the target until it has restarted on a
// completed clone, the clone failed, or RestartTimeout passed.
func (ic *instanceCloner) waitRestart(ctx context.Context, prev cloneRecord, cloneStart time.Time, what string) (flavor.CloneStatus, error) {
	name := ic.targetHost.Name
	deadline := time.Now().Add(ic.opts.RestartTimeout)
	lastWait := ""
	for {
		a, err := ic.look(ctx, cloneStart)
		switch {
		case err == nil:
			done, waiting, jerr := judgeAfterClone(name, prev, a)
			if jerr != nil {
				return flavor.CloneStatus{}, fmt.Errorf("clone %s: %s: %w", name, what, jerr)
			}
			if done {
				return a.record.status, nil
			}
			if waiting != lastWait {
				ic.log.Info("clone: waiting for "+waiting, "host", name)
			}
			lastWait = waiting
		case isMySQLError(err, erAccessDenied):
			return flavor.CloneStatus{}, fmt.Errorf("clone %s: %s: %s is back with the donor's accounts and its admin account %s cannot log in (%w); "+
				"the copy includes mysql.user, so give %s the same admin account as %s",
				name, what, name, ic.targetHost.Admin.User, err, name, ic.donorHost.Name)
		default:
			lastWait = "the server to accept connections (" + err.Error() + ")"
			ic.log.Debug("clone: target not reachable yet", "host", name, "err", err)
		}
		if time.Now().After(deadline) {
			return flavor.CloneStatus{}, fmt.Errorf("clone %s: %s: gave up after %s waiting for %s; if the server stopped (error 3707: no supervisor), start it with its service manager and re-run",
				name, what, ic.opts.RestartTimeout, lastWait)
		}
		select {
		case <-ctx.Done():
			return flavor.CloneStatus{}, fmt.Errorf("clone %s: %s: %w", name, what, ctx.Err())
		case <-time.After(instancePollInterval):
		}
	}
}

// look connects to the target afresh (the old pool's connections died with
// the restart) and reads its uptime and clone_status.
func (ic *instanceCloner) look(ctx context.Context, cloneStart time.Time) (afterClone, error) {
	db, err := conn.Open(ctx, ic.targetHost, reconnectTimeouts)
	if err != nil {
		return afterClone{}, err
	}
	defer db.Close()
	qctx, cancel := context.WithTimeout(ctx, reconnectTimeouts.Query)
	defer cancel()
	var name string
	var uptime int64
	if err := db.QueryRowContext(qctx, "SHOW GLOBAL STATUS LIKE 'Uptime'").Scan(&name, &uptime); err != nil {
		return afterClone{}, err
	}
	rec, err := readCloneStatus(qctx, db)
	if err != nil {
		return afterClone{}, err
	}
	return afterClone{restarted: startedSince(time.Duration(uptime)*time.Second, time.Since(cloneStart)), record: rec}, nil
}

// startedSince reports whether a server up for uptime started after an event
// elapsed ago. Uptime counts whole seconds (rounded down), so a server that
// started after the event always shows less.
func startedSince(uptime, elapsed time.Duration) bool { return uptime < elapsed }

// restartingAfterClone reports whether the CLONE statement ended the way a
// successful in-place clone ends: the server closes the session to restart
// (a dropped connection, "server shutdown in progress"), or cannot restart
// itself (3707). A nil error (the server returned normally, which in-place
// clones do not do) is treated the same: clone_status has the last word.
// Anything else, such as 1045 (the donor refused the login) or 3862 (donor
// version mismatch), is a failure before the copy took effect.
func restartingAfterClone(err error) bool {
	if err == nil {
		return true
	}
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		return me.Number == erRestartServerFailed || me.Number == erServerShutdown
	}
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, mysql.ErrInvalidConn) || errors.Is(err, driver.ErrBadConn) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// statementError is the error of a CLONE statement that failed: it names the
// statement by what (user, donor; never the password) and has no password in
// the server's message either.
func statementError(target, what string, err error, password string) error {
	return fmt.Errorf("clone %s: %s on %s: %w", target, what, target, conn.RedactSecrets(err, password))
}

func isMySQLError(err error, number uint16) bool {
	var me *mysql.MySQLError
	return errors.As(err, &me) && me.Number == number
}
