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
		wg.Go(func() { results[i] = InspectHost(ctx, c, h, opts) })
	}
	wg.Wait()
	for _, lh := range results {
		live.Hosts[lh.Name] = lh
	}
	return live
}

// InspectHost reads one host.
func InspectHost(ctx context.Context, c *topology.Cluster, h *topology.Host, opts Options) *topology.LiveHost {
	opts.Timeouts = opts.Timeouts.WithDefaults()
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	lh := &topology.LiveHost{Name: h.Name, Address: h.Address, Port: h.Port}
	if lh.Port == 0 {
		lh.Port = 3306
	}
	start := time.Now()
	err := inspectHost(ctx, c, h, opts.Timeouts, lh)
	if err != nil {
		lh.Reachable = false
		lh.Error = conn.WithOp("inspect", h, err).Error()
		if me := (*mysql.MySQLError)(nil); errors.As(err, &me) {
			lh.ErrorNumber = me.Number
		}
		opts.Logger.Debug("inspect failed", "host", h.Name, "addr", conn.Addr(h), "took", time.Since(start), "error", lh.Error)
		return lh
	}
	opts.Logger.Debug("inspected", "host", h.Name, "addr", conn.Addr(h), "took", time.Since(start))
	return lh
}

// querier runs one statement at a time on a host, each under the query timeout.
type querier struct {
	db      *sql.DB
	timeout time.Duration
}

// rows runs a query and returns every row as column name -> value.
func (q querier) rows(ctx context.Context, query string) ([]map[string]sql.NullString, error) {
	ctx, cancel := context.WithTimeout(ctx, q.timeout)
	defer cancel()
	rs, err := q.db.QueryContext(ctx, query)
	if err != nil {
		return nil, err
	}
	defer rs.Close()
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

func inspectHost(ctx context.Context, c *topology.Cluster, h *topology.Host, t conn.Timeouts, lh *topology.LiveHost) error {
	db, err := conn.Open(ctx, h, t)
	if err != nil {
		return err
	}
	defer db.Close()
	q := querier{db: db, timeout: t.Query}

	vars, err := readVariables(ctx, q)
	if err != nil {
		return fmt.Errorf("read variables: %w", err)
	}
	lh.Version = vars["version"]
	f, err := flavor.Parse(lh.Version)
	if err != nil {
		return err
	}
	fillVariables(f, vars, lh)

	status, err := q.rows(ctx, f.ShowReplicaStatus())
	if err != nil {
		return fmt.Errorf("read replica status: %w", err)
	}
	if len(status) > 0 {
		if lh.Replica, err = flavor.ParseReplicaStatus(f, status[0]); err != nil {
			return err
		}
		lh.Replica.HeartbeatPeriod = readHeartbeat(ctx, q, f)
	}

	// Uptime (the watch tells a restarted server from one that was merely
	// unreachable) and, on a semi-sync source, whether it still waits for
	// acknowledgements or fell back to asynchronous replication (an
	// acknowledged write on the writer alone): one statement.
	st, err := q.rows(ctx, "SHOW GLOBAL STATUS WHERE Variable_name = 'Uptime' OR Variable_name LIKE 'Rpl\\_semi\\_sync\\_%'")
	if err != nil {
		return fmt.Errorf("read status: %w", err)
	}
	for _, r := range st {
		if strings.EqualFold(r["Variable_name"].String, "Uptime") {
			lh.Uptime = int64(atoi(r["Value"].String))
		}
	}
	if lh.SemiSyncMasterEnabled {
		lh.SemiSyncSourceActive = SemiSyncSourceActive(st)
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

	if lh.Users, err = readUsers(ctx, q, f, c, h); err != nil {
		return err
	}
	lh.Reachable = true
	return nil
}

// readVariables reads every variable any flavor needs in one round trip;
// names a server does not have are simply absent.
func readVariables(ctx context.Context, q querier) (map[string]string, error) {
	names := flavor.AllInspectVars()
	quoted := make([]string, len(names))
	for i, n := range names {
		quoted[i] = flavor.QuoteString(n)
	}
	rows, err := q.rows(ctx, "SHOW GLOBAL VARIABLES WHERE Variable_name IN ("+strings.Join(quoted, ", ")+")")
	if err != nil {
		return nil, err
	}
	vars := make(map[string]string, len(rows))
	for _, r := range rows {
		vars[strings.ToLower(r["Variable_name"].String)] = r["Value"].String
	}
	return vars, nil
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

// SemiSyncSourceActive reads the source side's effective semi-sync state
// from SHOW GLOBAL STATUS rows (Variable_name, Value): MariaDB and MySQL
// before 8.0.26 say Rpl_semi_sync_master_status, later MySQL
// Rpl_semi_sync_source_status. Nil when neither is there.
func SemiSyncSourceActive(rows []map[string]sql.NullString) *bool {
	for _, r := range rows {
		name := strings.ToLower(r["Variable_name"].String)
		if name == "rpl_semi_sync_master_status" || name == "rpl_semi_sync_source_status" {
			on := isOn(r["Value"].String)
			return &on
		}
	}
	return nil
}
