// Package inspect reads the live state of a cluster's servers into
// topology.Live: every host in parallel, each with a connect and a query
// timeout, so an unreachable host is a recorded error, never a hang.
//
// What a host reports is read by name (variables by Variable_name, replica
// status by column) and parsed by package flavor. Passwords are compared
// inside this process by hashing the declared one the server's way; neither
// the stored hash nor the password leaves Inspect.
package inspect

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/mysql-mmm/mmm/internal/conn"
	"github.com/mysql-mmm/mmm/internal/flavor"
	"github.com/mysql-mmm/mmm/internal/topology"
)

// Options tune an inspection.
type Options struct {
	Timeouts conn.Timeouts // zero fields: conn.DefaultTimeouts
	Logger   *slog.Logger  // nil: slog.Default()
	// SkipAccounts leaves the declared accounts unread (LiveHost.AccountsUnread):
	// the watch never changes them, so it never reads them.
	SkipAccounts bool
}

// Inspect reads every declared host. It always returns an entry per host;
// a host that could not be read has Reachable=false and Error saying why
// ("inspect master1 (198.18.0.11:3306): Access denied ... (check ...)").
func Inspect(ctx context.Context, c *topology.Cluster, opts Options) *topology.Live {
	opts.Timeouts = opts.Timeouts.WithDefaults()
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	live := &topology.Live{Hosts: make(map[string]*topology.LiveHost, len(c.Hosts))}
	results := make([]*topology.LiveHost, len(c.Hosts))
	var wg sync.WaitGroup
	for i, h := range c.Hosts {
		wg.Go(func() {
			r := NewReader(c, h, opts)
			defer r.Close()
			d := depthAccounts
			if opts.SkipAccounts {
				d = depthFull
			}
			results[i] = r.read(ctx, d)
		})
	}
	wg.Wait()
	for _, lh := range results {
		live.Hosts[lh.Name] = lh
	}
	return live
}

// InspectHost reads one host: everything plan reads, accounts included.
func InspectHost(ctx context.Context, c *topology.Cluster, h *topology.Host, opts Options) *topology.LiveHost {
	r := NewReader(c, h, opts)
	defer r.Close()
	return r.read(ctx, depthAccounts)
}

// depth is how much one read takes in.
type depth int

const (
	depthHealth   depth = iota // variables, status, replication: what a round acts on
	depthFull                  // + heartbeat and schemas: what the watch's reconcile diffs
	depthAccounts              // + the declared accounts and their grants: what apply changes
)

// Reader reads one host again and again on one kept connection: the watch's
// probe loop holds one per host. Health is the cheap read of every check
// period (two statements); Full adds what only the watch's reconcile needs
// (heartbeat, schemas). Neither reads accounts or hashes a password: the
// watch never changes them, so it never looks (docs/watch.md, "Cost").
//
// A Reader is used by one goroutine at a time.
type Reader struct {
	c    *topology.Cluster
	h    *topology.Host
	opts Options
	db   *sql.DB
	// flavor is the server's as of the last read (nil: not known yet, so the
	// next read asks with the statements that work on every flavor).
	flavor *flavor.Flavor
	// query is the one-statement read of variables and status for flavor.
	query string
	// From the last full read, carried into health reads.
	schemas   []string
	heartbeat float64
}

// NewReader returns a Reader of h; it connects on its first read.
func NewReader(c *topology.Cluster, h *topology.Host, opts Options) *Reader {
	opts.Timeouts = opts.Timeouts.WithDefaults()
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Reader{c: c, h: h, opts: opts}
}

// Health reads what a round of the watch needs: variables (read_only, GTID
// positions, semi-sync settings), uptime and semi-sync status in one
// statement, and the replica status in a second. Schemas and the heartbeat
// period are those of the last Full read. The first read of a Reader is a
// full one.
func (r *Reader) Health(ctx context.Context) *topology.LiveHost {
	if r.flavor == nil {
		return r.read(ctx, depthFull)
	}
	return r.read(ctx, depthHealth)
}

// Full reads everything plan reads except the accounts.
func (r *Reader) Full(ctx context.Context) *topology.LiveHost { return r.read(ctx, depthFull) }

// Close drops the kept connection.
func (r *Reader) Close() {
	if r.db != nil {
		r.db.Close()
		r.db = nil
	}
}

func (r *Reader) read(ctx context.Context, d depth) *topology.LiveHost {
	h := r.h
	lh := &topology.LiveHost{Name: h.Name, Address: h.Address, Port: h.Port, AccountsUnread: d < depthAccounts}
	if lh.Port == 0 {
		lh.Port = 3306
	}
	start := time.Now()
	if err := r.readInto(ctx, d, lh); err != nil {
		// A connection that failed or timed out is never reused: the next
		// read dials afresh (and learns the flavor again: a restart may have
		// been an upgrade).
		r.Close()
		r.flavor, r.query = nil, ""
		lh.Reachable = false
		lh.Error = conn.WithOp("inspect", h, err).Error()
		if me := (*mysql.MySQLError)(nil); errors.As(err, &me) {
			lh.ErrorNumber = me.Number
		}
		r.opts.Logger.Debug("inspect failed", "host", h.Name, "addr", conn.Addr(h), "took", time.Since(start), "error", lh.Error)
		return lh
	}
	lh.Reachable = true
	if d >= depthFull {
		r.opts.Logger.Debug("inspected", "host", h.Name, "addr", conn.Addr(h), "took", time.Since(start))
	}
	return lh
}

// health is the health read in one round trip: the variables and status,
// then the replica status, as two result sets of one request.
func (r *Reader) health(ctx context.Context, q querier, lh *topology.LiveHost) error {
	f := *r.flavor
	ctx, cancel := context.WithTimeout(ctx, q.timeout)
	defer cancel()
	rs, err := q.db.QueryContext(ctx, r.query+"; "+f.ShowReplicaStatus())
	if err != nil {
		return fmt.Errorf("read variables, status and replica status: %w", err)
	}
	defer rs.Close()
	vars, status := map[string]string{}, map[string]string{}
	if err := scanPairs(rs, sortInto(vars, status)); err != nil {
		return fmt.Errorf("read variables and status: %w", err)
	}
	if !rs.NextResultSet() {
		if err := rs.Err(); err != nil {
			return fmt.Errorf("read replica status: %w", err)
		}
		return errors.New("read replica status: the server sent no second result")
	}
	rows, err := scanRows(rs)
	if err != nil {
		return fmt.Errorf("read replica status: %w", err)
	}
	return r.fill(f, vars, status, rows, lh)
}

// fill sets lh from a read's variables, status and replica status rows.
func (r *Reader) fill(f flavor.Flavor, vars, status map[string]string, replica []map[string]sql.NullString, lh *topology.LiveHost) error {
	lh.Version = vars["version"]
	vf, err := flavor.Parse(lh.Version)
	if err != nil {
		return err
	}
	if vf != f {
		r.flavor, r.query = &vf, "" // upgraded in place: the next read asks anew
	}
	fillVariables(vf, vars, lh)
	lh.Uptime = int64(atoi(status["uptime"]))
	if lh.SemiSyncMasterEnabled {
		lh.SemiSyncSourceActive = semiSyncSourceActive(status)
	}
	if len(replica) > 0 {
		if lh.Replica, err = flavor.ParseReplicaStatus(vf, replica[0]); err != nil {
			return err
		}
	}
	return nil
}

func (r *Reader) readInto(ctx context.Context, d depth, lh *topology.LiveHost) error {
	t := r.opts.Timeouts
	if r.db == nil {
		// Statements of our own only (no input in them): the health read
		// sends its two in one round trip.
		cfg := conn.Config(r.h, t)
		cfg.MultiStatements = true
		db, err := conn.OpenConfig(ctx, r.h, t, cfg)
		if err != nil {
			return err
		}
		r.db = db
	}
	q := querier{db: r.db, timeout: t.Query}
	if d == depthHealth && r.query != "" {
		if err := r.health(ctx, q, lh); err != nil {
			return err
		}
		if lh.Replica != nil {
			lh.Replica.HeartbeatPeriod = r.heartbeat
		}
		lh.UserSchemas = slices.Clone(r.schemas)
		return nil
	}

	if r.flavor != nil && r.query == "" {
		r.query = variablesAndStatusQuery(*r.flavor)
	}
	vars, status, err := readVariablesAndStatus(ctx, q, r.query)
	if err != nil {
		return err
	}
	f, err := flavor.Parse(vars["version"])
	if err != nil {
		return err
	}
	if r.flavor == nil || *r.flavor != f {
		r.flavor, r.query = &f, ""
	}
	rows, err := q.rows(ctx, f.ShowReplicaStatus())
	if err != nil {
		return fmt.Errorf("read replica status: %w", err)
	}
	if err := r.fill(f, vars, status, rows, lh); err != nil {
		return err
	}

	r.heartbeat = 0
	if lh.Replica != nil {
		r.heartbeat = readHeartbeat(ctx, q, f)
		lh.Replica.HeartbeatPeriod = r.heartbeat
	}
	schemas, err := q.column(ctx, "SHOW DATABASES")
	if err != nil {
		return fmt.Errorf("list databases: %w", err)
	}
	for _, s := range schemas {
		if !topology.IsServerSchema(s) {
			lh.UserSchemas = append(lh.UserSchemas, s)
		}
	}
	sort.Strings(lh.UserSchemas)
	r.schemas = slices.Clone(lh.UserSchemas)

	if d == depthAccounts {
		if lh.Users, err = readUsers(ctx, q, f, r.c, r.h); err != nil {
			return err
		}
	}
	return nil
}

// querier runs one statement at a time on a host, each under the query timeout.
type querier struct {
	db      *sql.DB
	timeout time.Duration
}

// rows runs a query and returns every row as column name -> value.
func (q querier) rows(ctx context.Context, query string) ([]map[string]sql.NullString, error) {
	return Rows(ctx, q.db, q.timeout, query)
}

// Rows runs one query under timeout and returns every row as column name ->
// value (SHOW statements read by name, whatever the server's column order).
func Rows(ctx context.Context, db *sql.DB, timeout time.Duration, query string) ([]map[string]sql.NullString, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	rs, err := db.QueryContext(ctx, query)
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	return scanRows(rs)
}

// scanRows reads every row of rs' current result set as column name -> value.
func scanRows(rs *sql.Rows) ([]map[string]sql.NullString, error) {
	cols, err := rs.Columns()
	if err != nil {
		return nil, err
	}
	var out []map[string]sql.NullString
	for rs.Next() {
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rs.Scan(ptrs...); err != nil {
			return nil, err
		}
		row := make(map[string]sql.NullString, len(cols))
		for i, c := range cols {
			row[c] = vals[i]
		}
		out = append(out, row)
	}
	return out, rs.Err()
}

// pairs runs a query of two columns (a name and a value) and hands each
// row to fn, the name in lower case.
func (q querier) pairs(ctx context.Context, query string, fn func(name, value string)) error {
	ctx, cancel := context.WithTimeout(ctx, q.timeout)
	defer cancel()
	rs, err := q.db.QueryContext(ctx, query)
	if err != nil {
		return err
	}
	defer rs.Close()
	return scanPairs(rs, fn)
}

// scanPairs hands each (name, value) row of rs' current result set to fn,
// the name in lower case.
func scanPairs(rs *sql.Rows, fn func(name, value string)) error {
	for rs.Next() {
		var name, value sql.NullString
		if err := rs.Scan(&name, &value); err != nil {
			return err
		}
		fn(strings.ToLower(name.String), value.String)
	}
	return rs.Err()
}

// sortInto files a (name, value) pair under status when it is one of
// statusNames, under vars otherwise.
func sortInto(vars, status map[string]string) func(name, value string) {
	return func(name, value string) {
		if slices.Contains(statusNames, name) {
			status[name] = value
		} else {
			vars[name] = value
		}
	}
}

// column returns one column of every row, in order.
func (q querier) column(ctx context.Context, query string) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, q.timeout)
	defer cancel()
	rs, err := q.db.QueryContext(ctx, query)
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	var out []string
	for rs.Next() {
		var v sql.NullString
		if err := rs.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, v.String)
	}
	return out, rs.Err()
}

// statusNames are the status counters a read takes (lower case): Uptime
// tells a restarted server from one that was merely unreachable; the
// semi-sync status says whether a semi-sync source still waits for
// acknowledgements or fell back to asynchronous replication.
var statusNames = []string{"uptime", "rpl_semi_sync_master_status", "rpl_semi_sync_source_status"}

// quotedList is ('a', 'b', …), upper-cased when upper.
func quotedList(names []string, upper bool) string {
	quoted := make([]string, len(names))
	for i, n := range names {
		if upper {
			n = strings.ToUpper(n)
		}
		quoted[i] = flavor.QuoteString(n)
	}
	return "(" + strings.Join(quoted, ", ") + ")"
}

// variablesAndStatusQuery reads, in one statement, the variables f needs and
// the status counters above: the variable and status tables of
// information_schema on MariaDB, of performance_schema on MySQL.
func variablesAndStatusQuery(f flavor.Flavor) string {
	schema := "performance_schema"
	if f.IsMariaDB() {
		schema = "information_schema"
	}
	return "SELECT VARIABLE_NAME, VARIABLE_VALUE FROM " + schema + ".GLOBAL_VARIABLES WHERE VARIABLE_NAME IN " + quotedList(f.InspectVars(), f.IsMariaDB()) +
		" UNION ALL SELECT VARIABLE_NAME, VARIABLE_VALUE FROM " + schema + ".GLOBAL_STATUS WHERE VARIABLE_NAME IN " + quotedList(statusNames, f.IsMariaDB())
}

// readVariablesAndStatus reads variables and status counters, keyed by
// lower-case name; names a server does not have are simply absent. With a
// query (variablesAndStatusQuery, once the flavor is known) it is one
// statement; before that, the two SHOW statements every flavor understands.
func readVariablesAndStatus(ctx context.Context, q querier, query string) (vars, status map[string]string, err error) {
	vars, status = map[string]string{}, map[string]string{}
	if query != "" {
		if err := q.pairs(ctx, query, sortInto(vars, status)); err != nil {
			return nil, nil, fmt.Errorf("read variables and status: %w", err)
		}
		return vars, status, nil
	}
	if err := q.pairs(ctx, "SHOW GLOBAL VARIABLES WHERE Variable_name IN "+quotedList(flavor.AllInspectVars(), false),
		func(name, value string) { vars[name] = value }); err != nil {
		return nil, nil, fmt.Errorf("read variables: %w", err)
	}
	if err := q.pairs(ctx, "SHOW GLOBAL STATUS WHERE Variable_name IN "+quotedList(statusNames, false),
		func(name, value string) { status[name] = value }); err != nil {
		return nil, nil, fmt.Errorf("read status: %w", err)
	}
	return vars, status, nil
}

func fillVariables(f flavor.Flavor, v map[string]string, lh *topology.LiveHost) {
	lh.ServerID = uint32(atoi(v["server_id"]))
	lh.LogBin = isOn(v["log_bin"])
	lh.LogSlaveUpdates = isOn(first(v, f.LogReplicaUpdatesVar(), "log_slave_updates", "log_replica_updates"))
	lh.ReadOnly = isOn(v["read_only"])
	lh.SuperReadOnly = isOn(v["super_read_only"])
	lh.AutoIncrementIncrement = atoi(v["auto_increment_increment"])
	lh.AutoIncrementOffset = atoi(v["auto_increment_offset"])
	lh.ReplicaNetTimeout = atoi(first(v, f.ReplicaNetTimeoutVar(), "slave_net_timeout", "replica_net_timeout"))
	// A MySQL 8.0.26+ server may still run the old master/slave plugins, so
	// take whichever naming the server has.
	lh.SemiSyncMasterEnabled = isOn(first(v, f.SemiSyncSourceEnabledVar(), "rpl_semi_sync_master_enabled", "rpl_semi_sync_source_enabled"))
	lh.SemiSyncSlaveEnabled = isOn(first(v, f.SemiSyncReplicaEnabledVar(), "rpl_semi_sync_slave_enabled", "rpl_semi_sync_replica_enabled"))
	if f.IsMariaDB() {
		lh.GTIDBinlogPos = v[flavor.VarGTIDBinlogPos]
		lh.GTIDSlavePos = v[flavor.VarGTIDSlavePos]
		lh.GTIDCurrentPos = v[flavor.VarGTIDCurrentPos]
		lh.GTIDExecuted = lh.GTIDCurrentPos
		lh.GTIDStrictMode = isOn(v[flavor.VarGTIDStrictMode])
	} else {
		lh.GTIDMode = v[flavor.VarGTIDMode]
		lh.GTIDExecuted = strings.Join(strings.Fields(v[flavor.VarGTIDExecuted]), "")
		lh.GTIDStrictMode = isOn(v[flavor.VarEnforceGTIDConsistency])
	}
}

// readHeartbeat is best effort: the heartbeat is informational, so a server
// that will not say leaves it 0 rather than failing the host.
func readHeartbeat(ctx context.Context, q querier, f flavor.Flavor) float64 {
	query := "SELECT HEARTBEAT_INTERVAL FROM performance_schema.replication_connection_configuration WHERE CHANNEL_NAME = ''"
	if f.IsMariaDB() {
		query = "SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = 'SLAVE_HEARTBEAT_PERIOD'"
	}
	vals, err := q.column(ctx, query)
	if err != nil || len(vals) == 0 {
		return 0
	}
	p, _ := strconv.ParseFloat(vals[0], 64)
	return p
}

// readUsers reads the declared accounts. The admin account is left out: mmm
// never manages the account it connects with (changing it could lock mmm out).
func readUsers(ctx context.Context, q querier, f flavor.Flavor, c *topology.Cluster, h *topology.Host) (map[string]*topology.LiveUser, error) {
	users := map[string]*topology.LiveUser{}
	for _, u := range c.Users {
		if u.Name == h.Admin.User {
			continue
		}
		key := u.Key()
		if _, seen := users[key]; seen {
			continue
		}
		lu := &topology.LiveUser{Name: u.Name, Host: u.Host, Password: topology.PasswordUnknown}
		users[key] = lu
		rows, err := q.rows(ctx, "SELECT plugin, authentication_string FROM mysql.user WHERE User = "+
			flavor.QuoteString(u.Name)+" AND Host = "+flavor.QuoteString(u.Host))
		if err != nil {
			return nil, fmt.Errorf("read account %s: %w", key, err)
		}
		if len(rows) == 0 {
			continue
		}
		lu.Exists = true
		lu.Plugin = rows[0]["plugin"].String
		if lu.Plugin == "" && f.IsMariaDB() {
			lu.Plugin = flavor.PluginNative // MariaDB shows old-style accounts with no plugin
		}
		if u.Password.Set {
			lu.Password = flavor.PasswordMatches(lu.Plugin, rows[0]["authentication_string"].String, u.Password.Value())
		}
		lines, err := q.column(ctx, "SHOW GRANTS FOR "+flavor.Account(u.Name, u.Host))
		if err != nil {
			return nil, fmt.Errorf("read grants of %s: %w", key, err)
		}
		if lu.Grants, err = flavor.ParseGrants(f, lines); err != nil {
			return nil, fmt.Errorf("grants of %s: %w", key, err)
		}
	}
	return users, nil
}

func first(v map[string]string, names ...string) string {
	for _, n := range names {
		if x, ok := v[n]; ok {
			return x
		}
	}
	return ""
}

func isOn(s string) bool {
	switch strings.ToUpper(strings.TrimSpace(s)) {
	case "ON", "1", "YES", "TRUE":
		return true
	}
	return false
}

func atoi(s string) int {
	n, _ := strconv.Atoi(strings.TrimSpace(s))
	return n
}

// semiSyncSourceActive is the source side's effective semi-sync state from
// a read's status (lower-case names): MariaDB and MySQL before 8.0.26 say
// Rpl_semi_sync_master_status, later MySQL Rpl_semi_sync_source_status.
// Nil when neither is there.
func semiSyncSourceActive(status map[string]string) *bool {
	for _, name := range []string{"rpl_semi_sync_master_status", "rpl_semi_sync_source_status"} {
		if v, ok := status[name]; ok {
			on := isOn(v)
			return &on
		}
	}
	return nil
}
