// Package flavor knows how MariaDB and MySQL differ: a server's vendor and version
// as a parsed value with capability methods, the SQL mmm sends to each (statement
// builders), the column and variable names each reports, and pure parsers for what
// they answer (SHOW SLAVE/REPLICA STATUS, SHOW GRANTS, stored password hashes).
//
// Versions are compared as numbers through Min, never as strings. Supported:
// MariaDB 10.5 and later, MySQL 8.0 and 8.4; older servers parse but are
// reported by Supported.
//
// The package imports nothing of ours but internal/topology, so that schema
// (validation of privilege names) and plan (statements) can both use it.
package flavor

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Vendor is the server family.
type Vendor string

const (
	MariaDB Vendor = "mariadb"
	MySQL   Vendor = "mysql"
)

// Flavor is a server's vendor and version.
type Flavor struct {
	Vendor              Vendor
	Major, Minor, Patch int
}

// Defaults for a fresh cluster whose servers have not been seen yet: the oldest
// version mmm supports, so capability checks stay conservative. Inspection
// replaces them with the version each server reports.
var (
	defaultMariaDB = Flavor{Vendor: MariaDB, Major: 10, Minor: 5, Patch: 1}
	defaultMySQL   = Flavor{Vendor: MySQL, Major: 8, Minor: 0, Patch: 26}
)

// FromName returns the default flavor for a cluster's declared flavor
// ("mariadb" | "mysql"), used when no server has been inspected yet.
func FromName(name string) (Flavor, error) {
	switch strings.ToLower(strings.TrimSpace(name)) {
	case "mariadb":
		return defaultMariaDB, nil
	case "mysql":
		return defaultMySQL, nil
	}
	return Flavor{}, fmt.Errorf("unknown flavor %q: want \"mariadb\" or \"mysql\"", name)
}

// Newest returns the newest version mmm knows of a declared flavor. Offline
// validation checks privilege names against it, so that no name a supported
// server accepts is refused; the version each server reports decides at plan
// time.
func Newest(name string) (Flavor, error) {
	switch strings.ToLower(strings.TrimSpace(name)) {
	case "mariadb":
		return Flavor{Vendor: MariaDB, Major: 11, Minor: 4, Patch: 0}, nil
	case "mysql":
		return Flavor{Vendor: MySQL, Major: 8, Minor: 4, Patch: 0}, nil
	}
	return Flavor{}, fmt.Errorf("unknown flavor %q: want \"mariadb\" or \"mysql\"", name)
}

var versionRE = regexp.MustCompile(`^(\d+)\.(\d+)\.(\d+)`)

// Parse reads @@version: "10.11.6-MariaDB-0+deb12u1", "10.11.19-MariaDB-0+deb12u1-log",
// "8.0.36", "8.4.0-commercial", "8.0.36-28" (Percona Server counts as MySQL).
// Old MariaDB replication-compatible versions "5.5.5-10.11.6-MariaDB" are
// read past the 5.5.5- prefix.
func Parse(version string) (Flavor, error) {
	v := strings.TrimSpace(version)
	vendor := MySQL
	if strings.Contains(strings.ToLower(v), "mariadb") {
		vendor = MariaDB
		v = strings.TrimPrefix(v, "5.5.5-")
	}
	m := versionRE.FindStringSubmatch(v)
	if m == nil {
		return Flavor{}, fmt.Errorf("cannot read server version %q: want MAJOR.MINOR.PATCH", version)
	}
	f := Flavor{Vendor: vendor}
	f.Major, _ = strconv.Atoi(m[1])
	f.Minor, _ = strconv.Atoi(m[2])
	f.Patch, _ = strconv.Atoi(m[3])
	return f, nil
}

// String prints "MariaDB 10.11.6" / "MySQL 8.0.36".
func (f Flavor) String() string {
	name := "MySQL"
	if f.IsMariaDB() {
		name = "MariaDB"
	}
	return fmt.Sprintf("%s %d.%d.%d", name, f.Major, f.Minor, f.Patch)
}

// IsZero reports whether f was never set.
func (f Flavor) IsZero() bool { return f.Vendor == "" }

// IsMariaDB reports whether the server is MariaDB.
func (f Flavor) IsMariaDB() bool { return f.Vendor == MariaDB }

// IsMySQL reports whether the server is MySQL (or Percona Server).
func (f Flavor) IsMySQL() bool { return f.Vendor == MySQL }

// Min reports whether f is at least major.minor.patch (of its own vendor).
func (f Flavor) Min(major, minor, patch int) bool {
	if f.Major != major {
		return f.Major > major
	}
	if f.Minor != minor {
		return f.Minor > minor
	}
	return f.Patch >= patch
}

// MinMariaDB reports whether f is MariaDB at least major.minor.patch.
func (f Flavor) MinMariaDB(major, minor, patch int) bool {
	return f.IsMariaDB() && f.Min(major, minor, patch)
}

// MinMySQL reports whether f is MySQL at least major.minor.patch.
func (f Flavor) MinMySQL(major, minor, patch int) bool {
	return f.IsMySQL() && f.Min(major, minor, patch)
}

// Supported says why mmm does not support f, or "" when it does.
func (f Flavor) Supported() string {
	switch {
	case f.IsMariaDB() && !f.Min(10, 5, 0):
		return fmt.Sprintf("%s is too old: mmm needs MariaDB 10.5 or later", f)
	case f.IsMySQL() && !f.Min(8, 0, 0):
		return fmt.Sprintf("%s is too old: mmm needs MySQL 8.0 or later", f)
	}
	return ""
}

// HasReplicaKeyword reports whether the server accepts SHOW REPLICA STATUS,
// START/STOP/RESET REPLICA (MySQL 8.0.22, MariaDB 10.5.1). On MariaDB the
// column names stay Master_*/Slave_* and CHANGE MASTER TO stays.
func (f Flavor) HasReplicaKeyword() bool {
	return f.MinMySQL(8, 0, 22) || f.MinMariaDB(10, 5, 1)
}

// HasChangeReplicationSource reports whether the server wants CHANGE
// REPLICATION SOURCE TO with SOURCE_* options (MySQL 8.0.23; removed the old
// form in 8.4). MariaDB keeps CHANGE MASTER TO.
func (f Flavor) HasChangeReplicationSource() bool { return f.MinMySQL(8, 0, 23) }

// HasReplicaColumns reports whether SHOW REPLICA STATUS names its columns
// Source_*/Replica_* (MySQL 8.0.22); MariaDB and older MySQL say Master_*/Slave_*.
func (f Flavor) HasReplicaColumns() bool { return f.MinMySQL(8, 0, 22) }

// HasSuperReadOnly reports whether super_read_only exists (MySQL only; MariaDB
// has no equivalent before 11.x and mmm does not use it there).
func (f Flavor) HasSuperReadOnly() bool { return f.IsMySQL() }

// SemiSyncBuiltin reports whether semi-sync replication is compiled in (MariaDB
// 10.3.3) rather than a plugin that must be installed (MySQL).
func (f Flavor) SemiSyncBuiltin() bool { return f.MinMariaDB(10, 3, 3) }

// usesSourceTerms: MySQL 8.0.26 renamed semi-sync plugins and variables and
// log_slave_updates to source/replica.
func (f Flavor) usesSourceTerms() bool { return f.MinMySQL(8, 0, 26) }

// SemiSyncSourceEnabledVar is the variable that turns semi-sync on for a source.
func (f Flavor) SemiSyncSourceEnabledVar() string {
	if f.usesSourceTerms() {
		return "rpl_semi_sync_source_enabled"
	}
	return "rpl_semi_sync_master_enabled"
}

// SemiSyncReplicaEnabledVar is the variable that turns semi-sync on for a replica.
func (f Flavor) SemiSyncReplicaEnabledVar() string {
	if f.usesSourceTerms() {
		return "rpl_semi_sync_replica_enabled"
	}
	return "rpl_semi_sync_slave_enabled"
}

// SemiSyncTimeoutVar is how long (ms) a source waits for an acknowledgement
// before it falls back to asynchronous replication.
func (f Flavor) SemiSyncTimeoutVar() string {
	if f.usesSourceTerms() {
		return "rpl_semi_sync_source_timeout"
	}
	return "rpl_semi_sync_master_timeout"
}

// Plugin is a server plugin: its name in INSTALL PLUGIN and its library.
type Plugin struct {
	Name   string // "rpl_semi_sync_source"
	Soname string // "semisync_source.so"
}

// SemiSyncPlugins returns the source and replica semi-sync plugins, or
// ok=false when semi-sync is built in.
func (f Flavor) SemiSyncPlugins() (source, replica Plugin, ok bool) {
	if f.SemiSyncBuiltin() {
		return Plugin{}, Plugin{}, false
	}
	if f.usesSourceTerms() {
		return Plugin{"rpl_semi_sync_source", "semisync_source.so"},
			Plugin{"rpl_semi_sync_replica", "semisync_replica.so"}, true
	}
	return Plugin{"rpl_semi_sync_master", "semisync_master.so"},
		Plugin{"rpl_semi_sync_slave", "semisync_slave.so"}, true
}

// LogReplicaUpdatesVar is log_slave_updates under its current name.
func (f Flavor) LogReplicaUpdatesVar() string {
	if f.usesSourceTerms() {
		return "log_replica_updates"
	}
	return "log_slave_updates"
}

// ReplicaNetTimeoutVar is slave_net_timeout under its current name.
func (f Flavor) ReplicaNetTimeoutVar() string {
	if f.usesSourceTerms() {
		return "replica_net_timeout"
	}
	return "slave_net_timeout"
}

// GTID variable names.
const (
	VarGTIDMode               = "gtid_mode"                // MySQL: OFF | ON ...
	VarGTIDExecuted           = "gtid_executed"            // MySQL
	VarEnforceGTIDConsistency = "enforce_gtid_consistency" // MySQL
	VarGTIDBinlogPos          = "gtid_binlog_pos"          // MariaDB
	VarGTIDSlavePos           = "gtid_slave_pos"           // MariaDB
	VarGTIDCurrentPos         = "gtid_current_pos"         // MariaDB
	VarGTIDStrictMode         = "gtid_strict_mode"         // MariaDB
)

// GTIDVars lists the GTID variables this flavor has.
func (f Flavor) GTIDVars() []string {
	if f.IsMariaDB() {
		return []string{VarGTIDBinlogPos, VarGTIDSlavePos, VarGTIDCurrentPos, VarGTIDStrictMode}
	}
	return []string{VarGTIDMode, VarGTIDExecuted, VarEnforceGTIDConsistency}
}

// InspectVars lists the global variables inspection reads from a server of
// this flavor. Unknown names are harmless when read with SHOW GLOBAL VARIABLES.
func (f Flavor) InspectVars() []string {
	vars := []string{
		"version", "server_id", "log_bin", f.LogReplicaUpdatesVar(), "read_only", f.ReplicaNetTimeoutVar(),
		"auto_increment_increment", "auto_increment_offset",
		f.SemiSyncSourceEnabledVar(), f.SemiSyncReplicaEnabledVar(), f.SemiSyncTimeoutVar(),
	}
	if f.HasSuperReadOnly() {
		vars = append(vars, "super_read_only")
	}
	return append(vars, f.GTIDVars()...)
}

// AllInspectVars is the union of InspectVars over every flavor, for the first
// query to a server whose flavor is not known yet.
func AllInspectVars() []string {
	seen := map[string]bool{}
	var out []string
	for _, f := range []Flavor{defaultMariaDB, {Vendor: MySQL, Major: 8, Minor: 0, Patch: 0}, defaultMySQL} {
		for _, v := range f.InspectVars() {
			if !seen[v] {
				seen[v] = true
				out = append(out, v)
			}
		}
	}
	return out
}
