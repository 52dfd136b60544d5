// Package clone gives an empty server a copy of a donor's data: the
// bootstrap of a new slave (plan step clone_host).
//
// # The logical method
//
//  1. The target is checked: it must hold no user schema, or be a partial
//     clone of ours (the marker schema mmm_clone exists), or the caller must
//     allow overwriting (Options.Overwrite, from apply --allow-unsafe). Its
//     user schemas are dropped, its own binary log is reset, and the marker
//     schema is created first, so that a clone killed at any point is
//     recognised as partial by the next run, wiped and redone. The marker is
//     dropped last, after gtid_slave_pos is set.
//  2. A consistent snapshot of the donor: a coordinator session holds FLUSH
//     TABLES WITH READ LOCK for a moment (commits wait; with a short
//     lock_wait_timeout so a long query on the donor makes the clone fail
//     instead of stalling writes), every worker session opens START
//     TRANSACTION WITH CONSISTENT SNAPSHOT, and the coordinator reads
//     @@gtid_current_pos, then UNLOCK TABLES. All workers therefore see the
//     same transactions, and that GTID position is exactly what they see.
//     As a cross-check, MariaDB's binlog_snapshot_file/binlog_snapshot_position
//     status variables of every worker's transaction (which MariaDB keeps
//     consistent with the InnoDB snapshot, see
//     https://mariadb.com/kb/en/enhancements-for-start-transaction-with-consistent-snapshot/)
//     must agree. gtid_current_pos is right for every donor: a slave's is its
//     gtid_slave_pos (it writes nothing of its own), the writer's is its
//     binary log position.
//  3. Schemas and CREATE TABLE statements, then the accounts the target does
//     not have (SHOW CREATE USER / SHOW GRANTS; roles are not copied), then
//     the rows: tables cut into primary-key chunks, copied by Workers
//     sessions in parallel with multi-row INSERTs (sql_log_bin=0,
//     foreign_key_checks=0, unique_checks=0, binary character set so the
//     bytes travel unchanged). Then views, routines and triggers (triggers
//     last, so they do not fire on copied rows). Events are not copied: on
//     a slave they would have to be disabled anyway.
//  4. Verification: every chunk is summed up (row count, sum and XOR of a
//     per-row CRC32) on the donor inside the snapshot and on the target;
//     mismatching tables are reported by name.
//  5. SET GLOBAL gtid_slave_pos to the snapshot's position; replication
//     configured next (MASTER_USE_GTID=slave_pos) starts exactly there.
//
// The donor keeps serving reads and writes; it only holds the read lock for
// the instant the snapshots open. DDL on the donor during a clone is not
// supported (the snapshot transactions fail with "table definition has
// changed"; re-run the apply).
//
// While it loads, the target runs with innodb_flush_log_at_trx_commit=2
// (its data is worthless until the clone completes; the original value is
// kept in the marker and restored at the end, also by a re-run after a kill).
package clone

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/mysql-mmm/mmm/internal/conn"
	"github.com/mysql-mmm/mmm/internal/flavor"
	"github.com/mysql-mmm/mmm/internal/topology"
)

// MarkerSchema marks a target whose clone has not completed.
const MarkerSchema = "mmm_clone"

// ErrTargetNotEmpty is returned when the target holds data that is not a
// partial clone and Overwrite is not set.
var ErrTargetNotEmpty = errors.New("the target holds data")

// notCopied: the schemas a clone never copies nor drops, the server's own
// (topology.IsServerSchema) and the marker.
func notCopied(name string) bool {
	return name == MarkerSchema || topology.IsServerSchema(name)
}

// Options tune a clone.
type Options struct {
	Workers   int   // parallel sessions on each side; default 4
	ChunkRows int64 // rows per chunk; default 100000
	// BatchBytes bounds one INSERT or LOAD DATA; default 4 MiB, and at most
	// half the target's max_allowed_packet.
	BatchBytes int
	// Overwrite allows wiping a target that holds data which is not a
	// partial clone (apply --allow-unsafe).
	Overwrite bool
	// SkipVerify skips the checksums (benchmarks of the copy alone).
	SkipVerify bool
	// Insert writes rows with multi-row INSERTs instead of LOAD DATA LOCAL
	// INFILE (which is used when the target's local_infile is ON).
	Insert bool
	// LockWaitTimeout bounds the wait for the donor's read lock; default 10s.
	LockWaitTimeout time.Duration
	Reporter        *Reporter // nil: no progress output
	Log             *slog.Logger
	// OnProgress, when set, is called after each chunk (tests use it to
	// interrupt a clone at a known point).
	OnProgress func(Snapshot)
}

func (o *Options) defaults() {
	if o.Workers <= 0 {
		o.Workers = 4
	}
	if o.ChunkRows <= 0 {
		o.ChunkRows = 100_000
	}
	if o.BatchBytes <= 0 {
		o.BatchBytes = 4 << 20
	}
	if o.LockWaitTimeout <= 0 {
		o.LockWaitTimeout = 10 * time.Second
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
}

// Result says what a clone did.
type Result struct {
	// GTIDPosition is the donor's position at the snapshot; the target's
	// gtid_slave_pos is set to it.
	GTIDPosition string
	Tables       int
	Rows         int64
	Bytes        int64 // logical bytes of the copied values
	Accounts     int   // accounts copied (the target did not have them)
	Objects      int   // views, routines, triggers
	Duration     time.Duration
	// Mismatches lists the tables whose checksums differ (the clone then
	// fails and the marker stays, so the next run redoes it).
	Mismatches []string
}

// MBps is the copy throughput in MB/s (10^6 bytes).
func (r *Result) MBps() float64 {
	if r.Duration <= 0 {
		return 0
	}
	return float64(r.Bytes) / 1e6 / r.Duration.Seconds()
}

// MismatchError is returned when checksums differ.
type MismatchError struct {
	Target string
	Tables []string
}

func (e *MismatchError) Error() string {
	return fmt.Sprintf("clone of %s: checksums differ from the donor's for %d table(s): %s",
		e.Target, len(e.Tables), strings.Join(e.Tables, ", "))
}

// cloneTimeouts: a clone's statements take as long as the data (CREATE INDEX,
// a big chunk); the caller's context bounds the whole.
var cloneTimeouts = conn.Timeouts{Connect: 5 * time.Second, Query: time.Hour}

func openDB(ctx context.Context, h *topology.Host, conns int) (*sql.DB, error) {
	cfg := conn.Config(h, cloneTimeouts)
	connector, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, &conn.Error{Host: h.Name, Addr: conn.Addr(h), Err: err}
	}
	db := sql.OpenDB(connector)
	db.SetMaxOpenConns(conns)
	db.SetMaxIdleConns(conns)
	pctx, cancel := context.WithTimeout(ctx, cloneTimeouts.Connect)
	defer cancel()
	if err := db.PingContext(pctx); err != nil {
		db.Close()
		return nil, &conn.Error{Host: h.Name, Addr: conn.Addr(h), Err: err, Timeout: cloneTimeouts.Connect}
	}
	return db, nil
}

// Clone copies donor's data to target with the logical method.
func Clone(ctx context.Context, donor, target *topology.Host, opts Options) (*Result, error) {
	opts.defaults()
	t0 := time.Now()
	c := &cloner{donorHost: donor, targetHost: target, opts: opts, log: opts.Log.With("donor", donor.Name, "target", target.Name)}
	var err error
	if c.donor, err = openDB(ctx, donor, opts.Workers+1); err != nil {
		return nil, err
	}
	defer c.donor.Close()
	if c.target, err = openDB(ctx, target, opts.Workers+1); err != nil {
		return nil, err
	}
	defer c.target.Close()

	res, err := c.run(ctx)
	if res != nil {
		res.Duration = time.Since(t0)
	}
	return res, err
}

type cloner struct {
	donorHost, targetHost *topology.Host
	donor, target         *sql.DB
	opts                  Options
	log                   *slog.Logger
	progress              Progress
	loadData              bool // LOAD DATA LOCAL INFILE (else INSERT)
}

func (c *cloner) run(ctx context.Context) (*Result, error) {
	res := &Result{}
	// One session on the target for DDL, accounts and the marker, with the
	// binary log off: nothing of the clone may reach a binary log (it would
	// give the target GTIDs of its own).
	ddl, err := c.target.Conn(ctx)
	if err != nil {
		return nil, c.targetErr("connect", err)
	}
	defer ddl.Close()
	if err := execAll(ctx, ddl, "SET SESSION sql_log_bin = 0", "SET SESSION foreign_key_checks = 0",
		"SET NAMES utf8mb4"); err != nil {
		return nil, c.targetErr("prepare session", err)
	}
	if err := c.prepareTarget(ctx, ddl); err != nil {
		return nil, err
	}
	if !c.opts.Insert {
		var localInfile int
		if err := ddl.QueryRowContext(ctx, "SELECT @@global.local_infile").Scan(&localInfile); err != nil {
			return nil, c.targetErr("read local_infile", err)
		}
		c.loadData = localInfile == 1
	}
	var maxPacket int
	if err := ddl.QueryRowContext(ctx, "SELECT @@global.max_allowed_packet").Scan(&maxPacket); err != nil {
		return nil, c.targetErr("read max_allowed_packet", err)
	}
	if c.opts.BatchBytes > maxPacket/2 {
		c.opts.BatchBytes = maxPacket / 2
	}

	// The donor's objects, read before the snapshot (DDL during a clone is
	// not supported, see the package comment).
	meta, err := c.donor.Conn(ctx)
	if err != nil {
		return nil, c.donorErr("connect", err)
	}
	defer meta.Close()
	if err := execAll(ctx, meta, "SET NAMES utf8mb4"); err != nil {
		return nil, c.donorErr("prepare session", err)
	}
	cat, err := readCatalog(ctx, meta)
	if err != nil {
		return nil, c.donorErr("read schemas", err)
	}

	snap, err := c.snapshot(ctx, meta)
	if err != nil {
		return nil, err
	}
	defer snap.close()
	res.GTIDPosition = snap.gtidPos
	c.log.Info("clone snapshot", "gtid_position", snap.gtidPos, "tables", len(cat.tables))

	if err := c.createSchemas(ctx, meta, ddl, cat); err != nil {
		return nil, err
	}
	n, err := c.copyAccounts(ctx, meta, ddl)
	if err != nil {
		return nil, err
	}
	res.Accounts = n

	chunks, err := c.chunks(ctx, snap.workers[0].donor, cat.tables)
	if err != nil {
		return nil, err
	}
	c.progress = Progress{start: time.Now(), TablesTotal: int64(len(cat.tables))}
	for _, t := range cat.tables {
		c.progress.RowsTotal += t.RowsEst
		c.progress.BytesTotal += t.DataLength
	}
	stop := c.opts.Reporter.start(&c.progress, c.targetHost.Name)
	mismatches, err := c.copyChunks(ctx, snap, chunks)
	stop()
	res.Tables = len(cat.tables)
	res.Rows, res.Bytes = c.progress.rows.Load(), c.progress.bytes.Load()
	if err != nil {
		return res, err
	}
	snap.close() // the snapshot is no longer needed: let the donor purge

	objs, err := c.copyObjects(ctx, meta, ddl, cat)
	if err != nil {
		return res, err
	}
	res.Objects = objs

	if len(mismatches) > 0 {
		res.Mismatches = mismatches
		return res, &MismatchError{Target: c.targetHost.Name, Tables: mismatches}
	}
	if err := c.finish(ctx, ddl, snap.gtidPos); err != nil {
		return res, err
	}
	c.log.Info("clone done", "tables", res.Tables, "rows", res.Rows, "bytes", res.Bytes,
		"accounts", res.Accounts, "objects", res.Objects, "gtid_position", res.GTIDPosition)
	return res, nil
}

func (c *cloner) targetErr(op string, err error) error {
	return fmt.Errorf("clone %s: %s on %s: %w", c.targetHost.Name, op, c.targetHost.Name, err)
}

func (c *cloner) donorErr(op string, err error) error {
	return fmt.Errorf("clone %s: %s on donor %s: %w", c.targetHost.Name, op, c.donorHost.Name, err)
}

func execAll(ctx context.Context, q interface {
	ExecContext(context.Context, string, ...any) (sql.Result, error)
}, stmts ...string) error {
	for _, s := range stmts {
		if _, err := q.ExecContext(ctx, s); err != nil {
			return fmt.Errorf("%s: %w", s, err)
		}
	}
	return nil
}

// prepareTarget refuses a target with data of its own, wipes a partial
// clone, and leaves the marker.
func (c *cloner) prepareTarget(ctx context.Context, ddl *sql.Conn) error {
	schemas, err := queryStrings(ctx, ddl, "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA")
	if err != nil {
		return c.targetErr("list schemas", err)
	}
	partial := false
	var user []string
	for _, s := range schemas {
		if s == MarkerSchema {
			partial = true
		} else if !notCopied(s) {
			user = append(user, s)
		}
	}
	if len(user) > 0 && !partial && !c.opts.Overwrite {
		return fmt.Errorf("clone %s: %w (%s) and is not a partial clone; it is not overwritten without --allow-unsafe",
			c.targetHost.Name, ErrTargetNotEmpty, strings.Join(user, ", "))
	}
	var replica int
	if err := ddl.QueryRowContext(ctx, "SELECT COUNT(*) FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = 'SLAVE_RUNNING' AND VARIABLE_VALUE = 'ON'").Scan(&replica); err != nil {
		return c.targetErr("read replica state", err)
	}
	if replica > 0 {
		return fmt.Errorf("clone %s: it replicates; stop its replica before cloning onto it", c.targetHost.Name)
	}
	if partial {
		c.log.Info("clone: target holds a partial clone; wiping it", "schemas", user)
		if err := c.restoreFlush(ctx, ddl); err != nil {
			return err
		}
	} else if len(user) > 0 {
		c.log.Warn("clone: overwriting the target's data (--allow-unsafe)", "schemas", user)
	}
	for _, s := range user {
		if err := execAll(ctx, ddl, "DROP DATABASE "+flavor.QuoteIdent(s)); err != nil {
			return c.targetErr("wipe", err)
		}
	}
	var binlogPos string
	if err := ddl.QueryRowContext(ctx, "SELECT @@global.gtid_binlog_pos").Scan(&binlogPos); err != nil {
		return c.targetErr("read gtid_binlog_pos", err)
	}
	if binlogPos != "" {
		// Its own transactions (provisioning) would clash with the donor's
		// history; the target has nothing anyone else needs.
		if err := execAll(ctx, ddl, "RESET MASTER"); err != nil {
			return c.targetErr("reset binary log", err)
		}
	}
	var flush string
	if err := ddl.QueryRowContext(ctx, "SELECT @@global.innodb_flush_log_at_trx_commit").Scan(&flush); err != nil {
		return c.targetErr("read innodb_flush_log_at_trx_commit", err)
	}
	if err := execAll(ctx, ddl,
		"CREATE DATABASE IF NOT EXISTS "+MarkerSchema,
		"CREATE TABLE IF NOT EXISTS "+MarkerSchema+".state (name VARCHAR(64) PRIMARY KEY, value TEXT NOT NULL)",
	); err != nil {
		return c.targetErr("create marker", err)
	}
	if _, err := ddl.ExecContext(ctx, "INSERT IGNORE INTO "+MarkerSchema+".state VALUES ('innodb_flush_log_at_trx_commit', ?), ('donor', ?), ('started', NOW())",
		flush, c.donorHost.Name); err != nil {
		return c.targetErr("write marker", err)
	}
	if err := execAll(ctx, ddl, "SET GLOBAL innodb_flush_log_at_trx_commit = 2"); err != nil {
		return c.targetErr("relax durability while loading", err)
	}
	return nil
}

// restoreFlush puts back the durability setting a clone recorded.
func (c *cloner) restoreFlush(ctx context.Context, ddl *sql.Conn) error {
	var v string
	err := ddl.QueryRowContext(ctx, "SELECT value FROM "+MarkerSchema+".state WHERE name = 'innodb_flush_log_at_trx_commit'").Scan(&v)
	if errors.Is(err, sql.ErrNoRows) || isNoTable(err) {
		return nil
	}
	if err != nil {
		return c.targetErr("read marker", err)
	}
	if _, err := ddl.ExecContext(ctx, "SET GLOBAL innodb_flush_log_at_trx_commit = "+v); err != nil {
		return c.targetErr("restore innodb_flush_log_at_trx_commit", err)
	}
	return nil
}

func isNoTable(err error) bool {
	var me *mysql.MySQLError
	return errors.As(err, &me) && me.Number == 1146
}

// finish sets the replication start position, restores durability and drops
// the marker: from here on the target is a complete copy.
func (c *cloner) finish(ctx context.Context, ddl *sql.Conn, pos string) error {
	if _, err := ddl.ExecContext(ctx, "SET GLOBAL gtid_slave_pos = ?", pos); err != nil {
		return c.targetErr("set gtid_slave_pos", err)
	}
	if err := c.restoreFlush(ctx, ddl); err != nil {
		return err
	}
	if err := execAll(ctx, ddl, "DROP DATABASE "+MarkerSchema); err != nil {
		return c.targetErr("drop marker", err)
	}
	return nil
}

func queryStrings(ctx context.Context, q interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}, query string, args ...any) ([]string, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// --- the snapshot ------------------------------------------------------------

type worker struct {
	donor, target *sql.Conn
}

type snapshot struct {
	workers []*worker
	gtidPos string
	once    sync.Once
}

func (s *snapshot) close() {
	s.once.Do(func() {
		for _, w := range s.workers {
			if w.donor != nil {
				_, _ = w.donor.ExecContext(context.Background(), "ROLLBACK")
				w.donor.Close()
			}
			if w.target != nil {
				w.target.Close()
			}
		}
	})
}

func (c *cloner) snapshot(ctx context.Context, coord *sql.Conn) (_ *snapshot, err error) {
	s := &snapshot{}
	defer func() {
		if err != nil {
			s.close()
		}
	}()
	for i := 0; i < c.opts.Workers; i++ {
		w := &worker{}
		s.workers = append(s.workers, w)
		if w.donor, err = c.donor.Conn(ctx); err != nil {
			return nil, c.donorErr("connect", err)
		}
		// Binary character set: values arrive as stored; UTC: TIMESTAMPs
		// arrive as stored; a long net_write_timeout: the donor waits while
		// a batch is written to the target.
		if err = execAll(ctx, w.donor, "SET NAMES binary", "SET SESSION time_zone = '+00:00'",
			"SET SESSION net_write_timeout = 3600", "SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ"); err != nil {
			return nil, c.donorErr("prepare session", err)
		}
		if w.target, err = c.target.Conn(ctx); err != nil {
			return nil, c.targetErr("connect", err)
		}
		if err = execAll(ctx, w.target, "SET SESSION sql_log_bin = 0", "SET NAMES binary",
			"SET SESSION time_zone = '+00:00'", "SET SESSION foreign_key_checks = 0", "SET SESSION unique_checks = 0",
			"SET SESSION sql_mode = 'NO_AUTO_VALUE_ON_ZERO,NO_ENGINE_SUBSTITUTION'"); err != nil {
			return nil, c.targetErr("prepare session", err)
		}
	}

	if _, err = coord.ExecContext(ctx, fmt.Sprintf("SET SESSION lock_wait_timeout = %d", int(c.opts.LockWaitTimeout.Seconds()))); err != nil {
		return nil, c.donorErr("prepare session", err)
	}
	t0 := time.Now()
	if _, err = coord.ExecContext(ctx, "FLUSH TABLES WITH READ LOCK"); err != nil {
		return nil, c.donorErr("take the read lock for the snapshot", err)
	}
	unlocked := false
	unlock := func() error {
		if unlocked {
			return nil
		}
		unlocked = true
		_, err := coord.ExecContext(context.Background(), "UNLOCK TABLES")
		return err
	}
	defer func() { _ = unlock() }()
	for _, w := range s.workers {
		if _, err = w.donor.ExecContext(ctx, "START TRANSACTION WITH CONSISTENT SNAPSHOT"); err != nil {
			return nil, c.donorErr("open snapshot", err)
		}
	}
	if err = coord.QueryRowContext(ctx, "SELECT @@global.gtid_current_pos").Scan(&s.gtidPos); err != nil {
		return nil, c.donorErr("read gtid_current_pos", err)
	}
	if err = unlock(); err != nil {
		return nil, c.donorErr("unlock tables", err)
	}
	c.log.Debug("clone: donor read lock held", "for", time.Since(t0))

	// Cross-check: every worker's transaction is at the same binlog position.
	var first string
	for i, w := range s.workers {
		pos, err := snapshotPosition(ctx, w.donor)
		if err != nil {
			return nil, c.donorErr("read binlog_snapshot_position", err)
		}
		if i == 0 {
			first = pos
		} else if pos != first {
			return nil, fmt.Errorf("clone %s: the donor's snapshots are not at one point (%s vs %s); retry", c.targetHost.Name, first, pos)
		}
	}
	return s, nil
}

func snapshotPosition(ctx context.Context, c *sql.Conn) (string, error) {
	rows, err := c.QueryContext(ctx, "SHOW SESSION STATUS WHERE Variable_name IN ('binlog_snapshot_file', 'binlog_snapshot_position')")
	if err != nil {
		return "", err
	}
	defer rows.Close()
	var parts []string
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			return "", err
		}
		parts = append(parts, v)
	}
	sort.Strings(parts)
	return strings.Join(parts, ":"), rows.Err()
}
