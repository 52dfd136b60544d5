package schema

import (
	"fmt"
	"sort"
	"strings"

	"github.com/agext/levenshtein"
)

// The privilege tables live here, next to the validation that uses them.
// They are exported so that the flavor and inspect packages can normalise
// what SHOW GRANTS prints with the same table (CanonicalPrivilege), and a
// declared grant and a live one compare equal.

// privilegeInfo is what the schema needs to know of one privilege.
type privilegeInfo struct {
	// global: only grantable ON *.* (administrative privileges).
	global bool
	// columns: may carry a column list, "SELECT (a, b)".
	columns bool
}

var commonPrivileges = map[string]privilegeInfo{
	"ALTER": {}, "ALTER ROUTINE": {}, "CREATE": {}, "CREATE ROUTINE": {},
	"CREATE TEMPORARY TABLES": {}, "CREATE VIEW": {}, "DELETE": {}, "DROP": {},
	"EVENT": {}, "EXECUTE": {}, "INDEX": {}, "LOCK TABLES": {}, "SHOW VIEW": {},
	"TRIGGER":    {},
	"SELECT":     {columns: true},
	"INSERT":     {columns: true},
	"UPDATE":     {columns: true},
	"REFERENCES": {columns: true},

	"CREATE TABLESPACE": {global: true}, "CREATE USER": {global: true},
	"FILE": {global: true}, "PROCESS": {global: true}, "RELOAD": {global: true},
	"REPLICATION SLAVE": {global: true}, "SHOW DATABASES": {global: true},
	"SHUTDOWN": {global: true}, "SUPER": {global: true},
}

// MariaDB 10.5+ split SUPER into named privileges (written with spaces).
var mariadbPrivileges = merge(commonPrivileges, map[string]privilegeInfo{
	"DELETE HISTORY":           {},
	"SHOW CREATE ROUTINE":      {},
	"BINLOG ADMIN":             {global: true},
	"BINLOG MONITOR":           {global: true},
	"BINLOG REPLAY":            {global: true},
	"CONNECTION ADMIN":         {global: true},
	"FEDERATED ADMIN":          {global: true},
	"READ_ONLY ADMIN":          {global: true},
	"REPLICATION MASTER ADMIN": {global: true},
	"REPLICATION SLAVE ADMIN":  {global: true},
	"SET USER":                 {global: true},
	"SLAVE MONITOR":            {global: true},
})

// mariadbAliases map other spellings to the one MariaDB 10.5+ prints in SHOW
// GRANTS, so that a declared grant compares equal to the live one.
var mariadbAliases = map[string]string{
	"REPLICATION CLIENT":        "BINLOG MONITOR",
	"REPLICA MONITOR":           "SLAVE MONITOR",
	"REPLICATION REPLICA":       "REPLICATION SLAVE",
	"REPLICATION REPLICA ADMIN": "REPLICATION SLAVE ADMIN",
	"REPLICATION PRIMARY ADMIN": "REPLICATION MASTER ADMIN",
}

// MySQL 8 keeps REPLICATION CLIENT and adds dynamic privileges (underscores).
var mysqlPrivileges = merge(commonPrivileges, map[string]privilegeInfo{
	"CREATE ROLE": {global: true}, "DROP ROLE": {global: true},
	"REPLICATION CLIENT":         {global: true},
	"APPLICATION_PASSWORD_ADMIN": {global: true}, "AUDIT_ABORT_EXEMPT": {global: true},
	"AUDIT_ADMIN": {global: true}, "AUTHENTICATION_POLICY_ADMIN": {global: true},
	"BACKUP_ADMIN": {global: true}, "BINLOG_ADMIN": {global: true},
	"BINLOG_ENCRYPTION_ADMIN": {global: true}, "CLONE_ADMIN": {global: true},
	"CONNECTION_ADMIN": {global: true}, "ENCRYPTION_KEY_ADMIN": {global: true},
	"FIREWALL_EXEMPT": {global: true}, "FLUSH_OPTIMIZER_COSTS": {global: true},
	"FLUSH_STATUS": {global: true}, "FLUSH_TABLES": {global: true},
	"FLUSH_USER_RESOURCES": {global: true}, "GROUP_REPLICATION_ADMIN": {global: true},
	"GROUP_REPLICATION_STREAM": {global: true}, "INNODB_REDO_LOG_ARCHIVE": {global: true},
	"INNODB_REDO_LOG_ENABLE": {global: true}, "PASSWORDLESS_USER_ADMIN": {global: true},
	"PERSIST_RO_VARIABLES_ADMIN": {global: true}, "REPLICATION_APPLIER": {global: true},
	"REPLICATION_SLAVE_ADMIN": {global: true}, "RESOURCE_GROUP_ADMIN": {global: true},
	"RESOURCE_GROUP_USER": {global: true}, "ROLE_ADMIN": {global: true},
	"SENSITIVE_VARIABLES_OBSERVER": {global: true}, "SERVICE_CONNECTION_ADMIN": {global: true},
	"SESSION_VARIABLES_ADMIN": {global: true}, "SET_USER_ID": {global: true},
	"SET_ANY_DEFINER": {global: true}, "ALLOW_NONEXISTENT_DEFINER": {global: true},
	"SHOW_ROUTINE": {global: true}, "SKIP_QUERY_REWRITE": {global: true},
	"SYSTEM_USER": {global: true}, "SYSTEM_VARIABLES_ADMIN": {global: true},
	"TABLE_ENCRYPTION_ADMIN": {global: true}, "TELEMETRY_LOG_ADMIN": {global: true},
	"TRANSACTION_GTID_TAG": {global: true}, "XA_RECOVER_ADMIN": {global: true},
})

var mysqlAliases = map[string]string{
	"REPLICATION REPLICA": "REPLICATION SLAVE",
}

func merge(a, b map[string]privilegeInfo) map[string]privilegeInfo {
	out := make(map[string]privilegeInfo, len(a)+len(b))
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}

func privilegeTable(flavor string) (map[string]privilegeInfo, map[string]string) {
	switch flavor {
	case "mariadb":
		return mariadbPrivileges, mariadbAliases
	case "mysql":
		return mysqlPrivileges, mysqlAliases
	}
	return nil, nil
}

// KnownPrivileges lists the privilege names a grant may use with flavor
// ("mariadb" or "mysql"), sorted; nil for an unknown flavor.
func KnownPrivileges(flavor string) []string {
	table, _ := privilegeTable(flavor)
	var out []string
	for p := range table {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

// CanonicalPrivilege returns priv (without a column list) in the form the
// flavor's SHOW GRANTS prints: upper case, single spaces, aliases resolved
// (MariaDB: REPLICATION CLIENT → BINLOG MONITOR). ok is false when the
// flavor does not know the privilege.
func CanonicalPrivilege(flavor, priv string) (canonical string, ok bool) {
	p := strings.Join(strings.Fields(strings.ToUpper(priv)), " ")
	table, aliases := privilegeTable(flavor)
	if a, isAlias := aliases[p]; isAlias {
		p = a
	}
	_, ok = table[p]
	return p, ok
}

// splitColumns splits "SELECT (a, b)" into "SELECT" and ["a", "b"].
func splitColumns(priv string) (name string, cols []string, ok bool) {
	priv = strings.TrimSpace(priv)
	open := strings.IndexByte(priv, '(')
	if open < 0 {
		return priv, nil, true
	}
	if !strings.HasSuffix(priv, ")") {
		return "", nil, false
	}
	inner := priv[open+1 : len(priv)-1]
	for _, c := range strings.Split(inner, ",") {
		c = strings.Trim(strings.TrimSpace(c), "`")
		if c == "" {
			return "", nil, false
		}
		cols = append(cols, c)
	}
	sort.Strings(cols)
	return strings.TrimSpace(priv[:open]), cols, true
}

// suggestPrivilege returns `; did you mean "X"?` for a close known name.
func suggestPrivilege(flavor, p string) string {
	best, bestDist := "", 4
	for _, k := range KnownPrivileges(flavor) {
		if d := levenshtein.Distance(p, k, nil); d < bestDist {
			best, bestDist = k, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf("; did you mean %q?", best)
}
