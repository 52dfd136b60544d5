package flavor

import (
	"slices"
	"sort"
	"strings"

	"github.com/mysql-mmm/mmm/internal/topology"
)

// Privilege tables. A privilege is valid at a level when the server accepts it
// there; "ALL PRIVILEGES" at a level means every privilege of that level except
// GRANT OPTION (and PROXY), which is what Expand returns.

// Object-level privileges shared by both vendors.
var (
	routinePrivileges = []string{"ALTER ROUTINE", "EXECUTE"}
	columnPrivileges  = []string{"INSERT", "REFERENCES", "SELECT", "UPDATE"}
	tablePrivileges   = []string{
		"ALTER", "CREATE", "CREATE VIEW", "DELETE", "DROP", "INDEX", "INSERT",
		"REFERENCES", "SELECT", "SHOW VIEW", "TRIGGER", "UPDATE",
	}
	databasePrivileges = append([]string{
		"ALTER ROUTINE", "CREATE ROUTINE", "CREATE TEMPORARY TABLES", "EVENT", "EXECUTE", "LOCK TABLES",
	}, tablePrivileges...)
	// Global-only static privileges both vendors have.
	serverPrivileges = []string{
		"CREATE TABLESPACE", "CREATE USER", "FILE", "PROCESS", "RELOAD",
		"REPLICATION SLAVE", "SHOW DATABASES", "SHUTDOWN", "SUPER",
	}
)

// MariaDB: the 10.5.2 split of SUPER into finer privileges, and renames the
// server prints under the new name (REPLICATION CLIENT is shown as BINLOG MONITOR).
var (
	mariadbServerPrivileges = []string{
		"BINLOG ADMIN", "BINLOG MONITOR", "BINLOG REPLAY", "CONNECTION ADMIN", "FEDERATED ADMIN",
		"REPLICATION MASTER ADMIN", "REPLICATION SLAVE ADMIN", "SET USER",
	}
	mariadbAliases = map[string]string{
		"REPLICATION CLIENT":        "BINLOG MONITOR",
		"REPLICA MONITOR":           "SLAVE MONITOR",
		"REPLICATION REPLICA":       "REPLICATION SLAVE",
		"REPLICATION REPLICA ADMIN": "REPLICATION SLAVE ADMIN",
		"DELETE VERSIONING ROWS":    "DELETE HISTORY",
	}
)

// MySQL: static global privileges beyond the shared ones, and the dynamic
// privileges the server itself registers (plugins and components add more;
// those are valid names but not part of ALL unless the server shows them).
var (
	mysqlServerPrivileges = []string{"CREATE ROLE", "DROP ROLE", "REPLICATION CLIENT"}
	mysqlDynamic80        = []string{
		"APPLICATION_PASSWORD_ADMIN", "AUDIT_ABORT_EXEMPT", "AUDIT_ADMIN", "AUTHENTICATION_POLICY_ADMIN",
		"BACKUP_ADMIN", "BINLOG_ADMIN", "BINLOG_ENCRYPTION_ADMIN", "CLONE_ADMIN", "CONNECTION_ADMIN",
		"ENCRYPTION_KEY_ADMIN", "FIREWALL_EXEMPT", "FLUSH_OPTIMIZER_COSTS", "FLUSH_STATUS", "FLUSH_TABLES",
		"FLUSH_USER_RESOURCES", "GROUP_REPLICATION_ADMIN", "GROUP_REPLICATION_STREAM",
		"INNODB_REDO_LOG_ARCHIVE", "INNODB_REDO_LOG_ENABLE", "PASSWORDLESS_USER_ADMIN",
		"PERSIST_RO_VARIABLES_ADMIN", "REPLICATION_APPLIER", "REPLICATION_SLAVE_ADMIN",
		"RESOURCE_GROUP_ADMIN", "RESOURCE_GROUP_USER", "ROLE_ADMIN", "SENSITIVE_VARIABLES_OBSERVER",
		"SERVICE_CONNECTION_ADMIN", "SESSION_VARIABLES_ADMIN", "SET_USER_ID", "SHOW_ROUTINE",
		"SYSTEM_USER", "SYSTEM_VARIABLES_ADMIN", "TABLE_ENCRYPTION_ADMIN", "TELEMETRY_LOG_ADMIN",
		"XA_RECOVER_ADMIN",
	}
	mysqlDynamicPlugins = []string{
		"FIREWALL_ADMIN", "FIREWALL_USER", "NDB_STORED_USER", "SKIP_QUERY_REWRITE",
		"TP_CONNECTION_ADMIN", "VERSION_TOKEN_ADMIN",
	}
)

// Level is where a grant applies.
type Level int

const (
	LevelGlobal   Level = iota // *.*
	LevelDatabase              // db.*
	LevelTable                 // db.tbl
	LevelRoutine               // PROCEDURE db.p, FUNCTION db.f
)

// LevelOf returns the level of a canonical object ("*.*", "db.*", "db.tbl",
// "PROCEDURE db.p").
func LevelOf(on string) Level {
	switch {
	case strings.HasPrefix(on, "PROCEDURE ") || strings.HasPrefix(on, "FUNCTION "):
		return LevelRoutine
	case on == "*.*":
		return LevelGlobal
	case strings.HasSuffix(on, ".*"):
		return LevelDatabase
	}
	return LevelTable
}

// allAt is what ALL PRIVILEGES means at a level for f.
func allAt(f Flavor, level Level) []string {
	var out []string
	switch level {
	case LevelRoutine:
		out = append(out, routinePrivileges...)
	case LevelTable:
		out = append(out, tablePrivileges...)
		if f.IsMariaDB() {
			out = append(out, "DELETE HISTORY")
		}
	case LevelDatabase:
		out = append(out, databasePrivileges...)
		if f.IsMariaDB() {
			out = append(out, "DELETE HISTORY")
			if f.Min(11, 3, 0) {
				out = append(out, "SHOW CREATE ROUTINE")
			}
		}
	case LevelGlobal:
		out = append(out, allAt(f, LevelDatabase)...)
		out = append(out, serverPrivileges...)
		if f.IsMariaDB() {
			out = append(out, mariadbServerPrivileges...)
			if f.Min(10, 5, 2) {
				out = append(out, "READ_ONLY ADMIN")
			}
			if f.Min(10, 5, 9) {
				out = append(out, "SLAVE MONITOR")
			}
		} else {
			out = append(out, mysqlServerPrivileges...)
			out = append(out, mysqlDynamic(f)...)
		}
	}
	return sortUnique(out)
}

func mysqlDynamic(f Flavor) []string {
	out := append([]string(nil), mysqlDynamic80...)
	if f.Min(8, 2, 0) {
		out = append(out, "ALLOW_NONEXISTENT_DEFINER", "SET_ANY_DEFINER")
	}
	if f.Min(8, 3, 0) {
		out = append(out, "TRANSACTION_GTID_TAG")
	}
	if f.Min(8, 4, 0) {
		// SET_USER_ID gave way to SET_ANY_DEFINER (8.2) and is gone in 8.4.
		out = slices.DeleteFunc(out, func(p string) bool { return p == "SET_USER_ID" })
		out = append(out, "FLUSH_PRIVILEGES", "OPTIMIZE_LOCAL_TABLE")
	}
	return out
}

// Privileges lists every privilege name f accepts in a GRANT, canonical names
// and aliases, plus ALL, ALL PRIVILEGES, USAGE, GRANT OPTION and PROXY.
func Privileges(f Flavor) []string {
	out := allAt(f, LevelGlobal)
	out = append(out, "ALL", "ALL PRIVILEGES", "USAGE", "GRANT OPTION", "PROXY")
	if f.IsMariaDB() {
		for alias := range mariadbAliases {
			out = append(out, alias)
		}
	} else {
		out = append(out, mysqlDynamicPlugins...)
	}
	return sortUnique(out)
}

// ValidPrivilege reports whether f knows the privilege name (any case; a
// column list "SELECT (a)" is checked by its name).
func ValidPrivilege(f Flavor, name string) bool {
	n, _ := splitColumns(normalizeName(name))
	for _, p := range Privileges(f) {
		if p == n {
			return true
		}
	}
	return false
}

// ValidAt reports whether a (canonical) privilege can be granted at level.
func ValidAt(f Flavor, level Level, priv string) bool {
	name, cols := splitColumns(priv)
	if len(cols) > 0 {
		return level == LevelTable && contains(columnPrivileges, name)
	}
	if name == "GRANT OPTION" || name == "USAGE" || name == "ALL PRIVILEGES" {
		return true
	}
	if level == LevelGlobal && !f.IsMariaDB() && contains(mysqlDynamicPlugins, name) {
		return true
	}
	return contains(allAt(f, level), name)
}

// CanonicalPrivilege returns a privilege the way f's SHOW GRANTS prints it:
// upper case, single spaces, aliases resolved (MariaDB: REPLICATION CLIENT ->
// BINLOG MONITOR), ALL -> ALL PRIVILEGES, column names unquoted and sorted.
func CanonicalPrivilege(f Flavor, priv string) string {
	name, cols := splitColumns(normalizeName(priv))
	if name == "ALL" {
		name = "ALL PRIVILEGES"
	}
	if f.MinMariaDB(10, 5, 2) {
		if c, ok := mariadbAliases[name]; ok {
			name = c
		}
	}
	if len(cols) == 0 {
		return name
	}
	for i, c := range cols {
		cols[i] = unquoteIdent(c)
	}
	sort.Strings(cols)
	return name + " (" + strings.Join(sortUnique(cols), ", ") + ")"
}

// Expand turns a privilege list at an object into the canonical form of
// topology.Grant: canonical names, ALL PRIVILEGES replaced by what it means at
// that level, USAGE dropped, sorted. GRANT OPTION is reported apart.
func Expand(f Flavor, on string, privs []string) (out []string, grantOption bool) {
	level := LevelOf(on)
	cols := map[string][]string{} // column privileges merged per name
	for _, p := range privs {
		c := CanonicalPrivilege(f, p)
		switch name, cl := splitColumns(c); {
		case name == "USAGE":
		case name == "GRANT OPTION":
			grantOption = true
		case name == "ALL PRIVILEGES":
			out = append(out, allAt(f, level)...)
		case len(cl) > 0:
			cols[name] = append(cols[name], cl...)
		default:
			out = append(out, name)
		}
	}
	for name, cl := range cols {
		sort.Strings(cl)
		out = append(out, name+" ("+strings.Join(sortUnique(cl), ", ")+")")
	}
	return sortUnique(out), grantOption
}

// NormalizeGrant puts a declared grant into the form ParseGrants returns, so the
// two compare with ==: canonical object, expanded sorted privileges, GRANT
// OPTION moved to WithGrantOption.
func NormalizeGrant(f Flavor, g topology.Grant) topology.Grant {
	on := CanonicalObject(g.On)
	privs, opt := Expand(f, on, g.Privileges)
	return topology.Grant{On: on, Privileges: privs, WithGrantOption: g.WithGrantOption || opt}
}

// CanonicalObject writes an object without quoting: "*.*", "db.*", "db.tbl",
// "PROCEDURE db.p". Backticks and quotes are removed, keywords upper-cased.
func CanonicalObject(on string) string {
	on = strings.TrimSpace(on)
	kind := ""
	upper := strings.ToUpper(on)
	for _, k := range []string{"PROCEDURE ", "FUNCTION ", "TABLE "} {
		if strings.HasPrefix(upper, k) {
			kind, on = k, strings.TrimSpace(on[len(k):])
		}
	}
	if kind == "TABLE " {
		kind = ""
	}
	if on == "*" {
		return "*.*"
	}
	parts := splitOutside(on, '.')
	for i, p := range parts {
		parts[i] = unquoteIdent(strings.TrimSpace(p))
	}
	return kind + strings.Join(parts, ".")
}

func normalizeName(p string) string {
	name, rest, hasCols := strings.Cut(strings.TrimSpace(p), "(")
	name = strings.ToUpper(strings.Join(strings.Fields(name), " "))
	if hasCols {
		return name + " (" + rest
	}
	return name
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func sortUnique(in []string) []string {
	seen := make(map[string]bool, len(in))
	out := make([]string, 0, len(in))
	for _, s := range in {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return out
}
